"""load_spec: the gate for stored and received specs; spec_hash; the public surface."""

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

import mloop.dsl
from mloop.artifacts import Dataset, Model
from mloop.dsl import (
    SCHEMA_VERSION,
    ExitHandler,
    If,
    ParallelFor,
    RunStatus,
    component,
    load_spec,
    pipeline,
    spec_hash,
)
from mloop.errors import CompileError


@component
def make(n: int = 1) -> Dataset: ...


@component
def fit(data: Dataset, lr: float = 0.1) -> Model: ...


@component
def best(models: list[Model]) -> Model: ...


@component
def bye(status: RunStatus) -> None: ...


@pipeline
def full(lrs: list = [0.1, 0.2], go: bool = True) -> None:  # noqa: B006
    """Every construct once."""
    with ExitHandler(bye()):
        data = make(n=3)
        with If(go), ParallelFor(lrs, parallelism=1) as lr:
            model = fit(data, lr=lr).after(make())
        best(model)


def test_round_trip() -> None:
    spec = full.compile()
    assert load_spec(json.loads(json.dumps(spec))) == spec
    assert load_spec(spec) is spec
    assert spec["schema_version"] == SCHEMA_VERSION == "mloop.pipeline/v1"


def test_spec_hash_is_canonical() -> None:
    spec = full.compile()
    reordered = json.loads(json.dumps(spec, sort_keys=True))
    reordered = dict(reversed(list(reordered.items())))
    assert spec_hash(reordered) == spec_hash(spec) == full.spec_hash
    changed = copy.deepcopy(spec)
    changed["steps"]["make"]["inputs"]["n"] = {"value": 4}
    assert spec_hash(changed) != spec_hash(spec)


def _break(mutate: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    spec = full.compile()
    mutate(spec)
    return spec


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(spec: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        node = spec
        for key in parents:
            node = node[key]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value

    return mutate


_DELETE = object()


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (
            _set("schema_version", "mloop.pipeline/v9"),
            "unsupported schema_version 'mloop.pipeline/v9'",
        ),
        (_set("schema_version", _DELETE), "no schema_version; this is not an mloop pipeline spec"),
        (_set("steps", _DELETE), "the spec lacks 'steps'"),
        (_set("name", "Bad Name"), "invalid pipeline name"),
        (
            _set("parameters/go", {"type": "bool", "required": False}),
            "not required but has no default",
        ),
        (_set("steps/fit/component", "nope@123"), "step 'fit'.*unknown component 'nope@123'"),
        (
            _set("steps/fit/inputs/data", {"step": "ghost", "output": "output"}),
            "names unknown step 'ghost'",
        ),
        (_set("steps/fit/inputs/lr", {"param": "ghost"}), "unknown parameter 'ghost'"),
        (
            _set("steps/fit/inputs/lr", {"loop": "for-9", "field": None}),
            "item of 'for-9' outside it",
        ),
        (_set("steps/fit/inputs/lr", {"what": 1}), "is not a ref"),
        (_set("steps/fit/inputs/lr", 0.1), "must be a ref object"),
        (_set("steps/fit/inputs/extra", {"value": 1}), "argument 'extra'.*has no such input"),
        (
            _set("steps/best/inputs/models/collect", "if-1"),
            "collects over 'if-1', which is no loop",
        ),
        (_set("steps/fit/after", ["ghost"]), "after names unknown steps"),
        (_set("steps/fit/group", "if-7"), "unknown group 'if-7'"),
        (_set("steps/fit/options", {"retries": -2}), "retries must be an int >= 0"),
        (_set("steps/fit/exit", "yes"), "exit must be true or false"),
        (_set("groups/for-1/parent", "for-3"), "unknown parent 'for-3'"),
        (_set("groups/for-1/parent", "for-1"), "their own parents"),
        (_set("groups/for-1/kind", "while"), "unknown kind 'while'"),
        (_set("groups/for-1/parallelism", 0), "parallelism of 'for-1'"),
        (_set("groups/if-1/condition/op", "~="), "unknown operator '~='"),
        (_set("groups/if-1/condition", {"op": "=="}), "lacks 'left'"),
        (_set("steps/make/after", ["fit"]), "the steps form a cycle: make -> fit -> make"),
        (
            lambda s: s["components"].update(x=s["components"].pop(make.key)),
            "not keyed by <name>@<fingerprint",
        ),
        (lambda s: s["components"][make.key].update(returns="many"), "returns 'many'"),
        (
            lambda s: s["components"][make.key]["inputs"]["n"].update(kind="other"),
            "unknown kind 'other'",
        ),
        (lambda s: s["components"][make.key].update(options={"retries": "x"}), "retries must be"),
        (lambda s: s["components"][make.key].pop("ref"), "lacks 'ref'"),
    ],
)
def test_load_spec_rejects(mutate: Callable[[dict[str, Any]], Any], match: str) -> None:
    spec = _break(mutate)
    with pytest.raises(CompileError, match=match):
        load_spec(spec)


@pytest.mark.parametrize("spec", [[], "spec", None, {"kind": "Pipeline"}, {"pipelineSpec": {}}])
def test_load_spec_rejects_foreign_documents(spec: Any) -> None:
    with pytest.raises(CompileError, match="invalid pipeline spec"):
        load_spec(spec)


def test_load_spec_errors_carry_fields() -> None:
    spec = full.compile()
    spec["steps"]["fit"]["inputs"]["lr"] = {"param": "ghost"}
    with pytest.raises(CompileError) as info:
        load_spec(spec)
    assert info.value.fields == {"pipeline": "full", "step": "fit", "argument": "lr"}


def test_public_surface() -> None:
    public = {name for name in dir(mloop.dsl) if not name.startswith("_")}
    assert set(mloop.dsl.__all__) == public
    assert sorted(mloop.dsl.__all__) == [
        "Component",
        "ExitHandler",
        "If",
        "ParallelFor",
        "Pipeline",
        "RunStatus",
        "SCHEMA_VERSION",
        "StepHandle",
        "component",
        "load_component",
        "load_spec",
        "pipeline",
        "spec_hash",
    ]

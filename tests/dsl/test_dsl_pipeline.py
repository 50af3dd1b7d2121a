"""@pipeline: steps and handles, definition-time validation, parameters, compile."""

import json
import re
from typing import Any, NamedTuple

import pytest

from mloop.artifacts import Artifact, Dataset, Metrics, Model
from mloop.dsl import Pipeline, StepHandle, component, load_spec, pipeline, spec_hash
from mloop.errors import DefinitionError


@component
def ingest(start: str, rows: int = 10) -> Dataset: ...


@component
def clean(data: Dataset, threshold: float = 0.5) -> Dataset: ...


@component
def train(data: Dataset, lr: float = 0.1, params: dict | None = None) -> Model: ...


class EvalOut(NamedTuple):
    metrics: Metrics
    auc: float
    blessed: bool


@component
def evaluate(model: Model, data: Dataset) -> EvalOut: ...


@component
def describe(thing: Artifact) -> str: ...


@component
def noop() -> None: ...


@component
def use_count(n: int) -> None: ...


@component
def use_metrics(m: Metrics) -> None: ...


def raises_definition(match: str, *, step: str | None = None, argument: str | None = None) -> Any:
    """pytest.raises for a DefinitionError whose fields name the step and argument."""

    class Checker:
        def __enter__(self) -> None:
            self.ctx = pytest.raises(DefinitionError, match=match)
            self.info = self.ctx.__enter__()

        def __exit__(self, *exc: Any) -> bool:
            handled = self.ctx.__exit__(*exc)
            fields = self.info.value.fields
            assert fields.get("step") == step, fields
            assert fields.get("argument") == argument, fields
            assert "pipeline" in fields
            return bool(handled)

    return Checker()


def test_a_linear_pipeline() -> None:
    @pipeline
    def flights_delay(start: str, threshold: float = 0.7) -> None:
        """Predict delays."""
        raw = ingest(start)
        data = clean(raw, threshold=threshold)
        model = train(data.output, lr=0.05).after(raw)
        evaluate(model, data)

    assert isinstance(flights_delay, Pipeline)
    assert flights_delay.name == "flights-delay"
    assert flights_delay.description == "Predict delays."
    assert flights_delay.parameters == {
        "start": {"type": "str", "optional": False, "required": True},
        "threshold": {"type": "float", "optional": False, "required": False, "default": 0.7},
    }
    spec = flights_delay.compile()
    assert spec["schema_version"] == "mloop.pipeline/v1"
    assert list(spec["components"]) == [c.key for c in (ingest, clean, train, evaluate)]
    assert spec["components"][train.key] == train.to_spec()
    assert spec["steps"] == {
        "ingest": {
            "component": ingest.key,
            "inputs": {"start": {"param": "start"}},
            "after": [],
            "group": None,
            "exit": False,
            "options": {},
        },
        "clean": {
            "component": clean.key,
            "inputs": {
                "data": {"step": "ingest", "output": "output"},
                "threshold": {"param": "threshold"},
            },
            "after": [],
            "group": None,
            "exit": False,
            "options": {},
        },
        "train": {
            "component": train.key,
            "inputs": {"data": {"step": "clean", "output": "output"}, "lr": {"value": 0.05}},
            "after": ["ingest"],
            "group": None,
            "exit": False,
            "options": {},
        },
        "evaluate": {
            "component": evaluate.key,
            "inputs": {
                "model": {"step": "train", "output": "output"},
                "data": {"step": "clean", "output": "output"},
            },
            "after": [],
            "group": None,
            "exit": False,
            "options": {},
        },
    }
    assert spec["groups"] == {}
    assert load_spec(json.loads(json.dumps(spec))) == spec


def test_compile_is_deterministic_and_a_fresh_copy() -> None:
    def body(start: str) -> None:
        evaluate(train(clean(ingest(start))), clean(ingest(start)))

    a, b = pipeline(name="p")(body), pipeline(name="p")(body)
    assert a.compile() == b.compile()
    assert json.dumps(a.compile(), sort_keys=True) == json.dumps(b.compile(), sort_keys=True)
    assert a.spec_hash == b.spec_hash == spec_hash(a.compile())
    canonical = json.dumps(a.compile(), sort_keys=True, separators=(",", ":"))
    assert re.fullmatch("[0-9a-f]{64}", a.spec_hash)
    import hashlib

    assert a.spec_hash == hashlib.sha256(canonical.encode()).hexdigest()
    spec = a.compile()
    spec["steps"].clear()
    assert a.compile()["steps"]
    assert pipeline(name="q")(body).spec_hash != a.spec_hash


def test_step_names_are_unique() -> None:
    @pipeline
    def p(start: str) -> None:
        names = [ingest(start).name for _ in range(3)]
        assert names == ["ingest", "ingest-2", "ingest-3"]
        renamed = ingest(start).set_name("ingest-2b")
        assert renamed.name == "ingest-2b"
        assert ingest(start).name == "ingest-4"

    assert list(p.compile()["steps"]) == ["ingest", "ingest-2", "ingest-3", "ingest-2b", "ingest-4"]


def test_set_name_rules() -> None:
    with raises_definition("duplicate step name 'ingest'", step="ingest-2"):

        @pipeline
        def dup(start: str) -> None:
            ingest(start)
            ingest(start).set_name("ingest")

    with raises_definition("only be renamed before another step refers to it", step="ingest"):

        @pipeline
        def late(start: str) -> None:
            raw = ingest(start)
            clean(raw)
            raw.set_name("raw")

    with raises_definition("invalid step name", step="ingest"):

        @pipeline
        def bad(start: str) -> None:
            ingest(start).set_name("a[1]")


def test_handles_outputs() -> None:
    seen: dict[str, Any] = {}

    @pipeline
    def p(start: str) -> None:
        model = train(clean(ingest(start)))
        ev = evaluate(model, ingest(start))
        seen["ev"] = ev
        assert isinstance(ev, StepHandle)
        assert ev.outputs["auc"] is ev.outputs["auc"]
        assert ev.auc is ev.outputs["auc"]
        assert set(ev.outputs) == {"metrics", "auc", "blessed"}
        with raises_definition(
            "step 'evaluate' has 3 outputs \\(metrics, auc, blessed\\)", step="evaluate"
        ):
            ev.output  # noqa: B018
        with raises_definition(
            "component 'evaluate' has no output 'nope'", step="evaluate", argument="nope"
        ):
            ev.outputs["nope"]
        assert ev.outputs.get("nope") is None
        with pytest.raises(AttributeError, match="no output or attribute 'nope'"):
            ev.nope  # noqa: B018
        use_metrics(ev.metrics)
        describe(ev.outputs["metrics"])

    assert p.compile()["steps"]["describe"]["inputs"] == {
        "thing": {"step": "evaluate", "output": "metrics"}
    }
    assert repr(seen["ev"]) == "<step 'evaluate' of pipeline 'p'>"


def test_set_options_records_overrides_only() -> None:
    @pipeline
    def p(start: str) -> None:
        ingest(start).set_options(retries=2, timeout=30, resources={"memory": "4Gi"})
        ingest(start).set_options(cache=False).set_options(cache_max_age=3600, retry_backoff=2)

    steps = p.compile()["steps"]
    assert steps["ingest"]["options"] == {
        "retries": 2,
        "timeout": 30,
        "resources": {"memory": "4Gi"},
    }
    assert steps["ingest-2"]["options"] == {
        "cache": False,
        "cache_max_age": 3600,
        "retry_backoff": 2.0,
    }

    with raises_definition("retries must be an int >= 0", step="ingest", argument="options"):

        @pipeline
        def bad(start: str) -> None:
            ingest(start).set_options(retries=-1)


def test_after_dedupes_and_rejects_self_and_cycles() -> None:
    @pipeline
    def p(start: str) -> None:
        a, b = ingest(start), ingest(start)
        noop().after(a, b, a)

    assert p.compile()["steps"]["noop"]["after"] == ["ingest", "ingest-2"]

    with raises_definition("cannot run after itself", step="noop", argument="after"):

        @pipeline
        def selfish() -> None:
            n = noop()
            n.after(n)

    with raises_definition("the steps form a cycle: .*noop", step="noop", argument="after"):

        @pipeline
        def cyclic(start: str) -> None:
            first = noop()
            raw = ingest(start).after(first)
            second = clean(raw)
            first.after(second)

    with raises_definition(".after\\(\\) takes step handles", step="noop", argument="after"):

        @pipeline
        def not_handle() -> None:
            noop().after("ingest")


@pytest.mark.parametrize(
    ("call", "match", "step", "argument"),
    [
        (
            lambda s: clean(ingest(s), thresh=1),
            "unknown argument \\(known: data, threshold\\)",
            "clean",
            "thresh",
        ),
        (lambda s: clean(threshold=1), "missing required argument", "clean", "data"),
        (lambda s: clean(ingest(s), 0.1, 3), "takes 2 arguments but 3 were given", "clean", None),
        (lambda s: clean(ingest(s), data=ingest(s)), "given twice", "clean", "data"),
        (
            lambda s: use_metrics(ingest(s)),
            "expects artifact Metrics, got output 'output' of step 'ingest', a Dataset",
            "use_metrics",
            "m",
        ),
        (lambda s: clean(s), "expects artifact Dataset, got a pipeline parameter", "clean", "data"),
        (
            lambda s: clean("data.parquet"),
            "must come from a step output, not a literal str",
            "clean",
            "data",
        ),
        (
            lambda s: use_count(ingest(s)),
            "expects parameter int, got output 'output' of step 'ingest', an artifact Dataset",
            "use_count",
            "n",
        ),
        (
            lambda s: use_count(s),
            "expects parameter int, got <pipeline parameter 's'> of type str",
            "use_count",
            "n",
        ),
        (lambda s: use_count("abc"), "expects parameter int: 'abc' is not a int", "use_count", "n"),
        (lambda s: use_count(True), "expects parameter int: True is not a int", "use_count", "n"),
        (
            lambda s: train(clean(ingest(s)), params={"a": {1, 2}}),
            "literal is not JSON-able: a set",
            "train",
            "params",
        ),
        (
            lambda s: train(clean(ingest(s)), params={"a": s}),
            "inside a literal list or dict are not supported",
            "train",
            "params",
        ),
        (lambda s: use_count(noop()), "step 'noop' has 0 outputs", "use_count", "n"),
        (
            lambda s: clean(evaluate(train(clean(ingest(s))), ingest(s))),
            "step 'evaluate' has 3 outputs",
            "clean-2",
            "data",
        ),
        (lambda s: use_count(ingest(s).output > 3), "a condition is not a value", "use_count", "n"),
    ],
)
def test_definition_errors_name_pipeline_step_and_argument(
    call: Any, match: str, step: str, argument: str | None
) -> None:
    with raises_definition(f"pipeline 'bad'.*{match}", step=step, argument=argument):

        @pipeline(name="bad")
        def bad(s: str) -> None:
            call(s)


def test_artifact_base_type_accepts_any_artifact_and_ints_widen() -> None:
    @pipeline
    def p(start: str, rows: int = 3) -> None:
        describe(ingest(start, rows=rows))
        describe(train(clean(ingest(start), threshold=rows)))
        clean(ingest(start), threshold=1)

    steps = p.compile()["steps"]
    assert steps["clean-2"]["inputs"]["threshold"] == {"value": 1.0}
    assert steps["clean"]["inputs"]["threshold"] == {"param": "rows"}


def test_a_handle_from_another_pipeline() -> None:
    leaked: list[Any] = []

    @pipeline
    def first(start: str) -> None:
        leaked.append(ingest(start))

    with raises_definition(
        "handle from another pipeline definition \\('first'\\)", step="clean", argument="data"
    ):

        @pipeline
        def second() -> None:
            clean(leaked[0])

    with raises_definition(
        "handle from another pipeline definition", step="noop", argument="after"
    ):

        @pipeline
        def third() -> None:
            noop().after(leaked[0])

    with raises_definition("can only be done inside the pipeline's definition", step=None):
        leaked[0].set_options(retries=1)


def test_refs_have_no_python_truth_value() -> None:
    with pytest.raises(DefinitionError, match="use `with If"):

        @pipeline
        def p(start: str) -> None:
            if ingest(start).output:
                noop()

    with pytest.raises(DefinitionError, match="ParallelFor"):

        @pipeline
        def q(items: list) -> None:
            for _ in items:
                noop()


def test_components_called_with_refs_outside_a_pipeline() -> None:
    leaked: list[Any] = []

    @pipeline
    def p(start: str) -> None:
        leaked.append(ingest(start))

    with pytest.raises(DefinitionError, match="outside a pipeline definition"):
        clean(leaked[0])


def test_pipeline_parameters() -> None:
    @pipeline(name="params", description="Custom.")
    def p(
        a: str,
        b: int = 3,
        c: float = 1,
        d: bool = False,
        e: dict = {"k": 1},  # noqa: B006
        f: list[int] | None = None,
        g: Any = "x",
        h=2,
    ) -> None:
        pass

    assert p.description == "Custom."
    assert p.parameters == {
        "a": {"type": "str", "optional": False, "required": True},
        "b": {"type": "int", "optional": False, "required": False, "default": 3},
        "c": {"type": "float", "optional": False, "required": False, "default": 1.0},
        "d": {"type": "bool", "optional": False, "required": False, "default": False},
        "e": {"type": "dict", "optional": False, "required": False, "default": {"k": 1}},
        "f": {"type": "list", "optional": True, "required": False, "default": None},
        "g": {"type": "any", "optional": False, "required": False, "default": "x"},
        "h": {"type": "any", "optional": False, "required": False, "default": 2},
    }
    assert p.compile()["steps"] == {}


@pytest.mark.parametrize(
    ("source", "match", "argument"),
    [
        ("def p(x: Dataset) -> None: ...", "not Dataset", "x"),
        ("def p(x: int = 'a') -> None: ...", "bad default", "x"),
        ("def p(*xs: int) -> None: ...", "\\*args", "xs"),
        ("def p(x: set) -> None: ...", "unsupported annotation", "x"),
    ],
)
def test_bad_pipeline_parameters(source: str, match: str, argument: str) -> None:
    namespace: dict[str, Any] = {"Dataset": Dataset}
    exec(source, namespace)
    with pytest.raises(DefinitionError, match=f"pipeline 'p'.*{match}") as info:
        pipeline(namespace["p"])
    assert info.value.fields == {"pipeline": "p", "argument": argument}


def test_bad_pipeline_name() -> None:
    with pytest.raises(DefinitionError, match="invalid pipeline name 'Not OK'"):

        @pipeline(name="Not OK")
        def p() -> None: ...


def test_validate_params() -> None:
    @pipeline
    def p(
        start: str,
        months: int = 3,
        lr: float = 0.1,
        full: bool = False,
        grid: dict | None = None,
        tags: list = [],  # noqa: B006
    ) -> None:
        pass

    assert p.validate_params({"start": "2013-01-01"}) == {
        "start": "2013-01-01",
        "months": 3,
        "lr": 0.1,
        "full": False,
        "grid": None,
        "tags": [],
    }
    assert p.validate_params(
        {
            "start": "x",
            "months": "6",
            "lr": "1",
            "full": "true",
            "grid": '{"a": [1]}',
            "tags": "[1]",
        }
    ) == {"start": "x", "months": 6, "lr": 1.0, "full": True, "grid": {"a": [1]}, "tags": [1]}
    assert p.validate_params({"start": "x", "full": "false", "grid": "null"})["full"] is False
    assert p.validate_params({"start": "x", "lr": 2})["lr"] == 2.0

    with pytest.raises(
        DefinitionError, match="unknown parameter \\(known: start, months, lr, full, grid, tags\\)"
    ) as info:
        p.validate_params({"start": "x", "month": 3})
    assert info.value.fields == {"pipeline": "p", "argument": "month"}
    with pytest.raises(
        DefinitionError, match="parameter 'start': missing required parameter"
    ) as info:
        p.validate_params({})
    assert info.value.fields == {"pipeline": "p", "argument": "start"}
    with pytest.raises(DefinitionError, match="parameter 'months': bad value: 'six' is not an int"):
        p.validate_params({"start": "x", "months": "six"})
    with pytest.raises(DefinitionError, match="parameter 'full'"):
        p.validate_params({"start": "x", "full": "maybe"})
    with pytest.raises(DefinitionError, match="parameter 'start'"):
        p.validate_params({"start": 3})


def test_component_key_collision_is_reported() -> None:
    def same(x: int) -> int:
        return x

    a = component(same)
    b = component(retries=4)(same)

    with raises_definition("share the key", step="same-2"):

        @pipeline
        def p() -> None:
            a(1)
            b(2)

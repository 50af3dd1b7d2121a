"""@component: attributes, fingerprints, options, outputs, and loading it back anywhere."""

import dataclasses
import pickle
import sys
import textwrap
from pathlib import Path
from typing import NamedTuple

import pytest

from mloop.artifacts import Artifact, Dataset, Metrics, Model
from mloop.dsl import Component, RunStatus, component, load_component
from mloop.dsl import _component as component_module
from mloop.errors import CompileError, DefinitionError


@component
def add_features(flights: Dataset, n: int = 3) -> Dataset:
    """Add features."""
    return flights


class TrainOut(NamedTuple):
    model: Model
    auc: float


@dataclasses.dataclass
class Report:
    metrics: Metrics
    blessed: bool


@component(name="trainer", version="2", retries=3, timeout=60, resources={"cpu": 2})
def train(data: Dataset, lr: float = 0.1, tags: list[str] | None = None) -> TrainOut:
    return TrainOut(model={"w": lr}, auc=0.8)


@component
def report(metrics: Metrics) -> Report:
    return Report(metrics=metrics, blessed=True)


@component
def log(message: str) -> None:
    print(message)


def test_component_attributes() -> None:
    assert isinstance(add_features, Component)
    assert add_features.name == "add_features"
    assert add_features.version is None
    assert len(add_features.fingerprint) == 64
    assert add_features.key == f"add_features@{add_features.fingerprint[:12]}"
    assert add_features.ref == {
        "module": __name__,
        "qualname": "add_features",
        "file": str(Path(__file__).resolve()),
    }
    assert add_features.inputs == {
        "flights": {"kind": "artifact", "type": "Dataset", "list": False, "optional": False},
        "n": {
            "kind": "parameter",
            "type": "int",
            "optional": False,
            "required": False,
            "default": 3,
        },
    }
    assert add_features.outputs == {"output": {"kind": "artifact", "type": "Dataset"}}
    assert add_features.returns == "single"
    assert add_features.options == {
        "retries": 0,
        "retry_backoff": 1.0,
        "timeout": None,
        "cache": True,
        "cache_max_age": None,
        "resources": {},
    }
    assert add_features.__doc__ == "Add features."
    assert add_features.__name__ == "add_features"


def test_component_options_and_multi_outputs() -> None:
    assert train.name == "trainer"
    assert train.version == "2"
    assert train.key.startswith("trainer@")
    assert train.options["retries"] == 3
    assert train.options["timeout"] == 60
    assert train.options["resources"] == {"cpu": 2}
    assert train.returns == "namedtuple"
    assert train.outputs == {
        "model": {"kind": "artifact", "type": "Model"},
        "auc": {"kind": "parameter", "type": "float"},
    }
    assert train.inputs["tags"] == {
        "kind": "parameter",
        "type": "list",
        "optional": True,
        "required": False,
        "default": None,
    }
    assert report.returns == "dataclass"
    assert list(report.outputs) == ["metrics", "blessed"]
    assert log.returns == "none" and log.outputs == {}


def test_to_spec_is_the_components_entry() -> None:
    entry = train.to_spec()
    assert entry == {
        "name": "trainer",
        "version": "2",
        "fingerprint": train.fingerprint,
        "ref": train.ref,
        "inputs": train.inputs,
        "outputs": train.outputs,
        "returns": "namedtuple",
        "options": train.options,
    }
    entry["options"]["resources"]["cpu"] = 99
    assert train.options["resources"] == {"cpu": 2}


def test_called_outside_a_pipeline_it_is_the_function() -> None:
    assert add_features("data") == "data"
    assert train("d", lr=0.5) == TrainOut(model={"w": 0.5}, auc=0.8)


def _same_body(x: int) -> int:
    return x + 1


def test_fingerprint_ignores_decorators_indentation_and_trailing_space() -> None:
    def make_a() -> Component:
        @component
        def same(x: int) -> int:
            return x + 1

        return same

    class Holder:
        @staticmethod
        def make_b() -> Component:
            if True:

                @component(retries=5, cache=False)
                def same(x: int) -> int:
                    return x + 1

            return same

    a, b = make_a(), Holder.make_b()
    assert a.fingerprint == b.fingerprint
    assert a.key == b.key
    assert a.options != b.options


def _source_fingerprint(tmp_path: Path, name: str, body: str, version: str | None = None) -> str:
    path = tmp_path / f"{name}.py"
    deco = "@component" if version is None else f"@component(version={version!r})"
    path.write_text(
        "from mloop.dsl import component\n\n"
        f"{deco}\ndef double(x: int) -> int:\n{textwrap.indent(body, '    ')}\n"
    )
    comp = load_component({"module": "no_such_module_x", "qualname": "double", "file": str(path)})
    return comp.fingerprint


def test_fingerprint_changes_with_body_and_version(tmp_path: Path) -> None:
    base = _source_fingerprint(tmp_path, "a", "return x * 2")
    assert _source_fingerprint(tmp_path, "b", "return x * 2   ") == base
    assert _source_fingerprint(tmp_path, "c", "return x * 3") != base
    assert _source_fingerprint(tmp_path, "d", "return x * 2", version="1") != base
    v1 = _source_fingerprint(tmp_path, "e", "return x * 2", version="1")
    assert _source_fingerprint(tmp_path, "f", "return x * 2", version="2") != v1


def test_split_outputs() -> None:
    assert add_features.split_outputs({"a": [1]}) == {"output": {"a": [1]}}
    out = train.split_outputs(TrainOut(model="m", auc=1))
    assert out == {"model": "m", "auc": 1.0}
    assert train.split_outputs(("m", 0.5)) == {"model": "m", "auc": 0.5}
    assert train.split_outputs({"auc": 0.5, "model": "m"}) == {"model": "m", "auc": 0.5}
    metrics = Metrics("uri", "f" * 64)
    assert report.split_outputs(Report(metrics, False)) == {"metrics": metrics, "blessed": False}
    assert log.split_outputs(None) == {}


@pytest.mark.parametrize(
    ("comp", "value", "match"),
    [
        (log, 3, "component 'log': returned a int but declares no outputs"),
        (train, ("m",), "returned a tuple of 1 values"),
        (train, {"model": "m"}, "output 'auc' is missing"),
        (train, {"model": "m", "auc": 1.0, "x": 1}, "unknown output 'x'"),
        (train, TrainOut(model="m", auc="high"), "output 'auc': 'high' is not a float"),
        (train, ["m", 0.5], "returned a list, not a TrainOut"),
        (report, 5, "returned a int, not a Report"),
        (add_features, None, "output 'output' \\(Dataset\\) is None"),
        (add_features, Metrics("u", "0" * 64), "output 'output' is a Dataset, not a Metrics"),
    ],
)
def test_split_outputs_rejects_wrong_shapes(comp: Component, value: object, match: str) -> None:
    with pytest.raises(DefinitionError, match=match) as info:
        comp.split_outputs(value)
    assert info.value.fields["component"] == comp.name


def test_split_outputs_accepts_artifact_instances_of_subtypes() -> None:
    @component
    def anything() -> Artifact: ...

    ds = Dataset("u", "0" * 64)
    assert anything.split_outputs(ds) == {"output": ds}


def test_parameter_output_values_are_json() -> None:
    @component
    def score() -> dict:
        return {}

    with pytest.raises(DefinitionError, match="not JSON data"):
        score.split_outputs({"a": object()})


@pytest.mark.parametrize(
    ("source", "match"),
    [
        ("def f(*args: int) -> None: ...", "argument 'args': \\*args"),
        ("def f(x: Dataset = 3) -> None: ...", "argument 'x': an artifact input"),
        ("def f(x: int = 'a') -> None: ...", "argument 'x': bad default: 'a' is not a int"),
        ("def f(x: dict = {'a': object()}) -> None: ...", "argument 'x': default is not JSON"),
        ("def f(x: tuple[int, int]) -> None: ...", "argument 'x': unsupported annotation"),
        ("def f(s: RunStatus = None) -> None: ...", "argument 's': a RunStatus input"),
        ("def f() -> list[Dataset]: ...", "output 'output'"),
        ("def f() -> RunStatus: ...", "output 'output'"),
        ("def f(x: 'Nope') -> None: ...", "cannot resolve the annotations"),
    ],
)
def test_bad_components_fail_when_defined(source: str, match: str) -> None:
    namespace = {"Dataset": Dataset, "RunStatus": RunStatus}
    exec(source, namespace)
    with pytest.raises(DefinitionError, match=f"component 'f'.*{match}"):
        component(namespace["f"])


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"retries": -1}, "retries"),
        ({"retries": 1.5}, "retries"),
        ({"retry_backoff": "x"}, "retry_backoff"),
        ({"timeout": 0}, "timeout"),
        ({"cache": "yes"}, "cache"),
        ({"cache_max_age": -5}, "cache_max_age"),
        ({"resources": {"gpu": object()}}, "resources"),
        ({"name": "Bad Name!"}, "invalid component name"),
    ],
)
def test_bad_options(options: dict[str, object], match: str) -> None:
    def f() -> None: ...

    with pytest.raises(DefinitionError, match=match):
        component(**options)(f)


def test_load_component_from_the_registry() -> None:
    def make() -> Component:
        @component
        def local_step(x: int) -> int:
            return x * 7

        return make_ref(local_step)

    def make_ref(c: Component) -> Component:
        return c

    comp = make()
    entry = comp.to_spec()
    assert "<locals>" in entry["ref"]["qualname"]
    assert load_component(entry) is comp
    assert load_component(entry["ref"]) is comp
    assert pickle.loads(pickle.dumps(comp)) is comp


def test_load_component_changed_since_compile() -> None:
    entry = add_features.to_spec()
    entry["fingerprint"] = "0" * 64
    with pytest.raises(CompileError, match="component 'add_features' changed since the pipeline"):
        load_component(entry)


MODULE_SOURCE = """
from mloop.artifacts import Dataset
from mloop.dsl import component


@component
def clean(data: Dataset, threshold: float = 0.5) -> Dataset:
    return data{suffix}
"""


@pytest.fixture
def empty_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(component_module, "_REGISTRY", {})
    monkeypatch.setattr(component_module, "_BY_REF", {})


def test_load_component_by_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_registry: None
) -> None:
    name = f"dsl_mod_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(MODULE_SOURCE.format(suffix=""))
    monkeypatch.syspath_prepend(str(tmp_path))
    comp = load_component({"module": name, "qualname": "clean", "file": None})
    assert comp.name == "clean" and comp.ref["module"] == name
    entry = comp.to_spec()
    assert name in sys.modules

    # A fresh process: not registered, not imported yet; found by importing the module.
    monkeypatch.setattr(component_module, "_REGISTRY", {})
    monkeypatch.setattr(component_module, "_BY_REF", {})
    monkeypatch.delitem(sys.modules, name)
    again = load_component(entry)
    assert again is not comp and again.fingerprint == comp.fingerprint

    # The source changed after compiling: the spec's component is gone.
    (tmp_path / f"{name}.py").write_text(MODULE_SOURCE.format(suffix=" if data else None"))
    monkeypatch.setattr(component_module, "_REGISTRY", {})
    monkeypatch.setattr(component_module, "_BY_REF", {})
    monkeypatch.delitem(sys.modules, name)
    with pytest.raises(CompileError, match="component 'clean' changed since the pipeline"):
        load_component(entry)


def test_load_component_by_file(tmp_path: Path, empty_registry: None) -> None:
    path = tmp_path / "pipeline_file.py"
    path.write_text(MODULE_SOURCE.format(suffix=""))
    ref = {"module": "__main__", "qualname": "clean", "file": str(path)}
    comp = load_component(ref)
    assert comp.name == "clean"
    assert load_component(ref) is comp
    component_module._REGISTRY.clear()
    component_module._BY_REF.clear()
    entry = {**comp.to_spec(), "ref": ref}
    assert load_component(entry) is comp  # the file is loaded once per process


def test_load_component_not_found(tmp_path: Path, empty_registry: None) -> None:
    ref = {"module": "no_such_pkg.mod", "qualname": "gone", "file": str(tmp_path / "nope.py")}
    with pytest.raises(
        CompileError, match=r"cannot load component 'gone' from no_such_pkg\.mod:gone"
    ):
        load_component(ref)
    entry = {
        "name": "inner",
        "fingerprint": "1" * 64,
        "ref": {"module": __name__, "qualname": "test_x.<locals>.inner", "file": None},
    }
    with pytest.raises(CompileError, match="defined inside a function") as info:
        load_component(entry)
    assert info.value.fields["component"] == "inner"
    not_a_component = {"module": __name__, "qualname": "_same_body", "file": None}
    with pytest.raises(CompileError, match="is a function, not a @component"):
        load_component(not_a_component)

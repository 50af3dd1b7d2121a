"""If, ParallelFor (and collecting its outputs), ExitHandler and RunStatus."""

import json
from typing import Any, NamedTuple

import pytest

from mloop.artifacts import Dataset, Metrics, Model
from mloop.dsl import ExitHandler, If, ParallelFor, RunStatus, component, load_spec, pipeline
from mloop.errors import DefinitionError


@component
def ingest(start: str) -> Dataset: ...


@component
def train(data: Dataset, lr: float = 0.1) -> Model: ...


class EvalOut(NamedTuple):
    metrics: Metrics
    auc: float
    blessed: bool


@component
def evaluate(model: Model) -> EvalOut: ...


@component
def push(model: Model, alias: str = "champion") -> None: ...


@component
def pick(models: list[Model], aucs: list[float]) -> Model: ...


@component
def mean(values: list) -> float: ...


@component
def one_model(model: Model) -> None: ...


@component
def grid() -> list: ...


@component
def count() -> int: ...


@component
def notify(status: RunStatus, channel: str = "#ml") -> None: ...


@component
def use_str(text: str) -> None: ...


def raises(match: str, *, step: str | None = None, argument: str | None = None) -> Any:
    class Checker:
        def __enter__(self) -> None:
            self.ctx = pytest.raises(DefinitionError, match=match)
            self.info = self.ctx.__enter__()

        def __exit__(self, *exc: Any) -> bool:
            handled = self.ctx.__exit__(*exc)
            fields = self.info.value.fields
            assert (fields.get("step"), fields.get("argument")) == (step, argument), fields
            assert fields.get("pipeline") == "bad", fields
            return bool(handled)

    return Checker()


def roundtrips(spec: dict[str, Any]) -> bool:
    return load_spec(json.loads(json.dumps(spec))) == spec


def test_if_conditions() -> None:
    @pipeline
    def p(start: str, deploy: bool = True, min_auc: float = 0.7) -> None:
        model = train(ingest(start))
        report = evaluate(model)
        with If(report.blessed == True):  # noqa: E712
            push(model)
        with If(report.outputs["auc"] > 0.7):
            push(model, alias="a")
        with If(report.auc >= 0.9):
            push(model, alias="b")
        with If(report.auc >= min_auc):
            push(model, alias="c")
        with If(report.blessed):
            push(model, alias="d")
        with If(deploy):
            push(model, alias="e")
        with If(report.auc != report.outputs["auc"]):
            push(model, alias="f")
        with If(report.auc < 0.1):
            push(model, alias="g")

    spec = p.compile()
    auc = {"step": "evaluate", "output": "auc"}
    assert spec["groups"] == {
        "if-1": {
            "kind": "if",
            "parent": None,
            "condition": {
                "left": {"step": "evaluate", "output": "blessed"},
                "op": "==",
                "right": {"value": True},
            },
        },
        "if-2": {
            "kind": "if",
            "parent": None,
            "condition": {"left": auc, "op": ">", "right": {"value": 0.7}},
        },
        "if-3": {
            "kind": "if",
            "parent": None,
            "condition": {"left": auc, "op": ">=", "right": {"value": 0.9}},
        },
        "if-4": {
            "kind": "if",
            "parent": None,
            "condition": {"left": auc, "op": ">=", "right": {"param": "min_auc"}},
        },
        "if-5": {
            "kind": "if",
            "parent": None,
            "condition": {"left": {"step": "evaluate", "output": "blessed"}, "op": "truthy"},
        },
        "if-6": {
            "kind": "if",
            "parent": None,
            "condition": {"left": {"param": "deploy"}, "op": "truthy"},
        },
        "if-7": {
            "kind": "if",
            "parent": None,
            "condition": {"left": auc, "op": "!=", "right": auc},
        },
        "if-8": {
            "kind": "if",
            "parent": None,
            "condition": {"left": auc, "op": "<", "right": {"value": 0.1}},
        },
    }
    assert [spec["steps"][s]["group"] for s in spec["steps"] if s.startswith("push")] == [
        f"if-{i}" for i in range(1, 9)
    ]
    assert spec["steps"]["train"]["group"] is None
    assert roundtrips(spec)


def test_parallel_for_items_and_collect() -> None:
    @pipeline
    def p(start: str, lrs: list[float] = [0.1, 0.2]) -> None:  # noqa: B006
        data = ingest(start)
        with ParallelFor(lrs, parallelism=2) as lr:
            model = train(data, lr=lr)
            report = evaluate(model)
        pick(model, report.auc)
        mean(report.auc)
        with ParallelFor([{"lr": 0.1, "alias": "a"}, {"lr": 0.3, "alias": "b"}]) as item:
            model2 = train(data, lr=item["lr"])
            push(model2, alias=item.alias)
        with ParallelFor(grid()) as value:
            train(data, lr=value)

    spec = p.compile()
    assert spec["groups"] == {
        "for-1": {"kind": "for", "parent": None, "items": {"param": "lrs"}, "parallelism": 2},
        "for-2": {
            "kind": "for",
            "parent": None,
            "items": {"value": [{"lr": 0.1, "alias": "a"}, {"lr": 0.3, "alias": "b"}]},
            "parallelism": None,
        },
        "for-3": {
            "kind": "for",
            "parent": None,
            "items": {"step": "grid", "output": "output"},
            "parallelism": None,
        },
    }
    steps = spec["steps"]
    assert steps["train"]["inputs"] == {
        "data": {"step": "ingest", "output": "output"},
        "lr": {"loop": "for-1", "field": None},
    }
    assert steps["evaluate"]["group"] == "for-1"
    assert steps["pick"]["inputs"] == {
        "models": {"step": "train", "output": "output", "collect": "for-1"},
        "aucs": {"step": "evaluate", "output": "auc", "collect": "for-1"},
    }
    assert steps["pick"]["group"] is None
    assert steps["mean"]["inputs"]["values"]["collect"] == "for-1"
    assert steps["train-2"]["inputs"]["lr"] == {"loop": "for-2", "field": "lr"}
    assert steps["push"]["inputs"] == {
        "model": {"step": "train-2", "output": "output"},
        "alias": {"loop": "for-2", "field": "alias"},
    }
    assert steps["train-3"]["inputs"]["lr"] == {"loop": "for-3", "field": None}
    assert roundtrips(spec)


def test_nested_groups() -> None:
    @pipeline
    def p(start: str, outer: list = [[0.1], [0.2, 0.3]], go: bool = True) -> None:  # noqa: B006
        data = ingest(start)
        with If(go), ParallelFor(outer) as lrs:
            with ParallelFor(lrs) as lr:
                model = train(data, lr=lr)
                report = evaluate(model)
                with If(report.auc > 0.5):
                    push(model)
            pick(model, report.auc)
            with If(lrs):
                train(data)
        push(train(data))

    spec = p.compile()
    assert {g: (v["kind"], v["parent"]) for g, v in spec["groups"].items()} == {
        "if-1": ("if", None),
        "for-1": ("for", "if-1"),
        "for-2": ("for", "for-1"),
        "if-2": ("if", "for-2"),
        "if-3": ("if", "for-1"),
    }
    assert spec["groups"]["for-2"]["items"] == {"loop": "for-1", "field": None}
    steps = spec["steps"]
    assert steps["train"]["group"] == "for-2"
    assert steps["push"]["group"] == "if-2"
    assert steps["pick"]["group"] == "for-1"
    assert steps["pick"]["inputs"]["models"]["collect"] == "for-2"
    assert steps["train-2"]["group"] == "if-3"
    assert steps["train-3"]["group"] is None
    assert roundtrips(spec)


def test_nested_groups_reject_an_inner_loop_output_in_an_outer_step() -> None:
    with raises("inside ParallelFor for-2", step="push", argument="model"):

        @pipeline(name="bad")
        def p(start: str, outer: list = [[0.1]]) -> None:  # noqa: B006
            data = ingest(start)
            with ParallelFor(outer) as lrs:
                with ParallelFor(lrs) as lr:
                    model = train(data, lr=lr)
                push(model)


@pytest.mark.parametrize(
    ("body", "match", "step", "argument"),
    [
        ("collect_scalar", "inside ParallelFor for-1; it arrives as a list", "one_model", "model"),
        (
            "list_without_loop",
            "a list\\[Model\\] input only takes the collected outputs",
            "pick",
            "models",
        ),
        (
            "collect_wrong_item",
            "expects parameter float, got output 'output' of step 'use', a str",
            "pick",
            "aucs",
        ),
        ("nested_collect", "inside nested loops \\(for-1, for-2\\)", "pick", "models"),
        ("item_outside", "<item of for-1> is used outside its loop for-1", "use_str", "text"),
        ("item_into_artifact", "expects artifact Model, got a loop item", "one_model", "model"),
        (
            "item_literal_type",
            "expects parameter float, but loop for-1 gives 'x' is not a float",
            "train",
            "lr",
        ),
        ("item_missing_field", "item 1 has no field 'lr'", "train", "lr"),
        (
            "items_not_list",
            "ParallelFor iterates over a list, and <pipeline parameter 's'> is a str",
            None,
            "items",
        ),
        ("items_literal", "ParallelFor iterates over a list, not str", None, "items"),
        (
            "items_artifact",
            "ParallelFor iterates over a list, and <output 'output' of step 'ingest'> is a Dataset",
            None,
            "items",
        ),
        (
            "items_from_inner",
            "is inside ParallelFor for-1 and cannot be used outside it",
            None,
            "items",
        ),
        ("bad_parallelism", "parallelism must be None or an int >= 1", None, "parallelism"),
        (
            "if_on_loop_output",
            "is inside ParallelFor for-1 and cannot be used outside it",
            None,
            "condition",
        ),
        ("if_constant", "is a constant", None, "condition"),
        ("if_compared", "conditions cannot be combined", None, "condition"),
        ("if_and", "nest `with If", None, None),
        ("if_not", "use `with If", None, None),
        ("item_deep", "only one level of string field access", None, None),
    ],
)
def test_control_flow_errors(body: str, match: str, step: str | None, argument: str | None) -> None:
    def collect_scalar(s: str) -> None:
        with ParallelFor([1, 2]):
            model = train(ingest(s))
        one_model(model)

    def list_without_loop(s: str) -> None:
        pick(train(ingest(s)), [0.5])

    def collect_wrong_item(s: str) -> None:
        @component
        def use() -> str: ...

        with ParallelFor([1]):
            u = use()
            m = train(ingest(s))
        pick(m, u)

    def nested_collect(s: str) -> None:
        with ParallelFor([[1]]) as xs, ParallelFor(xs):
            m = train(ingest(s))
        pick(m, [])

    def item_outside(s: str) -> None:
        with ParallelFor(["a"]) as item:
            pass
        use_str(item)

    def item_into_artifact(s: str) -> None:
        with ParallelFor(["a"]) as item:
            one_model(item)

    def item_literal_type(s: str) -> None:
        with ParallelFor([0.1, "x"]) as item:
            train(ingest(s), lr=item)

    def item_missing_field(s: str) -> None:
        with ParallelFor([{"lr": 1}, 1]) as item:
            train(ingest(s), lr=item["lr"])

    def items_not_list(s: str) -> None:
        with ParallelFor(s):
            pass

    def items_literal(s: str) -> None:
        with ParallelFor("abc"):
            pass

    def items_artifact(s: str) -> None:
        with ParallelFor(ingest(s)):
            pass

    def items_from_inner(s: str) -> None:
        with ParallelFor([1]):
            g = grid()
        with ParallelFor(g):
            pass

    def bad_parallelism(s: str) -> None:
        ParallelFor([1], parallelism=0)

    def if_on_loop_output(s: str) -> None:
        with ParallelFor([1]):
            report = evaluate(train(ingest(s)))
        with If(report.auc > 0.5):
            pass

    def if_constant(s: str) -> None:
        with If(True):
            pass

    def if_compared(s: str) -> None:
        c = count()
        with If((c.output > 1) == (c.output < 3)):
            pass

    def if_and(s: str) -> None:
        c = count()
        with If((c.output > 1) & (c.output < 3)):
            pass

    def if_not(s: str) -> None:
        with If(not count().output):
            pass

    def item_deep(s: str) -> None:
        with ParallelFor([{"a": {"b": 1}}]) as item:
            use_str(item["a"]["b"])

    bodies = locals()
    with (
        raises(match, step=step, argument=argument)
        if step or argument
        else pytest.raises(DefinitionError, match=match)
    ):
        pipeline(name="bad")(_with_param(bodies[body]))


def _with_param(fn: Any) -> Any:
    def bad(s: str = "x") -> None:
        fn(s)

    return bad


def test_exit_handler() -> None:
    @pipeline
    def p(start: str) -> None:
        done = notify(channel="#ops").set_options(retries=1)
        with ExitHandler(done):
            model = train(ingest(start))
            push(model)

    spec = p.compile()
    assert spec["steps"]["notify"] == {
        "component": notify.key,
        "inputs": {"status": {"run_status": True}, "channel": {"value": "#ops"}},
        "after": [],
        "group": None,
        "exit": True,
        "options": {"retries": 1},
    }
    assert not any(s["exit"] for n, s in spec["steps"].items() if n != "notify")
    assert spec["components"][notify.key]["inputs"]["status"] == {
        "kind": "parameter",
        "type": "RunStatus",
        "optional": False,
        "required": True,
    }
    assert roundtrips(spec)


@pytest.mark.parametrize(
    ("body", "match", "step", "argument"),
    [
        ("consumes_outputs", "the exit step cannot consume outputs", "n", "channel"),
        ("in_group", "must not be inside If or ParallelFor", "notify", None),
        ("handler_in_group", "must not be inside If or ParallelFor", "notify", None),
        ("two_handlers", "one ExitHandler", "notify-2", None),
        ("consumed", "consumes an output of the exit step 'n'", "use_str", "text"),
        ("after_exit", "runs after the exit step 'notify'", "count", "after"),
        ("exit_after", "the exit step cannot run .after\\(\\)", "notify", None),
        (
            "run_status_elsewhere",
            "only the exit step of an ExitHandler can take a RunStatus",
            "notify",
            "status",
        ),
        ("run_status_passed", "filled by the orchestrator", "notify", "status"),
        ("not_a_handle", "takes the handle of the exit step", None, "exit_step"),
    ],
)
def test_exit_handler_errors(body: str, match: str, step: str | None, argument: str | None) -> None:
    @component
    def n(status: RunStatus, channel: str) -> str: ...

    @component
    def label() -> str: ...

    def consumes_outputs(s: str) -> None:
        with ExitHandler(n(channel=label())):
            pass

    def in_group(s: str) -> None:
        with If(s == "x"):
            done = notify()
        with ExitHandler(done):
            pass

    def handler_in_group(s: str) -> None:
        done = notify()
        with If(s == "x"), ExitHandler(done):
            pass

    def two_handlers(s: str) -> None:
        with ExitHandler(notify()), ExitHandler(notify()):
            pass

    def consumed(s: str) -> None:
        done = n(channel="x")
        with ExitHandler(done):
            use_str(done)

    def after_exit(s: str) -> None:
        done = notify()
        with ExitHandler(done):
            count().after(done)

    def exit_after(s: str) -> None:
        with ExitHandler(notify().after(count())):
            pass

    def run_status_elsewhere(s: str) -> None:
        notify()

    def run_status_passed(s: str) -> None:
        notify(status={"state": "failed"})

    def not_a_handle(s: str) -> None:
        with ExitHandler("notify"):
            pass

    bodies = locals()
    with raises(match, step=step, argument=argument):
        pipeline(name="bad")(_with_param(bodies[body]))


def test_control_flow_outside_a_pipeline() -> None:
    for make in (lambda: If(True), lambda: ParallelFor([1]), lambda: ExitHandler(None)):
        with pytest.raises(DefinitionError, match="can only be used inside a @pipeline function"):
            make()


def test_run_status_is_a_dataclass() -> None:
    status = RunStatus(run_id="r1", pipeline="p", state="failed", failed_steps=["train"])
    assert status.failed_steps == ["train"]
    assert RunStatus("r", "p", "succeeded").failed_steps == []


def test_conditions_on_loop_items_and_handles() -> None:
    @component
    def maybe_data(baseline: Dataset | None = None, flag: bool = False) -> bool: ...

    @pipeline
    def p(start: str) -> None:
        check = maybe_data()
        with If(check):
            maybe_data(ingest(start))
        with ParallelFor([{"x": 1}, {"x": 2}]) as item, If(item["x"] > 1):
            maybe_data(flag=True)

    spec = p.compile()
    assert spec["steps"]["maybe_data"]["inputs"] == {}
    assert spec["components"][maybe_data.key]["inputs"]["baseline"] == {
        "kind": "artifact",
        "type": "Dataset",
        "list": False,
        "optional": True,
    }
    assert spec["groups"]["if-1"]["condition"] == {
        "left": {"step": "maybe_data", "output": "output"},
        "op": "truthy",
    }
    assert spec["groups"]["if-2"] == {
        "kind": "if",
        "parent": "for-1",
        "condition": {"left": {"loop": "for-1", "field": "x"}, "op": ">", "right": {"value": 1}},
    }
    assert spec["steps"]["maybe_data-3"]["group"] == "if-2"
    assert roundtrips(spec)

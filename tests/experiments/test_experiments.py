"""Metrics and child executions logged by steps, and comparing runs (Python and CLI)."""

from __future__ import annotations

import json

import pytest

import mloop
from _cli import run_cli
from mloop import component, pipeline
from mloop.config import Settings
from mloop.errors import RunError, StepFailed

EXECUTORS = ["inline", "process"]


@component
def fit(rate: float, epochs: int = 3) -> float:
    loss = 1.0
    for epoch in range(epochs):
        loss *= 1 - rate
        mloop.log_metric("loss", loss, step=epoch)
    mloop.log_metrics({"final_loss": loss, "auc": 1 - loss})
    return loss


@component
def search(n: int) -> dict:  # type: ignore[type-arg]
    context = mloop.current_step()
    assert context is not None
    for i in range(n):
        context.add_child(
            f"trial-{i}",
            {"rate": 0.1 * (i + 1)},
            metrics={"auc": 0.5 + i / 10},
            curves={"loss": [1.0, 0.5]},
        )
    return {"rate": 0.1 * n}


@component
def crash_after_logging() -> int:
    mloop.log_metric("loss", 0.9, step=0)
    raise ValueError("diverged")


@pipeline(name="exp-train")
def train_pipeline(rate: float = 0.5) -> None:
    fit(rate=rate)


@pipeline(name="exp-tune")
def tune_pipeline() -> None:
    search(n=3)


@pipeline(name="exp-crash")
def crash_pipeline() -> None:
    crash_after_logging()


@pytest.mark.parametrize("executor", EXECUTORS)
def test_a_step_logs_curves_and_final_metrics(settings: Settings, executor: str) -> None:
    result = mloop.run(train_pipeline, {"rate": 0.5}, settings=settings, executor=executor)

    client = mloop.Client(settings)
    history = client.metric_history(result.id, "fit", "loss")
    assert history["step"].tolist() == [0, 1, 2]
    assert history["value"].tolist() == pytest.approx([0.5, 0.25, 0.125])
    frame = client.compare([result.id])
    assert frame["step"].tolist() == ["fit"]
    row = frame.iloc[0]
    assert row["param.rate"] == 0.5
    assert row["metric.final_loss"] == pytest.approx(0.125)
    assert row["metric.loss"] == pytest.approx(0.125)  # the last point of the curve


def test_compare_lines_up_runs_and_a_cached_rerun_shows_the_reused_metrics(
    settings: Settings,
) -> None:
    first = mloop.run(train_pipeline, {"rate": 0.5}, settings=settings, executor="inline")
    second = mloop.run(train_pipeline, {"rate": 0.2}, settings=settings, executor="inline")
    cached = mloop.run(train_pipeline, {"rate": 0.5}, settings=settings, executor="inline")

    client = mloop.Client(settings)
    frame = client.compare([first.id, second.id, cached.id[:-2]])
    assert frame["run"].tolist() == [first.id, second.id, cached.id]
    assert frame["state"].tolist() == ["succeeded", "succeeded", "cached"]
    assert frame["metric.auc"].tolist() == pytest.approx([0.875, 1 - 0.8**3, 0.875])
    by_pipeline = client.compare(pipeline="exp-train", last=2)
    assert set(by_pipeline["run"]) == {second.id, cached.id}


def test_trials_are_child_executions_with_their_metrics(settings: Settings) -> None:
    result = mloop.run(tune_pipeline, settings=settings, executor="process")

    client = mloop.Client(settings)
    steps = [e.step for e in client.executions(result.id)]
    assert steps == ["search"]  # children are not steps of the run
    parent = client.executions(result.id)[0]
    children = client.store.child_executions(parent.id)
    assert [c.step for c in children] == ["search/trial-0", "search/trial-1", "search/trial-2"]
    assert all(c.parent_id == parent.id and c.run_id == result.id for c in children)
    frame = client.compare([result.id], trials=True)
    trials = frame[frame["step"].str.startswith("search/")]
    assert trials["metric.auc"].tolist() == pytest.approx([0.5, 0.6, 0.7])
    assert trials["param.rate"].tolist() == pytest.approx([0.1, 0.2, 0.3])
    assert trials["metric.loss"].tolist() == pytest.approx([0.5, 0.5, 0.5])
    # Resume and run outputs ignore children: the run's one step is done.
    assert set(client.outputs(result.id)) == {"search"}


def test_a_failed_step_keeps_what_it_logged(settings: Settings) -> None:
    with pytest.raises(StepFailed, match="diverged"):
        mloop.run(crash_pipeline, settings=settings, executor="inline")
    client = mloop.Client(settings)
    run = client.runs(pipeline="exp-crash")[0]
    execution = client.executions(run.id)[0]
    assert execution.state == "failed"
    points = client.store.metrics([execution.id])
    assert [(p.key, p.step, p.value) for p in points] == [("loss", 0, 0.9)]


def test_logging_outside_a_step_is_a_clear_error() -> None:
    with pytest.raises(RunError, match="outside a pipeline step"):
        mloop.log_metric("loss", 1.0)
    assert mloop.current_step() is None


def test_cli_compare_table_csv_and_json(
    settings: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = mloop.run(train_pipeline, {"rate": 0.5}, settings=settings, executor="inline")
    second = mloop.run(train_pipeline, {"rate": 0.2}, settings=settings, executor="inline")
    monkeypatch.setenv("MLOOP_HOME", str(settings.home))

    code, out, _ = run_cli(capsys, "experiments", "compare", first.id, second.id)
    assert code == 0
    assert "param.rate" in out and "metric.auc" in out and "0.875" in out

    code, out, _ = run_cli(capsys, "experiments", "compare", first.id, "--format", "json")
    assert code == 0
    assert json.loads(out)[0]["metric.final_loss"] == pytest.approx(0.125)

    code, out, _ = run_cli(
        capsys, "experiments", "compare", "--pipeline", "exp-train", "--format", "csv"
    )
    assert code == 0
    assert out.splitlines()[0].startswith("run,step,component,state,duration_s")

    code, _, err = run_cli(capsys, "experiments", "compare", "no-such-run")
    assert code == 2 and "no-such-run" in err


def test_metric_times_round_trip_exactly_even_on_a_whole_second(settings: Settings) -> None:
    from datetime import UTC, datetime

    from mloop.store import MetadataStore, MetricPoint

    store = MetadataStore(settings.resolved_metadata_url)
    version = store.register_pipeline_version("p", {"name": "p"}, "h")
    run = store.create_run(version.id, {}, owner="test:1")
    execution = store.start_execution(
        run.id, "s", component="c", component_fingerprint="f", cache_key=None, params={}, inputs=[]
    )
    whole = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    fraction = datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=UTC)
    store.log_metrics(
        execution.id, [MetricPoint("a", 1.0, 0, whole), MetricPoint("a", 2.0, 1, fraction)]
    )
    points = store.metrics([execution.id])
    assert [p.logged_at for p in points] == [whole, fraction]
    # Ordering by time works on the stored text too (same format with and without micros).
    assert sorted(points, key=lambda p: p.logged_at) == points
    store.close()

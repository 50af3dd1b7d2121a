"""Running pipelines end to end on both executors: results, metadata, cache, control flow."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import mloop
from mloop import Dataset, ExitHandler, If, Metrics, ParallelFor, RunStatus, component, pipeline
from mloop.config import Settings
from mloop.errors import StepFailed

EXECUTORS = ["inline", "process"]


@component
def make_table(n: int) -> Dataset:
    print(f"making {n} rows")
    return pd.DataFrame({"x": list(range(n)), "y": [i * 2 for i in range(n)]})


@component
def total(table: Dataset, column: str = "y") -> int:
    return int(table.to_pandas()[column].sum())


@component
def double(table: Dataset) -> Dataset:
    df = table.to_pandas()
    return df.assign(y=df["y"] * 2)


@component
def stats(table: Dataset) -> Metrics:
    df = table.to_pandas()
    return {"rows": len(df), "mean_y": float(df["y"].mean())}


@pipeline(name="chain")
def chain(n: int = 5) -> None:
    table = make_table(n=n)
    doubled = double(table=table)
    total(table=doubled)
    stats(table=doubled)


@pytest.mark.parametrize("executor", EXECUTORS)
def test_chain_runs_and_records_outputs(settings: Settings, executor: str) -> None:
    result = mloop.run(chain, {"n": 4}, settings=settings, executor=executor)

    assert result.state == "succeeded"
    assert result.output("total") == 2 * sum(i * 2 for i in range(4))
    assert result.output("stats").load() == {"rows": 4, "mean_y": 6.0}
    assert result.output("double").to_pandas()["y"].tolist() == [0, 4, 8, 12]
    client = mloop.Client(settings)
    executions = client.executions(result.id)
    assert sorted(e.step for e in executions) == ["double", "make_table", "stats", "total"]
    assert all(e.state == "succeeded" for e in executions)
    assert client.run(result.id).state == "succeeded"
    doubled = client.output(result.id, "double")
    inputs, outputs = client.store.execution_io(next(e.id for e in executions if e.step == "total"))
    assert inputs["table"][0].id == doubled.id
    assert outputs == {}
    assert client.logs(result.id, "total") == ""  # it printed nothing: no log file
    assert "--- make_table (attempt 1)" in client.logs(result.id, "make_table")


def test_second_run_is_all_cache_hits(settings: Settings) -> None:
    first = mloop.run(chain, {"n": 3}, settings=settings, executor="inline")
    second = mloop.run(chain, {"n": 3}, settings=settings, executor="inline")

    assert {v.state for v in second.steps.values()} == {"cached"}
    assert second.output("total") == first.output("total")
    client = mloop.Client(settings)
    reused = {e.step: e.cached_from for e in client.executions(second.id)}
    originals = {e.step: e.id for e in client.executions(first.id)}
    assert reused == originals
    assert second.output("double").fingerprint == first.output("double").fingerprint


def test_cache_key_uses_content_so_identical_upstream_output_still_hits(
    settings: Settings,
) -> None:
    mloop.run(chain, {"n": 3}, settings=settings, executor="inline")
    again = mloop.run(chain, {"n": 3}, settings=settings, executor="inline", cache=False)
    assert {v.state for v in again.steps.values()} == {"succeeded"}

    @component(cache=False)
    def make_table_uncached(n: int) -> Dataset:
        return pd.DataFrame({"x": list(range(n)), "y": [i * 2 for i in range(n)]})

    @pipeline(name="content-cache")
    def content_cache(n: int = 3) -> None:
        double(table=make_table_uncached(n=n))

    first = mloop.run(content_cache, {}, settings=settings, executor="inline")
    second = mloop.run(content_cache, {}, settings=settings, executor="inline")
    assert first.steps["double"].state == "cached"  # same bytes as the chain's make_table
    assert second.steps["make_table_uncached"].state == "succeeded"
    assert second.steps["double"].state == "cached"


def test_changed_parameter_misses_the_cache(settings: Settings) -> None:
    mloop.run(chain, {"n": 3}, settings=settings, executor="inline")
    other = mloop.run(chain, {"n": 4}, settings=settings, executor="inline")
    assert {v.state for v in other.steps.values()} == {"succeeded"}


@component
def fail_if_flag(table: Dataset, flag: str) -> int:
    if Path(flag).exists():
        raise RuntimeError(f"flag {flag} is set")
    return table.num_rows or 0


@pipeline(name="failing")
def failing(flag: str) -> None:
    table = make_table(n=3)
    checked = fail_if_flag(table=table, flag=flag)
    total(table=double(table=table)).after(checked)
    stats(table=table)


@pytest.mark.parametrize("executor", EXECUTORS)
def test_failure_keeps_succeeded_outputs_and_resume_reruns_only_the_rest(
    settings: Settings, tmp_path: Path, executor: str
) -> None:
    flag = tmp_path / "flag"
    flag.touch()
    with pytest.raises(StepFailed) as raised:
        mloop.run(failing, {"flag": str(flag)}, settings=settings, executor=executor)
    assert raised.value.fields["step"] == "fail_if_flag"
    assert "RuntimeError: flag" in (raised.value.traceback or "")

    client = mloop.Client(settings)
    run = client.runs(limit=1)[0]
    assert run.state == "failed"
    states = {e.step: e.state for e in client.executions(run.id)}
    assert states == {
        "make_table": "succeeded",
        "fail_if_flag": "failed",
        "double": "succeeded",
        "stats": "succeeded",
    }

    flag.unlink()
    resumed = mloop.resume(run.id, settings=settings, executor=executor)
    assert resumed.state == "succeeded"
    executions = client.executions(run.id)
    per_step: dict[str, int] = {}
    for e in executions:
        per_step[e.step] = per_step.get(e.step, 0) + 1
    assert per_step == {"make_table": 1, "fail_if_flag": 2, "double": 1, "stats": 1, "total": 1}


@component(retries=2, retry_backoff=0.01)
def flaky(counter: str) -> int:
    path = Path(counter)
    attempts = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(attempts))
    if attempts < 3:
        raise ConnectionError(f"attempt {attempts} failed")
    return attempts


@pipeline(name="flaky")
def flaky_pipeline(counter: str) -> None:
    flaky(counter=counter)


@pytest.mark.parametrize("executor", EXECUTORS)
def test_retries_with_backoff_until_success(
    settings: Settings, tmp_path: Path, executor: str
) -> None:
    result = mloop.run(
        flaky_pipeline, {"counter": str(tmp_path / "n")}, settings=settings, executor=executor
    )
    assert result.output("flaky") == 3
    attempts = [(e.attempt, e.state) for e in mloop.Client(settings).executions(result.id)]
    assert attempts == [(1, "failed"), (2, "failed"), (3, "succeeded")]


@component(timeout=1.0)
def hang(seconds: float) -> int:
    import time

    time.sleep(seconds)
    return 1


@pipeline(name="hangs")
def hangs(seconds: float = 60.0) -> None:
    hang(seconds=seconds)


@pytest.mark.parametrize("executor", EXECUTORS)
def test_timeout_kills_a_hung_step(settings: Settings, executor: str) -> None:
    result = mloop.run(hangs, {}, settings=settings, executor=executor, raise_on_failure=False)
    assert result.state == "failed"
    assert "timed out after 1.0 s" in (result.error or "")
    execution = mloop.Client(settings).executions(result.id)[0]
    assert execution.state == "failed"
    assert execution.finished_at is not None and execution.started_at is not None
    assert (execution.finished_at - execution.started_at).total_seconds() < 30


@component
def is_large(table: Dataset, threshold: int) -> bool:
    return (table.num_rows or 0) > threshold


@pipeline(name="branching")
def branching(n: int = 5, threshold: int = 3) -> None:
    table = make_table(n=n)
    large = is_large(table=table, threshold=threshold)
    with If(large.output == True):  # noqa: E712 - builds a condition, not a comparison
        stats(table=table)
    with If(large.output == False):  # noqa: E712
        total(table=table)


@pytest.mark.parametrize(("n", "ran", "skipped"), [(5, "stats", "total"), (2, "total", "stats")])
def test_if_runs_one_branch_and_skips_the_other(
    settings: Settings, n: int, ran: str, skipped: str
) -> None:
    result = mloop.run(branching, {"n": n}, settings=settings, executor="inline")
    assert result.steps[ran].state == "succeeded"
    assert result.steps[skipped].state == "skipped"
    states = {e.step: e.state for e in mloop.Client(settings).executions(result.id)}
    assert states[skipped] == "skipped"


@component
def square(x: int) -> int:
    return x * x


@component
def add_all(values: list[int]) -> int:
    return sum(values)


@component
def sizes(n: int) -> list:
    return list(range(1, n + 1))


@pipeline(name="fan-out")
def fan_out(n: int = 4) -> None:
    with ParallelFor([1, 2, 3]) as item:
        fixed = square(x=item)
    add_all(values=fixed.output).set_name("fixed_total")
    items = sizes(n=n)
    with ParallelFor(items.output) as dynamic_item:
        dynamic = square(x=dynamic_item).set_name("dynamic_square")
    add_all(values=dynamic.output).set_name("dynamic_total")


@pytest.mark.parametrize("executor", EXECUTORS)
def test_parallel_for_static_and_dynamic_with_collect(settings: Settings, executor: str) -> None:
    result = mloop.run(fan_out, {"n": 4}, settings=settings, executor=executor)
    assert result.output("fixed_total") == 1 + 4 + 9
    assert result.output("dynamic_total") == 1 + 4 + 9 + 16
    assert [result.output(f"dynamic_square[{i}]") for i in range(4)] == [1, 4, 9, 16]


@component
def notify(status: RunStatus, path: str) -> None:
    Path(path).write_text(json.dumps({"state": status.state, "failed": status.failed_steps}))


@pipeline(name="with-exit")
def with_exit(flag: str, out: str) -> None:
    done = notify(path=out)
    with ExitHandler(done):
        fail_if_flag(table=make_table(n=2), flag=flag)


def test_exit_handler_runs_after_failure_with_the_run_status(
    settings: Settings, tmp_path: Path
) -> None:
    flag, out = tmp_path / "flag", tmp_path / "status.json"
    flag.touch()
    result = mloop.run(
        with_exit,
        {"flag": str(flag), "out": str(out)},
        settings=settings,
        executor="inline",
        raise_on_failure=False,
    )
    assert result.state == "failed"
    assert json.loads(out.read_text()) == {"state": "failed", "failed": ["fail_if_flag"]}
    assert result.steps["notify"].state == "succeeded"

"""Ingest components in real pipelines: specs, artifacts, lineage, errors of a run, and the
cache policy (a source is re-read every run; unchanged data still lets later steps hit)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import mloop
from mloop import Dataset, Metrics, component, pipeline
from mloop.components import ingest
from mloop.config import Settings
from mloop.errors import StepFailed

START = datetime(2013, 1, 1, tzinfo=UTC)


def write(directory: Path, table: pa.Table, name: str = "part-0.parquet") -> str:
    """``table`` as a Parquet file in ``directory`` (not ``tmp_path``: mloop's home is there)."""
    directory.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, directory / name)
    return str(directory)


def flights(n: int, first: int = 0) -> pa.Table:
    ids = list(range(first, first + n))
    return pa.table(
        {
            "id": ids,
            "time_hour": pa.array(
                [START + timedelta(hours=i) for i in ids], pa.timestamp("ms", "UTC")
            ),
            "delay": [float(i % 5) for i in ids],
        }
    )


@component
def summarize(data: Dataset) -> Metrics:
    table = data.to_arrow()
    splits = table.column("split").to_pylist() if "split" in table.column_names else []
    return {
        "rows": table.num_rows,
        "ids": sorted(table.column("id").to_pylist()),
        "splits": {name: splits.count(name) for name in sorted(set(splits))},
    }


@pipeline(name="ingest-window")
def ingest_window(path: str, start: str, end: str) -> None:
    raw = ingest.parquet(
        path, time_column="time_hour", start=start, end=end, split={"train": 0.5, "eval": 0.5}
    )
    summarize(raw)


@pipeline(name="ingest-all")
def ingest_all(path: str) -> None:
    summarize(ingest.parquet(path))


@pytest.mark.parametrize("executor", ["inline", "process"])
def test_window_from_pipeline_parameters(settings: Settings, tmp_path: Path, executor: str) -> None:
    path = write(tmp_path / "data", flights(48))
    result = mloop.run(
        ingest_window,
        {"path": path, "start": "2013-01-01T10:00", "end": "2013-01-01T20:00"},
        settings=settings,
        executor=executor,
    )
    dataset = result.output("ingest.parquet")
    assert isinstance(dataset, Dataset)
    assert dataset.num_rows == 10
    assert dataset.to_arrow().column_names == ["id", "time_hour", "delay", "split"]
    summary = result.output("summarize").load()
    assert summary["ids"] == list(range(10, 20))
    assert sum(summary["splits"].values()) == 10
    execution = next(
        e for e in mloop.Client(settings).executions(result.id) if e.step == "ingest.parquet"
    )
    assert execution.params["path"] == path
    assert execution.params["start"] == "2013-01-01T10:00"


def test_the_spec_names_the_components_and_turns_their_cache_off() -> None:
    spec = ingest_window.compile()
    component_spec = next(c for c in spec["components"].values() if c["name"] == "ingest.parquet")
    assert component_spec["options"]["cache"] is False
    assert component_spec["ref"]["module"] == "mloop.components._ingest"
    assert component_spec["inputs"]["split"]["type"] == "any"


def test_a_source_is_read_again_each_run_and_unchanged_data_still_hits_downstream(
    settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "data"
    write(path, flights(5), "a.parquet")
    first = mloop.run(ingest_all, {"path": str(path)}, settings=settings, executor="inline")
    second = mloop.run(ingest_all, {"path": str(path)}, settings=settings, executor="inline")
    assert second.steps["ingest.parquet"].state == "succeeded"  # read again
    assert second.steps["summarize"].state == "cached"  # same bytes: the cache still works
    assert second.output("ingest.parquet").fingerprint == first.output("ingest.parquet").fingerprint

    # The same path with new contents (and a second file): the new data is read.
    pq.write_table(flights(7), path / "a.parquet")
    pq.write_table(flights(2, first=7), path / "b.parquet")
    third = mloop.run(ingest_all, {"path": str(path)}, settings=settings, executor="inline")
    assert third.steps["summarize"].state == "succeeded"
    assert third.output("summarize").load()["ids"] == list(range(9))


def test_caching_can_be_turned_on_for_a_source_known_not_to_change(
    settings: Settings, tmp_path: Path
) -> None:
    @pipeline(name="ingest-cached")
    def cached(path: str) -> None:
        summarize(ingest.parquet(path).set_options(cache=True))

    path = write(tmp_path / "data", flights(3))
    mloop.run(cached, {"path": path}, settings=settings, executor="inline")
    again = mloop.run(cached, {"path": path}, settings=settings, executor="inline")
    assert again.steps["ingest.parquet"].state == "cached"


def test_a_time_split_keeps_its_order_through_the_spec(settings: Settings, tmp_path: Path) -> None:
    @pipeline(name="ingest-time-split")
    def time_split(path: str) -> None:
        ingest.csv(
            path, time_column="time_hour", split=[("train", 0.75), ("eval", 0.25)], split_time=True
        )

    import pyarrow.csv as pacsv

    pacsv.write_csv(flights(8), tmp_path / "f.csv")
    result = mloop.run(
        time_split, {"path": str(tmp_path / "f.csv")}, settings=settings, executor="inline"
    )
    table = result.output("ingest.csv").to_arrow().sort_by("id")
    assert table.column("split").to_pylist() == ["train"] * 6 + ["eval"] * 2


def test_bad_input_fails_the_step_with_a_message_naming_the_column(
    settings: Settings, tmp_path: Path
) -> None:
    @pipeline(name="ingest-bad-column")
    def bad(path: str) -> None:
        summarize(ingest.parquet(path, columns=["id", "dealy"]))

    path = write(tmp_path / "data", flights(3))
    with pytest.raises(StepFailed) as raised:
        mloop.run(bad, {"path": path}, settings=settings, executor="inline")
    assert raised.value.fields["step"] == "ingest.parquet"
    assert "IngestError: columns: no column 'dealy'" in str(raised.value)
    assert "(columns: id, time_hour, delay)" in str(raised.value)


def test_sql_in_a_pipeline(settings: Settings, tmp_path: Path) -> None:
    @pipeline(name="ingest-sql")
    def from_sql(query: str) -> None:
        summarize(
            ingest.sql(query, url="duckdb:", split={"train": 0.8, "eval": 0.2}, split_by="id")
        )

    path = write(tmp_path / "data", flights(20))
    query = f"SELECT id, time_hour FROM read_parquet('{path}/*.parquet')"
    result = mloop.run(from_sql, {"query": query}, settings=settings, executor="inline")
    summary = result.output("summarize").load()
    assert summary["rows"] == 20
    assert set(summary["splits"]) <= {"train", "eval"}
    assert result.steps["ingest.sql"].state == "succeeded"

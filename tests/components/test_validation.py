"""The data validation components in pipelines, on real data (nycflights13)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import mloop
from mloop import Anomalies, Statistics, pipeline
from mloop.components import import_schema, infer_schema, ingest, statistics, validate
from mloop.config import Settings
from mloop.data import DatasetStatistics, Schema, load_schema
from mloop.datasets import nycflights13
from mloop.errors import StepFailed

COLUMNS = ["month", "day", "dep_delay", "arr_delay", "carrier", "origin", "distance", "air_time"]


@pytest.fixture(scope="module")
def months(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    flights = nycflights13("flights").select(COLUMNS)
    out = tmp_path_factory.mktemp("flights")
    paths = {}
    for month in (1, 2, 7):
        paths[month] = out / f"month={month}.parquet"
        pq.write_table(flights.filter(pc.equal(flights["month"], month)), paths[month])
    return paths


@pipeline(name="validate-month")
def validate_month(current: str, reference: str) -> None:
    data = ingest.parquet(current, split={"train": 0.8, "eval": 0.2})
    stats = statistics(data)
    reference_stats = statistics(ingest.parquet(reference)).set_name("reference_statistics")
    validate(stats, infer_schema(reference_stats), baseline=reference_stats, fail_on=None)


def test_statistics_schema_and_validation_steps(
    settings: Settings, months: dict[int, Path]
) -> None:
    result = mloop.run(
        validate_month,
        {"current": str(months[1]), "reference": str(months[1])},
        settings=settings,
        executor="inline",
    )
    stats = result.output("statistics")
    assert isinstance(stats, Statistics)
    value = stats.load()
    assert isinstance(value, DatasetStatistics)
    assert set(value.splits) == {"train", "eval"}
    assert "split" not in value.features and "carrier" in value.features
    assert stats.properties["num_rows"] == value.num_rows > 20_000
    assert (Path(stats.local_path()) / "statistics.json").exists()

    schema = result.output("infer_schema").load()
    assert isinstance(schema, Schema)
    assert schema.features["carrier"].domain
    anomalies = result.output("validate")
    assert isinstance(anomalies, Anomalies)
    assert not anomalies.load().has_errors


def test_drift_against_a_baseline_is_reported(settings: Settings, months: dict[int, Path]) -> None:
    july = mloop.run(
        validate_month,
        {"current": str(months[7]), "reference": str(months[1])},
        settings=settings,
        executor="inline",
    )
    found = july.output("validate").load()
    drifted = {a.feature for a in found if a.kind == "drift"}
    assert {"month", "air_time"} <= drifted
    assert july.output("validate").properties["errors"] == len(found.errors)


@pipeline(name="strict")
def strict(current: str, schema_path: str) -> None:
    validate(statistics(ingest.parquet(current)), import_schema(schema_path))


def test_error_anomalies_fail_the_step(
    settings: Settings, months: dict[int, Path], tmp_path: Path
) -> None:
    first = mloop.run(
        validate_month,
        {"current": str(months[1]), "reference": str(months[1])},
        settings=settings,
        executor="inline",
    )
    schema_path = tmp_path / "schema.yaml"
    schema_path.write_text(first.output("infer_schema").load().to_yaml())
    text = schema_path.read_text().replace("- AA\n", "", 1)  # AA becomes out of domain
    schema_path.write_text(text)
    assert "AA" not in load_schema(schema_path).features["carrier"].domain

    with pytest.raises(StepFailed) as failed:
        mloop.run(
            strict,
            {"current": str(months[2]), "schema_path": str(schema_path)},
            settings=settings,
            executor="inline",
        )
    assert failed.value.fields["step"] == "validate"
    assert "carrier" in str(failed.value)

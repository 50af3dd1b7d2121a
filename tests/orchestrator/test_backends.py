"""The same pipeline, unchanged, on the embedded defaults and on the team setup
(PostgreSQL metadata + S3 artifacts): results, cache, lineage and resume all hold."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import mloop
from _services import S3Service
from mloop import Dataset, Metrics, component, pipeline
from mloop.config import Settings, load_settings


@component
def source(n: int) -> Dataset:
    return pd.DataFrame({"k": [i % 3 for i in range(n)], "v": list(range(n))})


@component
def by_key(table: Dataset) -> Dataset:
    return table.to_pandas().groupby("k", as_index=False)["v"].sum()


@component
def check(table: Dataset, fail_flag: str) -> Metrics:
    if Path(fail_flag).exists():
        raise RuntimeError("flag set")
    return {"keys": int(table.num_rows or 0)}


@pipeline(name="backends")
def backends(n: int, fail_flag: str) -> None:
    check(table=by_key(table=source(n=n)), fail_flag=fail_flag)


@pytest.fixture(
    params=[
        "sqlite+local",
        pytest.param("postgresql+s3", marks=[pytest.mark.postgres, pytest.mark.s3]),
    ]
)
def team_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "sqlite+local":
        return load_settings(home=tmp_path / "home", heartbeat_interval=0.2)
    url: str = request.getfixturevalue("postgres_url")
    service: S3Service = request.getfixturevalue("s3_service")
    return load_settings(
        home=tmp_path / "home",
        metadata_url=url,
        artifact_root=f"s3://{service.bucket}/{tmp_path.name}",
        storage_options=service.storage_options,
        heartbeat_interval=0.2,
    )


def test_pipeline_runs_unchanged_on_each_backend(team_settings: Settings, tmp_path: Path) -> None:
    flag = tmp_path / "fail"
    flag.touch()
    params = {"n": 30, "fail_flag": str(flag)}
    failed = mloop.run(
        backends, params, settings=team_settings, executor="process", raise_on_failure=False
    )
    assert failed.state == "failed"

    flag.unlink()
    resumed = mloop.resume(failed.id, settings=team_settings, executor="process")
    assert resumed.output("check").load() == {"keys": 3}
    client = mloop.Client(team_settings)
    steps = [(e.step, e.state) for e in client.executions(failed.id)]
    assert steps.count(("source", "succeeded")) == 1  # kept from the failed attempt

    again = mloop.run(backends, params, settings=team_settings, executor="process")
    assert {view.state for view in again.steps.values()} == {"cached"}

    report = client.output(again.id, "check")
    if team_settings.artifact_root:
        assert report.uri.startswith("s3://")
    graph = client.lineage("artifact", report.id)
    assert sorted(e.step for e in graph.executions.values()) == ["by_key", "check", "source"]
    assert client.load(report.id) == {"keys": 3}

"""Fixtures of the metadata store tests: one contract, run against SQLite and PostgreSQL.

``store_url`` is parametrized over both backends. SQLite gets a fresh file per test;
PostgreSQL gets one fresh database per test session (per xdist worker), emptied before each
test. :func:`postgres_database` is the reusable part: it creates a uniquely named database
and drops it afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from _services import postgres_database
from mloop.store import MetadataStore, PipelineVersionRecord, RunRecord


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty metadata database, once per backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'meta' / 'mloop.db'}"
    request.getfixturevalue("postgres_cleaner")()
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a database nobody has migrated yet, once per backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
    else:
        with postgres_database(prefix="mloop_test_fresh") as url:
            yield url


@pytest.fixture
def store(store_url: str) -> Iterator[MetadataStore]:
    with MetadataStore(store_url) as store:
        yield store


@pytest.fixture
def version(store: MetadataStore) -> PipelineVersionRecord:
    return store.register_pipeline_version("train", {"name": "train", "steps": {}}, "h1")


@pytest.fixture
def run(store: MetadataStore, version: PipelineVersionRecord) -> RunRecord:
    return store.create_run(version.id, {"lr": 0.1}, owner="host:1")

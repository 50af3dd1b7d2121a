"""Shared fixtures: an isolated mloop home per test, and the real services (PostgreSQL, S3)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from _services import S3Service, moto_s3, postgres_database
from mloop.config import Settings, load_settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(home=tmp_path / "home", heartbeat_interval=0.2, max_workers=2)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL database for this test session (each xdist worker gets its own)."""
    with postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
def postgres_cleaner(postgres_url: str) -> Iterator[Callable[[], None]]:
    """Migrates the session database once; calling the result deletes every row (contract
    tests that share the session database start each test from empty tables)."""
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    from mloop.store import MetadataStore
    from mloop.store._models import metadata

    with MetadataStore(postgres_url) as store:
        store.upgrade()
    engine = sa.create_engine(postgres_url, poolclass=NullPool)
    tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)

    def empty() -> None:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")

    yield empty
    engine.dispose()


@pytest.fixture(scope="session")
def s3_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Service]:
    """A real S3 API (moto_server on loopback) with one bucket for this session."""
    with moto_s3(tmp_path_factory.mktemp("moto")) as service:
        yield service

"""Shared fixtures: an isolated mloop home per test, and the real services (PostgreSQL, S3)."""

from __future__ import annotations

from collections.abc import Iterator
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
def s3_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Service]:
    """A real S3 API (moto_server on loopback) with one bucket for this session."""
    with moto_s3(tmp_path_factory.mktemp("moto")) as service:
        yield service

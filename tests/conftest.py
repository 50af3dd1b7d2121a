"""Shared fixtures: an isolated mloop home per test (SQLite + local artifact store)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mloop.config import Settings, load_settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(home=tmp_path / "home", heartbeat_interval=0.2, max_workers=2)

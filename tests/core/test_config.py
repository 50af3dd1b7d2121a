"""Settings: defaults → mloop.toml → MLOOP_* env → arguments; unknown keys are errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from mloop.config import load_settings
from mloop.errors import ConfigError


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("MLOOP_HOME", "MLOOP_EXECUTOR", "MLOOP_CONFIG", "MLOOP_MAX_WORKERS"):
        monkeypatch.delenv(name, raising=False)


def test_defaults_live_under_dot_mloop_in_the_project(tmp_path: Path) -> None:
    settings = load_settings()
    assert settings.home == tmp_path / ".mloop"
    assert settings.resolved_metadata_url == f"sqlite:///{tmp_path / '.mloop' / 'mloop.db'}"
    assert settings.resolved_artifact_root == str(tmp_path / ".mloop" / "artifacts")
    assert settings.executor == "process"
    assert settings.resolved_max_workers >= 1


def test_toml_then_env_then_arguments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mloop.toml").write_text('executor = "inline"\nmax_workers = 3\nhome = "state"\n')
    settings = load_settings()
    assert (settings.executor, settings.max_workers) == ("inline", 3)
    assert settings.home == tmp_path / "state"

    monkeypatch.setenv("MLOOP_MAX_WORKERS", "5")
    assert load_settings().max_workers == 5
    assert load_settings(max_workers=7).max_workers == 7


def test_config_file_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "team.toml"
    config.write_text('metadata_url = "postgresql+psycopg://db/mloop"\n')
    monkeypatch.setenv("MLOOP_CONFIG", str(config))
    assert load_settings().resolved_metadata_url == "postgresql+psycopg://db/mloop"


@pytest.mark.parametrize(
    ("toml", "named"),
    [
        ('exector = "inline"\n', "exector"),
        ('executor = "threads"\n', "executor"),
        ("max_workers = 0\n", "max_workers"),
    ],
)
def test_bad_settings_are_one_error_naming_the_key(tmp_path: Path, toml: str, named: str) -> None:
    (tmp_path / "mloop.toml").write_text(toml)
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert named in str(raised.value)
    assert raised.value.http_status == 400


def test_unparseable_toml_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "mloop.toml").write_text("executor = \n")
    with pytest.raises(ConfigError, match=r"mloop\.toml"):
        load_settings()

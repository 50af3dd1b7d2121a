"""Engines, migrations and failures of the metadata store."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.pool import NullPool

import mloop.store
from mloop.config import Settings
from mloop.errors import ConfigError, StoreError
from mloop.store import MetadataStore
from mloop.store._engine import _alembic_config, head_revision, transaction
from mloop.store._json import json_loads
from mloop.store._models import metadata


def schema_diff(url: str) -> list[object]:
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return list(compare_metadata(MigrationContext.configure(conn), metadata))
    finally:
        engine.dispose()


def revision(url: str) -> str | None:
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def test_migrations_are_idempotent_and_match_the_models(fresh_url: str) -> None:
    assert revision(fresh_url) is None
    with MetadataStore(fresh_url) as store:
        store.upgrade()
        store.upgrade()
        version = store.register_pipeline_version("p", {}, "h")
    with MetadataStore(fresh_url) as again:
        again.upgrade()
        assert again.get_pipeline_version(version.id) == version

    assert revision(fresh_url) == head_revision() == "0003"
    assert schema_diff(fresh_url) == []


def test_migrations_downgrade_and_upgrade_again(fresh_url: str) -> None:
    with MetadataStore(fresh_url) as store:
        store.upgrade()
    engine = sa.create_engine(fresh_url, poolclass=NullPool)
    with transaction(engine, write=True) as conn:
        command.downgrade(_alembic_config(conn), "base")
    assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()

    with MetadataStore(fresh_url) as store:
        assert store.list_runs() == []  # first use migrates again
    assert schema_diff(fresh_url) == []


def test_first_use_migrates_automatically(fresh_url: str) -> None:
    with MetadataStore(fresh_url) as store:
        assert store.list_pipelines() == []
    assert revision(fresh_url) == head_revision()


def test_a_newer_schema_is_refused(fresh_url: str) -> None:
    with MetadataStore(fresh_url) as store:
        store.upgrade()
    engine = sa.create_engine(fresh_url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    engine.dispose()
    with pytest.raises(StoreError, match="newer mloop"):
        MetadataStore(fresh_url).list_runs()


def test_constructor_does_no_io(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = MetadataStore.from_settings(Settings(home=home))
    assert store.url == f"sqlite:///{home / 'mloop.db'}"
    assert not home.exists()

    assert store.list_runs() == []
    assert (home / "mloop.db").is_file()
    store.close()


def test_sqlite_connections_are_set_up_for_concurrent_writers(tmp_path: Path) -> None:
    with MetadataStore(f"sqlite:///{tmp_path / 'm.db'}") as store, store._read() as conn:
        pragmas = {
            name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
        }
    assert pragmas == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "busy_timeout": 30000,
        "synchronous": 1,
    }


def test_in_memory_sqlite_is_shared_by_threads() -> None:
    with MetadataStore("sqlite://") as store:
        version = store.register_pipeline_version("p", {}, "h")
        seen: list[int] = []
        thread = threading.Thread(
            target=lambda: seen.append(store.get_pipeline_version(version.id).id)
        )
        thread.start()
        thread.join()
        assert seen == [version.id]


def test_unreachable_postgres_names_the_url_without_password() -> None:
    store = MetadataStore("postgresql://mloop:s3cret@127.0.0.1:1/metadata")
    with pytest.raises(StoreError) as info:
        store.list_runs()
    message = str(info.value)
    assert "postgresql+psycopg://mloop:***@127.0.0.1:1/metadata" in message
    assert "s3cret" not in message and "s3cret" not in repr(info.value.fields)
    assert info.value.__cause__ is None  # no SQLAlchemy traceback chained on


def test_sqlite_path_that_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="cannot create"):
        MetadataStore(f"sqlite:///{blocker / 'sub' / 'mloop.db'}").list_runs()


@pytest.mark.parametrize("url", ["mysql://u@h/db", "not a url"])
def test_unsupported_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        MetadataStore(url)


def test_public_api() -> None:
    assert sorted(mloop.store.__all__) == sorted(
        name for name in vars(mloop.store) if not name.startswith("_")
    )
    assert "MetadataStore" in mloop.store.__all__


@pytest.mark.parametrize(
    "text", ["{}", '{"a": [1, 2.5, null, true, "\\u00e9"], "b": {}}', ' {"a": 1} ', "[1]", "1"]
)
def test_fast_json_decoding_matches_json(text: str) -> None:
    assert json_loads(text) == json.loads(text)
    assert json_loads(text.encode()) == json.loads(text)


@pytest.mark.parametrize("text", ["", "{", "{} x", "{'a': 1}"])
def test_fast_json_decoding_rejects_what_json_rejects(text: str) -> None:
    with pytest.raises(json.JSONDecodeError):
        json_loads(text)


def test_a_write_lock_held_past_the_busy_timeout_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    store = MetadataStore(f"sqlite:///{path}?timeout=0.2")
    version = store.register_pipeline_version("p", {}, "h")
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreError, match="locked"):
            store.create_run(version.id, {})
        assert store.get_pipeline_version(version.id) == version  # readers are not blocked
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert store.create_run(version.id, {}).state == "running"
    store.close()

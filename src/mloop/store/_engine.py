"""Engines for the metadata database, and the migrations that bring it to the current schema.

SQLite (the embedded default) is tuned for several processes writing at once: WAL journal,
``foreign_keys=ON``, a generous ``busy_timeout``, and every write transaction opened with
``BEGIN IMMEDIATE``. Taking the write lock up front is what makes ``busy_timeout`` work: a
deferred transaction that reads and then writes can find another writer ahead of it and fail
at once with "database is locked", whatever the timeout. Reads still begin deferred, so they
never wait for writers. PostgreSQL (``postgresql+psycopg://``) needs none of this.

Transactions are begun by :func:`transaction` on the driver connection, not through an
engine event: any engine-level event listener makes SQLAlchemy dispatch events around every
statement, a cost paid on each of the few statements a step records.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Engine, Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import StaticPool

from mloop.errors import ConfigError, StoreError
from mloop.store._json import json_loads

__all__ = [
    "create_engine",
    "insert_ignore",
    "migrate",
    "parse_url",
    "safe_url",
    "transaction",
]

BUSY_TIMEOUT_MS = 30_000
# Any fixed 64-bit number: PostgreSQL sessions migrating the same database queue on it.
_MIGRATION_LOCK = 0x6D6C6F6F70  # "mloop"


def parse_url(url: str | URL) -> URL:
    """Parse and check a metadata URL; ``postgresql://`` means the psycopg (3) driver."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"invalid metadata URL {url!r}: {exc}") from None
    backend = parsed.get_backend_name()
    if backend == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if backend not in ("sqlite", "postgresql"):
        raise ConfigError(
            f"unsupported metadata database {safe_url(parsed)}: "
            "use sqlite:///path/to/mloop.db or postgresql+psycopg://user@host/db",
            url=safe_url(parsed),
        )
    return parsed


def safe_url(url: URL) -> str:
    """The URL as text with the password masked, for messages and logs."""
    return url.render_as_string(hide_password=True)


def create_engine(url: URL, *, echo: bool = False) -> Engine:
    """An engine for ``url`` (from :func:`parse_url`). Connects lazily, like any engine."""
    if url.get_backend_name() == "sqlite":
        engine = _sqlite_engine(url, echo=echo)
    else:
        engine = sa.create_engine(url, echo=echo, pool_pre_ping=True, json_deserializer=json_loads)
    _forget_in_forked_children(engine)
    return engine


_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()
_fork_hook_registered = False


def _forget_in_forked_children(engine: Engine) -> None:
    """A forked child must not use its parent's pooled connections (two processes on one
    SQLite handle or one PostgreSQL socket corrupt it): it drops them, unclosed, and opens
    its own."""
    global _fork_hook_registered
    if not _fork_hook_registered and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_drop_inherited_connections)
        _fork_hook_registered = True
    _ENGINES.add(engine)


def _drop_inherited_connections() -> None:
    for engine in list(_ENGINES):
        engine.dispose(close=False)


@contextmanager
def transaction(engine: Engine, *, write: bool) -> Iterator[Connection]:
    """A connection in a transaction that commits at the end (or rolls back on error).

    On SQLite the transaction is begun here, on the driver connection (whose own implicit
    transactions are off): ``BEGIN IMMEDIATE`` for writes, a deferred ``BEGIN`` for reads,
    which gives a consistent snapshot over several queries without blocking writers.
    """
    with engine.connect() as conn, conn.begin():
        if conn.dialect.name == "sqlite":
            statement = "BEGIN IMMEDIATE" if write else "BEGIN"
            driver: Any = conn.connection.driver_connection
            try:
                driver.execute(statement)
            except conn.dialect.loaded_dbapi.Error as exc:  # e.g. locked past busy_timeout
                raise sa.exc.DBAPIError.instance(
                    statement, None, exc, conn.dialect.loaded_dbapi.Error
                ) from exc
        yield conn


def _is_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"


def _sqlite_engine(url: URL, *, echo: bool) -> Engine:
    memory = _is_memory(url)
    # ?timeout=<seconds> in the URL, as the sqlite3 driver reads it, overrides the default.
    timeout = url.query.get("timeout")
    busy_timeout_ms = int(float(str(timeout)) * 1000) if timeout else BUSY_TIMEOUT_MS
    kwargs: dict[str, Any] = {}
    if memory:
        # One connection shared by every thread, or each would see its own empty database.
        kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
    engine = sa.create_engine(url, echo=echo, json_deserializer=json_loads, **kwargs)

    @event.listens_for(engine, "do_connect")
    def _make_parent_dir(dialect: Any, conn_rec: Any, cargs: Any, cparams: Any) -> None:
        if not memory and url.database and not url.database.startswith("file:"):
            directory = Path(url.database).expanduser().parent
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create {directory} for the metadata database: {exc}",
                    url=safe_url(url),
                ) from None

    @event.listens_for(engine, "connect")
    def _configure(dbapi_conn: Any, conn_rec: Any) -> None:
        # No implicit transactions in the driver: transaction() begins them itself.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if not memory:
            cursor.execute("PRAGMA journal_mode = WAL")
            # Safe with WAL (a crash loses at most the last commits, never consistency).
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    return engine


def insert_ignore(dialect_name: str, table: Table) -> sa.Insert:
    """``INSERT ... ON CONFLICT DO NOTHING`` for ``table`` on SQLite or PostgreSQL."""
    if dialect_name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


# Migrations -----------------------------------------------------------------------------


def _alembic_config(connection: Connection | None = None) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "mloop.store:migrations")
    config.attributes["connection"] = connection
    return config


@cache
def head_revision() -> str:
    """The newest migration this version of mloop ships."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(connection: Connection) -> str | None:
    """The migration the database is at, or None for an empty database."""
    from alembic.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def migrate(engine: Engine, url: URL) -> None:
    """Bring the database to the newest schema; a no-op (one read) when it already is there.

    Concurrent migrators are serialized: on SQLite by the write lock of ``BEGIN IMMEDIATE``,
    on PostgreSQL by a transaction-scoped advisory lock; DDL is transactional on both, so the
    loser of the race finds the schema at head and does nothing.
    """
    from alembic import command
    from alembic.util import CommandError

    head = head_revision()
    with engine.connect() as conn:
        if current_revision(conn) == head:
            return
    try:
        with transaction(engine, write=True) as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK}
                )
            command.upgrade(_alembic_config(conn), "head")
    except CommandError as exc:
        raise StoreError(
            f"cannot migrate the metadata database {safe_url(url)} to revision {head}: {exc} "
            "(was it created by a newer mloop?)",
            url=safe_url(url),
        ) from None

"""Alembic environment of the metadata store.

mloop runs migrations programmatically (``MetadataStore.upgrade``, or automatically on first
use) and hands its own connection over in ``config.attributes["connection"]``; no
``alembic.ini`` is involved. To write a new migration against a scratch database::

    python -c "from alembic import command; from mloop.store._engine import _alembic_config; \\
        c = _alembic_config(); c.set_main_option('sqlalchemy.url', 'sqlite:///scratch.db'); \\
        command.upgrade(c, 'head'); command.revision(c, 'what changed', autogenerate=True)"

then edit the generated file under ``versions/`` (SQLite changes need ``op.batch_alter_table``).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from mloop.store._engine import create_engine, parse_url
from mloop.store._models import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = parse_url(context.config.get_main_option("sqlalchemy.url") or "")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


main()

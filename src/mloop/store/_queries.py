"""Core statements the store runs on hot paths, and their rows turned into records.

Statements are built once at import (with bind parameters), so a call pays for neither
statement construction nor compilation: SQLAlchemy's compiled cache hits on the second use.
Column order in the selects matches the fields of the records, so ``Record(*row)`` is the
whole conversion.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import fields
from typing import Any

from sqlalchemy import Row, Select, bindparam, func, insert, select, update

from mloop.store._engine import insert_ignore
from mloop.store._models import (
    Json,
    UTCDateTime,
    artifact_types,
    artifacts,
    associations,
    events,
    executions,
    metrics,
    model_aliases,
    model_audit,
    model_versions,
    pipeline_versions,
    pipelines,
    registered_models,
    runs,
)
from mloop.store._records import ArtifactRecord, ExecutionRecord, ModelVersionRecord, RunRecord

TERMINAL_RUN_STATES = frozenset({"succeeded", "failed", "cancelled"})
RUN_STATES = frozenset({"pending", "running"}) | TERMINAL_RUN_STATES
FINISHED_EXECUTION_STATES = frozenset({"succeeded", "failed", "cached", "skipped", "cancelled"})
# The largest IN (...) list sent at once (SQLite allows 32766 parameters, PostgreSQL 65535).
IN_BATCH = 30_000

EXECUTION_FIELDS = tuple(f.name for f in fields(ExecutionRecord))
RUN_FIELDS = tuple(f.name for f in fields(RunRecord))
EXECUTION_COLUMNS = tuple(executions.c[name] for name in EXECUTION_FIELDS)
ARTIFACT_COLUMNS = (
    artifacts.c.id,
    artifact_types.c.name,
    artifacts.c.uri,
    artifacts.c.fingerprint,
    artifacts.c.properties,
    artifacts.c.created_at,
)
RUN_COLUMNS = (
    runs.c.id,
    pipelines.c.name,
    runs.c.pipeline_version_id,
    runs.c.params,
    runs.c.state,
    runs.c.created_at,
    runs.c.started_at,
    runs.c.finished_at,
    runs.c.heartbeat_at,
    runs.c.owner,
    runs.c.error,
)


def select_runs() -> Select[Any]:
    return (
        select(*RUN_COLUMNS)
        .join(pipeline_versions, pipeline_versions.c.id == runs.c.pipeline_version_id)
        .join(pipelines, pipelines.c.id == pipeline_versions.c.pipeline_id)
    )


def select_artifacts() -> Select[Any]:
    return select(*ARTIFACT_COLUMNS).join(
        artifact_types, artifact_types.c.id == artifacts.c.type_id
    )


def select_events() -> Select[Any]:
    """Events with their artifacts: ``execution_id, kind, key, index, *ARTIFACT_COLUMNS``."""
    return (
        select(events.c.execution_id, events.c.kind, events.c.key, events.c.index)
        .add_columns(*ARTIFACT_COLUMNS)
        .select_from(events)
        .join(artifacts, artifacts.c.id == events.c.artifact_id)
        .join(artifact_types, artifact_types.c.id == artifacts.c.type_id)
        .order_by(events.c.id)
    )


# Reads
GET_RUN = select_runs().where(runs.c.id == bindparam("run_id"))
GET_EXECUTION = select(*EXECUTION_COLUMNS).where(executions.c.id == bindparam("id"))
GET_ARTIFACT = select_artifacts().where(artifacts.c.id == bindparam("id"))
RUN_CONTEXT = select(runs.c.context_id).where(runs.c.id == bindparam("run_id"))
EXECUTION_IO = select_events().where(events.c.execution_id == bindparam("id"))
EXECUTION_OUTPUTS = EXECUTION_IO.where(events.c.kind == "output")
OUTPUTS_OF = select_events().where(
    events.c.execution_id.in_(bindparam("ids", expanding=True)), events.c.kind == "output"
)
# Served by the index on (cache_key, state, finished_at), read backwards.
FIND_CACHED = (
    select(*EXECUTION_COLUMNS)
    .where(executions.c.cache_key == bindparam("cache_key"), executions.c.state == "succeeded")
    .order_by(executions.c.finished_at.desc(), executions.c.id.desc())
    .limit(1)
)
FIND_CACHED_SINCE = FIND_CACHED.where(executions.c.finished_at >= bindparam("since"))
LATEST_PER_STEP = select(*EXECUTION_COLUMNS).where(
    executions.c.id.in_(
        select(func.max(executions.c.id))
        .where(
            executions.c.run_id == bindparam("run_id"),
            executions.c.state.in_(("succeeded", "cached")),
            executions.c.parent_id.is_(None),
        )
        .group_by(executions.c.step)
    )
)
ARTIFACTS_BY_ID = select_artifacts().where(artifacts.c.id.in_(bindparam("ids", expanding=True)))


# Writes
FINISH_EXECUTION = (
    update(executions)
    .where(executions.c.id == bindparam("execution_id"), executions.c.state == "running")
    .values(
        state=bindparam("new_state"),
        finished_at=bindparam("now", type_=UTCDateTime()),
        output_params=bindparam("new_output_params", type_=Json),
        error=bindparam("new_error"),
        log_uri=bindparam("new_log_uri"),
        cached_from=bindparam("new_cached_from"),
    )
    .returning(*EXECUTION_COLUMNS)
)
INSERT_ARTIFACTS = insert(artifacts).returning(artifacts.c.id, sort_by_parameter_order=True)
INSERT_EXECUTION = insert(executions).returning(executions.c.id)
INSERT_EVENTS = insert(events)
INSERT_METRICS = insert(metrics)
INSERT_ASSOCIATION = insert(associations)
# SQLite's batched metric insert, run through the driver: one tuple per point, the timestamp
# formatted once per call (see ``_executions.insert_metrics``).
INSERT_METRICS_SQLITE = (
    'INSERT INTO metrics (execution_id, "key", value, step, logged_at) VALUES (?, ?, ?, ?, ?)'
)


# Model registry (``_registry``, ``_registry_changes``)
# A version's columns in the order of ModelVersionRecord's fields, ``aliases`` left out.
VERSION_COLUMNS = (
    model_versions.c.id,
    registered_models.c.name,
    model_versions.c.version,
    model_versions.c.artifact_id,
    model_versions.c.run_id,
    model_versions.c.source,
    model_versions.c.signature,
    model_versions.c.metrics,
    model_versions.c.description,
    model_versions.c.tags,
    model_versions.c.state,
    model_versions.c.created_at,
    model_versions.c.created_by,
)


def select_versions() -> Select[Any]:
    """Versions with their model's name: the columns of :data:`VERSION_COLUMNS`."""
    return select(*VERSION_COLUMNS).join(
        registered_models, registered_models.c.id == model_versions.c.model_id
    )


def _with_alias_rows(stmt: Select[Any]) -> Select[Any]:
    """One row per alias of the version (one row, alias NULL, if it has none): the version
    and its sorted aliases in one statement."""
    return (
        stmt.add_columns(model_aliases.c.alias)
        .outerjoin(model_aliases, model_aliases.c.version_id == model_versions.c.id)
        .order_by(model_aliases.c.alias)
    )


_NAMED = model_aliases.alias("named")
# models:/name@alias: the alias by its primary key (model_id, alias), its version by id, and
# that version's aliases by their index on version_id; no rows if the model or alias is missing.
RESOLVE_ALIAS = (
    select(*VERSION_COLUMNS, model_aliases.c.alias)
    .select_from(registered_models)
    .join(_NAMED, _NAMED.c.model_id == registered_models.c.id)
    .join(model_versions, model_versions.c.id == _NAMED.c.version_id)
    .join(model_aliases, model_aliases.c.version_id == model_versions.c.id)
    .where(registered_models.c.name == bindparam("name"), _NAMED.c.alias == bindparam("alias"))
    .order_by(model_aliases.c.alias)
)
GET_VERSION = _with_alias_rows(
    select_versions().where(
        registered_models.c.name == bindparam("name"),
        model_versions.c.version == bindparam("version"),
    )
)
VERSION_BY_ID = _with_alias_rows(select_versions().where(model_versions.c.id == bindparam("id")))
MODEL_ID = select(registered_models.c.id).where(registered_models.c.name == bindparam("name"))
# The model's row locked until the transaction ends (PostgreSQL; SQLite renders no FOR UPDATE:
# its write transaction is already exclusive).
LOCK_MODEL = MODEL_ID.with_for_update()
# Lock (an UPDATE locks the row as FOR UPDATE does) and touch the model in one statement.
TOUCH_MODEL_BY_NAME = (
    update(registered_models)
    .where(registered_models.c.name == bindparam("model_name"))
    .values(updated_at=bindparam("now", type_=UTCDateTime()))
    .returning(registered_models.c.id)
)
TOUCH_MODEL = (
    update(registered_models)
    .where(registered_models.c.id == bindparam("model_id"))
    .values(updated_at=bindparam("now", type_=UTCDateTime()))
)
INSERT_MODEL = {
    dialect: insert_ignore(dialect, registered_models).returning(registered_models.c.id)
    for dialect in ("sqlite", "postgresql")
}
# An existing artifact to register, with the run whose step produced it (NULL if none).
ARTIFACT_AND_RUN = (
    select_artifacts()
    .add_columns(
        select(executions.c.run_id)
        .join(events, events.c.execution_id == executions.c.id)
        .where(events.c.artifact_id == artifacts.c.id, events.c.kind == "output")
        .order_by(events.c.id)
        .limit(1)
        .scalar_subquery()
    )
    .where(artifacts.c.id == bindparam("id"))
)
RUN_EXISTS = select(runs.c.id).where(runs.c.id == bindparam("run_id"))
# The highest version number in use and the highest ever registered (deleted versions keep
# their ``register`` audit rows): each one seek, on the unique (model_id, version) index and
# on the audit index (model_id, action, version).
LAST_VERSIONS = select(
    select(func.max(model_versions.c.version))
    .where(model_versions.c.model_id == bindparam("model_id"))
    .scalar_subquery(),
    select(func.max(model_audit.c.version))
    .where(model_audit.c.model_id == bindparam("model_id"), model_audit.c.action == "register")
    .scalar_subquery(),
)
INSERT_VERSION = insert(model_versions).returning(model_versions.c.id)
INSERT_AUDIT = insert(model_audit)


# Rows to records


def artifact(row: Row[Any] | Sequence[Any]) -> ArtifactRecord:
    return ArtifactRecord(*row)


def execution(row: Row[Any] | Sequence[Any]) -> ExecutionRecord:
    return ExecutionRecord(*row)


def run(row: Row[Any] | Sequence[Any]) -> RunRecord:
    return RunRecord(*row)


def model_version(row: Sequence[Any], aliases: tuple[str, ...]) -> ModelVersionRecord:
    """A row of :data:`VERSION_COLUMNS` (extra trailing columns ignored) as a record."""
    return ModelVersionRecord(
        id=row[0],
        model=row[1],
        version=row[2],
        artifact_id=row[3],
        run_id=row[4],
        source=row[5],
        signature=dict(row[6] or {}),
        metrics=dict(row[7] or {}),
        description=row[8],
        tags=dict(row[9] or {}),
        state=row[10],
        aliases=aliases,
        created_at=row[11],
        created_by=row[12],
    )


def version_with_aliases(rows: Sequence[Sequence[Any]]) -> ModelVersionRecord | None:
    """The rows of :data:`RESOLVE_ALIAS`, :data:`GET_VERSION` or :data:`VERSION_BY_ID` (one
    per alias, trailing) as one record; None if there are none."""
    if not rows:
        return None
    return model_version(rows[0], tuple(row[-1] for row in rows if row[-1] is not None))


def group(rows: Iterable[Sequence[Any]]) -> dict[int, dict[str, dict[str, list[ArtifactRecord]]]]:
    """Rows of :func:`select_events` as ``{execution_id: {kind: {key: [artifact, ...]}}}``.

    Lists are in ``index`` order (unindexed first), then in the order the events were recorded.
    """
    slots: dict[int, dict[str, dict[str, list[tuple[int, ArtifactRecord]]]]] = {}
    for row in rows:
        execution_id, kind, key, index, *artifact_row = row
        by_key = slots.setdefault(execution_id, {}).setdefault(kind, {})
        by_key.setdefault(key, []).append((-1 if index is None else index, artifact(artifact_row)))
    return {
        execution_id: {
            kind: {key: [a for _, a in sorted(items, key=_first)] for key, items in by_key.items()}
            for kind, by_key in by_kind.items()
        }
        for execution_id, by_kind in slots.items()
    }


def _first(item: tuple[int, ArtifactRecord]) -> int:
    return item[0]


def batches(ids: Sequence[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), IN_BATCH):
        yield list(ids[start : start + IN_BATCH])

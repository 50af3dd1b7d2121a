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

from mloop.store._models import (
    Json,
    UTCDateTime,
    artifact_types,
    artifacts,
    associations,
    events,
    executions,
    pipeline_versions,
    pipelines,
    runs,
)
from mloop.store._records import ArtifactRecord, ExecutionRecord, RunRecord

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
INSERT_ASSOCIATION = insert(associations)


# Rows to records


def artifact(row: Row[Any] | Sequence[Any]) -> ArtifactRecord:
    return ArtifactRecord(*row)


def execution(row: Row[Any] | Sequence[Any]) -> ExecutionRecord:
    return ExecutionRecord(*row)


def run(row: Row[Any] | Sequence[Any]) -> RunRecord:
    return RunRecord(*row)


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

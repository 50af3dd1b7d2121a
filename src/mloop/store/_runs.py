"""Pipelines, their versions, and runs: the statements behind the store's run methods.

Every function takes an open connection and runs inside the caller's transaction.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, insert, literal, select, update

from mloop.errors import ConflictError, NotFoundError
from mloop.store import _queries as q
from mloop.store._engine import insert_ignore
from mloop.store._models import UTCDateTime, contexts, pipeline_versions, pipelines, runs
from mloop.store._records import PipelineVersionRecord, RunRecord, RunState

_VERSION_COLUMNS = (
    pipeline_versions.c.id,
    pipelines.c.name,
    pipeline_versions.c.spec_hash,
    pipeline_versions.c.spec,
    pipeline_versions.c.created_at,
)
_SELECT_VERSIONS = select(*_VERSION_COLUMNS).join(
    pipelines, pipelines.c.id == pipeline_versions.c.pipeline_id
)


def register_pipeline_version(
    conn: Connection, name: str, spec: dict[str, Any], spec_hash: str, now: datetime
) -> PipelineVersionRecord:
    """Both inserts are ``ON CONFLICT DO NOTHING`` and followed by a read, so concurrent
    callers all end up with the row of whichever committed first."""
    dialect = conn.dialect.name
    conn.execute(insert_ignore(dialect, pipelines), {"name": name, "created_at": now})
    pipeline_id = conn.execute(select(pipelines.c.id).where(pipelines.c.name == name)).scalar_one()
    conn.execute(
        insert_ignore(dialect, pipeline_versions),
        {"pipeline_id": pipeline_id, "spec": spec, "spec_hash": spec_hash, "created_at": now},
    )
    row = conn.execute(
        _SELECT_VERSIONS.where(
            pipeline_versions.c.pipeline_id == pipeline_id,
            pipeline_versions.c.spec_hash == spec_hash,
        )
    ).one()
    return PipelineVersionRecord(*row)


def get_pipeline_version(conn: Connection, version_id: int) -> PipelineVersionRecord:
    row = conn.execute(_SELECT_VERSIONS.where(pipeline_versions.c.id == version_id)).one_or_none()
    if row is None:
        raise NotFoundError(f"pipeline version {version_id} not found", pipeline_version=version_id)
    return PipelineVersionRecord(*row)


def list_pipelines(conn: Connection) -> list[tuple[str, int, datetime]]:
    rows = conn.execute(
        select(
            pipelines.c.name,
            func.count(pipeline_versions.c.id),
            func.max(pipeline_versions.c.created_at),
        )
        .join(pipeline_versions, pipeline_versions.c.pipeline_id == pipelines.c.id)
        .group_by(pipelines.c.id, pipelines.c.name)
        .order_by(pipelines.c.name)
    ).all()
    return [(name, count, last) for name, count, last in rows]


def create_run(
    conn: Connection,
    pipeline_version_id: int,
    params: dict[str, Any],
    *,
    run_id: str | None,
    owner: str | None,
    now: datetime,
) -> tuple[RunRecord, int]:
    """The new run and the id of its run context."""
    pipeline = conn.execute(
        select(pipelines.c.name)
        .join(pipeline_versions, pipeline_versions.c.pipeline_id == pipelines.c.id)
        .where(pipeline_versions.c.id == pipeline_version_id)
    ).scalar_one_or_none()
    if pipeline is None:
        raise NotFoundError(
            f"pipeline version {pipeline_version_id} not found",
            pipeline_version=pipeline_version_id,
        )
    run_id = run_id or f"{pipeline}-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
    context_id: int = conn.execute(
        insert(contexts).returning(contexts.c.id),
        {
            "type": "run",
            "name": run_id,
            "properties": {"pipeline": pipeline, "pipeline_version_id": pipeline_version_id},
            "created_at": now,
        },
    ).scalar_one()
    record = RunRecord(
        id=run_id,
        pipeline=pipeline,
        pipeline_version_id=pipeline_version_id,
        params=dict(params),
        state="running",
        created_at=now,
        started_at=now,
        finished_at=None,
        heartbeat_at=now,
        owner=owner,
        error=None,
    )
    values = {name: getattr(record, name) for name in q.RUN_FIELDS if name != "pipeline"}
    conn.execute(insert(runs), {**values, "context_id": context_id})
    return record, context_id


def get_run(conn: Connection, run_id: str) -> RunRecord:
    row = conn.execute(q.GET_RUN, {"run_id": run_id}).one_or_none()
    if row is None:
        raise NotFoundError(f"run {run_id!r} not found", run=run_id)
    return q.run(row)


def find_run(conn: Connection, run_id: str) -> RunRecord:
    """The run with this id, or else with the only id that starts with it."""
    row = conn.execute(q.GET_RUN, {"run_id": run_id}).one_or_none()
    if row is None and run_id:
        # substr rather than LIKE: exact and case-sensitive on every backend.
        matches = conn.execute(
            q.select_runs()
            .where(func.substr(runs.c.id, 1, len(run_id)) == run_id)
            .order_by(runs.c.id)
            .limit(6)
        ).all()
        if len(matches) > 1:
            shown = ", ".join(m.id for m in matches[:5]) + (", ..." if len(matches) > 5 else "")
            raise NotFoundError(
                f"run id prefix {run_id!r} is ambiguous: it matches {shown}", run=run_id
            )
        row = matches[0] if matches else None
    if row is None:
        raise NotFoundError(f"run {run_id!r} not found", run=run_id)
    return q.run(row)


def list_runs(
    conn: Connection, *, pipeline: str | None, state: str | None, limit: int
) -> list[RunRecord]:
    stmt = q.select_runs().order_by(runs.c.created_at.desc(), runs.c.id.desc()).limit(limit)
    if pipeline is not None:
        stmt = stmt.where(pipelines.c.name == pipeline)
    if state is not None:
        stmt = stmt.where(runs.c.state == state)
    return [q.run(row) for row in conn.execute(stmt)]


def set_run_state(
    conn: Connection, run_id: str, state: RunState, *, error: str | None, now: datetime
) -> RunRecord:
    if state not in q.RUN_STATES:
        raise ValueError(f"unknown run state {state!r}; expected one of {sorted(q.RUN_STATES)}")
    values: dict[str, Any] = {
        "state": state,
        "error": error,
        "finished_at": now if state in q.TERMINAL_RUN_STATES else None,
    }
    if state == "running":
        values["started_at"] = func.coalesce(runs.c.started_at, literal(now, UTCDateTime()))
    conn.execute(update(runs).where(runs.c.id == run_id).values(**values))
    return get_run(conn, run_id)


def heartbeat(conn: Connection, run_id: str, owner: str, now: datetime) -> None:
    updated = conn.execute(
        update(runs).where(runs.c.id == run_id, runs.c.owner == owner).values(heartbeat_at=now)
    ).rowcount
    if not updated:
        run = get_run(conn, run_id)
        raise ConflictError(
            f"run {run_id!r} is held by {run.owner!r}, not {owner!r}", run=run_id, owner=run.owner
        )


def claim_run(
    conn: Connection, run_id: str, owner: str, *, stale_after: float, now: datetime
) -> RunRecord:
    """One conditional UPDATE decides, so two claimants can never both win."""
    stale = now - timedelta(seconds=stale_after)
    claimed = conn.execute(
        update(runs)
        .where(
            runs.c.id == run_id,
            runs.c.state != "succeeded",
            (runs.c.state != "running")
            | runs.c.heartbeat_at.is_(None)
            | (runs.c.heartbeat_at < stale)
            | (runs.c.owner == owner),
        )
        .values(
            state="running",
            owner=owner,
            heartbeat_at=now,
            started_at=func.coalesce(runs.c.started_at, literal(now, UTCDateTime())),
            finished_at=None,
            error=None,
        )
    ).rowcount
    run = get_run(conn, run_id)
    if claimed:
        return run
    if run.state == "succeeded":
        raise ConflictError(f"run {run_id!r} already succeeded", run=run_id, state=run.state)
    age = (now - run.heartbeat_at).total_seconds() if run.heartbeat_at else float("nan")
    raise ConflictError(
        f"run {run_id!r} is held by {run.owner!r} (last heartbeat {age:.1f}s ago)",
        run=run_id,
        owner=run.owner,
    )


def run_context(conn: Connection, run_id: str) -> int:
    """The id of the run's context; NotFoundError for an unknown run."""
    context_id: int | None = conn.execute(q.RUN_CONTEXT, {"run_id": run_id}).scalar_one_or_none()
    if context_id is None:
        raise NotFoundError(f"run {run_id!r} not found", run=run_id)
    return context_id

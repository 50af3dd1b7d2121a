"""Executions, their events and outputs, and the cache: the statements behind the store's
execution methods. These are the hot path (twice per step), so each is a handful of
prebuilt Core statements. Every function runs inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, NoReturn

from sqlalchemy import Connection, Insert, select
from sqlalchemy.exc import StatementError

from mloop.errors import ConflictError, NotFoundError
from mloop.store import _queries as q
from mloop.store._models import artifacts, executions, metrics
from mloop.store._records import (
    ArtifactRecord,
    CacheHit,
    ChildExecution,
    ExecutionRecord,
    ExecutionState,
    InputArtifact,
    MetricPoint,
    MetricRecord,
    OutputArtifact,
)
from mloop.store._runs import run_context

Outputs = dict[str, list[ArtifactRecord]]

_LOGGED_AT = metrics.c.logged_at.type


def insert_execution(
    conn: Connection, record: ExecutionRecord, inputs: Sequence[InputArtifact], context_id: int
) -> int:
    """Insert the execution (``record.id`` is ignored), its input events and its association
    to the run context; returns the new id."""
    values = {name: getattr(record, name) for name in q.EXECUTION_FIELDS if name != "id"}
    execution_id: int = conn.execute(q.INSERT_EXECUTION, values).scalar_one()
    if inputs:
        conn.execute(
            q.INSERT_EVENTS,
            [
                {
                    "execution_id": execution_id,
                    "artifact_id": i.artifact_id,
                    "kind": "input",
                    "key": i.key,
                    "index": i.index,
                }
                for i in inputs
            ],
        )
    conn.execute(q.INSERT_ASSOCIATION, {"context_id": context_id, "execution_id": execution_id})
    return execution_id


def finish_execution(
    conn: Connection,
    execution_id: int,
    state: ExecutionState,
    *,
    output_params: dict[str, Any],
    error: str | None,
    log_uri: str | None,
    cached_from: int | None,
    now: datetime,
) -> ExecutionRecord:
    """Move a running execution to its final state (one ``UPDATE ... RETURNING``)."""
    if state not in q.FINISHED_EXECUTION_STATES:
        raise ValueError(
            f"cannot finish an execution as {state!r}; "
            f"expected one of {sorted(q.FINISHED_EXECUTION_STATES)}"
        )
    row = conn.execute(
        q.FINISH_EXECUTION,
        {
            "execution_id": execution_id,
            "new_state": state,
            "now": now,
            "new_output_params": output_params,
            "new_error": error,
            "new_log_uri": log_uri,
            "new_cached_from": cached_from,
        },
    ).one_or_none()
    if row is None:
        _raise_not_running(conn, execution_id)
    return q.execution(row)


def insert_outputs(
    conn: Connection,
    execution: ExecutionRecord,
    outputs: Sequence[OutputArtifact],
    *,
    type_ids: dict[str, int],
    context_id: int,
    attribute: Insert,
    now: datetime,
) -> Outputs:
    """Create the new output artifacts, look up the reused ones, record an output event for
    each and attribute them all to the run context (``attribute``: an insert that ignores
    rows already there). Returns them by key, in index order."""
    if not outputs:
        return {}
    reused: dict[int, ArtifactRecord] = {}
    reuse_ids = sorted({o.reuse_id for o in outputs if o.reuse_id is not None})
    if reuse_ids:
        reused = {r[0]: q.artifact(r) for r in conn.execute(q.ARTIFACTS_BY_ID, {"ids": reuse_ids})}
        missing = [i for i in reuse_ids if i not in reused]
        if missing:
            raise NotFoundError(
                f"artifact(s) {missing} reused as outputs of execution {execution.id} not found",
                artifact=missing[0],
                execution=execution.id,
            )
    new = [o for o in outputs if o.reuse_id is None]
    new_ids: Iterator[int] = iter(())
    if new:
        new_ids = iter(
            conn.execute(
                q.INSERT_ARTIFACTS,
                [
                    {
                        "type_id": type_ids[o.type],
                        "uri": o.uri,
                        "fingerprint": o.fingerprint,
                        "properties": dict(o.properties),
                        "created_at": now,
                    }
                    for o in new
                ],
            )
            .scalars()
            .all()
        )
    records = [
        reused[o.reuse_id]
        if o.reuse_id is not None
        else ArtifactRecord(next(new_ids), o.type, o.uri, o.fingerprint, dict(o.properties), now)
        for o in outputs
    ]
    conn.execute(
        q.INSERT_EVENTS,
        [
            {
                "execution_id": execution.id,
                "artifact_id": r.id,
                "kind": "output",
                "key": o.key,
                "index": o.index,
            }
            for o, r in zip(outputs, records, strict=True)
        ],
    )
    conn.execute(
        attribute,
        [{"context_id": context_id, "artifact_id": i} for i in sorted({r.id for r in records})],
    )
    by_key: dict[str, list[tuple[int, int, ArtifactRecord]]] = {}
    for position, (output, record) in enumerate(zip(outputs, records, strict=True)):
        index = -1 if output.index is None else output.index
        by_key.setdefault(output.key, []).append((index, position, record))
    return {key: [r for *_, r in sorted(items)] for key, items in by_key.items()}


def _raise_not_running(conn: Connection, execution_id: int) -> NoReturn:
    state = conn.execute(
        select(executions.c.state).where(executions.c.id == execution_id)
    ).scalar_one_or_none()
    if state is None:
        raise NotFoundError(f"execution {execution_id} not found", execution=execution_id)
    raise ConflictError(
        f"execution {execution_id} already finished ({state})", execution=execution_id, state=state
    )


def missing_artifacts(conn: Connection, artifact_ids: Sequence[int]) -> list[int]:
    wanted = sorted(set(artifact_ids))
    found = set(conn.execute(select(artifacts.c.id).where(artifacts.c.id.in_(wanted))).scalars())
    return [i for i in wanted if i not in found]


def get_execution(conn: Connection, execution_id: int) -> ExecutionRecord:
    row = conn.execute(q.GET_EXECUTION, {"id": execution_id}).one_or_none()
    if row is None:
        raise NotFoundError(f"execution {execution_id} not found", execution=execution_id)
    return q.execution(row)


def list_executions(
    conn: Connection, run_id: str, *, children: bool = False
) -> list[ExecutionRecord]:
    query = select(*q.EXECUTION_COLUMNS).where(executions.c.run_id == run_id)
    if not children:
        query = query.where(executions.c.parent_id.is_(None))
    rows = conn.execute(query.order_by(executions.c.id)).all()
    if not rows:
        run_context(conn, run_id)  # an unknown run is an error, not an empty list
    return [q.execution(row) for row in rows]


def child_executions(conn: Connection, parent_id: int) -> list[ExecutionRecord]:
    rows = conn.execute(
        select(*q.EXECUTION_COLUMNS)
        .where(executions.c.parent_id == parent_id)
        .order_by(executions.c.id)
    ).all()
    return [q.execution(row) for row in rows]


def insert_metrics(
    conn: Connection, execution_id: int, points: Sequence[MetricPoint], now: datetime
) -> None:
    """Insert metric points of one execution in one statement (executemany).

    On SQLite the rows go to the driver as tuples, with ``now`` formatted once per call (by
    the column type's own bind processor, so the stored text is what SQLAlchemy writes):
    converting the same timestamp and building a parameter dict per point was most of the
    cost of a batch. PostgreSQL takes the Core statement (psycopg's executemany).
    """
    if not points:
        return
    if conn.dialect.name != "sqlite":
        conn.execute(
            q.INSERT_METRICS,
            [
                {
                    "execution_id": execution_id,
                    "key": p.key,
                    "value": p.value,
                    "step": p.step,
                    "logged_at": p.logged_at or now,
                }
                for p in points
            ],
        )
        return
    # The dialect's own processor (the generic type's would hand the driver a datetime).
    stamp = _LOGGED_AT.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    assert stamp is not None  # UTCDateTime on SQLite: an aware datetime to naive UTC text
    try:
        at = stamp(now)
        rows = [
            (
                execution_id,
                p.key,
                p.value,
                p.step,
                stamp(p.logged_at) if p.logged_at else at,
            )
            for p in points
        ]
    except (TypeError, ValueError, AttributeError) as exc:  # a bad logged_at, as Core says it
        raise StatementError(str(exc), q.INSERT_METRICS_SQLITE, None, exc) from exc
    conn.exec_driver_sql(q.INSERT_METRICS_SQLITE, rows)


def insert_children(
    conn: Connection,
    parent: ExecutionRecord,
    children: Sequence[ChildExecution],
    context_id: int,
    now: datetime,
) -> None:
    """Record the children of ``parent`` (tuning trials) as executions of its run, each
    associated with the run context, with their metrics."""
    for child in children:
        record = ExecutionRecord(
            id=0,
            run_id=parent.run_id,
            step=f"{parent.step}/{child.name}",
            component=f"{parent.component}.{child.name.split('-')[0]}",
            component_fingerprint=parent.component_fingerprint,
            cache_key=None,
            params=dict(child.params),
            output_params=dict(child.output_params),
            state=child.state,
            attempt=parent.attempt,
            started_at=child.started_at or now,
            finished_at=child.finished_at or now,
            error=child.error,
            log_uri=None,
            cached_from=None,
            parent_id=parent.id,
        )
        child_id = insert_execution(conn, record, (), context_id)
        insert_metrics(conn, child_id, child.metrics, now)


def list_metrics(
    conn: Connection, execution_ids: Sequence[int], keys: Sequence[str] | None = None
) -> list[MetricRecord]:
    """Metric points of the executions, by execution, key, step and time of logging."""
    found: list[MetricRecord] = []
    for batch in q.batches(list(execution_ids)):
        query = select(
            metrics.c.execution_id,
            metrics.c.key,
            metrics.c.value,
            metrics.c.step,
            metrics.c.logged_at,
        ).where(metrics.c.execution_id.in_(batch))
        if keys:
            query = query.where(metrics.c.key.in_(list(keys)))
        found.extend(MetricRecord(*row) for row in conn.execute(query))
    found.sort(key=lambda m: (m.execution_id, m.key, -1 if m.step is None else m.step))
    return found


def execution_io(conn: Connection, execution_id: int) -> tuple[Outputs, Outputs]:
    grouped = q.group(conn.execute(q.EXECUTION_IO, {"id": execution_id})).get(execution_id, {})
    if not grouped:
        get_execution(conn, execution_id)
    return grouped.get("input", {}), grouped.get("output", {})


def run_outputs(conn: Connection, run_id: str) -> dict[str, tuple[ExecutionRecord, Outputs]]:
    """Two queries: the latest succeeded/cached execution per step, then all their outputs."""
    latest = [q.execution(row) for row in conn.execute(q.LATEST_PER_STEP, {"run_id": run_id})]
    if not latest:
        run_context(conn, run_id)
        return {}
    latest.sort(key=_execution_id)
    grouped: dict[int, dict[str, Outputs]] = {}
    for batch in q.batches([e.id for e in latest]):
        grouped.update(q.group(conn.execute(q.OUTPUTS_OF, {"ids": batch})))
    return {e.step: (e, grouped.get(e.id, {}).get("output", {})) for e in latest}


def find_cached(
    conn: Connection, cache_key: str, *, max_age: float | None, now: datetime
) -> CacheHit | None:
    """One index lookup on ``(cache_key, state, finished_at)``, one query for the outputs."""
    if max_age is None:
        row = conn.execute(q.FIND_CACHED, {"cache_key": cache_key}).one_or_none()
    else:
        since = now - timedelta(seconds=max_age)
        row = conn.execute(
            q.FIND_CACHED_SINCE, {"cache_key": cache_key, "since": since}
        ).one_or_none()
    if row is None:
        return None
    execution = q.execution(row)
    outputs = q.group(conn.execute(q.EXECUTION_OUTPUTS, {"id": execution.id}))
    return CacheHit(execution, outputs.get(execution.id, {}).get("output", {}))


def _execution_id(execution: ExecutionRecord) -> int:
    return execution.id

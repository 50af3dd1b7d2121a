"""The metadata store: what ran, on what, producing what.

A **pipeline** has immutable **versions** (compiled specs, deduplicated by hash). A **run**
executes one version; each step instance it runs is an **execution**, which reads and writes
**artifacts** through **events**. Every run owns a ``run`` **context**: its executions are
associated with it and their outputs attributed to it. Cache hits, resumption and lineage
are all queries over these rows.

Every method runs in one short transaction and returns plain records (``_records.py``).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, NoReturn

from sqlalchemy import Connection, Engine, Insert, func, insert, literal, select, update
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from mloop.errors import ConflictError, NotFoundError, StoreError
from mloop.store import _lineage
from mloop.store import _queries as q
from mloop.store._engine import (
    create_engine,
    insert_ignore,
    migrate,
    parse_url,
    safe_url,
    transaction,
)
from mloop.store._models import (
    UTCDateTime,
    artifact_types,
    artifacts,
    attributions,
    contexts,
    executions,
    pipeline_versions,
    pipelines,
    runs,
)
from mloop.store._records import (
    ArtifactRecord,
    CacheHit,
    ExecutionRecord,
    ExecutionState,
    InputArtifact,
    LineageGraph,
    NodeKind,
    OutputArtifact,
    PipelineVersionRecord,
    RunRecord,
    RunState,
)

if TYPE_CHECKING:
    from mloop.config import Settings

__all__ = ["MetadataStore"]

Outputs = dict[str, list[ArtifactRecord]]


def _now() -> datetime:
    return datetime.now(UTC)


class _IntegrityViolation(StoreError):
    """A constraint failed; methods that expect it turn it into NotFound or Conflict."""


class MetadataStore:
    """ML metadata in SQLite (default) or PostgreSQL, behind one small API.

    The constructor only records the URL: the engine is created, and the schema migrated to
    the newest revision, on first use. One store holds one connection pool; share it between
    threads, and give each process its own.
    """

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self._url = parse_url(url)
        self._echo = echo
        self._lock = threading.Lock()
        self._engine: Engine | None = None
        self._insert_attribution: Insert | None = None
        self._type_ids: dict[str, int] = {}
        self._run_contexts: dict[str, int] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> MetadataStore:
        return cls(settings.resolved_metadata_url)

    @property
    def url(self) -> str:
        """The database URL, password masked."""
        return safe_url(self._url)

    def __repr__(self) -> str:
        return f"MetadataStore({self.url!r})"

    def __enter__(self) -> MetadataStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Lifecycle ------------------------------------------------------------------------

    def upgrade(self) -> None:
        """Migrate the database to the newest schema (idempotent; first use does it too)."""
        if self._engine is None:
            self._connect()
            return
        with self._translate():
            migrate(self._engine, self._url)

    def close(self) -> None:
        """Close every pooled connection; the store reconnects if used again."""
        with self._lock:
            engine, self._engine = self._engine, None
        if engine is not None:
            engine.dispose()

    def _connect(self) -> Engine:
        """The engine; the first call creates it and migrates the database."""
        engine = self._engine
        if engine is not None:
            return engine
        with self._lock:
            if self._engine is None:
                engine = create_engine(self._url, echo=self._echo)
                try:
                    with self._translate():
                        migrate(engine, self._url)
                except BaseException:
                    engine.dispose()
                    raise
                self._insert_attribution = insert_ignore(engine.dialect.name, attributions)
                self._engine = engine
            return self._engine

    @contextmanager
    def _translate(self) -> Iterator[None]:
        """Turn database failures into :class:`StoreError` naming the (masked) URL."""
        try:
            yield
        except IntegrityError as exc:
            raise _IntegrityViolation(
                f"metadata database {self.url}: {_first_line(exc.orig)}", url=self.url
            ) from exc
        except OperationalError as exc:
            raise StoreError(
                f"metadata database {self.url} failed: {self._scrub(exc.orig)}", url=self.url
            ) from None
        except SQLAlchemyError as exc:
            raise StoreError(f"metadata database {self.url}: {exc}", url=self.url) from exc

    def _scrub(self, error: BaseException | None) -> str:
        message = " ".join(str(error).split())
        password = self._url.password
        return message.replace(str(password), "***") if password else message

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._translate(), transaction(self._connect(), write=False) as conn:
            yield conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._translate(), transaction(self._connect(), write=True) as conn:
            yield conn

    # Pipelines ------------------------------------------------------------------------

    def register_pipeline_version(
        self, name: str, spec: dict[str, Any], spec_hash: str
    ) -> PipelineVersionRecord:
        """The version of pipeline ``name`` with this spec hash, created if it is new.

        Safe under concurrent callers: both inserts are ``ON CONFLICT DO NOTHING`` followed
        by a read, so the loser of a race reads the winner's row.
        """
        now = _now()
        with self._write() as conn:
            dialect = conn.dialect.name
            conn.execute(insert_ignore(dialect, pipelines), {"name": name, "created_at": now})
            pipeline_id = conn.execute(
                select(pipelines.c.id).where(pipelines.c.name == name)
            ).scalar_one()
            version = {
                "pipeline_id": pipeline_id,
                "spec": spec,
                "spec_hash": spec_hash,
                "created_at": now,
            }
            conn.execute(insert_ignore(dialect, pipeline_versions), version)
            row = conn.execute(
                select(
                    pipeline_versions.c.id,
                    pipeline_versions.c.spec,
                    pipeline_versions.c.created_at,
                ).where(
                    pipeline_versions.c.pipeline_id == pipeline_id,
                    pipeline_versions.c.spec_hash == spec_hash,
                )
            ).one()
        return PipelineVersionRecord(row.id, name, spec_hash, row.spec, row.created_at)

    def get_pipeline_version(self, version_id: int) -> PipelineVersionRecord:
        with self._read() as conn:
            row = conn.execute(
                select(
                    pipeline_versions.c.id,
                    pipelines.c.name,
                    pipeline_versions.c.spec_hash,
                    pipeline_versions.c.spec,
                    pipeline_versions.c.created_at,
                )
                .join(pipelines, pipelines.c.id == pipeline_versions.c.pipeline_id)
                .where(pipeline_versions.c.id == version_id)
            ).one_or_none()
        if row is None:
            raise NotFoundError(
                f"pipeline version {version_id} not found", pipeline_version=version_id
            )
        return PipelineVersionRecord(*row)

    def list_pipelines(self) -> list[tuple[str, int, datetime]]:
        """``(name, number of versions, when the last version was registered)`` by name."""
        with self._read() as conn:
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

    # Runs -----------------------------------------------------------------------------

    def create_run(
        self,
        pipeline_version_id: int,
        params: dict[str, Any],
        *,
        run_id: str | None = None,
        owner: str | None = None,
    ) -> RunRecord:
        """A new run in state ``running``, held by ``owner``, with its run context."""
        now = _now()
        try:
            with self._write() as conn:
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
                context_id = conn.execute(
                    insert(contexts).returning(contexts.c.id),
                    {
                        "type": "run",
                        "name": run_id,
                        "properties": {
                            "pipeline": pipeline,
                            "pipeline_version_id": pipeline_version_id,
                        },
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
                values = {k: getattr(record, k) for k in q.RUN_FIELDS if k not in ("pipeline",)}
                conn.execute(insert(runs), {**values, "context_id": context_id})
        except _IntegrityViolation:
            raise ConflictError(f"run {run_id!r} already exists", run=run_id) from None
        self._run_contexts[run_id] = context_id
        return record

    def get_run(self, run_id: str) -> RunRecord:
        """The run with this id, or with the only id that starts with it."""
        with self._read() as conn:
            row = conn.execute(q.GET_RUN, {"run_id": run_id}).one_or_none()
            if row is None and run_id:
                matches = conn.execute(
                    q.select_runs()
                    .where(func.substr(runs.c.id, 1, len(run_id)) == run_id)
                    .order_by(runs.c.id)
                    .limit(6)
                ).all()
                if len(matches) > 1:
                    ids = ", ".join(m.id for m in matches[:5])
                    raise NotFoundError(
                        f"run id prefix {run_id!r} is ambiguous: it matches {ids}"
                        + (", ..." if len(matches) > 5 else ""),
                        run=run_id,
                    )
                row = matches[0] if matches else None
        if row is None:
            raise NotFoundError(f"run {run_id!r} not found", run=run_id)
        return q.run(row)

    def list_runs(
        self, *, pipeline: str | None = None, state: str | None = None, limit: int = 50
    ) -> list[RunRecord]:
        """Runs, newest first, optionally of one pipeline and/or in one state."""
        stmt = q.select_runs().order_by(runs.c.created_at.desc(), runs.c.id.desc()).limit(limit)
        if pipeline is not None:
            stmt = stmt.where(pipelines.c.name == pipeline)
        if state is not None:
            stmt = stmt.where(runs.c.state == state)
        with self._read() as conn:
            return [q.run(row) for row in conn.execute(stmt)]

    def set_run_state(self, run_id: str, state: RunState, *, error: str | None = None) -> RunRecord:
        """Move a run to ``state``; terminal states set ``finished_at``."""
        if state not in q.RUN_STATES:
            raise ValueError(f"unknown run state {state!r}; expected one of {sorted(q.RUN_STATES)}")
        now = _now()
        values: dict[str, Any] = {
            "state": state,
            "error": error,
            "finished_at": now if state in q.TERMINAL_RUN_STATES else None,
        }
        if state == "running":
            values["started_at"] = func.coalesce(runs.c.started_at, literal(now, UTCDateTime()))
        with self._write() as conn:
            conn.execute(update(runs).where(runs.c.id == run_id).values(**values))
            return self._get_run(conn, run_id)

    def heartbeat(self, run_id: str, owner: str) -> None:
        """Record that ``owner`` still drives the run.

        Raises :class:`ConflictError` if another orchestrator has claimed the run meanwhile
        (this one must stop); a run cancelled by a user still takes heartbeats, so that its
        orchestrator notices the cancellation on its next look at the run.
        """
        with self._write() as conn:
            updated = conn.execute(
                update(runs)
                .where(runs.c.id == run_id, runs.c.owner == owner)
                .values(heartbeat_at=_now())
            ).rowcount
            if not updated:
                run = self._get_run(conn, run_id)
                raise ConflictError(
                    f"run {run_id!r} is held by {run.owner!r}, not {owner!r}",
                    run=run_id,
                    owner=run.owner,
                )

    def claim_run(self, run_id: str, owner: str, *, stale_after: float) -> RunRecord:
        """Take a run to drive it: atomically, in one conditional UPDATE.

        A run can be taken when it is not running, when its orchestrator has not sent a
        heartbeat for ``stale_after`` seconds, or when ``owner`` already holds it. A run that
        succeeded, or that a live orchestrator holds, raises :class:`ConflictError`.
        """
        now = _now()
        stale = now - timedelta(seconds=stale_after)
        with self._write() as conn:
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
            run = self._get_run(conn, run_id)
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

    def _get_run(self, conn: Connection, run_id: str) -> RunRecord:
        row = conn.execute(q.GET_RUN, {"run_id": run_id}).one_or_none()
        if row is None:
            raise NotFoundError(f"run {run_id!r} not found", run=run_id)
        return q.run(row)

    def _run_context(self, conn: Connection, run_id: str) -> int:
        context_id = self._run_contexts.get(run_id)
        if context_id is None:
            context_id = conn.execute(q.RUN_CONTEXT, {"run_id": run_id}).scalar_one_or_none()
            if context_id is None:
                raise NotFoundError(f"run {run_id!r} not found", run=run_id)
            self._run_contexts[run_id] = context_id
        return context_id

    def _require_run(self, conn: Connection, run_id: str) -> None:
        self._run_context(conn, run_id)

    # Executions -----------------------------------------------------------------------

    def start_execution(
        self,
        run_id: str,
        step: str,
        *,
        component: str,
        component_fingerprint: str,
        cache_key: str | None,
        params: dict[str, Any],
        inputs: Sequence[InputArtifact],
        attempt: int = 1,
    ) -> ExecutionRecord:
        """Record that a step started: the execution, its input events, its run association."""
        record = ExecutionRecord(
            id=0,
            run_id=run_id,
            step=step,
            component=component,
            component_fingerprint=component_fingerprint,
            cache_key=cache_key,
            params=dict(params),
            output_params={},
            state="running",
            attempt=attempt,
            started_at=_now(),
            finished_at=None,
            error=None,
            log_uri=None,
            cached_from=None,
        )
        try:
            return self._insert_execution(record, inputs)
        except _IntegrityViolation:
            self._raise_missing([i.artifact_id for i in inputs], run=run_id, step=step)

    def record_skipped(
        self, run_id: str, step: str, *, component: str, reason: str
    ) -> ExecutionRecord:
        """Record a step that did not run (its condition was false, an upstream failed)."""
        now = _now()
        record = ExecutionRecord(
            id=0,
            run_id=run_id,
            step=step,
            component=component,
            component_fingerprint="",
            cache_key=None,
            params={},
            output_params={},
            state="skipped",
            attempt=1,
            started_at=now,
            finished_at=now,
            error=reason,
            log_uri=None,
            cached_from=None,
        )
        return self._insert_execution(record, ())

    def _insert_execution(
        self, record: ExecutionRecord, inputs: Sequence[InputArtifact]
    ) -> ExecutionRecord:
        values = {k: getattr(record, k) for k in q.EXECUTION_FIELDS if k != "id"}
        with self._write() as conn:
            context_id = self._run_context(conn, record.run_id)
            execution_id = conn.execute(q.INSERT_EXECUTION, values).scalar_one()
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
            conn.execute(
                q.INSERT_ASSOCIATION, {"context_id": context_id, "execution_id": execution_id}
            )
        return replace(record, id=execution_id)

    def finish_execution(
        self,
        execution_id: int,
        state: ExecutionState,
        *,
        outputs: Sequence[OutputArtifact] = (),
        output_params: dict[str, Any] | None = None,
        error: str | None = None,
        log_uri: str | None = None,
        cached_from: int | None = None,
    ) -> tuple[ExecutionRecord, Outputs]:
        """Record how a running execution ended, with its outputs, in one transaction.

        New artifacts are created; an output with ``reuse_id`` points at an existing one
        (a pass-through, or the outputs of a cache hit). Every output gets an output event
        and is attributed to the run. Returns the execution and its outputs by key.
        """
        if state not in q.FINISHED_EXECUTION_STATES:
            raise ValueError(
                f"cannot finish an execution as {state!r}; "
                f"expected one of {sorted(q.FINISHED_EXECUTION_STATES)}"
            )
        type_ids = self._type_ids_for({o.type for o in outputs if o.reuse_id is None})
        now = _now()
        try:
            with self._write() as conn:
                row = conn.execute(
                    q.FINISH_EXECUTION,
                    {
                        "execution_id": execution_id,
                        "new_state": state,
                        "now": now,
                        "new_output_params": dict(output_params or {}),
                        "new_error": error,
                        "new_log_uri": log_uri,
                        "new_cached_from": cached_from,
                    },
                ).one_or_none()
                if row is None:
                    self._raise_not_running(conn, execution_id)
                execution = q.execution(row)
                records = self._insert_outputs(conn, execution, outputs, type_ids, now)
        except _IntegrityViolation:
            raise NotFoundError(
                f"execution {cached_from} (cached_from of execution {execution_id}) not found",
                execution=cached_from,
            ) from None
        by_key: dict[str, list[tuple[int, int, ArtifactRecord]]] = {}
        for position, (output, record) in enumerate(zip(outputs, records, strict=True)):
            index = -1 if output.index is None else output.index
            by_key.setdefault(output.key, []).append((index, position, record))
        return execution, {k: [r for *_, r in sorted(v)] for k, v in by_key.items()}

    def _insert_outputs(
        self,
        conn: Connection,
        execution: ExecutionRecord,
        outputs: Sequence[OutputArtifact],
        type_ids: dict[str, int],
        now: datetime,
    ) -> list[ArtifactRecord]:
        if not outputs:
            return []
        context_id = self._run_context(conn, execution.run_id)
        reused: dict[int, ArtifactRecord] = {}
        reuse_ids = sorted({o.reuse_id for o in outputs if o.reuse_id is not None})
        if reuse_ids:
            reused = {
                row[0]: q.artifact(row)
                for row in conn.execute(q.ARTIFACTS_BY_ID, {"ids": reuse_ids})
            }
            missing = [i for i in reuse_ids if i not in reused]
            if missing:
                raise NotFoundError(
                    f"artifact(s) {missing} reused as outputs of execution {execution.id} "
                    "not found",
                    artifact=missing[0],
                    execution=execution.id,
                )
        new = [o for o in outputs if o.reuse_id is None]
        new_ids: list[int] = []
        if new:
            new_ids = list(
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
                ).scalars()
            )
        fresh = iter(new_ids)
        records = [
            reused[o.reuse_id]
            if o.reuse_id is not None
            else ArtifactRecord(next(fresh), o.type, o.uri, o.fingerprint, dict(o.properties), now)
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
        assert self._insert_attribution is not None
        conn.execute(
            self._insert_attribution,
            [{"context_id": context_id, "artifact_id": i} for i in sorted({r.id for r in records})],
        )
        return records

    def _type_ids_for(self, names: set[str]) -> dict[str, int]:
        missing = sorted(names - self._type_ids.keys())
        if missing:
            with self._write() as conn:
                conn.execute(
                    insert_ignore(conn.dialect.name, artifact_types),
                    [{"name": name} for name in missing],
                )
                found = conn.execute(
                    select(artifact_types.c.name, artifact_types.c.id).where(
                        artifact_types.c.name.in_(missing)
                    )
                ).all()
            self._type_ids.update({name: type_id for name, type_id in found})
        return {name: self._type_ids[name] for name in names}

    def _raise_not_running(self, conn: Connection, execution_id: int) -> NoReturn:
        state = conn.execute(
            select(executions.c.state).where(executions.c.id == execution_id)
        ).scalar_one_or_none()
        if state is None:
            raise NotFoundError(f"execution {execution_id} not found", execution=execution_id)
        raise ConflictError(
            f"execution {execution_id} already finished ({state})",
            execution=execution_id,
            state=state,
        )

    def _raise_missing(self, artifact_ids: list[int], **fields: Any) -> NoReturn:
        with self._read() as conn:
            found = set(
                conn.execute(
                    select(artifacts.c.id).where(artifacts.c.id.in_(sorted(set(artifact_ids))))
                ).scalars()
            )
        missing = sorted(set(artifact_ids) - found)
        raise NotFoundError(
            f"input artifact(s) {missing} not found",
            artifact=missing[0] if missing else None,
            **fields,
        )

    def get_execution(self, execution_id: int) -> ExecutionRecord:
        with self._read() as conn:
            row = conn.execute(q.GET_EXECUTION, {"id": execution_id}).one_or_none()
        if row is None:
            raise NotFoundError(f"execution {execution_id} not found", execution=execution_id)
        return q.execution(row)

    def list_executions(self, run_id: str) -> list[ExecutionRecord]:
        """The executions of a run, in the order they started."""
        with self._read() as conn:
            rows = conn.execute(
                select(*q.EXECUTION_COLUMNS)
                .where(executions.c.run_id == run_id)
                .order_by(executions.c.id)
            ).all()
            if not rows:
                self._require_run(conn, run_id)
        return [q.execution(row) for row in rows]

    def execution_io(self, execution_id: int) -> tuple[Outputs, Outputs]:
        """``(inputs, outputs)`` of an execution, each by key in index order."""
        with self._read() as conn:
            grouped = q.group(conn.execute(q.EXECUTION_IO, {"id": execution_id})).get(
                execution_id, {}
            )
            if not grouped:
                self.get_execution(execution_id)
        return grouped.get("input", {}), grouped.get("output", {})

    def run_outputs(self, run_id: str) -> dict[str, tuple[ExecutionRecord, Outputs]]:
        """Per step, the latest succeeded or cached execution and its outputs: what a
        resumed run need not compute again."""
        with self._read() as conn:
            latest = [
                q.execution(row) for row in conn.execute(q.LATEST_PER_STEP, {"run_id": run_id})
            ]
            if not latest:
                self._require_run(conn, run_id)
                return {}
            grouped: dict[int, dict[str, Outputs]] = {}
            for batch in q.batches([e.id for e in latest]):
                grouped.update(q.group(conn.execute(q.OUTPUTS_OF, {"ids": batch})))
        return {
            e.step: (e, grouped.get(e.id, {}).get("output", {}))
            for e in sorted(latest, key=_execution_id)
        }

    def find_cached(self, cache_key: str, *, max_age: float | None = None) -> CacheHit | None:
        """The newest succeeded execution with this cache key (finished within ``max_age``
        seconds, if given) and its outputs; None on a miss. Failed runs never hit."""
        with self._read() as conn:
            if max_age is None:
                row = conn.execute(q.FIND_CACHED, {"cache_key": cache_key}).one_or_none()
            else:
                since = _now() - timedelta(seconds=max_age)
                row = conn.execute(
                    q.FIND_CACHED_SINCE, {"cache_key": cache_key, "since": since}
                ).one_or_none()
            if row is None:
                return None
            execution = q.execution(row)
            outputs = q.group(conn.execute(q.EXECUTION_OUTPUTS, {"id": execution.id}))
        return CacheHit(execution, outputs.get(execution.id, {}).get("output", {}))

    # Artifacts ------------------------------------------------------------------------

    def get_artifact(self, artifact_id: int) -> ArtifactRecord:
        with self._read() as conn:
            row = conn.execute(q.GET_ARTIFACT, {"id": artifact_id}).one_or_none()
        if row is None:
            raise NotFoundError(f"artifact {artifact_id} not found", artifact=artifact_id)
        return q.artifact(row)

    def list_artifacts(
        self, *, type: str | None = None, run_id: str | None = None, limit: int = 50
    ) -> list[ArtifactRecord]:
        """Artifacts, newest first, optionally of one type and/or attributed to one run."""
        stmt = q.select_artifacts().order_by(artifacts.c.id.desc()).limit(limit)
        if type is not None:
            stmt = stmt.where(artifact_types.c.name == type)
        if run_id is not None:
            stmt = (
                stmt.join(attributions, attributions.c.artifact_id == artifacts.c.id)
                .join(runs, runs.c.context_id == attributions.c.context_id)
                .where(runs.c.id == run_id)
            )
        with self._read() as conn:
            return [q.artifact(row) for row in conn.execute(stmt)]

    def find_artifacts_by_uri(self, uri: str) -> list[ArtifactRecord]:
        with self._read() as conn:
            rows = conn.execute(
                q.select_artifacts().where(artifacts.c.uri == uri).order_by(artifacts.c.id)
            )
            return [q.artifact(row) for row in rows]

    # Lineage --------------------------------------------------------------------------

    def lineage(
        self,
        kind: NodeKind,
        node_id: int,
        *,
        direction: Literal["upstream", "downstream"] = "upstream",
        max_depth: int | None = None,
    ) -> LineageGraph:
        """The artifacts and executions upstream (what it came from) or downstream (what
        came from it) of a node, ``max_depth`` hops of events at most."""
        with self._read() as conn:
            return _lineage.lineage(conn, kind, node_id, direction=direction, max_depth=max_depth)


def _first_line(error: BaseException | None) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _execution_id(execution: ExecutionRecord) -> int:
    return execution.id

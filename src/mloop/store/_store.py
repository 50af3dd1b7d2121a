"""The metadata store: what ran, on what, producing what.

A **pipeline** has immutable **versions** (compiled specs, deduplicated by hash). A **run**
executes one version; each step instance it runs is an **execution**, which reads and writes
**artifacts** through **events**. Every run owns a ``run`` **context**: its executions are
associated with it and their outputs attributed to it. Cache hits, resumption and lineage
are all queries over these rows.

Every method runs in one short transaction and returns plain records (``_records.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Connection, Engine, Insert
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from mloop.errors import ConflictError, NotFoundError, StoreError
from mloop.store import (
    _artifacts,
    _executions,
    _lineage,
    _runs,
)
from mloop.store._engine import (
    create_engine,
    insert_ignore,
    migrate,
    parse_url,
    safe_url,
    transaction,
)
from mloop.store._models import attributions
from mloop.store._records import (
    ArtifactRecord,
    CacheHit,
    ChildExecution,
    ExecutionRecord,
    ExecutionState,
    InputArtifact,
    LineageGraph,
    MetricPoint,
    MetricRecord,
    NodeKind,
    OutputArtifact,
    PipelineVersionRecord,
    RunRecord,
    RunState,
)
from mloop.store._store_registry import RegistryMethods

if TYPE_CHECKING:
    from mloop.config import Settings

__all__ = ["MetadataStore"]

Outputs = dict[str, list[ArtifactRecord]]


def _now() -> datetime:
    return datetime.now(UTC)


class _IntegrityViolation(StoreError):
    """A constraint failed; methods that expect it turn it into NotFound or Conflict."""


class MetadataStore(RegistryMethods):
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
        self._type_ids_cache: dict[str, int] = {}
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
        """The version of pipeline ``name`` with this spec hash, created if it is new
        (idempotent, and safe under concurrent callers)."""
        with self._write() as conn:
            return _runs.register_pipeline_version(conn, name, spec, spec_hash, _now())

    def get_pipeline_version(self, version_id: int) -> PipelineVersionRecord:
        with self._read() as conn:
            return _runs.get_pipeline_version(conn, version_id)

    def list_pipelines(self) -> list[tuple[str, int, datetime]]:
        """``(name, number of versions, when the last version was registered)`` by name."""
        with self._read() as conn:
            return _runs.list_pipelines(conn)

    # Runs -----------------------------------------------------------------------------

    def create_run(
        self,
        pipeline_version_id: int,
        params: dict[str, Any],
        *,
        run_id: str | None = None,
        owner: str | None = None,
    ) -> RunRecord:
        """A new run of a pipeline version, ``running`` and held by ``owner``, with its run
        context. The id defaults to ``<pipeline>-<YYYYmmdd-HHMMSS>-<6 hex>``."""
        try:
            with self._write() as conn:
                run, context_id = _runs.create_run(
                    conn, pipeline_version_id, params, run_id=run_id, owner=owner, now=_now()
                )
        except _IntegrityViolation:
            raise ConflictError(f"run {run_id!r} already exists", run=run_id) from None
        self._run_contexts[run.id] = context_id
        return run

    def get_run(self, run_id: str) -> RunRecord:
        """The run with this id, or else with the only id that starts with it."""
        with self._read() as conn:
            return _runs.find_run(conn, run_id)

    def list_runs(
        self, *, pipeline: str | None = None, state: str | None = None, limit: int = 50
    ) -> list[RunRecord]:
        """Runs, newest first, optionally of one pipeline and/or in one state."""
        with self._read() as conn:
            return _runs.list_runs(conn, pipeline=pipeline, state=state, limit=limit)

    def set_run_state(self, run_id: str, state: RunState, *, error: str | None = None) -> RunRecord:
        """Move a run to ``state``; terminal states set ``finished_at``."""
        with self._write() as conn:
            return _runs.set_run_state(conn, run_id, state, error=error, now=_now())

    def heartbeat(self, run_id: str, owner: str) -> None:
        """Record that ``owner`` still drives the run.

        Raises :class:`ConflictError` if another orchestrator has claimed the run meanwhile
        (this one must stop). A run cancelled by a user still takes heartbeats, so that its
        orchestrator notices the cancellation on its next look at the run.
        """
        with self._write() as conn:
            _runs.heartbeat(conn, run_id, owner, _now())

    def claim_run(self, run_id: str, owner: str, *, stale_after: float) -> RunRecord:
        """Take a run to drive it (or resume it), atomically.

        A run can be taken when it is not running, when its orchestrator has sent no
        heartbeat for ``stale_after`` seconds, or when ``owner`` already holds it; it becomes
        ``running`` under ``owner``. A run that succeeded, or that a live orchestrator holds,
        raises :class:`ConflictError` (naming the holder).
        """
        with self._write() as conn:
            return _runs.claim_run(conn, run_id, owner, stale_after=stale_after, now=_now())

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
        """Record that a step started, in one transaction: the execution (``running``), its
        input events and its association to the run."""
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
            with self._read() as conn:
                missing = _executions.missing_artifacts(conn, [i.artifact_id for i in inputs])
            raise NotFoundError(
                f"input artifact(s) {missing} of step {step!r} not found",
                artifact=missing[0] if missing else None,
                run=run_id,
                step=step,
            ) from None

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
        with self._write() as conn:
            context_id = self._run_context(conn, record.run_id)
            execution_id = _executions.insert_execution(conn, record, inputs, context_id)
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
        metrics: Sequence[MetricPoint] = (),
        children: Sequence[ChildExecution] = (),
    ) -> tuple[ExecutionRecord, Outputs]:
        """Record how a running execution ended, with its outputs, in one transaction.

        ``metrics`` the step logged and its ``children`` (tuning trials, with their own
        metrics) are recorded in the same transaction.

        Each output is a new artifact, or with ``reuse_id`` an existing one (a pass-through,
        or the outputs of the execution a cache hit reused); each gets an output event and
        is attributed to the run. Returns the execution and its outputs by key, in index
        order. Finishing an execution that is not running raises :class:`ConflictError`.
        """
        type_ids = self._type_ids({o.type for o in outputs if o.reuse_id is None})
        now = _now()
        try:
            with self._write() as conn:
                execution = _executions.finish_execution(
                    conn,
                    execution_id,
                    state,
                    output_params=dict(output_params or {}),
                    error=error,
                    log_uri=log_uri,
                    cached_from=cached_from,
                    now=now,
                )
                context_id = self._run_context(conn, execution.run_id)
                by_key = _executions.insert_outputs(
                    conn,
                    execution,
                    outputs,
                    type_ids=type_ids,
                    context_id=context_id,
                    attribute=self._attribute(conn),
                    now=now,
                )
                _executions.insert_metrics(conn, execution.id, metrics, now)
                _executions.insert_children(conn, execution, children, context_id, now)
        except _IntegrityViolation:  # the only reference not checked before: cached_from
            raise NotFoundError(
                f"execution {cached_from} (cached_from of execution {execution_id}) not found",
                execution=cached_from,
            ) from None
        return execution, by_key

    def get_execution(self, execution_id: int) -> ExecutionRecord:
        with self._read() as conn:
            return _executions.get_execution(conn, execution_id)

    def list_executions(self, run_id: str, *, children: bool = False) -> list[ExecutionRecord]:
        """The executions of a run, in the order they started; with ``children``, also the
        child executions of its steps (tuning trials)."""
        with self._read() as conn:
            return _executions.list_executions(conn, run_id, children=children)

    def child_executions(self, execution_id: int) -> list[ExecutionRecord]:
        """The children of a step execution (its tuning trials), in order."""
        with self._read() as conn:
            return _executions.child_executions(conn, execution_id)

    # Metrics --------------------------------------------------------------------------

    def log_metrics(self, execution_id: int, points: Sequence[MetricPoint]) -> None:
        """Record metric points of an execution now, in one transaction."""
        try:
            with self._write() as conn:
                _executions.insert_metrics(conn, execution_id, points, _now())
        except _IntegrityViolation:
            raise NotFoundError(
                f"execution {execution_id} not found", execution=execution_id
            ) from None

    def metrics(
        self, execution_ids: Sequence[int], *, keys: Sequence[str] | None = None
    ) -> list[MetricRecord]:
        """Metric points of the executions (curves in step order; final values step None)."""
        with self._read() as conn:
            return _executions.list_metrics(conn, execution_ids, keys)

    def execution_io(self, execution_id: int) -> tuple[Outputs, Outputs]:
        """``(inputs, outputs)`` of an execution, each by key in index order."""
        with self._read() as conn:
            return _executions.execution_io(conn, execution_id)

    def run_outputs(self, run_id: str) -> dict[str, tuple[ExecutionRecord, Outputs]]:
        """Per step key, the latest succeeded or cached execution and its outputs: what a
        resumed run need not compute again."""
        with self._read() as conn:
            return _executions.run_outputs(conn, run_id)

    def find_cached(self, cache_key: str, *, max_age: float | None = None) -> CacheHit | None:
        """The newest succeeded execution with this cache key (finished within ``max_age``
        seconds, if given) and its outputs, or None. Failed executions never hit."""
        with self._read() as conn:
            return _executions.find_cached(conn, cache_key, max_age=max_age, now=_now())

    # Artifacts ------------------------------------------------------------------------

    def get_artifact(self, artifact_id: int) -> ArtifactRecord:
        with self._read() as conn:
            return _artifacts.get_artifact(conn, artifact_id)

    def list_artifacts(
        self, *, type: str | None = None, run_id: str | None = None, limit: int = 50
    ) -> list[ArtifactRecord]:
        """Artifacts, newest first, optionally of one type and/or attributed to one run."""
        with self._read() as conn:
            return _artifacts.list_artifacts(conn, type=type, run_id=run_id, limit=limit)

    def find_artifacts_by_uri(self, uri: str) -> list[ArtifactRecord]:
        with self._read() as conn:
            return _artifacts.find_artifacts_by_uri(conn, uri)

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
        came from it) of a node, at most ``max_depth`` hops of events away."""
        with _lineage.CollectorPaused(), self._read() as conn:
            return _lineage.lineage(conn, kind, node_id, direction=direction, max_depth=max_depth)

    # Caches of immutable rows -----------------------------------------------------------

    def _run_context(self, conn: Connection, run_id: str) -> int:
        context_id = self._run_contexts.get(run_id)
        if context_id is None:
            context_id = self._run_contexts[run_id] = _runs.run_context(conn, run_id)
        return context_id

    def _type_ids(self, names: set[str]) -> dict[str, int]:
        missing = sorted(names - self._type_ids_cache.keys())
        if missing:
            # Its own short transaction, so that only committed ids are ever cached.
            with self._write() as conn:
                found = _artifacts.register_types(conn, missing)
            self._type_ids_cache.update(found)
        return {name: self._type_ids_cache[name] for name in names}

    def _attribute(self, conn: Connection) -> Insert:
        if self._insert_attribution is None:
            self._insert_attribution = insert_ignore(conn.dialect.name, attributions)
        return self._insert_attribution


def _first_line(error: BaseException | None) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__

"""Request-response logging: what each endpoint was asked and answered, as Parquet files.

Every predicted instance becomes one record: ``request_id``, ``logged_at`` (UTC),
``endpoint``, ``deployed_model_id``, ``model``, ``model_version``, ``shadow``,
``latency_ms``, ``prediction``, optional ``scores`` (class probabilities) and ``features``
(the instance's input values). Monitoring computes skew and drift from these records, and
people query them to see what a model served — the role of Vertex AI's BigQuery
request-response log.

Logging stays off the request path. :meth:`RequestLogger.log_request` (a request's rows,
predictions and scores at once, as the server logs) and :meth:`RequestLogger.log` (one
record) append to a bounded in-memory buffer (no I/O, no Arrow work, no per-row objects)
and a daemon thread writes the buffer every ``flush_interval`` seconds, or as soon as
``batch_rows`` records wait, one file per endpoint and hour::

    <root>/<endpoint>/date=YYYY-MM-DD/hour=HH/<UTC time>-<uuid>.parquet

``features`` is a struct column (``SELECT features.* ...``). The files of one endpoint
written together share a schema; readers union files by column name, so model versions
with different features live side by side. A file appears whole or not at all: locally it
is written under a hidden name and renamed, and an object store PUT is atomic.

Serving logs are best effort. A full buffer drops records; a file that cannot be written
(disk full, S3 down) is kept and tried again at the next writes, then dropped. Drops are
counted (:attr:`RequestLogger.stats`, :attr:`RequestLogger.on_drop`) and errors logged at
most once a minute; a request never waits for or sees them. :meth:`close` writes everything
still buffered, so a graceful shutdown loses nothing. :func:`read_logs` reads the log back
with DuckDB, newest first; :func:`compact_logs` merges each finished hour's files into one
(:mod:`mloop.serving._log_store`).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from mloop.errors import DataError
from mloop.serving._log_store import (
    _ENDPOINT_NAME,
    _LOCAL_PROTOCOLS,
    parquet_options,
    read_logs,
)
from mloop.serving._log_tables import (
    Entry,
    FeatureColumns,
    FeatureRows,
    _build_table,
    _RequestEntry,
    _split_by_hour,
    entry_rows,
    valid_entry,
)

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

__all__ = ["LoggerStats", "RequestLogger", "read_logs"]  # read_logs: from _log_store

_log = logging.getLogger(__name__)

_ERROR_LOG_INTERVAL = 60.0
#: rows converted to Arrow between two pauses of the writer (a request counts as
#: _ENTRY_ROWS rows more: its fields cost as much), and the shortest pause (s)
SLICE_ROWS = 2048
_ENTRY_ROWS = 8
_SLICE_PAUSE = 0.0002
#: the writer pauses this many times the CPU time its last slice took: on a core it shares
#: with the server, a burst of writing then takes at most 1 / (1 + _BACKOFF) of it (a fair
#: scheduler would give it half, and every request meanwhile would take twice as long)
_BACKOFF = 3.0
#: rows encoded as Parquet between two pauses (one row group each)
WRITE_ROWS = 8192

#: an endpoint's buffered entries and the time.time() each was logged (two lists rather
#: than a tuple per record: a tuple is a GC-tracked allocation, which made log() 4x slower)
_Queue = tuple[list[Entry], list[float]]


class LoggerStats(NamedTuple):
    """Counters of a :class:`RequestLogger` since it was created.

    ``logged`` records were accepted by :meth:`RequestLogger.log`; ``written`` reached the
    sink; ``dropped`` were lost, to a full buffer, a closed logger or a failing sink;
    ``failed_batches`` counts the writes that failed (an endpoint's share of one drain of
    the buffer). Records accepted but neither written nor dropped are still buffered.
    """

    logged: int
    written: int
    dropped: int
    failed_batches: int


class _Held:
    """A file the writer could not write, kept to try again."""

    __slots__ = ("directory", "endpoint", "failures", "table")

    def __init__(self, endpoint: str, directory: str, table: pa.Table) -> None:
        self.endpoint = endpoint
        self.directory = directory
        self.table = table
        self.failures = 0


class RequestLogger:
    """Buffers serving records and writes them to ``root`` as Parquet from a daemon thread.

    ``root`` is a local directory or an fsspec URL (``s3://bucket/serving-logs``) with
    ``storage_options``. The buffer holds at most ``max_buffered`` records (besides the
    batch being written); past that, :meth:`log` drops. A file that cannot be written (the
    store is down, say) is kept and tried again at each of the next ``write_retries``
    writes (one a ``flush_interval``), then dropped; kept records count against
    ``max_buffered``, and :meth:`close` tries them once more. Constructing a logger does no I/O;
    the writer thread starts with the first :meth:`log`. The logger takes ownership of the
    record dicts it is given: callers must not change them afterwards.

    ``on_drop(endpoint, n)`` is called (from the writer thread, or from :meth:`log` once
    the logger is closed) whenever records are dropped, e.g. to count them in Prometheus;
    its exceptions are logged and ignored.
    """

    def __init__(
        self,
        root: str,
        *,
        storage_options: dict[str, Any] | None = None,
        batch_rows: int = 50_000,
        flush_interval: float = 1.0,
        max_buffered: int = 200_000,
        write_retries: int = 3,
        on_drop: Callable[[str, int], None] | None = None,
    ) -> None:
        if batch_rows < 1 or max_buffered < 1 or flush_interval <= 0 or write_retries < 0:
            raise ValueError(
                "batch_rows and max_buffered must be >= 1, flush_interval > 0, write_retries >= 0"
            )
        protocol, _, rest = str(root).rpartition("://")
        self.is_local = protocol in _LOCAL_PROTOCOLS
        self.root = str(Path(rest).absolute()) if self.is_local else str(root).rstrip("/")
        self.storage_options: dict[str, Any] = dict(storage_options or {})
        self.batch_rows = batch_rows
        self.flush_interval = flush_interval
        self.max_buffered = max_buffered
        self.write_retries = write_retries
        self.on_drop = on_drop
        self._fs_and_path: tuple[Any, str] | None = None
        self._closed = False
        self._init_state()

    def _init_state(self) -> None:
        """Fresh buffer, synchronization and counters (at creation and in a forked child)."""
        self._lock = threading.Lock()  # guards the buffer and the request-side counters
        self._write_lock = threading.Lock()  # one drain at a time
        self._done_cond = threading.Condition()  # signals progress to flush()
        self._wake = threading.Event()
        self._queues: dict[str, _Queue] = {}
        self._buffered = 0
        self._held: list[_Held] = []  # files whose write failed, to try again (writer's)
        self._held_rows = 0  # their records (read by log() for the bound)
        self._pending_drops: dict[str, int] = {}
        self._thread: threading.Thread | None = None
        self._accepted = 0
        self._rejected = 0
        self._done = 0  # records taken from the buffer and written, dropped or kept to retry
        self._drains_begun = self._drains_done = 0
        self._written = 0
        self._sink_dropped = 0
        self._failed_batches = 0
        self._last_error_log = -_ERROR_LOG_INTERVAL
        self._unreported_errors = 0

    def __repr__(self) -> str:
        return f"RequestLogger({self.root!r})"

    # Request path --------------------------------------------------------------------------

    def log(self, endpoint: str, record: Mapping[str, Any]) -> bool:
        """Queue one record of ``endpoint``; ``False`` if it was dropped. Never blocks or raises.

        A record without ``logged_at`` is stamped with the time of this call.
        """
        return self._put(endpoint, record, 1)

    def log_request(
        self,
        endpoint: str,
        fields: Mapping[str, Any],
        features: Sequence[Any] | FeatureColumns | FeatureRows,
        predictions: Sequence[Any] | np.ndarray,
        scores: Sequence[Any] | np.ndarray | None = None,
    ) -> bool:
        """Queue the records of one request: one per row of ``features`` (dicts of input
        values, :class:`FeatureColumns` or :class:`FeatureRows`), with its prediction (and
        row of ``scores``), and the request's ``fields`` (``request_id``,
        ``model_version``, ...) on each. All or nothing: ``False`` if the records were
        dropped. Never blocks or raises; the arguments are kept, not copied.
        """
        entry = _RequestEntry(fields, features, predictions, scores)
        return self._put(endpoint, entry, len(features))

    def _put(self, endpoint: str, entry: Entry, rows: int) -> bool:
        now = time.time()
        with self._lock:
            closed = self._closed
            if closed or self._buffered + self._held_rows + rows > self.max_buffered:
                self._rejected += rows
                if not closed:
                    self._pending_drops[endpoint] = self._pending_drops.get(endpoint, 0) + rows
            else:
                queue = self._queues.get(endpoint)
                if queue is None:
                    queue = self._queues[endpoint] = ([], [])
                queue[0].append(entry)
                queue[1].append(now)
                self._buffered += rows
                self._accepted += rows
                if self._thread is None:
                    self._start()
                if self._buffered >= self.batch_rows and not self._wake.is_set():
                    self._wake.set()
                return True
        if closed:
            self._report_drops({endpoint: rows})
        return False

    # Control -------------------------------------------------------------------------------

    @property
    def stats(self) -> LoggerStats:
        """A snapshot of the counters; see :class:`LoggerStats`."""
        with self._lock:
            logged, rejected = self._accepted, self._rejected
        return LoggerStats(
            logged=logged,
            written=self._written,
            dropped=rejected + self._sink_dropped,
            failed_batches=self._failed_batches,
        )

    def flush(self, timeout: float | None = None) -> bool:
        """Write everything logged before this call; ``False`` if ``timeout`` s passed first.

        Files that cannot be written are kept to try again (and tried again by the next
        flush) or, tried enough, dropped and counted, as in the background.
        """
        with self._lock:
            target = self._accepted
            thread = self._thread
            retry = self._held_rows > 0  # files that failed: this flush tries them again
        if thread is None or not thread.is_alive():
            self._drain()
            return True
        with self._done_cond:
            begun = self._drains_begun
        self._wake.set()
        with self._done_cond:
            return self._done_cond.wait_for(
                lambda: self._done >= target and (not retry or self._drains_done > begun),
                timeout,
            )

    def close(self, timeout: float = 10.0) -> bool:
        """Stop accepting records, write everything buffered and stop the writer thread.

        Idempotent. ``False`` if the writer was still busy after ``timeout`` s (it keeps
        going as a daemon thread until the process exits).
        """
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is None:  # never logged (or the thread could not start): write inline
            self._drain()
            return True
        self._wake.set()
        thread.join(timeout)
        if thread.is_alive():
            _log.warning(
                "serving log %s: still writing after %.1f s at close; records may be lost",
                self.root,
                timeout,
            )
            return False
        return True

    # Writer thread -------------------------------------------------------------------------

    def _start(self) -> None:
        """Start the writer thread (called with ``_lock`` held, on the first record)."""
        _register_process_hooks()
        thread = threading.Thread(target=self._run, name=f"mloop-request-log:{id(self):x}")
        thread.daemon = True
        try:
            thread.start()
        except RuntimeError as exc:  # no more threads: retry with the next record
            self._report_error("cannot start the writer thread", exc)
            return
        self._thread = thread
        _LIVE.add(self)

    def _run(self) -> None:
        while True:
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            with self._lock:
                stopping = self._closed
            self._drain()
            if stopping:
                return

    def _drain(self) -> None:
        """Take everything buffered and write it (or keep it to retry, or drop it); try
        again what failed before; never raises. Once closed, nothing is kept."""
        with self._write_lock:
            with self._done_cond:
                self._drains_begun += 1
            with self._lock:
                stopping = self._closed
                queues, self._queues = self._queues, {}
                taken, self._buffered = self._buffered, 0
                drops, self._pending_drops = self._pending_drops, {}
            try:
                if drops:
                    self._report_drops(drops)
                self._retry_held(final=stopping)
                for endpoint, (entries, times) in queues.items():
                    self._write_endpoint(endpoint, entries, times)
                if stopping:
                    self._retry_held(final=True, attempt=False)
            finally:
                with self._done_cond:
                    self._done += taken
                    self._drains_done += 1
                    self._done_cond.notify_all()

    def _write_endpoint(self, endpoint: str, entries: list[Entry], times: list[float]) -> None:
        """Write one endpoint's records, a file per hour; count what cannot be written."""
        pending = sum(entry_rows(e) for e in entries)
        try:
            if not _ENDPOINT_NAME.match(endpoint):
                raise DataError(f"invalid endpoint name {endpoint!r}", endpoint=endpoint)
            if not all(map(valid_entry, entries)):
                kept = [(e, at) for e, at in zip(entries, times, strict=True) if valid_entry(e)]
                entries, times = [e for e, _ in kept], [at for _, at in kept]
                left = sum(entry_rows(e) for e in entries)
                self._drop(endpoint, pending - left, batch_failed=False)
                pending = left
            if not entries:
                return
            parts = _split_by_hour(self._table(endpoint, entries, times))
        except Exception as exc:  # the records themselves: trying again would not help
            self._drop(endpoint, pending, batch_failed=True)
            self._report_error(
                f"cannot write {pending} records of endpoint {endpoint!r} (dropped)", exc
            )
            return
        for (date, hour), part in parts:
            self._write_or_hold(_Held(endpoint, f"{endpoint}/date={date}/hour={hour:02d}", part))

    def _write_or_hold(self, held: _Held) -> None:
        """Write a file; if that fails, keep it for a later try (or drop it: tried enough)."""
        rows = held.table.num_rows
        try:
            self._write_file(held.directory, held.table)
        except Exception as exc:
            held.failures += 1
            if held.failures > self.write_retries:
                self._drop(held.endpoint, rows, batch_failed=True)
                outcome = "dropped"
            else:
                self._failed_batches += 1
                self._held.append(held)
                with self._lock:
                    self._held_rows += rows
                outcome = f"kept to try again, failure {held.failures} of {self.write_retries + 1}"
            self._report_error(
                f"cannot write {rows} records of endpoint {held.endpoint!r} ({outcome})", exc
            )
        else:
            self._written += rows

    def _retry_held(self, *, final: bool, attempt: bool = True) -> None:
        """Try again the files whose write failed (``final``: drop what fails now; without
        ``attempt``, drop what is left without trying)."""
        held, self._held = self._held, []
        with self._lock:
            self._held_rows = 0
        for item in held:
            if not attempt:
                self._drop(item.endpoint, item.table.num_rows, batch_failed=False)
                continue
            if final:
                item.failures = max(item.failures, self.write_retries)
            self._write_or_hold(item)

    def _table(self, endpoint: str, entries: list[Entry], times: list[float]) -> pa.Table:
        """The entries as one table, built a slice of ~:data:`SLICE_ROWS` rows at a time
        with a pause between slices: converting Python values holds the GIL (Arrow's
        conversion does not let go of it), and a request arriving meanwhile waits for it."""
        import pyarrow as pa

        tables, start, rows = [], 0, 0
        began = time.thread_time()
        for end, entry in enumerate(entries, 1):
            rows += entry_rows(entry) + _ENTRY_ROWS
            if rows >= SLICE_ROWS or end == len(entries):
                tables.append(_build_table(endpoint, entries[start:end], times[start:end]))
                start, rows = end, 0
                if end < len(entries):
                    began = _pause(began)
        if len(tables) == 1:
            return tables[0]
        try:
            return pa.concat_tables(tables, promote_options="permissive")
        except (pa.ArrowException, TypeError, ValueError):  # slices typed a column apart
            return _build_table(endpoint, entries, times)

    def _write_file(self, directory: str, table: pa.Table) -> None:
        import pyarrow as pa

        name = f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex}.parquet"
        if self.is_local:
            folder = os.path.join(self.root, directory)
            os.makedirs(folder, exist_ok=True)
            temp = os.path.join(folder, f".{name}.tmp")
            try:
                _write_parquet(table, temp)
                os.replace(temp, os.path.join(folder, name))
            except BaseException:
                _remove_quietly(temp)
                raise
            return
        fs, root_path = self._fs()
        sink = pa.BufferOutputStream()
        _write_parquet(table, sink)
        fs.pipe_file(f"{root_path}/{directory}/{name}", sink.getvalue().to_pybytes())

    def _fs(self) -> tuple[Any, str]:
        if self._fs_and_path is None:
            from fsspec.core import url_to_fs

            fs, path = url_to_fs(self.root, **self.storage_options)
            self._fs_and_path = fs, str(path).rstrip("/")
        return self._fs_and_path

    # Accounting ----------------------------------------------------------------------------

    def _drop(self, endpoint: str, n: int, *, batch_failed: bool) -> None:
        if batch_failed:
            self._failed_batches += 1
        if n > 0:
            self._sink_dropped += n
            self._report_drops({endpoint: n})

    def _report_drops(self, drops: Mapping[str, int]) -> None:
        hook = self.on_drop
        if hook is None:
            return
        for endpoint, n in drops.items():
            try:
                hook(endpoint, n)
            except Exception as exc:
                self._report_error("the on_drop hook failed", exc)

    def _report_error(self, what: str, exc: BaseException) -> None:
        """Log a failure, at most once a minute (a failing sink fails on every batch)."""
        now = time.monotonic()
        if now - self._last_error_log < _ERROR_LOG_INTERVAL:
            self._unreported_errors += 1
            return
        also = (
            f" ({self._unreported_errors} more failures since the last message)"
            if self._unreported_errors
            else ""
        )
        self._last_error_log, self._unreported_errors = now, 0
        _log.error(
            "serving log %s: %s: %s: %s%s",
            self.root,
            what,
            type(exc).__name__,
            exc,
            also,
            exc_info=exc,
        )

    def _after_fork_in_child(self) -> None:
        """The child gets an empty logger: the parent's thread and buffer stay the parent's."""
        self._init_state()


# Process hooks ------------------------------------------------------------------------------

_LIVE: weakref.WeakSet[RequestLogger] = weakref.WeakSet()
_HOOKS_REGISTERED = False


def _register_process_hooks() -> None:
    """Once per process: flush loggers at exit, and reset them in forked children."""
    global _HOOKS_REGISTERED
    if _HOOKS_REGISTERED:
        return
    _HOOKS_REGISTERED = True
    atexit.register(_close_all)
    os.register_at_fork(after_in_child=_reset_all_after_fork)


def _close_all() -> None:
    for logger in list(_LIVE):
        logger.close()


def _reset_all_after_fork() -> None:
    for logger in list(_LIVE):
        logger._after_fork_in_child()
    _LIVE.clear()


def _write_parquet(table: pa.Table, where: Any) -> None:
    """``table`` as Parquet, a row group of :data:`WRITE_ROWS` rows at a time with a pause
    between them: encoding runs without the GIL, but on a busy core it would otherwise keep
    the CPU for a whole scheduler slice while a request waits (encoding:
    :func:`~mloop.serving._log_store.parquet_options`)."""
    import pyarrow.parquet as pq

    with pq.ParquetWriter(where, table.schema, **parquet_options(table.schema)) as writer:
        began = time.thread_time()
        for start in range(0, max(table.num_rows, 1), WRITE_ROWS):
            if start:
                began = _pause(began)
            writer.write_table(table.slice(start, WRITE_ROWS))


def _pause(began: float) -> float:
    """Sleep :data:`_BACKOFF` times the CPU this thread used since ``began`` (its CPU clock
    then), at least :data:`_SLICE_PAUSE`; the clock now, for the next slice."""
    time.sleep(max(_SLICE_PAUSE, _BACKOFF * (time.thread_time() - began)))
    return time.thread_time()


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.remove(path)

"""What crosses the executor boundary: a step task in, a step result out, and the code that
runs one task wherever the executor puts it (same process, a worker process, a Dask worker).

This module is the single boundary where user-code exceptions are caught and turned into a
failed :class:`StepResult` carrying the original traceback.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

ResultKind = Literal["succeeded", "failed", "timeout", "crashed", "cancelled"]


@dataclass(frozen=True, slots=True)
class ArtifactRef:
    """A stored artifact as the orchestrator and workers pass it around."""

    type: str
    uri: str
    fingerprint: str
    properties: dict[str, Any]
    id: int | None = None


@dataclass(slots=True)
class StepTask:
    key: str  # step instance key, e.g. "train[2]"
    run_id: str
    component: dict[str, Any]  # the spec's component entry
    artifacts: dict[str, ArtifactRef | list[ArtifactRef]]
    params: dict[str, Any]
    artifact_root: str
    storage_options: dict[str, Any]
    cache_dir: str
    log_path: str
    attempt: int = 1
    timeout: float | None = None
    settings: dict[str, Any] = field(default_factory=dict)  # the run's Settings, as JSON


@dataclass(slots=True)
class StepResult:
    key: str
    kind: ResultKind
    artifacts: dict[str, ArtifactRef] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    traceback: str | None = None
    duration: float = 0.0
    log_path: str | None = None  # set when the step printed anything
    metrics: list[Any] = field(default_factory=list)  # MetricPoints the step logged
    children: list[Any] = field(default_factory=list)  # ChildExecutions (tuning trials)


_STORES: dict[tuple[str, str], Any] = {}


def _artifact_store(task: StepTask) -> Any:
    from mloop.artifacts import ArtifactStore

    cache_key = (task.artifact_root, repr(sorted(task.storage_options.items())))
    store = _STORES.get(cache_key)
    if store is None:
        store = ArtifactStore(
            task.artifact_root, storage_options=task.storage_options, cache_dir=task.cache_dir
        )
        _STORES[cache_key] = store
    return store


def _as_artifact(ref: ArtifactRef, store: Any) -> Any:
    from mloop.artifacts import artifact_type

    cls = artifact_type(ref.type)
    return cls(ref.uri, ref.fingerprint, ref.properties, id=ref.id, store=store)


def _to_ref(artifact: Any) -> ArtifactRef:
    return ArtifactRef(
        type=artifact.type_name,
        uri=artifact.uri,
        fingerprint=artifact.fingerprint,
        properties=dict(artifact.properties),
        id=artifact.id,
    )


_SCRATCH: list[IO[str]] = []  # one scratch file per worker process, reused for every step


def _scratch_file() -> IO[str]:
    if not _SCRATCH:  # it lives as long as the worker process
        _SCRATCH.append(tempfile.TemporaryFile("w+", buffering=1, encoding="utf-8"))  # noqa: SIM115
    scratch = _SCRATCH[0]
    scratch.seek(0)
    scratch.truncate()
    return scratch


@contextlib.contextmanager
def _captured_output(header: str, log_path: str, *, redirect_fds: bool) -> Iterator[list[bool]]:
    """Capture the step's stdout, stderr and logging; write its log file only if it printed.

    In a worker process the file descriptors are redirected too, so output of C extensions
    and subprocesses is kept. Yields a one-item list set to True once the log is written.
    """
    sink: IO[str] = _scratch_file() if redirect_fds else io.StringIO()
    handler = logging.StreamHandler(sink)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    saved: list[int] = []
    written = [False]
    try:
        if redirect_fds:
            sys.stdout.flush()
            sys.stderr.flush()
            saved = [os.dup(1), os.dup(2)]
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            yield written
    finally:
        root.removeHandler(handler)
        if saved:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
        sink.flush()
        sink.seek(0)
        text = sink.read()
        if text:
            Path(log_path).parent.mkdir(parents=True, exist_ok=True)
            with open(log_path, "a", encoding="utf-8") as log:
                log.write(header + text)
            written[0] = True


def _check_json(value: Any, where: str) -> None:
    import json

    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{where} must be a JSON value, got {type(value).__name__}: {exc}"
        ) from None


def execute_task(task: StepTask, *, redirect_fds: bool = False) -> StepResult:
    """Run one step: load its inputs, call the user function, store its outputs."""
    started = time.perf_counter()
    header = f"--- {task.key} (attempt {task.attempt}) run {task.run_id}\n"
    try:
        with _captured_output(header, task.log_path, redirect_fds=redirect_fds) as written:
            result = _call_component(task)
    except OSError as exc:  # the log file itself could not be written
        result = StepResult(
            key=task.key,
            kind="failed",
            error=f"cannot write the step log {task.log_path}: {exc}",
            traceback=traceback.format_exc(),
        )
        written = [False]
    result.duration = time.perf_counter() - started
    result.log_path = task.log_path if written[0] else None
    return result


def _call_component(task: StepTask) -> StepResult:
    """The user-code boundary: any exception becomes a failed result with its traceback."""
    from mloop.artifacts import Artifact
    from mloop.dsl import RunStatus, load_component
    from mloop.orchestrator._context import StepContext, step_context

    context = StepContext(task.run_id, task.key, task.attempt, task.settings)
    try:
        store = _artifact_store(task)
        component = load_component(task.component)
        kwargs: dict[str, Any] = dict(task.params)
        for name, value in kwargs.items():
            if isinstance(value, dict) and set(value) == {"__run_status__"}:
                kwargs[name] = RunStatus(**value["__run_status__"])
        for name, ref in task.artifacts.items():
            if isinstance(ref, list):
                kwargs[name] = [_as_artifact(r, store) for r in ref]
            else:
                kwargs[name] = _as_artifact(ref, store)
        with step_context(context):
            outputs = component.split_outputs(component.fn(**kwargs))
        result = StepResult(
            key=task.key, kind="succeeded", metrics=context.metrics, children=context.children
        )
        for name, value in outputs.items():
            out = task.component["outputs"][name]
            if out["kind"] == "artifact":
                stored = value if isinstance(value, Artifact) else store.save(value, out["type"])
                result.artifacts[name] = _to_ref(stored)
            else:
                _check_json(value, f"output {name!r} of step {task.key!r}")
                result.params[name] = value
        return result
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        text = traceback.format_exc()
        print(text, file=sys.stderr, flush=True)
        kind: ResultKind = "failed"
        message = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, _StepTimeoutSignal):
            kind, message = "timeout", f"step {task.key!r} timed out after {task.timeout} s"
        return StepResult(
            key=task.key,
            kind=kind,
            error=message,
            traceback=text,
            metrics=context.metrics,
            children=context.children,
        )


class _StepTimeoutSignal(BaseException):
    """Raised inside an inline step by the alarm signal when its timeout passes."""


def run_inline_with_timeout(task: StepTask) -> StepResult:
    """Run a task in this process, enforcing its timeout with SIGALRM where possible."""
    import signal
    import threading

    use_alarm = (
        task.timeout is not None
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not use_alarm:
        return execute_task(task)

    def _alarm(signum: int, frame: Any) -> None:
        raise _StepTimeoutSignal()

    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, float(task.timeout or 0))
    try:
        return execute_task(task)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)

"""Executors: where step tasks run. One narrow interface, three implementations.

- :class:`InlineExecutor` runs each task in the orchestrator's own process (debugging, tests).
- :class:`ProcessExecutor` (default) keeps a pool of worker processes sized to the machine;
  a task that passes its timeout has its worker killed and replaced, and a worker that dies
  turns its task into a ``crashed`` result instead of hanging the run.
- A Dask executor implements the same interface on a ``distributed`` cluster.
"""

from __future__ import annotations

import collections
import contextlib
import multiprocessing
import os
import sys
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from mloop.orchestrator._task import StepResult, StepTask, execute_task, run_inline_with_timeout


class Executor(ABC):
    """Runs step tasks and hands back their results; never raises for a failing step."""

    #: How many tasks may run at once (the orchestrator keeps this many submitted).
    capacity: int = 1

    @abstractmethod
    def submit(self, task: StepTask) -> None:
        """Queue ``task``; it runs when a worker is free."""

    @abstractmethod
    def poll(self, timeout: float) -> list[StepResult]:
        """Wait up to ``timeout`` seconds for finished tasks and return their results."""

    @abstractmethod
    def cancel(self, key: str) -> None:
        """Stop the task with this key if it is queued or running (its result is dropped)."""

    @abstractmethod
    def close(self) -> None:
        """Stop every worker; queued and running tasks are abandoned."""


class InlineExecutor(Executor):
    """Runs tasks one at a time in the calling process, in submission order."""

    capacity = 1

    def __init__(self) -> None:
        self._queue: collections.deque[StepTask] = collections.deque()

    def submit(self, task: StepTask) -> None:
        self._queue.append(task)

    def poll(self, timeout: float) -> list[StepResult]:
        if not self._queue:
            if timeout > 0:
                time.sleep(min(timeout, 0.05))
            return []
        return [run_inline_with_timeout(self._queue.popleft())]

    def cancel(self, key: str) -> None:
        self._queue = collections.deque(t for t in self._queue if t.key != key)

    def close(self) -> None:
        self._queue.clear()


def _set_parent_death_signal() -> None:
    """Ask Linux to kill this worker if the orchestrator dies (kill -9 included)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    except OSError:  # pragma: no cover - best effort
        pass


def _openmp_single_threaded() -> None:
    """Make OpenMP in a forked worker run on the calling thread only.

    GNU OpenMP is not fork-safe: when the orchestrator process has run a parallel region
    (LightGBM, XGBoost or scikit-learn used in a notebook, or an inline step), its thread
    pool is recorded but gone in the child, and the child's next parallel region waits for
    it forever. One thread per parallel region never touches the pool. Every libgomp copy
    loaded (wheels bundle their own) is set; a worker forked from a process that never
    loaded OpenMP keeps its defaults.
    """
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            paths = {line.split()[-1] for line in maps if "libgomp" in line and "/" in line}
    except OSError:  # not Linux
        return
    import ctypes

    for path in sorted(paths):
        try:
            ctypes.CDLL(path).omp_set_num_threads(1)
        except (OSError, AttributeError):  # pragma: no cover - best effort
            continue


def _worker_main(conn: Connection, parent_pid: int) -> None:
    _set_parent_death_signal()
    if os.getppid() != parent_pid:  # the parent died before we armed the signal
        return
    _openmp_single_threaded()
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        result = execute_task(task, redirect_fds=True)
        try:
            conn.send(result)
        except (BrokenPipeError, OSError):
            return


@dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    conn: Connection
    task: StepTask | None = None
    started: float = 0.0


class ProcessExecutor(Executor):
    """A pool of worker processes; each task runs in one of them, killable on timeout."""

    def __init__(self, max_workers: int | None = None) -> None:
        self.capacity = max_workers or os.cpu_count() or 1
        self._workers: list[_Worker] = []
        self._queue: collections.deque[StepTask] = collections.deque()
        self._context: Any = None

    # Workers start lazily on first submit, so constructing the executor does no work.
    def _spawn(self) -> _Worker:
        if self._context is None:
            method = "fork" if sys.platform.startswith("linux") else "spawn"
            self._context = multiprocessing.get_context(method)
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=_worker_main, args=(child, os.getpid()), daemon=True, name="mloop-worker"
        )
        process.start()
        child.close()
        worker = _Worker(process=process, conn=parent)
        self._workers.append(worker)
        return worker

    def submit(self, task: StepTask) -> None:
        self._queue.append(task)
        self._dispatch()

    def _dispatch(self) -> None:
        while self._queue:
            idle = next((w for w in self._workers if w.task is None), None)
            if idle is None:
                if len(self._workers) >= self.capacity:
                    return
                idle = self._spawn()
            task = self._queue.popleft()
            idle.task, idle.started = task, time.monotonic()
            try:
                idle.conn.send(task)
            except (BrokenPipeError, OSError):
                self._retire(idle)
                self._queue.appendleft(task)

    def _retire(self, worker: _Worker) -> None:
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join(timeout=5)
        worker.conn.close()
        self._workers.remove(worker)

    def poll(self, timeout: float) -> list[StepResult]:
        results: list[StepResult] = []
        busy = [w for w in self._workers if w.task is not None]
        if busy:
            deadline = self._next_deadline(busy)
            wait_for = timeout if deadline is None else max(0.0, min(timeout, deadline))
            ready = wait([w.conn for w in busy], timeout=wait_for)
            for worker in busy:
                if worker.conn in ready:
                    results.append(self._receive(worker))
            results.extend(self._expire_timeouts())
        elif timeout > 0:
            time.sleep(min(timeout, 0.05))
        self._dispatch()
        return results

    def _next_deadline(self, busy: list[_Worker]) -> float | None:
        now = time.monotonic()
        remaining = [
            w.started + w.task.timeout - now for w in busy if w.task and w.task.timeout is not None
        ]
        return min(remaining) if remaining else None

    def _receive(self, worker: _Worker) -> StepResult:
        task = worker.task
        assert task is not None
        try:
            result: StepResult = worker.conn.recv()
            worker.task = None
            return result
        except (EOFError, OSError):
            worker.process.join(timeout=5)
            code = worker.process.exitcode
            self._retire(worker)
            return StepResult(
                key=task.key,
                kind="crashed",
                error=f"the worker process running step {task.key!r} died (exit code {code})",
                duration=time.monotonic() - worker.started,
            )

    def _expire_timeouts(self) -> list[StepResult]:
        results = []
        now = time.monotonic()
        for worker in list(self._workers):
            task = worker.task
            if task is None or task.timeout is None or now - worker.started < task.timeout:
                continue
            self._retire(worker)
            results.append(
                StepResult(
                    key=task.key,
                    kind="timeout",
                    error=f"step {task.key!r} timed out after {task.timeout} s and was killed",
                    duration=now - worker.started,
                )
            )
        return results

    def cancel(self, key: str) -> None:
        self._queue = collections.deque(t for t in self._queue if t.key != key)
        for worker in list(self._workers):
            if worker.task is not None and worker.task.key == key:
                self._retire(worker)

    def close(self) -> None:
        self._queue.clear()
        for worker in list(self._workers):
            if worker.task is None:
                with contextlib.suppress(BrokenPipeError, OSError):
                    worker.conn.send(None)
        deadline = time.monotonic() + 2.0
        for worker in list(self._workers):
            if worker.task is None:
                worker.process.join(timeout=max(0.0, deadline - time.monotonic()))
            self._retire(worker)


def make_executor(name: str, *, max_workers: int | None = None) -> Executor:
    """The executor called ``name`` (``inline``, ``process`` or ``dask``)."""
    from mloop.errors import ConfigError

    if name == "inline":
        return InlineExecutor()
    if name == "process":
        return ProcessExecutor(max_workers)
    if name == "dask":
        raise ConfigError(
            "the dask executor is not available in this version; use 'process' or 'inline'",
            argument="executor",
        )
    raise ConfigError(
        f"unknown executor {name!r}; expected one of: inline, process, dask", argument="executor"
    )

"""Runs compiled pipeline specs: DAG scheduling, caching, retries, timeouts, resume.

A run is driven by one :class:`Runner` in the calling process; steps execute on an
:class:`Executor` (``inline``: this process; ``process``: a pool of worker processes).
"""

from mloop.orchestrator._api import resume, run
from mloop.orchestrator._cache import cache_key
from mloop.orchestrator._context import StepContext, current_step, log_metric, log_metrics
from mloop.orchestrator._executors import Executor, InlineExecutor, ProcessExecutor, make_executor
from mloop.orchestrator._liveness import owner_is_dead
from mloop.orchestrator._result import RunResult, StepEvent, StepView
from mloop.orchestrator._runner import Runner
from mloop.orchestrator._task import ArtifactRef, StepResult, StepTask, execute_task

__all__ = [
    "ArtifactRef",
    "Executor",
    "InlineExecutor",
    "ProcessExecutor",
    "RunResult",
    "Runner",
    "StepContext",
    "StepEvent",
    "StepResult",
    "StepTask",
    "StepView",
    "cache_key",
    "current_step",
    "execute_task",
    "log_metric",
    "log_metrics",
    "make_executor",
    "owner_is_dead",
    "resume",
    "run",
]

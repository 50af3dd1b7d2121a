"""mloop — MLOps level 2 in one package.

The object model, in the order a run meets it:

- a **component** (``@component``) is a typed Python function; its artifact inputs and
  outputs (``Dataset``, ``Model``, ``Metrics``, ...) are immutable, content-addressed values
  in the artifact store, its other inputs are JSON parameters;
- a **pipeline** (``@pipeline``) wires components into a DAG (with ``If``, ``ParallelFor``
  and ``ExitHandler``) and compiles to a versioned JSON spec;
- a **run** executes a spec (``mloop.run`` or ``mloop run``); each step becomes an
  **execution** whose input and output **artifacts** are recorded with their lineage in the
  metadata store, so ``mloop.Client`` can answer what made what, and a crashed run resumes
  from what it finished.

Heavy parts (the database layer, the orchestrator) load on first use: ``import mloop`` is fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mloop.artifacts import (
    Anomalies,
    Artifact,
    Blessing,
    Dataset,
    DriftReport,
    Metrics,
    Model,
    Schema,
    Statistics,
    Transform,
)
from mloop.dsl import ExitHandler, If, ParallelFor, Pipeline, RunStatus, component, pipeline

if TYPE_CHECKING:
    from mloop._client import Client
    from mloop.orchestrator import RunResult, current_step, log_metric, log_metrics, resume, run

__version__ = "0.1.0"

__all__ = [
    "Anomalies",
    "Artifact",
    "Blessing",
    "Client",
    "Dataset",
    "DriftReport",
    "ExitHandler",
    "If",
    "Metrics",
    "Model",
    "ParallelFor",
    "Pipeline",
    "RunResult",
    "RunStatus",
    "Schema",
    "Statistics",
    "Transform",
    "__version__",
    "component",
    "current_step",
    "log_metric",
    "log_metrics",
    "pipeline",
    "resume",
    "run",
]

_LAZY = {
    "Client": ("mloop._client", "Client"),
    "RunResult": ("mloop.orchestrator", "RunResult"),
    "current_step": ("mloop.orchestrator._context", "current_step"),
    "log_metric": ("mloop.orchestrator._context", "log_metric"),
    "log_metrics": ("mloop.orchestrator._context", "log_metrics"),
    "resume": ("mloop.orchestrator", "resume"),
    "run": ("mloop.orchestrator", "run"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mloop' has no attribute {name!r}")

"""The running step's context: who it is, where state lives, and what it logs.

A component that wants more than its inputs — a training curve, tuning trials recorded as
child executions, the settings to open the model registry — asks :func:`current_step`.
Metrics and children are buffered in the worker and recorded by the orchestrator in the
same transaction that finishes the step (workers never write metadata), so a step's
metrics are visible when the step is, and a failed attempt keeps what it logged.

>>> from mloop import log_metric
>>> for epoch in range(10):
...     log_metric("loss", loss, step=epoch)
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mloop.errors import RunError
from mloop.store._records import ChildExecution, ExecutionState, MetricPoint

if TYPE_CHECKING:
    from mloop.config import Settings
    from mloop.store import MetadataStore

__all__ = ["StepContext", "current_step", "log_metric", "log_metrics"]

_CURRENT: ContextVar[StepContext | None] = ContextVar("mloop_step", default=None)
_STORES: dict[str, MetadataStore] = {}  # one per process and URL, as engines are


@dataclass
class StepContext:
    """The step being executed: its run and key, the settings of the run, and the metrics
    and child executions it has logged so far."""

    run_id: str
    step: str  # the instance key: "train" or "train[2]"
    attempt: int
    settings_values: dict[str, Any] = field(repr=False)
    metrics: list[MetricPoint] = field(default_factory=list, repr=False)
    children: list[ChildExecution] = field(default_factory=list, repr=False)
    _settings: Settings | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        """The settings of the run (the orchestrator's, whatever this process's env says)."""
        if self._settings is None:
            from mloop.config import Settings

            self._settings = Settings.model_validate(self.settings_values)
        return self._settings

    def metadata_store(self) -> MetadataStore:
        """The run's metadata store, for reading (the registry, earlier runs)."""
        from mloop.store import MetadataStore

        url = self.settings.resolved_metadata_url
        store = _STORES.get(url)
        if store is None:
            store = _STORES[url] = MetadataStore(url)
        return store

    @property
    def actor(self) -> str:
        """How records made by this step name who made them."""
        return f"run {self.run_id} step {self.step}"

    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        self.metrics.append(_point(key, value, step))

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        self.metrics.extend(_point(key, value, step) for key, value in metrics.items())

    def add_child(
        self,
        name: str,
        params: Mapping[str, Any],
        *,
        state: ExecutionState = "succeeded",
        metrics: Mapping[str, float] | None = None,
        curves: Mapping[str, list[float]] | None = None,
        output_params: Mapping[str, Any] | None = None,
        started_at: datetime | None = None,
        finished_at: datetime | None = None,
        error: str | None = None,
    ) -> None:
        """Record a child execution of this step (a tuning trial): its params, final
        ``metrics`` and per-step ``curves``."""
        points = [_point(k, v, None) for k, v in (metrics or {}).items()]
        for key, values in (curves or {}).items():
            points.extend(_point(key, v, i) for i, v in enumerate(values))
        self.children.append(
            ChildExecution(
                name=name,
                params=dict(params),
                state=state,
                output_params=dict(output_params or {}),
                metrics=tuple(points),
                started_at=started_at,
                finished_at=finished_at or datetime.now(UTC),
                error=error,
            )
        )


def _point(key: str, value: float, step: int | None) -> MetricPoint:
    if not isinstance(key, str) or not key:
        raise RunError(f"a metric key must be a non-empty string, not {key!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise RunError(
            f"metric {key!r} must be a number, not {type(value).__name__} {value!r}"
        ) from None
    if step is not None and not isinstance(step, int):
        raise RunError(f"the step of metric {key!r} must be an int, not {step!r}")
    # NaN and infinities are recorded as missing values (JSON and SQL both lack them).
    return MetricPoint(key, number if math.isfinite(number) else None, step, datetime.now(UTC))


def current_step() -> StepContext | None:
    """The step this code runs in, or None outside a pipeline step."""
    return _CURRENT.get()


def _require_step(what: str) -> StepContext:
    context = _CURRENT.get()
    if context is None:
        raise RunError(
            f"mloop.{what} was called outside a pipeline step: metrics belong to a step's "
            "execution (call it inside a @component run by mloop.run or `mloop run`)"
        )
    return context


def log_metric(key: str, value: float, step: int | None = None) -> None:
    """Record a metric of the running step (``step`` orders a curve: one value per epoch)."""
    _require_step("log_metric").log_metric(key, value, step)


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    """Record several metrics of the running step at once."""
    _require_step("log_metrics").log_metrics(metrics, step)


@contextmanager
def step_context(context: StepContext) -> Iterator[StepContext]:
    """Make ``context`` the current step while the component runs."""
    token = _CURRENT.set(context)
    try:
        yield context
    finally:
        _CURRENT.reset(token)

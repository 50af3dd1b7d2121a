"""Prometheus metrics of the model server, served at ``GET /metrics``.

==================================  =========  =========================================
series                              type       labels
==================================  =========  =========================================
``mloop_requests_total``            counter    endpoint, deployed_model, version, status
``mloop_request_duration_seconds``  histogram  endpoint, deployed_model (0.5 ms to 2 s)
``mloop_instances_total``           counter    endpoint, deployed_model
``mloop_errors_total``              counter    endpoint, kind (validation, model, ...)
``mloop_log_dropped_total``         counter    endpoint
``mloop_model_load_seconds``        histogram  endpoint, model, version
``mloop_model_info``                gauge      endpoint, deployed_model, model, version
==================================  =========  =========================================

Label values must come from a bounded set: a request for an endpoint that does not exist
should be counted under a fixed placeholder (say ``"unknown"``), not under the name it
asked for, and a request that failed before a deployed model was chosen under
``deployed_model=""``.

**Several worker processes** (``mloop serve --workers N``). Each worker counts in its own
memory, so a scrape would see one worker at random. prometheus_client's multi-process mode
fixes that: every worker writes its values to memory-mapped files in a shared directory and
:meth:`ServingMetrics.render` aggregates the directory. The parent process must, before
any worker starts, call :func:`setup_multiprocess_dir` (it empties the directory of a
previous run and sets ``PROMETHEUS_MULTIPROC_DIR``, which prometheus_client reads when it
is first imported — workers inherit it), and call :func:`mark_worker_dead` with the pid of
each worker that exits, so that its ``mloop_model_info`` stops counting. Counters and
histograms of dead workers keep counting, as Prometheus expects of counters.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mloop.errors import ConfigError

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = ["ServingMetrics", "mark_worker_dead", "setup_multiprocess_dir"]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

#: request latency: a tree model answers in ~0.5 ms, a timeout is a few seconds
REQUEST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0)
#: model loading: from a cached small model (10 ms) to downloading a large one (minutes)
LOAD_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class ServingMetrics:
    """The server's metrics, registered in ``registry`` (a private one by default).

    Labelled children are cached per label tuple, so recording a request costs one dict
    lookup and three updates. Safe to call from several threads.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values

        if os.environ.get(MULTIPROC_ENV) and not getattr(values.ValueClass, "_multiprocess", 0):
            raise ConfigError(
                f"{MULTIPROC_ENV} was set after prometheus_client was imported in this "
                "process, so its metrics would not be shared with the other workers; set it "
                "before starting the server (see mloop.serving.setup_multiprocess_dir)",
                env=MULTIPROC_ENV,
            )
        self.registry = registry if registry is not None else CollectorRegistry()
        reg = self.registry
        self._requests = Counter(
            "mloop_requests_total",
            "Prediction requests answered, by endpoint, deployed model, version and HTTP status.",
            ["endpoint", "deployed_model", "version", "status"],
            registry=reg,
        )
        self._duration = Histogram(
            "mloop_request_duration_seconds",
            "Time to answer a prediction request, in seconds.",
            ["endpoint", "deployed_model"],
            buckets=REQUEST_BUCKETS,
            registry=reg,
        )
        self._instances = Counter(
            "mloop_instances_total",
            "Instances (rows) predicted, by endpoint and deployed model.",
            ["endpoint", "deployed_model"],
            registry=reg,
        )
        self._errors = Counter(
            "mloop_errors_total",
            "Failed prediction requests, by endpoint and kind of failure.",
            ["endpoint", "kind"],
            registry=reg,
        )
        self._log_dropped = Counter(
            "mloop_log_dropped_total",
            "Request-response log records lost (full buffer or failing sink).",
            ["endpoint"],
            registry=reg,
        )
        self._model_load = Histogram(
            "mloop_model_load_seconds",
            "Time to load a model version for serving, in seconds.",
            ["endpoint", "model", "version"],
            buckets=LOAD_BUCKETS,
            registry=reg,
        )
        self._model_info = Gauge(
            "mloop_model_info",
            "1 for each model version an endpoint serves now.",
            ["endpoint", "deployed_model", "model", "version"],
            registry=reg,
            multiprocess_mode="livemax",
        )
        self._request_children: dict[tuple[str, str, int | str, int], tuple[Any, Any, Any]] = {}
        self._error_children: dict[tuple[str, str], Any] = {}
        self._drop_children: dict[str, Any] = {}
        self._serving: dict[tuple[str, str], tuple[str, str]] = {}

    def observe_request(
        self,
        endpoint: str,
        deployed_model_id: str,
        model_version: int | str,
        status: int,
        seconds: float,
        instances: int,
    ) -> None:
        """Count one answered request, its latency and the instances it predicted."""
        key = (endpoint, deployed_model_id, model_version, status)
        children = self._request_children.get(key)
        if children is None:
            children = (
                self._requests.labels(endpoint, deployed_model_id, str(model_version), str(status)),
                self._duration.labels(endpoint, deployed_model_id),
                self._instances.labels(endpoint, deployed_model_id),
            )
            self._request_children[key] = children
        requests, duration, predicted = children
        requests.inc()
        duration.observe(seconds)
        if instances:
            predicted.inc(instances)

    def count_error(self, endpoint: str, kind: str) -> None:
        """Count a failed request by kind (``validation``, ``model``, ``timeout``…)."""
        child = self._error_children.get((endpoint, kind))
        if child is None:
            child = self._error_children[(endpoint, kind)] = self._errors.labels(endpoint, kind)
        child.inc()

    def count_log_drop(self, endpoint: str, n: int) -> None:
        """Count ``n`` serving-log records lost; fits ``RequestLogger.on_drop``."""
        child = self._drop_children.get(endpoint)
        if child is None:
            child = self._drop_children[endpoint] = self._log_dropped.labels(endpoint)
        child.inc(n)

    def observe_model_load(self, endpoint: str, model: str, version: int, seconds: float) -> None:
        """Record how long loading a model version for ``endpoint`` took."""
        self._model_load.labels(endpoint, model, str(version)).observe(seconds)

    def set_model_info(
        self, endpoint: str, deployed_model_id: str, model: str, version: int
    ) -> None:
        """Say that ``deployed_model_id`` of ``endpoint`` now serves ``model`` v``version``.

        The series of what it served before goes to 0 (removed, in a single process).
        """
        current = (model, str(version))
        previous = self._serving.get((endpoint, deployed_model_id))
        if previous is not None and previous != current:
            self._unset_info(endpoint, deployed_model_id, previous)
        self._serving[(endpoint, deployed_model_id)] = current
        self._model_info.labels(endpoint, deployed_model_id, *current).set(1)

    def clear_model_info(self, endpoint: str, deployed_model_id: str) -> None:
        """Say that ``deployed_model_id`` of ``endpoint`` no longer serves (undeployed)."""
        previous = self._serving.pop((endpoint, deployed_model_id), None)
        if previous is not None:
            self._unset_info(endpoint, deployed_model_id, previous)

    def _unset_info(self, endpoint: str, deployed_model_id: str, served: tuple[str, str]) -> None:
        if os.environ.get(MULTIPROC_ENV):  # series cannot be removed from the shared files
            self._model_info.labels(endpoint, deployed_model_id, *served).set(0)
        else:
            self._model_info.remove(endpoint, deployed_model_id, *served)

    def render(self) -> tuple[bytes, str]:
        """The exposition body and its content type, for ``GET /metrics``.

        With ``PROMETHEUS_MULTIPROC_DIR`` set, the values of every worker, aggregated.
        """
        from prometheus_client import CollectorRegistry, exposition, generate_latest
        from prometheus_client.multiprocess import MultiProcessCollector

        content_type = getattr(
            exposition, "CONTENT_TYPE_PLAIN_0_0_4", exposition.CONTENT_TYPE_LATEST
        )
        directory = os.environ.get(MULTIPROC_ENV)
        if not directory:
            return generate_latest(self.registry), content_type
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
        return generate_latest(registry), content_type


def setup_multiprocess_dir(directory: str | Path) -> Path:
    """Prepare ``directory`` for the metrics of several workers; call in the parent first.

    Creates it, removes the files of a previous run (their counts would be added to this
    one's) and sets ``PROMETHEUS_MULTIPROC_DIR`` for this process and its children. Must run
    before this process imports prometheus_client if this process records metrics itself.
    """
    path = Path(directory).absolute()
    if path.is_dir():
        for stale in path.glob("*.db"):
            stale.unlink(missing_ok=True)
    else:
        path.mkdir(parents=True, exist_ok=True)
    os.environ[MULTIPROC_ENV] = str(path)
    return path


def mark_worker_dead(pid: int) -> None:
    """Forget the live gauges (``mloop_model_info``) of a worker that exited; call in the parent."""
    directory = os.environ.get(MULTIPROC_ENV)
    if directory:
        from prometheus_client.multiprocess import mark_process_dead

        mark_process_dead(pid, path=directory)  # type: ignore[no-untyped-call]

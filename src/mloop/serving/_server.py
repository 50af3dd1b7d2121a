"""What one server process holds: its endpoints, their models, the request log, the metrics.

:class:`Serving` reads the endpoints from the metadata store, loads every deployment's model
before it reports ready, and keeps them current from a background thread: every
``refresh_interval`` seconds it asks the store which endpoints changed (one cheap query) and
the registry where followed aliases point, loads what is new *beside* what serves, and swaps
(see :mod:`mloop.serving._pool`). Requests never wait for that work.

Routing: each request of an endpoint goes to one serving deployment, chosen at random in
proportion to its traffic percent; shadow deployments get a copy of the rows after the
response is sent, and their predictions are logged, never returned.
"""

from __future__ import annotations

import gc
import itertools
import logging
import os
import random
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mloop.errors import NotFoundError
from mloop.ml._flavors import labels_from_scores
from mloop.ml._packaged import probabilities
from mloop.serving._log_tables import FeatureColumns, FeatureRows
from mloop.serving._pool import LoadedModel, ModelPool

if TYPE_CHECKING:
    import numpy as np

    from mloop.config import Settings
    from mloop.serving._batching import MicroBatcher
    from mloop.serving._codec import Instances
    from mloop.serving._endpoints import Endpoint, Endpoints
    from mloop.serving._logging import RequestLogger
    from mloop.serving._metrics import ServingMetrics

__all__ = ["Outcome", "Route", "Serving"]

log = logging.getLogger("mloop.serving")


@dataclass(frozen=True, slots=True)
class Route:
    """One deployment of an endpoint, as the router sees it."""

    id: str
    uri: str
    traffic: int
    shadow: bool


@dataclass(frozen=True, slots=True)
class EndpointRuntime:
    """An endpoint's routing table (immutable: a change builds a new one)."""

    name: str
    revision: tuple[datetime, int]  # created_at, generation: a change of either is news
    log_sample_rate: float
    routes: tuple[Route, ...]  # serving deployments, traffic > 0
    shadows: tuple[Route, ...]
    bounds: tuple[int, ...]  # cumulative traffic of routes, ends at 100

    @classmethod
    def of(cls, endpoint: Endpoint) -> EndpointRuntime:
        routes, shadows, bounds, total = [], [], [], 0
        for d in endpoint.deployments:
            route = Route(d.id or "", d.model, d.traffic, d.shadow)
            if d.shadow:
                shadows.append(route)
            elif d.traffic > 0:
                routes.append(route)
                total += d.traffic
                bounds.append(total)
        return cls(
            endpoint.name,
            (endpoint.created_at, endpoint.generation),
            endpoint.log_sample_rate,
            tuple(routes),
            tuple(shadows),
            tuple(bounds),
        )

    def choose(self, draw: float) -> Route:
        """The route for a uniform ``draw`` in [0, 100)."""
        for route, bound in zip(self.routes, self.bounds, strict=True):
            if draw < bound:
                return route
        return self.routes[-1]

    def by_version(self, pool: ModelPool, version: str) -> tuple[Route, LoadedModel]:
        """The serving (or shadow) deployment currently on model version ``version``."""
        for route in (*self.routes, *self.shadows):
            loaded = pool.get(route.uri)
            if str(loaded.version) == version:
                return route, loaded
        serving = sorted({str(pool.get(r.uri).version) for r in self.routes})
        raise NotFoundError(
            f"endpoint {self.name!r} serves no version {version!r} (versions: "
            f"{', '.join(serving)})",
            endpoint=self.name,
            version=version,
        )


@dataclass(slots=True)
class Outcome:
    """What a prediction request produced."""

    request_id: str
    endpoint: EndpointRuntime
    route: Route
    loaded: LoadedModel
    predictions: np.ndarray
    scores: np.ndarray | None  # class probabilities (classification), else None
    started: float  # perf_counter at the start of the request
    seconds: float = 0.0

    @classmethod
    def of(
        cls,
        request_id: str | None,
        endpoint: EndpointRuntime,
        route: Route,
        loaded: LoadedModel,
        result: tuple[np.ndarray, np.ndarray | None],
        started: float,
    ) -> Outcome:
        """The outcome of a prediction that started at ``started`` and ends now."""
        predictions, scores = result
        seconds = time.perf_counter() - started
        return cls(
            request_id or _new_request_id(),
            endpoint,
            route,
            loaded,
            predictions,
            scores,
            started,
            seconds,
        )


class Serving:
    """The state of one server process (see the module doc)."""

    def __init__(
        self,
        settings: Settings,
        endpoints: list[str] | None = None,
        *,
        refresh_interval: float = 1.0,
        log_requests: bool = True,
        metrics: ServingMetrics | None = None,
        batch_max_size: int | None = None,
        batch_max_wait: float = 0.0,
    ) -> None:
        self.settings = settings
        self.names = list(endpoints) if endpoints else None  # None: every endpoint
        self.refresh_interval = refresh_interval
        self.log_requests = log_requests
        self._metrics = metrics
        self._runtimes: dict[str, EndpointRuntime] = {}
        self._pool: ModelPool | None = None
        self._registry: Any = None
        self._endpoints: Endpoints | None = None
        self._logger: RequestLogger | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._random = random.Random()
        self._batcher: MicroBatcher | None = None
        if batch_max_size is not None and batch_max_size > 1:
            from mloop.serving._batching import MicroBatcher

            self._batcher = MicroBatcher(
                run_model, max_size=batch_max_size, max_wait=batch_max_wait
            )
        self.ready = False

    # Lifecycle ---------------------------------------------------------------------------

    @property
    def metrics(self) -> ServingMetrics:
        if self._metrics is None:
            from mloop.serving._metrics import ServingMetrics

            self._metrics = ServingMetrics()
        return self._metrics

    @property
    def pool(self) -> ModelPool:
        assert self._pool is not None, "Serving.start() first"
        return self._pool

    @property
    def batcher(self) -> MicroBatcher | None:
        return self._batcher

    @property
    def logger(self) -> RequestLogger | None:
        return self._logger

    def start(self) -> None:
        """Read the endpoints, load every model, start the refresher and the request log."""
        from mloop.registry import Registry
        from mloop.serving._endpoints import Endpoints

        self._registry = Registry(self.settings)
        self._endpoints = Endpoints(self.settings)
        self._pool = ModelPool(self._registry, on_load=self._loaded)
        self._load_endpoints(initial=True)
        if self.log_requests:
            from mloop.serving._logging import RequestLogger

            self._logger = RequestLogger(
                self.settings.resolved_serving_log_root,
                storage_options=dict(self.settings.storage_options),
            )
            self._logger.on_drop = self.metrics.count_log_drop
        self._thread = threading.Thread(
            target=self._refresh_loop, name="mloop-refresh", daemon=True
        )
        self._thread.start()
        # What is loaded now lives as long as the server: keep it out of the cycle
        # collector's full passes, which otherwise scan every module, model and store
        # object for tens of milliseconds while requests wait (the p99 of serving).
        gc.collect()
        gc.freeze()
        self.ready = True

    def stop(self) -> None:
        """Stop refreshing and flush the request log (graceful shutdown)."""
        self.ready = False
        gc.unfreeze()  # what start() froze can be collected again
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._logger is not None:
            self._logger.close()
        if self._endpoints is not None:
            self._endpoints.close()
        if self._registry is not None:
            self._registry.close()

    def _loaded(self, loaded: LoadedModel) -> None:
        for runtime in self._runtimes.values():
            for route in (*runtime.routes, *runtime.shadows):
                if route.uri == loaded.uri:
                    self.metrics.observe_model_load(
                        runtime.name, loaded.name, loaded.version, loaded.load_seconds
                    )

    def _load_endpoints(self, *, initial: bool = False) -> None:
        assert self._endpoints is not None
        if self.names is None:
            found = self._endpoints.list()
        else:
            found = [self._endpoints.get(name) for name in self.names]
        runtimes = {e.name: EndpointRuntime.of(e) for e in found}
        for name, old in self._runtimes.items():  # deployments that are gone
            new = runtimes.get(name)
            kept = {r.id for r in (*new.routes, *new.shadows)} if new else set()
            for route in (*old.routes, *old.shadows):
                if route.id not in kept:
                    self.metrics.clear_model_info(name, route.id)
        # Load new models before the new routing table takes traffic.
        for runtime in runtimes.values():
            for route in (*runtime.routes, *runtime.shadows):
                try:
                    self.pool.get(route.uri)
                except Exception:
                    if initial:
                        raise
                    log.exception("endpoint %s: cannot load %s", runtime.name, route.uri)
        self._runtimes = runtimes
        self.pool.retain(r.uri for rt in runtimes.values() for r in (*rt.routes, *rt.shadows))
        for runtime in runtimes.values():
            for route in (*runtime.routes, *runtime.shadows):
                if route.uri in self.pool:
                    loaded = self.pool.get(route.uri)
                    self.metrics.set_model_info(runtime.name, route.id, loaded.name, loaded.version)

    def refresh(self) -> None:
        """One refresh: endpoint definitions that changed, then aliases that moved."""
        assert self._endpoints is not None
        revisions = self._endpoints.revisions()
        wanted = self.names if self.names is not None else list(revisions)
        current = {n: r.revision for n, r in self._runtimes.items()}
        if {n: revisions.get(n) for n in wanted} != {n: current.get(n) for n in wanted}:
            self._load_endpoints()
        for uri, _old, new in self.pool.refresh():
            for runtime in self._runtimes.values():
                for route in (*runtime.routes, *runtime.shadows):
                    if route.uri == uri:
                        loaded = self.pool.get(uri)
                        self.metrics.set_model_info(runtime.name, route.id, loaded.name, new)

    def _refresh_loop(self) -> None:
        while not self._stop.wait(self.refresh_interval):
            try:
                self.refresh()
            except Exception:  # the store is down, say: keep serving what is loaded
                log.exception("refreshing endpoints failed; serving what is loaded")

    # Requests ----------------------------------------------------------------------------

    def endpoint(self, name: str) -> EndpointRuntime:
        runtime = self._runtimes.get(name)
        if runtime is None:
            known = ", ".join(sorted(self._runtimes)) or "none"
            raise NotFoundError(
                f"no endpoint {name!r} is served here (endpoints: {known})", endpoint=name
            )
        return runtime

    def endpoints(self) -> list[EndpointRuntime]:
        return [self._runtimes[n] for n in sorted(self._runtimes)]

    def route(
        self, endpoint: str, version: str | None = None
    ) -> tuple[EndpointRuntime, Route, LoadedModel]:
        """The endpoint, the deployment a request goes to (by traffic split, or the one on
        model ``version``) and the model serving it now."""
        runtime = self.endpoint(endpoint)
        if version is None:
            route = runtime.choose(self._random.random() * 100.0)
            return runtime, route, self.pool.get(route.uri)
        route, loaded = runtime.by_version(self.pool, version)
        return runtime, route, loaded

    def predict(
        self,
        endpoint: str,
        rows: Instances,
        *,
        version: str | None = None,
        request_id: str | None = None,
    ) -> Outcome:
        """Route ``rows`` to a deployment of ``endpoint`` (or the one on model ``version``)
        and predict; the signature check raises a 422 naming the column."""
        started = time.perf_counter()
        runtime, route, loaded = self.route(endpoint, version)
        result = run_model(loaded.model, rows)
        return Outcome.of(request_id, runtime, route, loaded, result, started)

    async def predict_async(
        self,
        endpoint: str,
        rows: Instances,
        *,
        version: str | None = None,
        request_id: str | None = None,
    ) -> Outcome:
        """:meth:`predict`, through the micro-batcher when batching is on."""
        if self._batcher is None:
            return self.predict(endpoint, rows, version=version, request_id=request_id)
        started = time.perf_counter()
        runtime, route, loaded = self.route(endpoint, version)
        key = (loaded.name, loaded.version)
        result = await self._batcher.submit(key, loaded.model, rows)
        return Outcome.of(request_id, runtime, route, loaded, result, started)

    async def after_response(self, outcome: Outcome, rows: Instances) -> None:
        """Metrics and the request log (microseconds: on the event loop, no thread hand-off
        and so no GIL contention), then the shadow deployments in a worker thread (a model
        may take long; the libraries release the GIL while they predict)."""
        logged = self._record(outcome, rows)
        if outcome.endpoint.shadows:
            from starlette.concurrency import run_in_threadpool

            await run_in_threadpool(self._run_shadows, outcome, rows, logged)

    def _record(self, outcome: Outcome, rows: Instances) -> bool:
        """Count the request and log it (when sampled); whether it was logged."""
        runtime = outcome.endpoint
        self.metrics.observe_request(
            runtime.name,
            outcome.route.id,
            outcome.loaded.version,
            200,
            outcome.seconds,
            len(rows),
        )
        logging_on = (
            self._logger is not None
            and runtime.log_sample_rate > 0
            and (runtime.log_sample_rate >= 1 or self._random.random() < runtime.log_sample_rate)
        )
        if logging_on:
            self._log(outcome, rows, shadow=False)
        return logging_on

    def _run_shadows(self, outcome: Outcome, rows: Instances, logged: bool) -> None:
        """Predict ``rows`` with each shadow deployment and log what it would have answered
        (when the request itself was ``logged``)."""
        runtime = outcome.endpoint
        for route in runtime.shadows:
            try:
                loaded = self.pool.get(route.uri)
                started = time.perf_counter()
                result = run_model(loaded.model, rows)
                shadow = Outcome.of(outcome.request_id, runtime, route, loaded, result, started)
            except Exception as exc:  # a shadow never affects the served request
                self.metrics.count_error(runtime.name, "shadow")
                log.warning("shadow %s of %s failed: %s", route.id, runtime.name, exc)
                continue
            if logged:
                self._log(shadow, rows, shadow=True)

    def _log(self, outcome: Outcome, rows: Instances, *, shadow: bool) -> None:
        """Queue the request's records (one per instance) with the request log."""
        assert self._logger is not None
        fields = {
            "request_id": outcome.request_id,
            "deployed_model_id": outcome.route.id,
            "model": outcome.loaded.name,
            "model_version": outcome.loaded.version,
            "shadow": shadow,
            "latency_ms": outcome.seconds * 1000.0,
        }
        self._logger.log_request(
            outcome.endpoint.name,
            fields,
            _logged_features(outcome.loaded, rows),
            outcome.predictions,
            outcome.scores,
        )


def _new_request_id() -> str:
    """32 hex digits, unique: 20 random to the process (drawn again in a forked child), then
    a counter (a random draw and format per request cost more than the rest of routing)."""
    return f"{_ID_PREFIX}{next(_ID_COUNTER):012x}"


def _new_id_prefix() -> None:
    global _ID_PREFIX, _ID_COUNTER
    _ID_PREFIX = f"{random.SystemRandom().getrandbits(80):020x}"
    _ID_COUNTER = itertools.count()


_ID_PREFIX = ""
_ID_COUNTER = itertools.count()
_new_id_prefix()
os.register_at_fork(after_in_child=_new_id_prefix)


def _logged_features(loaded: LoadedModel, rows: Instances) -> FeatureColumns | FeatureRows:
    """The request's features for the log, as the client sent them: the row dicts as they
    are when the model's input types are known (the writer converts them), else the model's
    input columns (every key of the rows for a model that does not name them)."""
    if loaded.log_schema is not None and isinstance(rows, list):
        return FeatureRows(rows, loaded.log_schema)
    return _feature_columns(loaded.model, rows)


def _feature_columns(model: Any, rows: Instances) -> FeatureColumns:
    """The request's features column by column: the model's input columns (every key of
    the rows for a model that does not name them)."""
    if not isinstance(rows, list):
        return FeatureColumns({str(c): rows[c].to_numpy() for c in rows.columns}, len(rows))
    names = getattr(model, "input_columns", None)
    if not names:
        keys: dict[str, None] = {}
        for row in rows:
            keys.update(dict.fromkeys(row))
        names = list(keys)
    return FeatureColumns.of_rows(rows, names)


def run_model(model: Any, rows: Instances) -> tuple[np.ndarray, np.ndarray | None]:
    """``(predictions, class probabilities or None)``: for a classifier the probabilities are
    computed once and the labels taken from them."""
    if model.task == "classification":
        scores = model.predict_scores(rows)
        return labels_from_scores(scores, model.classes), probabilities(scores)
    return model.predict(rows), None

"""The model server: an ASGI (Starlette) app over :class:`~mloop.serving._server.Serving`.

Routes (the OpenAPI document at ``/openapi.json`` describes each):

- Open Inference Protocol (KServe V2), the model name being the endpoint name and the model
  version the registry version: ``GET /v2/health/live``, ``/v2/health/ready``, ``/v2``,
  ``/v2/models/{name}[/versions/{version}]``, ``.../ready``; ``POST .../infer``.
- Vertex-style: ``POST /v1/endpoints/{endpoint}:predict`` and ``:explain``,
  ``GET /v1/endpoints`` and ``/v1/endpoints/{endpoint}``.
- ``GET /metrics`` (Prometheus).

A client's mistake is a 4xx whose message names the field (never a 500); the model runs on
the event loop's thread (a prediction is a few hundred microseconds: a thread hop would cost
as much), metrics, the request log and shadow deployments run after the response is sent.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from mloop.errors import MloopError
from mloop.serving._codec import (
    V2_TYPES,
    RequestError,
    json_values,
    parse_instances,
    parse_v2_inputs,
    v2_output,
)

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

    from mloop.config import Settings
    from mloop.serving._server import Outcome, Serving

__all__ = ["create_app"]

log = logging.getLogger("mloop.serving")

SERVER_NAME = "mloop"


def create_app(serving: Serving) -> Starlette:
    """The ASGI app serving ``serving``'s endpoints (started on startup, stopped on
    shutdown, flushing the request log)."""
    from starlette.applications import Starlette
    from starlette.routing import Route

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if not serving.ready:
            serving.start()
        try:
            yield
        finally:
            serving.stop()

    h = _Handlers(serving)
    routes = [  # prediction routes first: Starlette tries routes in order
        Route("/v1/endpoints/{target}", h.vertex, methods=["GET", "POST"]),
        Route("/v2/models/{name}/infer", h.infer, methods=["POST"]),
        Route("/v2/models/{name}/versions/{version}/infer", h.infer, methods=["POST"]),
        Route("/v2/health/live", h.live, methods=["GET"]),
        Route("/v2/health/ready", h.ready, methods=["GET"]),
        Route("/v2", h.server_metadata, methods=["GET"]),
        Route("/v2/models/{name}", h.model_metadata, methods=["GET"]),
        Route("/v2/models/{name}/versions/{version}", h.model_metadata, methods=["GET"]),
        Route("/v2/models/{name}/ready", h.model_ready, methods=["GET"]),
        Route("/v2/models/{name}/versions/{version}/ready", h.model_ready, methods=["GET"]),
        Route("/v1/endpoints", h.list_endpoints, methods=["GET"]),
        Route("/metrics", h.metrics, methods=["GET"]),
        Route("/openapi.json", h.openapi, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def app_from_environment() -> Starlette:
    """The app ``mloop serve --workers N`` gives each uvicorn worker (settings from env)."""
    import os

    from mloop.config import load_settings
    from mloop.serving._server import Serving

    names = [n for n in os.environ.get("MLOOP_SERVE_ENDPOINTS", "").split(",") if n]
    size, _, wait = os.environ.get("MLOOP_SERVE_BATCH", "0:0").partition(":")
    settings = load_settings()
    serving = Serving(
        settings,
        names or None,
        refresh_interval=float(os.environ.get("MLOOP_SERVE_REFRESH", "1.0")),
        log_requests=os.environ.get("MLOOP_SERVE_LOG", "1") == "1",
        batch_max_size=int(size) or None,
        batch_max_wait=float(wait or 0),
    )
    return create_app(serving)


def _json(content: Any, status: int = 200) -> Response:
    from starlette.responses import Response

    return Response(_dumps(content), status_code=status, media_type="application/json")


def _dumps(content: Any) -> bytes:
    return json.dumps(content, separators=(",", ":"), allow_nan=False).encode()


_PREDICTIONS = b'{"predictions":'


class _Answer:
    """A 200 JSON response (``body``) that runs ``after(outcome, rows)`` once it is sent:
    what Starlette's ``Response`` with a ``BackgroundTask`` does, without working out
    headers and whether ``after`` is a coroutine function per request."""

    __slots__ = ("after", "body", "outcome", "rows")
    status_code = 200

    def __init__(
        self, body: bytes, after: Callable[..., Awaitable[None]], outcome: Outcome, rows: Any
    ) -> None:
        self.body = body
        self.after = after
        self.outcome = outcome
        self.rows = rows

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"content-length", b"%d" % len(self.body)), _CONTENT_TYPE]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})
        await self.after(self.outcome, self.rows)


_CONTENT_TYPE = (b"content-type", b"application/json")


async def _body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        raise RequestError("the request body is empty; send a JSON object")
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RequestError(f"the request body is not valid JSON: {exc}") from None


class _Handlers:
    def __init__(self, serving: Serving) -> None:
        self.serving = serving
        self._tails: dict[tuple[str, str, int], bytes] = {}

    # Errors: one place turns exceptions into responses in each protocol's shape.
    def _v2_error(self, exc: Exception) -> Response:
        status, message = _status(exc)
        return _json({"error": message}, status)

    def _vertex_error(self, exc: Exception) -> Response:
        status, message = _status(exc)
        return _json(
            {"error": {"code": status, "message": message, "status": _grpc(status)}}, status
        )

    # Open Inference Protocol ------------------------------------------------------------------

    async def live(self, request: Request) -> Response:
        return _json({"live": True})

    async def ready(self, request: Request) -> Response:
        ready = self.serving.ready
        return _json({"ready": ready}, 200 if ready else 503)

    async def server_metadata(self, request: Request) -> Response:
        from mloop import __version__

        return _json({"name": SERVER_NAME, "version": __version__, "extensions": []})

    async def model_metadata(self, request: Request) -> Response:
        try:
            name = request.path_params["name"]
            version = request.path_params.get("version")
            runtime = self.serving.endpoint(name)
            pool = self.serving.pool
            if version is not None:
                _, loaded = runtime.by_version(pool, version)
            else:
                loaded = pool.get(runtime.routes[0].uri)
            versions = sorted({str(pool.get(r.uri).version) for r in runtime.routes})
            return _json(_v2_metadata(name, versions, loaded))
        except Exception as exc:
            return self._v2_error(exc)

    async def model_ready(self, request: Request) -> Response:
        try:
            name = request.path_params["name"]
            runtime = self.serving.endpoint(name)
            version = request.path_params.get("version")
            if version is not None:
                runtime.by_version(self.serving.pool, version)
            return _json({"name": name, "ready": self.serving.ready})
        except Exception as exc:
            return self._v2_error(exc)

    async def infer(self, request: Request) -> Response:
        try:
            name = request.path_params["name"]
            version = request.path_params.get("version")
            body = await _body(request)
            signature = self._signature(name, version)
            frame, v2 = parse_v2_inputs(body, signature)
            outcome = self.serving.predict(name, frame, version=version, request_id=_request_id(v2))
        except Exception as exc:
            self._count_error(request, exc)
            return self._v2_error(exc)
        outputs = [v2_output("predict", outcome.predictions)]
        if outcome.scores is not None:
            outputs.append(v2_output("predict_proba", outcome.scores))
        wanted = v2.get("outputs")
        if isinstance(wanted, list) and wanted:
            names = {o.get("name") for o in wanted if isinstance(o, dict)}
            unknown = names - {o["name"] for o in outputs}
            if unknown:
                return self._v2_error(
                    RequestError(
                        f"unknown output(s) {sorted(map(str, unknown))} "
                        "(outputs: predict, predict_proba for classifiers)"
                    )
                )
            outputs = [o for o in outputs if o["name"] in names]
        response: dict[str, Any] = {
            "model_name": name,
            "model_version": str(outcome.loaded.version),
            "id": outcome.request_id,
            "outputs": outputs,
        }
        return _json_after(response, self.serving.after_response, outcome, frame)

    def _signature(self, name: str, version: str | None) -> Any:
        runtime = self.serving.endpoint(name)
        pool = self.serving.pool
        if version is not None:
            _, loaded = runtime.by_version(pool, version)
        else:
            loaded = pool.get(runtime.routes[0].uri)
        return loaded.model.signature

    def _count_error(self, request: Request, exc: Exception) -> None:
        endpoint = request.path_params.get("name") or request.path_params.get("target", "")
        endpoint = str(endpoint).split(":")[0]
        if endpoint not in {r.name for r in self.serving.endpoints()}:
            endpoint = "unknown"  # never a label per arbitrary URL
        status, _ = _status(exc)
        kind = "validation" if status < 500 else "server"
        with contextlib.suppress(Exception):  # metrics never fail a request
            self.serving.metrics.count_error(endpoint, kind)

    # Vertex-style ------------------------------------------------------------------------------

    async def list_endpoints(self, request: Request) -> Response:
        return _json({"endpoints": [self._describe(r.name) for r in self.serving.endpoints()]})

    async def vertex(self, request: Request) -> Response | _Answer:
        target = request.path_params["target"]
        name, _, verb = target.partition(":")
        try:
            if request.method == "GET":
                if verb:
                    raise RequestError(f"GET /v1/endpoints/{target}: use POST for :{verb}")
                return _json(self._describe(name))
            if verb not in ("predict", "explain"):
                raise RequestError(
                    f"unknown method {verb!r}: POST /v1/endpoints/{name}:predict or :explain"
                    if verb
                    else f"POST /v1/endpoints/{name}:predict (or :explain)"
                )
            return await self._vertex_predict(request, name, explain=verb == "explain")
        except Exception as exc:
            self._count_error(request, exc)
            return self._vertex_error(exc)

    async def _vertex_predict(
        self, request: Request, name: str, *, explain: bool
    ) -> Response | _Answer:
        body = await _body(request)
        runtime = self.serving.endpoint(name)
        signature = self.serving.pool.get(runtime.routes[0].uri).model.signature
        rows, parameters = parse_instances(body, signature)
        outcome = await self.serving.predict_async(
            name, rows, request_id=request.headers.get("x-request-id")
        )
        predictions = json_values(outcome.predictions)
        if not explain and not parameters.get("scores", False):  # the common answer, quickly
            body = b"".join((_PREDICTIONS, _dumps(predictions), self._vertex_tail(outcome)))
            return _Answer(body, self.serving.after_response, outcome, rows)
        response: dict[str, Any] = {
            "predictions": predictions,
            "deployed_model_id": outcome.route.id,
            "model": outcome.loaded.name,
            "model_version_id": str(outcome.loaded.version),
        }
        if outcome.scores is not None and parameters.get("scores", False):
            response["scores"] = outcome.scores.tolist()
            response["classes"] = json_values(list(outcome.loaded.model.classes or []))
        if explain:
            response["explanations"] = _explanations(outcome, rows)
        return _json_after(response, self.serving.after_response, outcome, rows)

    def _vertex_tail(self, outcome: Outcome) -> bytes:
        """The end of a prediction response after its predictions: which deployment and
        model version answered (built once per deployment and version)."""
        key = (outcome.route.id, outcome.loaded.name, outcome.loaded.version)
        tail = self._tails.get(key)
        if tail is None:
            if len(self._tails) > 1024:  # deployments and versions come and go
                self._tails.clear()
            fields = {
                "deployed_model_id": outcome.route.id,
                "model": outcome.loaded.name,
                "model_version_id": str(outcome.loaded.version),
            }
            tail = self._tails[key] = b"," + _dumps(fields)[1:]
        return tail

    def _describe(self, name: str) -> dict[str, Any]:
        runtime = self.serving.endpoint(name)
        pool = self.serving.pool

        def deployment(route: Any) -> dict[str, Any]:
            loaded = pool.get(route.uri) if route.uri in pool else None
            return {
                "id": route.id,
                "model": route.uri,
                "model_version_id": str(loaded.version) if loaded else None,
                "traffic": route.traffic,
                "shadow": route.shadow,
            }

        return {
            "name": runtime.name,
            "deployed_models": [deployment(r) for r in (*runtime.routes, *runtime.shadows)],
            "traffic_split": {r.id: r.traffic for r in runtime.routes},
            "log_sample_rate": runtime.log_sample_rate,
        }

    # Operations --------------------------------------------------------------------------------

    async def metrics(self, request: Request) -> Response:
        from starlette.responses import Response

        body, content_type = self.serving.metrics.render()
        return Response(body, media_type=content_type)

    async def openapi(self, request: Request) -> Response:
        from mloop.serving._openapi import document

        return _json(document())


def _json_after(
    content: Any, after: Callable[..., Awaitable[None]], outcome: Outcome, rows: Any
) -> Response:
    """A JSON response that runs ``after(outcome, rows)`` once it is sent."""
    from starlette.background import BackgroundTask

    response = _json(content)
    response.background = BackgroundTask(after, outcome, rows)
    return response


def _request_id(body: dict[str, Any]) -> str | None:
    value = body.get("id")
    return str(value) if value is not None else None


def _explanations(outcome: Outcome, rows: Any) -> list[dict[str, Any]]:
    """Vertex's shape: per instance, one attribution per output with feature attributions
    that add up (with the baseline) to the instance's raw output."""
    explanation = outcome.loaded.model.explain(rows)
    out = []
    for record in explanation.to_records():
        out.append(
            {
                "attributions": [
                    {
                        "baselineOutputValue": record.get("base_value"),
                        "instanceOutputValue": record.get("output_value"),
                        "featureAttributions": record.get("attributions"),
                        "outputName": explanation.output,
                        "method": explanation.method,
                    }
                ]
            }
        )
    return out


def _v2_metadata(name: str, versions: list[str], loaded: Any) -> dict[str, Any]:
    model = loaded.model
    signature = model.signature
    inputs = [
        {"name": c.name, "datatype": V2_TYPES.get(c.type, "BYTES"), "shape": [-1]}
        for c in (signature.inputs if signature is not None else [])
    ]
    outputs = [{"name": "predict", "datatype": "FP64", "shape": [-1]}]
    if model.task == "classification":
        outputs[0]["datatype"] = (
            "INT64" if all(isinstance(c, int) for c in model.classes or []) else "BYTES"
        )
        outputs.append(
            {"name": "predict_proba", "datatype": "FP64", "shape": [-1, len(model.classes or [])]}
        )
    return {
        "name": name,
        "versions": versions,
        "platform": f"mloop-{model.flavor}",
        "inputs": inputs,
        "outputs": outputs,
        "parameters": {"model": loaded.name, "version": str(loaded.version), "task": model.task},
    }


def _status(exc: Exception) -> tuple[int, str]:
    if isinstance(exc, MloopError):
        return exc.http_status, exc.message if hasattr(exc, "message") else str(exc)
    log.exception("internal error while serving a request")
    return 500, f"internal error: {type(exc).__name__}: {exc}"


def _grpc(status: int) -> str:
    return {
        400: "INVALID_ARGUMENT",
        404: "NOT_FOUND",
        409: "ABORTED",
        413: "INVALID_ARGUMENT",
        422: "INVALID_ARGUMENT",
        503: "UNAVAILABLE",
    }.get(status, "INTERNAL" if status >= 500 else "FAILED_PRECONDITION")


def serve(
    settings: Settings,
    endpoints: list[str] | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    workers: int = 1,
    refresh_interval: float = 1.0,
    log_requests: bool = True,
    batch_max_size: int | None = None,
    batch_max_wait: float = 0.0,
) -> None:
    """Run the server until interrupted (``mloop serve``)."""
    import os

    import uvicorn

    if workers > 1:
        # Metrics of every worker in one /metrics: prometheus_client's multiprocess mode,
        # set up before any worker imports it.
        from mloop.serving._metrics import setup_multiprocess_dir

        setup_multiprocess_dir(settings.home / "run" / "prometheus")
        # Each worker builds its own app from the environment (settings, endpoints).
        os.environ["MLOOP_SERVE_ENDPOINTS"] = ",".join(endpoints or [])
        os.environ["MLOOP_SERVE_REFRESH"] = str(refresh_interval)
        os.environ["MLOOP_SERVE_LOG"] = "1" if log_requests else "0"
        os.environ["MLOOP_SERVE_BATCH"] = f"{batch_max_size or 0}:{batch_max_wait}"
        os.environ["MLOOP_HOME"] = str(settings.home)
        uvicorn.run(
            "mloop.serving._app:app_from_environment",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="warning",
        )
        return
    from mloop.serving._server import Serving

    serving = Serving(
        settings,
        endpoints,
        refresh_interval=refresh_interval,
        log_requests=log_requests,
        batch_max_size=batch_max_size,
        batch_max_wait=batch_max_wait,
    )
    serving.start()  # load every model before the port opens: ready means ready
    uvicorn.run(create_app(serving), host=host, port=port, log_level="warning")

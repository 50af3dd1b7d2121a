"""``mloop serve``: the model server for the stored endpoints."""

from __future__ import annotations

from typing import Annotated

import typer

from mloop.cli._render import err_console
from mloop.cli._state import settings_from


def serve(
    ctx: typer.Context,
    endpoints: Annotated[
        list[str] | None,
        typer.Argument(help="Endpoints to serve (default: every endpoint).", show_default=False),
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8080,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (uvicorn).")] = 1,
    refresh: Annotated[
        float,
        typer.Option(
            min=0.05, help="Seconds between checks for endpoint changes and moved aliases."
        ),
    ] = 1.0,
    log_requests: Annotated[
        bool, typer.Option("--log/--no-log", help="Request logging (endpoint sample rates).")
    ] = True,
    batch_max_size: Annotated[
        int,
        typer.Option(
            min=0, help="Adaptive micro-batching: rows per batch (0: off, one call per request)."
        ),
    ] = 0,
    batch_max_wait_ms: Annotated[
        float,
        typer.Option(
            min=0,
            help="Longest wait for a batch to fill (0: only requests that arrive together).",
        ),
    ] = 0.0,
) -> None:
    """Serve endpoints over HTTP: Open Inference Protocol (/v2/...) and Vertex-style
    (/v1/endpoints/NAME:predict, :explain), /metrics, /openapi.json."""
    from mloop.serving._app import serve as run

    settings = settings_from(ctx)
    shown = ", ".join(endpoints) if endpoints else "every endpoint"
    err_console.print(
        f"serving {shown} on http://{host}:{port} ({workers} worker(s)); "
        f"V2: /v2/models/NAME/infer, Vertex: /v1/endpoints/NAME:predict, docs: /openapi.json"
    )
    run(
        settings,
        list(endpoints or []),
        host=host,
        port=port,
        workers=workers,
        refresh_interval=refresh,
        log_requests=log_requests,
        batch_max_size=batch_max_size or None,
        batch_max_wait=batch_max_wait_ms / 1000.0,
    )

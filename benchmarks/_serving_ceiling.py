"""The ceiling of ``serving.py``: the least a Starlette server can do to serve the model.

    MLOOP_HOME=... python _serving_ceiling.py --uri models:/flights-delay/1 --port P

Loads the same ``PackagedModel`` mloop serves (``mloop.registry.load(uri)``) and answers
``POST /v1/endpoints/{target}`` (the path mloop's Vertex-style route has, so both take the
same requests) with an ``async def`` handler: ``json.loads(body)`` ->
``model.predict(instances)`` (the row dicts as parsed, the model's fastest input) -> a JSON
response ``{"predictions": [...]}``. No endpoint lookup or traffic split, no request validation
beyond what ``predict`` does (the model's signature check and transform), no request log,
no metrics, no background work. Served by uvicorn exactly as ``mloop serve`` runs its app:
``uvicorn.run(app, host=..., port=..., log_level="warning")``, one worker (so uvloop and
httptools when installed, no access log).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path


def build_app(uri: str):  # type: ignore[no-untyped-def]
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from mloop.config import load_settings
    from mloop.registry import load

    model = load(uri, load_settings(home=Path(os.environ["MLOOP_HOME"])))

    async def predict(request: Request) -> Response:
        body = json.loads(await request.body())
        predictions = model.predict(body["instances"]).tolist()
        return Response(
            json.dumps({"predictions": predictions}, separators=(",", ":")),
            media_type="application/json",
        )

    # Warm the model (its lazy initialization) before the port opens, as mloop does.
    model.predict([{c.name: "a" if c.type == "string" else 1 for c in model.signature.inputs}])
    return Starlette(routes=[Route("/v1/endpoints/{target}", predict, methods=["POST"])])


def main() -> None:
    import uvicorn

    ap = argparse.ArgumentParser()
    ap.add_argument("--uri", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()
    uvicorn.run(build_app(args.uri), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()

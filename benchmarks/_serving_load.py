"""The fallback load generator of ``serving.py``, used when ``wrk`` is not installed.

    python _serving_load.py --url http://127.0.0.1:P/path --bodies bodies.jsonl \
        --connections N --duration S

N keep-alive HTTP/1.1 connections in one asyncio loop (uvloop when installed), each sending
the next pre-built request as soon as the previous response is read (closed loop, like
wrk), rotating over the bodies of the file. Latency is measured per request from writing
it to having read the whole response. Prints the line wrk's script prints
(``WRKJSON {...}``: requests, duration, errors, latency percentiles in microseconds). A
Python client tops out early (a few thousand requests/s on one core), so figures from it
are a floor for fast servers; wrk is preferred.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from urllib.parse import urlsplit


def _requests(url: str, bodies: list[bytes]) -> list[bytes]:
    parts = urlsplit(url)
    path = parts.path or "/"
    host = parts.netloc
    return [
        (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(b)}\r\n\r\n"
        ).encode()
        + b
        for b in bodies
    ]


async def _connection(
    host: str,
    port: int,
    requests: list[bytes],
    start: int,
    stop_at: float,
    latencies: list[float],
    errors: dict[str, int],
) -> int:
    received = 0
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        errors["connect"] += 1
        return 0
    i = start
    try:
        while time.perf_counter() < stop_at:
            request = requests[i % len(requests)]
            i += 1
            t0 = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = None
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if length is None:
                errors["read"] += 1  # chunked answers are not expected from these servers
                break
            body = await reader.readexactly(length)
            latencies.append(time.perf_counter() - t0)
            received += len(head) + len(body)
            if not 200 <= status < 400:
                errors["status"] += 1
    except (asyncio.IncompleteReadError, ConnectionError, OSError):
        errors["read"] += 1
    finally:
        writer.close()
    return received


def _percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return 0.0
    k = min(len(ordered) - 1, max(0, round(q / 100.0 * len(ordered) + 0.5) - 1))
    return ordered[k]


async def _run(url: str, bodies: list[bytes], connections: int, duration: float) -> dict:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    requests = _requests(url, bodies)
    latencies: list[float] = []
    errors = {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0}
    t0 = time.perf_counter()
    stop_at = t0 + duration
    step = max(1, len(requests) // max(1, connections))
    received = await asyncio.gather(
        *(
            _connection(host, port, requests, c * step, stop_at, latencies, errors)
            for c in range(connections)
        )
    )
    elapsed = time.perf_counter() - t0
    us = sorted(x * 1e6 for x in latencies)
    mean = sum(us) / len(us) if us else 0.0
    stdev = (sum((x - mean) ** 2 for x in us) / len(us)) ** 0.5 if us else 0.0
    return {
        "requests": len(us),
        "duration_us": int(elapsed * 1e6),
        "bytes": sum(received),
        "errors": errors,
        "latency_us": {
            "p50": int(_percentile(us, 50)),
            "p90": int(_percentile(us, 90)),
            "p99": int(_percentile(us, 99)),
            "p99.9": int(_percentile(us, 99.9)),
            "mean": round(mean, 1),
            "stdev": round(stdev, 1),
            "min": int(us[0]) if us else 0,
            "max": int(us[-1]) if us else 0,
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--bodies", required=True)
    ap.add_argument("--connections", type=int, default=1)
    ap.add_argument("--duration", type=float, default=10.0)
    args = ap.parse_args()
    with open(args.bodies, "rb") as f:
        bodies = [line.rstrip(b"\n") for line in f if line.strip()]
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    result = runner(_run(args.url, bodies, args.connections, args.duration))
    print("WRKJSON " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()

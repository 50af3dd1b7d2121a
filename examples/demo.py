"""`make demo`: continuous training on real data, end to end, on the embedded defaults.

Runs the same commands a user types, and prints them first:
1. land nycflights13 as monthly Parquet files (the "data lake");
2. run examples/flights_delay.py:flights_delay on January-March: ingest → statistics →
   schema → validate → transform → train LightGBM → evaluate per carrier → push as champion;
3. run it again on April: the new model is evaluated against the champion on April's data
   and promoted only if it is better;
4. compare the two runs, and look at the registry: versions, aliases, the audit log, the
   model card, the lineage of the champion, and a load test of it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PIPELINE = "examples/flights_delay.py:flights_delay"
MODEL = "flights-delay"
PORT = int(os.environ.get("MLOOP_DEMO_PORT", "8765"))
URL = f"http://127.0.0.1:{PORT}"
FEATURES = ["carrier", "origin", "dest", "distance", "dep_hour", "weekday", "day"]


def shell(*args: str) -> None:
    print(f"\n\033[1m$ {' '.join(args)}\033[0m", flush=True)
    done = subprocess.run(list(args), cwd=ROOT, check=False)
    if done.returncode != 0:
        sys.exit(f"demo step failed: {' '.join(args)} (exit {done.returncode})")


def mloop(*args: str) -> None:
    print(f"\n\033[1m$ mloop {' '.join(args)}\033[0m", flush=True)
    done = subprocess.run([sys.executable, "-m", "mloop", *args], cwd=ROOT, check=False)
    if done.returncode != 0:
        sys.exit(f"demo step failed: mloop {' '.join(args)} (exit {done.returncode})")


def latest_run() -> str:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, mloop; print(json.dumps(mloop.Client().runs(limit=1)[0].id))",
        ],
        cwd=ROOT,
        text=True,
        capture_output=True,
        check=True,
    ).stdout
    return str(json.loads(out))


def may_flights(n: int) -> list[dict[str, Any]]:
    """Real requests: flights of May 2013 (a month no model has seen), as instances."""
    import pyarrow.compute as pc

    from mloop.datasets import nycflights13

    flights = nycflights13("flights")
    may = flights.filter(pc.equal(pc.month(flights["time_hour"]), 5)).slice(0, n).to_pandas()
    return [
        {
            "carrier": r.carrier,
            "origin": r.origin,
            "dest": r.dest,
            "distance": int(r.distance),
            "dep_hour": int(r.sched_dep_time // 100),
            "weekday": int(r.time_hour.weekday()),
            "day": int(r.day),
        }
        for r in may.itertuples()
    ]


def start_server(home: Path) -> subprocess.Popen[bytes]:
    print(f"\n\033[1m$ mloop serve flights --port {PORT} &\033[0m", flush=True)
    server = subprocess.Popen(
        [sys.executable, "-m", "mloop", "serve", "flights", "--port", str(PORT)],
        cwd=ROOT,
        env={**os.environ, "MLOOP_HOME": str(home)},
    )
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{URL}/v2/health/ready", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if server.poll() is not None:
            sys.exit(f"mloop serve exited with {server.returncode}")
        time.sleep(0.2)
    server.kill()
    sys.exit("mloop serve did not become ready in 60 s")


def send(rows: list[dict[str, Any]], what: str) -> Counter[str]:
    """One request per flight; prints the versions that answered and the latency."""
    import httpx

    versions: Counter[str] = Counter()
    delayed = 0
    started = time.perf_counter()
    with httpx.Client() as client:
        for row in rows:
            reply = client.post(f"{URL}/v1/endpoints/flights:predict", json={"instances": [row]})
            reply.raise_for_status()
            body = reply.json()
            versions[f"v{body['model_version_id']}"] += 1
            delayed += int(body["predictions"][0])
    seconds = time.perf_counter() - started
    answered = ", ".join(f"{v}: {n}" for v, n in sorted(versions.items()))
    print(
        f"{what}: {len(rows)} requests in {seconds:.2f} s ({seconds / len(rows) * 1000:.1f} ms "
        f"each, client included) — answered by {answered}; {delayed} predicted delayed"
    )
    return versions


def explain(row: dict[str, Any]) -> None:
    import httpx

    print(f"\n\033[1m$ POST {URL}/v1/endpoints/flights:explain\033[0m  {json.dumps(row)}")
    body = httpx.post(f"{URL}/v1/endpoints/flights:explain", json={"instances": [row]}).json()
    attribution = body["explanations"][0]["attributions"][0]
    print(
        f"prediction {body['predictions'][0]} (model v{body['model_version_id']}); "
        f"log-odds {attribution['instanceOutputValue']:.3f} = baseline "
        f"{attribution['baselineOutputValue']:.3f} + attributions:"
    )
    ranked = sorted(attribution["featureAttributions"].items(), key=lambda kv: -abs(kv[1]))
    for feature, value in ranked:
        print(f"  {feature:<10} {row[feature]!s:>6}  {value:+.3f}")


def main() -> None:
    home = Path(os.environ.get("MLOOP_HOME", ".mloop"))
    landing = home / "landing" / "flights"
    print(f"mloop demo — state in {home}/ (SQLite metadata, local artifact store)")
    shell(sys.executable, "examples/land_flights.py", str(landing), "--months", "1", "2", "3", "4")
    mloop("db", "upgrade")

    print("\nFirst run: January-March. There is no champion yet, so the model is pushed.")
    mloop(
        "run", PIPELINE, "-p", "start=2013-01-01", "-p", "end=2013-04-01", "-p", f"source={landing}"
    )
    first = latest_run()
    mloop("models", "show", MODEL)

    print("\nServe the champion: an endpoint that follows the alias, every request logged.")
    mloop(
        "endpoints",
        "create",
        "flights",
        "--model",
        f"models:/{MODEL}@champion",
        "--log-sample",
        "1.0",
    )
    server = start_server(home)
    try:
        requests = may_flights(600)
        send(requests[:300], "May flights")
        time.sleep(1.5)  # the request log is written off the request path, every second
        mloop("endpoints", "logs", "flights", "--since", "1h", "--limit", "5")
        explain(requests[0])

        print("\nSecond run: April. Evaluated against the champion on April's data.")
        mloop(
            "run",
            PIPELINE,
            "-p",
            "start=2013-04-01",
            "-p",
            "end=2013-05-01",
            "-p",
            f"source={landing}",
        )
        second = latest_run()
        time.sleep(2.0)  # the server notices the moved alias within a second and swaps
        send(requests[300:], "May flights after the second run")
        mloop("endpoints", "show", "flights")
    finally:
        print(f"\n\033[1m$ kill -TERM {server.pid}\033[0m  (graceful: the request log is flushed)")
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)

    mloop("experiments", "compare", first, second)
    mloop("models", "versions", MODEL)
    mloop("models", "audit", MODEL)
    mloop("lineage", f"models:/{MODEL}@champion", "--depth", "4")
    card = home / "flights-delay-card.html"
    mloop("models", "card", MODEL, "--alias", "champion", "--format", "html", "-o", str(card))
    mloop("models", "load-test", f"models:/{MODEL}@champion", "--rows", "1000")
    print(f"\nThe champion's model card: {card}")


if __name__ == "__main__":
    main()

"""Prefect 3 workload for ``pipeline_overhead.py`` — runs in the Prefect peer venv.

    python _peer_prefect.py --shape chain|fanout --n N

Prints one JSON line: ``{"contender": "prefect", "shape": ..., "n": ..., "steps": ...,
"wall_s": ..., "warmup_s": ..., "versions": {...}}``. ``wall_s`` is the wall time of one
flow run, measured in this process after imports and after a warm-up flow run (which starts
Prefect's ephemeral API server and creates its SQLite database, so that cost is reported as
``warmup_s`` and not charged to the steps).

Prefect runs with its defaults (default task runner = ThreadPoolTaskRunner, default result
persistence, default cache policy, state/metadata recorded in the ephemeral server's SQLite)
under a throw-away ``PREFECT_HOME``; analytics and the UI are off and nothing leaves the
machine (the ephemeral server listens on 127.0.0.1).
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import sys
import tempfile
import time


def _isolate() -> str:
    """Point Prefect at a fresh home before it is imported (settings are read at import)."""
    home = tempfile.mkdtemp(prefix="bench-prefect-")
    # Registered before Prefect is imported, so it runs after Prefect's own exit handlers
    # (which stop the ephemeral server that still has the SQLite file open).
    atexit.register(shutil.rmtree, home, True)
    os.environ["PREFECT_HOME"] = home
    for key in ("PREFECT_API_URL", "PREFECT_API_KEY", "PREFECT_PROFILES_PATH"):
        os.environ.pop(key, None)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_UI_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_UI_ENABLED", "false")
    os.environ.setdefault("PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ALLOW_EPHEMERAL_MODE", "true")
    # Prefect's loggers print every task run at INFO; that output goes to our stderr pipe.
    return home


def _wait_recorded(flow_run_id, steps: int, t0: float, timeout: float = 120.0) -> float | None:
    """Seconds from ``t0`` until the API has every task run of the flow run as COMPLETED.

    Prefect 3 records task-run states through the server's event pipeline, asynchronously:
    the flow call can return before all of them are in the database. This is the time until
    the metadata is complete (a second figure; the headline figure is the flow call itself).
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        TaskRunFilter,
        TaskRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import TaskRunSort

    flow_runs = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
    completed = TaskRunFilter(state=dict(type=TaskRunFilterStateType(any_=[StateType.COMPLETED])))
    with get_client(sync_client=True) as client:
        while time.perf_counter() - t0 < timeout:
            seen: set = set()
            offset = 0
            while True:  # the API serves at most 200 rows per page
                page = client.read_task_runs(
                    flow_run_filter=flow_runs,
                    task_run_filter=completed,
                    sort=TaskRunSort.ID_DESC,
                    limit=200,
                    offset=offset,
                )
                seen.update(r.id for r in page)
                offset += len(page)
                if len(page) < 200:
                    break
            if len(seen) >= steps:
                return time.perf_counter() - t0
            time.sleep(0.1)
    return None


def _flows():
    from prefect import flow, task

    @task
    def inc(x: int) -> int:
        return x + 1

    @task
    def collect(xs: list[int]) -> int:
        return len(xs)

    @flow(name="chain")
    def chain(n: int) -> int:
        h = inc(0)
        for _ in range(n - 1):
            h = inc(h)
        return h

    @flow(name="fanout")
    def fanout(n: int) -> int:
        src = inc(0)
        futures = [inc.submit(src) for _ in range(n)]
        return collect(futures)  # Prefect resolves the futures (waits for all of them)

    return {"chain": chain, "fanout": fanout}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", choices=["chain", "fanout"], required=True)
    ap.add_argument("--n", type=int, required=True)
    args = ap.parse_args()
    _isolate()
    import prefect

    fn = _flows()[args.shape]
    steps = args.n if args.shape == "chain" else args.n + 2  # + source and collect

    t0 = time.perf_counter()
    fn(2)  # warm-up: starts the ephemeral API server, creates and migrates its database
    warmup = time.perf_counter() - t0

    t0 = time.perf_counter()
    state = fn(args.n, return_state=True)
    wall = time.perf_counter() - t0
    recorded = _wait_recorded(state.state_details.flow_run_id, steps, t0)
    out = state.result()
    if out != args.n:
        raise SystemExit(f"prefect {args.shape}: unexpected result {out!r} != {args.n}")
    record = {
        "contender": "prefect",
        "shape": args.shape,
        "n": args.n,
        "steps": steps,
        "wall_s": wall,
        "recorded_s": recorded,
        "warmup_s": warmup,
        "versions": {"prefect": prefect.__version__},
    }
    print(json.dumps(record), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

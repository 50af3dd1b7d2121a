"""mloop workload for ``pipeline_overhead.py`` — runs in mloop's own environment.

    python _mloop_workload.py --executor inline|process --shape chain|fanout|cache --n N

Prints one JSON line: ``{"contender": "mloop-<executor>", "shape": ..., "n": ..., "steps": ...,
"wall_s": ..., "warmup_s": ..., "versions": {...}}``; ``wall_s`` is the wall time of one
``mloop.run`` call (it compiles the pipeline, records every execution, artifact and lineage
edge in SQLite, stores outputs under the local artifact root), measured in this process after
imports and after a warm-up run in the same fresh ``home``.

Shapes:
- ``chain``: ``inc(x=0)`` then N-1 ``inc(x=prev.output)`` — N steps, ``cache=False``;
- ``fanout``: one source ``inc(x=0)`` and N ``inc(x=src.output)`` steps (a plain Python loop;
  ``--fanout-style parallelfor`` uses ``ParallelFor`` + a collecting ``count`` step
  instead) — ``cache=False``;
- ``cache``: the chain run twice with the cache on; ``wall_s`` is the second run, in which
  every step is a cache hit.

If mloop's orchestrator cannot be imported, prints ``{"contender": ..., "unavailable": why}``
and exits with status 3 (the harness reports the contender as unavailable).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
UNAVAILABLE = 3


def _make_chain(n: int):
    from _mloop_components import inc

    from mloop import pipeline

    @pipeline(name=f"bench-chain-{n}")
    def chain():
        h = inc(x=0)
        for _ in range(n - 1):
            h = inc(x=h.output)

    return chain, n


def _make_fanout(n: int, style: str):
    from _mloop_components import count, inc

    from mloop import ParallelFor, pipeline

    if style == "parallelfor":

        @pipeline(name=f"bench-fanout-pf-{n}")
        def fanout_pf():
            src = inc(x=0)
            with ParallelFor(list(range(n))) as i:
                step = inc(x=i).after(src)
            count(xs=step.output)

        return fanout_pf, n + 2

    @pipeline(name=f"bench-fanout-{n}")
    def fanout():
        src = inc(x=0)
        for _ in range(n):
            inc(x=src.output)

    return fanout, n + 1


def _state(result) -> str:
    state = getattr(result, "state", None)
    return str(getattr(state, "value", state))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--executor", choices=["inline", "process"], required=True)
    ap.add_argument("--shape", choices=["chain", "fanout", "cache"], required=True)
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--fanout-style", choices=["loop", "parallelfor"], default="loop")
    args = ap.parse_args()
    contender = f"mloop-{args.executor}"

    # Workers of the process executor inherit the environment: let them import the components.
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p
    )
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    try:
        import mloop
        import mloop.config

        run = mloop.run  # lazy: imports the orchestrator
        if args.shape == "fanout":
            pipe, steps = _make_fanout(args.n, args.fanout_style)
        else:
            pipe, steps = _make_chain(args.n)
        warm, _ = _make_chain(2)
    except Exception as exc:  # any failure to get the API means "not there yet"
        why = f"{type(exc).__name__}: {exc}"
        print(json.dumps({"contender": contender, "shape": args.shape, "unavailable": why}))
        traceback.print_exc()
        return UNAVAILABLE

    home = Path(tempfile.mkdtemp(prefix="bench-mloop-"))
    try:
        settings = mloop.config.load_settings(home=home)
        cache = args.shape == "cache"

        def once(p) -> float:
            t0 = time.perf_counter()
            result = run(p, params={}, settings=settings, executor=args.executor, cache=cache)
            elapsed = time.perf_counter() - t0
            if _state(result) != "succeeded":
                raise SystemExit(f"{contender} {args.shape}: run ended {_state(result)!r}")
            return elapsed

        # Warm-up in the same home: creates the database and the artifact root, so that, as
        # for the peers, one-time set-up is not charged to the steps.
        warmup = once(warm)
        if args.shape == "cache":
            once(pipe)  # fills the cache; the timed run below is all hits
        wall = once(pipe)
        record = {
            "contender": contender,
            "shape": args.shape,
            "n": args.n,
            "steps": steps,
            "wall_s": wall,
            "warmup_s": warmup,
            "versions": {"mloop": getattr(mloop, "__version__", "?")},
        }
        print(json.dumps(record), flush=True)
        return 0
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

"""kfp.local workload for ``pipeline_overhead.py`` — runs in the kfp peer venv.

    python _peer_kfp.py --shape chain|fanout --n N

Prints one JSON line: ``{"contender": "kfp", "shape": ..., "n": ..., "steps": ...,
"wall_s": ..., "warmup_s": ..., "versions": {...}}``. ``wall_s`` is the wall time of one
local pipeline run, measured in this process after imports and after a warm-up run.

kfp.local runs with ``SubprocessRunner(use_venv=False)``: each step is a lightweight Python
component executed in a fresh ``python -m kfp.dsl.executor_main`` subprocess of this venv's
interpreter, with its outputs and executor metadata written under a throw-away
``pipeline_root`` (kfp.local's defaults; there is no metadata server in local mode).
"""

# No `from __future__ import annotations`: kfp reads component annotations at runtime.

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import time


def _pipelines():
    from kfp import dsl

    @dsl.component
    def inc(x: int) -> int:
        return x + 1

    @dsl.component
    def collect(xs: list) -> int:
        return len(xs)

    def make_chain(n: int):
        @dsl.pipeline(name=f"chain-{n}")
        def chain() -> int:
            h = inc(x=0)
            for _ in range(n - 1):
                h = inc(x=h.output)
            return h.output

        return chain

    def make_fanout(n: int):
        # The idiomatic kfp fan-out: dsl.ParallelFor + dsl.Collected. kfp.local runs the
        # loop's iterations on a thread pool (at most 2 at a time in kfp 2.17), so this is
        # also kfp's fastest fan-out; every iteration waits for the source step.
        @dsl.pipeline(name=f"fanout-{n}")
        def fanout() -> int:
            src = inc(x=0)
            with dsl.ParallelFor(items=list(range(n))) as item:
                t = inc(x=item).after(src)
            return collect(xs=dsl.Collected(t.output)).output

        return fanout

    def make_fanout_loop(n: int):
        # The same shape as a plain Python loop of n tasks consuming the source's output;
        # kfp.local runs such a DAG one task at a time.
        @dsl.pipeline(name=f"fanout-loop-{n}")
        def fanout_loop() -> int:
            src = inc(x=0)
            tasks = [inc(x=src.output) for _ in range(n)]
            done = collect(xs=list(range(n)))
            for t in tasks:
                done.after(t)
            return done.output

        return fanout_loop

    return {"chain": make_chain, "fanout": make_fanout, "fanout-loop": make_fanout_loop}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", choices=["chain", "fanout", "fanout-loop"], required=True)
    ap.add_argument("--n", type=int, required=True)
    args = ap.parse_args()

    import kfp
    from kfp import local

    root = tempfile.mkdtemp(prefix="bench-kfp-")
    try:
        local.init(
            runner=local.SubprocessRunner(use_venv=False),
            pipeline_root=os.path.join(root, "pipeline_root"),
        )
        # kfp.local logs every task (and its subprocess output) at INFO to stdout/stderr;
        # keep the default, the harness reads only our last stdout line.
        logging.getLogger("kfp").setLevel(logging.INFO)
        make = _pipelines()[args.shape]
        steps = args.n if args.shape == "chain" else args.n + 2  # + source and collect

        warm = make(2)
        t0 = time.perf_counter()
        warm()  # warm-up: first subprocess spawns, page cache, pipeline_root creation
        warmup = time.perf_counter() - t0

        pipe = make(args.n)
        t0 = time.perf_counter()
        task = pipe()
        wall = time.perf_counter() - t0
        out = task.output
        if out != args.n:
            raise SystemExit(f"kfp {args.shape}: unexpected result {out!r} != {args.n}")
        record = {
            "contender": "kfp",
            "shape": args.shape,
            "n": args.n,
            "steps": steps,
            "wall_s": wall,
            "warmup_s": warmup,
            "versions": {"kfp": kfp.__version__},
        }
        sys.stdout.flush()
        print("\n" + json.dumps(record), flush=True)
        return 0
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

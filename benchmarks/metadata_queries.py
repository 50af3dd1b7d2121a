"""Metadata store queries on the hot paths: the cache-hit lookup and a deep lineage query.

- **cache lookup**: ``MetadataStore.find_cached`` against a store holding N executions
  (median over many calls) — paid by every step that hits the cache;
- **lineage**: ``MetadataStore.lineage`` upstream of the last artifact of an N-execution
  chain (N executions, N artifacts, 2N - 1 edges), records included — what
  ``mloop lineage`` asks.

The store is filled through the public API, on SQLite (the embedded default).

    python benchmarks/metadata_queries.py            # N = 10,000
    python benchmarks/metadata_queries.py --smoke    # N = 200, seconds (CI)

Writes ``benchmarks/results/metadata_queries.json`` (``--smoke``: ``...smoke.json``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from mloop import __version__
from mloop.store import InputArtifact, MetadataStore, OutputArtifact

RESULTS = Path(__file__).resolve().parent / "results"
TARGETS = {"cache_lookup_ms": 1.0, "lineage_ms": 100.0}


def fill(store: MetadataStore, n: int) -> tuple[int, list[str]]:
    """An n-step chain of executions, each reading the previous one's output."""
    version = store.register_pipeline_version("bench", {"name": "bench"}, "h")
    run = store.create_run(version.id, {}, owner="bench:1")
    previous: int | None = None
    keys = []
    for i in range(n):
        key = f"{i:064x}"
        keys.append(key)
        execution = store.start_execution(
            run.id,
            f"step{i}",
            component="inc",
            component_fingerprint="f" * 64,
            cache_key=key,
            params={"i": i},
            inputs=[InputArtifact("x", previous)] if previous else [],
        )
        _, outputs = store.finish_execution(
            execution.id,
            "succeeded",
            outputs=[OutputArtifact("output", "Dataset", f"/a/{i}", key, {"num_rows": i})],
        )
        previous = outputs["output"][0].id
    assert previous is not None
    return previous, keys


def timed(fn, repeats: int) -> list[float]:  # type: ignore[no-untyped-def]
    fn()  # warm-up
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="executions in the store")
    parser.add_argument("--repeats", type=int, default=9, help="lineage queries timed")
    parser.add_argument("--smoke", action="store_true", help="tiny size, for CI")
    args = parser.parse_args()
    n = 200 if args.smoke else args.n
    with tempfile.TemporaryDirectory() as tmp:
        store = MetadataStore(f"sqlite:///{tmp}/mloop.db")
        print(f"filling a SQLite store with a {n:,}-execution chain ...", flush=True)
        last, keys = fill(store, n)
        probe = iter(keys * 2)
        lookups = timed(lambda: store.find_cached(next(probe)), min(1000, n))
        lineage = timed(lambda: store.lineage("artifact", last), args.repeats)
        graph = store.lineage("artifact", last)
        store.close()
    assert len(graph.executions) == n and len(graph.artifacts) == n
    figures = [
        {
            "contender": "mloop",
            "case": f"find_cached, {n:,} executions",
            "metric": "ms",
            "median": statistics.median(lookups),
            "min": min(lookups),
            "max": max(lookups),
            "samples": len(lookups),
        },
        {
            "contender": "mloop",
            "case": f"lineage of a {n:,}-execution chain",
            "metric": "ms",
            "median": statistics.median(lineage),
            "min": min(lineage),
            "max": max(lineage),
            "samples": len(lineage),
        },
    ]
    targets = [
        {
            "what": "cache-hit lookup",
            "target": f"<= {TARGETS['cache_lookup_ms']} ms",
            "measured": round(figures[0]["median"], 3),
            "met": figures[0]["median"] <= TARGETS["cache_lookup_ms"],
        },
        {
            "what": f"lineage query, {n:,} executions",
            "target": f"< {TARGETS['lineage_ms']} ms",
            "measured": round(figures[1]["median"], 1),
            "met": figures[1]["median"] < TARGETS["lineage_ms"],
        },
    ]
    print(f"{'case':<42} {'median ms':>10} {'min':>8} {'max':>8}")
    for f in figures:
        print(f"{f['case']:<42} {f['median']:>10.3f} {f['min']:>8.3f} {f['max']:>8.3f}")
    for t in targets:
        verdict = "met" if t["met"] else "MISSED"
        print(f"target {t['what']}: {t['target']} -> {t['measured']} {verdict}")
    result = {
        "benchmark": "metadata_queries",
        "date": dt.date.today().isoformat(),
        "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version()},
        "versions": {"mloop": __version__, "sqlite": __import__("sqlite3").sqlite_version},
        "params": {"executions": n, "repeats": args.repeats, "smoke": args.smoke},
        "figures": figures,
        "targets": targets,
    }
    RESULTS.mkdir(exist_ok=True)
    name = "metadata_queries.smoke.json" if args.smoke else "metadata_queries.json"
    (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

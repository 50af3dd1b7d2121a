"""mloop workload for ``registry.py`` — runs in mloop's venv, one case per process.

    python _mloop_registry.py --case metrics-single|metrics-batch|register|resolve --n N
        [--keys 100] [--batch 1000] [--resolve-versions 100] [--warmup 50] [--fsync]

Each process makes a fresh SQLite metadata database (``sqlite:///<tmp>/mloop.db``) and a
local artifact store in a temp dir, does the case's set-up and a warm-up (both untimed, the
warm-up on a separate execution / model of the same database), then times N operations and
prints one JSON line: ``{"contender": ..., "case": ..., "n": ..., "ops": ..., "wall_s": ...,
"versions": {...}, ...}``. Before printing it checks, untimed, that the work is in the
database (every metric point, every version, the alias resolving to the right version).

``--fsync`` sets ``PRAGMA synchronous = FULL`` on the store's connections (mloop ships WAL +
``synchronous = NORMAL``: a commit is durable against a crash of the process, not of the
machine, until the next WAL checkpoint); with FULL every commit is fsynced before it
returns, the durability MLflow's default SQLite settings give (rollback journal, FULL).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import sys
import tempfile
import time
from typing import Any

UNAVAILABLE = 3


def _emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--case", required=True, choices=("metrics-single", "metrics-batch", "register", "resolve")
    )
    ap.add_argument("--n", type=int, required=True, help="operations timed")
    ap.add_argument("--keys", type=int, default=100, help="metric keys (points = keys x steps)")
    ap.add_argument("--batch", type=int, default=1000, help="points per call, metrics-batch")
    ap.add_argument("--resolve-versions", type=int, default=100, help="versions, resolve case")
    ap.add_argument("--warmup", type=int, default=50, help="untimed operations first")
    ap.add_argument("--fsync", action="store_true", help="PRAGMA synchronous = FULL")
    ap.add_argument("--name", default="mloop")
    args = ap.parse_args()
    try:
        from sqlalchemy import event

        from mloop import __version__
        from mloop.artifacts import ArtifactStore
        from mloop.registry import Registry
        from mloop.store import MetadataStore, MetricPoint, OutputArtifact
    except ImportError as exc:
        _emit({"contender": args.name, "unavailable": f"cannot import mloop: {exc}"})
        return UNAVAILABLE

    tmp = tempfile.mkdtemp(prefix="bench-registry-mloop-")
    try:
        store = MetadataStore(f"sqlite:///{tmp}/mloop.db")
        t0 = time.perf_counter()
        engine = store._connect()  # creates the database and migrates it (untimed)
        if args.fsync:

            @event.listens_for(engine, "connect")
            def _full(dbapi_conn: Any, _rec: Any) -> None:  # after mloop's own "connect"
                dbapi_conn.execute("PRAGMA synchronous = FULL")

            engine.dispose()  # pooled connections are re-made with the listener
        artifacts = ArtifactStore(f"{tmp}/artifacts")
        registry = Registry(store=store, artifacts=artifacts)
        version = store.register_pipeline_version("bench", {"name": "bench"}, "h")
        run = store.create_run(version.id, {}, owner="bench:1")

        def execution(step: str) -> int:
            return store.start_execution(
                run.id,
                step,
                component="train",
                component_fingerprint="f" * 64,
                cache_key=None,
                params={},
                inputs=[],
            ).id

        n, keys = args.n, max(1, min(args.keys, args.n))

        def points(lo: int, hi: int) -> list[Any]:
            # point i: key m<i % keys>, step i // keys (all keys of a step, step after step)
            return [MetricPoint(f"m{i % keys}", i * 0.001, i // keys) for i in range(lo, hi)]

        check: dict[str, Any] = {}
        if args.case in ("metrics-single", "metrics-batch"):
            warm_id, timed_id = execution("warmup"), execution("train")
            per_call = 1 if args.case == "metrics-single" else args.batch

            def work(execution_id: int, count: int) -> int:
                calls = 0
                for lo in range(0, count, per_call):
                    if per_call == 1:
                        store.log_metrics(
                            execution_id, [MetricPoint(f"m{lo % keys}", lo * 0.001, lo // keys)]
                        )
                    else:
                        store.log_metrics(execution_id, points(lo, min(lo + per_call, count)))
                    calls += 1
                return calls

            setup_s = time.perf_counter() - t0
            w0 = time.perf_counter()
            work(warm_id, min(args.warmup, n) if per_call == 1 else min(per_call, n))
            warmup_s = time.perf_counter() - w0
            start = time.perf_counter()
            calls = work(timed_id, n)
            wall_s = time.perf_counter() - start
            logged = store.metrics([timed_id])
            assert len(logged) == n, (len(logged), n)
            check = {"points_in_db": len(logged), "calls": calls, "keys": keys}
        else:
            # One Model artifact row (a small JSON value in the artifact store, produced by an
            # execution of the run), registered again and again.
            saved = artifacts.save({"w": 1}, "Model", materializer="json")
            producer = execution("train")
            _, outputs = store.finish_execution(
                producer,
                "succeeded",
                outputs=[
                    OutputArtifact("model", "Model", saved.uri, saved.fingerprint, {}),
                ],
            )
            artifact_id = outputs["model"][0].id
            registry.create_model("bench-model", actor="bench")
            registry.create_model("warmup-model", actor="bench")
            if args.case == "register":
                setup_s = time.perf_counter() - t0
                w0 = time.perf_counter()
                for _ in range(min(args.warmup, n)):
                    registry.register("warmup-model", artifact_id)
                warmup_s = time.perf_counter() - w0
                start = time.perf_counter()
                for _ in range(n):
                    last = registry.register("bench-model", artifact_id)
                wall_s = time.perf_counter() - start
                assert last.version == n, last
                versions = registry.list_versions("bench-model")
                assert len(versions) == n and {v.artifact_id for v in versions} == {artifact_id}
                check = {"versions_in_db": len(versions), "last_version": last.version}
            else:
                for _ in range(args.resolve_versions):
                    last = registry.register("bench-model", artifact_id)
                registry.set_alias("bench-model", "champion", last.version, expected=None)
                uri = "models:/bench-model@champion"
                setup_s = time.perf_counter() - t0
                w0 = time.perf_counter()
                for _ in range(min(args.warmup, n)):
                    registry.resolve(uri)
                warmup_s = time.perf_counter() - w0
                start = time.perf_counter()
                for _ in range(n):
                    got = registry.resolve(uri)
                wall_s = time.perf_counter() - start
                assert got.version == args.resolve_versions, got
                check = {
                    "resolved_version": got.version,
                    "versions_in_model": args.resolve_versions,
                }
        with store._read() as conn:  # the settings the timed work ran with
            journal = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
            synchronous = conn.exec_driver_sql("PRAGMA synchronous").scalar()
        if args.fsync:
            assert synchronous == 2, synchronous
        store.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _emit(
        {
            "contender": args.name,
            "case": args.case,
            "n": n,
            "ops": n,
            "wall_s": wall_s,
            "setup_s": setup_s,
            "warmup_s": warmup_s,
            "sqlite": {
                "journal_mode": journal,
                "synchronous": {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(
                    synchronous, synchronous
                ),
                "library": sqlite3.sqlite_version,
            },
            "check": check,
            "versions": {"mloop": __version__},
        }
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

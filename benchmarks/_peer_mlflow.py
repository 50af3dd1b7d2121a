"""MLflow workload for ``registry.py`` — runs in the MLflow peer venv, one case per process.

    python _peer_mlflow.py --case metrics-single|metrics-batch|register|resolve --n N
        [--keys 100] [--batch 1000] [--resolve-versions 100] [--warmup 50] [--wal]

MLflow's tracking store and model registry both on one fresh SQLite file
(``tracking_uri = registry_uri = sqlite:///<tmp>/mlflow.db``), used in-process through
``MlflowClient`` (no tracking server, nothing over the network; telemetry off). Set-up
(creating the database — MLflow runs its migrations —, the experiment and run, the
registered model) and a warm-up on a separate run / model are untimed; then N operations are
timed and one JSON line is printed (same fields as ``_mloop_registry.py``), after an untimed
check that the work is in the database.

MLflow's SQLite settings are its defaults (rollback journal, ``synchronous = FULL``: every
commit is fsynced). ``--wal`` switches its connections to WAL + ``synchronous = NORMAL``
(mloop's defaults) — a what-if, to see how much of the difference is the fsync.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sqlite3
import sys
import tempfile
import time
import warnings
from typing import Any

UNAVAILABLE = 3


def _emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def _isolate() -> None:
    """No server, no telemetry, no stray configuration: set before MLflow is imported."""
    for key in [k for k in os.environ if k.startswith(("MLFLOW_", "DATABRICKS_"))]:
        del os.environ[key]
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    os.environ["DO_NOT_TRACK"] = "1"
    os.environ["MLFLOW_ENABLE_ASYNC_LOGGING"] = "false"
    os.environ["GIT_PYTHON_REFRESH"] = "quiet"
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)  # MLflow's and alembic's INFO/WARNING chatter


def _files(root: str) -> set[str]:
    """Every file under ``root`` but the SQLite database (and its journal / WAL)."""
    return {
        os.path.join(d, f)
        for d, _, names in os.walk(root)
        for f in names
        if not f.startswith("mlflow.db")
    }


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
    ap.add_argument("--wal", action="store_true", help="WAL + synchronous = NORMAL (what-if)")
    ap.add_argument("--name", default="mlflow")
    args = ap.parse_args()
    _isolate()
    try:
        import mlflow
        import sqlalchemy
        from mlflow import MlflowClient
        from mlflow.entities import Metric
    except ImportError as exc:
        _emit({"contender": args.name, "unavailable": f"cannot import mlflow: {exc}"})
        return UNAVAILABLE

    if args.wal:

        @sqlalchemy.event.listens_for(sqlalchemy.pool.Pool, "connect")
        def _wal(dbapi_conn: Any, _rec: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.close()

    tmp = tempfile.mkdtemp(prefix="bench-registry-mlflow-")
    try:
        uri = f"sqlite:///{tmp}/mlflow.db"
        t0 = time.perf_counter()
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        experiment_id = client.create_experiment(
            "bench", artifact_location=f"file://{tmp}/mlartifacts"
        )
        warm_run = client.create_run(experiment_id).info.run_id
        run_id = client.create_run(experiment_id).info.run_id
        n, keys = args.n, max(1, min(args.keys, args.n))
        check: dict[str, Any] = {}
        if args.case in ("metrics-single", "metrics-batch"):
            per_call = 1 if args.case == "metrics-single" else args.batch

            def work(run: str, count: int) -> int:
                calls = 0
                for lo in range(0, count, per_call):
                    if per_call == 1:
                        client.log_metric(
                            run, f"m{lo % keys}", lo * 0.001, step=lo // keys, synchronous=True
                        )
                    else:
                        now = int(time.time() * 1000)
                        client.log_batch(
                            run,
                            metrics=[
                                Metric(f"m{i % keys}", i * 0.001, now, i // keys)
                                for i in range(lo, min(lo + per_call, count))
                            ],
                            synchronous=True,
                        )
                    calls += 1
                return calls

            setup_s = time.perf_counter() - t0
            w0 = time.perf_counter()
            work(warm_run, min(args.warmup, n) if per_call == 1 else min(per_call, n))
            warmup_s = time.perf_counter() - w0
            start = time.perf_counter()
            calls = work(run_id, n)
            wall_s = time.perf_counter() - start
            in_db = sum(len(client.get_metric_history(run_id, f"m{k}")) for k in range(keys))
            assert in_db == n, (in_db, n)
            check = {"points_in_db": in_db, "calls": calls, "keys": keys}
        else:
            # A small real model directory as every version's source. MLflow's SQLAlchemy
            # registry stores the source string; it neither reads nor copies it (copies are
            # made only for Databricks registries).
            source = os.path.join(tmp, "model")
            os.makedirs(source)
            with open(os.path.join(source, "MLmodel"), "w") as f:
                f.write("flavors:\n  python_function:\n    loader_module: bench\n")
            client.create_registered_model("bench-model")
            client.create_registered_model("warmup-model")
            files_before = _files(tmp)
            if args.case == "register":
                setup_s = time.perf_counter() - t0
                w0 = time.perf_counter()
                for _ in range(min(args.warmup, n)):
                    client.create_model_version("warmup-model", source, run_id=warm_run)
                warmup_s = time.perf_counter() - w0
                start = time.perf_counter()
                for _ in range(n):
                    last = client.create_model_version("bench-model", source, run_id=run_id)
                wall_s = time.perf_counter() - start
                assert int(last.version) == n, last
                found = client.search_model_versions("name = 'bench-model'", max_results=n + 1)
                assert len(found) == n, len(found)
                files_after = _files(tmp)
                check = {
                    "versions_in_db": len(found),
                    "last_version": int(last.version),
                    # no copy of the source per version: the same files before and after
                    "files_besides_db_before": len(files_before),
                    "files_besides_db_after": len(files_after),
                }
                assert files_after == files_before, sorted(files_after ^ files_before)[:5]
            else:
                for _ in range(args.resolve_versions):
                    last = client.create_model_version("bench-model", source, run_id=run_id)
                client.set_registered_model_alias("bench-model", "champion", last.version)
                setup_s = time.perf_counter() - t0
                w0 = time.perf_counter()
                for _ in range(min(args.warmup, n)):
                    client.get_model_version_by_alias("bench-model", "champion")
                warmup_s = time.perf_counter() - w0
                start = time.perf_counter()
                for _ in range(n):
                    got = client.get_model_version_by_alias("bench-model", "champion")
                wall_s = time.perf_counter() - start
                assert int(got.version) == args.resolve_versions, got
                check = {
                    "resolved_version": int(got.version),
                    "versions_in_model": args.resolve_versions,
                }
        # The settings MLflow's connections ran with (read on a connection of its engine).
        from mlflow.tracking._tracking_service.utils import _get_store

        store: Any = _get_store(uri)
        with store.engine.connect() as conn:
            journal = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
            synchronous = conn.exec_driver_sql("PRAGMA synchronous").scalar()
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
            "versions": {"mlflow": mlflow.__version__, "sqlalchemy": sqlalchemy.__version__},
        }
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

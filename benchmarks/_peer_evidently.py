"""Evidently workload for ``drift.py`` and ``data_stats.py`` — runs in the Evidently peer venv.

    python _peer_evidently.py --task drift --baseline B.parquet --current C.parquet
    python _peer_evidently.py --task stats --baseline B.parquet

- ``drift``: ``Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref)`` on
  pandas DataFrames (Evidently >= 0.7 API), then ``snapshot.save_html`` and
  ``snapshot.save_json`` into a temp dir — the full drift report a user gets.
- ``stats``: ``Report([DataSummaryPreset()]).run(current_data=df)`` — Evidently's per-column
  summary (counts, missing, min/max/mean/quantiles, unique values, with its plots). It is
  not a plain profiler; see the README for how it compares.

Column types: by default Evidently infers them (``--types inferred``, what a user gets by
passing DataFrames). ``--types explicit`` passes a ``DataDefinition`` with the 15 numeric
columns numerical, the 4 string columns categorical and ``ts`` a datetime.

The Parquet files are read into pandas (``pq.read_table(path).to_pandas()``) before the
timed region; a warm-up report on the first ``--warmup-rows`` rows of each runs first. Prints
one JSON line (see ``_data_gen.Probe`` for how time and memory are measured).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DO_NOT_TRACK", "1")  # Evidently's telemetry
os.environ.setdefault("EVIDENTLY_DISABLE_TELEMETRY", "1")

from _data_gen import FLOAT_COLS, INT_COLS, STRING_COLS, TS_COL, Probe, emit, load

UNAVAILABLE = 3


def _definition(types: str):  # type: ignore[no-untyped-def]
    from evidently import DataDefinition

    if types != "explicit":
        return None
    return DataDefinition(
        numerical_columns=FLOAT_COLS + INT_COLS,
        categorical_columns=STRING_COLS,
        datetime_columns=[TS_COL],
    )


def _dataset(df, definition):  # type: ignore[no-untyped-def]
    if definition is None:
        return df  # Report.run infers the column types (Dataset.from_any)
    from evidently import Dataset

    return Dataset.from_pandas(df, data_definition=definition)


def _methods(snapshot) -> tuple[dict[str, str], list[str]]:  # type: ignore[no-untyped-def]
    """Column -> the drift method Evidently picked, and the drifted columns (from the
    ``ValueDrift(column=..,method=..,threshold=..)`` metrics: a distance drifts at or above
    its threshold, a p-value below it)."""
    methods, drifted = {}, []
    for m in snapshot.dict().get("metrics", []):
        name = str(m.get("metric_name", ""))
        if not name.startswith("ValueDrift(column="):
            continue
        inner = name[len("ValueDrift(") : -1]
        parts = dict(p.split("=", 1) for p in inner.split(",") if "=" in p)
        column, method = parts.get("column", "?"), parts.get("method", "?")
        methods[column] = method
        try:
            value, threshold = float(m.get("value")), float(parts["threshold"])
        except (TypeError, ValueError, KeyError):
            continue
        if (value < threshold) if "p_value" in method else (value >= threshold):
            drifted.append(column)
    return methods, sorted(drifted)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", choices=("drift", "stats"), required=True)
    ap.add_argument("--baseline", type=Path, required=True)
    ap.add_argument("--current", type=Path)
    ap.add_argument("--types", choices=("inferred", "explicit"), default="inferred")
    ap.add_argument("--warmup-rows", type=int, default=5000)
    args = ap.parse_args()
    contender = "evidently"
    try:
        import evidently
        from evidently import Report
        from evidently.presets import DataDriftPreset, DataSummaryPreset
    except Exception as exc:
        emit({"contender": contender, "unavailable": f"{type(exc).__name__}: {exc}"})
        return UNAVAILABLE
    import numpy
    import pandas
    import pyarrow

    versions = {
        "evidently": evidently.__version__,
        "evidently:pandas": pandas.__version__,
        "evidently:numpy": numpy.__version__,
        "evidently:pyarrow": pyarrow.__version__,
    }
    definition = _definition(args.types)
    out_dir = Path(tempfile.mkdtemp(prefix="bench-evidently-"))

    def work(ref, cur):  # type: ignore[no-untyped-def]
        if args.task == "drift":
            snap = Report([DataDriftPreset()]).run(
                current_data=_dataset(cur, definition),
                reference_data=_dataset(ref, definition),
            )
            t = time.perf_counter()
            snap.save_html(str(out_dir / "drift.html"))
            snap.save_json(str(out_dir / "drift.json"))
            return snap, time.perf_counter() - t
        snap = Report([DataSummaryPreset()]).run(current_data=_dataset(ref, definition))
        return snap, 0.0

    t = time.perf_counter()
    if args.warmup_rows:
        wb = load(args.baseline, "pandas", args.warmup_rows)
        wc = load(args.current, "pandas", args.warmup_rows) if args.current else None
        work(wb, wc)
        del wb, wc
    warmup_s = time.perf_counter() - t

    t = time.perf_counter()
    ref = load(args.baseline, "pandas")
    cur = load(args.current, "pandas") if args.task == "drift" else None
    load_s = time.perf_counter() - t

    with Probe() as probe:
        snap, save_s = work(ref, cur)
    record = {
        "contender": contender,
        "task": args.task,
        "rows": len(ref),
        **probe.record(),
        "load_s": round(load_s, 3),
        "warmup_s": round(warmup_s, 3),
        "breakdown": {"run_s": round(probe.wall_s - save_s, 4), "save_s": round(save_s, 4)},
        "versions": versions,
        "types": args.types,
    }
    if args.task == "drift":
        record["methods"], record["drifted"] = _methods(snap)
        record["report_bytes"] = {p.name: p.stat().st_size for p in out_dir.iterdir()}
    emit(record)
    for p in out_dir.iterdir():
        p.unlink()
    out_dir.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())

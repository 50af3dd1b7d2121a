"""whylogs workload for ``data_stats.py`` and ``drift.py`` — runs in the whylogs peer venv.

    python _peer_whylogs.py --task stats --baseline B.parquet
    python _peer_whylogs.py --task drift --baseline B.parquet --current C.parquet

- ``stats``: ``why.log(df).view()`` — a whylogs profile of a pandas DataFrame with the
  default schema (counts, types, KLL distribution sketch, HLL cardinality, frequent items).
- ``drift``: profile both DataFrames, ``calculate_drift_scores(target_view=current,
  reference_view=baseline, with_thresholds=True)`` (KS on the KLL sketches for numbers,
  chi-square on frequent items for strings; whylogs has no drift for timestamps), and the HTML
  ``NotebookProfileVisualizer.summary_drift_report()`` written to a temp file — whylogs'
  drift report.

whylogs 1.6.4 (the last release) uses ``np.unicode_``, so its venv holds numpy < 2 and
pandas 2.2. The Parquet files are read into pandas before the timed region; a warm-up on the
first ``--warmup-rows`` rows runs first. Prints one JSON line (see ``_data_gen.Probe``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("WHYLOGS_NO_ANALYTICS", "True")  # whylogs' usage telemetry

from _data_gen import Probe, emit, load

UNAVAILABLE = 3


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", choices=("drift", "stats"), required=True)
    ap.add_argument("--baseline", type=Path, required=True)
    ap.add_argument("--current", type=Path)
    ap.add_argument("--warmup-rows", type=int, default=5000)
    args = ap.parse_args()
    contender = "whylogs"
    try:
        import whylogs as why

        if args.task == "drift":
            from whylogs.viz import NotebookProfileVisualizer
            from whylogs.viz.drift.column_drift_algorithms import calculate_drift_scores
    except Exception as exc:
        emit({"contender": contender, "unavailable": f"{type(exc).__name__}: {exc}"})
        return UNAVAILABLE
    import numpy
    import pandas
    import pyarrow

    versions = {
        "whylogs": why.__version__,
        "whylogs:pandas": pandas.__version__,
        "whylogs:numpy": numpy.__version__,
        "whylogs:pyarrow": pyarrow.__version__,
    }
    out = Path(tempfile.mkdtemp(prefix="bench-whylogs-")) / "drift.html"
    parts: dict[str, float] = {}

    def work(ref, cur):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        ref_view = why.log(ref).view()
        if args.task == "stats":
            return ref_view
        cur_view = why.log(cur).view()
        parts["profile_s"] = time.perf_counter() - t
        t = time.perf_counter()
        scores = calculate_drift_scores(
            target_view=cur_view, reference_view=ref_view, with_thresholds=True
        )
        parts["drift_s"] = time.perf_counter() - t
        t = time.perf_counter()
        viz = NotebookProfileVisualizer()
        viz.set_profiles(target_profile_view=cur_view, reference_profile_view=ref_view)
        out.write_text(viz.summary_drift_report().data)
        parts["html_s"] = time.perf_counter() - t
        return scores

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
        result = work(ref, cur)
    record = {
        "contender": contender,
        "task": args.task,
        "rows": len(ref),
        **probe.record(),
        "load_s": round(load_s, 3),
        "warmup_s": round(warmup_s, 3),
        "breakdown": {k: round(v, 4) for k, v in parts.items()},
        "versions": versions,
    }
    if args.task == "drift":
        record["methods"] = {k: (v or {}).get("algorithm") for k, v in result.items()}
        record["drifted"] = sorted(
            k for k, v in result.items() if v and v.get("drift_category") == "DRIFT"
        )
        record["report_bytes"] = {out.name: out.stat().st_size}
    out.unlink(missing_ok=True)
    out.parent.rmdir()
    emit(record)
    return 0


if __name__ == "__main__":
    sys.exit(main())

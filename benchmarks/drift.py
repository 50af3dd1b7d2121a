"""A full drift report, baseline vs current: mloop vs Evidently vs whylogs vs the bare ceiling.

On the same pair of Parquet files (``_data_gen.py``: 1M rows x 20 mixed columns each by
default; the current file has shifted/scaled columns, a new category, new ids, a later time
range and one identical column), each contender produces the drift report of all 20
columns from the raw data. Figures: wall time, rows/s (2 x rows / time), cores used (CPU
time / wall time) and peak memory; ratios against Evidently.

Contenders (each in a subprocess of its own interpreter; both files are read from Parquet
*before* the timed region, as a pyarrow Table for mloop and the ceiling, a pandas DataFrame
for the peers; a warm-up on the first rows runs first):

- **mloop**: ``compute_statistics`` of both tables, ``mloop.data.drift(baseline, current)``
  (its defaults: Jensen-Shannon on 10 shared bins for numbers, L-infinity for categories),
  the HTML report (``render_html(result, baseline_statistics=..., current_statistics=...)``)
  and the result's JSON written to a temp dir;
- **evidently** (peer venv): ``Report([DataDriftPreset()]).run(current_data=cur,
  reference_data=ref)`` with the column types Evidently infers, then ``save_html`` and
  ``save_json`` — its default methods (normed Wasserstein for numbers, Jensen-Shannon for
  categories, a domain classifier for text-like columns);
- **whylogs** (peer venv): ``why.log`` profiles of both, ``calculate_drift_scores`` and the
  HTML ``summary_drift_report`` written to a file;
- **ceiling**: ``numpy`` alone, one thread, on the 15 number columns and the timestamp
  (16 of the 20 columns): ``np.histogram`` of both sides on 20 common bins (range = min/max
  over both) and the Jensen-Shannon distance of the two. No report, no sketches, no string
  columns: a floor for the numeric part, not the same work. (Exact per-category counts of
  both sides, aligned, are no floor: for the 1M-distinct id column they cost more than
  mloop's bounded sketches, ~3.3 s vs 2.0 s for mloop's whole report in a trial run.)

    python benchmarks/drift.py                 # 1M rows, 5 repeats, peers if installed
    python benchmarks/drift.py --smoke         # 20k rows, 1 repeat, mloop + ceiling (CI)

Writes ``benchmarks/results/drift.json`` (``--smoke``: ``...smoke.json``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _data_gen  # noqa: E402
from data_stats import (  # noqa: E402
    BINS,
    SMOKE_ROWS,
    UNAVAILABLE,
    WARMUP_ROWS,
    Contender,
    _threads,
    _versions_mloop,
    ceiling_numeric,
    common_args,
    ensure_data,
    figure,
    fmt,
    machine_info,
    notes_for,
    peer_contenders,
    print_targets,
    render,
    run_rounds,
    spread,
    target,
    write_result,
)

TARGETS = {"vs_evidently_speed": 20.0, "vs_evidently_memory": 1 / 3}


# ---- workers (mloop and ceiling; run in mloop's interpreter) --------------------------------


def _js(p, q) -> float:  # type: ignore[no-untyped-def]
    import numpy as np

    p = p / max(p.sum(), 1)
    q = q / max(q.sum(), 1)
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log2(p / m), 0.0).sum()
        kl_q = np.where(q > 0, q * np.log2(q / m), 0.0).sum()
    return float(np.sqrt(max((kl_p + kl_q) / 2, 0.0)))


def ceiling_drift(base, cur) -> dict:  # type: ignore[no-untyped-def]
    """Numbers and the timestamp only (16 of the 20 columns): see the module docs."""
    import numpy as np

    out: dict[str, float] = {}
    for name in [*_data_gen.NUMERIC_COLS, _data_gen.TS_COL]:
        xb, xc = ceiling_numeric(base.column(name)), ceiling_numeric(cur.column(name))
        if xb.dtype.kind == "f":
            lo, hi = min(np.nanmin(xb), np.nanmin(xc)), max(np.nanmax(xb), np.nanmax(xc))
        else:
            lo, hi = min(xb.min(), xc.min()), max(xb.max(), xc.max())
        rng = (float(lo), float(hi))
        hb, _ = np.histogram(xb, bins=BINS, range=rng)
        hc, _ = np.histogram(xc, bins=BINS, range=rng)
        out[name] = _js(hb.astype(float), hc.astype(float))
    return out


def _mloop_render():  # type: ignore[no-untyped-def]
    """mloop's HTML renderer for a drift result, wherever it is exported (None: none yet)."""
    import mloop.data

    fn = getattr(mloop.data, "render_html", None)
    if fn is not None:
        return fn, "mloop.data.render_html"
    try:
        from mloop.data._report import render_html
    except ImportError:
        return None, None
    return render_html, "mloop.data._report.render_html"


def worker(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", choices=("mloop", "ceiling"), required=True)
    ap.add_argument("--baseline", type=Path, required=True)
    ap.add_argument("--current", type=Path, required=True)
    ap.add_argument("--warmup-rows", type=int, default=WARMUP_ROWS)
    args = ap.parse_args(argv)
    parts: dict[str, float] = {}
    extra: dict = {}
    out_dir = Path(tempfile.mkdtemp(prefix="bench-drift-"))
    if args.worker == "mloop":
        try:
            from mloop.data import compute_statistics, drift

            render_html, extra["html"] = _mloop_render()
        except Exception as exc:
            _data_gen.emit({"contender": "mloop", "unavailable": f"{type(exc).__name__}: {exc}"})
            return UNAVAILABLE

        def work(base, cur):  # type: ignore[no-untyped-def]
            t = time.perf_counter()
            sb, sc = compute_statistics(base), compute_statistics(cur)
            parts["statistics_s"] = time.perf_counter() - t
            t = time.perf_counter()
            result = drift(sb, sc)
            parts["drift_s"] = time.perf_counter() - t
            t = time.perf_counter()
            (out_dir / "drift.json").write_text(result.to_json())
            if render_html is not None:
                html = render_html(result, baseline_statistics=sb, current_statistics=sc)
                (out_dir / "drift.html").write_text(html)
            parts["report_s"] = time.perf_counter() - t
            return result

    else:
        work = ceiling_drift  # type: ignore[assignment]

    t = time.perf_counter()
    if args.warmup_rows:
        work(
            _data_gen.load(args.baseline, "arrow", args.warmup_rows),
            _data_gen.load(args.current, "arrow", args.warmup_rows),
        )
    warmup_s = time.perf_counter() - t
    t = time.perf_counter()
    base = _data_gen.load(args.baseline, "arrow")
    cur = _data_gen.load(args.current, "arrow")
    load_s = time.perf_counter() - t
    with _data_gen.Probe() as probe:
        result = work(base, cur)
    record = {
        "contender": args.worker,
        "task": "drift",
        "rows": base.num_rows,
        **probe.record(),
        "load_s": round(load_s, 3),
        "warmup_s": round(warmup_s, 3),
        "os_threads": _threads(),
        "breakdown": {k: round(v, 4) for k, v in parts.items()},
        "versions": _versions_mloop(),
        **extra,
    }
    if args.worker == "mloop":
        record["methods"] = {f.name: f.metric for f in result.features.values()}
        record["drifted"] = sorted(result.drifted_features)
        record["compared"] = len(result.compared_features)
        record["report_bytes"] = {p.name: p.stat().st_size for p in out_dir.iterdir()}
    for p in out_dir.iterdir():
        p.unlink()
    out_dir.rmdir()
    _data_gen.emit(record)
    return 0


# ---- the benchmark --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--worker" in argv:
        return worker(argv)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common_args(
        ap, "include the installed peers (evidently, whylogs; default: yes, not with --smoke)"
    )
    ap.add_argument(
        "--evidently-types",
        choices=("inferred", "explicit"),
        default="inferred",
        help="Evidently's column types: inferred (default) or an explicit DataDefinition "
        "(strings categorical: quadratic in new categories in Evidently 0.7.23, see README)",
    )
    ap.add_argument("--only", nargs="*", help="run only these contenders (e.g. mloop evidently)")
    args = ap.parse_args(argv)
    if args.smoke:
        args.rows, args.repeats = SMOKE_ROWS, 1
    out_path = args.out or (HERE / "results" / ("drift.smoke.json" if args.smoke else "drift.json"))
    t_start = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t_start:7.1f}s] {msg}", file=sys.stderr, flush=True)

    base, cur = ensure_data(args, log)
    common = [
        "--baseline",
        str(base),
        "--current",
        str(cur),
        "--warmup-rows",
        str(args.warmup_rows),
    ]
    me = Path(__file__).resolve()
    chosen = [Contender("mloop", args.mloop_python, me, ["--worker", "mloop", *common])]
    if not args.no_ceiling:
        chosen.append(Contender("ceiling", args.mloop_python, me, ["--worker", "ceiling", *common]))
    want_peers = args.peers if args.peers is not None else not args.smoke

    def peer_args(peer: str) -> list[str]:
        extra = ["--types", args.evidently_types] if peer == "evidently" else []
        return ["--task", "drift", *common, *extra]

    peers, skipped = peer_contenders(["evidently", "whylogs"], want_peers, peer_args)
    chosen += peers
    if args.only:
        chosen = [c for c in chosen if c.name in args.only]
    cases = [("all cores", False)]
    outcomes, versions = run_rounds(
        chosen,
        cases,
        args.repeats,
        args.timeout,
        log,
        lambda r: (
            f"{r['wall_s']:9.3f} s  cores {r['cpu_s'] / r['wall_s']:.2f}  "
            f"peak +{r['peak_delta_mb']:.0f} MB (RSS {r['peak_rss_mb']:.0f} MB)  "
            f"{r.get('breakdown', {})}"
        ),
    )

    # ---- figures, ratios, targets -------------------------------------------------------------
    case = cases[0][0]
    figures: list[dict] = []
    summary: dict[str, dict] = {}
    for c in chosen:
        o = outcomes[(c.name, case)]
        if not o.samples:
            continue
        secs = [r["wall_s"] for r in o.samples]
        rps = [2 * r["rows"] / r["wall_s"] for r in o.samples]
        cores = [r["cpu_s"] / r["wall_s"] for r in o.samples]
        delta = [r["peak_delta_mb"] for r in o.samples]
        peak = [r["peak_rss_mb"] for r in o.samples]
        figures += [
            figure(c.name, "baseline vs current, 20 columns", "seconds", secs),
            figure(c.name, "baseline vs current, 20 columns", "rows_per_s", rps, 1),
            figure(c.name, "baseline vs current, 20 columns", "cores_used", cores, 2),
            figure(c.name, "baseline vs current, 20 columns", "peak_delta_mb", delta, 1),
            figure(c.name, "baseline vs current, 20 columns", "peak_rss_mb", peak, 1),
        ]
        last = o.samples[-1]
        breakdown = {}
        for key in last.get("breakdown", {}):
            vals = [r["breakdown"][key] for r in o.samples if key in r.get("breakdown", {})]
            breakdown[key] = round(statistics.median(vals), 4)
        if breakdown:
            figures[-5]["breakdown_median_s"] = breakdown
        summary[c.name] = {
            "secs": spread(secs),
            "rps": statistics.median(rps),
            "cores": statistics.median(cores),
            "delta": statistics.median(delta),
            "peak": statistics.median(peak),
            "drifted": last.get("drifted"),
            "methods": last.get("methods"),
            "breakdown": breakdown,
        }
    ratios = []
    m = summary.get("mloop")
    for name, s in summary.items():
        if name == "mloop" or m is None:
            continue
        ratios += [
            {
                "contender": name,
                "case": case,
                "vs": "mloop",
                "metric": "seconds",
                "ratio": round(s["secs"]["median"] / m["secs"]["median"], 3),
                "meaning": "contender's time / mloop's (> 1: mloop faster)",
            },
            {
                "contender": name,
                "case": case,
                "vs": "mloop",
                "metric": "peak_delta_mb",
                "ratio": round(m["delta"] / s["delta"], 3) if s["delta"] else None,
                "meaning": "mloop's peak memory above input / contender's (< 1: mloop smaller)",
            },
            {
                "contender": name,
                "case": case,
                "vs": "mloop",
                "metric": "peak_rss_mb",
                "ratio": round(m["peak"] / s["peak"], 3),
                "meaning": "mloop's peak process RSS / contender's (< 1: mloop smaller)",
            },
        ]
    ev = summary.get("evidently")
    speed = ev["secs"]["median"] / m["secs"]["median"] if ev and m else None
    mem_delta = m["delta"] / ev["delta"] if ev and m and ev["delta"] else None
    mem_peak = m["peak"] / ev["peak"] if ev and m else None
    goal_mem = TARGETS["vs_evidently_memory"]
    targets = [
        target(
            "drift report: Evidently's time / mloop's",
            f">= {TARGETS['vs_evidently_speed']:g}",
            speed,
            None if speed is None else speed >= TARGETS["vs_evidently_speed"],
        ),
        target(
            "peak memory of the work (above the loaded input): mloop / Evidently",
            "<= 1/3",
            mem_delta,
            None if mem_delta is None else mem_delta <= goal_mem,
        ),
        target(
            "peak process RSS (interpreter + imports + input + work): mloop / Evidently",
            "<= 1/3",
            mem_peak,
            None if mem_peak is None else mem_peak <= goal_mem,
        ),
    ]
    header = [
        "contender",
        "case",
        "median s",
        "min",
        "max",
        "rows/s",
        "cores used",
        "peak Δ MB",
        "peak RSS MB",
        "x mloop time",
        "drifted",
    ]
    body = []
    for c in chosen:
        s = summary.get(c.name)
        if s is None:
            o = outcomes[(c.name, case)]
            body.append([c.name, case, "unavailable" if o.unavailable else "failed"] + ["—"] * 8)
            continue
        compared = len([k for k, v in (s["methods"] or {}).items() if v]) or None
        drifted = "—" if s["drifted"] is None else f"{len(s['drifted'])}/{compared or '?'}"
        body.append(
            [
                c.name,
                case,
                fmt(s["secs"]["median"], ".3f"),
                fmt(s["secs"]["min"], ".3f"),
                fmt(s["secs"]["max"], ".3f"),
                fmt(s["rps"], ",.0f"),
                fmt(s["cores"], ".2f"),
                fmt(s["delta"], ".0f"),
                fmt(s["peak"], ".0f"),
                fmt(s["secs"]["median"] / m["secs"]["median"] if m else None, ".1f"),
                drifted,
            ]
        )
    notes = notes_for(skipped, outcomes)
    notes.append(
        f"{args.rows:,} rows x 20 columns per side; input read before timing; rows/s = "
        "2 x rows / s; 'x mloop time' = that row's time / mloop's."
    )
    for name, s in summary.items():
        if s["breakdown"]:
            parts = ", ".join(f"{k} {v:.3f}" for k, v in s["breakdown"].items())
            notes.append(f"{name} breakdown (median s): {parts}")
    render(
        f"Drift report, {args.rows:,} rows per side (lower is better)",
        header,
        body,
        notes,
        args.markdown,
    )
    print_targets(targets)

    result = {
        "benchmark": "drift",
        "date": dt.date.today().isoformat(),
        "machine": machine_info(),
        "versions": versions,
        "params": {
            "rows": args.rows,
            "columns": len(_data_gen.COLUMNS),
            "repeats": args.repeats,
            "smoke": args.smoke,
            "evidently_types": args.evidently_types,
            "input": "Parquet read before the timed region (pyarrow Table / pandas DataFrame)",
            "memory": "peak_delta_mb = VmHWM during the work - RSS before it (after imports, "
            "load, warm-up, gc); peak_rss_mb = VmHWM of the process during the work",
            "data": [base.name, cur.name],
            "drifted_by_construction": _data_gen.DRIFTED,
        },
        "figures": figures,
        "ratios": ratios,
        "targets": targets,
        "detail": {
            name: {"drifted": s["drifted"], "methods": s["methods"]} for name, s in summary.items()
        },
        "unavailable": {
            **skipped,
            **{n: o.unavailable for (n, _), o in outcomes.items() if o.unavailable},
        },
        "errors": {n: o.errors for (n, _), o in outcomes.items() if o.errors},
        "elapsed_s": round(time.perf_counter() - t_start, 1),
    }
    write_result(out_path, result)
    failed = any(o.errors and not o.samples for o in outcomes.values())
    mloop_missing = any(o.unavailable for (n, _), o in outcomes.items() if n == "mloop")
    return 1 if failed or (args.strict and mloop_missing) else 0


if __name__ == "__main__":
    sys.exit(main())

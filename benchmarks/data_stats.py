"""Statistics throughput: mloop.data.compute_statistics vs whylogs profiling vs the bare ceiling.

On the same Parquet file (``_data_gen.py``: 1M rows x 20 mixed columns by default), each
contender computes its per-column statistics of the whole table; the figure is rows per
second (rows / wall time of that computation) and the peak memory it needed. Two cases:
**all cores** (the process may use both cores of the machine) and **1 core** (the process
is pinned with ``taskset -c 0``: the per-core figure). ``cores used`` = CPU time / wall time
of the measured region, so a multi-threaded contender shows above 1.0 unpinned.

Contenders (each in a subprocess of its own interpreter; the input is read from Parquet
*before* the timed region, in the form the tool takes: a pyarrow Table for mloop and the
ceiling, a pandas DataFrame for the peers; a warm-up on the first rows runs first):

- **mloop**: ``mloop.data.compute_statistics(table)`` (``DatasetStatistics``: counts, missing,
  NaN/inf/zeros, mean, variance, min/max, a KLL quantile sketch per number; value counts and
  lengths per string; min/max and a sketch per timestamp);
- **whylogs** (peer venv): ``why.log(df).view()``, the default whylogs profile;
- **evidently** (peer venv, opt-in ``--evidently``): ``Report([DataSummaryPreset()]).run``,
  Evidently's column summary report (it has no plain profiler); not a like-for-like profile;
- **ceiling**: the bare engines over the same columns, one thread: per number column
  NaN count, ``np.nanmin``/``np.nanmax``/``np.nanmean`` and ``np.histogram`` (20 equal-width
  bins over [min, max]); per string column ``pyarrow.compute.value_counts``; for the
  timestamp, min/max and ``np.histogram`` of its int64 values; null counts from Arrow.
  No quantiles, no variance, no merging: a floor, not the same work.

    python benchmarks/data_stats.py                # 1M rows, 5 repeats, peers if installed
    python benchmarks/data_stats.py --smoke        # 20k rows, 1 repeat, mloop + ceiling (CI)
    python benchmarks/data_stats.py --no-peers --cores 1

Writes ``benchmarks/results/data_stats.json`` (``--smoke``: ``...smoke.json``). This module
is also the harness ``drift.py`` imports, and its own worker (``--worker``).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from _harness import UNAVAILABLE, parse_record

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _data_gen  # noqa: E402  (stdlib-only at import)

PEERS_DIR = HERE / ".peers"
RESULTS = HERE / "results"
SMOKE_ROWS = 20_000
WARMUP_ROWS = 5_000
BINS = 20

TARGETS = {"rows_per_s_per_core": 1_000_000.0}


# ---- harness (shared with drift.py) ---------------------------------------------------------


@dataclass
class Contender:
    name: str
    python: str
    script: Path
    extra: list[str] = field(default_factory=list)
    peer: bool = False

    def command(self, pin: bool) -> list[str]:
        cmd = [self.python, str(self.script), *self.extra]
        return ["taskset", "-c", "0", *cmd] if pin else cmd


@dataclass
class Outcome:
    samples: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    unavailable: str | None = None


def peer_python(peer: str) -> Path:
    return PEERS_DIR / peer / "bin" / "python"


def clean_env() -> dict[str, str]:
    drop = ("MLOOP_", "EVIDENTLY_", "WHYLOGS_", "WHYLABS_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.pop("PYTHONPATH", None)
    env.update(
        PYTHONUNBUFFERED="1",
        PYTHONDONTWRITEBYTECODE="1",
        DO_NOT_TRACK="1",  # Evidently
        WHYLOGS_NO_ANALYTICS="True",  # whylogs
    )
    return env


def run_workload(cmd: Sequence[str], timeout: float) -> dict:
    """One subprocess, one measured run; its JSON record (or an error/unavailable one)."""
    with tempfile.TemporaryDirectory(prefix="bench-data-") as cwd:  # no stray mloop.toml
        try:
            proc = subprocess.run(
                list(cmd),
                cwd=cwd,
                env=clean_env(),
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout:.0f} s"}
        except OSError as exc:  # the interpreter (or taskset) is missing
            return {"error": f"cannot start {cmd[0]}: {exc}"}
    return parse_record(proc)


def peer_contenders(
    names: Sequence[str], want: bool, extra: Callable[[str], list[str]]
) -> tuple[list[Contender], dict[str, str]]:
    chosen, skipped = [], {}
    for peer in names:
        py = peer_python(peer)
        if not want:
            skipped[peer] = "not requested (--no-peers, or --smoke without --peers)"
        elif not py.exists():
            skipped[peer] = f"not installed ({py}); run benchmarks/setup_peers.sh"
        else:
            chosen.append(
                Contender(peer, str(py), HERE / f"_peer_{peer}.py", extra(peer), peer=True)
            )
    return chosen, skipped


def run_rounds(
    chosen: list[Contender],
    cases: Sequence[tuple[str, bool]],
    repeats: int,
    timeout: float,
    log: Callable[[str], None],
    describe: Callable[[dict], str],
) -> tuple[dict[tuple[str, str], Outcome], dict[str, str]]:
    """Every contender x case, ``repeats`` times, interleaved (A B C, C B A, ...)."""
    outcomes = {(c.name, case): Outcome() for c in chosen for case, _ in cases}
    versions: dict[str, str] = {}
    order = list(chosen)
    for rep in range(repeats):
        log(f"repeat {rep + 1}/{repeats}")
        for case, pin in cases:
            for c in order:
                o = outcomes[(c.name, case)]
                if o.unavailable:
                    continue
                rec = run_workload(c.command(pin), timeout)
                if "unavailable" in rec:
                    o.unavailable = rec["unavailable"]
                    log(f"{c.name}: unavailable — {o.unavailable}")
                elif "error" in rec:
                    o.errors.append(rec["error"])
                    log(f"{c.name} [{case}]: ERROR {rec['error']}")
                else:
                    versions.update(rec.get("versions", {}))
                    o.samples.append(rec)
                    log(f"{c.name:10} [{case}] {describe(rec)}")
        order.reverse()
    return outcomes, versions


def spread(values: list[float]) -> dict:
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "samples": values,
    }


def figure(contender: str, case: str, metric: str, values: list[float], digits: int = 4) -> dict:
    s = spread(values)
    return {
        "contender": contender,
        "case": case,
        "metric": metric,
        "median": round(s["median"], digits),
        "min": round(s["min"], digits),
        "max": round(s["max"], digits),
        "repeats": len(values),
        "samples": [round(v, digits) for v in values],
    }


def machine_info() -> dict:
    info = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
    }
    with contextlib.suppress(AttributeError):
        info["affinity"] = len(os.sched_getaffinity(0))
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        info["cpu"] = next(
            (ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "?"
        )
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        kb = next((int(ln.split()[1]) for ln in f if ln.startswith("MemTotal")), 0)
        info["mem_gb"] = round(kb / 2**20, 1)
    return info


def render(
    title: str, header: list[str], body: list[list[str]], notes: list[str], md: bool
) -> None:
    if md:  # for benchmarks/README.md
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join("---" if i < 2 else "---:" for i in range(len(header))) + "|")
        for b in body:
            print("| " + " | ".join(b) + " |")
        print()
        for note in notes:
            print(f"- {note}")
        return
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        widths = [
            max(len(h), *(len(b[i]) for b in body)) if body else len(h)
            for i, h in enumerate(header)
        ]
        print(title)
        print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
        for b in body:
            print("  ".join(c.ljust(w) for c, w in zip(b, widths, strict=True)))
        for note in notes:
            print(note)
        return
    table = Table(title=title)
    for i, h in enumerate(header):
        table.add_column(h, justify="left" if i < 2 else "right")
    for b in body:
        table.add_row(*b)
    console = Console(width=None if sys.stdout.isatty() else 160)
    console.print(table)
    for note in notes:
        console.print(note, highlight=False, markup=False)


def fmt(x: float | None, spec: str) -> str:
    return "—" if x is None else format(x, spec)


def target(what: str, goal: str, measured: float | None, met: bool | None) -> dict:
    return {
        "what": what,
        "target": goal,
        "measured": None if measured is None else round(measured, 3),
        "met": met,
    }


def print_targets(targets: list[dict]) -> None:
    for t in targets:
        mark = {True: "met", False: "NOT met", None: "not measured"}[t["met"]]
        print(f"target {t['what']} {t['target']}: {t['measured']} ({mark})")


def notes_for(skipped: dict[str, str], outcomes: dict[tuple[str, str], Outcome]) -> list[str]:
    notes = [f"{name}: skipped — {why}" for name, why in skipped.items()]
    for (name, case), o in outcomes.items():
        if o.unavailable:
            notes.append(f"{name} [{case}]: unavailable — {o.unavailable}")
        for e in dict.fromkeys(o.errors):
            notes.append(f"{name} [{case}]: error — {e}")
    return notes


def write_result(path: Path, result: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}", file=sys.stderr)


def common_args(ap: argparse.ArgumentParser, peers_help: str) -> None:
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows in each Parquet file")
    ap.add_argument("--repeats", type=int, default=5, help="measured runs per contender and case")
    ap.add_argument(
        "--smoke",
        action="store_true",
        help=f"{SMOKE_ROWS:,} rows, 1 repeat, mloop + ceiling only unless --peers; for CI",
    )
    ap.add_argument("--peers", dest="peers", action="store_true", default=None, help=peers_help)
    ap.add_argument("--no-peers", dest="peers", action="store_false")
    ap.add_argument("--no-ceiling", action="store_true", help="skip the bare-engine ceiling")
    ap.add_argument("--data-dir", type=Path, default=_data_gen.DEFAULT_DIR)
    ap.add_argument("--seed", type=int, default=_data_gen.SEED)
    ap.add_argument("--warmup-rows", type=int, default=WARMUP_ROWS)
    ap.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 if mloop is unavailable (errors always fail)",
    )
    ap.add_argument(
        "--mloop-python",
        default=sys.executable,
        type=lambda p: os.path.abspath(p) if os.sep in p else p,  # workers run in a temp cwd
        help="interpreter with mloop installed (default: this one)",
    )
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    ap.add_argument("--timeout", type=float, default=3600.0, help="per subprocess, seconds")
    ap.add_argument("--out", type=Path, default=None, help="results JSON path")


def ensure_data(args: argparse.Namespace, log: Callable[[str], None]) -> tuple[Path, Path]:
    """Generate (or reuse) the Parquet pair, with mloop's interpreter (numpy + pyarrow)."""
    base, cur = _data_gen.paths(args.rows, args.seed, args.data_dir)
    if not (base.exists() and cur.exists()):
        log(f"generating {args.rows:,}-row data in {args.data_dir} ...")
        subprocess.run(
            [
                args.mloop_python,
                str(HERE / "_data_gen.py"),
                "--rows",
                str(args.rows),
                "--seed",
                str(args.seed),
                "--dir",
                str(args.data_dir),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return base, cur


# ---- workers (mloop and ceiling; run in mloop's interpreter) --------------------------------


def _threads() -> int | None:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return None


def ceiling_numeric(col):  # type: ignore[no-untyped-def]
    """A number or timestamp column as a float64/int64 numpy array without nulls."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_timestamp(col.type):
        col = col.cast(pa.int64())
    if col.null_count:
        col = pc.drop_null(col)
    return col.to_numpy()


def ceiling_stats(table) -> dict:  # type: ignore[no-untyped-def]
    import numpy as np
    import pyarrow.compute as pc

    out = {}
    for name in [*_data_gen.NUMERIC_COLS, _data_gen.TS_COL]:
        col = table.column(name)
        x = ceiling_numeric(col)
        if x.dtype.kind == "f":
            nan = int(np.isnan(x).sum())
            lo, hi, mean = np.nanmin(x), np.nanmax(x), np.nanmean(x)
        else:
            nan = 0
            lo, hi, mean = x.min(), x.max(), x.mean()
        hist, _ = np.histogram(x, bins=BINS, range=(float(lo), float(hi)))
        out[name] = (col.null_count, nan, lo, hi, mean, hist)
    for name in _data_gen.STRING_COLS:
        col = table.column(name)
        out[name] = (col.null_count, pc.value_counts(col))
    return out


def _versions_mloop() -> dict[str, str]:
    import numpy
    import pyarrow

    v = {"numpy": numpy.__version__, "pyarrow": pyarrow.__version__}
    try:
        import mloop

        v["mloop"] = mloop.__version__
    except Exception:
        pass
    return v


def worker(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", choices=("mloop", "ceiling"), required=True)
    ap.add_argument("--baseline", type=Path, required=True)
    ap.add_argument("--warmup-rows", type=int, default=WARMUP_ROWS)
    args = ap.parse_args(argv)
    if args.worker == "mloop":
        try:
            from mloop.data import compute_statistics
        except Exception as exc:
            _data_gen.emit({"contender": "mloop", "unavailable": f"{type(exc).__name__}: {exc}"})
            return UNAVAILABLE
        work = compute_statistics
    else:
        work = ceiling_stats
    t = time.perf_counter()
    if args.warmup_rows:
        work(_data_gen.load(args.baseline, "arrow", args.warmup_rows))
    warmup_s = time.perf_counter() - t
    t = time.perf_counter()
    table = _data_gen.load(args.baseline, "arrow")
    load_s = time.perf_counter() - t
    with _data_gen.Probe() as probe:
        result = work(table)
    _data_gen.emit(
        {
            "contender": args.worker,
            "task": "stats",
            "rows": table.num_rows,
            **probe.record(),
            "load_s": round(load_s, 3),
            "warmup_s": round(warmup_s, 3),
            "os_threads": _threads(),
            "features": len(getattr(result, "features", result)),
            "versions": _versions_mloop(),
        }
    )
    return 0


# ---- the benchmark --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--worker" in argv:
        return worker(argv)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common_args(ap, "include the installed peers (whylogs; default: yes, except with --smoke)")
    ap.add_argument(
        "--cores",
        choices=("all", "1", "both"),
        default="both",
        help="unpinned, pinned to one core (taskset -c 0), or both cases (default)",
    )
    ap.add_argument(
        "--evidently",
        action="store_true",
        help="also run Evidently's DataSummaryPreset report (not a plain profiler; slow)",
    )
    args = ap.parse_args(argv)
    if args.smoke:
        args.rows, args.repeats = SMOKE_ROWS, 1
        args.cores = "all" if args.cores == "both" else args.cores
    out_path = args.out or RESULTS / ("data_stats.smoke.json" if args.smoke else "data_stats.json")
    t_start = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t_start:7.1f}s] {msg}", file=sys.stderr, flush=True)

    base, _ = ensure_data(args, log)
    have_taskset = shutil.which("taskset") is not None
    cases: list[tuple[str, bool]] = []
    if args.cores in ("all", "both"):
        cases.append(("all cores", False))
    if args.cores in ("1", "both"):
        if have_taskset:
            cases.append(("1 core", True))
        else:
            log("taskset not found: no '1 core' case")
    common = ["--baseline", str(base), "--warmup-rows", str(args.warmup_rows)]
    chosen = [
        Contender(
            "mloop", args.mloop_python, Path(__file__).resolve(), ["--worker", "mloop", *common]
        )
    ]
    if not args.no_ceiling:
        chosen.append(
            Contender(
                "ceiling",
                args.mloop_python,
                Path(__file__).resolve(),
                ["--worker", "ceiling", *common],
            )
        )
    want_peers = args.peers if args.peers is not None else not args.smoke
    peer_names = ["whylogs"] + (["evidently"] if args.evidently else [])
    peers, skipped = peer_contenders(peer_names, want_peers, lambda p: ["--task", "stats", *common])
    chosen += peers
    if not args.evidently:
        skipped["evidently"] = "no plain profiler (its DataSummaryPreset report: --evidently)"

    outcomes, versions = run_rounds(
        chosen,
        cases,
        args.repeats,
        args.timeout,
        log,
        lambda r: (
            f"{r['rows'] / r['wall_s']:>12,.0f} rows/s  {r['wall_s']:8.3f} s  "
            f"cores {r['cpu_s'] / r['wall_s']:.2f}  peak +{r['peak_delta_mb']:.0f} MB"
        ),
    )

    # ---- figures, ratios, targets -------------------------------------------------------------
    figures: list[dict] = []
    rows_out: list[dict] = []
    med: dict[tuple[str, str], float] = {}
    for c in chosen:
        for case, _ in cases:
            o = outcomes[(c.name, case)]
            row = {"contender": c.name, "case": case, "s": o}
            if o.samples:
                rps = [r["rows"] / r["wall_s"] for r in o.samples]
                secs = [r["wall_s"] for r in o.samples]
                cores = [r["cpu_s"] / r["wall_s"] for r in o.samples]
                delta = [r["peak_delta_mb"] for r in o.samples]
                peak = [r["peak_rss_mb"] for r in o.samples]
                figures += [
                    figure(c.name, case, "rows_per_s", rps, 1),
                    figure(c.name, case, "seconds", secs),
                    figure(c.name, case, "cores_used", cores, 2),
                    figure(c.name, case, "peak_delta_mb", delta, 1),
                    figure(c.name, case, "peak_rss_mb", peak, 1),
                ]
                med[(c.name, case)] = statistics.median(rps)
                row.update(
                    rps=spread(rps),
                    secs=statistics.median(secs),
                    cores=statistics.median(cores),
                    delta=statistics.median(delta),
                    peak=statistics.median(peak),
                    threads=o.samples[-1].get("os_threads"),
                )
            rows_out.append(row)
    ratios = []
    for (name, case), v in med.items():
        m = med.get(("mloop", case))
        if name != "mloop" and m:
            ratios.append(
                {
                    "contender": name,
                    "case": case,
                    "vs": "mloop",
                    "ratio": round(m / v, 3),
                    "meaning": "mloop rows/s / contender rows/s (> 1: mloop faster)",
                }
            )
    one = med.get(("mloop", "1 core"))
    targets = [
        target(
            "mloop statistics throughput per core (pinned to 1 core), rows/s",
            f">= {TARGETS['rows_per_s_per_core']:,.0f}",
            one,
            None if one is None else one >= TARGETS["rows_per_s_per_core"],
        )
    ]
    header = [
        "contender",
        "case",
        "rows/s median",
        "min",
        "max",
        "s",
        "cores used",
        "peak Δ MB",
        "peak RSS MB",
        "mloop x",
    ]
    body = []
    for r in rows_out:
        if "rps" not in r:
            o = r["s"]
            status = "unavailable" if o.unavailable else "failed"
            body.append([r["contender"], r["case"], status] + ["—"] * 7)
            continue
        m = med.get(("mloop", r["case"]))
        body.append(
            [
                r["contender"],
                r["case"],
                fmt(r["rps"]["median"], ",.0f"),
                fmt(r["rps"]["min"], ",.0f"),
                fmt(r["rps"]["max"], ",.0f"),
                fmt(r["secs"], ".3f"),
                fmt(r["cores"], ".2f"),
                fmt(r["delta"], ".0f"),
                fmt(r["peak"], ".0f"),
                fmt(m / r["rps"]["median"] if m else None, ".2f"),
            ]
        )
    notes = notes_for(skipped, outcomes)
    notes.append(
        f"{args.rows:,} rows x 20 columns; input read before timing; 'mloop x' = mloop rows/s / "
        "that row's rows/s, same case (for the ceiling: < 1 means mloop is slower than the floor)."
    )
    render(
        f"Statistics throughput, {args.rows:,} rows (higher is better)",
        header,
        body,
        notes,
        args.markdown,
    )
    print_targets(targets)

    result = {
        "benchmark": "data_stats",
        "date": dt.date.today().isoformat(),
        "machine": machine_info(),
        "versions": versions,
        "params": {
            "rows": args.rows,
            "columns": len(_data_gen.COLUMNS),
            "repeats": args.repeats,
            "smoke": args.smoke,
            "cases": [c for c, _ in cases],
            "input": "Parquet read before the timed region (pyarrow Table / pandas DataFrame)",
            "memory": "peak_delta_mb = VmHWM during the work - RSS before it (after imports, "
            "load, warm-up, gc); peak_rss_mb = VmHWM of the process during the work",
            "data": [str(base.name)],
        },
        "figures": figures,
        "ratios": ratios,
        "targets": targets,
        "unavailable": {
            **skipped,
            **{f"{n}/{c}": o.unavailable for (n, c), o in outcomes.items() if o.unavailable},
        },
        "errors": {f"{n}/{c}": o.errors for (n, c), o in outcomes.items() if o.errors},
        "elapsed_s": round(time.perf_counter() - t_start, 1),
    }
    write_result(out_path, result)
    failed = any(o.errors and not o.samples for o in outcomes.values())
    mloop_missing = any(o.unavailable for (n, _), o in outcomes.items() if n == "mloop")
    return 1 if failed or (args.strict and mloop_missing) else 0


if __name__ == "__main__":
    sys.exit(main())

"""Orchestration overhead per step: mloop (inline, process) vs Prefect 3 vs kfp.local.

Each step is trivial (``x + 1``), so a pipeline's wall time is its orchestration overhead:
scheduling, passing the value, recording state/metadata the way each tool does by default.
Two shapes: a **chain** of N steps and a **fan-out** (one source step, N independent steps
consuming it, plus a collecting step where the tool's idiomatic fan-out has one). A third,
mloop-only figure: the per-step time of a chain run whose every step is a **cache hit**.

Every contender runs in a subprocess of its own interpreter (mloop: this interpreter; peers:
``benchmarks/.peers/<peer>/bin/python``, made by ``setup_peers.sh``), which does its imports,
a warm-up run, then one timed run, and prints one JSON line; start-up and imports are never
timed. Contenders are interleaved within each repeat (A B C D, then D C B A, ...).

    python benchmarks/pipeline_overhead.py                 # full run: N=200, 5 repeats
    python benchmarks/pipeline_overhead.py --smoke         # CI: N=5, 1 repeat, mloop only
    python benchmarks/pipeline_overhead.py --no-peers --repeats 7

Writes ``benchmarks/results/pipeline_overhead.json`` (``--smoke``: ``...smoke.json``).
Only the standard library and (optionally) rich are used here.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from _harness import parse_record

HERE = Path(__file__).resolve().parent
PEERS_DIR = HERE / ".peers"
RESULTS = HERE / "results"

MLOOP = ("mloop-inline", "mloop-process")
PEERS = ("prefect", "kfp")
SHAPES = ("chain", "fanout", "cache")

TARGETS = {
    "mloop-inline": 2.0,  # ms/step
    "mloop-process": 20.0,
    "cache_hit": 1.0,
    "vs_best_peer": 10.0,  # times less overhead than the best peer
}


@dataclass
class Contender:
    name: str
    python: str
    script: Path
    extra: list[str] = field(default_factory=list)
    shapes: tuple[str, ...] = ("chain", "fanout")
    n: int = 200
    env: dict[str, str] = field(default_factory=dict)

    def command(self, shape: str, n: int) -> list[str]:
        return [self.python, str(self.script), *self.extra, "--shape", shape, "--n", str(n)]


@dataclass
class Outcome:
    samples: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    unavailable: str | None = None


def peer_python(peer: str) -> Path:
    return PEERS_DIR / peer / "bin" / "python"


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    """The parent's environment without settings that would point a tool at real state."""
    drop = ("MLOOP_", "PREFECT_", "KFP_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.pop("PYTHONPATH", None)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra)
    return env


def run_workload(c: Contender, shape: str, n: int, timeout: float) -> dict:
    """One subprocess, one timed run; returns its JSON record (or an error/unavailable one)."""
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as cwd:  # no stray mloop.toml
        try:
            proc = subprocess.run(
                c.command(shape, n),
                cwd=cwd,
                env=clean_env(c.env),
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout:.0f} s"}
    return parse_record(proc)


def contenders(args: argparse.Namespace) -> tuple[list[Contender], dict[str, str]]:
    """The contenders to run, and the reason each skipped one is skipped."""
    chosen: list[Contender] = []
    skipped: dict[str, str] = {}
    for executor in ("inline", "process"):
        chosen.append(
            Contender(
                name=f"mloop-{executor}",
                python=args.mloop_python,
                script=HERE / "_mloop_workload.py",
                extra=["--executor", executor],
                shapes=("chain", "fanout") + (() if args.no_cache_figure else ("cache",)),
                n=args.n,
            )
        )
    want_peers = args.peers if args.peers is not None else not args.smoke
    for peer in PEERS:
        py = peer_python(peer)
        if not want_peers:
            skipped[peer] = "not requested (--no-peers, or --smoke without --peers)"
        elif not py.exists():
            skipped[peer] = f"not installed ({py}); run benchmarks/setup_peers.sh"
        else:
            chosen.append(
                Contender(
                    name=peer,
                    python=str(py),
                    script=HERE / f"_peer_{peer}.py",
                    n=args.kfp_n if peer == "kfp" else args.n,
                )
            )
    return chosen, skipped


def summarize(samples: list[dict], key: str = "wall_s") -> dict | None:
    values = [s[key] / s["steps"] * 1000.0 for s in samples if s.get(key) is not None]
    if not values:
        return None
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "samples": values,
    }


def render(rows: list[dict], notes: list[str], markdown: bool = False) -> None:
    header = [
        "contender",
        "shape",
        "N",
        "steps",
        "median ms/step",
        "min",
        "max",
        "x mloop-inline",
        "x mloop-process",
    ]
    body = []
    for r in rows:

        def fmt(x: float | None, spec: str = ".2f") -> str:
            return "—" if x is None else format(x, spec)

        body.append(
            [
                r["contender"],
                r["shape"],
                str(r["n"]),
                str(r["steps"]),
                fmt(r["median"], ".3f") if r["median"] is not None else r.get("status", "—"),
                fmt(r["min"], ".3f"),
                fmt(r["max"], ".3f"),
                fmt(r["ratio_inline"], ".1f"),
                fmt(r["ratio_process"], ".1f"),
            ]
        )
    if markdown:  # for benchmarks/README.md
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
        print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
        for b in body:
            print("  ".join(c.ljust(w) for c, w in zip(b, widths, strict=True)))
        for note in notes:
            print(note)
        return
    table = Table(title="Orchestration overhead per step (lower is better)")
    for i, h in enumerate(header):
        table.add_column(h, justify="left" if i < 2 else "right")
    for b in body:
        table.add_row(*b)
    console = Console(width=None if sys.stdout.isatty() else 140)
    console.print(table)
    for note in notes:
        console.print(note, highlight=False)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5, help="timed runs per contender and shape")
    ap.add_argument("--n", type=int, default=200, help="steps in the chain / fan-out width")
    ap.add_argument(
        "--kfp-n",
        type=int,
        default=20,
        help="N for kfp.local (each step is a fresh Python subprocess: ~0.5 s)",
    )
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="N=5, 1 repeat, mloop only unless --peers; seconds; for CI",
    )
    ap.add_argument(
        "--peers",
        dest="peers",
        action="store_true",
        default=None,
        help="include the installed peers (default: yes, except with --smoke)",
    )
    ap.add_argument("--no-peers", dest="peers", action="store_false")
    ap.add_argument("--no-warmup", action="store_true", help="skip the untimed warm-up round")
    ap.add_argument("--no-cache-figure", action="store_true", help="skip the cache-hit figure")
    ap.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 if an mloop contender is unavailable (errors always fail)",
    )
    ap.add_argument(
        "--mloop-python",
        default=sys.executable,
        help="interpreter with mloop installed (default: this one)",
    )
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    ap.add_argument("--timeout", type=float, default=1200.0, help="per subprocess, seconds")
    ap.add_argument("--out", type=Path, default=None, help="results JSON path")
    args = ap.parse_args(argv)
    if args.smoke:
        args.n, args.kfp_n, args.repeats, args.no_warmup = 5, 3, 1, True
    out_path = args.out or RESULTS / (
        "pipeline_overhead.smoke.json" if args.smoke else "pipeline_overhead.json"
    )

    chosen, skipped = contenders(args)
    outcomes = {(c.name, s): Outcome() for c in chosen for s in c.shapes}
    versions: dict[str, str] = {}
    t_start = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t_start:7.1f}s] {msg}", file=sys.stderr, flush=True)

    def attempt(c: Contender, shape: str, n: int, keep: bool) -> None:
        o = outcomes[(c.name, shape)]
        if o.unavailable:
            return
        rec = run_workload(c, shape, n, args.timeout)
        if "unavailable" in rec:
            o.unavailable = rec["unavailable"]
            log(f"{c.name}: unavailable — {o.unavailable}")
        elif "error" in rec:
            o.errors.append(rec["error"])
            log(f"{c.name} {shape}: ERROR {rec['error']}")
        else:
            versions.update(rec.get("versions", {}))
            per_step = rec["wall_s"] / rec["steps"] * 1000
            log(
                f"{c.name:13} {shape:6} n={n:<4} {per_step:9.3f} ms/step"
                f"{'' if keep else '  (warm-up, discarded)'}"
            )
            if keep:
                o.samples.append(rec)

    if not args.no_warmup:  # one untimed round at a small size: page cache, .pyc files
        for c in chosen:
            for shape in c.shapes:
                attempt(c, shape, min(c.n, 10), keep=False)
    order = list(chosen)
    for rep in range(args.repeats):
        log(f"repeat {rep + 1}/{args.repeats}")
        for shape in SHAPES:
            for c in order:
                if shape in c.shapes:
                    attempt(c, shape, c.n, keep=True)
        order.reverse()  # A B C D, D C B A, ...: no contender always runs first

    # ---- figures, ratios, targets ---------------------------------------------------------
    rows: list[dict] = []
    figures: list[dict] = []
    medians: dict[tuple[str, str], float] = {}
    for c in chosen:
        for shape in c.shapes:
            o = outcomes[(c.name, shape)]
            s = summarize(o.samples)
            steps = o.samples[0]["steps"] if o.samples else None
            n = c.n
            row = {
                "contender": c.name,
                "shape": shape,
                "n": n,
                "steps": steps or "—",
                "median": None,
                "min": None,
                "max": None,
                "ratio_inline": None,
                "ratio_process": None,
            }
            if s is None:
                row["status"] = "unavailable" if o.unavailable else "failed"
            else:
                row.update(median=s["median"], min=s["min"], max=s["max"])
                medians[(c.name, shape)] = s["median"]
                metric = "ms_per_step_cache_hit" if shape == "cache" else "ms_per_step"
                figures.append(
                    {
                        "contender": c.name,
                        "case": f"{shape},n={n}",
                        "metric": metric,
                        "median": round(s["median"], 4),
                        "min": round(s["min"], 4),
                        "max": round(s["max"], 4),
                        "steps": steps,
                        "repeats": len(s["samples"]),
                        "samples": [round(v, 4) for v in s["samples"]],
                    }
                )
                rec = summarize(o.samples, "recorded_s")
                if rec is not None:  # Prefect: until every task-run state is in its database
                    figures.append(
                        {
                            "contender": c.name,
                            "case": f"{shape},n={n}",
                            "metric": "ms_per_step_until_recorded",
                            "median": round(rec["median"], 4),
                            "min": round(rec["min"], 4),
                            "max": round(rec["max"], 4),
                            "steps": steps,
                            "repeats": len(rec["samples"]),
                        }
                    )
            rows.append(row)
    ratios: list[dict] = []
    for row in rows:
        for base, col in (("mloop-inline", "ratio_inline"), ("mloop-process", "ratio_process")):
            b = medians.get((base, row["shape"]))
            if b and row["median"] is not None:
                row[col] = row["median"] / b
                if row["contender"] not in MLOOP:
                    ratios.append(
                        {
                            "contender": row["contender"],
                            "case": row["shape"],
                            "vs": base,
                            "ratio": round(row["median"] / b, 2),
                        }
                    )

    targets: list[dict] = []

    def target(what: str, goal: str, measured: float | None, met: bool | None) -> None:
        targets.append(
            {
                "what": what,
                "target": goal,
                "measured": None if measured is None else round(measured, 3),
                "met": met,
            }
        )

    for name in MLOOP:
        for shape in ("chain", "fanout"):
            m = medians.get((name, shape))
            target(
                f"{name} {shape} overhead, ms/step",
                f"<= {TARGETS[name]:g}",
                m,
                None if m is None else m <= TARGETS[name],
            )
        m = medians.get((name, "cache"))
        target(
            f"{name} cache-hit lookup, ms/step",
            f"<= {TARGETS['cache_hit']:g}",
            m,
            None if m is None else m <= TARGETS["cache_hit"],
        )
    for name in MLOOP:
        for shape in ("chain", "fanout"):
            peers = [medians[(p, shape)] for p in PEERS if (p, shape) in medians]
            m = medians.get((name, shape))
            x = min(peers) / m if peers and m else None
            target(
                f"{name} {shape}: best peer's overhead / mloop's",
                f">= {TARGETS['vs_best_peer']:g}",
                x,
                None if x is None else x >= TARGETS["vs_best_peer"],
            )

    notes = []
    for name, why in skipped.items():
        notes.append(f"{name}: skipped — {why}")
    for (name, shape), o in outcomes.items():
        if o.unavailable:
            notes.append(f"{name} {shape}: unavailable — {o.unavailable}")
        for e in dict.fromkeys(o.errors):
            notes.append(f"{name} {shape}: error — {e}")
    if any(c.name == "kfp" for c in chosen) and args.kfp_n != args.n:
        notes.append(
            f"kfp measured at N={args.kfp_n} (one Python subprocess per step); "
            "figures are per step."
        )
    render(rows, notes, markdown=args.markdown)
    for t in targets:
        mark = {True: "met", False: "NOT met", None: "not measured"}[t["met"]]
        print(f"target {t['what']} {t['target']}: {t['measured']} ({mark})")

    result = {
        "benchmark": "pipeline_overhead",
        "date": dt.date.today().isoformat(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "machine": platform.machine(),
        },
        "versions": versions,
        "params": {
            "n": args.n,
            "kfp_n": args.kfp_n,
            "repeats": args.repeats,
            "smoke": args.smoke,
            "warmup_round": not args.no_warmup,
            "unit": "ms per step = wall time of one pipeline run / steps in it",
        },
        "figures": figures,
        "ratios": ratios,
        "targets": targets,
        "unavailable": {
            **{name: why for name, why in skipped.items()},
            **{f"{n}/{s}": o.unavailable for (n, s), o in outcomes.items() if o.unavailable},
        },
        "errors": {f"{n}/{s}": o.errors for (n, s), o in outcomes.items() if o.errors},
        "elapsed_s": round(time.perf_counter() - t_start, 1),
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out_path}", file=sys.stderr)

    failed = any(o.errors and not o.samples for o in outcomes.values())
    mloop_missing = any(o.unavailable for (n, _), o in outcomes.items() if n in MLOOP)
    return 1 if failed or (args.strict and mloop_missing) else 0


if __name__ == "__main__":
    sys.exit(main())

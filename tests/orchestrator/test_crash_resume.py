"""kill -9 the orchestrator mid-run; the run shows as crashed; resume finishes it and reuses
the executions that had succeeded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mloop
from mloop.config import load_settings

PIPELINE = """
import time
from pathlib import Path

from mloop import component, pipeline


@component
def first(x: int) -> int:
    return x + 1


@component
def gate(x: int, gate_file: str) -> int:
    while not Path(gate_file).exists():
        time.sleep(0.05)
    return x + 1


@component
def last(x: int) -> int:
    return x * 10


@pipeline(name="crashy")
def crashy(gate_file: str) -> None:
    last(x=gate(x=first(x=1), gate_file=gate_file))
"""


def _wait_for(predicate, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def test_kill_minus_nine_then_resume(tmp_path: Path) -> None:
    (tmp_path / "crashy.py").write_text(PIPELINE)
    home = tmp_path / "home"
    gate_file = tmp_path / "open"
    env = {**os.environ, "MLOOP_HOME": str(home), "MLOOP_HEARTBEAT_INTERVAL": "0.2"}
    orchestrator = subprocess.Popen(
        [sys.executable, "-m", "mloop", "run", "crashy.py:crashy", "-p", f"gate_file={gate_file}"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    client = mloop.Client(load_settings(home=home))

    def gate_running() -> bool:
        runs = client.runs(limit=1) if (home / "mloop.db").exists() else []
        if not runs:
            return False
        states = {e.step: e.state for e in client.executions(runs[0].id)}
        return states.get("first") == "succeeded" and states.get("gate") == "running"

    try:
        _wait_for(gate_running)
    finally:
        orchestrator.send_signal(signal.SIGKILL)
        orchestrator.wait(timeout=30)

    run = client.runs(limit=1)[0]
    assert run.state == "running"
    assert client.status(run) == "crashed"

    gate_file.touch()
    resumed = subprocess.run(
        [sys.executable, "-m", "mloop", "runs", "resume", run.id],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr

    run = client.run(run.id)
    assert run.state == "succeeded"
    executions = client.executions(run.id)
    by_step: dict[str, list[str]] = {}
    for execution in executions:
        by_step.setdefault(execution.step, []).append(execution.state)
    assert by_step == {
        "first": ["succeeded"],  # not re-executed: its execution was reused
        "gate": ["failed", "succeeded"],  # the one killed mid-flight, then the rerun
        "last": ["succeeded"],
    }
    assert client.outputs(run.id)["last"] == {}
    last = next(e for e in executions if e.step == "last")
    assert last.output_params == {"output": 30}

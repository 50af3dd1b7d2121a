"""mloop runs cancel: a running run stops its steps within a heartbeat and is recorded so."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import mloop
from mloop.config import load_settings

PIPELINE = """
import time

from mloop import component, pipeline


@component
def slow(seconds: float) -> int:
    time.sleep(seconds)
    return 1


@pipeline(name="slow")
def slow_pipeline(seconds: float = 120.0) -> None:
    slow(seconds=seconds)
"""


def test_cancel_stops_a_running_run(tmp_path: Path) -> None:
    (tmp_path / "slow.py").write_text(PIPELINE)
    home = tmp_path / "home"
    env = {**os.environ, "MLOOP_HOME": str(home), "MLOOP_HEARTBEAT_INTERVAL": "0.2"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mloop", "run", "slow.py:slow_pipeline"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    client = mloop.Client(load_settings(home=home))
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            runs = client.runs(limit=1) if (home / "mloop.db").exists() else []
            if runs and any(e.state == "running" for e in client.executions(runs[0].id)):
                break
            time.sleep(0.1)
        run = client.runs(limit=1)[0]
        done = subprocess.run(
            [sys.executable, "-m", "mloop", "runs", "cancel", run.id],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        output, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 1
    assert "cancelled" in output
    assert client.run(run.id).state == "cancelled"
    assert [e.state for e in client.executions(run.id)] == ["cancelled"]

    again = subprocess.run(
        [sys.executable, "-m", "mloop", "runs", "cancel", run.id],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 2 and "already cancelled" in again.stderr

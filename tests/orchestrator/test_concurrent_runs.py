"""Two orchestrators on one SQLite file at once: both runs complete and nothing is lost."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import mloop
from mloop.config import load_settings

PIPELINE = """
from mloop import component, pipeline


@component
def inc(x: int) -> int:
    return x + 1


@pipeline(name="wide")
def wide(width: int = 40) -> None:
    for i in range(40):
        inc(x=i)
"""


def test_two_runs_at_once_on_one_sqlite_file(tmp_path: Path) -> None:
    (tmp_path / "wide.py").write_text(PIPELINE)
    env = {**os.environ, "MLOOP_HOME": str(tmp_path / "home")}
    subprocess.run(
        [sys.executable, "-m", "mloop", "db", "upgrade"],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "mloop", "run", "wide.py:wide", "--no-cache"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs

    client = mloop.Client(load_settings(home=tmp_path / "home"))
    runs = client.runs()
    assert len(runs) == 2 and {r.state for r in runs} == {"succeeded"}
    for run in runs:
        executions = client.executions(run.id)
        assert len(executions) == 40
        assert sorted(e.output_params["output"] for e in executions) == list(range(1, 41))

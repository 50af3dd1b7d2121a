"""The mloop command, through its real entry point (error boundary and exit codes included)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from _cli import run_cli as cli

PIPELINE = """
import pandas as pd

from mloop import Dataset, Metrics, component, pipeline


@component
def make(n: int) -> Dataset:
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    print(f"making {n} rows")
    return pd.DataFrame({"x": list(range(n))})


@component
def summarize(table: Dataset) -> Metrics:
    return {"rows": table.num_rows}


@pipeline(name="tiny")
def tiny(n: int = 3) -> None:
    summarize(table=make(n=n))
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "tiny.py").write_text(PIPELINE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLOOP_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLOOP_EXECUTOR", "inline")
    monkeypatch.delitem(sys.modules, "tiny", raising=False)
    return tmp_path


def test_run_show_logs_artifacts_and_lineage(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, "run", "tiny.py:tiny", "-p", "n=4")
    assert code == 0, out
    assert "make" in out and "4 rows" in out and "succeeded" in out
    run_id = out.split("Run ", 1)[1].split()[0]

    code, out, _ = cli(capsys, "run", "tiny.py:tiny", "-p", "n=4")
    assert code == 0 and out.count("cached") == 2

    code, out, _ = cli(capsys, "runs", "list")
    assert code == 0 and run_id in out and "succeeded" in out

    code, out, _ = cli(capsys, "runs", "show", run_id[:-2])
    assert code == 0 and "summarize" in out and "Metrics" in out

    code, out, _ = cli(capsys, "runs", "logs", run_id, "make")
    assert code == 0 and "making 4 rows" in out

    code, out, _ = cli(capsys, "artifacts", "show", f"{run_id}/summarize")
    assert code == 0 and '"rows": 4' in out

    code, out, _ = cli(capsys, "lineage", f"{run_id}/summarize")
    assert code == 0 and "summarize" in out and "make" in out and "Dataset" in out

    code, out, _ = cli(capsys, "lineage", f"{run_id}/summarize", "--format", "json")
    graph = json.loads(out)
    assert code == 0
    assert sorted(a["type"] for a in graph["artifacts"]) == ["Dataset", "Metrics"]
    assert sorted(e["step"] for e in graph["executions"]) == ["make", "summarize"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["run", "tiny.py:tiny", "-p", "nope=1"], "nope"),
        (["run", "tiny.py:tiny", "-p", "n=abc"], "n"),
        (["run", "missing.py:tiny"], "missing.py"),
        (["run", "tiny.py:other"], "other"),
        (["run", "tiny.py:tiny", "-p", "n"], "key=value"),
        (["runs", "show", "no-such-run"], "no-such-run"),
        (["lineage", "artifact:abc"], "artifact:abc"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(
    project: Path, capsys: pytest.CaptureFixture[str], args: list[str], expected: str
) -> None:
    code, out, err = cli(capsys, *args)
    assert code == 2
    assert expected in err
    assert "Traceback" not in err + out
    assert len(err.strip().splitlines()) == 1


def test_broken_pipeline_file_is_a_one_line_error(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "broken.py").write_text("import mloop\n\nx = 1 / 0\n")
    code, out, err = cli(capsys, "run", "broken.py:p")
    assert code == 2
    assert "importing broken.py failed: line 3: ZeroDivisionError" in err
    assert "Traceback" not in out + err


def test_failed_run_exits_1_and_points_at_logs(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, "run", "tiny.py:tiny", "-p", "n=-1")
    assert code == 1
    assert "failed" in out and "mloop runs logs" in out


def test_db_upgrade(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "db", "upgrade")
    assert code == 0 and "up to date" in out
    assert (project / "home" / "mloop.db").exists()

"""``mloop data ...`` end to end through the real entry point, on files in tmp_path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from _cli import run_cli as cli


def trips(n: int = 600, seed: int = 0, shift: float = 0.0) -> pa.Table:
    rng = np.random.default_rng(seed)
    p = [0.6, 0.3, 0.1] if not shift else [0.2, 0.3, 0.5]
    return pa.table(
        {
            "distance": rng.gamma(2.0, 2.0 + 3 * shift, n),
            "passengers": rng.integers(1, 5, n),
            "payment": rng.choice(["card", "cash", "voucher"], n, p=p),
            "tipped": rng.random(n) < 0.4,
            "split": rng.choice(["train", "eval"], n, p=[0.8, 0.2]),
        }
    )


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    pq.write_table(trips(), tmp_path / "base.parquet")
    pq.write_table(trips(seed=1), tmp_path / "same.parquet")
    pq.write_table(trips(seed=2, shift=1.0), tmp_path / "shifted.parquet")
    (tmp_path / "parts").mkdir()
    for i in range(3):
        pcsv.write_csv(trips(200, seed=10 + i), tmp_path / "parts" / f"part-{i}.csv")
    return tmp_path


def test_stats_prints_features_and_writes_json_and_html(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(
        capsys, "data", "stats", "base.parquet", "--json", "s.json", "--html", "s.html"
    )
    assert code == 0, out
    assert "600 rows" in out and "train" in out and "eval" in out
    for name in ("distance", "passengers", "payment", "tipped"):
        assert name in out
    assert "mean" in out and "distinct" in out and "'card'" in out
    assert "split" not in out.split("\n", 1)[1].split()  # the split column is not a feature
    assert json.loads((files / "s.json").read_text())["num_rows"] == 600
    page = (files / "s.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "distance" in page and "<svg" in page

    code, again, _ = cli(capsys, "data", "stats", "s.json")  # statistics JSON: no recompute
    assert code == 0 and "600 rows" in again and "payment" in again

    code, out, _ = cli(capsys, "data", "stats", "base.parquet", "--split", "eval")
    assert code == 0 and "600 rows" not in out


@pytest.mark.parametrize("path", ["parts", "parts/*.csv"])
def test_stats_reads_csv_directories_and_globs(
    files: Path, capsys: pytest.CaptureFixture[str], path: str
) -> None:
    code, out, _ = cli(capsys, "data", "stats", path)
    assert code == 0, out
    assert "600 rows" in out and "payment" in out


def test_schema_then_validate(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(
        capsys, "data", "schema", "base.parquet", "-o", "schema.yaml", "--not-in", "tipped=SERVING"
    )
    assert code == 0, out
    text = (files / "schema.yaml").read_text()
    assert "payment:" in text and "not_in: [SERVING]" in text

    code, out, _ = cli(capsys, "data", "validate", "same.parquet", "--schema", "schema.yaml")
    assert code == 0, out
    assert "valid" in out

    serving = trips(300, seed=3).drop_columns(["tipped"])
    serving = serving.set_column(2, "payment", pa.array(["crypto"] * 300))
    pq.write_table(serving, files / "serving.parquet")
    code, out, _ = cli(
        capsys,
        "data",
        "validate",
        "serving.parquet",
        "--schema",
        "schema.yaml",
        "--environment",
        "SERVING",
        "--html",
        "v.html",
        "--json",
        "v.json",
    )
    assert code == 1, out
    assert "ERROR" in out and "out_of_domain" in out and "payment" in out
    assert "tipped" not in out  # not expected in SERVING
    assert "invalid" in out
    assert "out_of_domain" in (files / "v.html").read_text()
    assert json.loads((files / "v.json").read_text())["counts"]["error"] >= 1

    code, out, _ = cli(capsys, "data", "validate", "serving.parquet", "--schema", "schema.yaml")
    assert code == 1 and "missing_column" in out and "tipped" in out


def test_drift(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "data", "drift", "base.parquet", "same.parquet")
    assert code == 0, out
    assert "no drift" in out and "distance" in out

    code, out, _ = cli(
        capsys,
        "data",
        "drift",
        "base.parquet",
        "shifted.parquet",
        "--extra",
        "psi,wasserstein",
        "--metric",
        "passengers=ks",
        "--threshold",
        "payment=0.2",
        "--html",
        "d.html",
        "--json",
        "d.json",
    )
    assert code == 1, out
    rows = [line.split() for line in out.splitlines()[1:5]]  # under the header, sorted
    assert {r[0] for r in rows[:2]} == {"distance", "payment"}
    assert [("drifted" in r) for r in rows] == [True, True, False, False]
    assert "psi" in out and "wasserstein" in out and "p < 0.05" in out
    assert "drift: 2 of 4 compared features drifted" in out
    page = (files / "d.html").read_text()
    assert "Drift detected" in page and "distance" in page
    result = json.loads((files / "d.json").read_text())
    assert result["drifted"] is True
    assert {f["name"] for f in result["features"] if f["drifted"]} == {"distance", "payment"}

    code, out, _ = cli(
        capsys, "data", "drift", "base.parquet", "shifted.parquet", "--threshold", "5"
    )
    assert code == 0, out  # a threshold for every feature


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["stats", "missing.parquet"], "missing.parquet"),
        (["stats", "garbage.parquet"], "garbage.parquet"),
        (["stats", "nothing/*.csv"], "nothing/*.csv"),
        (["stats", "garbage.json"], "garbage.json"),
        (["validate", "base.parquet", "--schema", "nope.yaml"], "nope.yaml"),
        (["validate", "base.parquet", "--schema", "garbage.parquet"], "garbage.parquet"),
        (["drift", "base.parquet", "base.parquet", "--metric", "nope=ks"], "nope"),
        (["drift", "base.parquet", "base.parquet", "--metric", "distance"], "NAME=VALUE"),
        (["drift", "base.parquet", "base.parquet", "--metric", "distance=zz"], "zz"),
        (["drift", "base.parquet", "base.parquet", "--threshold", "high"], "high"),
        (["drift", "base.parquet", "base.parquet", "--threshold", "distance=-1"], "-1"),
        (["drift", "base.parquet", "base.parquet", "--extra", "psi,nope"], "nope"),
        (["drift", "base.parquet", "base.parquet", "--drift-share", "2"], "drift-share"),
        (["schema", "base.parquet", "-o", "s.yaml", "--not-in", "label"], "FEATURE=ENVIRONMENT"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(
    files: Path, capsys: pytest.CaptureFixture[str], args: list[str], expected: str
) -> None:
    (files / "garbage.parquet").write_bytes(b"not parquet\n" * 10)
    (files / "garbage.json").write_text('{"num_rows": 3}')
    code, out, err = cli(capsys, "data", *args)
    assert code == 2, out + err
    assert expected in err
    assert "Traceback" not in out + err
    assert len(err.strip().splitlines()) == 1, err

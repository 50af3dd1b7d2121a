"""``mloop predict``: a registered model over a file, through the real entry point (the
summary line, one-line errors with exit 2), and its memory bound on a 2M-row file in a
subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from _cli import run_cli as cli
from mloop.config import load_settings
from mloop.registry import Registry

NAME = "flights-delay"
CARRIERS = ["AA", "B6", "DL", "UA"]


def flights(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "distance": rng.normal(1000.0, 300.0, rows),
            "dep_hour": rng.integers(5, 23, rows),
            "carrier": rng.choice(CARRIERS, rows),
            "month": rng.integers(1, 13, rows),
        }
    )
    frame["delayed"] = ((frame["distance"] > 1000) ^ (frame["carrier"] == "AA")).astype("int64")
    return frame


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project whose registry has v1 of a LightGBM model, @champion."""
    from mloop.ml import Transform, fit_lightgbm, training_data

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLOOP_HOME", str(tmp_path / "home"))
    frame = flights(1000, seed=0)
    fitted = Transform(numeric=["distance", "dep_hour", "month"], categorical=["carrier"])
    model = fit_lightgbm(
        training_data(frame, "delayed", transform=fitted.fit(frame)), num_boost_round=20
    )
    with Registry(load_settings()) as registry:
        artifact = registry.artifacts.save(model, "Model")
        registry.register(NAME, artifact)  # type: ignore[arg-type]
        registry.set_alias(NAME, "champion", 1)
    return tmp_path


def one_line_error(code: int, err: str, text: str) -> None:
    assert code == 2, err
    assert err.startswith("error: ") and err.strip().count("\n") == 0, err
    assert text in err, err


def test_predict_round_trip(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = flights(3000, seed=1)
    data.to_csv("in.csv", index=False)
    code, out, err = cli(
        capsys,
        "predict",
        "--model",
        f"models:/{NAME}@champion",
        "--input",
        "in.csv",
        "--output",
        "out/predictions.parquet",
        "--chunk-rows",
        "1000",
        "--keep",
        "carrier,distance",
        "--scores",
    )
    assert code == 0, err
    assert out.startswith("3,000 rows → out/predictions.parquet in ") and "rows/s)" in out
    assert err == ""  # no terminal: no progress bar
    scored = pd.read_parquet("out/predictions.parquet")
    assert list(scored.columns) == ["carrier", "distance", "prediction", "score"]
    with Registry(load_settings()) as registry:
        model = registry.load(f"models:/{NAME}/1")
    np.testing.assert_array_equal(scored["prediction"], model.predict(data))

    code, out, _ = cli(
        capsys, "predict", "--model", f"{NAME}/1", "--input", "in.csv", "--output", "out.csv"
    )
    assert code == 0 and out.startswith("3,000 rows → out.csv")
    assert list(pd.read_csv("out.csv").columns) == [*data.columns, "prediction"]


def test_bad_input_is_one_line_naming_it(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flights(50, seed=1).drop(columns="month").to_parquet("in.parquet")
    args = ["predict", "--input", "in.parquet", "--output", "out.parquet", "--model"]

    code, _, err = cli(capsys, *args, f"models:/{NAME}@champion")
    one_line_error(code, err, "column 'month': missing")
    assert not Path("out.parquet").exists()

    code, _, err = cli(capsys, *args, "models:/no-such-model@champion")
    one_line_error(code, err, "no-such-model")

    code, _, err = cli(capsys, *args[:2], "nowhere/*.parquet", *args[3:], f"{NAME}@champion")
    one_line_error(code, err, "no file matches input 'nowhere/*.parquet'")

    code, _, err = cli(capsys, *args[:4], "out.xlsx", args[-1], f"{NAME}@champion")
    one_line_error(code, err, "cannot tell the output format from 'out.xlsx'")


ROWS, ROW_GROUP = 2_000_000, 100_000


def write_big_parquet(path: Path, rows: int) -> int:
    """``rows`` rows x 8 columns, written one row group at a time (never all in memory);
    the Arrow size the whole table would have."""
    rng = np.random.default_rng(7)
    schema = pa.schema(
        [
            ("distance", pa.float64()),
            ("dep_hour", pa.int64()),
            ("carrier", pa.string()),
            ("month", pa.int64()),
            *((f"x{i}", pa.float64()) for i in range(4)),
        ]
    )
    size = 0
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, rows, ROW_GROUP):
            n = min(ROW_GROUP, rows - start)
            group = pa.table(
                {
                    "distance": rng.normal(1000.0, 300.0, n),
                    "dep_hour": rng.integers(5, 23, n),
                    "carrier": rng.choice(CARRIERS, n),
                    "month": rng.integers(1, 13, n),
                    **{f"x{i}": rng.random(n) for i in range(4)},
                },
                schema=schema,
            )
            size += group.nbytes
            writer.write_table(group)
    return size


# Run by a fresh interpreter: a child forked from the test process (hundreds of MB by now)
# would count that process's pages in its own peak; one forked from this small process
# starts clean, and RUSAGE_CHILDREN then holds the command's peak alone.
_MEASURE = (
    "import resource, subprocess, sys; "
    "code = subprocess.run(sys.argv[1:]).returncode; "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)"
)


def peak_rss_mb(*args: str) -> tuple[float, str]:
    """The peak RSS of ``python -m mloop ARGS`` in MB, and the last line it printed."""
    command = [sys.executable, "-c", _MEASURE, sys.executable, "-m", "mloop", *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    *printed, peak = done.stdout.splitlines()
    return int(peak) / 1024, printed[-1]  # ru_maxrss is in KiB on Linux


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in KiB on Linux")
def test_memory_does_not_grow_with_the_input(project: Path) -> None:
    """2M rows take no more memory than 100k: what grows is time, not RSS.

    The baseline is the same command on the first 100,000 rows (two chunks): the same
    imports, registry, model, thread pools and full-size chunk buffers, which are most of
    the peak (``mloop --help``, the bare interpreter, is reported for scale only: pandas,
    pyarrow and LightGBM alone are far above it). Holding the input would add its Arrow
    size, and pandas and the feature matrix of every row several times that.
    """
    arrow_mb = write_big_parquet(project / "big.parquet", ROWS) / 2**20
    head = pq.read_table(project / "big.parquet").slice(0, 100_000)
    pq.write_table(head, project / "head.parquet", row_group_size=ROW_GROUP)
    interpreter, _ = peak_rss_mb("--help")
    predict = ["predict", "--model", f"{NAME}@champion", "--chunk-rows", "50000", "--input"]
    baseline, _ = peak_rss_mb(*predict, "head.parquet", "--output", "head-out.parquet")
    peak, summary = peak_rss_mb(*predict, "big.parquet", "--output", "big-out.parquet")
    assert summary.startswith(f"{ROWS:,} rows → big-out.parquet in ")
    assert pq.ParquetFile(project / "big-out.parquet").metadata.num_rows == ROWS
    print(
        f"\n{ROWS:,} rows x 8 columns = {arrow_mb:.0f} MB as Arrow; peak RSS: mloop --help "
        f"{interpreter:.0f} MB, predict 100,000 rows {baseline:.0f} MB, predict {ROWS:,} rows "
        f"{peak:.0f} MB; {summary}"
    )
    assert peak - baseline < 0.4 * arrow_mb

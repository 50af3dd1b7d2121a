"""A quick load test of a registered model: does it load, accept this data, and how fast?

Batch throughput is the median over ``repeat`` predictions of ``rows`` rows; latency is a
single-row prediction repeated (what one online request costs, transform included). Rows
come from a file, or are synthesized from the model's signature when none is given.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mloop.errors import DataError, DefinitionError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["LoadTestResult", "load_test", "read_rows", "synthesize_rows"]

#: Single-row predictions timed for the latency percentiles (at least).
LATENCY_SAMPLES = 200


@dataclass(frozen=True)
class LoadTestResult:
    rows: int  # rows per batch
    repeat: int  # batches timed
    batch_seconds: list[float]
    latencies_ms: list[float]  # single-row predictions, sorted
    predictions: list[Any]  # the first predictions of the first batch
    synthesized: bool  # the rows were made up from the signature

    @property
    def rows_per_second(self) -> float:
        median = statistics.median(self.batch_seconds)
        return self.rows / median if median > 0 else float("inf")

    def latency_ms(self, quantile: float) -> float:
        """A latency percentile (``0.5``, ``0.99``) of single-row predictions, in ms."""
        values = self.latencies_ms
        index = min(len(values) - 1, max(0, round(quantile * (len(values) - 1))))
        return values[index]


def read_rows(path: Path, limit: int | None = None) -> pd.DataFrame:
    """Rows of a Parquet or CSV file as pandas (the standard ``split`` column dropped)."""
    import pandas as pd

    if not path.is_file():
        raise DefinitionError(f"load-test data {path} does not exist", path=str(path))
    suffix = path.suffix.lower()
    frame: pd.DataFrame
    try:
        if suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            frame = pq.read_table(path).to_pandas()
        elif suffix in (".csv", ".txt"):
            frame = pd.read_csv(path, nrows=limit)
        else:
            raise DefinitionError(
                f"load-test data {path}: use a .parquet or .csv file", path=str(path)
            )
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read load-test data {path}: {exc}", path=str(path)) from None
    frame = frame.drop(columns=["split"], errors="ignore")
    return frame.head(limit) if limit is not None else frame


def synthesize_rows(signature: dict[str, Any], rows: int, seed: int = 0) -> pd.DataFrame:
    """Rows that fit a signature: numbers around 0-100, a few distinct strings, dates of
    2024 — enough to exercise the transform and the model, not to mean anything."""
    import numpy as np
    import pandas as pd

    inputs = [c for c in signature.get("inputs") or [] if isinstance(c, dict)]
    if not inputs:
        raise DefinitionError(
            "the model has no signature to synthesize rows from: pass --data FILE"
        )
    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {}
    for spec in inputs:
        name, kind = str(spec.get("name")), str(spec.get("type", "any"))
        if kind == "int64":
            columns[name] = rng.integers(0, 100, rows, dtype="int64")
        elif kind == "string":
            columns[name] = rng.choice([f"{name}_{i}" for i in range(5)], rows)
        elif kind == "bool":
            columns[name] = rng.random(rows) < 0.5
        elif kind == "timestamp":
            start = np.datetime64("2024-01-01T00:00:00")
            columns[name] = start + rng.integers(0, 366 * 86400, rows).astype("timedelta64[s]")
        else:  # float64, any
            columns[name] = rng.normal(50.0, 20.0, rows)
    return pd.DataFrame(columns)


def load_test(
    model: Any, data: pd.DataFrame | None = None, *, rows: int = 1000, repeat: int = 20
) -> LoadTestResult:
    """Check ``data`` (or synthesized rows) against the model's signature, then time
    predictions. A signature mismatch raises the model's ``SignatureError`` before timing."""
    if rows < 1 or repeat < 1:
        raise DefinitionError(f"rows and repeat must be >= 1 (got rows={rows}, repeat={repeat})")
    signature = getattr(model, "signature", None)
    synthesized = data is None
    if data is None:
        data = synthesize_rows(signature.to_dict() if signature is not None else {}, rows)
    if data.empty:
        raise DataError("load-test data has no rows")
    if len(data) < rows:  # repeat the rows we have up to a full batch
        data = data.iloc[[i % len(data) for i in range(rows)]].reset_index(drop=True)
    batch = data.head(rows)
    if signature is not None:
        signature.check(batch)
    first = model.predict(batch)  # warm-up, and the predictions shown
    timings = []
    for _ in range(repeat):
        start = time.perf_counter()
        model.predict(batch)
        timings.append(time.perf_counter() - start)
    one = batch.head(1)
    latencies = []
    for _ in range(max(LATENCY_SAMPLES, repeat)):
        start = time.perf_counter()
        model.predict(one)
        latencies.append((time.perf_counter() - start) * 1000)
    return LoadTestResult(
        rows=len(batch),
        repeat=repeat,
        batch_seconds=timings,
        latencies_ms=sorted(latencies),
        predictions=_head(first, 5),
        synthesized=synthesized,
    )


def _head(predictions: Any, n: int) -> list[Any]:
    if hasattr(predictions, "head") and hasattr(predictions, "to_dict"):  # pandas
        values = predictions.head(n)
        return list(values.to_dict("records") if hasattr(values, "columns") else values.tolist())
    if hasattr(predictions, "tolist"):
        return list(predictions[:n].tolist())
    return list(predictions)[:n]

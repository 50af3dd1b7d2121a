"""Computing statistics: one vectorized pass over record batches, overall and per split.

Each column gets an accumulator by the kind of its Arrow type (see ``_kind_of``):

=============  ==========================================================================
numeric        integers, floats, decimals (as float64), durations and times of day (as
               integers in their unit)
categorical    strings (any width, dictionary-encoded), booleans (``"true"``/``"false"``)
timestamp      timestamps and dates
other          lists, structs, maps, binary, the null type: count and missing only
=============  ==========================================================================

Booleans are categorical because their useful summaries are the frequencies of the two
values (and drift in them is an L-infinity distance), not moments.

Work per batch is vectorized: numeric values go to numpy (moments, counters) and to the KLL
sketch in one call; categorical values are reduced with Arrow's ``value_counts`` and
merged with Arrow's hash aggregation (Python touches values only once a feature has more
than 10,000 distinct values, and then only the heaviest few of each batch). With a
split column, a batch is sorted by split and each split's slice updates that split's
accumulators; the overall statistics are the merge of the splits (rows with a null split
count in the overall statistics only).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mloop.data._errors import DataError
from mloop.data._model import (
    CategoricalStatistics,
    DatasetStatistics,
    FeatureStatistics,
    Kind,
    NumericStatistics,
    OtherStatistics,
    TimestampStatistics,
)
from mloop.data._sketches import QuantileSketch, ValueCounts

__all__ = ["compute_statistics", "merge_statistics"]

DEFAULT_BATCH_SIZE = 65_536
"""Rows per batch: large enough to amortize per-call overhead, small enough for cache."""


def _kind_of(t: pa.DataType) -> Kind:
    if (
        pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_decimal(t)
        or pa.types.is_duration(t)
        or pa.types.is_time(t)
    ):
        return "numeric"
    if (
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_string_view(t)
        or pa.types.is_boolean(t)
        or pa.types.is_dictionary(t)
    ):
        return "categorical"
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "timestamp"
    return "other"


class _Accumulator:
    """Running summary of one column in one split (updated in place, batch by batch)."""

    kind: Kind = "other"

    def __init__(self, name: str, type_: str, missing: int) -> None:
        self.name = name
        self.type = type_
        self.count = 0
        self.missing = missing

    def add(self, arr: pa.Array) -> None:
        nulls = arr.null_count
        self.count += len(arr) - nulls
        self.missing += nulls
        if nulls < len(arr):
            self._add_values(arr.drop_null() if nulls else arr)

    def _add_values(self, arr: pa.Array) -> None:
        pass

    def result(self) -> FeatureStatistics:
        return OtherStatistics(self.name, self.type, self.count, self.missing)


class _NumericAccumulator(_Accumulator):
    kind: Kind = "numeric"

    def __init__(self, name: str, type_: str, missing: int) -> None:
        super().__init__(name, type_, missing)
        self.nan = self.inf = self.zeros = self.finite = 0
        self.mean = 0.0
        self.m2 = 0.0
        self.min: float | int | None = None
        self.max: float | int | None = None
        self.sketch = QuantileSketch()
        self._buffers = (np.empty(0), np.empty(0))

    def _scratch(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        # Reused float64 buffers: fresh half-megabyte temporaries cost more (page faults)
        # than the arithmetic done in them.
        if len(self._buffers[0]) < n:
            self._buffers = (np.empty(n), np.empty(n))
        return self._buffers[0][:n], self._buffers[1][:n]

    def _add_values(self, arr: pa.Array) -> None:
        t = arr.type
        x, dev = self._scratch(len(arr))
        if pa.types.is_floating(t):
            np.copyto(x, arr.to_numpy(zero_copy_only=False))
            finite = np.isfinite(x)
            if not finite.all():
                nan = int(np.isnan(x).sum())
                self.nan += nan
                self.inf += len(x) - int(finite.sum()) - nan
                x = x[finite]
                dev = dev[: len(x)]
                if not len(x):
                    return
            lo: float | int = float(x.min())
            hi: float | int = float(x.max())
        else:
            if pa.types.is_decimal(t):
                arr = arr.cast(pa.float64())
            elif pa.types.is_duration(t) or pa.types.is_time64(t):
                arr = arr.cast(pa.int64())
            elif pa.types.is_time32(t):
                arr = arr.cast(pa.int32())
            raw = arr.to_numpy(zero_copy_only=False)
            lo, hi = raw.min().item(), raw.max().item()
            np.copyto(x, raw, casting="unsafe")
        self.zeros += int(np.count_nonzero(x == 0.0))
        n_b = len(x)
        mean_b = float(x.mean())
        np.subtract(x, mean_b, out=dev)
        m2_b = float(np.einsum("i,i->", dev, dev))  # not np.dot: no BLAS threads
        n_a = self.finite
        n = n_a + n_b
        delta = mean_b - self.mean
        self.mean += delta * n_b / n
        self.m2 += m2_b + delta * delta * n_a * n_b / n
        self.finite = n
        self.min = lo if self.min is None else min(self.min, lo)
        self.max = hi if self.max is None else max(self.max, hi)
        self.sketch.update(x)

    def result(self) -> FeatureStatistics:
        return NumericStatistics(
            self.name,
            self.type,
            self.count,
            self.missing,
            nan=self.nan,
            inf=self.inf,
            zeros=self.zeros,
            mean=self.mean if self.finite else float("nan"),
            m2=self.m2,
            min=self.min,
            max=self.max,
            sketch=self.sketch,
        )


class _CategoricalAccumulator(_Accumulator):
    kind: Kind = "categorical"

    def __init__(self, name: str, type_: str, missing: int) -> None:
        super().__init__(name, type_, missing)
        self.values = ValueCounts()
        self.total_length = 0

    def _add_values(self, arr: pa.Array) -> None:
        if pa.types.is_dictionary(arr.type):
            codes = arr.indices.to_numpy(zero_copy_only=False)
            counts = np.bincount(codes, minlength=len(arr.dictionary))
            keep = counts > 0
            values = arr.dictionary.filter(pa.array(keep))
            counts = counts[keep]
        else:
            vc = arr.value_counts()
            values, counts = vc.field(0), vc.field(1).to_numpy()
        if values.null_count:  # only possible through a dictionary with null entries
            valid = values.is_valid()
            dropped = int(counts[~valid.to_numpy(zero_copy_only=False)].sum())
            self.count -= dropped
            self.missing += dropped
            values, counts = values.filter(valid), counts[valid.to_numpy(zero_copy_only=False)]
        if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
            values = values.cast(pa.string())
        lengths = pc.utf8_length(values).to_numpy(zero_copy_only=False)
        self.total_length += int(np.einsum("i,i->", lengths.astype(np.int64), counts))
        self.values.update(values, counts.astype(np.int64, copy=False))

    def result(self) -> FeatureStatistics:
        return CategoricalStatistics(
            self.name,
            self.type,
            self.count,
            self.missing,
            values=self.values,
            total_length=self.total_length,
        )


_SECONDS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9, "D": 86_400.0}


class _TimestampAccumulator(_Accumulator):
    kind: Kind = "timestamp"

    def __init__(self, name: str, type_: str, missing: int, arrow_type: pa.DataType) -> None:
        super().__init__(name, type_, missing)
        self.arrow_type = arrow_type
        if pa.types.is_date32(arrow_type):
            self.unit, self.tz = "D", None
        elif pa.types.is_date64(arrow_type):
            self.unit, self.tz = "ms", None
        else:
            self.unit, self.tz = arrow_type.unit, arrow_type.tz
        self.min: int | None = None
        self.max: int | None = None
        self.sketch = QuantileSketch()

    def _add_values(self, arr: pa.Array) -> None:
        if arr.type != self.arrow_type:
            try:
                arr = arr.cast(self.arrow_type, safe=False)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise DataError(
                    f"column {self.name!r} changes from {self.arrow_type} to {arr.type} "
                    f"between batches: {exc}",
                    column=self.name,
                ) from None
        ints = arr.cast(pa.int32() if self.unit == "D" else pa.int64()).to_numpy()
        lo, hi = int(ints.min()), int(ints.max())
        self.min = lo if self.min is None else min(self.min, lo)
        self.max = hi if self.max is None else max(self.max, hi)
        self.sketch.update(ints.astype(np.float64) * _SECONDS[self.unit])

    def result(self) -> FeatureStatistics:
        return TimestampStatistics(
            self.name,
            self.type,
            self.count,
            self.missing,
            unit=self.unit,
            tz=self.tz,
            min_value=self.min,
            max_value=self.max,
            sketch=self.sketch,
        )


def _accumulator(name: str, t: pa.DataType, type_: str, missing: int) -> _Accumulator:
    kind = _kind_of(t)
    if kind == "numeric":
        return _NumericAccumulator(name, type_, missing)
    if kind == "categorical":
        return _CategoricalAccumulator(name, type_, missing)
    if kind == "timestamp":
        return _TimestampAccumulator(name, type_, missing, t)
    return _Accumulator(name, type_, missing)


class _Group:
    """Accumulators of the rows of one split (or of all rows)."""

    def __init__(self) -> None:
        self.num_rows = 0
        self.columns: dict[str, _Accumulator] = {}

    def add(self, batch: pa.RecordBatch, names: list[str], types: dict[str, str]) -> None:
        n = batch.num_rows
        for name in names:
            arr = batch.column(name)
            acc = self.columns.get(name)
            type_ = types.get(name) or str(arr.type)
            if acc is None:
                acc = self.columns[name] = _accumulator(name, arr.type, type_, self.num_rows)
            elif acc.kind != _kind_of(arr.type) and arr.null_count < len(arr):
                if acc.count:
                    raise DataError(
                        f"column {name!r} changes from {acc.kind} ({acc.type}) to "
                        f"{_kind_of(arr.type)} ({arr.type}) between batches",
                        column=name,
                    )
                acc = self.columns[name] = _accumulator(name, arr.type, type_, acc.missing)
            elif type_ != acc.type and arr.null_count < len(arr):
                acc.type = "|".join(sorted(set(acc.type.split("|")) | {type_}))
            acc.add(arr)
        present = set(batch.schema.names)
        for name, acc in self.columns.items():
            if name not in present:
                acc.missing += n
        self.num_rows += n

    def result(self, fields: dict[str, pa.DataType], types: dict[str, str]) -> DatasetStatistics:
        features: dict[str, FeatureStatistics] = {}
        for name, t in fields.items():
            acc = self.columns.get(name)
            if acc is None:
                acc = _accumulator(name, t, types.get(name) or str(t), self.num_rows)
            features[name] = acc.result()
        return DatasetStatistics(self.num_rows, features)


def _split_batch(
    batch: pa.RecordBatch, split_column: str
) -> Iterator[tuple[str | None, pa.RecordBatch]]:
    """The batch's rows by split value (``None`` for a null split), in sorted runs."""
    keys = batch.column(split_column)
    if not pa.types.is_string(keys.type):
        keys = keys.cast(pa.string())
    encoded = keys.dictionary_encode()
    names: list[str] = encoded.dictionary.to_pylist()
    codes = encoded.indices.fill_null(len(names)).to_numpy(zero_copy_only=False)
    counts = np.bincount(codes, minlength=len(names) + 1)
    present = np.flatnonzero(counts)
    if len(present) == 1:
        code = int(present[0])
        yield (names[code] if code < len(names) else None), batch
        return
    order = np.argsort(codes, kind="stable")
    batch = batch.take(pa.array(order))
    start = 0
    for code in range(len(names) + 1):
        if counts[code]:
            stop = start + int(counts[code])
            yield (names[code] if code < len(names) else None), batch.slice(start, stop - start)
            start = stop


def _mixed_to_string(series: Any) -> tuple[pa.Array, str]:
    """A pandas object column Arrow cannot type: its values as strings, and a type label."""
    mask = series.isna().to_numpy()
    kinds = sorted({type(v).__name__ for v in series[~mask]})
    strings = series.map(str).to_numpy(dtype=object)
    return pa.array(strings, pa.string(), mask=mask), f"mixed<{','.join(kinds)}>"


def _from_pandas(df: Any) -> tuple[pa.Table, dict[str, str]]:
    try:
        table = pa.Table.from_pandas(df, preserve_index=False)
        return table.rename_columns([str(c) for c in table.column_names]), {}
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        pass
    arrays: list[pa.Array] = []
    types: dict[str, str] = {}
    for name in df.columns:
        series = df[name]
        try:
            arrays.append(pa.Array.from_pandas(series))
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            arr, types[str(name)] = _mixed_to_string(series)
            arrays.append(arr)
    return pa.Table.from_arrays(arrays, names=[str(c) for c in df.columns]), types


def _batches(
    data: Any, batch_size: int
) -> tuple[pa.Schema | None, Iterable[pa.RecordBatch], dict[str, str]]:
    """Normalize any supported input to (schema if known, record batches, type labels)."""
    module = type(data).__module__
    types: dict[str, str] = {}
    if module.startswith("pandas"):
        data, types = _from_pandas(data)
    elif module.startswith("polars"):
        data = data.to_arrow()
    if isinstance(data, pa.Table):
        return data.schema, data.to_batches(max_chunksize=batch_size), types
    if isinstance(data, pa.RecordBatch):
        return data.schema, [data], types
    if isinstance(data, Iterable) and not isinstance(data, str | bytes):

        def flatten() -> Iterator[pa.RecordBatch]:
            for item in data:
                if isinstance(item, pa.Table):
                    yield from item.to_batches(max_chunksize=batch_size)
                elif isinstance(item, pa.RecordBatch):
                    yield item
                else:
                    raise DataError(
                        f"expected record batches, got an item of type {type(item).__name__}"
                    )

        return None, flatten(), types
    raise DataError(
        "compute_statistics takes a pyarrow Table or RecordBatch, an iterable of record "
        f"batches, or a pandas/polars DataFrame; got {type(data).__name__}"
    )


def compute_statistics(
    data: Any,
    *,
    split_column: str | None = "split",
    columns: list[str] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> DatasetStatistics:
    """Statistics of every column (or ``columns``), overall and per split, in one pass.

    ``data`` is a pyarrow Table or RecordBatch, an iterable of record batches (or tables),
    or a pandas or polars DataFrame. If ``split_column`` is a column of the data, its
    values name the splits (``.splits``) and it is not itself a feature. Pandas object
    columns that mix types are summarized as strings with type ``"mixed<int,str>"``; as
    always when pandas data becomes Arrow, a NaN in a pandas float column counts as missing.
    Raises :class:`DataError` (naming the column) when a requested column does not exist
    or a column changes kind between batches.
    """
    if batch_size < 1:
        raise DataError("batch_size must be >= 1")
    schema, batches, types = _batches(data, batch_size)
    wanted = None if columns is None else list(dict.fromkeys(columns))
    fields: dict[str, pa.DataType] = {}

    def feature_names(s: pa.Schema) -> list[str]:
        names = [n for n in s.names if n != split_column]
        if wanted is not None:
            present = set(names)
            names = [n for n in wanted if n in present]
        for name in names:
            fields.setdefault(name, s.field(name).type)
        return names

    if schema is not None:
        feature_names(schema)
    whole = _Group()
    splits: dict[str | None, _Group] = {}
    for batch in batches:
        names = feature_names(batch.schema)
        if split_column is not None and split_column in batch.schema.names:
            for key, part in _split_batch(batch, split_column):
                splits.setdefault(key, _Group()).add(part, names, types)
        else:
            whole.add(batch, names, types)
    if wanted is not None:
        unknown = [n for n in wanted if n not in fields]
        if unknown:
            raise DataError(f"no column {unknown[0]!r} in the data", column=unknown[0])
    if not splits:
        return whole.result(fields, types)
    parts = [g.result(fields, types) for g in splits.values()]
    if whole.num_rows:
        parts.append(whole.result(fields, types))
    overall = merge_statistics(*parts)
    overall_features = {name: overall.features[name] for name in fields}
    named = {k: s for k, s in zip(splits, parts, strict=False) if k is not None}
    return DatasetStatistics(overall.num_rows, overall_features, named)


def merge_statistics(*stats: DatasetStatistics) -> DatasetStatistics:
    """Statistics of the union of the rows of ``stats`` (partitions of one dataset)."""
    if not stats:
        return DatasetStatistics()
    out = stats[0]
    for other in stats[1:]:
        out = out.merge(other)
    return out

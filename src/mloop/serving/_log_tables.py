"""Request records to Arrow tables: fixed types for the known columns, inferred for the
prediction and each feature (text when values disagree), features as one struct column,
and tables split by hour for the ``date=/hour=`` partitions."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

__all__: list[str] = []  # private helpers of mloop.serving._logging

_log = logging.getLogger(__name__)

_HOUR_US = 3_600_000_000

#: the columns every log file has, with their fixed types (``prediction`` varies by model)
_TYPED_COLUMNS = (
    "request_id",
    "logged_at",
    "endpoint",
    "deployed_model_id",
    "model",
    "model_version",
    "shadow",
    "latency_ms",
    "scores",
)
_KNOWN_COLUMNS = frozenset((*_TYPED_COLUMNS, "prediction", "features"))


# Records to Arrow ---------------------------------------------------------------------------


def _typed_fields() -> dict[str, pa.DataType]:
    import pyarrow as pa

    return {
        "request_id": pa.string(),
        "logged_at": pa.timestamp("us", tz="UTC"),
        "endpoint": pa.string(),
        "deployed_model_id": pa.string(),
        "model": pa.string(),
        "model_version": pa.int64(),
        "shadow": pa.bool_(),
        "latency_ms": pa.float64(),
        "scores": pa.list_(pa.float64()),
    }


def _build_table(endpoint: str, records: list[Mapping[str, Any]], times: list[float]) -> pa.Table:
    """One table of an endpoint's records: fixed types for the known columns, inferred
    types for ``prediction``, each feature and any extra key (text when values disagree)."""
    import pyarrow as pa

    types = _typed_fields()
    columns: dict[str, pa.Array] = {}
    for name in _TYPED_COLUMNS:
        if name == "endpoint":
            columns[name] = pa.array([endpoint] * len(records), pa.string())
        elif name == "logged_at":
            stamps = [_stamp(r.get("logged_at"), at) for r, at in zip(records, times, strict=True)]
            columns[name] = _array(stamps, types[name])
        elif name != "scores" or any("scores" in r for r in records):
            columns[name] = _array([r.get(name) for r in records], types[name])
    columns["prediction"] = _array([r.get("prediction") for r in records], None)
    features = _features([r.get("features") for r in records])
    if features is not None:
        columns["features"] = features
    extra: set[Any] = set()
    for r in records:
        extra.update(r.keys() - _KNOWN_COLUMNS)
    for key in sorted(extra, key=str):
        columns[str(key)] = _array([r.get(key) for r in records], None)
    return pa.table(columns)


def _stamp(value: Any, logged: float) -> datetime:
    """The record's own ``logged_at`` if it is a datetime (naive = UTC), else when logged."""
    return value if isinstance(value, datetime) else datetime.fromtimestamp(logged, UTC)


def _features(values: list[Any]) -> pa.Array | None:
    """The ``features`` dicts as one struct array (the union of their keys); ``None`` if
    no record has any feature (Parquet cannot store a struct without fields)."""
    import pyarrow as pa

    try:  # fast path: Arrow infers the struct (the union of the keys) in C++
        inferred = pa.array(values, from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        pass
    else:
        if pa.types.is_struct(inferred.type):
            return inferred if inferred.type.num_fields else None
    keys: dict[Any, None] = {}
    for value in values:
        if isinstance(value, Mapping):
            keys.update(dict.fromkeys(value))
    if not keys:
        return None
    children = [
        _array([v.get(k) if isinstance(v, Mapping) else None for v in values], None) for k in keys
    ]
    mask = pa.array([not isinstance(v, Mapping) for v in values], pa.bool_())
    return pa.StructArray.from_arrays(children, names=[str(k) for k in keys], mask=mask)


def _array(values: list[Any], type_: pa.DataType | None) -> pa.Array:
    """``values`` as an Arrow array of ``type_`` (inferred if ``None``) without failing: a
    value that does not fit a fixed type becomes null; mixed kinds are inferred as text.
    Inferred values follow pandas' convention (NaN, NaT and ``pd.NA`` are missing)."""
    import pyarrow as pa

    try:
        return pa.array(values, type=type_, from_pandas=type_ is None)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        pass
    if type_ is None:
        return pa.array([None if v is None else str(v) for v in values], pa.string())
    return pa.array([v if _fits(v, type_) else None for v in values], type=type_)


def _fits(value: Any, type_: pa.DataType) -> bool:
    import pyarrow as pa

    try:
        pa.scalar(value, type=type_)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        return False
    return True


def _split_by_hour(table: pa.Table) -> list[tuple[tuple[str, int], pa.Table]]:
    """The rows of ``table`` grouped by the UTC hour of ``logged_at``, in time order."""
    import numpy as np
    import pyarrow as pa

    micros = table.column("logged_at").cast(pa.int64()).to_numpy()
    hours = micros // _HOUR_US
    unique, inverse = np.unique(hours, return_inverse=True)
    if len(unique) == 1:
        return [(_partition(int(unique[0])), table)]
    return [
        (_partition(int(hour)), table.take(np.flatnonzero(inverse == i)))
        for i, hour in enumerate(unique)
    ]


def _partition(hour: int) -> tuple[str, int]:
    start = datetime.fromtimestamp(hour * 3600, UTC)
    return f"{start:%Y-%m-%d}", start.hour

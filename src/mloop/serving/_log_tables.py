"""Request records to Arrow tables: fixed types for the known columns, inferred for the
prediction and each feature (text when values disagree), features as one struct column,
and tables split by hour for the ``date=/hour=`` partitions."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from itertools import chain
from operator import attrgetter, itemgetter
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias

if TYPE_CHECKING:
    import numpy as np
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


class FeatureColumns:
    """A request's features column by column: name -> values (a list or a NumPy array), each
    of ``count`` values. The writer joins the columns of many requests and converts each
    name once (no per-row dicts to hold, collect or infer a struct from)."""

    __slots__ = ("columns", "count")

    def __init__(self, columns: Mapping[str, Any], count: int) -> None:
        self.columns = columns
        self.count = count

    def __len__(self) -> int:
        return self.count

    @classmethod
    def of_rows(cls, rows: Sequence[Mapping[str, Any]], names: Sequence[str]) -> FeatureColumns:
        """``names``' values across row dicts (None where a row lacks one)."""
        return cls({n: [row.get(n) for row in rows] for n in names}, len(rows))

    def rows(self) -> list[dict[str, Any]]:
        """The same features as one dict per row (for a batch that mixes kinds)."""
        names = list(self.columns)
        values = [_plain_values(self.columns[n]) for n in names]
        return [dict(zip(names, row, strict=True)) for row in zip(*values, strict=True)]


class FeatureRows:
    """A request's features as the row dicts the client sent, with the model's input columns
    and their Arrow types (``schema``, a struct type: :func:`feature_schema`). The writer
    converts the rows of many requests in one call in Arrow's C++ (keys the model does not
    read are left out, missing ones are null), the cheapest way from JSON values to Arrow.
    Rows are logged after the model's signature check passed, so each value fits its type."""

    __slots__ = ("rows", "schema")

    def __init__(self, rows: Sequence[Mapping[str, Any]], schema: pa.StructType) -> None:
        self.rows = rows
        self.schema = schema

    def __len__(self) -> int:
        return len(self.rows)

    def columns(self) -> FeatureColumns:
        """The same features column by column (for a batch that mixes kinds, or values
        Arrow cannot convert to the declared types)."""
        return FeatureColumns.of_rows(self.rows, [field.name for field in self.schema])


#: Arrow types of the signature types whose JSON values convert without ambiguity
_ARROW_TYPES = {"int64": "int64", "float64": "float64", "string": "string", "bool": "bool_"}


def feature_schema(inputs: Sequence[tuple[str, str]]) -> pa.StructType | None:
    """The struct type of a model's ``(name, type)`` inputs for :class:`FeatureRows`;
    ``None`` when a type has no plain JSON form (timestamps, ``any``) or there are none."""
    import pyarrow as pa

    if not inputs or any(type_ not in _ARROW_TYPES for _, type_ in inputs):
        return None
    return pa.struct([(name, getattr(pa, _ARROW_TYPES[type_])()) for name, type_ in inputs])


class _RequestEntry(NamedTuple):
    """A request's records, as logged: shared fields, then one row per instance."""

    fields: Mapping[str, Any]  # request_id, model_version, ... (the same on every row)
    features: Sequence[Any] | FeatureColumns | FeatureRows  # the instances' input values
    predictions: Sequence[Any] | np.ndarray
    scores: Sequence[Any] | np.ndarray | None  # a row of class probabilities per instance


#: A buffered entry: one record (a mapping of column -> value) or a request's records.
Entry: TypeAlias = "Mapping[str, Any] | _RequestEntry"


def entry_rows(entry: Any) -> int:
    """The records an entry holds."""
    return len(entry.features) if isinstance(entry, _RequestEntry) else 1


def valid_entry(entry: Any) -> bool:
    """A record, or a request whose predictions (and scores) match its rows one to one."""
    if isinstance(entry, _RequestEntry):
        rows = len(entry.features)
        return len(entry.predictions) == rows and (
            entry.scores is None or len(entry.scores) == rows
        )
    return isinstance(entry, Mapping)


# Records to Arrow ---------------------------------------------------------------------------


def _typed_fields() -> dict[str, pa.DataType]:
    global _TYPES
    if _TYPES is None:
        _TYPES = _make_typed_fields()
    return _TYPES


_TYPES: dict[str, pa.DataType] | None = None


def _make_typed_fields() -> dict[str, pa.DataType]:
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


def _build_table(endpoint: str, entries: list[Entry], times: list[float]) -> pa.Table:
    """One table of an endpoint's records: fixed types for the known columns, inferred
    types for ``prediction``, each feature and any extra key (text when values disagree).

    Columnar: a request's shared fields become one value per request, spread over its rows
    by one ``take``; the rows' features, predictions and scores are concatenated."""
    import numpy as np
    import pyarrow as pa

    types = _typed_fields()
    if set(map(type, entries)) == {_RequestEntry}:  # a server's requests: transposed in C
        fields, features_, predictions, scores_ = zip(*entries, strict=True)
        counts = list(map(len, features_))
        joined = (_joined(predictions), _joined(scores_), _row_features(features_))
    else:
        fields = [e.fields if isinstance(e, _RequestEntry) else e for e in entries]
        counts = [entry_rows(e) for e in entries]
        joined = (None, None, None)
    total = sum(counts)
    spread = None
    if total != len(entries):  # some request has several rows (or none)
        spread = pa.array(np.repeat(np.arange(len(entries)), counts))

    def per_row(values: pa.Array) -> pa.Array:
        return values if spread is None else values.take(spread)

    columns: dict[str, pa.Array] = {}
    for name in _TYPED_COLUMNS:
        if name == "endpoint":
            columns[name] = pa.array([endpoint] * total, pa.string())
        elif name == "logged_at":
            columns[name] = per_row(_stamps(fields, times, types[name]))
        elif name == "scores":
            scores = _list_array(joined[1]) if joined[1] is not None else None
            if scores is None:
                scores = _scores(entries)
            if isinstance(scores, list):
                scores = _array(scores, types[name])
            if scores is not None:
                columns[name] = scores
        else:
            columns[name] = per_row(_array(_values(fields, name), types[name]))
    predicted = joined[0]
    columns["prediction"] = (
        pa.array(predicted, from_pandas=True)
        if predicted is not None and predicted.ndim == 1
        else _predictions(entries)
    )
    features = joined[2]
    if features is None:
        features = _column_features(entries)
    if features is None:
        features = _features(_flat(entries, "features", "features"))
    if features is not None:
        columns["features"] = features
    extra: set[Any] = set()
    for f in fields:
        if not f.keys() <= _KNOWN_COLUMNS:
            extra.update(f.keys() - _KNOWN_COLUMNS)
    for key in sorted(extra, key=str):
        columns[str(key)] = per_row(_array([f.get(key) for f in fields], None))
    return pa.table(columns)


def _flat(entries: list[Entry], attribute: str, key: str) -> list[Any]:
    """Every row's value: a request's ``attribute`` (its rows'), a record's ``key``."""
    parts = []
    for e in entries:
        if isinstance(e, _RequestEntry):
            values = getattr(e, attribute)
            if isinstance(values, FeatureRows):
                values = values.columns()
            if isinstance(values, FeatureColumns):
                values = values.rows()
            parts.append(values.tolist() if hasattr(values, "tolist") else values)
        else:
            parts.append((e.get(key),))
    return list(chain.from_iterable(parts))


_SCHEMA = attrgetter("schema")
_ROWS = attrgetter("rows")


def _values(records: Sequence[Mapping[str, Any]], key: str) -> list[Any]:
    """Each record's ``key`` (None where it has none)."""
    try:
        return list(map(itemgetter(key), records))  # in C
    except KeyError:
        return [r.get(key) for r in records]


def _joined(arrays: Sequence[Any]) -> np.ndarray | None:
    """NumPy arrays of one kind (numbers) and shape past the first axis, concatenated;
    ``None`` if they are not all such arrays."""
    import numpy as np

    if set(map(type, arrays)) != {np.ndarray}:
        return None
    try:
        joined = np.concatenate(arrays)
    except ValueError:  # shapes disagree
        return None
    return joined if joined.dtype.kind in "biuf" else None


def _list_array(matrix: np.ndarray) -> pa.Array | None:
    """The rows of a 2-D float ``matrix`` as an Arrow list array; ``None`` otherwise."""
    import numpy as np
    import pyarrow as pa

    if matrix.ndim != 2 or matrix.dtype.kind != "f":
        return None
    width = matrix.shape[1]
    ends = np.arange(0, matrix.size + 1, width) if width else np.zeros(len(matrix) + 1)
    values = matrix.astype(np.float64, copy=False).reshape(-1)
    return pa.ListArray.from_arrays(pa.array(ends.astype(np.int32)), pa.array(values))


def _row_features(features: Sequence[Any]) -> pa.Array | None:
    """The features of requests that all logged :class:`FeatureRows` of one schema, as one
    struct array converted in one call; ``None`` otherwise, or when a value does not
    convert to its declared type (then they are converted column by column, inferred)."""
    import pyarrow as pa

    if set(map(type, features)) != {FeatureRows}:
        return None
    schema = features[0].schema
    if len(set(map(id, map(_SCHEMA, features)))) > 1 and any(f.schema != schema for f in features):
        return None
    rows = list(chain.from_iterable(map(_ROWS, features)))
    try:
        return pa.array(rows, type=schema, from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        return None


def _column_features(entries: list[Entry]) -> pa.Array | None:
    """The features of requests that all logged them as :class:`FeatureColumns` (or
    :class:`FeatureRows`, taken apart): one child array per name over every row (null
    where a request lacks the name); ``None`` when some entry has them otherwise, or no
    entry has any name."""
    import numpy as np
    import pyarrow as pa

    parts: list[FeatureColumns] = []
    for e in entries:
        if not isinstance(e, _RequestEntry):
            return None
        if isinstance(e.features, FeatureRows):
            parts.append(e.features.columns())
        elif isinstance(e.features, FeatureColumns):
            parts.append(e.features)
        else:
            return None
    names: dict[str, None] = {}
    for part in parts:
        names.update(dict.fromkeys(part.columns))
    if not names:
        return None
    children = []
    for name in names:
        pieces = [part.columns.get(name) for part in parts]
        arrays = [p for p in pieces if isinstance(p, np.ndarray)]
        if (
            len(arrays) == len(pieces)
            and len({a.dtype.kind for a in arrays}) == 1
            and (arrays[0].dtype.kind in "biuf")
        ):
            children.append(pa.array(np.concatenate(arrays), from_pandas=True))
            continue
        values: list[Any] = []
        for part, piece in zip(parts, pieces, strict=True):
            values.extend([None] * part.count if piece is None else _plain_values(piece))
        children.append(_array(values, None))
    return pa.StructArray.from_arrays(children, names=list(names))


def _plain_values(values: Any) -> list[Any]:
    return values.tolist() if hasattr(values, "tolist") else list(values)


def _predictions(entries: list[Entry]) -> pa.Array:
    """Every row's prediction: NumPy arrays of one kind are joined without Python objects;
    anything else is inferred value by value (text when kinds disagree)."""
    import numpy as np
    import pyarrow as pa

    arrays = [e.predictions for e in entries if isinstance(e, _RequestEntry)]
    if len(arrays) == len(entries) and all(isinstance(a, np.ndarray) for a in arrays):
        kinds = {a.dtype.kind for a in arrays if isinstance(a, np.ndarray)}
        if len(kinds) == 1 and kinds <= set("biuf"):
            return pa.array(np.concatenate(arrays), from_pandas=True)
    return _array(_flat(entries, "predictions", "prediction"), None)


def _scores(entries: list[Entry]) -> pa.Array | list[Any] | None:
    """Every row's scores (a list array, or values for :func:`_array`), or None when no
    record has any (then there is no column)."""
    import numpy as np
    import pyarrow as pa

    if not any(
        (e.scores is not None) if isinstance(e, _RequestEntry) else ("scores" in e) for e in entries
    ):
        return None
    matrices = [
        e.scores
        for e in entries
        if isinstance(e, _RequestEntry)
        and isinstance(e.scores, np.ndarray)
        and e.scores.ndim == 2
        and e.scores.dtype.kind == "f"
    ]
    if len(matrices) == len(entries):
        widths = np.concatenate([np.full(len(m), m.shape[1]) for m in matrices])
        offsets = np.concatenate([[0], np.cumsum(widths)]).astype(np.int32)
        values = np.concatenate([m.reshape(-1) for m in matrices]).astype(np.float64)
        return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values))
    parts: list[Any] = []
    for e in entries:
        if isinstance(e, _RequestEntry):
            if e.scores is None:
                parts.append([None] * len(e.features))
            else:
                parts.append(e.scores.tolist() if hasattr(e.scores, "tolist") else e.scores)
        else:
            parts.append((e.get("scores"),))
    return list(chain.from_iterable(parts))


def _stamps(fields: list[Mapping[str, Any]], times: list[float], type_: pa.DataType) -> pa.Array:
    """One ``logged_at`` per entry: when it was logged, or the record's own if it has one."""
    import numpy as np
    import pyarrow as pa

    if any("logged_at" in f for f in fields):
        stamps = [_stamp(f.get("logged_at"), at) for f, at in zip(fields, times, strict=True)]
        return _array(stamps, type_)
    micros = np.rint(np.asarray(times, dtype=np.float64) * 1e6).astype(np.int64)
    return pa.array(micros, type=pa.int64()).cast(type_)


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

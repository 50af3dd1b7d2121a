"""Rows by time and by hash: the time window an ingest keeps, and named splits.

**The time window** (:class:`TimeWindow`) is ``[start, end)`` on a time column, with ISO
bounds. A naive timestamp (one without an offset) means UTC, on either side: a naive bound is
compared with a zone-aware column as UTC, an aware bound with a naive column after converting
it to UTC, and a date column compares as midnight UTC of its day. Text columns are parsed as
ISO 8601 first (:func:`parse_times`). Rows without a time are outside every window.

**Splits** (``train``/``eval``/...): the split of a row is stored as a string column named
:data:`SPLIT_COLUMN` (``split``), the convention every standard component follows. Two ways
to assign it, both vectorized:

- **by hash** (:func:`hash_units`): a row's place in ``[0, 1)`` is a fixed hash of the text
  of its key (or of the whole row), so it depends on the value alone — not on row order, the
  run, the process or the file format the value came from (an ``int32`` and an ``int64`` key
  hash alike). The hash is FNV-1a 64 over the UTF-8 text finished with MurmurHash3's
  ``fmix64``; it is part of the contract (changing it would reshuffle every split), which is
  why it is spelled out here rather than borrowed from a library whose hash may change.
- **by time** (:func:`time_units`): rows are ranked by time, and equal times share a rank, so
  the earliest fraction of the rows goes to the first split and a timestamp never straddles
  two splits.

:func:`assign` turns the places into split names by cumulative fraction.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa
    import pyarrow.dataset as ds

__all__ = [
    "SPLIT_COLUMN",
    "TimeWindow",
    "assign",
    "hash_units",
    "parse_split",
    "parse_times",
    "time_kind",
    "time_units",
]

#: The name of the column that holds each row's split.
SPLIT_COLUMN = "split"

_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_NULL_HASH = 0x9E3779B97F4A7C15  # the hash of a missing value (any column)


# The time window -------------------------------------------------------------------------


@dataclass(frozen=True)
class TimeWindow:
    """``[start, end)``; either side may be open (``None``)."""

    start: datetime | None = None
    end: datetime | None = None

    @classmethod
    def parse(cls, start: str | None, end: str | None) -> TimeWindow:
        """The window between two ISO dates or timestamps; ``ValueError`` says which is bad."""
        window = cls(_moment("start", start), _moment("end", end))
        if window.start and window.end and _utc(window.start) >= _utc(window.end):
            raise ValueError(f"start {start!r} is not before end {end!r}")
        return window

    def __bool__(self) -> bool:
        return self.start is not None or self.end is not None

    def __str__(self) -> str:
        return f"[{self.start or '-inf'}, {self.end or 'inf'})"

    def expression(self, column: str, type_: pa.DataType) -> ds.Expression:
        """The filter for a column of ``type_`` (a timestamp or a date)."""
        import pyarrow.dataset as ds

        field, where = ds.field(column), ds.scalar(True)
        if self.start is not None:
            where = where & (field >= _scalar(self.start, type_))
        if self.end is not None:
            where = where & (field < _scalar(self.end, type_))
        return where


def time_kind(type_: pa.DataType) -> str | None:
    """``time`` (timestamp, date), ``text`` (to parse), ``null`` (no values) or ``None``."""
    import pyarrow as pa

    if pa.types.is_timestamp(type_) or pa.types.is_date(type_):
        return "time"
    if pa.types.is_string(type_) or pa.types.is_large_string(type_):
        return "text"
    return "null" if pa.types.is_null(type_) else None


def parse_times(
    column: pa.ChunkedArray, as_type: pa.DataType | None = None
) -> tuple[pa.ChunkedArray, pa.DataType]:
    """ISO 8601 text as timestamps: naive if no value has an offset, else UTC if all have
    one, or as ``as_type`` when given (what earlier batches became). ``ValueError`` quotes a
    value that does not parse."""
    import pyarrow as pa

    error: Exception | None = None
    for type_ in [as_type] if as_type else [pa.timestamp("us"), pa.timestamp("us", tz="UTC")]:
        try:
            return column.cast(type_), type_
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            error = exc
    bad = re.search(r"Failed to parse string: '([^']*)'", str(error))
    raise ValueError(
        "holds text that is not ISO 8601 timestamps all with or all without an offset"
        + (f" (e.g. {bad.group(1)!r})" if bad else "")
    )


def _moment(name: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} {value!r} is not an ISO date or timestamp (e.g. '2013-01-01', "
            "'2013-01-01T05:00', '2013-01-01T05:00:00+01:00')"
        ) from None


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _scalar(moment: datetime, type_: pa.DataType) -> pa.Scalar:
    """``moment`` comparable with a column of ``type_`` (see the module doc for zones)."""
    import pyarrow as pa

    if pa.types.is_timestamp(type_):
        if type_.tz is not None:
            return pa.scalar(_utc(moment), pa.timestamp("us", tz=type_.tz))
        return pa.scalar(_utc(moment).replace(tzinfo=None), pa.timestamp("us"))
    # A day is its midnight UTC, so day >= moment iff day >= the first midnight at or after it.
    naive = _utc(moment).replace(tzinfo=None)
    day = naive.date() + (timedelta(days=1) if naive.time() != naive.min.time() else timedelta())
    return pa.scalar(day, pa.date32())


# Splits ------------------------------------------------------------------------------------


def parse_split(split: Any) -> tuple[list[tuple[str, float]], bool]:
    """``(name, fraction)`` pairs from ``{"train": 0.8, "eval": 0.2}`` or
    ``[["train", 0.8], ["eval", 0.2]]``, and whether their order was given (a list).

    A dict's order is not kept by the pipeline spec (cache keys and stored specs sort keys),
    so a dict's splits come sorted by name. Raises ``ValueError`` saying what is wrong.
    """
    if isinstance(split, dict):
        pairs, ordered = sorted(split.items()), False
    elif isinstance(split, list | tuple) and all(
        isinstance(p, list | tuple) and len(p) == 2 for p in split
    ):
        pairs, ordered = [(p[0], p[1]) for p in split], True
    else:
        raise ValueError(
            "split must be a dict of fractions, e.g. {'train': 0.8, 'eval': 0.2}, or a list "
            f"of (name, fraction) pairs, not {split!r}"
        )
    if not pairs:
        raise ValueError("split names no splits")
    names = [name for name, _ in pairs]
    for name, fraction in pairs:
        if not isinstance(name, str) or not name:
            raise ValueError(f"split names must be non-empty strings, not {name!r}")
        if (
            not isinstance(fraction, int | float)
            or isinstance(fraction, bool)
            or not math.isfinite(fraction)
            or fraction <= 0
        ):
            raise ValueError(f"split {name!r}: the fraction must be a number > 0, not {fraction!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"split names must be unique: {names}")
    total = math.fsum(float(f) for _, f in pairs)
    if abs(total - 1.0) > 1e-6:
        listed = ", ".join(f"{n}={f:g}" for n, f in pairs)
        raise ValueError(f"split fractions must sum to 1, not {total:g} ({listed})")
    return [(name, float(fraction)) for name, fraction in pairs], ordered


def assign(units: np.ndarray[Any, Any], splits: Sequence[tuple[str, float]]) -> pa.Array:
    """The split name of each place in ``[0, 1)``: the first split takes ``[0, f1)``, the
    next ``[f1, f1 + f2)``, and so on."""
    import numpy as np
    import pyarrow as pa

    edges = np.cumsum([fraction for _, fraction in splits])[:-1]
    index = np.searchsorted(edges, units, side="right").astype(np.int32)
    names = pa.array([name for name, _ in splits], pa.string())
    return names.take(pa.array(index))


def hash_units(columns: Mapping[str, pa.ChunkedArray | pa.Array]) -> np.ndarray[Any, Any]:
    """Each row's place in ``[0, 1)`` from a fixed hash of its values in ``columns``.

    Raises ``ValueError`` naming a column whose type has no text form (a list, a struct).
    """
    import numpy as np

    if not columns:
        raise ValueError("a hash split needs at least one column")
    combined: np.ndarray[Any, Any] | None = None
    for name, column in columns.items():
        try:
            h = _column_hash(column)
        except ValueError as exc:
            raise ValueError(f"column {name!r}: {exc}") from None
        if combined is None:
            combined = h
        else:  # boost::hash_combine, then mixed again
            with np.errstate(over="ignore"):
                combined = _fmix64(
                    combined
                    ^ (h + _NULL_HASH + (combined << np.uint64(6)) + (combined >> np.uint64(2)))
                )
    assert combined is not None
    return (combined >> np.uint64(11)).astype(np.float64) * 2.0**-53


def time_units(times: pa.ChunkedArray | pa.Array) -> np.ndarray[Any, Any]:
    """Each row's place in ``[0, 1)`` by time: its rank (ties share the lowest) over the count.

    ``times`` is a timestamp or date column without nulls.
    """
    import numpy as np
    import pyarrow as pa

    array = times.combine_chunks() if isinstance(times, pa.ChunkedArray) else times
    if pa.types.is_date32(array.type):
        array = array.cast(pa.int32())
    values = array.cast(pa.int64()).to_numpy(zero_copy_only=False)
    n = len(values)
    units = np.empty(n, dtype=np.float64)
    if n == 0:
        return units
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    first = np.ones(n, dtype=bool)
    first[1:] = ordered[1:] != ordered[:-1]
    rank = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    units[order] = rank / n
    return units


def _column_hash(column: pa.ChunkedArray | pa.Array) -> np.ndarray[Any, Any]:
    """FNV-1a 64 + fmix64 of each value's text; each distinct value is hashed once."""
    import pyarrow as pa
    import pyarrow.compute as pc

    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if pa.types.is_binary(array.type) or pa.types.is_large_binary(array.type):
        text = array.cast(pa.large_binary())
    else:
        try:
            text = pc.cast(array, pa.large_string())
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
            raise ValueError(f"values of type {array.type} cannot be hashed") from None
    encoded = pc.dictionary_encode(text)
    distinct = _fmix64(_fnv1a(encoded.dictionary))
    indices = encoded.indices
    hashes: np.ndarray[Any, Any] = distinct[indices.fill_null(0).to_numpy(zero_copy_only=False)]
    if indices.null_count:
        hashes[indices.is_null().to_numpy(zero_copy_only=False)] = _NULL_HASH
    return hashes


def _fnv1a(strings: pa.Array) -> np.ndarray[Any, Any]:
    """FNV-1a 64 of each value of a ``large_string``/``large_binary`` array (no nulls)."""
    import numpy as np

    n = len(strings)
    buffers = strings.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64, count=n + 1, offset=strings.offset * 8)
    data = np.frombuffer(buffers[2] or b"", dtype=np.uint8)
    starts = offsets[:-1]
    lengths = offsets[1:] - starts
    hashes = np.full(n, _FNV_OFFSET, dtype=np.uint64)
    longest_first = np.argsort(-lengths, kind="stable")
    descending = -lengths[longest_first]
    with np.errstate(over="ignore"):
        for j in range(int(lengths.max(initial=0))):
            live = longest_first[: np.searchsorted(descending, -j, side="left")]
            hashes[live] = (hashes[live] ^ data[starts[live] + j].astype(np.uint64)) * _FNV_PRIME
    return hashes


def _fmix64(h: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    import numpy as np

    with np.errstate(over="ignore"):
        h = h ^ (h >> np.uint64(33))
        h = h * np.uint64(0xFF51AFD7ED558CCD)
        h = h ^ (h >> np.uint64(33))
        h = h * np.uint64(0xC4CEB93E53FE1A85)
        mixed: np.ndarray[Any, Any] = h ^ (h >> np.uint64(33))
    return mixed

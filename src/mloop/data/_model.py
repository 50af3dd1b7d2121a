"""The statistics data model: what one pass over a dataset knows about it.

A :class:`DatasetStatistics` has ``num_rows``, ``features`` (name -> per-feature summary, in
column order) and ``splits`` (split name -> a :class:`DatasetStatistics` of that split's
rows; empty when the data had no split column). A per-feature summary is one of

- :class:`NumericStatistics` (``kind="numeric"``; integers, floats, decimals, durations):
  exact counters (nan, inf, zeros), mean/std (Chan's parallel moments), min/max, and a KLL
  sketch from which ``quantiles``, ``cdf`` and ``histogram`` are derived at read time;
- :class:`CategoricalStatistics` (``kind="categorical"``; strings, dictionary-encoded,
  booleans as ``"true"``/``"false"``): value counts (exact up to 10,000 distinct values,
  frequent-items + HLL sketches beyond), from which ``distinct`` and ``top(k)`` are derived;
- :class:`TimestampStatistics` (``kind="timestamp"``; timestamps and dates): exact min/max
  plus a KLL sketch over epoch seconds (so time can drift like any number);
- :class:`OtherStatistics` (``kind="other"``; lists, structs, binary, the null type): count
  and missing only.

Every summary shares ``name``, ``type`` (the Arrow type string, e.g. ``"double"``),
``count`` (non-null values, NaN included) and ``missing`` (nulls). Everything is mergeable:
``a.merge(b)`` summarizes the union of the rows of ``a`` and ``b`` (exactly for counters,
moments and min/max; within sketch error for quantiles and sketched value counts). A feature
absent from one side of a merge counts as missing for that side's rows; a feature with no
non-null value merges into any kind. Objects are immutable values; ``merge`` returns a new one.

JSON layout (``to_dict``/``to_json``; sketches are base64 of their DataSketches bytes)::

    {"format": "mloop.statistics", "version": 1, "num_rows": 10,
     "features": [
       {"name": "x", "kind": "numeric", "type": "double", "count": 9, "missing": 1,
        "nan": 0, "inf": 0, "zeros": 2, "mean": 1.5, "m2": 4.0, "min": 0.0, "max": 3.0,
        "sketch": "<base64 KLL>"},
       {"name": "c", "kind": "categorical", "type": "string", "count": 10, "missing": 0,
        "total_length": 30, "values": {"total": 10, "values": {"a": 6, "b": 4}}},
        # sketched: "values": {"total": n, "frequent": "<base64>", "hll": "<base64>"}
       {"name": "t", "kind": "timestamp", "type": "timestamp[us]", "count": 10,
        "missing": 0, "unit": "us", "tz": null, "min": 0, "max": 9, "sketch": "<base64>"},
       {"name": "l", "kind": "other", "type": "list<item: int64>", "count": 10,
        "missing": 0}],
     "splits": {"train": {"num_rows": ..., "features": [...], "splits": {}}}}

``min``/``max`` are ``null`` when there is no finite value; a non-finite ``mean``/``m2`` (no
finite value, or overflow) is written as the string ``"nan"``/``"inf"``. Round trips are exact.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Self

import numpy as np

from mloop.data._errors import DataError
from mloop.data._sketches import QuantileSketch, ValueCounts

__all__ = [
    "CategoricalStatistics",
    "DatasetStatistics",
    "FeatureStatistics",
    "HistogramKind",
    "Kind",
    "NumericStatistics",
    "OtherStatistics",
    "TimestampStatistics",
]

FORMAT = "mloop.statistics"
VERSION = 1

Kind = Literal["numeric", "categorical", "timestamp", "other"]
HistogramKind = Literal["equal_width", "quantile"]


def _num_or_none(value: float | int | None) -> float | int | None:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return value


def _float_out(value: float) -> float | str:
    """JSON has no NaN/inf: those (e.g. an overflowing m2) are written as strings."""
    return value if math.isfinite(value) else str(value)


@dataclass(frozen=True, eq=False)
class FeatureStatistics:
    """Summary of one column: what every kind has.

    ``count`` is the number of non-null values (NaN and inf included), ``missing`` the
    number of nulls, so ``num_rows == count + missing``.
    """

    name: str
    type: str
    count: int = 0
    missing: int = 0

    kind: ClassVar[Kind] = "other"

    @property
    def num_rows(self) -> int:
        return self.count + self.missing

    @property
    def missing_ratio(self) -> float:
        """Share of rows that are null (0.0 for no rows)."""
        return self.missing / self.num_rows if self.num_rows else 0.0

    def merge(self, other: FeatureStatistics) -> FeatureStatistics:
        """Summary of the rows of both; raises :class:`DataError` on a kind conflict."""
        if other.name != self.name:
            raise DataError(
                f"cannot merge statistics of column {self.name!r} with column {other.name!r}",
                column=self.name,
            )
        if other.count == 0 and (other.kind == self.kind or other.kind == "other"):
            return self.with_missing(other.num_rows)
        if self.count == 0 and (other.kind == self.kind or self.kind == "other"):
            return other.with_missing(self.num_rows)
        if other.kind != self.kind:
            raise DataError(
                f"column {self.name!r} is {self.kind} ({self.type}) on one side and "
                f"{other.kind} ({other.type}) on the other; cannot merge",
                column=self.name,
            )
        return self._merge(other)

    def _merge(self, other: Self) -> Self:
        return dataclasses.replace(
            self,
            type=_merged_type(self.type, other.type),
            count=self.count + other.count,
            missing=self.missing + other.missing,
        )

    def with_missing(self, rows: int) -> Self:
        """This summary with ``rows`` more null rows."""
        return dataclasses.replace(self, missing=self.missing + rows) if rows else self

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "type": self.type,
            "count": self.count,
            "missing": self.missing,
        }

    @staticmethod
    def from_dict(data: dict[str, Any]) -> FeatureStatistics:
        """Inverse of ``to_dict`` for any kind."""
        cls = _KINDS.get(data.get("kind", ""))
        if cls is None:
            raise DataError(
                f"unknown feature kind {data.get('kind')!r} for column {data.get('name')!r}",
                column=data.get("name"),
            )
        return cls._from_dict(data)

    @classmethod
    def _from_dict(cls, data: dict[str, Any]) -> Self:
        return cls(data["name"], data["type"], int(data["count"]), int(data["missing"]))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FeatureStatistics):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]


def _merged_type(a: str, b: str) -> str:
    """Arrow type of merged partitions: ``"a|b"`` (sorted) when the partitions disagree."""
    if a == b:
        return a
    return "|".join(sorted(set(a.split("|")) | set(b.split("|"))))


@dataclass(frozen=True, eq=False)
class OtherStatistics(FeatureStatistics):
    """Lists, structs, binary, the null type: count and missing only."""

    kind: ClassVar[Kind] = "other"


@dataclass(frozen=True, eq=False)
class NumericStatistics(FeatureStatistics):
    """Numbers. Moments, min/max and the sketch cover finite values only.

    ``nan`` and ``inf`` (both signs) are counted apart and excluded from everything else;
    ``finite == count - nan - inf``. ``std`` is the population standard deviation (ddof=0).
    ``min``/``max`` keep the column's Python type (int for integer columns).
    """

    nan: int = 0
    inf: int = 0
    zeros: int = 0
    mean: float = math.nan
    m2: float = 0.0
    min: float | int | None = None
    max: float | int | None = None
    sketch: QuantileSketch = field(default_factory=QuantileSketch)

    kind: ClassVar[Kind] = "numeric"

    @property
    def finite(self) -> int:
        return self.count - self.nan - self.inf

    @property
    def variance(self) -> float:
        return self.m2 / self.finite if self.finite else math.nan

    @property
    def std(self) -> float:
        return math.sqrt(max(self.variance, 0.0)) if self.finite else math.nan

    def quantiles(self, qs: Any) -> np.ndarray:
        """Estimated values at normalized ranks ``qs``; rank 0/1 give the exact min/max."""
        q = np.asarray(qs, dtype=np.float64)
        out = self.sketch.quantiles(q)
        if self.finite:
            out = np.where(q <= 0.0, float(self.min), out)  # type: ignore[arg-type]
            out = np.where(q >= 1.0, float(self.max), out)  # type: ignore[arg-type]
        return out

    def quantile(self, q: float) -> float:
        return float(self.quantiles([q])[0])

    @property
    def median(self) -> float:
        return self.quantile(0.5)

    def cdf(self, x: Any) -> np.ndarray:
        """Estimated ``P(X <= x)`` over finite values; NaN when there are none."""
        return self.sketch.cdf(x)

    def histogram(
        self, bins: int = 10, kind: HistogramKind = "equal_width"
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(edges, counts)`` of finite values, derived from the sketch.

        ``equal_width``: ``bins`` equal bins over ``[min, max]``; ``quantile``: edges at the
        ``i/bins`` quantiles (duplicates dropped, so possibly fewer bins). Bins are closed on
        the right, the first also on the left. Counts are estimates (exact while the sketch
        is exact) that sum to ``finite``. No finite values: empty arrays.
        """
        if bins < 1:
            raise DataError(f"histogram of {self.name!r}: bins must be >= 1", column=self.name)
        if not self.finite:
            return np.empty(0), np.empty(0)
        lo, hi = float(self.min), float(self.max)  # type: ignore[arg-type]
        if kind == "equal_width":
            edges = np.linspace(lo, hi, bins + 1)
        elif kind == "quantile":
            edges = self.quantiles(np.linspace(0.0, 1.0, bins + 1))
        else:
            raise DataError(f"unknown histogram kind {kind!r}", column=self.name)
        edges = np.unique(edges)
        if len(edges) == 1:
            return np.array([lo, hi]), np.array([float(self.finite)])
        cum = self.cdf(edges[1:-1])
        cum = np.concatenate([[0.0], np.maximum.accumulate(cum), [1.0]])
        return edges, np.diff(cum) * self.finite

    def _merge(self, other: Self) -> Self:
        n_a, n_b = self.finite, other.finite
        n = n_a + n_b
        if n_a == 0:
            mean, m2 = other.mean, other.m2
        elif n_b == 0:
            mean, m2 = self.mean, self.m2
        else:
            delta = other.mean - self.mean
            mean = self.mean + delta * n_b / n
            m2 = self.m2 + other.m2 + delta * delta * n_a * n_b / n
        mins = [v for v in (self.min, other.min) if v is not None]
        maxs = [v for v in (self.max, other.max) if v is not None]
        return dataclasses.replace(
            super()._merge(other),
            nan=self.nan + other.nan,
            inf=self.inf + other.inf,
            zeros=self.zeros + other.zeros,
            mean=mean,
            m2=m2,
            min=min(mins) if mins else None,
            max=max(maxs) if maxs else None,
            sketch=self.sketch.merged(other.sketch),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **super().to_dict(),
            "nan": self.nan,
            "inf": self.inf,
            "zeros": self.zeros,
            "mean": _float_out(self.mean),
            "m2": _float_out(self.m2),
            "min": _num_or_none(self.min),
            "max": _num_or_none(self.max),
            "sketch": self.sketch.to_json(),
        }

    @classmethod
    def _from_dict(cls, data: dict[str, Any]) -> Self:
        return cls(
            data["name"],
            data["type"],
            int(data["count"]),
            int(data["missing"]),
            nan=int(data["nan"]),
            inf=int(data["inf"]),
            zeros=int(data["zeros"]),
            mean=float(data["mean"]),
            m2=float(data["m2"]),
            min=data["min"],
            max=data["max"],
            sketch=QuantileSketch.from_json(data["sketch"]),
        )


@dataclass(frozen=True, eq=False)
class CategoricalStatistics(FeatureStatistics):
    """Strings and other discrete values (booleans as ``"true"``/``"false"``)."""

    values: ValueCounts = field(default_factory=ValueCounts)
    total_length: int = 0

    kind: ClassVar[Kind] = "categorical"

    @property
    def distinct(self) -> int:
        """Number of distinct non-null values (exact up to 10,000, an HLL estimate beyond)."""
        return self.values.distinct

    @property
    def distinct_is_exact(self) -> bool:
        return self.values.is_exact

    def top(self, k: int = 10) -> list[tuple[str, int]]:
        """The ``k`` most frequent values with their counts, most frequent first.

        Counts are exact while ``distinct_is_exact``; beyond, frequent-items lower bounds
        (within ~0.35% of ``count``) for the values the sketch tracks.
        """
        return self.values.items()[: max(k, 0)]

    def frequencies(self) -> dict[str, float]:
        """Share of non-null values per tracked value (all values while exact)."""
        total = self.values.total
        return {v: c / total for v, c in self.values.items()} if total else {}

    @property
    def avg_length(self) -> float:
        """Mean length in characters of the non-null values (NaN for none)."""
        return self.total_length / self.count if self.count else math.nan

    def _merge(self, other: Self) -> Self:
        return dataclasses.replace(
            super()._merge(other),
            values=self.values.merged(other.values),
            total_length=self.total_length + other.total_length,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **super().to_dict(),
            "total_length": self.total_length,
            "values": self.values.to_json(),
        }

    @classmethod
    def _from_dict(cls, data: dict[str, Any]) -> Self:
        return cls(
            data["name"],
            data["type"],
            int(data["count"]),
            int(data["missing"]),
            values=ValueCounts.from_json(data["values"]),
            total_length=int(data["total_length"]),
        )


_EPOCH = _dt.datetime(1970, 1, 1)


@dataclass(frozen=True, eq=False)
class TimestampStatistics(FeatureStatistics):
    """Timestamps and dates: exact min/max, and a KLL sketch over epoch seconds.

    ``min_value``/``max_value`` are integers in ``unit`` (``"D"`` for date32); ``min``/
    ``max`` convert them to ``datetime`` (tz-aware when ``tz`` is set) or ``date``.
    """

    unit: str = "us"
    tz: str | None = None
    min_value: int | None = None
    max_value: int | None = None
    sketch: QuantileSketch = field(default_factory=QuantileSketch)

    kind: ClassVar[Kind] = "timestamp"

    def _to_py(self, value: int | None) -> _dt.datetime | _dt.date | None:
        if value is None:
            return None
        if self.unit == "D":
            return (_EPOCH + _dt.timedelta(days=value)).date()
        micros = {"s": value * 1_000_000, "ms": value * 1000, "us": value, "ns": value // 1000}
        out = _EPOCH + _dt.timedelta(microseconds=micros[self.unit])
        if self.tz is not None:
            from zoneinfo import ZoneInfo

            utc = out.replace(tzinfo=_dt.UTC)
            try:
                return utc.astimezone(ZoneInfo(self.tz))
            except (KeyError, ValueError):
                return utc
        return out

    @property
    def min(self) -> _dt.datetime | _dt.date | None:
        return self._to_py(self.min_value)

    @property
    def max(self) -> _dt.datetime | _dt.date | None:
        return self._to_py(self.max_value)

    def quantiles(self, qs: Any) -> np.ndarray:
        """Epoch seconds at normalized ranks ``qs``."""
        return self.sketch.quantiles(qs)

    def cdf(self, seconds: Any) -> np.ndarray:
        """Estimated ``P(T <= t)`` for epoch seconds ``t``."""
        return self.sketch.cdf(seconds)

    def _merge(self, other: Self) -> Self:
        if (self.unit, self.tz) != (other.unit, other.tz):
            raise DataError(
                f"column {self.name!r} has time unit/zone {self.unit}/{self.tz} on one side "
                f"and {other.unit}/{other.tz} on the other; cannot merge",
                column=self.name,
            )
        mins = [v for v in (self.min_value, other.min_value) if v is not None]
        maxs = [v for v in (self.max_value, other.max_value) if v is not None]
        return dataclasses.replace(
            super()._merge(other),
            min_value=min(mins) if mins else None,
            max_value=max(maxs) if maxs else None,
            sketch=self.sketch.merged(other.sketch),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **super().to_dict(),
            "unit": self.unit,
            "tz": self.tz,
            "min": self.min_value,
            "max": self.max_value,
            "sketch": self.sketch.to_json(),
        }

    @classmethod
    def _from_dict(cls, data: dict[str, Any]) -> Self:
        return cls(
            data["name"],
            data["type"],
            int(data["count"]),
            int(data["missing"]),
            unit=data["unit"],
            tz=data["tz"],
            min_value=data["min"],
            max_value=data["max"],
            sketch=QuantileSketch.from_json(data["sketch"]),
        )


_KINDS: dict[str, type[FeatureStatistics]] = {
    "numeric": NumericStatistics,
    "categorical": CategoricalStatistics,
    "timestamp": TimestampStatistics,
    "other": OtherStatistics,
}


@dataclass(frozen=True, eq=False)
class DatasetStatistics:
    """Statistics of a dataset: per-feature summaries, overall and per split."""

    num_rows: int = 0
    features: dict[str, FeatureStatistics] = field(default_factory=dict)
    splits: dict[str, DatasetStatistics] = field(default_factory=dict)

    def __getitem__(self, name: str) -> FeatureStatistics:
        try:
            return self.features[name]
        except KeyError:
            raise DataError(f"no statistics for column {name!r}", column=name) from None

    def __contains__(self, name: object) -> bool:
        return name in self.features

    @property
    def names(self) -> list[str]:
        """Feature names in column order."""
        return list(self.features)

    def split(self, name: str) -> DatasetStatistics:
        try:
            return self.splits[name]
        except KeyError:
            raise DataError(
                f"no split {name!r} (splits: {sorted(self.splits)})", split=name
            ) from None

    def merge(self, other: DatasetStatistics) -> DatasetStatistics:
        """Statistics of the rows of both (features and splits are unioned by name)."""
        features: dict[str, FeatureStatistics] = {}
        for name, feat in self.features.items():
            theirs = other.features.get(name)
            features[name] = (
                feat.with_missing(other.num_rows) if theirs is None else feat.merge(theirs)
            )
        for name, feat in other.features.items():
            if name not in features:
                features[name] = feat.with_missing(self.num_rows)
        splits = dict(self.splits)
        for name, split in other.splits.items():
            splits[name] = splits[name].merge(split) if name in splits else split
        return DatasetStatistics(self.num_rows + other.num_rows, features, splits)

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, **self._body()}

    def _body(self) -> dict[str, Any]:
        return {
            "num_rows": self.num_rows,
            "features": [f.to_dict() for f in self.features.values()],
            "splits": {name: s._body() for name, s in self.splits.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetStatistics:
        if data.get("format", FORMAT) != FORMAT:
            raise DataError(f"not a statistics document (format {data.get('format')!r})")
        if int(data.get("version", VERSION)) > VERSION:
            raise DataError(f"statistics version {data['version']} is newer than {VERSION}")
        features = [FeatureStatistics.from_dict(f) for f in data["features"]]
        return cls(
            int(data["num_rows"]),
            {f.name: f for f in features},
            {name: cls.from_dict(s) for name, s in data.get("splits", {}).items()},
        )

    def to_json(self, *, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> DatasetStatistics:
        return cls.from_dict(json.loads(text))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DatasetStatistics):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

"""Mergeable summaries behind the statistics: quantiles (KLL) and value counts.

- :class:`QuantileSketch` wraps a DataSketches KLL doubles sketch: quantiles, CDF and
  ranks of a numeric stream with a normalized rank error of about 1.3% (k=200), mergeable.
- :class:`ValueCounts` counts string values exactly while there are few distinct values
  (``MAX_EXACT``) and switches, beyond that, to a DataSketches frequent-items sketch (top
  values) plus an HLL sketch (distinct count). Exact and sketched summaries merge freely.

Both are updated in place only by the statistics builder; everything else treats them as
values (``merged`` returns a new object). KLL compaction flips an unseeded coin, so two
runs over the same data give sketches (and statistics JSON) that differ in their bytes,
though not beyond the stated error; counters, moments and exact value counts do not vary.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
from datasketches import frequent_items_error_type, frequent_strings_sketch, kll_doubles_sketch

from mloop.data._hll import HyperLogLog, hash_strings

__all__ = ["KLL_K", "MAX_EXACT", "QuantileSketch", "ValueCounts"]

KLL_K = 200
"""KLL accuracy parameter (normalized rank error ~1.3%, a few KB serialized)."""

MAX_EXACT = 10_000
"""Distinct values counted exactly; beyond this a categorical feature is sketched."""

HLL_P = 12
"""HLL registers 2**12 (relative error ~1.6%, 4 KB)."""

FREQ_LG_MAP = 10
"""Frequent-items map of 2**10 slots (tracks the ~768 heaviest values)."""

BATCH_TOP = 1024
"""In sketch mode, only the heaviest values of a batch feed the frequent-items sketch."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"))


class QuantileSketch:
    """Quantiles and CDF of a stream of finite doubles (KLL, mergeable)."""

    __slots__ = ("_kll",)

    def __init__(self, kll: Any = None) -> None:
        self._kll = kll if kll is not None else kll_doubles_sketch(KLL_K)

    def update(self, values: np.ndarray) -> None:
        """Add finite float64 values (in place; for builders)."""
        if len(values):
            x = np.ascontiguousarray(values, dtype=np.float64)
            self._kll.update(x if x.flags.writeable else x.copy())  # nanobind wants writable

    @property
    def n(self) -> int:
        return int(self._kll.n)

    @property
    def rank_error(self) -> float:
        """Normalized rank error of single-point queries (0 while the sketch is exact)."""
        if not self._kll.is_estimation_mode():
            return 0.0
        return float(self._kll.normalized_rank_error(False))

    @property
    def cdf_error(self) -> float:
        """Normalized error bound of CDF/PMF values (0 while the sketch is exact)."""
        if not self._kll.is_estimation_mode():
            return 0.0
        return float(self._kll.normalized_rank_error(True))

    def merged(self, other: QuantileSketch) -> QuantileSketch:
        out = kll_doubles_sketch.deserialize(self._kll.serialize())
        out.merge(other._kll)
        return QuantileSketch(out)

    def quantiles(self, qs: Sequence[float] | np.ndarray) -> np.ndarray:
        """Values at normalized ranks ``qs`` (in [0, 1]); NaN when empty."""
        q = np.clip(np.asarray(qs, dtype=np.float64), 0.0, 1.0)
        if self._kll.is_empty():
            return np.full(q.shape, np.nan)
        return np.asarray(self._kll.get_quantiles(q.ravel().tolist(), True)).reshape(q.shape)

    def cdf(self, points: Sequence[float] | np.ndarray) -> np.ndarray:
        """``P(X <= x)`` for each point (any order); NaN when empty."""
        x = np.asarray(points, dtype=np.float64)
        if self._kll.is_empty():
            return np.full(x.shape, np.nan)
        flat = x.ravel()
        uniq, inverse = np.unique(flat, return_inverse=True)
        finite = np.isfinite(uniq)
        out = np.where(uniq > 0, 1.0, 0.0)  # -inf -> 0, +inf -> 1, NaN -> 1 (unused)
        if finite.any():
            ranks = np.asarray(self._kll.get_cdf(uniq[finite].tolist(), True))[:-1]
            out[finite] = ranks
        return out[inverse].reshape(x.shape)

    def to_bytes(self) -> bytes:
        return bytes(self._kll.serialize())

    @classmethod
    def from_bytes(cls, data: bytes) -> QuantileSketch:
        return cls(kll_doubles_sketch.deserialize(data))

    def to_json(self) -> str:
        return _b64(self.to_bytes())

    @classmethod
    def from_json(cls, text: str) -> QuantileSketch:
        return cls.from_bytes(_unb64(text))


class ValueCounts:
    """Counts of string values: exact up to :data:`MAX_EXACT` distinct, sketched beyond.

    Exact mode keeps the distinct values (an Arrow string array) with their counts and
    merges batches with Arrow's hash aggregation (no Python loop per value). Sketch mode
    keeps a DataSketches frequent-items sketch for the heavy values and a
    :class:`HyperLogLog` for the number of distinct values. Sketched counts are the
    Misra-Gries lower bounds: below the truth by at most ~0.35% of ``total`` (each batch
    feeds the sketch only its :data:`BATCH_TOP` heaviest values, which can add at most the
    count of its ``BATCH_TOP + 1``-th heaviest value).
    """

    __slots__ = ("_counts", "_freq", "_freq_text", "_hll", "_values", "total")

    def __init__(self) -> None:
        self._values: pa.Array = pa.array([], pa.string())
        self._counts: np.ndarray = np.empty(0, np.int64)
        self._freq: Any = None
        self._hll: HyperLogLog | None = None
        self._freq_text: str | None = None  # as read: re-serializing reorders the sketch
        self.total = 0

    @classmethod
    def from_counts(cls, counts: dict[str, int]) -> ValueCounts:
        """Exact counts from a mapping (switches to sketches beyond ``MAX_EXACT``)."""
        out = cls()
        out.update(pa.array(list(counts), pa.string()), np.fromiter(counts.values(), np.int64))
        return out

    @property
    def is_exact(self) -> bool:
        return self._freq is None

    def update(self, values: pa.Array, counts: np.ndarray) -> None:
        """Add string ``values`` (no nulls) with their ``counts`` (in place; for builders)."""
        if not len(values):
            return
        counts = np.asarray(counts, dtype=np.int64)
        self.total += int(counts.sum())
        self._freq_text = None
        if self.is_exact:
            if len(values) > MAX_EXACT:
                self._to_sketch()
                self._sketch_update(values, counts, BATCH_TOP)
                return
            if not pa.types.is_string(values.type):
                values = values.cast(pa.string())
            if len(self._values):
                table = (
                    pa.table(
                        {
                            "v": pa.concat_arrays([self._values, values]),
                            "c": np.concatenate([self._counts, counts]),
                        }
                    )
                    .group_by("v")
                    .aggregate([("c", "sum")])
                )
                values = table.column("v").combine_chunks()
                counts = table.column("c_sum").to_numpy()
            self._values, self._counts = values, counts
            if len(values) > MAX_EXACT:
                self._to_sketch()
            return
        self._sketch_update(values, counts, BATCH_TOP)

    def _sketch_update(self, values: pa.Array, counts: np.ndarray, top: int | None) -> None:
        assert self._hll is not None
        self._hll.update_hashes(hash_strings(values))
        if top is not None and len(values) > top:
            heavy = np.argpartition(-counts, top)[:top]
            values, counts = values.take(pa.array(heavy)), counts[heavy]
        freq = self._freq
        for value, count in zip(values.to_pylist(), counts.tolist(), strict=True):
            freq.update(value, count)

    def _to_sketch(self) -> None:
        values, counts = self._values, self._counts
        self._values, self._counts = pa.array([], pa.string()), np.empty(0, np.int64)
        self._freq = frequent_strings_sketch(FREQ_LG_MAP)
        self._hll = HyperLogLog(HLL_P)
        self._sketch_update(values, counts, None)

    def _copy(self) -> ValueCounts:
        out = ValueCounts()
        out.total = self.total
        if self.is_exact:
            out._values, out._counts = self._values, self._counts
        else:
            assert self._hll is not None
            out._freq = frequent_strings_sketch.deserialize(self._freq.serialize())
            out._hll = self._hll.copy()
        return out

    def merged(self, other: ValueCounts) -> ValueCounts:
        out = self._copy()
        if other.is_exact:
            out.update(other._values, other._counts)
            return out
        if out.is_exact:
            exact_total = out.total
            out._to_sketch()
            out.total = exact_total
        assert out._hll is not None and other._hll is not None
        out.total += other.total
        out._freq.merge(other._freq)
        out._hll = out._hll.merged(other._hll)
        return out

    @property
    def distinct(self) -> int:
        """Number of distinct values: exact in exact mode, an HLL estimate beyond."""
        if self._hll is None:
            return len(self._values)
        return round(self._hll.estimate())

    def items(self) -> list[tuple[str, int]]:
        """Tracked values with their (lower-bound) counts, heaviest first, ties by value."""
        if self.is_exact:
            pairs = list(zip(self._values.to_pylist(), self._counts.tolist(), strict=True))
        else:
            rows = self._freq.get_frequent_items(frequent_items_error_type.NO_FALSE_NEGATIVES, 0)
            pairs = [(str(r[0]), int(r[2])) for r in rows if r[2] > 0]
        pairs.sort(key=lambda p: (-p[1], p[0]))
        return pairs

    def to_json(self) -> dict[str, Any]:
        if self.is_exact:
            return {"total": self.total, "values": dict(self.items())}
        assert self._hll is not None
        return {
            "total": self.total,
            "frequent": self._freq_text or _b64(bytes(self._freq.serialize())),
            "hll": _b64(self._hll.to_bytes()),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ValueCounts:
        out = cls()
        if "values" in data:
            values = data["values"]
            out._values = pa.array(list(values), pa.string())
            out._counts = np.fromiter(values.values(), np.int64, len(values))
        else:
            out._freq = frequent_strings_sketch.deserialize(_unb64(data["frequent"]))
            out._freq_text = data["frequent"]
            out._hll = HyperLogLog.from_bytes(_unb64(data["hll"]))
        out.total = int(data["total"])
        return out

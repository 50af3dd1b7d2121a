"""The column kinds of a fitted transform: how one input column becomes output columns.

Each kind is a small frozen dataclass fitted from a training column (:meth:`fit`), stored as
JSON (:meth:`to_dict` / :meth:`from_dict`) and applied two ways that give the same floats:
:meth:`~_Column.write` from a pandas column, and :meth:`~_Column.write_values` from plain
Python values (the fast path of small requests, which declines values it cannot type as
pandas would). See :mod:`mloop.ml._transform` for what each kind does.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Self

from mloop.errors import DataError
from mloop.ml._tables import column_type, is_numeric

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__: list[str] = []  # private to mloop.ml._transform

OTHER = "__other__"
MISSING = "__missing__"


# The column kinds ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Column(ABC):
    """How one input column becomes output columns: written into a block of the output."""

    kind: ClassVar[str]
    name: str

    def outputs(self) -> list[str]:
        return [self.name]

    @abstractmethod
    def write(self, series: pd.Series, block: np.ndarray) -> None:
        """Fill ``block`` (rows by len(outputs())) from the input ``series``."""

    @abstractmethod
    def write_values(self, values: list[Any], block: np.ndarray) -> bool:
        """Fill ``block`` from plain Python values exactly as :meth:`write` would from a
        column of them; ``False`` (block undefined) for values the fast path leaves to it."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """The fitted column as JSON."""


@dataclass(frozen=True, slots=True)
class _Numeric(_Column):
    """Impute with ``fill``, then ``(x - center) / scale``."""

    kind: ClassVar[str] = "numeric"
    fill: float
    center: float = 0.0
    scale: float = 1.0

    @classmethod
    def fit(cls, series: pd.Series, impute: Any, scale: str | None) -> _Numeric:
        import numpy as np

        values = _numeric_values(series, "numeric")
        observed = values[np.isfinite(values)]  # infinities do not move the statistics
        fill = _statistic(observed, impute) if isinstance(impute, str) else float(impute)
        filled = np.where(np.isnan(values), fill, values)
        filled = filled[np.isfinite(filled)]
        center, spread = 0.0, 1.0
        if filled.size and scale == "standard":
            center, spread = float(filled.mean()), float(filled.std())
        elif filled.size and scale == "minmax":
            center, spread = float(filled.min()), float(filled.max() - filled.min())
        if not np.isfinite(spread) or spread == 0.0:
            spread = 1.0
        return cls(str(series.name), fill, center, spread)

    def write(self, series: pd.Series, block: np.ndarray) -> None:
        import numpy as np

        values = _numeric_values(series, "numeric")
        np.copyto(values, self.fill, where=np.isnan(values))
        np.subtract(values, self.center, out=values)
        np.divide(values, self.scale, out=values)
        block[:, 0] = values

    def write_values(self, values: list[Any], block: np.ndarray) -> bool:
        import numpy as np

        if len(values) <= _FEW:  # a few values: plain float arithmetic, the same IEEE result
            floats = _plain_floats(values)
            if floats is None:
                return False
            fill, center, scale = self.fill, self.center, self.scale
            for i, x in enumerate(floats):
                block[i, 0] = ((fill if x != x else x) - center) / scale  # x != x: NaN
            return True
        numbers = _plain_numbers(values)
        if numbers is None:
            return False
        np.copyto(numbers, self.fill, where=np.isnan(numbers))
        np.subtract(numbers, self.center, out=numbers)
        np.divide(numbers, self.scale, out=numbers)
        block[:, 0] = numbers
        return True

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "fill": self.fill,
            "center": self.center,
            "scale": self.scale,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> _Numeric:
        return cls(d["name"], float(d["fill"]), float(d["center"]), float(d["scale"]))


@dataclass(frozen=True, slots=True)
class _Coded(_Column):
    """A column of category values, coded by their key's position in ``categories``."""

    categories: tuple[str, ...]
    fill: str | None = None
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index = {category: i for i, category in enumerate(self.categories)}
        object.__setattr__(self, "_index", index)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "categories": list(self.categories),
            "fill": self.fill,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Self:
        return cls(d["name"], tuple(str(c) for c in d["categories"]), d.get("fill"))

    def value_codes(self, values: list[Any]) -> list[int] | None:
        """:func:`_codes` of plain values (-1 other, -2 missing); None when the values mix
        kinds that pandas would type differently (left to the general path)."""
        kinds = set(map(type, values))
        index = self._index
        missing = -2 if self.fill is None else index.get(self.fill, -1)
        if kinds <= _TEXT:
            return [missing if v is None else index.get(v, -1) for v in values]
        if kinds <= _BOOLS or kinds <= _INTS or kinds <= _FLOATS:
            return [
                missing if v is None or v != v else index.get(_key(v), -1)  # v != v: NaN
                for v in values
            ]
        return None


@dataclass(frozen=True, slots=True)
class _Categorical(_Coded):
    """One-hot over ``categories`` (value keys), then ``__other__`` and maybe ``__missing__``."""

    kind: ClassVar[str] = "categorical"

    @classmethod
    def fit(cls, series: pd.Series, impute: Any, max_categories: int) -> _Categorical:
        counts = _key_counts(series)
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        top = sorted(key for key, _ in ranked[:max_categories])
        return cls(str(series.name), tuple(top), _fill_key(impute, ranked))

    def outputs(self) -> list[str]:
        names = [f"{self.name}={c}" for c in self.categories] + [f"{self.name}={OTHER}"]
        return names if self.fill is not None else [*names, f"{self.name}={MISSING}"]

    def write(self, series: pd.Series, block: np.ndarray) -> None:
        import numpy as np

        codes = _codes(series, self._index, self.fill)
        other = len(self.categories)
        positions = np.where(codes >= 0, codes, np.where(codes == -1, other, other + 1))
        for j in range(block.shape[1]):  # column by column: sequential writes
            np.equal(positions, j, out=block[:, j], casting="unsafe")

    def write_values(self, values: list[Any], block: np.ndarray) -> bool:

        codes = self.value_codes(values)
        if codes is None:
            return False
        other = len(self.categories)
        block[:] = 0.0
        for i, code in enumerate(codes):  # a request's few rows: faster than fancy indexing
            block[i, code if code >= 0 else (other if code == -1 else other + 1)] = 1.0
        return True


@dataclass(frozen=True, slots=True)
class _Ordinal(_Coded):
    """The position of the value among the sorted fit values; -1 when unseen or missing."""

    kind: ClassVar[str] = "ordinal"

    @classmethod
    def fit(cls, series: pd.Series, impute: Any) -> _Ordinal:
        import pandas as pd

        _, uniques = pd.factorize(series, use_na_sentinel=True)
        values = list(uniques)
        try:
            values.sort()
        except TypeError:  # mixed types: order by their text
            values.sort(key=_key)
        ordered = list(dict.fromkeys(_key(v) for v in values))
        ranked = sorted(_key_counts(series).items(), key=lambda item: (-item[1], item[0]))
        return cls(str(series.name), tuple(ordered), _fill_key(impute, ranked))

    def write(self, series: pd.Series, block: np.ndarray) -> None:
        import numpy as np

        codes = _codes(series, self._index, self.fill)
        block[:, 0] = np.where(codes >= 0, codes, -1)

    def write_values(self, values: list[Any], block: np.ndarray) -> bool:
        codes = self.value_codes(values)
        if codes is None:
            return False
        block[:, 0] = [code if code >= 0 else -1 for code in codes]
        return True


@dataclass(frozen=True, slots=True)
class _Passthrough(_Column):
    """A numeric column copied as float64 (missing values stay NaN)."""

    kind: ClassVar[str] = "passthrough"

    def write(self, series: pd.Series, block: np.ndarray) -> None:
        block[:, 0] = _numeric_values(series, "passthrough")

    def write_values(self, values: list[Any], block: np.ndarray) -> bool:
        numbers = _plain_floats(values) if len(values) <= _FEW else _plain_numbers(values)
        if numbers is None:
            return False
        block[:, 0] = numbers
        return True

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> _Passthrough:
        return cls(d["name"])


_KINDS: dict[Any, Any] = {
    kind.kind: kind for kind in (_Numeric, _Categorical, _Ordinal, _Passthrough)
}


# Helpers ------------------------------------------------------------------------------


def _numeric_values(series: pd.Series, role: str) -> np.ndarray:
    """A column as a fresh float64 array (missing → NaN), or a DataError naming its type."""
    import numpy as np

    if not is_numeric(series):
        raise DataError(
            f"column {series.name!r} is listed as {role} but has type {series.dtype} "
            f"({column_type(series)} values); list it as categorical instead",
            column=str(series.name),
            dtype=str(series.dtype),
        )
    return series.to_numpy(dtype=np.float64, na_value=np.nan, copy=True)


def _statistic(observed: np.ndarray, strategy: str) -> float:
    import numpy as np

    if observed.size == 0:
        return 0.0
    if strategy == "mean":
        return float(observed.mean())
    if strategy == "most_frequent":
        values, counts = np.unique(observed, return_counts=True)
        return float(values[np.argmax(counts)])
    return float(np.median(observed))


def _key(value: Any) -> str:
    """The text identity of a category value: ``1``, ``1.0`` and ``np.int64(1)`` are ``"1"``."""
    import numpy as np

    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        return str(int(number)) if number.is_integer() else repr(number)
    return str(value)


def _key_counts(series: pd.Series) -> dict[str, int]:
    import numpy as np
    import pandas as pd

    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
    totals: dict[str, int] = {}
    for value, count in zip(uniques, counts, strict=True):
        key = _key(value)
        totals[key] = totals.get(key, 0) + int(count)
    return totals


def _fill_key(impute: Any, ranked: list[tuple[str, int]]) -> str | None:
    """The category imputed for missing values: configured constant, most frequent, or none."""
    if impute is None:
        return None
    if impute == "most_frequent":
        return ranked[0][0] if ranked else None
    return _key(impute)


def _codes(series: pd.Series, index: Mapping[str, int], fill: str | None) -> np.ndarray:
    """Each value's position in the categories (``index``: key -> position); -1 for other
    values, -2 for missing ones."""
    import numpy as np
    import pandas as pd

    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    missing = -2 if fill is None else index.get(fill, -1)
    lookup = np.array([index.get(_key(v), -1) for v in uniques] + [missing], dtype=np.int64)
    result: np.ndarray = lookup[codes]  # code -1 (missing) picks the last entry
    return result


# The fast path of plain values ---------------------------------------------------------------
#
# A pandas column built from plain values has a type only when its values agree: ints, floats
# and missing values make a number column; booleans (and missing) a boolean one; strings (and
# missing) a text one. Anything else (a mix, an object) is left to the general path, so both
# paths give the same result or the same error. Category keys of ints beside floats are left
# to it too: pandas makes them floats first, which changes the key of an int beyond 2**53.

_NONE = type(None)
#: up to this many values, plain Python arithmetic beats NumPy's per-call cost
_FEW = 8
_NUMBERS = frozenset({int, float, _NONE})
_INTS = frozenset({int, _NONE})
_FLOATS = frozenset({float, _NONE})
_BOOLS = frozenset({bool, _NONE})
_TEXT = frozenset({str, _NONE})


def _plain_floats(values: list[Any]) -> list[float] | None:
    """:func:`_plain_numbers` as a list, for a few values (NumPy's per-call cost dominates)."""
    kinds = set(map(type, values))
    if not (kinds <= _NUMBERS or kinds <= _BOOLS):
        return None
    try:
        return [math.nan if v is None else float(v) for v in values]
    except OverflowError:  # an int beyond float64
        return None


def _plain_numbers(values: list[Any]) -> np.ndarray | None:
    """Numbers (or booleans) as a fresh float64 array, missing as NaN; None for other values."""
    import numpy as np

    kinds = set(map(type, values))
    if not (kinds <= _NUMBERS or kinds <= _BOOLS):
        return None
    try:
        return np.array(values, dtype=np.float64)  # None -> NaN
    except OverflowError:  # an int beyond float64
        return None

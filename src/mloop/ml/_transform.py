"""Feature transforms: preprocessing fitted once on training rows, applied the same everywhere.

A :class:`Transform` declares what to do with each column (numeric, categorical, ordinal,
passthrough; imputation; scaling; user functions by reference). ``fit`` learns the few
numbers and category lists that needs and returns a :class:`FittedTransform`, a small JSON
document (no pickle) that training, evaluation and serving all apply through the same code,
so there is no training/serving skew by construction. The output is a float64 DataFrame
with a stable column order::

    distance, dep_hour, carrier=AA, carrier=UA, carrier=__other__, carrier=__missing__, month

- numeric: missing values imputed (median unless configured), then scaled (``standard``:
  mean 0 / standard deviation 1; ``minmax``: [0, 1] over the fit range; ``None``); booleans
  are numeric 0/1.
- categorical: one-hot over the ``max_categories`` most frequent values seen at fit; other
  and unseen values set ``<col>=__other__``; missing values are imputed when configured, else
  set ``<col>=__missing__``.
- ordinal: the integer code of the value among the sorted fit values; unseen (and missing,
  unless imputed) is -1.
- passthrough: numeric columns copied as float64, untouched.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from mloop.errors import ConfigError, DataError
from mloop.ml._functions import apply_functions, function_inputs
from mloop.ml._tables import as_frame, column_type, columns_present, is_numeric

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["FittedTransform", "Transform"]

FORMAT = "mloop.transform/v1"
OTHER = "__other__"
MISSING = "__missing__"
SCALES = ("standard", "minmax", None)
NUMERIC_STRATEGIES = ("median", "mean", "most_frequent")


class Transform:
    """What to do with each feature column; :meth:`fit` learns it from training rows.

    ``impute`` maps a column to a strategy (``"median"``, ``"mean"``, ``"most_frequent"``)
    or a constant fill value. ``functions`` are ``"module:function"`` references to
    ``DataFrame -> DataFrame`` functions run, in order, before everything else (the module
    must be importable wherever the transform is applied).
    """

    def __init__(
        self,
        numeric: Sequence[str] | None = None,
        categorical: Sequence[str] | None = None,
        ordinal: Sequence[str] | None = None,
        impute: Mapping[str, Any] | None = None,
        scale: str | None = "standard",
        max_categories: int = 50,
        functions: Sequence[str] | None = None,
        passthrough: Sequence[str] | None = None,
    ) -> None:
        self.numeric = _names(numeric, "numeric")
        self.categorical = _names(categorical, "categorical")
        self.ordinal = _names(ordinal, "ordinal")
        self.passthrough = _names(passthrough, "passthrough")
        self.impute = dict(impute or {})
        self.scale = scale
        self.max_categories = max_categories
        self.functions = _names(functions, "functions")
        self._check()

    def _check(self) -> None:
        roles: dict[str, str] = {}
        for role in ("numeric", "categorical", "ordinal", "passthrough"):
            for name in getattr(self, role):
                if name in roles:
                    raise ConfigError(
                        f"column {name!r} is listed as both {roles[name]} and {role}",
                        column=name,
                    )
                roles[name] = role
        if not roles:
            raise ConfigError(
                "a transform needs at least one numeric, categorical, ordinal or passthrough column"
            )
        if self.scale not in SCALES:
            raise ConfigError(
                f"scale must be 'standard', 'minmax' or None, not {self.scale!r}",
                argument="scale",
            )
        if isinstance(self.max_categories, bool) or not isinstance(self.max_categories, int):
            raise ConfigError("max_categories must be an integer", argument="max_categories")
        if self.max_categories < 1:
            raise ConfigError(
                f"max_categories must be at least 1, not {self.max_categories}",
                argument="max_categories",
            )
        for name, how in self.impute.items():
            role = roles.get(name, "")
            if role not in ("numeric", "categorical", "ordinal"):
                raise ConfigError(
                    f"impute names column {name!r}, which is not a numeric, categorical or "
                    "ordinal column of this transform",
                    column=name,
                )
            _check_strategy(name, role, how)

    @property
    def columns(self) -> list[str]:
        """Every configured column, in output order."""
        return [*self.numeric, *self.categorical, *self.ordinal, *self.passthrough]

    def to_dict(self) -> dict[str, Any]:
        return {
            "numeric": list(self.numeric),
            "categorical": list(self.categorical),
            "ordinal": list(self.ordinal),
            "passthrough": list(self.passthrough),
            "impute": dict(self.impute),
            "scale": self.scale,
            "max_categories": self.max_categories,
            "functions": list(self.functions),
        }

    def __repr__(self) -> str:
        parts = [f"{k}={v!r}" for k, v in self.to_dict().items() if v not in ([], {}, None)]
        return f"Transform({', '.join(parts)})"

    def fit(self, data: Any) -> FittedTransform:
        """Learn fill values, scales and categories from ``data`` (a DataFrame or table)."""
        raw = as_frame(data)
        if len(raw) == 0:
            raise DataError("cannot fit a transform on 0 rows")
        frame = apply_functions(self.functions, raw) if self.functions else raw
        require_columns(frame, self.columns)
        columns: list[_Column] = []
        for name in self.numeric:
            columns.append(_Numeric.fit(frame[name], self.impute.get(name, "median"), self.scale))
        for name in self.categorical:
            columns.append(
                _Categorical.fit(frame[name], self.impute.get(name), self.max_categories)
            )
        for name in self.ordinal:
            columns.append(_Ordinal.fit(frame[name], self.impute.get(name)))
        for name in self.passthrough:
            _numeric_values(frame[name], "passthrough")
            columns.append(_Passthrough(name))
        if self.functions:
            inputs = function_inputs(self.functions, raw, self.columns)
        else:
            inputs = self.columns
        return FittedTransform(columns, inputs, self.functions, self.to_dict())


class FittedTransform:
    """A fitted :class:`Transform`: apply it to any rows; ``to_dict`` is exact JSON.

    :attr:`sources` maps each output column to the column it is derived from (``carrier=AA``
    → ``carrier``): a raw input column, or, when the transform has ``functions``, the column
    as the functions left it (possibly one they made). Explanations fold attributions back
    onto those columns.
    """

    def __init__(
        self,
        columns: Sequence[_Column],
        input_columns: Sequence[str],
        functions: Sequence[str] = (),
        spec: Mapping[str, Any] | None = None,
    ) -> None:
        self.columns: tuple[_Column, ...] = tuple(columns)
        self.input_columns: list[str] = list(input_columns)
        self.functions: list[str] = list(functions)
        self.spec: dict[str, Any] = dict(spec or {})
        self.output_columns: list[str] = [n for c in self.columns for n in c.outputs()]
        self._widths = [len(c.outputs()) for c in self.columns]
        self.sources: dict[str, str] = {n: c.name for c in self.columns for n in c.outputs()}
        seen: set[str] = set()
        for name in self.output_columns:
            if name in seen:
                raise ConfigError(
                    f"two transform outputs are both called {name!r}: rename a column",
                    column=name,
                )
            seen.add(name)

    def apply(self, data: Any) -> pd.DataFrame:
        """The feature matrix of ``data``: float64 columns :attr:`output_columns`, same index.

        A configured column missing from ``data`` is a :class:`DataError` naming it; a
        non-numeric value in a numeric column is one naming the column and its type.
        """
        import pandas as pd

        frame = as_frame(data)
        out = self._matrix(frame)
        return pd.DataFrame(out, columns=self.output_columns, index=frame.index, copy=False)

    def matrix(self, data: Any) -> np.ndarray:
        """:meth:`apply` as a bare float64 array (columns :attr:`output_columns`)."""
        return self._matrix(as_frame(data))

    def _matrix(self, frame: pd.DataFrame) -> np.ndarray:
        import numpy as np

        if self.functions:
            frame = apply_functions(self.functions, frame)
        require_columns(frame, [c.name for c in self.columns])
        out = np.empty((len(frame), len(self.output_columns)), dtype=np.float64, order="F")
        start = 0
        for column, width in zip(self.columns, self._widths, strict=True):
            column.write(frame[column.name], out[:, start : start + width])
            start += width
        return out

    def matrix_from_values(self, columns: Mapping[str, list[Any]], rows: int) -> np.ndarray | None:
        """The matrix of ``rows`` rows given as plain Python values per input column (what a
        JSON body parses into; a missing value is ``None``), or ``None`` when a value needs
        the general path (:meth:`matrix`) to be typed or refused. Same result as
        :meth:`matrix` on the same rows, without pandas: the fast path of small requests."""
        import numpy as np

        if self.functions:
            return None
        # Column-major like matrix(): the same layout gives some estimators the same bits.
        out = np.empty((rows, len(self.output_columns)), dtype=np.float64, order="F")
        start = 0
        for column, width in zip(self.columns, self._widths, strict=True):
            values = columns.get(column.name)
            if values is None or not column.write_values(values, out[:, start : start + width]):
                return None
            start += width
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "spec": self.spec,
            "functions": list(self.functions),
            "input_columns": list(self.input_columns),
            "columns": [column.to_dict() for column in self.columns],
        }

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> FittedTransform:
        """The transform ``to_dict`` wrote (an unknown format version is a clear error)."""
        found = value.get("format") if isinstance(value, Mapping) else None
        if found != FORMAT:
            raise ConfigError(
                f"not a fitted transform of a format this mloop reads: format {found!r} "
                f"(supported: {FORMAT!r}; a newer format needs a newer mloop)"
            )
        try:
            columns = []
            for entry in value["columns"]:
                kind = _KINDS.get(entry.get("kind"))
                if kind is None:
                    raise ConfigError(f"unknown transform column kind {entry.get('kind')!r}")
                columns.append(kind.from_dict(entry))
            return cls(columns, value["input_columns"], value.get("functions", ()), value["spec"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"malformed fitted transform: {type(exc).__name__}: {exc}") from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FittedTransform) and other.to_dict() == self.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"FittedTransform({len(self.input_columns)} inputs -> "
            f"{len(self.output_columns)} columns)"
        )


def require_columns(frame: pd.DataFrame, names: Sequence[str]) -> None:
    """A :class:`DataError` naming the first of ``names`` that ``frame`` lacks."""
    present = set(frame.columns)
    for name in names:
        if name not in present:
            raise DataError(
                f"column {name!r} is missing (columns present: {columns_present(frame)})",
                column=name,
            )


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "categories": list(self.categories),
            "fill": self.fill,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> _Categorical:
        return cls(d["name"], tuple(str(c) for c in d["categories"]), d.get("fill"))


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "categories": list(self.categories),
            "fill": self.fill,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> _Ordinal:
        return cls(d["name"], tuple(str(c) for c in d["categories"]), d.get("fill"))


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


def _names(value: Sequence[str] | None, argument: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{argument} must be a list of column names", argument=argument)
    return list(value)


def _check_strategy(name: str, role: str, how: Any) -> None:
    if role == "numeric":
        number = isinstance(how, int | float) and not isinstance(how, bool)
        ok = number or how in NUMERIC_STRATEGIES
        choices = "'median', 'mean', 'most_frequent' or a number"
    else:
        ok = isinstance(how, str | int | float | bool) and how not in ("median", "mean")
        choices = "'most_frequent' or a constant value"
    if not ok:
        raise ConfigError(
            f"impute strategy {how!r} for {role} column {name!r} is not one of {choices}",
            column=name,
        )


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

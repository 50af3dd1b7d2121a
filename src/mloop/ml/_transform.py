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

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mloop.errors import ConfigError, DataError
from mloop.ml._columns import (
    _KINDS,
    _Categorical,
    _Column,
    _Numeric,
    _numeric_values,
    _Ordinal,
    _Passthrough,
)
from mloop.ml._functions import apply_functions, function_inputs
from mloop.ml._tables import as_frame, columns_present

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["FittedTransform", "Transform"]

FORMAT = "mloop.transform/v1"
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

"""Table-like inputs as pandas DataFrames, and the simple type names of their columns.

Models accept what a caller naturally has: a pandas DataFrame, an Arrow table, a list of
row dicts (a JSON request body), a dict of columns, or one row as a dict of scalars. Every
entry point converts once, here, so the rest of :mod:`mloop.ml` only sees pandas.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mloop.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

#: The simple column types of a signature; ``null`` is a column with no values at all.
TYPE_NAMES = ("int64", "float64", "string", "bool", "timestamp", "any")

_INFERRED = {
    "string": "string",
    "unicode": "string",
    "categorical": "string",
    "boolean": "bool",
    "integer": "int64",
    "floating": "float64",
    "mixed-integer-float": "float64",
    "decimal": "float64",
    "datetime": "timestamp",
    "datetime64": "timestamp",
    "date": "timestamp",
    "empty": "null",
}


def as_frame(data: Any) -> pd.DataFrame:
    """``data`` as a pandas DataFrame (converted once; a DataFrame is returned as is)."""
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
    arrow = sys.modules.get("pyarrow")
    polars = sys.modules.get("polars")
    if (arrow is not None and isinstance(data, arrow.Table | arrow.RecordBatch)) or (
        polars is not None and isinstance(data, polars.DataFrame)
    ):
        frame: pd.DataFrame = data.to_pandas()
        return frame
    if isinstance(data, Mapping):
        columns = dict(data)
        if columns and all(_is_scalar(v) for v in columns.values()):
            return pd.DataFrame({k: [v] for k, v in columns.items()})  # one row
        return pd.DataFrame(columns)
    rows = isinstance(data, Sequence) and not isinstance(data, str | bytes)
    if rows and all(isinstance(row, Mapping) for row in data):
        # Column by column, a key a row lacks is None, as a JSON null would be: a column
        # with no values stays untyped ("null") instead of becoming float NaN.
        names: dict[Any, None] = {}
        for row in data:
            names.update(dict.fromkeys(row))
        return pd.DataFrame({name: [row.get(name) for row in data] for name in names})
    raise DataError(
        f"cannot read a {type(data).__module__}.{type(data).__qualname__} as a table: pass a "
        "pandas DataFrame, a pyarrow Table, a list of row dicts or a dict of columns"
    )


def _is_scalar(value: Any) -> bool:
    return (
        value is None
        or isinstance(value, str | bytes | int | float | bool)
        or (type(value).__module__ == "numpy" and getattr(value, "ndim", 1) == 0)
    )


def column_type(series: pd.Series) -> str:
    """The simple type name of a column: one of :data:`TYPE_NAMES`, ``null`` or ``mixed``.

    Object columns (what pandas makes of Arrow booleans or integers with nulls, or of mixed
    JSON values) are typed by their values; a column of only missing values is ``null``.
    """
    import pandas as pd

    dtype = series.dtype
    if dtype == object:  # noqa: E721  # an object column may hold anything
        return _INFERRED.get(pd.api.types.infer_dtype(series, skipna=True), "mixed")
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "int64"
    if pd.api.types.is_float_dtype(dtype):
        return "float64"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "timestamp"
    if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(dtype):
        return "string"
    return "any"


def is_numeric(series: pd.Series) -> bool:
    """Whether a column can be read as float64: numbers or booleans (missing values allowed)."""
    return column_type(series) in ("int64", "float64", "bool", "null")


def columns_present(frame: pd.DataFrame, limit: int = 30) -> str:
    """The frame's column names for an error message (the first ``limit`` of them)."""
    names = [str(c) for c in frame.columns]
    shown = ", ".join(names[:limit])
    more = f", ... ({len(names)} in all)" if len(names) > limit else ""
    return (shown + more) if names else "none"

"""The fast path of small requests: rows of plain values straight to the feature matrix.

A prediction request holds a few rows as dicts of JSON values. Through pandas, a one-row
prediction spends about a millisecond building, typing and indexing a DataFrame, and the
booster's own pandas handling another, against tens of microseconds of actual scoring.
:class:`RowPath` does the signature check and the fitted transform in one pass over the
values with NumPy and hands the estimator a float64 matrix.

It handles only the plain cases — values whose types agree with the signature and the
transform, every input present, a transform without user functions — and answers ``None``
otherwise, so the general path (:meth:`PackagedModel.features`) decides, with its errors.
Both paths give identical matrices (tests/ml/test_ml_rows.py checks every column kind,
missing values, unseen categories and mixed types against each other).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from mloop.ml._signature import Signature
    from mloop.ml._transform import FittedTransform

__all__ = ["MAX_ROWS", "RowPath"]

#: Above this many rows the columnar (pandas) path is as fast.
MAX_ROWS = 2048


class RowPath:
    """A model's fast path from row dicts to its estimator's feature matrix."""

    def __init__(
        self,
        signature: Signature | None,
        transform: FittedTransform,
        feature_columns: Sequence[str],
    ) -> None:
        self.signature = signature
        self.transform = transform
        names = [column.name for column in transform.columns]
        if signature is not None:
            names = list(dict.fromkeys([*signature.input_names, *names]))
        self.names = names
        position = {name: i for i, name in enumerate(transform.output_columns)}
        order = [position[name] for name in feature_columns]
        self.order: list[int] | None = None if order == list(range(len(position))) else order

    @classmethod
    def build(
        cls,
        signature: Signature | None,
        transform: FittedTransform | None,
        feature_columns: Sequence[str] | None,
    ) -> RowPath | None:
        """The fast path of a model, or ``None`` when it has none (no transform, user
        functions, or features the transform does not make)."""
        if transform is None or transform.functions:
            return None
        outputs = set(transform.output_columns)
        features = feature_columns if feature_columns is not None else transform.output_columns
        if not all(name in outputs for name in features):
            return None
        return cls(signature, transform, list(features))

    def matrix(self, rows: Any) -> np.ndarray | None:
        """The feature matrix of ``rows`` (a list of dicts), or ``None``: general path."""
        if not isinstance(rows, list) or not 0 < len(rows) <= MAX_ROWS:
            return None
        columns = plain_columns(rows, self.names)
        if columns is None:
            return None
        if self.signature is not None and not self.signature.fits_values(columns):
            return None
        matrix = self.transform.matrix_from_values(columns, len(rows))
        if matrix is None or self.order is None:
            return matrix
        return matrix[:, self.order]


def plain_columns(rows: list[Any], names: Sequence[str]) -> dict[str, list[Any]] | None:
    """Each name's values across ``rows`` (``None`` where a row lacks it); ``None`` when a row
    is not a dict or a name is in no row (the general path names what is missing)."""
    for row in rows:
        if not isinstance(row, dict):
            return None
    columns: dict[str, list[Any]] = {}
    for name in names:
        values = [row.get(name) for row in rows]
        if values.count(None) == len(values) and not any(name in row for row in rows):
            return None
        columns[name] = values
    return columns

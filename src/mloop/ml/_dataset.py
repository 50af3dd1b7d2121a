"""Training data: the rows of a split turned into features, labels and what a model records.

:func:`training_data` does, once and with clear errors, what every trainer needs before it
fits: pick the training (and evaluation) rows by the ``split`` column, check the target,
decide the task and the classes, choose the features (a fitted transform's inputs, the
listed ones, or every numeric column), build the float64 feature matrices and infer the
signature of the raw columns the model will ask for at serving time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mloop.errors import ConfigError, DataError
from mloop.ml._signature import ColumnSpec, Signature
from mloop.ml._tables import as_frame, column_type, columns_present, is_numeric
from mloop.ml._transform import FittedTransform, require_columns

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["Part", "TrainingData", "split_rows", "training_data"]

SPLIT_COLUMN = "split"
#: An integer (or boolean, or text) target with at most this many values is a class label.
MAX_AUTO_CLASSES = 20


@dataclass(slots=True)
class Part:
    """The rows of one split: raw ``rows``, feature matrix ``X``, labels ``y`` and, for
    classification, ``codes`` (the index of each label in the classes)."""

    name: str
    rows: pd.DataFrame
    X: pd.DataFrame
    y: np.ndarray
    codes: np.ndarray | None = None


@dataclass(slots=True)
class TrainingData:
    """Everything a trainer needs; see :func:`training_data`."""

    target: str
    task: str
    classes: list[Any] | None
    feature_columns: list[str]
    signature: Signature
    transform: FittedTransform | None
    train: Part
    eval: Part | None = None
    #: Columns left out of the features because they are not numeric (no transform given).
    skipped: list[str] = field(default_factory=list)

    @property
    def eval_target(self) -> np.ndarray | None:
        """The target values of the evaluation rows (None without an eval split)."""
        return self.eval.y if self.eval is not None else None

    @property
    def labels(self) -> np.ndarray:
        """What the estimator is fitted on: class codes (classification) or target values."""
        return self.train.codes if self.train.codes is not None else self.train.y


def split_rows(frame: pd.DataFrame, split: str) -> pd.DataFrame:
    """The rows of ``split`` (all rows when there is no ``split`` column), without it."""
    if SPLIT_COLUMN not in frame.columns:
        return frame
    mask = (frame[SPLIT_COLUMN] == split).to_numpy(dtype=bool, na_value=False)
    if not mask.any():
        found = sorted(str(v) for v in frame[SPLIT_COLUMN].dropna().unique())
        raise DataError(
            f"no rows in split {split!r} (splits: {', '.join(found) or 'none'})",
            column=SPLIT_COLUMN,
            split=split,
        )
    return frame.loc[mask].drop(columns=[SPLIT_COLUMN])


def training_data(
    data: Any,
    target: str,
    transform: FittedTransform | None = None,
    features: Sequence[str] | None = None,
    task: str = "auto",
    split: str = "train",
    eval_split: str | None = "eval",
) -> TrainingData:
    """Features and labels of the ``split`` rows (and the ``eval_split`` rows, when the data
    has them) of ``data``, for ``target``.

    Without a ``split`` column every row trains and there is no evaluation. ``task="auto"``
    is classification for a boolean or text target, or an integer one with at most 20
    distinct values, else regression; classes are the sorted training labels.
    """
    frame = as_frame(data)
    if target not in frame.columns:
        raise DataError(
            f"target column {target!r} is missing (columns present: {columns_present(frame)})",
            column=target,
        )
    train_rows = split_rows(frame, split)
    eval_rows = None
    if (
        eval_split is not None
        and SPLIT_COLUMN in frame.columns
        and (frame[SPLIT_COLUMN] == eval_split).any()
    ):
        eval_rows = split_rows(frame, eval_split)
    _check_target(train_rows, target, split)
    if eval_rows is not None:
        _check_target(eval_rows, target, str(eval_split))
    chosen = _task(train_rows[target], task)
    classes = _classes(train_rows[target]) if chosen == "classification" else None

    skipped: list[str] = []
    if transform is not None:
        if features is not None:
            raise ConfigError(
                "pass either a transform or features, not both (list extra raw columns in "
                "the transform's passthrough=[...])",
                argument="features",
            )
        inputs = list(transform.input_columns)
        for reserved in (target, SPLIT_COLUMN):
            if reserved in inputs:
                raise ConfigError(
                    f"the transform reads column {reserved!r}, which is the "
                    f"{'target' if reserved == target else 'split'}: leave it out of the "
                    "transform",
                    column=reserved,
                )
    else:
        inputs, skipped = _features(train_rows, target, features)
    require_columns(train_rows, inputs)
    signature = Signature.infer(
        train_rows[inputs], outputs=[ColumnSpec(target, _declared(train_rows[target]))]
    )
    train_part = _part(split, train_rows, inputs, target, transform, classes)
    eval_part = None
    if eval_rows is not None:
        eval_part = _part(str(eval_split), eval_rows, inputs, target, transform, classes)
    return TrainingData(
        target=target,
        task=chosen,
        classes=classes,
        feature_columns=list(train_part.X.columns),
        signature=signature,
        transform=transform,
        train=train_part,
        eval=eval_part,
        skipped=skipped,
    )


def _check_target(rows: pd.DataFrame, target: str, split: str) -> None:
    missing = int(rows[target].isna().sum())
    if missing:
        raise DataError(
            f"target column {target!r} has {missing} missing values in split {split!r}: "
            "drop or fill those rows before training",
            column=target,
            missing=missing,
        )


def _task(y: pd.Series, task: str) -> str:
    if task in ("classification", "regression"):
        return task
    if task != "auto":
        raise ConfigError(
            f"task must be 'auto', 'classification' or 'regression', not {task!r}",
            argument="task",
        )
    kind = column_type(y)
    if kind in ("bool", "string"):
        return "classification"
    if kind == "int64" and y.nunique() <= MAX_AUTO_CLASSES:
        return "classification"
    if kind in ("int64", "float64"):
        return "regression"
    raise DataError(
        f"cannot tell the task from target column {y.name!r} of type {y.dtype}: pass task=...",
        column=str(y.name),
    )


def _classes(y: pd.Series) -> list[Any]:
    import pandas as pd

    values = pd.unique(y.to_numpy()).tolist()
    if len(values) < 2:
        raise DataError(
            f"target column {y.name!r} has a single class ({values!r}) in the training rows: "
            "a classifier needs at least two",
            column=str(y.name),
        )
    try:
        return sorted(values)
    except TypeError:
        raise DataError(
            f"the classes of target column {y.name!r} mix types: {values[:10]!r}",
            column=str(y.name),
        ) from None


def _features(
    rows: pd.DataFrame, target: str, features: Sequence[str] | None
) -> tuple[list[str], list[str]]:
    """The raw feature columns without a transform, and the non-numeric ones left out."""
    reserved = {target, SPLIT_COLUMN}
    if features is None:
        candidates = [str(c) for c in rows.columns if c not in reserved]
        numeric = [c for c in candidates if is_numeric(rows[c])]
        return numeric, [c for c in candidates if c not in numeric]
    require_columns(rows, features)
    for name in features:
        if name in reserved:
            raise ConfigError(
                f"column {name!r} is the {'target' if name == target else 'split'}, not a feature",
                column=name,
            )
        if not is_numeric(rows[name]):
            raise DataError(
                f"feature {name!r} is a {column_type(rows[name])} column and models read "
                f"numbers: list it in transform(categorical=[{name!r}]) and train with that "
                "transform",
                column=name,
            )
    return list(features), []


def _part(
    name: str,
    rows: pd.DataFrame,
    inputs: list[str],
    target: str,
    transform: FittedTransform | None,
    classes: list[Any] | None,
) -> Part:
    import numpy as np
    import pandas as pd

    if transform is not None:
        X = transform.apply(rows[inputs])
    else:
        values = rows[inputs].to_numpy(dtype=np.float64, na_value=np.nan)
        X = pd.DataFrame(values, columns=inputs, index=rows.index, copy=False)
    y = rows[target].to_numpy()
    codes = None
    if classes is not None:
        codes = pd.Categorical(y, categories=classes).codes.astype(np.int64)
        if (codes < 0).any():
            unseen = sorted({repr(v) for v in y[codes < 0].tolist()})
            raise DataError(
                f"split {name!r} has labels of {target!r} the training rows do not: "
                f"{', '.join(unseen[:10])} (classes: {classes!r})",
                column=target,
            )
    return Part(name, rows, X, y, codes)


def _declared(series: pd.Series) -> str:
    kind = column_type(series)
    return kind if kind in ("int64", "float64", "string", "bool", "timestamp") else "any"

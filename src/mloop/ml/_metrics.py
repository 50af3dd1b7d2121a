"""Evaluation metrics as JSON: overall, per slice, with a calibration table for binary models.

Every function returns plain JSON values (floats, ints, lists; ``None`` where a metric is
undefined, never NaN), so results can be stored as a ``Metrics`` artifact and compared
across runs as they are. The numbers come from :mod:`sklearn.metrics`.

``scores`` are what :meth:`PackagedModel.predict_scores` returns: for a binary classifier
the probability of ``classes[1]`` (or an ``(n, 2)`` matrix), for a multiclass one an
``(n, len(classes))`` matrix in the order of ``classes``, for a regressor the values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mloop.errors import ConfigError, DataError
from mloop.ml._tables import as_frame

if TYPE_CHECKING:
    import numpy as np

__all__ = ["classification_metrics", "regression_metrics", "sliced_metrics"]

CALIBRATION_BINS = 10
MISSING_SLICE = "__missing__"


def classification_metrics(y_true: Any, scores: Any, classes: Sequence[Any]) -> dict[str, Any]:
    """Accuracy, precision, recall and F1 (of ``classes[1]`` when binary, macro otherwise),
    ROC AUC, log loss, Brier score, the confusion matrix and (binary) a calibration table.

    ROC AUC and log loss are ``None`` when ``y_true`` holds fewer than two classes (a
    multiclass ROC AUC needs every class), as in a small slice.
    """
    import numpy as np
    import pandas as pd
    from sklearn import metrics

    labels = list(classes)
    if len(labels) < 2:
        raise ConfigError(f"classification metrics need at least two classes, not {labels!r}")
    y, proba = _as_labels(y_true, labels), _as_proba(scores, len(labels))
    if len(y) != len(proba):
        raise DataError(f"{len(y)} labels but {len(proba)} rows of scores")
    predicted = np.asarray(labels)[_predicted_index(proba)]
    binary = len(labels) == 2
    average: dict[str, Any] = (
        {"average": "binary", "pos_label": labels[1]} if binary else {"average": "macro"}
    )
    present = len(pd.unique(y))
    result: dict[str, Any] = {
        "count": len(y),
        "accuracy": _num(metrics.accuracy_score(y, predicted)),
        "precision": _num(
            metrics.precision_score(y, predicted, labels=labels, zero_division=0, **average)
        ),
        "recall": _num(
            metrics.recall_score(y, predicted, labels=labels, zero_division=0, **average)
        ),
        "f1": _num(metrics.f1_score(y, predicted, labels=labels, zero_division=0, **average)),
        "roc_auc": None,
        "log_loss": None,
        "brier": None,
        "confusion_matrix": {
            "labels": labels,
            "matrix": metrics.confusion_matrix(y, predicted, labels=labels).tolist(),
        },
    }
    if len(y) == 0:
        return result
    positive = (y == labels[1]).astype(np.float64) if binary else None
    if present >= 2:
        result["log_loss"] = _num(metrics.log_loss(y, proba, labels=labels))
        if binary:
            result["roc_auc"] = _num(metrics.roc_auc_score(positive, proba[:, 1]))
        elif present == len(labels):
            result["roc_auc"] = _num(
                metrics.roc_auc_score(y, proba, multi_class="ovr", labels=labels)
            )
    if binary:
        assert positive is not None
        result["brier"] = _num(metrics.brier_score_loss(positive, proba[:, 1]))
        result["calibration"] = calibration(positive, proba[:, 1])
    else:
        result["brier"] = _num(metrics.brier_score_loss(y, proba, labels=labels))
    return result


def calibration(
    positive: Any, probability: Any, bins: int = CALIBRATION_BINS
) -> list[dict[str, Any]]:
    """Per equal-width probability bin: its bounds, the mean predicted probability, the
    fraction of positives and the count (``None`` means for an empty bin)."""
    import numpy as np

    p = np.asarray(probability, dtype=np.float64)
    y = np.asarray(positive, dtype=np.float64)
    edges = np.arange(bins + 1) / bins  # exact tenths: 0.3 opens the fourth bin
    index = np.clip(np.digitize(p, edges[1:-1], right=False), 0, bins - 1)
    counts = np.bincount(index, minlength=bins)
    predicted = np.bincount(index, weights=p, minlength=bins)
    observed = np.bincount(index, weights=y, minlength=bins)
    table = []
    for i in range(bins):
        n = int(counts[i])
        table.append(
            {
                "lower": _num(edges[i]),
                "upper": _num(edges[i + 1]),
                "mean_predicted": _num(predicted[i] / n) if n else None,
                "fraction_positive": _num(observed[i] / n) if n else None,
                "count": n,
            }
        )
    return table


def regression_metrics(y_true: Any, y_pred: Any) -> dict[str, Any]:
    """RMSE, MAE and R² (``None`` when undefined: fewer than two rows)."""
    import numpy as np
    from sklearn import metrics

    y = np.asarray(y_true, dtype=np.float64)
    predicted = np.asarray(y_pred, dtype=np.float64)
    if len(y) != len(predicted):
        raise DataError(f"{len(y)} targets but {len(predicted)} predictions")
    if len(y) == 0:
        return {"count": 0, "rmse": None, "mae": None, "r2": None}
    return {
        "count": len(y),
        "rmse": _num(metrics.root_mean_squared_error(y, predicted)),
        "mae": _num(metrics.mean_absolute_error(y, predicted)),
        "r2": _num(metrics.r2_score(y, predicted)) if len(y) >= 2 else None,
    }


def sliced_metrics(
    frame: Any,
    y_true: Any,
    scores: Any,
    slices: Sequence[str],
    task: str,
    classes: Sequence[Any] | None = None,
    min_slice_size: int = 1,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Metrics per value of each slice column: ``{"carrier": {"AA": {..., "count": n}}}``.

    ``frame`` holds the slice columns, row-aligned with ``y_true`` and ``scores``; values
    are keyed by their text (missing values as ``__missing__``) and slices smaller than
    ``min_slice_size`` are left out.
    """
    import numpy as np
    import pandas as pd

    table = as_frame(frame)
    y = np.asarray(y_true)
    s = np.asarray(scores)
    if not len(table) == len(y) == len(s):
        raise DataError(
            f"slices need aligned rows: {len(table)} rows, {len(y)} labels, {len(s)} scores"
        )
    if task == "classification" and not classes:
        raise ConfigError("sliced classification metrics need the classes", argument="classes")
    if task not in ("classification", "regression"):
        raise ConfigError(f"task must be 'classification' or 'regression', not {task!r}")
    result: dict[str, dict[str, dict[str, Any]]] = {}
    for column in slices:
        if column not in table.columns:
            raise DataError(f"slice column {column!r} is missing", column=column)
        codes, uniques = pd.factorize(table[column], use_na_sentinel=True, sort=True)
        names = [str(v) for v in uniques] + [MISSING_SLICE]
        per_value: dict[str, dict[str, Any]] = {}
        for code in [*range(len(uniques)), -1]:
            rows = np.flatnonzero(codes == code)
            if len(rows) == 0 or len(rows) < min_slice_size:
                continue
            if task == "classification":
                assert classes is not None
                found = classification_metrics(y[rows], s[rows], classes)
            else:
                found = regression_metrics(y[rows], s[rows])
            per_value[names[code]] = found
        result[column] = per_value
    return result


def _as_labels(y_true: Any, labels: list[Any]) -> np.ndarray:
    import numpy as np
    import pandas as pd

    y = np.asarray(y_true)
    stray = ~pd.Series(y).isin(labels).to_numpy()
    unknown = sorted(repr(v) for v in pd.unique(y[stray]).tolist())
    if unknown:
        raise DataError(f"labels {', '.join(unknown[:5])} are not among the classes {labels!r}")
    return y


def _as_proba(scores: Any, count: int) -> np.ndarray:
    import numpy as np

    s = np.asarray(scores, dtype=np.float64)
    if s.ndim == 1 and count == 2:
        return np.column_stack([1.0 - s, s])
    if s.ndim == 2 and s.shape[1] == count:
        # rows of float32 probabilities (XGBoost) sum to 1 only within 1e-7: renormalized
        normalized: np.ndarray = s / s.sum(axis=1, keepdims=True)
        return normalized
    raise DataError(
        f"scores of shape {s.shape} do not fit {count} classes (a binary model gives the "
        "positive-class probability or an (n, 2) matrix; a multiclass one (n, classes))"
    )


def _predicted_index(proba: np.ndarray) -> np.ndarray:
    import numpy as np

    if proba.shape[1] == 2:
        return (proba[:, 1] > 0.5).astype(np.int64)
    index: np.ndarray = np.argmax(proba, axis=1)
    return index


def _num(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None

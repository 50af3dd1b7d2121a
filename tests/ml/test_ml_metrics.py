"""Metrics on small known cases: exact values, JSON-able results, degenerate slices."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from mloop.errors import DataError
from mloop.ml import classification_metrics, regression_metrics, sliced_metrics


def test_a_perfect_binary_classifier() -> None:
    y = np.array([0, 0, 1, 1, 1])
    found = classification_metrics(y, [0.1, 0.2, 0.8, 0.9, 0.7], classes=[0, 1])
    assert found["accuracy"] == 1.0
    assert found["precision"] == found["recall"] == found["f1"] == 1.0
    assert found["roc_auc"] == 1.0
    assert found["count"] == 5
    assert found["confusion_matrix"] == {"labels": [0, 1], "matrix": [[2, 0], [0, 3]]}
    assert found["brier"] == pytest.approx((0.01 + 0.04 + 0.04 + 0.01 + 0.09) / 5)
    assert found["log_loss"] == pytest.approx(
        -np.mean(np.log([0.9, 0.8, 0.8, 0.9, 0.7])), rel=1e-12
    )
    json.dumps(found, allow_nan=False)


def test_binary_metrics_of_the_positive_class_and_calibration() -> None:
    y = ["no", "yes", "yes", "no"]
    found = classification_metrics(y, [0.6, 0.9, 0.3, 0.05], classes=["no", "yes"])
    assert found["accuracy"] == 0.5
    assert found["precision"] == 0.5  # predicted yes: rows 0 and 1, one right
    assert found["recall"] == 0.5
    assert found["roc_auc"] == 0.75
    bins = found["calibration"]
    assert len(bins) == 10
    assert [b["count"] for b in bins] == [1, 0, 0, 1, 0, 0, 1, 0, 0, 1]
    assert bins[0] == {
        "lower": 0.0,
        "upper": 0.1,
        "mean_predicted": 0.05,
        "fraction_positive": 0.0,
        "count": 1,
    }
    assert bins[1]["mean_predicted"] is None and bins[1]["fraction_positive"] is None
    assert bins[9]["fraction_positive"] == 1.0


def test_multiclass_metrics_are_macro_averaged() -> None:
    y = np.array(["a", "b", "c", "a"])
    proba = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.3, 0.6, 0.1]])
    found = classification_metrics(y, proba, classes=["a", "b", "c"])
    assert found["accuracy"] == 0.75
    assert found["recall"] == pytest.approx((0.5 + 1 + 1) / 3)
    assert found["roc_auc"] is not None
    assert "calibration" not in found
    assert found["confusion_matrix"]["matrix"] == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]


def test_regression_metrics_on_a_known_vector() -> None:
    found = regression_metrics([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 6.0])
    assert found["rmse"] == pytest.approx(1.0)  # sqrt(4 / 4)
    assert found["mae"] == pytest.approx(0.5)
    assert found["r2"] == pytest.approx(1 - 4 / 5)
    assert regression_metrics([2.0], [1.0])["r2"] is None
    assert regression_metrics([], [])["rmse"] is None


def test_slices_with_a_single_class_give_none_rather_than_raising() -> None:
    frame = pd.DataFrame({"carrier": ["AA", "AA", "UA", "UA", "DL", None]})
    y = np.array([0, 1, 1, 1, 0, 1])
    scores = np.array([0.2, 0.7, 0.9, 0.6, 0.4, 0.8])
    found = sliced_metrics(frame, y, scores, ["carrier"], "classification", [0, 1])
    slices = found["carrier"]
    assert set(slices) == {"AA", "UA", "DL", "__missing__"}
    assert slices["AA"]["roc_auc"] == 1.0 and slices["AA"]["count"] == 2
    assert slices["UA"]["roc_auc"] is None and slices["UA"]["log_loss"] is None
    assert slices["UA"]["accuracy"] == 1.0
    json.dumps(found, allow_nan=False)
    small = sliced_metrics(frame, y, scores, ["carrier"], "classification", [0, 1], 2)
    assert set(small["carrier"]) == {"AA", "UA"}
    values = sliced_metrics(frame, y * 2.0, scores, ["carrier"], "regression")
    assert values["carrier"]["AA"]["rmse"] == pytest.approx(
        math.sqrt(((0.2 - 0) ** 2 + (0.7 - 2) ** 2) / 2)
    )


def test_labels_outside_the_classes_are_named() -> None:
    with pytest.raises(DataError, match="'maybe'"):
        classification_metrics(["yes", "maybe"], [0.1, 0.2], classes=["no", "yes"])
    with pytest.raises(DataError, match="slice column 'x' is missing"):
        sliced_metrics(pd.DataFrame({"a": [1]}), [1.0], [1.0], ["x"], "regression")

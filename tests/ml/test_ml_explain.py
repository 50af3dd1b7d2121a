"""Explanations: attributions on the input columns that add up to the model's output."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mloop.errors import ConfigError, DataError
from mloop.ml import (
    Explanation,
    PackagedModel,
    Signature,
    TrainingData,
    Transform,
    UnsupportedModelError,
    fit_lightgbm,
    fit_sklearn,
    fit_xgboost,
    split_rows,
    training_data,
)

INPUTS = ["distance", "dep_hour", "noise", "unused", "carrier", "month"]
ROUNDS = 20


@pytest.fixture(scope="module")
def rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The flights with ``noise`` (unrelated to any target) and ``unused`` (constant while
    training, so no model can use it; it varies in the rows explained)."""
    rng = np.random.default_rng(7)
    extra = frame.assign(noise=rng.normal(0.0, 1.0, len(frame)), unused=0.0)
    evaluated = extra["split"] == "eval"
    extra.loc[evaluated, "unused"] = rng.normal(0.0, 5.0, int(evaluated.sum()))
    return extra


@pytest.fixture(scope="module")
def transform(rows: pd.DataFrame) -> Any:
    return Transform(
        numeric=["distance", "dep_hour", "noise", "unused"],
        categorical=["carrier"],
        ordinal=["month"],
    ).fit(split_rows(rows, "train"))


def _data(rows: pd.DataFrame, transform: Any, target: str) -> TrainingData:
    return training_data(rows, target, transform=transform)


def _instances(rows: pd.DataFrame, n: int = 64) -> pd.DataFrame:
    return split_rows(rows, "eval")[INPUTS].head(n)


def _assert_adds_up(explained: Explanation, expected: np.ndarray) -> None:
    """``base + sum(attributions) == expected`` row by row (and class by class)."""
    frames = explained.attributions
    if isinstance(frames, dict):
        totals = np.column_stack([f.to_numpy().sum(axis=1) for f in frames.values()])
    else:
        totals = frames.to_numpy().sum(axis=1)
    np.testing.assert_allclose(explained.base_values + totals, expected, rtol=0, atol=1e-6)


# Boosters: exact TreeSHAP from the library ----------------------------------------------


@pytest.mark.parametrize("target", ["delayed", "arr_delay"])
def test_lightgbm_attributions_add_up_to_the_raw_score(
    rows: pd.DataFrame, transform: Any, target: str
) -> None:
    data = _data(rows, transform, target)
    model = fit_lightgbm(data, num_boost_round=ROUNDS)
    instances = _instances(rows)
    explained = model.explain(instances)
    assert explained.output == "raw"
    assert explained.method == "tree_shap (lightgbm pred_contrib)"
    assert isinstance(explained.attributions, pd.DataFrame)
    assert explained.columns == model.input_columns == INPUTS  # signature order
    assert explained.attributions.index.equals(instances.index)
    assert explained.base_values.shape == (len(instances),)
    raw = model.estimator.predict(model.features(instances), raw_score=True)
    _assert_adds_up(explained, raw)


def test_lightgbm_multiclass_has_attributions_per_class(rows: pd.DataFrame, transform: Any) -> None:
    model = fit_lightgbm(_data(rows, transform, "cls"), num_boost_round=ROUNDS)
    instances = _instances(rows)
    explained = model.explain(instances)
    assert isinstance(explained.attributions, dict)
    assert list(explained.attributions) == model.classes == ["early", "late", "on_time"]
    assert explained.base_values.shape == (len(instances), 3)
    assert all(f.columns.tolist() == INPUTS for f in explained.attributions.values())
    raw = model.estimator.predict(model.features(instances), raw_score=True)
    _assert_adds_up(explained, raw)


@pytest.mark.parametrize("target", ["delayed", "cls"])
def test_xgboost_attributions_add_up_to_the_margin(
    rows: pd.DataFrame, transform: Any, target: str
) -> None:
    model = fit_xgboost(_data(rows, transform, target), num_boost_round=ROUNDS)
    instances = _instances(rows)
    explained = model.explain(instances)
    assert (explained.output, explained.method) == ("raw", "tree_shap (xgboost pred_contribs)")
    assert explained.columns == INPUTS
    features = model.features(instances).to_numpy()
    matrix = xgb.DMatrix(features, feature_names=model.estimator.feature_names)
    _assert_adds_up(explained, model.estimator.predict(matrix, output_margin=True))


def test_one_hot_columns_are_summed_into_their_input_column(
    rows: pd.DataFrame, transform: Any
) -> None:
    model = fit_lightgbm(_data(rows, transform, "delayed"), num_boost_round=ROUNDS)
    instances = _instances(rows)
    explained = model.explain(instances)
    assert isinstance(explained.attributions, pd.DataFrame)
    features = model.features(instances)
    contributions = pd.DataFrame(
        model.estimator.predict(features, pred_contrib=True)[:, :-1],
        columns=features.columns,
        index=features.index,
    )
    one_hot = [c for c in features.columns if c.startswith("carrier=")]
    assert len(one_hot) == 7  # five carriers, __other__, __missing__
    np.testing.assert_allclose(
        explained.attributions["carrier"], contributions[one_hot].sum(axis=1), atol=1e-12
    )
    np.testing.assert_allclose(explained.attributions["distance"], contributions["distance"])
    # the carrier the data is built around moves the delay most among the carriers
    by_carrier = explained.attributions["carrier"].groupby(instances["carrier"]).mean()
    assert by_carrier.idxmax() == "AA"


def test_a_column_without_effect_gets_nothing(rows: pd.DataFrame, transform: Any) -> None:
    model = fit_lightgbm(_data(rows, transform, "delayed"), num_boost_round=ROUNDS)
    explained = model.explain(_instances(rows))
    assert isinstance(explained.attributions, pd.DataFrame)
    magnitude = explained.attributions.abs().mean()
    assert magnitude["unused"] == 0.0  # never split on, though its values vary here
    assert magnitude["noise"] < 0.25 * magnitude["distance"]
    assert magnitude["distance"] == magnitude.max()


def test_a_saved_model_explains_the_same(
    rows: pd.DataFrame, transform: Any, tmp_path: Path
) -> None:
    model = fit_xgboost(_data(rows, transform, "delayed"), num_boost_round=ROUNDS)
    loaded = PackagedModel.load(model.save(tmp_path / "model"))
    instances = _instances(rows, 8)
    first, again = model.explain(instances), loaded.explain(instances.to_dict("records"))
    assert isinstance(first.attributions, pd.DataFrame)
    assert isinstance(again.attributions, pd.DataFrame)
    np.testing.assert_array_equal(first.attributions.to_numpy(), again.attributions.to_numpy())
    np.testing.assert_array_equal(first.base_values, again.base_values)


def test_user_function_columns_are_attributed_by_their_names(rows: pd.DataFrame) -> None:
    raw = rows.assign(dep_time=rows["dep_hour"] * 100 + 5)
    fitted = Transform(
        numeric=["hour", "km"], categorical=["carrier"], functions=["_flight_features:add_features"]
    ).fit(split_rows(raw, "train"))
    model = fit_lightgbm(training_data(raw, "delayed", transform=fitted), num_boost_round=ROUNDS)
    assert model.input_columns == ["distance", "carrier", "dep_time"]
    instances = split_rows(raw, "eval")[["distance", "carrier", "dep_time"]].head(16)
    explained = model.explain(instances)
    # carrier is read as sent; hour and km are made by the function (from dep_time, distance)
    assert explained.columns == ["carrier", "hour", "km"]
    raw_score = model.estimator.predict(model.features(instances), raw_score=True)
    _assert_adds_up(explained, raw_score)


# Other models, through shap -------------------------------------------------------------


def _package(estimator: Any, data: TrainingData) -> PackagedModel:
    """``estimator`` fitted on ``data`` and packaged as the trainers do."""
    estimator.fit(data.train.X, data.train.y)
    return PackagedModel(
        estimator,
        transform=data.transform,
        signature=data.signature,
        target=data.target,
        feature_columns=data.feature_columns,
    )


def test_sklearn_gradient_boosting_is_explained_in_log_odds(
    rows: pd.DataFrame, transform: Any
) -> None:
    model = fit_sklearn(
        _data(rows, transform, "delayed"),
        "sklearn.ensemble.HistGradientBoostingClassifier",
        params={"max_iter": 20},
    )
    instances = _instances(rows)
    explained = model.explain(instances)
    assert (explained.output, explained.method) == ("raw", "shap.TreeExplainer")
    assert explained.columns == INPUTS
    margin = model.estimator.decision_function(model.features(instances))
    _assert_adds_up(explained, margin)


@pytest.mark.parametrize("target", ["delayed", "cls"])
def test_a_random_forest_is_explained_in_probabilities(
    rows: pd.DataFrame, transform: Any, target: str
) -> None:
    forest = RandomForestClassifier(n_estimators=20, max_depth=6, random_state=0)
    model = _package(forest, _data(rows, transform, target))
    instances = _instances(rows)
    explained = model.explain(instances)
    assert (explained.output, explained.method) == ("probability", "shap.TreeExplainer")
    # binary: the positive class only, as predict_scores; multiclass: every class
    _assert_adds_up(explained, model.predict_scores(instances))
    magnitude = _mean_magnitude(explained)
    assert magnitude["unused"] == 0.0


def test_a_linear_model_is_explained_against_the_background(
    rows: pd.DataFrame, transform: Any
) -> None:
    model = _package(LogisticRegression(max_iter=500), _data(rows, transform, "delayed"))
    instances = _instances(rows)
    background = split_rows(rows, "train")[INPUTS].head(80)
    explained = model.explain(instances, background=background)
    assert (explained.output, explained.method) == ("raw", "shap.LinearExplainer")
    margin = model.estimator.decision_function(model.features(instances))
    _assert_adds_up(explained, margin)
    # the base value is the margin at the background's mean feature values
    center = model.features(background).mean()
    expected = model.estimator.decision_function(center.to_frame().T)[0]
    np.testing.assert_allclose(explained.base_values, expected, atol=1e-9)
    assert _mean_magnitude(explained)["unused"] == 0.0


@pytest.mark.parametrize(("max_evals", "method"), [(200, "Exact"), (40, "Permutation")])
def test_other_models_are_explained_per_input_column(
    rows: pd.DataFrame, transform: Any, max_evals: int, method: str
) -> None:
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    model = _package(pipeline, _data(rows, transform, "cls"))
    instances = _instances(rows, 8)
    background = split_rows(rows, "train")[INPUTS].head(30)
    explained = model.explain(instances, background=background, max_evals=max_evals)
    assert (explained.output, explained.method) == ("probability", f"shap.{method}Explainer")
    assert isinstance(explained.attributions, dict)
    assert list(explained.attributions) == ["early", "late", "on_time"]
    _assert_adds_up(explained, model.predict_proba(instances))
    # the base value is the mean prediction over the background
    expected = model.predict_proba(background).mean(axis=0)
    np.testing.assert_allclose(explained.base_values, np.tile(expected, (8, 1)), atol=1e-9)
    assert _mean_magnitude(explained)["unused"] < 1e-12


@pytest.mark.parametrize(
    ("target", "make", "output"),
    [
        ("delayed", lambda: KNeighborsClassifier(n_neighbors=15), "probability"),
        ("arr_delay", lambda: KNeighborsRegressor(n_neighbors=10), "prediction"),
    ],
)
def test_binary_and_regression_models_are_explained_by_one_frame(
    rows: pd.DataFrame, transform: Any, target: str, make: Callable[[], Any], output: str
) -> None:
    model = _package(make(), _data(rows, transform, target))
    instances = _instances(rows, 6)
    background = split_rows(rows, "train")[INPUTS].head(20)
    explained = model.explain(instances, background=background)
    assert (explained.output, explained.method) == (output, "shap.ExactExplainer")
    assert isinstance(explained.attributions, pd.DataFrame)
    assert explained.columns == INPUTS
    _assert_adds_up(explained, model.predict_scores(instances))


def test_a_model_without_transform_is_explained_on_its_own_columns(frame: pd.DataFrame) -> None:
    columns = ["dep_hour", "distance", "weekend"]
    booster = lgb.LGBMRegressor(n_estimators=10, num_threads=1, verbosity=-1)
    booster.fit(frame[columns].astype(np.float64), frame["arr_delay"])
    model = PackagedModel(booster, signature=Signature.infer(frame[["distance", *columns[::2]]]))
    instances = frame[["distance", "dep_hour", "weekend"]].head(5)
    explained = model.explain(instances)
    assert explained.columns == ["distance", "dep_hour", "weekend"]  # the signature's order
    _assert_adds_up(explained, booster.predict(instances[columns], raw_score=True))


def test_a_single_row_needs_a_background_unless_the_model_records_one(
    rows: pd.DataFrame, transform: Any
) -> None:
    data = _data(rows, transform, "delayed")
    model = _package(LogisticRegression(max_iter=500), data)
    one = _instances(rows, 1)
    with pytest.raises(ConfigError, match="needs background rows") as info:
        model.explain(one)
    assert info.value.http_status == 400
    # a batch is its own background
    assert len(model.explain(_instances(rows, 4)).base_values) == 4
    # rows recorded with the model (JSON, in its metadata) are the background
    recorded = split_rows(rows, "train")[INPUTS].head(50)
    model.metadata["background"] = recorded.to_dict("list")
    from_metadata = model.explain(one)
    np.testing.assert_allclose(
        from_metadata.base_values, model.explain(one, background=recorded).base_values
    )


def test_too_few_evaluations_is_a_clear_error(rows: pd.DataFrame, transform: Any) -> None:
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    model = _package(pipeline, _data(rows, transform, "delayed"))
    with pytest.raises(ConfigError, match=r"max_evals=10 is too low.*at least 13"):
        model.explain(_instances(rows, 2), max_evals=10)


def test_without_shap_only_the_boosters_explain(
    rows: pd.DataFrame, transform: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _data(rows, transform, "delayed")
    forest = _package(RandomForestClassifier(n_estimators=5, random_state=0), data)
    booster = fit_lightgbm(data, num_boost_round=5)
    monkeypatch.setitem(sys.modules, "shap", None)  # import shap raises ImportError
    with pytest.raises(UnsupportedModelError, match=r"pip install 'mloop\[explain\]'") as info:
        forest.explain(_instances(rows, 4))
    assert info.value.http_status == 400
    assert info.value.fields["missing"] == "shap"
    assert booster.explain(_instances(rows, 4)).method.startswith("tree_shap")


# The result -----------------------------------------------------------------------------


def test_records_are_json(rows: pd.DataFrame, transform: Any) -> None:
    binary = fit_lightgbm(_data(rows, transform, "delayed"), num_boost_round=5)
    instances = _instances(rows, 3)
    records = binary.explain(instances).to_records()
    assert json.loads(json.dumps(records)) == records
    assert list(records[0]) == ["attributions", "base_value", "output_value"]
    assert list(records[0]["attributions"]) == INPUTS
    assert isinstance(records[0]["base_value"], float)
    raw = binary.estimator.predict(binary.features(instances), raw_score=True)
    np.testing.assert_allclose([r["output_value"] for r in records], raw, atol=1e-6)
    multiclass = fit_lightgbm(_data(rows, transform, "cls"), num_boost_round=5)
    explained = multiclass.explain(_instances(rows, 3))
    records = explained.to_records()
    assert json.loads(json.dumps(records)) == records
    assert list(records[0]["attributions"]) == ["early", "late", "on_time"]
    assert list(records[0]["base_value"]) == ["early", "late", "on_time"]
    raw = multiclass.estimator.predict(multiclass.features(_instances(rows, 3)), raw_score=True)
    assert list(records[1]["output_value"].values()) == pytest.approx(raw[1].tolist(), abs=1e-6)
    assert isinstance(explained.attributions, dict)
    assert records[2]["attributions"]["late"]["carrier"] == pytest.approx(
        explained.attributions["late"]["carrier"].iloc[2]
    )
    assert "3 rows x 6 columns, 3 classes" in repr(explained)


def test_nothing_to_explain_is_a_data_error(rows: pd.DataFrame, transform: Any) -> None:
    model = fit_lightgbm(_data(rows, transform, "delayed"), num_boost_round=5)
    with pytest.raises(DataError, match="no rows to explain"):
        model.explain(_instances(rows).head(0))


def test_explaining_a_200_tree_booster_takes_milliseconds(
    rows: pd.DataFrame, transform: Any
) -> None:
    model = fit_lightgbm(_data(rows, transform, "delayed"), num_boost_round=200)
    assert model.estimator.num_trees() == 200
    one, batch = _instances(rows, 1), _instances(rows, 64)
    model.explain(one)
    fold = model._explain_cache["fold"]
    # CPU time (the booster runs on one thread): other processes on the machine do not count
    assert _median_seconds(lambda: model.explain(one)) < 0.02
    assert _median_seconds(lambda: model.explain(batch)) < 0.1
    assert model._explain_cache["fold"] is fold  # built once per model


def _median_seconds(call: Callable[[], object], repeat: int = 15) -> float:
    times = []
    for _ in range(repeat):
        start = time.process_time()
        call()
        times.append(time.process_time() - start)
    return float(np.median(times))


def _mean_magnitude(explained: Explanation) -> pd.Series:
    """The mean absolute attribution of each column (summed over the classes)."""
    frames = explained.attributions
    parts = list(frames.values()) if isinstance(frames, dict) else [frames]
    total: pd.Series = pd.concat([f.abs().mean() for f in parts], axis=1).sum(axis=1)
    return total

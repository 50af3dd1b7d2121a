"""Training data preparation and the trainers: curves, determinism, clear errors."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mloop.components._training import train_estimator
from mloop.errors import ConfigError, DataError, DefinitionError
from mloop.ml import (
    PackagedModel,
    Transform,
    fit_lightgbm,
    fit_sklearn,
    fit_xgboost,
    split_rows,
    training_data,
)

ROUNDS = 8


class Recorder:
    """A ``log(metrics, step)`` that keeps what it is given."""

    def __init__(self) -> None:
        self.calls: list[tuple[int | None, dict[str, float]]] = []

    def __call__(self, metrics: Mapping[str, float], step: int | None) -> None:
        self.calls.append((step, dict(metrics)))

    @property
    def curve(self) -> list[tuple[int | None, dict[str, float]]]:
        return [c for c in self.calls if c[0] is not None]

    @property
    def final(self) -> dict[str, float]:
        (last,) = [m for step, m in self.calls if step is None]
        return last


@pytest.fixture(scope="module")
def transform(frame: pd.DataFrame) -> Transform:
    return Transform(  # type: ignore[return-value]
        numeric=["distance", "dep_hour", "weekend"], categorical=["carrier"], ordinal=["month"]
    ).fit(split_rows(frame, "train"))


def test_training_data_from_a_transform(frame: pd.DataFrame, transform: object) -> None:
    data = training_data(frame, "delayed", transform=transform)  # type: ignore[arg-type]
    assert data.task == "classification" and data.classes == [0, 1]
    assert data.eval is not None
    assert len(data.train.rows) + len(data.eval.rows) == len(frame)
    assert data.feature_columns[:3] == ["distance", "dep_hour", "weekend"]
    assert data.signature.input_names == ["distance", "dep_hour", "weekend", "carrier", "month"]
    assert [(c.name, c.type) for c in data.signature.outputs] == [("delayed", "int64")]
    assert data.eval_target is not None and len(data.eval_target) == len(data.eval.rows)


def test_task_features_and_classes_are_inferred(frame: pd.DataFrame) -> None:
    plain = training_data(frame, "delayed")
    assert plain.feature_columns == ["distance", "dep_hour", "month", "weekend", "arr_delay"]
    assert plain.skipped == ["carrier", "cls"]
    assert training_data(frame, "arr_delay").task == "regression"
    text = training_data(frame, "cls", features=["distance"])
    assert (text.task, text.classes) == ("classification", ["early", "late", "on_time"])
    assert training_data(frame, "dep_hour", features=["distance"]).task == "classification"
    unsplit = training_data(frame.drop(columns=["split"]), "delayed", features=["distance"])
    assert unsplit.eval is None and len(unsplit.train.rows) == len(frame)


def test_training_data_errors_name_the_column(frame: pd.DataFrame, transform: object) -> None:
    with pytest.raises(DataError) as info:
        training_data(frame, "late")
    assert info.value.column == "late"
    assert "columns present: distance, dep_hour, carrier" in str(info.value)
    with pytest.raises(DataError, match=r"'delayed' has \d+ missing values in split 'train'"):
        training_data(
            frame.assign(delayed=frame["delayed"].where(frame.index % 10 != 0)), "delayed"
        )
    with pytest.raises(DataError, match=r"transform\(categorical=\['carrier'\]\)"):
        training_data(frame, "delayed", features=["distance", "carrier"])
    with pytest.raises(DataError, match=r"no rows in split 'test' \(splits: eval, train\)"):
        training_data(frame, "delayed", split="test")
    with pytest.raises(ConfigError, match="either a transform or features"):
        training_data(frame, "delayed", transform=transform, features=["distance"])  # type: ignore[arg-type]
    leaky = Transform(numeric=["distance", "delayed"]).fit(frame)
    with pytest.raises(ConfigError, match="reads column 'delayed', which is the target"):
        training_data(frame, "delayed", transform=leaky)
    with pytest.raises(ConfigError, match="task must be"):
        training_data(frame, "delayed", task="ranking")


@pytest.mark.parametrize(
    ("fit", "curve_keys"),
    [
        (fit_lightgbm, {"eval_binary_logloss", "eval_auc"}),
        (fit_xgboost, {"eval_logloss", "eval_auc"}),
    ],
)
def test_boosters_report_eval_curves_and_final_metrics(
    fit: object, curve_keys: set[str], frame: pd.DataFrame, transform: object, tmp_path: Path
) -> None:
    data = training_data(frame, "delayed", transform=transform)  # type: ignore[arg-type]
    log = Recorder()
    model = fit(data, num_boost_round=ROUNDS, seed=3, log=log)  # type: ignore[operator]
    assert [step for step, _ in log.curve] == list(range(1, ROUNDS + 1))
    assert all(set(values) == curve_keys for _, values in log.curve)
    final = log.final
    assert set(final) == {
        "train_auc",
        "train_log_loss",
        "train_accuracy",
        "eval_auc",
        "eval_log_loss",
        "eval_accuracy",
    }
    assert 0.6 < final["eval_auc"] <= 1.0
    assert model.params["seed"] == 3 and model.params["num_boost_round"] == ROUNDS
    assert model.metadata["metrics"]["eval"]["roc_auc"] == final["eval_auc"]
    assert model.transform is not None and model.signature == data.signature
    # predictions from raw rows match after a save and load
    loaded = PackagedModel.load(model.save(tmp_path / "m"))
    rows = frame.drop(columns=["delayed", "split"])
    np.testing.assert_array_equal(loaded.predict_proba(rows), model.predict_proba(rows))


@pytest.mark.parametrize("fit", [fit_lightgbm, fit_xgboost])
def test_regression_and_multiclass_boosters(
    fit: object, frame: pd.DataFrame, tmp_path: Path
) -> None:
    features = ["distance", "dep_hour", "weekend"]
    regression = fit(training_data(frame, "arr_delay", features=features), num_boost_round=ROUNDS)  # type: ignore[operator]
    assert regression.task == "regression" and regression.classes is None
    assert regression.metadata["metrics"]["eval"]["r2"] > 0.3
    multiclass = fit(training_data(frame, "cls", features=features), num_boost_round=ROUNDS)  # type: ignore[operator]
    proba = multiclass.predict_proba(frame)
    assert proba.shape == (len(frame), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert set(multiclass.predict(frame)) <= {"early", "late", "on_time"}
    for model in (regression, multiclass):
        loaded = PackagedModel.load(model.save(tmp_path / f"{model.task}"))
        np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))


@pytest.mark.parametrize("fit", [fit_lightgbm, fit_xgboost])
def test_early_stopping_keeps_the_best_iteration(fit: object, frame: pd.DataFrame) -> None:
    data = training_data(frame, "delayed", features=["distance", "dep_hour"])
    model = fit(data, num_boost_round=300, early_stopping_rounds=3, params={"learning_rate": 0.5})  # type: ignore[operator]
    best = model.metadata["best_iteration"]
    assert best is not None and best < 300
    assert model.metadata["num_trees"] <= best + 1
    without_eval = training_data(frame.drop(columns=["split"]), "delayed", features=["distance"])
    with pytest.raises(ConfigError, match="early_stopping_rounds needs evaluation rows"):
        fit(without_eval, early_stopping_rounds=3)  # type: ignore[operator]


def test_same_data_params_and_seed_give_the_same_bytes(
    frame: pd.DataFrame, transform: object, tmp_path: Path
) -> None:
    data = training_data(frame, "delayed", transform=transform)  # type: ignore[arg-type]
    trainers = {
        "lightgbm": lambda: fit_lightgbm(data, num_boost_round=ROUNDS, seed=7),
        "xgboost": lambda: fit_xgboost(data, num_boost_round=ROUNDS, seed=7),
        "sklearn": lambda: fit_sklearn(
            data, "sklearn.ensemble.RandomForestClassifier", {"n_estimators": 5}, seed=7
        ),
    }
    for name, train in trainers.items():
        first = train().save(tmp_path / f"{name}-1")
        second = train().save(tmp_path / f"{name}-2")
        for path in sorted(p for p in first.rglob("*") if p.is_file()):
            twin = second / path.relative_to(first)
            assert path.read_bytes() == twin.read_bytes(), f"{name}: {path.name} differs"


def test_sklearn_trainer_checks_the_estimator(frame: pd.DataFrame) -> None:
    regression = training_data(frame, "arr_delay", features=["distance"])
    with pytest.raises(ConfigError, match=r"not a regressor.*HistGradientBoostingRegressor"):
        fit_sklearn(regression)
    with pytest.raises(DefinitionError, match=r"cannot import estimator 'sklearn\.nope\.Model'"):
        fit_sklearn(regression, "sklearn.nope.Model")
    model = fit_sklearn(regression, "sklearn.linear_model.Ridge", {"alpha": 0.5})
    assert (
        model.params["alpha"] == 0.5 and model.params["estimator"] == "sklearn.linear_model.Ridge"
    )
    assert model.metadata["metrics"]["eval"]["rmse"] is not None


def test_train_estimator_reports_one_metric_per_round(
    frame: pd.DataFrame, transform: object
) -> None:
    data = training_data(frame, "delayed", transform=transform)  # type: ignore[arg-type]
    seen: list[tuple[int, float]] = []
    for model in ("lightgbm", "xgboost"):
        seen.clear()
        fitted = train_estimator(
            model,
            data,
            {"learning_rate": 0.2},
            num_boost_round=ROUNDS,
            on_iteration=lambda step, value: seen.append((step, value)),
        )
        assert [step for step, _ in seen] == list(range(1, ROUNDS + 1))
        auc = fitted.metadata["metrics"]["eval"]["roc_auc"]
        assert seen[-1][1] == pytest.approx(auc)  # the curve is the eval AUC
        assert data.eval is not None
        assert fitted.predict_proba(data.eval).shape == (len(data.eval.rows), 2)
    sklearn = train_estimator("sklearn.linear_model.LogisticRegression", data, None)
    assert sklearn.flavor == "sklearn"

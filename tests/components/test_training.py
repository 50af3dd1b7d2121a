"""The training components in pipelines: transform → train.* → a Model that predicts."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np
import pandas as pd
import pytest

import mloop
import mloop.orchestrator
from mloop import Dataset, Model, component, pipeline
from mloop.artifacts import Transform
from mloop.components import train, transform
from mloop.config import Settings
from mloop.errors import StepFailed
from mloop.ml import FittedTransform, PackagedModel

ROUNDS = 10


def synthetic_flights(n: int, seed: int, split: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "distance": rng.normal(1000.0, 300.0, n),
            "dep_hour": rng.integers(5, 23, n),
            "carrier": rng.choice(["AA", "B6", "DL", "UA"], n),
            "month": rng.integers(1, 13, n),
            "weekend": rng.random(n) < 2 / 7,
        }
    )
    logit = (frame["distance"] - 1000.0) / 300.0 + (frame["carrier"] == "AA") * 1.5 - 0.4
    frame["delayed"] = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    if split:
        frame["split"] = np.where(rng.random(n) < 0.8, "train", "eval")
    return frame


@component
def flights(n: int = 600, seed: int = 0, split: bool = True) -> Dataset:
    return synthetic_flights(n, seed, split)  # type: ignore[return-value]


@pipeline(name="train-delays")
def train_delays(target: str = "delayed") -> None:
    data = flights()
    features = transform(
        data,
        numeric=["distance", "dep_hour", "weekend"],
        categorical=["carrier"],
        ordinal=["month"],
    )
    train.lightgbm(data, target=target, transform=features, num_boost_round=ROUNDS)
    train.xgboost(data, target=target, transform=features, num_boost_round=ROUNDS)
    train.sklearn(
        data,
        target=target,
        estimator="sklearn.linear_model.LogisticRegression",
        transform=features,
    )


@pytest.fixture
def logged(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[int | None, dict[str, float]]]]:
    """What the components report through ``mloop.log_metrics`` (recorded, then passed on)."""
    calls: list[tuple[int | None, dict[str, float]]] = []
    real = mloop.orchestrator.log_metrics

    def record(metrics: Mapping[str, float], step: int | None = None) -> None:
        calls.append((step, dict(metrics)))
        real(metrics, step=step)

    monkeypatch.setattr(mloop.orchestrator, "log_metrics", record)
    yield calls


def test_transform_and_train_give_models_that_predict(
    settings: Settings, logged: list[tuple[int | None, dict[str, float]]]
) -> None:
    result = mloop.run(train_delays, settings=settings, executor="inline")

    fitted = result.output("transform")
    assert isinstance(fitted, Transform)
    spec = FittedTransform.from_dict(fitted.load())
    assert spec.input_columns == ["distance", "dep_hour", "weekend", "carrier", "month"]
    assert "carrier=AA" in spec.output_columns

    new = synthetic_flights(50, seed=9, split=False).drop(columns=["delayed"])
    for prefix, flavor in (("train.lightgbm", "lightgbm"), ("train.xgboost", "xgboost")):
        artifact = result.output(prefix)
        assert isinstance(artifact, Model)
        assert artifact.properties["flavor"] == flavor
        assert artifact.properties["target"] == "delayed"
        assert artifact.properties["classes"] == [0, 1]
        inputs = [c["name"] for c in artifact.properties["signature"]["inputs"]]
        assert inputs == spec.input_columns
        assert artifact.properties["params"]["seed"] == 0
        model = artifact.load()
        assert isinstance(model, PackagedModel)
        assert model.transform == spec
        labels = model.predict(new)
        assert labels.shape == (50,) and set(labels) <= {0, 1}
        assert model.predict_proba(new.to_dict("records")).shape == (50, 2)
        assert model.metadata["metrics"]["eval"]["roc_auc"] > 0.6
    sklearn = result.output("train.sklearn").load()
    assert sklearn.flavor == "sklearn" and sklearn.predict(new).shape == (50,)

    curve = [(step, values) for step, values in logged if step is not None]
    lightgbm_curve = [s for s, v in curve if "eval_binary_logloss" in v]
    assert lightgbm_curve == list(range(1, ROUNDS + 1))
    assert all("eval_auc" in v for _, v in curve)
    finals = [values for step, values in logged if step is None]
    assert len(finals) == 3  # one summary per trainer
    assert all({"train_auc", "eval_auc"} <= set(values) for values in finals)


def test_training_twice_gives_the_same_model_artifact(settings: Settings) -> None:
    first = mloop.run(train_delays, settings=settings, executor="inline", cache=False)
    second = mloop.run(train_delays, settings=settings, executor="inline", cache=False)
    for prefix in ("train.lightgbm", "train.xgboost", "train.sklearn"):
        assert first.output(prefix).fingerprint == second.output(prefix).fingerprint


@pipeline(name="train-missing-target")
def missing_target() -> None:
    train.lightgbm(flights(), target="late", num_boost_round=ROUNDS)


def test_a_missing_target_fails_the_step_naming_the_column(settings: Settings) -> None:
    with pytest.raises(StepFailed) as failed:
        mloop.run(missing_target, settings=settings, executor="inline")
    message = str(failed.value)
    assert "target column 'late' is missing" in message
    assert "distance, dep_hour, carrier" in message


@pipeline(name="train-unsplit")
def unsplit(features: list[str] | None = None) -> None:
    train.lightgbm(flights(split=False), target="delayed", features=features, num_boost_round=5)


def test_unsplit_data_trains_on_every_numeric_column(
    settings: Settings, logged: list[tuple[int | None, dict[str, float]]]
) -> None:
    result = mloop.run(unsplit, settings=settings, executor="inline")
    model = result.output("train.lightgbm").load()
    assert model.feature_columns == ["distance", "dep_hour", "month", "weekend"]
    assert model.metadata["train_rows"] == 600 and "eval" not in model.metadata["metrics"]
    assert [step for step, _ in logged] == [None]  # no eval split: no curve
    with pytest.raises(StepFailed, match=r"transform\(categorical=\['carrier'\]\)"):
        mloop.run(
            unsplit,
            {"features": ["distance", "carrier"]},
            settings=settings,
            executor="inline",
        )

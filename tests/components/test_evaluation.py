"""Evaluate against the champion, push only when blessed, tune with recorded trials:
the continuous-training loop end to end on synthetic data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mloop
from mloop import Dataset, If, component, pipeline
from mloop.components import evaluate, push, train, transform, tune
from mloop.config import Settings
from mloop.errors import StepFailed
from mloop.registry import Registry

NAME = "delays"
CHAMPION = f"models:/{NAME}@champion"


@component
def flights(n: int = 1500, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "distance": rng.normal(1000.0, 300.0, n),
            "dep_hour": rng.integers(5, 23, n),
            "carrier": rng.choice(["AA", "B6", "DL", "UA"], n),
        }
    )
    logit = 2 * (frame["distance"] - 1000.0) / 300.0 + (frame["carrier"] == "AA") * 2.0 - 0.5
    frame["delayed"] = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    frame["split"] = np.where(rng.random(n) < 0.7, "train", "eval")
    return frame  # type: ignore[return-value]


def _evaluate_and_push(model: object, data: object, suffix: str = "") -> None:
    report = evaluate(
        model,
        data,
        slices=["carrier"],
        baseline=CHAMPION,
        thresholds={"roc_auc": {"lower_bound": 0.55, "min_absolute_change": 0.0}},
    ).set_name(f"evaluate{suffix}")
    with If(report.blessed):
        push(model, name=NAME, blessing=report.blessing, alias="champion").set_name(f"push{suffix}")


@pipeline(name="ct")
def ct(
    estimator: str = "lightgbm",
    rounds: int = 30,
    params: dict = {"num_leaves": 4, "min_data_in_leaf": 20},  # noqa: B006
) -> None:
    """Train (LightGBM, or a scikit-learn estimator by import path), evaluate, push."""
    data = flights()
    features = transform(data, numeric=["distance", "dep_hour"], categorical=["carrier"])
    with If(estimator == "lightgbm"):
        boosted = train.lightgbm(
            data,
            target="delayed",
            transform=features,
            params=params,
            num_boost_round=rounds,
        ).set_name("train")
        _evaluate_and_push(boosted, data)
    with If(estimator != "lightgbm"):
        other = train.sklearn(
            data, target="delayed", transform=features, estimator=estimator
        ).set_name("train_sklearn")
        _evaluate_and_push(other, data, suffix="_sklearn")


def _champion(settings: Settings) -> int:
    with Registry(settings) as registry:
        return registry.resolve(CHAMPION).version


def test_a_worse_model_is_not_promoted_and_a_better_one_is(settings: Settings) -> None:
    # A weak first model (one stump) becomes the champion: nothing to beat yet.
    first = mloop.run(
        ct, {"rounds": 1, "params": {"num_leaves": 2}}, settings=settings, executor="inline"
    )
    blessing = first.output("evaluate", "blessing").load()
    assert blessing["blessed"] and blessing["baseline"] is None
    assert any("no baseline" in reason for reason in blessing["reasons"])
    assert first.output("push", "pushed") is True
    assert _champion(settings) == 1

    # A constant model (ROC AUC 0.5) is scored against the champion on the same rows, is not
    # blessed, and the push step is skipped: the champion stays.
    worse = mloop.run(
        ct, {"estimator": "sklearn.dummy.DummyClassifier"}, settings=settings, executor="inline"
    )
    blessing = worse.output("evaluate_sklearn", "blessing").load()
    assert blessing["blessed"] is False
    assert blessing["baseline"] == {"name": NAME, "version": 1, "uri": CHAMPION}
    assert blessing["metrics"]["roc_auc"] == pytest.approx(0.5)
    assert blessing["baseline_metrics"]["roc_auc"] > 0.6
    assert "roc_auc" in blessing["reasons"][0] and "lower bound" in blessing["reasons"][0]
    assert worse.steps["push_sklearn"].state == "skipped"
    assert _champion(settings) == 1

    # A better model (60 rounds of small trees) beats the champion on the same rows and is
    # promoted (in worker processes forked from this one, which has run LightGBM inline).
    better = mloop.run(ct, {"rounds": 60}, settings=settings, executor="process")
    metrics = better.output("evaluate", "metrics").load()
    assert metrics["baseline"]["version"] == 1
    assert metrics["overall"]["roc_auc"] >= metrics["baseline"]["overall"]["roc_auc"]
    assert set(metrics["slices"]["carrier"]) == {"AA", "B6", "DL", "UA"}
    assert better.output("push", "pushed") is True
    assert _champion(settings) == 2

    with Registry(settings) as registry:
        moves = [a for a in registry.audit(NAME) if a.action == "set_alias"]
        assert [(a.from_version, a.to_version) for a in moves] == [(None, 1), (1, 2)]
        assert sorted(v.version for v in registry.list_versions(NAME)) == [1, 2]  # worse: none
    # The evaluation's overall metrics are comparable across runs like training metrics.
    frame = mloop.Client(settings).compare([first.id, better.id], step="evaluate")
    assert frame["metric.roc_auc"].iloc[1] >= frame["metric.roc_auc"].iloc[0]


@component
def regression_rows(n: int = 400) -> Dataset:
    rng = np.random.default_rng(1)
    x = rng.normal(size=n)
    return pd.DataFrame(  # type: ignore[return-value]
        {"x": x, "y": 3 * x + rng.normal(scale=0.1, size=n), "split": ["train", "eval"] * (n // 2)}
    )


@pipeline(name="eval-regression")
def eval_regression(thresholds: dict = {"rmse": {"upper_bound": 0.05}}) -> None:  # noqa: B006
    data = regression_rows()
    model = train.sklearn(data, target="y", estimator="sklearn.linear_model.LinearRegression")
    evaluate(model, data, thresholds=thresholds)


def test_regression_metrics_and_a_lower_is_better_bound(settings: Settings) -> None:
    result = mloop.run(eval_regression, settings=settings, executor="inline")
    metrics = result.output("evaluate", "metrics").load()
    assert set(metrics["overall"]) >= {"rmse", "mae", "r2"}
    assert metrics["overall"]["r2"] > 0.99
    blessing = result.output("evaluate", "blessing").load()
    # RMSE ~0.1 > the 0.05 upper bound: not blessed, and the reason says so.
    assert blessing["blessed"] is False
    assert "rmse" in blessing["reasons"][0] and "upper bound 0.05" in blessing["reasons"][0]


def test_bad_thresholds_fail_the_step_naming_the_metric(settings: Settings) -> None:
    with pytest.raises(StepFailed, match=r"thresholds\['rmse'\] has unknown keys \['minimum'\]"):
        mloop.run(
            eval_regression,
            {"thresholds": {"rmse": {"minimum": 1}}},
            settings=settings,
            executor="inline",
        )


@pipeline(name="tuned")
def tuned(n_trials: int = 6) -> None:
    data = flights()
    features = transform(data, numeric=["distance", "dep_hour"], categorical=["carrier"])
    search = tune(
        data,
        target="delayed",
        transform=features,
        search_space={
            "num_leaves": {"type": "int", "low": 4, "high": 32, "log": True},
            "learning_rate": {"type": "float", "low": 0.05, "high": 0.3},
            "min_data_in_leaf": [5, 20],
        },
        n_trials=n_trials,
        num_boost_round=20,
    )
    train.lightgbm(
        data, target="delayed", transform=features, params=search.best_params, num_boost_round=20
    )


def test_tune_records_trials_and_feeds_the_best_params_to_training(settings: Settings) -> None:
    result = mloop.run(tuned, settings=settings, executor="process")

    best = result.output("tune", "best_params")
    assert set(best) == {"num_leaves", "learning_rate", "min_data_in_leaf"}
    assert 0.5 < result.output("tune", "best_value") <= 1.0
    client = mloop.Client(settings)
    trials = client.compare([result.id], step="tune", trials=True)
    trials = trials[trials["step"].str.startswith("tune/trial-")]
    assert len(trials) == 6
    assert set(trials["state"]) <= {"succeeded", "cancelled"}  # cancelled: pruned
    done = trials[trials["state"] == "succeeded"]
    assert done["metric.roc_auc"].max() == pytest.approx(result.output("tune", "best_value"))
    training = client.executions(result.id)
    train_step = next(e for e in training if e.component == "train.lightgbm")
    assert train_step.params["params"] == best


@pipeline(name="bad-space")
def bad_space() -> None:
    tune(flights(), target="delayed", search_space={"num_leaves": {"type": "int", "low": 8}})


def test_a_bad_search_space_names_the_parameter(settings: Settings) -> None:
    with pytest.raises(StepFailed, match=r"search_space\['num_leaves'\]: int needs 'low' < 'high'"):
        mloop.run(bad_space, settings=settings, executor="inline")


@component
def flights_with_a_new_carrier() -> Dataset:
    frame = flights.fn(n=600, seed=3)
    frame.loc[frame.index % 3 == 0, "carrier"] = "ZZ"  # a third of the rows, train split too
    return frame  # type: ignore[no-any-return]


@pipeline(name="guarded")
def guarded() -> None:
    from mloop.components import infer_schema, statistics, validate

    schema = infer_schema(statistics(flights()))
    data = flights_with_a_new_carrier()
    checks = validate(statistics(data).set_name("new_statistics"), schema, fail_on="error")
    model = train.lightgbm(data, target="delayed", num_boost_round=5).after(checks)
    push(model, name="guarded", require_blessing=False)


def test_training_data_that_failed_validation_trains_and_registers_nothing(
    settings: Settings,
) -> None:
    result = mloop.run(guarded, settings=settings, executor="inline", raise_on_failure=False)

    assert result.state == "failed"
    assert result.steps["validate"].state == "failed"
    assert "outside its domain" in (result.steps["validate"].reason or "")
    assert result.steps["train.lightgbm"].state == "blocked"
    assert result.steps["push"].state == "blocked"
    with Registry(settings) as registry:
        assert registry.list_models() == []

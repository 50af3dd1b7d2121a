"""Trainers: fit LightGBM, XGBoost or a scikit-learn estimator on :class:`TrainingData`.

Each returns a :class:`PackagedModel` (transform, signature, target, classes and the full
effective parameters included) and reports through ``log(metrics, step)``: the evaluation
split's metrics after every boosting round (``eval_auc``, ``eval_binary_logloss``, ...;
step = the round, from 1) and, at the end, summary metrics of both splits (``train_auc``,
``eval_auc``, ``eval_rmse``, ...; step ``None``).

Training is deterministic: the same data, parameters and seed give the same model bytes.
The boosters run on one thread by default (pipeline steps already run side by side, and
results then do not depend on the machine); ``params`` override any default.
"""

from __future__ import annotations

import importlib
import math
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from mloop.errors import ConfigError, DefinitionError
from mloop.ml._dataset import Part, TrainingData
from mloop.ml._flavors import Flavor, get_flavor
from mloop.ml._metrics import classification_metrics, regression_metrics
from mloop.ml._packaged import PackagedModel

if TYPE_CHECKING:
    import numpy as np

__all__ = ["MetricLogger", "fit_lightgbm", "fit_sklearn", "fit_xgboost"]

#: ``log(metrics, step)``: where per-round curves and final metrics are reported.
MetricLogger = Callable[[Mapping[str, float], "int | None"], None]

#: Final metrics reported per split, from the full metrics of :mod:`mloop.ml._metrics`.
_SUMMARY = {
    "classification": {"roc_auc": "auc", "log_loss": "log_loss", "accuracy": "accuracy"},
    "regression": {"rmse": "rmse", "mae": "mae", "r2": "r2"},
}


def fit_lightgbm(
    data: TrainingData,
    params: Mapping[str, Any] | None = None,
    num_boost_round: int = 100,
    early_stopping_rounds: int | None = None,
    seed: int = 0,
    log: MetricLogger | None = None,
) -> PackagedModel:
    """A LightGBM booster trained with ``lgb.train`` (objective and metrics from the task)."""
    import lightgbm as lgb
    import numpy as np

    effective: dict[str, Any] = {
        **_lightgbm_defaults(data),
        "seed": seed,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": 1,
        "verbosity": -1,
        **dict(params or {}),
    }
    names = _safe_names(data.feature_columns, r'[",:\[\]{}]')
    train = lgb.Dataset(
        data.train.X.to_numpy(dtype=np.float64), label=data.labels, feature_name=names
    )
    valid_sets, callbacks = [], []
    if data.eval is not None:
        valid_sets.append(
            lgb.Dataset(
                data.eval.X.to_numpy(dtype=np.float64),
                label=_labels(data.eval),
                reference=train,
                feature_name=names,
            )
        )
        if log is not None:
            callbacks.append(_lightgbm_curve(log))
    if early_stopping_rounds is not None:
        _need_eval(data, "early_stopping_rounds")
        callbacks.append(lgb.early_stopping(early_stopping_rounds, verbose=False))
    booster = lgb.train(
        effective,
        train,
        num_boost_round=num_boost_round,
        valid_sets=valid_sets,
        valid_names=["eval"] * len(valid_sets),
        callbacks=callbacks,
    )
    best = booster.best_iteration
    # Rebuilt from its text, the booster is exactly what a saved model loads back as.
    booster = lgb.Booster(model_str=booster.model_to_string())
    info = {"num_trees": booster.num_trees(), "best_iteration": best or None}
    recorded = {
        **effective,
        "num_boost_round": num_boost_round,
        "early_stopping_rounds": early_stopping_rounds,
    }
    return _package(booster, "lightgbm", data, recorded, info, log)


def fit_xgboost(
    data: TrainingData,
    params: Mapping[str, Any] | None = None,
    num_boost_round: int = 100,
    early_stopping_rounds: int | None = None,
    seed: int = 0,
    log: MetricLogger | None = None,
) -> PackagedModel:
    """An XGBoost booster trained with ``xgb.train`` (objective and metrics from the task)."""
    import numpy as np
    import xgboost as xgb

    effective: dict[str, Any] = {
        **_xgboost_defaults(data),
        "seed": seed,
        "nthread": 1,
        "tree_method": "hist",
        "verbosity": 0,
        **dict(params or {}),
    }
    names = _safe_names(data.feature_columns, r"[\[\]<]")
    train = xgb.DMatrix(
        data.train.X.to_numpy(dtype=np.float64), label=data.labels, feature_names=names
    )
    evals = []
    if data.eval is not None:
        evaluation = xgb.DMatrix(
            data.eval.X.to_numpy(dtype=np.float64), label=_labels(data.eval), feature_names=names
        )
        evals.append((evaluation, "eval"))
    if early_stopping_rounds is not None:
        _need_eval(data, "early_stopping_rounds")
    callbacks = [_xgboost_curve(log)] if log is not None and evals else []
    booster = xgb.train(
        effective,
        train,
        num_boost_round=num_boost_round,
        evals=evals,
        early_stopping_rounds=early_stopping_rounds,
        callbacks=callbacks,
        verbose_eval=False,
    )
    best = booster.best_iteration if early_stopping_rounds is not None else None
    if best is not None and best + 1 < booster.num_boosted_rounds():
        booster = booster[: best + 1]
    info = {"num_trees": booster.num_boosted_rounds(), "best_iteration": best}
    recorded = {
        **effective,
        "num_boost_round": num_boost_round,
        "early_stopping_rounds": early_stopping_rounds,
    }
    return _package(booster, "xgboost", data, recorded, info, log)


def fit_sklearn(
    data: TrainingData,
    estimator: str = "sklearn.ensemble.HistGradientBoostingClassifier",
    params: Mapping[str, Any] | None = None,
    seed: int = 0,
    log: MetricLogger | None = None,
) -> PackagedModel:
    """A scikit-learn estimator, named by import path (``"sklearn.linear_model.Ridge"``),
    built with ``params`` and ``random_state=seed`` (when it takes one) and fitted."""
    from sklearn.base import is_classifier, is_regressor

    cls = _import_estimator(estimator)
    try:
        model = cls(**dict(params or {}))
    except TypeError as exc:
        raise ConfigError(f"bad params for {estimator}: {exc}", argument="params") from exc
    if "random_state" in model.get_params() and "random_state" not in (params or {}):
        model.set_params(random_state=seed)
    if data.task == "classification" and not is_classifier(model):
        raise ConfigError(
            f"{estimator} is not a classifier, but target {data.target!r} is a class label "
            "(pass a classifier, or task='regression')",
            argument="estimator",
        )
    if data.task == "regression" and not is_regressor(model):
        raise ConfigError(
            f"{estimator} is not a regressor, but target {data.target!r} is numeric with many "
            "values (pass a regressor such as sklearn.ensemble.HistGradientBoostingRegressor, "
            "or task='classification')",
            argument="estimator",
        )
    model.fit(data.train.X, data.train.y)
    recorded = {**model.get_params(deep=False), "estimator": estimator, "seed": seed}
    return _package(model, "sklearn", data, _json_params(recorded), {}, log)


# Shared -------------------------------------------------------------------------------


def _package(
    estimator: Any,
    flavor_name: str,
    data: TrainingData,
    params: dict[str, Any],
    info: dict[str, Any],
    log: MetricLogger | None,
) -> PackagedModel:
    flavor = get_flavor(flavor_name)
    classes = data.classes
    if flavor_name == "sklearn" and data.task == "classification":
        classes = flavor.infer_classes(estimator)  # the estimator's own order
    found = {"train": _evaluate(flavor, estimator, data.train, data.task, classes)}
    if data.eval is not None:
        found["eval"] = _evaluate(flavor, estimator, data.eval, data.task, classes)
    if log is not None:
        summary = {
            f"{split}_{short}": value
            for split, values in found.items()
            for name, short in _SUMMARY[data.task].items()
            if (value := values.get(name)) is not None
        }
        log(summary, None)
    rows = {"train_rows": len(data.train.rows)}
    if data.eval is not None:
        rows["eval_rows"] = len(data.eval.rows)
    return PackagedModel(
        estimator,
        flavor=flavor_name,
        transform=data.transform,
        signature=data.signature,
        task=data.task,
        target=data.target,
        classes=classes,
        feature_columns=data.feature_columns,
        params=params,
        metadata={**info, **rows, "metrics": found},
    )


def _evaluate(
    flavor: Flavor, estimator: Any, part: Part, task: str, classes: list[Any] | None
) -> dict[str, Any]:
    scores = flavor.predict_scores(estimator, part.X)
    if task == "classification":
        assert classes is not None
        return classification_metrics(part.y, scores, classes)
    return regression_metrics(part.y, scores)


def _labels(part: Part) -> np.ndarray:
    return part.codes if part.codes is not None else part.y


def _need_eval(data: TrainingData, argument: str) -> None:
    if data.eval is None:
        raise ConfigError(
            f"{argument} needs evaluation rows, and the data has no eval split (give the "
            "dataset a split column with eval rows, or leave it unset)",
            argument=argument,
        )


def _safe_names(names: list[str], forbidden: str) -> list[str]:
    """Feature names a booster accepts (some characters are refused), kept unique."""
    safe: list[str] = []
    seen: set[str] = set()
    for i, name in enumerate(names):
        candidate = re.sub(forbidden, "_", name)
        if candidate in seen:
            candidate = f"{candidate}_{i}"
        seen.add(candidate)
        safe.append(candidate)
    return safe


def _lightgbm_defaults(data: TrainingData) -> dict[str, Any]:
    if data.task == "regression":
        return {"objective": "regression", "metric": ["rmse", "l1"]}
    count = len(data.classes or ())
    if count == 2:
        return {"objective": "binary", "metric": ["binary_logloss", "auc"]}
    return {"objective": "multiclass", "num_class": count, "metric": ["multi_logloss", "auc_mu"]}


def _xgboost_defaults(data: TrainingData) -> dict[str, Any]:
    if data.task == "regression":
        return {"objective": "reg:squarederror", "eval_metric": ["rmse", "mae"]}
    count = len(data.classes or ())
    if count == 2:
        return {"objective": "binary:logistic", "eval_metric": ["logloss", "auc"]}
    return {"objective": "multi:softprob", "num_class": count, "eval_metric": ["mlogloss", "auc"]}


def _lightgbm_curve(log: MetricLogger) -> Callable[[Any], None]:
    def record(env: Any) -> None:
        values = {
            f"{data_name}_{metric}": float(value)
            for data_name, metric, value, *_ in env.evaluation_result_list
        }
        if values:
            log(values, env.iteration + 1)

    record.order = 5  # type: ignore[attr-defined]  # before early stopping (order 30)
    return record


def _xgboost_curve(log: MetricLogger) -> Any:
    import xgboost as xgb

    class Curve(xgb.callback.TrainingCallback):
        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            values = {
                f"{data_name}_{metric}": float(history[-1])
                for data_name, metrics in evals_log.items()
                for metric, history in metrics.items()
            }
            if values:
                log(values, epoch + 1)
            return False

    return Curve()


def _import_estimator(path: str) -> Any:
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise DefinitionError(
            f"cannot import estimator {path!r}: {exc} (give an import path such as "
            "'sklearn.ensemble.HistGradientBoostingClassifier')",
            argument="estimator",
        ) from exc
    if not (isinstance(cls, type) and hasattr(cls, "fit")):
        raise ConfigError(f"{path!r} is not an estimator class", argument="estimator")
    return cls


def _json_params(params: dict[str, Any]) -> dict[str, Any]:
    """Estimator parameters as JSON: values that are not (a nested estimator) as text."""
    plain: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, float) and not math.isfinite(value):
            plain[key] = repr(value)
        elif value is None or isinstance(value, bool | int | float | str):
            plain[key] = value
        elif isinstance(value, list | tuple) and all(
            v is None or isinstance(v, bool | int | float | str) for v in value
        ):
            plain[key] = list(value)
        else:
            plain[key] = repr(value)
    return plain

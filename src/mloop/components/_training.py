"""Training components: a fitted feature transform, and models trained on a Dataset.

What TFX calls Transform and Trainer, as ordinary components over :mod:`mloop.ml`:

- ``transform(data, numeric=[...], categorical=[...], ...)``: a ``Transform`` artifact (JSON),
  fitted on the ``fit_split`` rows only, so evaluation rows do not leak into it;
- ``train.lightgbm``, ``train.xgboost`` and ``train.sklearn``: a ``Model`` artifact holding a
  :class:`mloop.ml.PackagedModel` (the estimator in its native format, the transform, the
  input signature, target and classes), trained on the ``split`` rows. The boosters report
  the ``eval_split`` metrics after every round through ``mloop.log_metrics`` (curves), and
  every trainer the final train/eval metrics (``train_auc``, ``eval_auc``, ...).

Features are the transform's inputs when one is given, else ``features``, else every numeric
or boolean column except the target and ``split``. Training is deterministic: the same data,
params and seed give the same model bytes, so re-running a step reproduces its artifact.
A component's fingerprint covers its own source and ``version``, not :mod:`mloop.ml`: bump
the version when the library changes what a component returns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from mloop.artifacts import Dataset, Model, Transform
from mloop.dsl import component

if TYPE_CHECKING:
    from mloop.ml import PackagedModel, TrainingData

__all__ = ["prepare_training", "train", "train_estimator", "transform"]


@component(name="transform", version="1")
def transform(
    data: Dataset,
    numeric: list[str] | None = None,
    categorical: list[str] | None = None,
    ordinal: list[str] | None = None,
    impute: dict[str, Any] | None = None,
    scale: str | None = "standard",
    max_categories: int = 50,
    functions: list[str] | None = None,
    passthrough: list[str] | None = None,
    fit_split: str = "train",
) -> Transform:
    """A feature transform fitted on the ``fit_split`` rows (all rows when the data is not
    split); see :class:`mloop.ml.Transform` for what each argument does."""
    from mloop.ml import Transform as Spec
    from mloop.ml import split_rows

    spec = Spec(
        numeric=numeric,
        categorical=categorical,
        ordinal=ordinal,
        impute=impute,
        scale=scale,
        max_categories=max_categories,
        functions=functions,
        passthrough=passthrough,
    )
    rows = split_rows(data.to_pandas(), fit_split)
    fitted = spec.fit(rows)
    print(
        f"transform: {len(fitted.input_columns)} input columns -> "
        f"{len(fitted.output_columns)} output columns (fitted on {len(rows):,} rows)"
    )
    return fitted.to_dict()  # type: ignore[return-value]  # stored as the Transform artifact


@component(name="train.lightgbm", version="1")
def train_lightgbm(
    data: Dataset,
    target: str,
    transform: Transform | None = None,
    features: list[str] | None = None,
    params: dict[str, Any] | None = None,
    task: str = "auto",
    split: str = "train",
    eval_split: str | None = "eval",
    num_boost_round: int = 100,
    early_stopping_rounds: int | None = None,
    seed: int = 0,
) -> Model:
    """A LightGBM model of ``target``; ``params`` are LightGBM's (they override the defaults:
    objective and metrics from the task, ``seed``, deterministic single-threaded training)."""
    from mloop.ml import fit_lightgbm

    prepared = prepare_training(data, target, transform, features, task, split, eval_split)
    model = fit_lightgbm(
        prepared,
        params=params,
        num_boost_round=num_boost_round,
        early_stopping_rounds=early_stopping_rounds,
        seed=seed,
        log=_log_metrics,
    )
    _summary(model)
    return model  # type: ignore[return-value]  # stored as the Model artifact


@component(name="train.xgboost", version="1")
def train_xgboost(
    data: Dataset,
    target: str,
    transform: Transform | None = None,
    features: list[str] | None = None,
    params: dict[str, Any] | None = None,
    task: str = "auto",
    split: str = "train",
    eval_split: str | None = "eval",
    num_boost_round: int = 100,
    early_stopping_rounds: int | None = None,
    seed: int = 0,
) -> Model:
    """An XGBoost model of ``target``; ``params`` are XGBoost's (they override the defaults:
    objective and metrics from the task, ``seed``, ``hist`` trees on one thread)."""
    from mloop.ml import fit_xgboost

    prepared = prepare_training(data, target, transform, features, task, split, eval_split)
    model = fit_xgboost(
        prepared,
        params=params,
        num_boost_round=num_boost_round,
        early_stopping_rounds=early_stopping_rounds,
        seed=seed,
        log=_log_metrics,
    )
    _summary(model)
    return model  # type: ignore[return-value]  # stored as the Model artifact


@component(name="train.sklearn", version="1")
def train_sklearn(
    data: Dataset,
    target: str,
    estimator: str = "sklearn.ensemble.HistGradientBoostingClassifier",
    params: dict[str, Any] | None = None,
    transform: Transform | None = None,
    features: list[str] | None = None,
    task: str = "auto",
    split: str = "train",
    eval_split: str | None = "eval",
    seed: int = 0,
) -> Model:
    """A scikit-learn model of ``target``: ``estimator`` is the import path of its class
    (a JSON parameter), built with ``params`` and ``random_state=seed`` when it takes one."""
    from mloop.ml import fit_sklearn

    prepared = prepare_training(data, target, transform, features, task, split, eval_split)
    model = fit_sklearn(prepared, estimator, params=params, seed=seed, log=_log_metrics)
    _summary(model)
    return model  # type: ignore[return-value]  # stored as the Model artifact


class _Train:
    """The training components: ``train.lightgbm``, ``train.xgboost`` and ``train.sklearn``."""

    lightgbm = train_lightgbm
    xgboost = train_xgboost
    sklearn = train_sklearn

    def __repr__(self) -> str:
        return "<mloop.components.train: lightgbm, xgboost, sklearn>"


train = _Train()


# Helpers --------------------------------------------------------------------------------


def prepare_training(
    data: Dataset,
    target: str,
    transform: Transform | None = None,
    features: list[str] | None = None,
    task: str = "auto",
    split: str = "train",
    eval_split: str | None = "eval",
) -> TrainingData:
    """The training (and evaluation) rows of ``data`` as features and labels, with the
    transform artifact applied (see :func:`mloop.ml.training_data`); prints a summary."""
    from mloop.ml import FittedTransform, training_data

    fitted = FittedTransform.from_dict(transform.load()) if transform is not None else None
    prepared = training_data(
        data.to_pandas(),
        target,
        transform=fitted,
        features=features,
        task=task,
        split=split,
        eval_split=eval_split,
    )
    evaluation = (
        f", {len(prepared.eval.rows):,} {prepared.eval.name!r} rows" if prepared.eval else ""
    )
    print(
        f"training data: {len(prepared.train.rows):,} {split!r} rows{evaluation}, "
        f"{len(prepared.feature_columns)} features, task {prepared.task}"
    )
    if prepared.skipped:
        print(
            f"left out non-numeric columns {', '.join(prepared.skipped)} (encode them with "
            "a transform to use them)"
        )
    return prepared


def train_estimator(
    model: str,
    prepared: TrainingData,
    params: dict[str, Any] | None = None,
    *,
    num_boost_round: int = 100,
    early_stopping_rounds: int | None = None,
    seed: int = 0,
    on_iteration: Callable[[int, float], None] | None = None,
) -> PackagedModel:
    """Train ``model`` (``"lightgbm"``, ``"xgboost"`` or a scikit-learn estimator's import
    path) on ``prepared``, without logging to the step (what a tuning trial needs).

    ``on_iteration(round, value)`` receives one evaluation metric per boosting round: ROC
    AUC for classification and RMSE for regression (the first metric when ``params``
    replace the metric list); it may raise to stop training (a pruned trial).
    """
    from mloop.ml import fit_lightgbm, fit_sklearn, fit_xgboost

    log = _curve_reporter(on_iteration) if on_iteration is not None else None
    if model == "lightgbm":
        return fit_lightgbm(
            prepared, params, num_boost_round, early_stopping_rounds, seed=seed, log=log
        )
    if model == "xgboost":
        return fit_xgboost(
            prepared, params, num_boost_round, early_stopping_rounds, seed=seed, log=log
        )
    return fit_sklearn(prepared, model, params, seed=seed)


_CURVE_METRICS = ("eval_auc", "eval_auc_mu", "eval_rmse")


def _curve_reporter(
    on_iteration: Callable[[int, float], None],
) -> Callable[[Mapping[str, float], int | None], None]:
    def report(metrics: Mapping[str, float], step: int | None) -> None:
        if step is None or not metrics:
            return  # the final summary, not a round
        name = next((m for m in _CURVE_METRICS if m in metrics), next(iter(metrics)))
        on_iteration(step, float(metrics[name]))

    return report


def _summary(model: PackagedModel) -> None:
    found = model.metadata.get("metrics", {})
    parts = []
    for split, values in found.items():
        for name in ("roc_auc", "accuracy", "rmse", "r2"):
            if values.get(name) is not None:
                parts.append(f"{split} {name} {values[name]:.4f}")
    print(f"trained {model!r}: " + (", ".join(parts) or "no metrics"))


def _log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    """Report metrics of the running step (``mloop.log_metrics``); nothing outside a step."""
    try:
        from mloop.orchestrator import current_step, log_metrics
    except ImportError:  # TODO(context): drop this shim once mloop.log_metrics has landed
        return
    if current_step() is not None:
        log_metrics(metrics, step=step)

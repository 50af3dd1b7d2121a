"""The ``tune`` component: hyperparameter search with Optuna, every trial recorded.

The search space is data (JSON), so it is part of the step's parameters and cache key::

    search_space={
        "num_leaves": {"type": "int", "low": 8, "high": 256, "log": True},
        "learning_rate": {"type": "float", "low": 0.01, "high": 0.3, "log": True},
        "min_data_in_leaf": {"type": "int", "low": 10, "high": 200},
        "boosting": ["gbdt", "goss"],        # a list is a categorical choice
    }

Each trial trains on the ``split`` rows and is scored on ``eval_split`` with ``metric``
(ROC AUC for classification, RMSE for regression by default); LightGBM and XGBoost trials
report their per-iteration eval metric to Optuna, whose median pruner stops hopeless trials
early (``pruning=True``). Trials are recorded as child executions of the step with their
params, state (pruned trials as ``cancelled``), final metric and curve, so
``mloop experiments compare RUN --trials`` lists them. Outputs: ``best_params`` (pass it to
``train.*(params=...)``), ``best_value`` and ``trials``.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple

from mloop.artifacts import Dataset, Transform
from mloop.dsl import component

__all__ = ["tune"]

_KINDS = ("int", "float", "categorical")


class TuneResult(NamedTuple):
    best_params: dict[str, Any]
    best_value: float
    trials: int


@component(name="tune", version="1")
def tune(
    data: Dataset,
    target: str,
    search_space: dict[str, Any],
    model: str = "lightgbm",
    transform: Transform | None = None,
    features: list[str] | None = None,
    params: dict[str, Any] | None = None,
    metric: str | None = None,
    direction: str | None = None,
    n_trials: int = 20,
    timeout: float | None = None,
    pruning: bool = True,
    task: str = "auto",
    split: str = "train",
    eval_split: str = "eval",
    num_boost_round: int = 100,
    seed: int = 0,
) -> TuneResult:
    """Search ``search_space`` for the ``model`` (``lightgbm``, ``xgboost`` or an sklearn
    estimator's import path) that scores best on ``eval_split``; ``params`` are fixed
    hyperparameters added to every trial. Stops after ``n_trials`` or ``timeout`` seconds."""
    import optuna

    from mloop.components._training import prepare_training, train_estimator
    from mloop.ml import classification_metrics, regression_metrics
    from mloop.orchestrator import current_step

    space = _check_space(search_space)
    if n_trials < 1:
        raise ValueError(f"n_trials must be at least 1, not {n_trials}")
    if direction not in (None, "maximize", "minimize"):
        raise ValueError(f"direction must be 'maximize' or 'minimize', not {direction!r}")
    prepared = prepare_training(
        data,
        target,
        transform=transform,
        features=features,
        task=task,
        split=split,
        eval_split=eval_split,
    )
    evaluation = prepared.eval
    if evaluation is None:
        raise ValueError(
            f"tune needs an eval split to score trials: the data has no {eval_split!r} rows "
            f"(splits: {', '.join(sorted(data.splits)) or 'none'})"
        )
    classification = prepared.task == "classification"
    metric = metric or ("roc_auc" if classification else "rmse")
    lower_better = metric in ("rmse", "mae", "log_loss", "brier", "mse")
    goal: Literal["minimize", "maximize"] = (
        direction or ("minimize" if lower_better else "maximize")  # type: ignore[assignment]
    )
    context = current_step()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pruner: optuna.pruners.BasePruner = (
        optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=5)
        if pruning
        else optuna.pruners.NopPruner()
    )
    study = optuna.create_study(
        direction=goal, sampler=optuna.samplers.TPESampler(seed=seed), pruner=pruner
    )

    def objective(trial: optuna.Trial) -> float:
        suggested = {name: _suggest(trial, name, spec) for name, spec in space.items()}
        trial_params = {**(params or {}), **suggested}
        curve: list[float] = []
        started = datetime.now(UTC)

        def report(step: int, value: float) -> None:
            curve.append(value)
            trial.report(value, step)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at iteration {step}")

        try:
            fitted = train_estimator(
                model,
                prepared,
                trial_params,
                num_boost_round=num_boost_round,
                seed=seed,
                on_iteration=report if pruning else None,
            )
            if classification:
                scores = fitted.predict_proba(evaluation.rows)
                if scores.ndim == 2 and scores.shape[1] == 2:
                    scores = scores[:, 1]
                found = classification_metrics(evaluation.y, scores, prepared.classes or [])
            else:
                found = regression_metrics(evaluation.y, fitted.predict(evaluation.rows))
            value = found.get(metric)
            if value is None or not math.isfinite(value):
                raise ValueError(f"metric {metric!r} is not available (metrics: {sorted(found)})")
        except optuna.TrialPruned as pruned:
            _record(context, trial, suggested, "cancelled", None, curve, started, str(pruned))
            raise
        except Exception as exc:
            _record(context, trial, suggested, "failed", None, curve, started, repr(exc))
            raise
        _record(context, trial, suggested, "succeeded", {metric: value}, curve, started, None)
        return float(value)

    started = time.perf_counter()
    study.optimize(objective, n_trials=n_trials, timeout=timeout, catch=(ValueError,))
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        failed = [t for t in study.trials if t.state == optuna.trial.TrialState.FAIL]
        raise RuntimeError(
            f"no trial of {len(study.trials)} completed ({len(failed)} failed); "
            "see the step log for their errors"
        )
    best = study.best_trial
    best_value = float(best.value if best.value is not None else math.nan)
    best_params = {**(params or {}), **best.params}
    pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials)
    print(
        f"{len(study.trials)} trials in {time.perf_counter() - started:.1f} s "
        f"({pruned} pruned): best {metric} {best_value:.4g} with {best.params}"
    )
    if context is not None:
        context.log_metrics({f"best_{metric}": best_value, "trials": len(study.trials)})
    return TuneResult(best_params, best_value, len(study.trials))


def _record(
    context: Any,
    trial: Any,
    params: dict[str, Any],
    state: str,
    metrics: dict[str, float] | None,
    curve: list[float],
    started: datetime,
    error: str | None,
) -> None:
    if context is None:
        return
    context.add_child(
        f"trial-{trial.number}",
        params,
        state=state,
        metrics=metrics,
        curves={"eval": curve} if curve else None,
        started_at=started,
        error=error,
    )


def _check_space(space: Any) -> dict[str, Any]:
    if not isinstance(space, dict) or not space:
        raise ValueError(
            "search_space must be a non-empty dict of parameter -> spec, e.g. "
            "{'num_leaves': {'type': 'int', 'low': 8, 'high': 256}}"
        )
    for name, spec in space.items():
        if isinstance(spec, list):
            if not spec:
                raise ValueError(f"search_space[{name!r}]: a choice list must not be empty")
            continue
        if not isinstance(spec, dict) or spec.get("type") not in _KINDS:
            raise ValueError(
                f"search_space[{name!r}] must be a list of choices or a dict with 'type' in "
                f"{_KINDS}, not {spec!r}"
            )
        if spec["type"] == "categorical":
            if not spec.get("choices"):
                raise ValueError(f"search_space[{name!r}]: categorical needs 'choices'")
            continue
        if "low" not in spec or "high" not in spec or not spec["low"] < spec["high"]:
            raise ValueError(
                f"search_space[{name!r}]: {spec['type']} needs 'low' < 'high', got {spec!r}"
            )
        unknown = set(spec) - {"type", "low", "high", "log", "step"}
        if unknown:
            raise ValueError(f"search_space[{name!r}]: unknown keys {sorted(unknown)}")
    return space


def _suggest(trial: Any, name: str, spec: Any) -> Any:
    if isinstance(spec, list):
        return trial.suggest_categorical(name, spec)
    kind = spec["type"]
    if kind == "categorical":
        return trial.suggest_categorical(name, spec["choices"])
    if kind == "int":
        return trial.suggest_int(
            name, spec["low"], spec["high"], step=spec.get("step", 1), log=spec.get("log", False)
        )
    return trial.suggest_float(
        name, spec["low"], spec["high"], step=spec.get("step"), log=spec.get("log", False)
    )

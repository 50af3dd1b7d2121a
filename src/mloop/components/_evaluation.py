"""The ``evaluate`` component: a model's metrics overall and per slice, against thresholds
and against the model in production, and the verdict (a ``Blessing``).

What TFX's Evaluator does with TFMA, without TensorFlow: the candidate and the **baseline**
(by default whatever ``models:/<name>@champion`` points at in the registry, if anything) are
scored on the same rows, so "better than the champion" compares like with like. Thresholds
follow TFMA's shape::

    thresholds={
        "roc_auc": {"lower_bound": 0.6, "min_absolute_change": 0.0},
        "rmse": {"upper_bound": 12.0, "min_relative_change": 0.01},
    }

``lower_bound``/``upper_bound`` hold the candidate's own value; ``min_absolute_change`` and
``min_relative_change`` hold its improvement over the baseline, in the metric's direction
(higher is better for AUC, accuracy, precision, recall, F1 and R², lower for log loss, Brier
score, RMSE and MAE; ``"direction": "higher"|"lower"`` overrides). Change thresholds pass
when there is no baseline yet: the first model has nothing to beat.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from mloop.artifacts import Blessing, Dataset, Metrics, Model
from mloop.dsl import component

__all__ = ["evaluate"]

LOWER_IS_BETTER = frozenset({"log_loss", "brier", "rmse", "mae", "mse"})
_THRESHOLD_KEYS = frozenset(
    {"lower_bound", "upper_bound", "min_absolute_change", "min_relative_change", "direction"}
)


class Evaluation(NamedTuple):
    metrics: Metrics
    blessing: Blessing
    blessed: bool


@component(name="evaluate", version="1", cache=False)
def evaluate(
    model: Model,
    data: Dataset,
    split: str | None = "eval",
    slices: list[str] | None = None,
    baseline: str | None = None,
    thresholds: dict[str, Any] | None = None,
    min_slice_size: int = 1,
) -> Evaluation:
    """Score ``model`` on the ``split`` rows of ``data`` (all rows if the data is unsplit),
    overall and per value of each ``slices`` column; compare with ``baseline`` (a registry
    URI such as ``models:/flights-delay@champion``; nothing when it does not resolve yet)
    under ``thresholds``. Outputs the metrics, the blessing and ``blessed`` (for ``If``).

    Not cached: the baseline an alias points at can move between runs.
    """
    _check_thresholds(thresholds or {})
    candidate = model.load()
    frame = _rows(data, split)
    target = candidate.target
    if target not in frame.columns:
        from mloop.errors import DataError

        raise DataError(
            f"evaluate: the data has no target column {target!r} (the model was trained on "
            f"it); columns: {', '.join(map(str, frame.columns[:30]))}",
            column=target,
        )
    for column in slices or []:
        if column not in frame.columns:
            from mloop.errors import DataError

            raise DataError(
                f"evaluate: slice column {column!r} is not in the data; columns: "
                f"{', '.join(map(str, frame.columns[:30]))}",
                column=column,
            )
    report: dict[str, Any] = {
        "task": candidate.task,
        "target": target,
        "split": split if split in data.splits else None,
        "rows": len(frame),
        **_score(candidate, frame, slices or [], min_slice_size),
        "baseline": None,
    }
    found = _resolve_baseline(baseline)
    base_info: dict[str, Any] | None = None
    base_overall: dict[str, Any] | None = None
    if found is not None:
        base_info, base_model = found
        base_scores = _score(base_model, frame, slices or [], min_slice_size)
        base_overall = base_scores["overall"]
        report["baseline"] = {**base_info, **base_scores}

    checks = _checks(report["overall"], base_overall, thresholds or {})
    failed = [c for c in checks if not c["passed"]]
    blessed = not failed
    reasons = [c["reason"] for c in (failed or checks)]
    if base_info is None:
        reasons.append(
            f"no baseline: {baseline} does not resolve yet" if baseline else "no baseline given"
        )
    blessing = {
        "blessed": blessed,
        "reasons": reasons,
        "baseline": base_info,
        "metrics": _scalars(report["overall"]),
        "baseline_metrics": _scalars(base_overall) if base_overall else None,
        "checks": checks,
    }
    _log(report["overall"])
    print(_summary(report, base_info, blessed, checks))
    return Evaluation(report, blessing, blessed)  # type: ignore[arg-type]  # stored as artifacts


def _rows(data: Dataset, split: str | None) -> Any:
    if split is not None and data.splits:
        return data.split(split).to_pandas()
    table = data.to_arrow()
    if "split" in table.column_names:
        table = table.drop_columns(["split"])
    return table.to_pandas()


def _score(model: Any, frame: Any, slices: list[str], min_slice_size: int) -> dict[str, Any]:
    """Metrics of ``model`` on ``frame``, overall and per slice."""
    from mloop.ml import classification_metrics, regression_metrics, sliced_metrics

    y_true = frame[model.target].to_numpy()
    if model.task == "classification":
        scores = _class_scores(model, frame)
        overall = classification_metrics(y_true, scores, model.classes)
    else:
        scores = model.predict(frame)
        overall = regression_metrics(y_true, scores)
    per_slice = (
        sliced_metrics(
            frame,
            y_true,
            scores,
            slices=slices,
            task=model.task,
            classes=model.classes,
            min_slice_size=min_slice_size,
        )
        if slices
        else {}
    )
    return {"overall": overall, "slices": per_slice}


def _class_scores(model: Any, frame: Any) -> Any:
    proba = model.predict_proba(frame)
    return proba[:, 1] if proba.ndim == 2 and proba.shape[1] == 2 else proba


def _resolve_baseline(uri: str | None) -> tuple[dict[str, Any], Any] | None:
    """``({"name", "version", "uri"}, model)`` behind ``uri``, or None if it names nothing yet
    (no such model, or no such alias: the first run has no champion)."""
    if not uri:
        return None
    from mloop.errors import NotFoundError
    from mloop.orchestrator import current_step
    from mloop.registry import Registry

    context = current_step()
    with Registry(settings=context.settings if context else None) as registry:
        try:
            version = registry.resolve(uri)
        except NotFoundError as exc:
            print(f"baseline {uri}: none yet ({exc})")
            return None
        info = {"name": version.model, "version": version.version, "uri": uri}
        return info, registry.load(version.uri)


def _direction(metric: str, spec: dict[str, Any]) -> str:
    given = spec.get("direction")
    if given is not None:
        return str(given)
    return "lower" if metric in LOWER_IS_BETTER else "higher"


def _checks(
    overall: dict[str, Any], baseline: dict[str, Any] | None, thresholds: dict[str, Any]
) -> list[dict[str, Any]]:
    checks: list[dict[str, Any]] = []
    for metric, spec in thresholds.items():
        value = overall.get(metric)
        base = baseline.get(metric) if baseline else None
        lower = _direction(metric, spec) == "lower"
        check: dict[str, Any] = {"metric": metric, "value": value, "baseline": base}
        problems: list[str] = []
        if not _is_number(value):
            problems.append(f"{metric} could not be computed on this data")
        else:
            if "lower_bound" in spec and value < spec["lower_bound"]:
                problems.append(f"{metric} {value:.4g} < lower bound {spec['lower_bound']}")
            if "upper_bound" in spec and value > spec["upper_bound"]:
                problems.append(f"{metric} {value:.4g} > upper bound {spec['upper_bound']}")
            if base is not None and _is_number(base):
                gain = (base - value) if lower else (value - base)
                check["change"] = gain
                if "min_absolute_change" in spec and gain < spec["min_absolute_change"]:
                    problems.append(
                        f"{metric} {value:.4g} vs baseline {base:.4g}: improvement {gain:.4g} "
                        f"< min_absolute_change {spec['min_absolute_change']}"
                    )
                if "min_relative_change" in spec:
                    relative = gain / abs(base) if base else (math.inf if gain > 0 else 0.0)
                    check["relative_change"] = relative if math.isfinite(relative) else None
                    if relative < spec["min_relative_change"]:
                        problems.append(
                            f"{metric} {value:.4g} vs baseline {base:.4g}: relative improvement "
                            f"{relative:.4g} < min_relative_change {spec['min_relative_change']}"
                        )
        check["passed"] = not problems
        if problems:
            check["reason"] = "; ".join(problems)
        elif _is_number(base):
            check["reason"] = f"{metric} {value:.4g} vs baseline {base:.4g}: passes"
        else:
            check["reason"] = f"{metric} {value:.4g}: passes"
        checks.append(check)
    return checks


def _check_thresholds(thresholds: dict[str, Any]) -> None:
    if not isinstance(thresholds, dict):
        raise ValueError(f"thresholds must be a dict of metric -> rules, not {thresholds!r}")
    for metric, spec in thresholds.items():
        if not isinstance(spec, dict):
            raise ValueError(
                f"thresholds[{metric!r}] must be a dict such as "
                f"{{'min_absolute_change': 0.0}}, not {spec!r}"
            )
        unknown = set(spec) - _THRESHOLD_KEYS
        if unknown:
            raise ValueError(
                f"thresholds[{metric!r}] has unknown keys {sorted(unknown)} "
                f"(known: {', '.join(sorted(_THRESHOLD_KEYS))})"
            )
        if spec.get("direction", "higher") not in ("higher", "lower"):
            raise ValueError(
                f"thresholds[{metric!r}]['direction'] must be 'higher' or 'lower', "
                f"not {spec['direction']!r}"
            )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _scalars(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if _is_number(v)}


def _log(overall: dict[str, Any]) -> None:
    from mloop.orchestrator import current_step

    context = current_step()
    if context is not None:
        context.log_metrics(_scalars(overall))


def _summary(
    report: dict[str, Any], base: dict[str, Any] | None, blessed: bool, checks: list[Any]
) -> str:
    metric = (
        checks[0]["metric"] if checks else ("roc_auc" if "roc_auc" in report["overall"] else "rmse")
    )
    value = report["overall"].get(metric)
    text = f"{metric} {value:.4g}" if _is_number(value) else f"{metric} n/a"
    if base is not None:
        base_value = (report["baseline"] or {}).get("overall", {}).get(metric)
        shown = f"{base_value:.4g}" if _is_number(base_value) else "n/a"
        text += f" (baseline {base['name']} v{base['version']}: {shown})"
    else:
        text += " (baseline: none)"
    return f"{text} → {'blessed' if blessed else 'not blessed'} on {report['rows']:,} rows"

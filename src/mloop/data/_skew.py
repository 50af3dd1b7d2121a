"""Drift and skew as anomalies: :func:`drift` measured with the schema's per-feature rules.

*Drift* compares a dataset with an earlier one of the same kind (this month's training data
with last month's); *skew* compares two that should look alike at the same time (training
data with serving data). Both use the metric and threshold a feature's schema entry names
(``drift: {metric: js, threshold: 0.05}``), the standard ones otherwise, and report every
feature past its threshold as an :class:`Anomaly` of kind ``drift`` or ``skew`` with the
severity the schema gives that kind.
"""

from __future__ import annotations

from typing import Literal

from mloop.data._drift import DriftResult, drift
from mloop.data._model import DatasetStatistics
from mloop.data._schema import Schema
from mloop.data._validate import Anomalies, Anomaly

__all__ = ["drift_anomalies"]


def drift_anomalies(
    baseline: DatasetStatistics,
    current: DatasetStatistics,
    schema: Schema | None = None,
    *,
    kind: Literal["drift", "skew"] = "drift",
) -> tuple[Anomalies, DriftResult]:
    """The features of ``current`` that drifted from ``baseline``, as anomalies, and the
    full comparison they were decided on."""
    metrics: dict[str, str] = {}
    thresholds: dict[str, float] = {}
    if schema is not None:
        for name, spec in schema.features.items():
            if spec.drift is not None:
                metrics[name] = spec.drift.metric
                thresholds[name] = spec.drift.threshold
    result = drift(baseline, current, metrics=metrics, thresholds=thresholds)
    found = []
    for name, feature in result.features.items():
        if not feature.drifted:
            continue
        severity = schema.severity_of(kind, name) if schema is not None else "error"
        found.append(
            Anomaly(
                name,
                kind,
                severity,
                f"{kind} in {name!r}: {feature.metric} = {feature.value:.4g} is past the "
                f"threshold {feature.threshold:.4g}",
                expected=feature.threshold,
                actual=feature.value,
            )
        )
    return Anomalies(tuple(found)), result

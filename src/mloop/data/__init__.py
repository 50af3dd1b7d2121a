"""Pure functions over Arrow data: mergeable statistics, schemas, anomalies, skew and drift.

``compute_statistics(table)`` makes a :class:`DatasetStatistics` (overall and per split) in
one pass; statistics merge (``a.merge(b)``) and serialize to compact JSON.
``infer_schema(stats)`` proposes a :class:`Schema` (a YAML file to edit and commit),
``validate(stats, schema)`` reports typed :class:`Anomalies`, and ``drift(baseline, current)``
compares two statistics objects without touching the raw data again.
"""

from mloop.data._drift import DriftResult, FeatureDrift, drift
from mloop.data._errors import DataError
from mloop.data._model import (
    CategoricalStatistics,
    DatasetStatistics,
    FeatureStatistics,
    NumericStatistics,
    OtherStatistics,
    TimestampStatistics,
)
from mloop.data._report import render_html
from mloop.data._schema import DriftConfig, FeatureSpec, Range, Schema, SchemaError, infer_schema
from mloop.data._schema_yaml import load_schema, save_schema
from mloop.data._skew import drift_anomalies
from mloop.data._statistics import compute_statistics, merge_statistics
from mloop.data._validate import Anomalies, Anomaly, DataValidationError, validate

__all__ = [
    "Anomalies",
    "Anomaly",
    "CategoricalStatistics",
    "DataError",
    "DataValidationError",
    "DatasetStatistics",
    "DriftConfig",
    "DriftResult",
    "FeatureDrift",
    "FeatureSpec",
    "FeatureStatistics",
    "NumericStatistics",
    "OtherStatistics",
    "Range",
    "Schema",
    "SchemaError",
    "TimestampStatistics",
    "compute_statistics",
    "drift",
    "drift_anomalies",
    "infer_schema",
    "load_schema",
    "merge_statistics",
    "render_html",
    "save_schema",
    "validate",
]

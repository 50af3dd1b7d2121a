"""A user feature function referenced as ``_flight_features:add_features`` in the tests."""

from __future__ import annotations

import pandas as pd


def add_features(frame: pd.DataFrame) -> pd.DataFrame:
    """The hour of departure from an HHMM ``dep_time``, and the distance in kilometres."""
    return frame.assign(hour=frame["dep_time"] // 100, km=frame["distance"] * 1.609)


def not_a_frame(frame: pd.DataFrame) -> int:
    return len(frame)

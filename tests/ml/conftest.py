"""Seeded synthetic data for the model tests: small flights-like tables with a known signal."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

CARRIERS = ["AA", "B6", "DL", "UA", "WN"]


def flights(n: int = 800, seed: int = 0) -> pd.DataFrame:
    """Delays that depend on distance, carrier and hour; a train/eval ``split`` column."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "distance": rng.normal(1000.0, 300.0, n),
            "dep_hour": rng.integers(5, 23, n),
            "carrier": rng.choice(CARRIERS, n, p=[0.3, 0.25, 0.2, 0.15, 0.1]),
            "month": rng.integers(1, 13, n),
            "weekend": rng.random(n) < 2 / 7,
        }
    )
    logit = (
        (frame["distance"] - 1000.0) / 300.0
        + (frame["carrier"] == "AA") * 1.2
        + (frame["dep_hour"] - 14) / 6.0
        - 0.3
    )
    frame["delayed"] = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    frame["arr_delay"] = logit * 20.0 + rng.normal(0.0, 5.0, n)
    frame["cls"] = np.select([logit < -0.5, logit < 0.5], ["early", "on_time"], "late")
    frame["split"] = np.where(rng.random(n) < 0.8, "train", "eval")
    return frame


@pytest.fixture(scope="session")
def frame() -> pd.DataFrame:
    return flights()

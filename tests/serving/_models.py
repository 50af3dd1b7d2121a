"""Seeded models for the serving tests, registered in a real registry."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mloop.artifacts import ArtifactStore
from mloop.config import Settings
from mloop.registry import Registry

CARRIERS = ["AA", "B6", "DL", "UA"]


def flights(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "distance": rng.normal(1000.0, 300.0, n).round(1),
            "dep_hour": rng.integers(5, 23, n),
            "carrier": rng.choice(CARRIERS, n),
        }
    )
    logit = (frame["distance"] - 1000.0) / 300.0 + (frame["carrier"] == "AA") * 1.5 - 0.3
    frame["delayed"] = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    frame["split"] = np.where(rng.random(n) < 0.8, "train", "eval")
    return frame


def train(rounds: int, seed: int = 0):  # type: ignore[no-untyped-def]
    from mloop.ml import Transform, fit_lightgbm, training_data

    frame = flights(seed=seed)
    fitted = Transform(numeric=["distance", "dep_hour"], categorical=["carrier"]).fit(
        frame[frame["split"] == "train"]
    )
    prepared = training_data(frame, "delayed", transform=fitted)
    return fit_lightgbm(prepared, {"num_leaves": 4}, num_boost_round=rounds, seed=seed)


def register(settings: Settings, name: str, rounds: int, alias: str | None = None) -> int:
    """Train and register a version; move ``alias`` to it; the version number."""
    model = train(rounds)
    artifact = ArtifactStore.from_settings(settings).save(model, "Model")
    with Registry(settings) as registry:
        version = registry.register(name, artifact)
        if alias:
            registry.set_alias(name, alias, version.version)
        return version.version


def instances(n: int, seed: int = 1) -> list[dict[str, object]]:
    frame = flights(n, seed=seed)[["distance", "dep_hour", "carrier"]]
    return [
        {"distance": float(r.distance), "dep_hour": int(r.dep_hour), "carrier": str(r.carrier)}
        for r in frame.itertuples()
    ]

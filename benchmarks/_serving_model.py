"""The model ``serving.py`` serves, and the request bodies it sends — runs in mloop's venv.

A LightGBM classifier of "departure delayed by more than 15 minutes" on real nycflights13
rows, trained through ``mloop.ml`` exactly as a user would: a ``Transform`` (two numeric
columns scaled, three categorical ones one-hot) fitted on the training months,
``training_data`` and ``fit_lightgbm`` (100 trees of 31 leaves by default). It is
registered in a throw-away mloop home as ``flights-delay`` (alias ``champion``) and an
endpoint ``flights-delay`` is created on the alias with ``log_sample_rate = 1.0`` (every
request logged).

For the MLflow peer the same model is exported as plain files — the LightGBM booster's
text (the very file mloop stores) and the fitted transform's JSON
(``FittedTransform.to_dict()``) — which ``_serving_mlflow.py`` wraps in an MLflow pyfunc.

Request bodies are rows of a later month than any training row (December; training uses
January to September, evaluation October), in each server's wire format: Vertex-style
``{"instances": [{...}, ...]}`` for mloop and the ceiling, ``{"dataframe_records":
[{...}, ...]}`` for MLflow — the same rows in the same order, one body per line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODEL = "flights-delay"
ENDPOINT = "flights-delay"
FEATURES = ("distance", "dep_hour", "carrier", "origin", "dest")
NUMERIC = ("distance", "dep_hour")
CATEGORICAL = ("carrier", "origin", "dest")
TARGET = "delayed"
TRAIN_MONTHS = range(1, 10)  # January to September
EVAL_MONTH = 10
REQUEST_MONTH = 12


@dataclass
class Prepared:
    home: Path  # MLOOP_HOME of the registry and the endpoint
    uri: str  # models:/flights-delay/1
    booster: Path  # LightGBM text model
    transform: Path  # FittedTransform.to_dict() as JSON
    bodies: dict[tuple[str, int], Path]  # (format, batch) -> file of one JSON body per line
    info: dict[str, Any]


def flights() -> Any:
    """The flights with a known departure delay: features, label, month."""
    import numpy as np

    from mloop.datasets import nycflights13

    table = nycflights13("flights")
    frame = table.select(
        ["month", "distance", "hour", "carrier", "origin", "dest", "dep_delay"]
    ).to_pandas()
    frame = frame.rename(columns={"hour": "dep_hour"})
    frame = frame[frame["dep_delay"].notna()].reset_index(drop=True)
    frame[TARGET] = (frame["dep_delay"] > 15).astype(np.int64)
    return frame


def prepare(
    work: Path,
    *,
    trees: int = 100,
    leaves: int = 31,
    train_rows: int | None = None,
    batches: tuple[int, ...] = (1, 64),
    bodies_per_batch: int = 256,
    log_sample_rate: float = 1.0,
) -> Prepared:
    """Train, register, create the endpoint, export the MLflow files, write the bodies."""
    import time

    import numpy as np
    import pandas as pd

    from mloop.artifacts import ArtifactStore
    from mloop.config import load_settings
    from mloop.ml import Transform, fit_lightgbm, training_data
    from mloop.registry import Registry
    from mloop.serving import Deployment, Endpoints

    t0 = time.perf_counter()
    frame = flights()
    train = frame[frame["month"].isin(list(TRAIN_MONTHS))]
    if train_rows is not None:
        train = train.sample(n=min(train_rows, len(train)), random_state=0)
    evaluation = frame[frame["month"] == EVAL_MONTH]
    data = pd.concat([train.assign(split="train"), evaluation.assign(split="eval")])
    data = data[[*FEATURES, TARGET, "split"]].reset_index(drop=True)
    fitted = Transform(numeric=list(NUMERIC), categorical=list(CATEGORICAL)).fit(
        data[data["split"] == "train"]
    )
    prepared = training_data(data, TARGET, transform=fitted)
    model = fit_lightgbm(prepared, {"num_leaves": leaves}, num_boost_round=trees, seed=0)
    train_s = time.perf_counter() - t0

    home = work / "mloop-home"
    settings = load_settings(home=home)
    artifact = ArtifactStore.from_settings(settings).save(model, "Model")
    with Registry(settings) as registry:
        version = registry.register(MODEL, artifact)
        registry.set_alias(MODEL, "champion", version.version)
    with Endpoints(settings) as endpoints:
        endpoints.create(
            ENDPOINT,
            [Deployment(f"models:/{MODEL}@champion")],
            log_sample_rate=log_sample_rate,
        )
    uri = f"models:/{MODEL}/{version.version}"

    # The MLflow peer's inputs: the same booster text and the same fitted transform.
    exported = work / "export"
    exported.mkdir(parents=True, exist_ok=True)
    booster = exported / "model.txt"
    booster.write_text(model.estimator.model_to_string())
    transform = exported / "transform.json"
    transform.write_text(json.dumps(fitted.to_dict(), indent=1))
    assert model.feature_columns == fitted.output_columns

    # Request bodies: December rows (never seen in training), shuffled, as plain JSON values.
    rows_frame = frame[frame["month"] == REQUEST_MONTH][list(FEATURES)]
    rows_frame = rows_frame.sample(frac=1.0, random_state=1).reset_index(drop=True)
    rows = [
        {
            "distance": int(r.distance),
            "dep_hour": int(r.dep_hour),
            "carrier": str(r.carrier),
            "origin": str(r.origin),
            "dest": str(r.dest),
        }
        for r in rows_frame.itertuples()
    ]
    bodies: dict[tuple[str, int], Path] = {}
    (work / "bodies").mkdir(exist_ok=True)
    for batch in batches:
        count = min(bodies_per_batch, len(rows) // batch)
        groups = [rows[i * batch : (i + 1) * batch] for i in range(count)]
        for fmt, key in (("vertex", "instances"), ("mlflow", "dataframe_records")):
            path = work / "bodies" / f"{fmt}-{batch}.jsonl"
            with path.open("w") as f:
                for group in groups:
                    f.write(json.dumps({key: group}, separators=(",", ":")) + "\n")
            bodies[(fmt, batch)] = path
    info = {
        "train_rows": int((data["split"] == "train").sum()),
        "eval_rows": int((data["split"] == "eval").sum()),
        "request_rows_available": len(rows),
        "features_in": list(FEATURES),
        "features_out": len(fitted.output_columns),
        "trees": int(model.estimator.num_trees()),
        "num_leaves": leaves,
        "positive_rate_train": round(float(np.mean(prepared.labels)), 4),
        "train_s": round(train_s, 2),
        "model_uri": uri,
        "endpoint": ENDPOINT,
        "log_sample_rate": log_sample_rate,
    }
    return Prepared(home, uri, booster, transform, bodies, info)


def reference_predictions(home: Path, uri: str, body_file: Path, n: int) -> list[list[Any]]:
    """``PackagedModel.predict`` of the first ``n`` bodies of ``body_file`` (Vertex format)."""
    import pandas as pd

    from mloop.config import load_settings
    from mloop.registry import load

    model = load(uri, load_settings(home=home))
    out = []
    with body_file.open() as f:
        for _, line in zip(range(n), f, strict=False):
            instances = json.loads(line)["instances"]
            out.append(model.predict(pd.DataFrame(instances)).tolist())
    return out

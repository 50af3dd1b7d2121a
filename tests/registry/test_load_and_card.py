"""Loading registered models (real ``PackagedModel`` s) and their model cards, from a real
pipeline run: data → statistics → train → evaluate → push."""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

import mloop
from mloop import Blessing, Dataset, Metrics, Model, component, pipeline
from mloop.components import push, statistics
from mloop.config import Settings
from mloop.errors import ArtifactCorrupted, ConflictError, MaterializerError
from mloop.ml import PackagedModel, SignatureError
from mloop.registry import Registry, load
from mloop.store._models import model_versions

NAME = "flights-delay"


@component
def flights(rows: int = 600, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "distance": rng.normal(800.0, 300.0, rows),
            "carrier": rng.choice(["AA", "UA", "DL"], rows),
        }
    )
    frame["delayed"] = ((frame["distance"] > 800) ^ (rng.random(rows) < 0.1)).astype("int64")
    frame["split"] = np.where(rng.random(rows) < 0.8, "train", "eval")
    return frame  # type: ignore[return-value]  # stored as the Dataset artifact


@component
def train(data: Dataset) -> Model:
    from mloop.ml import Transform, fit_sklearn, training_data

    frame = data.to_pandas()
    transform = Transform(numeric=["distance"], categorical=["carrier"]).fit(
        frame[frame["split"] == "train"]
    )
    prepared = training_data(frame, "delayed", transform=transform)
    return fit_sklearn(prepared, "sklearn.linear_model.LogisticRegression")  # type: ignore[return-value]


class Evaluation(NamedTuple):
    metrics: Metrics
    blessing: Blessing


@component(name="evaluate")
def evaluate_model(model: Model, data: Dataset) -> Evaluation:
    from mloop.ml import classification_metrics, sliced_metrics

    packaged = model.load()
    rows = data.split("eval").to_pandas()
    scores = packaged.predict_proba(rows)[:, 1]
    y = rows["delayed"].to_numpy()
    overall = classification_metrics(y, scores, packaged.classes)
    slices = sliced_metrics(
        rows, y, scores, slices=["carrier"], task="classification", classes=packaged.classes
    )
    blessing = {"blessed": True, "reasons": ["first model"], "baseline": None}
    return Evaluation({"overall": overall, "slices": slices}, blessing)  # type: ignore[arg-type]


@pipeline(name="flights-training")
def flights_training(rows: int = 600) -> None:
    data = flights(rows=rows)
    statistics(data)
    model = train(data)
    verdict = evaluate_model(model, data)
    push(model, name=NAME, blessing=verdict.blessing)


@pytest.fixture
def trained(settings: Settings) -> str:
    """The id of a run that trained, evaluated and pushed v1 @champion."""
    result = mloop.run(flights_training, settings=settings, executor="inline")
    assert result.output("push", "pushed") is True
    return result.id


def test_load_returns_a_model_ready_to_predict(
    trained: str, registry: Registry, settings: Settings
) -> None:
    model = registry.load(f"models:/{NAME}@champion")
    assert isinstance(model, PackagedModel)
    assert (model.flavor, model.task, model.target, model.classes) == (
        "sklearn",
        "classification",
        "delayed",
        [0, 1],
    )
    rows = pd.DataFrame({"distance": [100.0, 2000.0], "carrier": ["AA", "UA"]})
    assert model.predict(rows).tolist() == [0, 1]
    again = load(f"models:/{NAME}/1", settings)
    assert again.predict(rows).tolist() == [0, 1]
    with pytest.raises(SignatureError, match="column 'carrier': missing"):
        model.predict(rows.drop(columns=["carrier"]))

    version = registry.resolve(f"models:/{NAME}@champion")
    assert version.signature == model.signature.to_dict()  # type: ignore[union-attr]
    assert version.run_id == trained


def test_a_corrupted_model_file_is_a_clear_error(trained: str, registry: Registry) -> None:
    version = registry.resolve(f"models:/{NAME}@champion")
    directory = Path(registry.artifact(version).uri)
    estimator = next((directory / "estimator").iterdir())
    estimator.write_bytes(estimator.read_bytes()[:100])
    with pytest.raises(ArtifactCorrupted, match=f"model '{NAME}' v1 cannot be loaded") as info:
        registry.load(f"models:/{NAME}@champion")
    assert info.value.fields["model"] == NAME and info.value.fields["version"] == 1


def test_a_signature_that_is_not_the_registered_one_is_refused(
    trained: str, registry: Registry, settings: Settings
) -> None:
    engine = sa.create_engine(settings.resolved_metadata_url)
    with engine.begin() as conn:
        conn.execute(
            sa.update(model_versions).values(
                signature={"inputs": [{"name": "distance", "type": "float64"}]}
            )
        )
    engine.dispose()
    with pytest.raises(ConflictError, match=r"signature .* is not the registered one"):
        registry.load(f"models:/{NAME}/1")


def test_a_model_artifact_that_is_not_a_packaged_model(registry: Registry) -> None:
    saved = registry.artifacts.save({"weights": [1]}, "Model", materializer="json")
    registry.register("plain", saved)  # type: ignore[arg-type]
    with pytest.raises(MaterializerError, match="holds a dict, not a packaged model"):
        registry.load("models:/plain/1")


def test_model_card_markdown(trained: str, registry: Registry) -> None:
    card = registry.card(NAME, "champion")
    assert card.startswith(f"# Model card: {NAME} v1\n")
    assert "| aliases | @champion |" in card
    assert f"| run | {trained} |" in card
    assert "| distance | float64 |" in card and "| carrier | string |" in card
    assert "| flavor | sklearn |" in card and "| task | classification |" in card
    assert "| target | delayed |" in card
    assert "| solver | lbfgs |" in card  # the training parameters
    assert "From the evaluate step of run" in card
    assert "| roc_auc |" in card
    assert "| carrier=AA |" in card  # per-slice metrics
    assert "Blessing: blessed (first model)" in card
    assert "`data`: Dataset #" in card and "600 rows" in card and "eval" in card
    assert "features from Statistics #" in card
    assert "| carrier | categorical |" in card and "3 values: " in card
    assert "| distance | numeric | double |" in card
    assert "calibration" not in card  # curves stay in the Metrics artifact
    for step in ("flights", "train"):
        assert f"| {step} | {step} | {trained} |" in card
    assert card == registry.card(NAME, 1) == registry.card(NAME)


def test_model_card_html(trained: str, registry: Registry) -> None:
    html = registry.card(NAME, 1, format="html")
    assert html.startswith("<!DOCTYPE html>") and "<script" not in html
    assert f"<title>Model card: {NAME} v1</title>" in html
    assert "@champion" in html and "roc_auc" in html and "carrier=AA" in html


def test_card_of_a_model_without_lineage(registry: Registry) -> None:
    saved = registry.artifacts.save({"weights": [1]}, "Model", materializer="json")
    registry.register("plain", saved, metrics={"rmse": 1.5}, description="hand made")  # type: ignore[arg-type]
    card = registry.card("plain")
    assert "No training dataset found" in card and "no lineage" in card
    assert "| rmse | 1.5 |" in card and "hand made" in card


def test_client_resolves_registry_references(trained: str, settings: Settings) -> None:
    client = mloop.Client(settings)
    record = client.resolve(f"models:/{NAME}@champion")
    assert record.type == "Model"
    graph = client.lineage("artifact", record.id)
    assert {e.step for e in graph.executions.values()} == {"flights", "train"}
    assert json.loads(json.dumps(record.properties))["flavor"] == "sklearn"

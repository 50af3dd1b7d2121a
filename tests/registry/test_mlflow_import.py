"""Importing MLflow model directories, written here exactly as MLflow writes them (``MLmodel``
YAML beside the native or pickled model file; MLflow itself is not installed)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from mloop.errors import DefinitionError, NotFoundError
from mloop.ml import ModelLoadError, UnsupportedModelError, UntrustedModelError
from mloop.registry import Registry

RUN_ID = "1b117ece479c47aca912feb75bc55b0a"
UUID = "af380c2cbc4844b1b31cc4a40c085c43"
COLUMNS = ["distance", "dep_hour"]
ENV = {"conda": "conda.yaml", "virtualenv": "python_env.yaml"}


def frame(rows: int = 300, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {"distance": rng.normal(800, 300, rows), "dep_hour": rng.integers(5, 23, rows)}
    )
    X["dep_hour"] = X["dep_hour"].astype("float64")
    y = ((X["distance"] > 800) ^ (X["dep_hour"] > 18)).astype("int64").to_numpy()
    return X, y


def write_mlmodel(directory: Path, flavors: dict[str, Any], signature: bool = True) -> None:
    """``MLmodel`` as MLflow 2.x saves it (signature parts are JSON strings in the YAML)."""
    document: dict[str, Any] = {
        "artifact_path": "model",
        "flavors": flavors,
        "mlflow_version": "2.16.2",
        "model_size_bytes": 12345,
        "model_uuid": UUID,
        "run_id": RUN_ID,
        "utc_time_created": "2024-10-01 12:00:00.000000",
    }
    if signature:
        document["signature"] = {
            "inputs": json.dumps(
                [{"type": "double", "name": c, "required": True} for c in COLUMNS]
            ),
            "outputs": json.dumps([{"type": "long", "required": True}]),
            "params": None,
        }
    (directory / "MLmodel").write_text(yaml.safe_dump(document, default_flow_style=False))
    (directory / "conda.yaml").write_text("name: mlflow-env\ndependencies: [python=3.11]\n")
    (directory / "python_env.yaml").write_text("python: 3.11.7\n")
    (directory / "requirements.txt").write_text("mlflow==2.16.2\n")


@pytest.fixture
def sklearn_dir(tmp_path: Path) -> tuple[Path, Any]:
    import cloudpickle
    from sklearn.linear_model import LogisticRegression

    X, y = frame()
    model = LogisticRegression().fit(X, y)
    directory = tmp_path / "sklearn_model"
    directory.mkdir()
    (directory / "model.pkl").write_bytes(cloudpickle.dumps(model))
    write_mlmodel(
        directory,
        {
            "python_function": {
                "env": ENV,
                "loader_module": "mlflow.sklearn",
                "model_path": "model.pkl",
                "predict_fn": "predict",
                "python_version": "3.11.7",
            },
            "sklearn": {
                "code": None,
                "pickled_model": "model.pkl",
                "serialization_format": "cloudpickle",
                "sklearn_version": "1.5.2",
            },
        },
    )
    return directory, model


@pytest.fixture
def lightgbm_dir(tmp_path: Path) -> tuple[Path, Any]:
    import lightgbm as lgb

    X, y = frame()
    booster = lgb.train(
        {"objective": "binary", "verbosity": -1, "num_threads": 1},
        lgb.Dataset(X, label=y),
        num_boost_round=10,
    )
    directory = tmp_path / "lightgbm_model"
    directory.mkdir()
    booster.save_model(str(directory / "model.lgb"))
    write_mlmodel(
        directory,
        {
            "lightgbm": {
                "code": None,
                "data": "model.lgb",
                "lgb_version": "4.5.0",
                "model_class": "lightgbm.basic.Booster",
            },
            "python_function": {
                "data": "model.lgb",
                "env": ENV,
                "loader_module": "mlflow.lightgbm",
                "python_version": "3.11.7",
            },
        },
    )
    return directory, booster


def test_a_pickled_sklearn_model_needs_trust(
    registry: Registry, sklearn_dir: tuple[Path, Any]
) -> None:
    directory, model = sklearn_dir
    with pytest.raises(UntrustedModelError, match="unpickling runs whatever code") as info:
        registry.import_mlflow(directory, "delays")
    assert "trust_pickle=True" in info.value.message
    assert info.value.http_status == 422
    assert registry.list_models() == []  # nothing registered, nothing half-written

    version = registry.import_mlflow(directory, "delays", trust_pickle=True, actor="importer")
    assert (version.version, version.source, version.created_by) == (1, "mlflow", "importer")
    assert version.tags["mlflow.run_id"] == RUN_ID
    assert version.tags["mlflow.model_uuid"] == UUID
    assert version.tags["mlflow.flavor"] == "sklearn"
    assert version.signature["inputs"] == [
        {"name": "distance", "type": "float64"},
        {"name": "dep_hour", "type": "float64"},
    ]
    loaded = registry.load("models:/delays/1")
    assert loaded.flavor == "sklearn" and loaded.task == "classification"
    X, _ = frame(50, seed=1)
    assert loaded.predict(X).tolist() == model.predict(X).tolist()
    # Re-saved natively: the artifact holds a skops file, no pickle.
    files = {p.name for p in Path(registry.artifact(version).uri).rglob("*")}
    assert "model.skops" in files and "model.pkl" not in files


def test_a_native_lightgbm_model_imports_without_trust(
    registry: Registry, lightgbm_dir: tuple[Path, Any]
) -> None:
    directory, booster = lightgbm_dir
    version = registry.import_mlflow(directory / "MLmodel", "delays-lgb")
    assert version.tags["mlflow.flavor"] == "lightgbm"
    loaded = registry.load("models:/delays-lgb/latest")
    assert (loaded.flavor, loaded.task, loaded.classes) == ("lightgbm", "classification", [0, 1])
    X, _ = frame(50, seed=2)
    expected = (booster.predict(X) >= 0.5).astype(int)
    assert loaded.predict(X).tolist() == expected.tolist()
    np.testing.assert_allclose(loaded.predict_proba(X)[:, 1], booster.predict(X))


def test_a_native_xgboost_model(registry: Registry, tmp_path: Path) -> None:
    import xgboost as xgb

    X, y = frame()
    model = xgb.XGBClassifier(n_estimators=5, max_depth=2).fit(X, y)
    directory = tmp_path / "xgb_model"
    directory.mkdir()
    (directory / "model.xgb").write_bytes(bytes(model.get_booster().save_raw("ubj")))
    write_mlmodel(
        directory,
        {
            "python_function": {"data": "model.xgb", "env": ENV, "loader_module": "mlflow.xgboost"},
            "xgboost": {
                "code": None,
                "data": "model.xgb",
                "model_class": "xgboost.sklearn.XGBClassifier",
                "model_format": "xgb",
                "xgb_version": "2.1.1",
            },
        },
        signature=False,  # no signature: the columns come from the model
    )
    version = registry.import_mlflow(directory, "delays-xgb")
    assert version.signature["inputs"] == [
        {"name": "distance", "type": "any"},
        {"name": "dep_hour", "type": "any"},
    ]
    loaded = registry.load("models:/delays-xgb/1")
    sample, _ = frame(40, seed=3)
    assert loaded.predict(sample).tolist() == model.predict(sample).tolist()


def test_a_pyfunc_of_a_known_flavor(registry: Registry, sklearn_dir: tuple[Path, Any]) -> None:
    directory, model = sklearn_dir
    document = yaml.safe_load((directory / "MLmodel").read_text())
    del document["flavors"]["sklearn"]  # only the python_function flavor is left
    (directory / "MLmodel").write_text(yaml.safe_dump(document))
    with pytest.raises(UntrustedModelError):
        registry.import_mlflow(directory, "pyfunc")
    version = registry.import_mlflow(directory, "pyfunc", trust_pickle=True)
    assert version.tags["mlflow.flavor"] == "sklearn"
    X, _ = frame(20, seed=4)
    assert registry.load("models:/pyfunc/1").predict(X).tolist() == model.predict(X).tolist()


def test_a_custom_pyfunc_is_refused(registry: Registry, tmp_path: Path) -> None:
    directory = tmp_path / "custom"
    directory.mkdir()
    (directory / "python_model.pkl").write_bytes(pickle.dumps({"not": "run"}))
    write_mlmodel(
        directory,
        {
            "python_function": {
                "cloudpickle_version": "3.0.0",
                "code": None,
                "env": ENV,
                "loader_module": "mlflow.pyfunc.model",
                "python_model": "python_model.pkl",
                "python_version": "3.11.7",
            }
        },
    )
    for trust in (False, True):
        with pytest.raises(UnsupportedModelError, match="custom MLflow pyfunc model"):
            registry.import_mlflow(directory, "custom", trust_pickle=trust)
    assert registry.list_models() == []


def test_bad_mlflow_directories(registry: Registry, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="does not exist"):
        registry.import_mlflow(tmp_path / "missing", "m")
    with pytest.raises(DefinitionError, match="has no MLmodel file"):
        registry.import_mlflow(tmp_path, "m")
    (tmp_path / "MLmodel").write_text("flavors:\n  lightgbm:\n    data: model.lgb\n")
    with pytest.raises(NotFoundError, match=r"has no file model\.lgb"):
        registry.import_mlflow(tmp_path, "m")
    (tmp_path / "model.lgb").write_text("tree\nversion=v4\ntruncated")
    with pytest.raises(ModelLoadError, match="not a complete LightGBM text model"):
        registry.import_mlflow(tmp_path, "m")
    (tmp_path / "MLmodel").write_text("flavors:\n  pytorch:\n    model_data: data\n")
    with pytest.raises(UnsupportedModelError, match="flavors pytorch"):
        registry.import_mlflow(tmp_path, "m")
    assert registry.list_models() == []


def test_a_skops_sklearn_model_imports_without_trust(registry: Registry, tmp_path: Path) -> None:
    import skops.io
    from sklearn.tree import DecisionTreeClassifier

    X, y = frame()
    model = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)
    directory = tmp_path / "skops_model"
    directory.mkdir()
    skops.io.dump(model, directory / "model.skops")
    write_mlmodel(
        directory,
        {
            "python_function": {
                "env": ENV,
                "loader_module": "mlflow.sklearn",
                "model_path": "model.skops",
            },
            "sklearn": {
                "code": None,
                "pickled_model": "model.skops",
                "serialization_format": "skops",
                "skops_trusted_types": [],
                "sklearn_version": "1.7.0",
            },
        },
    )
    version = registry.import_mlflow(directory, "tree")
    sample, _ = frame(30, seed=5)
    assert registry.load(version.uri).predict(sample).tolist() == model.predict(sample).tolist()


REAL = Path(__file__).parent.parent / "fixtures" / "mlflow"


@pytest.mark.skipif(not (REAL / "expected.json").exists(), reason="no real MLflow fixtures")
def test_directories_written_by_a_real_mlflow(registry: Registry) -> None:
    """Models saved by MLflow itself (see expected.json for how), and their exact outputs."""
    expected = json.loads((REAL / "expected.json").read_text())
    rows = pd.DataFrame(expected["inputs"])

    sklearn = registry.import_mlflow(REAL / "sklearn", "real-sklearn", trust_pickle=True)
    model = registry.load(sklearn.uri)
    assert model.predict(rows).tolist() == expected["sklearn"]["predict"]
    np.testing.assert_allclose(
        model.predict_proba(rows)[:, 1], expected["sklearn"]["predict_proba_1"], rtol=1e-12
    )
    written = yaml.safe_load((REAL / "sklearn" / "MLmodel").read_text())
    assert sklearn.tags["mlflow.model_uuid"] == written["model_uuid"]
    assert [c["name"] for c in sklearn.signature["inputs"]] == ["x1", "x2"]

    lightgbm = registry.import_mlflow(REAL / "lightgbm", "real-lightgbm")
    scores = registry.load(lightgbm.uri).predict_proba(rows)[:, 1]
    np.testing.assert_allclose(scores, expected["lightgbm"]["predict"], rtol=1e-12)

    with pytest.raises(UnsupportedModelError, match="custom MLflow pyfunc"):
        registry.import_mlflow(REAL / "custom_pyfunc", "real-custom", trust_pickle=True)

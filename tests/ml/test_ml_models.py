"""Packaged models of every flavor: exact round trips, safe loading, clear failures."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mloop.artifacts import ArtifactStore, Model
from mloop.errors import MaterializerError
from mloop.ml import (
    ModelLoadError,
    PackagedModel,
    Signature,
    SignatureError,
    UnsupportedModelError,
    UntrustedModelError,
    get_flavor,
)

FEATURES = ["distance", "dep_hour", "weekend"]

ESTIMATORS: dict[str, tuple[str, Callable[[], Any]]] = {
    "sklearn-classifier": ("sklearn", lambda: HistGradientBoostingClassifier(max_iter=10)),
    "sklearn-regressor": ("sklearn", lambda: RandomForestRegressor(n_estimators=5, max_depth=4)),
    "sklearn-pipeline": (
        "sklearn",
        lambda: make_pipeline(StandardScaler(), LogisticRegression()),
    ),
    "lightgbm-classifier": (
        "lightgbm",
        lambda: lgb.LGBMClassifier(n_estimators=10, num_threads=1, verbosity=-1),
    ),
    "lightgbm-regressor": (
        "lightgbm",
        lambda: lgb.LGBMRegressor(n_estimators=10, num_threads=1, verbosity=-1),
    ),
    "xgboost-classifier": ("xgboost", lambda: xgb.XGBClassifier(n_estimators=10, n_jobs=1)),
    "xgboost-regressor": ("xgboost", lambda: xgb.XGBRegressor(n_estimators=10, n_jobs=1)),
}


class Custom(ClassifierMixin, BaseEstimator):
    """An estimator skops does not know: loading it must be refused unless trusted."""

    def fit(self, X: Any, y: Any) -> Custom:
        self.classes_ = np.unique(y)
        self.rate_ = float(np.mean(y))
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        p = np.full(len(X), self.rate_)
        return np.column_stack([1 - p, p])

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[(self.predict_proba(X)[:, 1] > 0.5).astype(int)]


def _fit(name: str, frame: pd.DataFrame) -> tuple[Any, str]:
    flavor, make = ESTIMATORS[name]
    estimator = make()
    X = frame[FEATURES].astype(np.float64)
    target = "arr_delay" if name.endswith("regressor") else "delayed"
    estimator.fit(X, frame[target])
    return estimator, flavor


def _package(name: str, frame: pd.DataFrame) -> tuple[PackagedModel, Any]:
    estimator, _ = _fit(name, frame)
    target = "arr_delay" if name.endswith("regressor") else "delayed"
    model = PackagedModel(
        estimator,
        signature=Signature.infer(frame[FEATURES], outputs=frame[target]),
        target=target,
        params={"seed": np.int64(0)},
    )
    return model, estimator


def _outputs(model: PackagedModel, data: Any) -> list[np.ndarray]:
    found = [model.predict(data)]
    if model.task == "classification":
        found.append(model.predict_proba(data))
    return found


def _assert_same(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_round_trip_predicts_exactly_the_same(
    name: str, frame: pd.DataFrame, tmp_path: Path
) -> None:
    model, estimator = _package(name, frame)
    assert model.flavor == ESTIMATORS[name][0]
    expected_task = "regression" if name.endswith("regressor") else "classification"
    assert model.task == expected_task
    rows = frame.drop(columns=["delayed", "arr_delay"])
    before = _outputs(model, rows)
    # the packaged model predicts what the estimator itself predicts
    X = frame[FEATURES].astype(np.float64)
    if expected_task == "classification":
        assert model.classes == [0, 1]
        np.testing.assert_allclose(before[1], estimator.predict_proba(X), rtol=1e-6)
        np.testing.assert_array_equal(before[0], estimator.predict(X))
    else:
        np.testing.assert_allclose(before[0], estimator.predict(X), rtol=1e-5)

    model.save(tmp_path / "model")
    document = json.loads((tmp_path / "model" / "model.json").read_text())
    assert document["format"] == "mloop.model/v1"
    assert document["flavor"] == model.flavor
    assert document["params"] == {"seed": 0}
    assert (tmp_path / "model" / document["estimator"]["file"]).is_file()
    loaded = PackagedModel.load(tmp_path / "model")
    assert (loaded.task, loaded.target, loaded.classes) == (model.task, model.target, model.classes)
    assert loaded.signature == model.signature
    _assert_same(_outputs(loaded, rows), before)
    # row dicts and Arrow tables predict the same as the DataFrame
    _assert_same(_outputs(loaded, rows.head(20).to_dict("records")), [o[:20] for o in before])


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_round_trip_through_the_artifact_store(
    name: str, frame: pd.DataFrame, tmp_path: Path
) -> None:
    model, estimator = _package(name, frame)
    store = ArtifactStore(str(tmp_path / "artifacts"))
    artifact = store.save(model, "Model")
    assert artifact.properties["materializer"] == "model"
    assert artifact.properties["flavor"] == model.flavor
    assert artifact.properties["target"] == model.target
    assert artifact.properties["signature"] == model.signature.to_dict()  # type: ignore[union-attr]
    loaded = artifact.load()
    assert isinstance(loaded, PackagedModel)
    _assert_same(_outputs(loaded, frame), _outputs(model, frame))
    # saving the same model again is the same artifact: identical bytes
    assert store.save(model, "Model").fingerprint == artifact.fingerprint
    # a bare estimator is packaged as it is, and loads as its native object too
    bare = store.save(estimator, Model)
    assert bare.properties["materializer"] == "model"
    native = bare.load(type(loaded.estimator))
    assert isinstance(native, type(loaded.estimator))


def test_a_model_artifact_loads_in_a_fresh_process(frame: pd.DataFrame, tmp_path: Path) -> None:
    model, _ = _package("lightgbm-classifier", frame)
    artifact = ArtifactStore(str(tmp_path)).save(model, Model)
    rows = frame[FEATURES].head(10)
    code = (
        "import json, sys, pandas as pd\n"
        "from mloop.artifacts import ArtifactStore, Model\n"
        "uri, fingerprint, rows = json.loads(sys.stdin.read())\n"
        "store = ArtifactStore(sys.argv[1])\n"
        "model = Model(uri, fingerprint, {'materializer': 'model'}, store=store).load()\n"
        "print(json.dumps([type(model).__module__, model.predict_proba(pd.DataFrame(rows))"
        ".tolist()]))\n"
    )
    request = json.dumps([artifact.uri, artifact.fingerprint, rows.to_dict("list")])
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        input=request,
        capture_output=True,
        text=True,
        check=True,
    )
    module, proba = json.loads(out.stdout)
    assert module == "mloop.ml._packaged"
    np.testing.assert_array_equal(np.array(proba), model.predict_proba(rows))


def test_saving_twice_gives_identical_bytes(frame: pd.DataFrame, tmp_path: Path) -> None:
    for name in ESTIMATORS:
        model, _ = _package(name, frame)
        first, second = tmp_path / f"{name}-1", tmp_path / f"{name}-2"
        model.save(first)
        model.save(second)
        for path in sorted(p for p in first.rglob("*") if p.is_file()):
            twin = second / path.relative_to(first)
            assert path.read_bytes() == twin.read_bytes(), f"{name}: {path.name} differs"


def test_untrusted_sklearn_types_are_refused_unless_trusted(
    frame: pd.DataFrame, tmp_path: Path
) -> None:
    custom = Custom().fit(frame[FEATURES], frame["delayed"])
    PackagedModel(custom).save(tmp_path / "custom")
    with pytest.raises(UntrustedModelError) as info:
        PackagedModel.load(tmp_path / "custom")
    qualified = f"{Custom.__module__}.Custom"
    assert info.value.http_status == 422
    assert info.value.fields["untrusted"] == [qualified]
    assert qualified in str(info.value) and "trusted=" in str(info.value)
    # through the store the same error comes out, with the artifact named
    artifact = ArtifactStore(str(tmp_path / "store")).save(custom, Model)
    with pytest.raises(UntrustedModelError) as through_store:
        artifact.load()
    assert through_store.value.fields["artifact"] == artifact.uri
    loaded = PackagedModel.load(tmp_path / "custom", trusted=[qualified])
    np.testing.assert_array_equal(loaded.predict(frame[FEATURES]), custom.predict(frame))


def test_pickle_only_when_asked_and_loads_only_when_trusted(
    frame: pd.DataFrame, tmp_path: Path
) -> None:
    with pytest.raises(UnsupportedModelError) as info:
        PackagedModel(object())
    assert "builtins.object" in str(info.value)
    assert "lightgbm, xgboost, sklearn" in str(info.value) and "pickle" in str(info.value)
    custom = Custom().fit(frame[FEATURES], frame["delayed"])
    PackagedModel(custom, flavor="pickle", task="classification").save(tmp_path / "p")
    assert (tmp_path / "p" / "estimator" / "model.pkl").is_file()
    with pytest.raises(UntrustedModelError, match="trust_pickle=True"):
        PackagedModel.load(tmp_path / "p")
    loaded = PackagedModel.load(tmp_path / "p", trust_pickle=True)
    np.testing.assert_array_equal(loaded.predict_proba(frame), custom.predict_proba(frame))


@pytest.mark.parametrize(
    ("name", "filename"),
    [
        ("lightgbm-classifier", "model.txt"),
        ("xgboost-classifier", "model.ubj"),
        ("sklearn-classifier", "model.skops"),
    ],
)
def test_corrupted_estimator_files_are_clear_errors(
    name: str, filename: str, frame: pd.DataFrame, tmp_path: Path
) -> None:
    model, _ = _package(name, frame)
    directory = model.save(tmp_path / "m")
    path = directory / "estimator" / filename
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError) as info:
        PackagedModel.load(directory)
    assert filename in str(info.value) and "corrupted" in str(info.value)
    assert info.value.fields["flavor"] == model.flavor
    # the flavor itself, without model.json's checksum, fails cleanly on the same bytes
    flavor = get_flavor(model.flavor)
    for damaged in (data[: len(data) // 2], b"garbage \x00\x01 not a model"):
        path.write_bytes(damaged)
        with pytest.raises(ModelLoadError) as direct:
            flavor.load(path, trusted=None, trust_pickle=False)
        assert str(path) in str(direct.value) and model.flavor in str(direct.value)


def test_unknown_format_and_missing_files_are_clear_errors(
    frame: pd.DataFrame, tmp_path: Path
) -> None:
    model, _ = _package("lightgbm-regressor", frame)
    directory = model.save(tmp_path / "m")
    document = json.loads((directory / "model.json").read_text())
    (directory / "model.json").write_text(json.dumps({**document, "format": "mloop.model/v2"}))
    with pytest.raises(ModelLoadError, match=r"mloop.model/v2.*newer mloop"):
        PackagedModel.load(directory)
    (directory / "model.json").write_text(json.dumps(document))
    (directory / "estimator" / "model.txt").unlink()
    with pytest.raises(ModelLoadError, match=r"estimator file .*model\.txt of model .* is missing"):
        PackagedModel.load(directory)
    with pytest.raises(ModelLoadError, match=r"has no model\.json"):
        PackagedModel.load(tmp_path / "nothing")


def test_predict_checks_the_signature(frame: pd.DataFrame) -> None:
    model, _ = _package("xgboost-classifier", frame)
    with pytest.raises(SignatureError) as info:
        model.predict(frame.drop(columns=["dep_hour"]))
    assert info.value.column == "dep_hour" and "missing" in str(info.value)
    with pytest.raises(SignatureError, match="column 'distance': expected float64, got string"):
        model.predict(frame.assign(distance="far"))


def test_wrong_as_type_names_what_a_model_loads_as(frame: pd.DataFrame, tmp_path: Path) -> None:
    model, _ = _package("lightgbm-classifier", frame)
    artifact = ArtifactStore(str(tmp_path)).save(model, Model)
    with pytest.raises(MaterializerError, match="PackagedModel or as their estimator"):
        artifact.load(dict)


def test_multiclass_boosters_give_probability_matrices(frame: pd.DataFrame, tmp_path: Path) -> None:
    X = frame[FEATURES].astype(np.float64)
    for estimator in (
        lgb.LGBMClassifier(n_estimators=5, num_threads=1, verbosity=-1),
        xgb.XGBClassifier(n_estimators=5, n_jobs=1),
    ):
        codes = pd.Categorical(frame["cls"]).codes
        estimator.fit(X, codes)
        model = PackagedModel(estimator, classes=["early", "late", "on_time"])
        proba = model.predict_proba(X)
        assert proba.shape == (len(X), 3)
        np.testing.assert_allclose(proba, estimator.predict_proba(X), rtol=1e-6)
        labels = model.predict(X)
        assert set(labels) <= {"early", "late", "on_time"}
        loaded = PackagedModel.load(model.save(tmp_path / model.flavor))
        np.testing.assert_array_equal(loaded.predict_proba(X), proba)
        np.testing.assert_array_equal(loaded.predict(X), labels)

"""Real MLflow model directories, saved by MLflow itself, as test fixtures for an importer.

Run with the MLflow peer venv (``benchmarks/setup_peers.sh mlflow``), from the repo root:

    benchmarks/.peers/mlflow/bin/python benchmarks/make_mlflow_fixtures.py

Writes, replacing what is there:

- ``tests/fixtures/mlflow/sklearn/``: ``mlflow.sklearn.save_model`` of a
  ``LogisticRegression`` (MLflow's default serialization: cloudpickle, ``model.pkl``);
- ``tests/fixtures/mlflow/lightgbm/``: ``mlflow.lightgbm.save_model`` of a
  ``lightgbm.Booster`` with 3 trees (native text format, ``model.lgb``);
- ``tests/fixtures/mlflow/custom_pyfunc/``: ``mlflow.pyfunc.save_model`` of a tiny custom
  ``PythonModel`` (cloudpickled ``python_model.pkl``: code, not a supported flavor);
- ``tests/fixtures/mlflow/expected.json``: the inputs and the exact outputs of each model,
  computed in this process from the objects that were saved (sklearn ``predict_proba[:, 1]``
  and ``predict``; the booster's ``predict``, i.e. probabilities; the custom model's
  ``predict``), plus the same inputs through ``mlflow.pyfunc.load_model(dir).predict`` — what
  MLflow itself serves. Floats are written with ``repr`` precision (exact round trip).

Every model has a signature from ``mlflow.models.infer_signature`` (inputs ``x1``, ``x2``:
double). Training data: 50 rows of seeded synthetic data, 2 float features, binary target.
MLflow's files are kept exactly as written (``MLmodel``, ``conda.yaml``,
``python_env.yaml``, ``requirements.txt``, the model file); they carry a creation time and a
model UUID, so a re-run changes them.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "mlflow"
SEED = 20261122
N_TRAIN = 50
N_INPUTS = 12

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
for _key in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
    os.environ.pop(_key, None)
# Some save/load paths touch the tracking store: keep it out of the working directory (the
# default would create ./mlruns).
_TRACKING = tempfile.mkdtemp(prefix="mlflow-fixtures-")
atexit.register(shutil.rmtree, _TRACKING, True)
os.environ["MLFLOW_TRACKING_URI"] = f"file://{_TRACKING}/mlruns"
warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)

import mlflow  # noqa: E402
import mlflow.lightgbm  # noqa: E402
import mlflow.pyfunc  # noqa: E402
import mlflow.sklearn  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


# MLflow warns "Add type hints to the `predict` method" here (its own filter shows it once,
# whatever ours say): the untyped, classic form of a PythonModel, on purpose.
class ScoreModel(mlflow.pyfunc.PythonModel):
    """A fixed logistic score of the two features (no training, no dependencies)."""

    def predict(self, context, model_input, params=None):
        z = 0.75 * model_input["x1"].to_numpy() - 0.5 * model_input["x2"].to_numpy() + 0.1
        return pd.Series(1.0 / (1.0 + np.exp(-z)), name="score")


def data() -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(SEED)
    x = rng.normal(size=(N_TRAIN, 2))
    y = (x[:, 0] + 0.5 * x[:, 1] + rng.normal(scale=0.5, size=N_TRAIN) > 0).astype(np.int64)
    train = pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1]})
    probe = rng.normal(size=(N_INPUTS, 2)).round(6)  # short decimals: readable in the JSON
    inputs = pd.DataFrame({"x1": probe[:, 0], "x2": probe[:, 1]})
    return train, y, inputs


def floats(values: np.ndarray | pd.Series) -> list[float]:
    return [float(v) for v in np.asarray(values, dtype=np.float64).ravel()]


def ints(values: np.ndarray | pd.Series) -> list[int]:
    return [int(v) for v in np.asarray(values).ravel()]


def main() -> int:
    import lightgbm as lgb
    import sklearn
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    train, y, inputs = data()
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    expected: dict = {
        "about": "inputs and exact outputs of the models in this directory; made by "
        "benchmarks/make_mlflow_fixtures.py with the MLflow peer venv",
        "versions": {
            "mlflow": mlflow.__version__,
            "scikit-learn": sklearn.__version__,
            "lightgbm": lgb.__version__,
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "python": sys.version.split()[0],
        },
        "data": {
            "seed": SEED,
            "train_rows": N_TRAIN,
            "features": ["x1", "x2"],
            "target": "y = 1[x1 + 0.5 x2 + N(0, 0.5) > 0]",
            "train_positive_rate": float(y.mean()),
        },
        "inputs": {"x1": floats(inputs["x1"]), "x2": floats(inputs["x2"])},
    }

    # scikit-learn: LogisticRegression on a DataFrame (so it knows its feature names).
    clf = LogisticRegression(C=1.0, random_state=0).fit(train, y)
    path = OUT / "sklearn"
    mlflow.sklearn.save_model(clf, str(path), signature=infer_signature(train, clf.predict(train)))
    served = mlflow.pyfunc.load_model(str(path)).predict(inputs)
    expected["sklearn"] = {
        "model": "sklearn.linear_model.LogisticRegression(C=1.0, random_state=0)",
        "coef": floats(clf.coef_),
        "intercept": floats(clf.intercept_),
        "classes": ints(clf.classes_),
        "predict_proba_1": floats(clf.predict_proba(inputs)[:, 1]),
        "predict": ints(clf.predict(inputs)),
        "pyfunc_predict": ints(served),
    }

    # LightGBM: a native Booster with 3 trees (saved as model.lgb, text).
    params = {
        "objective": "binary",
        "num_leaves": 4,
        "min_data_in_leaf": 5,
        "learning_rate": 0.3,
        "num_threads": 1,
        "deterministic": True,
        "seed": 0,
        "verbose": -1,
    }
    booster = lgb.train(params, lgb.Dataset(train, label=y), num_boost_round=3)
    path = OUT / "lightgbm"
    mlflow.lightgbm.save_model(
        booster, str(path), signature=infer_signature(train, booster.predict(train))
    )
    served = mlflow.pyfunc.load_model(str(path)).predict(inputs)
    expected["lightgbm"] = {
        "model": "lightgbm.train(params, num_boost_round=3) -> lightgbm.Booster",
        "params": params,
        "num_trees": booster.num_trees(),
        "predict": floats(booster.predict(inputs)),
        "predict_raw_score": floats(booster.predict(inputs, raw_score=True)),
        "pyfunc_predict": floats(served),
    }

    # A custom pyfunc: python_model.pkl holds the class itself (cloudpickled code).
    model = ScoreModel()
    path = OUT / "custom_pyfunc"
    mlflow.pyfunc.save_model(
        str(path),
        python_model=model,
        signature=infer_signature(train, model.predict(None, train)),
    )
    served = mlflow.pyfunc.load_model(str(path)).predict(inputs)
    expected["custom_pyfunc"] = {
        "model": "ScoreModel(PythonModel): 1 / (1 + exp(-(0.75 x1 - 0.5 x2 + 0.1)))",
        "predict": floats(model.predict(None, inputs)),
        "pyfunc_predict": floats(served),
    }

    for name in ("sklearn", "lightgbm", "custom_pyfunc"):  # MLflow serves what was saved
        assert expected[name]["pyfunc_predict"] == expected[name]["predict"], name
    (OUT / "expected.json").write_text(json.dumps(expected, indent=2) + "\n")

    total = 0
    for file in sorted(p for p in OUT.rglob("*") if p.is_file()):
        size = file.stat().st_size
        total += size
        print(f"{size:>8,}  {file.relative_to(ROOT)}")
    print(f"{total:>8,}  total")
    return 0


if __name__ == "__main__":
    sys.exit(main())

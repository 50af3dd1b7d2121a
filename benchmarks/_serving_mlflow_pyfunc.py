"""The MLflow peer's model for ``serving.py``: an MLflow ``PythonModel`` that does what the
mloop model does, in plain pandas/numpy/LightGBM (nothing imported from mloop).

``load_context`` reads the two artifacts ``_serving_model.py`` exported: the LightGBM
booster's text (the same file mloop serves) and the fitted transform's JSON
(``FittedTransform.to_dict()``). ``predict`` applies the transform the way mloop's
``FittedTransform.apply`` does — numeric: impute the fill value, subtract the centre,
divide by the scale; categorical: one-hot over the fitted categories, then ``=__other__``
for unseen values and ``=__missing__`` for missing ones (no imputation configured here) —
into one float64 matrix in the transform's output order, scores it with
``Booster.predict`` and returns the labels (probability > 0.5 → 1), as mloop's
``PackagedModel.predict`` does. ``scores(frame)`` gives the probabilities (for the
equivalence check, not served).

Saved by ``_serving_mlflow.py`` with this file as a ``code_paths`` entry, so the served
model imports it from the model directory.
"""

from __future__ import annotations

import json
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd


def _key(value: Any) -> str:
    """A category value's text identity, as mloop's transform keys it (1, 1.0 -> "1")."""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        return str(int(number)) if number.is_integer() else repr(number)
    return str(value)


class FlightsDelayModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context: Any) -> None:
        import lightgbm as lgb

        with open(context.artifacts["booster"]) as f:
            self.booster = lgb.Booster(model_str=f.read())
        with open(context.artifacts["transform"]) as f:
            self.spec = json.load(f)
        self.columns = self.spec["columns"]
        self.width = sum(
            1 if c["kind"] == "numeric" else len(c["categories"]) + 1 + (c["fill"] is None)
            for c in self.columns
        )
        self.index = {
            c["name"]: {k: i for i, k in enumerate(c["categories"])}
            for c in self.columns
            if c["kind"] == "categorical"
        }

    def features(self, frame: pd.DataFrame) -> np.ndarray:
        out = np.zeros((len(frame), self.width), dtype=np.float64)
        start = 0
        for c in self.columns:
            series = frame[c["name"]]
            if c["kind"] == "numeric":
                values = series.to_numpy(dtype=np.float64, na_value=np.nan)
                values = np.where(np.isnan(values), c["fill"], values)
                out[:, start] = (values - c["center"]) / c["scale"]
                start += 1
                continue
            if c["fill"] is not None:
                raise NotImplementedError("categorical imputation is not used here")
            index = self.index[c["name"]]
            other = len(index)
            codes, uniques = pd.factorize(series, use_na_sentinel=True)
            lookup = np.array([index.get(_key(v), other) for v in uniques] + [other + 1])
            out[np.arange(len(frame)), start + lookup[codes]] = 1.0
            start += other + 2
        return out

    def scores(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.booster.predict(self.features(frame)))

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> np.ndarray:
        return (self.scores(model_input) > 0.5).astype(np.int64)

"""Explanations: per-feature attributions of a packaged model's predictions (``:explain``).

An :class:`Explanation` says, for each explained row, how much each input column moved the
model's output away from a base value, additively: ``base_value + sum(attributions)`` is the
output that ``output`` names. The attributions are on the columns a caller sent, not on the
estimator's features: the contributions of every feature derived from one input column
(``carrier=AA``, ``carrier=UA``, ``carrier=__other__``, ...) are summed onto that column.
With user ``functions`` in the transform, the columns are those the transform read after
the functions ran, in signature order, then the ones a function made (``hour`` from
``dep_time`` is attributed to ``hour``); a raw column read only by a function has no
attribution of its own.

How the attributions are computed, best first:

- LightGBM and XGBoost: exact TreeSHAP by the library itself (``pred_contrib`` /
  ``pred_contribs``), over the raw score: log-odds (binary), one margin per class
  (multiclass, before the softmax) or the regression score. No background is used: the trees
  record how the training rows were split (path-dependent TreeSHAP). About half a
  millisecond a row for 200 trees of 31 leaves.
- scikit-learn tree models (forests, gradient boosting, decision trees): ``shap``'s exact
  path-dependent TreeExplainer, likewise without background; the output is what the trees
  hold: the probability for forests and decision trees, log-odds or margins for gradient
  boosting, the value for regressors.
- linear models: ``shap.LinearExplainer`` over the margin (log-odds for a logistic
  regression), relative to the mean of the background.
- anything else (pipelines, SVMs, neighbours, pickled models): model-agnostic Shapley values
  of the prediction (the probability for a classifier) relative to the background. The
  players are the *input columns*, not the features: masking ``carrier`` swaps all its
  one-hot columns for a background row's at once, so no impossible row (two carriers, or
  none) is ever scored and the budget goes to the columns a caller knows. Exact when
  ``2 ** columns <= max_evals``, else sampled permutations (``max_evals`` masked rows per
  row, each scored against every background row; at least ``2 * columns + 1``). The first
  one in a process waits seconds for shap to compile its numba code.

The background, for the last two, is the ``background`` rows given (raw rows, transformed
like the instances, or a featurized :class:`~mloop.ml.Part`), else the rows recorded in the
model's ``metadata["background"]``, else the explained rows themselves (a batch explained
against its own mean; a single row then has nothing to be compared with, which is an error
rather than all-zero attributions). At most :data:`BACKGROUND_ROWS` rows are used, a fixed
sample of larger ones. Tree models ignore it.

The fold from features to input columns (a 0/1 matrix) and shap's tree explainer are built
once per model and cached on it. Only the last three ways need ``shap`` (``pip install
'mloop[explain]'``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mloop.errors import ConfigError, DataError
from mloop.ml._errors import UnsupportedModelError
from mloop.ml._flavors import get_flavor

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from mloop.ml._packaged import PackagedModel

__all__ = ["BACKGROUND_ROWS", "Explanation", "explain"]

#: The most background rows a shap explanation compares with (its cost grows with them).
BACKGROUND_ROWS = 100


@dataclass(frozen=True, eq=False)
class Explanation:
    """Additive attributions of a model's output to its input columns, for a batch of rows.

    For each row, ``base_value + attributions.sum()`` is the model's ``output``:

    - ``"raw"``: the raw score: log-odds of the positive class ``classes[1]`` (binary), one
      margin per class (multiclass), the regression score (the prediction, or its log for
      log-link objectives such as Poisson);
    - ``"probability"``: the predicted probability (of ``classes[1]``, for binary);
    - ``"prediction"``: a regressor's prediction.

    ``base_values`` is ``(rows,)``, or ``(rows, classes)`` for a multiclass model, whose
    ``attributions`` are then a dict class → DataFrame (in the model's class order) rather
    than one DataFrame. Attribution frames have one row per explained row (same index) and
    one column per input column. ``method`` says how they were computed.
    """

    base_values: np.ndarray
    attributions: pd.DataFrame | dict[Any, pd.DataFrame]
    output: str
    method: str

    @property
    def columns(self) -> list[str]:
        """The input columns attributed, in order."""
        frames = self._frames()
        return [str(c) for c in next(iter(frames.values())).columns]

    def to_records(self) -> list[dict[str, Any]]:
        """One JSON-able dict per row, what the HTTP API returns::

            {"attributions": {column: value}, "base_value": b, "output_value": b + sum}

        For a multiclass model each of the three is keyed by class (as text) first."""
        import numpy as np

        frames = self._frames()
        columns = self.columns
        if not isinstance(self.attributions, dict):
            (frame,) = frames.values()
            values = frame.to_numpy()
            return [
                {
                    "attributions": dict(zip(columns, row, strict=True)),
                    "base_value": base,
                    "output_value": total,
                }
                for row, base, total in zip(
                    values.tolist(),
                    self.base_values.tolist(),
                    (self.base_values + values.sum(axis=1)).tolist(),
                    strict=True,
                )
            ]
        labels = [str(label) for label in frames]
        per_class = [frame.to_numpy() for frame in frames.values()]
        rows = [values.tolist() for values in per_class]
        totals = (self.base_values + np.column_stack([v.sum(axis=1) for v in per_class])).tolist()
        return [
            {
                "attributions": {
                    label: dict(zip(columns, values[i], strict=True))
                    for label, values in zip(labels, rows, strict=True)
                },
                "base_value": dict(zip(labels, bases, strict=True)),
                "output_value": dict(zip(labels, totals[i], strict=True)),
            }
            for i, bases in enumerate(self.base_values.tolist())
        ]

    def _frames(self) -> dict[Any, pd.DataFrame]:
        if isinstance(self.attributions, dict):
            return self.attributions
        return {None: self.attributions}

    def __repr__(self) -> str:
        rows = len(self.base_values)
        classes = (
            f", {len(self.attributions)} classes" if isinstance(self.attributions, dict) else ""
        )
        return (
            f"Explanation({rows} rows x {len(self.columns)} columns{classes}, "
            f"output={self.output!r}, method={self.method!r})"
        )


def explain(
    model: PackagedModel,
    data: Any,
    *,
    background: Any = None,
    max_evals: int = 200,
) -> Explanation:
    """The :class:`Explanation` of ``model``'s output for the rows of ``data`` (see the
    module docstring for the method, the output explained and the background)."""
    import numpy as np

    X = model.features(data)
    if len(X) == 0:
        raise DataError("there are no rows to explain")
    fold = _fold_for(model, X)
    found = get_flavor(model.flavor).contributions(model.estimator, X)
    if found is not None:
        values, method = found
        attributions = values[:, :, :-1] @ fold.matrix
        return _explanation(model, X, fold, attributions, values[:, :, -1], "raw", method)
    shap = _import_shap(model)
    matrix = X.to_numpy(dtype=np.float64, na_value=np.nan)
    estimator = model.estimator
    tree = _tree_explainer(shap, model)
    if tree is not None:
        output = "probability" if tree.model.tree_output == "probability" else "raw"
        return _folded(model, X, fold, tree(matrix), output, "shap.TreeExplainer")
    reference = _background(model, X, background)
    masker = shap.maskers.Independent(reference, max_samples=len(reference))
    if shap.explainers.Linear.supports_model_with_masker(estimator, masker):
        result = shap.LinearExplainer(estimator, masker)(matrix)
        return _folded(model, X, fold, result, "raw", "shap.LinearExplainer")
    return _by_columns(shap, model, X, reference, fold, max_evals)


# The fold from features to input columns ------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Fold:
    """Which input column each feature comes from: ``groups[j]`` indexes ``columns``;
    ``matrix`` (features x columns, 0/1) sums feature attributions into column ones."""

    features: tuple[str, ...]
    columns: list[str]
    groups: np.ndarray
    matrix: np.ndarray


def _fold_for(model: PackagedModel, X: pd.DataFrame) -> _Fold:
    features = tuple(str(c) for c in X.columns)
    cached: _Fold | None = model._explain_cache.get("fold")
    if cached is not None and cached.features == features:
        return cached
    fold = _build_fold(model, features)
    model._explain_cache["fold"] = fold
    return fold


def _build_fold(model: PackagedModel, features: tuple[str, ...]) -> _Fold:
    import numpy as np

    sources = model.transform.sources if model.transform is not None else {}
    origin = [sources.get(name, name) for name in features]
    used = set(origin)
    inputs = list(dict.fromkeys(model.input_columns or ()))
    columns = [c for c in inputs if c in used]
    columns += [c for c in dict.fromkeys(origin) if c not in set(inputs)]
    position = {name: i for i, name in enumerate(columns)}
    groups = np.array([position[name] for name in origin], dtype=np.int64)
    matrix = np.zeros((len(features), len(columns)), dtype=np.float64)
    matrix[np.arange(len(features)), groups] = 1.0
    return _Fold(features, columns, groups, matrix)


# shap ------------------------------------------------------------------------------------


def _import_shap(model: PackagedModel) -> Any:
    try:
        import shap
    except ImportError as exc:
        raise UnsupportedModelError(
            f"explaining a {model.flavor} model ({type(model.estimator).__name__}) needs the "
            "shap library, which is not installed: pip install 'mloop[explain]' (LightGBM "
            "and XGBoost models are explained without it)",
            flavor=model.flavor,
            missing="shap",
        ) from exc
    return shap


def _tree_explainer(shap: Any, model: PackagedModel) -> Any:
    """shap's path-dependent TreeExplainer when the estimator is a tree model shap reads,
    else None; decided and built once per model (reading a large ensemble takes a while)."""
    cache = model._explain_cache
    if "tree" not in cache:
        supported = shap.explainers.Tree.supports_model_with_masker(model.estimator, None)
        cache["tree"] = shap.TreeExplainer(model.estimator) if supported else None
    return cache["tree"]


def _background(model: PackagedModel, X: pd.DataFrame, background: Any) -> np.ndarray:
    """The background rows as features: given, recorded with the model, or the batch."""
    import numpy as np

    if background is not None:
        frame = model.features(background)
    elif model.metadata.get("background") is not None:
        frame = model.features(model.metadata["background"])
    elif len(X) > 1:
        frame = X
    else:
        raise ConfigError(
            f"explaining one row of a {type(model.estimator).__name__} needs background rows "
            "to compare it with (the model records none): pass background=... with rows "
            "like the training data, or explain a batch of rows",
            argument="background",
        )
    if len(frame) == 0:
        raise ConfigError("the background has no rows", argument="background")
    values = frame.to_numpy(dtype=np.float64, na_value=np.nan)
    if len(values) > BACKGROUND_ROWS:
        keep = np.random.default_rng(0).choice(len(values), BACKGROUND_ROWS, replace=False)
        values = values[np.sort(keep)]
    return values


def _by_columns(
    shap: Any,
    model: PackagedModel,
    X: pd.DataFrame,
    reference: np.ndarray,
    fold: _Fold,
    max_evals: int,
) -> Explanation:
    """Model-agnostic Shapley values whose players are the input columns.

    shap masks the columns of a stand-in matrix of row numbers (an explained row's own number
    in every column; a background row's number ``n + j``); the scoring function turns a
    masked stand-in row back into features, each input column's features taken from the
    row its number names.
    """
    import numpy as np
    import pandas as pd

    n, width = len(X), len(fold.columns)
    if 2**width > max_evals and max_evals < 2 * width + 1:
        raise ConfigError(
            f"max_evals={max_evals} is too low to explain {width} input columns: it must be "
            f"at least {2 * width + 1}",
            argument="max_evals",
        )
    rows = np.vstack([X.to_numpy(dtype=np.float64, na_value=np.nan), reference])
    positions = np.arange(X.shape[1])
    names = list(X.columns)
    flavor = get_flavor(model.flavor)

    def score(stand_in: np.ndarray) -> np.ndarray:
        picked = rows[stand_in.astype(np.int64)[:, fold.groups], positions]
        return flavor.predict_scores(model.estimator, pd.DataFrame(picked, columns=names))

    instances = np.repeat(np.arange(n, dtype=np.float64)[:, None], width, axis=1)
    backdrop = np.repeat(n + np.arange(len(reference), dtype=np.float64)[:, None], width, axis=1)
    masker = shap.maskers.Independent(backdrop, max_samples=len(backdrop))
    if 2**width <= max_evals:
        explainer = shap.explainers.Exact(score, masker)
    else:
        explainer = shap.explainers.Permutation(score, masker, seed=0)
    result = explainer(instances, max_evals=max_evals, silent=True)
    values, base = _by_output(result.values, result.base_values)
    output = "probability" if model.task == "classification" else "prediction"
    method = f"shap.{type(explainer).__name__}"
    return _explanation(model, X, fold, values, base, output, method)


def _folded(
    model: PackagedModel, X: pd.DataFrame, fold: _Fold, result: Any, output: str, method: str
) -> Explanation:
    """A shap result over the features, folded onto the input columns."""
    values, base = _by_output(result.values, result.base_values)
    values, base = _positive_class(model, values, base)
    return _explanation(model, X, fold, values @ fold.matrix, base, output, method)


def _by_output(values: Any, base: Any) -> tuple[np.ndarray, np.ndarray]:
    """shap's ``(rows, features[, outputs])`` values and ``(rows[, outputs])`` base values as
    ``(rows, outputs, features)`` and ``(rows, outputs)``."""
    import numpy as np

    values = np.asarray(values, dtype=np.float64)
    base = np.asarray(base, dtype=np.float64)
    if values.ndim == 2:
        values = values[:, :, None]
    if base.ndim == 1:
        base = base[:, None]
    return values.transpose(0, 2, 1), base


def _positive_class(
    model: PackagedModel, values: np.ndarray, base: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A binary classifier explained per class keeps the positive class only, as the
    boosters do (the two classes' attributions are opposite)."""
    if model.task == "classification" and len(model.classes or ()) == 2 and values.shape[1] == 2:
        return values[:, 1:], base[:, 1:]
    return values, base


def _explanation(
    model: PackagedModel,
    X: pd.DataFrame,
    fold: _Fold,
    attributions: np.ndarray,
    base: np.ndarray,
    output: str,
    method: str,
) -> Explanation:
    """The Explanation of ``(rows, outputs, columns)`` attributions and base values."""
    import pandas as pd

    def frame(values: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(values, index=X.index, columns=fold.columns, copy=True)

    outputs = attributions.shape[1]
    if outputs == 1:
        return Explanation(base[:, 0].copy(), frame(attributions[:, 0]), output, method)
    classes = model.classes if model.classes and len(model.classes) == outputs else None
    labels = classes if classes is not None else list(range(outputs))
    per_class = {label: frame(attributions[:, j]) for j, label in enumerate(labels)}
    return Explanation(base.copy(), per_class, output, method)

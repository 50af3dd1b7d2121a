"""Flavors: how each kind of model is saved in its native format, loaded back and scored.

========  ===============================================  ==================================
flavor    models                                           file
========  ===============================================  ==================================
lightgbm  ``lightgbm.Booster``, ``LGBMClassifier``/...     ``model.txt`` (LightGBM text)
xgboost   ``xgboost.Booster``, ``XGBClassifier``/...       ``model.ubj`` (UBJSON)
sklearn   any scikit-learn estimator or pipeline           ``model.skops`` (skops, audited)
pickle    anything, only when asked for by name            ``model.pkl``, loads only if trusted
========  ===============================================  ==================================

The scikit-learn wrappers of LightGBM and XGBoost are saved as their boosters. Every flavor
scores the same way (:meth:`Flavor.predict_scores`): a regression value, the probability of
the positive class for a binary classifier, a probability matrix for a multiclass one.
The boosters also give exact per-feature contributions to their raw score
(:meth:`Flavor.contributions`, TreeSHAP computed by the library), which explanations use.
A file that cannot be read is a :class:`ModelLoadError` naming it, never a library's error.
"""

from __future__ import annotations

import json
import pickle
import sys
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from mloop.ml import _skops
from mloop.ml._errors import ModelLoadError, UnsupportedModelError, UntrustedModelError

if TYPE_CHECKING:
    from typing import TypeAlias

    import numpy as np
    import pandas as pd

    #: A feature matrix: a DataFrame, or a float64 array for flavors with ``arrays``.
    Features: TypeAlias = pd.DataFrame | np.ndarray

__all__ = ["FLAVORS", "Flavor", "flavor_for", "get_flavor"]


class Flavor(ABC):
    """One model library's native format and prediction call. Flavors hold no state."""

    name: ClassVar[str]
    filename: ClassVar[str]
    #: Distributions whose versions are recorded with a saved model.
    libraries: ClassVar[tuple[str, ...]] = ()
    #: False for flavors used only when asked for by name (``pickle``).
    auto_select: ClassVar[bool] = True
    #: Whether :meth:`predict_scores` also takes the features as a float64 array (in the
    #: model's feature order), which skips the library's DataFrame handling.
    arrays: ClassVar[bool] = False

    @abstractmethod
    def handles(self, estimator: Any) -> bool:
        """Whether ``estimator`` is a model of this flavor (without importing its library)."""

    @abstractmethod
    def save(self, estimator: Any, path: Path) -> None:
        """Write the (native) ``estimator`` to ``path``; the same model gives the same bytes."""

    @abstractmethod
    def load(self, path: Path, *, trusted: list[str] | None, trust_pickle: bool) -> Any:
        """Read the model at ``path``; :class:`ModelLoadError` when the file is not readable."""

    @abstractmethod
    def predict_scores(self, estimator: Any, X: Features) -> np.ndarray:
        """Values (regression), positive-class probabilities (binary) or a probability matrix
        (multiclass) for the feature matrix ``X``."""

    def native(self, estimator: Any) -> Any:
        """The object that is saved and scored (a wrapper's booster); the model itself here."""
        return estimator

    def contributions(self, estimator: Any, X: pd.DataFrame) -> tuple[np.ndarray, str] | None:
        """Exact contributions of each feature to the raw score, when the library computes
        them: ``(values, method)``, ``values`` of shape ``(rows, outputs, features + 1)`` with
        the bias last, so that a row's values add up to its raw score (log-odds, class
        margins or regression score). None for a library without them (then ``shap``)."""
        return None

    def predict(
        self, estimator: Any, X: Features, task: str, classes: list[Any] | None
    ) -> np.ndarray:
        """Predicted labels (classification) or values: by default derived from the scores."""
        scores = self.predict_scores(estimator, X)
        if task != "classification":
            return scores
        return labels_from_scores(scores, classes)

    def infer_task(self, estimator: Any) -> str | None:
        """``classification`` or ``regression`` when the model says which, else None."""
        return None

    def infer_classes(self, estimator: Any) -> list[Any] | None:
        """The class labels of a classifier, in score order, when the model records them."""
        return None

    def feature_names(self, estimator: Any) -> list[str] | None:
        """The names of the features the model was trained on, when it records them."""
        return None


def labels_from_scores(scores: np.ndarray, classes: list[Any] | None) -> np.ndarray:
    """Labels from scores: probability > 0.5 picks the positive class, else the arg-max."""
    import numpy as np

    index = (scores > 0.5).astype(np.int64) if scores.ndim == 1 else np.argmax(scores, axis=1)
    if not classes:
        return index
    labels: np.ndarray = _class_array(classes)[index]
    return labels


def _class_array(classes: list[Any]) -> np.ndarray:
    """``classes`` as a NumPy array (objects when their types differ), made once per list: a
    server takes labels from it on every request."""
    import numpy as np

    cached = _CLASS_ARRAYS.get(id(classes))
    if cached is None or cached[0] is not classes:
        if len(_CLASS_ARRAYS) > 256:  # models come and go
            _CLASS_ARRAYS.clear()
        mixed = len({type(c) for c in classes}) > 1
        array = np.asarray(classes, dtype=object if mixed else None)
        cached = _CLASS_ARRAYS[id(classes)] = (classes, array)
    return cached[1]


#: id(classes) -> (classes, as an array): the list is kept, so its id is not reused
_CLASS_ARRAYS: dict[int, tuple[list[Any], np.ndarray]] = {}


def _module(name: str) -> Any:
    """A library if it has been imported: a model of its types cannot exist otherwise."""
    return sys.modules.get(name)


def _corrupt(path: Path, flavor: str, exc: BaseException | str) -> ModelLoadError:
    detail = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
    return ModelLoadError(
        f"cannot load the {flavor} model file {path} (flavor {flavor!r}): {detail}",
        path=str(path),
        flavor=flavor,
    )


# LightGBM -------------------------------------------------------------------------------

#: Up to this many rows, LightGBM predicts on one thread.
_FEW_ROWS = 16


class LightGBMFlavor(Flavor):
    name = "lightgbm"
    filename = "model.txt"
    libraries = ("lightgbm",)
    arrays = True

    def handles(self, estimator: Any) -> bool:
        lgb = _module("lightgbm")
        return lgb is not None and isinstance(estimator, lgb.Booster | lgb.LGBMModel)

    def native(self, estimator: Any) -> Any:
        import lightgbm as lgb

        if isinstance(estimator, lgb.LGBMModel):
            try:
                return estimator.booster_
            except Exception as exc:  # LGBMNotFittedError
                raise UnsupportedModelError(
                    f"cannot package an unfitted {type(estimator).__name__}: fit it first"
                ) from exc
        return estimator

    def save(self, estimator: Any, path: Path) -> None:
        path.write_bytes(estimator.model_to_string().encode("utf-8"))

    def load(self, path: Path, *, trusted: list[str] | None, trust_pickle: bool) -> Any:
        import lightgbm as lgb

        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise _corrupt(path, self.name, exc) from exc
        # LightGBM aborts the process on some truncated files: check the frame first.
        if not text.startswith("tree\n") or "\nend of trees\n" not in text:
            raise _corrupt(path, self.name, "not a complete LightGBM text model")
        try:
            return lgb.Booster(model_str=text)
        except Exception as exc:
            raise _corrupt(path, self.name, exc) from exc

    def predict_scores(self, estimator: Any, X: Features) -> np.ndarray:
        import numpy as np

        if len(X) <= _FEW_ROWS:  # OpenMP's start-up costs more than a few rows' trees
            return np.asarray(estimator.predict(X, num_threads=1))
        return np.asarray(estimator.predict(X))

    def contributions(self, estimator: Any, X: pd.DataFrame) -> tuple[np.ndarray, str] | None:
        import numpy as np

        if _truthy(estimator.params.get("linear_tree")):
            return None  # LightGBM has no SHAP values for trees with linear leaves
        values = np.asarray(estimator.predict(X, pred_contrib=True), dtype=np.float64)
        width = X.shape[1] + 1  # multiclass: one block of features + bias per class
        return values.reshape(len(X), -1, width), "tree_shap (lightgbm pred_contrib)"

    def infer_task(self, estimator: Any) -> str | None:
        objective = self._objective(estimator)
        if objective.startswith(("binary", "multiclass", "multiclassova")):
            return "classification"
        return "regression" if objective else None

    def infer_classes(self, estimator: Any) -> list[Any] | None:
        classes = getattr(estimator, "classes_", None)
        if classes is not None:
            return list(classes.tolist())
        objective = self._objective(estimator)
        if objective.startswith("binary"):
            return [0, 1]
        if objective.startswith("multiclass"):
            return list(range(int(self.native(estimator).params.get("num_class", 0))))
        return None

    def feature_names(self, estimator: Any) -> list[str] | None:
        names = list(self.native(estimator).feature_name())
        automatic = [f"Column_{i}" for i in range(len(names))]
        return None if names == automatic else names  # trained on an unnamed array

    def _objective(self, estimator: Any) -> str:
        booster = self.native(estimator)
        objective = booster.params.get("objective")
        if objective is None:
            objective = booster.dump_model(num_iteration=1).get("objective", "")
        return str(objective)


# XGBoost --------------------------------------------------------------------------------


class XGBoostFlavor(Flavor):
    name = "xgboost"
    filename = "model.ubj"
    libraries = ("xgboost",)
    arrays = True

    def handles(self, estimator: Any) -> bool:
        xgb = _module("xgboost")
        return xgb is not None and isinstance(estimator, xgb.Booster | xgb.XGBModel)

    def native(self, estimator: Any) -> Any:
        import xgboost as xgb

        if not isinstance(estimator, xgb.XGBModel):
            return estimator
        try:
            booster = estimator.get_booster()
        except xgb.core.XGBoostError as exc:
            raise UnsupportedModelError(
                f"cannot package an unfitted {type(estimator).__name__}: fit it first"
            ) from exc
        best = booster.attr("best_iteration")
        if best is not None and int(best) + 1 < booster.num_boosted_rounds():
            booster = booster[: int(best) + 1]  # what the wrapper predicts with
        return booster

    def save(self, estimator: Any, path: Path) -> None:
        path.write_bytes(bytes(estimator.save_raw(raw_format="ubj")))

    def load(self, path: Path, *, trusted: list[str] | None, trust_pickle: bool) -> Any:
        import xgboost as xgb

        try:
            data = path.read_bytes()
            booster = xgb.Booster()
            booster.load_model(bytearray(data))
            return booster
        except Exception as exc:
            raise _corrupt(path, self.name, exc) from exc

    def predict_scores(self, estimator: Any, X: Features) -> np.ndarray:
        import numpy as np

        return np.asarray(estimator.predict(_dmatrix(estimator, X)), dtype=np.float64)

    def contributions(self, estimator: Any, X: pd.DataFrame) -> tuple[np.ndarray, str] | None:
        import numpy as np

        values = estimator.predict(_dmatrix(estimator, X), pred_contribs=True)
        values = np.asarray(values, dtype=np.float64).reshape(len(X), -1, X.shape[1] + 1)
        booster = json.loads(estimator.save_config())["learner"]["gradient_booster"]["name"]
        kind = "linear" if booster == "gblinear" else "tree_shap"
        return values, f"{kind} (xgboost pred_contribs)"

    def infer_task(self, estimator: Any) -> str | None:
        objective = self._objective(estimator)
        if objective.startswith(("binary:", "multi:")):
            return "classification"
        return "regression" if objective else None

    def infer_classes(self, estimator: Any) -> list[Any] | None:
        classes = getattr(estimator, "classes_", None)
        if classes is not None:
            return list(classes.tolist())
        objective = self._objective(estimator)
        if objective.startswith("binary:"):
            return [0, 1]
        if objective.startswith("multi:"):
            config = json.loads(self.native(estimator).save_config())
            count = int(config["learner"]["learner_model_param"].get("num_class", 0))
            return list(range(count))
        return None

    def feature_names(self, estimator: Any) -> list[str] | None:
        names = self.native(estimator).feature_names
        return list(names) if names is not None else None

    def _objective(self, estimator: Any) -> str:
        config = json.loads(self.native(estimator).save_config())
        return str(config["learner"]["objective"]["name"])


def _dmatrix(booster: Any, X: Features) -> Any:
    """``X`` as a DMatrix the booster accepts: named like its features when they match."""
    import numpy as np
    import pandas as pd
    import xgboost as xgb

    names = booster.feature_names
    if isinstance(X, pd.DataFrame):
        categorical = any(isinstance(t, pd.CategoricalDtype) for t in X.dtypes)
        if categorical or (names is not None and list(X.columns) == list(names)):
            return xgb.DMatrix(X, enable_categorical=categorical)
        values = X.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        values = X
    usable = names if names is not None and len(names) == values.shape[1] else None
    return xgb.DMatrix(values, feature_names=usable)


def _truthy(value: Any) -> bool:
    """A booster parameter as a flag, whether parsed (``True``) or kept as text (``"true"``)."""
    return str(value).strip().lower() in ("true", "1", "yes", "+")


# scikit-learn ---------------------------------------------------------------------------


class SklearnFlavor(Flavor):
    name = "sklearn"
    filename = "model.skops"
    libraries = ("scikit-learn", "skops")

    def handles(self, estimator: Any) -> bool:
        base = _module("sklearn.base")
        return base is not None and isinstance(estimator, base.BaseEstimator)

    def save(self, estimator: Any, path: Path) -> None:
        path.write_bytes(_skops.dumps(estimator))

    def load(self, path: Path, *, trusted: list[str] | None, trust_pickle: bool) -> Any:
        return _skops.load(path, trusted)

    def predict_scores(self, estimator: Any, X: Features) -> np.ndarray:
        import numpy as np

        data = _sklearn_input(estimator, X)
        if self.infer_task(estimator) != "classification":
            return np.asarray(estimator.predict(data))
        if not hasattr(estimator, "predict_proba"):
            raise UnsupportedModelError(
                f"{type(estimator).__name__} has no predict_proba, so it gives no class "
                "probabilities (use a probabilistic classifier, e.g. SVC(probability=True))"
            )
        proba = np.asarray(estimator.predict_proba(data))
        return proba[:, 1] if proba.shape[1] == 2 else proba

    def predict(
        self, estimator: Any, X: Features, task: str, classes: list[Any] | None
    ) -> np.ndarray:
        import numpy as np

        return np.asarray(estimator.predict(_sklearn_input(estimator, X)))

    def infer_task(self, estimator: Any) -> str | None:
        from sklearn.base import is_classifier, is_regressor

        if is_classifier(estimator):
            return "classification"
        return "regression" if is_regressor(estimator) else None

    def infer_classes(self, estimator: Any) -> list[Any] | None:
        classes = getattr(estimator, "classes_", None)
        return list(classes.tolist()) if classes is not None else None

    def feature_names(self, estimator: Any) -> list[str] | None:
        names = getattr(estimator, "feature_names_in_", None)
        return [str(n) for n in names] if names is not None else None


def _sklearn_input(estimator: Any, X: Features) -> Any:
    """A DataFrame for estimators fitted on named columns, else an array (no name warning)."""
    if hasattr(estimator, "feature_names_in_") or not hasattr(X, "to_numpy"):
        return X
    return X.to_numpy()


# pickle (opt-in) ------------------------------------------------------------------------


class PickleFlavor(Flavor):
    """Any Python object, only when asked for by name: unpickling runs arbitrary code."""

    name = "pickle"
    filename = "model.pkl"
    auto_select = False

    def handles(self, estimator: Any) -> bool:
        return True

    def save(self, estimator: Any, path: Path) -> None:
        try:
            import cloudpickle

            path.write_bytes(cloudpickle.dumps(estimator, protocol=pickle.HIGHEST_PROTOCOL))
        except ImportError:
            path.write_bytes(pickle.dumps(estimator, protocol=pickle.HIGHEST_PROTOCOL))

    def load(self, path: Path, *, trusted: list[str] | None, trust_pickle: bool) -> Any:
        if not trust_pickle:
            raise UntrustedModelError(
                f"{path} is a pickle: loading it runs whatever code it contains. Pass "
                "trust_pickle=True only for a file you (or someone you trust) wrote",
                path=str(path),
                flavor=self.name,
            )
        try:
            with open(path, "rb") as stream:
                return pickle.load(stream)
        except Exception as exc:
            raise _corrupt(path, self.name, exc) from exc

    def predict_scores(self, estimator: Any, X: Features) -> np.ndarray:
        import numpy as np

        if hasattr(estimator, "predict_proba"):
            proba = np.asarray(estimator.predict_proba(X))
            return proba[:, 1] if proba.ndim == 2 and proba.shape[1] == 2 else proba
        return np.asarray(estimator.predict(X))

    def predict(
        self, estimator: Any, X: Features, task: str, classes: list[Any] | None
    ) -> np.ndarray:
        import numpy as np

        return np.asarray(estimator.predict(X))

    def infer_classes(self, estimator: Any) -> list[Any] | None:
        classes = getattr(estimator, "classes_", None)
        return list(classes.tolist()) if classes is not None else None


FLAVORS: dict[str, Flavor] = {
    flavor.name: flavor
    for flavor in (LightGBMFlavor(), XGBoostFlavor(), SklearnFlavor(), PickleFlavor())
}


def get_flavor(name: str) -> Flavor:
    """The flavor called ``name``."""
    try:
        return FLAVORS[name]
    except KeyError:
        raise UnsupportedModelError(
            f"unknown model flavor {name!r} (flavors: {', '.join(FLAVORS)})", flavor=name
        ) from None


def flavor_for(estimator: Any) -> Flavor:
    """The flavor that saves ``estimator`` (never ``pickle``, which must be asked for)."""
    for flavor in FLAVORS.values():
        if flavor.auto_select and flavor.handles(estimator):
            return flavor
    cls = type(estimator)
    automatic = [f.name for f in FLAVORS.values() if f.auto_select]
    raise UnsupportedModelError(
        f"no model flavor saves a {cls.__module__}.{cls.__qualname__} (flavors: "
        f"{', '.join(automatic)}; pass flavor='pickle' to pickle it, which then needs "
        "trust_pickle=True to load)",
        value_type=f"{cls.__module__}.{cls.__qualname__}",
    )

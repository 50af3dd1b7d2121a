"""The packaged model: an estimator with everything needed to predict from raw rows.

A :class:`PackagedModel` is the value of a ``Model`` artifact. It bundles the estimator (in
its flavor's native format), the fitted transform, the input signature, the task, target and
classes, and the training parameters, so that ``predict`` on raw rows does exactly what
training did: ``signature.check`` → ``transform.apply`` → the feature columns → the model.

On disk it is a directory::

    model.json            format mloop.model/v1: everything but the estimator (sorted keys)
    estimator/model.txt   the estimator in its native format (model.ubj, model.skops, ...)

Saving the same model twice gives the same bytes, so the artifact store stores it once.
``model.json`` records the estimator file's sha256, checked before the file is parsed (a
truncated LightGBM file can otherwise abort the process).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mloop.errors import ConfigError
from mloop.ml._dataset import Part
from mloop.ml._errors import ModelLoadError
from mloop.ml._explain import Explanation, explain
from mloop.ml._flavors import Flavor, flavor_for, get_flavor
from mloop.ml._rows import RowPath
from mloop.ml._signature import Signature
from mloop.ml._tables import as_frame
from mloop.ml._transform import FittedTransform, require_columns

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["FORMAT", "PackagedModel"]

FORMAT = "mloop.model/v1"
MODEL_JSON = "model.json"
ESTIMATOR_DIR = "estimator"
TASKS = ("classification", "regression")


class PackagedModel:
    """A ready-to-predict model: estimator + transform + signature + what it predicts.

    ``flavor``, ``task`` and ``classes`` are taken from the estimator when not given (a
    scikit-learn wrapper of LightGBM or XGBoost is kept as its booster). ``feature_columns``
    are the columns the estimator reads, in order, after the transform (default: the
    transform's outputs, or the names the estimator was trained with, or every column).
    """

    def __init__(
        self,
        estimator: Any,
        flavor: str | None = None,
        transform: FittedTransform | None = None,
        signature: Signature | None = None,
        task: str | None = None,
        target: str | None = None,
        classes: Sequence[Any] | None = None,
        feature_columns: Sequence[str] | None = None,
        params: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        kind: Flavor = get_flavor(flavor) if flavor is not None else flavor_for(estimator)
        self.flavor = kind.name
        task = task or kind.infer_task(estimator) or ("classification" if classes else None)
        if task not in TASKS:
            raise ConfigError(
                f"task must be 'classification' or 'regression', not {task!r}"
                + ("" if task else " (the model does not say which: pass task=...)"),
                argument="task",
            )
        self.task: str = task
        if classes is None and task == "classification":
            classes = kind.infer_classes(estimator)
        self.classes: list[Any] | None = _plain_list(classes) if classes is not None else None
        if feature_columns is None:
            if transform is not None:
                feature_columns = transform.output_columns
            else:
                feature_columns = kind.feature_names(estimator)
        self.feature_columns: list[str] | None = (
            [str(c) for c in feature_columns] if feature_columns is not None else None
        )
        self.estimator = kind.native(estimator)
        self.transform = transform
        self.signature = signature
        self.target = target
        self.params: dict[str, Any] = _plain(dict(params or {}), "params")
        self.metadata: dict[str, Any] = _plain(dict(metadata or {}), "metadata")
        self._flavor = kind
        self._explain_cache: dict[str, Any] = {}  # built once by explain(): fold, explainer
        self._rows = RowPath.build(signature, transform, self.feature_columns)

    @property
    def input_columns(self) -> list[str] | None:
        """The raw columns a request needs, when the model knows them."""
        if self.signature is not None:
            return self.signature.input_names
        if self.transform is not None:
            return list(self.transform.input_columns)
        return self.feature_columns

    # Predicting --------------------------------------------------------------------------

    def features(self, data: Any) -> pd.DataFrame:
        """The feature matrix the estimator sees for ``data`` (checked and transformed; a
        :class:`~mloop.ml.Part` of training data is featurized already)."""
        if isinstance(data, Part):
            frame = data.X
            if self.feature_columns is not None:
                require_columns(frame, self.feature_columns)
                frame = frame[self.feature_columns]
            return frame
        frame = self._frame(data)
        if self.signature is not None:
            frame = self.signature.check(frame)
        if self.transform is not None:
            frame = self.transform.apply(frame)
        if self.feature_columns is not None:
            require_columns(frame, self.feature_columns)
            frame = frame[self.feature_columns]
        return frame

    def predict(self, data: Any) -> np.ndarray:
        """Labels (classification) or values (regression) for raw rows: a DataFrame, an Arrow
        table, a list of row dicts or a dict of columns."""
        return self._flavor.predict(self.estimator, self._scored(data), self.task, self.classes)

    def predict_proba(self, data: Any) -> np.ndarray:
        """Class probabilities, ``(n, len(classes))`` in the order of :attr:`classes`."""
        if self.task != "classification":
            raise ConfigError(
                f"predict_proba needs a classification model; this one is {self.task}",
                argument="task",
            )
        return probabilities(self.predict_scores(data))

    def predict_scores(self, data: Any) -> np.ndarray:
        """Values, positive-class probabilities (binary) or a probability matrix."""
        return self._flavor.predict_scores(self.estimator, self._scored(data))

    def _scored(self, data: Any) -> pd.DataFrame | np.ndarray:
        """What the estimator scores for ``data``: the features as a float64 array when the
        flavor takes one and a transform made them, else as :meth:`features`. Small lists
        of row dicts take the fast path (:mod:`mloop.ml._rows`)."""
        if self._rows is not None and isinstance(data, list):
            matrix = self._rows.matrix(data)
            if matrix is not None:
                if self._flavor.arrays:
                    return matrix
                import pandas as pd

                return pd.DataFrame(matrix, columns=self.feature_columns, copy=False)
        if self._flavor.arrays and self._rows is not None and not isinstance(data, Part):
            frame = self._frame(data)
            if self.signature is not None:
                frame = self.signature.check(frame)
            matrix = self._rows.transform.matrix(frame)
            return matrix if self._rows.order is None else matrix[:, self._rows.order]
        return self.features(data)

    # Explaining --------------------------------------------------------------------------

    def explain(self, data: Any, *, background: Any = None, max_evals: int = 200) -> Explanation:
        """Per-input-column attributions of the output for raw rows: exact TreeSHAP for
        LightGBM and XGBoost (their raw score), ``shap`` for other models. ``background``
        (raw rows) is what a model-agnostic or linear explanation compares with;
        ``max_evals`` bounds a model-agnostic one. See :mod:`mloop.ml._explain`."""
        return explain(self, data, background=background, max_evals=max_evals)

    def _frame(self, data: Any) -> pd.DataFrame:
        import numpy as np
        import pandas as pd

        if isinstance(data, np.ndarray) and data.ndim == 2:
            names = self.signature.input_names if self.signature is not None else None
            if names is None and self.transform is None:
                names = self.feature_columns
            if names is not None and len(names) != data.shape[1]:
                raise ConfigError(
                    f"an array of {data.shape[1]} columns cannot be the model's "
                    f"{len(names)} inputs ({', '.join(names[:10])})"
                )
            return pd.DataFrame(data, columns=names)
        return as_frame(data)

    # Saving and loading ------------------------------------------------------------------

    def save(self, directory: str | Path) -> Path:
        """Write the model into ``directory`` (created if needed); the same model gives the
        same bytes."""
        directory = Path(directory)
        (directory / ESTIMATOR_DIR).mkdir(parents=True, exist_ok=True)
        relative = f"{ESTIMATOR_DIR}/{self._flavor.filename}"
        self._flavor.save(self.estimator, directory / relative)
        document = {
            "format": FORMAT,
            "flavor": self.flavor,
            "estimator": {"file": relative, "sha256": _sha256(directory / relative)},
            "task": self.task,
            "target": self.target,
            "classes": self.classes,
            "feature_columns": self.feature_columns,
            "signature": self.signature.to_dict() if self.signature is not None else None,
            "transform": self.transform.to_dict() if self.transform is not None else None,
            "params": self.params,
            "metadata": self.metadata,
            "libraries": _versions(self._flavor.libraries),
        }
        text = json.dumps(_plain(document, "model"), sort_keys=True, indent=2, allow_nan=False)
        (directory / MODEL_JSON).write_text(text + "\n", encoding="utf-8")
        return directory

    @classmethod
    def load(
        cls,
        directory: str | Path,
        trusted: Sequence[str] | None = None,
        trust_pickle: bool = False,
    ) -> PackagedModel:
        """Read a model written by :meth:`save`. ``trusted`` names extra types a scikit-learn
        model may construct; ``trust_pickle`` allows a pickled one (it runs code)."""
        directory = Path(directory)
        document = _read_document(directory / MODEL_JSON)
        flavor = get_flavor(str(document.get("flavor")))
        entry = document.get("estimator") or {}
        path = directory / str(entry.get("file", f"{ESTIMATOR_DIR}/{flavor.filename}"))
        if not path.is_file():
            raise ModelLoadError(
                f"the estimator file {path} of model {directory} is missing",
                path=str(path),
                flavor=flavor.name,
            )
        expected = entry.get("sha256")
        if expected is not None and _sha256(path) != expected:
            raise ModelLoadError(
                f"the {flavor.name} estimator file {path} is corrupted: its sha256 does not "
                "match model.json (the file was truncated or modified)",
                path=str(path),
                flavor=flavor.name,
            )
        estimator = flavor.load(
            path, trusted=list(trusted) if trusted else None, trust_pickle=trust_pickle
        )
        transform = document.get("transform")
        signature = document.get("signature")
        return cls(
            estimator,
            flavor=flavor.name,
            transform=FittedTransform.from_dict(transform) if transform else None,
            signature=Signature.from_dict(signature) if signature else None,
            task=document["task"],
            target=document.get("target"),
            classes=document.get("classes"),
            feature_columns=document.get("feature_columns"),
            params=document.get("params"),
            metadata=document.get("metadata"),
        )

    def __repr__(self) -> str:
        what = f"{self.task}, target={self.target!r}" if self.target else self.task
        return f"PackagedModel({self.flavor}, {what})"


def _read_document(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise ModelLoadError(
            f"{path.parent} is not a saved model: it has no {MODEL_JSON}", path=str(path)
        ) from None
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot read {path}: {exc}", path=str(path)) from exc
    found = document.get("format") if isinstance(document, dict) else None
    if found != FORMAT:
        raise ModelLoadError(
            f"{path} has model format {found!r}, which this mloop does not read (it reads "
            f"{FORMAT!r}; a newer format needs a newer mloop)",
            path=str(path),
            format=found,
        )
    result: dict[str, Any] = document
    return result


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _versions(libraries: Sequence[str]) -> dict[str, str]:
    versions = {}
    for name in libraries:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            continue
    return versions


def _plain_list(values: Sequence[Any]) -> list[Any]:
    return [_plain(v, f"classes[{i}]") for i, v in enumerate(values)]


def _plain(value: Any, path: str) -> Any:
    """``value`` as JSON types (NumPy scalars and arrays converted); names a bad key path."""
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError(f"cannot store {value!r} at {path} in model.json (use None)")
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):
        return _plain(value.tolist(), path)
    raise ConfigError(
        f"cannot store the {type(value).__qualname__} at {path} in model.json "
        "(params and metadata must be JSON values)"
    )


def probabilities(scores: np.ndarray) -> np.ndarray:
    """Class probabilities from :meth:`PackagedModel.predict_scores`: a binary classifier's
    positive-class probabilities ``p`` become the columns ``1 - p, p``."""
    import numpy as np

    if scores.ndim != 1:
        return scores
    out = np.empty((len(scores), 2))
    out[:, 1] = scores
    np.subtract(1.0, scores, out=out[:, 0])
    return out

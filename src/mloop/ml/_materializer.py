"""The ``model`` materializer: a :class:`PackagedModel` as the files of a ``Model`` artifact.

A component returns a ``PackagedModel`` (or a bare LightGBM, XGBoost or scikit-learn
model, packaged as is) for a ``Model`` output; this materializer writes its directory
(``model.json`` + ``estimator/``) and reads it back as a ``PackagedModel``. The artifact
store imports this module on first use (``mloop.artifacts`` cannot import ``mloop.ml``),
so ``model_artifact.load()`` works in any process.

Loading through the store trusts nothing beyond the defaults (scikit-learn, NumPy and SciPy
types; no pickle); a model that needs more is read with
``PackagedModel.load(artifact.local_path(), trusted=[...])``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mloop.artifacts import Materializer, Model, register_materializer
from mloop.errors import MaterializerError
from mloop.ml._flavors import FLAVORS
from mloop.ml._packaged import PackagedModel

__all__ = ["ModelMaterializer"]


@register_materializer
class ModelMaterializer(Materializer):
    """``PackagedModel`` (or a bare supported model) ↔ ``model.json`` + ``estimator/``."""

    name = "model"
    artifact_types = (Model,)

    def can_save(self, value: Any) -> bool:
        if isinstance(value, PackagedModel):
            return True
        return any(f.auto_select and f.handles(value) for f in FLAVORS.values())

    def save(self, value: Any, directory: Path) -> dict[str, Any]:
        model = value if isinstance(value, PackagedModel) else PackagedModel(value)
        model.save(directory)
        return {
            "flavor": model.flavor,
            "task": model.task,
            "target": model.target,
            "classes": model.classes,
            "feature_columns": model.feature_columns,
            "signature": model.signature.to_dict() if model.signature is not None else None,
            "params": model.params,
        }

    def load(self, directory: Path, as_type: type | None) -> Any:
        model = PackagedModel.load(directory)
        if as_type is None or (isinstance(as_type, type) and issubclass(PackagedModel, as_type)):
            return model
        if isinstance(as_type, type) and isinstance(model.estimator, as_type):
            return model.estimator
        raise MaterializerError(
            f"model artifacts load as mloop.ml.PackagedModel or as their estimator "
            f"({type(model.estimator).__module__}.{type(model.estimator).__qualname__}), "
            f"not {as_type.__module__}.{as_type.__qualname__}",
            materializer=self.name,
        )

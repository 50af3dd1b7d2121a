"""Import an MLflow model directory as a registered model version.

An MLflow model is a directory with an ``MLmodel`` YAML file naming its **flavors** and the
files of each. mloop reads the native ones without MLflow installed and re-saves the model
as a :class:`~mloop.ml.PackagedModel` (LightGBM text, XGBoost UBJSON, scikit-learn skops):

- ``lightgbm`` — ``data: model.lgb``, LightGBM's own text format (a Booster); an sklearn-API
  LightGBM model is stored pickled (``model.pkl``) or as skops instead, treated as below;
- ``xgboost`` — ``data: model.xgb|json|ubj``, XGBoost's own format;
- ``sklearn`` — ``pickled_model: model.pkl`` with ``serialization_format`` ``cloudpickle`` or
  ``pickle`` (unpickling runs code from the file: refused unless ``trust_pickle``), or
  ``skops`` (types checked before anything is built);
- ``python_function`` alone, whose ``loader_module`` is ``mlflow.sklearn``,
  ``mlflow.lightgbm`` or ``mlflow.xgboost``: read as that flavor. A custom pyfunc (a
  cloudpickled ``PythonModel``, or a model from code) cannot be imported: its behaviour *is*
  the pickled or scripted code.

The MLflow signature (``signature.inputs``, a JSON list of ``{"name", "type"}`` columns)
becomes mloop's; the MLflow run id, model uuid and flavor are kept as version tags.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mloop.errors import DefinitionError, NotFoundError

if TYPE_CHECKING:
    from mloop.ml import PackagedModel
    from mloop.registry._registry import Registry
    from mloop.store import ModelVersionRecord

__all__ = ["MlflowModel", "import_mlflow", "read_mlmodel"]

MLMODEL = "MLmodel"
LOADERS = {"mlflow.sklearn": "sklearn", "mlflow.lightgbm": "lightgbm", "mlflow.xgboost": "xgboost"}
#: MLflow column types (mlflow.types.DataType) → mloop signature types.
TYPES = {
    "double": "float64",
    "float": "float64",
    "long": "int64",
    "integer": "int64",
    "boolean": "bool",
    "string": "string",
    "datetime": "timestamp",
}
_TENSOR_TYPES = {"float64": "float64", "float32": "float64", "int64": "int64", "int32": "int64"}
_PICKLE_FORMATS = ("cloudpickle", "pickle")


@dataclass(frozen=True)
class MlflowModel:
    """What ``MLmodel`` says, tolerant of the fields different MLflow versions write."""

    path: Path  # the model directory
    flavors: dict[str, dict[str, Any]]
    signature: dict[str, Any] | None  # the raw MLflow signature: {"inputs": [...], ...}
    run_id: str | None
    model_uuid: str | None
    mlflow_version: str | None
    created: str | None


def read_mlmodel(path: Path) -> MlflowModel:
    """Parse the ``MLmodel`` file of the model directory ``path`` (or the file itself)."""
    import yaml

    directory = path.parent if path.name == MLMODEL and path.is_file() else path
    if not directory.exists():
        raise NotFoundError(f"MLflow model directory {directory} does not exist", path=str(path))
    file = directory / MLMODEL
    if not file.is_file():
        raise DefinitionError(
            f"{directory} is not an MLflow model: it has no {MLMODEL} file", path=str(directory)
        )
    try:
        document = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise DefinitionError(f"cannot read {file}: {exc}", path=str(file)) from None
    if not isinstance(document, dict) or not isinstance(document.get("flavors"), dict):
        raise DefinitionError(f"{file} has no 'flavors' mapping", path=str(file))
    flavors = {
        str(name): dict(conf) if isinstance(conf, dict) else {}
        for name, conf in document["flavors"].items()
    }
    raw_signature = document.get("signature")
    signature = None
    if isinstance(raw_signature, dict):
        signature = {
            key: _json_field(raw_signature.get(key), file, key) for key in ("inputs", "outputs")
        }
    return MlflowModel(
        path=directory,
        flavors=flavors,
        signature=signature,
        run_id=_text(document.get("run_id")),
        model_uuid=_text(document.get("model_uuid") or document.get("model_id")),
        mlflow_version=_text(document.get("mlflow_version")),
        created=_text(document.get("utc_time_created") or document.get("time_created")),
    )


def _json_field(value: Any, file: Path, key: str) -> Any:
    """MLflow writes signature parts as JSON strings inside the YAML."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise DefinitionError(
                f"{file}: signature.{key} is not valid JSON ({exc})", path=str(file)
            ) from None
    return value


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def import_mlflow(
    registry: Registry,
    path: Path,
    name: str,
    *,
    trust_pickle: bool,
    description: str | None,
    tags: dict[str, Any],
    actor: str,
) -> ModelVersionRecord:
    """Read the MLflow model at ``path``, save it as a ``Model`` artifact, and register it as
    the next version of ``name`` (artifact row, version and audit row in one transaction)."""
    mlmodel = read_mlmodel(path)
    flavor, estimator = _load_estimator(mlmodel, trust_pickle=trust_pickle)
    packaged = _package(mlmodel, flavor, estimator)
    artifact = registry.artifacts.save(packaged, "Model", materializer="model")
    version_tags = {
        "mlflow.flavor": flavor,
        "mlflow.source": str(mlmodel.path.absolute()),
        **{
            f"mlflow.{key}": value
            for key, value in (
                ("run_id", mlmodel.run_id),
                ("model_uuid", mlmodel.model_uuid),
                ("version", mlmodel.mlflow_version),
                ("created", mlmodel.created),
            )
            if value is not None
        },
        **tags,
    }
    return registry.register(
        name,
        artifact,  # type: ignore[arg-type]  # saved as a Model artifact just above
        description=description,
        tags=version_tags,
        source="mlflow",
        actor=actor,
    )


def _load_estimator(mlmodel: MlflowModel, *, trust_pickle: bool) -> tuple[str, Any]:
    """``(flavor, estimator)`` read from the most native flavor the directory offers."""
    flavors = mlmodel.flavors
    for flavor in ("lightgbm", "xgboost", "sklearn"):
        if flavor in flavors:
            return flavor, _read_flavor(mlmodel, flavor, flavors[flavor], trust_pickle)
    pyfunc = flavors.get("python_function")
    if pyfunc is None:
        raise _unsupported(mlmodel, f"flavors {', '.join(sorted(flavors)) or 'none'}")
    loader = str(pyfunc.get("loader_module") or "")
    if loader == "mlflow.pyfunc.model" or "python_model" in pyfunc or "model_code_path" in pyfunc:
        from mloop.ml import UnsupportedModelError

        raise UnsupportedModelError(
            f"{mlmodel.path} is a custom MLflow pyfunc model (a PythonModel): its predict is "
            "pickled or scripted Python code, which mloop cannot import without running it. "
            "Log the underlying model with mlflow.sklearn, mlflow.lightgbm or mlflow.xgboost "
            "and import that instead",
            path=str(mlmodel.path),
            loader_module=loader or None,
        )
    if loader not in LOADERS:
        raise _unsupported(mlmodel, f"python_function with loader_module {loader!r}")
    flavor = LOADERS[loader]
    conf = dict(pyfunc)
    conf.setdefault("pickled_model", pyfunc.get("model_path") or pyfunc.get("data"))
    return flavor, _read_flavor(mlmodel, flavor, conf, trust_pickle)


def _unsupported(mlmodel: MlflowModel, what: str) -> Exception:
    from mloop.ml import UnsupportedModelError

    return UnsupportedModelError(
        f"cannot import the MLflow model {mlmodel.path} ({what}): mloop imports the "
        "sklearn, lightgbm and xgboost flavors, and python_function models of those",
        path=str(mlmodel.path),
    )


def _read_flavor(mlmodel: MlflowModel, flavor: str, conf: dict[str, Any], trust: bool) -> Any:
    from mloop.ml import get_flavor

    file = conf.get("pickled_model") if flavor == "sklearn" else conf.get("data")
    file = file or conf.get("model_path") or conf.get("data") or conf.get("pickled_model")
    if not file:
        raise DefinitionError(
            f"{mlmodel.path / MLMODEL}: the {flavor} flavor names no model file",
            path=str(mlmodel.path),
        )
    path = mlmodel.path / str(file)
    if not path.is_file():
        raise NotFoundError(
            f"the MLflow model {mlmodel.path} has no file {file} (named by its {flavor} flavor)",
            path=str(path),
        )
    fmt = str(conf.get("serialization_format") or "")
    if path.suffix == ".skops" or fmt == "skops":
        trusted = [str(t) for t in conf.get("skops_trusted_types") or []] if trust else None
        return get_flavor("sklearn").load(path, trusted=trusted, trust_pickle=False)
    if path.suffix == ".pkl" or fmt in _PICKLE_FORMATS or flavor == "sklearn":
        if not trust:
            from mloop.ml import UntrustedModelError

            raise UntrustedModelError(
                f"the MLflow model {mlmodel.path} is a pickle ({file}, "
                f"{fmt or 'pickle'}): unpickling runs whatever code the file contains, so "
                "mloop does not do it unasked. If you trust where the model came from, pass "
                "trust_pickle=True (mloop models import-mlflow --trust-pickle); it is then "
                "re-saved in a native format and never unpickled again",
                path=str(path),
                flavor=flavor,
            )
        return get_flavor("pickle").load(path, trusted=None, trust_pickle=True)
    return get_flavor(flavor).load(path, trusted=None, trust_pickle=False)


def _package(mlmodel: MlflowModel, flavor: str, estimator: Any) -> PackagedModel:
    from mloop.ml import PackagedModel, flavor_for

    native = flavor_for(estimator)  # an unpickled LightGBM sklearn model → lightgbm
    signature = _signature(mlmodel, native.feature_names(estimator))
    outputs = (mlmodel.signature or {}).get("outputs") or []
    target = None
    if outputs and isinstance(outputs[0], dict) and outputs[0].get("name"):
        target = str(outputs[0]["name"])
    return PackagedModel(
        estimator,
        signature=signature,
        target=target,
        metadata={
            "imported_from": "mlflow",
            "mlflow_flavor": flavor,
            "mlflow_run_id": mlmodel.run_id,
            "mlflow_model_uuid": mlmodel.model_uuid,
        },
    )


def _signature(mlmodel: MlflowModel, feature_names: list[str] | None) -> Any:
    """mloop's :class:`~mloop.ml.Signature` from MLflow's: named columns map one to one; a
    tensor signature takes its column names from the model (unnamed: no signature)."""
    from mloop.ml import ColumnSpec, Signature

    raw = mlmodel.signature or {}
    inputs = raw.get("inputs") or []
    if not isinstance(inputs, list) or not inputs:
        if feature_names:
            return Signature([ColumnSpec(n, "any") for n in feature_names])
        return None
    if all(isinstance(c, dict) and c.get("type") != "tensor" for c in inputs):
        columns = [
            ColumnSpec(str(c.get("name") or f"column_{i}"), TYPES.get(str(c.get("type")), "any"))
            for i, c in enumerate(inputs)
        ]
        outputs = [
            ColumnSpec(str(c.get("name") or "prediction"), TYPES.get(str(c.get("type")), "any"))
            for c in raw.get("outputs") or []
            if isinstance(c, dict) and c.get("type") != "tensor"
        ]
        return Signature(columns, outputs)
    spec = inputs[0].get("tensor-spec") if isinstance(inputs[0], dict) else None
    dtype = str((spec or {}).get("dtype", ""))
    if feature_names:
        return Signature([ColumnSpec(n, _TENSOR_TYPES.get(dtype, "any")) for n in feature_names])
    return None

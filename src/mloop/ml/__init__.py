"""Models as data: feature transforms, signatures, packaged models, training and metrics.

The object model, in the order training meets it:

- a :class:`Transform` declares the preprocessing of each feature column; ``fit`` on the
  training rows gives a :class:`FittedTransform`, a JSON document applied identically at
  training, evaluation and serving (no training/serving skew);
- :func:`training_data` picks the rows of a split, the task, classes and features;
  :func:`fit_lightgbm`, :func:`fit_xgboost` and :func:`fit_sklearn` train on it;
- a :class:`PackagedModel` is the result: the estimator in its native format (a *flavor*:
  LightGBM text, XGBoost UBJSON, audited skops; pickle only when asked), the transform, the
  input :class:`Signature`, task, target and classes. It is the value of a ``Model``
  artifact (the ``model`` materializer) and predicts from raw rows;
- :func:`classification_metrics`, :func:`regression_metrics` and :func:`sliced_metrics`
  evaluate it as JSON;
- ``PackagedModel.explain`` gives an :class:`Explanation`: per-input-column attributions
  that add up to the model's output (exact TreeSHAP for boosters, ``shap`` otherwise).

Errors: :class:`SignatureError` (a request does not fit the signature), and
:class:`ModelLoadError` / :class:`UntrustedModelError` / :class:`UnsupportedModelError`
(see :mod:`mloop.ml._errors`). Model libraries are imported only when used:
``import mloop.ml`` loads neither scikit-learn, LightGBM nor XGBoost.
"""

from mloop.ml import _materializer as _materializer  # registers the "model" materializer
from mloop.ml._dataset import Part, TrainingData, split_rows, training_data
from mloop.ml._errors import ModelLoadError, UnsupportedModelError, UntrustedModelError
from mloop.ml._explain import Explanation
from mloop.ml._flavors import Flavor, flavor_for, get_flavor
from mloop.ml._materializer import ModelMaterializer
from mloop.ml._metrics import classification_metrics, regression_metrics, sliced_metrics
from mloop.ml._packaged import PackagedModel
from mloop.ml._signature import ColumnSpec, Signature, SignatureError
from mloop.ml._trainers import MetricLogger, fit_lightgbm, fit_sklearn, fit_xgboost
from mloop.ml._transform import FittedTransform, Transform

__all__ = [
    "ColumnSpec",
    "Explanation",
    "FittedTransform",
    "Flavor",
    "MetricLogger",
    "ModelLoadError",
    "ModelMaterializer",
    "PackagedModel",
    "Part",
    "Signature",
    "SignatureError",
    "TrainingData",
    "Transform",
    "UnsupportedModelError",
    "UntrustedModelError",
    "classification_metrics",
    "fit_lightgbm",
    "fit_sklearn",
    "fit_xgboost",
    "flavor_for",
    "get_flavor",
    "regression_metrics",
    "sliced_metrics",
    "split_rows",
    "training_data",
]

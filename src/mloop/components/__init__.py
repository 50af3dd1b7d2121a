"""The standard components: ordinary ``@component`` s that users can read, copy and replace.

- :data:`ingest`: ``ingest.csv``, ``ingest.parquet`` and ``ingest.sql`` read files or a query
  into a ``Dataset``, with an optional time window and train/eval splits.
- :func:`statistics`, :func:`infer_schema` / :func:`import_schema` and :func:`validate`: the
  data validation steps (statistics, a schema, anomalies and drift against a baseline).
- :func:`transform` and :data:`train`: a feature transform fitted on the training rows, and
  ``train.lightgbm``, ``train.xgboost`` and ``train.sklearn``, which return a ``Model``;
  :func:`tune`: an Optuna search whose trials are recorded as child executions.
- :func:`evaluate`: metrics overall and per slice, thresholds, and the comparison with the
  registry's champion, as ``Metrics`` and a ``Blessing``; :func:`push`: register the model
  and move an alias only when it is blessed.
- :func:`batch_predict` / :func:`batch_predict_uri`: a ``Dataset`` scored by a ``Model``
  artifact, or by the registry model a URI names at run time, into a ``Dataset``.
"""

from mloop.components._batch_predict import batch_predict, batch_predict_uri
from mloop.components._evaluation import evaluate
from mloop.components._ingest import ingest
from mloop.components._push import push
from mloop.components._training import train, transform
from mloop.components._tuning import tune
from mloop.components._validation import import_schema, infer_schema, statistics, validate

__all__ = [
    "batch_predict",
    "batch_predict_uri",
    "evaluate",
    "import_schema",
    "infer_schema",
    "ingest",
    "push",
    "statistics",
    "train",
    "transform",
    "tune",
    "validate",
]

"""Prediction serving: endpoints of deployed model versions, and the server that serves them.

An **endpoint** holds **deployments** of registered models, pinned to a version or following
an alias, with a traffic split in percent (canary) and optional **shadow** deployments (a
copy of the traffic; predictions logged, never returned)::

    from mloop.serving import Deployment, Endpoints

    with Endpoints() as eps:
        eps.create("flights-delay", [Deployment("models:/flights-delay/3", 90),
                                     Deployment("models:/flights-delay@challenger", 10)])

``mloop serve`` (:func:`serve`, :func:`create_app` for an ASGI app of your own) serves them
over the Open Inference Protocol (``/v2/models/NAME/infer``) and a Vertex-style API
(``/v1/endpoints/NAME:predict``, ``:explain``), follows moving aliases without dropping a
request, logs sampled requests to Parquet (:class:`RequestLogger`, :func:`read_logs`,
:func:`compact_logs`) and
exports Prometheus metrics (:class:`ServingMetrics`). :func:`predict_file` is batch
prediction over Parquet/CSV files of any size.
"""

from mloop.serving._app import create_app, serve
from mloop.serving._batch import BatchSummary, predict_file, predict_table
from mloop.serving._endpoints import Deployment, Endpoint, Endpoints, check_endpoint_name
from mloop.serving._log_store import CompactionReport, compact_logs, read_logs
from mloop.serving._logging import LoggerStats, RequestLogger
from mloop.serving._metrics import ServingMetrics, mark_worker_dead, setup_multiprocess_dir
from mloop.serving._server import Serving

__all__ = [
    "BatchSummary",
    "CompactionReport",
    "Deployment",
    "Endpoint",
    "Endpoints",
    "LoggerStats",
    "RequestLogger",
    "Serving",
    "ServingMetrics",
    "check_endpoint_name",
    "compact_logs",
    "create_app",
    "mark_worker_dead",
    "predict_file",
    "predict_table",
    "read_logs",
    "serve",
    "setup_multiprocess_dir",
]

"""The standard components: ordinary ``@component`` s that users can read, copy and replace.

- :data:`ingest`: ``ingest.csv``, ``ingest.parquet`` and ``ingest.sql`` read files or a query
  into a ``Dataset``, with an optional time window and train/eval splits.
- :func:`statistics`, :func:`infer_schema` / :func:`import_schema` and :func:`validate`: the
  data validation steps (statistics, a schema, anomalies and drift against a baseline).
"""

from mloop.components._ingest import ingest
from mloop.components._validation import import_schema, infer_schema, statistics, validate

__all__ = ["import_schema", "infer_schema", "ingest", "statistics", "validate"]

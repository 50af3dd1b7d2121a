"""The standard components: ordinary ``@component`` s that users can read, copy and replace.

- :data:`ingest`: ``ingest.csv``, ``ingest.parquet`` and ``ingest.sql`` read files or a query
  into a ``Dataset``, with an optional time window and train/eval splits.
"""

from mloop.components._ingest import ingest

__all__ = ["ingest"]

"""Ingest components: CSV, Parquet and SQL sources into a ``Dataset``.

``ingest.csv``, ``ingest.parquet`` and ``ingest.sql`` are ordinary components that return
an Arrow table, with the same options for what to keep:

- ``columns``: the columns to keep (default: all), in that order.
- ``time_column``, ``start``, ``end``: keep the rows whose time is in ``[start, end)`` (either
  bound may be left out), so a pipeline can ingest "the new data since the last run". Bounds
  are ISO dates or timestamps; **naive means UTC** on either side (a naive bound against a
  zone-aware column, an aware bound against a naive column), and a date is midnight UTC. A
  text time column is parsed as ISO 8601 and returned parsed; other types are an error.
  Rows without a time are outside every window.
- ``split``: fractions per split name, ``{"train": 0.8, "eval": 0.2}`` (or a list of
  ``(name, fraction)`` pairs), summing to 1, recorded in a string column ``split`` (see
  :mod:`mloop.components._split`); a source with a ``split`` column of its own is an error
  (leave it out with ``columns``). By default rows are placed by a
  fixed hash of the whole row; ``split_by="key"`` hashes that column instead, so all rows of a
  key land in one split whatever the row order or run. ``split_time=True`` splits by
  ``time_column`` instead: the earliest rows go to the first split, which needs the order
  given as a list, ``[("train", 0.8), ("eval", 0.2)]`` (a dict's order is not kept by the
  pipeline spec).

Files (CSV, Parquet) are a file, a directory (read recursively; hive partitions such as
``year=2013/`` become columns; names starting with ``.`` or ``_`` are skipped) or a glob,
local or on any fsspec file system (``s3://...`` with ``storage_options``). Relative paths are
relative to the working directory of the step.

**Caching.** A step's cache key covers its parameters, not the bytes behind a path or a
query, so these components default to ``cache=False``: each run reads the source again.
This costs one read and loses nothing downstream: the cache is keyed on *content*, so when
the data has not changed the ingest step writes the same artifact and every later step is a
cache hit. (A fingerprint of the files passed as a parameter would have to be computed when
the pipeline is defined, which is once, not at each run; and a step cannot add to its own
key.) When a source is known not to change (a closed date partition), turn caching on for
that step with ``.set_options(cache=True)``. The components' ``version`` is part of their
fingerprint: bump it when the helpers here change what they return.

Bad input is an :class:`IngestError` that names the column, path or argument: no file
matches, an unknown column, a time column that is not a time, split fractions that do not
sum to 1. An empty result is a valid (empty) dataset and logged as a warning.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mloop.artifacts import Dataset
from mloop.components._rows import Rows
from mloop.components._sources import list_files, query_source, read_csv, read_parquet
from mloop.dsl import component
from mloop.errors import IngestError

if TYPE_CHECKING:
    pass

__all__ = ["IngestError", "ingest"]


# The components --------------------------------------------------------------------------


@component(name="ingest.csv", version="1", cache=False)
def ingest_csv(
    path: str,
    *,
    columns: list[str] | None = None,
    time_column: str | None = None,
    start: str | None = None,
    end: str | None = None,
    split: Any = None,
    split_by: str | None = None,
    split_time: bool = False,
    storage_options: dict[str, Any] | None = None,
    csv_options: dict[str, Any] | None = None,
) -> Dataset:
    """CSV files (a file, directory or glob) as a Dataset. ``csv_options`` are pyarrow's
    CSV options by name (``delimiter``, ``null_values``, ``column_types``, ...); types are
    inferred otherwise, and a column whose values do not all fit one type is read as text."""
    rows = Rows(columns, time_column, start, end, split, split_by, split_time)
    table = read_csv(list_files(path, storage_options), rows, csv_options or {})
    return table  # type: ignore[no-any-return]  # an Arrow table, stored as the Dataset


@component(name="ingest.parquet", version="1", cache=False)
def ingest_parquet(
    path: str,
    *,
    columns: list[str] | None = None,
    time_column: str | None = None,
    start: str | None = None,
    end: str | None = None,
    split: Any = None,
    split_by: str | None = None,
    split_time: bool = False,
    storage_options: dict[str, Any] | None = None,
) -> Dataset:
    """Parquet files (a file, directory of partitions or glob) as a Dataset. The time window
    is pushed down to the reader, so row groups outside it are skipped."""
    rows = Rows(columns, time_column, start, end, split, split_by, split_time)
    table = read_parquet(list_files(path, storage_options), rows)
    return table  # type: ignore[no-any-return]  # an Arrow table, stored as the Dataset


@component(name="ingest.sql", version="1", cache=False)
def ingest_sql(
    query: str,
    *,
    url: str = "duckdb:",
    columns: list[str] | None = None,
    time_column: str | None = None,
    start: str | None = None,
    end: str | None = None,
    split: Any = None,
    split_by: str | None = None,
    split_time: bool = False,
) -> Dataset:
    """The result of a SQL query as a Dataset: through SQLAlchemy (``url`` is a SQLAlchemy
    URL) or DuckDB (``duckdb:`` in memory, ``duckdb:///path/to/file.duckdb``, opened
    read-only). Rows are fetched in batches."""
    rows = Rows(columns, time_column, start, end, split, split_by, split_time)
    with query_source(query, url) as source:
        table = rows.read(source)
    return table  # type: ignore[no-any-return]  # an Arrow table, stored as the Dataset


class _Ingest:
    """The ingest components: ``ingest.csv``, ``ingest.parquet`` and ``ingest.sql``."""

    csv = ingest_csv
    parquet = ingest_parquet
    sql = ingest_sql

    def __repr__(self) -> str:
        return "<mloop.components.ingest: csv, parquet, sql>"


ingest = _Ingest()

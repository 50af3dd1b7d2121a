"""The request log's files: where they are, how they are encoded, reading them back
(:func:`read_logs`) and merging an hour's many small files into one (:func:`compact_logs`).

Layout (written by :class:`~mloop.serving._logging.RequestLogger`)::

    <root>/<endpoint>/date=YYYY-MM-DD/hour=HH/<UTC time>-<uuid>.parquet
    <root>/<endpoint>/date=YYYY-MM-DD/hour=HH/compacted-<UTC time>-<uuid>.parquet

A server writes a file per endpoint and hour about every second under load: thousands an
hour, which makes reads slow. :func:`compact_logs` merges the files of each finished hour
into one. The merged file names the files it replaces in its own
metadata, and readers skip those: a reader listing the directory between the merged file's
appearance and the deletion of the files it replaces sees each row once, and so does the
next compaction if one was interrupted there.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mloop.errors import DataError
from mloop.serving._log_tables import _TYPED_COLUMNS, _typed_fields

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["CompactionReport", "compact_logs", "read_logs"]

_LOCAL_PROTOCOLS = ("", "file", "local")
_ENDPOINT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_PARTITION = re.compile(r"/date=(\d{4}-\d{2}-\d{2})/hour=(\d{2})/[^/]+$")
_COMPACTED = "compacted-"
#: key of a compacted file's metadata: the JSON list of the file names it replaces
_REPLACES = b"mloop.replaces"


def parquet_options(schema: pa.Schema) -> dict[str, Any]:
    """How the log is encoded, for a cheap write (it is written on the serving machine and
    read rarely): LZ4, dictionaries only for repeated text (names, categories; not numbers,
    nor request ids, which repeat only within a request, where LZ4 finds them), statistics
    only for ``logged_at`` (what ``--since`` filters on). About half the CPU of zstd with
    every column's dictionary and statistics, for ~15 % more bytes."""
    return {
        "compression": "lz4",
        "use_dictionary": [c for c in _text_columns(schema) if c != "request_id"] or False,
        "write_statistics": ["logged_at"] if "logged_at" in schema.names else False,
    }


def _text_columns(schema: pa.Schema) -> list[str]:
    """The paths of the string columns of ``schema``, struct children included."""
    import pyarrow as pa

    def paths(name: str, type_: pa.DataType) -> list[str]:
        if pa.types.is_struct(type_):
            return [p for f in type_ for p in paths(f"{name}.{f.name}", f.type)]
        return [name] if pa.types.is_string(type_) or pa.types.is_large_string(type_) else []

    return [p for field in schema for p in paths(field.name, field.type)]


def _store(root: str, storage_options: dict[str, Any] | None) -> tuple[Any, str, bool]:
    """``(filesystem, base path, is_local)`` of a log root (a directory or an fsspec URL)."""
    from fsspec.core import url_to_fs

    protocol, _, rest = str(root).rpartition("://")
    is_local = protocol in _LOCAL_PROTOCOLS
    location = str(Path(rest).absolute()) if is_local else str(root).rstrip("/")
    fs, base = url_to_fs(location, **(storage_options or {}))
    return fs, str(base).rstrip("/"), is_local


def _visible(path: str) -> bool:
    """A log file, not one being written (hidden names)."""
    return not path.rsplit("/", 1)[-1].startswith(".")


def _live(fs: Any, paths: list[str]) -> list[str]:
    """``paths`` without the files a compacted file among them replaces."""
    replaced: set[str] = set()
    for path in paths:
        folder, _, name = path.rpartition("/")
        if name.startswith(_COMPACTED):
            replaced.update(f"{folder}/{n}" for n in _replaces(fs, path))
    return [p for p in paths if p not in replaced]


def _replaces(fs: Any, path: str) -> list[str]:
    import pyarrow.parquet as pq

    with fs.open(path, "rb") as handle:
        metadata = pq.read_metadata(handle).metadata or {}
    names = json.loads(metadata.get(_REPLACES, b"[]"))
    return [str(n) for n in names]


def read_logs(
    root: str,
    endpoint: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int | None = None,
    storage_options: dict[str, Any] | None = None,
) -> pa.Table:
    """The serving log of ``endpoint`` under ``root``, newest first.

    ``since`` (inclusive) and ``until`` (exclusive) filter on ``logged_at`` (naive
    datetimes are UTC) and prune the hour partitions that cannot match. Files are unioned
    by column name: rows of a model version without some feature have it null. An
    endpoint with no log yet gives an empty table with the fixed-type columns.
    """
    import duckdb

    if not _ENDPOINT_NAME.match(endpoint):
        raise DataError(f"invalid endpoint name {endpoint!r}", endpoint=endpoint)
    if limit is not None and limit < 0:
        raise DataError(f"limit must be >= 0, not {limit}", limit=limit)
    since, until = _utc(since), _utc(until)
    files, fs, is_local = _log_files(root, endpoint, storage_options, since, until)
    if not files or limit == 0:
        return _empty_table()
    conditions: list[str] = []
    params: list[Any] = [files]
    if since is not None:
        conditions.append("logged_at >= ?")
        params.append(since)
    if until is not None:
        conditions.append("logged_at < ?")
        params.append(until)
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    limit_clause = f" LIMIT {int(limit)}" if limit is not None else ""
    query = (
        "SELECT * FROM read_parquet(?, union_by_name = true, hive_partitioning = false)"
        f"{where} ORDER BY logged_at DESC{limit_clause}"
    )
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        if not is_local:
            con.register_filesystem(fs)
        relation = con.sql(query, params=params)
        to_table = getattr(relation, "to_arrow_table", None) or relation.arrow
        table: pa.Table = to_table()
    finally:
        con.close()
    return table


def _log_files(
    root: str,
    endpoint: str,
    storage_options: dict[str, Any] | None,
    since: datetime | None,
    until: datetime | None,
) -> tuple[list[str], Any, bool]:
    """The Parquet files of ``endpoint`` whose hour may hold rows in [since, until) (not
    those a compacted file replaced, in case they are still there)."""
    fs, base, is_local = _store(root, storage_options)
    directory = f"{base}/{endpoint}"
    if not is_local:
        fs.invalidate_cache(directory)  # listings are cached; a writer may have added files
    found = sorted(p for p in fs.glob(f"{directory}/date=*/hour=*/*.parquet") if _visible(p))
    files = []
    for path in found:
        match = _PARTITION.search(path)
        if match is not None:
            start = datetime.strptime(match[1], "%Y-%m-%d").replace(tzinfo=UTC)
            start += timedelta(hours=int(match[2]))
            if since is not None and start + timedelta(hours=1) <= since:
                continue
            if until is not None and start >= until:
                continue
        files.append(path)
    files = _live(fs, files)
    return [p if is_local else str(fs.unstrip_protocol(p)) for p in files], fs, is_local


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _empty_table() -> pa.Table:
    import pyarrow as pa

    fields = _typed_fields()
    columns = [pa.field(name, fields[name]) for name in _TYPED_COLUMNS if name != "scores"]
    return pa.schema([*columns, pa.field("prediction", pa.null())]).empty_table()


# Compaction ---------------------------------------------------------------------------------


@dataclass
class CompactionReport:
    """What :func:`compact_logs` did: hour partitions merged, files before and after, rows,
    and the partitions it left alone because their files' columns cannot be joined."""

    partitions: int = 0
    files_merged: int = 0
    files_written: int = 0
    rows: int = 0
    skipped: list[str] = field(default_factory=list)


def compact_logs(
    root: str,
    endpoint: str | None = None,
    *,
    before: datetime | None = None,
    storage_options: dict[str, Any] | None = None,
) -> CompactionReport:
    """Merge the files of each finished hour of the serving log into one file.

    ``endpoint``: one endpoint's log (default: every endpoint under ``root``). Hours that
    end at or before ``before`` are merged (default: those that ended at least 10 minutes
    ago, so a server still flushing its last records of the hour is not raced). An hour
    with one file is left as it is. Rows are kept exactly, in the order written (files
    are read one at a time: memory holds one of them); the files replaced are deleted
    once the merged file is complete. Run one compaction of a log at a time (a cron job,
    say); servers may keep writing meanwhile.
    """
    import pyarrow as pa

    if endpoint is not None and not _ENDPOINT_NAME.match(endpoint):
        raise DataError(f"invalid endpoint name {endpoint!r}", endpoint=endpoint)
    cutoff = _utc(before) or datetime.now(UTC) - timedelta(minutes=10)
    fs, base, is_local = _store(root, storage_options)
    if not is_local:
        fs.invalidate_cache(base)  # listings are cached; servers may have added files
    report = CompactionReport()
    if not fs.exists(base):
        return report
    if endpoint is None:
        names = sorted(
            p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(base, detail=False) if fs.isdir(p)
        )
        endpoints = [n for n in names if _ENDPOINT_NAME.match(n)]
    else:
        endpoints = [endpoint]
    for name in endpoints:
        folders = sorted(fs.glob(f"{base}/{name}/date=*/hour=*"))
        for folder in folders:
            match = _PARTITION.search(f"{folder}/x")
            if match is None:
                continue
            start = datetime.strptime(match[1], "%Y-%m-%d").replace(tzinfo=UTC)
            if start + timedelta(hours=int(match[2]) + 1) > cutoff:
                continue
            files = sorted(p for p in fs.glob(f"{folder}/*.parquet") if _visible(p))
            live = _live(fs, files)
            stale = [p for p in files if p not in live]  # replaced; left by an interrupted run
            if len(live) > 1:
                try:
                    schema = pa.unify_schemas(
                        [_schema(fs, p) for p in live], promote_options="permissive"
                    )
                except (pa.ArrowException, TypeError, ValueError) as exc:
                    report.skipped.append(f"{folder}: {exc}")
                    continue
                names_replaced = [p.rsplit("/", 1)[-1] for p in live]
                schema = schema.with_metadata({_REPLACES: json.dumps(names_replaced)})
                stamp = f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}"
                target = f"{folder}/{_COMPACTED}{stamp}-{uuid.uuid4().hex}.parquet"
                try:
                    rows = _merge(fs, live, target, schema)
                except (pa.ArrowException, TypeError, ValueError) as exc:
                    report.skipped.append(f"{folder}: {exc}")
                    continue
                report.partitions += 1
                report.files_merged += len(live)
                report.files_written += 1
                report.rows += rows
                stale += live
            for path in stale:
                fs.rm(path)
    return report


def _schema(fs: Any, path: str) -> pa.Schema:
    import pyarrow.parquet as pq

    with fs.open(path, "rb") as handle:
        schema: pa.Schema = pq.read_schema(handle)
    return schema.remove_metadata()


def _merge(fs: Any, paths: list[str], target: str, schema: pa.Schema) -> int:
    """Write the rows of ``paths``, in order, to ``target`` as ``schema`` (every file's
    columns unified); one file in memory at a time. ``target`` appears complete or not at
    all: written under a hidden name and renamed where renaming is atomic (a local disk),
    in one PUT on an object store. The rows written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    local = "file" in fs.protocol or "local" in fs.protocol
    folder, _, name = target.rpartition("/")
    temp = f"{folder}/.{name}.tmp"
    sink: Any = temp if local else pa.BufferOutputStream()
    rows = 0
    try:
        with pq.ParquetWriter(sink, schema, **parquet_options(schema)) as writer:
            for path in paths:
                with fs.open(path, "rb") as handle:
                    table = pq.read_table(handle)
                writer.write_table(_conform(table, schema))
                rows += table.num_rows
        if local:
            fs.mv(temp, target)
        else:
            fs.pipe_file(target, sink.getvalue().to_pybytes())
    except BaseException:
        if local and fs.exists(temp):
            fs.rm(temp)
        raise
    return rows


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with ``schema``'s columns, in its order and types (null where it has none)."""
    import pyarrow as pa

    columns = [
        table.column(f.name).cast(f.type)
        if f.name in table.column_names
        else pa.nulls(table.num_rows, f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)

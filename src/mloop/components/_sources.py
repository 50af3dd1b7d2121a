"""Where ingested rows come from: files (Parquet, CSV; local or fsspec) and SQL queries."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mloop.errors import IngestError

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.dataset as ds

    from mloop.components._rows import Rows

from mloop.components._rows import Source, arrow_errors, merge_conflict

# Sources ------------------------------------------------------------------------------------

log = logging.getLogger("mloop.components.ingest")

_GLOB = re.compile(r"[*?\[]")
_BATCH_ROWS = 65_536


@dataclass
class Files:
    """The files a path names (sorted), on its fsspec file system."""

    path: str
    fs: Any
    paths: list[str]
    base: str  # where hive partition directories start

    @property
    def description(self) -> str:
        count = len(self.paths)
        return f"path {self.path!r}" + (f" ({count} files)" if count > 1 else "")

    def arrow_fs(self) -> Any:
        import pyarrow.fs as pafs

        protocols = self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,)
        if "file" in protocols:
            return pafs.LocalFileSystem()
        return pafs.PyFileSystem(pafs.FSSpecHandler(self.fs))

    def source(self, format_: ds.FileFormat) -> Source:
        """The files as one dataset (schemas unified across files)."""
        import pyarrow.dataset as ds

        options = ds.FileSystemFactoryOptions(
            partition_base_dir=self.base, partitioning=ds.HivePartitioning.discover()
        )
        factory = ds.FileSystemDatasetFactory(self.arrow_fs(), self.paths, format_, options)
        schema = factory.inspect(promote_options="permissive")
        dataset = factory.finish(schema)

        def scan(columns: list[str], where: ds.Expression | None) -> Iterator[pa.RecordBatch]:
            return iter(dataset.to_batches(columns=columns, filter=where))

        return Source(self.description, schema, scan, pushdown=True)


def list_files(path: str, storage_options: dict[str, Any] | None) -> Files:
    """The data files ``path`` names: a file, a directory (recursively) or a glob."""
    import fsspec

    try:
        fs, root = fsspec.core.url_to_fs(path, **(storage_options or {}))
    except (ImportError, ValueError, TypeError) as exc:
        raise IngestError(f"cannot open path {path!r}: {exc}", path=path) from exc
    fs.invalidate_cache()  # a listing cached by an earlier read in this process may be stale
    magic = _GLOB.search(root)
    found: list[str] = []
    if magic:
        base = root[: magic.start()].rsplit("/", 1)[0]
        for match, info in sorted(fs.glob(root, detail=True).items()):
            found += _files_under(fs, match) if info.get("type") == "directory" else [match]
    elif fs.isdir(root):
        base = root.rstrip("/")
        found = _files_under(fs, base)
    elif fs.isfile(root):
        base, found = root.rsplit("/", 1)[0], [root]
    else:
        raise IngestError(f"no file or directory matches path {path!r}", path=path)
    found = [f for f in found if not _hidden(f[len(base) :])]
    if not found:
        raise IngestError(f"no data files match path {path!r}", path=path)
    return Files(path, fs, found, base)


def _files_under(fs: Any, directory: str) -> list[str]:
    return sorted(p for p in fs.find(directory) if not _hidden(p[len(directory) :]))


def _hidden(relative: str) -> bool:
    return any(part[:1] in (".", "_") for part in relative.split("/") if part)


def read_parquet(files: Files, rows: Rows) -> pa.Table:
    """``files`` as Parquet; the time window is pushed down to skip row groups outside it."""
    import pyarrow.dataset as ds

    with arrow_errors(files.description):
        return rows.read(files.source(ds.ParquetFileFormat()))


# CSV --------------------------------------------------------------------------------------

_CSV_OPTIONS = {
    "read": ("skip_rows", "skip_rows_after_names", "column_names", "autogenerate_column_names",
             "encoding", "block_size"),
    "parse": ("delimiter", "quote_char", "double_quote", "escape_char", "newlines_in_values",
              "ignore_empty_lines"),
    "convert": ("column_types", "null_values", "true_values", "false_values", "decimal_point",
                "strings_can_be_null", "quoted_strings_can_be_null", "timestamp_parsers",
                "check_utf8"),
}  # fmt: skip
_CSV_CONVERSION = re.compile(
    r"In CSV column #(\d+): (?:Row #(\d+): )?CSV conversion error to ([^:]+): invalid value '(.*)'"
)
_CSV_SOURCE = re.compile(r"CSV input source '([^']*)'")


def read_csv(files: Files, rows: Rows, options: dict[str, Any]) -> pa.Table:
    """``files`` as CSV. A column whose values do not all fit the type inferred for it (from
    the start of each file) is read again as text, with a warning; a value that does not fit
    a type given in ``column_types`` is an error naming the column, the file and the value."""
    import pyarrow as pa

    unknown = sorted(set(options) - {key for keys in _CSV_OPTIONS.values() for key in keys})
    if unknown:
        known = ", ".join(sorted(key for keys in _CSV_OPTIONS.values() for key in keys))
        raise IngestError(
            f"csv_options: unknown option {unknown[0]!r} (known: {known})", argument="csv_options"
        )
    declared = {name: _arrow_type(name, t) for name, t in options.get("column_types", {}).items()}
    as_text: dict[str, pa.DataType] = {}
    with arrow_errors(files.description):
        while True:
            format_ = _csv_format(options, {**as_text, **declared})
            try:
                return rows.read(files.source(format_))
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                column, problem = _csv_problem(exc, files, format_)
                if column is None or column in as_text:
                    raise
                if column in declared:
                    raise IngestError(
                        f"column {column!r} (column_types: {declared[column]}): {problem}",
                        column=column,
                        path=files.path,
                    ) from None
                log.warning(
                    "column %r has values of mixed types (%s): read as text", column, problem
                )
                as_text[column] = pa.string()


def _csv_format(options: dict[str, Any], types: dict[str, pa.DataType]) -> ds.CsvFileFormat:
    import pyarrow.csv as pacsv
    import pyarrow.dataset as ds

    def pick(group: str) -> dict[str, Any]:
        return {k: v for k, v in options.items() if k in _CSV_OPTIONS[group]}

    try:
        return ds.CsvFileFormat(
            read_options=pacsv.ReadOptions(**pick("read")),
            parse_options=pacsv.ParseOptions(**pick("parse")),
            convert_options=pacsv.ConvertOptions(**{**pick("convert"), "column_types": types}),
        )
    except (TypeError, ValueError) as exc:
        raise IngestError(f"csv_options: {exc}", argument="csv_options") from None


def _arrow_type(column: str, spec: Any) -> pa.DataType:
    """An Arrow type from its name: ``int64``, ``string``, ``timestamp[s, tz=UTC]``, ..."""
    import pyarrow as pa

    if isinstance(spec, pa.DataType):
        return spec
    text = str(spec).replace(" ", "")
    stamp = re.fullmatch(r"timestamp\[(s|ms|us|ns)(?:,tz=([^\]]+))?\]", text)
    try:
        return pa.timestamp(stamp.group(1), tz=stamp.group(2)) if stamp else pa.type_for_alias(text)
    except (ValueError, KeyError, pa.ArrowInvalid):
        raise IngestError(
            f"csv_options column_types: {spec!r} (column {column!r}) is not an Arrow type "
            "name such as 'int64', 'float64', 'string', 'date32' or 'timestamp[s, tz=UTC]'",
            argument="csv_options",
            column=column,
        ) from None


def _csv_problem(exc: Exception, files: Files, format_: ds.CsvFileFormat) -> tuple[str | None, str]:
    """The column a CSV read failed on, and what happened, for a type problem."""
    message = str(exc)
    column = merge_conflict(exc)
    if column is not None:  # the files' inferred types disagree
        found = re.search(r"incompatible types: (.*)", message)
        return column, found.group(1) if found else message
    conversion = _CSV_CONVERSION.search(message)
    if conversion is None:
        return None, message
    index, row, type_, value = conversion.groups()
    source = _CSV_SOURCE.search(message)
    path = source.group(1) if source else _failing_file(files, format_, conversion)
    if path is None:
        return None, message
    names = format_.inspect(path, files.arrow_fs()).names
    where = path + (f", row {row}" if row else "")
    return names[int(index)], f"cannot parse {value!r} as {type_} ({where})"


def _failing_file(files: Files, format_: ds.FileFormat, failure: re.Match[str]) -> str | None:
    """The file whose CSV conversion fails as ``failure`` did (only on the error path)."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    if len(files.paths) == 1:
        return files.paths[0]
    for path in files.paths:
        try:
            for _ in ds.dataset(path, format=format_, filesystem=files.arrow_fs()).to_batches():
                pass
        except pa.ArrowInvalid as exc:
            found = _CSV_CONVERSION.search(str(exc))
            if found and found.group(1, 3, 4) == failure.group(1, 3, 4):
                return path
    return None


# SQL ----------------------------------------------------------------------------------------


@contextmanager
def query_source(query: str, url: str) -> Iterator[Source]:
    """The rows of ``query`` on ``url`` (DuckDB for ``duckdb:...``, else SQLAlchemy)."""
    opener = _duckdb if url == "duckdb" or url.startswith("duckdb:") else _sqlalchemy
    with opener(query, url) as source, arrow_errors(source.description):
        yield source


@contextmanager
def _duckdb(query: str, url: str) -> Iterator[Source]:
    import duckdb

    database = url.removeprefix("duckdb").removeprefix(":")
    database = database[3:] if database.startswith("///") else database.removeprefix("//")
    database = database or ":memory:"
    try:
        connection = duckdb.connect(database, read_only=database != ":memory:")
    except duckdb.Error as exc:
        raise IngestError(f"cannot open DuckDB database {database!r}: {exc}", path=url) from None
    try:
        relation = connection.sql(query)
        if relation is None:
            raise IngestError("the query returns no rows (is it a SELECT?)", argument="query")
        to_reader = getattr(relation, "to_arrow_reader", None) or relation.fetch_arrow_reader
        reader = to_reader(_BATCH_ROWS)

        def scan(columns: list[str], where: ds.Expression | None) -> Iterator[pa.RecordBatch]:
            return (batch.select(columns) for batch in reader)

        yield Source(f"the query on {url}", reader.schema, scan, pushdown=False)
    except duckdb.Error as exc:
        raise IngestError(f"the query failed on {url}: {exc}", argument="query") from None
    finally:
        connection.close()


@contextmanager
def _sqlalchemy(query: str, url: str) -> Iterator[Source]:
    import itertools

    import pyarrow as pa
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    try:
        shown = sa.make_url(url).render_as_string(hide_password=True)
        engine = sa.create_engine(url, poolclass=NullPool)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
        raise IngestError(
            f"url {url!r} is not a usable SQLAlchemy URL: {exc}", argument="url"
        ) from None
    try:
        with engine.connect() as connection:
            result = connection.execution_options(yield_per=_BATCH_ROWS).execute(sa.text(query))
            if not result.returns_rows:
                raise IngestError("the query returns no rows (is it a SELECT?)", argument="query")
            names = list(result.keys())
            batches = (_to_batch(names, rows) for rows in result.partitions(_BATCH_ROWS))
            first = next(batches, None)
            schema = pa.schema([(n, pa.null()) for n in names]) if first is None else first.schema

            def scan(columns: list[str], where: ds.Expression | None) -> Iterator[pa.RecordBatch]:
                chained = itertools.chain([first] if first is not None else [], batches)
                return (batch.select(columns) for batch in chained)

            yield Source(f"the query on {shown}", schema, scan, pushdown=False)
    except sa.exc.SQLAlchemyError as exc:
        raise IngestError(f"the query failed on {shown}: {exc}", argument="query") from None
    finally:
        engine.dispose()


def _to_batch(names: list[str], rows: Any) -> pa.RecordBatch:
    import pyarrow as pa

    arrays = []
    for name, values in zip(names, zip(*rows, strict=True), strict=True):
        try:
            arrays.append(pa.array(values))
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise IngestError(
                f"column {name!r} has values of different types ({exc}); cast it to one "
                "type in the query",
                column=name,
            ) from None
    return pa.RecordBatch.from_arrays(arrays, names=names)

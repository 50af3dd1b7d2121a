"""The files of a batch prediction: finding and streaming the input, writing the output.

Reading: :func:`open_source` lists what a path names (a file, a directory, a glob; local or
fsspec), reads its schema without reading rows (Parquet footers; a CSV's first block) and
streams record batches with memory bounded by the batch, not by a file or a row group.
Writing: a :class:`Sink` writes under a hidden temp name and moves the file into place only
when it is complete.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mloop.errors import DataError

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.fs as pafs

    from mloop.ml import PackagedModel

log = logging.getLogger("mloop.serving.batch")

_PARQUET = (".parquet", ".pq")
_CSV = ".csv"
_COMPRESSION = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd"}  # for CSV files
_GLOB = re.compile(r"[*?\[]")
_READ_BUFFER = 1 << 20  # bytes read at a time from a Parquet file
_READ_ROWS = 16_384  # rows decoded at a time: the reader's buffers grow with it
_CSV_CONVERSION = re.compile(
    r"In CSV column #(\d+): (?:Row #(\d+): )?CSV conversion error to ([^:]+): invalid value '(.*)'"
)


class RetypeColumn(Exception):
    """A CSV column that is not a model input failed to parse as its inferred type."""

    def __init__(self, column: str, reason: str) -> None:
        super().__init__(column)
        self.column = column
        self.reason = reason


@dataclass(frozen=True)
class Files:
    """The data files an input path names, on its fsspec file system, and their format."""

    path: str
    fs: Any
    paths: list[str]
    base: str  # where hive partition directories start
    format: str  # "parquet" or "csv"

    @property
    def description(self) -> str:
        count = len(self.paths)
        return repr(self.path) + (f" ({count} files)" if count > 1 else "")

    def arrow_fs(self) -> pafs.FileSystem:
        return _arrow_fs(self.fs)


@dataclass(frozen=True)
class Source:
    """Opened input: its schema, its row count when the format records it, and a stream of
    its rows. CSV model inputs are parsed as ``types`` says, ``text`` columns as text."""

    files: Files
    schema: pa.Schema
    total_rows: int | None
    dataset: Any = None  # the pyarrow dataset, for Parquet
    types: dict[str, pa.DataType] = field(default_factory=dict)
    text: frozenset[str] = frozenset()

    def batches(self, columns: list[str], chunk_rows: int) -> Iterator[pa.RecordBatch]:
        """The rows of ``columns``, in file order, in batches of at most ``chunk_rows``."""
        with _read_errors(self.files):
            if self.dataset is not None:
                for fragment in self.dataset.get_fragments():
                    yield from self._parquet_file(fragment, columns, chunk_rows)
                return
            wanted = {name: self.schema.field(name).type for name in columns}
            for path in self.files.paths:
                yield from self._csv_file(path, columns, wanted)

    def with_text_column(self, column: str, reason: str) -> Source:
        """The same input with ``column`` read as text (after a CSV type surprise)."""
        log.warning("column %r of %s is read as text: %s", column, self.files.description, reason)
        return _open_csv(self.files, self.types, self.text | {column})

    def _parquet_file(
        self, fragment: Any, columns: list[str], chunk_rows: int
    ) -> Iterator[pa.RecordBatch]:
        """One Parquet file's rows as the dataset's columns: hive partition values filled
        in, a column the file lacks as nulls, types as the dataset's (unified) schema.

        Read with ``ParquetFile.iter_batches`` and no pre-buffering, which decodes page by
        page: memory follows ``chunk_rows`` even when a row group holds millions of rows
        (a dataset scanner holds a whole row group, or pre-buffers every one).
        """
        import pyarrow as pa
        import pyarrow.dataset as ds
        import pyarrow.parquet as pq

        keys = ds.get_partition_keys(fragment.partition_expression)
        with self.files.arrow_fs().open_input_file(fragment.path) as stream:
            reader = pq.ParquetFile(stream, pre_buffer=False, buffer_size=_READ_BUFFER)
            present = set(reader.schema_arrow.names)
            read = [name for name in columns if name in present and name not in keys]
            size = min(chunk_rows, _READ_ROWS)
            batches = reader.iter_batches(batch_size=size, columns=read, use_threads=False)
            for batch in batches:
                arrays = []
                for name in columns:
                    type_ = self.schema.field(name).type
                    if name in keys:
                        arrays.append(pa.repeat(pa.scalar(keys[name], type_), batch.num_rows))
                    elif name in present:
                        array = batch.column(name)
                        arrays.append(array if array.type == type_ else array.cast(type_))
                    else:
                        arrays.append(pa.nulls(batch.num_rows, type_))
                yield pa.RecordBatch.from_arrays(arrays, names=columns)

    def _csv_file(
        self, path: str, columns: list[str], types: dict[str, pa.DataType]
    ) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa

        try:
            with _csv_reader(self.files, path, columns, types) as reader:
                yield from reader
        except pa.ArrowInvalid as exc:
            raise self._csv_problem(exc, path) from None

    def _csv_problem(self, exc: Exception, path: str) -> Exception:
        from mloop.ml import SignatureError

        found = _CSV_CONVERSION.search(str(exc))
        if found is None:
            return DataError(f"cannot read {path}: {exc}", path=path)
        index, row, type_, value = found.groups()
        with _csv_reader(self.files, path, None, {}) as reader:
            column = reader.schema.names[int(index)]
        reason = f"cannot parse {value!r} as {type_} ({path}" + (f", row {row})" if row else ")")
        if column in self.types:
            return SignatureError(
                f"input does not match the model signature: column {column!r}: {reason}",
                column=column,
                problems={column: reason},
            )
        if column in self.text:
            return DataError(f"column {column!r}: {reason}", column=column, path=path)
        return RetypeColumn(column, reason)


def open_source(path: str, storage_options: dict[str, Any] | None, model: PackagedModel) -> Source:
    """The input ``path`` names, opened: its schema read (and, for Parquet, its row count
    from the files' footers); no rows are read but the first block of a CSV."""
    files = _list_files(path, storage_options)
    if files.format == "csv":
        return _open_csv(files, csv_types(model), frozenset())
    import pyarrow.dataset as ds

    with _read_errors(files):
        options = ds.FileSystemFactoryOptions(
            partition_base_dir=files.base, partitioning=ds.HivePartitioning.discover()
        )
        factory = ds.FileSystemDatasetFactory(
            files.arrow_fs(), files.paths, ds.ParquetFileFormat(), options
        )
        dataset = factory.finish(factory.inspect(promote_options="permissive"))
        return Source(files, dataset.schema, dataset.count_rows(), dataset)


def _open_csv(files: Files, types: dict[str, pa.DataType], text: frozenset[str]) -> Source:
    """A CSV input typed by the first file's header: model inputs as the signature declares,
    ``text`` columns as text, the others as inferred from the first block."""
    import pyarrow as pa

    with _read_errors(files), _csv_reader(files, files.paths[0], None, {}) as reader:
        inferred = reader.schema
    fields = []
    for f in inferred:
        if f.name in text:
            f = f.with_type(pa.string())
        elif f.name in types:
            f = f.with_type(types[f.name])
        fields.append(f)
    return Source(files, pa.schema(fields), None, None, types, text)


@contextmanager
def _csv_reader(
    files: Files, path: str, columns: list[str] | None, types: dict[str, pa.DataType]
) -> Iterator[Any]:
    import pyarrow.csv as pacsv

    compression = _COMPRESSION.get("." + path.rsplit(".", 1)[-1].lower())
    with files.arrow_fs().open_input_stream(path, compression=compression) as stream:
        convert = pacsv.ConvertOptions(column_types=types, include_columns=columns)
        yield pacsv.open_csv(stream, convert_options=convert)


def csv_types(model: PackagedModel) -> dict[str, pa.DataType]:
    """The Arrow types a CSV's model inputs are parsed as (``any`` and timestamps inferred)."""
    import pyarrow as pa

    known = {
        "int64": pa.int64(),
        "float64": pa.float64(),
        "string": pa.string(),
        "bool": pa.bool_(),
    }
    specs = model.signature.inputs if model.signature is not None else ()
    return {spec.name: known[spec.type] for spec in specs if spec.type in known}


def _list_files(path: str, storage_options: dict[str, Any] | None) -> Files:
    """The data files ``path`` names: a file, a directory (recursively; names starting with
    ``.`` or ``_`` skipped) or a glob; the format comes from the extensions."""
    import fsspec

    try:
        fs, root = fsspec.core.url_to_fs(path, **(storage_options or {}))
        fs.invalidate_cache()  # a listing cached earlier in this process may be stale
        paths, base = _find(fs, str(root), path)
    except (ImportError, ValueError, TypeError, OSError) as exc:
        raise DataError(f"cannot open input {path!r}: {exc}", path=path) from exc
    formats = {_file_format(name) for name in paths}
    if None in formats:
        raise DataError(
            f"cannot tell the format of input {path!r} from its name: use a .parquet, .pq or "
            ".csv file (or a directory or glob of them)",
            path=path,
        )
    if len(formats) > 1:
        raise DataError(f"input {path!r} mixes Parquet and CSV files: name one kind", path=path)
    return Files(path, fs, paths, base, str(formats.pop()))


def _find(fs: Any, root: str, path: str) -> tuple[list[str], str]:
    magic = _GLOB.search(root)
    if magic:
        base = root[: magic.start()].rsplit("/", 1)[0]
        found: list[str] = []
        for match, info in sorted(fs.glob(root, detail=True).items()):
            found += _data_files(fs, match) if info.get("type") == "directory" else [match]
        found = [f for f in found if not _hidden(f[len(base) :])]
    elif fs.isdir(root):
        base = root.rstrip("/")
        found = _data_files(fs, base)
        if not found:
            others = [f for f in fs.find(base) if not _hidden(f[len(base) :])]
            example = f" (found {len(others)} other files, e.g. {others[0]})" if others else ""
            raise DataError(
                f"no .parquet, .pq or .csv files under input {path!r}{example}", path=path
            )
    elif fs.isfile(root):
        base, found = root.rsplit("/", 1)[0], [root]
    else:
        raise DataError(f"no file or directory matches input {path!r}", path=path)
    if not found:
        raise DataError(f"no file matches input {path!r}", path=path)
    return found, base


def _data_files(fs: Any, directory: str) -> list[str]:
    return sorted(
        p
        for p in fs.find(directory)
        if not _hidden(p[len(directory) :]) and _file_format(p) is not None
    )


def _hidden(relative: str) -> bool:
    return any(part[:1] in (".", "_") for part in relative.split("/") if part)


def _file_format(name: str) -> str | None:
    """``parquet`` or ``csv`` from a file name (a CSV may be .gz, .bz2 or .zst)."""
    lower = name.rsplit("/", 1)[-1].lower()
    if any(lower.endswith(_CSV + suffix) for suffix in _COMPRESSION):
        return "csv"
    if lower.endswith(_PARQUET):
        return "parquet"
    return "csv" if lower.endswith(_CSV) else None


def _is_local(fs: Any) -> bool:
    protocols = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    return "file" in protocols or "local" in protocols


def _arrow_fs(fs: Any) -> pafs.FileSystem:
    """Arrow's own file system for local paths (no Python in the I/O path), else fsspec's
    behind Arrow's interface."""
    import pyarrow.fs as pafs

    if _is_local(fs):
        return pafs.LocalFileSystem()
    return pafs.PyFileSystem(pafs.FSSpecHandler(fs))


@contextmanager
def _read_errors(files: Files) -> Iterator[None]:
    """Arrow and file-system failures while reading as a DataError naming the input."""
    import pyarrow as pa

    try:
        yield
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"cannot read input {files.description}: {exc}", path=files.path) from exc


# Writing ------------------------------------------------------------------------------------


def output_format(path: str) -> tuple[str, str | None]:
    """(``parquet`` | ``csv``, compression) of an output path, or a DataError naming it."""
    kind = _file_format(path)
    if kind is None or (kind == "parquet" and _GLOB.search(path)):
        raise DataError(
            f"cannot tell the output format from {path!r}: name a .parquet, .pq or .csv "
            "(.csv.gz) file",
            path=path,
        )
    compression = _COMPRESSION.get("." + path.rsplit(".", 1)[-1].lower()) if kind == "csv" else None
    return kind, compression


class Sink:
    """An output file written under a hidden temp name and moved into place on commit.

    ``row_group_rows`` (Parquet): row groups of exactly that many rows (the last one
    smaller), whatever the sizes of the tables written, so the file's bytes do not depend
    on how the rows were chunked; at most that many rows wait in memory. Default: a row
    group per table written.
    """

    def __init__(
        self,
        path: str,
        kind: tuple[str, str | None],
        storage_options: dict[str, Any] | None,
        row_group_rows: int | None = None,
    ) -> None:
        self.path = path
        self.row_group_rows = row_group_rows
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self.format, self.compression = kind
        self.storage_options = storage_options
        self._fs: Any = None
        self._final = ""
        self._temp: str | None = None
        self._stream: Any = None
        self._writer: Any = None
        self._schema: pa.Schema | None = None

    def write(self, table: pa.Table) -> None:
        if self._writer is None:
            self._open(table.schema)
        elif table.schema != self._schema:
            table = cast_to(table, self._schema, self.path)
        size = self.row_group_rows
        if size is None or self.format != "parquet":
            self._writer.write_table(table)
            return
        self._pending.append(table)
        self._pending_rows += table.num_rows
        while self._pending_rows >= size:
            self._write_pending(size)

    def _write_pending(self, rows: int) -> None:
        import pyarrow as pa

        combined = pa.concat_tables(self._pending)
        self._writer.write_table(combined.slice(0, rows).combine_chunks(), row_group_size=rows)
        rest = combined.slice(rows)
        self._pending = [rest] if rest.num_rows else []
        self._pending_rows = rest.num_rows

    def commit(self, empty: pa.Table) -> None:
        """Finish the file (an empty input gives a file with the columns and no rows)."""
        if self._writer is None:
            self._open(empty.schema)
        if self._pending_rows:
            self._write_pending(self._pending_rows)
        self._writer.close()
        self._stream.close()
        self._writer = self._stream = None
        self._fs.mv(self._temp, self._final)
        self._temp = None

    def abort(self) -> None:
        import contextlib

        with contextlib.suppress(Exception):
            if self._writer is not None:
                self._writer.close()
        with contextlib.suppress(Exception):
            if self._stream is not None:
                self._stream.close()
        if self._temp is not None:
            with contextlib.suppress(FileNotFoundError):
                self._fs.rm(self._temp)
        self._temp = self._writer = self._stream = None

    def _open(self, schema: pa.Schema) -> None:
        import fsspec
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq

        try:
            fs, final = fsspec.core.url_to_fs(self.path, **(self.storage_options or {}))
            parent, _, name = str(final).rstrip("/").rpartition("/")
            if parent and _is_local(fs):
                fs.makedirs(parent, exist_ok=True)  # object stores have no directories
            temp = f"{parent}/.{name}.{uuid.uuid4().hex[:12]}.tmp"
            stream = _arrow_fs(fs).open_output_stream(temp, compression=self.compression)
        except (OSError, ValueError, ImportError) as exc:
            raise DataError(f"cannot write output {self.path!r}: {exc}", path=self.path) from exc
        self._fs, self._final, self._temp, self._stream = fs, final, temp, stream
        self._schema = schema
        if self.format == "parquet":
            self._writer = pq.ParquetWriter(stream, schema, compression="zstd")
        else:
            self._writer = pacsv.CSVWriter(stream, schema)


def cast_to(table: pa.Table, schema: pa.Schema, path: str) -> pa.Table:
    """A chunk as the types of the first one (a column all null in one chunk, say)."""
    import pyarrow as pa

    try:
        return table.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as exc:
        raise DataError(
            f"a chunk's columns do not have the types of the first chunk's ({exc}); the "
            "output needs one type per column",
            path=path,
        ) from exc

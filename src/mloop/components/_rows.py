"""What an ingest keeps of a source: columns, the time window, and the split column."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mloop.components._split import (
    SPLIT_COLUMN,
    TimeWindow,
    assign,
    hash_units,
    parse_split,
    parse_times,
    time_kind,
    time_units,
)
from mloop.errors import IngestError

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.dataset as ds


log = logging.getLogger("mloop.components.ingest")


# What to keep: columns, time window, splits ------------------------------------------------


@dataclass
class Source:
    """Record batches from somewhere, with the schema known before reading them."""

    description: str  # for messages: "path 'data/*.csv' (3 files)", "the query"
    schema: pa.Schema
    scan: Callable[[list[str], ds.Expression | None], Iterator[pa.RecordBatch]]
    pushdown: bool  # whether scan applies a filter itself


class Rows:
    """The checked options of an ingest component, and :meth:`read` that applies them."""

    def __init__(
        self,
        columns: list[str] | None,
        time_column: str | None,
        start: str | None,
        end: str | None,
        split: Any,
        split_by: str | None,
        split_time: bool,
    ) -> None:
        if columns is not None and not columns:
            raise IngestError(
                "columns is empty: name some, or leave it out for all", argument="columns"
            )
        self.columns = list(dict.fromkeys(columns)) if columns is not None else None
        self.time_column = time_column
        try:
            self.window = TimeWindow.parse(start, end)
        except ValueError as exc:
            raise IngestError(
                str(exc), argument="start" if "start" in str(exc) else "end"
            ) from None
        if self.window and time_column is None:
            raise IngestError("start/end need a time_column to compare with", argument="start")
        self.splits: list[tuple[str, float]] = []
        if split is not None:
            try:
                self.splits, ordered = parse_split(split)
            except ValueError as exc:
                raise IngestError(str(exc), argument="split") from None
            if split_time and not ordered and len(self.splits) > 1:
                raise IngestError(
                    "split_time needs the splits in time order, earliest first: pass split as "
                    f"a list of (name, fraction) pairs, e.g. {self.splits!r} (a dict's order "
                    "is not kept by the pipeline spec)",
                    argument="split",
                )
        elif split_by is not None or split_time:
            raise IngestError("split_by/split_time need split (the fractions)", argument="split")
        if split_time and split_by is not None:
            raise IngestError("split by time or by split_by, not both", argument="split_by")
        if split_time and time_column is None:
            raise IngestError("split_time needs a time_column", argument="split_time")
        self.split_by = split_by
        self.split_time = split_time

    def read(self, source: Source) -> pa.Table:
        """The rows of ``source`` in the window, the columns asked for, and the splits."""
        import pyarrow as pa

        available = source.schema.names
        for argument, names in (
            ("columns", self.columns or []),
            ("time_column", [self.time_column] if self.time_column else []),
            ("split_by", [self.split_by] if self.split_by else []),
        ):
            for name in names:
                if name not in available:
                    raise IngestError(
                        f"{argument}: no column {name!r} in {source.description} "
                        f"(columns: {', '.join(available) or 'none'})",
                        argument=argument,
                        column=name,
                        available=available,
                    )
        output = self.columns if self.columns is not None else available
        if self.splits and SPLIT_COLUMN in output:
            raise IngestError(
                f"{source.description} already has a column {SPLIT_COLUMN!r}, the split "
                "column: leave it out (columns=[...]) or leave out split",
                column=SPLIT_COLUMN,
            )
        needed = list(dict.fromkeys([*output, *filter(None, [self.time_column, self.split_by])]))
        pushdown = None
        if self.time_column is not None:
            type_ = source.schema.field(self.time_column).type
            if self._time_kind(type_) == "time" and self.window and source.pushdown:
                pushdown = self.window.expression(self.time_column, type_)
        tables, parsed = [], None
        for batch in source.scan(needed, pushdown):
            table = pa.Table.from_batches([batch])
            if self.time_column is not None:
                table, parsed = self._times(table, parsed, filter_=pushdown is None)
            tables.append(table)
        table = concat(tables, pa.schema([source.schema.field(n) for n in needed]))
        if table.num_rows == 0:
            window = f" in {self.window}" if self.window else ""
            log.warning("%s has no rows%s: the dataset is empty", source.description, window)
        if self.splits:
            table = table.append_column(SPLIT_COLUMN, self._split(table, output))
            output = [*output, SPLIT_COLUMN]
        log.info("read %d rows from %s", table.num_rows, source.description)
        return table.select(output)

    def _time_kind(self, type_: pa.DataType) -> str:
        kind = time_kind(type_)
        if kind is None:
            raise IngestError(
                f"time_column {self.time_column!r} is {type_}, not a timestamp, a date or ISO "
                "timestamp text (cast it, e.g. in the query or with csv_options column_types)",
                argument="time_column",
                column=self.time_column,
            )
        return kind

    def _times(
        self, table: pa.Table, parsed: pa.DataType | None, filter_: bool
    ) -> tuple[pa.Table, pa.DataType | None]:
        """A batch with its text times parsed (as earlier batches were) and, unless pushed
        down to the reader, only the rows in the window."""
        name = self.time_column
        assert name is not None
        index = table.schema.get_field_index(name)
        kind = self._time_kind(table.schema.field(index).type)
        if kind == "text":
            try:
                column, parsed = parse_times(table.column(index), parsed)
            except ValueError as exc:
                raise IngestError(f"time_column {name!r} {exc}", column=name) from None
            table = table.set_column(index, name, column)
        if filter_ and self.window:
            if kind == "null":
                return table.slice(0, 0), parsed  # no times: none is in the window
            table = table.filter(self.window.expression(name, table.schema.field(index).type))
        return table, parsed

    def _split(self, table: pa.Table, output: list[str]) -> pa.Array:
        if self.split_time:
            times = table.column(self.time_column)
            if times.null_count:
                raise IngestError(
                    f"split_time: time_column {self.time_column!r} has {times.null_count} "
                    "rows without a time (a window, start/end, leaves them out)",
                    column=self.time_column,
                )
            return assign(time_units(times), self.splits)
        keys = [self.split_by] if self.split_by else output
        try:
            units = hash_units({key: table.column(key) for key in keys})
        except ValueError as exc:
            raise IngestError(f"split: {exc} (choose a key with split_by)") from None
        return assign(units, self.splits)


def concat(tables: list[pa.Table], schema: pa.Schema) -> pa.Table:
    """One table from the batches' tables; types that differ between batches (a query
    result) are promoted, and an impossible promotion names the column."""
    import pyarrow as pa

    if not tables:
        return schema.empty_table()
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        column = merge_conflict(exc)
        raise IngestError(
            f"column {column!r} has values of different types ({exc}); cast it to one type",
            column=column,
        ) from None


def merge_conflict(exc: Exception) -> str | None:
    found = re.search(r"Field (.+?) has incompatible types", str(exc))
    return found.group(1) if found else None


@contextmanager
def arrow_errors(description: str) -> Iterator[None]:
    """Arrow and I/O errors while reading as an :class:`IngestError` naming the source."""
    import pyarrow as pa

    try:
        yield
    except (pa.ArrowException, OSError) as exc:
        message = str(exc).strip()
        column = merge_conflict(exc)
        if column is not None:
            message = f"the files disagree on the type of column {column!r}: {message}"
        raise IngestError(f"cannot read {description}: {message}", column=column) from exc

"""Batch prediction: score a file of any size with a model, streaming, into a new file.

:func:`predict_file` reads its input (Parquet: a file, a directory of parts or of hive
partitions, or a glob; CSV: a file, a directory or a glob; local or any fsspec URL such as
``s3://``) in chunks of ``chunk_rows`` rows, scores each chunk with a
:class:`~mloop.ml.PackagedModel` (signature check → transform → estimator, exactly as
``model.predict``), and appends the kept columns plus ``prediction`` to the output. Memory
is bounded by the chunk, not by the input (nor by its row groups: Parquet is decoded page by
page): a 10M-row file never has 10M rows in RAM. :func:`predict_table` is the same pass into
one Arrow table, for callers that keep the result in memory (the ``batch_predict``
component). Finding, reading and writing the files is :mod:`mloop.serving._batch_io`; this
module is the scoring.

Guarantees:

- **The input is checked before anything is written**: a model input column missing from
  the input, or of a type the signature refuses, is the model's
  :class:`~mloop.ml.SignatureError` naming the column, raised from the input's schema (or
  from the first chunk, for what only values show) before the output is opened.
- **Never a half file that looks complete**: the output is written to a hidden temp name
  beside it (``.NAME.<random>.tmp``) and moved into place when the last chunk is written; a
  failure removes the temp file and leaves whatever was at the output path untouched.
- **CSV types follow the model**: a model input column is parsed as the type the
  signature declares (a zip code trained as text stays text), other columns are inferred;
  if a later block of a CSV does not fit the type inferred for a kept column, the pass
  starts again with that column read as text (logged), since rows already written cannot
  change type.

Output columns, after the kept ones: ``prediction`` (a label or a value) and, with
``with_scores`` (classification only), ``score`` — the probability of the positive class
(``classes[1]``) for a binary model — or one ``proba_<class>`` per class for a multiclass
one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from mloop.errors import ConfigError, DataError
from mloop.serving._batch_io import RetypeColumn, Sink, cast_to, open_source, output_format

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from mloop.ml import PackagedModel

__all__ = ["BatchSummary", "predict_file", "predict_table"]

log = logging.getLogger("mloop.serving.batch")

PREDICTION = "prediction"
SCORE = "score"
PROBA_PREFIX = "proba_"
DEFAULT_CHUNK_ROWS = 100_000

Progress = Callable[[int, int | None], None]


@dataclass(frozen=True, slots=True)
class BatchSummary:
    """What a batch prediction did: rows scored, chunks, wall time, where the output is."""

    rows: int
    chunks: int
    seconds: float
    output: str

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def predict_file(
    model: PackagedModel,
    input: str,
    output: str,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    keep_columns: Sequence[str] | None = None,
    with_scores: bool = False,
    storage_options: dict[str, Any] | None = None,
    on_progress: Progress | None = None,
    row_group_rows: int | None = None,
) -> BatchSummary:
    """Score ``input`` with ``model`` into ``output`` (``.parquet``/``.pq`` or ``.csv``,
    optionally ``.csv.gz``), ``chunk_rows`` rows at a time.

    ``keep_columns``: the input columns copied to the output (default: all of them, except
    any named like an output column). ``on_progress(rows_done, total_rows)`` is called after
    each chunk; the total is known for Parquet (from the files' metadata), None for CSV.
    ``storage_options`` are fsspec options for both paths (S3 endpoint, credentials).
    ``row_group_rows`` fixes the Parquet row groups' size (default: one per chunk), so the
    output's bytes do not depend on ``chunk_rows``.
    """
    import pyarrow as pa

    kind = output_format(output)
    started = time.perf_counter()
    pool = pa.default_memory_pool()

    def write(scorer: _Scorer, chunks: Iterator[pa.Table], total: int | None) -> BatchSummary:
        sink = Sink(output, kind, storage_options, row_group_rows)
        rows = count = 0
        try:
            for table in chunks:
                sink.write(table)
                pool.release_unused()  # hand the chunk's memory back (mimalloc keeps it)
                rows, count = rows + table.num_rows, count + 1
                if on_progress is not None:
                    on_progress(rows, total)
            sink.commit(scorer.empty_output())
        except BaseException:
            sink.abort()
            raise
        return BatchSummary(rows, count, time.perf_counter() - started, output)

    return _scored(model, input, storage_options, chunk_rows, keep_columns, with_scores, write)


def predict_table(
    model: PackagedModel,
    input: str,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    keep_columns: Sequence[str] | None = None,
    with_scores: bool = False,
    storage_options: dict[str, Any] | None = None,
) -> pa.Table:
    """:func:`predict_file` into one Arrow table. The model still sees one chunk at a time
    (its pandas frames and features are the large part), but the result is in memory:
    about the Arrow size of the kept columns plus the predictions."""

    def collect(scorer: _Scorer, chunks: Iterator[pa.Table], total: int | None) -> pa.Table:
        import pyarrow as pa

        parts = list(chunks)
        if not parts:
            return scorer.empty_output()
        schema = parts[0].schema
        return pa.concat_tables(
            [p if p.schema == schema else cast_to(p, schema, input) for p in parts]
        )

    return _scored(model, input, storage_options, chunk_rows, keep_columns, with_scores, collect)


T = TypeVar("T")


def _scored(
    model: PackagedModel,
    input: str,
    storage_options: dict[str, Any] | None,
    chunk_rows: int,
    keep_columns: Sequence[str] | None,
    with_scores: bool,
    consume: Callable[[_Scorer, Iterator[pa.Table], int | None], T],
) -> T:
    """``consume(scorer, output chunks, total input rows)``, once the input is open and
    checked; again from the start if a CSV column must be re-read as text."""
    _check_chunk_rows(chunk_rows)
    source = open_source(input, storage_options, model)
    while True:
        scorer = _Scorer(model, source.schema, keep_columns, with_scores)
        chunks = _rechunk(source.batches(scorer.read_columns, chunk_rows), chunk_rows)
        try:
            return consume(scorer, map(scorer, chunks), source.total_rows)
        except RetypeColumn as retype:
            source = source.with_text_column(retype.column, retype.reason)


def _check_chunk_rows(chunk_rows: int) -> None:
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise ConfigError(
            f"chunk_rows must be a positive number of rows, not {chunk_rows!r}",
            argument="chunk_rows",
        )


# Scoring ------------------------------------------------------------------------------------


class _Scorer:
    """Turns input chunks into output chunks: kept columns + predictions.

    Built from the input's schema, so that everything knowable without reading a row (a
    missing column, a text column where the signature wants a number, an unknown kept
    column) fails before the first chunk is read.
    """

    def __init__(
        self,
        model: PackagedModel,
        schema: pa.Schema,
        keep_columns: Sequence[str] | None,
        with_scores: bool,
    ) -> None:
        self.model = model
        self.schema = schema
        self.with_scores = with_scores
        if with_scores and model.task != "classification":
            raise ConfigError(
                f"with_scores needs a classification model; this one is {model.task} "
                "(its prediction is the value)",
                argument="with_scores",
            )
        self.output_names = [PREDICTION, *self._score_names()]
        names = list(schema.names)
        self.inputs: list[str] = list(model.input_columns or names)
        _check_schema(model, schema, self.inputs)
        self.keep = _kept(keep_columns, names, self.output_names)
        self.read_columns = list(dict.fromkeys([*self.keep, *self.inputs]))

    def _score_names(self) -> list[str]:
        if not self.with_scores:
            return []
        classes = self.model.classes
        if not classes:
            raise ConfigError(
                "with_scores needs the model's classes, which this model does not record",
                argument="with_scores",
            )
        if len(classes) == 2:
            return [SCORE]
        return [f"{PROBA_PREFIX}{c}" for c in classes]

    def __call__(self, chunk: pa.Table) -> pa.Table:
        import pyarrow as pa

        frame = chunk.select(self.inputs).to_pandas()
        arrays = [chunk[name] for name in self.keep]
        if self.with_scores:
            from mloop.ml import Part

            # Featurize once for both calls: a Part is already transformed.
            part = Part("batch", frame, self.model.features(frame), _no_labels())
            arrays.append(_arrow(self.model.predict(part), PREDICTION))
            proba = self.model.predict_proba(part)
            if self.output_names[1:] == [SCORE]:
                arrays.append(pa.array(proba[:, 1], pa.float64()))
            else:
                arrays.extend(pa.array(proba[:, i], pa.float64()) for i in range(proba.shape[1]))
        else:
            arrays.append(_arrow(self.model.predict(frame), PREDICTION))
        return pa.Table.from_arrays(arrays, names=[*self.keep, *self.output_names])

    def empty_output(self) -> pa.Table:
        """The output of no rows (an empty input): kept columns and typed predictions."""
        import pyarrow as pa

        classes = self.model.classes if self.model.task == "classification" else None
        label = pa.array(classes).type if classes else pa.float64()
        fields = [self.schema.field(name) for name in self.keep]
        fields.append(pa.field(PREDICTION, label))
        fields.extend(pa.field(name, pa.float64()) for name in self.output_names[1:])
        return pa.schema(fields).empty_table()


def _check_schema(model: PackagedModel, schema: pa.Schema, inputs: list[str]) -> None:
    """The model's input columns against the input's schema: the signature's own check on
    an empty frame of these types (missing columns, and types that cannot fit)."""
    from mloop.ml import SignatureError

    if model.signature is not None:
        model.signature.check(schema.empty_table().to_pandas())
        return
    missing = [name for name in inputs if name not in schema.names]
    if missing:
        present = ", ".join(schema.names[:30]) or "none"
        raise SignatureError(
            "input does not have the columns the model reads: "
            + "; ".join(f"column {name!r}: missing" for name in missing)
            + f" (columns present: {present})",
            column=missing[0],
            problems=dict.fromkeys(missing, "missing"),
        )


def _kept(keep: Sequence[str] | None, names: list[str], outputs: list[str]) -> list[str]:
    if keep is None:
        clash = [n for n in names if n in outputs]
        if clash:
            log.warning(
                "input columns %s are not kept: the output has columns of the same name",
                ", ".join(repr(n) for n in clash),
            )
        return [n for n in names if n not in outputs]
    if isinstance(keep, str):
        keep = [keep]
    unknown = [n for n in keep if n not in names]
    if unknown:
        raise DataError(
            f"keep_columns: column {unknown[0]!r} is not in the input "
            f"(columns: {', '.join(names[:30])})",
            column=unknown[0],
        )
    clash = [n for n in keep if n in outputs]
    if clash:
        raise DataError(
            f"keep_columns: column {clash[0]!r} would clash with the output column of that "
            "name; leave it out",
            column=clash[0],
        )
    return list(dict.fromkeys(keep))


def _arrow(values: np.ndarray, name: str) -> pa.Array:
    import pyarrow as pa

    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DataError(f"the model's {name} values cannot be stored: {exc}") from exc


def _no_labels() -> np.ndarray:
    import numpy as np

    return np.empty(0)


def _rechunk(batches: Iterable[pa.RecordBatch], rows: int) -> Iterator[pa.Table]:
    """Tables of exactly ``rows`` rows (the last one fewer) from batches of any size."""
    import pyarrow as pa

    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        while batch.num_rows:
            take = min(rows - count, batch.num_rows)
            pending.append(batch.slice(0, take))
            batch = batch.slice(take)
            count += take
            if count == rows:
                yield pa.Table.from_batches(pending)
                pending, count = [], 0
    if count:
        yield pa.Table.from_batches(pending)

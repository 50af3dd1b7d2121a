"""Batch prediction components: score a ``Dataset`` with a model, into a ``Dataset``.

What Vertex AI's batch prediction job does, as two ordinary components over
:mod:`mloop.serving`'s streaming engine:

- ``batch_predict(model, data)``: the ``Model`` artifact of an earlier step (usually
  ``train.*``). The model is an input, so lineage records which model scored the data, and
  the step is cached like any other: the same model and data give the same predictions.
- ``batch_predict_uri("models:/flights-delay@champion", data)``: the model a registry
  reference names, resolved when the step runs (an alias moves, so this step is never
  cached). The version used is recorded on the output as the properties ``model``
  (``models:/flights-delay/3``) and ``model_version``.

Two components rather than one with "a model or a URI": each has one required, typed way to
name its model, the right caching by default, and nothing to check at run time.

The output holds the kept columns (default: all of ``data``'s, ``split`` included) plus
``prediction`` (and ``score`` / ``proba_<class>`` with ``with_scores``; see
:mod:`mloop.serving._batch`).

**Memory.** The model sees ``chunk_rows`` rows at a time and each scored chunk is written
to a local Parquet file as it comes (:func:`mloop.serving._batch.predict_file`); the file
is then moved into the artifact store as the output ``Dataset``
(:class:`~mloop.artifacts.ParquetPath`), so memory is bounded by a chunk whatever the size
of ``data``.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from mloop.artifacts import Dataset, Model, ParquetPath
from mloop.dsl import component

if TYPE_CHECKING:
    from mloop.ml import PackagedModel

__all__ = ["batch_predict", "batch_predict_uri"]

#: Rows per row group of the output: fixed, so that the stored bytes (the fingerprint, and
#: the cache hits downstream) do not depend on ``chunk_rows``.
ROW_GROUP_ROWS = 65_536


@component(name="batch_predict", version="1")
def batch_predict(
    model: Model,
    data: Dataset,
    keep_columns: list[str] | None = None,
    with_scores: bool = False,
    chunk_rows: int = 100_000,
) -> Dataset:
    """Predictions of ``model`` for every row of ``data``: the ``keep_columns`` (default:
    all) and ``prediction``, plus class probabilities with ``with_scores``; scored
    ``chunk_rows`` rows at a time."""
    scored = _predict(model.load(), data, keep_columns, with_scores, chunk_rows)
    return scored  # type: ignore[return-value]  # a written file, stored as the Dataset


@component(name="batch_predict_uri", version="1", cache=False)
def batch_predict_uri(
    model_uri: str,
    data: Dataset,
    keep_columns: list[str] | None = None,
    with_scores: bool = False,
    chunk_rows: int = 100_000,
) -> Dataset:
    """:func:`batch_predict` with the registry model ``model_uri`` names
    (``models:/NAME@ALIAS``, ``models:/NAME/VERSION``), resolved when the step runs; the
    output's ``model`` and ``model_version`` properties say which version it was. Not
    cached: the alias can point elsewhere at the next run."""
    from mloop.orchestrator import current_step
    from mloop.registry import Registry

    context = current_step()
    settings = context.settings if context is not None else None
    store = context.metadata_store() if context is not None else None
    with Registry(settings, store=store) as registry:
        version = registry.resolve(model_uri)
        packaged = registry.load(version.uri)  # the resolved version, even if the alias moves
    print(f"{model_uri} is {version.uri}")
    scored = _predict(packaged, data, keep_columns, with_scores, chunk_rows)
    stored = data.store.save(scored, Dataset)
    properties = {**stored.properties, "model": version.uri, "model_version": version.version}
    return Dataset(stored.uri, stored.fingerprint, properties, store=data.store)


def _predict(
    model: PackagedModel,
    data: Dataset,
    keep_columns: list[str] | None,
    with_scores: bool,
    chunk_rows: int,
) -> ParquetPath:
    """Score ``data`` into a temporary Parquet file, chunk by chunk."""
    import os
    import tempfile

    from mloop.serving._batch import predict_file

    handle, path = tempfile.mkstemp(prefix="mloop-batch-predict-", suffix=".parquet")
    os.close(handle)
    try:
        summary = predict_file(
            model,
            str(data.local_path()),
            path,
            chunk_rows=chunk_rows,
            keep_columns=keep_columns,
            with_scores=with_scores,
            row_group_rows=ROW_GROUP_ROWS,  # the same bytes whatever chunk_rows is
        )
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(path)
        raise
    rate = f" ({summary.rows_per_second:,.0f} rows/s)" if summary.seconds > 0 else ""
    print(f"predicted {summary.rows:,} rows in {summary.seconds:.1f} s{rate}")
    return ParquetPath(path)

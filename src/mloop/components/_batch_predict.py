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

**Memory.** The model sees ``chunk_rows`` rows at a time, so its pandas frames and feature
matrices stay small, but the predictions are collected into one Arrow table: the ``Dataset``
materializer stores a table held in memory and cannot adopt a Parquet file already written
(``ArtifactStore.put_directory`` would record it as ``files``, which does not load as a
table). The peak is therefore about twice the Arrow size of the output (the chunks, then
the materializer's combined copy) — comparable to what the step that produced ``data``
held, and far below pandas and features for every row at once. Files larger than memory
are for ``mloop predict`` / :func:`mloop.serving._batch.predict_file`, which stream to
their output.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mloop.artifacts import Dataset, Model
from mloop.dsl import component

if TYPE_CHECKING:
    import pyarrow as pa

    from mloop.ml import PackagedModel

__all__ = ["batch_predict", "batch_predict_uri"]


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
    table = _predict(model.load(), data, keep_columns, with_scores, chunk_rows)
    return table  # type: ignore[no-any-return]  # a table, stored as the Dataset artifact


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
    table = _predict(packaged, data, keep_columns, with_scores, chunk_rows)
    stored = data.store.save(table, Dataset)
    properties = {**stored.properties, "model": version.uri, "model_version": version.version}
    return Dataset(stored.uri, stored.fingerprint, properties, store=data.store)


def _predict(
    model: PackagedModel,
    data: Dataset,
    keep_columns: list[str] | None,
    with_scores: bool,
    chunk_rows: int,
) -> pa.Table:
    import time

    from mloop.serving._batch import predict_table

    started = time.perf_counter()
    table = predict_table(
        model,
        str(data.local_path()),
        chunk_rows=chunk_rows,
        keep_columns=keep_columns,
        with_scores=with_scores,
    )
    seconds = time.perf_counter() - started
    rate = f" ({table.num_rows / seconds:,.0f} rows/s)" if seconds > 0 else ""
    print(f"predicted {table.num_rows:,} rows in {seconds:.1f} s{rate}")
    return table

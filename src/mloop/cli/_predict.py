"""``mloop predict``: score a file (or a directory, a glob; local or ``s3://``) with a
registered model, streaming, with a progress bar on stderr and one summary line on stdout."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from mloop.cli._render import console, err_console
from mloop.cli._state import client_from

if TYPE_CHECKING:
    from rich.progress import Progress, Task
    from rich.text import Text

    from mloop.config import Settings


def predict(
    ctx: typer.Context,
    model: Annotated[
        str,
        typer.Option(
            "--model", help="models:/NAME@ALIAS, models:/NAME/VERSION or models:/NAME/latest."
        ),
    ],
    input: Annotated[
        str,
        typer.Option(
            "--input", help="Parquet or CSV: a file, a directory of parts, a glob; or s3://..."
        ),
    ],
    output: Annotated[str, typer.Option("--output", help="A .parquet or .csv file to write.")],
    chunk_rows: Annotated[
        int, typer.Option("--chunk-rows", help="Rows scored at a time (bounds memory).", min=1)
    ] = 100_000,
    keep: Annotated[
        list[str] | None,
        typer.Option(
            "--keep", help="Input columns to copy to the output (repeatable or a,b; default all)."
        ),
    ] = None,
    scores: Annotated[
        bool, typer.Option("--scores", help="Add class probabilities (score / proba_<class>).")
    ] = False,
) -> None:
    """Predict every row of INPUT with a registered model into OUTPUT, chunk by chunk.

    Remote paths use the artifact store's storage options when they are on the same kind of
    store (the same s3 endpoint and credentials), and fsspec's defaults otherwise.
    """
    from mloop.registry import Registry
    from mloop.serving._batch import predict_file

    client = client_from(ctx)
    registry = Registry(client.settings, store=client.store, artifacts=client.artifact_store)
    version = registry.resolve(model)
    packaged = registry.load(version.uri)
    columns = [c.strip() for item in keep or [] for c in item.split(",") if c.strip()]
    with _progress_bar() as progress:
        task = progress.add_task(f"{escape(version.model)} v{version.version}", total=None)

        def advance(rows: int, total: int | None) -> None:
            progress.update(task, completed=rows, total=total)

        summary = predict_file(
            packaged,
            input,
            output,
            chunk_rows=chunk_rows,
            keep_columns=columns or None,
            with_scores=scores,
            storage_options=_storage_options(client.settings, input, output),
            on_progress=advance,
        )
    console.print(
        f"{summary.rows:,} rows → {escape(summary.output)} in {summary.seconds:.1f} s "
        f"({summary.rows_per_second:,.0f} rows/s)",
        soft_wrap=True,
    )


def _storage_options(settings: Settings, *paths: str) -> dict[str, object] | None:
    """The artifact store's fsspec options, for paths on a store of the same protocol."""
    root = settings.resolved_artifact_root
    protocol = root.partition("://")[0] if "://" in root else "file"
    remote = [p.partition("://")[0] for p in paths if "://" in p]
    if remote and protocol in remote and settings.storage_options:
        return dict(settings.storage_options)
    return None


def _progress_bar() -> Progress:
    """The model version, a bar, rows done (of the total when the input says), rows/s and
    the time left; on a terminal only (a log gets the summary line alone)."""
    from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
    from rich.text import Text

    class Rows(ProgressColumn):
        def render(self, task: Task) -> Text:
            done = f"{int(task.completed):,}"
            total = f"/{int(task.total):,}" if task.total is not None else ""
            return Text(f"{done}{total} rows")

    class Rate(ProgressColumn):
        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:,.0f} rows/s" if speed else "", style="dim")

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        Rows(),
        Rate(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    )

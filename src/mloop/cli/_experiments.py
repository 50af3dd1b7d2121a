"""``mloop experiments ...``: compare the params and metrics of training runs."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import typer
from rich.table import Table

from mloop.cli._render import console
from mloop.cli._state import client_from

app = typer.Typer(help="Compare the params and metrics of runs.", no_args_is_help=True)

_FIXED = ("run", "step", "component", "state", "duration_s")


@app.command("compare")
def compare(
    ctx: typer.Context,
    runs: Annotated[
        list[str] | None, typer.Argument(help="Run ids (or unique prefixes).", show_default=False)
    ] = None,
    pipeline: Annotated[
        str | None, typer.Option(help="Also the last --last runs of this pipeline.")
    ] = None,
    last: Annotated[int, typer.Option(help="How many runs of --pipeline.")] = 10,
    step: Annotated[str | None, typer.Option(help="Only this step (e.g. train).")] = None,
    trials: Annotated[bool, typer.Option(help="Include tuning trials.")] = False,
    output: Annotated[
        Literal["table", "csv", "json"], typer.Option("--format", help="table, csv or json.")
    ] = "table",
) -> None:
    """One column per training execution; rows are its params and metrics (differences in
    bold). The best value of each metric is green."""
    frame = client_from(ctx).compare(
        runs or [], pipeline=pipeline, last=last, step=step, trials=trials
    )
    if output == "csv":
        typer.echo(frame.to_csv(index=False), nl=False)
        return
    if output == "json":
        typer.echo(frame.to_json(orient="records", date_format="iso", indent=2))
        return
    if frame.empty:
        console.print("no executions with metrics in these runs (nothing logged metrics)")
        return
    records = frame.to_dict(orient="records")
    table = Table(box=None, header_style="bold")
    table.add_column("", no_wrap=True)
    for record in records:
        # Run ids are <pipeline>-<date>-<time>-<hex>: the end tells them apart.
        table.add_column(f"…{str(record['run'])[-13:]}\n{record['step']}", justify="right")
    table.add_row("component", *(str(r["component"]) for r in records))
    table.add_row("state", *(str(r["state"]) for r in records))
    table.add_row("duration", *(_number(r["duration_s"]) + " s" for r in records))
    for column in frame.columns:
        if column in _FIXED:
            continue
        values = [r[column] for r in records]
        differ = len({repr(v) for v in values}) > 1
        best = _best(column, values)
        cells = []
        for value in values:
            text = _number(value)
            if best is not None and value == best and differ:
                text = f"[green]{text}[/]"
            cells.append(text)
        label = f"[bold]{column}[/]" if differ else column
        table.add_row(label, *cells)
    console.print(table)


_LOWER_IS_BETTER = ("loss", "rmse", "mae", "mse", "error", "brier", "logloss")


def _best(column: str, values: list[Any]) -> Any:
    if not column.startswith("metric."):
        return None
    numbers = [v for v in values if isinstance(v, int | float) and not _missing(v)]
    if not numbers:
        return None
    lower = any(word in column.lower() for word in _LOWER_IS_BETTER)
    return min(numbers) if lower else max(numbers)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _number(value: Any) -> str:
    if _missing(value):
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)

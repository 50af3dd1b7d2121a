"""``mloop runs ...``: list, show, logs, resume and cancel runs."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from mloop.cli._render import console, mark, seconds, styled_state, when
from mloop.cli._run import Progress
from mloop.cli._state import client_from

app = typer.Typer(help="List, inspect, resume and cancel pipeline runs.", no_args_is_help=True)

RunArg = Annotated[str, typer.Argument(help="Run id (or a unique prefix of it).")]


@app.command("list")
def list_runs(
    ctx: typer.Context,
    pipeline: Annotated[str | None, typer.Option(help="Only runs of this pipeline.")] = None,
    state: Annotated[str | None, typer.Option(help="Only runs in this state.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many runs.")] = 20,
) -> None:
    """Newest runs first."""
    client = client_from(ctx)
    table = Table(box=None, header_style="bold")
    table.add_column("run", no_wrap=True)
    for column in ("pipeline", "state", "started", "duration"):
        table.add_column(column)
    for run in client.runs(pipeline=pipeline, state=state, limit=limit):
        table.add_row(
            run.id,
            run.pipeline,
            styled_state(client.status(run)),
            when(run.started_at),
            seconds(run.started_at, run.finished_at),
        )
    console.print(table)


@app.command("show")
def show(ctx: typer.Context, run_id: RunArg) -> None:
    """A run and every execution of its steps."""
    client = client_from(ctx)
    run = client.run(run_id)
    console.print(
        f"[bold]{run.id}[/]  pipeline {run.pipeline} (version {run.pipeline_version_id})"
        f"  {styled_state(client.status(run))}"
    )
    if run.params:
        console.print("params: " + ", ".join(f"{k}={v!r}" for k, v in run.params.items()))
    if run.error:
        console.print(f"[red]{escape(run.error)}[/]")
    table = Table(box=None, header_style="bold")
    for column in ("", "step", "execution", "attempt", "duration"):
        table.add_column(column, no_wrap=True)
    table.add_column("outputs / error", overflow="fold")
    outputs = client.outputs(run.id)
    for execution in client.executions(run.id):
        detail = execution.error or ""
        if execution.state in ("succeeded", "cached") and execution.step in outputs:
            names = [
                f"{k}: {v[0].type} #{v[0].id}" for k, v in outputs[execution.step].items() if v
            ]
            params = [f"{k}={v!r}"[:40] for k, v in execution.output_params.items()]
            detail = ", ".join(names + params)
            if execution.cached_from:
                detail = f"cached from #{execution.cached_from}; " + detail
        table.add_row(
            mark(execution.state),
            execution.step,
            f"#{execution.id}",
            str(execution.attempt),
            seconds(execution.started_at, execution.finished_at),
            escape(detail),
        )
    console.print(table)


@app.command("logs")
def logs(
    ctx: typer.Context,
    run_id: RunArg,
    step: Annotated[str | None, typer.Argument(help="Only this step.")] = None,
) -> None:
    """The captured stdout, stderr and logging of a run's steps."""
    text = client_from(ctx).logs(run_id, step)
    console.out(text, end="", highlight=False) if text else console.print("[dim](no output)[/]")


@app.command("resume")
def resume(
    ctx: typer.Context,
    run_id: RunArg,
    executor: Annotated[str | None, typer.Option(help="inline or process.")] = None,
) -> None:
    """Continue a failed, cancelled or crashed run; finished steps are not run again."""
    client = client_from(ctx)
    result = client.resume(run_id, executor=executor, on_event=Progress(), raise_on_failure=False)
    if result.state != "succeeded":
        console.print(f"[red]Run {result.id} {result.state}[/]: {escape(result.error or '')}")
        raise typer.Exit(1)
    console.print(f"[green]Run {result.id} succeeded[/]")


@app.command("cancel")
def cancel(ctx: typer.Context, run_id: RunArg) -> None:
    """Ask a running run to stop."""
    run = client_from(ctx).cancel(run_id)
    console.print(f"run {run.id} {styled_state(run.state)}")

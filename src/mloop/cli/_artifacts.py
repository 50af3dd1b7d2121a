"""``mloop artifacts ...``: list and inspect stored artifacts."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from mloop.cli._render import console, when
from mloop.cli._state import client_from

app = typer.Typer(help="List and inspect artifacts.", no_args_is_help=True)


@app.command("list")
def list_artifacts(
    ctx: typer.Context,
    type: Annotated[str | None, typer.Option("--type", help="Only this artifact type.")] = None,
    run: Annotated[str | None, typer.Option(help="Only artifacts of this run.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 20,
) -> None:
    """Newest artifacts first."""
    table = Table(box=None, header_style="bold")
    for column in ("id", "type", "fingerprint", "created"):
        table.add_column(column, no_wrap=True)
    table.add_column("uri", overflow="fold")
    for a in client_from(ctx).artifacts(type=type, run_id=run, limit=limit):
        table.add_row(str(a.id), a.type, a.fingerprint[:12], when(a.created_at), a.uri)
    console.print(table)


@app.command("show")
def show(
    ctx: typer.Context,
    reference: Annotated[str, typer.Argument(help="Artifact id, or RUN/STEP[/OUTPUT].")],
    head: Annotated[int, typer.Option(help="Rows of a table to print.")] = 5,
) -> None:
    """An artifact's metadata and a preview of its value (verified against its fingerprint)."""
    client = client_from(ctx)
    record = client.resolve(reference)
    artifact = client.artifact(record.id)
    console.print(f"[bold]{record.type}[/] #{record.id}  created {when(record.created_at)}")
    console.print(f"uri          {record.uri}\nfingerprint  sha256:{record.fingerprint}")
    console.print("properties   " + json.dumps(record.properties, default=str)[:2000])
    if head <= 0:
        return
    value = client.load(artifact)
    if hasattr(value, "slice") and hasattr(value, "num_rows"):  # an Arrow table
        console.print(value.slice(0, head).to_pandas().to_string())
    elif isinstance(value, dict | list | str | int | float | bool):
        console.print_json(json.dumps(value, default=str)[:20000])
    else:
        console.print(repr(value)[:2000])

"""The ``mloop`` command: the root app, its global options, and the one error boundary."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.markup import escape

from mloop.cli import _artifacts, _data, _endpoints, _experiments, _models, _predict, _runs, _serve
from mloop.cli._render import console, err_console, lineage_tree
from mloop.cli._state import client_from, settings_from
from mloop.errors import DefinitionError, MloopError

app = typer.Typer(
    name="mloop",
    help="Pipelines, metadata and lineage for continuous training — on your laptop or a cluster.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(_runs.app, name="runs")
app.add_typer(_artifacts.app, name="artifacts")
app.add_typer(_data.app, name="data")
app.add_typer(_experiments.app, name="experiments")
app.add_typer(_models.app, name="models")
app.add_typer(_endpoints.app, name="endpoints")
app.command("serve")(_serve.serve)
app.command("predict")(_predict.predict)
db_app = typer.Typer(help="The metadata database.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@app.callback()
def root(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option(help="State directory (default ./.mloop, or MLOOP_HOME).", show_default=False),
    ] = None,
) -> None:
    ctx.obj = {"home": home}


@app.command("run")
def run(
    ctx: typer.Context,
    target: Annotated[
        str, typer.Argument(help="path/to/file.py:pipeline or package.module:pipeline")
    ],
    param: Annotated[
        list[str] | None, typer.Option("-p", "--param", help="key=value (repeatable).")
    ] = None,
    executor: Annotated[
        str | None, typer.Option(help="inline or process (default from settings).")
    ] = None,
    cache: Annotated[
        bool, typer.Option(help="Reuse outputs of identical earlier executions.")
    ] = True,
    run_id: Annotated[str | None, typer.Option(help="Id for the new run.")] = None,
) -> None:
    """Run a pipeline, printing each step as it finishes."""
    from mloop.cli._run import run_command

    run_command(target, param or [], settings_from(ctx), executor, cache, run_id)


@app.command("lineage")
def lineage(
    ctx: typer.Context,
    node: Annotated[
        str, typer.Argument(help="artifact:ID, execution:ID, an artifact ID, or RUN/STEP[/OUTPUT].")
    ],
    downstream: Annotated[
        bool, typer.Option("--downstream", help="Follow what was made from it.")
    ] = False,
    depth: Annotated[int | None, typer.Option(help="At most this many hops.")] = None,
    format: Annotated[
        Literal["tree", "json"], typer.Option("--format", help="tree or json.")
    ] = "tree",
) -> None:
    """The tree of executions and artifacts upstream (or downstream) of a node."""
    client = client_from(ctx)
    kind, _, raw = node.rpartition(":")
    kind = kind or "artifact"
    if "/" in node:
        kind, raw = "artifact", str(client.resolve(node).id)
    elif kind not in ("artifact", "execution") or not raw.isdigit():
        raise DefinitionError(
            f"lineage node {node!r} must be artifact:ID, execution:ID, an artifact ID "
            "or RUN/STEP[/OUTPUT]",
            argument="NODE",
        )
    graph = client.lineage(
        kind,  # type: ignore[arg-type]
        int(raw),
        direction="downstream" if downstream else "upstream",
        max_depth=depth,
    )
    if format == "json":
        payload = {
            "root": {"kind": graph.root.kind, "id": graph.root.id},
            "direction": graph.direction,
            "artifacts": [
                {
                    "id": a.id,
                    "type": a.type,
                    "uri": a.uri,
                    "fingerprint": a.fingerprint,
                    "properties": a.properties,
                    "created_at": a.created_at.isoformat(),
                }
                for a in graph.artifacts.values()
            ],
            "executions": [
                {
                    "id": e.id,
                    "run_id": e.run_id,
                    "step": e.step,
                    "component": e.component,
                    "state": e.state,
                    "cached_from": e.cached_from,
                }
                for e in graph.executions.values()
            ],
            "edges": [
                {
                    "execution_id": e.execution_id,
                    "artifact_id": e.artifact_id,
                    "kind": e.kind,
                    "key": e.key,
                }
                for e in graph.edges
            ],
        }
        sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")
        return
    console.print(lineage_tree(graph))


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Create or migrate the metadata database to the latest schema."""
    client = client_from(ctx)
    client.store.upgrade()
    url = client.settings.resolved_metadata_url
    console.print(f"metadata database up to date: {url.split('@')[-1]}")


def main() -> None:
    """Entry point: user errors print one line and exit 2; failures exit 1."""
    try:
        app()
    except MloopError as exc:
        err_console.print(f"[red]error:[/] {escape(exc.message)}", soft_wrap=True)
        sys.exit(2 if exc.http_status < 500 else 1)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]")
        sys.exit(130)

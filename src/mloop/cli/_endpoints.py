"""``mloop endpoints ...``: prediction endpoints — deployments, traffic split, shadows, logs."""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from mloop.cli._render import console, when
from mloop.cli._state import client_from, settings_from
from mloop.errors import DefinitionError, MloopError

if TYPE_CHECKING:
    import pyarrow as pa

    from mloop.serving import Deployment, Endpoint, Endpoints

app = typer.Typer(
    help="Prediction endpoints: deployed models, traffic split, shadows, request logs.",
    no_args_is_help=True,
)

NameArg = Annotated[str, typer.Argument(help="Endpoint name.")]
ModelOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--model",
        help="A serving deployment, URI[=PERCENT] (repeatable): models:/NAME/3=90, "
        "models:/NAME@champion=10. One may leave out PERCENT: it takes the rest.",
        show_default=False,
    ),
]
ShadowOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--shadow",
        help="A shadow deployment (repeatable): gets a copy of every request, its "
        "predictions are logged, never returned.",
        show_default=False,
    ),
]
DescriptionOpt = Annotated[str | None, typer.Option(help="What the endpoint is for.")]

_SPAN = re.compile(r"^([0-9]+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_LOG_COLUMNS = (
    "logged_at",
    "request_id",
    "deployed_model_id",
    "model",
    "model_version",
    "shadow",
    "latency_ms",
    "prediction",
    "scores",
    "features",
)


def _endpoints(ctx: typer.Context) -> Endpoints:
    from mloop.serving import Endpoints

    client = client_from(ctx)
    return Endpoints(client.settings, store=client.store)


def _serving(options: list[str]) -> list[Deployment]:
    """``--model URI[=PERCENT]`` options as deployments; one without PERCENT gets the rest."""
    from mloop.serving import Deployment

    parsed: list[tuple[str, int | None]] = []
    for text in options:
        uri, sep, percent = text.rpartition("=")
        if not sep:
            parsed.append((text, None))
        elif percent.strip().isdigit():
            parsed.append((uri, int(percent)))
        else:
            raise DefinitionError(
                f"--model {text!r}: PERCENT must be a whole number from 0 to 100",
                argument="--model",
            )
    open_ = [uri for uri, percent in parsed if percent is None]
    if len(open_) > 1:
        raise DefinitionError(
            f"--model {' and '.join(open_)}: give =PERCENT to every --model but one "
            "(that one takes the rest)",
            argument="--model",
        )
    rest = 100 - sum(percent for _, percent in parsed if percent is not None)
    if open_ and rest < 0:
        raise DefinitionError(
            f"--model: the percents given sum to {100 - rest}: nothing is left for {open_[0]}",
            argument="--model",
        )
    return [Deployment(uri, rest if percent is None else percent) for uri, percent in parsed]


def _shadows(options: list[str]) -> list[Deployment]:
    from mloop.serving import Deployment

    return [Deployment(uri, 0, shadow=True) for uri in options]


@app.command("create")
def create(
    ctx: typer.Context,
    name: NameArg,
    model: ModelOpt = None,
    shadow: ShadowOpt = None,
    log_sample: Annotated[
        float, typer.Option(help="Fraction of requests written to the request log (0-1).")
    ] = 1.0,
    description: DescriptionOpt = None,
) -> None:
    """Create an endpoint: serving deployments with a traffic split, optional shadows."""
    if not model:
        raise DefinitionError(
            f"endpoint {name!r} needs at least one --model URI[=PERCENT]", argument="--model"
        )
    eps = _endpoints(ctx)
    endpoint = eps.create(
        name,
        [*_serving(model), *_shadows(shadow or [])],
        log_sample_rate=log_sample,
        description=description,
    )
    console.print(f"endpoint [bold]{escape(name)}[/] created")
    _show(eps, endpoint)


@app.command("update")
def update(
    ctx: typer.Context,
    name: NameArg,
    model: ModelOpt = None,
    shadow: ShadowOpt = None,
    no_shadow: Annotated[bool, typer.Option("--no-shadow", help="Remove every shadow.")] = False,
    log_sample: Annotated[
        float | None, typer.Option(help="Fraction of requests written to the request log (0-1).")
    ] = None,
    description: Annotated[
        str | None, typer.Option(help="What the endpoint is for ('' clears it).")
    ] = None,
    expected_generation: Annotated[
        int | None,
        typer.Option(help="Only if the endpoint is at this generation now (compare-and-set)."),
    ] = None,
) -> None:
    """Change an endpoint; what is not given stays.

    --model replaces the serving set, --shadow the shadows (--no-shadow: none); same model, same id.
    """
    if shadow and no_shadow:
        raise DefinitionError("give --shadow or --no-shadow, not both", argument="--no-shadow")
    if not (model or shadow or no_shadow) and log_sample is None and description is None:
        raise DefinitionError(
            f"nothing to change on endpoint {name!r}: give --model, --shadow, --no-shadow, "
            "--log-sample or --description",
            argument="NAME",
        )
    eps = _endpoints(ctx)
    deployments: list[Deployment] | None = None
    expected = expected_generation
    if model or shadow or no_shadow:
        current = eps.get(name)
        serving = _serving(model) if model else list(current.serving)
        shadows = [] if no_shadow else _shadows(shadow) if shadow else list(current.shadows)
        deployments = [*serving, *shadows]
        if not (model and (shadow or no_shadow)) and expected is None:
            expected = current.generation  # what is kept was read at this generation
    endpoint = eps.update(
        name,
        deployments=deployments,
        log_sample_rate=log_sample,
        description=description,
        expected_generation=expected,
    )
    console.print(f"endpoint [bold]{escape(name)}[/] updated")
    _show(eps, endpoint)


@app.command("show")
def show(ctx: typer.Context, name: NameArg) -> None:
    """An endpoint: its deployments, the version each serves now, traffic and shadows."""
    eps = _endpoints(ctx)
    _show(eps, eps.get(name))


def _show(eps: Endpoints, endpoint: Endpoint) -> None:
    console.print(
        f"[bold]{escape(endpoint.name)}[/]  generation {endpoint.generation}  "
        f"log sample {endpoint.log_sample_rate:g}  updated {when(endpoint.updated_at)}"
        + (f" by {escape(endpoint.updated_by)}" if endpoint.updated_by else "")
    )
    if endpoint.description:
        console.print(escape(endpoint.description))
    table = Table(box=None, header_style="bold")
    for column in ("id", "model", "resolves to", "traffic", "shadow"):
        table.add_column(column, no_wrap=column != "resolves to", overflow="fold")
    for d in endpoint.deployments:
        try:
            version = eps.registry.resolve(d.model)
        except MloopError as exc:
            resolved = f"[red]✗ {escape(exc.message)}[/]"
        else:
            resolved = f"v{version.version}"
        table.add_row(
            escape(d.id or ""),
            escape(d.model),
            resolved,
            "copy" if d.shadow else f"{d.traffic}%",
            "yes" if d.shadow else "",
        )
    console.print(table)


@app.command("list")
def list_endpoints(ctx: typer.Context) -> None:
    """Every endpoint, by name, with its deployments."""
    table = Table(box=None, header_style="bold")
    for column in ("endpoint", "generation", "log sample", "updated"):
        table.add_column(column, no_wrap=True)
    table.add_column("deployments", overflow="fold")
    table.add_column("description", overflow="fold")
    for e in _endpoints(ctx).list():
        shown = [f"{d.model.removeprefix('models:/')} {d.traffic}%" for d in e.serving]
        shown += [f"{d.model.removeprefix('models:/')} (shadow)" for d in e.shadows]
        table.add_row(
            e.name,
            str(e.generation),
            f"{e.log_sample_rate:g}",
            when(e.updated_at),
            escape(", ".join(shown)),
            escape((e.description or "")[:80]),
        )
    console.print(table)


@app.command("delete")
def delete(
    ctx: typer.Context,
    name: NameArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Delete an endpoint (the versions it pinned can be deleted again)."""
    eps = _endpoints(ctx)
    eps.get(name)  # not found: say so before asking
    if not yes:
        if not sys.stdin.isatty():
            raise DefinitionError(
                f"delete endpoint {name!r}: confirm with --yes (no terminal to ask on)",
                argument="--yes",
            )
        typer.confirm(f"Delete endpoint {name!r}? Servers stop serving it.", abort=True)
    eps.delete(name)
    console.print(f"endpoint {escape(name)} deleted")


@app.command("logs")
def logs(
    ctx: typer.Context,
    name: NameArg,
    since: Annotated[
        str | None,
        typer.Option(help="Only after: a span (30m, 1h, 2d) or a time (ISO; local unless zoned)."),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(min=0, help="Newest N rows (default: 20 shown, all written with -o)."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write to FILE.parquet or FILE.csv.")
    ] = None,
) -> None:
    """The request log of an endpoint, newest first: what it was asked and answered."""
    from mloop.serving._logging import read_logs

    if output is not None and output.suffix.lower() not in (".parquet", ".csv"):
        raise DefinitionError(
            f"-o {output}: write to a .parquet or a .csv file", argument="--output"
        )
    start = _since(since) if since is not None else None
    settings = settings_from(ctx)
    table = read_logs(
        settings.resolved_serving_log_root,
        name,
        since=start,
        limit=limit if limit is not None or output is not None else 20,
        storage_options=dict(settings.storage_options),
    )
    if table.num_rows == 0:
        after = f" since {when(start)}" if start is not None else ""
        console.print(f"no request logs for endpoint {escape(name)}{after} yet")
        return
    if output is not None:
        _write(table, output)
        console.print(f"{table.num_rows:,} row(s) written to {escape(str(output))}")
        return
    console.print(_log_table(table))


@app.command("compact-logs")
def compact_logs(
    ctx: typer.Context,
    name: Annotated[
        str | None, typer.Argument(help="The endpoint (default: every endpoint's log).")
    ] = None,
    before: Annotated[
        str | None,
        typer.Option(
            help="Merge hours that ended by then: a span ago (30m, 1h, 2d) or a time (ISO; "
            "local unless zoned). Default: hours that ended 10 minutes ago or more."
        ),
    ] = None,
) -> None:
    """Merge each finished hour of the request log into one file (a server writes one about
    every second under load; reads of many small files are slow). Safe while servers and
    readers run; run one compaction at a time."""
    from mloop.serving._log_store import compact_logs as compact

    cutoff = _since(before, option="--before") if before is not None else None
    settings = settings_from(ctx)
    with console.status("compacting the request log…"):
        report = compact(
            settings.resolved_serving_log_root,
            name,
            before=cutoff,
            storage_options=dict(settings.storage_options),
        )
    what = f"endpoint {escape(name)}" if name else "every endpoint"
    if report.partitions == 0:
        console.print(f"nothing to compact for {what}: each finished hour has one file")
    else:
        console.print(
            f"{what}: {report.partitions:,} hour(s) compacted, {report.files_merged:,} files "
            f"-> {report.files_written:,}, {report.rows:,} rows"
        )
    for skipped in report.skipped:
        console.print(f"[yellow]left as it is[/yellow] {escape(skipped)}")


def _since(text: str, *, option: str = "--since") -> datetime:
    """``30m``, ``1h``, ``2d``, ``1w`` before now, or an ISO time (local unless zoned)."""
    span = _SPAN.match(text.strip().lower())
    if span is not None:
        return datetime.now(UTC) - timedelta(**{_UNITS[span[2]]: int(span[1])})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise DefinitionError(
            f"{option} {text!r}: use a span such as 30m, 1h or 2d, or a time such as "
            "2026-11-22T10:00",
            argument=option,
        ) from None
    return moment.astimezone(UTC)  # a naive time is taken as local


def _log_table(table: pa.Table) -> Table:
    columns = [c for c in _LOG_COLUMNS if c in table.column_names]
    columns += [c for c in table.column_names if c not in _LOG_COLUMNS and c != "endpoint"]
    shown = Table(box=None, header_style="bold")
    for column in columns:
        shown.add_column(column.replace("deployed_model_id", "deployment"), overflow="fold")
    values = {c: table.column(c).to_pylist() for c in columns}
    for i in range(table.num_rows):
        shown.add_row(*(escape(_cell(values[c][i])) for c in columns))
    return shown


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return when(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict | list):
        text = json.dumps(value, default=str)
        return text if len(text) <= 60 else text[:59] + "…"
    return str(value)


def _write(table: pa.Table, output: Path) -> None:
    """Parquet as read; CSV with struct columns flattened (``features.distance``) and lists
    as JSON text (CSV has neither)."""
    import pyarrow as pa

    output.parent.mkdir(parents=True, exist_ok=True)
    if output.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, output)
        return
    import pyarrow.csv as pacsv

    flat = table.flatten()
    for i, field in enumerate(flat.schema):
        if pa.types.is_list(field.type) or pa.types.is_large_list(field.type):
            text = [None if v is None else json.dumps(v) for v in flat.column(i).to_pylist()]
            flat = flat.set_column(i, field.name, pa.array(text, pa.string()))
    pacsv.write_csv(flat, output)

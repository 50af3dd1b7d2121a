"""``mloop models ...``: the model registry — models, versions, aliases, cards, load tests."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.markup import escape
from rich.table import Table

from mloop.cli._render import console, when
from mloop.cli._state import client_from
from mloop.errors import DefinitionError

if TYPE_CHECKING:
    from mloop.registry import ExpectedVersion, ModelVersionRecord, Registry

app = typer.Typer(
    help="Registered models, versions, aliases and model cards.", no_args_is_help=True
)
alias_app = typer.Typer(help="Point an alias at a version, or remove it.", no_args_is_help=True)
app.add_typer(alias_app, name="alias")

NameArg = Annotated[str, typer.Argument(help="Registered model name.")]
VersionArg = Annotated[str, typer.Argument(help="Version number (3 or v3).")]
ReasonOpt = Annotated[str | None, typer.Option(help="Why (kept in the audit log).")]


def _registry(ctx: typer.Context) -> Registry:
    from mloop.registry import Registry

    client = client_from(ctx)
    return Registry(client.settings, store=client.store, artifacts=client.artifact_store)


def _version(text: str) -> int:
    digits = text[1:] if text[:1] in ("v", "V") else text
    if not digits.isdigit() or int(digits) < 1:
        raise DefinitionError(f"version {text!r} must be a version number such as 3 or v3")
    return int(digits)


def _aliases(aliases: dict[str, int] | tuple[str, ...]) -> str:
    if isinstance(aliases, dict):
        return ", ".join(f"@{a}→v{v}" for a, v in aliases.items())
    return ", ".join(f"@{a}" for a in aliases)


def _metrics(metrics: dict[str, Any], limit: int = 3) -> str:
    shown = [
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
        for k, v in list(metrics.items())[:limit]
    ]
    return ", ".join(shown) + (", ..." if len(metrics) > limit else "")


def _versions_table(versions: list[ModelVersionRecord]) -> Table:
    table = Table(box=None, header_style="bold")
    for column in ("version", "state", "aliases", "created", "by", "source", "run"):
        table.add_column(column, no_wrap=True)
    table.add_column("metrics", overflow="fold")
    for v in versions:
        table.add_row(
            f"v{v.version}",
            v.state,
            _aliases(v.aliases),
            when(v.created_at),
            v.created_by,
            v.source,
            v.run_id or "",
            escape(_metrics(v.metrics)),
        )
    return table


@app.command("list")
def list_models(ctx: typer.Context) -> None:
    """Registered models by name, with their latest version and aliases."""
    table = Table(box=None, header_style="bold")
    for column in ("model", "versions", "latest", "aliases", "updated"):
        table.add_column(column, no_wrap=True)
    table.add_column("description", overflow="fold")
    for m in _registry(ctx).list_models():
        table.add_row(
            m.name,
            str(m.versions),
            f"v{m.latest_version}" if m.latest_version else "",
            _aliases(m.aliases),
            when(m.updated_at),
            escape((m.description or "")[:80]),
        )
    console.print(table)


@app.command("show")
def show(ctx: typer.Context, name: NameArg) -> None:
    """A model: description, tags, aliases and its latest versions."""
    registry = _registry(ctx)
    model = registry.get_model(name)
    console.print(
        f"[bold]{escape(model.name)}[/]  {model.versions} version(s)  "
        f"created {when(model.created_at)}  updated {when(model.updated_at)}"
    )
    if model.description:
        console.print(escape(model.description))
    if model.tags:
        console.print("tags: " + escape(json.dumps(model.tags, default=str)))
    if model.aliases:
        console.print("aliases: " + _aliases(model.aliases))
    versions = registry.list_versions(name)[:10]
    if versions:
        console.print(_versions_table(versions))


@app.command("versions")
def versions(
    ctx: typer.Context,
    name: NameArg,
    archived: Annotated[bool, typer.Option(help="Include archived versions.")] = True,
) -> None:
    """Every version of a model, newest first."""
    console.print(_versions_table(_registry(ctx).list_versions(name, include_archived=archived)))


@alias_app.command("set")
def alias_set(
    ctx: typer.Context,
    name: NameArg,
    alias: Annotated[str, typer.Argument(help="Alias, e.g. champion.")],
    version: VersionArg,
    expected: Annotated[
        str | None,
        typer.Option(
            help="Only if the alias points at this version now ('none': only if it does "
            "not exist yet)."
        ),
    ] = None,
    reason: ReasonOpt = None,
) -> None:
    """Point ALIAS at VERSION (atomically; --expected makes it a compare-and-set)."""
    from mloop.registry import ANY

    registry = _registry(ctx)
    wanted: ExpectedVersion = ANY
    if expected is not None:
        wanted = None if expected.lower() == "none" else _version(expected)
    before = registry.get_model(name).aliases.get(alias)
    record = registry.set_alias(name, alias, _version(version), expected=wanted, reason=reason)
    was = f" (was v{before})" if before is not None and before != record.version else ""
    console.print(f"{escape(name)} @{escape(alias)} → v{record.version}{was}")


@alias_app.command("rm")
def alias_rm(
    ctx: typer.Context,
    name: NameArg,
    alias: Annotated[str, typer.Argument(help="Alias to remove.")],
    reason: ReasonOpt = None,
) -> None:
    """Remove an alias."""
    version = _registry(ctx).remove_alias(name, alias, reason=reason)
    console.print(f"{escape(name)} @{escape(alias)} removed (pointed at v{version})")


@app.command("card")
def card(
    ctx: typer.Context,
    name: NameArg,
    version: Annotated[
        str | None, typer.Argument(help="Version (3 or v3); default: the latest.")
    ] = None,
    alias: Annotated[str | None, typer.Option(help="The version this alias points at.")] = None,
    format: Annotated[Literal["md", "html"], typer.Option("--format", help="md or html.")] = "md",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write to FILE.")] = None,
) -> None:
    """The model card of a version: signature, metrics, training data, lineage."""
    if version is not None and alias is not None:
        raise DefinitionError("give a VERSION or --alias, not both")
    which: int | str | None = _version(version) if version is not None else alias
    text = _registry(ctx).card(name, which, format="html" if format == "html" else "markdown")
    if output is None:
        sys.stdout.write(text)
        return
    output.write_text(text, encoding="utf-8")
    console.print(f"model card written to {output}")


@app.command("load-test")
def load_test(
    ctx: typer.Context,
    uri: Annotated[str, typer.Argument(help="models:/NAME@ALIAS or models:/NAME/VERSION.")],
    data: Annotated[
        Path | None, typer.Option(help="Rows to predict (.parquet or .csv); default: synthesized.")
    ] = None,
    rows: Annotated[int, typer.Option(help="Rows per batch.")] = 1000,
    repeat: Annotated[int, typer.Option(help="Batches timed.")] = 20,
) -> None:
    """Load a model, check data against its signature, time predictions."""
    from mloop.registry._loadtest import load_test as run_load_test
    from mloop.registry._loadtest import read_rows

    registry = _registry(ctx)
    version = registry.resolve(uri)
    model = registry.load(version.uri)
    frame = read_rows(data, limit=rows) if data is not None else None
    result = run_load_test(model, frame, rows=rows, repeat=repeat)
    source = "synthesized from the signature" if result.synthesized else str(data)
    console.print(
        f"[bold]{escape(version.model)} v{version.version}[/]  {result.rows:,} rows "
        f"({escape(source)}), {result.repeat} batches"
    )
    console.print(
        f"throughput {result.rows_per_second:,.0f} rows/s   single-row latency "
        f"p50 {result.latency_ms(0.5):.2f} ms  p99 {result.latency_ms(0.99):.2f} ms"
    )
    shown = json.dumps(result.predictions, default=str)
    console.print("first predictions: " + escape(shown[:400]))


@app.command("archive")
def archive(
    ctx: typer.Context, name: NameArg, version: VersionArg, reason: ReasonOpt = None
) -> None:
    """Archive a version (hidden from latest; refused while an alias points at it)."""
    record = _registry(ctx).archive(name, _version(version), reason=reason)
    console.print(f"{escape(name)} v{record.version} archived")


@app.command("restore")
def restore(
    ctx: typer.Context, name: NameArg, version: VersionArg, reason: ReasonOpt = None
) -> None:
    """Restore an archived version."""
    record = _registry(ctx).restore(name, _version(version), reason=reason)
    console.print(f"{escape(name)} v{record.version} restored")


@app.command("delete")
def delete(
    ctx: typer.Context, name: NameArg, version: VersionArg, reason: ReasonOpt = None
) -> None:
    """Delete a version (refused while an alias points at it or it is deployed)."""
    number = _version(version)
    _registry(ctx).delete_version(name, number, reason=reason)
    console.print(f"{escape(name)} v{number} deleted")


@app.command("import-mlflow")
def import_mlflow(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="An MLflow model directory (with MLmodel).")],
    name: NameArg,
    trust_pickle: Annotated[
        bool,
        typer.Option(help="Allow unpickling the model (runs code from the file: trusted only)."),
    ] = False,
) -> None:
    """Register an MLflow model (sklearn, lightgbm, xgboost) as a new version."""
    record = _registry(ctx).import_mlflow(path, name, trust_pickle=trust_pickle)
    console.print(
        f"{escape(name)} v{record.version} imported from {escape(str(path))} "
        f"({escape(str(record.tags.get('mlflow.flavor', 'mlflow')))})"
    )


@app.command("audit")
def audit(
    ctx: typer.Context,
    name: NameArg,
    limit: Annotated[int | None, typer.Option(help="Only the last N entries.")] = None,
) -> None:
    """Every change to a model: what, who, when and why."""
    table = Table(box=None, header_style="bold")
    for column in ("at", "action", "version", "alias", "actor"):
        table.add_column(column, no_wrap=True)
    table.add_column("reason / details", overflow="fold")
    for entry in _registry(ctx).audit(name, limit=limit):
        alias = ""
        if entry.alias is not None:
            before = f"v{entry.from_version}" if entry.from_version is not None else "∅"
            after = f"v{entry.to_version}" if entry.to_version is not None else "∅"
            alias = f"@{entry.alias} {before}→{after}"
        detail = entry.reason or (json.dumps(entry.details, default=str) if entry.details else "")
        table.add_row(
            when(entry.at),
            entry.action,
            f"v{entry.version}" if entry.version is not None else "",
            escape(alias),
            escape(entry.actor),
            escape(detail[:200]),
        )
    console.print(table)

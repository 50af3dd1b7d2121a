"""``mloop data ...``: statistics, schemas, validation and drift of data files.

Works on files outside any pipeline. A PATH is a Parquet or CSV file, a directory or a
glob of them (read like ``ingest.parquet``/``ingest.csv``), or a statistics JSON file
written by ``mloop data stats --json`` (used as is, without reading data again).
Exit codes: 0 ok; 1 the data failed the check (error anomalies, drift); 2 bad input.
"""

from __future__ import annotations

import glob
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.markup import escape
from rich.table import Table

from mloop.cli._render import console
from mloop.errors import DataError, IngestError

if TYPE_CHECKING:
    from mloop.data import DatasetStatistics, FeatureStatistics

app = typer.Typer(
    help="Statistics, schemas, validation and drift of data files (Parquet, CSV).",
    no_args_is_help=True,
)

Format = Literal["auto", "parquet", "csv"]
PathArg = Annotated[
    str,
    typer.Argument(
        help="A Parquet/CSV file, a directory or glob of them, or a statistics JSON file.",
        show_default=False,
    ),
]
SplitColumn = Annotated[
    str, typer.Option(help="Column naming each row's split (not a feature); '' for none.")
]
FormatOpt = Annotated[
    Format, typer.Option("--format", help="File format (auto: from the file names).")
]
HtmlOpt = Annotated[
    Path | None, typer.Option("--html", help="Write the HTML report here.", show_default=False)
]
JsonOpt = Annotated[
    Path | None, typer.Option("--json", help="Write the result as JSON here.", show_default=False)
]
SplitOpt = Annotated[
    str | None, typer.Option("--split", help="Use only this split.", show_default=False)
]

_CSV_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".csv.bz2", ".csv.zst")


# ---------------------------------------------------------------------------- input


def _format_of(path: str) -> Literal["parquet", "csv"]:
    """CSV when the file(s) named are all CSV by name, else Parquet."""
    p = Path(path)
    if p.is_dir():
        names = [f.name for f in p.rglob("*") if f.is_file() and not f.name.startswith((".", "_"))]
    elif glob.has_magic(path):
        names = [Path(m).name for m in glob.glob(path, recursive=True)] or [p.name]
    else:
        names = [p.name]
    csv = [n for n in names if n.lower().endswith(_CSV_SUFFIXES)]
    return "csv" if names and len(csv) == len(names) else "parquet"


def load_statistics(
    path: str, *, split_column: str = "split", file_format: Format = "auto"
) -> DatasetStatistics:
    """Statistics of the data at ``path``, or read from a statistics JSON file."""

    if path.lower().endswith(".json") and not glob.has_magic(path):
        return _read_statistics_json(path)
    from mloop.components import ingest
    from mloop.data import compute_statistics

    fmt = _format_of(path) if file_format == "auto" else file_format
    try:
        table = ingest.csv(path) if fmt == "csv" else ingest.parquet(path)
    except IngestError as exc:
        raise IngestError(" ".join(exc.message.split()), **exc.fields) from None
    stats: DatasetStatistics = compute_statistics(table, split_column=split_column or None)
    return stats


def _read_statistics_json(path: str) -> DatasetStatistics:
    from mloop.data import DatasetStatistics

    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise IngestError(f"no such file: {path!r}", path=path) from None
    except OSError as exc:
        raise IngestError(f"cannot read {path!r}: {exc.strerror}", path=path) from None
    try:
        return DatasetStatistics.from_json(text)
    except DataError as exc:
        raise DataError(f"{path}: {exc.message}", path=path) from None
    except (ValueError, KeyError, TypeError) as exc:  # bad JSON, or not the statistics layout
        what = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc).splitlines()[0]
        raise DataError(f"{path} is not a statistics JSON file ({what})", path=path) from None


def _write(path: Path, text: str, what: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise DataError(f"cannot write {what} to {str(path)!r}: {exc.strerror}") from None
    size = len(text.encode("utf-8"))
    shown = f"{size / 1024:.0f} KB" if size >= 1024 else f"{size} bytes"
    console.print(f"[dim]wrote {what} {escape(str(path))} ({shown})[/]")


def _split(stats: DatasetStatistics, split: str | None) -> DatasetStatistics:
    return stats if split is None else stats.split(split)


# ---------------------------------------------------------------------------- formats


def _num(value: float | int | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    if not math.isfinite(value):
        return str(value)
    a = abs(value)
    if a and (a >= 1e15 or a < 1e-4):
        return f"{value:.3g}"
    digits = max(4, math.floor(math.log10(a)) + 2) if a else 1
    return f"{value:,.{digits}g}"


def _pct(fraction: float) -> str:
    if 0 < fraction < 0.001:
        return "<0.1%"
    return f"{fraction:.1%}"


def _summary(st: FeatureStatistics) -> str:
    """Key numbers of a feature, with Rich markup (user strings escaped)."""
    from mloop.data import (
        CategoricalStatistics,
        NumericStatistics,
        TimestampStatistics,
    )

    if isinstance(st, NumericStatistics):
        if not st.finite:
            return "[dim]no finite values[/]"
        parts = [
            f"mean {_num(st.mean)}",
            f"std {_num(st.std)}",
            f"min {_num(st.min)}",
            f"max {_num(st.max)}",
        ]
        if st.nan:
            parts.append(f"[yellow]NaN {_pct(st.nan / st.count)}[/]")
        return "  ".join(parts)
    if isinstance(st, CategoricalStatistics):
        total = st.values.total or st.count
        about = "" if st.distinct_is_exact else "≈"
        tops = ", ".join(
            f"{escape(repr(v if len(v) <= 30 else v[:29] + '…'))} {_pct(c / total)}"
            for v, c in st.top(3)
        )
        return f"{about}{st.distinct:,} distinct" + (f": {tops}" if total else "")
    if isinstance(st, TimestampStatistics):
        return f"{st.min} .. {st.max}" if st.count else "[dim]no values[/]"
    return ""


# ---------------------------------------------------------------------------- commands


@app.command("stats")
def stats_command(
    path: PathArg,
    split_column: SplitColumn = "split",
    split: SplitOpt = None,
    html: HtmlOpt = None,
    json_out: JsonOpt = None,
    file_format: FormatOpt = "auto",
) -> None:
    """Compute statistics of a dataset and print them per feature."""
    from mloop.data import render_html

    full = load_statistics(path, split_column=split_column, file_format=file_format)
    stats = _split(full, split)
    splits = ", ".join(f"{escape(n)} {s.num_rows:,}" for n, s in stats.splits.items())
    console.print(
        f"[bold]{stats.num_rows:,} rows[/], {len(stats.features)} features"
        + (f"; splits: {splits}" if splits else "")
    )
    table = Table(box=None, header_style="bold")
    for column in ("feature", "type", "kind"):
        table.add_column(column, overflow="fold")
    table.add_column("count", justify="right")
    table.add_column("missing", justify="right")
    table.add_column("summary", overflow="fold")
    for st in stats.features.values():
        missing = _pct(st.missing_ratio)
        table.add_row(
            escape(st.name),
            escape(st.type),
            st.kind,
            f"{st.count:,}",
            f"[yellow]{missing}[/]" if st.missing else missing,
            _summary(st),
        )
    console.print(table)
    if json_out is not None:
        _write(json_out, stats.to_json(), "statistics")
    if html is not None:
        _write(html, render_html(stats, title=f"Statistics of {path}"), "report")


@app.command("schema")
def schema_command(
    path: PathArg,
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the schema YAML.")],
    split_column: SplitColumn = "split",
    split: Annotated[
        str | None,
        typer.Option(
            "--split", help="Infer from this split only (e.g. train).", show_default=False
        ),
    ] = None,
    not_in: Annotated[
        list[str] | None,
        typer.Option(
            "--not-in",
            help="FEATURE=ENVIRONMENT: a feature absent from an environment, e.g. "
            "label=SERVING (repeatable).",
            show_default=False,
        ),
    ] = None,
    file_format: FormatOpt = "auto",
) -> None:
    """Infer a schema from a dataset and write it as YAML, to review and commit."""
    from mloop.data import infer_schema, save_schema

    stats = _split(load_statistics(path, split_column=split_column, file_format=file_format), split)
    absent: dict[str, list[str]] = {}
    for item in not_in or []:
        name, sep, env = item.partition("=")
        if not sep or not name or not env:
            raise DataError(f"--not-in {item!r} must be FEATURE=ENVIRONMENT")
        absent.setdefault(name, []).append(env)
    schema = infer_schema(stats, not_in=absent)
    save_schema(schema, output)
    console.print(
        f"wrote schema of {len(schema.features)} features to {escape(str(output))}; "
        "review it, then commit it"
    )


_SEVERITY_STYLE = {"error": "red", "warning": "yellow", "info": "cyan"}


@app.command(
    "validate",
    epilog="Exit status: 0 when there is no ERROR anomaly (warnings allowed), 1 when there "
    "is one, 2 on bad input.",
)
def validate_command(
    path: PathArg,
    schema: Annotated[Path, typer.Option("--schema", help="The schema YAML to check against.")],
    environment: Annotated[
        str | None,
        typer.Option(help="Environment, e.g. SERVING (default: the schema's).", show_default=False),
    ] = None,
    split_column: SplitColumn = "split",
    split: SplitOpt = None,
    html: HtmlOpt = None,
    json_out: JsonOpt = None,
    file_format: FormatOpt = "auto",
) -> None:
    """Check a dataset against a schema and print the anomalies; exits 1 on ERROR anomalies."""
    from mloop.data import load_schema, render_html, validate

    rules = load_schema(schema)
    stats = load_statistics(path, split_column=split_column, file_format=file_format)
    anomalies = validate(stats, rules, environment=environment, split=split)
    if anomalies:
        table = Table(box=None, header_style="bold")
        table.add_column("severity", no_wrap=True)
        table.add_column("feature", overflow="fold")
        table.add_column("kind", no_wrap=True)
        table.add_column("description", overflow="fold")
        order = sorted(anomalies, key=lambda a: list(_SEVERITY_STYLE).index(a.severity))
        for a in order:
            style = _SEVERITY_STYLE[a.severity]
            table.add_row(
                f"[{style}]{a.severity.upper()}[/]",
                escape(a.feature) if a.feature is not None else "[dim](dataset)[/]",
                a.kind,
                escape(a.description),
            )
        console.print(table)
    if json_out is not None:
        _write(json_out, anomalies.to_json(indent=2), "anomalies")
    if html is not None:
        report = render_html(
            anomalies, current_statistics=stats, schema=rules, title=f"Validation of {path}"
        )
        _write(html, report, "report")
    errors, warnings = len(anomalies.errors), len(anomalies.warnings)
    if errors:
        console.print(f"[red]invalid[/]: {errors} error(s), {warnings} warning(s)")
        raise typer.Exit(1)
    note = f" ({len(anomalies)} warnings/infos)" if anomalies else ""
    console.print(f"[green]valid[/]: no error anomalies{note}")


def _assignments(values: list[str], option: str) -> list[tuple[str, str]]:
    out = []
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise DataError(f"{option} {item!r} must be NAME=VALUE")
        out.append((key.strip(), value.strip()))
    return out


def _threshold(text: str, option: str = "--threshold") -> float:
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{option}: bad threshold {text!r} (a number >= 0)") from None
    if not (math.isfinite(value) and value >= 0):
        raise DataError(f"{option}: bad threshold {text!r} (a number >= 0)")
    return value


_KINDS = ("numeric", "categorical", "timestamp")


def _drift_options(
    baseline: DatasetStatistics,
    current: DatasetStatistics,
    metric: list[str],
    threshold: list[str],
    extra: list[str],
) -> tuple[dict[str, str], dict[str, float], list[str]]:
    """``--metric``/``--threshold``/``--extra`` as arguments of ``drift``, checked."""
    from mloop.data._drift import METRICS

    columns = list(dict.fromkeys([*baseline.names, *current.names]))

    def known(name: str, option: str, metrics_too: bool = False) -> str:
        if name in columns or name in _KINDS or (metrics_too and name in METRICS):
            return name
        also = ", a metric" if metrics_too else ""
        raise DataError(
            f"{option}: unknown column {name!r} (a column, a kind ({', '.join(_KINDS)}){also}; "
            f"columns: {', '.join(columns)})",
            column=name,
        )

    metrics: dict[str, str] = {}
    for name, value in _assignments(metric, "--metric"):
        if value not in METRICS:
            raise DataError(
                f"--metric {name}={value}: unknown metric (known: {', '.join(METRICS)})"
            )
        metrics[known(name, "--metric")] = value
    thresholds: dict[str, float] = {}
    for item in threshold:
        if "=" in item:
            [(name, value)] = _assignments([item], "--threshold")
            thresholds[known(name, "--threshold", metrics_too=True)] = _threshold(value)
        else:
            thresholds.update(dict.fromkeys(_KINDS, _threshold(item)))
    extras = [m.strip() for item in extra for m in item.split(",") if m.strip()]
    for m in extras:
        if m not in METRICS:
            raise DataError(f"--extra: unknown metric {m!r} (known: {', '.join(METRICS)})")
    return metrics, thresholds, extras


@app.command(
    "drift",
    epilog="Exit status: 0 when the dataset did not drift, 1 when it did, 2 on bad input.",
)
def drift_command(
    baseline: Annotated[
        str, typer.Argument(help="Baseline data or statistics JSON.", show_default=False)
    ],
    current: Annotated[
        str, typer.Argument(help="Current data or statistics JSON.", show_default=False)
    ],
    metric: Annotated[
        list[str] | None,
        typer.Option(
            "--metric",
            help="FEATURE=METRIC deciding drift of a column or kind, e.g. fare=ks or "
            "numeric=psi (repeatable; metrics: js, linf, psi, wasserstein, ks).",
            show_default=False,
        ),
    ] = None,
    threshold: Annotated[
        list[str] | None,
        typer.Option(
            "--threshold",
            help="A number for every feature, or NAME=NUMBER for a column, kind or metric "
            "(repeatable). Default per metric: js 0.01, linf 0.1, psi 0.2, ks p < 0.05.",
            show_default=False,
        ),
    ] = None,
    extra: Annotated[
        list[str] | None,
        typer.Option(
            "--extra", help="More metrics to report, e.g. psi,ks,wasserstein.", show_default=False
        ),
    ] = None,
    drift_share: Annotated[
        float, typer.Option(help="Share of drifted features that makes the dataset drift.")
    ] = 0.0,
    split_column: SplitColumn = "split",
    split: SplitOpt = None,
    html: HtmlOpt = None,
    json_out: JsonOpt = None,
    file_format: FormatOpt = "auto",
) -> None:
    """Compare current data with a baseline, feature by feature; exits 1 on drift."""
    from mloop.data import render_html
    from mloop.data._drift import drift
    from mloop.data._report_drift import drift_order

    if not (math.isfinite(drift_share) and 0 <= drift_share <= 1):
        raise DataError(f"--drift-share {drift_share} must be in [0, 1]")
    a = _split(load_statistics(baseline, split_column=split_column, file_format=file_format), split)
    b = _split(load_statistics(current, split_column=split_column, file_format=file_format), split)
    metrics, thresholds, extras = _drift_options(a, b, metric or [], threshold or [], extra or [])
    result = drift(
        a, b, metrics=metrics, thresholds=thresholds, extra=extras, drift_share=drift_share
    )
    table = Table(box=None, header_style="bold")
    table.add_column("feature", overflow="fold")
    table.add_column("kind")
    table.add_column("metric")
    table.add_column("distance", justify="right")
    table.add_column("threshold", justify="right")
    table.add_column("status", no_wrap=True)
    if extras:
        table.add_column("other metrics", overflow="fold")
    for f in drift_order(result):
        value = "" if f.value is None else _num(f.value)
        limit = "" if f.threshold is None else _num(f.threshold)
        if f.metric == "ks":
            value += "" if f.p_value is None else f" (p {_num(f.p_value)})"
            limit = f"p < {limit}"
        if f.drifted:
            status = "[bold red]drifted[/]"
        elif f.status == "ok":
            status = "[green]ok[/]" if f.metric is not None else "[dim]not compared[/]"
        else:
            status = f"[dim]{f.status.replace('_', ' ')}[/]"
        row = [
            f"[bold red]{escape(f.name)}[/]" if f.drifted else escape(f.name),
            f.kind,
            f.metric or "",
            value,
            limit,
            status,
        ]
        if extras:
            row.append(
                "  ".join(
                    f"{k} {_num(v)}"
                    for k, v in f.metrics.items()
                    if k not in (f.metric, "ks_pvalue")
                )
            )
        table.add_row(*row)
    console.print(table)
    if json_out is not None:
        _write(json_out, result.to_json(indent=2), "drift result")
    if html is not None:
        report = render_html(
            result,
            baseline_statistics=a,
            current_statistics=b,
            title=f"Drift: {current} vs {baseline}",
        )
        _write(html, report, "report")
    drifted, compared = len(result.drifted_features), len(result.compared_features)
    if result.drifted:
        console.print(f"[bold red]drift[/]: {drifted} of {compared} compared features drifted")
        raise typer.Exit(1)
    console.print(f"[green]no drift[/]: {drifted} of {compared} compared features drifted")

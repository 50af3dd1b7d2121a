"""Drawing a :class:`~mloop.registry._card.ModelCard`: Markdown and one self-contained HTML
page from the same sections."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mloop.registry._card import MAX_SLICES, ModelCard, _num

__all__ = ["render_html", "render_markdown"]


# Rendering --------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _num(value)
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return "" if value is None else str(value)


def _slice_rows(slices: Any) -> list[tuple[str, dict[str, Any]]]:
    """Per-slice metrics as ``(slice label, {metric: value})``, whatever the shape:
    ``{"carrier": {"AA": {...}}}``, ``{"carrier=AA": {...}}`` or a list of records."""
    rows: list[tuple[str, dict[str, Any]]] = []
    if isinstance(slices, Mapping):
        for key, value in slices.items():
            if (
                isinstance(value, Mapping)
                and value
                and all(isinstance(v, Mapping) for v in value.values())
            ):
                rows.extend((f"{key}={sub}", dict(metrics)) for sub, metrics in value.items())
            elif isinstance(value, Mapping):
                rows.append((str(key), dict(value)))
    elif isinstance(slices, list):
        for item in slices:
            if not isinstance(item, Mapping):
                continue
            metrics = item.get("metrics")
            label_parts = [
                f"{k}={v}" if k not in ("slice", "name") else str(v)
                for k, v in item.items()
                if k != "metrics"
                and not isinstance(v, Mapping | list)
                and k not in ("n", "count", "rows")
                and not (metrics is None and isinstance(v, int | float))
            ]
            values = (
                dict(metrics)
                if isinstance(metrics, Mapping)
                else {
                    k: v
                    for k, v in item.items()
                    if isinstance(v, int | float) and not isinstance(v, bool)
                }
            )
            for count_key in ("n", "count", "rows"):
                if count_key in item and count_key not in values:
                    values = {count_key: item[count_key], **values}
            rows.append((", ".join(label_parts) or "?", values))
    return rows[:MAX_SLICES]


def _scalar(value: Any) -> bool:
    """Metric tables show numbers and labels; curves and matrices stay in the artifact."""
    return value is None or isinstance(value, str | int | float | bool)


def _overall_table(overall: Mapping[str, Any], base: Any, baseline: Any) -> Table:
    """Metric, value, and the baseline's value on the same rows when there was one."""
    keys = [k for k, x in overall.items() if _scalar(x)]
    if not isinstance(base, Mapping):
        return ["metric", "value"], [[k, _cell(overall[k])] for k in keys]
    name = f"baseline v{baseline.get('version')}" if isinstance(baseline, Mapping) else "baseline"
    return ["metric", "value", name], [[k, _cell(overall[k]), _cell(base.get(k))] for k in keys]


def _metric_table(rows: Iterable[tuple[str, dict[str, Any]]]) -> tuple[list[str], list[list[str]]]:
    rows = list(rows)
    columns: list[str] = []
    for _, metrics in rows:
        columns.extend(k for k, x in metrics.items() if k not in columns and _scalar(x))
    return ["slice", *columns], [[label, *(_cell(m.get(c)) for c in columns)] for label, m in rows]


Table = tuple[list[str], list[list[str]]]


@dataclass
class _Section:
    """A titled part of the card: paragraphs first, then tables, each table with an optional
    caption (a paragraph printed just above it)."""

    title: str
    lines: list[str] = field(default_factory=list)  # plain paragraphs / bullets
    tables: list[Table] = field(default_factory=list)
    captions: dict[int, str] = field(default_factory=dict)  # table index -> caption

    def table(self, table: Table, caption: str | None = None) -> None:
        if caption:
            self.captions[len(self.tables)] = caption
        self.tables.append(table)


def _sections(card: ModelCard) -> list[_Section]:
    v = card.version
    overview = _Section("Overview")
    aliases = ", ".join(f"@{a}" for a in v.aliases) or "none"
    overview.tables.append(
        (
            ["", ""],
            [
                ["model", v.model],
                ["version", f"{v.version} ({v.state})"],
                ["aliases", aliases],
                ["uri", v.uri],
                ["created", f"{v.created_at:%Y-%m-%d %H:%M:%S} UTC by {v.created_by}"],
                ["source", v.source],
                ["run", v.run_id or "none"],
                ["artifact", f"Model #{card.artifact.id} sha256:{card.artifact.fingerprint[:16]}"],
                ["deployed to", ", ".join(card.deployments) or "none"],
            ],
        )
    )
    for label, text in (("Model", card.model.description), ("Version", v.description)):
        if text:
            overview.lines.append(f"{label}: {text}")
    tags = {**card.model.tags, **v.tags}
    if tags:
        overview.tables.append((["tag", "value"], [[k, _cell(t)] for k, t in sorted(tags.items())]))

    sections = [overview]
    signature = _Section("Signature")
    inputs = v.signature.get("inputs") or []
    outputs = v.signature.get("outputs") or []
    if inputs:
        signature.tables.append(
            (
                ["input", "type"],
                [[str(c.get("name")), str(c.get("type"))] for c in inputs if isinstance(c, dict)],
            )
        )
    if outputs:
        signature.tables.append(
            (
                ["output", "type"],
                [[str(c.get("name")), str(c.get("type"))] for c in outputs if isinstance(c, dict)],
            )
        )
    if not inputs and not outputs:
        signature.lines.append("No signature recorded.")
    sections.append(signature)

    model = _Section("Model")
    if card.info:
        model.tables.append((["property", "value"], [[k, _cell(x)] for k, x in card.info.items()]))
    if card.params:
        model.tables.append(
            (["parameter", "value"], [[k, _cell(x)] for k, x in sorted(card.params.items())])
        )
    if not card.info and not card.params:
        model.lines.append("No model properties recorded.")
    sections.append(model)

    evaluation = _Section("Evaluation")
    if card.blessing is not None:
        blessed = "blessed" if card.blessing.get("blessed") else "not blessed"
        reasons = card.blessing.get("reasons") or []
        evaluation.lines.append(
            f"Blessing: {blessed}" + (f" ({'; '.join(map(str, reasons))})" if reasons else "")
        )
    if card.evaluation is not None:
        evaluation.lines.insert(0, f"From the {card.evaluation_from}.")
        overall = card.evaluation.get("overall")
        if not isinstance(overall, Mapping):
            overall = {k: x for k, x in card.evaluation.items() if isinstance(x, int | float | str)}
        baseline = card.evaluation.get("baseline")
        base = baseline.get("overall") if isinstance(baseline, Mapping) else None
        if overall:
            evaluation.table(_overall_table(overall, base, baseline), "Overall:")
        slices = _slice_rows(card.evaluation.get("slices"))
        if slices:
            evaluation.table(_metric_table(slices), "Per slice:")
        matrix = overall.get("confusion_matrix") if overall else None
        if isinstance(matrix, Mapping) and matrix.get("matrix"):
            labels = [str(label) for label in matrix.get("labels", [])]
            evaluation.table(
                (
                    ["actual \\ predicted", *labels],
                    [
                        [labels[i], *(f"{n:,}" for n in row)]
                        for i, row in enumerate(matrix["matrix"])
                    ],
                ),
                "Confusion matrix:",
            )
        curve = overall.get("calibration") if overall else None
        if isinstance(curve, list) and curve:
            evaluation.table(
                (
                    ["predicted", "mean predicted", "fraction positive", "count"],
                    [
                        [
                            f"{b['lower']:.1f}-{b['upper']:.1f}",
                            _cell(b.get("mean_predicted")),
                            _cell(b.get("fraction_positive")),
                            f"{b['count']:,}",
                        ]
                        for b in curve
                        if b.get("count")
                    ],
                ),
                "Calibration:",
            )
    elif v.metrics:
        evaluation.table(
            (["metric", "value"], [[k, _cell(x)] for k, x in sorted(v.metrics.items())]),
            "Metrics recorded with the version:",
        )
    if not evaluation.lines and not evaluation.tables:
        evaluation.lines.append("No evaluation found (no Metrics from a step that read the model).")
    sections.append(evaluation)

    data = _Section("Training data")
    for dataset in card.datasets:
        splits = ", ".join(f"{k} {n:,}" for k, n in sorted(dataset.splits.items())) or "none"
        rows = f"{dataset.rows:,}" if dataset.rows is not None else "?"
        data.lines.append(
            f"`{dataset.key}`: Dataset #{dataset.artifact_id}, {rows} rows (splits: {splits}), "
            f"{dataset.uri}; features from {dataset.statistics_from}"
        )
        if dataset.features:
            data.tables.append(
                (
                    ["feature", "kind", "type", "missing", "summary"],
                    [
                        [f.name, f.kind, f.type, f"{f.missing:.1%}", f.summary]
                        for f in dataset.features
                    ],
                )
            )
    if not card.datasets:
        data.lines.append("No training dataset found in the lineage.")
    sections.append(data)

    lineage = _Section("Lineage")
    if card.steps:
        lineage.tables.append(
            (
                ["step", "component", "run", "execution", "state", "outputs"],
                [
                    [
                        s.step,
                        s.component,
                        s.run_id,
                        f"#{s.execution_id}",
                        s.state,
                        "; ".join(s.outputs),
                    ]
                    for s in card.steps
                ],
            )
        )
    else:
        lineage.lines.append("No upstream steps recorded.")
    lineage.lines.extend(f"Note: {note}" for note in card.notes)
    sections.append(lineage)
    return sections


def render_markdown(card: ModelCard) -> str:
    """The card as GitHub-flavored Markdown."""
    v = card.version
    out = [f"# Model card: {v.model} v{v.version}", ""]
    for section in _sections(card):
        out += [f"## {section.title}", ""]
        for line in section.lines:
            out += [line, ""]
        for i, (header, rows) in enumerate(section.tables):
            if i in section.captions:
                out += [section.captions[i], ""]
            out.append("| " + " | ".join(_md(h) for h in header) + " |")
            out.append("|" + "|".join("---" for _ in header) + "|")
            out.extend("| " + " | ".join(_md(c) for c in row) + " |" for row in rows)
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_html(card: ModelCard) -> str:
    """The card as one self-contained HTML page (inline CSS, no script)."""
    from mloop.data._report_base import esc, page

    v = card.version
    parts = [
        f"<h1>{esc(v.model)} <span class='tag'>v{v.version}</span>"
        + "".join(f"<span class='tag ok'>@{esc(a)}</span>" for a in v.aliases)
        + "</h1>",
        f"<p class='meta'>model card · {esc(v.uri)} · registered "
        f"{v.created_at:%Y-%m-%d %H:%M} UTC by {esc(v.created_by)}</p>",
    ]
    for section in _sections(card):
        parts.append(f"<h2>{esc(section.title)}</h2>")
        for line in section.lines:
            parts.append(f"<p>{_inline_code(esc(line))}</p>")
        for i, (header, rows) in enumerate(section.tables):
            if i in section.captions:
                parts.append(f"<p>{esc(section.captions[i])}</p>")
            head = "".join(f"<th>{esc(h)}</th>" for h in header) if any(header) else ""
            body = "".join(
                "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows
            )
            thead = f"<thead><tr>{head}</tr></thead>" if head else ""
            parts.append(f"<div class='box'><table>{thead}<tbody>{body}</tbody></table></div>")
    return page(f"Model card: {v.model} v{v.version}", "\n".join(parts))


def _inline_code(text: str) -> str:
    pieces = text.split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(pieces))

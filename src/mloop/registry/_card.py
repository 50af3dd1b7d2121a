"""Model cards: what a model version is, what it was trained on, how well it does.

A card is gathered from the registry and the lineage, never typed by hand:

- the version (aliases, who registered it and when, description, tags) and its signature;
- the model itself, from its artifact's properties (flavor, task, target, classes, params);
- evaluation: the ``Metrics`` an ``evaluate`` step computed from this model artifact
  (lineage **downstream**; its ``overall`` and ``slices``), and the version's own metrics;
- training data: the ``Dataset`` s the training step read (lineage **upstream**), with rows,
  splits and a per-feature summary from a ``Statistics`` artifact of that data when the
  pipeline made one (else computed from the data);
- lineage: the run and the chain of steps that led to the model.

Everything is optional except the version: a card shows what exists and says what does not.
:func:`render_markdown` and :func:`render_html` draw the same content.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mloop.errors import MloopError
from mloop.store import ArtifactRecord, ExecutionRecord, LineageGraph, ModelVersionRecord

if TYPE_CHECKING:
    from mloop.data import DatasetStatistics, FeatureStatistics
    from mloop.registry._registry import Registry
    from mloop.store import RegisteredModelRecord

__all__ = ["ModelCard", "build_card", "render_html", "render_markdown"]

#: Model properties shown in the card's model section, in this order.
MODEL_FIELDS = ("flavor", "task", "target", "classes", "framework", "estimator")
#: Artifact properties that are bookkeeping, not facts about the model.
_HIDDEN = {"materializer", "signature", "params", "metrics", *MODEL_FIELDS}
#: Rows of a dataset above which the card does not compute statistics itself.
MAX_ROWS_TO_SUMMARIZE = 5_000_000
MAX_FEATURES = 60
MAX_SLICES = 50


@dataclass(frozen=True)
class FeatureSummary:
    name: str
    kind: str
    type: str
    missing: float  # share of rows
    summary: str  # "mean 3.2, std 1.1, [0, 12]" / "12 values: AA 30%, ..."


@dataclass(frozen=True)
class DatasetSummary:
    key: str  # the training step's input name
    artifact_id: int
    uri: str
    rows: int | None
    splits: dict[str, int]
    features: list[FeatureSummary]
    statistics_from: str  # where the feature summary comes from


@dataclass(frozen=True)
class StepSummary:
    step: str
    component: str
    run_id: str
    execution_id: int
    state: str
    outputs: list[str]  # "model: Model #12"


@dataclass(frozen=True)
class ModelCard:
    """Everything a card shows; rendered by :func:`render_markdown` / :func:`render_html`."""

    version: ModelVersionRecord
    model: RegisteredModelRecord
    artifact: ArtifactRecord
    info: dict[str, Any]
    params: dict[str, Any]
    evaluation: dict[str, Any] | None
    evaluation_from: str | None
    blessing: dict[str, Any] | None
    datasets: list[DatasetSummary]
    steps: list[StepSummary]
    deployments: list[str]
    notes: list[str] = field(default_factory=list)


# Gathering --------------------------------------------------------------------------------


def build_card(registry: Registry, version: ModelVersionRecord) -> ModelCard:
    """Gather the card of ``version`` from the registry, the lineage and the artifacts."""
    store = registry.store
    artifact = store.get_artifact(version.artifact_id)
    notes: list[str] = []
    properties = dict(artifact.properties)
    info = {key: properties[key] for key in MODEL_FIELDS if properties.get(key) is not None}
    info.update(
        {
            key: value
            for key, value in properties.items()
            if key not in _HIDDEN and isinstance(value, str | int | float | bool)
        }
    )
    params = properties.get("params")
    upstream = store.lineage("artifact", artifact.id, direction="upstream")
    downstream = store.lineage("artifact", artifact.id, direction="downstream", max_depth=2)
    evaluation, evaluation_from, blessing = _evaluation(registry, downstream, artifact.id, notes)
    datasets = [
        _dataset_summary(registry, upstream, record, key, notes)
        for record, key in _training_inputs(upstream, artifact.id)
    ]
    if not upstream.executions:
        notes.append(
            f"no lineage: the model artifact was not produced by a pipeline step "
            f"(source: {version.source})"
        )
    return ModelCard(
        version=version,
        model=store.get_registered_model(version.model),
        artifact=artifact,
        info=info,
        params=dict(params) if isinstance(params, dict) else {},
        evaluation=evaluation,
        evaluation_from=evaluation_from,
        blessing=blessing,
        datasets=datasets,
        steps=_steps(upstream),
        deployments=store.model_deployments(version.model, version.version),
        notes=notes,
    )


def _producer(graph: LineageGraph, artifact_id: int) -> int | None:
    for edge in graph.edges:
        if edge.kind == "output" and edge.artifact_id == artifact_id:
            return edge.execution_id
    return None


def _training_inputs(graph: LineageGraph, artifact_id: int) -> list[tuple[ArtifactRecord, str]]:
    """The datasets the step that produced the model read, by input name."""
    producer = _producer(graph, artifact_id)
    found: dict[int, tuple[ArtifactRecord, str]] = {}
    for edge in graph.edges:
        if edge.kind == "input" and edge.execution_id == producer:
            record = graph.artifacts.get(edge.artifact_id)
            if record is not None and record.type == "Dataset":
                found.setdefault(record.id, (record, edge.key))
    return list(found.values())


def _evaluation(
    registry: Registry, graph: LineageGraph, artifact_id: int, notes: list[str]
) -> tuple[dict[str, Any] | None, str | None, dict[str, Any] | None]:
    """The newest evaluation of the model: the ``Metrics`` (and ``Blessing``) output by a
    step that read it, preferring steps of an ``evaluate`` component."""
    readers = {
        e.execution_id for e in graph.edges if e.kind == "input" and e.artifact_id == artifact_id
    }
    candidates: list[tuple[bool, int, ArtifactRecord, ExecutionRecord]] = []
    blessings: dict[int, ArtifactRecord] = {}
    for edge in graph.edges:
        if edge.kind != "output" or edge.execution_id not in readers:
            continue
        record = graph.artifacts.get(edge.artifact_id)
        execution = graph.executions.get(edge.execution_id)
        if record is None or execution is None or execution.state not in ("succeeded", "cached"):
            continue
        if record.type == "Metrics":
            is_evaluate = "evaluate" in (execution.component, execution.step.split("[")[0])
            candidates.append((is_evaluate, execution.id, record, execution))
        elif record.type == "Blessing":
            blessings[execution.id] = record
    if not candidates:
        return None, None, None
    _, _, record, execution = max(candidates, key=lambda c: (c[0], c[1]))
    source = f"{execution.step} step of run {execution.run_id} (Metrics #{record.id})"
    value = _load_json(registry, record, notes)
    evaluation = dict(value) if isinstance(value, dict) else None
    blessing_record = blessings.get(execution.id)
    blessing = _load_json(registry, blessing_record, notes) if blessing_record else None
    return evaluation, source, dict(blessing) if isinstance(blessing, dict) else None


def _load_json(registry: Registry, record: ArtifactRecord, notes: list[str]) -> Any:
    from mloop.artifacts import artifact_type

    artifact = artifact_type(record.type)(
        record.uri, record.fingerprint, record.properties, id=record.id, store=registry.artifacts
    )
    try:
        return artifact.load()
    except MloopError as exc:
        notes.append(f"{record.type} #{record.id} could not be read: {exc.message}")
        return None


def _dataset_summary(
    registry: Registry,
    upstream: LineageGraph,
    record: ArtifactRecord,
    key: str,
    notes: list[str],
) -> DatasetSummary:
    from mloop.artifacts import Dataset

    dataset = Dataset(
        record.uri, record.fingerprint, record.properties, id=record.id, store=registry.artifacts
    )
    stats, source = None, "not available"
    statistics = _statistics_of(registry, upstream, record.id)
    try:
        if statistics is not None:
            stats = registry.artifacts.load(statistics)
            source = f"Statistics #{statistics.id}"
        elif (dataset.num_rows or 0) <= MAX_ROWS_TO_SUMMARIZE:
            from mloop.data import compute_statistics

            stats = compute_statistics(dataset.to_arrow())
            source = "computed from the dataset for this card"
        else:
            notes.append(
                f"dataset #{record.id} has {dataset.num_rows:,} rows and no Statistics "
                "artifact: features not summarized"
            )
    except MloopError as exc:
        notes.append(f"statistics of dataset #{record.id} unavailable: {exc.message}")
    rows = dataset.num_rows
    splits = dataset.splits
    if stats is not None:
        rows = rows if rows is not None else stats.num_rows
        splits = splits or {name: s.num_rows for name, s in stats.splits.items()}
    return DatasetSummary(
        key=key,
        artifact_id=record.id,
        uri=record.uri,
        rows=rows,
        splits=dict(splits),
        features=_features(stats) if stats is not None else [],
        statistics_from=source,
    )


def _statistics_of(registry: Registry, upstream: LineageGraph, dataset_id: int) -> Any:
    """A ``Statistics`` artifact computed from this dataset: upstream of the model, or made
    by a step that read the dataset (a sibling of training in the same pipeline)."""
    from mloop.artifacts import Statistics

    def bound(record: ArtifactRecord) -> Statistics:
        return Statistics(
            record.uri,
            record.fingerprint,
            record.properties,
            id=record.id,
            store=registry.artifacts,
        )

    readers = {
        e.execution_id for e in upstream.edges if e.kind == "input" and e.artifact_id == dataset_id
    }
    for edge in upstream.edges:
        record = upstream.artifacts.get(edge.artifact_id)
        if (
            edge.kind == "output"
            and edge.execution_id in readers
            and record is not None
            and record.type == "Statistics"
        ):
            return bound(record)
    siblings = registry.store.lineage("artifact", dataset_id, direction="downstream", max_depth=2)
    found = [a for a in siblings.artifacts.values() if a.type == "Statistics"]
    return bound(max(found, key=lambda a: a.id)) if found else None


def _features(stats: DatasetStatistics) -> list[FeatureSummary]:
    out = []
    for feature in list(stats.features.values())[:MAX_FEATURES]:
        out.append(
            FeatureSummary(
                name=feature.name,
                kind=feature.kind,
                type=feature.type,
                missing=feature.missing_ratio,
                summary=_feature_summary(feature),
            )
        )
    return out


def _feature_summary(feature: FeatureStatistics) -> str:
    from mloop.data import CategoricalStatistics, NumericStatistics, TimestampStatistics

    if isinstance(feature, NumericStatistics):
        if not feature.finite:
            return "no finite value"
        return (
            f"mean {_num(feature.mean)}, std {_num(feature.std)}, "
            f"min {_num(feature.min)}, max {_num(feature.max)}"
        )
    if isinstance(feature, CategoricalStatistics):
        total = max(feature.count, 1)
        top = ", ".join(f"{value} {count / total:.0%}" for value, count in feature.top(3))
        return f"{feature.distinct:,} values: {top}" if top else "no value"
    if isinstance(feature, TimestampStatistics):
        return f"{feature.min} … {feature.max}"
    return f"{feature.count:,} values"


def _steps(graph: LineageGraph) -> list[StepSummary]:
    """The executions upstream of the model, in the order they ran."""
    outputs: dict[int, list[str]] = {}
    for edge in graph.edges:
        record = graph.artifacts.get(edge.artifact_id)
        if edge.kind == "output" and record is not None:
            outputs.setdefault(edge.execution_id, []).append(
                f"{edge.key}: {record.type} #{record.id}"
            )
    ordered = sorted(
        graph.executions.values(), key=lambda e: (e.started_at is None, e.started_at, e.id)
    )
    return [
        StepSummary(e.step, e.component, e.run_id, e.id, e.state, sorted(outputs.get(e.id, [])))
        for e in ordered
    ]


# Rendering --------------------------------------------------------------------------------


def _num(value: Any) -> str:
    from mloop.data._report_base import num

    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return num(value)


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

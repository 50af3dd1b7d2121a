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
:func:`~mloop.registry._card_render.render_markdown` and ``render_html`` draw the same
content.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mloop.errors import MloopError
from mloop.store import ArtifactRecord, ExecutionRecord, LineageGraph, ModelVersionRecord

if TYPE_CHECKING:
    from mloop.data import DatasetStatistics, FeatureStatistics
    from mloop.registry._registry import Registry
    from mloop.store import RegisteredModelRecord

__all__ = ["ModelCard", "build_card"]

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


def _num(value: Any) -> str:
    from mloop.data._report_base import num

    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return num(value)

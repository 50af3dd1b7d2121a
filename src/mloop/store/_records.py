"""Plain, immutable records the metadata store returns (never live ORM objects)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

RunState = Literal["pending", "running", "succeeded", "failed", "cancelled"]
ExecutionState = Literal["running", "succeeded", "failed", "cached", "skipped", "cancelled"]
EventKind = Literal["input", "output"]
NodeKind = Literal["artifact", "execution"]


@dataclass(frozen=True, slots=True)
class ArtifactRecord:
    id: int
    type: str
    uri: str
    fingerprint: str
    properties: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ExecutionRecord:
    id: int
    run_id: str
    step: str  # step instance key: "train" or "train[3]"
    component: str  # component name
    component_fingerprint: str
    cache_key: str | None
    params: dict[str, Any]  # parameter inputs as passed
    output_params: dict[str, Any]  # parameter outputs
    state: ExecutionState
    attempt: int
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    log_uri: str | None
    cached_from: int | None  # execution whose outputs a cache hit reused
    parent_id: int | None = None  # the step execution a child (a tuning trial) belongs to


@dataclass(frozen=True, slots=True)
class PipelineVersionRecord:
    id: int
    pipeline: str
    spec_hash: str
    spec: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class RunRecord:
    id: str
    pipeline: str
    pipeline_version_id: int
    params: dict[str, Any]
    state: RunState
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    owner: str | None  # "host:pid" of the orchestrator that holds the run
    error: str | None


@dataclass(frozen=True, slots=True)
class OutputArtifact:
    """An artifact an execution produced, as the orchestrator hands it to the store."""

    key: str
    type: str
    uri: str
    fingerprint: str
    properties: dict[str, Any] = field(default_factory=dict)
    index: int | None = None
    reuse_id: int | None = None  # an existing artifact row (pass-through of an input)


@dataclass(frozen=True, slots=True)
class InputArtifact:
    key: str
    artifact_id: int
    index: int | None = None  # position in a list input


@dataclass(frozen=True, slots=True)
class CacheHit:
    execution: ExecutionRecord
    outputs: dict[str, list[ArtifactRecord]]  # output key -> artifacts (index order)


@dataclass(frozen=True, slots=True)
class LineageNode:
    kind: NodeKind
    id: int
    depth: int  # distance from the start node, in hops of events


@dataclass(frozen=True, slots=True)
class LineageEdge:
    execution_id: int
    artifact_id: int
    kind: EventKind  # input: artifact -> execution; output: execution -> artifact
    key: str


@dataclass(frozen=True, slots=True)
class LineageGraph:
    root: LineageNode
    direction: Literal["upstream", "downstream"]
    artifacts: dict[int, ArtifactRecord]
    executions: dict[int, ExecutionRecord]
    edges: list[LineageEdge]


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """A metric value to record; ``step`` orders a curve (None: one final value)."""

    key: str
    value: float | None
    step: int | None = None
    logged_at: datetime | None = None  # default: when it is recorded


@dataclass(frozen=True, slots=True)
class MetricRecord:
    execution_id: int
    key: str
    value: float | None
    step: int | None
    logged_at: datetime


@dataclass(frozen=True, slots=True)
class ChildExecution:
    """A child of a step execution, recorded with it: a tuning trial, say."""

    name: str  # e.g. "trial-3"; the child's step is "<parent step>/<name>"
    params: dict[str, Any]
    state: ExecutionState = "succeeded"
    output_params: dict[str, Any] = field(default_factory=dict)
    metrics: tuple[MetricPoint, ...] = ()
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None


# Model registry -------------------------------------------------------------------------

VersionState = Literal["ready", "archived"]
AuditAction = Literal[
    "create_model",
    "register",
    "set_alias",
    "remove_alias",
    "set_tag",
    "delete_tag",
    "description",
    "archive",
    "restore",
    "delete",
]


@dataclass(frozen=True, slots=True)
class RegisteredModelRecord:
    """A registered model: a name whose versions are ``Model`` artifacts."""

    id: int
    name: str
    description: str | None
    tags: dict[str, Any]
    aliases: dict[str, int]  # alias -> version number
    latest_version: int | None  # highest version number that exists (None: no version yet)
    versions: int  # number of versions that exist (archived included)
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ModelVersionRecord:
    """One version of a registered model, with what it was made from."""

    id: int
    model: str  # the registered model's name
    version: int
    artifact_id: int  # the ``Model`` artifact
    run_id: str | None  # the run that produced the artifact, if any
    source: str  # "api", "pipeline", "mlflow", ...
    signature: dict[str, Any]
    metrics: dict[str, Any]
    description: str | None
    tags: dict[str, Any]
    state: VersionState
    aliases: tuple[str, ...]  # aliases pointing at this version, sorted
    created_at: datetime
    created_by: str

    @property
    def uri(self) -> str:
        """``models:/<name>/<version>``: the immutable reference to this version."""
        return f"models:/{self.model}/{self.version}"


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One change to a registered model: what, by whom (or what), when, and why."""

    id: int
    model: str
    action: AuditAction
    version: int | None
    alias: str | None
    from_version: int | None  # alias moves: where the alias pointed before (None: nowhere)
    to_version: int | None  # alias moves: where it points now (None: removed)
    actor: str
    reason: str | None
    details: dict[str, Any]
    at: datetime


# Prediction endpoints ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EndpointRecord:
    """An endpoint as stored; ``mloop.serving.Endpoint`` is its typed, public form."""

    id: int
    name: str
    description: str | None
    deployments: tuple[dict[str, Any], ...]  # {"id", "model", "traffic", "shadow"}, in order
    log_sample_rate: float
    generation: int  # 1 when created, one more on every update
    created_at: datetime
    updated_at: datetime
    updated_by: str

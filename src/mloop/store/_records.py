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

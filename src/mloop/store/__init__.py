"""The ML metadata store: pipelines, runs, executions, artifacts and their lineage.

:class:`MetadataStore` keeps them in SQLite (default, one file) or PostgreSQL, migrates its
schema on first use, and returns plain frozen records; lineage is one recursive query.
"""

from mloop.store._records import (
    ArtifactRecord,
    AuditAction,
    AuditRecord,
    CacheHit,
    ChildExecution,
    EventKind,
    ExecutionRecord,
    ExecutionState,
    InputArtifact,
    LineageEdge,
    LineageGraph,
    LineageNode,
    MetricPoint,
    MetricRecord,
    ModelVersionRecord,
    NodeKind,
    OutputArtifact,
    PipelineVersionRecord,
    RegisteredModelRecord,
    RunRecord,
    RunState,
    VersionState,
)
from mloop.store._store import MetadataStore

__all__ = [
    "ArtifactRecord",
    "AuditAction",
    "AuditRecord",
    "CacheHit",
    "ChildExecution",
    "EventKind",
    "ExecutionRecord",
    "ExecutionState",
    "InputArtifact",
    "LineageEdge",
    "LineageGraph",
    "LineageNode",
    "MetadataStore",
    "MetricPoint",
    "MetricRecord",
    "ModelVersionRecord",
    "NodeKind",
    "OutputArtifact",
    "PipelineVersionRecord",
    "RegisteredModelRecord",
    "RunRecord",
    "RunState",
    "VersionState",
]

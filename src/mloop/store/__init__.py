"""The ML metadata store: pipelines, runs, executions, artifacts and their lineage.

:class:`MetadataStore` keeps them in SQLite (default, one file) or PostgreSQL, migrates its
schema on first use, and returns plain frozen records; lineage is one recursive query.
"""

from mloop.store._records import (
    ArtifactRecord,
    CacheHit,
    EventKind,
    ExecutionRecord,
    ExecutionState,
    InputArtifact,
    LineageEdge,
    LineageGraph,
    LineageNode,
    NodeKind,
    OutputArtifact,
    PipelineVersionRecord,
    RunRecord,
    RunState,
)
from mloop.store._store import MetadataStore

__all__ = [
    "ArtifactRecord",
    "CacheHit",
    "EventKind",
    "ExecutionRecord",
    "ExecutionState",
    "InputArtifact",
    "LineageEdge",
    "LineageGraph",
    "LineageNode",
    "MetadataStore",
    "NodeKind",
    "OutputArtifact",
    "PipelineVersionRecord",
    "RunRecord",
    "RunState",
]

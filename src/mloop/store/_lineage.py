"""Lineage: the artifacts and executions upstream or downstream of a node, in one query.

The graph alternates artifact → execution → artifact along events. Upstream, an artifact
leads to the execution that output it and that execution to its inputs; downstream, an
artifact leads to the executions that read it and those to their outputs. One hop is one
event, so depth 2 from an artifact reaches the artifacts its producer read.

The walk is a single ``WITH RECURSIVE`` query whose every step makes two hops (artifact →
execution → artifact, the second a LEFT JOIN so executions without further artifacts are
kept). Each row is one traversed pair of events ``(src, exe, key1, dst, key2)``: the edges
come straight out of the rows. ``UNION`` removes repeated rows, which bounds the walk by the
number of event pairs, so it ends even on cycles (an execution that passes an input through
as an output). With a depth limit the row also carries its depth, and the limit stops it.
Then the artifact and execution rows are fetched with batched ``IN (...)`` queries.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from sqlalchemy import Connection, TextClause, text

from mloop.errors import NotFoundError
from mloop.store import _queries as q
from mloop.store._records import (
    ArtifactRecord,
    EventKind,
    ExecutionRecord,
    LineageEdge,
    LineageGraph,
    LineageNode,
    NodeKind,
)

Direction = Literal["upstream", "downstream"]

# (event kind of the artifact → execution hop, event kind of the execution → artifact hop)
_HOPS: dict[Direction, tuple[EventKind, EventKind]] = {
    "upstream": ("output", "input"),
    "downstream": ("input", "output"),
}

# A row is one step of the walk: artifact ``src`` -(event key1)- execution ``exe`` -(event
# key2)- artifact ``dst``, where the next step starts. The anchor is the root: an artifact
# root is a row with only ``dst``; an execution root is a row per artifact of its second hop
# (or one row without ``dst`` if it has none). Depth, when limited, is the depth of ``dst``.
_WALK = """
WITH RECURSIVE walk(src, exe, key1, dst, key2{depth}) AS (
    {anchor}
    UNION
    SELECT w.dst, h1.execution_id, h1.key, h2.artifact_id, h2.key{next_depth}
    FROM walk AS w
    JOIN events AS h1 ON h1.artifact_id = w.dst AND h1.kind = :hop1
    LEFT JOIN events AS h2 ON h2.execution_id = h1.execution_id AND h2.kind = :hop2{dst_limit}
    {exe_limit}
)
SELECT src, exe, key1, dst, key2 FROM walk
"""
_NO_ID = "CAST(NULL AS BIGINT)"
_NO_KEY = "CAST(NULL AS VARCHAR(255))"
_ANCHORS = {
    "artifact": f"SELECT {_NO_ID}, {_NO_ID}, {_NO_KEY}, CAST(:root AS BIGINT), {_NO_KEY}{{depth}}",
    "execution": (
        f"SELECT {_NO_ID}, CAST(:root AS BIGINT), {_NO_KEY}, h.artifact_id, h.key{{depth}}"
        " FROM (SELECT 1 AS one) AS seed"
        " LEFT JOIN events AS h ON h.execution_id = :root AND h.kind = :hop2{dst_limit}"
    ),
}


def _walk_sql(root: NodeKind, limited: bool) -> TextClause:
    if not limited:
        anchor = _ANCHORS[root].format(depth="", dst_limit="")
        sql = _WALK.format(depth="", anchor=anchor, next_depth="", dst_limit="", exe_limit="")
    else:
        anchor = _ANCHORS[root].format(
            depth=", 0" if root == "artifact" else ", 1", dst_limit=" AND :max_depth >= 1"
        )
        sql = _WALK.format(
            depth=", depth",
            anchor=anchor,
            next_depth=", w.depth + 2",
            dst_limit=" AND w.depth + 2 <= :max_depth",
            exe_limit="WHERE w.depth + 1 <= :max_depth",
        )
    return text(sql)


_WALKS = {
    (root, limited): _walk_sql(root, limited)
    for root in ("artifact", "execution")
    for limited in (False, True)
}


def lineage(
    conn: Connection,
    kind: NodeKind,
    node_id: int,
    *,
    direction: Direction = "upstream",
    max_depth: int | None = None,
) -> LineageGraph:
    if kind not in ("artifact", "execution"):
        raise ValueError(f"lineage of a {kind!r}: expected 'artifact' or 'execution'")
    if direction not in _HOPS:
        raise ValueError(f"lineage direction {direction!r}: expected 'upstream' or 'downstream'")
    if max_depth is not None and max_depth < 0:
        raise ValueError(f"max_depth must be >= 0, not {max_depth}")
    with _collector_paused():
        return _graph(conn, kind, node_id, direction, max_depth)


def _graph(
    conn: Connection, kind: NodeKind, node_id: int, direction: Direction, max_depth: int | None
) -> LineageGraph:
    hop1, hop2 = _HOPS[direction]
    params: dict[str, object] = {"root": node_id, "hop1": hop1, "hop2": hop2}
    if max_depth is not None:
        params["max_depth"] = max_depth
    rows = conn.execute(_WALKS[kind, max_depth is not None], params).all()

    edges: dict[tuple[int, int, str, str], LineageEdge] = {}
    artifact_ids: set[int] = {node_id} if kind == "artifact" else set()
    execution_ids: set[int] = {node_id} if kind == "execution" else set()
    for src, exe, key1, dst, key2 in rows:
        if exe is None:
            continue
        execution_ids.add(exe)
        if src is not None:
            artifact_ids.add(src)
            edges.setdefault((exe, src, hop1, key1), LineageEdge(exe, src, hop1, key1))
        if dst is not None:
            artifact_ids.add(dst)
            edges.setdefault((exe, dst, hop2, key2), LineageEdge(exe, dst, hop2, key2))

    artifacts = _fetch_artifacts(conn, sorted(artifact_ids))
    executions = _fetch_executions(conn, sorted(execution_ids))
    if node_id not in (artifacts if kind == "artifact" else executions):
        raise NotFoundError(f"{kind} {node_id} not found", **{kind: node_id})
    return LineageGraph(
        root=LineageNode(kind, node_id, 0),
        direction=direction,
        artifacts=artifacts,
        executions=executions,
        edges=list(edges.values()),
    )


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a large graph is built.

    A big lineage allocates hundreds of thousands of small acyclic objects (records, their
    dicts, timestamps); each allocation burst triggers collections that walk every live
    object in the process and find nothing to free, which costs more than building the graph.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _fetch_artifacts(conn: Connection, ids: list[int]) -> dict[int, ArtifactRecord]:
    found: dict[int, ArtifactRecord] = {}
    for batch in q.batches(ids):
        for row in conn.execute(q.ARTIFACTS_BY_ID, {"ids": batch}).all():
            found[row[0]] = ArtifactRecord(*row)
    return found


def _fetch_executions(conn: Connection, ids: list[int]) -> dict[int, ExecutionRecord]:
    found: dict[int, ExecutionRecord] = {}
    for batch in q.batches(ids):
        for row in conn.execute(q.EXECUTIONS_BY_ID, {"ids": batch}).all():
            found[row[0]] = ExecutionRecord(*row)
    return found

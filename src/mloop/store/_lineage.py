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

The same statement joins every row to the records of its nodes. Every artifact of the graph
is the ``dst`` of a row (the root that of the anchor) and every execution the ``exe`` of one,
so that one round trip returns the whole graph, with no lists of ids sent back to fetch the
records. A graph of 10,000 nodes is a quarter of a million values: they are read a column at
a time (on SQLite, one JSON array per column) and processed by C loops (``map``, ``zip``,
``itemgetter``) rather than a value at a time in Python; each record is decoded and built
once, however many rows name its node.
"""

from __future__ import annotations

import gc
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import fields, make_dataclass
from itertools import chain, compress, repeat
from operator import and_, is_not, itemgetter
from typing import Any, Literal, TypeVar

from sqlalchemy import Column, Connection, Dialect, TextClause, text

from mloop.errors import NotFoundError
from mloop.store import _queries as q
from mloop.store._json import json_loads
from mloop.store._models import JsonObject
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
_R = TypeVar("_R", ArtifactRecord, ExecutionRecord, LineageEdge)

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
SELECT {columns}
FROM {walk} AS w
LEFT JOIN artifacts AS a ON a.id = w.dst
LEFT JOIN artifact_types AS t ON t.id = a.type_id
LEFT JOIN executions AS e ON e.id = w.exe{order}
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


# The columns of the records, in the order of their fields. The ids are not selected: they
# are the walk's ``dst`` and ``exe``; a record's first other field, never NULL in its table,
# tells whether a row's node has a record at all (a root that does not exist has none).
_RECORD_COLUMNS: dict[type[Any], tuple[Column[Any], ...]] = {
    ArtifactRecord: q.ARTIFACT_COLUMNS,
    ExecutionRecord: q.EXECUTION_COLUMNS,
}
assert all(not columns[1].nullable for columns in _RECORD_COLUMNS.values())
_ALIASES = {"artifacts": "a", "artifact_types": "t", "executions": "e"}
_FIELDS = [column for columns in _RECORD_COLUMNS.values() for column in columns[1:]]
_COLUMNS = ["w.src", "w.exe", "w.key1", "w.dst", "w.key2"] + [
    f"{_ALIASES[column.table.name]}.{column.name}" for column in _FIELDS
]
_JSON_COLUMNS = {
    name
    for name, column in zip(_COLUMNS[5:], _FIELDS, strict=True)
    if isinstance(column.type, JsonObject)
}
_ARTIFACT_FIELDS = slice(5, 5 + len(q.ARTIFACT_COLUMNS) - 1)
_EXECUTION_FIELDS = slice(
    _ARTIFACT_FIELDS.stop, _ARTIFACT_FIELDS.stop + len(q.EXECUTION_COLUMNS) - 1
)

# How each backend returns the rows. SQLite: a single row, of one JSON array per column in
# the order of the walk (which SQLite's nested loops keep). Python's sqlite3 module releases
# and retakes the GIL, and SQLite its connection mutex, for every value it reads: on a graph
# of 10,000 nodes (24 values a row) that costs more than the query, while the C JSON scanner
# decodes a whole column at once, already transposed. ``json_group_array`` quotes the values
# (text round-trips exactly; there is no REAL or BLOB column); the columns of JSON the store
# wrote are joined as they are, so the scanner decodes them in the same pass. (The JSON
# functions are built into SQLite since 3.38, and into its usual builds long before.) An
# array may not pass SQLite's 1 GB string limit: far beyond the memory such a graph takes.
# PostgreSQL: plain rows; it may hash-join the records, which reorders them, so the walk's
# rows are numbered and the result ordered by that number, to list the edges in the same
# order on both backends.
_SHAPES = {
    "sqlite": {
        "columns": ", ".join(
            f"'[' || coalesce(group_concat(coalesce({name}, 'null'), ','), '') || ']'"
            if name in _JSON_COLUMNS
            else f"json_group_array({name})"
            for name in _COLUMNS
        ),
        "walk": "walk",
        "order": "",
    },
    "postgresql": {
        "columns": ", ".join(_COLUMNS),
        "walk": "(SELECT walk.*, row_number() OVER () AS n FROM walk)",
        "order": "\nORDER BY w.n",
    },
}
Backend = Literal["sqlite", "postgresql"]


def _walk_sql(root: NodeKind, limited: bool, backend: Backend) -> TextClause:
    shape = _SHAPES[backend]
    if not limited:
        anchor = _ANCHORS[root].format(depth="", dst_limit="")
        sql = _WALK.format(
            depth="", anchor=anchor, next_depth="", dst_limit="", exe_limit="", **shape
        )
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
            **shape,
        )
    return text(sql)


_WALKS = {
    (root, limited, backend): _walk_sql(root, limited, backend)
    for root in ("artifact", "execution")
    for limited in (False, True)
    for backend in ("sqlite", "postgresql")
}


def lineage(
    conn: Connection,
    kind: NodeKind,
    node_id: int,
    *,
    direction: Direction = "upstream",
    max_depth: int | None = None,
) -> LineageGraph:
    """The lineage graph of a node; run it inside :class:`CollectorPaused` (see there)."""
    if kind not in ("artifact", "execution"):
        raise ValueError(f"lineage of a {kind!r}: expected 'artifact' or 'execution'")
    if direction not in _HOPS:
        raise ValueError(f"lineage direction {direction!r}: expected 'upstream' or 'downstream'")
    if max_depth is not None and max_depth < 0:
        raise ValueError(f"max_depth must be >= 0, not {max_depth}")

    hop1, hop2 = _HOPS[direction]
    params: dict[str, object] = {"root": node_id, "hop1": hop1, "hop2": hop2}
    if max_depth is not None:
        params["max_depth"] = max_depth
    backend: Backend = "sqlite" if conn.dialect.name == "sqlite" else "postgresql"
    result = conn.execute(_WALKS[kind, max_depth is not None, backend], params)
    if backend == "sqlite":
        columns: list[Sequence[Any]] = list(map(json_loads, result.one()))
        if len(set(map(len, columns))) != 1:  # a JSON column held more than one value
            raise ValueError(f"malformed JSON in the records of the lineage of {kind} {node_id}")
    else:
        columns = list(zip(*result.all(), strict=True)) or [()] * len(_COLUMNS)

    src, exe, key1, dst, key2 = columns[:5]
    artifacts = _records(conn.dialect, ArtifactRecord, dst, columns[_ARTIFACT_FIELDS])
    executions = _records(conn.dialect, ExecutionRecord, exe, columns[_EXECUTION_FIELDS])
    if node_id not in (artifacts if kind == "artifact" else executions):
        raise NotFoundError(f"{kind} {node_id} not found", **{kind: node_id})
    return LineageGraph(
        root=LineageNode(kind, node_id, 0),
        direction=direction,
        artifacts=artifacts,
        executions=executions,
        edges=_edges(src, exe, key1, dst, key2, hop1, hop2),
    )


class CollectorPaused:
    """Pauses the cyclic garbage collector while a large graph is read and built.

    A big lineage allocates hundreds of thousands of small acyclic objects (records, their
    dicts, timestamps); each allocation burst triggers collections that walk every live
    object in the process and find nothing to free, which costs more than building the graph.
    Enter it before the transaction, so that re-enabling the collector is the last thing the
    call does: any allocation after that would at once run a collection over the whole new
    graph (some ms for 10,000 nodes), which is pointless when the caller is about to drop the
    previous graph, whose release gives the collector's allocation count back.
    """

    def __enter__(self) -> None:
        self._enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc_info: object) -> None:
        if self._enabled:
            gc.enable()


def _records(
    dialect: Dialect, cls: type[_R], ids: Sequence[Any], columns: Sequence[Sequence[Any]]
) -> dict[int, _R]:
    """The records of ``cls`` of the nodes ``ids`` of the rows, by id in increasing order,
    from the columns of their other fields.

    A node reached along several paths is on several rows (with the same values) and a row
    may have none (a NULL id): each record is decoded and built once, from its last row.
    """
    row_of = dict(zip(ids, range(len(ids)), strict=True))
    row_of.pop(None, None)
    if not row_of:
        return {}
    order = sorted(row_of)
    rows = list(map(row_of.__getitem__, order))
    pick: Callable[[Sequence[Any]], Sequence[Any]] = (
        itemgetter(*rows) if len(rows) > 1 else lambda column: (column[rows[0]],)
    )
    values: list[Sequence[Any]] = [order, *map(pick, columns)]
    if None in values[1]:  # nodes without a record
        exists = list(map(is_not, values[1], repeat(None)))
        values = [list(compress(column, exists)) for column in values]
    for position, process in _processors(dialect, cls):
        values[position] = list(map(process, values[position]))
    return dict(zip(values[0], _build(cls, values), strict=True))


def _edges(
    src: Sequence[Any],
    exe: Sequence[Any],
    key1: Sequence[Any],
    dst: Sequence[Any],
    key2: Sequence[Any],
    hop1: EventKind,
    hop2: EventKind,
) -> list[LineageEdge]:
    """The edges of the walk, each once: the first hop of each row, then its second.

    A hop is no edge without an execution (the anchor of an artifact root) or without an
    artifact (the anchor of an execution root, an execution with no artifact to go on to).
    """
    has_exe = list(map(is_not, exe, repeat(None)))
    is_edge = list(
        chain.from_iterable(
            zip(
                map(and_, has_exe, map(is_not, src, repeat(None))),
                map(and_, has_exe, map(is_not, dst, repeat(None))),
                strict=True,
            )
        )
    )
    keys = zip(zip(exe, src, repeat(hop1), key1), zip(exe, dst, repeat(hop2), key2), strict=True)
    unique = dict.fromkeys(compress(chain.from_iterable(keys), is_edge))
    return _build(LineageEdge, list(zip(*unique, strict=True))) if unique else []


def _processors(dialect: Dialect, cls: type[Any]) -> list[tuple[int, Callable[[Any], Any]]]:
    """``(position, result processor)`` for the fields of ``cls`` whose raw values need one:
    the statement is plain text, so SQLAlchemy processes no values itself (and on SQLite the
    JSON columns come decoded already, see ``_SHAPES``)."""
    processors: list[tuple[int, Callable[[Any], Any]]] = []
    for position, column in enumerate(_RECORD_COLUMNS[cls]):
        if dialect.name == "sqlite" and isinstance(column.type, JsonObject):
            continue
        process = column.type.dialect_impl(dialect).result_processor(dialect, None)
        if process is not None:
            processors.append((position, process))
    return processors


def _build(cls: type[_R], columns: Sequence[Sequence[Any]]) -> list[_R]:
    """Records of ``cls`` from the columns of their fields, in field order.

    The frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``, a
    call per field and record, which on 10,000 records costs more than the query. The
    records are instead built by a mutable twin class with the same slots, whose ``__init__``
    stores the fields directly, then given their own class (``__class__`` assignment, allowed
    between classes of the same layout): the same objects, several times faster.
    """
    records = list(map(_TWINS[cls], *columns))
    deque(map(setattr, records, repeat("__class__"), repeat(cls)), maxlen=0)
    return records


def _twin(cls: type[Any]) -> type[Any]:
    names = tuple(field.name for field in fields(cls))
    twin = make_dataclass(f"_Building{cls.__name__}", names, slots=True, eq=False)
    # Same slots (so the same layout) and nothing an __init__ or __post_init__ would do
    # beyond storing the fields.
    assert getattr(cls, "__slots__", None) == getattr(twin, "__slots__", None) == names, cls
    assert not hasattr(cls, "__post_init__"), cls
    return twin


_TWINS = {cls: _twin(cls) for cls in (ArtifactRecord, ExecutionRecord, LineageEdge)}

"""Lineage over events, on both backends: a diamond, a chain, a pass-through cycle."""

from __future__ import annotations

import gc
import math
from dataclasses import dataclass

import pytest

from mloop.errors import NotFoundError
from mloop.store import (
    InputArtifact,
    LineageEdge,
    LineageGraph,
    LineageNode,
    MetadataStore,
    OutputArtifact,
    PipelineVersionRecord,
    RunRecord,
)


def produce(
    store: MetadataStore, run_id: str, name: str, inputs: dict[str, int], outputs: list[str]
) -> tuple[int, dict[str, int]]:
    """Run one step reading ``inputs`` (key -> artifact id); returns its id and output ids."""
    execution = store.start_execution(
        run_id,
        name,
        component=name,
        component_fingerprint="f",
        cache_key=None,
        params={},
        inputs=[InputArtifact(key, artifact) for key, artifact in inputs.items()],
    )
    _, produced = store.finish_execution(
        execution.id,
        "succeeded",
        outputs=[OutputArtifact(key, "Dataset", f"file:///{name}/{key}", key) for key in outputs],
    )
    return execution.id, {key: artifacts[0].id for key, artifacts in produced.items()}


@dataclass
class Diamond:
    """ingest → a; left(a) → b; right(a) → c; join(b, c) → d."""

    ingest: int
    left: int
    right: int
    join: int
    a: int
    b: int
    c: int
    d: int


@pytest.fixture
def diamond(store: MetadataStore, run: RunRecord) -> Diamond:
    ingest, o1 = produce(store, run.id, "ingest", {}, ["a"])
    left, o2 = produce(store, run.id, "left", {"x": o1["a"]}, ["b"])
    right, o3 = produce(store, run.id, "right", {"x": o1["a"]}, ["c"])
    join, o4 = produce(store, run.id, "join", {"l": o2["b"], "r": o3["c"]}, ["d"])
    return Diamond(ingest, left, right, join, o1["a"], o2["b"], o3["c"], o4["d"])


def nodes(graph: LineageGraph) -> tuple[set[int], set[int]]:
    return set(graph.executions), set(graph.artifacts)


def test_upstream_of_a_diamond(store: MetadataStore, diamond: Diamond) -> None:
    d = diamond
    graph = store.lineage("artifact", d.d)

    assert graph.root == LineageNode("artifact", d.d, 0)
    assert graph.direction == "upstream"
    assert nodes(graph) == ({d.ingest, d.left, d.right, d.join}, {d.a, d.b, d.c, d.d})
    assert set(graph.edges) == {
        LineageEdge(d.join, d.d, "output", "d"),
        LineageEdge(d.join, d.b, "input", "l"),
        LineageEdge(d.join, d.c, "input", "r"),
        LineageEdge(d.left, d.b, "output", "b"),
        LineageEdge(d.right, d.c, "output", "c"),
        LineageEdge(d.left, d.a, "input", "x"),
        LineageEdge(d.right, d.a, "input", "x"),
        LineageEdge(d.ingest, d.a, "output", "a"),
    }
    assert len(graph.edges) == 8
    assert graph.artifacts[d.a] == store.get_artifact(d.a)
    assert graph.executions[d.join] == store.get_execution(d.join)


@pytest.mark.parametrize(
    ("depth", "executions", "artifacts", "edges"),
    [
        (0, set(), {"d"}, 0),
        (1, {"join"}, {"d"}, 1),
        (2, {"join"}, {"b", "c", "d"}, 3),
        (3, {"join", "left", "right"}, {"b", "c", "d"}, 5),
        (4, {"join", "left", "right"}, {"a", "b", "c", "d"}, 7),
        (5, {"join", "left", "right", "ingest"}, {"a", "b", "c", "d"}, 8),
        (50, {"join", "left", "right", "ingest"}, {"a", "b", "c", "d"}, 8),
    ],
)
def test_upstream_depth_limits(
    store: MetadataStore,
    diamond: Diamond,
    depth: int,
    executions: set[str],
    artifacts: set[str],
    edges: int,
) -> None:
    graph = store.lineage("artifact", diamond.d, max_depth=depth)
    names = vars(diamond)
    assert nodes(graph) == ({names[n] for n in executions}, {names[n] for n in artifacts})
    assert len(graph.edges) == edges
    for edge in graph.edges:  # every edge joins two nodes of the graph
        assert edge.execution_id in graph.executions and edge.artifact_id in graph.artifacts


def test_downstream_of_a_diamond(store: MetadataStore, diamond: Diamond) -> None:
    d = diamond
    graph = store.lineage("artifact", d.a, direction="downstream")
    assert nodes(graph) == ({d.left, d.right, d.join}, {d.a, d.b, d.c, d.d})
    assert LineageEdge(d.left, d.a, "input", "x") in graph.edges
    assert LineageEdge(d.ingest, d.a, "output", "a") not in graph.edges
    assert len(graph.edges) == 7

    shallow = store.lineage("artifact", d.a, direction="downstream", max_depth=2)
    assert nodes(shallow) == ({d.left, d.right}, {d.a, d.b, d.c})


def test_lineage_of_an_execution(store: MetadataStore, diamond: Diamond) -> None:
    d = diamond
    down = store.lineage("execution", d.left, direction="downstream")
    assert down.root == LineageNode("execution", d.left, 0)
    assert nodes(down) == ({d.left, d.join}, {d.b, d.d})

    up = store.lineage("execution", d.join, max_depth=1)
    assert nodes(up) == ({d.join}, {d.b, d.c})
    assert set(up.edges) == {
        LineageEdge(d.join, d.b, "input", "l"),
        LineageEdge(d.join, d.c, "input", "r"),
    }
    alone = store.lineage("execution", d.ingest)
    assert nodes(alone) == ({d.ingest}, set()) and alone.edges == []
    assert nodes(store.lineage("execution", d.join, max_depth=0)) == ({d.join}, set())


def test_lineage_of_a_chain(store: MetadataStore, run: RunRecord) -> None:
    executions, artifacts = [], []
    previous: dict[str, int] = {}
    for i in range(60):
        execution, produced = produce(store, run.id, f"s{i}", previous, ["o"])
        executions.append(execution)
        artifacts.append(produced["o"])
        previous = {"i": produced["o"]}

    full = store.lineage("artifact", artifacts[-1])
    assert nodes(full) == (set(executions), set(artifacts))
    assert len(full.edges) == 60 + 59

    limited = store.lineage("artifact", artifacts[-1], max_depth=10)
    assert nodes(limited) == (set(executions[-5:]), set(artifacts[-6:]))

    down = store.lineage("artifact", artifacts[0], direction="downstream", max_depth=9)
    assert nodes(down) == (set(executions[1:6]), set(artifacts[:5]))


def test_lineage_survives_a_pass_through_cycle(store: MetadataStore, run: RunRecord) -> None:
    source, produced = produce(store, run.id, "source", {}, ["data"])
    data = produced["data"]
    passer = store.start_execution(
        run.id,
        "pass",
        component="pass",
        component_fingerprint="f",
        cache_key=None,
        params={},
        inputs=[InputArtifact("data", data)],
    )
    store.finish_execution(
        passer.id, "succeeded", outputs=[OutputArtifact("data", "Dataset", "", "", reuse_id=data)]
    )
    consumer, result = produce(store, run.id, "use", {"data": data}, ["out"])

    up = store.lineage("artifact", result["out"])
    assert nodes(up) == ({consumer, passer.id, source}, {data, result["out"]})
    down = store.lineage("artifact", data, direction="downstream")
    assert nodes(down) == ({passer.id, consumer}, {data, result["out"]})
    assert LineageEdge(passer.id, data, "output", "data") in down.edges


def test_lineage_errors(store: MetadataStore, diamond: Diamond) -> None:
    with pytest.raises(NotFoundError) as info:
        store.lineage("artifact", 9999)
    assert info.value.fields == {"artifact": 9999}
    with pytest.raises(NotFoundError) as info:
        store.lineage("execution", 9999, direction="downstream")
    assert info.value.fields == {"execution": 9999}
    with pytest.raises(ValueError, match="direction"):
        store.lineage("artifact", diamond.a, direction="sideways")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_depth"):
        store.lineage("artifact", diamond.a, max_depth=-1)


# Lineage against a walk of the events in Python ---------------------------------------------

Event = tuple[int, int, str, str]  # (execution, artifact, kind, key)


def all_events(store: MetadataStore, *runs: RunRecord) -> list[Event]:
    """Every event of the runs, read through the store's public API."""
    events: list[Event] = []
    for run in runs:
        for execution in store.list_executions(run.id):
            inputs, outputs = store.execution_io(execution.id)
            for kind, by_key in (("input", inputs), ("output", outputs)):
                for key, artifacts in by_key.items():
                    events += [(execution.id, a.id, kind, key) for a in artifacts]
    return events


def walk(
    store: MetadataStore,
    events: list[Event],
    kind: str,
    root: int,
    direction: str,
    max_depth: int | None,
) -> LineageGraph:
    """The lineage the store should return, by a breadth-first walk over ``events``: from a
    node at distance ``d`` (if ``d < max_depth``) every event leading on is an edge, and the
    node at its other end is at distance ``d + 1`` or less."""
    first, second = ("output", "input") if direction == "upstream" else ("input", "output")
    onward: dict[tuple[str, int], list[tuple[str, int, LineageEdge]]] = {}
    for execution, artifact, event_kind, key in events:
        edge = LineageEdge(execution, artifact, event_kind, key)  # type: ignore[arg-type]
        if event_kind == first:
            onward.setdefault(("artifact", artifact), []).append(("execution", execution, edge))
        if event_kind == second:
            onward.setdefault(("execution", execution), []).append(("artifact", artifact, edge))
    distance = {(kind, root): 0}
    queue, edges = [(kind, root)], set()
    for node in queue:  # grows while it is walked: breadth first
        if max_depth is not None and distance[node] >= max_depth:
            continue
        for next_kind, next_id, edge in onward.get(node, []):
            edges.add(edge)
            if (next_kind, next_id) not in distance:
                distance[next_kind, next_id] = distance[node] + 1
                queue.append((next_kind, next_id))
    return LineageGraph(
        root=LineageNode(kind, root, 0),  # type: ignore[arg-type]
        direction=direction,  # type: ignore[arg-type]
        artifacts={i: store.get_artifact(i) for k, i in sorted(distance) if k == "artifact"},
        executions={i: store.get_execution(i) for k, i in sorted(distance) if k == "execution"},
        edges=sorted(edges, key=repr),
    )


def test_lineage_is_the_walk_of_the_events(
    store: MetadataStore, run: RunRecord, version: PipelineVersionRecord, diamond: Diamond
) -> None:
    """Every node of a graph with a diamond, a chain, fan-out, a list input reading one
    artifact twice, a pass-through, a second run and a running step; both directions, every
    depth: the records, the edges (each once) and the root are those of the walk."""
    d = diamond
    previous = {"i": d.d}
    for i in range(6):  # a chain below the diamond
        _, produced = produce(store, run.id, f"chain{i}", previous, ["o"])
        previous = {"i": produced["o"]}
    _, split = produce(store, run.id, "split", previous, ["left", "right", "rest"])
    lister = store.start_execution(
        run.id,
        "list",
        component="list",
        component_fingerprint="f",
        cache_key=None,
        params={"weird": 'q"uo\\te, [comma]\n\t\x01 ünï 😀', "float": 0.1, "big": 2**62},
        inputs=[
            InputArtifact("items", split["left"], index=0),
            InputArtifact("items", split["left"], index=1),
            InputArtifact("items", split["right"], index=2),
        ],
    )
    store.finish_execution(
        lister.id,
        "succeeded",
        outputs=[
            OutputArtifact("items", "Dataset", "", "", reuse_id=split["left"]),  # pass-through
            OutputArtifact("merged", "Model", 'file:///a,b/"c"', "fp,\"'", {"n": [1, None]}),
        ],
    )
    other = store.create_run(version.id, {}, owner="host:2")
    produce(store, other.id, "other", {"x": split["rest"]}, ["o"])
    store.start_execution(  # still running, with no outputs
        other.id,
        "running",
        component="running",
        component_fingerprint="f",
        cache_key=None,
        params={},
        inputs=[InputArtifact("x", d.b)],
    )

    events = all_events(store, run, other)
    artifacts = sorted({artifact for _, artifact, _, _ in events})
    executions = sorted({execution for execution, _, _, _ in events})
    for kind, ids in (("artifact", artifacts), ("execution", executions)):
        for node in ids:
            for direction in ("upstream", "downstream"):
                for max_depth in (0, 1, 2, 3, 4, 5, 7, None):
                    graph = store.lineage(
                        kind,  # type: ignore[arg-type]
                        node,
                        direction=direction,  # type: ignore[arg-type]
                        max_depth=max_depth,
                    )
                    expected = walk(store, events, kind, node, direction, max_depth)
                    where = (kind, node, direction, max_depth)
                    assert graph.root == expected.root, where
                    assert graph.direction == expected.direction, where
                    assert graph.artifacts == expected.artifacts, where
                    assert graph.executions == expected.executions, where
                    assert len(set(graph.edges)) == len(graph.edges), where
                    assert set(graph.edges) == set(expected.edges), where
                    assert list(graph.artifacts) == sorted(graph.artifacts), where
                    assert list(graph.executions) == sorted(graph.executions), where


def test_lineage_records_are_those_of_the_store(store: MetadataStore, run: RunRecord) -> None:
    """Values that do not survive a careless round trip come back as the store keeps them."""
    _, produced = produce(store, run.id, "source", {}, ["data"])
    params: dict[str, object] = {"exp": 1e300, "tiny": 5e-324, "big": -(2**63), "s": "\\u00e9"}
    if store.url.startswith("sqlite"):  # PostgreSQL's JSONB refuses NaN and infinities
        params |= {"nan": float("nan"), "inf": float("-inf")}
    execution = store.start_execution(
        run.id,
        'step, "quoted" \\ [1]\n',
        component="c",
        component_fingerprint="f",
        cache_key="k",
        params=params,
        inputs=[InputArtifact('in,"put"', produced["data"])],
    )
    _, outputs = store.finish_execution(
        execution.id,
        "failed",
        outputs=[OutputArtifact("out", "Dataset", "s3://b/k", "x", {"": {"null": None}})],
        output_params={"list": [[], {}, ""]},
        error='Traceback\n  ValueError: "bad"\t\\',
        log_uri="file:///logs/ünï",
    )
    graph = store.lineage("artifact", outputs["out"][0].id)
    record, stored = graph.executions[execution.id], store.get_execution(execution.id)
    if "nan" in params:  # NaN != NaN
        assert math.isnan(record.params.pop("nan")) and math.isnan(stored.params.pop("nan"))
    assert record == stored and set(record.params) == set(params) - {"nan"}
    assert record.started_at is not None and record.started_at.tzinfo is not None
    assert graph.artifacts == {a: store.get_artifact(a) for a in graph.artifacts}
    assert LineageEdge(execution.id, produced["data"], "input", 'in,"put"') in graph.edges


def test_lineage_restores_the_garbage_collector(store: MetadataStore, diamond: Diamond) -> None:
    assert gc.isenabled()
    store.lineage("artifact", diamond.d)
    assert gc.isenabled()
    gc.disable()
    try:
        store.lineage("artifact", diamond.d)
        assert not gc.isenabled()
        with pytest.raises(NotFoundError):
            store.lineage("artifact", 10**9)
        assert not gc.isenabled()
    finally:
        gc.enable()
    with pytest.raises(NotFoundError):
        store.lineage("execution", 10**9)
    assert gc.isenabled()

"""Lineage over events, on both backends: a diamond, a chain, a pass-through cycle."""

from __future__ import annotations

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

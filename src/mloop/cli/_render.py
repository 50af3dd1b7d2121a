"""Shared terminal rendering: durations, states, lineage trees."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from rich.console import Console
from rich.tree import Tree

if TYPE_CHECKING:
    from mloop.store import ArtifactRecord, ExecutionRecord, LineageGraph


def _console(stderr: bool = False) -> Console:
    """A console; when output is not a terminal (pipes, CI logs), tables are not squeezed."""
    probe = Console(stderr=stderr)
    return Console(stderr=stderr, highlight=False, width=None if probe.is_terminal else 200)


console = _console()
err_console = _console(stderr=True)

STATE_STYLE = {
    "succeeded": ("✓", "green"),
    "cached": ("↻", "cyan"),
    "failed": ("✗", "red"),
    "blocked": ("✗", "red"),
    "skipped": ("-", "dim"),
    "running": ("…", "yellow"),
    "crashed": ("!", "red"),
    "cancelled": ("■", "magenta"),
    "pending": ("·", "dim"),
}


def mark(state: str) -> str:
    symbol, style = STATE_STYLE.get(state, ("?", "white"))
    return f"[{style}]{symbol}[/]"


def styled_state(state: str) -> str:
    _, style = STATE_STYLE.get(state, ("?", "white"))
    return f"[{style}]{state}[/]"


def seconds(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return ""
    return duration((end - start).total_seconds())


def duration(value: float) -> str:
    if value < 0.1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.1f} s"
    return f"{value / 60:.1f} min"


def when(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else ""


def artifact_label(a: ArtifactRecord) -> str:
    extra = []
    rows = a.properties.get("num_rows")
    if rows is not None:
        extra.append(f"{rows:,} rows")
    label = f"[bold]{a.type}[/] #{a.id}  sha256:{a.fingerprint[:12]}"
    return label + (f"  [dim]{', '.join(extra)}[/]" if extra else "")


def execution_label(e: ExecutionRecord, run_id: str | None = None) -> str:
    details = [f"execution #{e.id}"]
    if not e.step.startswith(e.component):
        details.insert(0, e.component)
    if e.cached_from:
        details.append(f"cached from #{e.cached_from}")
    if e.run_id != run_id:
        details.append(f"run {e.run_id}")
    return f"{mark(e.state)} [bold]{e.step}[/] [dim]({', '.join(details)})[/]"


def lineage_tree(graph: LineageGraph) -> Tree:
    """A tree from the root node, following edges away from it (upstream or downstream)."""
    upstream = graph.direction == "upstream"
    produced_by: dict[int, list[tuple[int, str]]] = {}  # artifact -> executions that wrote it
    consumers: dict[int, list[tuple[int, str]]] = {}  # artifact -> executions that read it
    exec_inputs: dict[int, list[tuple[int, str]]] = {}
    exec_outputs: dict[int, list[tuple[int, str]]] = {}
    for edge in graph.edges:
        if edge.kind == "output":
            produced_by.setdefault(edge.artifact_id, []).append((edge.execution_id, edge.key))
            exec_outputs.setdefault(edge.execution_id, []).append((edge.artifact_id, edge.key))
        else:
            consumers.setdefault(edge.artifact_id, []).append((edge.execution_id, edge.key))
            exec_inputs.setdefault(edge.execution_id, []).append((edge.artifact_id, edge.key))

    shown: set[tuple[str, int]] = set()  # a node drawn once; later mentions point back
    root_run = None
    if graph.root.kind == "execution" and graph.root.id in graph.executions:
        root_run = graph.executions[graph.root.id].run_id

    def add_artifact(parent: Tree, artifact_id: int, key: str) -> None:
        nonlocal root_run
        record = graph.artifacts.get(artifact_id)
        if record is None:
            return
        label = artifact_label(record)
        node = parent.add(f"[cyan]{key}[/]: {label}" if key else label)
        nexts = sorted(set((produced_by if upstream else consumers).get(artifact_id, [])))
        if ("a", artifact_id) in shown and nexts:
            node.add("[dim]… (shown above)[/]")
            return
        shown.add(("a", artifact_id))
        for execution_id, _ in nexts:
            if root_run is None and execution_id in graph.executions:
                root_run = graph.executions[execution_id].run_id
            add_execution(node, execution_id)

    def add_execution(parent: Tree, execution_id: int) -> None:
        record = graph.executions.get(execution_id)
        if record is None:
            return
        node = parent.add(execution_label(record, root_run))
        nexts = sorted(set((exec_inputs if upstream else exec_outputs).get(execution_id, [])))
        if ("e", execution_id) in shown and nexts:
            node.add("[dim]… (shown above)[/]")
            return
        shown.add(("e", execution_id))
        for artifact_id, key in nexts:
            add_artifact(node, artifact_id, key)

    arrow = "upstream of" if upstream else "downstream of"
    tree = Tree(f"[dim]lineage {arrow}[/]")
    if graph.root.kind == "artifact":
        add_artifact(tree, graph.root.id, "")
    else:
        add_execution(tree, graph.root.id)
    return tree

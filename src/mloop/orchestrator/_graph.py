"""Interpreting a compiled spec: which step instances exist, which are ready, what they get.

The graph is static (the spec) but its instances are not: a ``ParallelFor`` over an upstream
output expands only once that output exists, and an ``If`` decides only once its operands
exist. :class:`Graph` answers, for the current state of the instances, what can be decided
now: run an instance with these inputs, skip it (and why), or block it behind a failure.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from mloop.errors import RunError
from mloop.orchestrator._task import ArtifactRef

InstanceState = Literal["running", "succeeded", "cached", "failed", "skipped", "blocked"]
DONE_STATES = frozenset({"succeeded", "cached"})
TERMINAL_STATES = frozenset({"succeeded", "cached", "failed", "skipped", "blocked"})

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


@dataclass
class Instance:
    """One run of a step in one loop context."""

    key: str
    step: str
    state: InstanceState
    outputs: dict[str, Any] = field(default_factory=dict)
    execution_id: int | None = None
    attempt: int = 1
    reason: str | None = None


@dataclass(frozen=True)
class Decision:
    key: str
    step: str
    action: Literal["run", "skip", "block", "fail"]
    artifacts: dict[str, ArtifactRef | list[ArtifactRef]] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None


class _NotReady(Exception):
    pass


class _Skip(Exception):
    pass


class _Block(Exception):
    pass


def _action_for(exc: Exception) -> Literal["skip", "block", "fail"]:
    if isinstance(exc, _Skip):
        return "skip"
    return "block" if isinstance(exc, _Block) else "fail"


def _reason(exc: Exception) -> str:
    return exc.message if isinstance(exc, RunError) else str(exc)


def instance_key(step: str, indices: Iterable[int]) -> str:
    return step + "".join(f"[{i}]" for i in indices)


class Graph:
    """The steps of a spec, their groups and dependencies, and the decisions they allow."""

    def __init__(
        self,
        spec: dict[str, Any],
        params: dict[str, Any],
        load_value: Callable[[ArtifactRef], Any],
    ) -> None:
        self.spec = spec
        self.params = params
        self._load_value = load_value
        self.steps: dict[str, dict[str, Any]] = spec["steps"]
        self.groups: dict[str, dict[str, Any]] = spec.get("groups", {})
        self.components: dict[str, dict[str, Any]] = spec["components"]
        self.chain = {name: self._chain(step.get("group")) for name, step in self.steps.items()}
        self.loops = {
            name: [g for g in chain if self.groups[g]["kind"] == "for"]
            for name, chain in self.chain.items()
        }
        self.deps = {name: self._deps(name) for name in self.steps}
        self.dependents: dict[str, set[str]] = {name: set() for name in self.steps}
        for name, deps in self.deps.items():
            for dep in deps:
                self.dependents[dep].add(name)
        self.exit_steps = [n for n, s in self.steps.items() if s.get("exit")]
        self.instances: dict[str, Instance] = {}
        self._items: dict[tuple[str, tuple[int, ...]], list[Any]] = {}
        self._expanded: dict[str, list[str]] = {}  # step -> instance keys, once all are known
        self._dirty: set[str] = {n for n in self.steps if n not in self.exit_steps}

    # Static structure ------------------------------------------------------------------
    def _chain(self, group: str | None) -> list[str]:
        chain: list[str] = []
        while group is not None:
            chain.append(group)
            group = self.groups[group].get("parent")
        return chain[::-1]

    @staticmethod
    def _refs(ref: Any) -> Iterable[str]:
        if isinstance(ref, dict) and "step" in ref:
            yield ref["step"]

    def _deps(self, name: str) -> set[str]:
        step = self.steps[name]
        deps: set[str] = set(step.get("after", []))
        for ref in step.get("inputs", {}).values():
            deps.update(self._refs(ref))
        for group in self.chain[name]:
            spec = self.groups[group]
            if spec["kind"] == "if":
                deps.update(self._refs(spec["condition"].get("left")))
                deps.update(self._refs(spec["condition"].get("right")))
            else:
                deps.update(self._refs(spec["items"]))
        deps.discard(name)
        return deps

    def component_of(self, step: str) -> dict[str, Any]:
        return self.components[self.steps[step]["component"]]

    def options_of(self, step: str) -> dict[str, Any]:
        return {**self.component_of(step).get("options", {}), **self.steps[step].get("options", {})}

    # State ------------------------------------------------------------------------------
    def add(self, instance: Instance) -> None:
        self.instances[instance.key] = instance
        if instance.state in TERMINAL_STATES:
            self.touch(instance.step)

    def touch(self, step: str) -> None:
        """Note that ``step`` changed, so the steps that depend on it are decided again."""
        self._dirty.update(self.dependents[step])

    def is_settled(self) -> bool:
        """Every non-exit step has all its instances decided and finished."""
        return all(
            step in self._expanded
            and all(
                k in self.instances and self.instances[k].state in TERMINAL_STATES
                for k in self._expanded[step]
            )
            for step in self.steps
            if step not in self.exit_steps
        )

    def unresolved_steps(self) -> list[str]:
        return [s for s in self.steps if s not in self._expanded and s not in self.exit_steps]

    # Decisions --------------------------------------------------------------------------
    def decide(self) -> list[Decision]:
        """Everything that can be decided now; each instance is decided once."""
        decisions: list[Decision] = []
        while self._dirty:
            dirty, self._dirty = self._dirty, set()
            for step in dirty:
                if step in self._expanded and all(
                    k in self.instances for k in self._expanded[step]
                ):
                    continue
                decisions.extend(self._decide_step(step))
        return decisions

    def _decide_step(self, step: str) -> list[Decision]:
        try:
            contexts = self._contexts(step)
        except _NotReady:
            return []
        except (_Skip, _Block, RunError) as exc:
            key = instance_key(step, [])
            self._expanded[step] = [key]
            if key in self.instances:
                return []
            return [Decision(key=key, step=step, action=_action_for(exc), reason=_reason(exc))]
        keys = [instance_key(step, [ctx[g] for g in self.loops[step]]) for ctx in contexts]
        self._expanded[step] = keys
        decisions = []
        for key, ctx in zip(keys, contexts, strict=True):
            if key in self.instances:
                continue
            decision = self._decide_instance(step, key, ctx)
            if decision is not None:
                decisions.append(decision)
        if not contexts:  # a loop over an empty list: the step is done with no instance
            self.touch(step)
        return decisions

    def _decide_instance(self, step: str, key: str, ctx: dict[str, int]) -> Decision | None:
        spec = self.steps[step]
        try:
            for group in self.chain[step]:
                if self.groups[group]["kind"] == "if" and not self._condition(group, ctx):
                    return Decision(
                        key=key, step=step, action="skip", reason=f"condition {group} is false"
                    )
            for after in spec.get("after", []):
                self._check_after(after, ctx)
            artifacts: dict[str, ArtifactRef | list[ArtifactRef]] = {}
            params: dict[str, Any] = {}
            component = self.component_of(step)
            for name, ref in spec.get("inputs", {}).items():
                if ref.get("run_status"):
                    params[name] = {"__run_status__": None}
                    continue
                value = self.resolve(ref, ctx)
                if component["inputs"][name]["kind"] == "artifact":
                    artifacts[name] = value
                else:
                    params[name] = value
        except _NotReady:
            return None
        except (_Skip, _Block, RunError) as exc:
            return Decision(key=key, step=step, action=_action_for(exc), reason=_reason(exc))
        return Decision(key=key, step=step, action="run", artifacts=artifacts, params=params)

    def _check_after(self, after: str, ctx: dict[str, int]) -> None:
        shared = [g for g in self.loops[after] if g in ctx]
        if len(shared) == len(self.loops[after]):
            keys = [instance_key(after, [ctx[g] for g in shared])]
        else:
            if after not in self._expanded:
                raise _NotReady()
            keys = self._expanded[after]
        for key in keys:
            inst = self.instances.get(key)
            if inst is None or inst.state not in TERMINAL_STATES:
                raise _NotReady()
            if inst.state in ("failed", "blocked"):
                raise _Block(f"upstream step {key} failed")

    def _contexts(self, step: str) -> list[dict[str, int]]:
        contexts: list[dict[str, int]] = [{}]
        for group in self.loops[step]:
            expanded: list[dict[str, int]] = []
            for ctx in contexts:
                items = self.items(group, ctx)
                expanded.extend({**ctx, group: i} for i in range(len(items)))
            contexts = expanded
        return contexts

    def items(self, group: str, ctx: dict[str, int]) -> list[Any]:
        outer = tuple(ctx[g] for g in self.loops_of_group(group) if g in ctx)
        cached = self._items.get((group, outer))
        if cached is not None:
            return cached
        value = self.resolve(self.groups[group]["items"], ctx)
        if isinstance(value, ArtifactRef):
            value = self._load_value(value)
        if not isinstance(value, list):
            raise RunError(
                f"ParallelFor {group} needs a list of items, got {type(value).__name__}",
                group=group,
            )
        self._items[(group, outer)] = value
        return value

    def loops_of_group(self, group: str) -> list[str]:
        outer = self._chain(self.groups[group].get("parent"))
        return [g for g in outer if self.groups[g]["kind"] == "for"]

    def _condition(self, group: str, ctx: dict[str, int]) -> bool:
        cond = self.groups[group]["condition"]
        left = self._comparable(self.resolve(cond["left"], ctx))
        op = cond.get("op", "truthy")
        if op == "truthy":
            return bool(left)
        right = self._comparable(self.resolve(cond["right"], ctx))
        try:
            return bool(_OPS[op](left, right))
        except TypeError as exc:
            raise RunError(
                f"condition {group} cannot compare {left!r} {op} {right!r}: {exc}", group=group
            ) from None

    def _comparable(self, value: Any) -> Any:
        return self._load_value(value) if isinstance(value, ArtifactRef) else value

    def resolve(self, ref: dict[str, Any], ctx: dict[str, int]) -> Any:
        """The value of an input reference in a loop context (may raise not-ready/skip/block)."""
        if "value" in ref:
            return ref["value"]
        if "param" in ref:
            return self.params[ref["param"]]
        if "loop" in ref:
            item = self.items(ref["loop"], ctx)[ctx[ref["loop"]]]
            field_name = ref.get("field")
            if field_name is None:
                return item
            if not isinstance(item, dict) or field_name not in item:
                raise RunError(
                    f"ParallelFor {ref['loop']} item {item!r} has no field {field_name!r}",
                    group=ref["loop"],
                )
            return item[field_name]
        step, output = ref["step"], ref["output"]
        collect = ref.get("collect")
        if collect is None:
            key = instance_key(step, [ctx[g] for g in self.loops[step]])
            return self._output_of(key, output)
        items = self.items(collect, ctx)
        values = []
        for i in range(len(items)):
            indices = [ctx[g] if g != collect else i for g in self.loops[step]]
            try:
                values.append(self._output_of(instance_key(step, indices), output))
            except _Skip:
                continue
        return values

    def _output_of(self, key: str, output: str) -> Any:
        inst = self.instances.get(key)
        if inst is None or inst.state == "running":
            raise _NotReady()
        if inst.state in ("failed", "blocked"):
            raise _Block(f"upstream step {key} failed")
        if inst.state == "skipped":
            raise _Skip(f"upstream step {key} was skipped")
        return inst.outputs[output]

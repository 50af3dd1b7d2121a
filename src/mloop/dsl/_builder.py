"""The pipeline builder: what a pipeline function records while it runs at definition time.

Calling a component while a :class:`Builder` is current adds a :class:`Step` and returns its
:class:`StepHandle`. Every argument is turned into an input ref of the spec right away
(:mod:`mloop.dsl._wiring`), so a definition error names the pipeline, the step and the
argument where it was made. ``If`` and
``ParallelFor`` push :class:`Group` s; :meth:`Builder.to_spec` checks what can only be checked
at the end (cycles, the exit step) and produces the ``steps``, ``components`` and ``groups``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mloop.dsl._handle import StepHandle
from mloop.dsl._refs import OutputRef, Ref
from mloop.dsl._spec import find_cycle, group_refs
from mloop.dsl._types import RunStatusType
from mloop.dsl._wiring import input_ref
from mloop.errors import DefinitionError

if TYPE_CHECKING:
    from mloop.dsl._component import Component

STEP_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")

_CURRENT: ContextVar[Builder | None] = ContextVar("mloop_dsl_builder", default=None)


def current_builder() -> Builder | None:
    """The builder of the pipeline being defined in this context, if any."""
    return _CURRENT.get()


@dataclass(eq=False)
class Group:
    id: str
    kind: str  # "if" | "for"
    parent: Group | None
    spec: dict[str, Any]  # "condition", or "items" and "parallelism"


@dataclass(eq=False)
class Step:
    name: str
    component: Component
    groups: tuple[Group, ...]  # enclosing groups, outermost first
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    after: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    exit: bool = False
    referenced: bool = False

    @property
    def group(self) -> Group | None:
        return self.groups[-1] if self.groups else None


class Builder:
    """Records the steps and groups of one pipeline definition."""

    def __init__(self, pipeline: str) -> None:
        self.pipeline = pipeline
        self.steps: dict[str, Step] = {}
        self.groups: list[Group] = []
        self.exit_step: Step | None = None
        self.closed = False
        self._stack: list[Group] = []

    @contextmanager
    def active(self) -> Iterator[Builder]:
        token = _CURRENT.set(self)
        try:
            yield self
        finally:
            _CURRENT.reset(token)
            self.closed = True

    def error(
        self, message: str, step: str | None = None, argument: str | None = None
    ) -> Exception:
        where = [f"pipeline {self.pipeline!r}"]
        where += [f"step {step!r}"] if step else []
        where += [f"argument {argument!r}"] if argument else []
        return DefinitionError(
            f"{', '.join(where)}: {message}", pipeline=self.pipeline, step=step, argument=argument
        )

    def check_open(self, what: str) -> None:
        if self.closed or current_builder() is not self:
            raise self.error(f"{what} can only be done inside the pipeline's definition")

    # -- steps ---------------------------------------------------------------------------

    def unique_name(self, base: str) -> str:
        name, n = base, 1
        while name in self.steps:
            n += 1
            name = f"{base}-{n}"
        return name

    def add_step(
        self, component: Component, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> StepHandle:
        step = Step(self.unique_name(component.name), component, self.stack)
        types = component.input_types
        positional = [n for n, t in types.items() if not isinstance(t, RunStatusType)]
        if len(args) > len(positional):
            raise self.error(
                f"{component.name}() takes {len(positional)} arguments but {len(args)} were given",
                step.name,
            )
        given = dict(zip(positional, args, strict=False))
        for name, value in kwargs.items():
            if name not in types:
                known = ", ".join(positional) or "none"
                raise self.error(f"unknown argument (known: {known})", step.name, name)
            if name in given:
                raise self.error("given twice (by position and by keyword)", step.name, name)
            given[name] = value
        for name, kind in types.items():
            if isinstance(kind, RunStatusType):
                if name in given:
                    raise self.error(
                        "a RunStatus input is filled by the orchestrator, not passed",
                        step.name,
                        name,
                    )
                step.inputs[name] = {"run_status": True}
            elif name in given:
                step.inputs[name] = input_ref(self, given[name], kind, step.name, name, step.groups)
            elif component.inputs[name].get("required", not kind.optional):
                raise self.error("missing required argument", step.name, name)
        self.steps[step.name] = step
        return StepHandle(self, step)

    def rename(self, step: Step, name: str) -> None:
        if step.referenced:
            raise self.error(
                "a step can only be renamed before another step refers to it", step.name
            )
        if not isinstance(name, str) or not STEP_NAME.match(name):
            raise self.error(
                f"invalid step name {name!r} (letters, digits, '_', '.', '-')", step.name
            )
        if name != step.name and name in self.steps:
            raise self.error(f"duplicate step name {name!r}", step.name)
        self.steps = {(name if s is step else n): s for n, s in self.steps.items()}
        step.name = name

    # -- refs ------------------------------------------------------------------------------

    def single_output(
        self, handle: StepHandle, step: str | None, argument: str | None
    ) -> OutputRef:
        outputs = handle.outputs
        if len(outputs) != 1:
            names = ", ".join(outputs) or "none"
            raise self.error(
                f"step {handle.name!r} has {len(outputs)} outputs ({names}); "
                "pass one of them, e.g. handle.outputs[name]",
                step,
                argument,
            )
        ref: OutputRef = next(iter(outputs.values()))
        return ref

    def own(self, value: Any, step: str | None, argument: str | None) -> Any:
        """``value`` with a step handle replaced by its single output; foreign refs rejected."""
        if isinstance(value, StepHandle):
            self.check_handle(value, step, argument)
            value = self.single_output(value, step, argument)
        if isinstance(value, Ref):
            self.check_handle(value, step, argument)
        return value

    def check_handle(self, value: Ref | StepHandle, step: str | None, argument: str | None) -> None:
        """Fail if ``value`` was made by another pipeline's definition."""
        if value._builder is not self:
            raise self.error(
                f"{value!r} is a handle from another pipeline definition "
                f"({value._builder.pipeline!r})",
                step,
                argument,
            )

    # -- groups ------------------------------------------------------------------------------

    def push_group(self, kind: str, spec: dict[str, Any]) -> Group:
        self.check_open(f"`{'If' if kind == 'if' else 'ParallelFor'}`")
        number = sum(g.kind == kind for g in self.groups) + 1
        parent = self._stack[-1] if self._stack else None
        group = Group(f"{kind}-{number}", kind, parent, spec)
        self.groups.append(group)
        self._stack.append(group)
        return group

    def pop_group(self, group: Group) -> None:
        assert self._stack and self._stack[-1] is group, "groups closed out of order"
        self._stack.pop()

    @property
    def stack(self) -> tuple[Group, ...]:
        """The groups open at this point of the definition, outermost first."""
        return tuple(self._stack)

    # -- the spec --------------------------------------------------------------------------

    def to_spec(self) -> dict[str, Any]:
        """``components``, ``steps`` and ``groups`` of the spec, after the final checks."""
        self._check_steps()
        components: dict[str, dict[str, Any]] = {}
        steps: dict[str, dict[str, Any]] = {}
        for step in self.steps.values():
            entry = step.component.to_spec()
            key = step.component.key
            if key in components and components[key] != entry:
                raise self.error(
                    f"two different components share the key {key!r} (same name and source, "
                    "different options); give one of them another name",
                    step.name,
                )
            components[key] = entry
            steps[step.name] = {
                "component": key,
                "inputs": step.inputs,
                "after": step.after,
                "group": step.group.id if step.group else None,
                "exit": step.exit,
                "options": step.options,
            }
        groups = {
            g.id: {"kind": g.kind, "parent": g.parent.id if g.parent else None, **g.spec}
            for g in self.groups
        }
        cycle = find_cycle(steps, groups)
        if cycle:
            raise self.error(f"the steps form a cycle: {' -> '.join(cycle)}", cycle[0], "after")
        return {"components": components, "steps": steps, "groups": groups}

    def _check_steps(self) -> None:
        exit_name = self.exit_step.name if self.exit_step else None
        for step in self.steps.values():
            for argument, ref in step.inputs.items():
                if "run_status" in ref and not step.exit:
                    raise self.error(
                        "only the exit step of an ExitHandler can take a RunStatus input",
                        step.name,
                        argument,
                    )
                if step.exit and "step" in ref:
                    raise self.error(
                        "the exit step cannot consume outputs of other steps "
                        "(it learns how the run went through a RunStatus input)",
                        step.name,
                        argument,
                    )
                if exit_name is not None and ref.get("step") == exit_name:
                    raise self.error(
                        f"consumes an output of the exit step {exit_name!r}, which runs last",
                        step.name,
                        argument,
                    )
            if step.exit and step.after:
                raise self.error("the exit step cannot run .after() other steps", step.name)
            if exit_name is not None and exit_name in step.after:
                raise self.error(f"runs after the exit step {exit_name!r}", step.name, "after")
        for group in self.groups:
            if exit_name is not None and any(
                r.get("step") == exit_name for r in group_refs(group.spec)
            ):
                raise self.error(f"{group.id} depends on the exit step {exit_name!r}")

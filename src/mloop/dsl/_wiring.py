"""Wiring: how a value given to a component input becomes an input ref of the spec.

A value is a step output (or a step handle, meaning its single output), a pipeline
parameter, a loop item or a JSON literal. Each is checked against the input it feeds —
artifact or parameter, type, loop scope — and a reference from outside a ``ParallelFor`` to
a step inside it becomes a ``collect`` of that loop, allowed only into a list-typed input.
The same rules, minus the input type, give the operands of ``If`` and the items of
``ParallelFor``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mloop.dsl._handle import StepHandle
from mloop.dsl._refs import Condition, LoopItem, OutputRef, ParamRef, Ref
from mloop.dsl._types import (
    ArtifactType,
    InputType,
    NotJson,
    ParamType,
    RunStatusType,
    check_value,
    params_compatible,
)

if TYPE_CHECKING:
    from mloop.dsl._builder import Builder, Group


def _loops(groups: tuple[Group, ...]) -> list[Group]:
    return [g for g in groups if g.kind == "for"]


def _collect(
    builder: Builder,
    ref: OutputRef,
    groups: tuple[Group, ...],
    step: str | None,
    argument: str | None,
) -> Group | None:
    """The loop a reference from ``groups`` to ``ref`` must collect over, if any."""
    producer, consumer = _loops(ref.step.groups), _loops(groups)
    common = 0
    while common < min(len(producer), len(consumer)) and producer[common] is consumer[common]:
        common += 1
    extra = producer[common:]
    if len(extra) > 1:
        raise builder.error(
            f"step {ref.step.name!r} is inside nested loops ({', '.join(g.id for g in extra)}) "
            "the consumer is not in; collect its outputs inside the outer loop first",
            step,
            argument,
        )
    return extra[0] if extra else None


def _check_in_loop(
    builder: Builder,
    item: LoopItem,
    groups: tuple[Group, ...],
    step: str | None,
    argument: str | None,
) -> None:
    if not any(g is item.group for g in groups):
        raise builder.error(f"{item!r} is used outside its loop {item.group.id}", step, argument)


def input_ref(
    builder: Builder,
    value: Any,
    kind: InputType,
    step: str,
    argument: str,
    groups: tuple[Group, ...],
) -> dict[str, Any]:
    """The spec input ref for ``value`` given to an input of type ``kind``."""
    value = builder.own(value, step, argument)
    if isinstance(kind, RunStatusType):
        raise builder.error("a RunStatus input is filled by the orchestrator", step, argument)
    expected = f"{'artifact' if isinstance(kind, ArtifactType) else 'parameter'} {kind.name}"
    if isinstance(value, OutputRef):
        return _output_input(builder, value, kind, step, argument, groups)
    if isinstance(value, ParamRef | LoopItem):
        what = "a pipeline parameter" if isinstance(value, ParamRef) else "a loop item"
        if isinstance(kind, ArtifactType):
            raise builder.error(f"expects {expected}, got {what} {value!r}", step, argument)
        if isinstance(value, LoopItem):
            _check_in_loop(builder, value, groups, step, argument)
            _check_literal_items(builder, value, kind, step, argument)
            return {"loop": value.group.id, "field": value.field}
        assert isinstance(kind, ParamType)
        if not params_compatible(value.kind, kind):
            raise builder.error(
                f"expects {expected}, got {value!r} of type {value.kind.name}", step, argument
            )
        return {"param": value.name}
    if isinstance(value, Condition):
        raise builder.error(f"a condition is not a value: {value!r}", step, argument)
    if isinstance(kind, ArtifactType):
        raise builder.error(
            f"expects {expected}, which must come from a step output, not a literal "
            f"{type(value).__name__}",
            step,
            argument,
        )
    return {"value": literal(builder, value, kind, step, argument)}


def literal(
    builder: Builder, value: Any, kind: ParamType | None, step: str | None, argument: str
) -> Any:
    if contains_ref(value):
        raise builder.error(
            "step outputs, parameters or loop items inside a literal list or dict are "
            "not supported; pass them as separate arguments",
            step,
            argument,
        )
    try:
        return check_value(value, kind or ParamType("any"))
    except NotJson as exc:
        raise builder.error(f"literal is not JSON-able: {exc}", step, argument) from None
    except ValueError as exc:
        assert kind is not None
        raise builder.error(f"expects parameter {kind.name}: {exc}", step, argument) from None


def _check_literal_items(
    builder: Builder, item: LoopItem, kind: ParamType, step: str, argument: str
) -> None:
    items = item.group.spec["items"]
    if "value" not in items:
        return
    for value in items["value"]:
        if item.field is not None:
            if not isinstance(value, dict) or item.field not in value:
                raise builder.error(
                    f"loop {item.group.id} item {value!r} has no field {item.field!r}",
                    step,
                    argument,
                )
            value = value[item.field]
        try:
            check_value(value, kind)
        except ValueError as exc:
            raise builder.error(
                f"expects parameter {kind.name}, but loop {item.group.id} gives {exc}",
                step,
                argument,
            ) from None


def _output_input(
    builder: Builder,
    ref: OutputRef,
    kind: InputType,
    step: str,
    argument: str,
    groups: tuple[Group, ...],
) -> dict[str, Any]:
    src = ref.kind
    loop = _collect(builder, ref, groups, step, argument)
    listed = (isinstance(kind, ArtifactType) and kind.list) or (
        isinstance(kind, ParamType) and kind.name == "list"
    )
    what = f"output {ref.output!r} of step {ref.step.name!r}"
    if loop is not None and not listed:
        raise builder.error(
            f"{what} is inside ParallelFor {loop.id}; it arrives as a list of its values, "
            "so annotate this input as a list (list[Dataset], list[float], list)",
            step,
            argument,
        )
    if isinstance(kind, ArtifactType) and kind.list and loop is None:
        raise builder.error(
            f"a list[{kind.name}] input only takes the collected outputs of a step inside "
            f"a ParallelFor, and {what} is not in one",
            step,
            argument,
        )
    if isinstance(kind, ArtifactType) != isinstance(src, ArtifactType):
        src_kind = "an artifact" if isinstance(src, ArtifactType) else "a parameter"
        dst_kind = "artifact" if isinstance(kind, ArtifactType) else "parameter"
        raise builder.error(
            f"expects {dst_kind} {kind.name}, got {what}, {src_kind} {src.name}",
            step,
            argument,
        )
    if isinstance(kind, ArtifactType) and isinstance(src, ArtifactType):
        if not issubclass(src.cls, kind.cls):
            raise builder.error(
                f"expects artifact {kind.name}, got {what}, a {src.name}", step, argument
            )
    elif isinstance(kind, ParamType) and isinstance(src, ParamType):
        dst = (kind.item or ParamType("any")) if loop is not None else kind
        if not params_compatible(src, dst):
            raise builder.error(
                f"expects parameter {dst.name}, got {what}, a {src.name}", step, argument
            )
    ref.step.referenced = True
    out: dict[str, Any] = {"step": ref.step.name, "output": ref.output}
    if loop is not None:
        out["collect"] = loop.id
    return out


def operand(builder: Builder, value: Any, argument: str) -> dict[str, Any]:
    """A condition operand or loop items ref, seen from the current group stack."""
    value = builder.own(value, None, argument)
    groups = builder.stack
    if isinstance(value, OutputRef):
        loop = _collect(builder, value, groups, None, argument)
        if loop is not None:
            raise builder.error(
                f"{value!r} is inside ParallelFor {loop.id} and cannot be used outside it",
                None,
                argument,
            )
        value.step.referenced = True
        return {"step": value.step.name, "output": value.output}
    if isinstance(value, ParamRef):
        return {"param": value.name}
    if isinstance(value, LoopItem):
        _check_in_loop(builder, value, groups, None, argument)
        return {"loop": value.group.id, "field": value.field}
    if isinstance(value, Condition):
        raise builder.error(f"conditions cannot be combined: {value!r}", None, argument)
    return {"value": literal(builder, value, None, None, argument)}


def contains_ref(value: Any) -> bool:
    if isinstance(value, Ref | StepHandle | Condition):
        return True
    if isinstance(value, list | tuple):
        return any(contains_ref(v) for v in value)
    if isinstance(value, dict):
        return any(contains_ref(v) for v in value.values())
    return False

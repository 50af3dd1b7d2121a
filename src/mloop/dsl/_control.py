"""Control flow inside a pipeline definition: ``If``, ``ParallelFor`` and ``ExitHandler``.

``If`` and ``ParallelFor`` open a *group* (``if-N``, ``for-N`` in the spec); the steps
created in their ``with`` block belong to it, and groups nest. ``ExitHandler`` marks one step
as the exit step, which the orchestrator runs last, whatever happened (it may take a
:class:`~mloop.dsl.RunStatus` input to learn how the run went).
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from mloop.dsl._builder import Builder, Group, current_builder
from mloop.dsl._handle import StepHandle
from mloop.dsl._refs import Condition, LoopItem, OutputRef, ParamRef
from mloop.dsl._types import ParamType
from mloop.dsl._wiring import operand
from mloop.errors import DefinitionError

__all__ = ["ExitHandler", "If", "ParallelFor"]


def _builder(what: str) -> Builder:
    builder = current_builder()
    if builder is None:
        raise DefinitionError(f"{what} can only be used inside a @pipeline function")
    return builder


class _Block:
    _group: Group | None = None
    _builder: Builder

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._group is not None:
            self._builder.pop_group(self._group)


class If(_Block):
    """``with If(ref):`` or ``with If(ref > 0.7):`` — the block's steps run only if it holds.

    The condition is a step output, pipeline parameter or loop item (tested for truth), or a
    comparison of one with a value or another of them (``==``, ``!=``, ``<``, ``<=``, ``>``,
    ``>=``). When it does not hold, the block's steps are skipped, and so is every step
    consuming their outputs.
    """

    def __init__(self, condition: Any) -> None:
        self._builder = _builder("If")
        self._condition = condition

    def __enter__(self) -> None:
        builder, cond = self._builder, self._condition
        if not isinstance(cond, Condition):
            cond = Condition(cond, "truthy")
        spec = {"left": operand(builder, cond.left, "condition"), "op": cond.op}
        if cond.op != "truthy":
            spec["right"] = operand(builder, cond.right, "condition")
        if "value" in spec["left"] and "value" in spec.get("right", {"value": None}):
            raise builder.error(
                f"the condition {cond!r} is a constant; compare a step output, a pipeline "
                "parameter or a loop item",
                None,
                "condition",
            )
        self._group = builder.push_group("if", {"condition": spec})


class ParallelFor(_Block):
    """``with ParallelFor(items) as item:`` — the block's steps run once per item.

    ``items`` is a JSON list, a pipeline parameter, a (list) parameter output of a step or an
    outer loop's item; ``parallelism`` bounds how many iterations run at once. ``item`` (and
    ``item["field"]`` / ``item.field`` for dict items) is passed to components as a value.
    A step after the loop that consumes a step inside it receives the list of its values.
    """

    def __init__(self, items: Any, parallelism: int | None = None) -> None:
        self._builder = _builder("ParallelFor")
        self._items = items
        if parallelism is not None and (
            not isinstance(parallelism, int) or isinstance(parallelism, bool) or parallelism < 1
        ):
            raise self._builder.error(
                f"parallelism must be None or an int >= 1, not {parallelism!r}", None, "parallelism"
            )
        self._parallelism = parallelism

    def __enter__(self) -> LoopItem:
        builder = self._builder
        items = builder.own(self._items, None, "items")
        kind = items.kind if isinstance(items, OutputRef | ParamRef) else None
        if kind is not None and not (isinstance(kind, ParamType) and kind.name in ("list", "any")):
            raise builder.error(
                f"ParallelFor iterates over a list, and {items!r} is a {kind.name}", None, "items"
            )
        spec = operand(builder, items, "items")
        if "value" in spec and not isinstance(spec["value"], list):
            raise builder.error(
                f"ParallelFor iterates over a list, not {type(items).__name__} {items!r}",
                None,
                "items",
            )
        self._group = builder.push_group("for", {"items": spec, "parallelism": self._parallelism})
        return LoopItem(builder, self._group)


class ExitHandler:
    """``with ExitHandler(exit_step):`` — ``exit_step`` runs last, whatever happens.

    Create the exit step (outside any ``If``/``ParallelFor``, consuming no other step's
    outputs) before the ``with``; wrap the rest of the pipeline in the block.
    """

    def __init__(self, exit_step: StepHandle) -> None:
        self._builder = _builder("ExitHandler")
        self._exit_step = exit_step

    def __enter__(self) -> None:
        builder, handle = self._builder, self._exit_step
        if not isinstance(handle, StepHandle):
            raise builder.error(
                f"ExitHandler takes the handle of the exit step, not {handle!r}", None, "exit_step"
            )
        builder.check_handle(handle, None, "exit_step")
        step = handle._step
        if builder.stack or step.groups:
            raise builder.error(
                "the exit step and its ExitHandler must not be inside If or ParallelFor",
                step.name,
            )
        if builder.exit_step is not None:
            raise builder.error(
                f"a pipeline has one ExitHandler, and {builder.exit_step.name!r} is already "
                "its exit step",
                step.name,
            )
        step.exit = True
        builder.exit_step = step

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

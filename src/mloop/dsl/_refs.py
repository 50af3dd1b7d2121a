"""Placeholders for values known only at run time, as a pipeline definition sees them.

An :class:`OutputRef` is one output of a step, a :class:`ParamRef` a pipeline parameter and a
:class:`LoopItem` the current item of a ``ParallelFor``. They are passed as component
arguments, and comparing one (``ref > 0.7``, ``ref == True``) builds a :class:`Condition` for
``If``. Because ``==`` builds a condition, refs are never compared for identity with ``==``;
and because their value is not known yet, using one as a Python ``bool`` is an error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

from mloop.dsl._types import OutputType, ParamType
from mloop.errors import DefinitionError

if TYPE_CHECKING:
    from mloop.dsl._builder import Builder, Group, Step

__all__ = ["Condition", "LoopItem", "OutputRef", "ParamRef", "Ref"]


class Ref:
    """Base of the run-time placeholders; comparisons build :class:`Condition` objects."""

    __slots__ = ("_builder",)

    def __init__(self, builder: Builder) -> None:
        self._builder = builder

    def __eq__(self, other: object) -> Condition:  # type: ignore[override]
        return Condition(self, "==", other)

    def __ne__(self, other: object) -> Condition:  # type: ignore[override]
        return Condition(self, "!=", other)

    def __lt__(self, other: object) -> Condition:
        return Condition(self, "<", other)

    def __le__(self, other: object) -> Condition:
        return Condition(self, "<=", other)

    def __gt__(self, other: object) -> Condition:
        return Condition(self, ">", other)

    def __ge__(self, other: object) -> Condition:
        return Condition(self, ">=", other)

    def __hash__(self) -> int:
        return id(self)

    def __bool__(self) -> NoReturn:
        raise DefinitionError(
            f"{self!r} has no value while the pipeline is defined; "
            "use `with If(...)` instead of a Python `if`, `and`, `or` or `not`",
            pipeline=self._builder.pipeline,
        )

    def __iter__(self) -> NoReturn:
        raise DefinitionError(
            f"{self!r} has no value while the pipeline is defined; "
            "use `with ParallelFor(...) as item` to iterate over it",
            pipeline=self._builder.pipeline,
        )


class OutputRef(Ref):
    """One output of a step: ``handle.output``, ``handle.outputs["auc"]`` or ``handle.auc``."""

    __slots__ = ("kind", "output", "step")

    def __init__(self, builder: Builder, step: Step, output: str, kind: OutputType) -> None:
        super().__init__(builder)
        self.step = step
        self.output = output
        self.kind = kind

    def __repr__(self) -> str:
        return f"<output {self.output!r} of step {self.step.name!r}>"


class ParamRef(Ref):
    """A pipeline parameter while the pipeline function runs at definition time."""

    __slots__ = ("kind", "name")

    def __init__(self, builder: Builder, name: str, kind: ParamType) -> None:
        super().__init__(builder)
        self.name = name
        self.kind = kind

    def __repr__(self) -> str:
        return f"<pipeline parameter {self.name!r}>"


class LoopItem(Ref):
    """The current item of a ``ParallelFor`` (or one field of it: ``item["x"]``, ``item.x``)."""

    __slots__ = ("field", "group")

    def __init__(self, builder: Builder, group: Group, field: str | None = None) -> None:
        super().__init__(builder)
        self.group = group
        self.field = field

    def __getitem__(self, field: str) -> LoopItem:
        if not isinstance(field, str) or self.field is not None:
            what = f"{field!r}" if self.field is None else f"{self.field!r}][{field!r}"
            raise DefinitionError(
                f"loop item of {self.group.id}: only one level of string field access is "
                f"supported, not item[{what}]",
                pipeline=self._builder.pipeline,
            )
        return LoopItem(self._builder, self.group, field)

    def __getattr__(self, field: str) -> LoopItem:
        if field.startswith("_"):
            raise AttributeError(field)
        return self[field]

    def __repr__(self) -> str:
        suffix = "" if self.field is None else f"[{self.field!r}]"
        return f"<item of {self.group.id}{suffix}>"


OPERATORS = ("==", "!=", "<", "<=", ">", ">=", "truthy")


class Condition:
    """``left <op> right``, built by comparing a ref; ``If`` turns it into a spec condition."""

    __slots__ = ("left", "op", "right")

    def __init__(self, left: Any, op: str, right: Any = None) -> None:
        self.left = left
        self.op = op
        self.right = right

    def __eq__(self, other: object) -> Condition:  # type: ignore[override]
        return Condition(self, "==", other)  # rejected by If: conditions do not combine

    def __ne__(self, other: object) -> Condition:  # type: ignore[override]
        return Condition(self, "!=", other)

    def __hash__(self) -> int:
        return id(self)

    def _combine(self, other: object) -> NoReturn:
        raise DefinitionError(
            f"conditions cannot be combined with &, | or ~ ({self!r}); "
            "nest `with If(...)` blocks instead"
        )

    __and__ = __rand__ = __or__ = __ror__ = _combine

    def __invert__(self) -> NoReturn:
        self._combine(None)

    def __bool__(self) -> NoReturn:
        raise DefinitionError(
            f"{self!r} has no value while the pipeline is defined; use `with If(condition):` "
            "instead of a Python `if`, `and`, `or` or `not`"
        )

    def __repr__(self) -> str:
        if self.op == "truthy":
            return f"<condition {self.left!r}>"
        return f"<condition {self.left!r} {self.op} {self.right!r}>"

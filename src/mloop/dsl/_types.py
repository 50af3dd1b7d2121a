"""Annotation → spec type: the types a component input, output or pipeline parameter can have.

A *parameter* is a JSON value of type ``str``, ``int``, ``float``, ``bool``, ``dict``,
``list`` or ``any`` (``Optional[X]`` marks it nullable). An *artifact* is an
:class:`~mloop.artifacts.Artifact` subclass, or ``list[<Artifact subclass>]`` for an input
that collects a ``ParallelFor``'s outputs. :class:`RunStatus` is the one input the orchestrator
fills by itself (for exit steps).
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

from mloop.artifacts._types import Artifact, is_artifact_type
from mloop.errors import DefinitionError

PARAM_TYPES: dict[Any, str] = {
    str: "str",
    int: "int",
    float: "float",
    bool: "bool",
    dict: "dict",
    list: "list",
}
PARAM_TYPE_NAMES = frozenset({*PARAM_TYPES.values(), "any"})

Returns = Literal["none", "single", "namedtuple", "dataclass"]


@dataclass(frozen=True, slots=True)
class RunStatus:
    """What an exit step learns about the run it closes (input annotated ``RunStatus``)."""

    run_id: str
    pipeline: str
    state: str  # "succeeded" | "failed"
    failed_steps: list[str] = dataclasses.field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ParamType:
    name: str  # one of PARAM_TYPE_NAMES
    optional: bool = False
    item: ParamType | None = None  # element type of list[X]; not part of the spec


@dataclass(frozen=True, slots=True)
class ArtifactType:
    cls: type[Artifact]
    list: bool = False
    optional: bool = False

    @property
    def name(self) -> str:
        return self.cls.type_name


@dataclass(frozen=True, slots=True)
class RunStatusType:
    name: str = "RunStatus"


InputType = ParamType | ArtifactType | RunStatusType
OutputType = ParamType | ArtifactType


def _describe(annotation: Any) -> str:
    return getattr(annotation, "__qualname__", None) or repr(annotation)


def annotation_type(annotation: Any, **where: Any) -> InputType:
    """The type an annotation declares; ``where`` names the component/argument in errors."""
    if annotation is typing.Any or annotation is object:
        return ParamType("any")
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(annotation)) == 2:
            inner = annotation_type(args[0], **where)
            if isinstance(inner, RunStatusType):
                raise _unsupported(annotation, where)
            return dataclasses.replace(inner, optional=True)
        raise _unsupported(annotation, where, hint="a union is not a type; use Any")
    if origin is list:
        (arg,) = typing.get_args(annotation) or (Any,)
        if is_artifact_type(arg):
            return ArtifactType(arg, list=True)
        item = annotation_type(arg, **where)
        if not isinstance(item, ParamType):
            raise _unsupported(annotation, where)
        return ParamType("list", item=item)
    if origin is dict:
        return ParamType("dict")
    if annotation in PARAM_TYPES:
        return ParamType(PARAM_TYPES[annotation])
    if is_artifact_type(annotation):
        return ArtifactType(annotation)
    if annotation is RunStatus:
        return RunStatusType()
    hint = "use a NamedTuple for several outputs" if origin is tuple else ""
    raise _unsupported(annotation, where, hint=hint)


def _unsupported(annotation: Any, where: dict[str, Any], hint: str = "") -> DefinitionError:
    what = _where(where)
    message = (
        f"{what}unsupported annotation {_describe(annotation)}: use str, int, float, bool, "
        "dict, list, Any, Optional[...], an Artifact type or list[<Artifact type>]"
    )
    return DefinitionError(message + (f" ({hint})" if hint else ""), **where)


def _where(where: dict[str, Any]) -> str:
    parts = []
    for key in ("pipeline", "component", "step", "argument", "output"):
        if where.get(key) is not None:
            parts.append(f"{key} {where[key]!r}")
    return (", ".join(parts) + ": ") if parts else ""


def is_multi_output(cls: Any) -> Returns | None:
    if isinstance(cls, type) and issubclass(cls, tuple) and hasattr(cls, "_fields"):
        return "namedtuple"
    if isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls is not RunStatus:
        return "dataclass"
    return None


def return_types(annotation: Any, **where: Any) -> tuple[Returns, dict[str, OutputType]]:
    """How a component returns its outputs, and their types (a single one is ``output``)."""
    if annotation is None or annotation is type(None):
        return "none", {}
    returns = is_multi_output(annotation)
    if returns is None:
        return "single", {"output": _output_type(annotation, where | {"output": "output"})}
    try:
        hints = typing.get_type_hints(annotation)
    except Exception as exc:
        raise DefinitionError(
            f"{_where(where)}cannot resolve the annotations of {_describe(annotation)}: {exc}",
            **where,
        ) from exc
    if returns == "namedtuple":
        names: list[str] = list(annotation._fields)
    else:
        names = [f.name for f in dataclasses.fields(annotation)]
    outputs = {n: _output_type(hints.get(n, Any), where | {"output": n}) for n in names}
    return returns, outputs


def _output_type(annotation: Any, where: dict[str, Any]) -> OutputType:
    kind = annotation_type(annotation, **where)
    if isinstance(kind, RunStatusType) or (
        isinstance(kind, ArtifactType) and (kind.list or kind.optional)
    ):
        raise DefinitionError(
            f"{_where(where)}an output is a parameter type or a single Artifact type, "
            f"not {_describe(annotation)}",
            **where,
        )
    return kind


def input_spec(kind: InputType, default: Any = dataclasses.MISSING) -> dict[str, Any]:
    """The spec entry of a component input (``default`` given when it has one)."""
    if isinstance(kind, ArtifactType):
        return {"kind": "artifact", "type": kind.name, "list": kind.list, "optional": kind.optional}
    if isinstance(kind, RunStatusType):
        return {"kind": "parameter", "type": kind.name, "optional": False, "required": True}
    return {"kind": "parameter", **param_spec(kind, default)}


def param_spec(kind: ParamType, default: Any = dataclasses.MISSING) -> dict[str, Any]:
    """The spec entry of a parameter: ``type``, ``optional``, ``required`` and ``default``."""
    entry: dict[str, Any] = {
        "type": kind.name,
        "optional": kind.optional,
        "required": default is dataclasses.MISSING,
    }
    if default is not dataclasses.MISSING:
        entry["default"] = default
    return entry


def output_spec(kind: OutputType) -> dict[str, Any]:
    return {
        "kind": "artifact" if isinstance(kind, ArtifactType) else "parameter",
        "type": kind.name,
    }


class NotJson(ValueError):
    pass


def to_json(value: Any) -> Any:
    """``value`` as plain JSON data (tuples → lists, numpy scalars → Python), or NotJson."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NotJson(f"{value!r} is not a finite number")
        return value
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise NotJson(f"dict key {key!r} is not a string")
            out[key] = to_json(item)
        return out
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):
        return to_json(value.tolist())
    raise NotJson(f"a {type(value).__name__} is not JSON data")


def check_value(value: Any, kind: ParamType) -> Any:
    """``value`` as JSON data of type ``kind`` (ints widen to float), or ValueError."""
    value = to_json(value)
    if value is None:
        if kind.optional or kind.name == "any":
            return None
        raise ValueError(f"None is not a {kind.name} (annotate Optional[{kind.name}])")
    name = kind.name
    ok = {
        "any": True,
        "str": isinstance(value, str),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, int | float) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
        "dict": isinstance(value, dict),
        "list": isinstance(value, list),
    }[name]
    if not ok:
        raise ValueError(f"{value!r} is not a {name}")
    if name == "float":
        return float(value)
    if name == "list" and kind.item is not None:
        return [check_value(v, kind.item) for v in value]
    return value


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def coerce_value(value: Any, kind: ParamType) -> Any:
    """Like :func:`check_value`, but first parses strings (from a command line) by type."""
    if isinstance(value, str) and kind.name != "str":
        text = value.strip()
        if kind.optional and text.lower() in {"null", "none"}:
            return None
        if kind.name == "int":
            try:
                value = int(text)
            except ValueError:
                raise ValueError(f"{value!r} is not an int") from None
        elif kind.name == "float":
            try:
                value = float(text)
            except ValueError:
                raise ValueError(f"{value!r} is not a float") from None
        elif kind.name == "bool":
            if text.lower() not in _TRUE | _FALSE:
                raise ValueError(f"{value!r} is not a bool (use true or false)")
            value = text.lower() in _TRUE
        else:
            try:
                value = json.loads(text)
            except ValueError:
                if kind.name != "any":
                    raise ValueError(f"{value!r} is not a JSON {kind.name}") from None
    return check_value(value, kind)


def params_compatible(src: ParamType, dst: ParamType) -> bool:
    """Whether a parameter of type ``src`` may feed an input of type ``dst``."""
    if "any" in (src.name, dst.name) or src.name == dst.name:
        return True
    return src.name == "int" and dst.name == "float"


def spec_param_type(entry: dict[str, Any]) -> ParamType:
    """The :class:`ParamType` of a spec parameter entry (``{"type", "optional", ...}``)."""
    return ParamType(str(entry["type"]), optional=bool(entry.get("optional", False)))

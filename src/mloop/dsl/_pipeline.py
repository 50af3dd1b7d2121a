"""``@pipeline``: a function that wires components, run once at definition time.

The function is called with a placeholder (:class:`~mloop.dsl._refs.ParamRef`) for each
parameter while a :class:`~mloop.dsl._builder.Builder` records the steps its component calls
make, so a wrong pipeline fails where it is defined. The result is a :class:`Pipeline`, whose
:meth:`~Pipeline.compile` gives the JSON spec that runs.
"""

from __future__ import annotations

import copy
import inspect
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING
from typing import Any, overload

from mloop.dsl._builder import Builder
from mloop.dsl._refs import ParamRef
from mloop.dsl._spec import PIPELINE_NAME, SCHEMA_VERSION, load_spec, spec_hash
from mloop.dsl._types import (
    NotJson,
    ParamType,
    annotation_type,
    check_value,
    coerce_value,
    param_spec,
)
from mloop.errors import DefinitionError

__all__ = ["Pipeline", "pipeline"]


class Pipeline:
    """A defined pipeline: its name, parameters and compiled spec."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
    ) -> None:
        self.fn = fn
        self.name = name or fn.__name__.replace("_", "-").lower()
        if not isinstance(self.name, str) or not PIPELINE_NAME.match(self.name):
            raise DefinitionError(
                f"invalid pipeline name {self.name!r} (lowercase letters, digits, '_', '.', '-', "
                "starting with a letter or digit)",
                pipeline=str(self.name),
            )
        self.description = description if description is not None else inspect.getdoc(fn)
        self._param_types: dict[str, ParamType] = {}
        self.parameters: dict[str, dict[str, Any]] = {}
        self._analyze_parameters()
        self._spec = self._define()
        self.__doc__ = fn.__doc__

    def _error(self, message: str, argument: str | None = None) -> DefinitionError:
        where = f"pipeline {self.name!r}" + (f", parameter {argument!r}" if argument else "")
        return DefinitionError(f"{where}: {message}", pipeline=self.name, argument=argument)

    def _analyze_parameters(self) -> None:
        try:
            hints = typing.get_type_hints(self.fn)
        except Exception as exc:
            raise self._error(f"cannot resolve the annotations: {exc}") from exc
        for pname, param in inspect.signature(self.fn).parameters.items():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
                raise self._error("*args, **kwargs and positional-only are not supported", pname)
            kind = annotation_type(hints.get(pname, Any), pipeline=self.name, argument=pname)
            if not isinstance(kind, ParamType):
                raise self._error(
                    f"a pipeline parameter is a JSON parameter type, not {kind.name}", pname
                )
            default = MISSING if param.default is param.empty else param.default
            if default is None and not kind.optional:
                kind = ParamType(kind.name, optional=True, item=kind.item)
            if default is not MISSING:
                try:
                    default = check_value(default, kind)
                except NotJson as exc:
                    raise self._error(f"default is not JSON-able: {exc}", pname) from None
                except ValueError as exc:
                    raise self._error(f"bad default: {exc}", pname) from None
            self._param_types[pname] = kind
            self.parameters[pname] = param_spec(kind, default)

    def _define(self) -> dict[str, Any]:
        builder = Builder(self.name)
        refs = {n: ParamRef(builder, n, t) for n, t in self._param_types.items()}
        with builder.active():
            self.fn(**refs)
        spec = {
            "schema_version": SCHEMA_VERSION,
            "name": self.name,
            "description": self.description,
            "parameters": copy.deepcopy(self.parameters),
            **builder.to_spec(),
        }
        return load_spec(spec)

    def compile(self) -> dict[str, Any]:
        """The pipeline's spec (``docs/pipeline-spec.md``); a fresh copy on every call."""
        return copy.deepcopy(self._spec)

    @property
    def spec_hash(self) -> str:
        """sha256 of the spec's canonical JSON: the identity of this pipeline version."""
        return spec_hash(self._spec)

    def validate_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Run parameters checked, coerced (``"3"`` → 3 for an int) and with defaults filled."""
        known = ", ".join(self.parameters) or "none"
        for pname in params:
            if pname not in self.parameters:
                raise self._error(f"unknown parameter (known: {known})", pname)
        out: dict[str, Any] = {}
        for pname, entry in self.parameters.items():
            if pname in params:
                try:
                    out[pname] = coerce_value(params[pname], self._param_types[pname])
                except ValueError as exc:
                    raise self._error(f"bad value: {exc}", pname) from None
            elif entry["required"]:
                raise self._error(f"missing required parameter (parameters: {known})", pname)
            else:
                out[pname] = copy.deepcopy(entry["default"])
        return out

    def __repr__(self) -> str:
        return f"<pipeline {self.name!r} {self.spec_hash[:12]}>"


@overload
def pipeline(fn: Callable[..., Any], /) -> Pipeline: ...


@overload
def pipeline(
    fn: None = None, /, *, name: str | None = None, description: str | None = None
) -> Callable[[Callable[..., Any]], Pipeline]: ...


def pipeline(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
) -> Pipeline | Callable[[Callable[..., Any]], Pipeline]:
    """Define a pipeline (``@pipeline`` or ``@pipeline(name=..., description=...)``).

    The function runs now, once, with placeholders for its parameters; its component calls
    become the pipeline's steps. ``name`` defaults to the function name with ``_`` → ``-``;
    ``description`` to its docstring.
    """

    def decorate(f: Callable[..., Any]) -> Pipeline:
        return Pipeline(f, name=name, description=description)

    return decorate(fn) if fn is not None else decorate

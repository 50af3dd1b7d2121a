"""``@component``: a typed Python function as a pipeline step, and finding it again.

A :class:`Component` knows its inputs and outputs (from the annotations), its fingerprint
(sha256 of its normalized source and declared version; part of every cache key) and how a
worker imports it (``ref``). Called inside a pipeline definition it adds a step; called
anywhere else it is the plain function. Every component registers itself by
``key = name@fingerprint[:12]`` so :func:`load_component` finds it without importing (which is
what makes components defined inside functions work in forked workers).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib
import importlib.util
import inspect
import marshal
import os
import re
import sys
import textwrap
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING, is_dataclass
from typing import Any, overload

from mloop.artifacts._types import Artifact
from mloop.dsl._builder import current_builder
from mloop.dsl._spec import check_options
from mloop.dsl._types import (
    ArtifactType,
    InputType,
    NotJson,
    OutputType,
    ParamType,
    Returns,
    RunStatusType,
    annotation_type,
    check_value,
    input_spec,
    output_spec,
    return_types,
)
from mloop.dsl._wiring import contains_ref
from mloop.errors import CompileError, DefinitionError

__all__ = ["Component", "component", "load_component"]

COMPONENT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")

_REGISTRY: dict[str, Component] = {}
_BY_REF: dict[tuple[str, str], Component] = {}


def normalized_source(fn: Callable[..., Any]) -> str:
    """The function's source, dedented, without decorators or trailing whitespace."""
    try:
        source = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):
        # No source (built dynamically): the compiled code object stands in for it.
        return marshal.dumps(fn.__code__).hex()
    lines = source.splitlines()
    try:
        node = ast.parse(source).body[0]
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            lines = lines[node.lineno - 1 :]
    except SyntaxError:
        while lines and lines[0].lstrip().startswith("@"):
            lines.pop(0)
    return "\n".join(line.rstrip() for line in lines).strip("\n")


def fingerprint(fn: Callable[..., Any], version: str | None) -> str:
    text = normalized_source(fn)
    if version is not None:
        text += f"\n# mloop component version: {version}"
    return hashlib.sha256(text.encode()).hexdigest()


class Component:
    """A typed function usable as a pipeline step. See the module docstring."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        version: str | None = None,
        **options: Any,
    ) -> None:
        self.fn = fn
        self.name = name or fn.__name__
        self.version = None if version is None else str(version)
        if not COMPONENT_NAME.match(self.name):
            raise self._error(f"invalid component name {self.name!r}")
        try:
            self.options = check_options(options, partial=False)
        except ValueError as exc:
            raise self._error(str(exc)) from None
        self.fingerprint = fingerprint(fn, self.version)
        self.key = f"{self.name}@{self.fingerprint[:12]}"
        self.ref: dict[str, Any] = {
            "module": fn.__module__,
            "qualname": fn.__qualname__,
            "file": _source_file(fn),
        }
        self.input_types: dict[str, InputType] = {}
        self.inputs: dict[str, dict[str, Any]] = {}
        self._analyze_inputs()
        where = {"component": self.name}
        self.returns: Returns
        self.returns, self.output_types = return_types(self._hints.get("return"), **where)
        self._return_cls = self._hints.get("return")
        self.outputs = {n: output_spec(t) for n, t in self.output_types.items()}
        functools.update_wrapper(self, fn)

    def _error(self, message: str, **fields: Any) -> DefinitionError:
        where = f"component {self.name!r}" + (
            f", argument {fields['argument']!r}" if "argument" in fields else ""
        )
        return DefinitionError(f"{where}: {message}", component=self.name, **fields)

    def _analyze_inputs(self) -> None:
        try:
            self._hints = typing.get_type_hints(self.fn)
        except Exception as exc:
            raise self._error(f"cannot resolve the annotations: {exc}") from exc
        for pname, param in inspect.signature(self.fn).parameters.items():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
                raise self._error(
                    "*args, **kwargs and positional-only are not supported", argument=pname
                )
            kind = annotation_type(self._hints.get(pname, Any), component=self.name, argument=pname)
            default = MISSING if param.default is param.empty else param.default
            if isinstance(kind, ArtifactType):
                if default is not MISSING and default is not None:
                    raise self._error("an artifact input can only default to None", argument=pname)
                if default is None:
                    kind = ArtifactType(kind.cls, list=kind.list, optional=True)
            elif isinstance(kind, ParamType) and default is not MISSING:
                if default is None and not kind.optional:
                    kind = ParamType(kind.name, optional=True, item=kind.item)
                try:
                    default = check_value(default, kind)
                except NotJson as exc:
                    raise self._error(f"default is not JSON-able: {exc}", argument=pname) from None
                except ValueError as exc:
                    raise self._error(f"bad default: {exc}", argument=pname) from None
            elif isinstance(kind, RunStatusType) and default is not MISSING:
                raise self._error("a RunStatus input cannot have a default", argument=pname)
            self.input_types[pname] = kind
            self.inputs[pname] = input_spec(kind, default)

    def to_spec(self) -> dict[str, Any]:
        """This component's entry in a spec's ``components``."""
        return {
            "name": self.name,
            "version": self.version,
            "fingerprint": self.fingerprint,
            "ref": dict(self.ref),
            "inputs": {n: dict(e) for n, e in self.inputs.items()},
            "outputs": {n: dict(e) for n, e in self.outputs.items()},
            "returns": self.returns,
            "options": {**self.options, "resources": dict(self.options["resources"])},
        }

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        builder = current_builder()
        if builder is not None:
            return builder.add_step(self, args, kwargs)
        if contains_ref([*args, *kwargs.values()]):
            raise self._error(
                "called with step outputs or pipeline parameters outside a pipeline definition"
            )
        return self.fn(*args, **kwargs)

    def split_outputs(self, value: Any) -> dict[str, Any]:
        """``{output name: value}`` from what the function returned (checked against outputs)."""
        if self.returns == "none":
            if value is not None:
                raise self._error(
                    f"returned a {type(value).__name__} but declares no outputs "
                    "(annotate the return type)"
                )
            return {}
        values = {"output": value} if self.returns == "single" else self._fields(value)
        return {n: self._check_output(n, self.output_types[n], v) for n, v in values.items()}

    def _fields(self, value: Any) -> dict[str, Any]:
        names = list(self.output_types)
        cls_name = getattr(self._return_cls, "__name__", "?")
        if isinstance(value, Mapping):
            fields = dict(value)
        elif self.returns == "namedtuple" and isinstance(value, tuple):
            if len(value) != len(names):
                raise self._error(
                    f"returned a tuple of {len(value)} values for the {len(names)} outputs of "
                    f"{cls_name} ({', '.join(names)})",
                    output=names[min(len(value), len(names) - 1)],
                )
            fields = dict(zip(names, value, strict=True))
        elif self.returns == "dataclass" and is_dataclass(value) and not isinstance(value, type):
            fields = {n: getattr(value, n) for n in names if hasattr(value, n)}
        else:
            raise self._error(f"returned a {type(value).__name__}, not a {cls_name}")
        for name in names:
            if name not in fields:
                raise self._error(
                    f"output {name!r} is missing from the returned value", output=name
                )
        extra = sorted(set(fields) - set(names))
        if extra:
            raise self._error(f"returned unknown output {extra[0]!r}", output=extra[0])
        return {n: fields[n] for n in names}

    def _check_output(self, name: str, kind: OutputType, value: Any) -> Any:
        if isinstance(kind, ArtifactType):
            if value is None:
                raise self._error(f"output {name!r} ({kind.name}) is None", output=name)
            if isinstance(value, Artifact) and not isinstance(value, kind.cls):
                raise self._error(
                    f"output {name!r} is a {kind.name}, not a {value.type_name} artifact",
                    output=name,
                )
            return value
        try:
            return check_value(value, kind)
        except ValueError as exc:
            raise self._error(f"output {name!r}: {exc}", output=name) from None

    def __reduce__(self) -> tuple[Any, ...]:
        return (load_component, (self.to_spec(),))

    def __repr__(self) -> str:
        return f"<component {self.key}>"


def _source_file(fn: Callable[..., Any]) -> str | None:
    try:
        path = inspect.getsourcefile(fn) or inspect.getfile(fn)
    except TypeError:
        return None
    return os.path.abspath(path)


def _register(comp: Component) -> Component:
    _REGISTRY[comp.key] = comp
    _BY_REF[(comp.ref["module"], comp.ref["qualname"])] = comp
    return comp


@overload
def component(fn: Callable[..., Any], /) -> Component: ...


@overload
def component(
    fn: None = None,
    /,
    *,
    name: str | None = None,
    version: str | None = None,
    retries: int = 0,
    retry_backoff: float = 1.0,
    timeout: float | None = None,
    cache: bool = True,
    cache_max_age: float | None = None,
    resources: dict[str, Any] | None = None,
) -> Callable[[Callable[..., Any]], Component]: ...


def component(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    version: str | None = None,
    retries: int = 0,
    retry_backoff: float = 1.0,
    timeout: float | None = None,
    cache: bool = True,
    cache_max_age: float | None = None,
    resources: dict[str, Any] | None = None,
) -> Component | Callable[[Callable[..., Any]], Component]:
    """Make a typed function a pipeline component (``@component`` or ``@component(...)``).

    ``retries``/``retry_backoff`` (seconds, doubled per attempt), ``timeout`` (seconds),
    ``cache`` and ``cache_max_age`` (seconds) and ``resources`` are its default step options;
    ``version`` is part of the fingerprint, so bumping it invalidates cached results.
    """

    def decorate(f: Callable[..., Any]) -> Component:
        if isinstance(f, Component):
            f = f.fn
        return _register(
            Component(
                f,
                name=name,
                version=version,
                retries=retries,
                retry_backoff=retry_backoff,
                timeout=timeout,
                cache=cache,
                cache_max_age=cache_max_age,
                resources=resources or {},
            )
        )

    return decorate(fn) if fn is not None else decorate


def load_component(ref: Mapping[str, Any]) -> Component:
    """The component a spec ``components`` entry (or a bare ``ref``) names.

    Looked up in this process's registry first, else imported from ``ref["module"]`` (or
    from ``ref["file"]`` when that fails). With a spec entry, the component found must still
    have the fingerprint the spec was compiled with.
    """
    entry = dict(ref)
    where = dict(entry.get("ref", entry))
    name = entry.get("name") or str(where.get("qualname", "?")).rsplit(".", 1)[-1]
    expected = entry.get("fingerprint")
    found = None
    if expected:
        found = _REGISTRY.get(f"{name}@{str(expected)[:12]}")
        if found is not None and found.fingerprint != expected:
            found = None
    module, qualname = str(where.get("module", "")), str(where.get("qualname", ""))
    found = found or _BY_REF.get((module, qualname)) or _import(name, where)
    if expected and found.fingerprint != expected:
        raise CompileError(
            f"component {name!r} changed since the pipeline was compiled (fingerprint "
            f"{found.fingerprint[:12]}, the spec has {str(expected)[:12]}); compile it again",
            component=name,
        )
    return found


def _import(name: str, ref: dict[str, Any]) -> Component:
    module, qualname, file = ref.get("module"), ref.get("qualname"), ref.get("file")
    place = f"{module}:{qualname}" + (f" (file {file})" if file else "")
    reasons: list[str] = []
    if "<locals>" in str(qualname):
        reasons.append("it is defined inside a function; define it at module level")
    candidates: list[Callable[[], Any]] = []
    if module:
        candidates.append(lambda: importlib.import_module(str(module)))
    if file:
        candidates.append(lambda: _load_file(str(file)))
    for load in candidates:
        try:
            obj: Any = load()
            for part in str(qualname).split("."):
                obj = getattr(obj, part)
        except Exception as exc:
            reasons.append(f"{type(exc).__name__}: {exc}")
            continue
        if isinstance(obj, Component):
            return obj
        reasons.append(f"{place} is a {type(obj).__name__}, not a @component")
    raise CompileError(
        f"cannot load component {name!r} from {place}: {'; '.join(reasons) or 'no ref'}",
        component=name,
        ref=place,
    )


def _load_file(path: str) -> Any:
    """The module of a Python file given by path (loaded once per process)."""
    path = os.path.abspath(path)
    stem = re.sub(r"\W", "_", os.path.splitext(os.path.basename(path))[0])
    module_name = f"_mloop_file_{hashlib.sha256(path.encode()).hexdigest()[:12]}_{stem}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module

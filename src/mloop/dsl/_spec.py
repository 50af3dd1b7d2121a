"""The compiled spec (``mloop.pipeline/v1``, see ``docs/pipeline-spec.md``): checks and hash.

:func:`load_spec` is the gate every stored or received spec passes before it runs; it
checks the structure and the cross references (components, steps, parameters, groups) and
that the steps are acyclic, so the orchestrator can trust what it reads.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable
from typing import Any, NoReturn

from mloop.errors import CompileError

SCHEMA_VERSION = "mloop.pipeline/v1"
PIPELINE_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
RETURNS = ("none", "single", "namedtuple", "dataclass")
OPERATORS = ("==", "!=", "<", "<=", ">", ">=", "truthy")
DEFAULT_OPTIONS: dict[str, Any] = {
    "retries": 0,
    "retry_backoff": 1.0,
    "timeout": None,
    "cache": True,
    "cache_max_age": None,
    "resources": {},
}


def spec_hash(spec: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of ``spec`` (sorted keys, no whitespace)."""
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_options(options: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    """Checked step/component options; all of them (defaults filled) unless ``partial``."""
    unknown = sorted(set(options) - set(DEFAULT_OPTIONS))
    if unknown:
        raise ValueError(f"unknown option {unknown[0]!r} (known: {', '.join(DEFAULT_OPTIONS)})")
    out: dict[str, Any] = {} if partial else {**DEFAULT_OPTIONS, "resources": {}}
    for key, value in options.items():
        if key == "retries" and (
            not isinstance(value, int) or isinstance(value, bool) or value < 0
        ):
            raise ValueError(f"retries must be an int >= 0, not {value!r}")
        if key == "retry_backoff":
            if not _number(value) or value < 0:
                raise ValueError(f"retry_backoff must be a number of seconds >= 0, not {value!r}")
            value = float(value)
        if (
            key in ("timeout", "cache_max_age")
            and value is not None
            and (not _number(value) or value <= 0)
        ):
            raise ValueError(f"{key} must be None or a number of seconds > 0, not {value!r}")
        if key == "cache" and not isinstance(value, bool):
            raise ValueError(f"cache must be True or False, not {value!r}")
        if key == "resources":
            value = _resources(value)
        out[key] = value
    return out


def _resources(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ValueError(f"resources must be a dict with string keys, not {value!r}")
    try:
        resources: dict[str, Any] = json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError):
        raise ValueError(f"resources must be JSON data, not {value!r}") from None
    return resources


def group_refs(group: dict[str, Any]) -> list[dict[str, Any]]:
    """The refs a group's condition or items read."""
    condition = group.get("condition") or {}
    refs = [condition.get("left"), condition.get("right"), group.get("items")]
    return [r for r in refs if isinstance(r, dict)]


def step_deps(step: dict[str, Any], groups: dict[str, dict[str, Any]]) -> list[str]:
    """Every step ``step`` depends on: its inputs, ``after`` and its groups' refs."""
    refs: list[dict[str, Any]] = list(step.get("inputs", {}).values())
    group = step.get("group")
    seen: set[str] = set()
    while group is not None and group in groups and group not in seen:
        seen.add(group)
        refs += group_refs(groups[group])
        group = groups[group].get("parent")
    deps = [r["step"] for r in refs if isinstance(r, dict) and "step" in r]
    return list(dict.fromkeys([*deps, *step.get("after", [])]))


def find_cycle(
    steps: dict[str, dict[str, Any]], groups: dict[str, dict[str, Any]]
) -> list[str] | None:
    """A dependency cycle among ``steps`` (``[a, b, a]``), or None if they are acyclic."""
    deps = {name: [d for d in step_deps(s, groups) if d in steps] for name, s in steps.items()}
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(name: str, path: list[str]) -> list[str] | None:
        state[name] = 1
        path.append(name)
        for dep in deps[name]:
            if state.get(dep) == 1:
                return [*path[path.index(dep) :], dep]
            if dep not in state:
                found = visit(dep, path)
                if found:
                    return found
        path.pop()
        state[name] = 2
        return None

    for name in steps:
        if name not in state:
            found = visit(name, [])
            if found:
                return found
    return None


class _Checker:
    def __init__(self, spec: Any) -> None:
        self.spec = spec
        self.pipeline: str | None = None

    def fail(self, message: str, step: str | None = None, argument: str | None = None) -> NoReturn:
        where = [f"pipeline {self.pipeline!r}"] if self.pipeline else []
        where += [f"step {step!r}"] if step else []
        where += [f"argument {argument!r}"] if argument else []
        prefix = "invalid pipeline spec" + (f" ({', '.join(where)})" if where else "")
        raise CompileError(
            f"{prefix}: {message}", pipeline=self.pipeline, step=step, argument=argument
        )

    def mapping(self, value: Any, what: str, *keys: str, step: str | None = None) -> None:
        if not isinstance(value, dict):
            self.fail(f"{what} must be an object, not {type(value).__name__}", step)
        missing = [k for k in keys if k not in value]
        if missing:
            self.fail(f"{what} lacks {', '.join(map(repr, missing))}", step)

    def check(self) -> None:
        spec = self.spec
        if not isinstance(spec, dict):
            self.fail(f"a spec is a JSON object, not {type(spec).__name__}")
        version = spec.get("schema_version")
        if version != SCHEMA_VERSION:
            if version is None:
                self.fail(
                    f"no schema_version; this is not an mloop pipeline spec ({SCHEMA_VERSION})"
                )
            self.fail(f"unsupported schema_version {version!r} (this mloop reads {SCHEMA_VERSION})")
        self.mapping(spec, "the spec", "name", "parameters", "components", "steps", "groups")
        name = spec["name"]
        if not isinstance(name, str) or not PIPELINE_NAME.match(name):
            self.fail(f"invalid pipeline name {name!r}")
        self.pipeline = name
        if not isinstance(spec.get("description"), str | None):
            self.fail("description must be a string or null")
        self.mapping(spec["parameters"], "parameters")
        for pname, param in spec["parameters"].items():
            self.mapping(param, f"parameter {pname!r}", "type", "required")
            if not param["required"] and "default" not in param:
                self.fail(f"parameter {pname!r} is not required but has no default", None, pname)
        self.mapping(spec["components"], "components")
        for key, comp in spec["components"].items():
            self.component(key, comp)
        self.mapping(spec["groups"], "groups")
        for gid, group in spec["groups"].items():
            self.mapping(group, f"group {gid!r}", "kind", "parent")
            if group["parent"] is not None and group["parent"] not in spec["groups"]:
                self.fail(f"group {gid!r} has unknown parent {group['parent']!r}")
        for gid, group in spec["groups"].items():
            self.group(gid, group)
        self.mapping(spec["steps"], "steps")
        for sname, step in spec["steps"].items():
            self.step(sname, step)
        cycle = find_cycle(spec["steps"], spec["groups"])
        if cycle:
            self.fail(f"the steps form a cycle: {' -> '.join(cycle)}", cycle[0])

    def component(self, key: str, comp: Any) -> None:
        what = f"component {key!r}"
        self.mapping(comp, what, "name", "fingerprint", "ref", "inputs", "outputs", "returns")
        self.mapping(comp["ref"], f"{what} ref", "module", "qualname")
        if key != f"{comp['name']}@{str(comp['fingerprint'])[:12]}":
            self.fail(f"{what} is not keyed by <name>@<fingerprint[:12]>")
        if comp["returns"] not in RETURNS:
            self.fail(f"{what} returns {comp['returns']!r}, not one of {', '.join(RETURNS)}")
        for section in ("inputs", "outputs"):
            self.mapping(comp[section], f"{what} {section}")
            for arg, entry in comp[section].items():
                self.mapping(entry, f"{what} {section[:-1]} {arg!r}", "kind", "type")
                if entry["kind"] not in ("artifact", "parameter"):
                    self.fail(f"{what} {section[:-1]} {arg!r} has unknown kind {entry['kind']!r}")
        try:
            check_options(comp.get("options", {}), partial=True)
        except ValueError as exc:
            self.fail(f"{what}: {exc}")

    def ref(
        self, ref: Any, what: str, step: str | None, argument: str | None, loops: Iterable[str]
    ) -> None:
        spec = self.spec
        if not isinstance(ref, dict):
            self.fail(f"{what} must be a ref object, not {ref!r}", step, argument)
        if "value" in ref:
            return
        if "param" in ref:
            if ref["param"] not in spec["parameters"]:
                self.fail(f"{what} names unknown parameter {ref['param']!r}", step, argument)
        elif "step" in ref:
            if ref["step"] not in spec["steps"] or "output" not in ref:
                self.fail(f"{what} names unknown step {ref['step']!r}", step, argument)
            collect = ref.get("collect")
            if collect is not None and spec["groups"].get(collect, {}).get("kind") != "for":
                self.fail(f"{what} collects over {collect!r}, which is no loop", step, argument)
        elif "loop" in ref:
            if ref["loop"] not in loops:
                self.fail(f"{what} uses the item of {ref['loop']!r} outside it", step, argument)
        elif ref.get("run_status") is not True:
            self.fail(f"{what} is not a ref: {ref!r}", step, argument)

    def loops(self, group: str | None) -> list[str]:
        """The loops enclosing (and including) ``group``; fails on a cycle of parents."""
        out: list[str] = []
        seen: set[str] = set()
        while group is not None:
            if group in seen:
                self.fail(f"groups {', '.join(sorted(seen))} are their own parents")
            seen.add(group)
            if self.spec["groups"][group]["kind"] == "for":
                out.append(group)
            group = self.spec["groups"][group]["parent"]
        return out

    def group(self, gid: str, group: Any) -> None:
        outer = self.loops(group["parent"])
        if group["kind"] == "if":
            self.mapping(group, f"group {gid!r}", "condition")
            cond = group["condition"]
            self.mapping(cond, f"condition of {gid!r}", "left", "op")
            if cond["op"] not in OPERATORS:
                self.fail(f"condition of {gid!r} has unknown operator {cond['op']!r}")
            for side in ("left", "right") if cond["op"] != "truthy" else ("left",):
                self.ref(cond.get(side), f"condition {side} of {gid!r}", None, None, outer)
        elif group["kind"] == "for":
            self.mapping(group, f"group {gid!r}", "items")
            self.ref(group["items"], f"items of {gid!r}", None, None, outer)
            par = group.get("parallelism")
            if par is not None and (not isinstance(par, int) or isinstance(par, bool) or par < 1):
                self.fail(f"parallelism of {gid!r} must be null or an int >= 1")
        else:
            self.fail(f"group {gid!r} has unknown kind {group['kind']!r}")

    def step(self, name: str, step: Any) -> None:
        spec = self.spec
        self.mapping(step, f"step {name!r}", "component", "inputs", step=name)
        comp = spec["components"].get(step["component"])
        if comp is None:
            self.fail(f"unknown component {step['component']!r}", name)
        group = step.get("group")
        if group is not None and group not in spec["groups"]:
            self.fail(f"unknown group {group!r}", name)
        self.mapping(step["inputs"], "inputs", step=name)
        for arg, ref in step["inputs"].items():
            if arg not in comp["inputs"]:
                self.fail(f"component {step['component']!r} has no such input", name, arg)
            self.ref(ref, "input", name, arg, self.loops(group))
        after = step.get("after", [])
        if not isinstance(after, list) or any(a not in spec["steps"] for a in after):
            self.fail(f"after names unknown steps: {after!r}", name, "after")
        if not isinstance(step.get("exit", False), bool):
            self.fail("exit must be true or false", name)
        try:
            check_options(step.get("options", {}), partial=True)
        except ValueError as exc:
            self.fail(str(exc), name)


def load_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """Check that ``spec`` is a well-formed ``mloop.pipeline/v1`` spec and return it.

    Raises :class:`~mloop.errors.CompileError` naming what is wrong (and where).
    """
    _Checker(spec).check()
    return spec

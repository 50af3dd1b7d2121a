"""Finding a pipeline from a command-line target: ``path/to/file.py:name`` or ``pkg.mod:name``."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from mloop.errors import DefinitionError

if TYPE_CHECKING:
    from mloop.dsl import Pipeline


def load_pipeline(target: str) -> Pipeline:
    """Import the module or file named by ``target`` and return its ``@pipeline``."""
    from mloop.dsl import Pipeline

    source, sep, attr = target.rpartition(":")
    if not sep or not source or not attr:
        raise DefinitionError(
            f"pipeline target {target!r} must look like path/to/file.py:pipeline "
            "or package.module:pipeline",
            argument="TARGET",
        )
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    if source.endswith(".py") or "/" in source:
        path = Path(source)
        if not path.is_file():
            raise DefinitionError(f"pipeline file {source} does not exist", argument="TARGET")
        module_name = path.stem
        spec = importlib.util.spec_from_file_location(module_name, path.resolve())
        if spec is None or spec.loader is None:
            raise DefinitionError(f"cannot import {source} as Python", argument="TARGET")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except DefinitionError:
            raise
        except Exception as exc:
            sys.modules.pop(module_name, None)
            raise DefinitionError(
                f"importing {source} failed: {_where(exc, path)}{type(exc).__name__}: {exc}",
                argument="TARGET",
            ) from None
    else:
        try:
            module = importlib.import_module(source)
        except ImportError as exc:
            raise DefinitionError(
                f"cannot import module {source!r}: {exc}", argument="TARGET"
            ) from None
    obj = getattr(module, attr, None)
    if not isinstance(obj, Pipeline):
        found = sorted(n for n, v in vars(module).items() if isinstance(v, Pipeline))
        hint = f" (pipelines in {source}: {', '.join(found)})" if found else ""
        raise DefinitionError(f"{source} has no @pipeline named {attr!r}{hint}", argument="TARGET")
    return obj


def _where(exc: BaseException, path: Path) -> str:
    """``file:line: `` of the deepest frame of ``exc`` inside the user's file, if any."""
    if isinstance(exc, SyntaxError) and exc.lineno:
        return f"line {exc.lineno}: "
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if Path(tb.tb_frame.f_code.co_filename).resolve() == path.resolve():
            line = tb.tb_lineno
        tb = tb.tb_next
    return f"line {line}: " if line else ""


def parse_params(pairs: list[str]) -> dict[str, str]:
    """``["a=1", "b=x"]`` → ``{"a": "1", "b": "x"}``; the pipeline coerces the types."""
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise DefinitionError(f"parameter {pair!r} must look like key=value", argument="-p")
        params[key.strip()] = value
    return params

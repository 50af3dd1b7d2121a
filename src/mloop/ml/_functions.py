"""User feature functions, by reference: ``"mypkg.features:add_hour"``.

A transform may run the user's own ``DataFrame -> DataFrame`` functions before its fitted
steps. They are stored as ``"module:function"`` references (never as pickled code), so a
fitted transform stays a small JSON document; the price is that whoever applies it (a
serving host) must be able to import the module.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from mloop.errors import DataError, DefinitionError
from mloop.ml._tables import columns_present

if TYPE_CHECKING:
    import pandas as pd

FrameFunction = Callable[["pd.DataFrame"], "pd.DataFrame"]

#: Rows of the fit data used to find which raw columns the functions read.
PROBE_ROWS = 64


def resolve(reference: str) -> FrameFunction:
    """The function a ``"module:function"`` (or ``"module.function"``) reference names."""
    if not isinstance(reference, str) or not reference.strip():
        raise DefinitionError(
            f"a transform function must be a 'module:function' reference, not {reference!r}",
            function=repr(reference),
        )
    module_name, sep, attr = reference.partition(":")
    if not sep:
        module_name, _, attr = reference.rpartition(".")
    if not module_name or not attr:
        raise DefinitionError(
            f"transform function {reference!r} is not a 'module:function' reference",
            function=reference,
        )
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise DefinitionError(
            f"cannot import transform function {reference!r}: {exc} (the module must be "
            "importable wherever the transform is fitted or applied)",
            function=reference,
        ) from exc
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise DefinitionError(
                f"cannot import transform function {reference!r}: module {module_name!r} has "
                f"no attribute {attr!r}",
                function=reference,
            ) from None
    if not callable(target):
        raise DefinitionError(
            f"transform function {reference!r} is a {type(target).__name__}, not a function",
            function=reference,
        )
    return target  # type: ignore[no-any-return]


def apply_functions(references: Sequence[str], frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` passed through each referenced function in order.

    A function that looks up a column the data lacks is a :class:`DataError` naming the
    column and the function, not a bare ``KeyError``.
    """
    import pandas as pd

    for reference in references:
        function = resolve(reference)
        try:
            result = function(frame)
        except KeyError as exc:
            column = str(exc.args[0]) if exc.args else None
            raise DataError(
                f"transform function {reference!r} needs column {column!r}, which the data "
                f"does not have (columns present: {columns_present(frame)})",
                column=column,
                function=reference,
            ) from exc
        if not isinstance(result, pd.DataFrame):
            raise DefinitionError(
                f"transform function {reference!r} must return a pandas DataFrame, "
                f"not {type(result).__name__}",
                function=reference,
            )
        frame = result
    return frame


def function_inputs(
    references: Sequence[str], frame: pd.DataFrame, used: Sequence[str]
) -> list[str]:
    """The raw columns of ``frame`` the functions need to produce the ``used`` columns.

    Found on a small sample by leaving each raw column out in turn: a column whose absence
    breaks the functions or changes the ``used`` columns is an input. The others (the
    target, the split, unrelated columns) are not, so a model's signature does not ask
    serving requests for them.
    """
    sample = frame.head(PROBE_ROWS)
    expected = apply_functions(references, sample)
    wanted = [c for c in used if c in expected.columns]
    inputs = []
    for column in frame.columns:
        try:
            probe = apply_functions(references, sample.drop(columns=[column]))
            changed = not all(c in probe.columns and probe[c].equals(expected[c]) for c in wanted)
        except Exception:
            changed = True
        if changed:
            inputs.append(str(column))
    return inputs

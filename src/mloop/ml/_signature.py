"""Model signatures: the input columns (and outputs) a model expects, checked at predict time.

A :class:`Signature` is recorded when a model is trained, from the raw columns it reads, and
travels with the model. :meth:`Signature.check` turns a request that does not fit (a missing
column, text where a number belongs) into one :class:`SignatureError` that names every
problem column, instead of a failure deep inside a transform or a booster.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mloop.errors import ConfigError, DataError
from mloop.ml._tables import TYPE_NAMES, as_frame, column_type, columns_present

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ColumnSpec", "Signature", "SignatureError"]

#: What each declared type accepts (besides itself and a column of only missing values).
#: Integers with missing values arrive as float64 (pandas has no missing int), so an int64
#: input accepts a float64 column whose values are whole numbers.
_ACCEPTS: dict[str, frozenset[str]] = {
    "float64": frozenset({"int64"}),
    "int64": frozenset(),
    "string": frozenset(),
    "bool": frozenset(),
    "timestamp": frozenset(),
}

#: The plain Python types whose values surely make a column of each declared type.
_PLAIN: dict[str, frozenset[type]] = {
    "float64": frozenset({int, float, type(None)}),
    "int64": frozenset({int, type(None)}),
    "string": frozenset({str, type(None)}),
    "bool": frozenset({bool, type(None)}),
}


class SignatureError(DataError):
    """Input data does not match a model's signature; ``problems`` maps column → what is wrong."""

    http_status = 422


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """A named column of a simple type: ``int64``, ``float64``, ``string``, ``bool``,
    ``timestamp`` or ``any``."""

    name: str
    type: str = "any"

    def __post_init__(self) -> None:
        if self.type not in TYPE_NAMES:
            raise ConfigError(
                f"column {self.name!r} has unknown type {self.type!r} "
                f"(types: {', '.join(TYPE_NAMES)})",
                column=self.name,
            )

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "type": self.type}


@dataclass(frozen=True, slots=True)
class Signature:
    """The input columns a model reads (in order) and the outputs it predicts."""

    inputs: tuple[ColumnSpec, ...]
    outputs: tuple[ColumnSpec, ...] = ()

    def __init__(self, inputs: Iterable[ColumnSpec], outputs: Iterable[ColumnSpec] = ()) -> None:
        object.__setattr__(self, "inputs", tuple(inputs))
        object.__setattr__(self, "outputs", tuple(outputs))

    @property
    def input_names(self) -> list[str]:
        return [spec.name for spec in self.inputs]

    @classmethod
    def infer(cls, data: Any, outputs: Any = None) -> Signature:
        """The signature of ``data``'s columns; ``outputs`` is a frame, a named Series, an
        array or a list of :class:`ColumnSpec` (a missing column type becomes ``any``)."""
        frame = as_frame(data)
        inputs = [ColumnSpec(str(name), _declared(frame[name])) for name in frame.columns]
        return cls(inputs, _output_specs(outputs))

    def check(self, data: Any) -> pd.DataFrame:
        """``data`` restricted to the input columns, in order; extra columns are ignored.

        Raises :class:`SignatureError` naming every missing column and every column whose
        type does not fit, with the expected and the actual type.
        """
        frame = as_frame(data)
        present = {str(c) for c in frame.columns}
        problems: dict[str, str] = {}
        for spec in self.inputs:
            if spec.name not in present:
                problems[spec.name] = "missing"
                continue
            got = column_type(frame[spec.name])
            if not _compatible(spec.type, got, frame[spec.name]):
                problems[spec.name] = f"expected {spec.type}, got {got}"
        if problems:
            detail = "; ".join(f"column {name!r}: {what}" for name, what in problems.items())
            message = f"input does not match the model signature: {detail}"
            if any(what == "missing" for what in problems.values()):
                message += f" (columns present: {columns_present(frame)})"
            raise SignatureError(message, column=next(iter(problems)), problems=problems)
        return frame[self.input_names]

    def fits_values(self, columns: Mapping[str, list[Any]]) -> bool:
        """Whether plain Python values per column (a JSON body's; ``None`` is missing) surely
        pass :meth:`check`: each input present with values of its type. ``False`` means
        "ask :meth:`check`", which gives the verdict (a whole float is a fine int64, say)."""
        for spec in self.inputs:
            values = columns.get(spec.name)
            if values is None:
                return False
            if spec.type != "any":
                allowed = _PLAIN.get(spec.type)
                if allowed is None or not set(map(type, values)) <= allowed:
                    return False
        return True

    def to_dict(self) -> dict[str, Any]:
        return {
            "inputs": [spec.to_dict() for spec in self.inputs],
            "outputs": [spec.to_dict() for spec in self.outputs],
        }

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> Signature:
        try:
            return cls(
                [ColumnSpec(str(c["name"]), str(c["type"])) for c in value["inputs"]],
                [ColumnSpec(str(c["name"]), str(c["type"])) for c in value.get("outputs", [])],
            )
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"not a model signature: {exc!r} in {dict(value)!r}") from None


def _declared(series: pd.Series) -> str:
    """The type to declare for a training column (``null`` and ``mixed`` accept anything)."""
    found = column_type(series)
    return found if found in TYPE_NAMES else "any"


def _compatible(expected: str, got: str, series: pd.Series) -> bool:
    if expected == "any" or got in (expected, "null"):
        return True
    if expected == "int64" and got == "float64":
        import numpy as np

        values = series.to_numpy(dtype="float64", na_value=np.nan)
        finite = values[~np.isnan(values)]
        return bool(np.all(finite == np.floor(finite)))
    return got in _ACCEPTS.get(expected, frozenset())


def _output_specs(outputs: Any) -> list[ColumnSpec]:
    if outputs is None:
        return []
    import pandas as pd

    if isinstance(outputs, pd.DataFrame):
        return [ColumnSpec(str(n), _declared(outputs[n])) for n in outputs.columns]
    if isinstance(outputs, pd.Series):
        return [ColumnSpec(str(outputs.name or "output"), _declared(outputs))]
    if isinstance(outputs, Sequence) and all(isinstance(o, ColumnSpec) for o in outputs):
        return list(outputs)
    if hasattr(outputs, "dtype") and hasattr(outputs, "shape"):  # a numpy array
        return [ColumnSpec("output", _declared(pd.Series(outputs)))]
    raise ConfigError(
        f"signature outputs must be a DataFrame, a Series, an array or ColumnSpecs, "
        f"not {type(outputs).__name__}"
    )

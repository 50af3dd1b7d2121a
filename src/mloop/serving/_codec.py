"""Request bodies into a DataFrame of raw features, predictions back into JSON.

Two wire formats:

- **Vertex-style**: ``{"instances": [{"carrier": "UA", "distance": 1400}, ...],
  "parameters": {...}}`` (an instance may also be a list of values in signature order);
- **Open Inference Protocol (KServe V2)**: ``{"inputs": [{"name": "distance", "shape": [2],
  "datatype": "INT64", "data": [1400, 200]}, ...]}`` — one tensor per feature column (shape
  ``[n]`` or ``[n, 1]``), or one ``[n, k]`` tensor whose columns are the signature's inputs in
  order.

Every client mistake is a :class:`RequestError` (400, or 413 for too many instances) whose
message names the field; the model's signature check then names missing or mistyped
columns (422).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mloop.errors import MloopError

if TYPE_CHECKING:
    from typing import TypeAlias

    import numpy as np
    import pandas as pd

    from mloop.ml import Signature

    #: A request's rows: dicts of JSON values (Vertex-style) or typed columns (V2).
    Instances: TypeAlias = list[dict[str, Any]] | pd.DataFrame

__all__ = ["RequestError", "example_row", "parse_instances", "parse_v2_inputs"]

MAX_INSTANCES = 10_000

V2_TYPES = {
    "int64": "INT64",
    "int32": "INT32",
    "float64": "FP64",
    "float32": "FP32",
    "string": "BYTES",
    "bool": "BOOL",
    "timestamp": "BYTES",
}
_V2_NUMERIC = {"INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"}
_V2_FLOAT = {"FP16", "FP32", "FP64"}
_V2_ALL = _V2_NUMERIC | _V2_FLOAT | {"BOOL", "BYTES"}


class RequestError(MloopError):
    """A malformed request body: the client's mistake, named."""

    http_status = 400


class TooLarge(RequestError):
    http_status = 413


def parse_instances(
    body: Any, signature: Signature | None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """``(rows, parameters)`` of a Vertex-style body: the instances as dicts (instances given
    as lists of values are named by the signature), handed to the model as they are (its
    fast path reads them without pandas)."""
    if not isinstance(body, Mapping):
        raise RequestError(
            'the request body must be a JSON object like {"instances": [{...}, ...]}, '
            f"not {_kind(body)}"
        )
    if "instances" not in body:
        raise RequestError(
            f'the request body has no "instances" (keys: {", ".join(map(str, body)) or "none"})'
        )
    instances = body["instances"]
    if not isinstance(instances, list) or not instances:
        raise RequestError(f'"instances" must be a non-empty list, not {_kind(instances)}')
    if len(instances) > MAX_INSTANCES:
        raise TooLarge(
            f'"instances" holds {len(instances):,} instances; at most {MAX_INSTANCES:,} '
            "per request (send several requests, or use batch prediction: mloop predict)"
        )
    parameters = body.get("parameters") or {}
    if not isinstance(parameters, Mapping):
        raise RequestError(f'"parameters" must be an object, not {_kind(parameters)}')
    first = instances[0]
    if isinstance(first, dict):
        if set(map(type, instances)) == {dict}:  # as JSON parses them (checked in C)
            return instances, dict(parameters)
        for i, instance in enumerate(instances):
            if not isinstance(instance, dict):
                raise RequestError(
                    f"instances[{i}] must be an object of feature values like instances[0], "
                    f"not {_kind(instance)}"
                )
        return instances, dict(parameters)
    if isinstance(first, list):
        if signature is None:
            raise RequestError(
                "instances given as lists need a model signature to name their values; "
                "send objects of feature values instead"
            )
        names = signature.input_names
        for i, instance in enumerate(instances):
            if not isinstance(instance, list) or len(instance) != len(names):
                raise RequestError(
                    f"instances[{i}] must be a list of {len(names)} values "
                    f"({', '.join(names)}), not {_kind(instance)}"
                )
        return [dict(zip(names, values, strict=True)) for values in instances], dict(parameters)
    raise RequestError(f"instances[0] must be an object or a list, not {_kind(first)}")


def parse_v2_inputs(body: Any, signature: Signature | None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``(frame, request)`` of an Open Inference Protocol infer body."""
    import pandas as pd

    if not isinstance(body, Mapping):
        raise RequestError(f"the inference request must be a JSON object, not {_kind(body)}")
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise RequestError('the inference request needs "inputs": a non-empty list of tensors')
    tensors: dict[str, np.ndarray] = {}
    for i, tensor in enumerate(inputs):
        where = f"inputs[{i}]"
        if not isinstance(tensor, Mapping):
            raise RequestError(f"{where} must be a tensor object, not {_kind(tensor)}")
        for key in ("name", "shape", "datatype", "data"):
            if key not in tensor:
                raise RequestError(f'{where} has no "{key}"')
        name = tensor["name"]
        if not isinstance(name, str):
            raise RequestError(f"{where}.name must be a string")
        tensors[name] = _tensor(tensor, f"input {name!r}")
    names = signature.input_names if signature is not None else list(tensors)
    if len(tensors) == 1 and next(iter(tensors.values())).ndim == 2 and names:
        ((name, matrix),) = tensors.items()
        if name not in names or len(names) > 1:
            if matrix.shape[1] != len(names):
                raise RequestError(
                    f"input {name!r} has {matrix.shape[1]} columns; the model takes "
                    f"{len(names)} inputs ({', '.join(names)}), or one tensor per input"
                )
            return pd.DataFrame(matrix, columns=names), dict(body)
    lengths = set()
    columns: dict[str, Any] = {}
    for name, values in tensors.items():
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        if values.ndim != 1:
            raise RequestError(
                f"input {name!r} has shape {list(values.shape)}; a feature column has shape "
                "[n] or [n, 1]"
            )
        lengths.add(len(values))
        columns[name] = values
    if len(lengths) > 1:
        shown = ", ".join(f"{n}: {len(v)}" for n, v in columns.items())
        raise RequestError(f"inputs have different numbers of rows ({shown})")
    if next(iter(lengths)) > MAX_INSTANCES:
        raise TooLarge(f"at most {MAX_INSTANCES:,} rows per request")
    return pd.DataFrame(columns), dict(body)


def _tensor(tensor: Mapping[str, Any], what: str) -> np.ndarray:
    import numpy as np

    datatype, shape, data = tensor["datatype"], tensor["shape"], tensor["data"]
    if datatype not in _V2_ALL:
        raise RequestError(
            f"{what}: unknown datatype {datatype!r} (one of {', '.join(sorted(_V2_ALL))})"
        )
    if (
        not isinstance(shape, list)
        or not shape
        or not all(isinstance(d, int) and d >= 0 for d in shape)
    ):
        raise RequestError(f"{what}: shape must be a list of non-negative ints, not {shape!r}")
    flat = _flatten(data)
    expected = math.prod(shape)
    if len(flat) != expected:
        raise RequestError(f"{what}: shape {shape} needs {expected} values, data has {len(flat)}")
    if datatype == "BYTES":
        if not all(isinstance(v, str) for v in flat):
            raise RequestError(f"{what}: BYTES data must be strings")
        array = np.array(flat, dtype=object)
    elif datatype == "BOOL":
        if not all(isinstance(v, bool) for v in flat):
            raise RequestError(f"{what}: BOOL data must be true/false")
        array = np.array(flat, dtype=bool)
    else:
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in flat):
            raise RequestError(f"{what}: {datatype} data must be numbers")
        if datatype in _V2_NUMERIC and not all(float(v).is_integer() for v in flat):
            raise RequestError(f"{what}: {datatype} data must be whole numbers")
        array = np.array(flat, dtype=np.int64 if datatype in _V2_NUMERIC else np.float64)
    return array.reshape(shape)


def _flatten(data: Any) -> list[Any]:
    if not isinstance(data, list):
        raise RequestError(f"tensor data must be a list, not {_kind(data)}")
    if data and isinstance(data[0], list):
        out: list[Any] = []
        for row in data:
            out.extend(_flatten(row))
        return out
    return data


def v2_output(name: str, values: np.ndarray) -> dict[str, Any]:
    """An output tensor of the Open Inference Protocol."""
    kind = values.dtype.kind
    if kind == "b":
        datatype = "BOOL"
    elif kind in "iu":
        datatype = "INT64"
    elif kind == "f":
        datatype = "FP64"
    else:
        datatype = "BYTES"
    data = values.reshape(-1).tolist()
    if datatype == "BYTES":
        data = [str(v) for v in data]
    return {"name": name, "datatype": datatype, "shape": list(values.shape), "data": data}


def json_values(values: np.ndarray | Sequence[Any]) -> list[Any]:
    """Plain JSON values (numpy scalars to Python; NaN to null)."""
    kind = getattr(getattr(values, "dtype", None), "kind", "O")
    if kind in "biu" and hasattr(values, "tolist"):  # no NaN to look for
        return values.tolist()  # type: ignore[no-any-return]
    out = values.tolist() if hasattr(values, "tolist") else list(values)
    return [None if isinstance(v, float) and not math.isfinite(v) else v for v in out]


def example_row(signature: Signature) -> dict[str, Any]:
    """A made-up row that satisfies ``signature`` (for warm-up and docs)."""
    samples = {"int64": 1, "int32": 1, "float64": 1.0, "float32": 1.0, "bool": False}
    return {c.name: samples.get(c.type, "a") for c in signature.inputs}


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__

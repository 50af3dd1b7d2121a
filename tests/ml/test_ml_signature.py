"""Signatures: inferred from training columns, checked on every prediction request."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mloop.errors import DataError
from mloop.ml import ColumnSpec, Signature, SignatureError


@pytest.fixture
def signature() -> Signature:
    training = pd.DataFrame(
        {
            "distance": [1.5, 2.5],
            "dep_hour": [5, 6],
            "carrier": ["AA", "UA"],
            "weekend": [True, False],
            "when": pd.to_datetime(["2024-01-01", "2024-01-02"]),
        }
    )
    return Signature.infer(training, outputs=pd.Series([0, 1], name="delayed"))


def test_inferred_types_and_round_trip(signature: Signature) -> None:
    assert signature.inputs == (
        ColumnSpec("distance", "float64"),
        ColumnSpec("dep_hour", "int64"),
        ColumnSpec("carrier", "string"),
        ColumnSpec("weekend", "bool"),
        ColumnSpec("when", "timestamp"),
    )
    assert signature.outputs == (ColumnSpec("delayed", "int64"),)
    assert Signature.from_dict(signature.to_dict()) == signature


def test_check_reorders_ignores_extras_and_accepts_compatible_types(
    signature: Signature,
) -> None:
    request = pd.DataFrame(
        {
            "extra": ["x"],
            "when": pd.to_datetime(["2024-02-01"]),
            "weekend": [None],  # a missing value fits any type
            "carrier": ["DL"],
            "dep_hour": [7.0],  # an int with a null arrives as a whole float
            "distance": [3],  # ints are fine for a float input
        }
    )
    checked = signature.check(request)
    assert list(checked.columns) == ["distance", "dep_hour", "carrier", "weekend", "when"]
    # the same request as Arrow, as row dicts and as a dict of columns
    rows = request.drop(columns=["when"]).to_dict("records")
    no_time = Signature(signature.inputs[:4])
    assert list(no_time.check(rows).columns) == no_time.input_names
    assert list(no_time.check(pa.Table.from_pylist(rows)).columns) == no_time.input_names
    assert (
        len(no_time.check({"distance": 1.0, "dep_hour": 2, "carrier": "AA"} | {"weekend": True}))
        == 1
    )


def test_missing_and_mistyped_columns_are_all_named(signature: Signature) -> None:
    request = pd.DataFrame(
        {
            "distance": ["far"],
            "dep_hour": [7.5],
            "weekend": [True],
            "when": pd.to_datetime(["2024-02-01"]),
        }
    )
    with pytest.raises(SignatureError) as info:
        signature.check(request)
    error = info.value
    assert isinstance(error, DataError) and error.http_status == 422
    assert error.column == "distance"
    assert error.fields["problems"] == {
        "distance": "expected float64, got string",
        "dep_hour": "expected int64, got float64",
        "carrier": "missing",
    }
    message = str(error)
    assert "column 'distance': expected float64, got string" in message
    assert "column 'carrier': missing" in message
    assert "columns present: distance, dep_hour, weekend, when" in message


def test_outputs_from_an_array_or_specs() -> None:
    frame = pd.DataFrame({"a": [1.0]})
    assert Signature.infer(frame, outputs=np.array([0.5])).outputs == (
        ColumnSpec("output", "float64"),
    )
    specs = [ColumnSpec("y", "string")]
    assert Signature.infer(frame, outputs=specs).outputs == tuple(specs)

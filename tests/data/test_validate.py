"""Validation: every anomaly kind produced and not produced, environments, bad input."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mloop.data._errors import DataError
from mloop.data._model import DatasetStatistics, NumericStatistics
from mloop.data._schema import FeatureSpec, Range, Schema, SchemaError, infer_schema
from mloop.data._sketches import MAX_EXACT
from mloop.data._statistics import compute_statistics
from mloop.data._validate import (
    Anomalies,
    Anomaly,
    DataValidationError,
    validate,
)
from mloop.errors import MloopError


def taxi(n: int = 400, seed: int = 1) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "trips": rng.integers(1, 50, n),
            "fare": rng.uniform(2.5, 80.0, n),
            "tip": pa.array([None if i % 5 == 0 else float(i % 7) for i in range(n)]),
            "payment": rng.choice(["cash", "card", "voucher"], n),
            "label": rng.integers(0, 2, n).astype(bool),
        }
    )


TRAIN = compute_statistics(taxi())
SCHEMA = infer_schema(TRAIN, environments=["TRAINING", "SERVING"], not_in={"label": ["SERVING"]})


def check(table: pa.Table, schema: Schema = SCHEMA, **kwargs: object) -> Anomalies:
    return validate(compute_statistics(table), schema, **kwargs)  # type: ignore[arg-type]


def kinds(anomalies: Anomalies) -> list[tuple[str | None, str]]:
    return [(a.feature, a.kind) for a in anomalies]


def one(anomalies: Anomalies, kind: str) -> Anomaly:
    found = anomalies.of_kind(kind)  # type: ignore[arg-type]
    assert len(found) == 1, anomalies.summary()
    return found[0]


def replace(table: pa.Table, name: str, values: object) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, pa.array(values))


# ---------------------------------------------------------------------------- the baseline


def test_infer_then_validate_the_same_data_finds_nothing() -> None:
    anomalies = validate(TRAIN, SCHEMA)
    assert list(anomalies) == [] and not anomalies and not anomalies.has_errors
    assert anomalies.environment == "TRAINING"  # the schema's default environment
    assert str(anomalies) == "no anomalies"


def test_new_data_from_the_same_distribution_finds_nothing() -> None:
    assert kinds(check(taxi(seed=2))) == []


@settings(max_examples=40, deadline=None)
@given(
    ints=st.lists(st.integers(-(10**12), 10**12) | st.none(), min_size=1, max_size=25),
    floats=st.lists(
        st.floats(allow_nan=True, allow_infinity=True) | st.none(), min_size=1, max_size=25
    ),
    words=st.lists(st.sampled_from(["a", "b", "7", "", "é"]) | st.none(), min_size=1, max_size=25),
)
def test_any_data_satisfies_the_schema_inferred_from_it(
    ints: list[int | None], floats: list[float | None], words: list[str | None]
) -> None:
    n = min(len(ints), len(floats), len(words))
    table = pa.table(
        {
            "i": pa.array(ints[:n], pa.int64()),
            "f": pa.array(floats[:n], pa.float64()),
            "w": words[:n],
        }
    )
    stats = compute_statistics(table)
    # all-null and mostly-numeric string columns are worth a warning even then
    assert [
        a for a in validate(stats, infer_schema(stats)) if a.kind not in ("all_null", "mixed_types")
    ] == []
    assert not validate(stats, infer_schema(stats)).has_errors


# ---------------------------------------------------------------------------- dataset level


def test_empty_dataset() -> None:
    anomalies = check(taxi().slice(0, 0))
    assert kinds(anomalies) == [(None, "empty_dataset")]
    assert anomalies.has_errors
    assert "no rows" in anomalies[0].description


def test_empty_dataset_still_reports_columns() -> None:
    table = pa.table({"trips": pa.array([], pa.string())})
    found = kinds(check(table))
    assert found[0] == (None, "empty_dataset")
    assert ("trips", "type_mismatch") in found and ("fare", "missing_column") in found


def test_too_few_examples() -> None:
    schema = Schema.from_yaml(SCHEMA.to_yaml().replace("min_examples: 1", "min_examples: 100"))
    small = check(taxi(n=20), schema)
    a = one(small, "too_few_examples")
    assert a.feature is None and a.severity == "error"
    assert (a.expected, a.actual) == (100, 20)
    assert "20 rows" in a.description and "100" in a.description
    assert not check(taxi(n=100), schema).of_kind("too_few_examples")


# ---------------------------------------------------------------------------- columns


def test_missing_column_names_it() -> None:
    anomalies = check(taxi().drop_columns(["fare"]))
    a = one(anomalies, "missing_column")
    assert a.feature == "fare" and a.severity == "error" and "'fare'" in a.description


def test_unexpected_column() -> None:
    anomalies = check(taxi().append_column("driver", pa.array(["x"] * 400)))
    a = one(anomalies, "unexpected_column")
    assert a.feature == "driver" and a.severity == "warning" and a.actual == "string"
    assert not anomalies.has_errors


def test_type_mismatch() -> None:
    table = replace(taxi(), "trips", np.linspace(1.0, 49.0, 400))  # float where int
    a = one(check(table), "type_mismatch")
    assert (a.feature, a.expected, a.actual) == ("trips", "int", "float")
    assert "'trips'" in a.description and "double" in a.description
    label_as_text = replace(taxi(), "label", ["yes"] * 400)
    assert one(check(label_as_text), "type_mismatch").feature == "label"


def test_int_data_satisfies_a_float_feature() -> None:
    table = replace(taxi(), "fare", np.arange(3, 403) % 70 + 3)
    assert not check(table).of_kind("type_mismatch")


def test_merged_partition_types() -> None:
    base = compute_statistics(pa.table({"x": pa.array([1, 2], pa.int64())}))
    other = compute_statistics(pa.table({"x": pa.array([1.5, 2.5], pa.float64())}))
    merged = base.merge(other)
    assert merged["x"].type == "double|int64"
    assert kinds(validate(merged, Schema({"x": FeatureSpec("x", "float")}))) == []
    assert kinds(validate(merged, Schema({"x": FeatureSpec("x", "int")}))) == [
        ("x", "type_mismatch")
    ]


# ---------------------------------------------------------------------------- presence


def test_presence_too_low_for_required_and_optional() -> None:
    table = replace(taxi(), "trips", [None if i % 10 == 0 else 5 for i in range(400)])
    a = one(check(table), "presence_too_low")
    assert a.feature == "trips" and a.severity == "error"
    assert a.fraction == pytest.approx(0.9) and a.count == 40 and a.expected == 1.0
    assert "90.0%" in a.description and "360 of 400" in a.description
    # tip is optional: 80% present, inferred presence 0.7
    assert SCHEMA["tip"].presence == pytest.approx(0.7)
    sparse = replace(taxi(), "tip", [None if i % 2 else 1.0 for i in range(400)])
    assert one(check(sparse), "presence_too_low").feature == "tip"
    assert not check(replace(taxi(), "tip", [None if i % 4 == 0 else 1.0 for i in range(400)]))


def test_all_null_column() -> None:
    anomalies = check(replace(taxi(), "payment", pa.nulls(400, pa.string())))
    a = one(anomalies, "all_null")
    assert a.feature == "payment" and a.severity == "error" and a.count == 400
    assert "'payment'" in a.description and "400 rows" in a.description
    assert not anomalies.of_kind("presence_too_low")  # one anomaly per cause
    # an all-null column of the Arrow null type: no type mismatch either
    assert kinds(check(replace(taxi(), "fare", pa.nulls(400)))) == [("fare", "all_null")]


def test_all_null_is_a_warning_where_presence_is_zero() -> None:
    schema = SCHEMA.replace_feature("tip", presence=0.0)
    a = one(check(replace(taxi(), "tip", pa.nulls(400, pa.float64())), schema), "all_null")
    assert a.severity == "warning"


# ---------------------------------------------------------------------------- values


def test_out_of_domain_with_examples_and_fraction() -> None:
    values = ["cash"] * 380 + ["bitcoin"] * 15 + ["iou"] * 5
    a = one(check(replace(taxi(), "payment", values)), "out_of_domain")
    assert a.feature == "payment" and a.severity == "error"
    assert a.examples == ("bitcoin", "iou")
    assert a.fraction == pytest.approx(20 / 400) and a.count == 20 and not a.approximate
    assert "'payment'" in a.description and "5.0%" in a.description and "'bitcoin'" in a.description
    assert not check(replace(taxi(), "payment", ["cash"] * 400)).of_kind("out_of_domain")


def test_out_of_domain_on_sketched_counts_is_approximate() -> None:
    n = MAX_EXACT + 500
    values = [f"new{i}" for i in range(n)] + ["cash"] * n
    table = pa.table({"payment": values})
    schema = Schema({"payment": FeatureSpec("payment", "string", domain=("cash", "card"))})
    stats = compute_statistics(table)
    assert not stats["payment"].distinct_is_exact
    a = one(validate(stats, schema), "out_of_domain")
    assert a.approximate and a.feature == "payment"
    assert "estimated" in a.description


def test_out_of_range_after_the_user_tightens_the_range() -> None:
    text = SCHEMA.to_yaml()
    before = text.split("  trips:\n")[1].split("\n  fare:")[0]
    assert "range: {min: 0, max: 54}" in before
    edited = Schema.from_yaml(
        text.replace("range: {min: 0, max: 54}", "range: {min: 0, max: 40}", 1)
    )
    assert not validate(TRAIN, SCHEMA).of_kind("out_of_range")
    a = one(validate(TRAIN, edited), "out_of_range")
    assert a.feature == "trips" and a.severity == "warning"
    assert a.expected == {"min": 0, "max": 40} and a.actual == {"min": 1, "max": 49}
    exact = sum(1 for v in taxi().column("trips").to_pylist() if v > 40)
    # 400 values put the KLL sketch (k=200) in estimation mode: within its rank error
    assert a.approximate == (TRAIN["trips"].sketch.rank_error > 0)  # type: ignore[attr-defined]
    assert abs(a.count - exact) <= 0.02 * 400 and a.fraction == a.count / 400
    assert "'trips'" in a.description and "[0, 40]" in a.description


def test_out_of_range_below_and_severity_override() -> None:
    schema = Schema.from_yaml(
        "features:\n  x:\n    type: float\n    range: {min: 0}\n"
        "    severity: {out_of_range: error}\n"
    )
    a = one(check(pa.table({"x": [-2.0, -1.0, 0.0, 1.0, 2.0]}), schema), "out_of_range")
    assert a.count == 2 and a.fraction == 0.4 and a.severity == "error"
    assert not a.approximate  # a sketch of few values is exact
    assert "2 of 5 finite values (40.0%)" in a.description
    assert not check(pa.table({"x": [0.0, 1.0]}), schema)


def test_out_of_range_on_a_large_column_is_estimated() -> None:
    values = np.arange(100_000, dtype=np.float64)
    schema = Schema({"x": FeatureSpec("x", "float", range=Range(0, 89_999))})
    a = one(check(pa.table({"x": values}), schema), "out_of_range")
    assert a.approximate and a.fraction == pytest.approx(0.1, abs=0.02)


def test_nan_and_inf_where_not_allowed() -> None:
    fares = [math.nan] * 4 + [math.inf] * 2 + [10.0] * 394
    anomalies = check(replace(taxi(), "fare", fares))
    nan, inf = one(anomalies, "nan_not_allowed"), one(anomalies, "inf_not_allowed")
    assert (nan.feature, nan.count, nan.fraction) == ("fare", 4, 4 / 400)
    assert (inf.feature, inf.count) == ("fare", 2)
    assert "4 NaN" in nan.description and "'fare'" in nan.description
    allowed = SCHEMA.replace_feature("fare", allow_nan=True, allow_inf=True)
    assert not check(replace(taxi(), "fare", fares), allowed)


# ---------------------------------------------------------------------------- mixed types


CSV = (
    "age,city\n" + "".join(f"{i % 90},c{i % 3}\n" for i in range(97)) + "N/A,c0\nunknown,c1\n?,c2\n"
)


def test_mixed_types_csv_column_against_a_numeric_schema() -> None:
    clean = compute_statistics(pacsv.read_csv(io.BytesIO(CSV.encode()[: CSV.index("N/A")])))
    schema = infer_schema(clean)
    assert schema["age"].type == "int"
    table = pacsv.read_csv(io.BytesIO(CSV.encode()))
    assert table.column("age").type == pa.string()  # what pyarrow does with such a column
    anomalies = check(table, schema)
    a = one(anomalies, "mixed_types")
    assert a.feature == "age" and a.severity == "error"
    assert set(a.examples) == {"N/A", "unknown", "?"}
    assert a.fraction == pytest.approx(0.03)
    assert "'age'" in a.description and "97.0%" in a.description
    assert not anomalies.of_kind("type_mismatch")  # the mixed types explain it


def test_mixed_types_warning_on_a_string_feature() -> None:
    table = pacsv.read_csv(io.BytesIO(CSV.encode()))
    schema = infer_schema(compute_statistics(table), max_domain_size=0)
    assert schema["age"].type == "string"
    a = one(check(table, schema), "mixed_types")
    assert a.feature == "age" and a.severity == "warning" and not a.approximate
    assert a.expected == "string" and a.actual == "string"


def test_mixed_python_types_in_a_pandas_column() -> None:
    import pandas as pd

    df = pd.DataFrame({"m": [1, "a", 2, None, "b"]})
    stats = compute_statistics(df)
    a = one(validate(stats, Schema({"m": FeatureSpec("m", "string")})), "mixed_types")
    assert a.feature == "m" and "mixes Python types int, str" in a.description
    assert set(a.examples) == {"a", "b"} and a.fraction == 0.5


def test_no_mixed_types_for_plain_or_all_numeric_strings() -> None:
    words = pa.table({"w": ["a", "b", "1"] * 10})
    assert not check(words, Schema({"w": FeatureSpec("w", "string")}))
    digits = pa.table({"zip": ["02134", "10001"] * 10})
    assert not check(digits, Schema({"zip": FeatureSpec("zip", "string")}))
    a = one(check(digits, Schema({"zip": FeatureSpec("zip", "int")})), "type_mismatch")
    assert "all of its values parse as numbers" in a.description


# ---------------------------------------------------------------------------- environments


def test_label_not_in_serving() -> None:
    serving = taxi().drop_columns(["label"])
    assert kinds(check(serving, environment="SERVING")) == []
    assert kinds(check(serving, environment="TRAINING")) == [("label", "missing_column")]
    assert kinds(check(serving)) == [("label", "missing_column")]  # default: TRAINING
    leaked = check(taxi(), environment="SERVING")
    a = one(leaked, "unexpected_column")
    assert a.feature == "label" and "SERVING" in a.description
    assert leaked.environment == "SERVING"


def test_feature_only_in_some_environments() -> None:
    schema = Schema(
        {
            "x": FeatureSpec("x", "int"),
            "request_id": FeatureSpec("request_id", "string", environments=("SERVING",)),
        },
        environments=("TRAINING", "SERVING"),
    )
    table = pa.table({"x": [1, 2]})
    assert kinds(check(table, schema, environment="TRAINING")) == []
    assert kinds(check(table, schema, environment="SERVING")) == [("request_id", "missing_column")]


def test_unknown_environment_is_an_error() -> None:
    with pytest.raises(SchemaError, match="SERVNG"):
        validate(TRAIN, SCHEMA, environment="SERVNG")


# ---------------------------------------------------------------------------- splits


def test_validate_one_split() -> None:
    table = taxi().append_column("split", pa.array(["train"] * 300 + ["eval"] * 100))
    stats = compute_statistics(table)
    schema = SCHEMA.replace_feature("payment", domain=("cash", "card"))
    whole = validate(stats, schema)
    eval_ = validate(stats, schema, split="eval")
    assert eval_.split == "eval" and whole.split is None
    vouchers = table.slice(300).column("payment").to_pylist().count("voucher")
    assert one(eval_, "out_of_domain").count == vouchers
    assert one(whole, "out_of_domain").count > one(eval_, "out_of_domain").count
    with pytest.raises(DataError, match="nope"):
        validate(stats, schema, split="nope")


# ---------------------------------------------------------------------------- the collection


def test_anomalies_collection_and_json_round_trip() -> None:
    table = replace(taxi(), "payment", ["cash"] * 390 + ["iou"] * 10)
    table = table.append_column("extra", pa.array([1] * 400))
    anomalies = check(table.drop_columns(["trips"]))
    assert kinds(anomalies) == [
        ("trips", "missing_column"),
        ("payment", "out_of_domain"),
        ("extra", "unexpected_column"),
    ]
    assert len(anomalies) == 3 and bool(anomalies)
    assert [a.kind for a in anomalies.errors] == ["missing_column", "out_of_domain"]
    assert [a.kind for a in anomalies.warnings] == ["unexpected_column"]
    assert anomalies.infos == [] and anomalies.has_errors
    assert [a.kind for a in anomalies.for_feature("payment")] == ["out_of_domain"]
    doc = json.loads(anomalies.to_json())
    assert doc["format"] == "mloop.anomalies" and doc["counts"] == {
        "error": 2,
        "warning": 1,
        "info": 0,
    }
    assert doc["anomalies"][1]["examples"] == ["iou"]
    assert Anomalies.from_json(anomalies.to_json()) == anomalies
    assert Anomalies.from_dict(anomalies.to_dict()) == anomalies
    summary = anomalies.summary()
    assert summary.splitlines()[0] == "3 anomalies (2 error, 1 warning)"
    assert summary.splitlines()[-1].startswith("  WARNING unexpected_column")


def test_raise_for_errors() -> None:
    anomalies = check(taxi().drop_columns(["fare"]))
    with pytest.raises(DataValidationError) as info:
        anomalies.raise_for_errors()
    err = info.value
    assert isinstance(err, MloopError) and isinstance(err, DataError)
    assert err.http_status == 422
    assert err.anomalies is anomalies
    assert "'fare'" in err.message
    assert err.to_dict()["anomalies"][0]["kind"] == "missing_column"
    warnings_only = check(taxi().append_column("extra", pa.array([1] * 400)))
    warnings_only.raise_for_errors()  # no error: no raise


def test_drift_and_skew_anomalies_fit_the_model() -> None:
    drift = Anomaly(
        "fare",
        "drift",
        SCHEMA.severity_of("drift", "fare"),
        "column 'fare' drifted",
        actual=0.3,
        expected=0.1,
    )
    skew = Anomaly("fare", "skew", "warning", "column 'fare' skewed")
    combined = Anomalies((*validate(TRAIN, SCHEMA), drift, skew))
    assert [a.kind for a in combined] == ["drift", "skew"] and combined.has_errors
    assert Anomalies.from_json(combined.to_json()) == combined
    with pytest.raises(DataError, match="unknown anomaly kind"):
        Anomaly("x", "exploded", "error", "boom")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="unknown severity"):
        Anomaly("x", "drift", "fatal", "boom")  # type: ignore[arg-type]


def test_statistics_built_by_hand() -> None:
    stats = DatasetStatistics(
        10,
        {"x": NumericStatistics("x", "double", count=8, missing=2, nan=1, min=0.0, max=5.0)},
    )
    schema = Schema(
        {
            "x": FeatureSpec("x", "float", presence=1.0, allow_nan=False),
            "y": FeatureSpec("y", "int"),
        }
    )
    assert kinds(validate(stats, schema)) == [
        ("x", "presence_too_low"),
        ("x", "nan_not_allowed"),
        ("y", "missing_column"),
    ]


# ---------------------------------------------------------------------------- real data


def test_flights_january_schema_against_july(flights: pa.Table) -> None:
    import pyarrow.compute as pc

    january = compute_statistics(flights.filter(pc.equal(flights["month"], 1)))
    july = compute_statistics(flights.filter(pc.equal(flights["month"], 7)))
    schema = Schema.from_yaml(infer_schema(january).to_yaml())
    assert schema["dep_time"].type == "int" and not schema["dep_time"].required
    assert schema["origin"].domain == ("EWR", "JFK", "LGA")
    assert schema["time_hour"].type == "timestamp"
    assert not validate(january, schema)
    anomalies = validate(july, schema)
    assert ("month", "out_of_range") in kinds(anomalies)
    dest = one(anomalies, "out_of_domain")
    assert dest.feature == "dest" and 0 < dest.fraction < 0.05 and len(dest.examples) == 5  # type: ignore[operator]
    assert [a.kind for a in anomalies.errors] == ["out_of_domain"]

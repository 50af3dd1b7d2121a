"""Schema inference, the model's own checks, and the YAML format (round trip, strictness)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mloop.data._errors import DataError
from mloop.data._model import DatasetStatistics
from mloop.data._schema import (
    DEFAULT_SEVERITY,
    DriftConfig,
    FeatureSpec,
    Range,
    Schema,
    SchemaError,
    infer_schema,
    logical_type,
)
from mloop.data._schema_yaml import load_schema, save_schema
from mloop.data._sketches import MAX_EXACT
from mloop.data._statistics import compute_statistics
from mloop.errors import MloopError


def stats_of(**columns: object) -> DatasetStatistics:
    return compute_statistics(pa.table(columns))


def taxi(n: int = 200) -> pa.Table:
    rng = np.random.default_rng(7)
    return pa.table(
        {
            "trips": rng.integers(1, 50, n),
            "fare": rng.uniform(2.5, 80.0, n),
            "tip": pa.array([None if i % 4 == 0 else float(i % 7) for i in range(n)]),
            "payment": rng.choice(["cash", "card", "voucher"], n),
            "tipped": rng.integers(0, 2, n).astype(bool),
        }
    )


# ---------------------------------------------------------------------------- types


@pytest.mark.parametrize(
    ("arrow", "logical"),
    [
        ("int64", "int"),
        ("uint8", "int"),
        ("double", "float"),
        ("halffloat", "float"),
        ("decimal128(10, 2)", "float"),
        ("string", "string"),
        ("large_string", "string"),
        ("dictionary<values=string, indices=int32, ordered=0>", "string"),
        ("mixed<int,str>", "string"),
        ("bool", "bool"),
        ("timestamp[us, tz=UTC]", "timestamp"),
        ("date32[day]", "date"),
        ("time64[us]", "time"),
        ("duration[s]", "duration"),
        ("list<item: int64>", "other"),
        ("null", None),
        ("int64|double", "float"),
        ("null|string", "string"),
        ("bool|string", "other"),
    ],
)
def test_logical_type_of_arrow_types(arrow: str, logical: str | None) -> None:
    assert logical_type(arrow) == logical


# ---------------------------------------------------------------------------- inference


def test_infer_types_presence_domain_and_nan_flags() -> None:
    schema = infer_schema(compute_statistics(taxi()))
    assert schema.names == ["trips", "fare", "tip", "payment", "tipped"]
    assert [schema[n].type for n in schema.names] == ["int", "float", "float", "string", "bool"]
    assert schema["trips"].required and schema["payment"].required
    # 75% present, minus the 0.1 slack, floored to two decimals
    assert schema["tip"].presence == pytest.approx(0.65)
    assert not schema["tip"].required
    assert schema["payment"].domain == ("card", "cash", "voucher")  # sorted: stable diffs
    assert schema["tipped"].domain is None
    assert schema["fare"].allow_nan is False and schema["fare"].allow_inf is False
    assert schema.min_examples == 1
    assert schema.environments == () and schema.default_environment is None


def test_nan_and_inf_seen_are_allowed() -> None:
    schema = infer_schema(stats_of(x=[1.0, math.nan, math.inf, 2.0]))
    assert schema["x"].allow_nan and schema["x"].allow_inf


def test_range_slack_rule() -> None:
    s = infer_schema(
        stats_of(
            count=[0, 10, 100],  # int, non-negative: stays >= 0, widened to integers
            temp=[-20.0, 5.0, 35.0],  # crosses zero: padded both ways
            price=[0.23, 5.0, 9.87],  # pad 0.964 -> rounded outward at 0.1
            debt=[-500.0, -100.0, -5.0],  # non-positive: stays <= 0
            const=[3, 3, 3],  # constant: slack times its magnitude
            zero=[0.0, 0.0, 0.0],
        )
    )
    assert s["count"].range == Range(0, 110)
    assert s["temp"].range == Range(-26.0, 41.0)  # pad 5.5, rounded outward at 1
    assert s["price"].range == Range(0.0, 10.9)
    assert s["debt"].range == Range(-550.0, 0.0)
    assert s["const"].range == Range(2, 4)
    assert s["zero"].range == Range(0.0, 0.1)
    assert isinstance(s["count"].range.min, int)


def test_range_slack_none_and_zero() -> None:
    stats = stats_of(x=[1.5, 2.5])
    assert infer_schema(stats, range_slack=None)["x"].range is None
    assert infer_schema(stats, range_slack=0)["x"].range == Range(1.5, 2.5)
    with pytest.raises(DataError, match="range_slack"):
        infer_schema(stats, range_slack=-1)


def test_domain_rules() -> None:
    n = 300
    stats = compute_statistics(
        pa.table(
            {
                "id": [f"id{i}" for i in range(n)],  # unique: not a closed list
                "many": [f"v{i % 150}" for i in range(n)],  # 150 > max_domain_size
                "few": [f"v{i % 5}" for i in range(n)],
            }
        )
    )
    schema = infer_schema(stats)
    assert schema["id"].domain is None
    assert schema["many"].domain is None
    assert schema["few"].domain == tuple(f"v{i}" for i in range(5))
    assert infer_schema(stats, max_domain_size=200)["many"].domain is not None
    assert infer_schema(stats, max_domain_size=0)["few"].domain is None


def test_sketched_categorical_gets_no_domain() -> None:
    n = MAX_EXACT + 100
    stats = stats_of(x=[f"v{i % n}" for i in range(2 * n)])
    assert not stats["x"].distinct_is_exact
    schema = infer_schema(stats, max_domain_size=10 * n)
    assert schema["x"].domain is None


def test_all_null_and_timestamp_columns() -> None:
    import datetime as dt

    schema = infer_schema(
        stats_of(
            nothing=pa.nulls(4),
            typed_nothing=pa.array([None] * 4, pa.string()),
            when=[dt.datetime(2024, 1, d) for d in range(1, 5)],
            day=[dt.date(2024, 1, d) for d in range(1, 5)],
        )
    )
    assert schema["nothing"].type == "any" and schema["nothing"].presence == 0.0
    assert schema["typed_nothing"].type == "string" and schema["typed_nothing"].domain is None
    assert schema["when"].type == "timestamp" and schema["when"].range is None
    assert schema["day"].type == "date"


def test_empty_dataset_cannot_be_inferred() -> None:
    with pytest.raises(DataError, match="empty dataset"):
        infer_schema(compute_statistics(taxi().slice(0, 0)))


def test_environments_and_not_in() -> None:
    stats = compute_statistics(taxi())
    schema = infer_schema(
        stats, environments=["TRAINING", "SERVING"], not_in={"tipped": ["SERVING"]}
    )
    assert schema.environments == ("TRAINING", "SERVING")
    assert schema.default_environment == "TRAINING"
    assert schema["tipped"].not_in == ("SERVING",)
    assert schema["tipped"].expected_in("TRAINING") and not schema["tipped"].expected_in("SERVING")
    # environments named only in not_in are declared too; a lone name is a list of one
    assert infer_schema(stats, not_in={"tipped": ["SERVING"]}).environments == ("SERVING",)
    assert infer_schema(stats, not_in={"tipped": "SERVING"})["tipped"].not_in == ("SERVING",)
    with pytest.raises(SchemaError, match="'nope'") as info:
        infer_schema(stats, not_in={"nope": ["SERVING"]})
    assert info.value.feature == "nope"


def test_expected_in_with_environments_list() -> None:
    spec = FeatureSpec("request_id", "string", environments=("SERVING",))
    assert spec.expected_in("SERVING")
    assert not spec.expected_in("TRAINING")
    assert not spec.expected_in(None)
    label = FeatureSpec("label", "bool", not_in=("SERVING",))
    assert label.expected_in(None) and label.expected_in("TRAINING")


# ---------------------------------------------------------------------------- model checks


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"type": "integer"}, "type"),
        ({"type": "int", "presence": 1.5}, "presence"),
        ({"type": "int", "presence": True}, "presence"),
        ({"type": "int", "domain": ("a",)}, "domain"),
        ({"type": "string", "range": Range(0, 1)}, "range"),
        ({"type": "int", "range": Range(5, 1)}, "range"),
        ({"type": "int", "severity": {"out_of_rnage": "error"}}, "severity"),
        ({"type": "int", "severity": {"out_of_range": "fatal"}}, "severity"),
    ],
)
def test_feature_spec_rejects_bad_values(kwargs: dict[str, object], key: str) -> None:
    with pytest.raises(SchemaError) as info:
        FeatureSpec("x", **kwargs)  # type: ignore[arg-type]
    assert info.value.feature == "x" and info.value.key == key
    assert "'x'" in str(info.value)


def test_schema_rejects_undeclared_environments_and_bad_min_examples() -> None:
    label = FeatureSpec("label", "bool", not_in=("SERVING",))
    with pytest.raises(SchemaError, match="not declared") as info:
        Schema({"label": label})
    assert info.value.feature == "label" and info.value.key == "not_in"
    with pytest.raises(SchemaError, match="default_environment"):
        Schema({}, environments=("A",), default_environment="B")
    with pytest.raises(SchemaError, match="min_examples"):
        Schema({}, min_examples=-1)
    with pytest.raises(SchemaError, match="named"):
        Schema({"a": FeatureSpec("b", "int")})
    with pytest.raises(SchemaError, match="'zzz'"):
        Schema({})["zzz"]


def test_schema_errors_are_data_errors_with_status_400() -> None:
    assert issubclass(SchemaError, DataError) and issubclass(SchemaError, MloopError)
    assert SchemaError.http_status == 400


def test_replace_feature_and_severity_precedence() -> None:
    schema = Schema(
        {"x": FeatureSpec("x", "int"), "y": FeatureSpec("y", "int")},
        severity={"out_of_range": "error"},
    )
    assert schema.severity_of("out_of_range", "x") == "error"
    assert schema.severity_of("out_of_domain", "x") == DEFAULT_SEVERITY["out_of_domain"]
    assert schema.severity_of("all_null", "x", "warning") == "warning"
    changed = schema.replace_feature("x", severity={"out_of_range": "info"}, presence=1.0)
    assert changed.severity_of("out_of_range", "x") == "info"
    assert changed.severity_of("out_of_range", "y") == "error"
    assert changed["x"].required and not schema["x"].required  # the original is unchanged


# ---------------------------------------------------------------------------- YAML


def full_schema() -> Schema:
    return Schema(
        {
            "age": FeatureSpec("age", "int", presence=1.0, range=Range(0, 120)),
            "fare": FeatureSpec(
                "fare",
                "float",
                presence=0.85,
                range=Range(min=0.0),
                allow_nan=True,
                allow_inf=False,
                drift=DriftConfig("js", 0.1),
                skew=DriftConfig("linf", 0.05),
                severity={"out_of_range": "error"},
                description="fare in USD: what the meter said",
            ),
            "answer": FeatureSpec("answer", "string", domain=("yes", "no", "1", "null", "é: x")),
            "weird: name": FeatureSpec("weird: name", "any"),
            "label": FeatureSpec("label", "bool", presence=1.0, not_in=("SERVING",)),
            "request_id": FeatureSpec("request_id", "string", environments=("SERVING",)),
        },
        min_examples=10,
        environments=("TRAINING", "SERVING"),
        default_environment="TRAINING",
        severity={"unexpected_column": "error"},
    )


def test_yaml_round_trip_is_exact_and_stable() -> None:
    schema = full_schema()
    text = schema.to_yaml()
    assert Schema.from_yaml(text) == schema
    assert Schema.from_yaml(text).to_yaml() == text
    assert Schema.from_dict(schema.to_dict()) == schema


def test_yaml_is_readable() -> None:
    text = full_schema().to_yaml()
    assert text.startswith("# mloop data schema")
    body = [line for line in text.splitlines() if not line.startswith("#")]
    assert body[:5] == [
        "format: mloop.schema",
        "version: 1",
        "min_examples: 10",
        "environments: [TRAINING, SERVING]",
        "default_environment: TRAINING",
    ]
    assert "  age:\n    type: int\n    required: true\n    range: {min: 0, max: 120}\n" in text
    assert "    not_in: [SERVING]\n" in text
    assert "    drift: {metric: js, threshold: 0.1}\n" in text
    assert "    - 'yes'\n" in text  # quoted, so it reads back as a string, not true
    assert "    presence: 0.85\n" in text


def test_inferred_schema_round_trips(tmp_path: Path) -> None:
    schema = infer_schema(
        compute_statistics(taxi()),
        environments=["TRAINING", "SERVING"],
        not_in={"tipped": ["SERVING"]},
    )
    path = save_schema(schema, tmp_path / "sub" / "schema.yaml")
    assert path.exists() and not list(path.parent.glob(".schema.yaml.*"))
    assert load_schema(path) == schema


def test_user_edits_are_read(tmp_path: Path) -> None:
    schema = infer_schema(compute_statistics(taxi()))
    text = schema.to_yaml().replace(
        "    required: true\n    range: {min: 0, max: 54}",
        "    required: true\n    range: {min: 5, max: 20}",
    )
    assert "min: 5, max: 20" in text
    edited = Schema.from_yaml(text)
    assert edited["trips"].range == Range(5, 20)
    minimal = Schema.from_yaml(
        "features:\n  a: {type: int, required: true}\n  b:\n    type: string\n    domain: [x, 7]\n"
    )
    assert minimal["a"].required and minimal["b"].domain == ("x", "7")
    assert minimal.min_examples == 1
    assert Schema.from_yaml("features:\n  a: {type: float, presence: 1}\n")["a"].required


@pytest.mark.parametrize(
    ("text", "feature", "key", "message"),
    [
        (
            "features:\n  age: {type: int, rnage: {min: 0}}\n",
            "age",
            "rnage",
            "did you mean 'range'",
        ),
        ("features:\n  age: {type: int, range: {mn: 0}}\n", "age", "mn", "did you mean 'min'"),
        ("featurs:\n  age: {type: int}\n", None, "featurs", "did you mean 'features'"),
        (
            "features:\n  a: {type: int, drift: {metric: js, treshold: 1}}\n",
            "a",
            "treshold",
            "unknown key",
        ),
        (
            "features:\n  a: {type: int, not_in: [SERVNG]}\nenvironments: [SERVING]\n",
            "a",
            "not_in",
            "SERVNG",
        ),
        ("features:\n  a: {type: integer}\n", "a", "type", "unknown type 'integer'"),
        ("features:\n  a: {required: true}\n", "a", "type", "'type' is required"),
        (
            "features:\n  a: {type: int, presence: high}\n",
            "a",
            "presence",
            "must be a finite number",
        ),
        ("features:\n  a: {type: int, presence: 2}\n", "a", "presence", "fraction"),
        ("features:\n  a: {type: int, required: yes please}\n", "a", "required", "true or false"),
        (
            "features:\n  a: {type: int, required: false, presence: 1.0}\n",
            "a",
            "required",
            "contradicts",
        ),
        ("features:\n  a: {type: int, range: {min: 9, max: 1}}\n", "a", "range", "above max"),
        ("features:\n  a: {type: int, range: {min: .nan}}\n", "a", "range.min", "finite number"),
        ("features:\n  a: {type: string, domain: [x, yes]}\n", "a", "domain", "quote it"),
        ("features:\n  a: {type: string, domain: x}\n", "a", "domain", "must be a list"),
        ("features:\n  a: {type: int, domain: [x]}\n", "a", "domain", "string features"),
        ("features:\n  a: {type: int, allow_nan: 0}\n", "a", "allow_nan", "true or false"),
        (
            "features:\n  a: {type: int, drift: {metric: jss, threshold: 1}}\n",
            "a",
            "drift",
            "did you mean 'js'",
        ),
        ("features:\n  a: {type: int, drift: {metric: js, threshold: -1}}\n", "a", "drift", ">= 0"),
        (
            "features:\n  a: {type: int, severity: {out_of_range: fatal}}\n",
            "a",
            "severity",
            "fatal",
        ),
        ("features:\n  a: [int]\n", "a", "a feature", "mapping"),
        ("features:\n  a: {type: int, description: [1]}\n", "a", "description", "text"),
        ("features: {}\nmin_examples: many\n", None, "min_examples", "integer"),
        ("features: {}\ndefault_environment: X\n", None, "default_environment", "not declared"),
        ("format: mloop.statistics\n", None, "format", "not a schema"),
        ("version: 2\n", None, "version", "not supported"),
        ("", None, None, "empty"),
        ("- a\n- b\n", None, "the document", "mapping"),
    ],
)
def test_yaml_errors_name_the_feature_and_key(
    text: str, feature: str | None, key: str | None, message: str
) -> None:
    with pytest.raises(SchemaError, match=message) as info:
        Schema.from_yaml(text)
    assert info.value.feature == feature
    assert info.value.key == key
    if feature is not None:
        assert repr(feature) in str(info.value)


def test_invalid_yaml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="not valid YAML"):
        Schema.from_yaml("features: {a: [\n")
    with pytest.raises(SchemaError, match="cannot read"):
        load_schema(tmp_path / "nope.yaml")
    bad = tmp_path / "schema.yaml"
    bad.write_text("features:\n  a: {type: int, rnage: {}}\n")
    with pytest.raises(SchemaError, match=r"schema\.yaml: schema feature 'a': unknown key") as info:
        load_schema(bad)
    assert info.value.feature == "a" and info.value.key == "rnage"
    assert info.value.to_dict()["column"] == "a"


# ---------------------------------------------------------------------------- properties


@settings(max_examples=40, deadline=None)
@given(
    floats=st.lists(
        st.floats(allow_nan=True, allow_infinity=True, width=64) | st.none(),
        min_size=1,
        max_size=30,
    ),
    words=st.lists(
        st.sampled_from(["a", "b", "yes", "1", "é", ""]) | st.none(), min_size=1, max_size=30
    ),
)
def test_inferred_schema_round_trips_through_yaml(
    floats: list[float | None], words: list[str | None]
) -> None:
    n = min(len(floats), len(words))
    stats = compute_statistics(pa.table({"f": pa.array(floats[:n], pa.float64()), "w": words[:n]}))
    schema = infer_schema(stats)
    assert Schema.from_yaml(schema.to_yaml()) == schema
    rng = schema["f"].range
    finite = [x for x in floats[:n] if x is not None and math.isfinite(x)]
    if rng is not None:  # a side is open only when padding passes the largest float
        assert rng.min is None or rng.min <= min(finite)
        assert rng.max is None or rng.max >= max(finite)

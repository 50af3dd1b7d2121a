"""Transforms: fitted on training rows, applied the same way anywhere, exact as JSON."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mloop.errors import ConfigError, DataError, DefinitionError
from mloop.ml import FittedTransform, Transform


@pytest.fixture
def rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "distance": [100.0, 200.0, np.nan, 400.0, 500.0],
            "dep_hour": [5, 7, 9, 11, 13],
            "carrier": ["AA", "AA", "UA", None, "DL"],
            "month": [3, 1, 12, 1, 3],
            "flag": [True, False, True, True, False],
        }
    )


def test_fit_and_apply_give_stable_float_columns(rows: pd.DataFrame) -> None:
    fitted = Transform(
        numeric=["distance", "dep_hour", "flag"],
        categorical=["carrier"],
        ordinal=["month"],
    ).fit(rows)
    assert fitted.input_columns == ["distance", "dep_hour", "flag", "carrier", "month"]
    assert fitted.output_columns == [
        "distance",
        "dep_hour",
        "flag",
        "carrier=AA",
        "carrier=DL",
        "carrier=UA",
        "carrier=__other__",
        "carrier=__missing__",
        "month",
    ]
    out = fitted.apply(rows)
    assert list(out.columns) == fitted.output_columns
    assert (out.dtypes == np.float64).all()
    # standard scaling after median imputation (the median of 100, 200, 400, 500 is 300)
    filled = np.array([100.0, 200.0, 300.0, 400.0, 500.0])
    np.testing.assert_allclose(out["distance"], (filled - filled.mean()) / filled.std())
    np.testing.assert_allclose(out["flag"].mean(), 0.0, atol=1e-12)
    assert out["carrier=AA"].tolist() == [1, 1, 0, 0, 0]
    assert out["carrier=__missing__"].tolist() == [0, 0, 0, 1, 0]
    assert out["month"].tolist() == [1, 0, 2, 0, 1]  # codes of the sorted values 1, 3, 12
    # row order and index follow the input, whatever order it comes in
    shuffled = rows.iloc[[4, 2, 0]]
    pd.testing.assert_frame_equal(fitted.apply(shuffled), out.iloc[[4, 2, 0]])


def test_unseen_categories_and_top_categories_go_to_other(rows: pd.DataFrame) -> None:
    fitted = Transform(categorical=["carrier"], ordinal=["month"], max_categories=1).fit(rows)
    assert fitted.output_columns == [
        "carrier=AA",
        "carrier=__other__",
        "carrier=__missing__",
        "month",
    ]
    new = pd.DataFrame({"carrier": ["ZZ", "AA", "DL", None], "month": [7, 12, 1, None]})
    out = fitted.apply(new)
    assert out["carrier=AA"].tolist() == [0, 1, 0, 0]
    assert out["carrier=__other__"].tolist() == [1, 0, 1, 0]
    assert out["carrier=__missing__"].tolist() == [0, 0, 0, 1]
    assert out["month"].tolist() == [-1, 2, 0, -1]  # unseen and missing are -1


def test_imputation_strategies(rows: pd.DataFrame) -> None:
    fitted = Transform(
        numeric=["distance"],
        categorical=["carrier"],
        ordinal=["month"],
        impute={"distance": 0.0, "carrier": "most_frequent", "month": 3},
        scale=None,
    ).fit(rows)
    assert "carrier=__missing__" not in fitted.output_columns
    out = fitted.apply(pd.DataFrame({"distance": [None], "carrier": [None], "month": [None]}))
    assert out.iloc[0].to_dict() == {
        "distance": 0.0,
        "carrier=AA": 1.0,
        "carrier=DL": 0.0,
        "carrier=UA": 0.0,
        "carrier=__other__": 0.0,
        "month": 1.0,
    }
    mean = Transform(numeric=["distance"], impute={"distance": "mean"}, scale="minmax").fit(rows)
    scaled = mean.apply(pd.DataFrame({"distance": [None, 100.0, 500.0]}))["distance"]
    np.testing.assert_allclose(scaled, [0.5, 0.0, 1.0])


def test_json_round_trip_gives_identical_outputs(rows: pd.DataFrame) -> None:
    fitted = Transform(
        numeric=["distance", "dep_hour"],
        categorical=["carrier"],
        ordinal=["month"],
        passthrough=["flag"],
        impute={"carrier": "UNKNOWN"},
    ).fit(rows)
    document = json.loads(json.dumps(fitted.to_dict()))
    again = FittedTransform.from_dict(document)
    assert again == fitted
    assert again.to_dict() == fitted.to_dict()
    new = rows.assign(carrier=["UA", None, "XX", "AA", "DL"], distance=[1.5, None, 3.0, 4.0, 1e9])
    pd.testing.assert_frame_equal(again.apply(new), fitted.apply(new), check_exact=True)


def test_arrow_tables_and_pandas_give_the_same_features(rows: pd.DataFrame) -> None:
    fitted = Transform(numeric=["distance", "flag"], categorical=["carrier"]).fit(rows)
    table = pa.Table.from_pandas(rows, preserve_index=False)
    pd.testing.assert_frame_equal(fitted.apply(table), fitted.apply(rows))
    # integer categories read as floats (an int column with a null) keep their identity
    codes = Transform(categorical=["month"]).fit(rows)
    floats = codes.apply(pd.DataFrame({"month": [1.0, None, 12.0]}))
    assert floats["month=1"].tolist() == [1, 0, 0]
    assert floats["month=12"].tolist() == [0, 0, 1]


def test_user_function_by_reference() -> None:
    raw = pd.DataFrame(
        {"dep_time": [517, 1342, 2359], "distance": [100.0, 200.0, 300.0], "other": [1, 2, 3]}
    )
    spec = Transform(
        numeric=["hour", "km"], functions=["_flight_features:add_features"], scale=None
    )
    fitted = spec.fit(raw)
    # the raw columns the function reads are the inputs; unrelated columns are not
    assert fitted.input_columns == ["dep_time", "distance"]
    assert fitted.functions == ["_flight_features:add_features"]
    again = FittedTransform.from_dict(json.loads(json.dumps(fitted.to_dict())))
    out = again.apply(raw[["dep_time", "distance"]])
    assert out["hour"].tolist() == [5.0, 13.0, 23.0]
    np.testing.assert_allclose(out["km"], [160.9, 321.8, 482.7])


def test_unimportable_function_is_a_definition_error_naming_it() -> None:
    raw = pd.DataFrame({"x": [1.0, 2.0]})
    with pytest.raises(DefinitionError, match="no_such_module_xyz:f"):
        Transform(numeric=["x"], functions=["no_such_module_xyz:f"]).fit(raw)
    with pytest.raises(DefinitionError, match="has no attribute 'missing'"):
        Transform(numeric=["x"], functions=["_flight_features:missing"]).fit(raw)
    with pytest.raises(DefinitionError, match="must return a pandas DataFrame"):
        Transform(numeric=["x"], functions=["_flight_features:not_a_frame"]).fit(raw)


def test_a_function_missing_its_column_names_it() -> None:
    fitted = Transform(numeric=["hour"], functions=["_flight_features:add_features"]).fit(
        pd.DataFrame({"dep_time": [500, 600], "distance": [1.0, 2.0]})
    )
    with pytest.raises(DataError) as info:
        fitted.apply(pd.DataFrame({"distance": [1.0]}))
    assert info.value.column == "dep_time"
    assert "columns present: distance" in str(info.value)


def test_missing_column_is_a_data_error_naming_it_and_the_columns_present(
    rows: pd.DataFrame,
) -> None:
    fitted = Transform(numeric=["distance"], categorical=["carrier"]).fit(rows)
    with pytest.raises(DataError) as info:
        fitted.apply(rows.drop(columns=["carrier"]))
    assert info.value.column == "carrier"
    assert "'carrier' is missing" in str(info.value)
    assert "distance, dep_hour, month, flag" in str(info.value)
    with pytest.raises(DataError, match="'nope' is missing"):
        Transform(numeric=["nope"]).fit(rows)


def test_text_in_a_numeric_column_names_the_column_and_its_type(rows: pd.DataFrame) -> None:
    with pytest.raises(DataError) as info:
        Transform(numeric=["carrier"]).fit(rows)
    assert info.value.column == "carrier"
    assert "listed as numeric" in str(info.value) and "string" in str(info.value)
    fitted = Transform(numeric=["distance"]).fit(rows)
    with pytest.raises(DataError, match="'distance' is listed as numeric but has type str"):
        fitted.apply(pd.DataFrame({"distance": ["far", "near"]}))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"numeric": ["a"], "categorical": ["a"]}, "both numeric and categorical"),
        ({}, "at least one"),
        ({"numeric": ["a"], "scale": "log"}, "scale must be"),
        ({"numeric": ["a"], "max_categories": 0}, "at least 1"),
        ({"numeric": ["a"], "impute": {"b": 0}}, "impute names column 'b'"),
        ({"categorical": ["a"], "impute": {"a": "median"}}, "'most_frequent' or a constant"),
        ({"numeric": ["a"], "impute": {"a": "mode"}}, "'median', 'mean'"),
        ({"numeric": "a"}, "list of column names"),
    ],
)
def test_bad_configuration_is_a_config_error(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Transform(**kwargs)  # type: ignore[arg-type]


def test_unknown_format_version_is_refused(rows: pd.DataFrame) -> None:
    document = Transform(numeric=["distance"]).fit(rows).to_dict()
    with pytest.raises(ConfigError, match=r"mloop\.transform/v9"):
        FittedTransform.from_dict({**document, "format": "mloop.transform/v9"})


def test_a_million_rows_apply_in_seconds() -> None:
    import time

    rng = np.random.default_rng(1)
    n = 1_000_000
    columns: dict[str, object] = {f"n{i}": rng.normal(size=n) for i in range(14)}
    columns |= {f"c{i}": rng.choice([f"v{j}" for j in range(10)], n) for i in range(4)}
    columns |= {"o1": rng.integers(0, 12, n), "o2": rng.integers(0, 5, n)}
    big = pd.DataFrame(columns)
    spec = Transform(
        numeric=[f"n{i}" for i in range(14)],
        categorical=[f"c{i}" for i in range(4)],
        ordinal=["o1", "o2"],
    )
    started = time.perf_counter()
    out = spec.fit(big).apply(big)
    elapsed = time.perf_counter() - started
    assert out.shape == (n, 14 + 4 * (10 + 2) + 2)
    assert elapsed < 5.0, f"fit + apply of 1M x 20 took {elapsed:.1f} s"

"""The fast path of small requests (mloop.ml._rows) against the general (pandas) path.

For any rows of JSON-like values, a model must predict exactly what it predicts for the same
rows as a DataFrame (``as_frame``, the general path's conversion), and fail with the same
error; for plain rows the fast path must be the
one taken (else these tests would pass with a fast path that never answers).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mloop.ml import PackagedModel, Signature, Transform
from mloop.ml._rows import RowPath
from mloop.ml._tables import as_frame

COLUMNS = ("n_int", "n_float", "flag", "c_str", "c_int", "o_str", "p_num")


def _training() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 300
    return pd.DataFrame(
        {
            "n_int": rng.integers(0, 50, n),
            "n_float": np.where(rng.random(n) < 0.1, np.nan, rng.normal(10, 3, n)),
            "flag": rng.random(n) < 0.3,
            "c_str": rng.choice(["AA", "UA", "DL", "B6", "WN"], n),
            "c_int": rng.choice([1, 2, 3, 12], n),
            "o_str": rng.choice(["low", "mid", "high"], n),
            "p_num": rng.normal(0, 1, n),
        }
    )


def _model(impute: bool, scale: str | None) -> PackagedModel:
    from sklearn.linear_model import LogisticRegression

    frame = _training()
    fitted = Transform(
        numeric=["n_int", "n_float", "flag"],
        categorical=["c_str", "c_int"],
        ordinal=["o_str"],
        passthrough=["p_num"],
        impute={"c_str": "most_frequent", "o_str": "mid"} if impute else {"n_float": "mean"},
        scale=scale,
        max_categories=3,
    ).fit(frame)
    X = fitted.apply(frame).fillna(0.0)
    y = (frame["n_int"] > 25).astype(int)
    estimator = LogisticRegression(max_iter=200).fit(X, y)
    return PackagedModel(estimator, transform=fitted, signature=Signature.infer(frame), target="y")


MODELS = {
    "impute-standard": _model(True, "standard"),
    "plain-minmax": _model(False, "minmax"),
    "none": _model(False, None),
}

# What a JSON body can hold for each column: usually the right kind, sometimes not.
_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**60), 2**60),
    st.integers(-5, 60),
    st.floats(allow_nan=True, allow_infinity=False, width=64),
    st.sampled_from(["AA", "UA", "DL", "ZZ", "low", "high", "", "1", "12"]),
)
_RIGHT = {
    "n_int": st.one_of(st.integers(0, 60), st.none()),
    "n_float": st.one_of(st.floats(-1e6, 1e6), st.integers(-100, 100), st.none()),
    "flag": st.one_of(st.booleans(), st.none()),
    "c_str": st.one_of(st.sampled_from(["AA", "UA", "DL", "B6", "XX"]), st.none()),
    "c_int": st.one_of(st.sampled_from([1, 2, 3, 12, 99]), st.none()),
    "o_str": st.one_of(st.sampled_from(["low", "mid", "high", "unseen"]), st.none()),
    "p_num": st.one_of(st.floats(-10, 10), st.none()),
}


@st.composite
def _rows(draw: Any, plain: bool) -> list[dict[str, Any]]:
    count = draw(st.integers(1, 12))
    rows = []
    for _ in range(count):
        row: dict[str, Any] = {}
        for name in COLUMNS:
            if not plain and draw(st.integers(0, 9)) == 0:
                continue  # the key is absent from this row
            wrong = not plain and draw(st.integers(0, 5)) == 0
            row[name] = draw(_VALUE if wrong else _RIGHT[name])
        if not plain and draw(st.booleans()):
            row["extra"] = draw(_VALUE)  # ignored by both paths
        rows.append(row)
    return rows


def _outcome(model: PackagedModel, data: Any) -> tuple[str, Any]:
    try:
        return "ok", model.predict_proba(data)
    except Exception as exc:
        return type(exc).__name__, str(exc)


def _same(a: tuple[str, Any], b: tuple[str, Any]) -> None:
    assert a[0] == b[0], (a, b)
    if a[0] == "ok":
        np.testing.assert_array_equal(a[1], b[1])
    else:
        assert a[1] == b[1]


@pytest.mark.parametrize("name", sorted(MODELS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=_rows(plain=True))
def test_plain_rows_take_the_fast_path_and_match_the_frame_path(
    name: str, rows: list[dict[str, Any]]
) -> None:
    model = MODELS[name]
    assert model.transform is not None
    path = RowPath.build(model.signature, model.transform, model.feature_columns)
    assert path is not None
    fast = path.matrix(rows)
    assert fast is not None, rows  # plain rows are the fast path's to answer
    frame = as_frame(rows)
    model.signature.check(frame)  # type: ignore[union-attr]
    np.testing.assert_array_equal(fast, model.transform.matrix(frame))
    _same(_outcome(model, rows), _outcome(model, frame))


@pytest.mark.parametrize("name", sorted(MODELS))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=_rows(plain=False))
def test_any_rows_give_the_frame_paths_answer_or_error(
    name: str, rows: list[dict[str, Any]]
) -> None:
    model = MODELS[name]
    fast, general = _outcome(model, rows), _outcome(model, as_frame(rows))
    assert fast[0] == general[0], (fast, general)  # both answer, or both fail alike
    _same(fast, general)


def test_the_fast_path_leaves_unusual_rows_to_the_general_path() -> None:
    model = MODELS["impute-standard"]
    path = RowPath.build(model.signature, model.transform, model.feature_columns)
    assert path is not None
    good = {"n_int": 3, "n_float": 1.5, "flag": True, "c_str": "AA", "c_int": 2,
            "o_str": "low", "p_num": 0.1}  # fmt: skip
    assert path.matrix([good]) is not None
    for change in (
        {"n_int": 3.0},  # a whole float is a fine int64, but for check() to say
        {"n_float": "1.5"},  # text in a number column: check() names it
        {"c_str": 7},  # a number where text was trained: check() names it
        {"c_int": 2.5},  # a float beside int categories
        {"flag": 1},  # an int in a boolean column
    ):
        assert path.matrix([{**good, **change}]) is None, change
    without = {k: v for k, v in good.items() if k != "o_str"}
    assert path.matrix([without]) is None  # missing everywhere: check() says "missing"
    assert path.matrix([{**good, "o_str": None}]) is not None  # present but null: imputed
    assert path.matrix([good, "not a row"]) is None
    assert path.matrix([]) is None
    assert path.matrix(pd.DataFrame([good])) is None  # frames take the columnar path
    with pytest.raises(Exception, match="column 'o_str': missing"):
        model.predict([without])


def test_the_fast_path_keeps_the_models_feature_order() -> None:
    import lightgbm as lgb

    frame = _training()
    fitted = Transform(numeric=["n_int", "n_float"], categorical=["c_str"]).fit(frame)
    X = fitted.apply(frame)
    order = list(reversed(fitted.output_columns))
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "min_data_in_leaf": 5},
        lgb.Dataset(X[order], label=(frame["n_int"] > 25).astype(int)),
        num_boost_round=5,
    )
    model = PackagedModel(booster, transform=fitted, feature_columns=order)
    rows = frame[["n_int", "n_float", "c_str"]].head(5)
    records = [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
        for r in rows.astype(object).to_dict("records")
    ]
    np.testing.assert_array_equal(model.predict_scores(records), booster.predict(X[order].head(5)))
    np.testing.assert_array_equal(model.predict_scores(rows), booster.predict(X[order].head(5)))

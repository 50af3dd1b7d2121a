"""compute_statistics against numpy/pandas on raw data, per split, inputs and bad input."""

from __future__ import annotations

import datetime as dt
import decimal
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import mloop.data
from mloop.data import (
    CategoricalStatistics,
    DataError,
    DatasetStatistics,
    NumericStatistics,
    OtherStatistics,
    TimestampStatistics,
    compute_statistics,
    merge_statistics,
)
from mloop.data._sketches import MAX_EXACT
from mloop.errors import MloopError


def rank_of(values: np.ndarray, x: float) -> tuple[float, float]:
    """The normalized ranks [P(X < x), P(X <= x)] of x among values."""
    s = np.sort(values)
    return np.searchsorted(s, x, "left") / len(s), np.searchsorted(s, x, "right") / len(s)


def assert_quantiles_within_error(stats: NumericStatistics, values: np.ndarray) -> None:
    eps = max(stats.sketch.rank_error, 1e-12) * 1.5
    for q in np.linspace(0.0, 1.0, 21):
        lo, hi = rank_of(values, stats.quantile(q))
        assert lo - eps <= q <= hi + eps, (q, lo, hi, eps)


def test_public_api_is_sorted_and_present() -> None:
    assert list(mloop.data.__all__) == sorted(mloop.data.__all__)
    for name in mloop.data.__all__:
        assert hasattr(mloop.data, name), name


def test_numeric_agrees_with_numpy() -> None:
    rng = np.random.default_rng(0)
    x = rng.lognormal(size=200_000)
    i = rng.integers(-50, 50, 200_000)
    stats = compute_statistics(pa.table({"x": x, "i": i}), batch_size=30_000)
    sx, si = stats["x"], stats["i"]
    assert isinstance(sx, NumericStatistics) and isinstance(si, NumericStatistics)
    assert (sx.count, sx.missing, sx.nan, sx.inf, sx.finite) == (200_000, 0, 0, 0, 200_000)
    assert sx.mean == pytest.approx(x.mean(), rel=1e-12)
    assert sx.std == pytest.approx(x.std(), rel=1e-10)
    assert (sx.min, sx.max) == (x.min(), x.max())
    assert (si.min, si.max) == (int(i.min()), int(i.max()))
    assert isinstance(si.min, int)
    assert si.zeros == int((i == 0).sum())
    assert si.std == pytest.approx(pd.Series(i).std(ddof=0), rel=1e-10)
    assert_quantiles_within_error(sx, x)
    assert_quantiles_within_error(si, i.astype(float))
    assert 0 < sx.sketch.rank_error < 0.02


def test_nan_inf_and_nulls_are_counted_apart() -> None:
    arr = pa.array([1.0, math.nan, math.inf, -math.inf, 0.0, None, 3.0, -0.0])
    s = compute_statistics(pa.table({"x": arr}))["x"]
    assert isinstance(s, NumericStatistics)
    assert (s.count, s.missing, s.nan, s.inf, s.zeros, s.finite) == (7, 1, 1, 2, 2, 4)
    assert s.mean == pytest.approx(1.0)
    assert (s.min, s.max) == (0.0, 3.0)
    assert s.num_rows == 8 and s.missing_ratio == pytest.approx(1 / 8)


def test_histograms_from_the_sketch() -> None:
    x = np.arange(1000, dtype=float)
    s = compute_statistics(pa.table({"x": x}))["x"]
    assert isinstance(s, NumericStatistics)
    edges, counts = s.histogram(4)
    assert edges.tolist() == pytest.approx([0, 249.75, 499.5, 749.25, 999])
    assert counts.sum() == pytest.approx(1000)
    assert counts == pytest.approx([250, 250, 250, 250], abs=1000 * 0.02)
    q_edges, q_counts = s.histogram(5, kind="quantile")
    assert len(q_edges) == 6 and q_counts.sum() == pytest.approx(1000)
    assert q_counts == pytest.approx([200] * 5, abs=1000 * 0.03)
    const = compute_statistics(pa.table({"c": [2.0] * 10}))["c"]
    assert isinstance(const, NumericStatistics)
    assert [a.tolist() for a in const.histogram(3)] == [[2.0, 2.0], [10.0]]
    with pytest.raises(DataError):
        s.histogram(0)


def test_categorical_counts_lengths_and_top() -> None:
    values = ["a"] * 50 + ["bb"] * 30 + ["ccc"] * 20 + [None] * 5
    s = compute_statistics(pa.table({"c": values}), batch_size=7)["c"]
    assert isinstance(s, CategoricalStatistics)
    assert (s.count, s.missing, s.distinct, s.distinct_is_exact) == (100, 5, 3, True)
    assert s.top(2) == [("a", 50), ("bb", 30)]
    assert s.avg_length == pytest.approx((50 + 60 + 60) / 100)
    assert s.frequencies() == {"a": 0.5, "bb": 0.3, "ccc": 0.2}


def test_booleans_and_dictionaries_are_categorical() -> None:
    table = pa.table(
        {
            "flag": pa.array([True, False, True, None]),
            "dict": pa.array(["x", "y", "x", None]).dictionary_encode(),
            "unicode": pa.array(["żółw", "日本", "żółw", "a"]),
        }
    )
    stats = compute_statistics(table)
    assert stats["flag"].kind == "categorical"
    assert stats["flag"].top() == [("true", 2), ("false", 1)]  # type: ignore[attr-defined]
    assert stats["dict"].top() == [("x", 2), ("y", 1)]  # type: ignore[attr-defined]
    assert stats["unicode"].avg_length == pytest.approx(11 / 4)  # type: ignore[attr-defined]


def test_high_cardinality_switches_to_sketches() -> None:
    rng = np.random.default_rng(1)
    n = 60_000
    heavy = np.array(["hot"] * 6000 + ["warm"] * 3000)
    tail = np.char.add("id", rng.permutation(n - len(heavy)).astype(str))
    values = rng.permutation(np.concatenate([heavy, tail]))
    s = compute_statistics(pa.table({"u": values}), batch_size=8192)["u"]
    assert isinstance(s, CategoricalStatistics)
    assert not s.distinct_is_exact
    assert s.distinct == pytest.approx(n - len(heavy) + 2, rel=0.05)
    (v1, c1), (v2, c2) = s.top(2)
    assert (v1, v2) == ("hot", "warm")
    assert 6000 - 0.004 * n <= c1 <= 6000 and 3000 - 0.004 * n <= c2 <= 3000
    assert s.values.total == n


def test_exact_mode_holds_up_to_the_limit() -> None:
    values = [f"v{i}" for i in range(MAX_EXACT)] * 2
    s = compute_statistics(pa.table({"c": values}), batch_size=3000)["c"]
    assert isinstance(s, CategoricalStatistics)
    assert s.distinct_is_exact and s.distinct == MAX_EXACT
    assert {c for _, c in s.top(MAX_EXACT)} == {2}


def test_timestamps_and_dates() -> None:
    ts = pa.array(
        [dt.datetime(2024, 1, 1, 12), None, dt.datetime(2023, 6, 1), dt.datetime(2025, 2, 3)],
        pa.timestamp("ms", tz="UTC"),
    )
    dates = pa.array([dt.date(2020, 1, 1), dt.date(2021, 5, 5), None, dt.date(1999, 12, 31)])
    stats = compute_statistics(pa.table({"ts": ts, "d": dates}))
    t, d = stats["ts"], stats["d"]
    assert isinstance(t, TimestampStatistics) and isinstance(d, TimestampStatistics)
    assert (t.count, t.missing, t.unit, t.tz) == (3, 1, "ms", "UTC")
    assert t.min == dt.datetime(2023, 6, 1, tzinfo=dt.UTC)
    assert t.max == dt.datetime(2025, 2, 3, tzinfo=dt.UTC)
    assert (d.min, d.max) == (dt.date(1999, 12, 31), dt.date(2021, 5, 5))
    assert t.quantiles([0.0])[0] == dt.datetime(2023, 6, 1, tzinfo=dt.UTC).timestamp()


def test_other_types_get_count_and_missing() -> None:
    table = pa.table(
        {
            "list": pa.array([[1], None, [2, 3]]),
            "struct": pa.array([{"a": 1}, {"a": 2}, None]),
            "bin": pa.array([b"x", None, None]),
            "nulls": pa.nulls(3),
        }
    )
    stats = compute_statistics(table)
    assert [f.kind for f in stats.features.values()] == ["other"] * 4
    assert [(f.count, f.missing) for f in stats.features.values()] == [
        (2, 1),
        (2, 1),
        (1, 2),
        (0, 3),
    ]


def test_decimal_duration_and_time_are_numeric() -> None:
    table = pa.table(
        {
            "dec": pa.array([decimal.Decimal("1.25"), decimal.Decimal("-2.50")]),
            "dur": pa.array([dt.timedelta(seconds=1), dt.timedelta(seconds=3)]),
            "tod": pa.array([dt.time(0, 0, 1), dt.time(0, 0, 2)]),
        }
    )
    stats = compute_statistics(table)
    assert [f.kind for f in stats.features.values()] == ["numeric"] * 3
    assert stats["dec"].mean == pytest.approx(-0.625)  # type: ignore[attr-defined]
    assert stats["dur"].max == 3_000_000  # type: ignore[attr-defined]


def test_per_split_statistics_in_the_same_pass() -> None:
    rng = np.random.default_rng(2)
    n = 10_000
    split = rng.choice(["train", "eval", "test"], n, p=[0.7, 0.2, 0.1])
    x = rng.normal(size=n) + (split == "eval") * 5
    table = pa.table({"split": split, "x": x, "c": rng.choice(["a", "b"], n)})
    stats = compute_statistics(table, batch_size=999)
    assert "split" not in stats
    assert stats.names == ["x", "c"]
    assert set(stats.splits) == {"train", "eval", "test"}
    assert sum(s.num_rows for s in stats.splits.values()) == stats.num_rows == n
    for name, part in stats.splits.items():
        mask = split == name
        assert part.num_rows == mask.sum()
        assert part["x"].mean == pytest.approx(x[mask].mean(), rel=1e-9)  # type: ignore[attr-defined]
        assert part.splits == {}
    assert stats["x"].mean == pytest.approx(x.mean(), rel=1e-9)  # type: ignore[attr-defined]
    assert stats.split("eval")["x"].min == x[split == "eval"].min()  # type: ignore[attr-defined]
    with pytest.raises(DataError):
        stats.split("nope")
    unsplit = compute_statistics(table, split_column=None)
    assert "split" in unsplit and unsplit.splits == {}


def test_null_and_integer_split_values() -> None:
    table = pa.table({"fold": [1, 2, None, 1], "x": [1.0, 2.0, 3.0, 4.0]})
    stats = compute_statistics(table, split_column="fold")
    assert set(stats.splits) == {"1", "2"}
    assert stats.num_rows == 4 and stats["x"].count == 4
    assert stats.split("1")["x"].mean == pytest.approx(2.5)  # type: ignore[attr-defined]


def test_inputs_table_batch_iterable_pandas_polars_agree() -> None:
    table = pa.table({"x": [1.0, 2.0, None, 4.0], "s": ["a", "b", "a", None]})
    expected = compute_statistics(table)
    variants = [
        table.to_batches()[0],
        iter(table.to_batches(max_chunksize=1)),
        [table.slice(0, 2), table.slice(2)],
        table.to_pandas(),
    ]
    pl = pytest.importorskip("polars")
    variants.append(pl.from_arrow(table))
    for data in variants:
        stats = compute_statistics(data)
        assert stats.num_rows == 4
        assert stats["x"].to_dict() == expected["x"].to_dict()
        assert stats["s"].top() == expected["s"].top()  # type: ignore[attr-defined]


def test_columns_selects_features() -> None:
    table = pa.table({"a": [1], "b": ["x"], "c": [2.0]})
    assert compute_statistics(table, columns=["c", "a"]).names == ["c", "a"]
    with pytest.raises(DataError) as err:
        compute_statistics(table, columns=["a", "zzz"])
    assert err.value.column == "zzz" and "zzz" in str(err.value)


def test_empty_dataset_gives_zero_counts() -> None:
    table = pa.table(
        {
            "x": pa.array([], pa.float64()),
            "s": pa.array([], pa.string()),
            "t": pa.array([], pa.timestamp("us")),
            "split": pa.array([], pa.string()),
        }
    )
    stats = compute_statistics(table)
    assert stats.num_rows == 0 and stats.splits == {} and stats.names == ["x", "s", "t"]
    x, s, t = stats["x"], stats["s"], stats["t"]
    assert isinstance(x, NumericStatistics)
    assert (x.count, x.missing, x.min, x.max) == (0, 0, None, None)
    assert math.isnan(x.mean) and math.isnan(x.std) and math.isnan(x.median)
    assert [a.size for a in x.histogram()] == [0, 0]
    assert s.distinct == 0 and s.top() == [] and math.isnan(s.avg_length)  # type: ignore[attr-defined]
    assert t.min is None  # type: ignore[attr-defined]
    assert DatasetStatistics.from_json(stats.to_json()) == stats
    assert compute_statistics([]) == DatasetStatistics()
    assert compute_statistics(pd.DataFrame()).num_rows == 0


def test_all_null_columns() -> None:
    table = pa.table(
        {"x": pa.array([None] * 4, pa.float64()), "s": pa.array([None] * 4, pa.string())}
    )
    stats = compute_statistics(table)
    assert [(f.kind, f.count, f.missing) for f in stats.features.values()] == [
        ("numeric", 0, 4),
        ("categorical", 0, 4),
    ]
    df = pd.DataFrame({"n": [None, None], "y": [1, 2]})
    assert isinstance(compute_statistics(df)["n"], OtherStatistics)


def test_mixed_python_types_become_labelled_strings() -> None:
    df = pd.DataFrame({"m": [1, "a", 2.5, None], "ok": [1, 2, 3, 4]})
    stats = compute_statistics(df)
    m = stats["m"]
    assert isinstance(m, CategoricalStatistics)
    assert m.type == "mixed<float,int,str>"
    assert (m.count, m.missing, m.distinct) == (3, 1, 3)
    assert stats["ok"].kind == "numeric"


def test_a_column_changing_kind_between_batches_is_named() -> None:
    batches = [pa.record_batch({"v": [1, 2]}), pa.record_batch({"v": ["a", "b"]})]
    with pytest.raises(DataError) as err:
        compute_statistics(batches)
    assert err.value.column == "v" and "'v'" in str(err.value)
    assert isinstance(err.value, MloopError) and err.value.http_status == 400


def test_all_null_then_typed_batches_and_missing_columns() -> None:
    batches = [
        pa.record_batch({"v": pa.nulls(2), "w": [1, 2]}),
        pa.record_batch({"v": [1.5, 2.5]}),
        pa.record_batch({"v": pa.array([3, 4], pa.int32()), "w": [3, 4]}),
    ]
    stats = compute_statistics(batches)
    v, w = stats["v"], stats["w"]
    assert (v.kind, v.count, v.missing, v.type) == ("numeric", 4, 2, "double|int32")
    assert (w.count, w.missing) == (4, 2)


def test_unsupported_input_is_a_clear_error() -> None:
    with pytest.raises(DataError):
        compute_statistics(42)
    with pytest.raises(DataError):
        compute_statistics([{"a": 1}])
    with pytest.raises(DataError):
        compute_statistics(pa.table({"a": [1]}), batch_size=0)


def test_merge_statistics_of_partitions() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=3000)
    parts = [compute_statistics(pa.table({"x": chunk})) for chunk in np.array_split(x, 3)]
    merged = merge_statistics(*parts)
    assert merged.num_rows == 3000
    assert merged["x"].mean == pytest.approx(x.mean(), rel=1e-12)  # type: ignore[attr-defined]
    assert merged["x"].std == pytest.approx(x.std(), rel=1e-10)  # type: ignore[attr-defined]
    assert merge_statistics() == DatasetStatistics()


def test_merge_unions_features_and_rejects_kind_conflicts() -> None:
    a = compute_statistics(pa.table({"x": [1.0, 2.0], "only_a": ["p", "q"]}))
    b = compute_statistics(pa.table({"x": [3.0], "only_b": [True]}))
    merged = a.merge(b)
    assert merged.names == ["x", "only_a", "only_b"]
    assert (merged["only_a"].count, merged["only_a"].missing) == (2, 1)
    assert (merged["only_b"].count, merged["only_b"].missing) == (1, 2)
    c = compute_statistics(pa.table({"x": ["not", "numbers"]}))
    with pytest.raises(DataError) as err:
        a.merge(c)
    assert err.value.column == "x"
    empty = compute_statistics(pa.table({"x": pa.nulls(3)}))
    assert a.merge(empty)["x"].missing == 3
    assert empty.merge(a)["x"].kind == "numeric"


def test_feature_lookup_names_the_column() -> None:
    stats = compute_statistics(pa.table({"x": [1]}))
    with pytest.raises(DataError) as err:
        stats["y"]
    assert err.value.column == "y"


def test_json_round_trip_is_exact_and_compact() -> None:
    rng = np.random.default_rng(4)
    n = 50_000
    table = pa.table(
        {
            "split": rng.choice(["train", "eval"], n),
            "f": rng.normal(size=n),
            "i": rng.integers(0, 1000, n),
            "c": rng.choice(list("abcdef"), n),
            "u": np.char.add("u", rng.integers(0, 10**8, n).astype(str)),
            "t": pa.array(rng.integers(0, 10**12, n), pa.timestamp("ms")),
            "l": pa.array([[1]] * n),
        }
    )
    stats = compute_statistics(table)
    text = stats.to_json()
    back = DatasetStatistics.from_json(text)
    assert back == stats
    assert back.to_json() == text
    assert back["u"].distinct == stats["u"].distinct  # type: ignore[attr-defined]
    assert back["f"].quantiles([0.1, 0.9]).tolist() == stats["f"].quantiles([0.1, 0.9]).tolist()  # type: ignore[attr-defined]
    assert len(text) < 200_000
    with pytest.raises(DataError):
        DatasetStatistics.from_dict({"format": "something else"})

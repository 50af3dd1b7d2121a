"""Property tests: merge(stats(a), stats(b)) == stats(a + b), exactly where exact."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mloop.data import (
    CategoricalStatistics,
    DatasetStatistics,
    NumericStatistics,
    compute_statistics,
)

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

floats = st.one_of(
    st.none(),
    st.floats(min_value=-1e9, max_value=1e9),
    st.sampled_from([math.nan, math.inf, -math.inf, 0.0]),
)
ints = st.one_of(st.none(), st.integers(-(2**40), 2**40))
strings = st.one_of(st.none(), st.text(alphabet="abcé日", max_size=3))

rows = st.lists(st.tuples(floats, ints, strings, st.sampled_from(["train", "eval"])), max_size=60)


def table_of(data: list[tuple[object, object, object, str]]) -> pa.Table:
    return pa.table(
        {
            "f": pa.array([r[0] for r in data], pa.float64()),
            "i": pa.array([r[1] for r in data], pa.int64()),
            "s": pa.array([r[2] for r in data], pa.string()),
            "split": pa.array([r[3] for r in data], pa.string()),
        }
    )


def exact_fields(stats: DatasetStatistics) -> dict[str, object]:
    """Everything that must merge exactly (all but sketches, moments compared apart)."""
    out: dict[str, object] = {"num_rows": stats.num_rows}
    for name, f in stats.features.items():
        d = f.to_dict()
        d.pop("sketch", None)
        d.pop("mean", None)
        d.pop("m2", None)
        out[name] = d
    return out


def assert_same(merged: DatasetStatistics, whole: DatasetStatistics) -> None:
    assert exact_fields(merged) == exact_fields(whole)
    for name, f in whole.features.items():
        g = merged[name]
        if isinstance(f, NumericStatistics):
            assert isinstance(g, NumericStatistics)
            if f.finite:
                scale = max(1.0, abs(f.mean), f.std)
                assert g.mean == pytest.approx(f.mean, rel=1e-9, abs=1e-9 * scale)
                assert g.std == pytest.approx(f.std, rel=1e-6, abs=1e-6 * scale)
                # fewer than k=200 values: both KLL sketches are exact, so are quantiles
                qs = np.linspace(0, 1, 11)
                assert g.quantiles(qs).tolist() == f.quantiles(qs).tolist()
        if isinstance(f, CategoricalStatistics):
            assert isinstance(g, CategoricalStatistics)
            assert g.top(100) == f.top(100) and g.distinct == f.distinct


@SETTINGS
@given(rows, rows)
def test_merge_of_parts_equals_the_whole(a: list, b: list) -> None:  # type: ignore[type-arg]
    sa, sb = compute_statistics(table_of(a)), compute_statistics(table_of(b))
    whole = compute_statistics(table_of(a + b))
    merged = sa.merge(sb)
    assert_same(merged, whole)
    assert set(merged.splits) == set(whole.splits)
    for name, split in whole.splits.items():
        assert_same(merged.splits[name], split)


@SETTINGS
@given(rows, st.integers(1, 7))
def test_batch_size_does_not_change_exact_results(data: list, batch_size: int) -> None:  # type: ignore[type-arg]
    whole = compute_statistics(table_of(data))
    batched = compute_statistics(table_of(data), batch_size=batch_size)
    assert_same(batched, whole)


@SETTINGS
@given(rows)
def test_serialization_round_trip(data: list) -> None:  # type: ignore[type-arg]
    stats = compute_statistics(table_of(data))
    text = stats.to_json()
    back = DatasetStatistics.from_json(text)
    assert back == stats and back.to_json() == text
    assert DatasetStatistics.from_dict(stats.to_dict()) == stats


@SETTINGS
@given(rows)
def test_counters_match_numpy(data: list) -> None:  # type: ignore[type-arg]
    stats = compute_statistics(table_of(data), split_column=None)
    f = np.array([math.nan if r[0] is None else r[0] for r in data], dtype=float)
    nulls = sum(r[0] is None for r in data)
    s = stats["f"]
    assert isinstance(s, NumericStatistics)
    assert s.missing == nulls
    assert s.nan == int(np.isnan(f).sum()) - nulls
    assert s.inf == int(np.isinf(f).sum())
    finite = f[np.isfinite(f)]
    assert s.zeros == int((finite == 0).sum())
    if len(finite):
        assert (s.min, s.max) == (finite.min(), finite.max())
        assert s.mean == pytest.approx(finite.mean(), rel=1e-9, abs=1e-6)


@settings(max_examples=8, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_large_merges_stay_within_sketch_error(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(20_000) * rng.uniform(0.1, 10)
    cut = int(rng.integers(1, len(x) - 1))
    merged = compute_statistics(pa.table({"x": x[:cut]})).merge(
        compute_statistics(pa.table({"x": x[cut:]}))
    )["x"]
    assert isinstance(merged, NumericStatistics)
    eps = merged.sketch.rank_error * 2
    s = np.sort(x)
    for q in (0.01, 0.1, 0.5, 0.9, 0.99):
        rank = np.searchsorted(s, merged.quantile(q), "right") / len(s)
        assert abs(rank - q) <= eps + 1 / len(s)
    assert merged.mean == pytest.approx(x.mean(), rel=1e-9, abs=1e-12)
    assert merged.std == pytest.approx(x.std(), rel=1e-9)

"""drift(): zero against itself, known shifts detected, agreement with scipy, bad input."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from mloop.data import (
    DataError,
    DatasetStatistics,
    DriftResult,
    NumericStatistics,
    compute_statistics,
    drift,
)
from mloop.data._drift import METRICS, _kolmogorov_sf

ALL = ["js", "linf", "psi", "wasserstein", "ks"]


def stats_of(**columns: object) -> DatasetStatistics:
    return compute_statistics(pa.table(columns), split_column=None)


def mixed(seed: int, n: int = 20_000, shift: float = 0.0, scale: float = 1.0) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "x": rng.normal(shift, scale, n),
            "i": rng.poisson(3, n),
            "c": rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2]),
            "u": np.char.add("u", rng.integers(0, 10**6, n).astype(str)),
            "t": pa.array(rng.integers(0, 10**9, n), pa.timestamp("s")),
        }
    )


def test_drift_against_itself_is_zero_for_every_metric() -> None:
    table = mixed(0)
    table = table.append_column("nan", pa.array([math.nan, 1.0] * (table.num_rows // 2)))
    s = compute_statistics(table)
    for other in (s, DatasetStatistics.from_json(s.to_json())):
        result = drift(s, other, extra=ALL, metrics={"timestamp": "js"})
        assert not result.drifted and result.drifted_features == []
        for f in result.features.values():
            assert f.status == "ok", f
            for name, value in f.metrics.items():
                assert value == (1.0 if name == "ks_pvalue" else 0.0), (f.name, name)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.floats(-1e6, 1e6) | st.none(), min_size=1, max_size=300),
    st.lists(st.sampled_from(["p", "q", "r"]), min_size=1, max_size=300),
)
def test_self_drift_is_zero_for_any_data(xs: list[float | None], cs: list[str]) -> None:
    for s in (stats_of(x=pa.array(xs, pa.float64())), stats_of(c=cs)):
        result = drift(s, s, extra=ALL)
        assert result.drifted_features == []
        for f in result.features.values():
            assert all(v == (1.0 if k == "ks_pvalue" else 0.0) for k, v in f.metrics.items())


def test_same_distribution_is_not_drift() -> None:
    result = drift(compute_statistics(mixed(1)), compute_statistics(mixed(2)), extra=ALL)
    assert not result.drifted, result.to_dict()
    assert result.compared_features == ["x", "i", "c", "u"]
    assert result["t"].metric is None and not result["t"].drifted
    assert drift(compute_statistics(mixed(1)), compute_statistics(mixed(2)))["t"].status == (
        "skipped"
    )
    assert result["x"].value < 0.005


@pytest.mark.parametrize(
    ("shift", "scale", "expected"),
    [(0.5, 1.0, True), (0.0, 2.0, True), (0.0, 1.0, False), (0.05, 1.0, False)],
)
def test_location_and_scale_shifts(shift: float, scale: float, expected: bool) -> None:
    base = compute_statistics(mixed(3))
    cur = compute_statistics(mixed(4, shift=shift, scale=scale))
    result = drift(base, cur, extra=["psi", "wasserstein", "ks"])
    x = result["x"]
    assert x.drifted is expected, x
    assert x.metric == "js" and x.threshold == 0.01
    if expected:
        assert result.drifted and "x" in result.drifted_features
        assert x.metrics["psi"] > 0.1 and x.metrics["ks_pvalue"] < 1e-6
    if shift:
        # Both sides are unseeded KLL sketches: up to ~0.05 of sketch error was seen.
        assert x.metrics["wasserstein"] == pytest.approx(shift, abs=0.08)


def test_new_category_is_detected() -> None:
    rng = np.random.default_rng(5)
    base = stats_of(c=rng.choice(["a", "b"], 10_000))
    cur = stats_of(c=rng.choice(["a", "b", "NEW"], 10_000, p=[0.4, 0.4, 0.2]))
    c = drift(base, cur, extra=["js", "psi"])["c"]
    assert c.drifted and c.metric == "linf"
    assert c.value == pytest.approx(0.2, abs=0.03)
    assert c.metrics["js"] > 0.01 and c.metrics["psi"] > 0.2


def test_sketched_categories_drift_on_their_heavy_values() -> None:
    rng = np.random.default_rng(6)
    tail = np.char.add("id", rng.integers(0, 10**7, 30_000).astype(str))
    base = stats_of(u=np.concatenate([tail, ["hot"] * 3000]))
    cur = stats_of(u=np.concatenate([tail, ["hot"] * 12_000]))
    assert not base["u"].distinct_is_exact  # type: ignore[attr-defined]
    u = drift(base, cur)["u"]
    assert u.drifted and u.value == pytest.approx(12 / 42 - 3 / 33, abs=0.01)


def test_ks_and_wasserstein_agree_with_scipy_on_small_exact_data() -> None:
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=120), rng.normal(0.4, 1.3, size=150)
    result = drift(stats_of(v=x), stats_of(v=y), extra=["ks", "wasserstein"])["v"]
    ks = sps.ks_2samp(x, y, method="asymp")
    assert result.metrics["ks"] == pytest.approx(ks.statistic, abs=1e-12)
    assert result.metrics["ks_pvalue"] == pytest.approx(ks.pvalue, rel=0.1, abs=1e-3)
    assert result.metrics["wasserstein"] == pytest.approx(sps.wasserstein_distance(x, y))


@pytest.mark.parametrize(("n", "m", "shift"), [(5000, 3000, 0.0), (20_000, 50_000, 0.1)])
def test_ks_and_wasserstein_agree_with_scipy_within_sketch_error(
    n: int, m: int, shift: float
) -> None:
    rng = np.random.default_rng(n)
    x, y = rng.gamma(2.0, size=n), rng.gamma(2.0, size=m) + shift
    sx, sy = stats_of(v=x), stats_of(v=y)
    a, b = sx["v"], sy["v"]
    assert isinstance(a, NumericStatistics) and isinstance(b, NumericStatistics)
    eps = a.sketch.cdf_error + b.sketch.cdf_error
    assert eps > 0  # the sketches are estimating
    f = drift(sx, sy, extra=["ks", "wasserstein"])["v"]
    ks = sps.ks_2samp(x, y)
    assert f.metrics["ks"] == pytest.approx(ks.statistic, abs=eps)
    # the p-value is that of a statistic at most the exact one: never more significant
    assert f.metrics["ks_pvalue"] >= ks.pvalue * 0.5
    en = math.sqrt(n * m / (n + m))
    upper = _kolmogorov_sf((en + 0.12 + 0.11 / en) * (f.metrics["ks"] + eps))
    assert upper <= ks.pvalue * 1.5 + 1e-12
    span = max(x.max(), y.max()) - min(x.min(), y.min())
    w = sps.wasserstein_distance(x, y)
    assert f.metrics["wasserstein"] == pytest.approx(w, abs=eps * span)
    assert f.metrics["wasserstein"] == pytest.approx(w, abs=0.06)  # usually within 0.03


@pytest.mark.parametrize("lam", [0.2, 0.5, 0.9, 1.17, 1.19, 1.6, 3.0])
def test_kolmogorov_series_matches_scipy(lam: float) -> None:
    assert _kolmogorov_sf(lam) == pytest.approx(sps.kstwobign.sf(lam), rel=1e-9, abs=1e-15)


def test_discrete_features_get_a_bin_per_value() -> None:
    jan, jul = stats_of(month=[1] * 100), stats_of(month=[7] * 100)
    f = drift(jan, jul, extra=ALL)["month"]
    assert f.value == 1.0 and f.drifted
    assert f.metrics["ks"] == 1.0 and f.metrics["wasserstein"] == 6.0


def test_metrics_and_thresholds_by_column_kind_and_metric() -> None:
    base, cur = compute_statistics(mixed(8)), compute_statistics(mixed(9, shift=0.2))
    default = drift(base, cur)
    assert default["x"].metric == "js" and default["c"].metric == "linf"
    custom = drift(
        base,
        cur,
        metrics={"numeric": "psi", "x": "wasserstein", "c": "js", "t": "ks"},
        thresholds={"x": 0.5, "psi": 0.0, "categorical": 0.3},
    )
    assert (custom["x"].metric, custom["x"].threshold, custom["x"].drifted) == (
        "wasserstein",
        0.5,
        False,
    )
    assert custom["i"].metric == "psi" and custom["i"].threshold == 0.0
    assert custom["c"].metric == "js" and custom["c"].threshold == 0.3
    assert custom["t"].metric == "ks" and custom["t"].threshold == 0.05
    default_w = drift(base, cur, metrics={"x": "wasserstein"})["x"]
    assert default_w.threshold == pytest.approx(0.1 * base["x"].std)  # type: ignore[attr-defined]
    assert default_w.drifted  # a 0.2 std shift


def test_dataset_verdict_uses_the_drift_share() -> None:
    base = stats_of(a=np.zeros(100), b=np.zeros(100), c=np.zeros(100), d=np.zeros(100))
    cur = stats_of(a=np.ones(100), b=np.zeros(100), c=np.zeros(100), d=np.zeros(100))
    assert drift(base, cur).drifted
    assert drift(base, cur).share_drifted == 0.25
    assert drift(base, cur, drift_share=0.25).drifted
    assert not drift(base, cur, drift_share=0.5).drifted


def test_mismatched_schemas_are_reported_by_column() -> None:
    base = stats_of(a=[1.0, 2.0], b=["x", "y"], gone=[1, 2], empty=[1.0, 2.0])
    cur = stats_of(
        a=["now", "text"], b=["x", "y"], new=[3, 4], empty=pa.array([None, None], pa.float64())
    )
    result = drift(base, cur)
    assert result["a"].status == "kind_mismatch" and "'a'" in (result["a"].message or "")
    assert result["gone"].status == "missing_in_current"
    assert result["new"].status == "missing_in_baseline"
    assert result["empty"].status == "empty" and "current" in (result["empty"].message or "")
    assert result["b"].status == "ok"
    assert result.compared_features == ["b"] and not result.drifted
    nulls = stats_of(a=pa.nulls(2))
    assert drift(base, nulls)["a"].status == "empty"


def test_empty_datasets_do_not_crash() -> None:
    empty = stats_of(x=pa.array([], pa.float64()), c=pa.array([], pa.string()))
    full = stats_of(x=[1.0, 2.0], c=["a", "b"])
    for a, b in [(empty, empty), (empty, full), (full, empty)]:
        result = drift(a, b, extra=ALL)
        assert not result.drifted
        assert {f.status for f in result.features.values()} == {"empty"}
    assert drift(DatasetStatistics(), DatasetStatistics()).features == {}


def test_bad_requests_name_the_problem() -> None:
    s = stats_of(x=[1.0], c=["a"])
    with pytest.raises(DataError, match="unknown drift metric"):
        drift(s, s, extra=["chi2"])
    with pytest.raises(DataError) as err:
        drift(s, s, metrics={"c": "ks"})
    assert err.value.column == "c"
    with pytest.raises(DataError):
        drift(s, s, bins=0)
    assert set(METRICS) == set(ALL)


def test_result_round_trips_through_json() -> None:
    base, cur = compute_statistics(mixed(10)), compute_statistics(mixed(11, shift=1.0))
    result = drift(base, cur, extra=ALL)
    back = DriftResult.from_json(result.to_json())
    assert back == result
    assert back.to_dict() == result.to_dict()
    assert back.drifted_features == ["x"]
    with pytest.raises(DataError):
        result["nope"]


def test_extra_metrics_skip_columns_they_do_not_apply_to() -> None:
    import pyarrow as pa

    from mloop.data import compute_statistics, drift

    table = pa.table({"x": [1.0, 2.0, 3.0, 4.0], "tags": [[1], [2, 3], [], [4]]})
    stats = compute_statistics(table)
    result = drift(stats, stats, extra=["psi", "ks"])
    assert result["tags"].status == "skipped"
    assert "psi" in result["x"].metrics

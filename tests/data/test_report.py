"""HTML reports: each page for real statistics, escaping, self-containment, size bounds."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from html.parser import HTMLParser

import numpy as np
import pyarrow as pa
import pytest

from mloop.data._drift import drift
from mloop.data._errors import DataError
from mloop.data._model import DatasetStatistics
from mloop.data._report import render_html
from mloop.data._schema import infer_schema
from mloop.data._statistics import compute_statistics
from mloop.data._validate import validate

HOSTILE = "<script>alert(1)</script>"
HOSTILE_VALUE = '<img src=x onerror="alert(2)"> & co'


def table(n: int = 2000, seed: int = 0, shift: float = 0.0) -> pa.Table:
    rng = np.random.default_rng(seed)
    start = dt.datetime(2024, 1, 1)
    colors = ["red", "green", "blue", HOSTILE_VALUE]
    p = [0.4, 0.3, 0.2, 0.1] if not shift else [0.1, 0.3, 0.2, 0.4]
    return pa.table(
        {
            "age": rng.integers(18, 90, n),
            "fare": rng.normal(10 + shift * 5, 2, n),
            "tip": pa.array([None if i % 5 == 0 else float(i % 7) for i in range(n)]),
            "color": rng.choice(colors, n, p=p),
            HOSTILE: rng.choice(["a", "b"], n),
            "flag": rng.random(n) < 0.3,
            "when": pa.array([start + dt.timedelta(hours=int(h)) for h in rng.integers(0, 720, n)]),
            "tags": pa.array([[i % 3] for i in range(n)]),
            "split": rng.choice(["train", "eval"], n, p=[0.75, 0.25]),
        }
    )


class _Balance(HTMLParser):
    """Checks that every non-void element is closed, in order."""

    VOID = {"meta", "input", "br", "rect", "path", "line", "hr", "img", "link"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        pass

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-3:]}"
        self.stack.pop()


def check_page(page: str) -> None:
    """A complete, well-nested document with nothing to fetch and nothing to run."""
    assert page.startswith("<!DOCTYPE html>")
    parser = _Balance()
    parser.feed(page)
    parser.close()
    assert parser.stack == []
    lowered = page.lower()
    assert "<script" not in lowered and "javascript:" not in lowered
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", lowered)
    assert "url(" not in lowered and "@import" not in lowered and "base64" not in lowered


@pytest.fixture(scope="module")
def base() -> DatasetStatistics:
    return compute_statistics(table())


@pytest.fixture(scope="module")
def shifted() -> DatasetStatistics:
    return compute_statistics(table(seed=1, shift=1.0))


def test_statistics_page(base: DatasetStatistics) -> None:
    page = render_html(base, title="Flights & friends")
    check_page(page)
    assert "<title>Flights &amp; friends</title>" in page
    assert "2,000 rows" in page and "train" in page and "eval" in page
    for name in ("age", "fare", "tip", "color", "flag", "when", "tags"):
        assert f">{name}<" in page
    assert page.count("<svg") == 3 * 4  # age, fare, tip, when; in "all" and both splits
    for label in ("mean", "std", "median", "p25", "p75", "zeros", "NaN", "distinct", "avg length"):
        assert f"<dt>{label}</dt>" in page
    assert "2024-01-01" in page  # timestamps are dates, not epoch seconds
    assert "no distribution summary for list" in page
    assert 'name="split"' in page  # split tabs


def test_statistics_page_with_schema_shows_rules(base: DatasetStatistics) -> None:
    page = render_html(base, schema=infer_schema(base))
    assert "schema: int · required · range" in page


def test_user_strings_are_escaped_everywhere(
    base: DatasetStatistics, shifted: DatasetStatistics
) -> None:
    schema = infer_schema(base)
    data = table(seed=2).drop_columns(["color"])
    data = data.set_column(data.schema.get_field_index(HOSTILE), HOSTILE, pa.array(["c"] * 2000))
    anomalies = validate(compute_statistics(data), schema)
    assert {a.feature for a in anomalies} == {"color", HOSTILE}
    pages = [
        render_html(base),
        render_html(drift(base, shifted), baseline_statistics=base, current_statistics=shifted),
        render_html(anomalies, current_statistics=base, schema=schema),
        render_html(base, title=HOSTILE),
    ]
    for page in pages:
        check_page(page)
        assert "<img" not in page and "alert(1)</" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=&quot;alert(2)&quot;&gt; &amp; co" in pages[0]


def test_drift_page_lists_drifted_features_first(
    base: DatasetStatistics, shifted: DatasetStatistics
) -> None:
    base, shifted = (
        DatasetStatistics(s.num_rows, {n: f for n, f in s.features.items() if n != "tags"})
        for s in (base, shifted)
    )  # (extra metrics on a list column trip an assertion in _drift; reported)
    result = drift(base, shifted, extra=["psi", "ks"])
    assert set(result.drifted_features) == {"fare", "color"}
    page = render_html(result, baseline_statistics=base, current_statistics=shifted)
    check_page(page)
    assert "Drift detected: 2 of" in page
    rows = re.findall(r'<tr( class=drifted)?><td><a href="#f\d+">([^<]+)</a>', page)
    assert [name for flag, name in rows if flag] == [name for _, name in rows[:2]]
    assert {name for flag, name in rows if flag} == {"fare", "color"}
    assert "threshold" in page and "psi" in page and "p &lt; 0.05" not in page
    assert page.count('class="s1"') >= 3  # current drawn over baseline: age, fare, tip (+when)
    assert "baseline" in page and "current" in page
    assert "not compared" in page  # timestamps are not compared by default


def test_drift_page_without_statistics_is_the_table(
    base: DatasetStatistics, shifted: DatasetStatistics
) -> None:
    page = render_html(drift(base, shifted))
    check_page(page)
    assert "fare" in page and "<svg" not in page and "pass the baseline" in page
    calm = render_html(drift(base, base))
    assert "No drift: 0 of" in calm


def test_validation_page_groups_by_severity(base: DatasetStatistics) -> None:
    schema = infer_schema(base)
    bad = compute_statistics(
        table(seed=3, shift=1.0).drop_columns(["flag"]).append_column("extra", pa.array([1] * 2000))
    )
    anomalies = validate(bad, schema)
    assert anomalies.errors and anomalies.warnings
    page = render_html(anomalies, current_statistics=bad, schema=schema)
    check_page(page)
    assert "Data is invalid" in page
    assert page.index("<h2>Errors") < page.index("<h2>Warnings")
    for anomaly in anomalies:
        assert f"<code>{anomaly.kind}</code>" in page
    assert "missing_column" in page and "unexpected_column" in page and "extra" in page
    assert "Features with anomalies" in page
    assert '<line class="mark"' in page  # the schema's range drawn on the histogram

    clean = render_html(validate(base, schema))
    check_page(clean)
    assert "No anomalies" in clean


def test_edge_cases_render() -> None:
    empty = compute_statistics(pa.table({"x": pa.array([], pa.float64())}))
    odd = compute_statistics(
        pa.table(
            {
                "nan": [float("nan")] * 3,
                "const": [7.0] * 3,
                "null": pa.array([None, None, None], pa.string()),
                "inf": [1.0, float("inf"), 2.0],
            }
        )
    )
    for stats in (empty, odd, DatasetStatistics()):
        check_page(render_html(stats))
    page = render_html(odd)
    assert "no finite values" in page
    assert "<dt>inf</dt>" in page
    check_page(render_html(drift(odd, odd), baseline_statistics=odd, current_statistics=odd))


def test_bad_arguments_are_errors(base: DatasetStatistics) -> None:
    with pytest.raises(DataError, match="DatasetStatistics, Anomalies or a DriftResult"):
        render_html("nope")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="baseline_statistics"):
        render_html(base, baseline_statistics=base)
    with pytest.raises(DataError, match="schema"):
        render_html(drift(base, base), schema=infer_schema(base))


def _widen(stats: DatasetStatistics, copies: int) -> DatasetStatistics:
    """``copies`` renamed copies of every feature (and of every split's features)."""
    features = {
        f"{name}_{i}": dataclasses.replace(st, name=f"{name}_{i}")
        for i in range(copies)
        for name, st in stats.features.items()
    }
    splits = {name: _widen(s, copies) for name, s in stats.splits.items()}
    return DatasetStatistics(stats.num_rows, features, splits)


def _sized(n: int, seed: int) -> DatasetStatistics:
    rng = np.random.default_rng(seed)
    data = pa.table(
        {
            "x": rng.lognormal(0, 1, n),
            "k": rng.integers(0, 1000, n),
            "c": pa.array(np.char.add("value-", rng.integers(0, 40, n).astype(str))),
            "t": pa.array(
                np.datetime64("2024-01-01", "s") + rng.integers(0, 9**6, n).astype("m8[s]")
            ),
            "b": rng.random(n) < 0.5,
            "split": rng.choice(["train", "eval"], n),
        }
    )
    return _widen(compute_statistics(data), 10)  # 50 features


def test_size_grows_with_features_not_rows() -> None:
    small_a, small_b = _sized(10_000, 0), _sized(10_000, 1)
    big_a, big_b = _sized(1_000_000, 0), _sized(1_000_000, 1)
    assert len(big_a.features) == 50

    def sizes(a: DatasetStatistics, b: DatasetStatistics) -> list[int]:
        schema = infer_schema(a)
        pages = [
            render_html(a),
            render_html(drift(a, b), baseline_statistics=a, current_statistics=b),
            render_html(validate(b, schema), current_statistics=b, schema=schema),
        ]
        return [len(p.encode()) for p in pages]

    small, big = sizes(small_a, small_b), sizes(big_a, big_b)
    assert max(big) < 1_000_000  # well under 2 MB for 50 features, "all" plus two splits
    for s, b in zip(small[:2], big[:2], strict=True):  # statistics, drift
        assert abs(b - s) / s < 0.03
    # a validation page grows with the anomalies found (which can differ), not with rows

"""Building blocks of the HTML reports: the page shell, number formats, feature cards.

A page is one self-contained HTML document: inline CSS, inline SVG histograms
(:mod:`mloop.data._svg`) and CSS bar charts, no script and nothing fetched. Its size is
bounded per feature (fixed bins, at most ``TOP_K`` values, long values truncated), so it
never grows with the number of rows. Every user string goes through :func:`esc`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import html
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Final

import numpy as np

from mloop.data._model import (
    CategoricalStatistics,
    DatasetStatistics,
    FeatureStatistics,
    NumericStatistics,
    TimestampStatistics,
)
from mloop.data._schema import FeatureSpec
from mloop.data._svg import histogram_svg

__all__ = [
    "BINS",
    "DASH",
    "TOP_K",
    "bar_table",
    "esc",
    "feature_card",
    "histogram_of",
    "num",
    "page",
    "pct",
    "spec_summary",
    "time_label",
]

BINS: Final = 20
"""Equal-width bins of every histogram."""
TOP_K: Final = 10
"""Most frequent values shown per categorical feature."""
MAX_LABEL: Final = 48
"""Characters of a value shown in a chart (the full value, up to MAX_TITLE, on hover)."""
MAX_TITLE: Final = 200
DASH: Final = "\u2013"

_CSS = """
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;
background:#f6f7f9;margin:0;padding:24px 32px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 10px}
h3{font-size:15px;margin:0 0 6px;overflow-wrap:anywhere}
a{color:#0b5cad;text-decoration:none}a:hover{text-decoration:underline}
code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;color:#57606a}
.meta{color:#57606a;margin:0 0 16px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:14px}
.card{background:#fff;border:1px solid #d8dee4;border-radius:8px;padding:12px 14px;min-width:0}
.tag{display:inline-block;font-size:11px;font-weight:600;padding:1px 7px;border-radius:10px;
background:#eaeef2;color:#424a53;vertical-align:2px;margin-left:4px}
.tag.error,.tag.drift{background:#ffebe9;color:#b42318}.tag.warning{background:#fff1d6;color:#9a5b00}
.tag.info{background:#ddf4ff;color:#0b5cad}.tag.ok{background:#dafbe1;color:#1a7f37}
dl{display:grid;grid-template-columns:auto 1fr auto 1fr;gap:1px 10px;margin:6px 0 8px;
font-size:13px}
dt{color:#57606a}dd{margin:0;font-variant-numeric:tabular-nums;overflow-wrap:anywhere}
.warn{color:#b35900;font-weight:600}
table{border-collapse:collapse;width:100%;font-size:13px;background:#fff}
th{text-align:left;font-weight:600;color:#424a53;border-bottom:2px solid #d8dee4;padding:5px 8px}
td{border-bottom:1px solid #eaeef2;padding:4px 8px;vertical-align:top;overflow-wrap:anywhere}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.drifted td{background:#fff5f4}
.box{background:#fff;border:1px solid #d8dee4;border-radius:8px;overflow:hidden}
svg.hist{width:100%;height:auto;display:block}
svg .s0{fill:#4c78a8;opacity:.75}svg .s1{fill:#f58518;fill-opacity:.1;stroke:#e45f00;
stroke-width:1.6}svg .hit{fill:transparent}svg .hit:hover{fill:rgba(0,0,0,.07)}
svg .axis{stroke:#8c959f}svg .mark{stroke:#b42318;stroke-dasharray:3 2;stroke-width:1.4}
svg text.ax{font-size:10px;fill:#57606a}
.bars{table-layout:fixed;background:none}.bars td{border:0;padding:1px 4px}
.bars td.v{width:38%;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.bars td.n{width:17%}.bar i{display:block;height:7px;border-radius:2px;background:#4c78a8;
margin:1px 0}.bar i.c{background:#f58518}.bars tr.out td.v{color:#b42318}
.bars tr.out .bar i{background:#d1242f}
.legend{font-size:12px;color:#57606a}.legend i{display:inline-block;width:10px;height:10px;
border-radius:2px;margin:0 4px 0 10px;vertical-align:-1px}.legend .b{background:#4c78a8}
.legend .c{background:#f58518}
.spec{font-size:12px;color:#57606a;margin:0 0 4px}
.verdict{font-size:18px;font-weight:700;padding:10px 14px;border-radius:8px;margin:10px 0}
.verdict.bad{background:#ffebe9;color:#b42318}.verdict.warn{background:#fff1d6;color:#9a5b00}.verdict.good{background:#dafbe1;color:#1a7f37}
ul.anoms{margin:4px 0 6px;padding-left:18px;font-size:13px}
.tabs>input{position:absolute;opacity:0}.tabs>label{display:inline-block;padding:6px 14px;
margin:0 4px 12px 0;border:1px solid #d8dee4;border-radius:16px;background:#fff;cursor:pointer}
.pane{display:none}.empty{color:#57606a;font-style:italic}
details>summary{cursor:pointer;margin:6px 0}
footer{margin-top:32px;color:#8c959f;font-size:12px}
"""


def esc(text: object) -> str:
    """HTML-escaped text (quotes too, so it is safe in attributes)."""
    return html.escape(str(text), quote=True)


def clip(text: str, limit: int = MAX_LABEL) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def page(title: str, body: str, *, css: str = "") -> str:
    """A complete, self-contained HTML document."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{esc(title)}</title><style>{_CSS}{css}</style></head><body>"
        f"{body}<footer>generated by mloop</footer></body></html>\n"
    )


# ---------------------------------------------------------------------------- formats


def num(value: float | int | None) -> str:
    """A number for people: ``1,234,567``, ``3.142``, ``12,345.7``, ``1.2e-05``."""
    if value is None:
        return DASH
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    x = float(value)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    a = abs(x)
    if a == 0:
        return "0"
    if a >= 1e15 or a < 1e-4:
        return f"{x:.3g}"
    digits = max(4, math.floor(math.log10(a)) + 2)
    return f"{x:,.{digits}g}"


def pct(fraction: float) -> str:
    """A share as a percentage, with two significant digits below 1%."""
    if fraction != fraction:  # NaN
        return DASH
    if 0 < fraction < 0.0001:
        return "<0.01%"
    if 0 < fraction < 0.01:
        return f"{fraction * 100:.2g}%"
    if 0.999 < fraction < 1:
        return ">99.9%"
    return f"{fraction:.1%}"


def time_label(seconds: float, span: float, tz: str | None = None) -> str:
    """Epoch seconds as a date (spans of days) or a date and time."""
    try:
        t = _dt.datetime.fromtimestamp(seconds, tz=_dt.UTC)
        if tz is not None:
            from zoneinfo import ZoneInfo

            with contextlib.suppress(KeyError, ValueError):
                t = t.astimezone(ZoneInfo(tz))
    except (OverflowError, OSError, ValueError):
        return num(seconds)
    if span >= 3 * 86400:
        return t.strftime("%Y-%m-%d")
    if span >= 120:
        return t.strftime("%Y-%m-%d %H:%M")
    return t.strftime("%H:%M:%S.%f")[:-3]


def _when(value: object) -> str:
    if isinstance(value, _dt.datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, _dt.date):
        return value.isoformat()
    return DASH


# ---------------------------------------------------------------------------- charts

Sketched = NumericStatistics | TimestampStatistics


def value_range(st: Sketched) -> tuple[float, float] | None:
    """Smallest and largest finite value (epoch seconds for timestamps)."""
    if isinstance(st, NumericStatistics):
        if not st.finite or st.min is None or st.max is None:
            return None
        return float(st.min), float(st.max)
    if not st.count or st.sketch.n == 0:
        return None
    q = st.quantiles([0.0, 1.0])
    return float(q[0]), float(q[1])


def counts_on(st: Sketched, edges: np.ndarray) -> np.ndarray:
    """Estimated number of finite values in each bin ``(e[i], e[i+1]]`` (the first bin
    closed on the left too), from the sketch; ``edges`` span all of the values."""
    n = _sketched_n(st)
    if not n or len(edges) < 2:
        return np.zeros(max(len(edges) - 1, 0))
    cum = np.maximum.accumulate(st.cdf(edges[1:]))
    return np.clip(np.diff(cum, prepend=0.0), 0.0, None) * n


def _sketched_n(st: Sketched) -> int:
    return st.finite if isinstance(st, NumericStatistics) else st.sketch.n


def edges_for(lo: float, hi: float, bins: int = BINS) -> np.ndarray:
    return np.linspace(lo, hi, bins + 1) if hi > lo else np.array([lo, hi])


def histogram_of(
    sides: Sequence[Sketched],
    names: Sequence[str],
    *,
    shares: bool,
    marks: Sequence[tuple[float, str]] = (),
) -> str:
    """An equal-width histogram of one feature (or of two, overlaid, on shared bins)."""
    ranges = [r for r in (value_range(s) for s in sides) if r is not None]
    if not ranges:
        return '<p class="empty">no finite values to plot</p>'
    lo, hi = min(r[0] for r in ranges), max(r[1] for r in ranges)
    edges = edges_for(lo, hi)
    series = []
    for st in sides:
        counts = counts_on(st, edges) if len(edges) > 2 else np.array([float(_sketched_n(st))])
        total = counts.sum()
        series.append(counts / total if shares and total else counts)
    first = sides[0]
    label: Callable[[float], str] = num
    if isinstance(first, TimestampStatistics):
        span, tz = hi - lo, first.tz

        def label(x: float) -> str:
            return time_label(x, span, tz)

    return histogram_svg(
        edges, series, names=names, label=label, value=pct if shares else _count, marks=marks
    )


def _count(value: float) -> str:
    return f"{round(value):,}"


def bar_table(
    rows: Sequence[tuple[str, Sequence[float]]],
    *,
    outside: Iterable[str] = (),
    note: str = "",
) -> str:
    """Horizontal bars of shares, one row per value (one bar per side: baseline, current)."""
    if not rows:
        return '<p class="empty">no values</p>'
    top = max((max(v) for _, v in rows), default=0.0) or 1.0
    out = set(outside)
    html_rows = []
    for value, shares in rows:
        bars = "".join(
            f'<i{" class=c" if i else ""} style="width:{100 * s / top:.1f}%"></i>'
            for i, s in enumerate(shares)
        )
        nums = " / ".join(pct(s) for s in shares)
        cls = ' class="out"' if value in out else ""
        html_rows.append(
            f'<tr{cls}><td class="v" title="{esc(clip(value, MAX_TITLE))}">'
            f'{esc(clip(value))}</td><td class="bar">{bars}</td><td class="n">{nums}</td></tr>'
        )
    foot = f'<p class="spec">{esc(note)}</p>' if note else ""
    return f'<table class="bars">{"".join(html_rows)}</table>{foot}'


# ---------------------------------------------------------------------------- cards


def spec_summary(spec: FeatureSpec) -> str:
    """The rules of a schema feature, in one line of plain text."""
    parts: list[str] = [spec.type]
    if spec.required:
        parts.append("required")
    elif spec.presence > 0:
        parts.append(f"present in ≥ {pct(spec.presence)}")
    if spec.range is not None:
        parts.append(f"range {spec.range}")
    if spec.domain is not None:
        shown = ", ".join(clip(v, 24) for v in spec.domain[:5])
        more = f", … ({len(spec.domain)} values)" if len(spec.domain) > 5 else ""
        parts.append(f"domain {{{shown}{more}}}")
    if spec.type == "float":
        if not spec.allow_nan:
            parts.append("no NaN")
        if not spec.allow_inf:
            parts.append("no inf")
    if spec.environments:
        parts.append("only in " + ", ".join(spec.environments))
    if spec.not_in:
        parts.append("not in " + ", ".join(spec.not_in))
    if spec.drift is not None:
        parts.append(f"drift {spec.drift.metric} > {num(spec.drift.threshold)}")
    return " · ".join(parts)


def _pairs(items: Sequence[tuple[str, str, bool]]) -> str:
    cells = "".join(
        f"<dt>{esc(k)}</dt><dd{' class=warn' if flag else ''}>{v}</dd>" for k, v, flag in items
    )
    return f"<dl>{cells}</dl>"


def _share(n: int, total: int) -> str:
    return f"{num(n)} ({pct(n / total)})" if total else num(n)


def summary_items(st: FeatureStatistics) -> list[tuple[str, str, bool]]:
    """(label, escaped value, highlight) pairs summarizing a feature."""
    rows = st.num_rows
    items = [
        ("count", num(st.count), False),
        ("missing", _share(st.missing, rows), st.missing > 0),
    ]
    if isinstance(st, NumericStatistics):
        q = st.quantiles([0.25, 0.5, 0.75]) if st.finite else [math.nan] * 3
        items += [
            ("zeros", _share(st.zeros, st.count), False),
            ("NaN", _share(st.nan, st.count), st.nan > 0),
        ]
        if st.inf:
            items.append(("inf", _share(st.inf, st.count), True))
        items += [
            ("mean", num(st.mean), False),
            ("std", num(st.std), False),
            ("min", num(st.min), False),
            ("p25", num(float(q[0])), False),
            ("median", num(float(q[1])), False),
            ("p75", num(float(q[2])), False),
            ("max", num(st.max), False),
        ]
    elif isinstance(st, CategoricalStatistics):
        about = "" if st.distinct_is_exact else "≈ "
        items += [
            ("distinct", about + num(st.distinct), False),
            ("avg length", num(st.avg_length), False),
        ]
    elif isinstance(st, TimestampStatistics):
        items += [("min", esc(_when(st.min)), False), ("max", esc(_when(st.max)), False)]
    return items


def top_rows(st: CategoricalStatistics, k: int = TOP_K) -> list[tuple[str, Sequence[float]]]:
    total = st.values.total or st.count
    return [(v, [c / total]) for v, c in st.top(k)] if total else []


def chart(st: FeatureStatistics, *, spec: FeatureSpec | None = None) -> str:
    """The distribution chart of a feature (histogram or top values)."""
    if isinstance(st, NumericStatistics | TimestampStatistics):
        marks = []
        if spec is not None and spec.range is not None and isinstance(st, NumericStatistics):
            marks = [
                (float(b), f"schema range {which} {num(b)}")
                for which, b in (("min", spec.range.min), ("max", spec.range.max))
                if b is not None
            ]
        return histogram_of([st], ["count"], shares=False, marks=marks)
    if isinstance(st, CategoricalStatistics):
        rows = top_rows(st)
        outside: list[str] = []
        if spec is not None and spec.domain is not None:
            allowed = set(spec.domain)
            outside = [v for v, _ in rows if v not in allowed]
        more = st.distinct - len(rows)
        about = "" if st.distinct_is_exact else "≈ "
        note = f"top {len(rows)} of {about}{num(st.distinct)} values" if more > 0 else ""
        if not st.distinct_is_exact:
            note += " (shares estimated from a sketch: lower bounds)"
        return bar_table(rows, outside=outside, note=note)
    return f'<p class="empty">no distribution summary for {esc(st.type)}</p>'


def feature_card(
    st: FeatureStatistics,
    anchor: str,
    *,
    spec: FeatureSpec | None = None,
    extra: str = "",
) -> str:
    """One feature: name, kind and type, summary numbers, chart; ``extra`` is trusted
    HTML placed under the heading (e.g. the feature's anomalies)."""
    rule = f'<p class="spec">schema: {esc(spec_summary(spec))}</p>' if spec else ""
    return (
        f'<section class="card" id="{anchor}"><h3>{esc(st.name)}'
        f'<span class="tag">{st.kind}</span> <code>{esc(st.type)}</code></h3>{rule}{extra}'
        f"{_pairs(summary_items(st))}{chart(st, spec=spec)}</section>"
    )


def key_summary(st: FeatureStatistics) -> str:
    """The one-cell summary of a feature in overview tables (plain text)."""
    if isinstance(st, NumericStatistics):
        if not st.finite:
            return "no finite values"
        return f"mean {num(st.mean)} · std {num(st.std)} · [{num(st.min)}, {num(st.max)}]"
    if isinstance(st, CategoricalStatistics):
        top = st.top(3)
        total = st.values.total or st.count
        shown = ", ".join(f"{clip(v, 24)!r} {pct(c / total)}" for v, c in top) if total else ""
        about = "" if st.distinct_is_exact else "≈"
        return f"{about}{num(st.distinct)} distinct" + (f" · {shown}" if shown else "")
    if isinstance(st, TimestampStatistics):
        return f"{_when(st.min)} {DASH} {_when(st.max)}" if st.count else "no values"
    return ""


def overview_table(stats: DatasetStatistics, anchors: Mapping[str, str]) -> str:
    rows = []
    for name, st in stats.features.items():
        miss = st.missing_ratio
        rows.append(
            f'<tr><td><a href="#{anchors[name]}">{esc(name)}</a></td><td>{st.kind}</td>'
            f"<td><code>{esc(st.type)}</code></td>"
            f'<td class="n{" warn" if st.missing else ""}">{pct(miss)}</td>'
            f"<td>{esc(key_summary(st))}</td></tr>"
        )
    head = "<tr><th>feature</th><th>kind</th><th>type</th><th>missing</th><th>summary</th></tr>"
    return f'<div class="box"><table>{head}{"".join(rows)}</table></div>'

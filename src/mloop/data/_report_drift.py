"""The drift page of the HTML reports (see :mod:`mloop.data._report`)."""

from __future__ import annotations

import math

from mloop.data._drift import DriftResult, FeatureDrift
from mloop.data._model import (
    CategoricalStatistics,
    DatasetStatistics,
    FeatureStatistics,
    NumericStatistics,
    TimestampStatistics,
)
from mloop.data._report_base import (
    DASH,
    TOP_K,
    bar_table,
    esc,
    histogram_of,
    num,
    page,
    pct,
    summary_items,
)

__all__ = ["drift_html", "drift_order", "relative_distance"]

_LEGEND = '<span class="legend"><i class="b"></i>baseline<i class="c"></i>current</span>'


def relative_distance(f: FeatureDrift) -> float:
    """How far past (> 1) or below (< 1) its threshold a feature is; 0 when not compared.

    ``value / threshold``, except for ``ks``, which decides on its p-value:
    ``threshold / p``.
    """
    if f.metric is None or f.value is None or f.threshold is None:
        return 0.0
    if f.metric == "ks":
        p = f.p_value if f.p_value is not None else 1.0
        return f.threshold / max(p, 1e-300)
    if f.threshold <= 0:
        return math.inf if f.value > 0 else 0.0
    return f.value / f.threshold


def drift_order(result: DriftResult) -> list[FeatureDrift]:
    """Drifted features first, then compared ones, each by relative distance (largest
    first), then features that were not compared, in column order."""
    return sorted(
        result.features.values(),
        key=lambda f: (not f.drifted, f.metric is None, -relative_distance(f)),
    )


def _threshold(f: FeatureDrift) -> str:
    if f.threshold is None:
        return ""
    return f"p &lt; {num(f.threshold)}" if f.metric == "ks" else num(f.threshold)


def _distance(f: FeatureDrift) -> str:
    if f.value is None:
        return ""
    text = num(f.value)
    if f.metric == "ks" and f.p_value is not None:
        text += f" (p {num(f.p_value)})"
    return text


def _extra(f: FeatureDrift) -> str:
    return " · ".join(
        f"{k} {num(v)}" for k, v in f.metrics.items() if k not in (f.metric, "ks_pvalue")
    )


def _status(f: FeatureDrift) -> str:
    if f.drifted:
        return '<span class="tag drift">drifted</span>'
    if f.status == "ok":
        return (
            '<span class="tag ok">ok</span>'
            if f.metric
            else '<span class="tag">not compared</span>'
        )
    return f'<span class="tag">{esc(f.status.replace("_", " "))}</span>'


def _table(order: list[FeatureDrift], anchors: dict[str, str]) -> str:
    rows = []
    for f in order:
        name = esc(f.name)
        if f.name in anchors:
            name = f'<a href="#{anchors[f.name]}">{name}</a>'
        note = f'<br><span class="spec">{esc(f.message)}</span>' if f.message else ""
        rows.append(
            f"<tr{' class=drifted' if f.drifted else ''}><td>{name}{note}</td>"
            f"<td>{esc(f.kind)}</td><td>{esc(f.metric or '')}</td><td class=n>{_distance(f)}</td>"
            f"<td class=n>{_threshold(f)}</td><td>{_status(f)}</td><td>{esc(_extra(f))}</td></tr>"
        )
    head = (
        "<tr><th>feature</th><th>kind</th><th>metric</th><th>distance</th><th>threshold</th>"
        "<th>status</th><th>other metrics</th></tr>"
    )
    return f'<div class="box"><table>{head}{"".join(rows)}</table></div>'


def _paired_top(a: CategoricalStatistics, b: CategoricalStatistics) -> str:
    fa, fb = a.frequencies(), b.frequencies()
    keys = list(dict.fromkeys([v for v, _ in a.top(TOP_K)] + [v for v, _ in b.top(TOP_K)]))
    keys.sort(key=lambda v: -max(fa.get(v, 0.0), fb.get(v, 0.0)))
    shown = keys[:TOP_K]
    rows = [(v, [fa.get(v, 0.0), fb.get(v, 0.0)]) for v in shown]
    more = len(set(fa) | set(fb)) - len(shown)
    return bar_table(rows, note=f"{len(shown)} most frequent values" if more > 0 else "")


def _comparison(a: FeatureStatistics, b: FeatureStatistics) -> str:
    left, right = summary_items(a), dict((k, v) for k, v, _ in summary_items(b))
    rows = "".join(
        f"<tr><td>{esc(k)}</td><td class=n>{v}</td><td class=n>{right.get(k, DASH)}</td></tr>"
        for k, v, _ in left
    )
    return (
        '<table class="cmp"><tr><th></th><th class=n>baseline</th><th class=n>current</th></tr>'
        f"{rows}</table>"
    )


def _card(f: FeatureDrift, a: FeatureStatistics, b: FeatureStatistics, anchor: str) -> str:
    if isinstance(a, NumericStatistics | TimestampStatistics) and isinstance(
        b, NumericStatistics | TimestampStatistics
    ):
        chart = histogram_of([a, b], ["baseline", "current"], shares=True)
    elif isinstance(a, CategoricalStatistics) and isinstance(b, CategoricalStatistics):
        chart = _paired_top(a, b)
    else:
        chart = '<p class="empty">no distribution to compare</p>'
    line = ""
    if f.metric is not None and f.value is not None:
        line = f"{esc(f.metric)} {_distance(f)}, threshold {_threshold(f)}"
    elif f.message:
        line = esc(f.message)
    return (
        f'<section class="card" id="{anchor}"><h3>{esc(f.name)}{_status(f)}'
        f' <span class="tag">{esc(f.kind)}</span></h3><p class="spec">{line}</p>'
        f"{chart}{_comparison(a, b)}</section>"
    )


def drift_html(
    result: DriftResult,
    *,
    baseline: DatasetStatistics | None = None,
    current: DatasetStatistics | None = None,
    title: str | None = None,
) -> str:
    """The drift page: verdict, feature table, and (given both statistics) feature cards."""
    title = title or "Data drift"
    drifted, compared = result.drifted_features, result.compared_features
    body = [f"<h1>{esc(title)}</h1>"]
    meta = [f"{len(result.features)} features, {len(compared)} compared"]
    if baseline is not None:
        meta.append(f"baseline {num(baseline.num_rows)} rows")
    if current is not None:
        meta.append(f"current {num(current.num_rows)} rows")
    if result.drift_share > 0:
        meta.append(f"dataset drifts when ≥ {pct(result.drift_share)} of features drift")
    body.append(f"<p class=meta>{' · '.join(meta)}</p>")
    counted = f"{len(drifted)} of {len(compared)} compared features drifted"
    if result.drifted:
        body.append(f'<div class="verdict bad">Drift detected: {counted}</div>')
    else:
        body.append(f'<div class="verdict good">No drift: {counted}</div>')
    order = drift_order(result)
    cards: list[str] = []
    anchors: dict[str, str] = {}
    if baseline is not None and current is not None:
        for i, f in enumerate(order):
            a, b = baseline.features.get(f.name), current.features.get(f.name)
            if a is not None and b is not None and a.kind == b.kind:
                anchors[f.name] = f"f{i}"
                cards.append(_card(f, a, b, anchors[f.name]))
    body.append(f"<h2>Features</h2>{_table(order, anchors)}")
    if cards:
        body.append(f'<h2>Distributions {_LEGEND}</h2><div class="grid">{"".join(cards)}</div>')
    elif baseline is None or current is None:
        body.append(
            '<p class="empty">pass the baseline and current statistics to see the distributions</p>'
        )
    css = "table.cmp{margin-top:8px;font-size:12px}table.cmp td,table.cmp th{padding:1px 6px}"
    return page(title, "".join(body), css=css)

"""Inline SVG histograms for the HTML reports: a few hundred bytes of markup per chart.

:func:`histogram_svg` draws equal-width bins of one series as bars, and optionally a
second series over them as a step line (baseline vs current). Its size depends on the
number of bins, never on the number of rows behind the counts. Every label is escaped.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["histogram_svg"]

WIDTH, HEIGHT = 480, 140
_LEFT, _RIGHT, _TOP, _BOTTOM = 4.0, 476.0, 16.0, 120.0


def _n(value: float) -> str:
    """A coordinate with one decimal at most (``12``, ``12.5``)."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def histogram_svg(
    edges: np.ndarray,
    series: Sequence[np.ndarray],
    *,
    names: Sequence[str],
    label: Callable[[float], str],
    value: Callable[[float], str],
    marks: Sequence[tuple[float, str]] = (),
) -> str:
    """Bars of ``series[0]`` over bins ``edges`` (and ``series[1]`` as a step line).

    ``label`` formats an x value (axis labels), ``value`` a bar height (tooltips and the
    y maximum); ``names`` name the series in tooltips. ``marks`` are vertical dashed lines
    at x positions (e.g. a schema's range bounds) with their captions. Each bin has a hover
    area whose tooltip gives its interval and the value of every series.
    """
    edges = np.asarray(edges, dtype=np.float64)
    lo, hi = float(edges[0]), float(edges[-1])
    span = hi - lo
    width = _RIGHT - _LEFT
    xs = _LEFT + (edges - lo) / span * width if span > 0 else np.linspace(_LEFT, _RIGHT, len(edges))
    top = max((float(np.max(s)) for s in series if len(s)), default=0.0)
    scale = (_BOTTOM - _TOP) / top if top > 0 else 0.0
    parts = [
        f'<svg class="hist" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f'<text x="{_n(_LEFT)}" y="10" class="ax">max {html.escape(value(top))}</text>',
    ]
    first = series[0]
    for i, height in enumerate(first):
        h = float(height) * scale
        if h > 0:
            w = max(float(xs[i + 1] - xs[i]) - 1.0, 0.5)
            parts.append(
                f'<rect class="s0" x="{_n(xs[i] + 0.5)}" y="{_n(_BOTTOM - h)}" '
                f'width="{_n(w)}" height="{_n(h)}"/>'
            )
    if len(series) > 1 and len(series[1]):
        ys = [_BOTTOM - float(v) * scale for v in series[1]]
        path = [f"M{_n(xs[0])} {_n(_BOTTOM)}"]
        for i, y in enumerate(ys):
            path.append(f"V{_n(y)}H{_n(xs[i + 1])}")
        path.append(f"V{_n(_BOTTOM)}")
        parts.append(f'<path class="s1" d="{"".join(path)}"/>')
    for x_value, caption in marks:
        if span > 0 and lo <= x_value <= hi:
            x = _n(_LEFT + (x_value - lo) / span * width)
            parts.append(
                f'<line class="mark" x1="{x}" x2="{x}" y1="{_n(_TOP - 4)}" y2="{_n(_BOTTOM)}">'
                f"<title>{html.escape(caption)}</title></line>"
            )
    for i in range(len(first)):
        tip = f"{label(float(edges[i]))} \u2013 {label(float(edges[i + 1]))}: " + ", ".join(
            f"{name} {value(float(s[i]))}" for name, s in zip(names, series, strict=False)
        )
        parts.append(
            f'<rect class="hit" x="{_n(xs[i])}" y="{_n(_TOP)}" '
            f'width="{_n(xs[i + 1] - xs[i])}" height="{_n(_BOTTOM - _TOP)}">'
            f"<title>{html.escape(tip)}</title></rect>"
        )
    axis_y = _n(_BOTTOM + 14)
    parts.append(
        f'<line class="axis" x1="{_n(_LEFT)}" x2="{_n(_RIGHT)}" y1="{_n(_BOTTOM)}" '
        f'y2="{_n(_BOTTOM)}"/>'
        f'<text x="{_n(_LEFT)}" y="{axis_y}" class="ax">{html.escape(label(lo))}</text>'
        f'<text x="{_n(_RIGHT)}" y="{axis_y}" class="ax" text-anchor="end">'
        f"{html.escape(label(hi))}</text>"
    )
    if span > 0:
        mid = _n((_LEFT + _RIGHT) / 2)
        parts.append(
            f'<text x="{mid}" y="{axis_y}" class="ax" text-anchor="middle">'
            f"{html.escape(label(lo + span / 2))}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)

"""HTML reports: one self-contained page per statistics, validation or drift result.

:func:`render_html` picks the page by the type of its first argument:

- :class:`DatasetStatistics` → **statistics page**: rows and splits, an overview table,
  and a card per feature (numbers: count, missing, zeros, NaN, mean, std, min, quartiles,
  max and an equal-width histogram; categories: distinct values, average length and the
  top values as bars; timestamps: min, max and a histogram). With splits, "all" and each
  split are tabs (pure CSS). A ``schema`` adds each feature's rules to its card.
- :class:`Anomalies` → **validation page**: anomalies grouped by severity (feature, kind,
  description, examples). With ``current_statistics`` (the validated statistics) and a
  ``schema``, each feature with anomalies gets its card, with the schema's range drawn on
  the histogram and values outside the domain in red.
- :class:`DriftResult` → **drift page** (:mod:`mloop.data._report_drift`): the verdict, a
  table of features (drifted first, then by distance relative to the threshold) with
  metric, distance, threshold and extra metrics, and with ``baseline_statistics`` and
  ``current_statistics`` a card per compared feature: histograms overlaid (numbers,
  timestamps) or paired bars (top values), and both sides' summaries.

Pages have inline CSS and inline SVG, no script, and nothing is fetched, so a page can be
mailed, stored as an artifact or opened offline. Size grows with the number of features
(about 3-4 KB each), never with rows. An argument that a page does not use is an error
rather than silently ignored.
"""

from __future__ import annotations

from mloop.data._drift import DriftResult
from mloop.data._errors import DataError
from mloop.data._model import DatasetStatistics
from mloop.data._report_base import (
    esc,
    feature_card,
    num,
    overview_table,
    page,
)
from mloop.data._schema import SEVERITIES, Schema
from mloop.data._validate import Anomalies, Anomaly

__all__ = ["anomalies_html", "render_html", "statistics_html"]

_PLURAL = {"error": "Errors", "warning": "Warnings", "info": "Info"}


def render_html(
    result: DatasetStatistics | Anomalies | DriftResult,
    *,
    baseline_statistics: DatasetStatistics | None = None,
    current_statistics: DatasetStatistics | None = None,
    schema: Schema | None = None,
    title: str | None = None,
) -> str:
    """The HTML report of ``result`` (see the module docs for what each page shows).

    ``schema`` applies to statistics and validation pages, ``current_statistics`` to
    validation (the validated statistics) and drift pages, ``baseline_statistics`` to drift
    pages; passing one where it does not apply is a :class:`DataError`.
    """
    if isinstance(result, DatasetStatistics):
        _refuse("a statistics", baseline_statistics=baseline_statistics, current=current_statistics)
        return statistics_html(result, schema=schema, title=title)
    if isinstance(result, Anomalies):
        _refuse("a validation", baseline_statistics=baseline_statistics)
        return anomalies_html(result, statistics=current_statistics, schema=schema, title=title)
    if isinstance(result, DriftResult):
        from mloop.data._report_drift import drift_html

        _refuse("a drift", schema=schema)
        return drift_html(
            result, baseline=baseline_statistics, current=current_statistics, title=title
        )
    raise DataError(
        "render_html takes DatasetStatistics, Anomalies or a DriftResult, "
        f"got {type(result).__name__}"
    )


def _refuse(what: str, **unused: object) -> None:
    for name, value in unused.items():
        if value is not None:
            arg = "current_statistics" if name == "current" else name
            raise DataError(f"{what} report does not use {arg}")


# ---------------------------------------------------------------------------- statistics


def _cards(
    stats: DatasetStatistics,
    prefix: str,
    schema: Schema | None,
    names: list[str] | None = None,
    extra: dict[str, str] | None = None,
) -> tuple[dict[str, str], str]:
    """Anchors of every feature, and the cards of ``names`` (default: every feature)."""
    chosen = stats.names if names is None else [n for n in names if n in stats]
    anchors = {name: f"{prefix}f{i}" for i, name in enumerate(stats.names)}
    cards = "".join(
        feature_card(
            stats.features[name],
            anchors[name],
            spec=schema.features.get(name) if schema is not None else None,
            extra=(extra or {}).get(name, ""),
        )
        for name in chosen
    )
    return anchors, f'<div class="grid">{cards}</div>'


def _pane(stats: DatasetStatistics, prefix: str, schema: Schema | None) -> str:
    if not stats.features:
        return '<p class="empty">no features</p>'
    anchors, cards = _cards(stats, prefix, schema)
    return f"<h2>Features</h2>{overview_table(stats, anchors)}<h2>Distributions</h2>{cards}"


def statistics_html(
    stats: DatasetStatistics, *, schema: Schema | None = None, title: str | None = None
) -> str:
    """The statistics page (see the module docs)."""
    title = title or "Dataset statistics"
    meta = f"{num(stats.num_rows)} rows · {len(stats.features)} features"
    if stats.splits:
        meta += " · splits: " + ", ".join(
            f"{esc(name)} ({num(s.num_rows)} rows)" for name, s in stats.splits.items()
        )
    head = f"<h1>{esc(title)}</h1><p class=meta>{meta}</p>"
    if not stats.splits:
        return page(title, head + _pane(stats, "", schema))
    panes = [("all", stats), *stats.splits.items()]
    tabs, bodies, css = [], [], []
    for i, (name, part) in enumerate(panes):
        checked = " checked" if i == 0 else ""
        tabs.append(
            f'<input type="radio" name="split" id="t{i}"{checked}>'
            f'<label for="t{i}">{esc(name)} <code>{num(part.num_rows)}</code></label>'
        )
        bodies.append(f'<div class="pane" id="p{i}">{_pane(part, f"s{i}", schema)}</div>')
        css.append(
            f"#t{i}:checked~#p{i}{{display:block}}"
            f"#t{i}:checked+label{{background:#1f2328;color:#fff;border-color:#1f2328}}"
        )
    body = f'{head}<div class="tabs">{"".join(tabs)}{"".join(bodies)}</div>'
    return page(title, body, css="".join(css))


# ---------------------------------------------------------------------------- validation


def _anomaly_row(a: Anomaly, anchors: dict[str, str]) -> str:
    if a.feature is None:
        feature = "<em>dataset</em>"
    elif a.feature in anchors:
        feature = f'<a href="#{anchors[a.feature]}">{esc(a.feature)}</a>'
    else:
        feature = esc(a.feature)
    examples = ", ".join(f"<code>{esc(repr(v)[:60])}</code>" for v in a.examples)
    about = ' <span class="tag">approx.</span>' if a.approximate else ""
    return (
        f"<tr><td>{feature}</td><td><code>{a.kind}</code></td>"
        f"<td>{esc(a.description)}{about}</td><td>{examples}</td></tr>"
    )


def _listed(anomalies: Anomalies) -> dict[str, str]:
    """Per feature, the list of its anomalies (severity and kind) for its card."""
    items: dict[str, list[str]] = {}
    for a in anomalies:
        if a.feature is not None:
            items.setdefault(a.feature, []).append(
                f'<li><span class="tag {a.severity}">{a.severity}</span> <code>{a.kind}</code></li>'
            )
    return {name: f'<ul class="anoms">{"".join(li)}</ul>' for name, li in items.items()}


def anomalies_html(
    anomalies: Anomalies,
    *,
    statistics: DatasetStatistics | None = None,
    schema: Schema | None = None,
    title: str | None = None,
) -> str:
    """The validation page (see the module docs)."""
    title = title or "Data validation"
    context = [
        f"{label} {esc(value)}"
        for label, value in (("environment", anomalies.environment), ("split", anomalies.split))
        if value is not None
    ]
    body = [f"<h1>{esc(title)}</h1>"]
    if context:
        body.append(f"<p class=meta>{' · '.join(context)}</p>")
    counts = {s: sum(a.severity == s for a in anomalies) for s in SEVERITIES}
    found = ", ".join(f"{n} {s}{'s' * (n != 1 and s != 'info')}" for s, n in counts.items() if n)
    if not anomalies:
        body.append('<div class="verdict good">No anomalies: the data matches the schema</div>')
    elif anomalies.has_errors:
        body.append(f'<div class="verdict bad">Data is invalid: {found}</div>')
    else:
        body.append(f'<div class="verdict warn">No errors ({found})</div>')
    data = statistics
    if data is not None and anomalies.split is not None and anomalies.split in data.splits:
        data = data.split(anomalies.split)
    names = list(dict.fromkeys(a.feature for a in anomalies if a.feature is not None))
    anchors: dict[str, str] = {}
    cards = ""
    if data is not None:
        anchors, cards = _cards(data, "", schema, names, _listed(anomalies))
        anchors = {n: a for n, a in anchors.items() if n in names}
    for severity in SEVERITIES:
        group = [a for a in anomalies if a.severity == severity]
        if not group:
            continue
        rows = "".join(_anomaly_row(a, anchors) for a in group)
        body.append(
            f'<h2>{_PLURAL[severity]} <span class="tag {severity}">{len(group)}</span></h2>'
            '<div class="box"><table><tr><th>feature</th><th>kind</th><th>description</th>'
            f"<th>examples</th></tr>{rows}</table></div>"
        )
    if anchors:
        body.append(f"<h2>Features with anomalies</h2>{cards}")
    return page(title, "".join(body))

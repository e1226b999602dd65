"""The self-contained HTML report of a training run."""

from __future__ import annotations

import html
import json
import logging
import math
from typing import TYPE_CHECKING, Any

from shared.contract.plots import PlotData

if TYPE_CHECKING:
    from shared.contract.evaluation import Evaluation
    from shared.contract.manifest import ColumnSchema, RowCounts
    from shared.contract.profiles import ProfileCatalog

logger = logging.getLogger(__name__)


# --- the HTML report --------------------------------------------------------------------------

_SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Segment maps", ("pca", "tsne")),
    ("Choosing the number of segments", ("elbow:", "silhouette_by_k:", "gmm_bic")),
    ("DBSCAN and the hierarchy", ("dbscan_kdistance", "dendrogram")),
    ("Silhouette per segment", ("silhouette:",)),
    ("Algorithm comparison", ("comparison",)),
    ("Exploratory analysis: distributions", ("hist:",)),
    ("Exploratory analysis: relations", ("scatter_matrix", "correlation", "violin:")),
    ("Data quality", ("missing",)),
)
_WIDE_FIGURES = ("scatter_matrix", "comparison", "correlation", "dendrogram")

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2733;
background:#f5f7fa}
header{background:#1f3b57;color:#fff;padding:18px 28px}
header h1{margin:0 0 4px;font-size:22px}
header p{margin:0;opacity:.85}
main{padding:8px 28px 40px;max-width:1500px;margin:auto}
h2{margin:28px 0 10px;font-size:18px;border-bottom:2px solid #d9e1ea;padding-bottom:4px}
h3{margin:0 0 6px;font-size:16px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(270px,1fr));gap:12px}
.card{background:#fff;border-radius:8px;padding:12px 14px;box-shadow:0 1px 3px rgba(0,0,0,.12);
border-top:5px solid var(--c)}
.card .size{color:#52606d;font-size:13px;margin-bottom:6px}
.card p{margin:6px 0;font-size:14px}
.card ul{margin:6px 0 0;padding-left:18px;font-size:13px;color:#334}
.figs{display:grid;grid-template-columns:repeat(auto-fill,minmax(480px,1fr));gap:12px}
.fig{background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.12);min-height:420px}
.fig.wide{grid-column:1/-1}
table{border-collapse:collapse;background:#fff;font-size:13px;margin:6px 0 12px}
th,td{border:1px solid #d9e1ea;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#e8eef7}
tr.champion td{background:#fff3cd}
.note{color:#52606d;font-size:13px}
details{margin:8px 0}
summary{cursor:pointer;font-weight:600}
"""

_RENDER_JS = """
(function () {
  var figures = JSON.parse(document.getElementById("report-figures").textContent);
  function draw(el) {
    var fig = figures[el.getAttribute("data-figure")];
    if (!fig || el.getAttribute("data-drawn")) { return; }
    el.setAttribute("data-drawn", "1");
    Plotly.newPlot(el, fig.data, fig.layout, {responsive: true, displaylogo: false});
  }
  var boxes = document.querySelectorAll("[data-figure]");
  if ("IntersectionObserver" in window) {
    var seen = new IntersectionObserver(function (entries) {
      entries.forEach(function (e) { if (e.isIntersecting) { draw(e.target); } });
    }, {rootMargin: "400px"});
    boxes.forEach(function (el) { seen.observe(el); });
  } else {
    boxes.forEach(draw);
  }
})();
"""


def render_report_html(
    *,
    title: str,
    plot_data: PlotData,
    evaluation: Evaluation,
    profiles: ProfileCatalog,
    columns: list[ColumnSchema],
    rows: RowCounts,
) -> str:
    """The self-contained ``report.html`` of one version (works offline: plotly.js is inlined).

    Every user-provided string is HTML-escaped; the figures travel as JSON in a
    ``<script type="application/json">`` block whose ``<``, ``>`` and ``&`` are ``\\u``-escaped,
    so no value can close the script or inject markup.

    Examples
    --------
    >>> from shared.contract.evaluation import Evaluation
    >>> from shared.contract.manifest import RowCounts
    >>> from shared.contract.plots import PlotData, PlotPoints
    >>> from shared.contract.profiles import ProfileCatalog
    >>> ev = Evaluation(sweeps={}, comparison=[], champion="kmeans", champion_reason="-",
    ...                 silhouette_sample=0)
    >>> page = render_report_html(title="<b>mall</b>", plot_data=PlotData(points=PlotPoints(
    ...     n=0, sampled_from=0)), evaluation=ev, profiles=ProfileCatalog(), columns=[],
    ...     rows=RowCounts(read=0, used=0, dropped=0))
    >>> "&lt;b&gt;mall&lt;/b&gt;" in page, "<script src" in page
    (True, False)
    """
    from plotly.offline import get_plotlyjs

    from shared.contract.layout import model_key

    champion_sweep = evaluation.sweeps.get(evaluation.champion)
    champion_key = model_key(
        evaluation.champion, champion_sweep.chosen_k if champion_sweep else None
    )
    parts: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<header><h1>{_e(title)}</h1><p>{rows.read:,} rows read, {rows.used:,} used, "
        f"{rows.dropped:,} dropped · champion: <b>{_e(evaluation.champion)}</b> "
        f"({_e(champion_key)})</p></header><main>",
    ]
    parts.append(_segments_html(profiles, champion_key, evaluation))
    parts.append(_comparison_html(evaluation))
    parts.append(_figures_html(plot_data))
    parts.append(_data_html(plot_data, columns, rows))
    parts.append("</main>")
    parts.append(
        '<script type="application/json" id="report-figures">'
        f"{_script_json(plot_data.figures)}</script>"
    )
    parts.append(f'<script type="text/javascript">{get_plotlyjs()}</script>')
    parts.append(f"<script>{_RENDER_JS}</script></body></html>")
    return "\n".join(parts)


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _script_json(value: object) -> str:
    """JSON safe inside a ``<script>`` element: no ``</script>``, no ``<!--``, no markup."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _number(value: float) -> str:
    if not math.isfinite(value):
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _outcome_items(segment: Any, overall: dict[str, Any]) -> list[str]:
    """One line per outcome rate (never clustered on): "Churn: 45% (27% overall)"."""
    items: list[str] = []
    for name, outcome in segment.outcomes.items():
        if outcome.rate is None or outcome.level is None:
            continue
        level = (
            "" if outcome.level.lower() in ("1", "true", "yes", "y", "t") else f" {outcome.level}"
        )
        base = overall.get(name)
        versus = f" ({base.rate:.0%} overall)" if base is not None and base.rate is not None else ""
        items.append(
            f'<li class="outcome"><b>{_e(name)}</b>: {outcome.rate:.0%}{_e(level)}{versus}</li>'
        )
    return items


def _card_html(
    segment: Any, population: dict[str, Any], outcomes: dict[str, Any] | None = None
) -> str:
    from shared.report.figures import segment_colour

    items: list[str] = []
    shown = segment.distinctive[:4] or list(segment.numeric)[:3]
    for feature in shown:
        if feature in segment.numeric:
            stats = segment.numeric[feature]
            overall = population.get(feature)
            versus = f" (overall {_number(overall.mean)})" if overall is not None else ""
            items.append(
                f"<li><b>{_e(feature)}</b>: mean {_number(stats.mean)}{versus}, median "
                f"{_number(stats.median)}, middle half {_number(stats.q1)}-{_number(stats.q3)}, "
                f"z {stats.z:+.2f}</li>"
            )
        elif feature in segment.categorical:
            mix = sorted(segment.categorical[feature].items(), key=lambda kv: -kv[1])[:3]
            shares = ", ".join(f"{_e(c)} {p:.0%}" for c, p in mix if p > 0)
            items.append(f"<li><b>{_e(feature)}</b>: {shares}</li>")
    items.extend(_outcome_items(segment, outcomes or {}))
    return (
        f'<div class="card" style="--c:{segment_colour(segment.segment_id)}">'
        f"<h3>{_e(segment.name)}</h3>"
        f'<div class="size">segment {segment.segment_id} · {segment.size:,} customers · '
        f"{segment.share:.1%}</div><p>{_e(segment.description)}</p>"
        f"<ul>{''.join(items)}</ul></div>"
    )


def _segments_html(profiles: ProfileCatalog, champion_key: str, evaluation: Evaluation) -> str:
    from shared.contract.layout import model_key

    parts = ["<h2>Segments</h2>"]
    keys = [champion_key] + [
        model_key(algorithm, sweep.chosen_k)
        for algorithm, sweep in evaluation.sweeps.items()
        if model_key(algorithm, sweep.chosen_k) != champion_key
    ]
    for i, key in enumerate(keys):
        segment_set = profiles.sets.get(key)
        if segment_set is None:
            continue
        population = dict(segment_set.population)
        cards = "".join(
            _card_html(s, population, segment_set.population_outcomes) for s in segment_set.segments
        )
        label = f"{_e(key)}: {segment_set.n_segments} segments"
        if i == 0:
            parts.append(f'<p class="note">Champion model {label}.</p>')
            parts.append(f'<div class="cards">{cards}</div>')
        else:
            parts.append(
                f'<details><summary>{label}</summary><div class="cards">{cards}</div></details>'
            )
    if len(parts) == 1:
        parts.append('<p class="note">No segment profiles in this version.</p>')
    return "".join(parts)


def _comparison_html(evaluation: Evaluation) -> str:
    def number(value: float | None, digits: int = 3) -> str:
        return "-" if value is None else f"{value:,.{digits}f}"

    head = (
        "<tr><th>algorithm</th><th>k</th><th>segments</th><th>silhouette ↑</th>"
        "<th>Davies-Bouldin ↓</th><th>Calinski-Harabasz ↑</th><th>noise share</th>"
        "<th>score</th><th>why this k</th></tr>"
    )
    body = []
    for row in evaluation.comparison:
        sweep = evaluation.sweeps.get(row.algorithm)
        noise = row.metrics.noise_share
        body.append(
            f'<tr class="{"champion" if row.champion else ""}"><td>{_e(row.algorithm)}'
            f"{' ★' if row.champion else ''}</td><td>{'-' if row.k is None else row.k}</td>"
            f"<td>{row.n_segments}</td><td>{number(row.metrics.silhouette)}</td>"
            f"<td>{number(row.metrics.davies_bouldin)}</td>"
            f"<td>{number(row.metrics.calinski_harabasz, 1)}</td>"
            f"<td>{'-' if noise is None else f'{noise:.1%}'}</td><td>{number(row.score)}</td>"
            f"<td>{_e(sweep.reason) if sweep else ''}</td></tr>"
        )
    return (
        "<h2>Algorithms</h2>"
        f"<table>{head}{''.join(body)}</table>"
        f'<p class="note">Champion: {_e(evaluation.champion)}. {_e(evaluation.champion_reason)} '
        f"Silhouette computed on {evaluation.silhouette_sample:,} sampled rows.</p>"
    )


def _figures_html(plot_data: PlotData) -> str:
    parts: list[str] = []
    placed: set[str] = set()
    names = list(plot_data.figures)
    for heading, prefixes in _SECTIONS:
        members = [
            n
            for n in names
            if n not in placed
            and any(n == p or (p.endswith(":") and n.startswith(p)) for p in prefixes)
        ]
        if not members:
            continue
        placed.update(members)
        parts.append(f"<h2>{_e(heading)}</h2>")
        if heading == "Segment maps":
            parts.append(_map_note(plot_data))
        parts.append(f'<div class="figs">{"".join(_figure_box(n) for n in members)}</div>')
    others = [n for n in names if n not in placed]
    if others:
        parts.append("<h2>More figures</h2>")
        parts.append(f'<div class="figs">{"".join(_figure_box(n) for n in others)}</div>')
    return "".join(parts)


def _figure_box(name: str) -> str:
    wide = " wide" if name in _WIDE_FIGURES else ""
    return f'<div class="fig{wide}" data-figure="{_e(name)}"></div>'


def _map_note(plot_data: PlotData) -> str:
    points = plot_data.points
    tsne = plot_data.summary.get("tsne") or {}
    method = tsne.get("method") if isinstance(tsne, dict) else None
    explained = ", ".join(f"{v:.0%}" for v in points.pca_explained)
    return (
        f'<p class="note">{points.n:,} customers sampled from {points.sampled_from:,} '
        f"({_e(plot_data.summary.get('sample', {}).get('method', ''))}). PCA explains "
        f"{_e(explained or '-')} of the variance. t-SNE: {_e(method or 'not computed')}.</p>"
    )


def _data_html(plot_data: PlotData, columns: list[ColumnSchema], rows: RowCounts) -> str:
    reasons = "".join(
        f"<li>{_e(reason)}: {count:,}</li>" for reason, count in rows.dropped_reasons.items()
    )
    imputed = "".join(
        f"<li>{_e(column)}: {count:,}</li>" for column, count in rows.imputed_values.items()
    )
    pairs = plot_data.summary.get("strongest_correlations") or []
    strongest = "".join(
        f"<li>{_e(p.get('a'))} ~ {_e(p.get('b'))}: r = {float(p.get('r', 0)):+.2f}</li>"
        for p in pairs
        if isinstance(p, dict)
    )
    schema = "".join(
        f"<tr><td>{_e(c.name)}</td><td>{_e(c.role)}</td><td>{_e(c.dtype)}</td>"
        f"<td>{'yes' if c.used else 'no'}</td><td>{c.missing:,}</td>"
        f"<td>{_e('' if c.imputed_with is None else c.imputed_with)}</td>"
        f"<td>{_e(c.transform or '')}</td><td>{_e(c.reason or '')}</td></tr>"
        for c in columns
    )
    return (
        "<h2>Data</h2>"
        f"<p>{rows.read:,} rows read, {rows.used:,} used, {rows.dropped:,} dropped.</p>"
        + (f"<p>Dropped rows by reason:</p><ul>{reasons}</ul>" if reasons else "")
        + (f"<p>Imputed values per column:</p><ul>{imputed}</ul>" if imputed else "")
        + (f"<p>Strongest correlations:</p><ul>{strongest}</ul>" if strongest else "")
        + "<table><tr><th>column</th><th>role</th><th>type</th><th>used</th><th>missing</th>"
        f"<th>imputed with</th><th>transform</th><th>note</th></tr>{schema}</table>"
    )

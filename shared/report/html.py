"""The self-contained HTML report of a training run."""

from __future__ import annotations

import html
import json
import logging
import math
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np

from shared.contract.plots import WIDE_FIGURES, PlotData
from shared.contract.transactions import TransactionSummary
from shared.quoting import quote_value

if TYPE_CHECKING:
    from shared.contract.evaluation import Evaluation
    from shared.contract.manifest import ColumnSchema, RowCounts
    from shared.contract.profiles import ProfileCatalog

logger = logging.getLogger(__name__)


# --- the HTML report --------------------------------------------------------------------------

_SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Segment maps", ("pca", "tsne")),
    (
        "Choosing the number of segments",
        ("elbow:", "silhouette_by_k:", "gmm_bic", "autoencoder_bottleneck"),
    ),
    ("DBSCAN and the hierarchy", ("dbscan_kdistance", "dendrogram")),
    ("Silhouette per segment", ("silhouette:",)),
    ("Exploratory analysis: distributions", ("hist:",)),
    ("Exploratory analysis: relations", ("scatter_matrix", "correlation", "violin:", "box:")),
    ("Data quality", ("missing",)),
)

_STATIC = "static"
_CSS_FILE = "report.css"
_JS_FILE = "report.js"


@lru_cache(maxsize=4)
def report_asset(name: str) -> str:
    """One of the report's own package data files (``report.css``, ``report.js``), as text.

    They ship inside the ``shared.report`` package (``[tool.setuptools.package-data]``) and are
    inlined into every report, which must work offline as a single file.

    Examples
    --------
    >>> "Plotly.newPlot" in report_asset("report.js")
    True
    """
    if name not in (_CSS_FILE, _JS_FILE):
        raise KeyError(name)
    text = resources.files("shared.report").joinpath(_STATIC, name).read_text(encoding="utf-8")
    closing = "</style" if name == _CSS_FILE else "</script"
    if closing in text.lower():  # would end the element it is inlined into
        raise ValueError(f"{name} contains {quote_value(closing)}")
    return text


def render_report_html(
    *,
    title: str,
    plot_data: PlotData,
    evaluation: Evaluation,
    profiles: ProfileCatalog,
    columns: list[ColumnSchema],
    rows: RowCounts,
    warnings: Sequence[str] = (),
    transactions: TransactionSummary | None = None,
) -> str:
    """The self-contained ``report.html`` of one version (works offline: plotly.js is inlined).

    The page opens with the version's ``warnings`` (the manifest's), then (for an order-line
    upload, ``transactions``) how the lines became customers, then the segments, the
    algorithm table and the figures: the published static ones of ``plot_data.figures`` and,
    built here from ``plot_data.points`` (:func:`report_figures`), the maps and the silhouette
    plots that the dashboard draws live.

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
    ...     rows=RowCounts(read=0, used=0, dropped=0), warnings=["weak <i>structure</i>"])
    >>> "&lt;b&gt;mall&lt;/b&gt;" in page, "<script src" in page
    (True, False)
    >>> "<li>weak &lt;i&gt;structure&lt;/i&gt;</li>" in page
    True
    """
    from plotly.offline import get_plotlyjs

    from shared.contract.layout import model_key

    champion_sweep = evaluation.sweeps.get(evaluation.champion)
    champion_key = model_key(
        evaluation.champion, champion_sweep.chosen_k if champion_sweep else None
    )
    figures = {**plot_data.figures, **report_figures(plot_data, evaluation, profiles)}
    parts: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{report_asset(_CSS_FILE)}</style></head><body>",
        f"<header><h1>{_e(title)}</h1><p>{rows.read:,} rows read, {rows.used:,} used, "
        f"{rows.dropped:,} dropped · champion: <b>{_e(evaluation.champion)}</b> "
        f"({_e(champion_key)})</p></header><main>",
    ]
    parts.append(_warnings_html(warnings))
    if transactions is not None:
        parts.append(_orders_html(transactions))
    profiled = [c.name for c in columns if c.profiled]
    parts.append(_segments_html(profiles, champion_key, evaluation, profiled))
    parts.append(_comparison_html(evaluation))
    parts.append(_figures_html(plot_data, list(figures)))
    parts.append(_data_html(plot_data, columns, rows))
    parts.append("</main>")
    parts.append(
        f'<script type="application/json" id="report-figures">{_script_json(figures)}</script>'
    )
    parts.append(f'<script type="text/javascript">{get_plotlyjs()}</script>')
    parts.append(f"<script>{report_asset(_JS_FILE)}</script></body></html>")
    return "\n".join(parts)


def report_figures(
    plot_data: PlotData, evaluation: Evaluation, profiles: ProfileCatalog
) -> dict[str, dict[str, Any]]:
    """The report's own copies of the figures the dashboard draws live, from ``points``.

    ``pca`` and ``tsne``: the maps coloured by the champion's segments; ``silhouette:<algorithm>``:
    the per-segment silhouette plot of each algorithm's chosen model. (The algorithm comparison
    is the report's HTML table.) A figure is absent when its points are.

    Examples
    --------
    >>> from shared.contract.evaluation import Evaluation
    >>> from shared.contract.plots import PlotPoints
    >>> from shared.contract.profiles import ProfileCatalog
    >>> points = PlotPoints(n=4, sampled_from=4, ids=[1, 2, 3, 4],
    ...                     pca=[[0, 0], [0, 1], [5, 5], [5, 6]], labels={"kmeans": [0, 0, 1, 1]},
    ...                     silhouette={"kmeans": [0.9, 0.8, 0.9, 0.8]})
    >>> ev = Evaluation(sweeps={}, comparison=[], champion="kmeans", champion_reason="-",
    ...                 silhouette_sample=4)
    >>> sorted(report_figures(PlotData(points=points), ev, ProfileCatalog()))
    ['pca', 'silhouette:kmeans']
    """
    import shared.report.figures as rf
    from shared.contract.layout import model_key

    points = plot_data.points
    figures: dict[str, dict[str, Any]] = {}
    champion_sweep = evaluation.sweeps.get(evaluation.champion)
    champion_key = model_key(
        evaluation.champion, champion_sweep.chosen_k if champion_sweep else None
    )
    map_key = champion_key if champion_key in points.labels else next(iter(points.labels), "")
    labels = points.labels.get(map_key)
    if labels is not None and points.n:
        segments = np.asarray(labels, dtype=np.int64)
        names = _segment_names(profiles, map_key)
        shares = [f"{v:.0%}" for v in points.pca_explained] + ["0%", "0%"]
        if len(points.pca) == points.n:
            figures["pca"] = rf.map_figure(
                f"PCA map coloured by {rf.text(map_key)} segments",
                np.asarray(points.pca, dtype=np.float64),
                segments,
                names,
                points.ids,
                (f"PC1 ({shares[0]} of variance)", f"PC2 ({shares[1]} of variance)"),
            )
        if points.tsne is not None and len(points.tsne) == points.n:
            figures["tsne"] = rf.map_figure(
                f"t-SNE map coloured by {rf.text(map_key)} segments",
                np.asarray(points.tsne, dtype=np.float64),
                segments,
                names,
                points.ids,
                ("t-SNE 1", "t-SNE 2"),
            )
    keys = {a: model_key(a, sweep.chosen_k) for a, sweep in evaluation.sweeps.items()}
    keys.setdefault(evaluation.champion, champion_key)
    for algorithm, key in keys.items():
        if key not in points.labels or key not in points.silhouette:
            continue
        figure = rf.silhouette_figure(
            key, points.silhouette[key], points.labels[key], _segment_names(profiles, key)
        )
        if figure is not None:
            figures[f"silhouette:{algorithm}"] = figure
    return figures


def _segment_names(profiles: ProfileCatalog, key: str | None) -> dict[int, str]:
    segment_set = profiles.sets.get(key) if key else None
    if segment_set is None:
        return {}
    return {s.segment_id: s.name for s in segment_set.segments}


def _orders_html(summary: TransactionSummary) -> str:
    """How an order-line upload became customers: evidence, counts, lines left out.

    Examples
    --------
    >>> from shared.contract.transactions import TransactionColumns, TransactionSpec
    >>> spec = TransactionSpec(columns=TransactionColumns(customer="c", date="d"),
    ...     features=["recency_days"], as_of="2024-01-01")
    >>> html = _orders_html(TransactionSummary(detected="auto", lines=10, used_lines=9,
    ...     customers=3, lines_per_customer=3, repeat_share=1, dropped={"no customer id": 1},
    ...     spec=spec))
    >>> "10 order lines" in html and "<li>no customer id: 1</li>" in html
    True
    """
    evidence = "".join(f"<li>{_e(line)}</li>" for line in summary.evidence)
    dropped = "".join(
        f"<li>{_e(reason)}: {n:,}</li>" for reason, n in sorted(summary.dropped.items())
    )
    features = ", ".join(_e(f) for f in summary.spec.features)
    return (
        '<section class="orders" id="orders"><h2>From order lines to customers</h2>'
        f"<p>{summary.lines:,} order lines ({_e(summary.first_date)} to "
        f"{_e(summary.last_date)}) became {summary.customers:,} customers: "
        f"{summary.used_lines:,} lines aggregated, {summary.return_lines:,} of them returns or "
        f"cancellations netted against purchases. Features per customer: {features}. Segment "
        "names follow the RFM map (recency, frequency, monetary scores 1-5 against all "
        "customers); the descriptive name is on each card.</p>"
        f"<ul>{evidence}</ul>"
        + (f"<p>Lines left out (never merged or imputed):</p><ul>{dropped}</ul>" if dropped else "")
        + "</section>"
    )


def _warnings_html(warnings: Sequence[str]) -> str:
    """The version's warnings, first thing on the page (nothing when there are none)."""
    if not warnings:
        return ""
    items = "".join(f"<li>{_e(w)}</li>" for w in warnings)
    heading = "Warning" if len(warnings) == 1 else f"{len(warnings)} warnings"
    return (
        f'<section class="warnings" id="warnings" role="note"><h2>{heading}: read before using '
        f"these segments</h2><ul>{items}</ul></section>"
    )


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


def _profiled_items(segment: Any, population: dict[str, Any], profiled: Sequence[str]) -> list[str]:
    """One line per profiled column (described, not clustered on): "Age: mean 32 (overall 39)"."""
    items: list[str] = []
    for name in profiled:
        if name in segment.numeric:
            stats = segment.numeric[name]
            overall = population.get(name)
            versus = f" (overall {_number(overall.mean)})" if overall is not None else ""
            items.append(
                f'<li class="profiled"><b>{_e(name)}</b>: mean {_number(stats.mean)}{versus}, '
                f"middle half {_number(stats.q1)}-{_number(stats.q3)}</li>"
            )
        elif name in segment.categorical:
            mix = sorted(segment.categorical[name].items(), key=lambda kv: -kv[1])[:3]
            shares = ", ".join(f"{_e(c)} {p:.0%}" for c, p in mix if p > 0)
            items.append(f'<li class="profiled"><b>{_e(name)}</b>: {shares}</li>')
    return items


def _card_html(
    segment: Any,
    population: dict[str, Any],
    outcomes: dict[str, Any] | None = None,
    profiled: Sequence[str] = (),
) -> str:
    from shared.report.explanations import known_group_html, rule_html, shap_html
    from shared.report.figures import segment_colour

    items: list[str] = []
    shown = segment.distinctive[:4] or [f for f in segment.numeric if f not in profiled][:3]
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
    items.extend(_profiled_items(segment, population, profiled))
    items.extend(_outcome_items(segment, outcomes or {}))
    return (
        f'<div class="card" style="--c:{segment_colour(segment.segment_id)}">'
        f"<h3>{_e(segment.name)}</h3>"
        f'<div class="size">segment {segment.segment_id} · {segment.size:,} customers · '
        f"{segment.share:.1%}</div>{_rfm_html(segment)}<p>{_e(segment.description)}</p>"
        f"<ul>{''.join(items)}</ul>{known_group_html(segment)}{rule_html(segment)}"
        f"{shap_html(segment)}</div>"
    )


def _rfm_html(segment: Any) -> str:
    scores = getattr(segment, "rfm", None)
    if scores is None:
        return ""
    parts = [f"R {scores.recency}", f"F {scores.frequency}"]
    if scores.monetary is not None:
        parts.append(f"M {scores.monetary}")
    described = f" · {_e(segment.descriptive_name)}" if segment.descriptive_name else ""
    return f'<div class="rfm">RFM {" · ".join(parts)}{described}</div>'


def _segments_html(
    profiles: ProfileCatalog,
    champion_key: str,
    evaluation: Evaluation,
    profiled: Sequence[str] = (),
) -> str:
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
            _card_html(s, population, segment_set.population_outcomes, profiled)
            for s in segment_set.segments
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


def _figures_html(plot_data: PlotData, names: list[str]) -> str:
    parts: list[str] = []
    placed: set[str] = set()
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
    wide = " wide" if name in WIDE_FIGURES else ""
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

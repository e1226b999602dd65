"""Plotly figures of the report and the dashboard, as JSON-ready dicts.

The static figures (histograms, sweeps, dendrogram...) are published in ``plots.json`` and drawn
by both surfaces. :func:`map_figure` and :func:`silhouette_figure` are the report's own copies
of figures the dashboard draws live from the same points (``lambdas/api/static/``): the report
builds them when it renders (``shared/report/html.py``), never ``plots.json``.

Every builder returns ``{"data": [...], "layout": {...}}`` made of plain lists, numbers and strings
(``json.loads(fig.to_json())``), or None when its input is absent. Every user-provided string
(column names, category values, ids, segment names) is HTML-escaped before it enters a figure:
Plotly renders text through a small HTML subset (``<b>``, ``<a href>``...), and an escaped string
is shown as typed (Plotly decodes the entities) but can never become markup.

Figures use the empty ``"none"`` template (a full Plotly template adds ~7 kB to every figure) and
one colour per ``segment_id`` (:func:`segment_colour`), so a segment keeps its colour everywhere.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from shared.contract.evaluation import AlgorithmSweep
    from shared.contract.manifest import ColumnSchema

__all__ = [
    "OUTLIER_COLOUR",
    "PALETTE",
    "correlation_figure",
    "dendrogram_figure",
    "elbow_figure",
    "gmm_bic_figure",
    "histogram_figure",
    "kdistance_figure",
    "map_figure",
    "missing_figure",
    "scatter_matrix_figure",
    "segment_colour",
    "silhouette_by_k_figure",
    "silhouette_figure",
    "text",
    "violin_figure",
]

PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#393b79",
    "#ad494a",
    "#637939",
)
OUTLIER_COLOUR = "#9e9e9e"
CHOSEN_COLOUR = "#d62728"
HIST_MAX_BINS = 60
_LAYOUT: dict[str, Any] = {
    "template": "none",
    "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
    "font": {"size": 12},
    "hovermode": "closest",
}


def text(value: object) -> str:
    """A user-provided value as safe Plotly text (and safe HTML).

    Examples
    --------
    >>> text("<script>alert(1)</script>")
    '&lt;script&gt;alert(1)&lt;/script&gt;'
    """
    return html.escape(str(value), quote=False)


def segment_colour(segment_id: int) -> str:
    """The colour of a segment in every figure (outliers grey).

    Examples
    --------
    >>> segment_colour(0), segment_colour(-1)
    ('#1f77b4', '#9e9e9e')
    """
    return OUTLIER_COLOUR if segment_id < 0 else PALETTE[segment_id % len(PALETTE)]


def _finish(fig: Any, **layout: Any) -> dict[str, Any]:
    fig.update_layout(**{**_LAYOUT, **layout})
    result: dict[str, Any] = json.loads(fig.to_json())
    return result


def _go() -> Any:
    import plotly.graph_objects as go

    return go


def _floats(values: Sequence[float] | np.ndarray, digits: int = 6) -> list[float | None]:
    """Plain floats (NaN and inf as None) rounded for a compact document."""
    array = np.asarray(values, dtype=np.float64)
    rounded = np.round(array, digits)
    return [float(v) if np.isfinite(v) else None for v in rounded]


# --- exploratory analysis -------------------------------------------------------------------


def histogram_figure(column: str, values: np.ndarray) -> dict[str, Any] | None:
    """Histogram of one numeric feature (counts precomputed with numpy over ``values``).

    Integer-valued columns spanning at most :data:`HIST_MAX_BINS` values get one bar per
    integer; others numpy's ``"auto"`` bins, capped at :data:`HIST_MAX_BINS`.
    """
    observed = values[np.isfinite(values)]
    if observed.size == 0:
        return None
    low, high = float(observed.min()), float(observed.max())
    if low == high:
        edges = np.array([low - 0.5, high + 0.5])
    elif np.all(observed == np.round(observed)) and high - low + 1 <= HIST_MAX_BINS:
        edges = np.arange(low - 0.5, high + 1.5)
    elif np.all(observed == np.round(observed)):
        # Whole numbers: bins of a whole width starting at a half, so no bin holds one more
        # integer than its neighbour (the false spikes of fractional bins).
        auto = np.histogram_bin_edges(observed, bins="auto")
        width = max(float(np.ceil(auto[1] - auto[0])), np.ceil((high - low + 1) / HIST_MAX_BINS))
        edges = np.arange(low - 0.5, high + width, width)
    else:
        edges = np.histogram_bin_edges(observed, bins="auto")
        if edges.size - 1 > HIST_MAX_BINS:
            edges = np.linspace(low, high, HIST_MAX_BINS + 1)
    counts, edges = np.histogram(observed, bins=edges)
    go = _go()
    fig = go.Figure(
        go.Bar(
            x=_floats((edges[:-1] + edges[1:]) / 2),
            y=[int(c) for c in counts],
            width=_floats(np.diff(edges)),
            marker={"color": PALETTE[0]},
            hovertemplate="%{x}: %{y} customers<extra></extra>",
        )
    )
    missing = int(values.size - observed.size)
    note = f" ({missing:,} missing)" if missing else ""
    return _finish(
        fig,
        title={"text": f"{text(column)}{note}"},
        xaxis={"title": {"text": text(column)}},
        yaxis={"title": {"text": "customers"}},
        bargap=0.02,
    )


def scatter_matrix_figure(
    columns: Sequence[str],
    values: Mapping[str, np.ndarray],
    segments: np.ndarray,
    names: Mapping[int, str],
) -> dict[str, Any] | None:
    """Pairplot of the given numeric features on the sample, coloured by segment.

    The lower half of the matrix with its diagonal, as a grid of SVG panels: row ``r``, column
    ``c < r`` plots ``columns[r]`` against ``columns[c]``; the diagonal cell ``r == c`` holds
    each segment's distribution of ``columns[r]`` (overlaid histograms). A Plotly ``splom``
    needs WebGL, which headless browsers and machines without a GPU lack. One legend entry per
    segment toggles its points and bars in every panel.
    """
    if len(columns) < 2:
        return None
    from plotly.subplots import make_subplots

    go = _go()
    cells = len(columns)
    fig = make_subplots(
        rows=cells,
        cols=cells,
        specs=[[{} if c <= r else None for c in range(cells)] for r in range(cells)],
        horizontal_spacing=0.03,
        vertical_spacing=0.03,
    )
    for segment_id in sorted(set(segments.tolist())):
        mask = segments == segment_id
        name = text(names.get(segment_id, f"Segment {segment_id}"))
        colour = segment_colour(segment_id)
        marker = {"color": colour, "size": 4, "opacity": 0.7}
        for r in range(cells):
            for c in range(r + 1):
                if c == r:
                    trace = go.Histogram(
                        x=_floats(values[columns[c]][mask]),
                        name=name,
                        legendgroup=name,
                        showlegend=False,
                        marker={"color": colour},
                        opacity=0.55,
                        nbinsx=20,
                    )
                else:
                    trace = go.Scatter(
                        x=_floats(values[columns[c]][mask]),
                        y=_floats(values[columns[r]][mask]),
                        mode="markers",
                        name=name,
                        legendgroup=name,
                        showlegend=(r, c) == (1, 0),
                        marker=marker,
                    )
                fig.add_trace(trace, row=r + 1, col=c + 1)
    for c in range(cells):
        fig.update_xaxes(title_text=text(columns[c]), row=cells, col=c + 1)
    for r in range(cells):
        fig.update_yaxes(title_text=text(columns[r]) if r else "customers", row=r + 1, col=1)
    size = 150 * cells + 140
    return _finish(
        fig,
        title={"text": "Pairplot of the most informative features (distributions on the diagonal)"},
        barmode="overlay",
        height=size,
        width=size + 180,
    )


def violin_figure(
    numeric: str, values: np.ndarray, categorical: str, categories: Sequence[object]
) -> dict[str, Any] | None:
    """Violins of one numeric feature split by the categories of a categorical one."""
    go = _go()
    fig = go.Figure()
    labels = np.array(["(missing)" if c is None else str(c) for c in categories], dtype=object)
    for i, category in enumerate(sorted(set(labels.tolist()))):
        picked = values[(labels == category) & np.isfinite(values)]
        if picked.size == 0:
            continue
        fig.add_trace(
            go.Violin(
                y=_floats(picked),
                name=text(category),
                box={"visible": True},
                meanline={"visible": True},
                points=False,
                line={"color": PALETTE[i % len(PALETTE)]},
            )
        )
    if not fig.data:
        return None
    return _finish(
        fig,
        title={"text": f"{text(numeric)} by {text(categorical)}"},
        yaxis={"title": {"text": text(numeric)}},
        xaxis={"title": {"text": text(categorical)}},
        showlegend=False,
    )


def segment_box_figure(
    numeric: str, values: np.ndarray, segments: np.ndarray, names: Mapping[int, str]
) -> dict[str, Any] | None:
    """Box plots of one numeric column per segment (segment colours, outliers last).

    Examples
    --------
    >>> fig = segment_box_figure("Age", np.array([20.0, 22.0, 60.0, np.nan]),
    ...                          np.array([0, 0, 1, 1]), {0: "Young", 1: "Older"})
    >>> [(t["name"], t["y"]) for t in fig["data"]]
    [('Young', [20.0, 22.0]), ('Older', [60.0])]
    """
    go = _go()
    fig = go.Figure()
    ids = sorted(set(segments.tolist()), key=lambda i: (i < 0, i))
    for segment_id in ids:
        picked = values[(segments == segment_id) & np.isfinite(values)]
        if picked.size == 0:
            continue
        fig.add_trace(
            go.Box(
                y=_floats(picked),
                name=text(names.get(segment_id, f"Segment {segment_id}")),
                boxmean=True,
                boxpoints=False,
                marker={"color": segment_colour(segment_id)},
            )
        )
    if len(fig.data) < 2:
        return None
    return _finish(
        fig,
        title={"text": f"{text(numeric)} by segment"},
        yaxis={"title": {"text": text(numeric)}},
        showlegend=False,
    )


def correlation_figure(columns: Sequence[str], matrix: np.ndarray) -> dict[str, Any] | None:
    """Heatmap of the Pearson correlations between numeric features."""
    if len(columns) < 2:
        return None
    go = _go()
    labels = [text(c) for c in columns]
    z = [_floats(row, 3) for row in matrix]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=labels,
            y=labels,
            zmin=-1,
            zmax=1,
            colorscale="RdBu",
            reversescale=True,
            texttemplate="%{z:.2f}" if len(columns) <= 12 else None,
            hovertemplate="%{y} ~ %{x}: r = %{z:.2f}<extra></extra>",
        )
    )
    side = max(360, 40 * len(columns) + 160)
    return _finish(
        fig,
        title={"text": "Correlation matrix (Pearson)"},
        height=side,
        # automargin: long column names are never clipped (the labels make room).
        xaxis={"automargin": True, "tickangle": -30},
        yaxis={"autorange": "reversed", "automargin": True},
    )


def missing_figure(columns: Sequence[ColumnSchema], n_rows: int) -> dict[str, Any] | None:
    """Missing values per input column; columns not used nor profiled in grey with their
    reason. None when nothing is missing (an empty chart says nothing; the summary says so)."""
    if not columns or not any(c.missing for c in columns):
        return None
    go = _go()
    fig = go.Figure(
        go.Bar(
            x=[c.missing for c in columns],
            y=[text(c.name) for c in columns],
            orientation="h",
            marker={
                "color": [PALETTE[0] if c.used or c.profiled else OUTLIER_COLOUR for c in columns]
            },
            customdata=[
                [
                    f"{c.missing / n_rows:.1%}" if n_rows else "",
                    "used" if c.used else text(f"not used: {c.reason or c.role}"),
                ]
                for c in columns
            ],
            hovertemplate="%{y}: %{x} missing (%{customdata[0]})<br>%{customdata[1]}"
            "<extra></extra>",
        )
    )
    return _finish(
        fig,
        title={"text": "Missing values per column (grey: not used)"},
        xaxis={"title": {"text": "missing values"}, "rangemode": "tozero"},
        yaxis={"autorange": "reversed", "automargin": True},
        height=max(300, 24 * len(columns) + 120),
    )


# --- model analysis ---------------------------------------------------------------------------


def _k_curve(
    sweep: AlgorithmSweep, metric: str, k1_value: float | None = None
) -> tuple[list[int], list[float]]:
    points: list[tuple[int, float]] = []
    for candidate in sweep.candidates:
        value = getattr(candidate.metrics, metric, None)
        if candidate.k is not None and isinstance(value, int | float) and math.isfinite(value):
            points.append((int(candidate.k), float(value)))
    if points and k1_value is not None and all(k != 1 for k, _ in points):
        points.append((1, k1_value))
    points.sort()
    return [k for k, _ in points], [v for _, v in points]


def _chosen_marker(ks: list[int], ys: list[float], chosen: int | None) -> Any | None:
    if chosen is None or chosen not in ks:
        return None
    go = _go()
    y = ys[ks.index(chosen)]
    return go.Scatter(
        x=[chosen],
        y=[y],
        mode="markers+text",
        marker={"color": CHOSEN_COLOUR, "size": 14, "symbol": "circle-open", "line": {"width": 3}},
        text=[f"chosen k={chosen}"],
        textposition="top right",
        name=f"chosen k={chosen}",
        hoverinfo="skip",
    )


def _k_line_figure(
    sweep: AlgorithmSweep, metric: str, label: str, title: str, k1: float | None = None
) -> dict[str, Any] | None:
    ks, ys = _k_curve(sweep, metric, k1)
    if len(ks) < 1:
        return None
    go = _go()
    fig = go.Figure(go.Scatter(x=ks, y=ys, mode="lines+markers", name=label))
    marker = _chosen_marker(ks, ys, sweep.chosen_k)
    if marker is not None:
        fig.add_trace(marker)
    return _finish(
        fig,
        title={"text": title},
        xaxis={"title": {"text": "k (segments)"}, "dtick": 1},
        yaxis={"title": {"text": label}},
        showlegend=False,
    )


def elbow_figure(sweep: AlgorithmSweep) -> dict[str, Any] | None:
    """Inertia by k (with k=1 when the engine recorded it) and the chosen k marked."""
    k1 = sweep.extra.get("inertia_k1")
    return _k_line_figure(
        sweep,
        "inertia",
        "inertia (within-segment sum of squares)",
        f"Elbow: inertia by k ({sweep.algorithm})",
        float(k1) if isinstance(k1, int | float) else None,
    )


def silhouette_by_k_figure(sweep: AlgorithmSweep) -> dict[str, Any] | None:
    """Silhouette by k with the chosen k marked."""
    return _k_line_figure(sweep, "silhouette", "silhouette", f"Silhouette by k ({sweep.algorithm})")


def gmm_bic_figure(sweep: AlgorithmSweep) -> dict[str, Any] | None:
    """Gaussian Mixture BIC and AIC by k (lower is better), the chosen k marked."""
    bic_k1, aic_k1 = sweep.extra.get("bic_k1"), sweep.extra.get("aic_k1")
    ks, bic = _k_curve(sweep, "bic", float(bic_k1) if isinstance(bic_k1, int | float) else None)
    if not ks:
        return None
    go = _go()
    fig = go.Figure(go.Scatter(x=ks, y=bic, mode="lines+markers", name="BIC"))
    ks_aic, aic = _k_curve(sweep, "aic", float(aic_k1) if isinstance(aic_k1, int | float) else None)
    if ks_aic:
        fig.add_trace(go.Scatter(x=ks_aic, y=aic, mode="lines+markers", name="AIC"))
    marker = _chosen_marker(ks, bic, sweep.chosen_k)
    if marker is not None:
        fig.add_trace(marker)
    return _finish(
        fig,
        title={"text": "Gaussian Mixture: BIC and AIC by k (lower is better)"},
        xaxis={"title": {"text": "k (components)"}, "dtick": 1},
        yaxis={"title": {"text": "information criterion"}},
    )


def bottleneck_figure(sweep: AlgorithmSweep) -> dict[str, Any] | None:
    """The autoencoder's reconstruction error by bottleneck width, the kept width marked.

    From the engine's ``extra["reconstruction_error"]`` (width -> mean squared error on the
    network's fit rows) and ``extra["bottleneck"]``; None when the sweep has neither.
    """
    errors = sweep.extra.get("reconstruction_error")
    if not isinstance(errors, Mapping) or not errors:
        return None
    widths = sorted(int(w) for w in errors)
    values = [float(errors[str(w)]) for w in widths]
    go = _go()
    fig = go.Figure(go.Scatter(x=widths, y=values, mode="lines+markers", name="error"))
    kept = sweep.extra.get("bottleneck")
    marker = _chosen_marker(widths, values, int(kept) if isinstance(kept, int) else None)
    if marker is not None:
        fig.add_trace(marker)
    return _finish(
        fig,
        title={"text": "Autoencoder: reconstruction error by bottleneck width"},
        xaxis={"title": {"text": "bottleneck width (latent dimensions)"}, "dtick": 1},
        yaxis={"title": {"text": "mean squared reconstruction error"}},
        showlegend=False,
    )


def kdistance_figure(sweep: AlgorithmSweep) -> dict[str, Any] | None:
    """DBSCAN's sorted k-distance curve with the chosen eps (engine's ``extra["k_distance"]``)."""
    curve = sweep.extra.get("k_distance")
    if not isinstance(curve, Mapping) or not curve.get("distance"):
        return None
    distance = [float(d) for d in curve["distance"]]
    rank = [int(r) for r in curve.get("rank", range(len(distance)))]
    if len(rank) != len(distance):
        rank = list(range(len(distance)))
    go = _go()
    fig = go.Figure(go.Scatter(x=rank, y=distance, mode="lines", name="k-distance"))
    eps = sweep.extra.get("eps")
    min_samples = sweep.extra.get("min_samples")
    if isinstance(eps, int | float):
        fig.add_hline(
            y=float(eps),
            line={"color": CHOSEN_COLOUR, "dash": "dash"},
            annotation_text=f"eps = {float(eps):.3g}",
            annotation_position="top left",
        )
    knee = curve.get("knee_rank")
    if isinstance(knee, int) and isinstance(eps, int | float):
        fig.add_trace(
            go.Scatter(
                x=[knee],
                y=[float(eps)],
                mode="markers",
                marker={"color": CHOSEN_COLOUR, "size": 12, "symbol": "circle-open"},
                name="knee",
            )
        )
    neighbour = (
        f"{int(min_samples) - 1}-nearest-neighbour"
        if isinstance(min_samples, int)
        else "k-nearest-neighbour"
    )
    return _finish(
        fig,
        title={"text": f"DBSCAN: sorted {neighbour} distance and the chosen eps"},
        xaxis={"title": {"text": "rows, sorted by distance"}},
        yaxis={"title": {"text": "distance (prepared space)"}},
        showlegend=False,
    )


def dendrogram_figure(dendrogram: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Ward dendrogram from scipy's ``dendrogram(no_plot=True)`` data (icoord/dcoord)."""
    if not dendrogram or not dendrogram.get("icoord") or not dendrogram.get("dcoord"):
        return None
    go = _go()
    xs: list[float | None] = []
    ys: list[float | None] = []
    for icoord, dcoord in zip(dendrogram["icoord"], dendrogram["dcoord"], strict=False):
        xs.extend([*map(float, icoord), None])
        ys.extend([*map(float, dcoord), None])
    fig = go.Figure(
        go.Scatter(x=xs, y=ys, mode="lines", line={"color": PALETTE[0]}, hoverinfo="skip")
    )
    leaves = [text(v) for v in dendrogram.get("ivl", [])]
    n_rows = dendrogram.get("n_rows")
    subtitle = f" of {int(n_rows):,} sampled rows" if isinstance(n_rows, int) else ""
    return _finish(
        fig,
        title={"text": f"Ward dendrogram (last merges{subtitle})"},
        xaxis={
            "tickvals": [5 + 10 * i for i in range(len(leaves))],
            "ticktext": leaves,
            "title": {"text": "rows (merged leaves: count in brackets)"},
        },
        yaxis={"title": {"text": "merge distance"}},
        showlegend=False,
    )


def silhouette_figure(
    title: str, values: Sequence[float | None], segments: Sequence[int], names: Mapping[int, str]
) -> dict[str, Any] | None:
    """Classic per-segment silhouette plot: each segment's sorted values as a horizontal band."""
    pairs = [(s, v) for s, v in zip(segments, values, strict=True) if v is not None and s >= 0]
    if not pairs:
        return None
    go = _go()
    fig = go.Figure()
    position = 0
    mean = float(np.mean([v for _, v in pairs]))
    for segment_id in sorted({s for s, _ in pairs}):
        band = sorted((v for s, v in pairs if s == segment_id), reverse=True)
        name = text(names.get(segment_id, f"Segment {segment_id}"))
        fig.add_trace(
            go.Bar(
                x=_floats(band, 4),
                y=list(range(position, position + len(band))),
                orientation="h",
                marker={"color": segment_colour(segment_id), "line": {"width": 0}},
                name=f"{name} (mean {np.mean(band):.2f})",
                hovertemplate=f"{name}<br>silhouette %{{x:.3f}}<extra></extra>",
            )
        )
        position += len(band) + max(2, len(pairs) // 100)
    fig.add_vline(
        x=mean,
        line={"color": CHOSEN_COLOUR, "dash": "dash"},
        annotation_text=f"mean {mean:.3f}",
    )
    return _finish(
        fig,
        title={"text": f"Silhouette per segment: {text(title)}"},
        # The axis reaches the lowest value: a badly placed customer is never drawn off-axis.
        xaxis={
            "title": {"text": "silhouette value"},
            "range": [min(-0.1, min(v for _, v in pairs) - 0.05), 1],
        },
        yaxis={"showticklabels": False, "title": {"text": "sampled customers by segment"}},
        bargap=0,
    )


def map_figure(
    title: str,
    coords: np.ndarray,
    segments: np.ndarray,
    names: Mapping[int, str],
    ids: Sequence[object],
    axis_titles: tuple[str, str],
) -> dict[str, Any]:
    """2-D map (PCA or t-SNE) of the sampled customers, one trace per segment."""
    go = _go()
    fig = go.Figure()
    labels = np.array([text(i) for i in ids], dtype=object)
    for segment_id in sorted(set(segments.tolist()), key=lambda s: (s < 0, s)):
        mask = segments == segment_id
        fig.add_trace(
            go.Scatter(  # SVG, not WebGL: the report must draw without a GPU
                x=_floats(coords[mask, 0], 4),
                y=_floats(coords[mask, 1], 4),
                mode="markers",
                name=text(names.get(segment_id, f"Segment {segment_id}")),
                marker={"color": segment_colour(segment_id), "size": 5, "opacity": 0.75},
                customdata=labels[mask].tolist(),
                hovertemplate="customer %{customdata}<extra>%{fullData.name}</extra>",
            )
        )
    return _finish(
        fig,
        title={"text": title},
        xaxis={"title": {"text": axis_titles[0]}, "zeroline": False},
        yaxis={"title": {"text": axis_titles[1]}, "zeroline": False},
        legend={"itemsizing": "constant"},
    )

"""Report and plot data: the analysis of a training run as pictures.

``PlotData`` is the ``plots.json`` contract the dashboard reads. ``points`` is a sample of the
training customers (original units) with their 2-D map coordinates and, for every fitted model,
their segment ids, so the dashboard can filter and recolour instantly in the browser.
``figures`` are ready Plotly figures (``{"data": [...], "layout": {...}}``) built at training time.

:func:`build_plot_data` computes them; :func:`render_report_html` turns them into the
self-contained ``report.html``.

Figure names (stable: the dashboard reads them; a figure is absent when its input is):

==================================  ==========================================================
``hist:<column>``                   histogram of every used numeric/date feature (all rows)
``scatter_matrix``                  pairplot of the <= 5 most informative numeric features (sample)
``violin:<numeric>:<categorical>``  a numeric split by a categorical of 2..8 categories (sample)
``box:<numeric>``                   a numeric split by the champion's segments (sample)
``correlation``                     Pearson correlation heatmap of the numeric features
``missing``                         missing values per input column, dropped columns in grey
                                    (absent when nothing is missing)
``elbow:<algorithm>``               inertia by k, chosen k marked (every k-based algorithm)
``silhouette_by_k:<algorithm>``     silhouette by k, chosen k marked
``gmm_bic``                         Gaussian Mixture BIC and AIC by k
``dbscan_kdistance``                DBSCAN's sorted k-distance curve and the chosen eps
``autoencoder_bottleneck``          autoencoder (opt-in): reconstruction error by bottleneck width
``dendrogram``                      ward dendrogram of the agglomerative fit sample
==================================  ==========================================================

The maps, the per-segment silhouette plots and the algorithm comparison are not among them: they
change with the selected model, so the dashboard draws them from ``points`` and the report builds
its static copies from ``points`` when it renders (see :mod:`shared.contract.plots`).

Every figure covers the clustered features and the profiled columns (``ColumnSchema.profiled``:
usable columns the config left out of the clustering, such as Age and Gender when the segments
are formed on income and spending); ``points.features`` holds both, so the dashboard filters on
them too.

Rules (documented once here):

- **Sample** (``points``): at most ``max_points`` rows, stratified by the champion's segments
  (proportional allocation by largest remainder, at least one row per segment, rows drawn at
  random with ``random_state`` inside each segment); every row when the table is smaller.
- **PCA** is fitted on up to :data:`PCA_FIT_ROWS` random rows of the prepared matrix; the sample's
  coordinates are ``(x - mean) @ components.T`` with the published ``points.pca_projection``
  (:func:`pca_coordinates`), the formula the dashboard applies to a typed-in customer.
- **t-SNE** (scikit-learn, Barnes-Hut, perplexity <= 30, 500 iterations) embeds at most
  :data:`TSNE_MAX_POINTS` sample rows; the other sample rows are *placed* at the mean position of
  their :data:`TSNE_PLACE_NEIGHBOURS` nearest embedded rows in the prepared space (said in
  ``summary["tsne"]``). ``tsne`` is None when there are fewer than 5 rows.
- **Silhouette** per point and model is computed on the sample from one shared distance matrix,
  leaving DBSCAN noise out (its points get None), None for all points when the sample holds fewer
  than two segments. It equals scikit-learn's ``silhouette_samples`` on the non-noise rows.
- **Threads**: the whole computation runs with one BLAS/OpenMP thread (``threadpoolctl``).
- **Histograms** count every row with numpy; **correlations** use up to
  :data:`CORRELATION_ROWS` random rows; scatter matrix and violins draw the sample.
- **Most informative** numeric features: largest between-segment separation in the champion's
  profiles (``sum(share * z**2)`` over its segments), ties by column order.
- **Violins**: at most :data:`VIOLIN_MAX_CATEGORICALS` categoricals of 2..8 categories, each with
  its :data:`VIOLIN_MAX_NUMERICS` most informative numerics.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import numpy as np

from shared.contract.documents import NOISE_LABEL
from shared.contract.plots import PcaProjection, PlotData, PlotPoints
from shared.engine.metrics import silhouette_from_sums
from shared.quoting import quote_value

if TYPE_CHECKING:
    import pandas as pd

    from shared.contract.evaluation import Evaluation
    from shared.contract.manifest import ColumnSchema
    from shared.contract.profiles import ProfileCatalog, SegmentSet

logger = logging.getLogger(__name__)

PCA_FIT_ROWS = 50_000
TSNE_MAX_POINTS = 500
TSNE_ITERATIONS = 500
TSNE_PLACE_NEIGHBOURS = 3
CORRELATION_ROWS = 200_000
SCATTER_MATRIX_FEATURES = 5
VIOLIN_MAX_CATEGORICALS = 4
VIOLIN_MAX_NUMERICS = 6
VIOLIN_MAX_CATEGORIES = 8
STRONGEST_PAIRS = 5
EXPLORATORY_MAX_FEATURES = 40
"""Histograms and the correlation heatmap cover at most this many numeric features (the most
informative ones, in column order): a 2,000-column upload must not build 2,000 figures."""


# --- plot data --------------------------------------------------------------------------------

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _one_thread(build: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``build`` with one BLAS and OpenMP thread."""

    @wraps(build)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        # Load the native libraries first: threadpoolctl only limits the ones already loaded.
        import sklearn.decomposition
        import sklearn.manifold
        import sklearn.neighbors  # noqa: F401
        from threadpoolctl import threadpool_limits

        # One thread for BLAS and OpenMP: every step works on a few thousand rows, where threads
        # buy little and, on a shared busy CPU, cost 5-10x (measured: t-SNE of 200 points 15 s
        # with every thread, 1 s with one).
        with threadpool_limits(limits=1):
            return build(*args, **kwargs)

    return run


@_one_thread
def build_plot_data(
    *,
    features: pd.DataFrame,
    columns: list[ColumnSchema],
    X: Any,
    ids: pd.Series | None,
    labels_by_model: dict[str, np.ndarray],
    evaluation: Evaluation,
    profiles: ProfileCatalog,
    random_state: int = 0,
    max_points: int = 3000,
) -> PlotData:
    """Compute ``plots.json``: the sampled points, every figure and the data summary.

    Parameters
    ----------
    features : DataFrame, shape (n, ...)
        The used features of the training rows in original units.
    columns : list of ColumnSchema
        The schema (every input column; dropped ones feed the missing-value summary).
    X : array-like or sparse matrix, shape (n, n_prepared)
        The prepared matrix of the same rows.
    ids : Series or None
        The identifier column of the same rows (None: row numbers are used).
    labels_by_model : dict of str to ndarray
        Per model key (``kmeans-k5``, ``dbscan``...), the ``segment_id`` of every row.
    evaluation : Evaluation
        Sweeps, dendrogram and comparison table.
    profiles : ProfileCatalog
        Segment names and statistics per model key.
    random_state : int
        Seed of every random choice (sample, PCA rows, t-SNE).
    max_points : int
        Size cap of the sample (see the module docstring for the rules).

    Returns
    -------
    PlotData

    Raises
    ------
    ValueError
        When ``features``, ``X``, ``ids`` and the labels do not have the same rows.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from shared.contract.evaluation import Evaluation
    >>> from shared.contract.manifest import ColumnSchema
    >>> from shared.contract.profiles import ProfileCatalog
    >>> df = pd.DataFrame({"x": [0.0, 0.1, 0.2, 5.0, 5.1, 5.2]})
    >>> cols = [ColumnSchema(name="x", role="numeric", dtype="float", used=True)]
    >>> ev = Evaluation(sweeps={}, comparison=[], champion="kmeans", champion_reason="-",
    ...                 silhouette_sample=6)
    >>> data = build_plot_data(features=df, columns=cols, X=df.to_numpy(), ids=None,
    ...                        labels_by_model={"kmeans-k2": np.array([0, 0, 0, 1, 1, 1])},
    ...                        evaluation=ev, profiles=ProfileCatalog())
    >>> data.points.n, sorted(data.figures), data.points.pca_projection.n_features
    (6, ['box:x', 'hist:x'], 1)
    """
    started = time.perf_counter()
    n = len(features)
    if X.shape[0] != n or (ids is not None and len(ids) != n):
        shown = None if ids is None else len(ids)
        raise ValueError(f"rows disagree: features has {n}, X {X.shape[0]}, ids {shown}")
    for key, labels in labels_by_model.items():
        if len(labels) != n:
            raise ValueError(f"labels of {quote_value(key)} have {len(labels)} rows, features {n}")
    rng = np.random.default_rng(random_state)
    # The clustered features and the profiled columns (described, not clustered on).
    used = [c for c in columns if (c.used or c.profiled) and c.name in features.columns]
    numeric_cols = [c.name for c in used if c.role in ("numeric", "date")]
    categorical_cols = [c.name for c in used if c.role == "categorical"]
    champion_key = _champion_key(evaluation, labels_by_model)
    champion_labels = (
        np.asarray(labels_by_model[champion_key]) if champion_key is not None else None
    )

    sample = _sample_rows(n, max_points, champion_labels, rng)
    X_sample = _dense_rows(X, sample)
    timings: dict[str, float] = {}

    tick = time.perf_counter()
    pca, explained, projection = _pca_map(X, X_sample, rng, random_state)
    timings["pca"] = time.perf_counter() - tick
    tick = time.perf_counter()
    tsne, tsne_info = _tsne_map(X_sample, rng, random_state)
    timings["tsne"] = time.perf_counter() - tick

    tick = time.perf_counter()
    from scipy.spatial.distance import cdist

    distances = cdist(X_sample, X_sample) if sample.size else np.zeros((0, 0))
    sample_labels = {
        key: np.asarray(labels)[sample].astype(np.int64) for key, labels in labels_by_model.items()
    }
    silhouettes = {
        key: silhouette_values(distances, labels) for key, labels in sample_labels.items()
    }
    del distances
    timings["silhouette"] = time.perf_counter() - tick

    from shared.engine.profiling import _numeric_values

    numeric_values = {name: _numeric_values(features[name]) for name in numeric_cols}
    points = PlotPoints(
        n=int(sample.size),
        sampled_from=n,
        ids=_point_ids(ids, sample),
        features=_point_features(features, used, numeric_values, sample),
        pca=[[round(float(a), 5), round(float(b), 5)] for a, b in pca],
        pca_explained=[round(float(v), 6) for v in explained],
        pca_projection=projection,
        tsne=None if tsne is None else [[round(float(a), 4), round(float(b), 4)] for a, b in tsne],
        labels={key: labels.tolist() for key, labels in sample_labels.items()},
        silhouette=silhouettes,
    )

    tick = time.perf_counter()
    champion_set = profiles.sets.get(champion_key) if champion_key else None
    informative = _informative_numerics(numeric_cols, champion_set)
    figures: dict[str, dict[str, Any]] = {}
    summary: dict[str, Any] = {}
    _exploratory_figures(
        figures,
        summary,
        features,
        columns,
        used,
        numeric_values,
        informative,
        categorical_cols,
        sample,
        sample_labels.get(champion_key or ""),
        champion_set,
        rng,
    )
    _model_figures(figures, evaluation)
    timings["figures"] = time.perf_counter() - tick
    timings["total"] = time.perf_counter() - started

    summary["sample"] = {
        "n": int(sample.size),
        "sampled_from": n,
        "method": (
            "every row"
            if sample.size == n
            else f"stratified by the champion's segments ({champion_key})"
            if champion_key
            else "random"
        ),
        "random_state": random_state,
    }
    summary["tsne"] = tsne_info
    summary["champion_model"] = champion_key
    summary["informative_features"] = informative
    summary["seconds"] = {k: round(v, 3) for k, v in timings.items()}
    logger.info(
        "plot data: %d points of %d rows, %d figures in %.2fs (t-SNE %.2fs)",
        sample.size,
        n,
        len(figures),
        timings["total"],
        timings["tsne"],
    )
    return PlotData(points=points, figures=figures, summary=summary)


def silhouette_values(distances: np.ndarray, labels: np.ndarray) -> list[float | None]:
    """Silhouette of every point from a precomputed distance matrix; None for noise (-1).

    All None when fewer than two segments exist among the non-noise points. Points alone in
    their segment get 0, as in scikit-learn's ``silhouette_samples``.

    Examples
    --------
    >>> from scipy.spatial.distance import cdist
    >>> X = np.array([[0.0], [1.0], [10.0], [11.0], [50.0]])
    >>> silhouette_values(cdist(X, X), np.array([0, 0, 1, 1, -1]))
    [0.9048, 0.8947, 0.8947, 0.9048, None]
    """
    labels = np.asarray(labels)
    m = labels.shape[0]
    keep = labels != NOISE_LABEL
    present, codes = np.unique(labels[keep], return_inverse=True)
    if present.size < 2:
        return [None] * m
    rows = np.flatnonzero(keep)
    onehot = np.zeros((m, present.size))
    onehot[rows, codes] = 1.0
    values = silhouette_from_sums((distances @ onehot)[rows], codes, onehot.sum(axis=0))
    result: list[float | None] = [None] * m
    for row, value in zip(rows.tolist(), values.tolist(), strict=True):
        result[row] = round(float(value), 4) if math.isfinite(value) else None
    return result


def _champion_key(evaluation: Evaluation, labels_by_model: dict[str, np.ndarray]) -> str | None:
    """Model key of the champion's chosen model, or the first model when it is absent."""
    from shared.contract.layout import model_key

    sweep = evaluation.sweeps.get(evaluation.champion)
    key = model_key(evaluation.champion, sweep.chosen_k if sweep else None)
    if key in labels_by_model:
        return key
    return next(iter(labels_by_model), None)


def _sample_rows(
    n: int, max_points: int, strata: np.ndarray | None, rng: np.random.Generator
) -> np.ndarray:
    """Row indices of the sample, sorted (see the module docstring)."""
    if n <= max_points:
        return np.arange(n)
    if strata is None:
        return np.sort(rng.choice(n, size=max_points, replace=False))
    groups, inverse, counts = np.unique(strata, return_inverse=True, return_counts=True)
    quota = counts * max_points / n
    take = np.maximum(np.floor(quota).astype(np.int64), 1)
    while take.sum() > max_points:  # the one-per-segment minimum overshot: trim the largest
        take[np.argmax(take)] -= 1
    short = max_points - int(take.sum())
    if short > 0:
        remainder = quota - np.floor(quota)
        for g in np.argsort(-remainder, kind="stable")[:short]:
            take[g] += 1
    take = np.minimum(take, counts)
    order = np.argsort(inverse, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(counts)])
    picked = [
        order[bounds[g] + rng.choice(int(counts[g]), size=int(take[g]), replace=False)]
        for g in range(groups.size)
    ]
    return np.sort(np.concatenate(picked))


def _dense_rows(X: Any, rows: np.ndarray) -> np.ndarray:
    from scipy import sparse

    subset = X[rows]
    return np.asarray(subset.toarray() if sparse.issparse(subset) else subset, dtype=np.float64)


def pca_coordinates(projection: PcaProjection, X: np.ndarray) -> np.ndarray:
    """Map coordinates of prepared rows: ``(X - mean) @ components.T``, shape (n, 2).

    The one formula of the PCA map: the sample's published coordinates come from it, and the
    dashboard applies it (``lambdas/api/static/map.js``) to a typed-in customer's prepared
    vector.

    Examples
    --------
    >>> p = PcaProjection(mean=[1.0, 1.0], components=[[0.6, 0.8], [-0.8, 0.6]])
    >>> pca_coordinates(p, np.array([[2.0, 3.0]])).round(6).tolist()
    [[2.2, 0.4]]
    """
    mean = np.asarray(projection.mean, dtype=np.float64)
    components = np.asarray(projection.components, dtype=np.float64)
    rows = np.asarray(X, dtype=np.float64)
    if rows.ndim != 2 or rows.shape[1] != mean.size:
        raise ValueError(
            f"prepared rows have shape {rows.shape}, the projection takes {mean.size} features"
        )
    result: np.ndarray = (rows - mean) @ components.T
    return result


def _pca_map(
    X: Any, X_sample: np.ndarray, rng: np.random.Generator, random_state: int
) -> tuple[np.ndarray, list[float], PcaProjection | None]:
    """2-D PCA coordinates of the sample (fitted on up to PCA_FIT_ROWS random rows), the
    explained variance shares and the published projection."""
    from sklearn.decomposition import PCA

    n, width = X.shape[0], X_sample.shape[1] if X_sample.ndim == 2 else 0
    if X_sample.shape[0] == 0 or width == 0:
        return np.zeros((X_sample.shape[0], 2)), [], None
    fit_rows = (
        np.sort(rng.choice(n, size=PCA_FIT_ROWS, replace=False)) if n > PCA_FIT_ROWS else None
    )
    X_fit = _dense_rows(X, fit_rows) if fit_rows is not None else _dense_rows(X, np.arange(n))
    n_components = min(2, width, X_fit.shape[0])
    pca = PCA(n_components=n_components, random_state=random_state).fit(X_fit)
    # Two rows always (a zero row for a one-dimensional map): one formula for every reader.
    components = np.zeros((2, width))
    components[:n_components] = pca.components_
    projection = PcaProjection(
        mean=[float(v) for v in pca.mean_],
        components=[[float(v) for v in row] for row in components],
    )
    explained = [float(v) for v in np.nan_to_num(pca.explained_variance_ratio_)]
    return pca_coordinates(projection, X_sample), explained, projection


def _tsne_map(
    X_sample: np.ndarray, rng: np.random.Generator, random_state: int
) -> tuple[np.ndarray | None, dict[str, Any]]:
    """t-SNE coordinates of the sample (embedded subset + placed rest), and how they were made."""
    m = X_sample.shape[0]
    if m < 5:
        return None, {"embedded": 0, "placed": 0, "reason": f"{m} points: too few for t-SNE"}
    from sklearn.manifold import TSNE

    started = time.perf_counter()
    embed = (
        np.sort(rng.choice(m, size=TSNE_MAX_POINTS, replace=False))
        if m > TSNE_MAX_POINTS
        else np.arange(m)
    )
    perplexity = float(min(30.0, (embed.size - 1) / 3))
    tsne = TSNE(
        n_components=2,
        perplexity=perplexity,
        init="pca" if X_sample.shape[1] >= 2 else "random",
        learning_rate="auto",
        max_iter=TSNE_ITERATIONS,
        random_state=random_state,
    )
    embedded = tsne.fit_transform(X_sample[embed])
    coords = np.empty((m, 2))
    coords[embed] = embedded
    rest = np.setdiff1d(np.arange(m), embed)
    if rest.size:
        from sklearn.neighbors import NearestNeighbors

        k = min(TSNE_PLACE_NEIGHBOURS, embed.size)
        neighbours = NearestNeighbors(n_neighbors=k).fit(X_sample[embed])
        nearest = neighbours.kneighbors(X_sample[rest], return_distance=False)
        coords[rest] = embedded[nearest].mean(axis=1)
    info = {
        "embedded": int(embed.size),
        "placed": int(rest.size),
        "perplexity": perplexity,
        "iterations": TSNE_ITERATIONS,
        "seconds": round(time.perf_counter() - started, 3),
        "method": (
            f"scikit-learn t-SNE (Barnes-Hut) on {embed.size} sampled rows"
            + (
                f"; the other {rest.size} placed at the mean of their {TSNE_PLACE_NEIGHBOURS} "
                "nearest embedded rows in the prepared space"
                if rest.size
                else ""
            )
        ),
    }
    return coords, info


def _point_ids(ids: pd.Series | None, sample: np.ndarray) -> list[str | int | None]:
    if ids is None:
        return [int(i) for i in sample]
    result: list[str | int | None] = []
    for value in ids.iloc[sample].tolist():
        if value is None or (isinstance(value, float) and math.isnan(value)):
            result.append(None)
        elif isinstance(value, bool):
            result.append(str(value))
        elif isinstance(value, int | np.integer) or (
            isinstance(value, float) and value.is_integer()
        ):
            result.append(int(value))
        else:
            result.append(str(value))
    return result


def _point_features(
    features: pd.DataFrame,
    used: list[ColumnSchema],
    numeric_values: dict[str, np.ndarray],
    sample: np.ndarray,
) -> dict[str, list[float | str | None]]:
    result: dict[str, list[float | str | None]] = {}
    for column in used:
        if column.name in numeric_values:
            values = numeric_values[column.name][sample]
            result[column.name] = [None if math.isnan(v) else float(v) for v in values.tolist()]
        else:
            raw = features[column.name].iloc[sample]
            result[column.name] = [
                None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
                for v in raw.astype(object).where(raw.notna(), None).tolist()
            ]
    return result


def _informative_numerics(numeric_cols: list[str], champion: SegmentSet | None) -> list[str]:
    """Numeric features by between-segment separation sum(share * z**2), ties by column order."""
    if champion is None:
        return list(numeric_cols)

    def separation(name: str) -> float:
        return sum(
            s.share * s.numeric[name].z ** 2
            for s in champion.segments
            if not s.is_outlier and name in s.numeric
        )

    scores = {name: separation(name) for name in numeric_cols}
    return sorted(numeric_cols, key=lambda name: (-scores[name], numeric_cols.index(name)))


def _exploratory_figures(
    figures: dict[str, dict[str, Any]],
    summary: dict[str, Any],
    features: pd.DataFrame,
    columns: list[ColumnSchema],
    used: list[ColumnSchema],
    numeric_values: dict[str, np.ndarray],
    informative: list[str],
    categorical_cols: list[str],
    sample: np.ndarray,
    champion_sample_labels: np.ndarray | None,
    champion_set: SegmentSet | None,
    rng: np.random.Generator,
) -> None:
    import shared.report.figures as rf

    n = len(features)
    shown = set(informative[:EXPLORATORY_MAX_FEATURES])
    for name, values in numeric_values.items():
        if name not in shown:
            continue
        figure = rf.histogram_figure(name, values)
        if figure is not None:
            figures[f"hist:{name}"] = figure

    sample_numeric = {name: values[sample] for name, values in numeric_values.items()}
    if champion_sample_labels is not None:
        names = {s.segment_id: s.name for s in champion_set.segments} if champion_set else {}
        matrix_cols = informative[:SCATTER_MATRIX_FEATURES]
        figure = rf.scatter_matrix_figure(
            matrix_cols, sample_numeric, champion_sample_labels, names
        )
        if figure is not None:
            figures["scatter_matrix"] = figure
            summary["scatter_matrix_features"] = matrix_cols

    violin_cats = []
    for name in categorical_cols:
        distinct = features[name].nunique(dropna=True)
        if 2 <= distinct <= VIOLIN_MAX_CATEGORIES:
            violin_cats.append(name)
    for categorical in violin_cats[:VIOLIN_MAX_CATEGORICALS]:
        raw = features[categorical].iloc[sample]
        categories = raw.astype(object).where(raw.notna(), None).tolist()
        for numeric in informative[:VIOLIN_MAX_NUMERICS]:
            figure = rf.violin_figure(numeric, sample_numeric[numeric], categorical, categories)
            if figure is not None:
                figures[f"violin:{numeric}:{categorical}"] = figure

    if champion_sample_labels is not None:
        names = {s.segment_id: s.name for s in champion_set.segments} if champion_set else {}
        for numeric in informative[:VIOLIN_MAX_NUMERICS]:
            figure = rf.segment_box_figure(
                numeric, sample_numeric[numeric], champion_sample_labels, names
            )
            if figure is not None:
                figures[f"box:{numeric}"] = figure

    if len(shown) >= 2:
        names_list = [name for name in numeric_values if name in shown]
        rows = (
            np.sort(rng.choice(n, size=CORRELATION_ROWS, replace=False))
            if n > CORRELATION_ROWS
            else slice(None)
        )
        import pandas as pd

        frame = pd.DataFrame({name: numeric_values[name][rows] for name in names_list})
        matrix = frame.corr(method="pearson").to_numpy()
        figure = rf.correlation_figure(names_list, matrix)
        if figure is not None:
            figures["correlation"] = figure
        pairs = []
        for i in range(len(names_list)):
            for j in range(i + 1, len(names_list)):
                if np.isfinite(matrix[i, j]):
                    pairs.append((names_list[i], names_list[j], float(matrix[i, j])))
        pairs.sort(key=lambda p: -abs(p[2]))
        summary["strongest_correlations"] = [
            {"a": a, "b": b, "r": round(r, 4)} for a, b, r in pairs[:STRONGEST_PAIRS]
        ]

    figure = rf.missing_figure(columns, n)
    if figure is not None:
        figures["missing"] = figure
    summary["missing"] = {c.name: c.missing for c in columns if c.missing}
    summary["imputed"] = {
        c.name: c.imputed_with for c in columns if c.used and c.imputed_with is not None
    }
    summary["dropped_columns"] = [
        {"name": c.name, "role": c.role, "reason": c.reason}
        for c in columns
        if not c.used and not c.profiled
    ]
    summary["used_columns"] = [c.name for c in used if c.used]
    summary["profiled_columns"] = [c.name for c in used if not c.used]


def _model_figures(figures: dict[str, dict[str, Any]], evaluation: Evaluation) -> None:
    """The sweep figures of every algorithm and the dendrogram (static: no selection changes
    them). The maps, silhouette plots and comparison are drawn from ``points`` instead."""
    import shared.report.figures as rf

    for algorithm, sweep in evaluation.sweeps.items():
        if algorithm == "dbscan":
            figure = rf.kdistance_figure(sweep)
            if figure is not None:
                figures["dbscan_kdistance"] = figure
        else:
            figure = rf.elbow_figure(sweep)
            if figure is not None:
                figures[f"elbow:{algorithm}"] = figure
            figure = rf.silhouette_by_k_figure(sweep)
            if figure is not None:
                figures[f"silhouette_by_k:{algorithm}"] = figure
            if algorithm == "gmm":
                figure = rf.gmm_bic_figure(sweep)
                if figure is not None:
                    figures["gmm_bic"] = figure
            if algorithm == "autoencoder":
                figure = rf.bottleneck_figure(sweep)
                if figure is not None:
                    figures["autoencoder_bottleneck"] = figure

    figure = rf.dendrogram_figure(evaluation.dendrogram)
    if figure is not None:
        figures["dendrogram"] = figure

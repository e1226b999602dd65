"""Clustering candidates: K-Means, Agglomerative (ward), DBSCAN and Gaussian Mixture (and the
opt-in autoencoder of :mod:`shared.engine.autoencoder`).

Every candidate labels EVERY row of the prepared matrix and comes with the assigner
(``shared.engine.assigners``) that assigns new customers the same way. Work that grows faster than
linearly runs on a representative sample (uniform, without replacement, fixed seed; the samples
are nested, so a smaller one is a subset of a larger one) and extends to every row through the
assignment rule. The pipeline hands over rows in canonical order (``shared.engine.row_order``),
so a sample's positions pick the same customers whatever the upload's row order. Documented
caps (rows the fit sees):

==============  ==========  ===============================================================
algorithm       cap         why
==============  ==========  ===============================================================
K-Means         50,000      k-means++ and Lloyd on a 50k sample find the same centres as on
                            every row (measured on 100k rows x 12 features: inertia of every
                            row within 0.01% of the full fit whenever both reach the same
                            optimum; the choice of k-means++ start moves it far more); every
                            row is then labelled by the nearest centre (so inertia and labels
                            cover every row).
                            ``n_init`` = 10 up to 10,000 fit rows, else 1 (k-means++,
                            scikit-learn's default).
Agglomerative   5,000       ward needs all pairwise distances (O(n^2) memory: 100 MB at the
                            cap); scipy's ward linkage is computed ONCE and cut at every k;
                            other rows by the nearest-centroid rule (one matrix product
                            against the centroids of every k stacked).
DBSCAN          10,000      neighbourhood queries can be O(n^2); other rows by the nearest core
                            sample within eps (a KD-tree query per row whose cost grows with
                            the number of core samples: 10k fit rows keep ~8k of them, half
                            the cost of 20k for the same segments).
Gaussian Mix.   10,000      EM (10,000 rows estimate 10 components of 12-feature
                            covariances well); every row then gets its most probable
                            component (labels and log-likelihood only, no posteriors). The
                            covariance type is chosen by BIC on a nested 2,000-row sample;
                            above 64 features only diagonal and spherical ones compete.
Silhouette      5,000       ``shared.engine.metrics.SILHOUETTE_SAMPLE_CAP``.
==============  ==========  ===============================================================

Rows of a sample keep the fit's own label (a ward or DBSCAN label is the fit's, not the rule's);
``rule_agreement`` reports how often the rule reproduces the fit on the fit rows. K-Means and
Gaussian Mixture labels are produced by their assigners, so the assigners reproduce them exactly.

DBSCAN parameters (Sander et al., 1998; Ester et al., 1996):
``min_samples = max(4, 2 * d)`` for ``d`` prepared features (at most a tenth of the fit rows, at
least 3); ``eps`` is the knee of the sorted k-distance curve (distance of each fit row to its
``min_samples - 1``-th nearest other row), found as the point farthest below the chord joining
the curve's ends with both axes scaled to [0, 1] (the Kneedle criterion). The curve's top 0.5%
is left out of the knee search so a few extreme outliers cannot stretch the chord. The curve is
estimated from at most 5,000 of the fit rows (their neighbours are searched among all fit rows).
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shared.contract.config import Algorithm, DatasetConfig
from shared.engine.assigners import (
    CoreSampleAssigner,
    GaussianMixtureAssigner,
    NearestCentroidAssigner,
    SegmentAssigner,
)
from shared.exceptions import TooFewRowsError

__all__ = [
    "AGGLOMERATIVE_SAMPLE_CAP",
    "DBSCAN_SAMPLE_CAP",
    "GMM_SAMPLE_CAP",
    "KMEANS_SAMPLE_CAP",
    "AlgorithmFit",
    "FittedModel",
    "choose_covariance_type",
    "dbscan_feature_weights",
    "dbscan_min_samples",
    "fit_agglomerative",
    "fit_candidates",
    "fit_dbscan",
    "fit_gmm",
    "fit_kmeans",
    "gmm_covariance_types",
    "knee_index",
    "mixture_reg_covar",
    "representative_sample",
    "two_valued_columns",
]

logger = logging.getLogger(__name__)

KMEANS_SAMPLE_CAP = 50_000
AGGLOMERATIVE_SAMPLE_CAP = 5_000
DBSCAN_SAMPLE_CAP = 10_000
GMM_SAMPLE_CAP = 10_000
KMEANS_SMALL_ROWS = 10_000
"""Up to this many fit rows K-Means keeps the best of 10 initialisations; above it one
k-means++ initialisation (scikit-learn's default), as extra starts cost more than they gain."""
KDIST_QUERY_CAP = 5_000
"""The k-distance curve is the distances of at most this many fit rows (a nested sample) to
their neighbours among ALL fit rows: the same curve, estimated from fewer points."""
BRUTE_FORCE_FEATURES = 8
"""Above this many prepared features neighbour queries use brute force instead of a tree."""
KDIST_TAIL = 0.005
"""Share of the k-distance curve's top left out of the knee search."""
CURVE_POINTS = 200
"""Points of the k-distance curve kept in ``evaluation.json`` for the plot."""
GMM_TYPE_SAMPLE_CAP = 2_000
"""Rows (a nested subset of the GMM sample) the covariance type is chosen on: each of the four
types is fitted over the k sweep there, then only the winner on the GMM sample."""
COVARIANCE_TYPES = ("full", "diag", "tied", "spherical")
"""Covariance types the Gaussian mixture chooses among (by BIC); ties go to the earlier one."""
GMM_FULL_COVARIANCE_MAX_FEATURES = 64
"""Above this many prepared features only covariance types without ``d x d`` matrices compete:
a full (or tied) covariance holds ``d x d`` floats per component (k = 10 at d = 10,000: 8 GB
per array, and EM keeps several), and with fewer fit rows than ``d`` it is singular anyway."""
MIXTURE_REG_FLOOR = 1e-6
"""scikit-learn's default ``reg_covar``, kept when no column of the matrix is two-valued."""
GMM_FIT_THREADS = 2
"""Single-threaded Gaussian mixture fits run this many at a time (one per core of the 2-core
machine the bench runs on)."""
SINGLE_THREAD_ROWS = 50_000
"""Fits on fewer rows run single-threaded: OpenMP/BLAS thread start-up and synchronisation
dominate small fits (measured 10x slower on 120 rows with two busy cores)."""


@dataclass(frozen=True)
class FittedModel:
    """One fitted candidate: the labels of every row and the assigner that extends them.

    Attributes
    ----------
    algorithm : str
    k : int or None
        Requested k (None for DBSCAN).
    labels : ndarray of int64
        Internal label of every row of the prepared matrix (-1: DBSCAN noise).
    assigner : SegmentAssigner
        Assigns new rows (persisted as ``models/<model_key>.skops``).
    params : dict
        Hyper-parameters, JSON-ready.
    fit_rows : int
        Rows the fit saw.
    fit_seconds : float
        Fit plus extension to every row.
    rule_agreement : float or None
        Share of the fit rows whose label the assigner reproduces.
    scores : dict
        Extra metrics computed during the fit (``bic``, ``aic`` for Gaussian Mixture).
    """

    algorithm: Algorithm
    k: int | None
    labels: np.ndarray
    assigner: SegmentAssigner
    params: dict[str, Any]
    fit_rows: int
    fit_seconds: float
    rule_agreement: float | None
    scores: dict[str, float] = field(default_factory=dict)

    @property
    def n_segments(self) -> int:
        """Distinct segments found (noise excluded)."""
        return int(np.unique(self.labels[self.labels >= 0]).size)


@dataclass(frozen=True)
class AlgorithmFit:
    """Every fitted candidate of one algorithm (one per k; one for DBSCAN) and its curves.

    ``extra`` holds JSON-ready algorithm-specific curves (k-distance curve and eps, the k=1
    point of the elbow or BIC curve); ``linkage`` the ward linkage of the fit sample (for the
    dendrogram); ``fit_index`` the rows the fit saw.
    """

    algorithm: Algorithm
    models: list[FittedModel]
    fit_rows: int
    extra: dict[str, Any] = field(default_factory=dict)
    linkage: np.ndarray | None = None

    def model(self, k: int | None) -> FittedModel:
        """The candidate fitted with ``k`` (DBSCAN: its only candidate)."""
        for candidate in self.models:
            if candidate.k == k or self.algorithm == "dbscan":
                return candidate
        raise KeyError(f"{self.algorithm} has no candidate with k={k}")


def representative_sample(n_rows: int, size: int, *, random_state: int = 0) -> np.ndarray:
    """Sorted row indices of a uniform random sample of ``min(size, n_rows)`` rows.

    Samples drawn with the same ``n_rows`` and ``random_state`` are nested: the first ``size``
    rows of one fixed permutation.

    Examples
    --------
    >>> representative_sample(5, 10).tolist()
    [0, 1, 2, 3, 4]
    >>> set(representative_sample(100, 5)) <= set(representative_sample(100, 50))
    True
    """
    if size >= n_rows:
        return np.arange(n_rows, dtype=np.int64)
    order = np.random.default_rng(random_state).permutation(n_rows)
    return np.sort(order[:size]).astype(np.int64)


def knee_index(x: Iterable[float], y: Iterable[float]) -> int:
    """Index of the knee of a monotone convex curve: farthest point below its chord.

    Both axes are scaled to [0, 1]; the chord joins the first and last points. Works for a
    decreasing curve (inertia or BIC against k: the elbow) and an increasing one (sorted
    k-distances: where they start to shoot up). Returns 0 for fewer than three points or a
    flat curve.

    Examples
    --------
    >>> knee_index([1, 2, 3, 4, 5, 6], [100, 40, 12, 10, 9, 8])
    2
    >>> knee_index(range(6), [0.1, 0.1, 0.11, 0.12, 0.5, 3.0])
    4
    """
    xs = np.asarray(list(x), dtype=np.float64)
    ys = np.asarray(list(y), dtype=np.float64)
    if xs.size < 3 or np.ptp(ys) == 0 or np.ptp(xs) == 0:
        return 0
    xn = (xs - xs[0]) / (xs[-1] - xs[0])
    yn = (ys - ys.min()) / np.ptp(ys)
    chord = yn[0] + (yn[-1] - yn[0]) * xn
    return int(np.argmax(chord - yn))


def _check_rows(n_rows: int) -> None:
    if n_rows < 3:
        raise TooFewRowsError(
            f"clustering needs at least 3 usable rows (k >= 2 segments with k <= rows - 1); "
            f"got {n_rows}"
        )


def _valid_ks(ks: Iterable[int], n_rows: int) -> list[int]:
    valid = [k for k in ks if k <= n_rows - 1]
    if not valid:
        raise TooFewRowsError(
            f"{n_rows} usable rows are too few for k in {list(ks)}: k must be <= rows - 1"
        )
    return valid


def _threads(n_fit_rows: int) -> Any:
    """Thread limit for a fit on ``n_fit_rows`` rows (see ``SINGLE_THREAD_ROWS``)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1 if n_fit_rows < SINGLE_THREAD_ROWS else None)


def _total_sum_of_squares(X: np.ndarray) -> float:
    centred = X - X.mean(axis=0)
    np.square(centred, out=centred)  # in place: one temporary of X's size instead of two
    return float(np.sum(centred))


def _agreement(assigner: SegmentAssigner, X_fit: np.ndarray, fit_labels: np.ndarray) -> float:
    return float(np.mean(assigner.predict(X_fit) == fit_labels))


def fit_kmeans(X: np.ndarray, ks: Iterable[int], *, random_state: int = 0) -> AlgorithmFit:
    """K-Means for every k, fitted on at most ``KMEANS_SAMPLE_CAP`` rows.

    Every row is labelled by the nearest centre (the model's own rule), so assigning the
    training rows reproduces the labels exactly.

    Examples
    --------
    >>> X = np.array([[0.0, 0], [0, 1], [10, 10], [10, 11], [20, 0], [21, 0]])
    >>> fit = fit_kmeans(X, [3])
    >>> fit.models[0].labels.tolist() == fit.models[0].assigner.predict(X).tolist()
    True
    """
    from sklearn.cluster import KMeans

    n_rows = X.shape[0]
    _check_rows(n_rows)
    index = representative_sample(n_rows, KMEANS_SAMPLE_CAP, random_state=random_state)
    X_fit = X[index]
    n_init = 10 if index.size <= KMEANS_SMALL_ROWS else 1
    models = []
    for k in _valid_ks(ks, index.size):
        started = time.perf_counter()
        with warnings.catch_warnings(), _threads(index.size):
            # Fewer distinct points than k: sklearn warns and returns fewer segments.
            warnings.simplefilter("ignore")
            km = KMeans(n_clusters=k, n_init=n_init, random_state=random_state).fit(X_fit)
        assigner = NearestCentroidAssigner("kmeans").fit(
            X_fit, km.labels_, centroids=km.cluster_centers_
        )
        labels = assigner.predict(X)
        fit_rule = labels[index]
        models.append(
            FittedModel(
                algorithm="kmeans",
                k=k,
                labels=labels,
                assigner=assigner,
                params={"n_clusters": k, "n_init": n_init, "random_state": random_state},
                fit_rows=int(index.size),
                fit_seconds=time.perf_counter() - started,
                rule_agreement=float(np.mean(fit_rule == km.labels_)),
            )
        )
    return AlgorithmFit(
        algorithm="kmeans",
        models=models,
        fit_rows=int(index.size),
        extra={"inertia_k1": _total_sum_of_squares(X)},
    )


STACKED_ROWS = 16_384
"""Rows per chunk when several nearest-centroid models label the same rows at once."""


def _nearest_centroid_labels(
    X: np.ndarray, assigners: list[NearestCentroidAssigner]
) -> list[np.ndarray]:
    """``[a.predict(X) for a in assigners]`` with one matrix product per chunk of rows against
    the centroids of every model stacked, instead of one pass over ``X`` per model.

    Each model's block of columns holds the very scores its own ``predict`` ranks
    (``|c|^2 - 2 x.c``); when any model would rank by exact differences instead (a small
    batch, see :func:`shared.serving.kernels.centroid_scores`), every model uses its own
    ``predict``.
    """
    import shared.serving.kernels as kernels

    n, d = X.shape
    if not assigners or any(
        n * a.centroids_.shape[0] * d <= kernels.CHUNK_ELEMENTS for a in assigners
    ):
        return [a.predict(X) for a in assigners]
    stacked = np.concatenate([a.centroids_ for a in assigners])
    norms = np.einsum("ij,ij->i", stacked, stacked)[None, :]
    bounds = np.cumsum([0] + [a.centroids_.shape[0] for a in assigners])
    out = [np.empty(n, dtype=np.int64) for _ in assigners]
    for start in range(0, n, STACKED_ROWS):
        score = norms - 2.0 * (X[start : start + STACKED_ROWS] @ stacked.T)
        for j, a in enumerate(assigners):
            block = score[:, bounds[j] : bounds[j + 1]]
            out[j][start : start + STACKED_ROWS] = a.labels_[np.argmin(block, axis=1)]
    return out


def fit_agglomerative(X: np.ndarray, ks: Iterable[int], *, random_state: int = 0) -> AlgorithmFit:
    """Ward agglomerative clustering: one linkage on the sample, cut at every k.

    Sample rows keep the fit's labels; the other rows get the nearest segment centroid.

    Examples
    --------
    >>> X = np.array([[0.0, 0], [0, 1], [10, 10], [10, 11], [20, 0], [21, 0]])
    >>> sorted(np.bincount(fit_agglomerative(X, [3]).models[0].labels).tolist())
    [2, 2, 2]
    """
    from scipy.cluster.hierarchy import fcluster, ward

    ks = list(ks)
    n_rows = X.shape[0]
    _check_rows(n_rows)
    started = time.perf_counter()
    index = representative_sample(n_rows, AGGLOMERATIVE_SAMPLE_CAP, random_state=random_state)
    X_fit = X[index]
    linkage = ward(X_fit)
    linkage_seconds = time.perf_counter() - started
    valid = _valid_ks(ks, index.size)
    cuts: list[tuple[np.ndarray, NearestCentroidAssigner, float]] = []
    for k in valid:
        started = time.perf_counter()
        cut = fcluster(linkage, t=k, criterion="maxclust")
        # fcluster numbers clusters 1..k in tree order; make them 0..k-1.
        _, fit_labels = np.unique(cut, return_inverse=True)
        fit_labels = fit_labels.astype(np.int64)
        assigner = NearestCentroidAssigner("agglomerative").fit(X_fit, fit_labels)
        cuts.append((fit_labels, assigner, time.perf_counter() - started))
    started = time.perf_counter()
    if index.size < n_rows:
        extended = _nearest_centroid_labels(X, [assigner for _, assigner, _ in cuts])
    else:
        extended = [fit_labels.copy() for fit_labels, _, _ in cuts]
    extension_seconds = (time.perf_counter() - started) / max(1, len(cuts))
    models = []
    for k, (fit_labels, assigner, cut_seconds), labels in zip(valid, cuts, extended, strict=True):
        labels[index] = fit_labels
        models.append(
            FittedModel(
                algorithm="agglomerative",
                k=k,
                labels=labels,
                assigner=assigner,
                params={"n_clusters": k, "linkage": "ward", "sample_rows": int(index.size)},
                fit_rows=int(index.size),
                fit_seconds=cut_seconds + extension_seconds + linkage_seconds / max(1, len(ks)),
                rule_agreement=_agreement(assigner, X_fit, fit_labels),
            )
        )
    return AlgorithmFit(
        algorithm="agglomerative",
        models=models,
        fit_rows=int(index.size),
        extra={"inertia_k1": _total_sum_of_squares(X), "linkage_seconds": linkage_seconds},
        linkage=linkage,
    )


def dbscan_min_samples(n_features: int, n_fit_rows: int) -> int:
    """``max(4, 2 * d)``, kept between 3 and a tenth of the fit rows.

    Examples
    --------
    >>> dbscan_min_samples(2, 200), dbscan_min_samples(12, 20000), dbscan_min_samples(12, 60)
    (4, 24, 6)
    """
    return int(max(3, min(max(4, 2 * n_features), n_fit_rows // 10)))


def _neighbour_algorithm(n_features: int) -> str:
    """KD-tree in low dimension; brute force (matrix products) above, where trees stop pruning
    (measured 2x faster for DBSCAN on 20,000 rows x 12 features)."""
    return "auto" if n_features <= BRUTE_FORCE_FEATURES else "brute"


def _k_distance_eps(
    X_fit: np.ndarray, min_samples: int, *, random_state: int = 0
) -> tuple[float, np.ndarray, int]:
    """Sorted k-distance curve, its knee (eps) and the knee's index."""
    from sklearn.neighbors import NearestNeighbors

    algorithm = _neighbour_algorithm(X_fit.shape[1])
    neighbours = NearestNeighbors(n_neighbors=min_samples, algorithm=algorithm).fit(X_fit)
    query = representative_sample(X_fit.shape[0], KDIST_QUERY_CAP, random_state=random_state)
    # Column 0 is the row itself, so column min_samples-1 is the distance within which a row
    # has min_samples rows counting itself: the radius that would make it a core sample.
    distances = neighbours.kneighbors(X_fit[query])[0][:, min_samples - 1]
    curve = np.sort(distances)
    head = max(3, int(np.ceil(curve.size * (1 - KDIST_TAIL))))
    head_curve = curve[:head]
    knee = knee_index(np.arange(head_curve.size), head_curve)
    eps = float(head_curve[knee])
    if eps <= 0:
        positive = curve[curve > 0]
        eps = float(positive[0]) if positive.size else 1e-6
    return eps, curve, knee


def fit_dbscan(X: np.ndarray, *, random_state: int = 0) -> AlgorithmFit:
    """DBSCAN on the sample with eps from the k-distance knee; other rows by the core rule.

    Density is measured on the columns :func:`dbscan_feature_weights` keeps (two-valued
    columns such as one-hot slots are left out of the distances); ``min_samples`` counts those
    columns.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 0.1, (30, 2)), rng.normal(5, 0.1, (30, 2))])
    >>> fit_dbscan(X).models[0].n_segments
    2
    """
    from sklearn.cluster import DBSCAN

    n_rows = X.shape[0]
    _check_rows(n_rows)
    started = time.perf_counter()
    index = representative_sample(n_rows, DBSCAN_SAMPLE_CAP, random_state=random_state)
    X_fit = X[index]
    weights = dbscan_feature_weights(X_fit)
    X_density = X_fit[:, weights > 0]
    n_density = int(X_density.shape[1])
    min_samples = dbscan_min_samples(n_density, index.size)
    with _threads(index.size):
        eps, curve, knee = _k_distance_eps(X_density, min_samples, random_state=random_state)
        algorithm = _neighbour_algorithm(n_density)
        db = DBSCAN(eps=eps, min_samples=min_samples, algorithm=algorithm).fit(X_density)
    fit_labels = db.labels_.astype(np.int64)
    assigner = CoreSampleAssigner(eps=eps).fit(
        X_fit, fit_labels, core=db.core_sample_indices_, feature_weights=weights
    )
    # One pass of the rule over every row gives both the extension and the agreement on the
    # fit rows (which then keep the fit's own labels).
    labels = assigner.predict(X)
    agreement = float(np.mean(labels[index] == fit_labels))
    labels[index] = fit_labels
    step = max(1, curve.size // CURVE_POINTS)
    positions = np.unique(np.append(np.arange(0, curve.size, step), curve.size - 1))
    model = FittedModel(
        algorithm="dbscan",
        k=None,
        labels=labels,
        assigner=assigner,
        params={
            "eps": eps,
            "min_samples": min_samples,
            "sample_rows": int(index.size),
            "neighbour_search": algorithm,
            "density_features": n_density,
        },
        fit_rows=int(index.size),
        fit_seconds=time.perf_counter() - started,
        rule_agreement=agreement,
    )
    extra = {
        "eps": eps,
        "min_samples": min_samples,
        "k_distance": {
            "rank": [int(p) for p in positions],
            "distance": [float(curve[p]) for p in positions],
            "knee_rank": int(knee),
        },
        "core_samples": int(db.core_sample_indices_.size),
        "eps_rule": (
            f"eps = knee of the sorted {min_samples - 1}-nearest-neighbour distance curve of "
            f"{curve.size} of the {index.size} fit rows (farthest point below the chord, "
            f"top {KDIST_TAIL:.1%} ignored): "
            f"{eps:.4g} at rank {knee}; min_samples = max(4, 2 x {n_density} features) "
            f"= {min_samples}"
            + (
                f"; {X.shape[1] - n_density} two-valued column(s) (one-hot slots, flags) left "
                "out of the distances"
                if n_density < X.shape[1]
                else ""
            )
        ),
    }
    return AlgorithmFit(algorithm="dbscan", models=[model], fit_rows=int(index.size), extra=extra)


def _gaussian_mixture(k: int, random_state: int, covariance_type: str, reg_covar: float) -> Any:
    from sklearn.mixture import GaussianMixture

    return GaussianMixture(
        n_components=k,
        covariance_type=covariance_type,
        reg_covar=reg_covar,
        max_iter=200,
        n_init=1,
        random_state=random_state,
    )


def mixture_reg_covar(X: np.ndarray) -> float:
    """The variance added to every covariance diagonal: ``max(1e-6, g^2 / 4)``.

    ``g`` is the largest gap between the two values of a two-valued column of ``X`` (a one-hot
    slot, a flag). Without it a component that holds customers of one level only has zero
    variance along that column and an unbounded likelihood, so BIC rewards splitting on the
    dummy (the "collapse"). With ``g^2 / 4`` a component that collapses onto one level gains at
    most ``log 2`` per customer in log-likelihood (``log(1 + 4 p (1 - p))`` for level share
    ``p``, even when a diagonal model counts a two-level column's two one-hot slots twice): no
    more than the level itself tells. Matrices without a two-valued column keep scikit-learn's
    default ``1e-6``.

    Examples
    --------
    >>> mixture_reg_covar(np.array([[0.1, 0.0], [2.3, 0.5], [-1.0, 0.5]]))
    0.0625
    >>> mixture_reg_covar(np.array([[0.1], [2.3], [-1.0]]))
    1e-06
    """
    two_valued = two_valued_columns(X)
    if not two_valued.any():
        return MIXTURE_REG_FLOOR
    gap = float(np.max(np.ptp(X[:, two_valued], axis=0)))
    return max(MIXTURE_REG_FLOOR, gap * gap / 4.0)


def two_valued_columns(X: np.ndarray) -> np.ndarray:
    """Mask of the columns of ``X`` that hold exactly two distinct values (one-hot slots, flags).

    Examples
    --------
    >>> two_valued_columns(np.array([[0.0, 1.0, 0.5], [0.5, 2.0, 0.5], [0.0, 3.0, 0.5]])).tolist()
    [True, False, False]
    """
    low, high = X.min(axis=0), X.max(axis=0)
    mask = np.zeros(X.shape[1], dtype=bool)
    for j in np.flatnonzero(high > low):
        column = X[:, j]
        mask[j] = bool(np.all((column == low[j]) | (column == high[j])))
    return mask


def dbscan_feature_weights(X: np.ndarray) -> np.ndarray:
    """DBSCAN's weight per column: 0 for two-valued columns, 1 for the others.

    A two-valued column (a one-hot slot, a flag) puts a gap between its levels that no density
    path crosses once it exceeds eps, so DBSCAN would cut every dense region into one island per
    level: one categorical column alone would decide the segments (eps shrinks as rows grow, so
    no fixed one-hot weight avoids it). DBSCAN therefore measures density on the other columns
    (its segments are still profiled on every column). When every column is two-valued, all
    keep weight 1.

    Examples
    --------
    >>> dbscan_feature_weights(np.array([[0.0, 1.2], [0.5, -0.3], [0.0, 0.1]])).tolist()
    [0.0, 1.0]
    """
    two_valued = two_valued_columns(X)
    if two_valued.all():
        return np.ones(X.shape[1])
    return np.where(two_valued, 0.0, 1.0)


def _fit_mixtures(
    X_fit: np.ndarray,
    ks: list[int],
    random_state: int,
    *,
    covariance_type: str = "full",
    reg_covar: float = 1e-6,
) -> dict[int, tuple[Any, float]]:
    """Every k's mixture fitted on ``X_fit``, with its seconds: ``{k: (mixture, seconds)}``.

    Small fits (see ``SINGLE_THREAD_ROWS``) run single-threaded, ``GMM_FIT_THREADS`` of them at
    a time (each fit is deterministic and independent, so the mixtures are those of one fit
    after the other; measured 2.07 s -> 1.19 s for k = 1..10 on 10,000 rows x 12 features).
    """
    order = sorted(set(ks), reverse=True)  # the slowest (largest k) first

    def one(k: int) -> tuple[int, Any, float]:
        started = time.perf_counter()
        # Again inside the worker: OpenMP's thread count is a per-thread setting.
        with _threads(X_fit.shape[0]):
            mixture = _gaussian_mixture(k, random_state, covariance_type, reg_covar).fit(X_fit)
        return k, mixture, time.perf_counter() - started

    # Warning filters are process-wide: set them once, around every thread.
    with warnings.catch_warnings(), _threads(X_fit.shape[0]):
        warnings.simplefilter("ignore")
        if X_fit.shape[0] < SINGLE_THREAD_ROWS and len(order) > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=GMM_FIT_THREADS) as pool:
                done = list(pool.map(one, order))
        else:
            done = [one(k) for k in order]
    return {k: (mixture, seconds) for k, mixture, seconds in done}


def gmm_covariance_types(n_features: int) -> tuple[str, ...]:
    """The covariance types a mixture on ``n_features`` prepared features may use.

    Examples
    --------
    >>> gmm_covariance_types(12)
    ('full', 'diag', 'tied', 'spherical')
    >>> gmm_covariance_types(500)
    ('diag', 'spherical')
    """
    if n_features <= GMM_FULL_COVARIANCE_MAX_FEATURES:
        return COVARIANCE_TYPES
    return tuple(t for t in COVARIANCE_TYPES if t in ("diag", "spherical"))


def choose_covariance_type(
    X: np.ndarray, ks: list[int], *, random_state: int = 0, reg_covar: float = 1e-6
) -> tuple[str, dict[str, float], dict[int, tuple[Any, float]] | None]:
    """The covariance type of lowest BIC, fitted on at most ``GMM_TYPE_SAMPLE_CAP`` rows.

    Each of :func:`gmm_covariance_types` (all of :data:`COVARIANCE_TYPES` up to
    :data:`GMM_FULL_COVARIANCE_MAX_FEATURES` features) is fitted at every k of ``ks`` (and
    k = 1) on a nested sample of ``X``; the type whose best BIC over k is lowest wins (ties: the
    earlier type in :data:`COVARIANCE_TYPES`).

    Returns
    -------
    covariance_type : str
    best_bic : dict of str to float
        Each type's lowest BIC over k on the selection sample.
    mixtures : dict or None
        The winner's fits ``{k: (mixture, seconds)}`` when the selection sample is all of
        ``X`` (they are then the sweep itself), else None.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, [1.0, 0.1], (100, 2)), rng.normal(4, [0.1, 1.0], (100, 2))])
    >>> choose_covariance_type(X, [2])[0]
    'diag'
    """
    index = representative_sample(X.shape[0], GMM_TYPE_SAMPLE_CAP, random_state=random_state)
    X_sel = X[index]
    best: dict[str, float] = {}
    fits: dict[str, dict[int, tuple[Any, float]]] = {}
    allowed = gmm_covariance_types(X.shape[1])
    for covariance_type in allowed:
        fits[covariance_type] = _fit_mixtures(
            X_sel, ks, random_state, covariance_type=covariance_type, reg_covar=reg_covar
        )
        best[covariance_type] = min(float(m.bic(X_sel)) for m, _ in fits[covariance_type].values())
    chosen = min(allowed, key=lambda t: (best[t], COVARIANCE_TYPES.index(t)))
    return chosen, best, fits[chosen] if index.size == X.shape[0] else None


def fit_gmm(X: np.ndarray, ks: Iterable[int], *, random_state: int = 0) -> AlgorithmFit:
    """Gaussian mixtures on at most ``GMM_SAMPLE_CAP`` rows, of the covariance type BIC prefers.

    The covariance type (full, diag, tied or spherical) is chosen first by
    :func:`choose_covariance_type` on a smaller nested sample; every k is then fitted with it,
    with :func:`mixture_reg_covar` added to the covariances. Every row is labelled by its most
    probable component. BIC and AIC use every row's log-likelihood. The k=1 BIC is kept in
    ``extra`` for the BIC curve, with the type choice (``covariance_type``,
    ``covariance_bic``, ``reg_covar``).

    Examples
    --------
    >>> X = np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [5.2]])
    >>> fit_gmm(X, [2]).models[0].n_segments
    2
    """
    n_rows = X.shape[0]
    _check_rows(n_rows)
    index = representative_sample(n_rows, GMM_SAMPLE_CAP, random_state=random_state)
    X_fit = X[index]
    valid = _valid_ks(ks, index.size)
    reg_covar = mixture_reg_covar(X_fit)
    covariance_type, type_bic, mixtures_or_none = choose_covariance_type(
        X_fit, [*valid, 1], random_state=random_state, reg_covar=reg_covar
    )
    mixtures = mixtures_or_none or _fit_mixtures(
        X_fit, [*valid, 1], random_state, covariance_type=covariance_type, reg_covar=reg_covar
    )
    models = []

    def fitted(k: int) -> tuple[Any, GaussianMixtureAssigner, np.ndarray, dict[str, float]]:
        mixture = mixtures[k][0]
        assigner = GaussianMixtureAssigner().fit(X_fit, mixture=mixture)
        labels, log_likelihood = assigner.predict_and_score(X)
        n_params = assigner.n_parameters()
        scores = {
            "bic": float(-2 * log_likelihood + n_params * np.log(n_rows)),
            "aic": float(-2 * log_likelihood + 2 * n_params),
        }
        return mixture, assigner, labels, scores

    for k in valid:
        started = time.perf_counter() - mixtures[k][1]
        mixture, assigner, labels, scores = fitted(k)
        models.append(
            FittedModel(
                algorithm="gmm",
                k=k,
                labels=labels,
                assigner=assigner,
                params={
                    "n_components": k,
                    "covariance_type": covariance_type,
                    "reg_covar": reg_covar,
                    "random_state": random_state,
                    "converged": bool(mixture.converged_),
                },
                fit_rows=int(index.size),
                fit_seconds=time.perf_counter() - started,
                rule_agreement=float(np.mean(labels[index] == mixture.predict(X_fit))),
                scores=scores,
            )
        )
    k1_scores = fitted(1)[3]
    return AlgorithmFit(
        algorithm="gmm",
        models=models,
        fit_rows=int(index.size),
        extra={
            "bic_k1": k1_scores["bic"],
            "aic_k1": k1_scores["aic"],
            "covariance_type": covariance_type,
            "covariance_bic": type_bic,
            "reg_covar": reg_covar,
        },
    )


def fit_candidates(
    X: np.ndarray, config: DatasetConfig, *, random_state: int = 0
) -> dict[str, AlgorithmFit]:
    """Fit every algorithm of ``config.algorithms`` (k-based ones over ``config.k_range``).

    Examples
    --------
    >>> X = np.array([[0.0, 0], [0, 1], [10, 10], [10, 11], [20, 0], [21, 0]])
    >>> fits = fit_candidates(X, DatasetConfig(algorithms=["kmeans"], k_max=3))
    >>> [m.k for m in fits["kmeans"].models]
    [2, 3]
    """
    fits: dict[str, AlgorithmFit] = {}
    for algorithm in config.algorithms:
        started = time.perf_counter()
        if algorithm == "kmeans":
            fits[algorithm] = fit_kmeans(X, config.k_range, random_state=random_state)
        elif algorithm == "agglomerative":
            fits[algorithm] = fit_agglomerative(X, config.k_range, random_state=random_state)
        elif algorithm == "gmm":
            fits[algorithm] = fit_gmm(X, config.k_range, random_state=random_state)
        elif algorithm == "autoencoder":
            from shared.engine.autoencoder import fit_autoencoder_candidates

            fits[algorithm] = fit_autoencoder_candidates(
                X, config.k_range, random_state=random_state
            )
        else:
            fits[algorithm] = fit_dbscan(X, random_state=random_state)
        logger.info(
            "fitted %s candidates",
            algorithm,
            extra={"rows": int(X.shape[0]), "seconds": round(time.perf_counter() - started, 3)},
        )
    return fits

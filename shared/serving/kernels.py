"""The numpy kernels of the assignment rules: one implementation for training and serving.

:mod:`shared.engine.assigners`'s estimators (persisted with skops, used by training and the skops
path) and :mod:`shared.serving`'s rules (rebuilt from the numpy serving bundle, used by the API)
both call these functions, so the two paths compute every label, distance, confidence and
posterior with the very same operations, chunk sizes and thresholds.

The size limits (:data:`CHUNK_ELEMENTS`, :data:`MIXTURE_CHUNK_ELEMENTS`, :data:`KDTREE_MIN_PAIRS`)
are read when a kernel runs unless a call passes its own, so a test patches them here, once, for
both paths.

This module imports numpy and the standard library only (the API's request path must not import
scikit-learn, scipy, pandas or skops); scipy's KD-tree is imported inside
:func:`nearest_core`, and only for batches of more than :data:`KDTREE_MIN_PAIRS` pairs.
The functions are plain: they are never stored in a skops file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from shared.contract.documents import NOISE_LABEL

__all__ = [
    "CHUNK_ELEMENTS",
    "KDTREE_MIN_PAIRS",
    "MIXTURE_CHUNK_ELEMENTS",
    "NOISE_LABEL",
    "AssignmentBatch",
    "as_matrix",
    "assign_core_sample",
    "assign_latent_centroid",
    "assign_mixture",
    "assign_nearest_centroid",
    "centroid_scores",
    "mixture_posteriors",
    "nearest_centroid",
    "nearest_core",
    "row_distance",
    "squared_distances",
    "weighted_log_prob",
]

logger = logging.getLogger(__name__)

CHUNK_ELEMENTS = 4_000_000
"""Upper bound of the (rows x segments x features) temporary of one distance chunk; also the
size below which nearest-centroid ranking uses exact differences instead of a matrix product."""
KDTREE_MIN_PAIRS = 5_000_000
"""DBSCAN: above this many (row, core sample) pairs a KD-tree replaces brute force (measured on
1,000,000 rows x 8,259 core samples x 12 features: KD-tree query within eps 3.3 s on 2 cores,
brute force in chunks of 500 rows about 22 s)."""
MIXTURE_CHUNK_ELEMENTS = 500_000
"""Upper bound of the (rows x components x features) temporary of one Gaussian mixture chunk:
small enough to stay in cache (measured 2.3x faster than ``CHUNK_ELEMENTS`` for 1,000,000
rows x 10 components x 12 features)."""


@dataclass(frozen=True)
class AssignmentBatch:
    """The assignment of a batch of rows (prepared matrix) to internal labels.

    Attributes
    ----------
    labels : ndarray of int64
        Internal labels; ``-1`` is DBSCAN noise.
    distance : ndarray of float64
        Euclidean distance (prepared space) to the assigned segment's representative: centroid,
        component mean, or nearest core sample (also for noise).
    confidence : ndarray of float64
        In ``[0, 1]``; its meaning depends on the rule (see :mod:`shared.engine.assigners`).
    probabilities : ndarray of float64 or None
        Gaussian Mixture posteriors, shape ``(n, k)``; None for the other rules.
    outlier : ndarray of bool
        DBSCAN noise, or a row farther from its segment than most of the segment's fit rows.

    Examples
    --------
    >>> b = AssignmentBatch(np.array([0]), np.zeros(1), np.ones(1), None, np.zeros(1, bool))
    >>> len(b)
    1
    """

    labels: np.ndarray
    distance: np.ndarray
    confidence: np.ndarray
    probabilities: np.ndarray | None
    outlier: np.ndarray

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def as_matrix(X: Any, n_features: int) -> np.ndarray:
    """Cheap validation: a 2-D float64 matrix with the fitted number of columns.

    Raises
    ------
    ValueError
        When ``X`` has another number of columns, or a NaN or infinite value.

    Examples
    --------
    >>> as_matrix([1.0, 2.0], 2).shape
    (1, 2)
    """
    arr = np.asarray(X, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[1] != n_features:
        raise ValueError(
            f"X has shape {arr.shape}; the model was fitted on {n_features} prepared features"
        )
    if not np.isfinite(arr).all():
        raise ValueError("X contains NaN or infinite values; prepare rows with the preprocessor")
    return arr


def squared_distances(
    X: np.ndarray, points: np.ndarray, *, chunk_elements: int | None = None
) -> np.ndarray:
    """Exact squared Euclidean distances ``(n, m)`` by direct differences, in row chunks.

    Examples
    --------
    >>> squared_distances(np.array([[0.0, 0.0]]), np.array([[3.0, 4.0], [1.0, 0.0]])).tolist()
    [[25.0, 1.0]]
    """
    n, d = X.shape
    m = points.shape[0]
    out = np.empty((n, m), dtype=np.float64)
    chunk = CHUNK_ELEMENTS if chunk_elements is None else chunk_elements
    step = max(1, chunk // max(1, m * d))
    for start in range(0, n, step):
        block = X[start : start + step]
        diff = block[:, None, :] - points[None, :, :]
        np.einsum("ijk,ijk->ij", diff, diff, out=out[start : start + step])
    return out


def row_distance(X: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Exact Euclidean distance of each row of ``X`` to the matching row of ``points``.

    Examples
    --------
    >>> row_distance(np.array([[0.0, 0.0]]), np.array([[3.0, 4.0]])).tolist()
    [5.0]
    """
    diff = X - points
    return np.sqrt(np.einsum("ij,ij->i", diff, diff))


def centroid_scores(
    X: np.ndarray, centroids: np.ndarray, *, chunk_elements: int | None = None
) -> np.ndarray:
    """Scores ranking the centroids of every row like their distances (lower is nearer).

    Large batches (more than ``chunk_elements`` row x centroid x feature elements) use
    ``|c|^2 - 2 x.c`` (one matrix product, like scikit-learn's K-Means); small ones exact
    squared distances.

    Examples
    --------
    >>> centroid_scores(np.array([[1.0]]), np.array([[0.0], [3.0]])).tolist()
    [[1.0, 4.0]]
    """
    limit = CHUNK_ELEMENTS if chunk_elements is None else chunk_elements
    if X.shape[0] * centroids.shape[0] * X.shape[1] <= limit:
        return squared_distances(X, centroids, chunk_elements=chunk_elements)
    return np.einsum("ij,ij->i", centroids, centroids)[None, :] - 2.0 * (X @ centroids.T)


def nearest_centroid(
    X: np.ndarray, centroids: np.ndarray, *, chunk_elements: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index of the nearest centroid of every row, its distance, and the margin confidence.

    The confidence is ``1 - d1 / d2`` (nearest vs second nearest centroid), clipped to
    ``[0, 1]``: 0 on the boundary of two segments, 1 at a centroid (1 with a single centroid).

    Examples
    --------
    >>> position, distance, confidence = nearest_centroid(
    ...     np.array([[1.0]]), np.array([[0.0], [4.0]]))
    >>> position.tolist(), distance.tolist(), confidence.tolist()
    ([0], [1.0], [0.6666666666666667])
    """
    score = centroid_scores(X, centroids, chunk_elements=chunk_elements)
    position = np.argmin(score, axis=1)
    d1 = row_distance(X, centroids[position])
    if centroids.shape[0] == 1:
        return position, d1, np.ones(X.shape[0])
    score[np.arange(X.shape[0]), position] = np.inf
    d2 = row_distance(X, centroids[np.argmin(score, axis=1)])
    with np.errstate(divide="ignore", invalid="ignore"):
        confidence = np.where(d2 > 0, 1.0 - d1 / d2, 0.0)
    return position, d1, np.clip(confidence, 0.0, 1.0)


def assign_nearest_centroid(
    X: np.ndarray,
    centroids: np.ndarray,
    labels: np.ndarray,
    thresholds: np.ndarray,
    *,
    chunk_elements: int | None = None,
) -> AssignmentBatch:
    """The nearest-centroid rule: label of the nearest centroid, distance, margin confidence,
    outlier when the distance exceeds that centroid's threshold.

    Examples
    --------
    >>> b = assign_nearest_centroid(np.array([[1.0]]), np.array([[0.0], [4.0]]),
    ...                             np.array([3, 7]), np.array([0.5, 9.0]))
    >>> b.labels.tolist(), b.outlier.tolist()
    ([3], [True])
    """
    position, distance, confidence = nearest_centroid(X, centroids, chunk_elements=chunk_elements)
    return _centroid_batch(position, distance, confidence, labels, thresholds)


def assign_latent_centroid(
    X: np.ndarray,
    Z: np.ndarray,
    latent_centroids: np.ndarray,
    centroids: np.ndarray,
    labels: np.ndarray,
    thresholds: np.ndarray,
    *,
    chunk_elements: int | None = None,
) -> AssignmentBatch:
    """The autoencoder's rule: the nearest centre in the latent space ``Z`` (the encoded ``X``).

    The label and the margin confidence ``1 - d1/d2`` come from the latent space, where the
    segments were found; the distance and the outlier flag from the prepared space (Euclidean
    distance of ``X`` to the segment's prepared-space centroid ``centroids``, against that
    segment's ``thresholds``), as for every other rule, so distances compare across algorithms.

    Examples
    --------
    >>> X = np.array([[0.0, 1.0]])
    >>> b = assign_latent_centroid(X, np.array([[0.2]]), np.array([[0.0], [1.0]]),
    ...                            np.array([[0.0, 0.0], [5.0, 5.0]]), np.array([4, 9]),
    ...                            np.array([2.0, 2.0]))
    >>> b.labels.tolist(), b.distance.tolist(), b.confidence.tolist()
    ([4], [1.0], [0.75])
    """
    position, _, confidence = nearest_centroid(Z, latent_centroids, chunk_elements=chunk_elements)
    return _centroid_batch(
        position, row_distance(X, centroids[position]), confidence, labels, thresholds
    )


def _centroid_batch(
    position: np.ndarray,
    distance: np.ndarray,
    confidence: np.ndarray,
    labels: np.ndarray,
    thresholds: np.ndarray,
) -> AssignmentBatch:
    """The batch of a rule that picked centre ``position`` for each row (no posteriors)."""
    return AssignmentBatch(
        labels=labels[position],
        distance=distance,
        confidence=confidence,
        probabilities=None,
        outlier=distance > thresholds[position],
    )


def weighted_log_prob(
    X: np.ndarray, weights: np.ndarray, means: np.ndarray, precisions_cholesky: np.ndarray
) -> np.ndarray:
    """``log(weight_j) + log N(x | mean_j, cov_j)`` for every row and component, ``(n, k)``.

    scikit-learn's ``_estimate_weighted_log_prob`` for full covariances (given the Cholesky
    factors of the precisions), with all components in one matrix product; the per-component
    sums of squares are a second product with a block indicator (a sum over a short trailing
    axis is several times slower). Diagonal covariances (``precisions_cholesky`` of shape
    ``(k, d)``, the inverse standard deviations) use scikit-learn's diagonal formula.

    Examples
    --------
    >>> w = weighted_log_prob(np.array([[0.0]]), np.array([1.0]), np.array([[0.0]]),
    ...                       np.array([[[1.0]]]))
    >>> round(float(w[0, 0]), 6)  # log of the standard normal density at 0
    -0.918939
    """
    d = X.shape[1]
    k = means.shape[0]
    chol = precisions_cholesky
    if chol.ndim == 2:  # diagonal: no d x d matrix anywhere
        precisions = chol**2
        out = (X**2) @ precisions.T
        out -= 2.0 * (X @ (means * precisions).T)
        out += np.sum(means**2 * precisions, axis=1)
        out *= -0.5
        out += -0.5 * d * np.log(2 * np.pi) + np.sum(np.log(chol), axis=1) + np.log(weights)
        return np.asarray(out)
    log_det = np.sum(np.log(np.diagonal(chol, axis1=1, axis2=2)), axis=1)
    stacked = np.concatenate(list(chol), axis=1)  # (d, k*d)
    shift = np.einsum("jd,jde->je", means, chol).reshape(1, k * d)
    y = X @ stacked
    y -= shift
    np.square(y, out=y)
    out = y @ np.repeat(np.eye(k), d, axis=0)  # (n, k*d) @ (k*d, k): Mahalanobis per component
    out *= -0.5
    out += -0.5 * d * np.log(2 * np.pi) + log_det + np.log(weights)
    return out


def mixture_posteriors(
    X: np.ndarray,
    weights: np.ndarray,
    means: np.ndarray,
    precisions_cholesky: np.ndarray,
    *,
    posteriors: bool = True,
    chunk_elements: int | None = None,
) -> tuple[np.ndarray, np.ndarray | None, float]:
    """Most probable component of every row, the posteriors, and the total log-likelihood.

    One pass over ``X`` in chunks of rows (so the per-component temporaries stay small). With
    ``posteriors=False`` the ``(n, k)`` posterior matrix is not built (None is returned).

    Returns
    -------
    position : ndarray of int64, shape (n,)
    probabilities : ndarray of shape (n, k), or None
    log_likelihood : float

    Examples
    --------
    >>> position, probabilities, _ = mixture_posteriors(
    ...     np.array([[0.1]]), np.array([0.5, 0.5]), np.array([[0.0], [5.0]]),
    ...     np.array([[[1.0]], [[1.0]]]))
    >>> position.tolist(), bool(probabilities[0, 0] > 0.99)
    ([0], True)
    """
    n, k = X.shape[0], means.shape[0]
    probabilities = np.empty((n, k)) if posteriors else None
    position = np.empty(n, dtype=np.int64)
    log_likelihood = 0.0
    chunk = MIXTURE_CHUNK_ELEMENTS if chunk_elements is None else chunk_elements
    step = max(1, chunk // max(1, k * X.shape[1]))
    ones = np.ones((k, 1))
    for start in range(0, n, step):
        stop = min(n, start + step)
        weighted = weighted_log_prob(X[start:stop], weights, means, precisions_cholesky)
        best = np.argmax(weighted, axis=1)
        position[start:stop] = best
        # The maximum is the entry at the argmax; row sums as a product (reductions over a
        # short trailing axis are several times slower).
        top = weighted[np.arange(stop - start), best][:, None]
        chunk = np.exp(weighted - top, out=weighted)
        totals = chunk @ ones
        log_likelihood += float(np.sum(top[:, 0] + np.log(totals[:, 0])))
        if probabilities is not None:
            probabilities[start:stop] = chunk / totals
    return position, probabilities, log_likelihood


def assign_mixture(
    X: np.ndarray,
    weights: np.ndarray,
    means: np.ndarray,
    precisions_cholesky: np.ndarray,
    labels: np.ndarray,
    thresholds: np.ndarray,
    *,
    chunk_elements: int | None = None,
) -> tuple[AssignmentBatch, float]:
    """The Gaussian mixture rule and the total log-likelihood of the rows.

    Label of the most probable component, its posterior as confidence, all posteriors, the
    Euclidean distance to the component mean, outlier when it exceeds the component's threshold.

    Examples
    --------
    >>> b, _ = assign_mixture(np.array([[4.0]]), np.array([0.5, 0.5]),
    ...                       np.array([[0.0], [5.0]]), np.array([[[1.0]], [[1.0]]]),
    ...                       np.array([0, 1]), np.array([2.0, 2.0]))
    >>> b.labels.tolist(), b.distance.tolist(), b.outlier.tolist()
    ([1], [1.0], [False])
    """
    position, probabilities, log_likelihood = mixture_posteriors(
        X, weights, means, precisions_cholesky, chunk_elements=chunk_elements
    )
    assert probabilities is not None
    distance = row_distance(X, means[position])
    batch = AssignmentBatch(
        labels=labels[position],
        distance=distance,
        confidence=probabilities[np.arange(X.shape[0]), position],
        probabilities=probabilities,
        outlier=distance > thresholds[position],
    )
    return batch, log_likelihood


def nearest_core(
    X: np.ndarray,
    components: np.ndarray,
    component_norms: np.ndarray,
    eps: float,
    *,
    far_distance: bool = True,
    kdtree_min_pairs: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Index of and distance to the nearest core sample of every row (exact).

    Brute force for up to ``kdtree_min_pairs`` (row, core sample) pairs: the core samples are
    ranked by ``|c|^2 - 2 x.c`` (``component_norms`` holds ``|c|^2``) and the chosen one is
    measured exactly. Larger batches use scipy's KD-tree (imported then), searching within
    ``eps`` first. With ``far_distance=False`` that path leaves rows with no core sample within
    ``eps`` (noise) at distance ``inf`` and index 0: enough for labels, and it skips the costly
    unbounded search.

    Examples
    --------
    >>> c = np.array([[0.0], [5.0]])
    >>> index, distance = nearest_core(np.array([[4.0]]), c, (c**2).sum(axis=1), 0.5)
    >>> index.tolist(), distance.tolist()
    ([1], [1.0])
    """
    n, m = X.shape[0], components.shape[0]
    if n * m > (KDTREE_MIN_PAIRS if kdtree_min_pairs is None else kdtree_min_pairs):
        from scipy.spatial import cKDTree

        tree = cKDTree(components)
        # Searching within eps first prunes most of the tree; rows with no core sample
        # within eps (noise) then get their true nearest core distance.
        distance, index = tree.query(X, k=1, distance_upper_bound=eps, workers=-1)
        distance = np.asarray(distance, dtype=np.float64)
        index = np.asarray(index, dtype=np.int64)
        far = ~np.isfinite(distance)
        if not far_distance:
            index[far] = 0
        elif far.any():
            far_dist, far_index = tree.query(X[far], k=1, workers=-1)
            distance[far] = far_dist
            index[far] = far_index
        return index, distance
    score = component_norms[None, :] - 2.0 * (X @ components.T)
    index = np.argmin(score, axis=1)
    return index, row_distance(X, components[index])


def assign_core_sample(
    X: np.ndarray,
    components: np.ndarray,
    component_norms: np.ndarray,
    core_labels: np.ndarray,
    eps: float,
    *,
    kdtree_min_pairs: int | None = None,
) -> AssignmentBatch:
    """DBSCAN's rule for new points: the nearest core sample's label within ``eps``, else noise.

    ``distance`` is the distance to the nearest core sample (also for noise; ``inf`` when there
    is no core sample), ``confidence`` is ``1 - distance / eps`` inside and 0 for noise, and
    ``outlier`` marks noise.

    Examples
    --------
    >>> c = np.array([[0.0], [5.0]])
    >>> b = assign_core_sample(np.array([[0.1], [2.5]]), c, (c**2).sum(axis=1),
    ...                        np.array([0, 1]), 0.5)
    >>> b.labels.tolist(), b.outlier.tolist()
    ([0, -1], [False, True])
    """
    n = X.shape[0]
    if components.shape[0] == 0:
        return AssignmentBatch(
            labels=np.full(n, NOISE_LABEL, dtype=np.int64),
            distance=np.full(n, np.inf),
            confidence=np.zeros(n),
            probabilities=None,
            outlier=np.ones(n, dtype=bool),
        )
    index, distance = nearest_core(
        X, components, component_norms, eps, kdtree_min_pairs=kdtree_min_pairs
    )
    inside = distance <= eps
    labels = np.where(inside, core_labels[index], NOISE_LABEL).astype(np.int64)
    confidence = np.where(inside, 1.0 - distance / eps, 0.0)
    return AssignmentBatch(
        labels=labels,
        distance=distance,
        confidence=np.clip(confidence, 0.0, 1.0),
        probabilities=None,
        outlier=~inside,
    )

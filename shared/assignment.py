"""Assigning customers to segments: one inductive rule per algorithm.

Every fitted model of a training run is persisted as one of the assigners below. They work on
the *prepared* matrix (the fitted preprocessor's output) and return internal labels; the model's
``SegmentSet`` maps internal labels to stable ``segment_id`` values (``SegmentProfile.label``).

Rules (also written into ``AlgorithmSummary.assignment_rule``):

- K-Means (:class:`NearestCentroidAssigner`, ``algorithm="kmeans"``): the model's own rule, the
  nearest cluster centre (Euclidean). Training labels are produced by this very assigner, so
  assigning the training rows reproduces them exactly.
- Agglomerative (:class:`NearestCentroidAssigner`, ``algorithm="agglomerative"``): ward linkage
  has no ``predict``; the explicit rule is the nearest centroid of the fitted segments (ward
  merges by centroid distance, so its segments are compact around their centroids). How often the
  rule reproduces the fit's labels on the fit rows is measured (``rule_agreement``).
- Gaussian Mixture (:class:`GaussianMixtureAssigner`): the model's own rule, the component with
  the largest posterior probability; the posteriors are returned.
- DBSCAN (:class:`CoreSampleAssigner`): the segment of the nearest core sample if it lies within
  ``eps``, otherwise noise (label ``-1``, flagged as an outlier) - DBSCAN's own definition of a
  border point applied to a new point.

Every assignment carries a distance to the segment's representative in prepared space and a
confidence in ``[0, 1]`` (see each class). Single-row calls cost a few numpy operations: no
pandas, no sklearn validation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator

from shared.exceptions import AlgorithmNotFittedError

__all__ = [
    "ASSIGNER_TYPES",
    "AssignmentBatch",
    "CoreSampleAssigner",
    "GaussianMixtureAssigner",
    "NearestCentroidAssigner",
    "SegmentAssigner",
]

logger = logging.getLogger(__name__)

NOISE_LABEL = -1
OUTLIER_QUANTILE = 0.99
"""Centroid and mixture rules flag a row as an outlier when it lies farther from its segment's
representative than this quantile of the segment's fit rows."""
_CHUNK_ELEMENTS = 4_000_000
"""Upper bound of the (rows x segments x features) temporary of one distance chunk."""
_KDTREE_MIN_PAIRS = 5_000_000
"""DBSCAN: above this many (row, core sample) pairs a KD-tree replaces brute force."""


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
        In ``[0, 1]``; its meaning depends on the rule (see the assigner classes).
    probabilities : ndarray of float64 or None
        Gaussian Mixture posteriors, shape ``(n, k)``; None for the other rules.
    outlier : ndarray of bool
        DBSCAN noise, or a row farther from its segment than most of the segment's fit rows.
    """

    labels: np.ndarray
    distance: np.ndarray
    confidence: np.ndarray
    probabilities: np.ndarray | None
    outlier: np.ndarray

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def _as_matrix(X: Any, n_features: int) -> np.ndarray:
    """Cheap validation: a 2-D float64 matrix with the fitted number of columns."""
    arr = np.asarray(X, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[1] != n_features:
        raise ValueError(
            f"X has shape {arr.shape}; the assigner was fitted on {n_features} prepared features"
        )
    if not np.isfinite(arr).all():
        raise ValueError("X contains NaN or infinite values; prepare rows with the preprocessor")
    return arr


def _squared_distances(X: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Exact squared Euclidean distances ``(n, m)`` by direct differences, in row chunks."""
    n, d = X.shape
    m = points.shape[0]
    out = np.empty((n, m), dtype=np.float64)
    step = max(1, _CHUNK_ELEMENTS // max(1, m * d))
    for start in range(0, n, step):
        block = X[start : start + step]
        diff = block[:, None, :] - points[None, :, :]
        np.einsum("ijk,ijk->ij", diff, diff, out=out[start : start + step])
    return out


def _row_distance(X: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Exact Euclidean distance of each row of ``X`` to the matching row of ``points``."""
    diff = X - points
    return np.sqrt(np.einsum("ij,ij->i", diff, diff))


def _centroid_scores(X: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Scores ranking the centroids of every row like their distances (lower is nearer).

    Large batches use ``|c|^2 - 2 x.c`` (one matrix product, like scikit-learn's K-Means);
    small ones exact squared distances.
    """
    if X.shape[0] * centroids.shape[0] * X.shape[1] <= _CHUNK_ELEMENTS:
        return _squared_distances(X, centroids)
    return np.einsum("ij,ij->i", centroids, centroids)[None, :] - 2.0 * (X @ centroids.T)


def _two_nearest(X: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest and second nearest centroid of every row."""
    score = _centroid_scores(X, centroids)
    nearest = np.argmin(score, axis=1)
    if centroids.shape[0] == 1:
        return nearest, nearest
    score[np.arange(X.shape[0]), nearest] = np.inf
    return nearest, np.argmin(score, axis=1)


def _quantile_by_label(distance: np.ndarray, labels: np.ndarray, n_labels: int) -> np.ndarray:
    """Per label, the ``OUTLIER_QUANTILE`` of the distances (inf for a label with no rows)."""
    thresholds = np.full(n_labels, np.inf)
    for label in range(n_labels):
        mine = distance[labels == label]
        if mine.size:
            thresholds[label] = float(np.quantile(mine, OUTLIER_QUANTILE))
    return thresholds


class SegmentAssigner(BaseEstimator):
    """Base class: ``assign(X)`` returns an :class:`AssignmentBatch`, ``predict(X)`` its labels.

    Subclasses set ``rule`` (the documented assignment rule, in words) and the fitted attributes
    ``n_features_in_`` and ``labels_`` (the distinct internal labels a row can get, noise
    excluded).
    """

    rule: ClassVar[str] = ""

    def _check_fitted(self) -> None:
        if not hasattr(self, "n_features_in_"):
            raise AlgorithmNotFittedError(f"{type(self).__name__} is not fitted; call fit first")

    def assign(self, X: Any) -> AssignmentBatch:
        """Assign every row of the prepared matrix ``X``."""
        raise NotImplementedError

    def predict(self, X: Any) -> np.ndarray:
        """Internal labels of the rows of ``X`` (``assign(X).labels``)."""
        return self.assign(X).labels

    @property
    def assignment_rule(self) -> str:
        """The documented rule, in words."""
        return self.rule


class NearestCentroidAssigner(SegmentAssigner):
    """Nearest centroid: K-Means's own rule, and the inductive rule for Agglomerative (ward).

    Parameters
    ----------
    algorithm : {"kmeans", "agglomerative"}
        Which model the centroids come from (changes only the documented rule).

    Attributes
    ----------
    centroids_ : ndarray of shape (k, d)
        Row ``i`` is the representative of label ``labels_[i]``.
    labels_ : ndarray of int64, shape (k,)
    thresholds_ : ndarray of shape (k,)
        Per label, the ``OUTLIER_QUANTILE`` of the fit rows' distances to their centroid.
    n_features_in_ : int

    Notes
    -----
    ``distance`` is the Euclidean distance to the assigned centroid. ``confidence`` is the
    margin ``1 - d1 / d2`` between the nearest (``d1``) and second nearest (``d2``) centroid: 0 on
    the boundary between two segments, 1 at the centroid (1 when there is a single centroid).
    ``outlier`` is ``d1 > thresholds_[label]``.

    Examples
    --------
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [10.0, 10.0], [10.0, 11.0]])
    >>> a = NearestCentroidAssigner("agglomerative").fit(X, np.array([0, 0, 1, 1]))
    >>> a.predict(np.array([[1.0, 1.0], [9.0, 9.0]])).tolist()
    [0, 1]
    """

    RULES: ClassVar[dict[str, str]] = {
        "kmeans": "K-Means's own rule: the segment of the nearest cluster centre (Euclidean "
        "distance in the prepared space). Confidence = 1 - d1/d2 (nearest vs second nearest "
        "centre); outlier = farther than the 99th percentile of the segment's fit rows.",
        "agglomerative": "Nearest centroid: ward clustering has no predict, so a customer gets "
        "the segment whose centroid (mean of its fit rows in the prepared space) is nearest "
        "(Euclidean). Confidence = 1 - d1/d2; outlier = farther than the 99th percentile of "
        "the segment's fit rows. rule_agreement reports how often this reproduces the fit.",
    }

    def __init__(self, algorithm: str = "kmeans") -> None:
        self.algorithm = algorithm

    @property
    def assignment_rule(self) -> str:
        """The documented rule for this model's algorithm, in words."""
        return self.RULES.get(self.algorithm, self.RULES["agglomerative"])

    def fit(
        self, X: Any, y: Any, *, centroids: np.ndarray | None = None
    ) -> NearestCentroidAssigner:
        """Learn the centroids (or take K-Means's) and the outlier thresholds.

        Parameters
        ----------
        X : array of shape (n, d)
            The fit rows (prepared space).
        y : array of int of shape (n,)
            Their labels, ``0..k-1`` (negative labels are ignored).
        centroids : array of shape (k, d), optional
            The model's own centres (K-Means ``cluster_centers_``); default: mean of ``X`` per
            label.
        """
        X = np.asarray(X, dtype=np.float64)
        labels = np.asarray(y, dtype=np.int64)
        if X.ndim != 2 or labels.shape != (X.shape[0],):
            raise ValueError(f"X {X.shape} and y {labels.shape} do not match")
        if centroids is None:
            present = np.unique(labels[labels >= 0])
            if present.size == 0:
                raise ValueError("y has no non-negative label to build a centroid from")
            n_labels = int(present.max()) + 1
            counts = np.bincount(labels[labels >= 0], minlength=n_labels)
            sums = np.zeros((n_labels, X.shape[1]))
            np.add.at(sums, labels[labels >= 0], X[labels >= 0])
            keep = counts > 0
            self.centroids_ = sums[keep] / counts[keep, None]
            self.labels_ = np.flatnonzero(keep).astype(np.int64)
        else:
            self.centroids_ = np.array(centroids, dtype=np.float64)
            self.labels_ = np.arange(self.centroids_.shape[0], dtype=np.int64)
        self.n_features_in_ = int(X.shape[1])
        self.thresholds_ = np.full(self.labels_.shape[0], np.inf)
        batch = self._nearest(X)
        position = batch[0]
        self.thresholds_ = _quantile_by_label(batch[1], position, self.labels_.shape[0])
        return self

    def _nearest(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Index of the nearest centroid, its distance, and the margin confidence."""
        position, second = _two_nearest(X, self.centroids_)
        d1 = _row_distance(X, self.centroids_[position])
        if self.centroids_.shape[0] > 1:
            d2 = _row_distance(X, self.centroids_[second])
            with np.errstate(divide="ignore", invalid="ignore"):
                confidence = np.where(d2 > 0, 1.0 - d1 / d2, 0.0)
        else:
            confidence = np.ones(X.shape[0])
        return position, d1, np.clip(confidence, 0.0, 1.0)

    def predict(self, X: Any) -> np.ndarray:
        """Labels only (the same ranking as :meth:`assign`, without distances)."""
        self._check_fitted()
        arr = _as_matrix(X, self.n_features_in_)
        return np.asarray(self.labels_[np.argmin(_centroid_scores(arr, self.centroids_), axis=1)])

    def assign(self, X: Any) -> AssignmentBatch:
        """Assign rows to the nearest centroid (see the class notes for the returned fields)."""
        self._check_fitted()
        arr = _as_matrix(X, self.n_features_in_)
        position, distance, confidence = self._nearest(arr)
        return AssignmentBatch(
            labels=self.labels_[position],
            distance=distance,
            confidence=confidence,
            probabilities=None,
            outlier=distance > self.thresholds_[position],
        )


class GaussianMixtureAssigner(SegmentAssigner):
    """Gaussian Mixture's own rule: the component of largest posterior probability.

    Fitted from a fitted ``sklearn.mixture.GaussianMixture`` (``covariance_type="full"``); only
    its arrays are kept, and the posteriors are computed with plain numpy exactly as scikit-learn
    does (``_estimate_log_gaussian_prob``), so ``predict`` equals the mixture's ``predict``.

    Attributes
    ----------
    weights_, means_, precisions_cholesky_ : ndarray
        The mixture's parameters.
    labels_ : ndarray of int64
    thresholds_ : ndarray
        Per component, the ``OUTLIER_QUANTILE`` of the fit rows' distances to its mean.
    n_features_in_ : int

    Notes
    -----
    ``confidence`` is the largest posterior; ``probabilities`` all posteriors; ``distance`` the
    Euclidean distance to the component mean; ``outlier`` is a distance above the threshold.

    Examples
    --------
    >>> from sklearn.mixture import GaussianMixture
    >>> X = np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [5.2]])
    >>> gmm = GaussianMixture(2, random_state=0).fit(X)
    >>> a = GaussianMixtureAssigner().fit(X, mixture=gmm)
    >>> bool((a.predict(X) == gmm.predict(X)).all())
    True
    """

    rule: ClassVar[str] = (
        "Gaussian Mixture's own rule: the component with the largest posterior probability "
        "(the posteriors are returned). Confidence = that largest posterior; distance = "
        "Euclidean distance to the component mean; outlier = farther than the 99th percentile "
        "of the component's fit rows."
    )

    def fit(self, X: Any, y: Any = None, *, mixture: Any) -> GaussianMixtureAssigner:
        """Copy the fitted mixture's parameters and learn the outlier thresholds on ``X``."""
        if getattr(mixture, "covariance_type", "full") != "full":
            raise ValueError("only covariance_type='full' mixtures are supported")
        X = np.asarray(X, dtype=np.float64)
        self.weights_ = np.array(mixture.weights_, dtype=np.float64)
        self.means_ = np.array(mixture.means_, dtype=np.float64)
        self.precisions_cholesky_ = np.array(mixture.precisions_cholesky_, dtype=np.float64)
        self.labels_ = np.arange(self.weights_.shape[0], dtype=np.int64)
        self.n_features_in_ = int(self.means_.shape[1])
        self.thresholds_ = np.full(self.labels_.shape[0], np.inf)
        batch = self.assign(X)
        self.thresholds_ = _quantile_by_label(batch.distance, batch.labels, self.labels_.shape[0])
        return self

    def _weighted_log_prob(self, X: np.ndarray) -> np.ndarray:
        """``log(weight_j) + log N(x | mean_j, cov_j)`` for every row and component.

        scikit-learn's ``_estimate_log_gaussian_prob`` for full covariances, with all
        components in one matrix product.
        """
        n, d = X.shape
        k = self.means_.shape[0]
        chol = self.precisions_cholesky_
        log_det = np.sum(np.log(np.diagonal(chol, axis1=1, axis2=2)), axis=1)
        stacked = np.concatenate(list(chol), axis=1)  # (d, k*d)
        shift = np.einsum("jd,jde->je", self.means_, chol).reshape(1, k * d)
        y = X @ stacked
        y -= shift
        np.square(y, out=y)
        mahalanobis = y.reshape(n, k, d).sum(axis=2)
        return -0.5 * (d * np.log(2 * np.pi) + mahalanobis) + log_det + np.log(self.weights_)

    def log_likelihood(self, X: Any) -> float:
        """Total log-likelihood of the rows under the mixture (for BIC / AIC)."""
        return self.predict_and_score(X)[1]

    def n_parameters(self) -> int:
        """Free parameters of a full-covariance mixture: means, covariances, weights."""
        k, d = self.means_.shape
        return int(k * d + k * d * (d + 1) // 2 + k - 1)

    def assign(self, X: Any) -> AssignmentBatch:
        """Assign rows to the most probable component (see the class notes)."""
        return self.assign_and_score(X)[0]

    def predict_and_score(self, X: Any) -> tuple[np.ndarray, float]:
        """Labels (as :meth:`predict`) and the total log-likelihood, without posteriors or
        distances: what a training run needs for every row."""
        self._check_fitted()
        arr = _as_matrix(X, self.n_features_in_)
        n, k = arr.shape[0], self.means_.shape[0]
        position = np.empty(n, dtype=np.int64)
        log_likelihood = 0.0
        step = max(1, _CHUNK_ELEMENTS // max(1, k * arr.shape[1]))
        for start in range(0, n, step):
            weighted = self._weighted_log_prob(arr[start : start + step])
            position[start : start + step] = np.argmax(weighted, axis=1)
            top = weighted.max(axis=1, keepdims=True)
            totals = np.exp(weighted - top, out=weighted).sum(axis=1)
            log_likelihood += float(np.sum(top[:, 0] + np.log(totals)))
        return np.asarray(self.labels_[position]), log_likelihood

    def assign_and_score(self, X: Any) -> tuple[AssignmentBatch, float]:
        """:meth:`assign` and the total log-likelihood, from one pass over ``X`` (in chunks of
        rows, so the per-component temporaries stay small)."""
        self._check_fitted()
        arr = _as_matrix(X, self.n_features_in_)
        n, k = arr.shape[0], self.means_.shape[0]
        probabilities = np.empty((n, k))
        position = np.empty(n, dtype=np.int64)
        log_likelihood = 0.0
        step = max(1, _CHUNK_ELEMENTS // max(1, k * arr.shape[1]))
        for start in range(0, n, step):
            stop = min(n, start + step)
            weighted = self._weighted_log_prob(arr[start:stop])
            position[start:stop] = np.argmax(weighted, axis=1)
            top = weighted.max(axis=1, keepdims=True)
            chunk = np.exp(weighted - top, out=weighted)
            totals = chunk.sum(axis=1, keepdims=True)
            log_likelihood += float(np.sum(top[:, 0] + np.log(totals[:, 0])))
            probabilities[start:stop] = chunk / totals
        distance = _row_distance(arr, self.means_[position])
        batch = AssignmentBatch(
            labels=self.labels_[position],
            distance=distance,
            confidence=probabilities[np.arange(n), position],
            probabilities=probabilities,
            outlier=distance > self.thresholds_[position],
        )
        return batch, log_likelihood


class CoreSampleAssigner(SegmentAssigner):
    """DBSCAN's rule for a new point: the segment of the nearest core sample within ``eps``.

    A point with no core sample within ``eps`` is noise (label ``-1``, ``outlier=True``), exactly
    as DBSCAN treats a point that is not density-reachable.

    Parameters
    ----------
    eps : float
        DBSCAN's neighbourhood radius (prepared space).

    Attributes
    ----------
    components_ : ndarray of shape (m, d)
        The core samples of the fit.
    component_norms_ : ndarray of shape (m,)
        Their squared norms (for the fast nearest-core ranking).
    core_labels_ : ndarray of int64, shape (m,)
    labels_ : ndarray of int64
        The distinct segment labels (noise excluded).
    n_features_in_ : int

    Notes
    -----
    ``distance`` is the distance to the nearest core sample (also for noise). ``confidence`` is
    ``1 - distance / eps`` for an assigned row (1 on a core sample, 0 at the edge) and 0 for noise.
    Nearest neighbours are exact: brute force for small batches, a KD-tree for large ones.

    Examples
    --------
    >>> X = np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [5.2]])
    >>> a = CoreSampleAssigner(eps=0.15).fit(X, np.array([0, 0, 0, 1, 1, 1]), core=[1, 4])
    >>> a.predict(np.array([[0.05], [5.0], [2.5]])).tolist()
    [0, 1, -1]
    """

    rule: ClassVar[str] = (
        "DBSCAN's rule: the segment of the nearest core sample if it lies within eps "
        "(Euclidean, prepared space), otherwise noise (the Outliers segment, outlier=true). "
        "Confidence = 1 - distance/eps for an assigned customer, 0 for noise."
    )

    def __init__(self, eps: float = 0.5) -> None:
        self.eps = eps

    def fit(self, X: Any, y: Any, *, core: Any) -> CoreSampleAssigner:
        """Keep the core samples (indices ``core`` into ``X``) and their labels ``y[core]``."""
        X = np.asarray(X, dtype=np.float64)
        labels = np.asarray(y, dtype=np.int64)
        core_index = np.asarray(core, dtype=np.int64)
        if X.ndim != 2 or labels.shape != (X.shape[0],):
            raise ValueError(f"X {X.shape} and y {labels.shape} do not match")
        if not self.eps > 0:
            raise ValueError(f"eps={self.eps} should be > 0")
        self.components_ = X[core_index].copy()
        self.component_norms_ = np.einsum("ij,ij->i", self.components_, self.components_)
        self.core_labels_ = labels[core_index].copy()
        self.labels_ = np.unique(self.core_labels_[self.core_labels_ >= 0]).astype(np.int64)
        self.n_features_in_ = int(X.shape[1])
        return self

    def _nearest_core(
        self, X: np.ndarray, *, far_distance: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """Index of and distance to the nearest core sample of every row.

        With ``far_distance=False`` a large batch leaves rows with no core sample within eps
        (noise) at distance ``inf`` and an arbitrary index: enough for labels, and it skips
        the costly unbounded search.
        """
        n, m = X.shape[0], self.components_.shape[0]
        if n * m > _KDTREE_MIN_PAIRS:
            from scipy.spatial import cKDTree

            tree = cKDTree(self.components_)
            # Searching within eps first prunes most of the tree; rows with no core sample
            # within eps (noise) then get their true nearest core distance.
            distance, index = tree.query(X, k=1, distance_upper_bound=self.eps, workers=-1)
            distance = np.asarray(distance, dtype=np.float64)
            index = np.asarray(index, dtype=np.int64)
            far = ~np.isfinite(distance)
            if not far_distance:
                index[far] = 0
            elif far.any():
                far_distance, far_index = tree.query(X[far], k=1, workers=-1)
                distance[far] = far_distance
                index[far] = far_index
            return index, distance
        # Rank core samples by |c|^2 - 2 x.c (one matrix-vector product per row), then measure
        # the chosen one exactly.
        score = self.component_norms_[None, :] - 2.0 * (X @ self.components_.T)
        index = np.argmin(score, axis=1)
        return index, _row_distance(X, self.components_[index])

    def predict(self, X: Any) -> np.ndarray:
        """Labels only: :meth:`assign`'s labels, without the distance of noise rows to their
        nearest core sample (the costly part of a large batch)."""
        self._check_fitted()
        arr = _as_matrix(X, self.n_features_in_)
        if self.components_.shape[0] == 0:
            return np.full(arr.shape[0], NOISE_LABEL, dtype=np.int64)
        index, distance = self._nearest_core(arr, far_distance=False)
        inside = distance <= self.eps
        return np.where(inside, self.core_labels_[index], NOISE_LABEL).astype(np.int64)

    def assign(self, X: Any) -> AssignmentBatch:
        """Assign rows to the nearest core sample's segment, or noise (see the class notes)."""
        self._check_fitted()
        arr = _as_matrix(X, self.n_features_in_)
        n = arr.shape[0]
        if self.components_.shape[0] == 0:
            return AssignmentBatch(
                labels=np.full(n, NOISE_LABEL, dtype=np.int64),
                distance=np.full(n, np.inf),
                confidence=np.zeros(n),
                probabilities=None,
                outlier=np.ones(n, dtype=bool),
            )
        index, distance = self._nearest_core(arr)
        inside = distance <= self.eps
        labels = np.where(inside, self.core_labels_[index], NOISE_LABEL).astype(np.int64)
        confidence = np.where(inside, 1.0 - distance / self.eps, 0.0)
        return AssignmentBatch(
            labels=labels,
            distance=distance,
            confidence=np.clip(confidence, 0.0, 1.0),
            probabilities=None,
            outlier=~inside,
        )


ASSIGNER_TYPES: tuple[type[SegmentAssigner], ...] = (
    NearestCentroidAssigner,
    GaussianMixtureAssigner,
    CoreSampleAssigner,
)
"""Every assigner class the training run persists (their names are skops-trusted)."""

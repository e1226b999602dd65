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
- Autoencoder (:class:`LatentCentroidAssigner`): K-Means's rule in the autoencoder's latent
  space, the nearest latent centre of the encoded row (the encoder is two matrix products, kept
  as arrays). Training labels are produced by this very assigner, so assigning the training rows
  reproduces them exactly.
- DBSCAN (:class:`CoreSampleAssigner`): the segment of the nearest core sample if it lies within
  ``eps``, otherwise noise (label ``-1``, flagged as an outlier) - DBSCAN's own definition of a
  border point applied to a new point.

Every assignment carries a distance to the segment's representative in prepared space and a
confidence in ``[0, 1]`` (see each class). Single-row calls cost a few numpy operations: no
pandas, no sklearn validation. The numpy kernels themselves live in :mod:`shared.serving.kernels`,
shared with the API's serving bundle (:mod:`shared.serving`), so both paths compute alike.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator

import shared.serving.kernels as kernels
from shared.exceptions import AlgorithmNotFittedError
from shared.quoting import quote_value
from shared.serving.encoder import Encoder
from shared.serving.kernels import NOISE_LABEL, AssignmentBatch, as_matrix

__all__ = [
    "ASSIGNER_TYPES",
    "AssignmentBatch",
    "CoreSampleAssigner",
    "GaussianMixtureAssigner",
    "LatentCentroidAssigner",
    "NearestCentroidAssigner",
    "SegmentAssigner",
]

logger = logging.getLogger(__name__)

OUTLIER_QUANTILE = 0.99
"""Centroid and mixture rules flag a row as an outlier when it lies farther from its segment's
representative than this quantile of the segment's fit rows."""


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
        position, distance, _ = kernels.nearest_centroid(X, self.centroids_)
        self.thresholds_ = _quantile_by_label(distance, position, self.labels_.shape[0])
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Labels only (the same ranking as :meth:`assign`, without distances)."""
        self._check_fitted()
        arr = as_matrix(X, self.n_features_in_)
        score = kernels.centroid_scores(arr, self.centroids_)
        return np.asarray(self.labels_[np.argmin(score, axis=1)])

    def assign(self, X: Any) -> AssignmentBatch:
        """Assign rows to the nearest centroid (see the class notes for the returned fields)."""
        self._check_fitted()
        return kernels.assign_nearest_centroid(
            as_matrix(X, self.n_features_in_), self.centroids_, self.labels_, self.thresholds_
        )


class GaussianMixtureAssigner(SegmentAssigner):
    """Gaussian Mixture's own rule: the component of largest posterior probability.

    Fitted from a fitted ``sklearn.mixture.GaussianMixture`` of any covariance type; only its
    arrays are kept (precisions as :func:`kept_precisions_cholesky` says: the full form, or
    ``(k, d)`` diagonal factors for diagonal and spherical mixtures), and the posteriors are
    computed with plain numpy as scikit-learn does
    (``_estimate_log_gaussian_prob``), so ``predict`` equals the mixture's ``predict``.

    Attributes
    ----------
    weights_, means_, precisions_cholesky_ : ndarray
        The mixture's parameters; ``precisions_cholesky_`` is ``(k, d, d)`` whatever the type.
    covariance_type_ : str
        The mixture's covariance type (``full``, ``diag``, ``tied`` or ``spherical``).
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
        """Copy the fitted mixture's parameters and learn the outlier thresholds on ``X``.

        Full and tied covariances are kept in the full form, one ``(d, d)`` precision Cholesky
        factor per component (:func:`full_precisions_cholesky`); diagonal and spherical ones as
        ``(k, d)`` diagonal factors, so a wide matrix's mixture never holds ``d x d`` floats
        (:func:`kept_precisions_cholesky`). The kernel serves both forms.
        """
        X = np.asarray(X, dtype=np.float64)
        self.covariance_type_ = str(getattr(mixture, "covariance_type", "full"))
        self.weights_ = np.array(mixture.weights_, dtype=np.float64)
        self.means_ = np.array(mixture.means_, dtype=np.float64)
        self.precisions_cholesky_ = kept_precisions_cholesky(
            mixture.precisions_cholesky_, self.covariance_type_, *self.means_.shape
        )
        self.labels_ = np.arange(self.weights_.shape[0], dtype=np.int64)
        self.n_features_in_ = int(self.means_.shape[1])
        self.thresholds_ = np.full(self.labels_.shape[0], np.inf)
        batch = self.assign(X)
        self.thresholds_ = _quantile_by_label(batch.distance, batch.labels, self.labels_.shape[0])
        return self

    def log_likelihood(self, X: Any) -> float:
        """Total log-likelihood of the rows under the mixture (for BIC / AIC)."""
        return self.predict_and_score(X)[1]

    def n_parameters(self) -> int:
        """Free parameters of the mixture: means, covariances (by type), weights.

        As scikit-learn's ``GaussianMixture._n_parameters``: a full covariance has
        ``d (d + 1) / 2`` per component, a diagonal ``d``, a spherical 1, a tied one
        ``d (d + 1) / 2`` in all.
        """
        k, d = self.means_.shape
        covariance = {
            "full": k * d * (d + 1) // 2,
            "diag": k * d,
            "tied": d * (d + 1) // 2,
            "spherical": k,
        }[getattr(self, "covariance_type_", "full")]
        return int(k * d + covariance + k - 1)

    def assign(self, X: Any) -> AssignmentBatch:
        """Assign rows to the most probable component (see the class notes)."""
        return self.assign_and_score(X)[0]

    def predict_and_score(self, X: Any) -> tuple[np.ndarray, float]:
        """Labels (as :meth:`predict`) and the total log-likelihood, without posteriors or
        distances: what a training run needs for every row."""
        self._check_fitted()
        position, _, log_likelihood = kernels.mixture_posteriors(
            as_matrix(X, self.n_features_in_),
            self.weights_,
            self.means_,
            self.precisions_cholesky_,
            posteriors=False,
        )
        return np.asarray(self.labels_[position]), log_likelihood

    def assign_and_score(self, X: Any) -> tuple[AssignmentBatch, float]:
        """:meth:`assign` and the total log-likelihood, from one pass over ``X`` (in chunks of
        rows, so the per-component temporaries stay small)."""
        self._check_fitted()
        return kernels.assign_mixture(
            as_matrix(X, self.n_features_in_),
            self.weights_,
            self.means_,
            self.precisions_cholesky_,
            self.labels_,
            self.thresholds_,
        )


def kept_precisions_cholesky(
    precisions_cholesky: Any, covariance_type: str, n_components: int, n_features: int
) -> np.ndarray:
    """The precision Cholesky factors a :class:`GaussianMixtureAssigner` keeps.

    ``(k, d)`` diagonal factors for ``diag`` and ``spherical`` mixtures (a spherical factor
    repeated over the features): the full form would be ``k x d x d`` floats, 320 MB at k = 10
    and d = 2,000 for what ``k x d`` numbers say. The full form ``(k, d, d)`` for ``full`` and
    ``tied`` (:func:`full_precisions_cholesky`).

    Raises
    ------
    ValueError
        For an unknown type or a shape that does not fit it.

    Examples
    --------
    >>> kept_precisions_cholesky(np.array([2.0, 0.5]), "spherical", 2, 3).tolist()
    [[2.0, 2.0, 2.0], [0.5, 0.5, 0.5]]
    >>> kept_precisions_cholesky(np.array([[1.0, 3.0]]), "diag", 1, 2).tolist()
    [[1.0, 3.0]]
    """
    if covariance_type not in ("diag", "spherical"):
        return full_precisions_cholesky(
            precisions_cholesky, covariance_type, n_components, n_features
        )
    values = np.asarray(precisions_cholesky, dtype=np.float64)
    k, d = n_components, n_features
    expected = (k, d) if covariance_type == "diag" else (k,)
    if values.shape != expected:
        raise ValueError(
            f"precisions_cholesky of shape {values.shape} does not fit covariance_type="
            f"{quote_value(covariance_type)} with {k} components of {d} features"
        )
    if covariance_type == "spherical":
        return np.repeat(values[:, None], d, axis=1)
    return values.copy()


def full_precisions_cholesky(
    precisions_cholesky: Any, covariance_type: str, n_components: int, n_features: int
) -> np.ndarray:
    """A mixture's precision Cholesky factors in the full form ``(k, d, d)``, for any type.

    scikit-learn stores ``(k, d, d)`` for ``full``, ``(d, d)`` for ``tied`` (shared by every
    component), ``(k, d)`` for ``diag`` and ``(k,)`` for ``spherical``. Diagonal and spherical
    factors become diagonal matrices and a tied factor is repeated, which gives the very same
    log-densities (the Mahalanobis terms and the log-determinant, the sum of the log-diagonal).

    Raises
    ------
    ValueError
        For an unknown type or a shape that does not fit it.

    Examples
    --------
    >>> full_precisions_cholesky(np.array([2.0, 0.5]), "spherical", 2, 2).tolist()
    [[[2.0, 0.0], [0.0, 2.0]], [[0.5, 0.0], [0.0, 0.5]]]
    >>> full_precisions_cholesky(np.array([[1.0, 3.0]]), "diag", 1, 2).tolist()
    [[[1.0, 0.0], [0.0, 3.0]]]
    """
    values = np.asarray(precisions_cholesky, dtype=np.float64)
    k, d = n_components, n_features
    shapes = {"full": (k, d, d), "tied": (d, d), "diag": (k, d), "spherical": (k,)}
    if covariance_type not in shapes:
        raise ValueError(
            f"unknown covariance_type={quote_value(covariance_type)}; known: {list(shapes)}"
        )
    if values.shape != shapes[covariance_type]:
        raise ValueError(
            f"precisions_cholesky of shape {values.shape} does not fit covariance_type="
            f"{quote_value(covariance_type)} with {k} components of {d} features"
        )
    if covariance_type == "full":
        return values.copy()
    if covariance_type == "tied":
        return np.repeat(values[None, :, :], k, axis=0)
    if covariance_type == "spherical":
        values = np.repeat(values[:, None], d, axis=1)
    out = np.zeros((k, d, d), dtype=np.float64)
    diagonal = np.arange(d)
    out[:, diagonal, diagonal] = values
    return out


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
        The core samples of the fit, their columns scaled by ``feature_weights_``.
    feature_weights_ : ndarray of shape (d,)
        Scale of each column in every distance (0: the column is left out).
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

    def fit(self, X: Any, y: Any, *, core: Any, feature_weights: Any = None) -> CoreSampleAssigner:
        """Keep the core samples (indices ``core`` into ``X``) and their labels ``y[core]``.

        ``feature_weights`` (one per column, default all 1) scale the columns before every
        distance: DBSCAN gives two-valued columns weight 0 (see
        :func:`shared.engine.clustering.dbscan_feature_weights`).
        """
        X = np.asarray(X, dtype=np.float64)
        labels = np.asarray(y, dtype=np.int64)
        core_index = np.asarray(core, dtype=np.int64)
        if X.ndim != 2 or labels.shape != (X.shape[0],):
            raise ValueError(f"X {X.shape} and y {labels.shape} do not match")
        if not self.eps > 0:
            raise ValueError(f"eps={self.eps} should be > 0")
        weights = np.ones(X.shape[1]) if feature_weights is None else feature_weights
        self.feature_weights_ = np.asarray(weights, dtype=np.float64).copy()
        if self.feature_weights_.shape != (X.shape[1],):
            raise ValueError(
                f"feature_weights of shape {self.feature_weights_.shape} do not fit "
                f"{X.shape[1]} features"
            )
        self.components_ = X[core_index] * self.feature_weights_
        self.component_norms_ = np.einsum("ij,ij->i", self.components_, self.components_)
        self.core_labels_ = labels[core_index].copy()
        self.labels_ = np.unique(self.core_labels_[self.core_labels_ >= 0]).astype(np.int64)
        self.n_features_in_ = int(X.shape[1])
        return self

    def _weighted(self, X: Any) -> np.ndarray:
        arr = as_matrix(X, self.n_features_in_)
        weights = getattr(self, "feature_weights_", None)  # absent in assigners saved before
        if weights is None or bool(np.all(weights == 1.0)):
            return arr
        return np.asarray(arr * weights)

    def predict(self, X: Any) -> np.ndarray:
        """Labels only: :meth:`assign`'s labels, without the distance of noise rows to their
        nearest core sample (the costly part of a large batch)."""
        self._check_fitted()
        arr = self._weighted(X)
        if self.components_.shape[0] == 0:
            return np.full(arr.shape[0], NOISE_LABEL, dtype=np.int64)
        index, distance = kernels.nearest_core(
            arr, self.components_, self.component_norms_, self.eps, far_distance=False
        )
        inside = distance <= self.eps
        return np.where(inside, self.core_labels_[index], NOISE_LABEL).astype(np.int64)

    def assign(self, X: Any) -> AssignmentBatch:
        """Assign rows to the nearest core sample's segment, or noise (see the class notes)."""
        self._check_fitted()
        return kernels.assign_core_sample(
            self._weighted(X),
            self.components_,
            self.component_norms_,
            self.core_labels_,
            self.eps,
        )


class LatentCentroidAssigner(SegmentAssigner):
    """The autoencoder's rule: the nearest K-Means centre in the encoder's latent space.

    Parameters
    ----------
    activation : str
        The encoder's hidden-layer activation (scikit-learn's name, ``"tanh"``).

    Attributes
    ----------
    encoder_weights_, encoder_biases_ : list of ndarray
        The encoder's layers, ``(in, out)`` and ``(out,)`` (see
        :class:`~shared.serving.encoder.Encoder`).
    latent_centroids_ : ndarray of shape (k, b)
        The K-Means centres in the latent space (row ``i`` is label ``labels_[i]``).
    centroids_ : ndarray of shape (k, d)
        Each segment's centroid in the prepared space (mean of its fit rows).
    thresholds_ : ndarray of shape (k,)
        Per label, the ``OUTLIER_QUANTILE`` of the fit rows' prepared-space distances to it.
    reference_ : ndarray of shape (d,)
        The mean fit row: where explanations start their path (the average customer).
    labels_ : ndarray of int64
    n_features_in_ : int

    Notes
    -----
    The label and ``confidence = 1 - d1/d2`` come from the latent space (nearest vs second
    nearest centre there); ``distance`` and ``outlier`` from the prepared space, like every
    other rule (distance to the segment's centroid).

    Examples
    --------
    >>> enc = Encoder((np.array([[1.0], [1.0]]),), (np.array([0.0]),), "identity")
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [5.0, 5.0], [5.0, 6.0]])
    >>> a = LatentCentroidAssigner("identity").fit(X, encoder=enc,
    ...                                          latent_centroids=np.array([[0.5], [10.5]]))
    >>> a.predict(np.array([[1.0, 1.0], [4.0, 4.0]])).tolist()
    [0, 1]
    """

    rule: ClassVar[str] = (
        "Autoencoder's rule: the customer's prepared row is encoded by the network's encoder "
        "(two layers), and gets the segment of the nearest K-Means centre in that latent space. "
        "Confidence = 1 - d1/d2 (nearest vs second nearest latent centre); distance = Euclidean "
        "distance to the segment's centroid in the prepared space; outlier = farther than the "
        "99th percentile of the segment's fit rows."
    )

    def __init__(self, activation: str = "tanh") -> None:
        self.activation = activation

    @property
    def encoder(self) -> Encoder:
        """The fitted encoder (numpy)."""
        self._check_fitted()
        return Encoder(tuple(self.encoder_weights_), tuple(self.encoder_biases_), self.activation)

    def fit(
        self, X: Any, y: Any = None, *, encoder: Encoder, latent_centroids: np.ndarray
    ) -> LatentCentroidAssigner:
        """Keep the encoder and the latent centres; learn the prepared-space centroids on ``X``.

        Label ``i`` is latent centre ``i``; a centre that no fit row is nearest to (K-Means on
        fewer distinct latent points than k puts two centres on one point) is dropped, so
        ``labels_`` may skip numbers and a segment is never an empty runner-up. Every kept
        label gets its centroid and outlier threshold from the fit rows it assigns.
        """
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[0] == 0:
            raise ValueError(f"X of shape {X.shape} is not a non-empty matrix")
        if encoder.activation != self.activation:
            raise ValueError(
                f"encoder activation {encoder.activation!r} is not {self.activation!r}"
            )
        self.encoder_weights_ = [np.array(w, dtype=np.float64) for w in encoder.weights]
        self.encoder_biases_ = [np.array(b, dtype=np.float64) for b in encoder.biases]
        if self.encoder_weights_[0].shape[0] != X.shape[1]:
            raise ValueError(
                f"the encoder takes {self.encoder_weights_[0].shape[0]} features; X has "
                f"{X.shape[1]}"
            )
        self.latent_centroids_ = np.array(latent_centroids, dtype=np.float64)
        k = self.latent_centroids_.shape[0]
        if self.latent_centroids_.shape != (k, encoder.n_latent) or k == 0:
            raise ValueError(
                f"latent_centroids of shape {self.latent_centroids_.shape} do not fit a "
                f"{encoder.n_latent}-wide latent space"
            )
        self.n_features_in_ = int(X.shape[1])
        self.reference_ = X.mean(axis=0)
        Z = encoder.encode(X)
        position, _, _ = kernels.nearest_centroid(Z, self.latent_centroids_)
        counts = np.bincount(position, minlength=k)
        kept = counts > 0
        self.labels_ = np.flatnonzero(kept).astype(np.int64)
        self.latent_centroids_ = self.latent_centroids_[kept]
        position, _, _ = kernels.nearest_centroid(Z, self.latent_centroids_)
        sums = np.zeros((self.labels_.size, X.shape[1]))
        np.add.at(sums, position, X)
        self.centroids_ = sums / np.bincount(position, minlength=self.labels_.size)[:, None]
        distance = kernels.row_distance(X, self.centroids_[position])
        self.thresholds_ = _quantile_by_label(distance, position, self.labels_.size)
        return self

    def assign(self, X: Any) -> AssignmentBatch:
        """Assign rows to the nearest latent centre (see the class notes)."""
        self._check_fitted()
        arr = as_matrix(X, self.n_features_in_)
        return kernels.assign_latent_centroid(
            arr,
            self.encoder.encode(arr),
            self.latent_centroids_,
            self.centroids_,
            self.labels_,
            self.thresholds_,
        )


ASSIGNER_TYPES: tuple[type[SegmentAssigner], ...] = (
    NearestCentroidAssigner,
    GaussianMixtureAssigner,
    CoreSampleAssigner,
    LatentCentroidAssigner,
)
"""Every assigner class the training run persists (their names are skops-trusted)."""

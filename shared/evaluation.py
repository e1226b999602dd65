"""Model evaluation: metrics of every candidate, k sweeps, elbow, dendrogram, comparison.

The models below are the ``evaluation.json`` contract. The metric functions live here too.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from shared.config import Algorithm
from shared.manifest import Metrics

__all__ = [
    "SILHOUETTE_SAMPLE_CAP",
    "AlgorithmSweep",
    "Candidate",
    "ComparisonRow",
    "Evaluation",
    "SilhouetteSample",
    "cluster_metrics",
    "dendrogram_data",
]

logger = logging.getLogger(__name__)

SILHOUETTE_SAMPLE_CAP = 5_000
"""Silhouette is O(n^2): it is computed on a fixed random sample of at most this many rows
(the same rows for every candidate, so candidates are compared on equal terms)."""
NOISE_LABEL = -1


class _Document(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")


class Candidate(_Document):
    """One fitted candidate of a sweep."""

    k: int | None = Field(description="Requested k (None for DBSCAN).")
    n_segments: int
    metrics: Metrics
    params: dict[str, Any] = Field(default_factory=dict)
    fit_seconds: float = Field(ge=0)


class AlgorithmSweep(_Document):
    """Every candidate of one algorithm and the k the rule chose."""

    algorithm: Algorithm
    candidates: list[Candidate]
    chosen_k: int | None
    reason: str = Field(description="Why this k, in words, with the numbers that decided it.")
    fit_rows: int = Field(ge=0)
    extra: dict[str, Any] = Field(
        default_factory=dict,
        description="Algorithm-specific curves: elbow knee, k-distance curve and eps, BIC/AIC.",
    )


class ComparisonRow(_Document):
    """One line of the side-by-side table of algorithms at their chosen k."""

    algorithm: Algorithm
    k: int | None
    n_segments: int
    metrics: Metrics
    score: float | None = Field(default=None, description="Champion score (see the rule).")
    champion: bool = False


class Evaluation(_Document):
    """``evaluation.json``: sweeps, dendrogram data, and the comparison table."""

    sweeps: dict[str, AlgorithmSweep]
    comparison: list[ComparisonRow]
    champion: Algorithm
    champion_reason: str
    dendrogram: dict[str, Any] | None = Field(
        default=None,
        description="scipy dendrogram data (icoord, dcoord, leaf counts) of the ward linkage "
        "on the fit sample, truncated to a readable number of leaves.",
    )
    silhouette_sample: int = Field(ge=0, description="Rows the silhouette was computed on.")


class SilhouetteSample:
    """The silhouette sample of one training run: its rows and their pairwise distances.

    The distance matrix (at most ``SILHOUETTE_SAMPLE_CAP`` rows: 200 MB at the cap) is computed
    once; each candidate's silhouette then costs one matrix product with its one-hot labels
    instead of recomputing distances.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        The prepared matrix of every training row.
    index : ndarray of int
        Rows of ``X`` forming the sample (see ``shared.clustering.representative_sample``).

    Examples
    --------
    >>> X = np.array([[0.0], [1.0], [10.0], [11.0]])
    >>> round(SilhouetteSample(X, np.arange(4)).score(np.array([0, 0, 1, 1])), 3)
    0.9
    """

    def __init__(self, X: np.ndarray, index: np.ndarray) -> None:
        from sklearn.metrics.pairwise import euclidean_distances

        self.index = np.asarray(index, dtype=np.int64)
        sample = np.asarray(X[self.index], dtype=np.float64)
        # The matrix-product form, as scikit-learn's silhouette_score computes it.
        self.distances = euclidean_distances(sample)

    @property
    def size(self) -> int:
        """Rows in the sample."""
        return int(self.index.shape[0])

    def score(self, labels: np.ndarray) -> float | None:
        """Mean silhouette of the sample rows under ``labels`` (labels of EVERY row of X).

        Noise rows (label -1) are left out, as in ``silhouette_score`` on the non-noise rows.
        None when the sample holds fewer than two segments. Equals scikit-learn's
        ``silhouette_score`` on the same rows.
        """
        sample_labels = np.asarray(labels)[self.index]
        keep = sample_labels != NOISE_LABEL
        present, codes = np.unique(sample_labels[keep], return_inverse=True)
        if present.size < 2 or keep.sum() <= present.size:
            return None
        onehot = np.zeros((self.size, present.size))
        onehot[np.flatnonzero(keep), codes] = 1.0
        sums = (self.distances @ onehot)[keep]
        counts = onehot.sum(axis=0)
        rows = np.arange(codes.shape[0])
        own_count = counts[codes]
        with np.errstate(divide="ignore", invalid="ignore"):
            a = sums[rows, codes] / np.maximum(own_count - 1, 1)
            mean_other = sums / counts
        mean_other[rows, codes] = np.inf
        b = mean_other.min(axis=1)
        denominator = np.maximum(a, b)
        with np.errstate(divide="ignore", invalid="ignore"):
            values = np.where(denominator > 0, (b - a) / denominator, 0.0)
        values[own_count == 1] = 0.0
        return float(np.mean(values))


def cluster_metrics(
    X: np.ndarray, labels: np.ndarray, *, silhouette: SilhouetteSample | None = None
) -> Metrics:
    """Quality metrics of a labelling of every row of the prepared matrix.

    Davies-Bouldin, Calinski-Harabasz and inertia (within-segment sum of squared distances to
    the segment means) use every row; silhouette uses the shared sample. Noise rows (label -1)
    are left out of every metric and counted in ``noise_share``. All metrics are None when fewer
    than two segments exist (the caller says so in a note). DB and CH equal scikit-learn's
    ``davies_bouldin_score`` / ``calinski_harabasz_score`` but need one pass over the data.

    Examples
    --------
    >>> X = np.array([[0.0], [1.0], [10.0], [11.0]])
    >>> m = cluster_metrics(X, np.array([0, 0, 1, 1]))
    >>> round(m.calinski_harabasz, 1), round(m.davies_bouldin, 3), m.inertia
    (200.0, 0.1, 1.0)
    """
    labels = np.asarray(labels)
    n = labels.shape[0]
    keep = labels != NOISE_LABEL
    noise_share = float(1.0 - keep.mean()) if n else 0.0
    present, codes = np.unique(labels[keep], return_inverse=True)
    k = int(present.size)
    n_kept = int(keep.sum())
    if k < 2 or n_kept <= k:
        return Metrics(
            silhouette=None,
            davies_bouldin=None,
            calinski_harabasz=None,
            inertia=None,
            noise_share=noise_share if (labels == NOISE_LABEL).any() else None,
        )
    from scipy.sparse import csr_matrix

    Xk = X[keep] if not keep.all() else X
    counts = np.bincount(codes, minlength=k).astype(np.float64)
    # One sparse product sums every segment's rows in a single pass over X.
    membership = csr_matrix(
        (np.ones(n_kept), (codes, np.arange(n_kept))), shape=(k, n_kept), dtype=np.float64
    )
    centroids = np.asarray(membership @ Xk) / counts[:, None]
    diff = Xk - centroids[codes]
    within = np.einsum("ij,ij->i", diff, diff)
    del diff
    inertia = float(within.sum())
    overall = Xk.mean(axis=0)
    between = float(np.sum(counts * np.sum(np.square(centroids - overall), axis=1)))
    ch = 1.0 if inertia == 0 else between * (n_kept - k) / (inertia * (k - 1))
    intra = np.bincount(codes, weights=np.sqrt(within), minlength=k) / counts
    gaps = np.sqrt(np.sum(np.square(centroids[:, None, :] - centroids[None, :, :]), axis=2))
    if np.allclose(intra, 0) or np.allclose(gaps, 0):
        db = 0.0
    else:
        gaps[gaps == 0] = np.inf
        db = float(np.mean(np.max((intra[:, None] + intra[None, :]) / gaps, axis=1)))
    return Metrics(
        silhouette=silhouette.score(labels) if silhouette is not None else None,
        davies_bouldin=db,
        calinski_harabasz=float(ch),
        inertia=inertia,
        noise_share=noise_share if (labels == NOISE_LABEL).any() else None,
    )


def dendrogram_data(linkage: np.ndarray, *, p: int = 30) -> dict[str, Any]:
    """Drawable dendrogram of a ward linkage, truncated to its last ``p`` merges.

    Returns scipy's ``dendrogram(no_plot=True, truncate_mode="lastp")`` output as JSON-ready
    lists: ``icoord``, ``dcoord`` (the U-shaped links), ``ivl`` (leaf labels: a row count in
    parentheses for a merged leaf), ``leaves`` and ``color_list``, plus ``p`` and ``n_rows``.

    Examples
    --------
    >>> from scipy.cluster.hierarchy import ward
    >>> d = dendrogram_data(ward(np.array([[0.0], [1.0], [10.0], [11.0]])), p=2)
    >>> d["ivl"], d["n_rows"]
    (['(2)', '(2)'], 4)
    """
    from scipy.cluster.hierarchy import dendrogram

    n_rows = int(linkage.shape[0] + 1)
    tree = dendrogram(linkage, no_plot=True, truncate_mode="lastp", p=min(p, n_rows))
    return {
        "icoord": [[float(v) for v in row] for row in tree["icoord"]],
        "dcoord": [[float(v) for v in row] for row in tree["dcoord"]],
        "ivl": [str(v) for v in tree["ivl"]],
        "leaves": [int(v) for v in tree["leaves"]],
        "color_list": [str(v) for v in tree["color_list"]],
        "p": int(min(p, n_rows)),
        "n_rows": n_rows,
    }

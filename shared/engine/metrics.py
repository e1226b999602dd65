"""Model evaluation: metrics of every candidate, k sweeps, elbow, dendrogram, comparison.

The models below are the ``evaluation.json`` contract. The metric functions live here too.

Noise rule (``NOISE_RULE``)
    DBSCAN leaves some customers unassigned (noise, label -1, the "Outliers" segment). Its
    metrics count those customers against it, so that it competes with the algorithms that
    place every customer on equal terms (a model cannot look better by refusing the rows it
    cannot place):

    - silhouette: every sampled row counts in the mean, a noise row with a silhouette of 0
      (no better placed than on the border between two segments); the other rows' silhouette
      is measured against the real segments only. With noise share ``p`` in the sample, the
      score is ``(1 - p)`` times the mean silhouette of the segmented rows.
    - Davies-Bouldin, Calinski-Harabasz and inertia: the noise rows form one more group, with
      its own centre and scatter (what scikit-learn's ``davies_bouldin_score`` and
      ``calinski_harabasz_score`` compute when -1 is passed as a label). Scattered noise has a
      wide spread around a centre near the middle of the data, so it raises Davies-Bouldin and
      inertia and lowers Calinski-Harabasz.

    The metrics stay None when fewer than two real segments exist (noise is never a segment).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from shared.contract.documents import NOISE_LABEL
from shared.contract.manifest import Metrics

logger = logging.getLogger(__name__)

NOISE_RULE = (
    "noise counts against the model: noise rows score 0 in the silhouette mean; for "
    "Davies-Bouldin, Calinski-Harabasz and inertia the noise rows are one more group"
)

SILHOUETTE_SAMPLE_CAP = 5_000
"""Silhouette is O(n^2): it is computed on a fixed random sample of at most this many rows
(the same rows for every candidate, so candidates are compared on equal terms)."""
METRIC_SAMPLE_CAP = 100_000
"""Davies-Bouldin's per-segment scatter (mean distance of a segment's rows to its centroid) is
averaged over a fixed random sample of at most this many rows (the same rows for every
candidate); centroids, inertia and Calinski-Harabasz use every row (see :class:`MetricRows`)."""


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
        Rows of ``X`` forming the sample (see ``shared.engine.clustering.representative_sample``).

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

        Noise rows (label -1) count with a silhouette of 0 (see ``NOISE_RULE``); the other rows
        are measured against the segments only. None when the sample holds fewer than two
        segments. Without noise it equals scikit-learn's ``silhouette_score`` on the same rows.

        Examples
        --------
        >>> X = np.array([[0.0], [1.0], [10.0], [11.0], [50.0]])
        >>> round(SilhouetteSample(X, np.arange(5)).score(np.array([0, 0, 1, 1, -1])), 3)
        0.72
        """
        return self.scores([labels])[0]

    def scores(self, labelings: Sequence[np.ndarray]) -> list[float | None]:
        """:meth:`score` of several labellings from ONE pass over the distance matrix.

        The one-hot matrices of every labelling are stacked side by side, so the (large)
        distance matrix is read once for all candidates instead of once per candidate.

        Examples
        --------
        >>> X = np.array([[0.0], [1.0], [10.0], [11.0]])
        >>> [round(s, 3) for s in SilhouetteSample(X, np.arange(4)).scores(
        ...     [np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1])])]
        [0.9, 0.026]
        """
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, int] | None] = []
        width = 0
        for labels in labelings:
            sample_labels = np.asarray(labels)[self.index]
            keep = sample_labels != NOISE_LABEL
            present, codes = np.unique(sample_labels[keep], return_inverse=True)
            if present.size < 2 or keep.sum() <= present.size:
                parts.append(None)
                continue
            parts.append((keep, codes.astype(np.int64).ravel(), present, width))
            width += int(present.size)
        results: list[float | None] = [None] * len(parts)
        if width == 0:
            return results
        onehot = np.zeros((self.size, width))
        for part in parts:
            if part is not None:
                keep, codes, _, offset = part
                onehot[np.flatnonzero(keep), offset + codes] = 1.0
        all_sums = self.distances @ onehot
        for i, part in enumerate(parts):
            if part is not None:
                keep, codes, present, offset = part
                block = slice(offset, offset + int(present.size))
                values = silhouette_from_sums(all_sums[keep, block], codes, onehot[:, block].sum(0))
                # Noise rows add 0 to the sum but count in the mean (NOISE_RULE).
                results[i] = float(np.sum(values)) / self.size
        return results


def silhouette_from_sums(sums: np.ndarray, codes: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per-row silhouette from each row's summed distances to every segment.

    Parameters
    ----------
    sums : ndarray of shape (n, k)
        ``sums[i, j]`` is the sum of row i's distances to the rows of segment j.
    codes : ndarray of shape (n,)
        Each row's segment, 0..k-1.
    counts : ndarray of shape (k,)
        Rows per segment (all > 0).

    Returns
    -------
    ndarray of shape (n,)
        Silhouette values; rows alone in their segment get 0, as in scikit-learn.

    Examples
    --------
    >>> d = np.array([[0.0, 1, 10], [1, 0, 9], [10, 9, 0]])
    >>> onehot = np.array([[1.0, 0], [1, 0], [0, 1]])
    >>> silhouette_from_sums(d @ onehot, np.array([0, 0, 1]), onehot.sum(axis=0)).round(3)
    array([0.9  , 0.889, 0.   ])
    """
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
    return values


class MetricRows:
    """Per-row quantities shared by the metrics of every candidate of one training run.

    Computed once: the column means of ``X``, every row's squared distance to them, and the
    rows on which Davies-Bouldin's per-segment scatter is averaged (at most
    ``METRIC_SAMPLE_CAP``; every row of a smaller table).

    Parameters
    ----------
    X : ndarray of shape (n, d)
        The prepared matrix of every training row.
    index : ndarray of int, optional
        Rows for Davies-Bouldin's scatter; default: every row.

    Examples
    --------
    >>> MetricRows(np.array([[0.0], [2.0]])).sq_norms.tolist()
    [1.0, 1.0]
    """

    def __init__(self, X: np.ndarray, index: np.ndarray | None = None) -> None:
        X = np.asarray(X, dtype=np.float64)
        n = X.shape[0]
        self.mean = X.mean(axis=0) if n else np.zeros(X.shape[1])
        self.sq_norms = np.empty(n)
        step = max(1, 4_000_000 // max(1, X.shape[1]))
        for start in range(0, n, step):
            block = X[start : start + step] - self.mean
            np.einsum("ij,ij->i", block, block, out=self.sq_norms[start : start + step])
        self.index = (
            None
            if index is None or np.asarray(index).size >= n
            else np.asarray(index, dtype=np.int64)
        )


def cluster_metrics(
    X: np.ndarray,
    labels: np.ndarray,
    *,
    silhouette: SilhouetteSample | None = None,
    rows: MetricRows | None = None,
) -> Metrics:
    """Quality metrics of a labelling of every row of the prepared matrix.

    Inertia (within-segment sum of squared distances to the segment means) and
    Calinski-Harabasz use every row, from per-segment sums (one pass over ``X``); Davies-Bouldin
    uses the segment means of every row and averages each segment's scatter over ``rows.index``
    (every row up to ``METRIC_SAMPLE_CAP`` rows: then it equals scikit-learn's
    ``davies_bouldin_score``); silhouette uses the shared sample. Noise rows (label -1) count
    against the model (see ``NOISE_RULE``: 0 in the silhouette mean, one more group for the
    other metrics) and their share is ``noise_share``. All metrics are None when fewer than two
    segments exist (the caller says so in a note). CH equals scikit-learn's
    ``calinski_harabasz_score`` (noise passed as label -1) up to rounding.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    labels : ndarray of int, shape (n,)
        Internal labels ``>= 0``; -1 is noise.
    silhouette : SilhouetteSample, optional
        The shared silhouette sample (default: silhouette is None).
    rows : MetricRows, optional
        The run's shared per-row quantities (default: computed here, every row).

    Examples
    --------
    >>> X = np.array([[0.0], [1.0], [10.0], [11.0]])
    >>> m = cluster_metrics(X, np.array([0, 0, 1, 1]))
    >>> round(m.calinski_harabasz, 1), round(m.davies_bouldin, 3), m.inertia
    (200.0, 0.1, 1.0)
    >>> X = np.array([[0.0], [1.0], [10.0], [11.0], [5.0], [6.0]])
    >>> noisy = cluster_metrics(X, np.array([0, 0, 1, 1, -1, -1]))
    >>> round(noisy.davies_bouldin, 3), round(noisy.calinski_harabasz, 1)
    (0.2, 100.0)
    """
    labels = np.asarray(labels).astype(np.int64, copy=False).ravel()
    n = labels.shape[0]
    noise = labels == NOISE_LABEL
    n_noise = int(noise.sum())
    noise_share = n_noise / n if n_noise else None
    counts_by_label = np.bincount(labels[~noise]) if n_noise < n else np.zeros(0, np.int64)
    present = np.flatnonzero(counts_by_label)
    k = int(present.size)
    # Groups: the k segments, then (NOISE_RULE) the noise rows as one more group.
    n_groups = k + (1 if n_noise else 0)
    if k < 2 or n <= n_groups:
        return Metrics(
            silhouette=None,
            davies_bouldin=None,
            calinski_harabasz=None,
            inertia=None,
            noise_share=noise_share,
        )
    if rows is None:
        rows = MetricRows(X)
    lookup = np.full(counts_by_label.size + 1, k, dtype=np.int64)  # last slot: label -1
    lookup[present] = np.arange(k)
    codes = lookup[labels]  # label -1 indexes the last slot: the noise group k
    counts = np.bincount(codes, minlength=n_groups).astype(np.float64)
    from scipy.sparse import csr_matrix

    # One sparse product sums every group's rows in a single pass over X.
    membership = csr_matrix(
        (np.ones(n), (codes, np.arange(n))), shape=(n_groups, n), dtype=np.float64
    )
    centroids = np.asarray(membership @ X) / counts[:, None]
    # Within-group squares around the means from the squares around the column means:
    # sum |x - c|^2 = sum |x - m|^2 - n_c |c - m|^2 per group (no n x d temporary).
    shifted = centroids - rows.mean
    total = float(rows.sq_norms.sum())
    inertia = total - float(np.sum(counts * np.einsum("ij,ij->i", shifted, shifted)))
    if inertia <= 1e-12 * total:
        inertia = 0.0
    overall = (counts @ centroids) / n
    between = float(np.sum(counts * np.sum(np.square(centroids - overall), axis=1)))
    ch = 1.0 if inertia == 0 else between * (n - n_groups) / (inertia * (n_groups - 1))
    intra = _group_scatter(X, codes, centroids, rows.index)
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
        noise_share=noise_share,
    )


def _group_scatter(
    X: np.ndarray, codes: np.ndarray, centroids: np.ndarray, index: np.ndarray | None
) -> np.ndarray:
    """Per group, the mean distance of its rows (of ``index``: a sample) to its centroid.

    A group with no row in the sample (a tiny one) is measured on all of its rows.
    """
    n_groups = centroids.shape[0]
    sample_codes = codes if index is None else codes[index]
    points = X if index is None else X[index]
    diff = points - centroids[sample_codes]
    distance = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    del diff, points
    counts = np.bincount(sample_codes, minlength=n_groups).astype(np.float64)
    intra = np.bincount(sample_codes, weights=distance, minlength=n_groups) / np.maximum(counts, 1)
    for code in np.flatnonzero(counts == 0):
        mine = X[codes == code] - centroids[code]
        intra[code] = float(np.mean(np.sqrt(np.einsum("ij,ij->i", mine, mine))))
    return np.asarray(intra)


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

"""Exact per-feature reasons for an assignment: the margin of each rule, split feature by feature.

Every assignment rule picks a segment because one number, the *margin*, favours it over the
*runner-up* (the segment it came closest to joining instead). Each margin below is a sum over
the prepared features plus, for some rules, a constant ``baseline`` that no feature owns; so

    ``terms.sum(axis=1) + baseline == margin``   (to floating-point rounding)

holds for every row, and a positive term pushed the customer towards the assigned segment, a
negative one towards the runner-up. With ``x`` a prepared row:

Nearest centroid (K-Means, Agglomerative)
    margin = ``|x - c_b|^2 - |x - c_a|^2`` (squared Euclidean distance to the runner-up centroid
    ``c_b`` minus that to the assigned one ``c_a``, the second nearest centroid), term
    ``i`` = ``(x_i - c_b,i)^2 - (x_i - c_a,i)^2``, baseline 0. Always ``>= 0``.
Gaussian mixture
    margin = ``log p(a | x) - log p(b | x)``, the log-posterior ratio of the assigned component
    against the runner-up (the second most probable). With ``z_j = x - mean_j`` and precision
    ``P_j = L_j L_j^T`` (``L_j`` the Cholesky factor scikit-learn keeps), ``log p(j | x) =
    log w_j + log det L_j - 0.5 z_j^T P_j z_j + const``; the quadratic form splits exactly as
    ``z^T P z = sum_i z_i (P z)_i``, each term owned by prepared feature ``i`` (for a diagonal
    mixture ``(z_i / sigma_i)^2``). Term ``i`` = ``0.5 (z_b,i (P_b z_b)_i - z_a,i (P_a z_a)_i)``;
    baseline = ``(log w_a + log det L_a) - (log w_b + log det L_b)``: the components' sizes and
    spreads, which belong to no feature. The prepared space is the standardized one (every
    numeric column scaled to unit variance), so with a full covariance a term can be negative
    for a feature that is correlated with another: the split is exact, the shares are not
    independent. Splitting the whitened form ``|y|^2 = sum_j y_j^2`` (``y = L^T z``)
    would be exact too, but its terms belong to whitened directions (mixtures of columns);
    ``z_i (P z)_i`` keeps one term per prepared column.
Core sample (DBSCAN)
    For a customer inside a segment: margin = ``|x - c_b|^2 - |x - c_a|^2`` with ``c_a`` the
    nearest core sample (of the assigned segment) and ``c_b`` the nearest core sample of any
    other segment (in DBSCAN's weighted space); terms as for centroids, baseline 0. When DBSCAN
    found a single segment, its runner-up is noise: margin = ``eps^2 - |x - c_a|^2``, term ``i``
    = ``-(x_i - c_a,i)^2`` and baseline = ``eps^2``. For noise:
    the runner-up is the segment of the nearest core sample ``c``, margin = ``|x - c|^2 -
    eps^2`` (how far beyond DBSCAN's reach), term ``i`` = ``(x_i - c_i)^2`` and baseline =
    ``-eps^2``.

Latent centroid (the autoencoder)
    margin = ``|z - c_b|^2 - |z - c_a|^2`` with ``z = E(x)`` the encoded row and ``c_a``,
    ``c_b`` the assigned and runner-up latent centres. The encoder is not linear, so the margin
    has no exact per-feature split of its own; it is split by integrated gradients (Sundararajan,
    Taly & Yan, 2017) along the straight path from the reference row ``r`` (the mean fit row:
    the average customer) to ``x``: term ``i`` = ``(x_i - r_i) * integral_0^1 df/dx_i(r + t (x
    - r)) dt`` with ``f(x) = |E(x) - c_b|^2 - |E(x) - c_a|^2`` (whose gradient is ``2 J(x)^T
    (c_a - c_b)``, ``J`` the encoder's Jacobian), integrated with :data:`QUADRATURE_NODES`-point
    Gauss-Legendre quadrature. A row whose terms miss ``f(x) - f(r)`` by more than
    :data:`QUADRATURE_TOLERANCE` x ``max(1, |margin|)`` (a customer far from the training data,
    whose path crosses the encoder's units within a sliver of it) is integrated piece by piece
    instead: the first layer's inputs are linear along the path, so the points where each unit
    turns (:data:`TURNING_LEVELS`) are exact cuts, and each piece gets its own nodes
    (:data:`PIECE_NODES`, more until the terms add up). The terms then add up to ``f(x) -
    f(r)``, and baseline = ``margin - sum(terms)`` is the margin the average customer would
    have between the same two segments (measured within ``3e-11`` of it for ages up to
    ``1e15`` on the Mall model). Should a row still miss after the most nodes, what is left
    stays in its baseline and a warning is logged. Each term is how much moving that column
    from the average customer's value to this customer's changed the margin
    (``tests/unit/test_autoencoder.py`` checks the gradient against finite differences and the
    baseline against ``f(r)``, for ordinary and far-out customers).

Terms are per prepared feature; :class:`FeatureGroups` adds a one-hot column's slots back into
one term for that column. This module imports numpy and the standard library only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from shared.serving.encoder import Encoder
from shared.serving.kernels import (
    CHUNK_ELEMENTS,
    NOISE_LABEL,
    AssignmentBatch,
    squared_distances,
    weighted_log_prob,
)
from shared.serving.preprocessing import PreprocessingParams

__all__ = [
    "MARGIN_KINDS",
    "Attribution",
    "FeatureGroups",
    "attribute_core_sample",
    "attribute_latent_centroid",
    "attribute_mixture",
    "attribute_nearest_centroid",
]

logger = logging.getLogger(__name__)

NO_RUNNER_UP = -2
"""``Attribution.runner_up`` of a row with no other segment to compare with (k = 1)."""

MARGIN_KINDS = {
    "nearest_centroid": "squared_distance_gap",
    "gaussian_mixture": "log_posterior_ratio",
    "core_sample": "squared_distance_gap",
    "core_sample_noise": "beyond_eps",
    "core_sample_alone": "within_eps",
    "latent_centroid": "latent_squared_distance_gap",
}
"""What the margin measures, per rule kind (and for DBSCAN noise): ``squared_distance_gap`` is
the squared distance to the runner-up's representative minus that to the assigned one's,
``log_posterior_ratio`` the GMM's ``log p(a|x) - log p(b|x)``, ``beyond_eps`` a noise point's
squared distance to the nearest core sample minus ``eps^2``, ``within_eps`` (DBSCAN with a
single segment, whose runner-up is noise) ``eps^2`` minus the squared distance to the nearest
core sample, ``latent_squared_distance_gap`` the autoencoder's squared-distance gap between
the runner-up's and the assigned latent centre."""
QUADRATURE_NODES = 12
"""Gauss-Legendre nodes of the autoencoder's path integral (see the module notes): on the Mall
model at every k, 12 nodes put every term of 1,000 customers within 1e-10 of a 96-node
integral (8 nodes: 73-82 % of the customers within 1e-9)."""
QUADRATURE_TOLERANCE = 1e-9
"""Largest gap, relative to ``max(1, |margin|)``, between the terms' sum and ``f(x) - f(r)``
before a row is integrated again with twice the nodes."""
PATH_CHUNK_POINTS = 1_024
"""Path points (rows x nodes) pushed through the encoder at once: small blocks stay in cache
(measured, 10,000 rows x 24 nodes: 32 ms in blocks of 1,024 points, 63 ms in blocks of 32,768,
785 ms one node at a time)."""
PIECE_NODES = (24, 48, 96)
"""Gauss-Legendre nodes per piece of a row integrated piece by piece, tried in turn."""
TURNING_LEVELS: dict[str, tuple[float, ...]] = {
    "tanh": (-12.0, -6.0, -3.0, -1.0, 0.0, 1.0, 3.0, 6.0, 12.0),
    "logistic": (-24.0, -12.0, -6.0, -2.0, 0.0, 2.0, 6.0, 12.0, 24.0),
    "relu": (0.0,),
    "identity": (),
}
"""First-layer input levels where a unit's slope changes (tanh' is below 1.6e-10 past 12)."""


@dataclass(frozen=True)
class Attribution:
    """The margins of a batch of assignments, split per prepared feature.

    Attributes
    ----------
    runner_up : ndarray of int64, shape (n,)
        Internal label of the runner-up segment (:data:`NO_RUNNER_UP` when there is none).
    margin : ndarray of float64, shape (n,)
        How much the rule favoured the assigned segment (see the module notes; ``>= 0``).
    baseline : ndarray of float64, shape (n,)
        The part of the margin no feature owns.
    terms : ndarray of float64, shape (n, d)
        Per prepared feature; ``terms.sum(axis=1) + baseline == margin``.
    noise : ndarray of bool, shape (n,)
        DBSCAN noise rows (their margin is the noise margin).

    Examples
    --------
    >>> a = attribute_nearest_centroid(np.array([[1.0, 0.0]]),
    ...                                np.array([[0.0, 0.0], [4.0, 0.0]]), np.array([0]))
    >>> a.runner_up.tolist(), a.margin.tolist(), a.terms.tolist()
    ([1], [8.0], [[8.0, 0.0]])
    """

    runner_up: np.ndarray
    margin: np.ndarray
    baseline: np.ndarray
    terms: np.ndarray
    noise: np.ndarray


def _empty(n: int, d: int) -> Attribution:
    return Attribution(
        runner_up=np.full(n, NO_RUNNER_UP, dtype=np.int64),
        margin=np.zeros(n),
        baseline=np.zeros(n),
        terms=np.zeros((n, d)),
        noise=np.zeros(n, dtype=bool),
    )


def attribute_nearest_centroid(
    X: np.ndarray, centroids: np.ndarray, position: np.ndarray
) -> Attribution:
    """Split the nearest-centroid margin of rows assigned to centroid rows ``position``.

    ``runner_up`` holds centroid *positions* here (the caller maps them to labels).

    Examples
    --------
    >>> a = attribute_nearest_centroid(np.array([[1.0, 2.0]]),
    ...                                np.array([[1.0, 1.0], [3.0, 3.0]]), np.array([0]))
    >>> a.margin.tolist(), float(a.terms.sum() + a.baseline.sum())
    ([4.0], 4.0)
    """
    n, d = X.shape
    if centroids.shape[0] < 2:
        return _empty(n, d)
    score = squared_distances(X, centroids)
    rows = np.arange(n)
    score[rows, position] = np.inf
    runner_up = np.argmin(score, axis=1)
    to_b = X - centroids[runner_up]
    to_a = X - centroids[position]
    terms = to_b * to_b - to_a * to_a
    return Attribution(
        runner_up=runner_up.astype(np.int64),
        margin=terms.sum(axis=1),
        baseline=np.zeros(n),
        terms=terms,
        noise=np.zeros(n, dtype=bool),
    )


def _mixture_quadratic_terms(
    X: np.ndarray, mean: np.ndarray, chol: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature terms ``z_i (P z)_i`` of ``z^T P z`` for one component, and ``log det L``."""
    z = X - mean
    if chol.ndim == 1:  # diagonal: the precision Cholesky factor is 1/sigma per feature
        y = z * chol
        return y * y, np.sum(np.log(chol))
    y = z @ chol  # whitened row: |y|^2 = z^T P z
    return z * (y @ chol.T), np.sum(np.log(np.diagonal(chol)))


def attribute_mixture(
    X: np.ndarray,
    weights: np.ndarray,
    means: np.ndarray,
    precisions_cholesky: np.ndarray,
    position: np.ndarray,
) -> Attribution:
    """Split the log-posterior ratio (assigned component ``position`` vs the runner-up).

    ``runner_up`` holds component *positions* (the caller maps them to labels).

    Examples
    --------
    >>> a = attribute_mixture(np.array([[0.5, 3.0]]), np.array([0.5, 0.5]),
    ...                       np.array([[0.0, 0.0], [4.0, 0.0]]),
    ...                       np.array([[1.0, 1.0], [1.0, 1.0]]), np.array([0]))
    >>> round(float(a.margin[0]), 9), a.terms.tolist(), a.baseline.tolist()
    (6.0, [[6.0, 0.0]], [0.0])
    """
    n, d = X.shape
    k = means.shape[0]
    if k < 2:
        return _empty(n, d)
    scores = weighted_log_prob(X, weights, means, precisions_cholesky)
    rows = np.arange(n)
    margin_rows = scores[rows, position].copy()
    scores[rows, position] = -np.inf
    runner_up = np.argmax(scores, axis=1)
    margin = margin_rows - scores[rows, runner_up]
    terms = np.empty((n, d))
    baseline = np.empty(n)
    # One pass per component pair that occurs (k is small): rows grouped by (assigned, runner-up).
    for a in np.unique(position).tolist():
        for b in np.unique(runner_up[position == a]).tolist():
            mine = np.flatnonzero((position == a) & (runner_up == b))
            qa, det_a = _mixture_quadratic_terms(X[mine], means[a], precisions_cholesky[a])
            qb, det_b = _mixture_quadratic_terms(X[mine], means[b], precisions_cholesky[b])
            terms[mine] = 0.5 * (qb - qa)
            baseline[mine] = (np.log(weights[a]) + det_a) - (np.log(weights[b]) + det_b)
    return Attribution(
        runner_up=runner_up.astype(np.int64),
        margin=margin,
        baseline=baseline,
        terms=terms,
        noise=np.zeros(n, dtype=bool),
    )


def attribute_core_sample(
    X: np.ndarray,
    components: np.ndarray,
    core_labels: np.ndarray,
    eps: float,
    batch: AssignmentBatch,
    *,
    chunk_elements: int | None = None,
) -> Attribution:
    """Split DBSCAN's margin (``X`` already in DBSCAN's weighted space).

    ``runner_up`` holds internal *labels* (core samples carry labels, not positions).

    Examples
    --------
    >>> c, labels = np.array([[0.0], [5.0]]), np.array([0, 1])
    >>> from shared.serving.kernels import assign_core_sample
    >>> X = np.array([[1.0], [2.5]])
    >>> b = assign_core_sample(X, c, (c**2).sum(axis=1), labels, 1.5)
    >>> a = attribute_core_sample(X, c, labels, 1.5, b)
    >>> a.runner_up.tolist(), a.margin.tolist(), a.noise.tolist()
    ([1, 0], [15.0, 4.0], [False, True])
    """
    n, d = X.shape
    out = _empty(n, d)
    if components.shape[0] == 0:
        return out
    norms = np.einsum("ij,ij->i", components, components)
    chunk = CHUNK_ELEMENTS if chunk_elements is None else chunk_elements
    step = max(1, chunk // max(1, components.shape[0]))
    noise = batch.labels == NOISE_LABEL
    for start in range(0, n, step):
        block = X[start : start + step]
        rows = np.arange(block.shape[0])
        score = norms[None, :] - 2.0 * (block @ components.T)
        nearest = np.argmin(score, axis=1)
        own = core_labels[nearest]
        score[core_labels[None, :] == own[:, None]] = np.inf
        other = np.argmin(score, axis=1)
        has_other = np.isfinite(score[rows, other])
        to_a = block - components[nearest]
        to_b = block - components[other]
        inside = ~noise[start : start + step]
        terms = np.where(
            inside[:, None], to_b * to_b - to_a * to_a, to_a * to_a
        )  # noise: distance to the nearest core, less eps^2 (the baseline)
        # Inside the only segment: the runner-up is noise, margin eps^2 - |x - c|^2.
        alone = inside & ~has_other
        terms[alone] = -(to_a * to_a)[alone]
        out.terms[start : start + step] = terms
        out.baseline[start : start + step] = np.where(
            inside, np.where(has_other, 0.0, eps * eps), -eps * eps
        )
        out.runner_up[start : start + step] = np.where(
            inside, np.where(has_other, core_labels[other], NOISE_LABEL), own
        )
    out.margin[:] = out.terms.sum(axis=1) + out.baseline
    out.noise[:] = noise
    return out


@lru_cache(maxsize=8)
def _gauss_legendre(nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on ``[0, 1]`` (computed once per node count)."""
    t, w = np.polynomial.legendre.leggauss(nodes)
    return (t + 1.0) / 2.0, w / 2.0


def _path_terms(
    encoder: Encoder,
    reference: np.ndarray,
    delta: np.ndarray,
    g: np.ndarray,
    at: np.ndarray,
    weight: np.ndarray,
) -> np.ndarray:
    """``delta * integral_0^1 J(reference + t delta)^T g dt`` for each row, by the quadrature
    rule ``sum_j weight[j] f(at[j])`` (points ``at`` on ``[0, 1]``, the same for every row)."""
    n, d = delta.shape
    points = at.size
    path_gradient = np.empty((n, d))
    # Every point of a block of rows in one pass through the encoder (one matrix product per
    # layer instead of one per point: a single customer costs a few products, not `points`).
    step = max(1, PATH_CHUNK_POINTS // points)
    for start in range(0, n, step):
        rows = slice(start, start + step)
        path = reference + at[:, None, None] * delta[None, rows, :]  # (points, m, d)
        m = path.shape[1]
        grads = encoder.pullback(
            path.reshape(points * m, d),
            np.broadcast_to(g[rows], (points, m, g.shape[1])).reshape(points * m, g.shape[1]),
        )
        path_gradient[rows] = np.tensordot(weight, grads.reshape(points, m, d), axes=1)
    return np.asarray(delta * path_gradient)


def _path_cuts(encoder: Encoder, reference: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """Where on ``[0, 1]`` the path ``reference + t delta`` turns the encoder's first-layer units.

    The first layer's inputs are linear in ``t`` (``a + t s``), so the points where each unit
    passes the levels of :data:`TURNING_LEVELS` are exact; between two cuts every unit's slope
    changes smoothly. Returns the sorted cuts with 0 and 1.
    """
    weights, bias = encoder.weights[0], encoder.biases[0]
    start = reference @ weights + bias
    slope = delta @ weights
    levels = np.asarray(TURNING_LEVELS.get(encoder.activation, ()), dtype=np.float64)
    moving = slope != 0
    if not levels.size or not moving.any():
        return np.array([0.0, 1.0])
    cuts = (levels[None, :] - start[moving, None]) / slope[moving, None]
    inside = cuts[(cuts > 0.0) & (cuts < 1.0)]
    return np.unique(np.concatenate([[0.0, 1.0], inside]))


def _piecewise_rule(cuts: np.ndarray, nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """``nodes``-point Gauss-Legendre on each piece between ``cuts``: points and weights.

    Examples
    --------
    >>> at, weight = _piecewise_rule(np.array([0.0, 0.5, 1.0]), 1)
    >>> at.tolist(), weight.tolist()
    ([0.25, 0.75], [0.5, 0.5])
    """
    t, w = _gauss_legendre(nodes)
    length = np.diff(cuts)
    at = (cuts[:-1, None] + length[:, None] * t[None, :]).ravel()
    return at, (length[:, None] * w[None, :]).ravel()


def attribute_latent_centroid(
    X: np.ndarray,
    encoder: Encoder,
    latent_centroids: np.ndarray,
    reference: np.ndarray,
    position: np.ndarray,
    *,
    nodes: int = QUADRATURE_NODES,
) -> Attribution:
    """Split the autoencoder's latent margin by integrated gradients from ``reference``.

    ``runner_up`` holds latent-centre *positions* (the caller maps them to labels). See the
    module notes: ``terms.sum(axis=1)`` is ``f(x) - f(reference)`` to quadrature error and the
    baseline is the rest of the margin.

    Examples
    --------
    >>> enc = Encoder((np.array([[1.0], [2.0]]),), (np.array([0.0]),), "identity")
    >>> a = attribute_latent_centroid(np.array([[1.0, 1.0]]), enc, np.array([[3.0], [0.0]]),
    ...                               np.zeros(2), np.array([0]))
    >>> a.runner_up.tolist(), a.margin.tolist(), np.round(a.terms, 9).tolist()
    ([1], [9.0], [[6.0, 12.0]])
    >>> np.round(a.baseline, 9).tolist()  # f(reference): E(0) = 0 is 9 from c_a, 0 from c_b
    [-9.0]
    """
    n, d = X.shape
    if latent_centroids.shape[0] < 2:
        return _empty(n, d)
    Z = encoder.encode(X)
    score = squared_distances(Z, latent_centroids)
    rows = np.arange(n)
    to_assigned = score[rows, position].copy()
    score[rows, position] = np.inf
    runner_up = np.argmin(score, axis=1)
    margin = score[rows, runner_up] - to_assigned
    # f(x) = |E(x) - c_b|^2 - |E(x) - c_a|^2 is linear in E(x): its gradient is J^T g.
    a_centre, b_centre = latent_centroids[position], latent_centroids[runner_up]
    g = 2.0 * (a_centre - b_centre)
    z_ref = encoder.encode(reference[None, :])[0]
    at_reference = np.sum((z_ref - b_centre) ** 2, axis=1) - np.sum((z_ref - a_centre) ** 2, axis=1)
    delta = X - reference
    terms = _path_terms(encoder, reference, delta, g, *_gauss_legendre(nodes))
    # Rows whose terms miss f(x) - f(r) by more than QUADRATURE_TOLERANCE (a customer far out,
    # whose path crosses the encoder's units in a sliver of it) are integrated piece by piece,
    # cut where the first layer's units turn, with more nodes per piece until they add up.
    tolerance = QUADRATURE_TOLERANCE * np.maximum(1.0, np.abs(margin))
    target = margin - at_reference
    rough = np.flatnonzero(np.abs(terms.sum(axis=1) - target) > tolerance)
    for row in rough.tolist():
        pieces = _path_cuts(encoder, reference, delta[row])
        one = slice(row, row + 1)
        for per_piece in PIECE_NODES:
            rule = _piecewise_rule(pieces, per_piece)
            terms[one] = _path_terms(encoder, reference, delta[one], g[one], *rule)
            if abs(terms[row].sum() - target[row]) <= tolerance[row]:
                break
        else:
            logger.warning(
                "explanation path integral did not converge",
                extra={"row": row, "miss": float(terms[row].sum() - target[row])},
            )
    return Attribution(
        runner_up=runner_up.astype(np.int64),
        margin=margin,
        baseline=margin - terms.sum(axis=1),
        terms=terms,
        noise=np.zeros(n, dtype=bool),
    )


@dataclass(frozen=True)
class FeatureGroups:
    """Which input column owns each prepared feature: one-hot slots add back into their column.

    Attributes
    ----------
    columns : tuple of str
        The input columns with a prepared feature, in output order of their first feature.
    matrix : ndarray of shape (d, m)
        ``matrix[i, j] = 1`` when prepared feature ``i`` belongs to column ``j``;
        ``terms @ matrix`` gives the per-column terms.

    Examples
    --------
    >>> from shared.serving.preprocessing import (InputColumn, OneHotColumn, OneHotSlot,
    ...                                           ScaledColumn)
    >>> params = PreprocessingParams(
    ...     (InputColumn("Age", "numeric", False), InputColumn("Gender", "categorical", False)),
    ...     3, (ScaledColumn("Age", 0, 38.0, False, 38.0, 10.0),),
    ...     (OneHotColumn("Gender", "F", (OneHotSlot("F", 1), OneHotSlot("M", 2))),))
    >>> g = FeatureGroups.from_preprocessing(params)
    >>> g.columns, (np.array([[0.5, 0.25, 0.25]]) @ g.matrix).tolist()
    (('Age', 'Gender'), [[0.5, 0.5]])
    """

    columns: tuple[str, ...]
    matrix: np.ndarray

    @classmethod
    def from_preprocessing(cls, params: PreprocessingParams) -> FeatureGroups:
        """The groups of a fitted preprocessing (numeric features alone, one-hot slots together)."""
        owner: dict[int, str] = {n.output: n.column for n in params.numeric}
        for c in params.categorical:
            owner.update({s.output: c.column for s in c.slots})
        columns: list[str] = []
        for output in sorted(owner):
            if owner[output] not in columns:
                columns.append(owner[output])
        matrix = np.zeros((params.n_outputs, len(columns)))
        for output, column in owner.items():
            matrix[output, columns.index(column)] = 1.0
        return cls(tuple(columns), matrix)

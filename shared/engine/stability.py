"""Stability of a segmentation under resampling: how reproducible its segments are.

For a fitted candidate (one algorithm at one k), :func:`sweep_stability` refits the same
algorithm with the same k on ``STABILITY_REFITS`` random subsamples and measures how well each
refit reproduces the candidate's own segments on the rows it saw, with the adjusted Rand index
(ARI; 1 = the same partition, about 0 = chance). The score is the mean ARI over the refits:
the resampling stability of Ben-Hur, Elisseeff and Guyon (2002), measured against the
published clustering as in Hennig's bootstrap stability (2007) so that it speaks about the
segments a marketer will see.

Cost is bounded whatever the table's size:

- the refits draw from a **pool** of at most :data:`STABILITY_POOL_ROWS` rows (a
  ``representative_sample`` of the canonical row order, so it is nested in every fit sample);
- each refit sees a :data:`STABILITY_SUBSAMPLE` share of the pool, drawn without replacement
  with a fixed seed; the same subsamples serve every k (paired comparisons across k);
- K-Means refits follow the fit's own rule for their size (``KMEANS_SMALL_ROWS``): a refit
  sees at most 1,600 rows, so it keeps the best of 10 k-means++ starts. A candidate fitted on
  a large sample with one start would otherwise be scored on the refits' start-up luck rather
  than on the data (measured on the 1M-row bench table: k=5 scored 0.87 with one start per
  refit, while ward's k=5 on the same rows scored 1.00). Agglomerative computes one ward
  linkage per subsample and cuts it at every k; Gaussian Mixture refits use the candidate's
  covariance type and regularisation (from its ``params``).

DBSCAN sets no k and is not scored.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np

from shared.engine.clustering import KMEANS_SMALL_ROWS, AlgorithmFit, representative_sample

__all__ = [
    "STABILITY_POOL_ROWS",
    "STABILITY_REFITS",
    "STABILITY_SUBSAMPLE",
    "adjusted_rand_index",
    "stability_method",
    "sweep_stability",
]

logger = logging.getLogger(__name__)

STABILITY_POOL_ROWS = 2_000
"""Rows the stability refits draw from (a nested sample of the training rows)."""
STABILITY_REFITS = 5
"""Refits per k."""
STABILITY_SUBSAMPLE = 0.8
"""Share of the pool each refit sees."""


def stability_method(n_rows: int) -> str:
    """The stability rule in words, with the sizes of a run on ``n_rows`` training rows.

    Examples
    --------
    >>> stability_method(200)[:40]
    'mean adjusted Rand index between each ca'
    >>> "subsample of 2,000 rows" in stability_method(1_000_000)
    True
    """
    pool_rows = min(n_rows, STABILITY_POOL_ROWS)
    return (
        "mean adjusted Rand index between each candidate's segments and those of "
        f"{STABILITY_REFITS} refits of the same algorithm and k, each on a random "
        f"{STABILITY_SUBSAMPLE:.0%} subsample of {pool_rows:,} rows (the same subsamples for "
        "every k), compared on the rows the refit saw (Ben-Hur et al. 2002)"
    )


def adjusted_rand_index(a: np.ndarray, b: np.ndarray) -> float:
    """Adjusted Rand index of two labellings of the same rows (Hubert and Arabie, 1985).

    1.0 for identical partitions (whatever the label numbers), about 0 for chance agreement;
    1.0 when both put every row in one segment.

    Examples
    --------
    >>> adjusted_rand_index(np.array([0, 0, 1, 1]), np.array([5, 5, 2, 2]))
    1.0
    >>> round(adjusted_rand_index(np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])), 2)
    -0.5
    """
    from sklearn.metrics import adjusted_rand_score

    return float(adjusted_rand_score(np.asarray(a), np.asarray(b)))


def _subsamples(pool_size: int, random_state: int) -> list[np.ndarray]:
    size = max(2, round(pool_size * STABILITY_SUBSAMPLE))
    rng = np.random.default_rng(random_state)
    return [
        np.sort(rng.choice(pool_size, size=min(size, pool_size), replace=False))
        for _ in range(STABILITY_REFITS)
    ]


def _refit_labels(
    algorithm: str,
    X_sub: np.ndarray,
    ks: list[int],
    params: dict[int, dict[str, Any]],
    random_state: int,
) -> dict[int, np.ndarray]:
    """Labels of ``X_sub`` by a refit of ``algorithm`` at every k of ``ks``."""
    if algorithm == "agglomerative":
        from scipy.cluster.hierarchy import fcluster, ward

        linkage = ward(X_sub)
        return {k: fcluster(linkage, t=k, criterion="maxclust") for k in ks}
    if algorithm == "autoencoder":  # the network is retrained on the subsample, then K-Means
        from shared.engine.autoencoder import refit_latent

        bottleneck = int(next(iter(params.values())).get("bottleneck", 2)) if params else 2
        X_sub = refit_latent(X_sub, bottleneck, random_state=random_state)
        algorithm = "kmeans"
    out: dict[int, np.ndarray] = {}
    for k in ks:
        p = params.get(k, {})
        if algorithm == "kmeans":
            from sklearn.cluster import KMeans

            n_init = 10 if X_sub.shape[0] <= KMEANS_SMALL_ROWS else 1
            model = KMeans(n_clusters=k, n_init=n_init, random_state=random_state)
            out[k] = model.fit(X_sub).labels_
        else:
            from sklearn.mixture import GaussianMixture

            mixture = GaussianMixture(
                n_components=k,
                covariance_type=str(p.get("covariance_type", "full")),
                reg_covar=float(p.get("reg_covar", 1e-6)),
                max_iter=200,
                random_state=random_state,
            )
            out[k] = mixture.fit(X_sub).predict(X_sub)
    return out


def sweep_stability(
    X: np.ndarray, fit: AlgorithmFit, ks: Iterable[int] | None = None, *, random_state: int = 0
) -> tuple[dict[int, float], int]:
    """Mean ARI between each candidate of ``fit`` and its refits on subsamples.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        The prepared matrix the candidates were fitted on (canonical row order).
    fit : AlgorithmFit
        One k-based algorithm's candidates (DBSCAN gives an empty result).
    ks : iterable of int, optional
        The k values to score; default every candidate's k.
    random_state : int
        Seed of the pool, the subsamples and the refits.

    Returns
    -------
    scores : dict
        k -> mean adjusted Rand index in [-1, 1] (higher: more reproducible).
    pool_rows : int
        Rows the refits drew from.

    Examples
    --------
    >>> from shared.engine.clustering import fit_kmeans
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(c, 0.3, (40, 2)) for c in (0, 4, 8)])
    >>> scores, rows = sweep_stability(X, fit_kmeans(X, [2, 3, 4]))
    >>> rows, scores[3] == 1.0, scores[3] > scores[4]
    (120, True, True)
    """
    if fit.algorithm == "dbscan":
        return {}, 0
    models = {m.k: m for m in fit.models if m.k is not None}
    wanted = sorted(models if ks is None else {k for k in ks if k in models})
    n_rows = int(X.shape[0])
    pool = representative_sample(n_rows, STABILITY_POOL_ROWS, random_state=random_state)
    wanted = [k for k in wanted if k < int(pool.size * STABILITY_SUBSAMPLE)]
    if not wanted:
        return {}, int(pool.size)
    from threadpoolctl import threadpool_limits

    params = {k: models[k].params for k in wanted}
    scores: dict[int, list[float]] = {k: [] for k in wanted}
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        # A refit may find fewer distinct points than k on tiny tables: sklearn warns.
        warnings.simplefilter("ignore")
        for b, sub in enumerate(_subsamples(int(pool.size), random_state)):
            rows = pool[sub]
            refits = _refit_labels(
                fit.algorithm, np.asarray(X[rows]), wanted, params, random_state + 1 + b
            )
            for k in wanted:
                scores[k].append(adjusted_rand_index(models[k].labels[rows], refits[k]))
    return {k: float(np.mean(v)) for k, v in scores.items()}, int(pool.size)

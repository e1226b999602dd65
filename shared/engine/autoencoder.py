"""A small dense autoencoder followed by K-Means in its latent space: the opt-in ``autoencoder``.

scikit-learn's ``MLPRegressor`` (no torch in the image) learns to reconstruct the prepared
matrix through layers ``d -> h -> b -> h -> d`` (``h`` = :data:`HIDDEN`, tanh), for each
bottleneck width ``b`` of :data:`BOTTLENECKS`; the width kept is the smallest whose
reconstruction error (mean squared, on the fit rows) is within :data:`ERROR_SLACK` of the best.
K-Means then runs on the latent coordinates. The encoder (the first two layers: two matrix
products) is a numpy :class:`~shared.serving.encoder.Encoder`, which
``tests/unit/test_autoencoder.py`` pins equal to ``MLPRegressor``'s own hidden layer.

A candidate of the training sweep when the dataset config lists it (``"algorithms": [...,
"autoencoder"]``): :func:`fit_autoencoder_candidates` trains the network once (on at most
:data:`MAX_FIT_ROWS` rows), then K-Means at every k of the sweep in the latent space; every
row's label is the nearest latent centre (:class:`~shared.engine.assigners.LatentCentroidAssigner`,
served from the numpy bundle). Its metrics, k choice, stability, structure verdict and profiles
are computed in the prepared space like every other algorithm's, so the comparison is fair.
It stays opt-in: ``bench/autoencoder.py`` measures it on two interleaved half-moons plus noise
dimensions and on Mall, where it did not beat K-Means (README, "Why this segment"). It needs at
least 3 prepared features (a bottleneck narrower than its input); on fewer the run leaves it
out with a warning.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from shared.serving.encoder import Encoder

if TYPE_CHECKING:
    from shared.engine.clustering import AlgorithmFit

__all__ = [
    "BOTTLENECKS",
    "MIN_FEATURES",
    "AutoencoderFit",
    "encoder_of",
    "fit_autoencoder",
    "fit_autoencoder_candidates",
    "refit_latent",
]

logger = logging.getLogger(__name__)

BOTTLENECKS = (2, 3, 4, 6, 8)
"""Bottleneck widths tried."""
HIDDEN = 32
"""Width of the layers around the bottleneck."""
ERROR_SLACK = 0.05
"""The narrowest bottleneck whose reconstruction error is within this share of the best wins."""
MAX_FIT_ROWS = 20_000
"""Rows the network is trained on (a representative sample beyond that)."""
MIN_FEATURES = 3
"""Fewest prepared features an autoencoder can compress (its narrowest bottleneck is 2)."""


@dataclass(frozen=True)
class AutoencoderFit:
    """The chosen network, its encoder, and every width's reconstruction error."""

    network: object
    encoder: Encoder
    bottleneck: int
    errors: dict[int, float]


def encoder_of(network: object) -> Encoder:
    """The numpy encoder of a fitted ``MLPRegressor`` autoencoder (layers up to the bottleneck).

    Examples
    --------
    >>> from sklearn.neural_network import MLPRegressor
    >>> X = np.random.default_rng(0).normal(size=(50, 3))
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     net = MLPRegressor(hidden_layer_sizes=(4, 2, 4), max_iter=50, random_state=0).fit(X, X)
    >>> encoder_of(net).n_latent
    2
    """
    sizes = list(getattr(network, "hidden_layer_sizes"))  # noqa: B009
    bottleneck_layer = int(np.argmin(sizes)) + 1  # layers up to and including the bottleneck
    coefs = getattr(network, "coefs_")  # noqa: B009
    intercepts = getattr(network, "intercepts_")  # noqa: B009
    return Encoder(
        tuple(np.asarray(w, dtype=np.float64) for w in coefs[:bottleneck_layer]),
        tuple(np.asarray(b, dtype=np.float64) for b in intercepts[:bottleneck_layer]),
        str(getattr(network, "activation")),  # noqa: B009
    )


def fit_autoencoder(
    X: np.ndarray, bottlenecks: Iterable[int] = BOTTLENECKS, *, random_state: int = 0
) -> AutoencoderFit:
    """Train one autoencoder per bottleneck width; keep the narrowest nearly-best one.

    Widths of ``d`` or more (no compression: the network can copy its input) are skipped; a
    matrix of 2 or fewer columns is refused.

    Raises
    ------
    ValueError
        When no width is below the number of prepared features.
    """
    from sklearn.neural_network import MLPRegressor

    from shared.engine.clustering import representative_sample

    widths = [b for b in bottlenecks if 2 <= b < X.shape[1]]
    if not widths:
        raise ValueError(
            f"no bottleneck width of {sorted(bottlenecks)} is below the {X.shape[1]} prepared "
            "features: an autoencoder cannot compress them"
        )
    X_fit = X[representative_sample(X.shape[0], MAX_FIT_ROWS, random_state=random_state)]
    networks: dict[int, object] = {}
    errors: dict[int, float] = {}
    for b in widths:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter: the error decides
            net = MLPRegressor(
                hidden_layer_sizes=(HIDDEN, b, HIDDEN),
                activation="tanh",
                max_iter=400,
                early_stopping=False,
                random_state=random_state,
            ).fit(X_fit, X_fit)
        networks[b] = net
        errors[b] = float(np.mean((net.predict(X_fit) - X_fit) ** 2))
    best = min(errors.values())
    chosen = min(b for b, e in errors.items() if e <= best * (1 + ERROR_SLACK))
    return AutoencoderFit(networks[chosen], encoder_of(networks[chosen]), chosen, errors)


def fit_autoencoder_candidates(
    X: np.ndarray, ks: Iterable[int], *, random_state: int = 0
) -> AlgorithmFit:
    """The ``autoencoder`` candidates: one network, then K-Means at every k in its latent space.

    The network is trained once (:func:`fit_autoencoder`); K-Means runs on the latent
    coordinates exactly as :func:`~shared.engine.clustering.fit_kmeans` does on prepared rows
    (its sample, starts and rule), and every row is labelled by its nearest latent centre, so
    assigning the training rows reproduces the labels. ``extra`` keeps the bottleneck, every width's
    reconstruction error and the k = 1 inertia (prepared space) of the elbow curve.

    Returns
    -------
    AlgorithmFit
        As :func:`shared.engine.clustering.fit_kmeans`'s, for ``algorithm="autoencoder"``.

    Raises
    ------
    TooFewRowsError
        For fewer than 3 rows.
    ValueError
        For fewer than :data:`MIN_FEATURES` prepared features.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(c, 0.2, (30, 3)) for c in (0.0, 3.0)])
    >>> fit = fit_autoencoder_candidates(X, [2, 3])
    >>> model = fit.models[0]
    >>> model.k, model.n_segments, bool((model.assigner.predict(X) == model.labels).all())
    (2, 2, True)
    """
    import shared.engine.clustering as clustering
    from shared.engine.assigners import LatentCentroidAssigner

    n_rows = X.shape[0]
    clustering._check_rows(n_rows)
    started = time.perf_counter()
    with clustering._threads(min(n_rows, MAX_FIT_ROWS)):
        network = fit_autoencoder(X, random_state=random_state)
    network_seconds = time.perf_counter() - started
    # K-Means's own candidates on the latent coordinates (its sample, starts and rule), then
    # each kept as a latent-centroid rule on the prepared rows.
    latent = clustering.fit_kmeans(network.encoder.encode(X), ks, random_state=random_state)
    index = clustering.representative_sample(
        n_rows, clustering.KMEANS_SAMPLE_CAP, random_state=random_state
    )
    models = []
    for candidate in latent.models:
        started = time.perf_counter()
        assigner = LatentCentroidAssigner(network.encoder.activation).fit(
            X[index], encoder=network.encoder, latent_centroids=candidate.assigner.centroids_
        )
        labels = assigner.predict(X)
        models.append(
            clustering.FittedModel(
                algorithm="autoencoder",
                k=candidate.k,
                labels=labels,
                assigner=assigner,
                params={
                    **candidate.params,
                    "bottleneck": network.bottleneck,
                    "hidden": HIDDEN,
                    "activation": network.encoder.activation,
                    "network_rows": int(min(n_rows, MAX_FIT_ROWS)),
                },
                fit_rows=candidate.fit_rows,
                fit_seconds=candidate.fit_seconds
                + time.perf_counter()
                - started
                + network_seconds / len(latent.models),
                rule_agreement=candidate.rule_agreement,
            )
        )
    return clustering.AlgorithmFit(
        algorithm="autoencoder",
        models=models,
        fit_rows=latent.fit_rows,
        extra={
            "inertia_k1": clustering._total_sum_of_squares(X),
            "bottleneck": network.bottleneck,
            "reconstruction_error": {str(b): e for b, e in sorted(network.errors.items())},
        },
    )


def refit_latent(X_sub: np.ndarray, bottleneck: int, *, random_state: int = 0) -> np.ndarray:
    """Latent coordinates of ``X_sub`` under a network of width ``bottleneck`` retrained on it.

    What the stability score refits K-Means on: the network is retrained on the subsample too,
    so a latent space that moves with the rows counts against the candidate.

    Examples
    --------
    >>> X = np.random.default_rng(1).normal(size=(60, 4))
    >>> refit_latent(X, 2).shape
    (60, 2)
    """
    return fit_autoencoder(X_sub, [bottleneck], random_state=random_state).encoder.encode(X_sub)

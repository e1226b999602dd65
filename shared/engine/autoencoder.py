"""A small dense autoencoder followed by K-Means in its latent space (an opt-in experiment).

scikit-learn's ``MLPRegressor`` (no torch in the image) learns to reconstruct the prepared
matrix through layers ``d -> h -> b -> h -> d`` (``h`` = :data:`HIDDEN`, tanh), for each
bottleneck width ``b`` of :data:`BOTTLENECKS`; the width kept is the smallest whose
reconstruction error (mean squared, on the fit rows) is within :data:`ERROR_SLACK` of the best.
K-Means then runs on the latent coordinates. The encoder (the first two layers: two matrix
products) is a numpy :class:`~shared.serving.encoder.Encoder`, which
``tests/unit/test_autoencoder.py`` pins equal to ``MLPRegressor``'s own hidden layer.

Not yet a candidate of the training sweep: ``bench/autoencoder.py`` measures whether it earns
its place (two interleaved half-moons plus noise dimensions, and Mall), with every metric
computed in the same prepared space as the other algorithms'.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from shared.serving.encoder import Encoder

__all__ = ["BOTTLENECKS", "AutoencoderFit", "encoder_of", "fit_autoencoder", "latent_kmeans"]

logger = logging.getLogger(__name__)

BOTTLENECKS = (2, 3, 4, 6, 8)
"""Bottleneck widths tried."""
HIDDEN = 32
"""Width of the layers around the bottleneck."""
ERROR_SLACK = 0.05
"""The narrowest bottleneck whose reconstruction error is within this share of the best wins."""
MAX_FIT_ROWS = 20_000
"""Rows the network is trained on (a representative sample beyond that)."""


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


def latent_kmeans(
    X: np.ndarray, fit: AutoencoderFit, k: int, *, random_state: int = 0
) -> np.ndarray:
    """K-Means labels of the rows of ``X`` in the autoencoder's latent space."""
    from sklearn.cluster import KMeans

    Z = fit.encoder.encode(X)
    return np.asarray(KMeans(n_clusters=k, n_init=10, random_state=random_state).fit_predict(Z))

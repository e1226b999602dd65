"""The autoencoder's encoder with numpy alone: a prepared row -> its latent coordinates.

An encoder is the first layers of a scikit-learn ``MLPRegressor`` trained to reconstruct the
prepared matrix (:mod:`shared.engine.autoencoder`), up to and including its bottleneck:
``h = act(x W_1 + b_1)``, ``z = act(h W_2 + b_2)``: two matrix products. This module imports
numpy and the standard library only, so the API could serve it from a bundle's arrays.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["ACTIVATIONS", "Encoder"]

logger = logging.getLogger(__name__)


def _identity(x: np.ndarray) -> np.ndarray:
    return x


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def _logistic(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _tanh(x: np.ndarray) -> np.ndarray:
    return np.asarray(np.tanh(x))


def _identity_slope(pre: np.ndarray, out: np.ndarray) -> np.ndarray:
    return np.ones_like(out)


def _relu_slope(pre: np.ndarray, out: np.ndarray) -> np.ndarray:
    return (pre > 0).astype(np.float64)


def _logistic_slope(pre: np.ndarray, out: np.ndarray) -> np.ndarray:
    return out * (1.0 - out)


def _tanh_slope(pre: np.ndarray, out: np.ndarray) -> np.ndarray:
    return 1.0 - out * out


_SLOPES: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "identity": _identity_slope,
    "relu": _relu_slope,
    "tanh": _tanh_slope,
    "logistic": _logistic_slope,
}
"""Each activation's derivative, from its input ``pre`` and output ``out``."""

ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "identity": _identity,
    "relu": _relu,
    "tanh": _tanh,
    "logistic": _logistic,
}
"""scikit-learn's hidden-layer activations, by the names ``MLPRegressor(activation=...)`` takes."""


@dataclass(frozen=True)
class Encoder:
    """The encoder's weights: ``weights[i]`` (in, out) and ``biases[i]`` (out,) per layer.

    Examples
    --------
    >>> enc = Encoder((np.array([[1.0], [1.0]]),), (np.array([-1.0]),), "relu")
    >>> enc.encode(np.array([[0.25, 0.25], [2.0, 1.0]])).tolist()
    [[0.0], [2.0]]
    """

    weights: Sequence[np.ndarray]
    biases: Sequence[np.ndarray]
    activation: str

    def __post_init__(self) -> None:
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation {self.activation!r} is not one of {sorted(ACTIVATIONS)}")
        if len(self.weights) != len(self.biases) or not self.weights:
            raise ValueError("an encoder needs one bias per weight matrix, and at least one")
        for w, b, nxt in zip(self.weights, self.biases, [*self.weights[1:], None], strict=True):
            if w.ndim != 2 or b.shape != (w.shape[1],):
                raise ValueError(f"layer shapes {w.shape} and {b.shape} do not fit")
            if nxt is not None and nxt.shape[0] != w.shape[1]:
                raise ValueError(f"layer shapes {w.shape} and {nxt.shape} do not chain")

    @property
    def n_latent(self) -> int:
        """Width of the bottleneck (the latent space)."""
        return int(self.biases[-1].shape[0])

    def encode(self, X: np.ndarray) -> np.ndarray:
        """Latent coordinates of the prepared rows ``X`` (n, d) -> (n, n_latent)."""
        act = ACTIVATIONS[self.activation]
        out = np.asarray(X, dtype=np.float64)
        for w, b in zip(self.weights, self.biases, strict=True):
            out = act(out @ w + b)
        return out

    def pullback(self, X: np.ndarray, G: np.ndarray) -> np.ndarray:
        """Gradient of ``sum_j G[r, j] z[r, j]`` with respect to each row ``X[r]``: ``J_r^T G[r]``.

        ``z = encode(X)`` and ``J_r`` is the encoder's Jacobian at row ``r`` (back-propagation
        through the layers, one matrix product per layer).

        Examples
        --------
        >>> enc = Encoder((np.array([[2.0], [1.0]]),), (np.array([0.0]),), "tanh")
        >>> X, G = np.array([[0.1, 0.2]]), np.array([[1.0]])
        >>> grad = enc.pullback(X, G)
        >>> h = 1e-6
        >>> numeric = (enc.encode(X + [[h, 0]]) - enc.encode(X - [[h, 0]])) / (2 * h)
        >>> bool(np.isclose(grad[0, 0], numeric[0, 0]))
        True
        """
        act, slope = ACTIVATIONS[self.activation], _SLOPES[self.activation]
        out = np.asarray(X, dtype=np.float64)
        layers: list[tuple[np.ndarray, np.ndarray]] = []
        for w, b in zip(self.weights, self.biases, strict=True):
            pre = out @ w + b
            out = act(pre)
            layers.append((pre, out))
        grad = np.asarray(G, dtype=np.float64)
        for w, (pre, out) in zip(reversed(self.weights), reversed(layers), strict=True):
            grad = (grad * slope(pre, out)) @ w.T
        return grad

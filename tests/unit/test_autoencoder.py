"""The autoencoder's numpy encoder equals MLPRegressor's own hidden layer."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.neural_network import MLPRegressor

from shared.engine.autoencoder import encoder_of, fit_autoencoder, latent_kmeans
from shared.serving.encoder import Encoder


@pytest.mark.parametrize("activation", ["tanh", "relu", "logistic", "identity"])
def test_numpy_encoder_equals_the_mlp_hidden_layer(activation: str) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 5))
    net = MLPRegressor(
        hidden_layer_sizes=(8, 3, 8), activation=activation, max_iter=60, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # not converged in 60 iterations: fine for this check
        net.fit(X, X)
    # scikit-learn's own forward pass keeps every layer's activations.
    activations = net._forward_pass([X] + [None] * (net.n_layers_ - 1))
    encoder = encoder_of(net)
    assert encoder.n_latent == 3
    np.testing.assert_allclose(encoder.encode(X), activations[2], rtol=1e-12, atol=1e-12)


def test_the_narrowest_nearly_best_bottleneck_wins() -> None:
    rng = np.random.default_rng(1)
    latent = rng.normal(size=(300, 2))
    X = np.hstack([latent, latent @ rng.normal(size=(2, 4))])  # 6 columns, 2 true dimensions
    fit = fit_autoencoder(X, (2, 4), random_state=0)
    assert set(fit.errors) == {2, 4}
    assert fit.bottleneck == 2 or fit.errors[2] > min(fit.errors.values()) * 1.05
    labels = latent_kmeans(X, fit, 3)
    assert sorted(set(labels.tolist())) == [0, 1, 2]


def test_encoder_shapes_are_checked() -> None:
    with pytest.raises(ValueError, match="do not chain"):
        Encoder((np.zeros((3, 2)), np.zeros((4, 1))), (np.zeros(2), np.zeros(1)), "tanh")
    with pytest.raises(ValueError, match="activation"):
        Encoder((np.zeros((3, 2)),), (np.zeros(2),), "softmax")


def test_a_bottleneck_as_wide_as_the_data_is_skipped() -> None:
    X = np.random.default_rng(2).normal(size=(80, 3))
    fit = fit_autoencoder(X, (2, 3, 8), random_state=0)
    assert set(fit.errors) == {2}
    with pytest.raises(ValueError, match="cannot compress"):
        fit_autoencoder(X, (3, 4))

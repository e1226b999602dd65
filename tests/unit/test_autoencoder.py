"""The autoencoder: its numpy encoder equals MLPRegressor's hidden layer; as a sweep candidate it
reproduces its labels, is served from the numpy bundle with the assigner's answers, and its
explanations (integrated gradients) add up to the margin and find the column that matters."""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.neural_network import MLPRegressor

from shared.contract.config import DatasetConfig
from shared.engine.autoencoder import (
    encoder_of,
    fit_autoencoder,
    fit_autoencoder_candidates,
)
from shared.engine.stability import adjusted_rand_index, sweep_stability
from shared.exceptions import ArtifactError, ConfigError
from shared.serving.attribution import attribute_latent_centroid
from shared.serving.encoder import Encoder
from shared.serving.explanations import attribute
from shared.serving.rules import LatentCentroidRule, load_serving_rule
from shared.training.pipeline import train_segments

ACTIVATIONS = ["tanh", "relu", "logistic", "identity"]


def _small_network(X: np.ndarray, activation: str, max_iter: int) -> MLPRegressor:
    """A 5 -> 8 -> 3 -> 8 -> 5 autoencoder, trained briefly (convergence does not matter)."""
    net = MLPRegressor(
        hidden_layer_sizes=(8, 3, 8), activation=activation, max_iter=max_iter, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # not converged: fine for these checks
        net.fit(X, X)
    return net


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_numpy_encoder_equals_the_mlp_hidden_layer(activation: str) -> None:
    X = np.random.default_rng(0).normal(size=(120, 5))
    net = _small_network(X, activation, 60)
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
    assert fit.encoder.encode(X).shape == (300, fit.bottleneck)


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


# --- the autoencoder as a sweep candidate --------------------------------------------------------


def _planted(n: int = 240, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Four columns; the first alone separates two groups (the others are the same noise)."""
    rng = np.random.default_rng(seed)
    truth = np.arange(n) % 2
    X = rng.normal(size=(n, 4))
    X[:, 0] = np.where(truth == 1, 2.5, -2.5) + rng.normal(0, 0.4, n)
    return X, truth


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_pullback_is_the_encoder_gradient(activation: str) -> None:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 5))
    encoder = encoder_of(_small_network(X, activation, 40))
    G = rng.normal(size=(60, 3))
    got = encoder.pullback(X, G)
    h = 1e-6
    for i in range(5):
        step = np.zeros(5)
        step[i] = h
        slope = (encoder.encode(X + step) - encoder.encode(X - step)) / (2 * h)
        np.testing.assert_allclose(got[:, i], np.sum(slope * G, axis=1), rtol=1e-5, atol=1e-6)


def test_candidates_reproduce_their_labels_and_find_the_planted_groups() -> None:
    X, truth = _planted()
    fit = fit_autoencoder_candidates(X, [2, 3, 4])
    assert [m.k for m in fit.models] == [2, 3, 4]
    k2 = fit.model(2)
    np.testing.assert_array_equal(k2.assigner.predict(X), k2.labels)
    assert adjusted_rand_index(k2.labels, truth) > 0.95
    assert str(fit.extra["bottleneck"]) in fit.extra["reconstruction_error"]
    assert k2.params["bottleneck"] == fit.extra["bottleneck"]
    assert k2.rule_agreement == 1.0
    # Stability refits retrain the network on subsamples: planted groups come back.
    scores, _ = sweep_stability(X, fit, [2])
    assert scores[2] > 0.9


def test_too_few_features_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="cannot compress"):
        fit_autoencoder_candidates(np.random.default_rng(0).normal(size=(50, 2)), [2])


def _latent_rule(X: np.ndarray, k: int = 2) -> tuple[Any, LatentCentroidRule]:
    """The k candidate's assigner and its serving rule, through the bundle writer and reader."""
    from shared.engine.bundle import _rule_of

    assigner = fit_autoencoder_candidates(X, [k]).model(k).assigner
    spec, arrays = _rule_of(assigner)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    rule = load_serving_rule(spec, buf.getvalue())
    assert isinstance(rule, LatentCentroidRule)
    return assigner, rule


def test_the_serving_rule_equals_the_assigner() -> None:
    X, _ = _planted()
    assigner, rule = _latent_rule(X, 3)
    probe = np.vstack([X, X * 4.0])  # far rows too: outliers
    got, want = rule.assign(probe), assigner.assign(probe)
    np.testing.assert_array_equal(got.labels, want.labels)
    np.testing.assert_array_equal(got.outlier, want.outlier)
    assert got.outlier.any()
    assert not got.outlier.all()
    np.testing.assert_allclose(got.distance, want.distance, rtol=1e-12)
    np.testing.assert_allclose(got.confidence, want.confidence, rtol=1e-12, atol=1e-15)


def test_a_tampered_latent_bundle_is_refused() -> None:
    X, _ = _planted()
    assigner, _ = _latent_rule(X)
    from shared.engine.bundle import _rule_of

    spec, arrays = _rule_of(assigner)
    nan_weights = arrays["encoder_w0"].copy()
    nan_weights[0, 0] = np.nan
    for change in (
        {"encoder_w1": arrays["encoder_w1"][:, :1]},  # layers no longer chain
        {"reference": arrays["reference"][:2]},
        {"labels": arrays["labels"].astype(np.float64)},
        {"labels": np.zeros_like(arrays["labels"])},  # one segment named twice
        {"encoder_w0": nan_weights},
        {"latent_centroids": arrays["latent_centroids"] * np.inf},
        {"reference": arrays["reference"] * np.nan},
        {"encoder_w1": arrays["encoder_w1"][:, :0], "encoder_b1": arrays["encoder_b1"][:0]},
    ):
        buf = io.BytesIO()
        np.savez(buf, **{**arrays, **change})
        with pytest.raises(ArtifactError):
            load_serving_rule(spec, buf.getvalue())
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    for bad in (
        {"layers": 40},
        {"activation": "softmax"},
        {"layers": 3},
        {"layers": 2.9},
        {"layers": "2"},
        {"layers": True},
        {"n_features": 5.7},
    ):
        with pytest.raises(ArtifactError):
            load_serving_rule({**spec, **bad}, buf.getvalue())


def test_integrated_gradients_add_up_and_rank_the_separating_column_first() -> None:
    X, _ = _planted()
    _, rule = _latent_rule(X)
    probe = X[::3]
    batch = rule.assign(probe)
    att = attribute(rule, probe, batch)
    # The baseline is the margin the reference row would have between the same two segments:
    # the path integral's quadrature error is all that separates them.
    v = rule.values
    z_ref = rule.encoder.encode(v["reference"][None, :])[0]
    pos = {int(lab): i for i, lab in enumerate(v["labels"].tolist())}
    a = np.array([pos[int(x)] for x in batch.labels])
    b = np.array([pos[int(x)] for x in att.runner_up])
    centres = v["latent_centroids"]
    f_ref = np.sum((z_ref - centres[b]) ** 2, axis=1) - np.sum((z_ref - centres[a]) ** 2, axis=1)
    residual = np.abs(att.baseline - f_ref)
    assert residual.max() < 1e-9 * max(1.0, float(np.abs(att.margin).max()))
    # Column 0 alone separates the groups: it is the largest term for almost every customer.
    assert np.mean(np.argmax(np.abs(att.terms), axis=1) == 0) > 0.9


def test_the_quadrature_converges_on_a_steep_network() -> None:
    rng = np.random.default_rng(5)
    encoder = Encoder(
        (rng.normal(0, 3.0, (4, 16)), rng.normal(0, 3.0, (16, 2))),
        (rng.normal(size=16), rng.normal(size=2)),
        "tanh",
    )
    X = rng.normal(size=(50, 4))
    centres = rng.normal(size=(3, 2))
    position = np.argmin(((encoder.encode(X)[:, None, :] - centres) ** 2).sum(axis=2), axis=1)
    fine = attribute_latent_centroid(X, encoder, centres, np.zeros(4), position, nodes=200)
    default = attribute_latent_centroid(X, encoder, centres, np.zeros(4), position)
    scale = max(1.0, float(np.abs(fine.margin).max()))
    assert np.abs(default.terms - fine.terms).max() < 1e-3 * scale


# --- in the training run -------------------------------------------------------------------------


def _mall_bytes() -> bytes:
    return (Path(__file__).resolve().parents[2] / "data" / "mall_customers.csv").read_bytes()


def test_the_autoencoder_is_opt_in() -> None:
    default = train_segments(_mall_bytes(), filename="mall.csv", config=DatasetConfig(k_max=4))
    assert "autoencoder" not in default.algorithms
    assert "autoencoder" not in default.evaluation.sweeps
    opted = train_segments(
        _mall_bytes(),
        filename="mall.csv",
        config=DatasetConfig(k_max=4, algorithms=["kmeans", "autoencoder"]),
    )
    summary = opted.algorithms["autoencoder"]
    assert summary.k in (2, 3, 4)
    assert summary.assignment_rule.startswith("Autoencoder's rule")
    assert summary.structure is not None
    sweep = opted.evaluation.sweeps["autoencoder"]
    assert all(c.stability is not None for c in sweep.candidates if c.k in sweep.extra["k_window"])
    assert f"models/autoencoder-k{summary.k}.skops" in opted.artifacts
    assert f"serving/autoencoder-k{summary.k}.npz" in opted.artifacts
    # Its k = 4 segments are the K-Means of the latent space, profiled like any other's.
    segments = opted.profiles.sets["autoencoder-k4"]
    assert sum(s.size for s in segments.segments) == 200
    report = opted.artifacts["report.html"].decode()
    assert "Autoencoder: reconstruction error by bottleneck width" in report
    assert "autoencoder_bottleneck" in opted.artifacts["plots.json"].decode()


def test_too_few_features_leave_the_autoencoder_out_with_a_warning() -> None:
    two = DatasetConfig(
        features=["Annual Income (k$)", "Spending Score (1-100)"],
        algorithms=["kmeans", "autoencoder"],
        k_max=4,
    )
    out = train_segments(_mall_bytes(), filename="mall.csv", config=two)
    assert list(out.algorithms) == ["kmeans"]
    assert any("autoencoder needs at least 3 prepared features" in w for w in out.warnings)
    alone = two.model_copy(update={"algorithms": ["autoencoder"]})
    with pytest.raises(ConfigError, match="this upload has 2"):
        train_segments(_mall_bytes(), filename="mall.csv", config=alone)


def _reference_margin(rule: LatentCentroidRule, labels: np.ndarray, runner: np.ndarray) -> Any:
    v = rule.values
    z_ref = rule.encoder.encode(v["reference"][None, :])[0]
    pos = {int(lab): i for i, lab in enumerate(v["labels"].tolist())}
    centres = v["latent_centroids"]
    a = centres[[pos[int(x)] for x in labels]]
    b = centres[[pos[int(x)] for x in runner]]
    return np.sum((z_ref - b) ** 2, axis=1) - np.sum((z_ref - a) ** 2, axis=1)


def test_far_out_customers_are_integrated_piece_by_piece() -> None:
    X, _ = _planted()
    _, rule = _latent_rule(X, 3)
    probe = np.vstack([X[:20] * 1e3, X[20:40] * 1e9, X[40:60] * 1e14])
    batch = rule.assign(probe)
    att = attribute(rule, probe, batch)
    want = _reference_margin(rule, batch.labels, att.runner_up)
    scale = np.maximum(1.0, np.abs(att.margin))
    assert np.all(np.abs(att.baseline - want) <= 1e-9 * scale)
    assert np.isfinite(att.terms).all()


def test_fewer_distinct_customers_than_k_leave_no_empty_segment() -> None:
    rng = np.random.default_rng(0)
    distinct = rng.normal(size=(4, 3)) * 3
    X = np.repeat(distinct, 10, axis=0)
    fit = fit_autoencoder_candidates(X, [5, 6])
    for model in fit.models:
        assigner = model.assigner
        assert assigner.labels_.size == model.n_segments == 4
        assert np.isfinite(assigner.thresholds_).all()
        np.testing.assert_array_equal(assigner.predict(X), model.labels)
    _, rule = _latent_rule(X, 5)
    batch = rule.assign(X)
    assert (batch.confidence > 0.5).all()  # no duplicate centre at distance 0
    att = attribute(rule, X, batch)
    assert set(att.runner_up.tolist()) <= set(rule.values["labels"].tolist())

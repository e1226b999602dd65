"""Metrics, silhouette sample and dendrogram data."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.cluster.hierarchy import ward
from sklearn.metrics import (
    calinski_harabasz_score,
    davies_bouldin_score,
    silhouette_samples,
    silhouette_score,
)

from shared.engine.metrics import SilhouetteSample, cluster_metrics, dendrogram_data


def test_metrics_hand_checked_on_two_pairs() -> None:
    X = np.array([[0.0], [1.0], [10.0], [11.0]])
    labels = np.array([0, 0, 1, 1])
    m = cluster_metrics(X, labels, silhouette=SilhouetteSample(X, np.arange(4)))
    # a = 1 for every point; b = 10 or 9 / 11 averaged: (10 + 9)/2... see below
    # point 0: a=1, b=(10+11)/2=10.5 -> 0.904762; point 1: a=1, b=(9+10)/2=9.5 -> 0.894737
    assert m.silhouette == pytest.approx((0.904762 + 0.894737) / 2, abs=1e-6)
    assert m.inertia == pytest.approx(1.0)  # four points at 0.5 from their centroid
    # centroids 0.5 and 10.5; spread 0.5 each; DB = (0.5 + 0.5) / 10 = 0.1
    assert m.davies_bouldin == pytest.approx(0.1)
    # between = 4 * 25 = 100, within = 1: CH = 100 / 1 * (4 - 2) / (2 - 1) = 200
    assert m.calinski_harabasz == pytest.approx(200.0)
    assert m.noise_share is None


def test_noise_counts_against_the_model() -> None:
    """NOISE_RULE: noise rows score 0 in the silhouette mean; one more group for DB and CH."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    labels = rng.integers(-1, 4, 300)
    m = cluster_metrics(X, labels, silhouette=SilhouetteSample(X, np.arange(300)))
    keep = labels != -1
    segmented = silhouette_samples(X[keep], labels[keep])
    assert m.silhouette == pytest.approx(segmented.sum() / 300, abs=1e-9)
    assert m.davies_bouldin == pytest.approx(davies_bouldin_score(X, labels))
    assert m.calinski_harabasz == pytest.approx(calinski_harabasz_score(X, labels))
    assert m.noise_share == pytest.approx(np.mean(labels == -1))


def test_calling_the_fringe_noise_no_longer_flatters_the_scores() -> None:
    """Two groups whose outer fringe is called noise: with noise left out (the old rule) every
    metric looked better than placing those customers; counted against the model, none does."""
    rng = np.random.default_rng(3)
    angle = rng.uniform(0, 2 * np.pi, 400)
    radius = np.r_[rng.uniform(0, 1, 340), rng.uniform(2.5, 4, 60)]
    X = np.c_[radius * np.cos(angle), radius * np.sin(angle)]
    X[200:] += 12.0
    placed = np.r_[np.zeros(200, int), np.ones(200, int)]
    unplaced = placed.copy()
    fringe = radius > 2
    unplaced[fringe] = -1
    sample = SilhouetteSample(X, np.arange(X.shape[0]))
    noisy = cluster_metrics(X, unplaced, silhouette=sample)
    everyone = cluster_metrics(X, placed, silhouette=sample)
    keep = ~fringe
    # The old rule: scikit-learn's metrics on the non-noise rows beat placing everyone...
    assert silhouette_score(X[keep], unplaced[keep]) > (everyone.silhouette or 0)
    assert davies_bouldin_score(X[keep], unplaced[keep]) < (everyone.davies_bouldin or 0)
    assert calinski_harabasz_score(X[keep], unplaced[keep]) > (everyone.calinski_harabasz or 0)
    # ...the noise rule does not.
    assert (noisy.silhouette or 0) < (everyone.silhouette or 0)
    assert (noisy.davies_bouldin or 0) > (everyone.davies_bouldin or 0)
    assert (noisy.calinski_harabasz or 0) < (everyone.calinski_harabasz or 0)


def test_silhouette_on_a_sample_equals_sklearn_on_those_rows() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 2))
    labels = (X[:, 0] > 0).astype(int)
    index = np.arange(0, 200, 3)
    sample = SilhouetteSample(X, index)
    assert sample.size == index.size
    assert sample.score(labels) == pytest.approx(silhouette_score(X[index], labels[index]))


def test_fewer_than_two_segments_gives_no_metrics() -> None:
    X = np.arange(10, dtype=float).reshape(-1, 1)
    labels = np.array([0] * 8 + [-1] * 2)
    m = cluster_metrics(X, labels, silhouette=SilhouetteSample(X, np.arange(10)))
    assert (m.silhouette, m.davies_bouldin, m.calinski_harabasz, m.inertia) == (None,) * 4
    assert m.noise_share == pytest.approx(0.2)


def test_singleton_segment_has_zero_silhouette_like_sklearn() -> None:
    X = np.array([[0.0], [0.5], [1.0], [10.0]])
    labels = np.array([0, 0, 0, 1])
    score = SilhouetteSample(X, np.arange(4)).score(labels)
    assert score == pytest.approx(silhouette_score(X, labels))


def test_dendrogram_data_is_truncated_and_json_ready() -> None:
    rng = np.random.default_rng(0)
    linkage = ward(rng.normal(size=(100, 2)))
    data = dendrogram_data(linkage, p=10)
    assert data["p"] == 10
    assert data["n_rows"] == 100
    assert len(data["ivl"]) == 10
    assert len(data["icoord"]) == 9
    assert sum(int(v.strip("()")) if v.startswith("(") else 1 for v in data["ivl"]) == 100
    assert all(isinstance(v, float) for row in data["dcoord"] for v in row)

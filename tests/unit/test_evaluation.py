"""Metrics, silhouette sample and dendrogram data."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.cluster.hierarchy import ward
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score

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


def test_metrics_equal_sklearn_with_noise_left_out() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    labels = rng.integers(-1, 4, 300)
    m = cluster_metrics(X, labels, silhouette=SilhouetteSample(X, np.arange(300)))
    keep = labels != -1
    assert m.silhouette == pytest.approx(silhouette_score(X[keep], labels[keep]), abs=1e-9)
    assert m.davies_bouldin == pytest.approx(davies_bouldin_score(X[keep], labels[keep]))
    assert m.calinski_harabasz == pytest.approx(calinski_harabasz_score(X[keep], labels[keep]))
    assert m.noise_share == pytest.approx(np.mean(labels == -1))


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

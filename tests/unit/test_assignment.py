"""Assigners: every algorithm assigns new customers, with distance and confidence."""

from __future__ import annotations

import time

import numpy as np
import pytest
from sklearn.cluster import DBSCAN
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

import shared.serving.kernels as kernels
from shared.engine.assigners import (
    CoreSampleAssigner,
    GaussianMixtureAssigner,
    NearestCentroidAssigner,
)
from shared.engine.clustering import fit_kmeans
from shared.exceptions import AlgorithmNotFittedError


def two_blobs(n: int = 40, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.vstack([rng.normal(0, 0.5, (n, 2)), rng.normal(5, 0.5, (n, 2))])


def test_nearest_centroid_hand_checked_distance_and_confidence() -> None:
    X = np.array([[-1.0], [1.0], [9.0], [11.0]])
    a = NearestCentroidAssigner("agglomerative").fit(X, np.array([0, 0, 1, 1]))
    assert a.centroids_.ravel().tolist() == [0.0, 10.0]
    batch = a.assign(np.array([[2.0], [10.0], [5.0]]))
    assert batch.labels.tolist() == [0, 1, 0]  # a tie goes to the first centroid
    assert batch.distance.tolist() == [2.0, 0.0, 5.0]
    assert batch.confidence.tolist() == pytest.approx([1 - 2 / 8, 1.0, 0.0])
    assert batch.probabilities is None
    assert batch.outlier.tolist() == [True, False, True]  # beyond the fit rows' distance 1


def test_nearest_centroid_keeps_non_contiguous_labels() -> None:
    X = np.array([[0.0], [1.0], [10.0], [11.0]])
    a = NearestCentroidAssigner("agglomerative").fit(X, np.array([3, 3, 7, 7]))
    assert a.predict(np.array([[0.2], [10.4]])).tolist() == [3, 7]


def test_kmeans_assigner_reproduces_training_labels_and_sklearn_predict() -> None:
    X = two_blobs()
    model = fit_kmeans(X, [2]).model(2)
    assert isinstance(model.assigner, NearestCentroidAssigner)
    assert np.array_equal(model.assigner.predict(X), model.labels)
    assert "nearest cluster centre" in model.assigner.assignment_rule


def test_gaussian_mixture_assigner_equals_sklearn() -> None:
    X = two_blobs()
    with threadpool_limits(limits=1):
        gmm = GaussianMixture(2, covariance_type="full", random_state=0).fit(X)
    a = GaussianMixtureAssigner().fit(X, mixture=gmm)
    batch = a.assign(X)
    assert np.array_equal(batch.labels, gmm.predict(X))
    assert batch.probabilities is not None
    np.testing.assert_allclose(batch.probabilities, gmm.predict_proba(X), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(batch.confidence, gmm.predict_proba(X).max(axis=1))
    assert a.log_likelihood(X) == pytest.approx(gmm.score(X) * X.shape[0], rel=1e-9)
    np.testing.assert_allclose(batch.distance, np.linalg.norm(X - gmm.means_[batch.labels], axis=1))


@pytest.mark.parametrize("covariance_type", ["full", "diag", "tied", "spherical"])
def test_every_covariance_type_is_served_exactly(covariance_type: str) -> None:
    """The assigner and the serving bundle's rule give scikit-learn's predict, predict_proba
    and log-likelihood for every covariance type (precisions in the full form, or as (k, d)
    diagonal factors for diagonal and spherical mixtures)."""
    from shared.engine.bundle import _npz_bytes, _rule_of
    from shared.serving.rules import load_serving_rule

    rng = np.random.default_rng(7)
    X = np.vstack(
        [
            rng.normal([0.0, 0.0, 0.0], [1.0, 0.3, 0.5], (80, 3)),
            rng.normal([3.0, 1.0, -2.0], [0.4, 1.2, 0.7], (80, 3)),
            rng.normal([-2.0, 4.0, 1.0], [0.8, 0.8, 0.2], (80, 3)),
        ]
    )
    with threadpool_limits(limits=1):
        gmm = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    a = GaussianMixtureAssigner().fit(X, mixture=gmm)
    compact = covariance_type in ("diag", "spherical")
    assert a.precisions_cholesky_.shape == ((3, 3) if compact else (3, 3, 3))
    assert a.covariance_type_ == covariance_type
    new = rng.normal(0.5, 2.5, (500, 3))  # mostly between the components: the hard cases
    for rows in (X, new):
        batch = a.assign(rows)
        assert np.array_equal(batch.labels, gmm.predict(rows))
        assert batch.probabilities is not None
        np.testing.assert_allclose(batch.probabilities, gmm.predict_proba(rows), atol=1e-10)
        assert a.log_likelihood(rows) == pytest.approx(gmm.score(rows) * len(rows), rel=1e-9)
    assert a.n_parameters() == gmm._n_parameters()
    spec, arrays = _rule_of(a)
    rule = load_serving_rule(spec, _npz_bytes(arrays))
    served = rule.assign(new)
    assert np.array_equal(served.labels, gmm.predict(new))
    assert served.probabilities is not None
    np.testing.assert_allclose(served.probabilities, gmm.predict_proba(new), atol=1e-10)


def test_unknown_covariance_type_is_refused() -> None:
    from shared.engine.assigners import full_precisions_cholesky

    with pytest.raises(ValueError, match="'banded'"):
        full_precisions_cholesky(np.ones(2), "banded", 2, 2)
    with pytest.raises(ValueError, match=r"shape \(3,\).*'diag'"):
        full_precisions_cholesky(np.ones(3), "diag", 3, 2)


def test_core_sample_rule_hand_checked() -> None:
    X = np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [5.2]])
    a = CoreSampleAssigner(eps=0.15).fit(X, np.array([0, 0, 0, 1, 1, 1]), core=[1, 4])
    batch = a.assign(np.array([[0.1], [5.0], [2.5], [0.2]]))
    assert batch.labels.tolist() == [0, 1, -1, 0]
    assert batch.outlier.tolist() == [False, False, True, False]
    assert batch.distance.tolist() == pytest.approx([0.0, 0.1, 2.4, 0.1])
    assert batch.confidence.tolist() == pytest.approx([1.0, 1 - 0.1 / 0.15, 0.0, 1 - 0.1 / 0.15])


def test_core_sample_rule_agrees_with_dbscan_on_its_fit_rows() -> None:
    rng = np.random.default_rng(1)
    X = np.vstack([two_blobs(), rng.uniform(-3, 8, (10, 2))])
    db = DBSCAN(eps=0.6, min_samples=5).fit(X)
    a = CoreSampleAssigner(eps=0.6).fit(X, db.labels_, core=db.core_sample_indices_)
    predicted = a.predict(X)
    assert np.array_equal(predicted[db.labels_ == -1], db.labels_[db.labels_ == -1])
    assert np.mean(predicted == db.labels_) >= 0.95


def test_kd_tree_and_brute_force_paths_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    X = two_blobs(200)
    labels = (X[:, 0] > 2.5).astype(int)
    a = CoreSampleAssigner(eps=0.5).fit(X, labels, core=np.arange(0, 400, 3))
    queries = np.random.default_rng(2).uniform(-2, 7, (300, 2))
    brute = a.assign(queries)
    monkeypatch.setattr(kernels, "KDTREE_MIN_PAIRS", 0)
    tree = a.assign(queries)
    assert np.array_equal(brute.labels, tree.labels)
    np.testing.assert_allclose(brute.distance, tree.distance, rtol=1e-12)


def test_single_row_and_input_checks() -> None:
    a = NearestCentroidAssigner().fit(np.array([[0.0, 0.0], [4.0, 4.0]]), np.array([0, 1]))
    assert a.predict(np.array([3.0, 3.0])).tolist() == [1]
    with pytest.raises(ValueError, match="2 prepared features"):
        a.predict(np.array([[1.0, 2.0, 3.0]]))
    with pytest.raises(ValueError, match="NaN"):
        a.predict(np.array([[np.nan, 1.0]]))
    with pytest.raises(AlgorithmNotFittedError, match="not fitted"):
        NearestCentroidAssigner().predict(np.array([[0.0, 0.0]]))


def test_single_customer_assignment_is_fast() -> None:
    X = np.random.default_rng(0).normal(size=(5000, 12))
    model = fit_kmeans(X, [10]).model(10)
    row = X[:1]
    model.assigner.assign(row)
    started = time.perf_counter()
    for _ in range(200):
        model.assigner.assign(row)
    per_call = (time.perf_counter() - started) / 200
    assert per_call < 1e-3, f"{per_call * 1e6:.0f} us per single-row assign"


def test_matrix_product_ranking_agrees_with_exact_differences(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    X = np.random.default_rng(3).normal(size=(500, 4))
    a = NearestCentroidAssigner("agglomerative").fit(X, (X[:, 0] > 0).astype(int) + (X[:, 1] > 0))
    exact = a.assign(X)
    monkeypatch.setattr(kernels, "CHUNK_ELEMENTS", 0)
    product = a.assign(X)
    assert np.array_equal(exact.labels, product.labels)
    np.testing.assert_array_equal(exact.distance, product.distance)
    np.testing.assert_array_equal(exact.confidence, product.confidence)


def test_predict_equals_assign_labels_on_both_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    X = np.random.default_rng(4).normal(size=(400, 3))
    a = NearestCentroidAssigner("agglomerative").fit(X, (X[:, 0] > 0).astype(int) * 2)
    assert np.array_equal(a.predict(X), a.assign(X).labels)
    monkeypatch.setattr(kernels, "CHUNK_ELEMENTS", 0)
    assert np.array_equal(a.predict(X), a.assign(X).labels)


def test_gaussian_mixture_fast_training_path_matches_assign() -> None:
    X = two_blobs()
    with threadpool_limits(limits=1):
        gmm = GaussianMixture(3, covariance_type="full", random_state=0).fit(X)
    a = GaussianMixtureAssigner().fit(X, mixture=gmm)
    labels, log_likelihood = a.predict_and_score(X)
    batch, same = a.assign_and_score(X)
    assert np.array_equal(labels, batch.labels)
    assert log_likelihood == pytest.approx(same, rel=1e-12)

"""Clustering candidates on tiny hand-checkable data."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits

import shared.engine.clustering as clustering
from shared.contract.config import DatasetConfig
from shared.engine.clustering import (
    dbscan_min_samples,
    fit_agglomerative,
    fit_candidates,
    fit_dbscan,
    fit_gmm,
    fit_kmeans,
    knee_index,
    representative_sample,
)
from shared.exceptions import TooFewRowsError

# Three well-separated blobs of 4 points each: rows 0-3, 4-7, 8-11.
BLOBS = np.array(
    [
        [0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0],
        [10.0, 10.0], [10.0, 11.0], [11.0, 10.0], [11.0, 11.0],
        [20.0, 0.0], [20.0, 1.0], [21.0, 0.0], [21.0, 1.0],
    ]
)  # fmt: skip
EXPECTED = [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]


def canonical(labels: np.ndarray) -> list[int]:
    """Relabel in order of first appearance (noise stays -1), to compare partitions exactly."""
    mapping: dict[int, int] = {}
    out = []
    for label in labels.tolist():
        if label < 0:
            out.append(label)
            continue
        mapping.setdefault(label, len(mapping))
        out.append(mapping[label])
    return out


def blobs(n_per: int, centers: list[list[float]], scale: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.vstack([rng.normal(c, scale, (n_per, len(c))) for c in centers])


def test_kmeans_separates_three_blobs_exactly() -> None:
    fit = fit_kmeans(BLOBS, [2, 3, 4])
    assert [m.k for m in fit.models] == [2, 3, 4]
    model = fit.model(3)
    assert canonical(model.labels) == EXPECTED
    assert model.n_segments == 3
    assert model.labels.dtype == np.int64


def test_kmeans_labels_are_reproduced_by_its_assigner_and_by_sklearn() -> None:
    X = blobs(50, [[0, 0], [4, 4], [8, 0]], 1.5)
    for model in fit_kmeans(X, range(2, 6)).models:
        assert np.array_equal(model.assigner.predict(X), model.labels)
        with threadpool_limits(limits=1):
            km = KMeans(n_clusters=model.k, n_init=10, random_state=0).fit(X)
        assert np.array_equal(km.predict(X), model.labels)
        assert model.rule_agreement == 1.0


def test_agglomerative_cuts_one_linkage_at_every_k() -> None:
    fit = fit_agglomerative(BLOBS, [2, 3])
    assert fit.linkage is not None
    assert fit.linkage.shape == (11, 4)
    assert canonical(fit.model(3).labels) == EXPECTED
    assert fit.model(2).n_segments == 2
    assert fit.model(3).rule_agreement == 1.0


def test_agglomerative_fits_a_sample_and_extends_by_nearest_centroid(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(clustering, "AGGLOMERATIVE_SAMPLE_CAP", 30)
    X = blobs(40, [[0, 0], [10, 10], [20, 0]], 0.5)
    fit = fit_agglomerative(X, [3])
    model = fit.model(3)
    assert fit.fit_rows == 30
    assert model.fit_rows == 30
    assert fit.linkage is not None
    assert fit.linkage.shape[0] == 29
    assert canonical(model.labels) == [0] * 40 + [1] * 40 + [2] * 40
    sample = representative_sample(120, 30)
    outside = np.setdiff1d(np.arange(120), sample)
    assert np.array_equal(model.assigner.predict(X[outside]), model.labels[outside])


def test_dbscan_finds_two_dense_groups_and_flags_the_far_point() -> None:
    X = np.vstack([blobs(30, [[0, 0], [5, 5]], 0.1), [[20.0, -20.0]]])
    fit = fit_dbscan(X)
    model = fit.model(None)
    assert model.k is None
    assert model.n_segments == 2
    assert canonical(model.labels)[:60] == [0] * 30 + [1] * 30
    assert model.labels[-1] == -1
    assert fit.extra["min_samples"] == dbscan_min_samples(2, 61) == 4
    assert 0 < fit.extra["eps"] < 5
    assert fit.extra["k_distance"]["distance"] == sorted(fit.extra["k_distance"]["distance"])


def test_dbscan_extends_to_rows_outside_its_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clustering, "DBSCAN_SAMPLE_CAP", 40)
    X = blobs(50, [[0, 0], [5, 5]], 0.2)
    model = fit_dbscan(X).model(None)
    assert model.fit_rows == 40
    assert canonical(model.labels[model.labels >= 0]) == sorted(
        canonical(model.labels[model.labels >= 0])
    )
    assert model.n_segments == 2


def test_dbscan_min_samples_rule() -> None:
    assert dbscan_min_samples(2, 200) == 4
    assert dbscan_min_samples(12, 20_000) == 24
    assert dbscan_min_samples(12, 60) == 6
    assert dbscan_min_samples(1, 5) == 3


def test_gmm_labels_blobs_and_reports_bic_on_every_row() -> None:
    fit = fit_gmm(BLOBS, [2, 3])
    model = fit.model(3)
    assert canonical(model.labels) == EXPECTED
    assert set(model.scores) == {"bic", "aic"}
    assert "bic_k1" in fit.extra
    from sklearn.mixture import GaussianMixture

    # BIC counts the free parameters of the covariance type BIC chose, as scikit-learn does.
    assert model.params["covariance_type"] == fit.extra["covariance_type"]
    assert fit.extra["covariance_bic"][fit.extra["covariance_type"]] == min(
        fit.extra["covariance_bic"].values()
    )
    gmm = GaussianMixture(
        3,
        covariance_type=model.params["covariance_type"],
        reg_covar=model.params["reg_covar"],
        max_iter=200,
        random_state=0,
    )
    gmm.fit(BLOBS)
    assert model.scores["bic"] == pytest.approx(gmm.bic(BLOBS), rel=1e-6)
    assert model.scores["aic"] == pytest.approx(gmm.aic(BLOBS), rel=1e-6)


def test_gmm_fits_a_sample_but_predicts_every_row(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clustering, "GMM_SAMPLE_CAP", 25)
    X = blobs(30, [[0, 0], [6, 6]], 0.5)
    model = fit_gmm(X, [2]).model(2)
    assert model.fit_rows == 25
    assert model.labels.shape == (60,)
    assert canonical(model.labels) == [0] * 30 + [1] * 30
    assert np.array_equal(model.assigner.predict(X), model.labels)


def test_representative_sample_is_sorted_nested_and_deterministic() -> None:
    small = representative_sample(1000, 10, random_state=3)
    large = representative_sample(1000, 100, random_state=3)
    assert small.tolist() == sorted(small.tolist())
    assert set(small) <= set(large)
    assert np.array_equal(small, representative_sample(1000, 10, random_state=3))
    assert representative_sample(5, 10).tolist() == [0, 1, 2, 3, 4]


def test_knee_index_finds_elbow_and_k_distance_knee() -> None:
    assert knee_index([1, 2, 3, 4, 5, 6], [100, 40, 12, 10, 9, 8]) == 2
    assert knee_index(range(6), [0.1, 0.1, 0.11, 0.12, 0.5, 3.0]) == 4
    assert knee_index([1, 2], [5, 1]) == 0
    assert knee_index([1, 2, 3], [1, 1, 1]) == 0


def test_candidates_are_deterministic() -> None:
    X = blobs(40, [[0, 0, 0], [3, 3, 3], [6, 0, 3]], 1.0)
    config = DatasetConfig(k_max=5)
    first = fit_candidates(X, config)
    second = fit_candidates(X, config)
    for algorithm in config.algorithms:
        for a, b in zip(first[algorithm].models, second[algorithm].models, strict=True):
            assert np.array_equal(a.labels, b.labels)


def test_k_larger_than_rows_is_skipped_and_too_few_rows_refused() -> None:
    X = BLOBS[:4]
    assert [m.k for m in fit_kmeans(X, range(2, 11)).models] == [2, 3]
    with pytest.raises(TooFewRowsError, match="got 2"):
        fit_kmeans(BLOBS[:2], [2])


def test_identical_rows_give_one_segment_without_crashing() -> None:
    X = np.zeros((12, 2))
    fits = fit_candidates(X, DatasetConfig(k_max=3))
    for fit in fits.values():
        for model in fit.models:
            assert model.n_segments <= 1 or model.algorithm == "dbscan"
            assert model.labels.shape == (12,)


# --- wide matrices: diagonal mixtures (issue 16, item 1) -----------------------------------------


def test_gmm_above_the_dimension_threshold_keeps_no_d_by_d_matrix() -> None:
    from shared.engine.bundle import _npz_bytes, _rule_of
    from shared.engine.clustering import GMM_FULL_COVARIANCE_MAX_FEATURES, gmm_covariance_types
    from shared.serving.rules import load_serving_rule

    d = GMM_FULL_COVARIANCE_MAX_FEATURES + 1
    assert gmm_covariance_types(d) == ("diag", "spherical")
    assert gmm_covariance_types(d - 1) == ("full", "diag", "tied", "spherical")
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (60, d)), rng.normal(4, 1, (60, d))])
    fit = fit_gmm(X, [2, 3])
    assert set(fit.extra["covariance_bic"]) == {"diag", "spherical"}  # full and tied never fit
    model = fit.model(2)
    assert model.params["covariance_type"] in ("diag", "spherical")
    assigner = model.assigner
    assert assigner.precisions_cholesky_.shape == (2, d)  # k x d numbers, not k x d x d
    assert sorted(np.bincount(model.labels).tolist()) == [60, 60]
    # The numpy-only serving rule (the API's path) gives the same answers.
    spec, arrays = _rule_of(assigner)
    assert spec["covariance_type"] == "diag"
    rule = load_serving_rule(spec, _npz_bytes(arrays))
    served, fitted = rule.assign(X), assigner.assign(X)
    assert (served.labels == fitted.labels).all()
    assert served.probabilities is not None
    assert fitted.probabilities is not None
    np.testing.assert_allclose(served.probabilities, fitted.probabilities)

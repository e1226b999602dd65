"""Resampling stability of candidates (shared/engine/stability.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pytest

import shared.engine.stability as stability
from shared.engine.clustering import (
    AlgorithmFit,
    fit_agglomerative,
    fit_dbscan,
    fit_gmm,
    fit_kmeans,
)
from shared.engine.stability import adjusted_rand_index, sweep_stability


def blobs(
    n_per: int = 60, centres: tuple[float, ...] = (0.0, 6.0, 12.0), seed: int = 0
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.vstack([rng.normal((c, -c / 2), 0.5, (n_per, 2)) for c in centres])


def test_adjusted_rand_index_is_label_free() -> None:
    assert adjusted_rand_index(np.array([0, 0, 1, 1, 2]), np.array([2, 2, 0, 0, 1])) == 1.0
    assert adjusted_rand_index(np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])) < 0


@pytest.mark.parametrize("fit", [fit_kmeans, fit_agglomerative, fit_gmm])
def test_the_true_k_is_the_most_stable(fit: Callable[..., AlgorithmFit]) -> None:
    X = blobs()
    scores, pool = sweep_stability(X, fit(X, [2, 3, 4, 5]))
    assert pool == X.shape[0]
    assert scores[3] > 0.99
    assert scores[3] > max(scores[4], scores[5])


def test_only_the_asked_k_are_scored_and_dbscan_is_not() -> None:
    X = blobs()
    assert set(sweep_stability(X, fit_kmeans(X, [2, 3, 4, 5]), [3, 4, 9])[0]) == {3, 4}
    assert sweep_stability(X, fit_dbscan(X)) == ({}, 0)


def test_refits_draw_from_a_bounded_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    X = blobs(n_per=200)
    seen: list[int] = []
    real = stability._refit_labels

    def spy(
        algorithm: str,
        X_sub: np.ndarray,
        ks: Iterable[int],
        params: dict[int, dict[str, Any]],
        random_state: int,
    ) -> dict[int, np.ndarray]:
        seen.append(X_sub.shape[0])
        return real(algorithm, X_sub, list(ks), params, random_state)

    monkeypatch.setattr(stability, "STABILITY_POOL_ROWS", 150)
    monkeypatch.setattr(stability, "_refit_labels", spy)
    scores, pool = sweep_stability(X, fit_kmeans(X, [3]))
    assert pool == 150
    assert seen == [120] * stability.STABILITY_REFITS
    assert scores[3] > 0.99


def test_stability_is_deterministic() -> None:
    X = blobs(centres=(0.0, 2.0, 4.0))  # overlapping: scores below 1
    fit = fit_gmm(X, [2, 3, 4])
    assert sweep_stability(X, fit) == sweep_stability(X, fit)

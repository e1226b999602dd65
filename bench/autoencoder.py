"""Does the autoencoder candidate earn its place? K-Means vs autoencoder + K-Means, side by side.

Two data sets, every metric computed in the same prepared space for both (the matrix the other
algorithms see), times measured in this run:

1. two interleaved half-moons (``sklearn.datasets.make_moons``, 2,000 points, noise 0.08) plus
   six standard-normal noise dimensions, standardized; k = 2; adjusted Rand index against the
   true moon of each point, and silhouette;
2. Mall (``data/mall_customers.csv``) prepared by the engine's own preprocessing; k = 5;
   silhouette, and the adjusted Rand index between the two partitions.

Usage: ``python -m bench.autoencoder``
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(1, str(ROOT))


def _compare(name: str, X: np.ndarray, k: int, truth: np.ndarray | None) -> None:
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score, silhouette_score

    from shared.engine.autoencoder import fit_autoencoder, latent_kmeans

    t = time.perf_counter()
    plain = KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(X)
    plain_s = time.perf_counter() - t
    t = time.perf_counter()
    fit = fit_autoencoder(X, random_state=0)
    deep = latent_kmeans(X, fit, k, random_state=0)
    deep_s = time.perf_counter() - t
    errors = ", ".join(f"b={b}: {e:.3f}" for b, e in fit.errors.items())
    print(f"\n{name}: {X.shape[0]} rows x {X.shape[1]} prepared features, k={k}")
    print(f"  reconstruction error per bottleneck: {errors}; chosen b={fit.bottleneck}")
    for label, labels, seconds in (("K-Means", plain, plain_s), ("autoencoder", deep, deep_s)):
        sil = silhouette_score(X, labels) if len(set(labels.tolist())) > 1 else float("nan")
        ari = "" if truth is None else f", ARI vs truth {adjusted_rand_score(truth, labels):.3f}"
        print(f"  {label:12} silhouette (prepared space) {sil:.3f}{ari}, {seconds:.2f} s")
    print(f"  ARI between the two partitions: {adjusted_rand_score(plain, deep):.3f}")


def main() -> int:
    import pandas as pd
    from sklearn.datasets import make_moons

    from shared.engine.preprocess import fit_preprocessor
    from shared.engine.schema import clean_training_table

    points, moon = make_moons(n_samples=2000, noise=0.08, random_state=0)
    noise = np.random.default_rng(0).normal(size=(2000, 6))
    X = np.hstack([points, noise])
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    _compare("two half-moons + 6 noise dimensions", X, 2, moon)

    table = clean_training_table(pd.read_csv(ROOT / "data" / "mall_customers.csv"))
    mall = fit_preprocessor(table.features, table.columns).X
    _compare("Mall (engine preprocessing)", np.asarray(mall, dtype=np.float64), 5, None)
    return 0


if __name__ == "__main__":
    sys.exit(main())

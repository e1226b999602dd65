"""Does the opt-in autoencoder earn a place among the default algorithms? Measured in the sweep.

Each data set is trained twice by the real pipeline (``train_segments``): with the default four
algorithms, and with the autoencoder added (``"algorithms": [..., "autoencoder"]``). Every
metric is the pipeline's own, computed in the same prepared space for every algorithm. Printed
per algorithm: the k the sweep chose, silhouette, Davies-Bouldin, structure verdict, champion
score, and for data with a known truth the adjusted Rand index (ARI) of the chosen model and of
the k = truth candidate; then the run's wall time with and without the autoencoder (median of
``--repeats`` runs, side by side) and what the autoencoder's own fit cost.

Data sets:

1. two interleaved half-moons (``sklearn.datasets.make_moons``, 2,000 points, noise 0.08) plus
   six standard-normal noise columns: the nonlinear case an autoencoder is meant for; truth = the
   moon of each point (k = 2);
2. three elongated, curved bands (a quarter circle each, 3,000 points) in 2-D, lifted into 6
   columns by a fixed random linear map, plus 2 noise columns; truth = the band (k = 3);
3. Mall (``data/mall_customers.csv``), no config: the seed data set, no truth.

Usage: ``python -m bench.autoencoder [--repeats 3]``
"""

from __future__ import annotations

import argparse
import gzip
import io
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(1, str(ROOT))

DEFAULT = ["kmeans", "agglomerative", "dbscan", "gmm"]


def _moons() -> tuple[bytes, np.ndarray]:
    import pandas as pd
    from sklearn.datasets import make_moons

    points, moon = make_moons(n_samples=2000, noise=0.08, random_state=0)
    noise = np.random.default_rng(0).normal(size=(2000, 6))
    frame = pd.DataFrame(np.hstack([points, noise]), columns=[f"x{i}" for i in range(8)])
    return frame.to_csv(index=False).encode(), moon


def _bands() -> tuple[bytes, np.ndarray]:
    import pandas as pd

    rng = np.random.default_rng(1)
    n = 3000
    band = np.arange(n) % 3
    angle = rng.uniform(0, np.pi / 2, n)
    radius = 1.0 + band * 1.2 + rng.normal(0, 0.12, n)
    plane = np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])
    lifted = plane @ rng.normal(size=(2, 6))
    X = np.hstack([lifted, rng.normal(size=(n, 2))])
    frame = pd.DataFrame(X, columns=[f"c{i}" for i in range(8)])
    return frame.to_csv(index=False).encode(), band


def _assignments(out: Any) -> Any:
    import pandas as pd

    from shared.contract.layout import ASSIGNMENTS_PATH

    return pd.read_csv(io.BytesIO(gzip.decompress(out.artifact_bytes(ASSIGNMENTS_PATH))))


def _truth_k_ari(data: bytes, truth: np.ndarray, k: int) -> dict[str, float]:
    """ARI of every k-based algorithm's k = truth candidate (same preparation as the run)."""
    import pandas as pd
    from sklearn.metrics import adjusted_rand_score

    from shared.contract.config import DatasetConfig
    from shared.engine.clustering import fit_candidates
    from shared.engine.preprocess import fit_preprocessor
    from shared.engine.schema import clean_training_table

    table = clean_training_table(pd.read_csv(io.BytesIO(data)))
    X = fit_preprocessor(table.features, table.columns).X
    config = DatasetConfig(
        algorithms=["kmeans", "agglomerative", "gmm", "autoencoder"], k_min=k, k_max=k
    )
    fits = fit_candidates(X, config)
    return {a: float(adjusted_rand_score(truth, f.model(k).labels)) for a, f in fits.items()}


def _run(name: str, data: bytes, truth: np.ndarray | None, repeats: int) -> None:
    from sklearn.metrics import adjusted_rand_score

    from shared.contract.config import DatasetConfig
    from shared.training.pipeline import train_segments

    configs = {
        "default": DatasetConfig(algorithms=DEFAULT),
        "with autoencoder": DatasetConfig(algorithms=[*DEFAULT, "autoencoder"]),
    }
    seconds: dict[str, list[float]] = {key: [] for key in configs}
    outputs: dict[str, Any] = {}
    for _ in range(repeats):
        for key, config in configs.items():  # side by side, alternating
            started = time.perf_counter()
            outputs[key] = train_segments(data, filename=f"{name}.csv", config=config)
            seconds[key].append(time.perf_counter() - started)
    out = outputs["with autoencoder"]
    assigned = _assignments(out)
    print(f"\n{name}: {out.rows.used:,} rows x {len(out.feature_names)} prepared features")
    print(
        f"  {'algorithm':14}{'k':>4}{'silhouette':>12}{'Davies-B.':>11}  {'structure':10}"
        f"{'score':>7}" + ("  ARI(chosen)" if truth is not None else "")
    )
    for algorithm, summary in out.algorithms.items():
        m = summary.metrics
        sil = "n/a" if m.silhouette is None else f"{m.silhouette:.3f}"
        db = "n/a" if m.davies_bouldin is None else f"{m.davies_bouldin:.3f}"
        verdict = summary.structure.verdict if summary.structure else "-"
        score = out.evaluation.comparison
        row = next(r for r in score if r.algorithm == algorithm)
        points = "-" if row.score is None else f"{row.score:.2f}"
        ari = ""
        if truth is not None:
            ari = f"  {adjusted_rand_score(truth, assigned[algorithm].to_numpy()):.3f}"
        k = "-" if summary.k is None else str(summary.k)
        print(f"  {algorithm:14}{k:>4}{sil:>12}{db:>11}  {verdict:10}{points:>7}{ari}")
    sweep = out.evaluation.sweeps["autoencoder"]
    errors = ", ".join(f"b={b}: {e:.3f}" for b, e in sweep.extra["reconstruction_error"].items())
    print(f"  autoencoder bottleneck {sweep.extra['bottleneck']} ({errors})")
    print(
        f"  champion: {out.champion} (default four: {outputs['default'].champion}); "
        f"fit:autoencoder {out.timings['fit:autoencoder']:.2f} s vs fit:kmeans "
        f"{out.timings['fit:kmeans']:.2f} s"
    )
    base, deep = (statistics.median(seconds[key]) for key in configs)
    print(
        f"  whole run, median of {repeats}: default {base:.2f} s, with autoencoder {deep:.2f} s "
        f"({deep / base:.2f}x)"
    )
    if truth is not None:
        true_k = int(np.unique(truth).size)
        at_k = _truth_k_ari(data, truth, true_k)
        scores = ", ".join(f"{a} {v:.3f}" for a, v in at_k.items())
        print(f"  ARI at the true k={true_k}: {scores}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per configuration")
    args = parser.parse_args(argv)
    moons, moon = _moons()
    _run("half-moons + 6 noise columns", moons, moon, args.repeats)
    bands, band = _bands()
    _run("three curved bands in 8 columns", bands, band, args.repeats)
    mall = (ROOT / "data" / "mall_customers.csv").read_bytes()
    _run("mall_customers", mall, None, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())

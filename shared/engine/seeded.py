"""Known groups: Seeded K-Means (Basu, Banerjee & Mooney, 2002) and what became of the seeds.

A dataset config may name a ``seed_column`` in which some customers carry a known group label
("VIP", "Student"; blank for most). The column is never a feature. With it, the K-Means
candidates are *Seeded K-Means*:

- for each k, the ``min(k, g)`` largest known groups (``g`` groups; ties by name) each start a
  centre at the mean of their seeds (prepared space, over every seed row); the other
  ``k - min(k, g)`` centres continue k-means++ from those (a deterministic draw
  proportional to the squared distance to the nearest centre so far);
- Lloyd's iterations then run as for plain K-Means (scikit-learn's ``KMeans`` with those
  centres as ``init``, one run), so seeds may move: assignment stays nearest-centre and
  reproduces the training labels (the model's rule is unchanged);
- segment ``j`` (``j < min(k, g)``) grew from group ``j``'s seeds: it is named by the group's
  label, and its profile says how many of the group's seeds stayed, how many ended in another
  segment (defectors) and how many unlabelled customers joined
  (:class:`~shared.contract.profiles.KnownGroup`).

Without a ``seed_column`` nothing here runs and K-Means is fitted as before.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Iterable

import numpy as np
import pandas as pd

from shared.contract.config import DatasetConfig
from shared.contract.profiles import KnownGroup, SegmentSet
from shared.engine.assigners import NearestCentroidAssigner
from shared.engine.clustering import (
    KMEANS_SAMPLE_CAP,
    AlgorithmFit,
    FittedModel,
    representative_sample,
)
from shared.exceptions import MissingColumnError

__all__ = [
    "add_seeded_kmeans",
    "kept_seeds",
    "known_groups",
    "mark_known_groups",
    "mark_seeded_sets",
    "seed_centres",
    "seeded_kmeans",
    "split_seed_column",
    "without_kmeans",
]

logger = logging.getLogger(__name__)


def known_groups(seeds: pd.Series) -> list[str]:
    """The known group labels, largest group first (ties by label); blanks are not a group.

    Examples
    --------
    >>> known_groups(pd.Series(["VIP", None, "Student", "VIP", " ", "Student", "A"]))
    ['Student', 'VIP', 'A']
    """
    text = seeds.astype("string").str.strip()
    counts = text[text.notna() & (text != "")].value_counts()
    return sorted(counts.index.tolist(), key=lambda label: (-int(counts[label]), str(label)))


def _labels(seeds: pd.Series, groups: list[str]) -> np.ndarray:
    """Per row, the position of its known group in ``groups`` (-1: unlabelled)."""
    text = seeds.astype("string").str.strip()
    index = {label: i for i, label in enumerate(groups)}
    return np.array([index.get(v, -1) if isinstance(v, str) else -1 for v in text.tolist()])


def seed_centres(
    X: np.ndarray,
    group_of: np.ndarray,
    k: int,
    *,
    pool: np.ndarray | None = None,
    random_state: int = 0,
) -> np.ndarray:
    """The ``k`` initial centres: seed means of the first ``min(k, g)`` groups, then k-means++
    over the rows of ``pool`` (default ``X``; the fit sample on large tables).

    Examples
    --------
    >>> X = np.array([[0.0], [2.0], [10.0], [12.0], [30.0]])
    >>> seed_centres(X, np.array([0, 0, 1, -1, -1]), 2).tolist()
    [[1.0], [10.0]]
    >>> seed_centres(X, np.array([0, 0, -1, -1, -1]), 2).tolist()  # k-means++ picks the far one
    [[1.0], [30.0]]
    """
    g = int(group_of.max()) + 1 if group_of.size else 0
    seeded = min(k, g)
    centres = [X[group_of == j].mean(axis=0) for j in range(seeded)]
    P = X if pool is None else pool
    rng = np.random.default_rng(random_state)
    while len(centres) < k:
        if not centres:
            centres.append(P[int(rng.integers(P.shape[0]))])
            continue
        C = np.array(centres)
        d2 = ((P[:, None, :] - C[None, :, :]) ** 2).sum(axis=2).min(axis=1)
        total = float(d2.sum())
        if total <= 0:
            centres.append(P[int(rng.integers(P.shape[0]))])
            continue
        # Deterministic for a seed: the row whose cumulative share first passes a uniform draw.
        pick = int(np.searchsorted(np.cumsum(d2) / total, rng.random()))
        centres.append(P[min(pick, P.shape[0] - 1)])
    return np.array(centres, dtype=np.float64)


def seeded_kmeans(
    X: np.ndarray, ks: Iterable[int], seeds: pd.Series, *, random_state: int = 0
) -> AlgorithmFit:
    """Seeded K-Means for every k (the seed rows' labels in ``seeds``, aligned with ``X``).

    Examples
    --------
    >>> X = np.array([[0.0, 0], [0, 1], [10, 10], [10, 11], [20, 0], [21, 0]])
    >>> fit = seeded_kmeans(X, [3], pd.Series([None, "A", None, "B", None, None]))
    >>> fit.models[0].params["known_groups"], fit.models[0].labels.tolist()
    (['A', 'B'], [0, 0, 1, 1, 2, 2])
    """
    from sklearn.cluster import KMeans

    from shared.engine.clustering import _check_rows, _total_sum_of_squares, _valid_ks

    groups = known_groups(seeds)
    group_of = _labels(seeds, groups)
    n_rows = X.shape[0]
    _check_rows(n_rows)
    index = representative_sample(n_rows, KMEANS_SAMPLE_CAP, random_state=random_state)
    X_fit = X[index]
    models = []
    for k in _valid_ks(ks, index.size):
        started = time.perf_counter()
        init = seed_centres(X, group_of, k, pool=X_fit, random_state=random_state)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            km = KMeans(n_clusters=k, init=init, n_init=1, random_state=random_state).fit(X_fit)
        assigner = NearestCentroidAssigner("kmeans").fit(
            X_fit, km.labels_, centroids=km.cluster_centers_
        )
        labels = assigner.predict(X)
        models.append(
            FittedModel(
                algorithm="kmeans",
                k=k,
                labels=labels,
                assigner=assigner,
                params={
                    "n_clusters": k,
                    "n_init": 1,
                    "random_state": random_state,
                    "init": "seeded (Basu et al. 2002)",
                    "known_groups": groups[: min(k, len(groups))],
                },
                fit_rows=int(index.size),
                fit_seconds=time.perf_counter() - started,
                rule_agreement=float(np.mean(labels[index] == km.labels_)),
            )
        )
    return AlgorithmFit(
        algorithm="kmeans",
        models=models,
        fit_rows=int(index.size),
        extra={"inertia_k1": _total_sum_of_squares(X)},
    )


def mark_known_groups(segments: SegmentSet, labels: np.ndarray, seeds: pd.Series) -> SegmentSet:
    """Name the segments grown from seeds by their group, and count stayers, defectors, joiners.

    Parameters
    ----------
    segments : SegmentSet
        A seeded K-Means model's profiles (internal label ``j`` grew from group ``j``).
    labels : ndarray of int
        The model's internal label of every row.
    seeds : Series
        The seed column of the same rows.

    Examples
    --------
    >>> from shared.contract.profiles import SegmentProfile
    >>> s = SegmentSet(algorithm="kmeans", k=2, n_segments=2, segments=[
    ...     SegmentProfile(segment_id=i, label=i, name=f"n{i}", description="d", size=2,
    ...                    share=.5) for i in (0, 1)])
    >>> out = mark_known_groups(s, np.array([0, 0, 1, 1]), pd.Series(["VIP", None, "VIP", None]))
    >>> out.segments[0].name, out.segments[0].known_group.model_dump()
    ('VIP', {'label': 'VIP', 'seeds': 2, 'stayed': 1, 'defected': 1, 'joined': 1})
    """
    groups = known_groups(seeds)
    group_of = _labels(seeds, groups)
    k = segments.k or 0
    updated = []
    for profile in segments.segments:
        j = profile.label
        if not 0 <= j < min(k, len(groups)):
            updated.append(profile)
            continue
        mine = labels == j
        own_seeds = group_of == j
        group = KnownGroup(
            label=groups[j],
            seeds=int(own_seeds.sum()),
            stayed=int((own_seeds & mine).sum()),
            defected=int((own_seeds & ~mine).sum()),
            joined=int((mine & (group_of < 0)).sum()),
        )
        updated.append(
            profile.model_copy(
                update={
                    "name": groups[j],
                    "description": f"Known group {groups[j]!r} ({profile.name}): "
                    f"{profile.description}",
                    "known_group": group,
                }
            )
        )
    return segments.model_copy(update={"segments": updated})


# --- the training run's hooks -------------------------------------------------------------------


def split_seed_column(
    frame: pd.DataFrame, config: DatasetConfig
) -> tuple[pd.Series | None, DatasetConfig]:
    """The seed column of the upload and the config to clean the table with (the column
    excluded from the features); ``(None, config)`` without a ``seed_column``.

    Raises
    ------
    MissingColumnError
        When the table has no such column (the available ones are listed).

    Examples
    --------
    >>> seeds, clean = split_seed_column(pd.DataFrame({"x": [1], "tier": ["VIP"]}),
    ...                                  DatasetConfig(seed_column="tier"))
    >>> seeds.tolist(), clean.exclude
    (['VIP'], ['tier'])
    """
    name = config.seed_column
    if name is None:
        return None, config
    if name not in frame.columns:
        shown = ", ".join(repr(str(c)) for c in list(frame.columns)[:20])
        raise MissingColumnError(
            f"seed_column {name!r} is not a column of the table; its columns: {shown}"
        )
    exclude = [*config.exclude, name] if name not in config.exclude else list(config.exclude)
    return frame[name], config.model_copy(update={"exclude": exclude})


def kept_seeds(seeds: pd.Series, kept_rows: np.ndarray | None) -> pd.Series:
    """The seed labels of the rows training kept, in their order (index ``0..n-1``)."""
    kept = seeds if kept_rows is None else seeds.iloc[kept_rows]
    return kept.reset_index(drop=True)


def without_kmeans(config: DatasetConfig) -> DatasetConfig:
    """The config whose algorithms the plain fit runs (Seeded K-Means replaces K-Means)."""
    return config.model_copy(update={"algorithms": [a for a in config.algorithms if a != "kmeans"]})


def add_seeded_kmeans(
    fits: dict[str, AlgorithmFit],
    X: np.ndarray,
    config: DatasetConfig,
    seeds: pd.Series,
    timings: dict[str, float],
    *,
    random_state: int = 0,
) -> dict[str, AlgorithmFit]:
    """``fits`` with Seeded K-Means as ``kmeans``, in the config's algorithm order."""
    started = time.perf_counter()
    seeded = seeded_kmeans(X, config.k_range, seeds, random_state=random_state)
    timings["fit:kmeans"] = time.perf_counter() - started
    everything = {**fits, "kmeans": seeded}
    return {a: everything[a] for a in config.algorithms if a in everything}


def mark_seeded_sets(
    sets: dict[str, SegmentSet], kmeans: AlgorithmFit, seeds: pd.Series
) -> dict[str, SegmentSet]:
    """Every Seeded K-Means model's segments named by their known groups
    (:func:`mark_known_groups`)."""
    from shared.contract.layout import model_key

    out = dict(sets)
    for model in kmeans.models:
        key = model_key("kmeans", model.k)
        out[key] = mark_known_groups(out[key], np.asarray(model.labels), seeds)
    return out

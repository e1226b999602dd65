"""Model selection: the k of each algorithm, and the champion algorithm.

k rule (``K_RULE``)
    1. Elbow: for K-Means and Agglomerative, the knee of the inertia curve over k = 1..k_max
       (k = 1 is the total sum of squares, so a true two-segment structure can show as a knee at
       k = 2); the knee is the point farthest below the chord joining the curve's ends, both
       axes scaled to [0, 1]. For Gaussian Mixture, the k of lowest BIC when it lies below the
       largest k swept, else the knee of the BIC curve. A knee at k = 1 (no structure) falls
       back to the smallest k swept.
    2. Window: the swept k within one of the elbow (elbow - 1, elbow, elbow + 1).
    3. The k of the window with the highest silhouette (ties: closest to the elbow, then the
       smaller k).
    Silhouette therefore refines the elbow but cannot jump to k = 2 on its own: k = 2 is only
    possible when the elbow is at 2 or 3.

Champion rule (``CHAMPION_RULE``)
    Eligible: algorithms with at least two segments and all metrics computed; DBSCAN also needs
    a noise share of at most ``DBSCAN_MAX_NOISE_SHARE`` (its metrics leave noise out, which would
    otherwise flatter it). Each eligible algorithm at its chosen k is ranked on silhouette
    (higher is better), Davies-Bouldin (lower) and Calinski-Harabasz (higher); a rank r of m
    earns (m - r) / (m - 1) points (1 for a lone candidate; ties share the mean rank). The score
    is the mean of the three, in [0, 1]; the highest wins (ties: higher silhouette, then the
    order kmeans, gmm, agglomerative, dbscan - the cheaper, natively-assigning models first).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from shared.contract.config import ALGORITHMS, Algorithm
from shared.contract.evaluation import Candidate
from shared.contract.manifest import Metrics
from shared.engine.clustering import knee_index

__all__ = [
    "CHAMPION_RULE",
    "DBSCAN_MAX_NOISE_SHARE",
    "K_RULE",
    "ChampionChoice",
    "KChoice",
    "choose_champion",
    "choose_k",
]

logger = logging.getLogger(__name__)

DBSCAN_MAX_NOISE_SHARE = 0.10
TIE_ORDER = ("kmeans", "gmm", "agglomerative", "dbscan")

K_RULE = (
    "Elbow then silhouette: (1) elbow = knee of the inertia curve over k=1..k_max for K-Means "
    "and Agglomerative (point farthest below the chord joining the curve's ends, axes scaled "
    "to [0,1]); for Gaussian Mixture the k of lowest BIC when it is below the largest k swept, "
    "else the knee of the BIC curve; (2) window = swept k within 1 of the elbow; (3) the "
    "window's k with the highest silhouette (ties: closest to the elbow, then smaller). k=2 is "
    "only possible when the elbow is at 2 or 3, never from silhouette alone."
)
CHAMPION_RULE = (
    "Rank aggregation at each algorithm's chosen k: algorithms with >= 2 segments (DBSCAN also "
    f"with noise share <= {DBSCAN_MAX_NOISE_SHARE:.0%}) are ranked on silhouette (higher "
    "better), Davies-Bouldin (lower better) and Calinski-Harabasz (higher better); rank r of m "
    "earns (m-r)/(m-1) points; score = mean points in [0,1]; highest score wins (ties: higher "
    "silhouette, then kmeans, gmm, agglomerative, dbscan)."
)


@dataclass(frozen=True)
class KChoice:
    """The k chosen for one algorithm, and why."""

    k: int | None
    elbow_k: int | None
    reason: str
    curve: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ChampionChoice:
    """The champion algorithm, every algorithm's score (None: not eligible), and why."""

    champion: Algorithm
    scores: dict[str, float | None]
    reason: str
    ineligible: dict[str, str] = field(default_factory=dict)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _elbow(
    algorithm: str, ks: list[int], values: list[float], k1_value: float | None
) -> tuple[int, str]:
    """The elbow k and a sentence with the numbers behind it."""
    if algorithm == "gmm":
        best = int(np.argmin(values))
        if ks[best] < ks[-1]:
            return ks[best], f"lowest BIC {values[best]:.1f} at k={ks[best]}"
    xs = ([1] if k1_value is not None else []) + ks
    ys = ([k1_value] if k1_value is not None else []) + values
    position = knee_index(xs, ys)
    curve_name = "BIC" if algorithm == "gmm" else "inertia"
    if xs[position] not in ks:
        return ks[0], f"{curve_name} curve has no knee; smallest swept k={ks[0]}"
    return xs[position], f"{curve_name} knee at k={xs[position]} ({ys[position]:.4g})"


def choose_k(algorithm: str, candidates: Sequence[Candidate], *, k1_value: float | None) -> KChoice:
    """Choose k for one k-based algorithm with :data:`K_RULE`.

    Parameters
    ----------
    algorithm : {"kmeans", "agglomerative", "gmm"}
    candidates : sequence of Candidate
        One per swept k, with metrics (``inertia``, ``bic`` for gmm, ``silhouette``).
    k1_value : float or None
        The k = 1 point of the curve: total sum of squares (inertia) or BIC of one Gaussian.

    Examples
    --------
    >>> def c(k, inertia, sil):
    ...     m = Metrics(silhouette=sil, davies_bouldin=1.0, calinski_harabasz=1.0, inertia=inertia)
    ...     return Candidate(k=k, n_segments=k, metrics=m, fit_seconds=0)
    >>> cands = [c(2, 60, 0.5), c(3, 20, 0.6), c(4, 18, 0.55), c(5, 17, 0.4)]
    >>> choose_k("kmeans", cands, k1_value=100).k
    3
    """
    usable = [c for c in candidates if c.k is not None]
    if not usable:
        return KChoice(k=None, elbow_k=None, reason="no k-based candidate")
    ordered = sorted(usable, key=lambda c: c.k or 0)
    ks = [int(c.k or 0) for c in ordered]
    value_name = "bic" if algorithm == "gmm" else "inertia"
    values = [getattr(c.metrics, value_name) for c in ordered]
    silhouettes = {int(c.k or 0): c.metrics.silhouette for c in ordered}
    curve = {str(k): float(v) for k, v in zip(ks, values, strict=True) if v is not None}
    if len(ks) == 1:
        return KChoice(k=ks[0], elbow_k=ks[0], reason=f"only k={ks[0]} was swept", curve=curve)
    if any(v is None for v in values):
        # A degenerate sweep (fewer distinct rows than k): fall back to the best silhouette.
        finite = {k: s for k, s in silhouettes.items() if s is not None}
        k = max(finite, key=lambda key: (finite[key], -key)) if finite else ks[0]
        return KChoice(
            k=k,
            elbow_k=None,
            reason=f"{value_name} missing for some k (fewer distinct rows than k); "
            f"highest silhouette k={k}",
            curve=curve,
        )
    elbow_k, elbow_text = _elbow(algorithm, ks, [float(v) for v in values], k1_value)
    window = [k for k in ks if abs(k - elbow_k) <= 1]

    def preference(k: int) -> tuple[float, int, int]:
        score = silhouettes[k]
        return (score if score is not None else -np.inf, -abs(k - elbow_k), -k)

    chosen = max(window, key=preference)
    window_text = ", ".join(f"k={k}: {_fmt(silhouettes[k])}" for k in window)
    reason = (
        f"{elbow_text}; silhouette in the window [{window_text}] -> k={chosen} "
        f"(silhouette {_fmt(silhouettes[chosen])})"
    )
    overall = max(ks, key=preference)
    if overall != chosen:
        reason += (
            f"; silhouette alone would pick k={overall} ({_fmt(silhouettes[overall])}), "
            "outside the elbow window"
        )
    return KChoice(k=chosen, elbow_k=elbow_k, reason=reason, curve=curve)


def _points(values: dict[str, float], *, higher_is_better: bool) -> dict[str, float]:
    """Rank points in [0, 1]: (m - rank) / (m - 1), ties sharing the mean rank."""
    names = list(values)
    m = len(names)
    if m == 1:
        return {names[0]: 1.0}
    signed = np.array([values[n] if higher_is_better else -values[n] for n in names])
    ranks = np.empty(m)
    for i, value in enumerate(signed):
        better = np.sum(signed > value)
        equal = np.sum(signed == value)
        ranks[i] = better + (equal + 1) / 2
    return {n: float((m - r) / (m - 1)) for n, r in zip(names, ranks, strict=True)}


def choose_champion(chosen: Mapping[str, tuple[int, Metrics]]) -> ChampionChoice:
    """Choose the champion algorithm with :data:`CHAMPION_RULE`.

    Parameters
    ----------
    chosen : mapping
        Algorithm -> (number of segments, metrics) at its chosen k.

    Examples
    --------
    >>> good = Metrics(silhouette=0.6, davies_bouldin=0.5, calinski_harabasz=300.0)
    >>> weak = Metrics(silhouette=0.4, davies_bouldin=0.9, calinski_harabasz=200.0)
    >>> choose_champion({"kmeans": (5, weak), "gmm": (5, good)}).champion
    'gmm'
    """
    eligible: dict[str, Metrics] = {}
    ineligible: dict[str, str] = {}
    for algorithm, (n_segments, metrics) in chosen.items():
        if n_segments < 2 or None in (
            metrics.silhouette,
            metrics.davies_bouldin,
            metrics.calinski_harabasz,
        ):
            ineligible[algorithm] = f"{n_segments} segment(s): metrics undefined"
        elif algorithm == "dbscan" and (metrics.noise_share or 0.0) > DBSCAN_MAX_NOISE_SHARE:
            ineligible[algorithm] = (
                f"noise share {metrics.noise_share:.1%} > {DBSCAN_MAX_NOISE_SHARE:.0%}"
            )
        else:
            eligible[algorithm] = metrics
    order = {name: i for i, name in enumerate(TIE_ORDER)}
    if not eligible:
        champion = min(chosen, key=lambda a: order.get(a, len(order)))
        return ChampionChoice(
            champion=_algorithm(champion),
            scores=dict.fromkeys(chosen),
            reason=f"no algorithm found two or more segments; defaulting to {champion}",
            ineligible=ineligible,
        )
    silhouette = {a: float(m.silhouette or 0.0) for a, m in eligible.items()}
    parts = [
        _points(silhouette, higher_is_better=True),
        _points(
            {a: float(m.davies_bouldin or 0.0) for a, m in eligible.items()}, higher_is_better=False
        ),
        _points(
            {a: float(m.calinski_harabasz or 0.0) for a, m in eligible.items()},
            higher_is_better=True,
        ),
    ]
    scores: dict[str, float | None] = {a: float(np.mean([p[a] for p in parts])) for a in eligible}
    champion = max(
        eligible,
        key=lambda a: (scores[a] or 0.0, silhouette[a], -order.get(a, len(order))),
    )
    table = "; ".join(
        f"{a}: score {scores[a]:.2f} (silhouette {_fmt(m.silhouette)}, "
        f"Davies-Bouldin {_fmt(m.davies_bouldin)}, Calinski-Harabasz "
        f"{_fmt(m.calinski_harabasz)})"
        for a, m in sorted(eligible.items(), key=lambda item: -(scores[item[0]] or 0.0))
    )
    reason = f"{champion} has the best rank score. {table}"
    if ineligible:
        reason += ". Not eligible: " + "; ".join(f"{a} ({why})" for a, why in ineligible.items())
    for algorithm in ineligible:
        scores[algorithm] = None
    return ChampionChoice(
        champion=_algorithm(champion), scores=scores, reason=reason, ineligible=ineligible
    )


def _algorithm(name: str) -> Algorithm:
    if name not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {name!r}; expected one of {ALGORITHMS}")
    return name

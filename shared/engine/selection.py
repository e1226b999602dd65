"""Model selection: the k of each algorithm, and the champion algorithm.

k rule (``K_RULE``)
    1. Elbow: for K-Means and Agglomerative, the knee of the inertia curve over k = 1..k_max
       (k = 1 is the total sum of squares, so a true two-segment structure can show as a knee at
       k = 2); the knee is the point farthest below the chord joining the curve's ends, both
       axes scaled to [0, 1]. For Gaussian Mixture, the k of lowest BIC when it lies below the
       largest k swept, else the knee of the BIC curve. A knee at k = 1 (no structure) falls
       back to the smallest k swept.
    2. Window: the swept k within one of the elbow (elbow - 1, elbow, elbow + 1).
    3. Shortlist: the window's k whose silhouette is within ``SILHOUETTE_MARGIN`` (0.05) of the
       window's best silhouette.
    4. Stability: each shortlisted k is scored by how reproducible its segments are under
       resampling (``shared.engine.stability``: mean adjusted Rand index between the candidate
       and refits of the same algorithm and k on subsamples of at most 2,000 rows; Ben-Hur et
       al. 2002). The most stable k wins; k values within ``STABILITY_TIE`` (0.02) of the most
       stable count as equally stable, and among them the highest silhouette wins (then the k
       closest to the elbow, then the smaller k). Without stability scores (a table too small
       to subsample), step 4 is the highest silhouette of the window.
    5. Hysteresis: when the dataset's current version chose ``previous_k`` for this algorithm,
       ``previous_k`` is in the window, its silhouette is within ``HYSTERESIS_SILHOUETTE``
       (0.02) and its stability within ``HYSTERESIS_STABILITY`` (0.05: five refits estimate
       stability to a few hundredths) of the k chosen by steps 1-4, the previous k is kept, so
       a near-tie does not flip the segmentation between uploads.
    Silhouette and stability therefore refine the elbow but cannot jump to k = 2 on their own:
    k = 2 is only possible when the elbow is at 2 or 3. Stability alone is not the rule either:
    it favours small k (fewer boundaries to disagree on), which the window and the silhouette
    shortlist keep in check.

Champion rule (``CHAMPION_RULE``)
    Eligible: algorithms with at least two segments and all metrics computed whose segments
    pass the usability guardrails (``shared.engine.guardrails``: largest segment, smallest
    segment, outlier share; the limits come from the dataset config). Each eligible algorithm
    at its chosen k is ranked on silhouette (higher is better), Davies-Bouldin (lower) and
    Calinski-Harabasz (higher), noise counted against DBSCAN (``shared.engine.metrics``
    ``NOISE_RULE``); a rank r of m earns (m - r) / (m - 1) points (1 for a lone candidate; ties
    share the mean rank). The score is the mean of the three, in [0, 1]; the highest wins (ties:
    higher silhouette, then the order kmeans, gmm, agglomerative, dbscan - the cheaper,
    natively-assigning models first). When no algorithm passes the guardrails, the same
    ranking runs over every algorithm with metrics (ties: the one missing the limits by the
    least, ``GuardrailCheck.excess``); the winner is published, marked as not passing, and the
    run warns. (Ranking by the excess alone would favour DBSCAN, whose outliers shrink its
    largest segment's share while its metrics pay for them.)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from shared.contract.config import ALL_ALGORITHMS, Algorithm
from shared.contract.evaluation import Candidate
from shared.contract.manifest import Metrics
from shared.engine.clustering import knee_index
from shared.engine.guardrails import GUARDRAIL_RULE, GuardrailCheck, Guardrails
from shared.quoting import quote_value

__all__ = [
    "CHAMPION_RULE",
    "HYSTERESIS_SILHOUETTE",
    "HYSTERESIS_STABILITY",
    "K_RULE",
    "SILHOUETTE_MARGIN",
    "STABILITY_TIE",
    "ChampionCandidate",
    "ChampionChoice",
    "KChoice",
    "choose_champion",
    "choose_k",
]

logger = logging.getLogger(__name__)

SILHOUETTE_MARGIN = 0.05
"""k values of the elbow window this close to its best silhouette are shortlisted."""
STABILITY_TIE = 0.02
"""Shortlisted k values this close to the highest stability count as equally stable."""
HYSTERESIS_SILHOUETTE = 0.02
"""The previous version's k is kept when its silhouette is this close to the chosen k's..."""
HYSTERESIS_STABILITY = 0.05
"""... and its stability this close."""
TIE_ORDER = ("kmeans", "gmm", "agglomerative", "dbscan", "autoencoder")

K_RULE = (
    "Elbow, silhouette, then stability: (1) elbow = knee of the inertia curve over k=1..k_max "
    "for K-Means, Agglomerative and the autoencoder (point farthest below the chord joining "
    "the curve's ends, axes scaled to [0,1]); for Gaussian Mixture the k of lowest BIC when "
    "it is below the largest k swept, else the knee of the BIC curve; (2) window = swept k "
    f"within 1 of the elbow; (3) shortlist = the window's k with silhouette within "
    f"{SILHOUETTE_MARGIN} of its best; (4) the shortlisted k whose segments are most "
    "reproducible under resampling (mean adjusted Rand index of refits on subsamples of at "
    "most 2,000 rows); k within "
    f"{STABILITY_TIE} of the most stable tie, broken by higher silhouette, then closeness to "
    "the elbow, then smaller k (no stability on tiny tables: highest silhouette); (5) "
    "hysteresis: the current version's k is kept when it is in the window and its silhouette "
    f"is within {HYSTERESIS_SILHOUETTE} and its stability within {HYSTERESIS_STABILITY} of "
    "the chosen k's. k=2 is only possible when the elbow is at 2 or 3."
)
CHAMPION_RULE = (
    "Rank aggregation at each algorithm's chosen k: algorithms with >= 2 segments whose "
    f"segments are usable ({GUARDRAIL_RULE}) are ranked on silhouette (higher better), "
    "Davies-Bouldin (lower better) and Calinski-Harabasz (higher better), noise counted "
    "against the model; rank r of m earns (m-r)/(m-1) points; score = mean points in [0,1]; "
    "highest score wins (ties: higher silhouette, then kmeans, gmm, agglomerative, dbscan). "
    "When none is usable, the same ranking over all of them decides and the result is "
    "published with a warning."
)


@dataclass(frozen=True)
class KChoice:
    """The k chosen for one algorithm, and why."""

    k: int | None
    elbow_k: int | None
    reason: str
    curve: dict[str, float] = field(default_factory=dict)
    stability: dict[int, float] = field(default_factory=dict)
    window: list[int] = field(default_factory=list)
    kept_previous: bool = False


@dataclass(frozen=True)
class ChampionCandidate:
    """One algorithm at its chosen k, as the champion rule sees it.

    Attributes
    ----------
    metrics : Metrics
    sizes : list of int
        Customers per segment, outliers aside.
    n_rows : int
        Every training customer, outliers included.
    """

    metrics: Metrics
    sizes: list[int]
    n_rows: int

    @property
    def n_segments(self) -> int:
        """Segments found (outliers aside)."""
        return len(self.sizes)


@dataclass(frozen=True)
class ChampionChoice:
    """The champion algorithm, every algorithm's score (None: not eligible), and why.

    ``ineligible`` maps each algorithm that cannot be champion to the reason, in plain words;
    ``champion_eligible`` is False when no algorithm passed and the least unusable one was
    published; ``overridden`` names the algorithm the metrics alone would have chosen when the
    guardrails ruled it out.
    """

    champion: Algorithm
    scores: dict[str, float | None]
    reason: str
    ineligible: dict[str, str] = field(default_factory=dict)
    champion_eligible: bool = True
    overridden: Algorithm | None = None


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


StabilityScorer = Callable[[list[int]], Mapping[int, float]]
"""Scores the stability of the given k values (see ``shared.engine.stability``)."""


def choose_k(
    algorithm: str,
    candidates: Sequence[Candidate],
    *,
    k1_value: float | None,
    stability: StabilityScorer | None = None,
    previous_k: int | None = None,
) -> KChoice:
    """Choose k for one k-based algorithm with :data:`K_RULE`.

    Parameters
    ----------
    algorithm : {"kmeans", "agglomerative", "gmm"}
    candidates : sequence of Candidate
        One per swept k, with metrics (``inertia``, ``bic`` for gmm, ``silhouette``).
    k1_value : float or None
        The k = 1 point of the curve: total sum of squares (inertia) or BIC of one Gaussian.
    stability : callable, optional
        Given k values, returns their stability scores (higher: more reproducible); called
        once, with the window's k (and ``previous_k`` when it lies in the window). A k it
        leaves out has no score. None: the rule stops at the silhouette.
    previous_k : int, optional
        The k this algorithm had in the dataset's current version (hysteresis).

    Examples
    --------
    >>> def c(k, inertia, sil):
    ...     m = Metrics(silhouette=sil, davies_bouldin=1.0, calinski_harabasz=1.0, inertia=inertia)
    ...     return Candidate(k=k, n_segments=k, metrics=m, fit_seconds=0)
    >>> cands = [c(2, 60, 0.5), c(3, 20, 0.6), c(4, 18, 0.58), c(5, 17, 0.4)]
    >>> choose_k("kmeans", cands, k1_value=100).k
    3
    >>> stable = {2: 0.7, 3: 0.8, 4: 0.95}
    >>> choose_k("kmeans", cands, k1_value=100, stability=lambda ks: stable).k
    4
    >>> close = [c(2, 60, 0.5), c(3, 20, 0.60), c(4, 18, 0.61), c(5, 17, 0.4)]
    >>> near_tie = {2: 0.7, 3: 0.95, 4: 0.96}
    >>> choose_k("kmeans", close, k1_value=100, stability=lambda ks: near_tie).k
    4
    >>> choose_k("kmeans", close, k1_value=100, stability=lambda ks: near_tie, previous_k=3).k
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

    def silhouette_of(k: int) -> float:
        score = silhouettes[k]
        return float(score) if score is not None else -np.inf

    def preference(k: int) -> tuple[float, int, int]:
        return (silhouette_of(k), -abs(k - elbow_k), -k)

    window_text = ", ".join(f"k={k}: {_fmt(silhouettes[k])}" for k in window)
    reason = f"{elbow_text}; silhouette in the window [{window_text}]"
    best_silhouette = max(silhouette_of(k) for k in window)
    shortlist = [k for k in window if silhouette_of(k) >= best_silhouette - SILHOUETTE_MARGIN]
    asked = sorted(set(window) | ({previous_k} if previous_k in window else set()))
    scores = {
        int(k): float(v) for k, v in (stability(asked) if stability else {}).items() if k in ks
    }
    scored = [k for k in shortlist if k in scores]
    if scored:
        top = max(scores[k] for k in scored)
        tied = [k for k in scored if scores[k] >= top - STABILITY_TIE]
        chosen = max(tied, key=preference)
        stability_text = ", ".join(f"k={k}: {scores[k]:.3f}" for k in scored)
        reason += (
            f"; shortlist within {SILHOUETTE_MARGIN} of the best silhouette, stability "
            f"[{stability_text}] -> k={chosen} (silhouette {_fmt(silhouettes[chosen])}, "
            f"stability {scores[chosen]:.3f})"
        )
    else:
        chosen = max(window, key=preference)
        reason += f" -> k={chosen} (silhouette {_fmt(silhouettes[chosen])})"
    kept_previous = False
    if previous_k is not None and previous_k != chosen and previous_k in window:
        near_silhouette = silhouette_of(previous_k) >= silhouette_of(chosen) - HYSTERESIS_SILHOUETTE
        near_stability = chosen not in scores or (
            previous_k in scores and scores[previous_k] >= scores[chosen] - HYSTERESIS_STABILITY
        )
        if near_silhouette and near_stability:
            reason += (
                f"; the current version's k={previous_k} is kept (silhouette "
                f"{_fmt(silhouettes[previous_k])}"
                + (f", stability {scores[previous_k]:.3f}" if previous_k in scores else "")
                + f" close to k={chosen}'s)"
            )
            chosen, kept_previous = previous_k, True
    overall = max(ks, key=preference)
    if overall not in window:
        reason += (
            f"; silhouette alone would pick k={overall} ({_fmt(silhouettes[overall])}), "
            "outside the elbow window"
        )
    return KChoice(
        k=chosen,
        elbow_k=elbow_k,
        reason=reason,
        curve=curve,
        stability=scores,
        window=window,
        kept_previous=kept_previous,
    )


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


def _rank_scores(candidates: Mapping[str, Metrics]) -> dict[str, float]:
    """Mean rank points on silhouette, Davies-Bouldin and Calinski-Harabasz."""
    parts = [
        _points(
            {a: float(m.silhouette or 0.0) for a, m in candidates.items()}, higher_is_better=True
        ),
        _points(
            {a: float(m.davies_bouldin or 0.0) for a, m in candidates.items()},
            higher_is_better=False,
        ),
        _points(
            {a: float(m.calinski_harabasz or 0.0) for a, m in candidates.items()},
            higher_is_better=True,
        ),
    ]
    return {a: float(np.mean([p[a] for p in parts])) for a in candidates}


def _best(candidates: Mapping[str, Metrics], scores: Mapping[str, float]) -> str:
    order = {name: i for i, name in enumerate(TIE_ORDER)}
    return max(
        candidates,
        key=lambda a: (scores[a], float(candidates[a].silhouette or 0.0), -order.get(a, 99)),
    )


def choose_champion(
    chosen: Mapping[str, ChampionCandidate], *, guardrails: Guardrails | None = None
) -> ChampionChoice:
    """Choose the champion algorithm with :data:`CHAMPION_RULE`.

    Parameters
    ----------
    chosen : mapping
        Algorithm -> its candidate at the chosen k (metrics and segment sizes).
    guardrails : Guardrails, optional
        The usability limits (default: the dataset config's defaults).

    Examples
    --------
    >>> good = Metrics(silhouette=0.6, davies_bouldin=0.5, calinski_harabasz=300.0)
    >>> weak = Metrics(silhouette=0.4, davies_bouldin=0.9, calinski_harabasz=200.0)
    >>> choose_champion({"kmeans": ChampionCandidate(weak, [50, 50], 100),
    ...                  "gmm": ChampionCandidate(good, [60, 40], 100)}).champion
    'gmm'
    >>> giant = choose_champion({"kmeans": ChampionCandidate(weak, [50, 50], 100),
    ...                          "gmm": ChampionCandidate(good, [90, 10], 100)})
    >>> giant.champion, giant.overridden
    ('kmeans', 'gmm')
    """
    guardrails = guardrails or Guardrails()
    measured: dict[str, Metrics] = {}
    checks: dict[str, GuardrailCheck] = {}
    ineligible: dict[str, str] = {}
    for algorithm, candidate in chosen.items():
        metrics = candidate.metrics
        if candidate.n_segments < 2 or None in (
            metrics.silhouette,
            metrics.davies_bouldin,
            metrics.calinski_harabasz,
        ):
            ineligible[algorithm] = (
                f"it found {candidate.n_segments} segment{'s' if candidate.n_segments != 1 else ''}"
                ", too few to compare (metrics undefined)"
            )
            continue
        measured[algorithm] = metrics
        checks[algorithm] = guardrails.check(candidate.sizes, n_rows=candidate.n_rows)
        if not checks[algorithm].passed:
            ineligible[algorithm] = "; ".join(checks[algorithm].failures)
    order = {name: i for i, name in enumerate(TIE_ORDER)}
    if not measured:
        champion = min(chosen, key=lambda a: order.get(a, len(order)))
        return ChampionChoice(
            champion=_algorithm(champion),
            scores=dict.fromkeys(chosen),
            reason=f"no algorithm found two or more segments; defaulting to {champion}",
            ineligible=ineligible,
            champion_eligible=False,
        )
    eligible = {a: m for a, m in measured.items() if checks[a].passed}
    unguarded = _rank_scores(measured)
    overridden: str | None = None
    if eligible:
        scores: dict[str, float | None] = dict(_rank_scores(eligible))
        champion = _best(eligible, {a: s or 0.0 for a, s in scores.items()})
        metrics_pick = _best(measured, unguarded)
        if metrics_pick != champion:
            overridden = metrics_pick
        pool = eligible
        reason = f"{champion} has the best rank score among the usable models."
    else:
        # Nothing usable: the metrics decide alone (ties: nearest the limits), flagged.
        scores = dict(unguarded)
        top = max(unguarded.values())
        tied = {a: m for a, m in measured.items() if unguarded[a] >= top - 1e-12}
        least = min(checks[a].excess for a in tied)
        champion = _best(
            {a: m for a, m in tied.items() if checks[a].excess <= least + 1e-12}, unguarded
        )
        pool = measured
        reason = (
            f"no algorithm passed the usability guardrails; {champion} has the best rank score "
            f"({ineligible[champion]}) and is published with a warning."
        )
    table = "; ".join(
        f"{a}: score {scores[a] or 0.0:.2f} (silhouette {_fmt(m.silhouette)}, "
        f"Davies-Bouldin {_fmt(m.davies_bouldin)}, Calinski-Harabasz "
        f"{_fmt(m.calinski_harabasz)})"
        for a, m in sorted(pool.items(), key=lambda item: -(scores[item[0]] or 0.0))
    )
    reason += f" {table}"
    if eligible and ineligible:
        reason += ". Not eligible: " + "; ".join(f"{a} ({why})" for a, why in ineligible.items())
    if overridden is not None:
        reason += f". On the metrics alone {overridden} would have won"
    for algorithm in chosen:
        if algorithm not in pool:
            scores[algorithm] = None
    return ChampionChoice(
        champion=_algorithm(champion),
        scores=scores,
        reason=reason,
        ineligible=ineligible,
        champion_eligible=bool(eligible),
        overridden=None if overridden is None else _algorithm(overridden),
    )


def _algorithm(name: str) -> Algorithm:
    if name not in ALL_ALGORITHMS:
        raise ValueError(f"unknown algorithm {quote_value(name)}; expected one of {ALL_ALGORITHMS}")
    return name

"""Choosing k per algorithm and the champion algorithm."""

from __future__ import annotations

import pytest

from shared.contract.config import DatasetConfig
from shared.contract.evaluation import Candidate
from shared.contract.manifest import Metrics
from shared.engine.guardrails import Guardrails
from shared.engine.selection import ChampionCandidate, choose_champion, choose_k


def cand(
    k: int, *, inertia: float | None = None, bic: float | None = None, sil: float
) -> Candidate:
    metrics = Metrics(
        silhouette=sil, davies_bouldin=1.0, calinski_harabasz=1.0, inertia=inertia, bic=bic
    )
    return Candidate(k=k, n_segments=k, metrics=metrics, fit_seconds=0.0)


def metrics(sil: float, db: float, ch: float, noise: float | None = None) -> Metrics:
    return Metrics(silhouette=sil, davies_bouldin=db, calinski_harabasz=ch, noise_share=noise)


def even(m: Metrics, k: int, n_rows: int = 1000) -> ChampionCandidate:
    """``k`` segments of equal size covering ``n_rows`` customers."""
    return ChampionCandidate(m, [n_rows // k] * k, n_rows)


EMPTY = Metrics(silhouette=None, davies_bouldin=None, calinski_harabasz=None)


def test_elbow_window_then_best_silhouette() -> None:
    # Inertia knee at k=4 (k=1 is 400); silhouette best in {3, 4, 5} is k=5.
    inertias = {2: 300, 3: 200, 4: 80, 5: 70, 6: 65, 7: 62}
    sils = {2: 0.40, 3: 0.45, 4: 0.50, 5: 0.52, 6: 0.60, 7: 0.30}
    choice = choose_k(
        "kmeans", [cand(k, inertia=inertias[k], sil=sils[k]) for k in inertias], k1_value=400
    )
    assert choice.elbow_k == 4
    assert choice.k == 5
    assert "knee at k=4" in choice.reason
    assert "k=6" in choice.reason


def test_silhouette_alone_cannot_pick_k2() -> None:
    # Silhouette is highest at k=2 but the elbow is at k=5 (Mall's inertia curve): k=2 is
    # outside the window.
    inertias = {2: 269, 3: 158, 4: 109, 5: 66, 6: 55, 7: 45, 8: 37, 9: 32, 10: 29}
    sils = {2: 0.70, 3: 0.47, 4: 0.49, 5: 0.55, 6: 0.54, 7: 0.45, 8: 0.45, 9: 0.44, 10: 0.44}
    choice = choose_k(
        "kmeans", [cand(k, inertia=inertias[k], sil=sils[k]) for k in inertias], k1_value=400
    )
    assert choice.k == 5
    assert "silhouette alone would pick k=2" in choice.reason


def test_k2_is_chosen_when_the_elbow_says_two() -> None:
    inertias = {2: 40, 3: 35, 4: 31, 5: 28}
    sils = {2: 0.8, 3: 0.5, 4: 0.4, 5: 0.4}
    choice = choose_k(
        "agglomerative", [cand(k, inertia=inertias[k], sil=sils[k]) for k in inertias],
        k1_value=400,
    )  # fmt: skip
    assert (choice.elbow_k, choice.k) == (2, 2)


def test_gmm_uses_the_lowest_bic_when_it_is_inside_the_sweep() -> None:
    bics = {2: 1150, 3: 1100, 4: 1080, 5: 1058, 6: 1080, 7: 1096}
    sils = {2: 0.38, 3: 0.43, 4: 0.45, 5: 0.55, 6: 0.45, 7: 0.44}
    choice = choose_k("gmm", [cand(k, bic=bics[k], sil=sils[k]) for k in bics], k1_value=1200)
    assert (choice.elbow_k, choice.k) == (5, 5)
    assert "lowest BIC 1058.0 at k=5" in choice.reason


def test_gmm_falls_back_to_the_bic_knee_when_bic_keeps_falling() -> None:
    bics = {2: 500, 3: 200, 4: 190, 5: 185, 6: 182}
    sils = {2: 0.3, 3: 0.5, 4: 0.45, 5: 0.3, 6: 0.3}
    choice = choose_k("gmm", [cand(k, bic=bics[k], sil=sils[k]) for k in bics], k1_value=900)
    assert choice.elbow_k == 3
    assert choice.k == 3


def test_single_k_and_ties() -> None:
    assert choose_k("kmeans", [cand(4, inertia=10, sil=0.3)], k1_value=50).k == 4
    inertias = {2: 300, 3: 200, 4: 80, 5: 70, 6: 65}
    flat = [cand(k, inertia=inertias[k], sil=0.5) for k in inertias]
    assert choose_k("kmeans", flat, k1_value=400).k == 4  # tie: closest to the elbow


def test_champion_by_rank_aggregation() -> None:
    choice = choose_champion(
        {
            "kmeans": even(metrics(0.55, 0.57, 250.0), 5),
            "gmm": even(metrics(0.54, 0.60, 240.0), 5),
            "agglomerative": even(metrics(0.56, 0.58, 245.0), 5),
        }
    )
    # kmeans: sil 2nd (0.5), db 1st (1), ch 1st (1) -> 0.833; agglo: 1, 0.5, 0.5 -> 0.667
    assert choice.champion == "kmeans"
    assert choice.scores["kmeans"] == 2.5 / 3
    assert choice.scores["agglomerative"] == 2 / 3
    assert choice.scores["gmm"] == 0.0
    assert "kmeans has the best rank score" in choice.reason
    assert choice.champion_eligible
    assert choice.overridden is None
    assert not choice.ineligible


def test_one_giant_segment_cannot_be_champion_even_with_the_best_metrics() -> None:
    """The issue's DBSCAN: 91% in one segment, 35 customers in the other, 8% outliers."""
    giant = ChampionCandidate(metrics(0.9, 0.1, 999.0, noise=0.08), [8190, 35], 9000)
    choice = choose_champion({"kmeans": even(metrics(0.3, 1.2, 80.0), 4, 9000), "dbscan": giant})
    assert choice.champion == "kmeans"
    assert choice.overridden == "dbscan"
    assert choice.scores["dbscan"] is None
    why = choice.ineligible["dbscan"]
    assert "largest segment holds 91% of the customers (at most 70% allowed)" in why
    assert "smallest segment has only 35 customers (0.4%; at least 90 needed)" in why
    assert "outliers" not in why  # 8% is within the 10% allowed


def test_too_many_outliers_or_one_segment_is_not_eligible() -> None:
    noisy = ChampionCandidate(metrics(0.9, 0.1, 999.0, noise=0.15), [450, 400], 1000)
    choice = choose_champion({"kmeans": even(metrics(0.5, 0.7, 100.0), 3), "dbscan": noisy})
    assert choice.champion == "kmeans"
    assert choice.scores["dbscan"] is None
    assert "15% of the customers unassigned as outliers" in choice.ineligible["dbscan"]
    choice = choose_champion(
        {"dbscan": ChampionCandidate(EMPTY, [900], 1000), "gmm": even(metrics(0.2, 1.5, 10.0), 2)}
    )
    assert choice.champion == "gmm"
    assert "found 1 segment" in choice.ineligible["dbscan"]


@pytest.mark.parametrize(
    ("sizes", "n_rows", "broken"),
    [
        ([700, 300], 1000, 0),  # exactly at the limits passes
        ([701, 299], 1000, 1),
        ([990, 10], 1000, 1),  # 10 customers are 1% of 1000: only the largest fails
        ([600, 391, 9], 1000, 1),  # 9 < 10 customers
        ([5000, 4950, 50], 10_000, 1),  # 50 < 1% of 10,000
        ([450, 449], 1000, 1),  # 10.1% outliers
    ],
)
def test_guardrail_limits_are_inclusive(sizes: list[int], n_rows: int, broken: int) -> None:
    assert len(Guardrails().check(sizes, n_rows=n_rows).failures) == broken


def test_guardrails_come_from_the_config() -> None:
    loose = Guardrails.from_config(DatasetConfig(max_segment_share=0.95, min_segment_size=1))
    assert loose.check([900, 100], n_rows=1000).passed
    assert not Guardrails().check([900, 100], n_rows=1000).passed
    choice = choose_champion(
        {"kmeans": ChampionCandidate(metrics(0.5, 0.7, 100.0), [900, 100], 1000)},
        guardrails=loose,
    )
    assert choice.champion_eligible


def test_when_nothing_is_usable_the_metrics_decide_and_the_result_is_flagged() -> None:
    choice = choose_champion(
        {
            "kmeans": ChampionCandidate(metrics(0.6, 0.5, 300.0), [950, 50], 1000),  # 25 pts over
            "gmm": ChampionCandidate(metrics(0.5, 0.6, 200.0), [800, 200], 1000),  # 10 pts over
            "dbscan": ChampionCandidate(EMPTY, [1000], 1000),
        }
    )
    assert choice.champion == "kmeans"
    assert not choice.champion_eligible
    assert set(choice.ineligible) == {"kmeans", "gmm", "dbscan"}
    assert "no algorithm passed the usability guardrails" in choice.reason
    assert choice.scores["dbscan"] is None
    assert choice.scores["kmeans"] is not None
    # Equal metrics: the one nearer the limits.
    tie = metrics(0.5, 0.6, 200.0)
    choice = choose_champion(
        {
            "kmeans": ChampionCandidate(tie, [950, 50], 1000),
            "gmm": ChampionCandidate(tie, [800, 200], 1000),
        }
    )
    assert choice.champion == "gmm"


def test_no_algorithm_with_two_segments_falls_back_in_fixed_order() -> None:
    choice = choose_champion(
        {
            "dbscan": ChampionCandidate(EMPTY, [100], 100),
            "agglomerative": ChampionCandidate(EMPTY, [100], 100),
        }
    )
    assert choice.champion == "agglomerative"
    assert "no algorithm" in choice.reason
    assert not choice.champion_eligible


# --- k by stability and hysteresis -----------------------------------------------------------

ELBOW_AT_4 = {2: 300, 3: 200, 4: 80, 5: 70, 6: 65, 7: 62}


def elbow_at_4(sils: dict[int, float]) -> list[Candidate]:
    return [cand(k, inertia=ELBOW_AT_4[k], sil=sils[k]) for k in ELBOW_AT_4]


def test_stability_is_asked_for_the_window_only_and_decides_within_the_shortlist() -> None:
    sils = {2: 0.40, 3: 0.50, 4: 0.52, 5: 0.49, 6: 0.60, 7: 0.30}
    asked: list[list[int]] = []

    def scorer(ks: list[int]) -> dict[int, float]:
        asked.append(ks)
        return {3: 0.95, 4: 0.70, 5: 0.80}

    choice = choose_k("kmeans", elbow_at_4(sils), k1_value=400, stability=scorer)
    assert asked == [[3, 4, 5]]
    assert choice.k == 3  # silhouette within 0.05 of the best (0.52), and the most stable
    assert choice.stability == {3: 0.95, 4: 0.70, 5: 0.80}
    assert "stability [k=3: 0.950, k=4: 0.700, k=5: 0.800]" in choice.reason


def test_a_stable_k_outside_the_silhouette_shortlist_is_not_chosen() -> None:
    sils = {2: 0.40, 3: 0.40, 4: 0.52, 5: 0.50, 6: 0.30, 7: 0.30}
    choice = choose_k(
        "kmeans", elbow_at_4(sils), k1_value=400, stability=lambda ks: {3: 1.0, 4: 0.8, 5: 0.6}
    )
    assert choice.k == 4  # k=3 is far more stable but 0.12 below the best silhouette


def test_equally_stable_k_are_separated_by_silhouette() -> None:
    sils = {2: 0.40, 3: 0.50, 4: 0.52, 5: 0.53, 6: 0.30, 7: 0.30}
    choice = choose_k(
        "kmeans",
        elbow_at_4(sils),
        k1_value=400,
        stability=lambda ks: {3: 0.90, 4: 0.91, 5: 0.895},
    )
    assert choice.k == 5  # all within STABILITY_TIE of 0.91: the highest silhouette wins


def test_hysteresis_keeps_the_previous_k_on_a_near_tie_only() -> None:
    sils = {2: 0.40, 3: 0.51, 4: 0.52, 5: 0.40, 6: 0.30, 7: 0.30}
    near = {3: 0.90, 4: 0.93, 5: 0.5}
    fresh = choose_k("kmeans", elbow_at_4(sils), k1_value=400, stability=lambda ks: near)
    assert (fresh.k, fresh.kept_previous) == (4, False)

    kept = choose_k(
        "kmeans", elbow_at_4(sils), k1_value=400, stability=lambda ks: near, previous_k=3
    )
    assert (kept.k, kept.kept_previous) == (3, True)
    assert "current version's k=3 is kept" in kept.reason

    clear = {3: 0.80, 4: 0.93, 5: 0.5}  # k=3 clearly less stable: no hysteresis
    moved = choose_k(
        "kmeans", elbow_at_4(sils), k1_value=400, stability=lambda ks: clear, previous_k=3
    )
    assert (moved.k, moved.kept_previous) == (4, False)
    lower = {2: 0.40, 3: 0.45, 4: 0.52, 5: 0.40, 6: 0.30, 7: 0.30}  # clearly lower silhouette
    assert (
        choose_k(
            "kmeans", elbow_at_4(lower), k1_value=400, stability=lambda ks: near, previous_k=3
        ).k
        == 4
    )
    # A previous k outside the window is not kept, whatever its scores.
    far = choose_k(
        "kmeans", elbow_at_4(sils), k1_value=400, stability=lambda ks: near, previous_k=7
    )
    assert far.k == 4

"""Trustworthy results on synthetic tables: usable champions, structure verdicts, warnings.

Each table is built for one property: a giant DBSCAN cluster, pure noise, well-separated blobs.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from shared.contract.config import DatasetConfig, parse_config
from shared.contract.evaluation import Evaluation
from shared.engine.structure import (
    NULL_MARGIN,
    null_silhouettes,
    silhouette_band,
    structure_verdict,
)
from shared.exceptions import ConfigError
from shared.training.pipeline import TrainingOutput, train_segments


def csv(frame: pd.DataFrame) -> bytes:
    return frame.round(4).to_csv(index=False).encode()


def giant_and_small_group(seed: int = 0) -> pd.DataFrame:
    """92% of customers in one gaussian cloud, 8% in a tight group far from it."""
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(0, 1, (1840, 3)), rng.normal(9, 0.5, (160, 3))])
    return pd.DataFrame(X, columns=["recency", "frequency", "monetary"])


def pure_noise(seed: int = 1) -> pd.DataFrame:
    """2,000 customers, five independent columns (gaussian, uniform, skewed): no groups."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.normal(45, 12, 2000),
            "tenure": rng.uniform(0, 120, 2000),
            "visits": rng.normal(10, 3, 2000),
            "basket": rng.uniform(5, 80, 2000),
            "spend": rng.lognormal(4, 0.8, 2000),
        }
    )


def blobs(seed: int = 2) -> pd.DataFrame:
    """1,500 customers in five well-separated groups in four columns."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 8, (5, 4))
    segment = np.repeat(np.arange(5), 300)
    X = centres[segment] + rng.normal(size=(1500, 4))
    return pd.DataFrame(X, columns=["a", "b", "c", "d"])


def evaluation(output: TrainingOutput) -> Evaluation:
    return Evaluation.model_validate_json(output.artifacts["evaluation.json"])


# --- guardrails -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def giant() -> TrainingOutput:
    # k from 3: K-Means splits the cloud (usable) while DBSCAN keeps it whole (not usable).
    config = DatasetConfig(algorithms=["kmeans", "dbscan"], k_min=3, k_max=6)
    return train_segments(csv(giant_and_small_group()), filename="giant.csv", config=config)


def test_one_giant_dbscan_cluster_cannot_give_the_champion(giant: TrainingOutput) -> None:
    dbscan = giant.algorithms["dbscan"]
    assert dbscan.n_segments >= 2  # a real candidate with metrics, not a one-segment fit
    assert dbscan.metrics.silhouette is not None
    assert giant.champion == "kmeans"
    assert not dbscan.eligible
    assert dbscan.ineligible_reason is not None
    assert "largest segment holds" in dbscan.ineligible_reason
    assert giant.algorithms["kmeans"].eligible
    assert giant.selection.champion_eligible
    assert "dbscan" not in giant.selection.scores
    rows = {row.algorithm: row for row in evaluation(giant).comparison}
    assert not rows["dbscan"].eligible
    assert rows["dbscan"].ineligible_reason == dbscan.ineligible_reason
    assert rows["kmeans"].eligible
    assert rows["kmeans"].champion


def test_the_giant_cluster_is_the_champion_only_when_the_config_allows_it(
    giant: TrainingOutput,
) -> None:
    """The guardrail, not the metrics, kept DBSCAN out: loosened, DBSCAN competes again."""
    config = DatasetConfig(
        algorithms=["kmeans", "dbscan"], k_min=3, k_max=6, max_segment_share=0.95
    )
    loose = train_segments(csv(giant_and_small_group()), filename="giant.csv", config=config)
    assert loose.algorithms["dbscan"].eligible
    assert loose.selection.guardrails["max_segment_share"] == 0.95
    assert set(loose.selection.scores) == {"kmeans", "dbscan"}
    assert giant.selection.guardrails["max_segment_share"] == 0.70


def test_when_no_model_is_usable_the_version_says_so() -> None:
    """At k=2 K-Means keeps the cloud whole, as DBSCAN does: neither is usable."""
    config = DatasetConfig(algorithms=["kmeans", "dbscan"], k_min=2, k_max=2)
    output = train_segments(csv(giant_and_small_group()), filename="giant.csv", config=config)
    assert not output.selection.champion_eligible
    assert not evaluation(output).champion_eligible
    assert all(not summary.eligible for summary in output.algorithms.values())
    message = next(w for w in output.warnings if w.startswith("No segmentation passed"))
    assert "largest segment at most 70% of customers" in message
    assert "use it with caution" in message


def test_guardrail_config_keys_are_validated() -> None:
    config = parse_config(
        b'{"max_segment_share": 0.8, "min_segment_share": 0.02, "min_segment_size": 25,'
        b' "max_noise_share": 0.05}'
    )
    assert (config.max_segment_share, config.min_segment_share) == (0.8, 0.02)
    assert (config.min_segment_size, config.max_noise_share) == (25, 0.05)
    defaults = DatasetConfig()
    assert (defaults.max_segment_share, defaults.min_segment_share) == (0.70, 0.01)
    assert (defaults.min_segment_size, defaults.max_noise_share) == (10, 0.10)
    bad = {
        '{"max_segment_share": 1.5}': "max_segment_share",
        '{"max_segment_share": 0}': "max_segment_share",
        '{"min_segment_share": -0.1}': "min_segment_share",
        '{"min_segment_size": -1}': "min_segment_size",
        '{"min_segment_size": 2.5}': "min_segment_size",
        '{"max_noise_share": true}': "max_noise_share",
        '{"max_segment_share": "0.7"}': "max_segment_share",
        '{"min_segment_share": 0.5, "max_segment_share": 0.4}': "min_segment_share=0.5",
        '{"max_segment_share": 0.05}': "cannot be met",
        '{"min_segment_share": 0.4, "k_min": 3}': "cannot be met",
    }
    for raw, named in bad.items():
        with pytest.raises(ConfigError, match=named):
            parse_config(raw)


# --- structure verdict --------------------------------------------------------------------------


def test_silhouette_bands_follow_kaufman_and_rousseeuw() -> None:
    assert [silhouette_band(s) for s in (-0.2, 0.249, 0.25, 0.499, 0.5, 0.7, 0.701)] == [
        "none",
        "none",
        "weak",
        "weak",
        "reasonable",
        "strong",
        "strong",
    ]


def test_a_model_no_clearer_than_shuffled_columns_loses_one_level() -> None:
    assert structure_verdict(0.41, 0.41).verdict == "none"  # weak band, as the null
    assert structure_verdict(0.41, 0.41 - NULL_MARGIN - 0.01).verdict == "weak"
    assert structure_verdict(0.60, 0.58).verdict == "weak"
    assert structure_verdict(0.80, 0.78).verdict == "reasonable"
    assert structure_verdict(0.80, None).verdict == "strong"  # no null: the band alone
    assert structure_verdict(None, 0.2).verdict == "none"


@pytest.fixture(scope="module")
def noise() -> TrainingOutput:
    return train_segments(csv(pure_noise()), filename="noise.csv", config=DatasetConfig(k_max=6))


def test_pure_noise_gets_the_no_substantial_structure_warning(noise: TrainingOutput) -> None:
    champion = noise.algorithms[noise.champion]
    assert champion.structure is not None
    assert champion.structure.verdict == "none", champion.structure.reason
    assert champion.structure.null_silhouette is not None
    assert champion.structure.null_references >= 1
    assert champion.structure.null_rows == 2000
    assert any("slice a continuum" in w for w in noise.warnings), noise.warnings
    for summary in noise.algorithms.values():
        assert summary.structure is not None
        assert summary.structure.verdict == "none"
    rows = {row.algorithm: row for row in evaluation(noise).comparison}
    assert rows[noise.champion].structure == champion.structure
    manifest_text = json.dumps(champion.model_dump(mode="json"))
    assert '"null_silhouette"' in manifest_text


def test_well_separated_blobs_are_reasonable_or_strong() -> None:
    output = train_segments(csv(blobs()), filename="blobs.csv", config=DatasetConfig(k_max=8))
    champion = output.algorithms[output.champion]
    assert champion.structure is not None
    assert champion.structure.verdict in ("reasonable", "strong"), champion.structure.reason
    assert champion.structure.null_silhouette is not None
    assert champion.metrics.silhouette is not None
    assert champion.metrics.silhouette - champion.structure.null_silhouette > 0.2
    assert not any("continuum" in w or "weakly separated" in w for w in output.warnings)
    for summary in output.algorithms.values():  # whichever k each chose, the groups are real
        assert summary.structure is not None
        assert summary.structure.verdict in ("reasonable", "strong"), summary.structure.reason


def test_null_reference_is_the_same_for_the_same_rows_in_any_order() -> None:
    frame = pure_noise().iloc[:600]
    shuffled = frame.sample(frac=1.0, random_state=7).reset_index(drop=True)
    chosen = {"kmeans": 4, "gmm": 3, "agglomerative": 3}
    config = DatasetConfig()

    def null(table: pd.DataFrame) -> dict[str, float | None]:
        return null_silhouettes(
            table, lambda f: f.to_numpy(dtype=float), table.to_numpy(), chosen, config
        )[0]

    first, second = null(frame), null(shuffled)
    assert first.keys() == second.keys()
    for algorithm in chosen:
        assert first[algorithm] == pytest.approx(second[algorithm], rel=1e-9), algorithm


def test_a_single_column_has_no_null_reference() -> None:
    frame = pure_noise()[["age"]]
    null, rows = null_silhouettes(
        frame, lambda f: f.to_numpy(dtype=float), frame.to_numpy(), {"kmeans": 3}, DatasetConfig()
    )
    assert null == {"kmeans": None}
    assert rows == 0

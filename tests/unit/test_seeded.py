"""Known groups: Seeded K-Means starts every known group from its seeds, names the segments
grown from them, counts stayers, defectors and joiners; without a seed column nothing changes."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from shared.contract.config import DatasetConfig
from shared.engine.seeded import known_groups, seed_centres, seeded_kmeans
from shared.exceptions import MissingColumnError
from shared.training.pipeline import TrainingOutput, train_segments


def _table() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    centres = {"a": (0.0, 0.0), "b": (10.0, 0.0), "c": (5.0, 9.0)}
    rows = []
    for blob, (x, y) in centres.items():
        for i in range(100):
            tier = None
            if blob == "a" and i < 12:
                tier = "VIP"
            elif blob == "b" and i < 10:
                tier = "Student"
            elif blob == "c" and i < 2:
                tier = "Student"  # two seeds placed in the wrong blob: they defect
            rows.append(
                {
                    "id": f"{blob}{i}",
                    "spend": x + rng.normal(0, 0.8),
                    "visits": y + rng.normal(0, 0.8),
                    "tier": tier,
                }
            )
    return pd.DataFrame(rows)


def _csv(frame: pd.DataFrame) -> bytes:
    buf = io.StringIO()
    frame.to_csv(buf, index=False)
    return buf.getvalue().encode()


CONFIG = DatasetConfig(algorithms=["kmeans"], k_min=3, k_max=3, seed_column="tier")


@pytest.fixture(scope="module")
def seeded() -> TrainingOutput:
    return train_segments(_csv(_table()), filename="tiers.csv", config=CONFIG)


def test_every_known_group_starts_from_the_mean_of_its_seeds() -> None:
    frame = _table()
    X = frame[["spend", "visits"]].to_numpy()
    groups = known_groups(frame["tier"])
    assert groups == ["Student", "VIP"]  # largest first; 12 seeds each, so by name
    group_of = np.array([groups.index(t) if isinstance(t, str) else -1 for t in frame["tier"]])
    for k in (1, 2, 3, 4):
        init = seed_centres(X, group_of, k)
        assert init.shape == (k, 2)
        for j in range(min(k, 2)):
            np.testing.assert_allclose(init[j], X[group_of == j].mean(axis=0))
    fit = seeded_kmeans(X, [3], frame["tier"])
    assert fit.models[0].params["known_groups"] == ["Student", "VIP"]


def test_segments_grown_from_seeds_carry_their_label(seeded: TrainingOutput) -> None:
    segments = seeded.profiles.sets["kmeans-k3"].segments
    by_name = {s.name: s for s in segments}
    assert {"VIP", "Student"} <= set(by_name)
    vip, student = by_name["VIP"].known_group, by_name["Student"].known_group
    assert vip is not None
    assert student is not None
    assert (vip.seeds, vip.stayed, vip.defected) == (12, 12, 0)
    assert (student.seeds, student.stayed, student.defected) == (12, 10, 2)
    assert vip.joined == 88
    assert student.joined == 90
    assert by_name["Student"].description.startswith("Known group 'Student'")
    third = next(s for s in segments if s.known_group is None)
    assert third.size == 100


def test_the_seed_column_is_never_a_feature(seeded: TrainingOutput) -> None:
    assert "tier" not in seeded.feature_names
    schema = {c.name: c for c in seeded.columns}
    assert schema["tier"].used is False
    assert seeded.config.seed_column == "tier"


def test_a_missing_seed_column_is_named() -> None:
    config = CONFIG.model_copy(update={"seed_column": "segment"})
    with pytest.raises(MissingColumnError, match="seed_column 'segment'"):
        train_segments(_csv(_table()), filename="tiers.csv", config=config)


def test_without_a_seed_column_k_means_is_unchanged() -> None:
    frame = _table().drop(columns=["tier"])
    config = DatasetConfig(algorithms=["kmeans"], k_min=3, k_max=3)
    out = train_segments(_csv(frame), filename="plain.csv", config=config)
    summary = out.algorithms["kmeans"]
    assert "known_groups" not in summary.params
    assert all(s.known_group is None for s in out.profiles.sets["kmeans-k3"].segments)


def test_the_report_shows_joiners_and_defectors(seeded: TrainingOutput) -> None:
    page = seeded.artifacts["report.html"].decode()
    assert "<b>Known group</b> Student: 10 of 12 seeds stayed, 2 ended in another segment" in page
    assert "90 unlabelled customers joined" in page

"""Segment ids stable against the published result across versions (pipeline + training run)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import shared.training.pipeline as pipeline
from shared.contract.config import Algorithm, DatasetConfig
from shared.contract.profiles import ProfileCatalog, SegmentSet
from shared.engine.segment_ids import assign_segment_ids
from shared.engine.selection import HYSTERESIS_SILHOUETTE
from shared.store.base import read_current, read_manifest
from shared.store.local import LocalModelStore, LocalRawUploadReader
from shared.training.pipeline import TrainingOutput, train_segments
from shared.training.run import TrainingRun, UploadEvent

MALL = Path(__file__).resolve().parents[2] / "data" / "mall_customers.csv"
CENTRES = {
    "A": (20.0, 20.0),
    "B": (80.0, 20.0),
    "C": (50.0, 90.0),
    "D": (85.0, 85.0),
    "E": (140.0, 150.0),
}


def customers(groups: str, *, per_group: int = 70, seed: int = 0) -> bytes:
    """Customers of the named groups (well separated), with an id column."""
    rng = np.random.default_rng(seed)
    frames = []
    for group in groups:
        income, spend = CENTRES[group]
        frames.append(
            pd.DataFrame(
                {
                    "customer_id": [f"{group}{seed}-{i}" for i in range(per_group)],
                    "income": (income + rng.normal(0, 3, per_group)).round(1),
                    "spend": (spend + rng.normal(0, 3, per_group)).round(1),
                }
            )
        )
    return pd.concat(frames, ignore_index=True).to_csv(index=False).encode()


def train(
    groups: str,
    k: int,
    previous: ProfileCatalog | None = None,
    *,
    algorithms: list[Algorithm] | None = None,
    seed: int = 0,
) -> TrainingOutput:
    config = DatasetConfig(algorithms=algorithms or ["kmeans"], k_min=k, k_max=k)
    return train_segments(
        customers(groups, seed=seed), filename="c.csv", config=config, previous=previous
    )


def group_of(segment_means: tuple[float, float]) -> str:
    return min(CENTRES, key=lambda g: np.hypot(*np.subtract(CENTRES[g], segment_means)))


def published_ids(output: TrainingOutput) -> dict[str, int]:
    """Group letter -> segment id of the published (champion) segments."""
    assert output.profiles.champion is not None
    champion = output.profiles.sets[output.profiles.champion]
    return ids_of(champion)


def ids_of(segments: SegmentSet) -> dict[str, int]:
    return {
        group_of((s.numeric["income"].mean, s.numeric["spend"].mean)): s.segment_id
        for s in segments.segments
    }


def test_a_change_of_k_keeps_the_ids_of_persisting_segments() -> None:
    first = train("ABC", 3)
    before = published_ids(first)
    assert sorted(before.values()) == [0, 1, 2]

    grown = train("ABCD", 4, first.profiles, seed=1)
    after = published_ids(grown)
    assert {g: after[g] for g in "ABC"} == before
    assert after["D"] == 3
    changes = grown.profiles.segment_ids
    assert changes is not None
    assert (changes.kept, changes.new, changes.retired) == ([0, 1, 2], [3], [])
    assert changes.previous_champion == "kmeans-k3"
    assert changes.high_water == 3
    assert grown.profiles.chosen == {"kmeans": "kmeans-k4"}
    assert grown.evaluation.sweeps["kmeans"].extra["previous_k"] == 3  # hysteresis input

    shrunk = train("AB", 2, grown.profiles, seed=2)
    assert published_ids(shrunk) == {"A": after["A"], "B": after["B"]}
    changes = shrunk.profiles.segment_ids
    assert changes is not None
    assert changes.retired == sorted([after["C"], after["D"]])
    assert changes.new == []
    assert changes.high_water == 3


def test_retired_ids_never_return() -> None:
    first = train("ABC", 3)
    without_c = train("AB", 2, first.profiles, seed=1)
    back = train("ABC", 3, without_c.profiles, seed=2)

    ids = published_ids(back)
    assert ids["A"] == published_ids(first)["A"]
    assert ids["B"] == published_ids(first)["B"]
    assert ids["C"] == 3  # above the high-water mark 2, not C's old id
    assert ids["C"] != published_ids(first)["C"]
    changes = back.profiles.segment_ids
    assert changes is not None
    assert (changes.new, changes.high_water) == ([3], 3)


def test_ids_follow_the_published_segments_whatever_the_algorithm() -> None:
    first = train("ABC", 3, algorithms=["agglomerative"])
    assert first.champion == "agglomerative"
    second = train("ABCD", 4, first.profiles, algorithms=["gmm"], seed=1)
    assert second.champion == "gmm"

    after = published_ids(second)
    assert {g: after[g] for g in "ABC"} == published_ids(first)
    assert after["D"] == 3


def test_other_models_of_the_sweep_share_the_champion_ids() -> None:
    first = train("ABC", 3)
    config = DatasetConfig(algorithms=["kmeans", "agglomerative"], k_min=2, k_max=5)
    second = train_segments(
        customers("ABCD", seed=1), filename="c.csv", config=config, previous=first.profiles
    )
    catalog = second.profiles
    assert catalog.champion is not None
    assert catalog.segment_ids is not None
    champion = published_ids(second)
    for key, segments in catalog.sets.items():
        ids = [s.segment_id for s in segments.segments]
        assert len(set(ids)) == len(ids), key
        assert max(ids) <= catalog.segment_ids.high_water, key
        if segments.k == 4:  # the four groups again: the very ids of the champion
            assert ids_of(segments) == champion, key
    # An id never names two different groups within the version.
    owners: dict[int, set[str]] = {}
    for segments in catalog.sets.values():
        if segments.k in (4, 5):
            for s in segments.segments:
                owners.setdefault(s.segment_id, set()).add(
                    group_of((s.numeric["income"].mean, s.numeric["spend"].mean))
                )
    assert all(len(groups) == 1 for groups in owners.values()), owners


def test_a_catalog_without_a_recorded_champion_matches_the_same_model_key() -> None:
    first = train("ABC", 3)
    legacy = first.profiles.model_copy(update={"champion": None, "segment_ids": None})
    renumbered = {
        key: s.model_copy(
            update={
                "segments": [
                    seg.model_copy(update={"segment_id": seg.segment_id + 10}) for seg in s.segments
                ]
            }
        )
        for key, s in legacy.sets.items()
    }
    legacy = legacy.model_copy(update={"sets": renumbered})
    again = train("ABC", 3, seed=1)
    sets, changes = assign_segment_ids(
        {"kmeans-k3": again.profiles.sets["kmeans-k3"]},
        champion="kmeans-k3",
        previous=legacy,
        feature_names=again.feature_names,
    )
    assert sorted(s.segment_id for s in sets["kmeans-k3"].segments) == [10, 11, 12]
    assert (changes.kept, changes.high_water) == ([10, 11, 12], 12)


def test_the_manifest_records_kept_new_and_retired_ids(tmp_path: Path) -> None:
    raw_root = tmp_path / "raw"
    store = LocalModelStore(tmp_path / "models")
    run = TrainingRun(
        store=store,
        raw=LocalRawUploadReader(raw_root),
        max_upload_bytes=1_000_000,
        keep_versions=3,
    )
    start = datetime(2025, 3, 1, tzinfo=UTC)
    versions = []
    for minute, (groups, k) in enumerate([("ABC", 3), ("ABE", 3)]):
        (raw_root / "configs").mkdir(parents=True, exist_ok=True)
        (raw_root / "configs" / "shop.json").write_text(
            f'{{"algorithms": ["kmeans"], "k_min": {k}, "k_max": {k}}}'
        )
        path = raw_root / "uploads" / "shop" / f"v{minute}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(customers(groups, seed=minute))
        when = (start + timedelta(minutes=minute)).timestamp()
        os.utime(path, (when, when))
        result = run.run(UploadEvent(key=f"uploads/shop/v{minute}.csv"))
        assert result.status == "published"
        versions.append(result.version)
    current = read_current(store, "shop")
    assert current is not None
    assert current.version == versions[1]
    manifest = read_manifest(store, "shop", versions[1])
    assert manifest.segment_ids is not None
    assert len(manifest.segment_ids.kept) == 2
    assert manifest.segment_ids.new == [3]
    assert len(manifest.segment_ids.retired) == 1
    assert manifest.segment_ids.high_water == 3


def test_hysteresis_keeps_the_current_k_on_a_silhouette_near_tie(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Equal stability for every k, so the silhouette decides between the window's k.
    monkeypatch.setattr(
        pipeline, "sweep_stability", lambda X, fit, ks, random_state: (dict.fromkeys(ks, 0.9), 0)
    )
    data = MALL.read_bytes()  # all four columns: the K-Means window's silhouettes are close
    config = DatasetConfig(algorithms=["kmeans"])
    fresh = train_segments(data, filename="mall.csv", config=config)
    sweep = fresh.evaluation.sweeps["kmeans"]
    silhouettes = {c.k: float(c.metrics.silhouette or 0.0) for c in sweep.candidates}
    window = sweep.extra["k_window"]
    best = fresh.algorithms["kmeans"].k
    assert best == max(window, key=lambda k: silhouettes[k])
    gap = {k: silhouettes[best] - silhouettes[k] for k in window if k != best}
    near = [k for k, g in gap.items() if g <= HYSTERESIS_SILHOUETTE]
    far = [k for k, g in gap.items() if g > HYSTERESIS_SILHOUETTE]
    assert near, gap  # the data must offer a near-tie and a clear gap for this test
    assert far, gap

    def after(previous_k: int) -> TrainingOutput:
        previous = fresh.profiles.model_copy(update={"chosen": {"kmeans": f"kmeans-k{previous_k}"}})
        return train_segments(data, filename="mall.csv", config=config, previous=previous)

    kept = after(near[0])
    assert kept.algorithms["kmeans"].k == near[0]
    assert kept.evaluation.sweeps["kmeans"].extra["kept_previous_k"] is True
    assert after(far[0]).algorithms["kmeans"].k == best

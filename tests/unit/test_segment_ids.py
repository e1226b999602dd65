"""Stable segment ids across versions (shared/engine/segment_ids.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shared.contract.manifest import ColumnSchema
from shared.contract.profiles import OUTLIER_SEGMENT_ID, SegmentSet
from shared.engine.profiling import build_segment_set
from shared.engine.segment_ids import MAX_MATCH_DISTANCE, segment_distances, stabilize_segment_ids

MALL = Path(__file__).resolve().parents[2] / "data" / "mall_customers.csv"
INCOME, SPENDING = "Annual Income (k$)", "Spending Score (1-100)"
COLUMNS = [
    ColumnSchema(name="Gender", role="categorical", dtype="string", used=True),
    ColumnSchema(name=INCOME, role="numeric", dtype="integer", used=True),
    ColumnSchema(name=SPENDING, role="numeric", dtype="integer", used=True),
]
PREPARED = ["income", "spending"]


def mall() -> pd.DataFrame:
    return pd.read_csv(MALL)[["Gender", INCOME, SPENDING]].astype({INCOME: float, SPENDING: float})


def kmeans_set(frame: pd.DataFrame, k: int = 5, seed: int = 0) -> SegmentSet:
    from sklearn.cluster import KMeans
    from sklearn.preprocessing import StandardScaler

    X = StandardScaler().fit_transform(frame[[INCOME, SPENDING]])
    labels = KMeans(n_clusters=k, random_state=seed, n_init=10).fit_predict(X)
    return build_segment_set(
        algorithm="kmeans", k=k, labels=labels, features=frame, columns=COLUMNS, X=X
    )


def with_ids(segments: SegmentSet, ids: list[int]) -> SegmentSet:
    """The same set with other (as if inherited) ids, to see them carried over."""
    renamed = [
        s.model_copy(update={"segment_id": i}) for s, i in zip(segments.segments, ids, strict=True)
    ]
    return segments.model_copy(update={"segments": renamed})


def ids_by_name(segments: SegmentSet) -> dict[str, int]:
    return {s.name: s.segment_id for s in segments.segments}


def stabilize(new: SegmentSet, previous: SegmentSet | None) -> SegmentSet:
    return stabilize_segment_ids(
        new, previous, feature_names=PREPARED, previous_feature_names=PREPARED
    )


@pytest.fixture(scope="module")
def mall_set() -> SegmentSet:
    return kmeans_set(mall())


def test_no_previous_version_keeps_the_provisional_ids(mall_set: SegmentSet) -> None:
    assert stabilize(mall_set, None) == mall_set


def test_retraining_on_the_same_data_gives_identical_ids(mall_set: SegmentSet) -> None:
    previous = with_ids(mall_set, [4, 2, 9, 0, 7])
    again = kmeans_set(mall(), seed=3)  # another seed: other internal labels, same segments

    result = stabilize(again, previous)

    assert ids_by_name(result) == ids_by_name(previous)
    assert [s.segment_id for s in result.segments] == [0, 2, 4, 7, 9]  # ordered by id
    assert stabilize(mall_set, mall_set) == mall_set


def test_shuffled_and_perturbed_retrain_keeps_ids(mall_set: SegmentSet) -> None:
    rng = np.random.default_rng(0)
    frame = mall().sample(frac=1.0, random_state=1).reset_index(drop=True)
    frame[INCOME] += rng.normal(0, 1.0, len(frame))
    frame[SPENDING] += rng.normal(0, 1.0, len(frame))
    previous = with_ids(mall_set, [10, 11, 12, 13, 14])

    result = stabilize(kmeans_set(frame, seed=5), previous)

    assert ids_by_name(result) == ids_by_name(previous)


def test_a_genuinely_new_segment_gets_an_id_above_every_previous_one(mall_set: SegmentSet) -> None:
    previous = kmeans_set(mall(), k=4)
    previous = with_ids(previous, [0, 1, 2, 5])

    result = stabilize(mall_set, previous)

    ids = sorted(s.segment_id for s in result.segments)
    assert len(set(ids)) == 5
    assert ids[-1] == 6  # the one unmatched segment
    assert set(ids[:-1]) <= {0, 1, 2, 5}


def test_segments_further_than_the_limit_are_new(mall_set: SegmentSet) -> None:
    moved = []
    for segment in mall_set.segments:
        numeric = {
            name: summary.model_copy(update={"mean": summary.mean + 10 * summary.std + 200})
            for name, summary in segment.numeric.items()
        }
        moved.append(segment.model_copy(update={"numeric": numeric}))
    previous = with_ids(mall_set.model_copy(update={"segments": moved}), [0, 1, 2, 3, 4])

    distances = segment_distances(mall_set, previous)
    assert distances is not None
    assert distances.min() > MAX_MATCH_DISTANCE
    result = stabilize(mall_set, previous)
    assert sorted(s.segment_id for s in result.segments) == [5, 6, 7, 8, 9]


def test_outliers_keep_minus_one_and_are_never_matched() -> None:
    frame = pd.DataFrame({"x": [0.0, 0.1, 0.2, 5.0, 5.1, 5.2, 50.0]})
    columns = [ColumnSchema(name="x", role="numeric", dtype="float", used=True)]

    def dbscan(labels: list[int]) -> SegmentSet:
        return build_segment_set(
            algorithm="dbscan",
            k=None,
            labels=np.array(labels),
            features=frame,
            columns=columns,
            X=frame.to_numpy(),
        )

    previous = with_ids(dbscan([0, 0, 0, 1, 1, 1, -1]), [3, 8, OUTLIER_SEGMENT_ID])
    result = stabilize_segment_ids(
        dbscan([1, 1, 1, 0, 0, 0, -1]),
        previous,
        feature_names=["x"],
        previous_feature_names=["x"],
    )

    assert [(s.label, s.segment_id) for s in result.segments] == [(1, 3), (0, 8), (-1, -1)]
    assert result.segments[-1].name == "Outliers"


def test_falls_back_to_centroids_on_common_prepared_features(mall_set: SegmentSet) -> None:
    bare = [s.model_copy(update={"numeric": {}, "categorical": {}}) for s in mall_set.segments]
    new = mall_set.model_copy(update={"segments": bare, "population": {}})
    previous = with_ids(new, [5, 6, 7, 8, 9])
    # the previous version had an extra prepared column, in another order
    previous = previous.model_copy(
        update={
            "segments": [
                s.model_copy(update={"centroid": [0.0, *reversed(s.centroid)]})
                for s in previous.segments
            ]
        }
    )
    result = stabilize_segment_ids(
        new,
        previous,
        feature_names=["income", "spending"],
        previous_feature_names=["extra", "spending", "income"],
    )

    assert ids_by_name(result) == ids_by_name(previous)
    orphan = stabilize_segment_ids(new, previous, feature_names=["a"], previous_feature_names=None)
    assert sorted(s.segment_id for s in orphan.segments) == [10, 11, 12, 13, 14]

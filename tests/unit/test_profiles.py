"""Segment profiles and names (shared/engine/profiling.py)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shared.contract.manifest import ColumnSchema
from shared.contract.profiles import OUTLIER_NAME, OUTLIER_SEGMENT_ID, SegmentSet
from shared.engine.profiling import build_segment_set, feature_word

MALL = Path(__file__).resolve().parents[2] / "data" / "mall_customers.csv"
INCOME, SPENDING = "Annual Income (k$)", "Spending Score (1-100)"


def numeric(name: str) -> ColumnSchema:
    return ColumnSchema(name=name, role="numeric", dtype="float", used=True)


def categorical(name: str) -> ColumnSchema:
    return ColumnSchema(name=name, role="categorical", dtype="string", used=True)


def build(labels: list[int], frame: pd.DataFrame, columns: list[ColumnSchema]) -> SegmentSet:
    X = frame.select_dtypes("number").fillna(0).to_numpy(dtype=float)
    return build_segment_set(
        algorithm="kmeans",
        k=len(set(labels)),
        labels=np.array(labels),
        features=frame,
        columns=columns,
        X=X,
    )


def mall_kmeans5() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    from sklearn.cluster import KMeans
    from sklearn.preprocessing import StandardScaler

    frame = pd.read_csv(MALL)[["Gender", INCOME, SPENDING]].astype({INCOME: float, SPENDING: float})
    X = StandardScaler().fit_transform(frame[[INCOME, SPENDING]])
    labels = KMeans(n_clusters=5, random_state=0, n_init="auto").fit_predict(X)
    return frame, X, labels


# --- statistics on tiny data -----------------------------------------------------------------


def test_sizes_shares_statistics_and_z_on_tiny_data() -> None:
    frame = pd.DataFrame({"Income": [10.0, 12.0, 90.0, 94.0]})
    result = build([1, 1, 0, 0], frame, [numeric("Income")])

    high, low = result.segments
    assert (high.segment_id, high.label, high.size, high.share) == (0, 0, 2, 0.5)
    assert (low.segment_id, low.label, low.size, low.share) == (1, 1, 2, 0.5)
    stats = high.numeric["Income"]
    assert (stats.mean, stats.median, stats.min, stats.max) == (92.0, 92.0, 90.0, 94.0)
    assert (stats.q1, stats.q3) == (91.0, 93.0)
    assert stats.std == pytest.approx(2.0)
    population_std = math.sqrt(((10 - 51.5) ** 2 + 39.5**2 + 38.5**2 + 42.5**2) / 4)
    assert result.population["Income"].mean == 51.5
    assert result.population["Income"].std == pytest.approx(population_std)
    assert stats.z == pytest.approx((92 - 51.5) / population_std)
    assert low.numeric["Income"].z == pytest.approx((11 - 51.5) / population_std)
    assert (high.name, low.name) == ("High income", "Low income")
    assert high.distinctive == ["Income"]
    assert high.description.startswith("2 customers (50.0%): high income (mean 92 vs")


def test_missing_values_are_left_out_and_an_all_missing_segment_reads_as_the_population() -> None:
    frame = pd.DataFrame({"x": [1.0, np.nan, 3.0, np.nan, np.nan]})
    result = build([0, 0, 0, 1, 1], frame, [numeric("x")])

    first, second = result.segments
    assert first.numeric["x"].mean == 2.0
    assert first.size == 3
    assert second.numeric["x"].mean == result.population["x"].mean == 2.0
    assert second.numeric["x"].z == 0.0
    SegmentSet.model_validate_json(result.model_dump_json())  # no NaN in the document


def test_provisional_ids_by_size_then_label_and_centroids_in_prepared_space() -> None:
    frame = pd.DataFrame({"x": [0.0, 0.0, 5.0, 5.0, 9.0, 9.0, 9.0]})
    X = np.array([[0, 1], [0, 3], [5, 0], [5, 0], [9, 9], [9, 9], [9, 9]], dtype=float)
    result = build_segment_set(
        algorithm="agglomerative",
        k=3,
        labels=np.array([7, 7, 2, 2, 4, 4, 4]),
        features=frame,
        columns=[numeric("x")],
        X=X,
    )

    assert [(s.segment_id, s.label, s.size) for s in result.segments] == [
        (0, 4, 3),
        (1, 2, 2),
        (2, 7, 2),
    ]
    assert result.segments[2].centroid == [0.0, 2.0]
    assert result.n_segments == 3


def test_sparse_prepared_matrix_gives_the_same_centroids() -> None:
    from scipy import sparse

    frame = pd.DataFrame({"x": [0.0, 1.0, 5.0]})
    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    labels = np.array([0, 0, 1])
    dense = build_segment_set(
        algorithm="kmeans", k=2, labels=labels, features=frame, columns=[numeric("x")], X=X
    )
    sparse_result = build_segment_set(
        algorithm="kmeans",
        k=2,
        labels=labels,
        features=frame,
        columns=[numeric("x")],
        X=sparse.csr_matrix(X),
    )
    assert [s.centroid for s in dense.segments] == [s.centroid for s in sparse_result.segments]
    assert dense.segments[0].centroid == [0.5, 0.5]


# --- categoricals ----------------------------------------------------------------------------


def test_categorical_mix_deviation_and_names() -> None:
    frame = pd.DataFrame(
        {
            "Gender": ["Female"] * 4 + ["Male"] * 4,
            "Region": ["3", "3", "3", np.nan, "1", "1", "2", "2"],
        }
    )
    result = build([0, 0, 0, 0, 1, 1, 1, 1], frame, [categorical("Gender"), categorical("Region")])

    first = result.segments[0]
    assert first.categorical["Gender"] == {"Female": 1.0, "Male": 0.0}
    assert first.categorical["Region"]["3"] == 0.75
    assert first.categorical["Region"]["(missing)"] == 0.25
    assert result.population_categorical["Gender"] == {"Female": 0.5, "Male": 0.5}
    # Female: (1 - 0.5) / sqrt(0.25) = 1.0; Region 3: (0.75 - 0.375) / sqrt(0.375 * 0.625) = 0.77
    assert first.distinctive == ["Gender", "Region"]
    # gender reads as a trait; a bare code carries its column
    assert first.name == "Female, mostly region 3"
    assert "100% female (50% overall)" in first.description


def test_many_categories_are_capped_with_other() -> None:
    from shared.engine.profiling import MAX_CATEGORIES_SHOWN

    values = [f"c{i:02d}" for i in range(MAX_CATEGORIES_SHOWN + 5)]
    frame = pd.DataFrame({"City": values})
    result = build([0] * len(values), frame, [categorical("City")])

    mix = result.segments[0].categorical["City"]
    assert len(mix) == MAX_CATEGORIES_SHOWN + 1
    assert mix["(other)"] == pytest.approx(5 / len(values))
    assert sum(mix.values()) == pytest.approx(1.0)


# --- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "word"),
    [
        ("Annual Income (k$)", "income"),
        ("Spending Score (1-100)", "spending"),
        ("PURCHASES_FREQUENCY", "purchases frequency"),
        ("creditLimit", "credit limit"),
        ("Tenure [months]", "tenure"),
        ("(weird)", "(weird)"),
        ("MntWines", "spending on wines"),
        ("NumWebPurchases", "web purchases"),
        ("NumOfProducts", "number of products"),
        ("customerLTV", "customer LTV"),
    ],
)
def test_feature_word(column: str, word: str) -> None:
    assert feature_word(column) == word


def test_levels_by_z_and_average_segment() -> None:
    # population std = sqrt((9 + 1.44 + 0 + 1.44 + 9) / 5) = 2.0435, so the segments' z are
    # -1.47 (low), -0.59 (below average), 0 (average), +0.59 (above average), +1.47 (high)
    centres = [-3.0, -1.2, 0.0, 1.2, 3.0]
    frame = pd.DataFrame({"Recency": [c for c in centres for _ in range(2)]})
    result = build([i for i in range(5) for _ in range(2)], frame, [numeric("Recency")])

    by_label = {s.label: (round(s.numeric["Recency"].z, 2), s.name) for s in result.segments}
    assert by_label == {
        0: (-1.47, "Low recency"),
        1: (-0.59, "Below-average recency"),
        2: (0.0, "Average recency"),
        3: (0.59, "Above-average recency"),
        4: (1.47, "High recency"),
    }
    assert result.segments[2].description.endswith("close to the overall average on every feature.")


def test_duplicate_names_are_told_apart_by_their_means_never_by_a_number() -> None:
    # population mean 3.3, std 4.406: z = -0.749, -0.522 (both below average), +1.52 (high)
    frame = pd.DataFrame({"x": [0.0] * 4 + [1.0] * 3 + [10.0] * 3})
    result = build([0] * 4 + [1] * 3 + [2] * 3, frame, [numeric("x")])

    zs = [round(s.numeric["x"].z, 2) for s in result.segments]
    assert zs == [-0.75, -0.52, 1.52]
    assert [s.name for s in result.segments] == [
        "Below-average x (mean 0)",
        "Below-average x (mean 1)",
        "High x",
    ]


def test_duplicate_names_take_the_next_most_distinctive_feature() -> None:
    # Both small segments are high on x and y (the two strongest terms); w tells them apart.
    frame = pd.DataFrame(
        {
            "x": [0.0] * 6 + [10.0] * 4,
            "y": [0.0] * 6 + [10.0] * 4,
            "w": [2.0, 8.0] * 3 + [6.5] * 2 + [3.5] * 2,
        }
    )
    result = build([0] * 6 + [1] * 2 + [2] * 2, frame, [numeric(c) for c in ("x", "y", "w")])

    high = result.segments[1]
    assert abs(high.numeric["w"].z) < abs(high.numeric["x"].z)
    assert [s.name for s in result.segments] == [
        "Low x, low y",
        "High x, high y, above-average w",
        "High x, high y, below-average w",
    ]


@pytest.mark.slow
def test_mall_kmeans_k5_names_say_high_and_low_income_and_spending() -> None:
    frame, X, labels = mall_kmeans5()
    columns = [categorical("Gender"), numeric(INCOME), numeric(SPENDING)]
    result = build_segment_set(
        algorithm="kmeans", k=5, labels=labels, features=frame, columns=columns, X=X
    )

    by_direction = {}
    for segment in result.segments:
        income_z = segment.numeric[INCOME].z
        spending_z = segment.numeric[SPENDING].z
        direction = (
            "average"
            if abs(income_z) < 0.5 and abs(spending_z) < 0.5
            else ("high" if income_z > 0 else "low", "high" if spending_z > 0 else "low")
        )
        by_direction[direction] = segment.name
    assert by_direction == {
        ("high", "high"): "High income, high spending",
        ("high", "low"): "High income, low spending",
        ("low", "high"): "Low income, high spending",
        ("low", "low"): "Low income, low spending",
        "average": "Average income, average spending",
    }
    assert sorted(s.size for s in result.segments) == [22, 23, 35, 39, 81]
    assert sum(s.share for s in result.segments) == pytest.approx(1.0)


# --- outliers and errors ---------------------------------------------------------------------


def test_dbscan_noise_is_its_own_outliers_segment() -> None:
    frame = pd.DataFrame({"x": [0.0, 0.1, 0.2, 5.0, 5.1, 50.0]})
    result = build_segment_set(
        algorithm="dbscan",
        k=None,
        labels=np.array([0, 0, 0, 1, 1, -1]),
        features=frame,
        columns=[numeric("x")],
        X=frame.to_numpy(),
    )

    outliers = result.segments[-1]
    assert (outliers.segment_id, outliers.label, outliers.name) == (
        OUTLIER_SEGMENT_ID,
        -1,
        OUTLIER_NAME,
    )
    assert outliers.is_outlier
    assert (outliers.size, outliers.share) == (1, pytest.approx(1 / 6))
    assert "DBSCAN noise" in outliers.description
    assert result.n_segments == 2
    assert [s.segment_id for s in result.segments] == [0, 1, -1]
    assert result.by_id(-1) is outliers
    assert OUTLIER_NAME not in [s.name for s in result.segments[:-1]]


def test_rows_that_disagree_are_refused() -> None:
    frame = pd.DataFrame({"x": [0.0, 1.0]})
    with pytest.raises(ValueError, match="labels has 3"):
        build_segment_set(
            algorithm="kmeans",
            k=2,
            labels=np.array([0, 1, 1]),
            features=frame,
            columns=[numeric("x")],
            X=frame.to_numpy(),
        )
    with pytest.raises(ValueError, match="'y'"):
        build_segment_set(
            algorithm="kmeans",
            k=2,
            labels=np.array([0, 1]),
            features=frame,
            columns=[numeric("y")],
            X=frame.to_numpy(),
        )


def test_date_features_read_as_recent_or_long_ago() -> None:
    dates = pd.to_datetime(["2024-01-01", "2024-01-02", "2020-01-01", "2020-01-03"])
    frame = pd.DataFrame({"Last Purchase Date": dates})
    column = ColumnSchema(name="Last Purchase Date", role="date", dtype="datetime", used=True)
    result = build_segment_set(
        algorithm="kmeans",
        k=2,
        labels=np.array([0, 0, 1, 1]),
        features=frame,
        columns=[column],
        X=np.zeros((4, 1)),
    )

    names = sorted(s.name for s in result.segments)
    assert names == ["Long-ago last purchase", "Recent last purchase"]
    assert result.population["Last Purchase Date"].max == float((dates.max() - dates.min()).days)


def test_age_reads_younger_or_older_customers() -> None:
    frame = pd.DataFrame({"Age": [20.0, 22.0, 60.0, 62.0]})
    result = build([0, 0, 1, 1], frame, [numeric("Age")])

    assert [s.name for s in result.segments] == ["Younger customers", "Older customers"]
    assert result.segments[0].description == (
        "2 customers (50.0%): younger (mean age 21 vs 41 overall)."
    )


def test_large_segments_use_strided_quartiles_but_exact_moments() -> None:
    from shared.engine.profiling import QUANTILE_ROWS

    values = np.arange(3 * QUANTILE_ROWS, dtype=float)
    frame = pd.DataFrame({"x": values})
    result = build([0] * values.size, frame, [numeric("x")])

    stats = result.segments[0].numeric["x"]
    assert (stats.mean, stats.min, stats.max) == (values.mean(), 0.0, values[-1])
    assert stats.median == pytest.approx(np.median(values), rel=1e-3)
    assert stats.q1 == pytest.approx(np.percentile(values, 25), rel=1e-3)


def test_profiled_columns_are_summarised_but_never_name_a_segment() -> None:
    frame = pd.DataFrame(
        {
            "Income": [10.0, 12.0, 90.0, 94.0],
            "Age": [20.0, 22.0, 60.0, 62.0],
            "Gender": ["F", "F", "M", "M"],
        }
    )
    columns = [
        numeric("Income"),
        ColumnSchema(name="Age", role="numeric", dtype="float", used=False, profiled=True),
        ColumnSchema(name="Gender", role="categorical", dtype="string", used=False, profiled=True),
    ]
    segments = build_segment_set(
        algorithm="kmeans",
        k=2,
        labels=np.array([1, 1, 0, 0]),
        features=frame,
        columns=columns,
        X=frame[["Income"]].to_numpy(),
    )
    high, low = segments.segments
    assert (high.name, low.name) == ("High income", "Low income")
    assert (high.numeric["Age"].mean, low.numeric["Age"].mean) == (61.0, 21.0)
    assert high.numeric["Age"].z == pytest.approx(20 / math.sqrt(401))
    assert high.categorical["Gender"] == {"M": 1.0, "F": 0.0}
    assert segments.population["Age"].mean == 41.0
    assert high.distinctive == ["Income"]
    assert "age" not in high.description.lower()


def test_a_profiled_column_absent_from_the_frame_is_skipped() -> None:
    frame = pd.DataFrame({"Income": [10.0, 12.0, 90.0, 94.0]})
    columns = [
        numeric("Income"),
        ColumnSchema(name="Age", role="numeric", dtype="float", used=False, profiled=True),
    ]
    segments = build(labels=[0, 0, 1, 1], frame=frame, columns=columns)
    assert "Age" not in segments.segments[0].numeric

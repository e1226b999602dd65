"""Feature screening: outcomes profiled as rates, near-duplicate numerics, config overrides."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shared.contract.config import DatasetConfig, parse_config
from shared.engine.schema import clean_training_table
from shared.engine.screening import near_duplicates, outcome_word, screening_sample
from shared.exceptions import ConfigError, MissingColumnError


def _customers(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """Two well-separated groups; ``Churn`` is 1 for 80% of group 1 and 10% of group 0."""
    rng = np.random.default_rng(seed)
    group = np.arange(n) % 2
    frame = pd.DataFrame(
        {
            "CustomerID": np.arange(1, n + 1),
            "Income": np.where(group == 1, 80.0, 30.0) + rng.normal(0, 4, n),
            "Visits": np.where(group == 1, 2.0, 12.0) + rng.normal(0, 1, n),
            "Tenure": rng.normal(5, 2, n),
        }
    )
    churn = np.where(group == 1, rng.random(n) < 0.8, rng.random(n) < 0.1).astype(int)
    frame["Churn"] = churn
    return frame


def _column(table, name):  # type: ignore[no-untyped-def]
    return next(c for c in table.columns if c.name == name)


@pytest.mark.parametrize(
    ("name", "word"),
    [
        ("Churn", "churn"),
        ("is_churned", "churn"),
        ("AcceptedCmp3", "accepted"),
        ("acceptedcmp3", "accepted"),
        ("Response", "response"),
        ("Complain", "complain"),
        ("converted", "convert"),
        ("default payment next month", "default"),
        ("y", "y"),
        ("target", "target"),
        ("Label", "label"),
    ],
)
def test_outcome_names_are_recognised(name: str, word: str) -> None:
    assert outcome_word(name) == word


@pytest.mark.parametrize(
    "name",
    ["Days", "Year", "yearly_spend", "Tenure", "Recency", "Kidhome", "MntWines", "Dt_Customer"],
)
def test_behaviour_names_are_not_outcomes(name: str) -> None:
    assert outcome_word(name) is None


def test_binary_outcome_is_excluded_and_profiled_as_a_rate() -> None:
    from shared.training.pipeline import train_segments

    frame = _customers()
    out = train_segments(
        frame.to_csv(index=False).encode(),
        filename="c.csv",
        config=DatasetConfig(algorithms=["kmeans"], k_max=3),
    )
    churn = next(c for c in out.columns if c.name == "Churn")
    assert not churn.used
    assert churn.reason is not None
    assert "outcome" in churn.reason
    assert "churn" in churn.reason
    assert "Churn" not in out.feature_names
    # One sentence lists the columns left out, each with its reason and the way back.
    assert any("'Churn' (outcome-like column" in w and '"outcomes": []' in w for w in out.warnings)
    assert sum("Churn" in w for w in out.warnings) == 1
    segments = out.profiles.sets["kmeans-k2"]
    assert segments.population_outcomes["Churn"].level == "1"
    assert segments.population_outcomes["Churn"].rate == pytest.approx(frame["Churn"].mean())
    # Each segment's rate is the churn share of its own customers (labels from assignments).
    by_rate = sorted(s.outcomes["Churn"].rate for s in segments.segments)
    expected = sorted(frame.groupby(frame.index % 2)["Churn"].mean())
    assert by_rate == pytest.approx(expected)
    assert by_rate[0] < 0.2 < 0.7 < by_rate[1]
    report = out.artifacts["report.html"].decode()
    assert f"{by_rate[1]:.0%} ({frame['Churn'].mean():.0%} overall)" in report


def test_outcome_profiles_reach_the_segments_api_schema() -> None:
    from lambdas.api.schemas import SegmentsResponse

    # Each segment is a SegmentProfile with the name people see (NamedSegment).
    properties = SegmentsResponse.model_json_schema()["$defs"]["NamedSegment"]["properties"]
    assert "outcomes" in properties


def test_perfectly_anticorrelated_pair_keeps_one_and_names_its_twin() -> None:
    frame = _customers()
    frame.insert(2, "Spend", frame["Income"] * 0.3)
    frame.insert(3, "Savings", 500.0 - frame["Income"] * 2.0)  # r = -1 with Income
    frame.loc[:9, "Income"] = np.nan  # Income has more missing values: Spend is kept
    table = clean_training_table(frame, DatasetConfig())
    kept = [c.name for c in table.columns if c.used]
    assert kept == ["Spend", "Visits", "Tenure"]
    income, savings = _column(table, "Income"), _column(table, "Savings")
    assert not income.used
    assert not savings.used
    assert "'Spend'" in (income.reason or "")
    assert "near-duplicate" in (income.reason or "")
    assert "rho -1.00" in (savings.reason or "")
    assert "'Spend'" in (savings.reason or "")


def test_first_column_in_file_order_wins_a_tie() -> None:
    frame = _customers()
    frame["Income copy"] = frame["Income"] + 1.0
    table = clean_training_table(frame, DatasetConfig())
    assert _column(table, "Income").used
    assert not _column(table, "Income copy").used


def test_near_duplicates_ignore_weakly_related_columns() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=2000)
    frame = pd.DataFrame({"a": x, "b": x + rng.normal(scale=0.5, size=2000)})
    assert near_duplicates(frame, ["a", "b"]) == []


def test_screening_sample_does_not_depend_on_row_order() -> None:
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"a": rng.normal(size=20_000), "b": rng.normal(size=20_000)})
    shuffled = frame.sample(frac=1.0, random_state=3).reset_index(drop=True)
    one = frame.iloc[screening_sample(frame)].sort_values("a").to_numpy()
    two = shuffled.iloc[screening_sample(shuffled)].sort_values("a").to_numpy()
    assert one.shape == (5_000, 2)
    np.testing.assert_array_equal(one, two)


def test_empty_outcomes_turns_detection_off() -> None:
    table = clean_training_table(_customers(), parse_config({"outcomes": []}))
    assert _column(table, "Churn").used
    assert table.outcomes.shape[1] == 0


def test_explicit_features_are_never_screened_out() -> None:
    frame = _customers()
    frame["Income copy"] = frame["Income"] + 1.0
    config = parse_config({"features": ["Income", "Income copy", "Churn"]})
    table = clean_training_table(frame, config)
    assert [c.name for c in table.columns if c.used] == ["Income", "Churn", "Income copy"]


def test_outcomes_named_by_the_config() -> None:
    frame = _customers()
    frame["Plan"] = np.where(np.arange(len(frame)) % 3 == 0, "gold", "basic")
    table = clean_training_table(frame, parse_config({"outcomes": ["Plan"]}))
    plan = _column(table, "Plan")
    assert not plan.used
    assert plan.categories == ["basic", "gold"]
    assert plan.reason == (
        "outcome named by the config: profiled per segment as rates, not clustered"
    )
    assert _column(table, "Churn").used  # named outcomes replace the detection
    assert list(table.outcomes.columns) == ["Plan"]
    assert table.outcomes["Plan"].tolist() == frame["Plan"].tolist()


def test_unknown_outcome_column_is_named() -> None:
    with pytest.raises(MissingColumnError, match=r"'outcomes'.*'Churned'.*did you mean 'Churn'"):
        clean_training_table(_customers(), parse_config({"outcomes": ["Churned"]}))


def test_outcome_that_is_also_a_feature_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"'Churn'.*both 'outcomes' and 'features'"):
        clean_training_table(
            _customers(), parse_config({"outcomes": ["Churn"], "features": ["Churn", "Income"]})
        )


def test_continuous_outcome_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"'Income'.*distinct values"):
        clean_training_table(_customers(), parse_config({"outcomes": ["Income"]}))


def test_many_valued_column_with_an_outcome_name_is_kept() -> None:
    frame = _customers()
    frame["Response time"] = np.random.default_rng(4).gamma(2.0, 3.0, len(frame))
    table = clean_training_table(frame, DatasetConfig())
    assert _column(table, "Response time").used

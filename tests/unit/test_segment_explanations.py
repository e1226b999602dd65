"""Training-time explanations: CRM rules with held-back precision, membership SHAP of the GMM,
and a planted case where one column alone separates a segment."""

from __future__ import annotations

import html
import io

import numpy as np
import pandas as pd
import pytest

from shared.contract.config import DatasetConfig
from shared.contract.manifest import ColumnSchema
from shared.engine.segment_rules import (
    MIN_PRECISION,
    RuleFeatures,
    segment_rule,
    split_rows,
)
from shared.serving.bundle import read_serving_params
from shared.serving.explanations import attribute
from shared.serving.rules import load_serving_rule
from shared.training.pipeline import TrainingOutput, train_segments

NUMERIC = [ColumnSchema(name="Income", role="numeric", dtype="float", used=True)]


# --- rules ---------------------------------------------------------------------------------------


def test_precision_and_coverage_are_measured_on_held_back_rows_only() -> None:
    income = np.arange(200.0)
    features = RuleFeatures(pd.DataFrame({"Income": income}), NUMERIC)
    fit, held = np.arange(0, 200, 2), np.arange(1, 200, 2)
    member = income >= 100
    # The held-back rows tell another story: half of the rule's matches are not members.
    member[held[(held >= 100) & (held % 4 == 1)]] = False
    rule = segment_rule(features, member, fit, held)
    assert rule.text == "Income > 99"  # learnt on the fit rows (between 98 and 100)
    matched = held[held > 99]
    assert rule.matched == matched.size
    assert rule.precision == pytest.approx(member[matched].mean())
    assert rule.precision < MIN_PRECISION
    assert rule.reliable is False
    assert "below 70%" in (rule.note or "")
    assert rule.coverage == 1.0


def test_categorical_conditions_read_as_is_and_is_not() -> None:
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame(
        {
            "Plan": rng.choice(["basic", "gold", "silver"], n),
            "Age": rng.uniform(18, 80, n),
        }
    )
    columns = [
        ColumnSchema(name="Plan", role="categorical", dtype="string", used=True),
        ColumnSchema(name="Age", role="numeric", dtype="float", used=True),
    ]
    member = ((frame["Plan"] == "gold") & (frame["Age"] > 50)).to_numpy()
    fit, held = split_rows(n)
    rule = segment_rule(RuleFeatures(frame, columns), member, fit, held)
    assert "Plan is gold" in rule.text
    assert "Age > 5" in rule.text  # a threshold near 50, rounded to 3 digits
    assert rule.precision is not None
    assert rule.precision >= 0.9
    assert rule.reliable


def test_split_rows_holds_back_a_quarter_without_overlap() -> None:
    fit, held = split_rows(1000, random_state=3)
    assert (fit.size, held.size) == (750, 250)
    assert not set(fit) & set(held)


# --- planted case: one column alone separates a segment ----------------------------------------


def _planted_csv() -> bytes:
    rng = np.random.default_rng(11)
    n = 400
    marker = np.where(np.arange(n) < 120, rng.normal(8.0, 0.4, n), rng.normal(0.0, 0.4, n))
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(n),
            "marker": marker.round(3),
            "noise_a": rng.normal(50, 10, n).round(2),
            "noise_b": rng.normal(5, 2, n).round(2),
        }
    )
    buf = io.StringIO()
    frame.to_csv(buf, index=False)
    return buf.getvalue().encode()


@pytest.fixture(scope="module")
def planted() -> TrainingOutput:
    return train_segments(
        _planted_csv(),
        filename="planted.csv",
        config=DatasetConfig(algorithms=["gmm", "kmeans"], k_min=2, k_max=2),
    )


def _planted_segment(out: TrainingOutput, key: str) -> int:
    """The internal label of the segment of high-marker customers."""
    segments = out.profiles.sets[key].segments
    return max(segments, key=lambda s: s.numeric["marker"].mean).label


def test_shap_ranks_the_planted_column_first(planted: TrainingOutput) -> None:
    key = planted.profiles.chosen["gmm"]
    segments = planted.profiles.sets[key]
    assert segments.shap_check is not None
    assert segments.shap_check.explained_rows == 100
    assert "shap" in planted.timings
    for segment in segments.segments:
        assert next(iter(segment.shap)) == "marker", segment.shap
        assert segment.shap["marker"] > 5 * max(segment.shap["noise_a"], segment.shap["noise_b"])


def test_exact_contributions_rank_the_planted_column_first(planted: TrainingOutput) -> None:
    params = read_serving_params(planted.artifacts["serving/params.json"])
    X = np.array(
        [[8.1, 50.0, 5.0], [0.1, 48.0, 6.0], [7.9, 70.0, 1.0], [-0.2, 30.0, 9.0]]
    )  # prepared below
    num = {n.column: n for n in params.preprocessing.numeric}
    order = ["marker", "noise_a", "noise_b"]
    prepared = np.zeros((X.shape[0], params.preprocessing.n_outputs))
    for j, column in enumerate(order):
        n = num[column]
        prepared[:, n.output] = (X[:, j] - n.mean) / n.scale
    for key in (planted.profiles.chosen["gmm"], planted.profiles.chosen["kmeans"]):
        spec = params.models[key]
        rule = load_serving_rule(spec, planted.artifacts[spec["arrays"]])
        batch = rule.assign(prepared)
        att = attribute(rule, prepared, batch)
        marker = num["marker"].output
        for i in range(X.shape[0]):
            assert int(np.argmax(np.abs(att.terms[i]))) == marker, (key, i, att.terms[i])
        high = _planted_segment(planted, key)
        assert batch.labels.tolist() == [high, 1 - high, high, 1 - high]


def test_rules_are_published_for_every_model_and_pick_the_planted_column(
    planted: TrainingOutput,
) -> None:
    for key, segments in planted.profiles.sets.items():
        assert segments.rule_check is not None, key
        for segment in segments.segments:
            assert segment.rule is not None, (key, segment.name)
    key = planted.profiles.chosen["kmeans"]
    high = _planted_segment(planted, key)
    rule = next(s.rule for s in planted.profiles.sets[key].segments if s.label == high)
    assert rule is not None
    assert [c.column for c in rule.conditions] == ["marker"]
    assert rule.precision == 1.0
    assert rule.coverage == 1.0


def test_the_report_shows_rules_and_shap_bars(planted: TrainingOutput) -> None:
    page = planted.artifacts["report.html"].decode()
    key = planted.profiles.chosen["kmeans"]
    for segment in planted.profiles.sets[key].segments:
        assert segment.rule is not None
        assert html.escape(segment.rule.text) in page
    assert page.count('class="shap"') == len(
        planted.profiles.sets[planted.profiles.chosen["gmm"]].segments
    )
    assert "held-back customers" in page


def test_shap_is_skipped_above_its_feature_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    import shared.engine.membership_shap as membership_shap

    monkeypatch.setattr(membership_shap, "MAX_FEATURES", 2)
    out = train_segments(
        _planted_csv(), filename="planted.csv", config=DatasetConfig(algorithms=["gmm"], k_max=2)
    )
    segments = out.profiles.sets[out.profiles.chosen["gmm"]]
    assert segments.shap_check is None
    assert all(not s.shap for s in segments.segments)

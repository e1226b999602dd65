"""Exact reasons at assign time (shared.serving.attribution, shared.serving.explanations).

The one property that makes them exact: for every rule kind, the per-feature terms plus the
baseline add up to the margin, and the margin is the rule's own number (a difference of squared
distances, a log-posterior ratio) computed independently here.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.cluster import DBSCAN
from sklearn.mixture import GaussianMixture

from shared.contract.config import ALL_ALGORITHMS, DatasetConfig
from shared.contract.manifest import CurrentPointer, SourceInfo
from shared.contract.profiles import NumericSummary, SegmentProfile, SegmentSet
from shared.serving.attribution import (
    NO_RUNNER_UP,
    FeatureGroups,
    attribute_core_sample,
    attribute_mixture,
)
from shared.serving.explanations import SegmentExplainer, attribute
from shared.serving.kernels import (
    NOISE_LABEL,
    assign_core_sample,
    mixture_posteriors,
    squared_distances,
)
from shared.serving.model import SegmentationModel
from shared.serving.preprocessing import InputColumn, PreprocessingParams, ScaledColumn
from shared.serving.rules import load_serving_rule
from shared.store.base import write_current
from shared.store.local import LocalModelStore
from shared.training.pipeline import train_segments
from shared.training.run import publish_version
from tests.support.explanations import reference_explanations

MALL = Path(__file__).resolve().parents[2] / "data" / "mall_customers.csv"


def _npz(**arrays: Any) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


@pytest.fixture(scope="module")
def mall(tmp_path_factory: pytest.TempPathFactory) -> SegmentationModel:
    store = LocalModelStore(tmp_path_factory.mktemp("mall"))
    config = DatasetConfig(algorithms=list(ALL_ALGORITHMS))  # the opt-in autoencoder too
    output = train_segments(MALL.read_bytes(), filename=MALL.name, dataset="mall", config=config)
    source = SourceInfo(key="uploads/mall/x.csv", sha256="0" * 64, size=1)
    publish_version(store, "mall", "v1", output, source, created_at=datetime.now(UTC))
    write_current(store, "mall", CurrentPointer(version="v1", updated_at=datetime.now(UTC)))
    return SegmentationModel.open(store, "mall", "v1")


def _mall_records(n: int, seed: int) -> list[dict[str, Any]]:
    rows = list(csv.DictReader(MALL.open()))
    rng = np.random.default_rng(seed)
    out = []
    for j in rng.integers(0, len(rows), n):
        row = rows[int(j)]
        out.append(
            {
                "Gender": row["Gender"],
                "Age": int(row["Age"]) + int(rng.integers(-5, 6)),
                "Annual Income (k$)": float(row["Annual Income (k$)"]) + float(rng.normal(0, 9)),
                "Spending Score (1-100)": int(row["Spending Score (1-100)"]),
            }
        )
    return out


def _every_model(model: SegmentationModel) -> list[tuple[str, int | None]]:
    out: list[tuple[str, int | None]] = []
    for algorithm, summary in sorted(model.manifest.algorithms.items()):
        if summary.k is None:
            out.append((algorithm, None))
        else:
            out.extend((algorithm, int(k)) for k in sorted(summary.models, key=int))
    return out


def _independent_margin(rule: Any, X: np.ndarray, labels: np.ndarray, runner: np.ndarray) -> Any:
    """The rule's own margin, computed without the attribution code."""
    v = rule.values
    if rule.kind == "nearest_centroid":
        d2 = squared_distances(X, v["centroids"])
        pos = {int(lab): i for i, lab in enumerate(v["labels"].tolist())}
        rows = np.arange(X.shape[0])
        a = np.array([pos[int(x)] for x in labels])
        b = np.array([pos[int(x)] for x in runner])
        return d2[rows, b] - d2[rows, a]
    if rule.kind == "gaussian_mixture":
        _, p, _ = mixture_posteriors(X, v["weights"], v["means"], v["precisions_cholesky"])
        assert p is not None
        pos = {int(lab): i for i, lab in enumerate(v["labels"].tolist())}
        rows = np.arange(X.shape[0])
        a = np.array([pos[int(x)] for x in labels])
        b = np.array([pos[int(x)] for x in runner])
        return np.log(p[rows, a]) - np.log(p[rows, b])
    if rule.kind == "latent_centroid":
        d2 = squared_distances(rule.encoder.encode(X), v["latent_centroids"])
        pos = {int(lab): i for i, lab in enumerate(v["labels"].tolist())}
        rows = np.arange(X.shape[0])
        a = np.array([pos[int(x)] for x in labels])
        b = np.array([pos[int(x)] for x in runner])
        return d2[rows, b] - d2[rows, a]
    return None


def test_terms_sum_to_the_rule_margin_for_every_mall_model(mall: SegmentationModel) -> None:
    records = _mall_records(300, seed=3)
    X, _, _ = mall.transform(records)
    kinds = set()
    for algorithm, k in _every_model(mall):
        rule = mall.rule(mall.choose(algorithm, k))
        kinds.add(rule.kind)
        batch = rule.assign(X)
        att = attribute(rule, X, batch)
        what = f"{algorithm} k={k}"
        np.testing.assert_allclose(
            att.terms.sum(axis=1) + att.baseline, att.margin, rtol=1e-9, atol=1e-9, err_msg=what
        )
        assert (att.margin >= -1e-9).all(), what
        has = att.runner_up != NO_RUNNER_UP
        assert (att.runner_up[has] != batch.labels[has]).all(), what
        want = _independent_margin(rule, X, batch.labels[has], att.runner_up[has])
        if want is not None:
            np.testing.assert_allclose(att.margin[has], want, rtol=1e-7, atol=1e-7, err_msg=what)
    assert kinds == {"nearest_centroid", "gaussian_mixture", "core_sample", "latent_centroid"}


def test_the_answer_lists_columns_whose_sum_is_the_margin(mall: SegmentationModel) -> None:
    records = _mall_records(80, seed=4)
    for algorithm, k in _every_model(mall):
        result = mall.assign_batch(records, algorithm=algorithm, k=k, explain=True)
        assert result.explanations is not None
        for row, explanation in zip(result.to_dicts(), result.explanations, strict=True):
            assert row["explanation"] is explanation
            if explanation["versus"] is None:
                continue
            listed = sum(c["contribution"] for c in explanation["contributions"])
            total = explanation["baseline"] + explanation["other"] + listed
            assert total == pytest.approx(explanation["margin"], abs=2e-6)
            # One entry per input column: Gender's two one-hot slots come back as one column.
            columns = [c["column"] for c in explanation["contributions"]]
            assert len(columns) == len(set(columns)) == 3
            assert set(columns) <= {"Gender", "Age", "Annual Income (k$)", "Spending Score (1-100)"}
            assert explanation["versus"]["segment_id"] != row["segment_id"]


def test_values_are_in_original_units_with_the_segment_means(mall: SegmentationModel) -> None:
    customer = {
        "Gender": "Female",
        "Age": 31,
        "Annual Income (k$)": 120,
        "Spending Score (1-100)": 90,
    }
    (row,) = mall.assign_batch([customer], explain=True).to_dicts()
    segments = mall.segment_set(mall.choose())
    own = next(s for s in segments.segments if s.segment_id == row["segment_id"])
    by_column = {c["column"]: c for c in row["explanation"]["contributions"]}
    income = by_column["Annual Income (k$)"]
    assert income["value"] == pytest.approx(120)
    assert income["segment_mean"] == pytest.approx(own.numeric["Annual Income (k$)"].mean, rel=1e-5)
    # Compared with the mean of the segment it pushed towards.
    if income["contribution"] >= 0:
        assert income["text"].startswith(
            f"Annual Income (k$) 120 vs segment mean {income['segment_mean']:.4g} "
        )
    else:
        assert income["text"].startswith(
            f"Annual Income (k$) 120 vs runner-up mean {income['versus_mean']:.4g} "
        )
    assert "pushed towards" in income["text"]
    # The largest contribution comes first.
    amounts = [abs(c["contribution"]) for c in row["explanation"]["contributions"]]
    assert amounts == sorted(amounts, reverse=True)


def test_explain_is_off_by_default(mall: SegmentationModel) -> None:
    result = mall.assign_batch(_mall_records(3, seed=5))
    assert result.explanations is None
    assert "explanation" not in result.to_dicts()[0]


def test_full_covariance_mixture_splits_the_log_posterior_ratio_exactly() -> None:
    rng = np.random.default_rng(0)
    cov = np.array([[1.0, 0.8, 0.0], [0.8, 1.0, 0.3], [0.0, 0.3, 1.0]])
    X = np.vstack(
        [
            rng.multivariate_normal([0, 0, 0], cov, 200),
            rng.multivariate_normal([3, 1, -2], cov * 0.5, 150),
            rng.multivariate_normal([-2, 3, 1], np.eye(3), 100),
        ]
    )
    gmm = GaussianMixture(3, covariance_type="full", random_state=0).fit(X)
    log_p = np.log(gmm.predict_proba(X))
    assigned = log_p.argmax(axis=1)
    att = attribute_mixture(X, gmm.weights_, gmm.means_, gmm.precisions_cholesky_, assigned)
    rows = np.arange(X.shape[0])
    np.testing.assert_allclose(att.margin, log_p[rows, assigned] - log_p[rows, att.runner_up])
    np.testing.assert_allclose(att.terms.sum(axis=1) + att.baseline, att.margin, atol=1e-9)
    # Correlated features: some terms are negative, and the split still adds up.
    assert (att.terms < 0).any()


def test_dbscan_margins_inside_and_for_noise() -> None:
    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal(0, 0.3, (60, 2)), rng.normal(4, 0.3, (60, 2))])
    fit = DBSCAN(eps=0.6, min_samples=4).fit(X)
    components = X[fit.core_sample_indices_]
    core_labels = fit.labels_[fit.core_sample_indices_].astype(np.int64)
    spec = {"kind": "core_sample", "n_features": 2, "eps": 0.6}
    rule = load_serving_rule(
        spec,
        _npz(components=components, core_labels=core_labels, labels=np.array([0, 1])),
    )
    new = np.array([[0.1, 0.2], [3.9, 4.1], [2.0, 2.0], [9.0, 9.0]])
    batch = rule.assign(new)
    assert batch.labels.tolist() == [0, 1, -1, -1]
    att = attribute(rule, new, batch)
    np.testing.assert_allclose(att.terms.sum(axis=1) + att.baseline, att.margin, atol=1e-12)
    d2 = squared_distances(new, components)
    for i, label in enumerate([0, 1]):
        mine = d2[i, core_labels == label].min()
        other = d2[i, core_labels != label].min()
        assert att.margin[i] == pytest.approx(other - mine)
        assert att.runner_up[i] == 1 - label
    for i in (2, 3):  # noise: squared distance to the nearest core sample beyond eps^2
        assert att.noise[i]
        assert att.margin[i] == pytest.approx(d2[i].min() - 0.36)
        assert att.baseline[i] == pytest.approx(-0.36)
        assert att.runner_up[i] == core_labels[d2[i].argmin()]


def test_dbscan_feature_weights_are_applied_before_splitting() -> None:
    components = np.array([[0.0, 0.0], [2.0, 0.0]])
    weights = np.array([2.0, 1.0])
    c = components
    direct = attribute_core_sample(
        np.array([[0.3, 0.0]]) * weights,
        c,
        np.array([0, 1]),
        1.0,
        assign_core_sample(
            np.array([[0.3, 0.0]]) * weights, c, (c**2).sum(1), np.array([0, 1]), 1.0
        ),
    )
    rule = load_serving_rule(
        {"kind": "core_sample", "n_features": 2, "eps": 1.0},
        _npz(components=c, core_labels=np.array([0, 1]), labels=np.array([0, 1]),
             feature_weights=weights),
    )  # fmt: skip
    X = np.array([[0.3, 0.0]])
    att = attribute(rule, X, rule.assign(X))
    assert att.margin.tolist() == direct.margin.tolist() == [(2.0 - 0.6) ** 2 - 0.6**2]


def test_one_hot_slots_add_back_into_their_column(mall: SegmentationModel) -> None:
    groups = FeatureGroups.from_preprocessing(mall.serving_params().preprocessing)
    assert set(groups.columns) == {"Gender", "Age", "Annual Income (k$)", "Spending Score (1-100)"}
    assert groups.matrix.sum(axis=1).tolist() == [1.0] * groups.matrix.shape[0]
    gender = groups.columns.index("Gender")
    assert groups.matrix[:, gender].sum() == 2  # Female and Male slots


def test_a_single_segment_model_has_no_runner_up() -> None:
    rule = load_serving_rule(
        {"kind": "nearest_centroid", "n_features": 1},
        _npz(centroids=np.array([[0.0]]), labels=np.array([0]), thresholds=np.array([9.0])),
    )

    params = PreprocessingParams(
        (InputColumn("x", "numeric", False),), 1, (ScaledColumn("x", 0, 0.0, False, 0.0, 1.0),), ()
    )
    segments = SegmentSet(
        algorithm="kmeans",
        k=1,
        n_segments=1,
        segments=[
            SegmentProfile(segment_id=0, label=0, name="All", description="", size=1, share=1)
        ],
    )
    X = np.array([[1.0]])
    (explanation,) = SegmentExplainer(rule, params, segments).explain(X, rule.assign(X))
    assert explanation["versus"] is None
    assert explanation["contributions"] == []


def test_dbscan_with_a_single_segment_is_compared_with_the_outliers() -> None:
    components = np.array([[0.0, 0.0], [0.5, 0.0]])
    rule = load_serving_rule(
        {"kind": "core_sample", "n_features": 2, "eps": 1.0},
        _npz(components=components, core_labels=np.array([0, 0]), labels=np.array([0])),
    )
    X = np.array([[0.1, 0.3], [3.0, 0.0]])
    batch = rule.assign(X)
    att = attribute(rule, X, batch)
    assert att.runner_up.tolist() == [-1, 0]
    # Inside: eps^2 minus the squared distance to the nearest core sample.
    assert att.margin[0] == pytest.approx(1.0 - (0.1**2 + 0.3**2))
    assert att.baseline[0] == 1.0
    assert att.terms[0].tolist() == pytest.approx([-(0.1**2), -(0.3**2)])
    assert att.margin[1] == pytest.approx(2.5**2 - 1.0)  # noise: beyond eps


def test_a_push_towards_the_runner_up_is_compared_with_its_mean(mall: SegmentationModel) -> None:
    records = _mall_records(200, seed=8)
    result = mall.assign_batch(records, explain=True)
    assert result.explanations is not None
    against = [
        c
        for e in result.explanations
        for c in e["contributions"]
        if c["contribution"] < 0 and "versus_mean" in c
    ]
    assert against, "no customer had a column pulling towards the runner-up"
    for c in against:
        assert f"vs runner-up mean {c['versus_mean']:.4g}" in c["text"]


def test_unseen_categories_and_imputed_values_are_explained(mall: SegmentationModel) -> None:
    customers: list[dict[str, Any]] = [
        {"Gender": "Robot", "Age": 30, "Annual Income (k$)": 60, "Spending Score (1-100)": 50},
        {"Gender": "Female", "Age": None, "Annual Income (k$)": 70, "Spending Score (1-100)": 77},
    ]
    X, _, _ = mall.transform(customers)
    params = mall.serving_params().preprocessing
    fill = next(n.fill for n in params.numeric if n.column == "Age")
    for algorithm, k in _every_model(mall):
        choice = mall.choose(algorithm, k)
        rule = mall.rule(choice)
        explainer = SegmentExplainer(rule, params, mall.segment_set(choice), top=4)
        unseen, imputed = explainer.explain(X, rule.assign(X))
        if unseen["versus"] is None:
            continue
        gender = next(c for c in unseen["contributions"] if c["column"] == "Gender")
        assert gender["value"] is None
        assert gender["text"].startswith("Gender (unseen category)")
        age = next(c for c in imputed["contributions"] if c["column"] == "Age")
        assert age["value"] == pytest.approx(fill)  # the training fill value


# --- the column-wise answer against the row-by-row reference -----------------------------------


def _awkward_records() -> list[dict[str, Any]]:
    """Unseen and missing categories, imputed and far-out numbers, fractional values."""
    return [
        {"Gender": "Robot", "Age": 30, "Annual Income (k$)": 60, "Spending Score (1-100)": 50},
        {"Gender": None, "Age": None, "Annual Income (k$)": 70.25, "Spending Score (1-100)": 77},
        {"Gender": "Male", "Age": 95, "Annual Income (k$)": 900, "Spending Score (1-100)": -40},
        {"Gender": "Female", "Age": 18.5, "Annual Income (k$)": 0, "Spending Score (1-100)": 1},
    ]


def _grid_records(n: int, seed: int) -> list[dict[str, Any]]:
    """Mall rows as they are: customers and values repeat (few distinct sentences)."""
    rows = list(csv.DictReader(MALL.open()))
    picks = np.random.default_rng(seed).integers(0, len(rows), n)
    return [
        {"Gender": rows[j]["Gender"]} | {c: int(rows[j][c]) for c in _NUMBERS}
        for j in picks.tolist()
    ]


def _continuous_records(n: int, seed: int) -> list[dict[str, Any]]:
    """Every number off the grid: nearly every contribution has a value of its own."""
    rng = np.random.default_rng(seed)
    return [
        r | {c: round(float(r[c]) + float(rng.normal(0, 3)), 2) for c in _NUMBERS}
        for r in _grid_records(n, seed)
    ]


_NUMBERS = ("Age", "Annual Income (k$)", "Spending Score (1-100)")


@pytest.mark.parametrize(
    ("values", "top"),
    [("grid", 1), ("grid", 3), ("continuous", 1), ("continuous", 3), ("continuous", 4)],
)
def test_every_mall_model_answers_as_the_row_by_row_reference(
    mall: SegmentationModel, values: str, top: int
) -> None:
    # Repeated values share one mapping per (template, value); distinct ones are built per
    # contribution: both routes must give the reference's answer.
    if values == "grid":
        records = _grid_records(2000, seed=11) + _awkward_records()
    else:
        records = _continuous_records(300, seed=11) + _awkward_records()
    X, _, _ = mall.transform(records)
    params = mall.serving_params().preprocessing
    kinds, noise, towards_runner_up = set(), 0, 0
    for algorithm, k in _every_model(mall):
        choice = mall.choose(algorithm, k)
        rule, segments = mall.rule(choice), mall.segment_set(choice)
        batch = rule.assign(X)
        got = SegmentExplainer(rule, params, segments, top=top).explain(X, batch)
        want = reference_explanations(rule, params, segments, X, batch, top=top)
        # The JSON text pins key order and float values; == pins types (lists, not tuples).
        assert json.dumps(got) == json.dumps(want), f"{algorithm} k={k}"
        assert got == want, f"{algorithm} k={k}"
        kinds.add(rule.kind)
        noise += int((batch.labels == NOISE_LABEL).sum())
        towards_runner_up += sum(c["contribution"] < 0 for e in got for c in e["contributions"])
        listed = [c for e in got for c in e["contributions"]]
        sentences = {(c["column"], c["text"]) for c in listed}
        if values == "grid":
            assert 2 * len(sentences) < len(listed), f"{algorithm} k={k}"
        else:
            assert 2 * len(sentences) > len(listed), f"{algorithm} k={k}"
    assert kinds == {"nearest_centroid", "gaussian_mixture", "core_sample", "latent_centroid"}
    assert noise > 0  # DBSCAN noise customers were explained
    assert towards_runner_up > 0


def _one_column(x: list[float]) -> tuple[PreprocessingParams, np.ndarray]:
    params = PreprocessingParams(
        (InputColumn("x", "numeric", False),), 1, (ScaledColumn("x", 0, 0.0, False, 0.0, 1.0),), ()
    )
    return params, np.array(x)[:, None]


def _segments(*names: str) -> SegmentSet:
    profiles = [
        SegmentProfile(
            segment_id=10 + i,
            label=i,
            name=name,
            description="",
            size=1,
            share=1 / len(names),
            numeric={"x": NumericSummary(mean=i - 0.5, median=0, q1=0, q3=0, min=0, max=0, std=1)},
        )
        for i, name in enumerate(names)
    ]
    return SegmentSet(algorithm="kmeans", k=len(names), n_segments=len(names), segments=profiles)


def test_hand_built_rules_answer_as_the_row_by_row_reference() -> None:
    # A tiny negative value rounds to -0.0: "x -0" in its text, not the sentence of 0.0 (equal
    # to it as a float, so a cache keyed by value would hand it over).
    params, X = _one_column([0.0, -1e-12, 2.5, -1.0, 0.0, 7.0])
    centroids = load_serving_rule(
        {"kind": "nearest_centroid", "n_features": 1},
        _npz(centroids=np.array([[-1.0], [1.0]]), labels=np.array([0, 1]),
             thresholds=np.array([9.0, 9.0])),
    )  # fmt: skip
    one_segment = load_serving_rule(
        {"kind": "core_sample", "n_features": 1, "eps": 1.0},
        _npz(components=np.array([[0.0], [0.5]]), core_labels=np.array([0, 0]),
             labels=np.array([0])),
    )  # fmt: skip
    single = load_serving_rule(
        {"kind": "nearest_centroid", "n_features": 1},
        _npz(centroids=np.array([[0.0]]), labels=np.array([0]), thresholds=np.array([9.0])),
    )
    cases = [(centroids, _segments("Low", "High")), (one_segment, _segments("Only")),
             (single, _segments("All"))]  # fmt: skip
    texts: list[str] = []
    for rule, segments in cases:
        batch = rule.assign(X)
        got = SegmentExplainer(rule, params, segments).explain(X, batch)
        assert json.dumps(got) == json.dumps(
            reference_explanations(rule, params, segments, X, batch, top=3)
        )
        texts.extend(c["text"] for e in got for c in e["contributions"])
    assert any(t.startswith("x -0 ") for t in texts)
    assert any(t.startswith("x 0 ") for t in texts)
    assert any("kept the customer away" in t for t in texts)  # DBSCAN noise

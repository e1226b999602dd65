"""train_segments end to end: tiny hand-checkable data and the Mall acceptance test."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.contract.config import DatasetConfig
from shared.contract.layout import model_artifact_path
from shared.contract.profiles import ProfileCatalog
from shared.engine.loading import read_table
from shared.engine.persistence import load_artifact
from shared.engine.schema import MAX_CATEGORY_CHARS, prepare_frame
from shared.exceptions import DataValidationError
from shared.training.pipeline import (
    ASSIGNMENTS_FORMULA_PREFIXES,
    TrainingOutput,
    train_segments,
)

MALL = Path(__file__).resolve().parents[2] / "data" / "mall_customers.csv"
MALL_FEATURES = ["Annual Income (k$)", "Spending Score (1-100)"]
SMALL_CONFIG = DatasetConfig(k_max=4)


def three_groups_csv() -> bytes:
    """36 customers in three well-separated groups of 12 (rows 0-11, 12-23, 24-35)."""
    rng = np.random.default_rng(0)
    centers = [(20.0, 20.0), (80.0, 20.0), (50.0, 90.0)]
    rows = []
    for group, (income, spend) in enumerate(centers):
        for i in range(12):
            rows.append(
                {
                    "CustomerID": f"C{group}{i:02d}",
                    "Income": round(income + rng.normal(0, 2), 2),
                    "Spending": round(spend + rng.normal(0, 2), 2),
                }
            )
    rows[0]["CustomerID"] = "=HYPERLINK(1)"
    rows[1]["CustomerID"] = "-5"
    return pd.DataFrame(rows).to_csv(index=False).encode()


@pytest.fixture(scope="module")
def small() -> TrainingOutput:
    return train_segments(three_groups_csv(), filename="groups.csv", config=SMALL_CONFIG)


def assignments(output: TrainingOutput) -> pd.DataFrame:
    raw = gzip.decompress(output.artifacts["assignments.csv.gz"])
    return pd.read_csv(io.BytesIO(raw), dtype={"CustomerID": str})


def test_every_artifact_is_written(small: TrainingOutput) -> None:
    models = {
        model_artifact_path(a, k) for a in ("kmeans", "agglomerative", "gmm") for k in (2, 3, 4)
    }
    models.add("models/dbscan.skops")
    keys = {p.removeprefix("models/").removesuffix(".skops") for p in models}
    expected = {
        "preprocessor.skops",
        "profiles.json",
        "evaluation.json",
        "plots.json",
        "report.html",
        "assignments.csv.gz",
        "serving/params.json",  # the API's numpy-only bundle (shared/serving/)
    }
    expected |= models | {f"serving/{key}.npz" for key in keys}
    assert set(small.artifacts) == expected
    assert set(small.profiles.sets) == keys
    ProfileCatalog.model_validate_json(small.artifacts["profiles.json"])
    json.loads(small.artifacts["evaluation.json"])
    json.loads(small.artifacts["plots.json"])


def test_three_groups_give_k3_with_exact_membership(small: TrainingOutput) -> None:
    table = assignments(small)
    for algorithm in ("kmeans", "agglomerative", "gmm"):
        assert small.algorithms[algorithm].k == 3, small.evaluation.sweeps[algorithm].reason
        ids = table[algorithm].to_numpy()
        groups = [set(ids[0:12]), set(ids[12:24]), set(ids[24:36])]
        assert all(len(g) == 1 for g in groups), algorithm
        assert len(set.union(*groups)) == 3
    assert small.champion in small.algorithms


def test_summaries_point_at_every_model(small: TrainingOutput) -> None:
    for algorithm, summary in small.algorithms.items():
        if algorithm == "dbscan":
            assert summary.k is None
            assert summary.models == {str(summary.n_segments): "models/dbscan.skops"}
        else:
            assert summary.models == {str(k): model_artifact_path(algorithm, k) for k in (2, 3, 4)}
            assert summary.artifact == summary.models[str(summary.k)]
        assert summary.assignment_rule
        assert summary.rule_agreement is not None
        assert 0.0 <= summary.rule_agreement <= 1.0
        assert summary.fit_rows == 36
    assert small.selection.k_rule
    assert small.selection.champion_rule
    assert small.evaluation.dendrogram is not None


def test_assignments_csv_has_ids_and_neutralised_formulas(small: TrainingOutput) -> None:
    table = assignments(small)
    assert list(table.columns) == ["CustomerID", "kmeans", "agglomerative", "dbscan", "gmm"]
    assert table["CustomerID"].tolist()[:3] == ["'=HYPERLINK(1)", "'-5", "C002"]
    assert len(table) == 36


def test_persisted_models_reproduce_the_training_segments(small: TrainingOutput) -> None:
    frame = read_table(three_groups_csv(), filename="groups.csv")
    transformer = load_artifact(small.artifacts["preprocessor.skops"])
    X = transformer.transform(prepare_frame(frame, small.columns))
    table = assignments(small)
    for algorithm, summary in small.algorithms.items():
        assigner = load_artifact(small.artifacts[summary.artifact])
        key = summary.artifact.removeprefix("models/").removesuffix(".skops")
        mapping = small.profiles.sets[key].label_to_segment()
        ids = [mapping[int(label)].segment_id for label in assigner.predict(X)]
        agree = np.mean(np.array(ids) == table[algorithm].to_numpy())
        if algorithm in ("kmeans", "gmm"):
            assert agree == 1.0, algorithm
        else:
            assert agree == pytest.approx(summary.rule_agreement), algorithm


def test_stage_timings_cover_the_run_in_order(small: TrainingOutput) -> None:
    fits = [f"fit:{a}" for a in SMALL_CONFIG.algorithms]
    assert list(small.timings) == [
        "read",
        "clean",
        "prepare",
        *fits,
        "fit",
        "metrics",
        "selection",
        "structure",
        "profiles",
        "rules",
        *(["shap"] if "gmm" in SMALL_CONFIG.algorithms else []),
        "summaries",
        "report",
        "artifacts",
    ]
    assert all(seconds >= 0.0 for seconds in small.timings.values()), small.timings
    assert sum(small.timings.values()) > 0.0


def test_stage_timings_stay_out_of_the_artifacts() -> None:
    config = DatasetConfig(k_max=3, algorithms=["kmeans", "dbscan"])
    output = train_segments(three_groups_csv(), filename="groups.csv", config=config)
    assert [k for k in output.timings if k.startswith("fit:")] == ["fit:kmeans", "fit:dbscan"]
    for path in ("evaluation.json", "plots.json", "profiles.json"):
        text = output.artifacts[path].decode("utf-8")
        assert "fit:kmeans" not in text, path
        assert '"timings"' not in text, path


TIMINGS = ("fit_seconds", "linkage_seconds", "seconds")


def without_timings(node: object) -> object:
    """A JSON document minus its wall-clock timings (the only part allowed to differ)."""
    if isinstance(node, dict):
        return {k: without_timings(v) for k, v in node.items() if k not in TIMINGS}
    if isinstance(node, list):
        return [without_timings(v) for v in node]
    return node


def test_retraining_is_identical_and_keeps_ids(small: TrainingOutput) -> None:
    again = train_segments(three_groups_csv(), filename="groups.csv", config=SMALL_CONFIG)
    differing = [p for p, data in small.artifacts.items() if again.artifacts[p] != data]
    assert set(differing) <= {"evaluation.json", "plots.json", "report.html"}, differing
    for path in ("evaluation.json", "plots.json"):
        assert without_timings(json.loads(again.artifacts[path])) == without_timings(
            json.loads(small.artifacts[path])
        ), path
    stable = train_segments(
        three_groups_csv(), filename="groups.csv", config=SMALL_CONFIG, previous=small.profiles
    )
    assert stable.artifacts["assignments.csv.gz"] == small.artifacts["assignments.csv.gz"]
    for key, segments in small.profiles.sets.items():
        before = [(s.segment_id, s.name, s.size) for s in segments.segments]
        assert [
            (s.segment_id, s.name, s.size) for s in stable.profiles.sets[key].segments
        ] == before


def test_mall_kmeans_k5_reaches_published_silhouette() -> None:
    output = train_segments(
        MALL.read_bytes(),
        filename="mall_customers.csv",
        config=DatasetConfig(features=MALL_FEATURES),
        dataset="mall",
    )
    kmeans = output.algorithms["kmeans"]
    assert kmeans.k == 5, output.evaluation.sweeps["kmeans"].reason
    assert kmeans.metrics.silhouette is not None
    assert kmeans.metrics.silhouette >= 0.55
    names = {s.name.lower() for s in output.profiles.sets["kmeans-k5"].segments}
    for income in ("high income", "low income"):
        for spending in ("high spending", "low spending"):
            assert f"{income}, {spending}" in names, names
    for algorithm in ("agglomerative", "gmm"):
        assert output.algorithms[algorithm].k == 5
    assert output.champion == "kmeans"


@st.composite
def messy_tables(draw: st.DrawFn) -> bytes:
    """Small tables of numbers, blanks, duplicates, constants and categories."""
    n_rows = draw(st.integers(min_value=0, max_value=40))
    n_numeric = draw(st.integers(min_value=0, max_value=3))
    n_categorical = draw(st.integers(min_value=0, max_value=2))
    number = st.one_of(
        st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
        st.sampled_from([0.0, 1.0, 1.0, 1.0]),
        st.none(),
    )
    columns: dict[str, list[object]] = {}
    for j in range(n_numeric):
        columns[f"n{j}"] = draw(st.lists(number, min_size=n_rows, max_size=n_rows))
    for j in range(n_categorical):
        category = st.one_of(st.sampled_from(["a", "b", "c"]), st.none())
        columns[f"c{j}"] = draw(st.lists(category, min_size=n_rows, max_size=n_rows))
    return pd.DataFrame(columns).to_csv(index=False).encode()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messy_tables())
def test_messy_tables_train_or_raise_data_validation_error(data: bytes) -> None:
    try:
        output = train_segments(data, filename="messy.csv", config=DatasetConfig(k_max=4))
    except DataValidationError:
        return
    assert output.champion in output.algorithms
    assert set(output.profiles.sets) >= {"kmeans-k2", "dbscan"}


def test_fits_side_by_side_give_the_fits_one_after_the_other(
    small: TrainingOutput, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shared.training.pipeline

    monkeypatch.setattr(shared.training.pipeline, "FIT_WORKERS", 2)
    monkeypatch.setattr(shared.training.pipeline, "CONCURRENT_FIT_ROWS", 0)  # force the thread pool
    side_by_side = train_segments(three_groups_csv(), filename="groups.csv", config=SMALL_CONFIG)
    assert list(side_by_side.timings) == list(small.timings)
    fits = [small.timings.get(f"fit:{a}", -1.0) for a in SMALL_CONFIG.algorithms]
    assert all(seconds >= 0.0 for seconds in fits), small.timings
    for path, data in small.artifacts.items():
        if path in ("evaluation.json", "plots.json"):
            assert without_timings(json.loads(side_by_side.artifacts[path])) == without_timings(
                json.loads(data)
            ), path
        elif path != "report.html":
            assert side_by_side.artifacts[path] == data, path


def test_a_formula_like_id_column_name_is_neutralised_in_the_header() -> None:
    name = '=HYPERLINK("http://127.0.0.1/x","click")'
    frame = pd.read_csv(io.BytesIO(three_groups_csv())).rename(columns={"CustomerID": name})
    output = train_segments(
        frame.to_csv(index=False).encode(),
        filename="groups.csv",
        config=DatasetConfig(k_max=4, algorithms=["kmeans"], id_column=name),
    )
    raw = gzip.decompress(output.artifacts["assignments.csv.gz"]).decode()
    header = next(csv.reader(io.StringIO(raw)))
    assert header == ["'" + name, "kmeans"]
    assert not [c for c in header if c.startswith(ASSIGNMENTS_FORMULA_PREFIXES)]


def test_a_huge_cell_is_never_copied_into_the_version() -> None:
    frame = pd.read_csv(io.BytesIO(three_groups_csv()))
    frame["Channel"] = ["web", "store", "phone"] * 12
    frame["Channel"] = frame["Channel"].astype(object)
    frame.loc[4, "Channel"] = "=" + "x" * 300_000
    output = train_segments(
        frame.to_csv(index=False).encode(),
        filename="groups.csv",
        config=DatasetConfig(k_max=4, algorithms=["kmeans"]),
    )
    roles = {c.name: (c.role, c.reason) for c in output.columns}
    assert roles["Channel"] == (
        "dropped",
        f"text with a value of 300001 characters (a category label is at most "
        f"{MAX_CATEGORY_CHARS})",
    )
    for path, blob in output.artifacts.items():
        if path.endswith((".json", ".html")):
            assert b"x" * 1_000 not in blob, path

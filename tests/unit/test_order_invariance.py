"""The same rows in any order publish the same result (shared/engine/row_order.py + pipeline)."""

from __future__ import annotations

import gzip
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import shared.engine.clustering as clustering
import shared.engine.schema as schema
import shared.engine.stability as stability
import shared.report.plot_data as plot_data
import shared.training.pipeline as pipeline
from shared.contract.config import DatasetConfig
from shared.engine.row_order import canonical_order, row_hashes, upload_order
from shared.training.pipeline import TrainingOutput, train_segments

MALL = Path(__file__).resolve().parents[2] / "data" / "mall_customers.csv"
TIMING_KEYS = {"fit_seconds", "linkage_seconds", "seconds"}


def mixed_table(n: int = 420, seed: int = 1) -> pd.DataFrame:
    """Customers with an id, three numeric columns, a categorical plan, a signup date and tied
    feature rows."""
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 3, n)
    centres = np.array([[25.0, 30.0, 70.0], [45.0, 80.0, 20.0], [60.0, 40.0, 45.0]])
    values = centres[group] + rng.normal(0, 6.0, (n, 3))
    plans = np.array(["basic", "plus", "premium"])
    plan = np.where(rng.random(n) < 0.8, plans[group], plans[(group + 1) % 3])
    signup = pd.Timestamp("2024-01-01") - pd.to_timedelta(rng.integers(0, 900, n), unit="D")
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i:04d}" for i in range(n)],
            "age": values[:, 0].round(0),
            "income": values[:, 1].round(1),
            "spend": values[:, 2].round(1),
            "plan": plan,
            "signup": signup.strftime("%d/%m/%Y"),  # day first: the format is inferred
        }
    )
    # Ties: 30 customers share another customer's features exactly.
    copies = rng.choice(n, 30, replace=False)
    features = ["age", "income", "spend", "plan", "signup"]
    frame.loc[copies[:15], features] = frame.loc[copies[15:], features].to_numpy()
    return frame


def numeric_table(n: int = 1_200, seed: int = 2) -> pd.DataFrame:
    """No id column, four numeric columns from four groups, and exact duplicate rows."""
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 4, n)
    centres = rng.normal(0, 4.0, (4, 4))
    values = (centres[group] + rng.normal(0, 1.0, (n, 4))).round(2)
    frame = pd.DataFrame(values, columns=["visits", "basket", "tenure", "returns"])
    return pd.concat([frame, frame.iloc[:40]], ignore_index=True)  # 40 identical rows twice


def csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def shuffled(frame: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    order = np.random.default_rng(seed).permutation(len(frame))
    return frame.iloc[order].reset_index(drop=True), order


def assignments(output: TrainingOutput) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(gzip.decompress(output.artifacts["assignments.csv.gz"])))


def comparable(value: Any) -> Any:
    """A document with its timings removed (they are diagnostics, not results)."""
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items() if k not in TIMING_KEYS}
    if isinstance(value, list):
        return [comparable(v) for v in value]
    return value


def assert_same(a: Any, b: Any, path: str = "") -> None:
    """Equal structures; numbers equal to 1e-9 relative."""
    if isinstance(a, dict):
        assert isinstance(b, dict), path
        assert a.keys() == b.keys(), path
        for key in a:
            assert_same(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        assert isinstance(b, list), path
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and not isinstance(b, bool):
        assert isinstance(b, int | float), path
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) or (
            math.isnan(a) and math.isnan(b)
        ), f"{path}: {a} != {b}"
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def published(output: TrainingOutput) -> dict[str, Any]:
    """Everything a version publishes about its result (not the per-row order, not timings)."""
    return comparable(
        {
            "champion": output.champion,
            "algorithms": {a: s.model_dump() for a, s in output.algorithms.items()},
            "selection": output.selection.model_dump(),
            "schema": [c.model_dump() for c in output.columns],
            "rows": output.rows.model_dump(),
            "profiles": output.profiles.model_dump(),
            "evaluation": output.evaluation.model_dump(),
            "warnings": output.warnings,
        }
    )


def test_canonical_order_depends_on_content_only() -> None:
    frame = mixed_table(60)
    a, positions = canonical_order(frame)
    b, _ = canonical_order(frame.iloc[::-1])
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(frame.iloc[positions].reset_index(drop=True), a)
    assert np.all(np.diff(row_hashes(a).astype(np.float64)) >= 0)
    assert upload_order(positions).tolist() == np.argsort(positions).tolist()


def test_shuffled_mixed_table_publishes_the_same_result(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schema, "_DATE_SAMPLE", 20)  # the date format is inferred from a sample
    frame = mixed_table()
    mixed, order = shuffled(frame, seed=5)
    config = DatasetConfig(k_max=6)
    a = train_segments(csv(frame), filename="a.csv", config=config)
    b = train_segments(csv(mixed), filename="b.csv", config=config)

    assert any(c.role == "categorical" and c.used for c in a.columns)
    assert [c.date_format for c in a.columns if c.role == "date" and c.used] == ["%d/%m/%Y"]
    assert_same(published(a), published(b))
    assert_same(*(comparable(json.loads(o.artifacts["plots.json"])) for o in (a, b)))
    # Per-row output in each upload's own order, the same segment per customer.
    rows_a, rows_b = assignments(a), assignments(b)
    assert rows_a["customer_id"].tolist() == frame["customer_id"].tolist()
    assert rows_b["customer_id"].tolist() == mixed["customer_id"].tolist()
    pd.testing.assert_frame_equal(rows_a.iloc[order].reset_index(drop=True), rows_b)


@pytest.fixture
def small_caps(monkeypatch: pytest.MonkeyPatch) -> int:
    """Every sample cap far below the table's size, so sampling decides what the fits see."""
    cap = 300
    for name in (
        "KMEANS_SAMPLE_CAP",
        "AGGLOMERATIVE_SAMPLE_CAP",
        "DBSCAN_SAMPLE_CAP",
        "GMM_SAMPLE_CAP",
        "KDIST_QUERY_CAP",
    ):
        monkeypatch.setattr(clustering, name, cap)
    monkeypatch.setattr(pipeline, "SILHOUETTE_SAMPLE_CAP", 250)
    monkeypatch.setattr(pipeline, "METRIC_SAMPLE_CAP", 400)
    monkeypatch.setattr(stability, "STABILITY_POOL_ROWS", 200)
    monkeypatch.setattr(schema, "_DISTINCT_SAMPLE", 100)
    monkeypatch.setattr(plot_data, "TSNE_MAX_POINTS", 100)
    return cap


def test_shuffled_table_larger_than_the_sample_caps_publishes_the_same_result(
    small_caps: int,
) -> None:
    frame = numeric_table()
    config = DatasetConfig(k_max=6)
    a = train_segments(csv(frame), filename="a.csv", config=config)
    assert {s.fit_rows for s in a.algorithms.values()} == {small_caps}
    assert a.evaluation.silhouette_sample == 250
    for seed in (11, 12):
        mixed, order = shuffled(frame, seed)
        b = train_segments(csv(mixed), filename="b.csv", config=config)
        assert_same(published(a), published(b))
        # No id column: compare (row, segments) as multisets; identical rows are
        # interchangeable.
        rows_a = pd.concat([frame, assignments(a)], axis=1).iloc[order]
        rows_b = pd.concat([mixed, assignments(b)], axis=1)
        key = list(rows_a.columns)
        pd.testing.assert_frame_equal(
            rows_a.sort_values(key).reset_index(drop=True),
            rows_b.sort_values(key).reset_index(drop=True),
        )


def test_mall_without_config_is_order_invariant() -> None:
    frame = pd.read_csv(MALL)
    mixed, _ = shuffled(frame, seed=3)
    a = train_segments(csv(frame), filename="mall.csv")
    b = train_segments(csv(mixed), filename="mall.csv")
    assert_same(published(a), published(b))

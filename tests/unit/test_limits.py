"""The prepared matrix's limits (issue 16, item 1): counted from the schema, before it is built;
and wide matrices fitted with diagonal mixtures that the API serves like any other model."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from shared.contract.config import DatasetConfig
from shared.contract.manifest import ColumnSchema, CurrentPointer, SourceInfo
from shared.engine.clustering import GMM_FULL_COVARIANCE_MAX_FEATURES
from shared.engine.limits import MAX_FEATURE_WIDTH, check_matrix_size, feature_width
from shared.exceptions import TooManyFeaturesError
from shared.serving.model import SegmentationModel
from shared.store.base import write_current
from shared.store.local import LocalModelStore
from shared.training.pipeline import train_segments
from shared.training.run import publish_version


def _numeric(name: str) -> ColumnSchema:
    return ColumnSchema(name=name, role="numeric", dtype="float", used=True)


def _categorical(name: str, n: int) -> ColumnSchema:
    categories = [f"{name}{i}" for i in range(n)]
    return ColumnSchema(name=name, role="categorical", dtype="string", used=True,
                        categories=categories)  # fmt: skip


def test_width_counts_one_hot_columns_and_ignores_unused_ones() -> None:
    dropped = ColumnSchema(name="Notes", role="dropped", dtype="string", used=False)
    columns = [_numeric("Age"), _categorical("City", 7), dropped]
    assert feature_width(columns) == 8
    assert check_matrix_size(columns, 1_000) == 8


def test_a_wide_one_hot_is_refused_naming_the_widest_columns() -> None:
    columns = [_numeric("Age"), _categorical("Code", 1_500), _categorical("Zip", 600)]
    with pytest.raises(TooManyFeaturesError) as e:
        check_matrix_size(columns, 700)
    assert str(e.value) == (
        "the features are 2,101 columns wide after one-hot encoding (700 rows); the limit is "
        "2,000 (MAX_FEATURE_WIDTH); widest: 'Code' (1,500 categories), 'Zip' (600 categories). "
        "Exclude columns or name fewer features in the dataset config"
    )
    at_limit = [_numeric(f"x{i}") for i in range(MAX_FEATURE_WIDTH)]
    assert check_matrix_size(at_limit, 10) == MAX_FEATURE_WIDTH


def test_too_many_values_is_refused_even_when_narrow_enough() -> None:
    columns = [_numeric(f"x{i}") for i in range(100)]
    assert check_matrix_size(columns, 2_000_000) == 100  # 200M values: at the limit
    with pytest.raises(TooManyFeaturesError, match=r"\(2,000,001 rows\); 200,000,100 values; "
                       r"the limit is 200,000,000 values \(MAX_MATRIX_VALUES"):  # fmt: skip
        check_matrix_size(columns, 2_000_001)


def test_a_wide_upload_trains_a_diagonal_mixture_that_serves_its_training_labels(
    tmp_path: Path,
) -> None:
    d = GMM_FULL_COVARIANCE_MAX_FEATURES + 6
    rng = np.random.default_rng(1)
    rows = np.vstack([rng.normal(0, 1, (40, d)), rng.normal(5, 1, (40, d))])
    text = io.StringIO()
    text.write(",".join(f"f{j}" for j in range(d)) + "\n")
    for row in rows:
        text.write(",".join(f"{v:.4f}" for v in row) + "\n")
    output = train_segments(text.getvalue().encode(), filename="wide.csv",
                            config=DatasetConfig(algorithms=["gmm"], k_max=3))  # fmt: skip
    assert output.algorithms["gmm"].params["covariance_type"] in ("diag", "spherical")

    store = LocalModelStore(tmp_path)
    source = SourceInfo(key="uploads/wide/wide.csv", sha256="0" * 64, size=1)
    publish_version(store, "wide", "v1", output, source, created_at=datetime.now(UTC))
    write_current(store, "wide", CurrentPointer(version="v1", updated_at=datetime.now(UTC)))
    model = SegmentationModel.open(store, "wide", "v1")
    records = [{f"f{j}": float(v) for j, v in enumerate(row)} for row in rows]

    assigned = model.assign(records, algorithm="gmm")

    sizes = {s.segment_id: s.size for s in model.segment_set(model.choose("gmm")).segments}
    counts: dict[int, int] = {}
    for a in assigned:
        counts[a.segment_id] = counts.get(a.segment_id, 0) + 1
    assert counts == sizes
    assert sorted(sizes.values()) == [40, 40]


def test_the_schema_refuses_a_wide_table_before_comparing_its_columns_pairwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The near-duplicate screening compares every pair of columns (60 rows x 10,000 columns
    took 77 s and ~1 GB there): the width is checked first."""
    import pandas as pd

    import shared.engine.schema as schema

    def never(*args: object, **kwargs: object) -> list[object]:
        raise AssertionError("the screening ran on a table over the width limit")

    monkeypatch.setattr(schema, "_screen_duplicates", never)
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(30, MAX_FEATURE_WIDTH + 1)),
                         columns=[f"m{j}" for j in range(MAX_FEATURE_WIDTH + 1)])  # fmt: skip
    with pytest.raises(TooManyFeaturesError, match=r"2,001 columns wide after one-hot encoding"):
        schema.clean_training_table(frame, DatasetConfig())

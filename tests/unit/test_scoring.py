"""Whole-file scoring: a version's own upload scores as its assignments, in any output format."""

from __future__ import annotations

import gzip
import io
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cli.main import main
from shared.contract.config import DatasetConfig
from shared.contract.layout import ASSIGNMENTS_PATH
from shared.contract.manifest import CurrentPointer, SourceInfo
from shared.engine.scoring import ScoringModel, score_file
from shared.engine.streaming import TableSource
from shared.exceptions import MissingColumnError, NoModelError
from shared.store.local import LocalModelStore
from shared.training.pipeline import TrainingOutput, train_segments
from shared.training.run import promote_if_newer, publish_version

MALL = Path("data/mall_customers.csv")
NOW = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[LocalModelStore, TrainingOutput]:
    store = LocalModelStore(tmp_path_factory.mktemp("models"))
    config = DatasetConfig(algorithms=["kmeans", "gmm"], k_max=6)
    output = train_segments(MALL.read_bytes(), filename=MALL.name, config=config, dataset="mall")
    source = SourceInfo(key="uploads/mall/mall_customers.csv", sha256="0" * 64, size=1)
    publish_version(store, "mall", "v1", output, source, created_at=NOW)
    pointer = CurrentPointer(version="v1", updated_at=NOW, source_key=source.key)
    promote_if_newer(store, "mall", pointer)
    return store, output


def _scores_csv(store: LocalModelStore, data: bytes, name: str, **kw: object) -> pd.DataFrame:
    buffer = io.BytesIO()
    model = ScoringModel.current(store, "mall", kw.pop("algorithm", None))  # type: ignore[arg-type]
    source = TableSource.from_bytes(data, name)
    score_file(source, model, {"csv.gz": buffer}, chunk_rows=37, **kw)  # type: ignore[arg-type]
    return pd.read_csv(io.BytesIO(gzip.decompress(buffer.getvalue())))


@pytest.mark.parametrize("algorithm", ["kmeans", "gmm"])
def test_the_training_upload_scores_as_its_assignments(
    trained: tuple[LocalModelStore, TrainingOutput], algorithm: str
) -> None:
    store, output = trained
    expected = pd.read_csv(io.BytesIO(gzip.decompress(output.artifacts[ASSIGNMENTS_PATH])))
    scores = _scores_csv(store, MALL.read_bytes(), "m.csv", algorithm=algorithm)
    assert list(scores.columns) == [
        "CustomerID", "segment_id", "segment_name", "confidence", "outlier",
    ]  # fmt: skip
    assert scores["CustomerID"].tolist() == expected["CustomerID"].tolist()
    assert scores["segment_id"].tolist() == expected[algorithm].tolist()
    names = {s.segment_id: s.name for s in output.profiles.sets[
        output.profiles.chosen[algorithm]].segments}  # fmt: skip
    assert scores["segment_name"].tolist() == [names[i] for i in scores["segment_id"]]
    assert scores["confidence"].between(0, 1).all()


def test_gzip_input_and_parquet_output_give_the_same_scores(
    trained: tuple[LocalModelStore, TrainingOutput],
) -> None:
    store, _ = trained
    plain = _scores_csv(store, MALL.read_bytes(), "m.csv")
    buffer = io.BytesIO()
    score_file(
        TableSource.from_bytes(gzip.compress(MALL.read_bytes()), "m.csv.gz"),
        ScoringModel.current(store, "mall"),
        {"parquet": buffer},
        chunk_rows=50,
    )
    parquet = pd.read_parquet(io.BytesIO(buffer.getvalue()))
    assert parquet["segment_id"].tolist() == plain["segment_id"].tolist()
    assert np.allclose(parquet["confidence"], plain["confidence"])


def test_rows_without_known_features_get_no_segment_and_sparse_rows_no_confidence(
    trained: tuple[LocalModelStore, TrainingOutput],
) -> None:
    store, _ = trained
    data = (
        b"CustomerID,Gender,Age,Annual Income (k$),Spending Score (1-100)\n"
        b"1,Male,19,15,39\n"
        b"2,,,,\n"
        b"3,,,,40\n"
    )
    scores = _scores_csv(store, data, "few.csv")
    assert scores["segment_id"].isna().tolist() == [False, True, False]
    assert scores["confidence"].isna().tolist() == [False, True, True]
    assert scores["CustomerID"].tolist() == [1, 2, 3]


def test_a_file_without_a_feature_column_is_refused(
    trained: tuple[LocalModelStore, TrainingOutput],
) -> None:
    store, _ = trained
    with pytest.raises(MissingColumnError, match="Spending Score"):
        _scores_csv(store, b"CustomerID,Age\n1,30\n", "bad.csv")


def test_a_dataset_without_a_model_cannot_score(tmp_path: Path) -> None:
    with pytest.raises(NoModelError, match="no current model"):
        ScoringModel.current(LocalModelStore(tmp_path), "mall")


def test_the_cli_scores_a_file_into_csv_gz(
    trained: tuple[LocalModelStore, TrainingOutput], tmp_path: Path
) -> None:
    store, _output = trained
    out = tmp_path / "out" / "scores.csv.gz"
    code = main(["score", str(MALL), "--dataset", "mall", "--models-dir", str(store.root),
                 "--out", str(out), "-o", "json"])  # fmt: skip
    assert code == 0
    scores = pd.read_csv(out)
    assert len(scores) == 200
    assert scores["segment_id"].value_counts().sum() == 200
    assert not list(out.parent.glob(".scores.csv.gz.*"))  # no partial file left


def test_the_cli_refuses_an_unknown_output_format(
    trained: tuple[LocalModelStore, TrainingOutput], tmp_path: Path
) -> None:
    store, _ = trained
    code = main(["score", str(MALL), "--dataset", "mall", "--models-dir", str(store.root),
                 "--out", str(tmp_path / "scores.xlsx")])  # fmt: skip
    assert code == 1

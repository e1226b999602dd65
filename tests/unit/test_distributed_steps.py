"""The distributed steps (over a store) give the very output of the one-process streaming run."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shared.contract.config import DatasetConfig
from shared.contract.layout import ASSIGNMENTS_PATH, PROFILES_PATH, REPORT_PATH
from shared.engine.streaming import TableSource
from shared.store.local import LocalModelStore
from shared.training.distributed import (
    WorkLayout,
    assign_step,
    fit_step,
    prepare_step,
    reduce_step,
)
from shared.training.streaming import train_streaming
from tests.support.customer_tables import telecom_churn

CONFIG = DatasetConfig(algorithms=["kmeans", "gmm"], k_max=4)


def _parquet(data: bytes) -> bytes:
    import pandas as pd

    buffer = io.BytesIO()
    frame = pd.read_csv(io.BytesIO(data))
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer, row_group_size=300)
    return buffer.getvalue()


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_steps_over_a_store_match_the_one_process_run(tmp_path: Path, kind: str) -> None:
    data = telecom_churn(1_500).to_csv(index=False).encode()  # categoricals and an outcome
    if kind == "parquet":
        data = _parquet(data)
    source = TableSource.from_bytes(data, f"t.{kind}")
    inline = train_streaming(source, config=CONFIG, dataset="t", sample_rows=700, chunk_rows=400)
    store, work = LocalModelStore(tmp_path), WorkLayout("t", "v1")
    prepared = prepare_step(store, source, work, sample_rows=700, chunk_rows=400)
    assert [p["first_row"] for p in prepared["parts"]] == [0, 400, 800, 1200]
    fit_step(store, work, prepared, config=CONFIG, dataset="t")
    for part in prepared["parts"]:
        assign_step(store, work, part, prepared["format"])
    output = reduce_step(store, work, len(prepared["parts"]), dataset="t")
    for path in (ASSIGNMENTS_PATH, PROFILES_PATH, REPORT_PATH):
        assert output.artifact_bytes(path) == inline.artifact_bytes(path), path
    assert output.rows == inline.rows
    assert output.warnings == inline.warnings


def test_a_blank_aligned_file_gives_the_same_output_through_part_files(tmp_path: Path) -> None:
    import numpy as np

    rng = np.random.default_rng(5)
    rows = [
        b" %05d  %7.3f  %7.3f\n" % (i, x, y)
        for i, (x, y) in enumerate(
            rng.normal(0, 1, (1_200, 2)) + rng.integers(0, 3, (1_200, 1)) * 4
        )
    ]
    data = b" id  x  y\n" + b"".join(rows)
    source = TableSource.from_bytes(data, "aligned.txt")
    config = DatasetConfig(algorithms=["kmeans"], k_max=4)
    inline = train_streaming(source, config=config, dataset="t", sample_rows=500, chunk_rows=300)
    store, work = LocalModelStore(tmp_path), WorkLayout("t", "v1")
    prepared = prepare_step(store, source, work, sample_rows=500, chunk_rows=300)
    fit_step(store, work, prepared, config=config, dataset="t")
    for part in prepared["parts"]:
        assign_step(store, work, part, prepared["format"])
    output = reduce_step(store, work, len(prepared["parts"]), dataset="t")
    assert output.artifact_bytes(ASSIGNMENTS_PATH) == inline.artifact_bytes(ASSIGNMENTS_PATH)
    assert output.artifacts[PROFILES_PATH] == inline.artifacts[PROFILES_PATH]
    assert output.rows.read == 1_200

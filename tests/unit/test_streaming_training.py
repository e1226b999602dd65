"""The streaming (two-pass, bounded-memory) training run against the in-memory one."""

from __future__ import annotations

import gzip
import io
import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shared.contract.config import DatasetConfig
from shared.contract.layout import ASSIGNMENTS_PATH, PROFILES_PATH
from shared.contract.profiles import ProfileCatalog
from shared.engine.streaming import TableSource
from shared.exceptions import SchemaViolationError, TooManyFeaturesError
from shared.store.base import read_current
from shared.store.local import LocalModelStore, LocalRawUploadReader
from shared.training.pipeline import TrainingOutput, train_segments
from shared.training.run import TrainingRun, UploadEvent
from shared.training.streaming import hash_sample, train_streaming
from tests.support.customer_tables import telecom_churn

EXACT = ("kmeans", "gmm")  # their rule reproduces the fit's labels (see shared.engine.assigners)


def _assignments(output: TrainingOutput) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(gzip.decompress(output.artifact_bytes(ASSIGNMENTS_PATH))))


def _synthetic(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [6.0, 6.0], [0.0, 8.0]])
    group = rng.integers(0, 3, n)
    values = centres[group] + rng.normal(0, 1, (n, 2))
    return pd.DataFrame(
        {
            "customer_id": np.arange(1, n + 1),
            "income": np.round(values[:, 0] + 50, 3),
            "spend": np.round(values[:, 1] + 20, 3),
            "region": np.array(["north", "south", "east"])[(group + rng.integers(0, 2, n)) % 3],
        }
    )


def test_the_hash_sample_ignores_row_order_and_chunking() -> None:
    frame = _synthetic(3_000)
    data = frame.to_csv(index=False).encode()
    shuffled = frame.sample(frac=1.0, random_state=7).to_csv(index=False).encode()
    a = hash_sample(TableSource.from_bytes(data, "a.csv"), sample_rows=500, chunk_rows=256)
    b = hash_sample(TableSource.from_bytes(shuffled, "b.csv"), sample_rows=500, chunk_rows=999)
    assert a.data == b.data
    assert (a.rows, len(pd.read_csv(io.BytesIO(a.data)))) == (3_000, 500)


def test_a_file_within_the_sample_gives_the_in_memory_result() -> None:
    data = telecom_churn(1_500).to_csv(index=False).encode()
    config = DatasetConfig(algorithms=["kmeans", "gmm"])
    inline = train_segments(data, filename="t.csv", config=config)
    streamed = train_streaming(TableSource.from_bytes(data, "t.csv"), config=config, chunk_rows=400)
    assert streamed.rows == inline.rows
    pd.testing.assert_frame_equal(_assignments(streamed), _assignments(inline))
    for algorithm in EXACT:
        key = inline.profiles.chosen[algorithm]
        mine, theirs = streamed.profiles.sets[key], inline.profiles.sets[key]
        assert [s.size for s in mine.segments] == [s.size for s in theirs.segments]
        assert [s.description for s in mine.segments] == [s.description for s in theirs.segments]
        for a, b in zip(mine.segments, theirs.segments, strict=True):
            assert a.outcomes == b.outcomes  # the Churn outcome's rates
            assert a.categorical.keys() == b.categorical.keys()
            for name, mix in b.categorical.items():
                assert a.categorical[name] == pytest.approx(mix, rel=1e-12)
            for name, summary in b.numeric.items():
                for stat in ("mean", "std", "min", "max", "z"):
                    assert getattr(a.numeric[name], stat) == pytest.approx(
                        getattr(summary, stat), rel=1e-9, abs=1e-12
                    )
            np.testing.assert_allclose(a.centroid, b.centroid, rtol=1e-9, atol=1e-12)


def test_profiles_of_a_sampled_file_count_every_row() -> None:
    frame = _synthetic(6_000)
    data = frame.to_csv(index=False).encode()
    # The opt-in autoencoder too: pass 2 encodes every chunk with the sample's network.
    config = DatasetConfig(algorithms=["kmeans", "autoencoder"], k_max=4)
    out = train_streaming(
        TableSource.from_bytes(data, "s.csv"), config=config, sample_rows=1_000, chunk_rows=700
    )
    assert (out.rows.read, out.rows.used) == (6_000, 6_000)
    assigned = _assignments(out)
    assert assigned["customer_id"].tolist() == frame["customer_id"].tolist()  # upload order
    for algorithm in ("kmeans", "autoencoder"):
        _check_exact_profiles(out, frame, assigned, algorithm)
    assert "hash sample of 1,000 of 6,000 rows" in out.warnings[0]
    assert ProfileCatalog.model_validate_json(out.artifacts[PROFILES_PATH]) == out.profiles


def _check_exact_profiles(
    out: TrainingOutput, frame: pd.DataFrame, assigned: pd.DataFrame, algorithm: str
) -> None:
    segments = out.profiles.sets[out.profiles.chosen[algorithm]]
    by_segment = frame.groupby(assigned[algorithm].to_numpy())
    for segment in segments.segments:
        rows = by_segment.get_group(segment.segment_id)
        assert segment.size == len(rows)
        assert segment.share == len(rows) / 6_000
        assert segment.numeric["income"].mean == pytest.approx(rows["income"].mean(), rel=1e-9)
        assert segment.numeric["spend"].std == pytest.approx(rows["spend"].std(ddof=0), rel=1e-9)
        assert segment.numeric["spend"].max == rows["spend"].max()
        shares = rows["region"].value_counts(normalize=True)
        expected = shares.reindex(["north", "south", "east"], fill_value=0.0).to_dict()
        assert segment.categorical["region"] == pytest.approx(expected, rel=1e-12)
        assert segment.description.startswith(f"{len(rows):,} customers")
    assert sum(s.size for s in segments.segments) == 6_000


@pytest.mark.slow
def test_one_worker_or_a_pool_of_four_give_identical_output() -> None:
    data = _synthetic(4_000).to_csv(index=False).encode()
    config = DatasetConfig(algorithms=["kmeans", "gmm"], k_max=4)
    runs = [
        train_streaming(
            TableSource.from_bytes(data, "s.csv"),
            config=config,
            sample_rows=1_000,
            chunk_rows=500,
            workers=workers,
        )
        for workers in (1, 4)
    ]
    one, pool = (run.artifacts for run in runs)
    assert runs[0].artifact_bytes(ASSIGNMENTS_PATH) == runs[1].artifact_bytes(ASSIGNMENTS_PATH)
    assert one[PROFILES_PATH] == pool[PROFILES_PATH]
    assert runs[0].rows == runs[1].rows


def test_a_chunk_that_breaks_the_schema_names_column_row_and_value() -> None:
    frame = _synthetic(20_000).astype({"spend": object})
    frame.loc[10_000:10_599, "spend"] = "unknown"  # 3 % of the file, 60 % of one chunk
    data = frame.to_csv(index=False).encode()
    with pytest.raises(SchemaViolationError) as caught:
        train_streaming(
            TableSource.from_bytes(data, "s.csv"),
            config=DatasetConfig(algorithms=["kmeans"], k_max=3),
            sample_rows=2_000,
            chunk_rows=1_000,
        )
    message = str(caught.value)
    assert "column 'spend': 600 of 1,000 values in rows 10,001..11,000" in message
    assert "first at row 10,001: 'unknown'" in message


def test_a_file_too_wide_for_the_features_limit_is_refused() -> None:
    rng = np.random.default_rng(0)
    wide = pd.DataFrame(rng.normal(size=(40, 2_500)), columns=[f"c{i}" for i in range(2_500)])
    with pytest.raises(TooManyFeaturesError, match="MAX_FEATURE_WIDTH"):
        train_streaming(TableSource.from_bytes(wide.to_csv(index=False).encode(), "w.csv"))


def test_a_gzip_bomb_is_a_failure_report_and_the_current_model_stays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = tmp_path / "spool"  # where uploads are copied to be streamed
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    raw = tmp_path / "raw"
    store = LocalModelStore(tmp_path / "models")
    run = TrainingRun(
        store=store,
        raw=LocalRawUploadReader(raw),
        max_upload_bytes=10_000_000,
        max_decompressed_bytes=1_000_000,
        keep_versions=3,
        streaming_min_bytes=1,  # every upload streams
    )
    (raw / "configs").mkdir(parents=True)
    (raw / "configs" / "shop.json").write_text(json.dumps({"algorithms": ["kmeans"], "k_max": 3}))
    good = raw / "uploads" / "shop" / "good.csv"
    good.parent.mkdir(parents=True)
    good.write_bytes(_synthetic(300).to_csv(index=False).encode())
    os.utime(good, (datetime(2025, 1, 1, tzinfo=UTC).timestamp(),) * 2)
    published = run.run(UploadEvent(key="uploads/shop/good.csv"))
    assert published.status == "published"
    assert published.current

    bomb = raw / "uploads" / "shop" / "bomb.csv.gz"
    bomb.write_bytes(gzip.compress(b"a,b\n" + b"1,2\n" * 1_000_000))  # 4 MB inflated
    failed = run.run(UploadEvent(key="uploads/shop/bomb.csv.gz"))
    assert failed.status == "failed"
    report = json.loads(store.get_bytes(str(failed.failure_key)))
    assert "MAX_DECOMPRESSED_BYTES" in report["error"]
    assert "inflates to more than 1,000,000 bytes" in report["error"]
    assert not list(spool.iterdir())  # both spooled copies deleted
    current = read_current(store, "shop")
    assert current is not None
    assert current.version == published.version


def test_order_lines_are_trained_in_memory_on_the_whole_file() -> None:
    from tests.support.orders import planted_order_lines

    data = planted_order_lines(300).frame.to_csv(index=False).encode()
    config = DatasetConfig(algorithms=["kmeans"], k_max=4)
    inline = train_segments(data, filename="lines.csv", config=config)
    streamed = train_streaming(
        TableSource.from_bytes(data, "lines.csv"), config=config, sample_rows=500
    )
    assert inline.transactions is not None
    assert streamed.transactions == inline.transactions
    assert streamed.artifact_bytes(ASSIGNMENTS_PATH) == inline.artifacts[ASSIGNMENTS_PATH]
    assert streamed.rows == inline.rows


def test_a_blank_aligned_order_line_file_streams_to_the_in_memory_result() -> None:
    lines = Path("tests/data/CDNOW_master.txt").read_bytes().splitlines(keepends=True)
    data = b"".join(lines[:3_001])  # the header and 3,000 order lines
    config = DatasetConfig(algorithms=["kmeans"], k_max=4)
    inline = train_segments(data, filename="cdnow.txt", config=config)
    streamed = train_streaming(TableSource.from_bytes(data, "cdnow.txt"), config=config)
    assert inline.transactions is not None
    assert streamed.artifact_bytes(ASSIGNMENTS_PATH) == inline.artifacts[ASSIGNMENTS_PATH]


@pytest.mark.slow
def test_the_cli_trains_a_large_file_with_a_pool_to_the_same_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cli.main import main
    from shared.settings import get_settings

    monkeypatch.setenv("STREAMING_MIN_BYTES", "1")  # every file counts as large here
    get_settings.cache_clear()
    table = tmp_path / "shop.csv"
    table.write_bytes(_synthetic(2_000).to_csv(index=False).encode())
    config = tmp_path / "shop.json"
    config.write_text(json.dumps({"algorithms": ["kmeans"], "k_max": 3}))
    published = {}
    for workers in ("1", "2"):
        out = tmp_path / f"models-{workers}"
        args = ["train", str(table), "--config", str(config), "--out", str(out), "-o", "json"]
        assert main([*args, "--workers", workers]) == 0
        (version,) = (out / "datasets" / "shop" / "versions").iterdir()
        published[workers] = (version / ASSIGNMENTS_PATH).read_bytes()
    get_settings.cache_clear()
    assert published["1"] == published["2"]
    assert len(gzip.decompress(published["1"]).splitlines()) == 2_001

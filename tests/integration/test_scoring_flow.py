"""Whole-file scoring through the stack under moto: a score/ upload -> queue -> handler -> scores.

The Mall model is trained by the same handler from an upload (the streaming engine: the test
sets ``STREAMING_MIN_BYTES=1``), then files put under ``score/mall/`` are scored by the handler
and read back from the models bucket; the API's score-jobs routes hand out the upload URL and
report the job.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import requests
from fastapi.testclient import TestClient

from lambdas.api.main import create_app
from lambdas.training import runner
from lambdas.training.handler import handler
from shared.contract.layout import ASSIGNMENTS_PATH, ModelLayout
from shared.contract.scoring import ScoreRecord
from shared.settings import get_settings
from shared.store.base import read_current
from shared.store.s3 import S3ModelStore
from tests.conftest import MotoStack
from tests.support.aws import FakeLambdaContext, receive_messages, sqs_event_from_messages

MALL = Path(__file__).resolve().parents[2] / "data" / "mall_customers.csv"


@pytest.fixture
def stack(moto_stack: MotoStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoStack]:
    """The moto stack with a small Mall config and a trained (streaming) Mall model."""
    monkeypatch.setenv("STREAMING_MIN_BYTES", "1")
    get_settings.cache_clear()
    s3, raw = moto_stack.s3, moto_stack.resources.raw_bucket
    s3.put_object(Bucket=raw, Key="configs/mall.json", Body=b'{"algorithms": ["kmeans"]}')
    moto_stack.sqs.purge_queue(QueueUrl=moto_stack.resources.queue_url)
    runner.configure(None)
    answer = _deliver(moto_stack, "uploads/mall/mall_customers.csv", MALL.read_bytes())
    assert answer == {"batchItemFailures": []}
    yield moto_stack
    runner.configure(None)


def _deliver(stack: MotoStack, key: str, body: bytes | None = None) -> dict[str, object]:
    """Put ``body`` (unless already uploaded), then hand moto's notification to the handler."""
    if body is not None:
        stack.s3.put_object(Bucket=stack.resources.raw_bucket, Key=key, Body=body)
    messages = receive_messages(stack.sqs, stack.resources.queue_url)
    assert len(messages) == 1
    event = sqs_event_from_messages(messages, queue_arn=stack.resources.queue_arn)
    return dict(handler(event, FakeLambdaContext()))


def _models(stack: MotoStack) -> S3ModelStore:
    return S3ModelStore(stack.resources.models_bucket, client=stack.s3)


def _record(stack: MotoStack, name: str) -> ScoreRecord:
    key = ModelLayout.scores("mall", name) + "score.json"
    return ScoreRecord.model_validate_json(_models(stack).get_bytes(key))


def test_a_score_upload_is_scored_against_the_current_version(stack: MotoStack) -> None:
    store = _models(stack)
    current = read_current(store, "mall")
    assert current is not None
    manifest = json.loads(store.get_bytes(ModelLayout.manifest("mall", current.version)))
    assert "hash sample of 200 of 200 rows" in manifest["warnings"][0]  # the streaming engine
    _deliver(stack, "score/mall/march.csv.gz", gzip.compress(MALL.read_bytes()))

    record = _record(stack, "march")
    assert record.status == "done"
    assert (record.model_version, record.algorithm, record.rows) == (current.version, "kmeans", 200)
    assert record.source_key == "score/mall/march.csv.gz"
    scores = pd.read_csv(io.BytesIO(store.get_bytes(record.outputs["csv.gz"])), compression="gzip")
    parquet = pd.read_parquet(io.BytesIO(store.get_bytes(record.outputs["parquet"])))
    assignments = pd.read_csv(
        io.BytesIO(
            store.get_bytes(ModelLayout.artifact("mall", current.version, ASSIGNMENTS_PATH))
        ),
        compression="gzip",
    )
    assert scores["segment_id"].tolist() == assignments["kmeans"].tolist()
    assert parquet["segment_id"].tolist() == scores["segment_id"].tolist()
    assert sum(record.segment_counts.values()) == 200


def test_a_file_that_cannot_be_scored_gets_a_failed_record_and_nothing_else(
    stack: MotoStack,
) -> None:
    store = _models(stack)
    before = read_current(store, "mall")
    _deliver(stack, "score/mall/bad.csv", b"CustomerID,Age\n1,30\n")
    record = _record(stack, "bad")
    assert record.status == "failed"
    assert record.error_type == "MissingColumnError"
    assert "Spending Score" in (record.error or "")
    assert record.outputs == {}
    assert not store.exists(ModelLayout.scores("mall", "bad") + "scores.csv.gz")
    assert read_current(store, "mall") == before


def test_the_api_hands_out_an_upload_url_and_reports_the_job(stack: MotoStack) -> None:
    client = TestClient(create_app())
    created = client.post("/datasets/mall/score-jobs", json={"format": "csv"})
    assert created.status_code == 201, created.text
    job = created.json()
    assert job["upload_key"] == f"score/mall/{job['job_id']}.csv"
    assert client.get(job["status_url"]).json()["status"] == "pending"

    put = requests.put(job["upload_url"], data=MALL.read_bytes(), timeout=10)
    assert put.status_code == 200
    _deliver(stack, job["upload_key"])

    status = client.get(job["status_url"]).json()
    assert status["status"] == "done"
    assert status["rows"] == 200
    assert status["outputs"]["csv.gz"]["key"].endswith(f"scores/{job['job_id']}/scores.csv.gz")
    download = requests.get(status["outputs"]["csv.gz"]["url"], timeout=10)
    assert len(pd.read_csv(io.BytesIO(download.content), compression="gzip")) == 200


def test_the_api_refuses_a_score_job_for_a_dataset_without_a_model(stack: MotoStack) -> None:
    client = TestClient(create_app())
    answer = client.post("/datasets/nothing/score-jobs")
    assert answer.status_code == 503
    assert answer.json()["error"] == "no_model"

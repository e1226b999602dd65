"""The training Lambda with the real engine on the Mall customers, under moto.

The upload goes through the real notification path (put -> moto's S3 notification -> queue ->
received message -> Lambda's SQS event -> handler). Most tests use a small config
(``configs/mall.json``: ``k_max`` 4) to stay fast; ``test_full_default_mall_training`` trains
with the defaults (all four algorithms, k = 2..10) and is marked slow.
"""

from __future__ import annotations

import gzip
import io
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from lambdas.training import runner
from lambdas.training.handler import handler
from shared.contract.layout import ModelLayout, model_key
from shared.contract.manifest import Manifest
from shared.contract.profiles import ProfileCatalog
from shared.exceptions import ChecksumMismatchError, TrainingInProgressError, UntrustedTypeError
from shared.store.base import (
    list_versions,
    read_current,
    read_manifest,
    read_verified_artifact,
    sha256_hex,
)
from shared.store.s3 import S3ModelStore
from shared.training.run import TrainingRun, UploadEvent
from tests.conftest import MotoStack
from tests.support.aws import FakeLambdaContext, receive_messages, sqs_event_from_messages
from tests.support.engine import CachingEngine, settings_training_run

MALL = Path(__file__).resolve().parents[2] / "data" / "mall_customers.csv"
SMALL_CONFIG = b'{"k_max": 4}'


@pytest.fixture(scope="module")
def mall_bytes() -> bytes:
    return MALL.read_bytes()


@pytest.fixture(scope="module")
def caching_engine() -> CachingEngine:
    """One real engine for the module: an input trained once is reused by later tests."""
    return CachingEngine()


@pytest.fixture
def stack(moto_stack: MotoStack) -> Iterator[MotoStack]:
    """The moto stack with the Mall config, an empty queue and a handler built from settings."""
    moto_stack.s3.put_object(
        Bucket=moto_stack.resources.raw_bucket, Key="configs/mall.json", Body=SMALL_CONFIG
    )
    moto_stack.sqs.purge_queue(QueueUrl=moto_stack.resources.queue_url)  # the s3:TestEvent
    runner.configure(None)
    yield moto_stack
    runner.configure(None)


def _models(stack: MotoStack) -> S3ModelStore:
    return S3ModelStore(stack.resources.models_bucket, client=stack.s3)


def _run(stack: MotoStack, engine: CachingEngine, keep_versions: int = 10) -> TrainingRun:
    return settings_training_run(engine, keep_versions=keep_versions)


def _put(stack: MotoStack, key: str, body: bytes) -> dict[str, Any]:
    """Upload ``body`` and return the SQS event Lambda would build from moto's notification."""
    stack.s3.put_object(Bucket=stack.resources.raw_bucket, Key=key, Body=body)
    messages = receive_messages(stack.sqs, stack.resources.queue_url)
    assert len(messages) == 1
    return sqs_event_from_messages(messages, queue_arn=stack.resources.queue_arn)


def _assert_models_reproduce_training(store: S3ModelStore, manifest: Manifest, data: bytes) -> None:
    """Loaded K-Means and GMM assign the training rows exactly as training did."""
    from shared.engine.loading import read_table
    from shared.engine.persistence import load_artifact
    from shared.engine.schema import prepare_frame

    profiles = ProfileCatalog.model_validate_json(
        read_verified_artifact(store, manifest, "profiles.json")
    )
    assignments = pd.read_csv(
        io.BytesIO(gzip.decompress(read_verified_artifact(store, manifest, "assignments.csv.gz")))
    )
    preprocessor = load_artifact(read_verified_artifact(store, manifest, manifest.preprocessor))
    frame = read_table(data, filename=manifest.source.key.rsplit("/", 1)[-1])
    X = preprocessor.transform(prepare_frame(frame, manifest.columns))
    assert X.shape == (manifest.rows.used, len(manifest.feature_names))
    checked = [a for a in ("kmeans", "gmm") if a in manifest.algorithms]
    assert checked
    for algorithm in checked:
        summary = manifest.algorithms[algorithm]
        assigner = load_artifact(read_verified_artifact(store, manifest, summary.artifact))
        labels = assigner.assign(X).labels
        segments = profiles.sets[model_key(algorithm, summary.k)]
        by_label = segments.label_to_segment()
        segment_ids = [by_label[int(label)].segment_id for label in labels]
        assert segment_ids == assignments[algorithm].tolist(), algorithm
        assert Counter(segment_ids) == {s.segment_id: s.size for s in segments.segments}


def _check_published_mall(stack: MotoStack, data: bytes) -> Manifest:
    store = _models(stack)
    pointer = read_current(store, "mall")
    assert pointer is not None
    assert pointer.source_key == "uploads/mall/mall_customers.csv"
    manifest = read_manifest(store, "mall", pointer.version)
    assert manifest.version == pointer.version
    assert manifest.source.sha256 == sha256_hex(data)
    assert manifest.source.bucket == stack.resources.raw_bucket
    assert manifest.source.version_id  # the raw bucket is versioned
    assert manifest.rows.read == 200
    assert manifest.champion in manifest.algorithms
    assert manifest.engine["scikit-learn"]
    for path in manifest.artifacts:  # every artifact is in place and matches its sha256
        read_verified_artifact(store, manifest, path)
    assert {"plots.json", "report.html", "evaluation.json"} <= set(manifest.artifacts)
    _assert_models_reproduce_training(store, manifest, data)
    return manifest


def test_mall_upload_through_the_notification_path(
    stack: MotoStack, mall_bytes: bytes, lambda_context: FakeLambdaContext
) -> None:
    event = _put(stack, "uploads/mall/mall_customers.csv", mall_bytes)

    response = handler(event, lambda_context)

    assert response == {"batchItemFailures": []}
    manifest = _check_published_mall(stack, mall_bytes)
    assert manifest.config.k_max == 4  # configs/mall.json was applied
    assert list_versions(_models(stack), "mall") == [manifest.version]
    assert _models(stack).list_keys("datasets/mall/claims/") == []


@pytest.mark.slow
def test_full_default_mall_training(
    stack: MotoStack, mall_bytes: bytes, lambda_context: FakeLambdaContext
) -> None:
    stack.s3.delete_object(Bucket=stack.resources.raw_bucket, Key="configs/mall.json")
    event = _put(stack, "uploads/mall/mall_customers.csv", mall_bytes)

    assert handler(event, lambda_context) == {"batchItemFailures": []}

    manifest = _check_published_mall(stack, mall_bytes)
    assert set(manifest.algorithms) == {"kmeans", "agglomerative", "dbscan", "gmm"}
    assert manifest.config.k_max == 10
    assert set(manifest.algorithms["kmeans"].models) == {str(k) for k in range(2, 11)}


def test_duplicate_delivery_trains_once(
    stack: MotoStack, mall_bytes: bytes, caching_engine: CachingEngine
) -> None:
    runner.configure(_run(stack, caching_engine))
    event = _put(stack, "uploads/mall/mall_customers.csv", mall_bytes)
    context = FakeLambdaContext()
    calls_before = caching_engine.calls

    handler(event, context)
    handler(event, context)

    assert caching_engine.calls - calls_before == 1
    assert len(list_versions(_models(stack), "mall")) == 1


def test_concurrent_duplicate_deliveries_train_once(stack: MotoStack, mall_bytes: bytes) -> None:
    """Three workers get the same message at once (two Lambdas and a redelivery)."""
    stack.s3.put_object(
        Bucket=stack.resources.raw_bucket, Key="uploads/mall/mall_customers.csv", Body=mall_bytes
    )
    engine = CachingEngine()
    upload = UploadEvent(key="uploads/mall/mall_customers.csv", bucket=stack.resources.raw_bucket)
    outcomes: list[str] = []
    start = threading.Barrier(3)

    def worker() -> None:
        run = _run(stack, engine)
        start.wait()
        try:
            outcomes.append(run.run(upload).status)
        except TrainingInProgressError:
            outcomes.append("in-progress")

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)

    assert sorted(outcomes).count("published") == 1
    assert set(outcomes) <= {"published", "duplicate", "in-progress"}
    assert engine.calls == 1
    assert len(list_versions(_models(stack), "mall")) == 1
    # What SQS redelivers to the losers later is a duplicate.
    assert _run(stack, engine).run(upload).status == "duplicate"


def test_corrupt_upload_after_a_good_one(
    stack: MotoStack, mall_bytes: bytes, caching_engine: CachingEngine
) -> None:
    runner.configure(_run(stack, caching_engine))
    context = FakeLambdaContext()
    handler(_put(stack, "uploads/mall/mall_customers.csv", mall_bytes), context)
    before = read_current(_models(stack), "mall")
    assert before is not None

    corrupt = gzip.compress(mall_bytes)[:200]  # a truncated gzip
    response = handler(_put(stack, "uploads/mall/broken.csv.gz", corrupt), context)

    assert response == {"batchItemFailures": []}
    failures = _models(stack).list_keys("datasets/mall/failures/")
    assert len(failures) == 1
    report = json.loads(_models(stack).get_bytes(failures[0]))
    assert report["source"]["key"] == "uploads/mall/broken.csv.gz"
    assert report["source"]["sha256"] == sha256_hex(corrupt)
    assert report["error_type"] == "NotATableError"
    assert report["error"].startswith("broken.csv.gz: not a readable gzip file (truncated")
    assert read_current(_models(stack), "mall") == before
    assert list_versions(_models(stack), "mall") == [before.version]


class Payload:
    """An arbitrary class: skops must refuse to construct it."""

    def __init__(self) -> None:
        self.command = "rm -rf /"


def test_tampered_artifacts_are_refused(
    stack: MotoStack, mall_bytes: bytes, caching_engine: CachingEngine
) -> None:
    import skops.io as sio

    from shared.engine.persistence import load_artifact

    runner.configure(_run(stack, caching_engine))
    handler(_put(stack, "uploads/mall/mall_customers.csv", mall_bytes), FakeLambdaContext())
    store = _models(stack)
    pointer = read_current(store, "mall")
    assert pointer is not None
    manifest = read_manifest(store, "mall", pointer.version)
    path = manifest.algorithms["kmeans"].artifact
    key = ModelLayout.artifact("mall", manifest.version, path)

    # 1. Bytes changed behind the manifest's back: the sha256 check refuses them.
    store.put_bytes(key, store.get_bytes(key) + b"\0")
    with pytest.raises(ChecksumMismatchError, match="refusing to load it"):
        read_verified_artifact(store, manifest, path)

    # 2. An attacker who rewrites the manifest too: skops refuses the untrusted type.
    evil = bytes(sio.dumps(Payload()))
    store.put_bytes(key, evil)
    info = manifest.artifacts[path].model_copy(update={"sha256": sha256_hex(evil)})
    forged = manifest.model_copy(update={"artifacts": {**manifest.artifacts, path: info}})
    store.put_bytes(ModelLayout.manifest("mall", manifest.version), forged.to_json().encode())
    data = read_verified_artifact(store, read_manifest(store, "mall", manifest.version), path)
    with pytest.raises(UntrustedTypeError, match="Payload"):
        load_artifact(data)


def test_out_of_order_events_keep_the_newer_upload_current(
    stack: MotoStack, mall_bytes: bytes, caching_engine: CachingEngine
) -> None:
    runner.configure(_run(stack, caching_engine))
    context = FakeLambdaContext()
    older = _put(stack, "uploads/mall/january.csv", mall_bytes)
    time.sleep(1.05)  # S3 upload times have one-second resolution
    newer = _put(stack, "uploads/mall/february.csv", mall_bytes)

    handler(newer, context)  # delivered first
    handler(older, context)  # delivered late

    store = _models(stack)
    pointer = read_current(store, "mall")
    assert pointer is not None
    assert pointer.source_key == "uploads/mall/february.csv"
    versions = list_versions(store, "mall")
    assert len(versions) == 2  # the older upload is published, just not current
    assert pointer.version == versions[-1]
    older_manifest = read_manifest(store, "mall", versions[0])
    assert older_manifest.source.key == "uploads/mall/january.csv"
    assert older_manifest.previous_version == pointer.version  # trained after february

"""Fixtures of the hardening tests: one good model trained per session, seeded where needed.

The Mall customers are trained ONCE per session with a small config (K-Means and GMM, k 2..4);
each test publishes that :class:`~shared.training.pipeline.TrainingOutput` through the real
publisher
into its own moto bucket (a few puts, milliseconds) and points ``current.json`` at it, so every
test starts with a GOOD model already current. :func:`api_call` sends API Gateway (HTTP API,
payload 2.0) events through a Mangum handler, as API Gateway would.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from mangum import Mangum

from lambdas.api.main import create_app
from lambdas.training import runner
from shared.contract.config import DatasetConfig
from shared.contract.manifest import CurrentPointer, Manifest, SourceInfo
from shared.contract.profiles import ProfileCatalog
from shared.settings import DEFAULT_MAX_DECOMPRESSED_BYTES
from shared.store.base import ModelStore, write_current
from shared.store.s3 import S3ModelStore
from shared.training.pipeline import TrainingOutput, train_segments
from shared.training.run import publish_version
from tests.conftest import MotoStack
from tests.support.aws import FakeLambdaContext, receive_messages, sqs_event_from_messages
from tests.support.engine import EngineCache, train_cached
from tests.support.events import load_event

ROOT = Path(__file__).resolve().parents[2]
MALL = ROOT / "data" / "mall_customers.csv"
GOOD_VERSION = "20200101T000000Z-0000000000"
GOOD_UPLOADED = datetime(2020, 1, 1, tzinfo=UTC)
GOOD_CONFIG = DatasetConfig(k_max=4, algorithms=["kmeans", "gmm"])
MALL_CUSTOMER = {
    "Gender": "Female",
    "Age": 31,
    "Annual Income (k$)": 70,
    "Spending Score (1-100)": 77,
}


@pytest.fixture(scope="session")
def good_output() -> TrainingOutput:
    """The Mall customers through the real engine, once per session."""
    return train_segments(MALL.read_bytes(), filename=MALL.name, config=GOOD_CONFIG, dataset="mall")


def seed_good_model(
    store: ModelStore,
    output: TrainingOutput,
    dataset: str,
    *,
    version: str = GOOD_VERSION,
    uploaded: datetime = GOOD_UPLOADED,
    current: bool = True,
) -> Manifest:
    """Publish ``output`` as ``version`` of ``dataset`` and (``current``) make it current."""
    source = SourceInfo(
        bucket="seed", key=f"uploads/{dataset}/mall_customers.csv", sha256="0" * 64, size=1
    )
    manifest = publish_version(store, dataset, version, output, source, created_at=uploaded)
    if not current:
        return manifest
    pointer = CurrentPointer(
        version=version,
        updated_at=uploaded,
        source_key=source.key,
        source_last_modified=uploaded,
    )
    write_current(store, dataset, pointer)
    return manifest


@dataclass
class Stack:
    """The moto stack of one test, with helpers to upload and to run the handler."""

    moto: MotoStack

    @property
    def store(self) -> S3ModelStore:
        return S3ModelStore(self.moto.resources.models_bucket, client=self.moto.s3)

    @property
    def raw_bucket(self) -> str:
        return self.moto.resources.raw_bucket

    def put_config(self, dataset: str, body: bytes) -> None:
        self.moto.s3.put_object(Bucket=self.raw_bucket, Key=f"configs/{dataset}.json", Body=body)

    def upload(self, key: str, body: bytes) -> dict[str, Any]:
        """Put an upload; return the SQS event Lambda builds from moto's notification."""
        self.moto.s3.put_object(Bucket=self.raw_bucket, Key=key, Body=body)
        messages = receive_messages(self.moto.sqs, self.moto.resources.queue_url)
        assert len(messages) == 1, f"expected one notification for {key!r}, got {len(messages)}"
        return sqs_event_from_messages(messages, queue_arn=self.moto.resources.queue_arn)

    def drain(self) -> None:
        self.moto.sqs.purge_queue(QueueUrl=self.moto.resources.queue_url)


@pytest.fixture
def stack(moto_stack: MotoStack) -> Iterator[Stack]:
    """moto with the stack's resources, an empty queue and the handler built from settings."""
    moto_stack.sqs.purge_queue(QueueUrl=moto_stack.resources.queue_url)  # the s3:TestEvent
    runner.configure(None)
    yield Stack(moto_stack)
    runner.configure(None)


def api_handler(store: ModelStore, **kwargs: Any) -> Mangum:
    """A fresh API container (its own model cache) over ``store``."""
    return Mangum(create_app(store=store, **kwargs), lifespan="off")


def api_call(
    handler: Mangum,
    method: str,
    path: str,
    *,
    query: dict[str, Any] | None = None,
    body: Any = None,
    token: str | None = None,
) -> tuple[int, Any]:
    """Send one API Gateway v2 event through ``handler``; return status and decoded body."""
    event = load_event("api-assign" if method in ("POST", "PUT") else "api-health")
    event["rawPath"] = path
    event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    event["rawQueryString"] = urlencode(query or {})
    event["queryStringParameters"] = {k: str(v) for k, v in (query or {}).items()} or None
    if token is not None:
        event["headers"]["authorization"] = f"Bearer {token}"
    if method in ("POST", "PUT"):
        text = json.dumps(body if body is not None else {})
        event["body"] = text
        event["headers"]["content-length"] = str(len(text.encode()))
    out = handler(event, FakeLambdaContext())  # type: ignore[arg-type]
    text = out.get("body") or ""
    content_type = out.get("headers", {}).get("content-type", "")
    return out["statusCode"], json.loads(text) if content_type.startswith(
        "application/json"
    ) else text


def assert_serves(handler: Mangum, dataset: str, version: str) -> dict[str, Any]:
    """The API assigns a customer of ``dataset`` with ``version``; return the answer."""
    status, body = api_call(
        handler, "POST", f"/datasets/{dataset}/assign", body={"customers": [MALL_CUSTOMER]}
    )
    assert status == 200, body
    assert body["model_version"] == version
    assert len(body["assignments"]) == 1
    return dict(body)


# --- concurrency helpers -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def engine_cache() -> EngineCache:
    """Trained outputs by (upload sha256, config, previous profiles): the engine is
    deterministic for a fixed seed, so tests that train the same input pay once."""
    return {}


@dataclass
class RecordingEngine:
    """The real engine (cached per distinct input) that records its calls and can hold a run.

    ``gates[filename]`` is waited on before a run of that upload returns, so a test can make
    one upload publish after another.
    """

    cache: EngineCache
    calls: list[str] = field(default_factory=list)
    gates: dict[str, threading.Event] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(
        self,
        data: bytes,
        *,
        filename: str,
        config: DatasetConfig | None = None,
        previous: ProfileCatalog | None = None,
        dataset: str = "dataset",
        random_state: int = 0,
        max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
    ) -> TrainingOutput:
        with self.lock:
            self.calls.append(filename)
        output = train_cached(
            self.cache,
            data,
            filename=filename,
            config=config,
            previous=previous,
            dataset=dataset,
            random_state=random_state,
            max_decompressed_bytes=max_decompressed_bytes,
        )
        gate = self.gates.get(filename)
        if gate is not None:
            assert gate.wait(timeout=120), f"gate of {filename} never opened"
        return output


def container_handler(event: dict[str, Any]) -> dict[str, Any]:
    """What ``lambdas.training.handler.handler`` does for an SQS event, in its own container.

    Lambda runs one event at a time per container; concurrent deliveries run in different
    containers. Threads emulate that with a batch processor each (the module-level one of the
    handler belongs to one container) around the real record handler and training run.
    """
    from aws_lambda_powertools.utilities.batch import (
        BatchProcessor,
        EventType,
        process_partial_response,
    )

    from lambdas.training.runner import process_sqs_record

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return dict(
        process_partial_response(
            event=event,
            record_handler=process_sqs_record,
            processor=processor,
            context=FakeLambdaContext(),  # type: ignore[arg-type]
        )
    )


def assert_no_partial_version(store: ModelStore, dataset: str) -> list[str]:
    """Every version folder has a manifest whose artifacts all exist and verify; return them."""
    from shared.contract.layout import ModelLayout
    from shared.store.base import read_manifest, read_verified_artifact

    folders = store.list_children(ModelLayout.versions(dataset))
    versions = []
    for version in folders:
        keys = store.list_keys(ModelLayout.version(dataset, version))
        if not keys:
            continue  # moto lists the prefixes of deleted folders (delete markers)
        assert ModelLayout.manifest(dataset, version) in keys, f"{version} has no manifest"
        manifest = read_manifest(store, dataset, version)
        for path in manifest.artifacts:
            read_verified_artifact(store, manifest, path)
        versions.append(version)
    return versions


class AtomicConditionalWrites:
    """An S3 client whose conditional ``PutObject`` calls are atomic, as they are in S3.

    moto checks ``If-None-Match``/``If-Match`` and then writes without a lock, so two threads can
    both pass the check (seen here: ~1 trial in 30 with a short GIL switch interval). S3 itself
    serializes conditional writes to a key; this wrapper restores that guarantee for threads.
    """

    _lock = threading.Lock()

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if name != "put_object":
            return attr

        def put_object(**kwargs: Any) -> Any:
            if "IfNoneMatch" in kwargs or "IfMatch" in kwargs:
                with self._lock:
                    return attr(**kwargs)
            return attr(**kwargs)

        return put_object

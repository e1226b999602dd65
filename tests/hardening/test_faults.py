"""S3 faults injected at every step of a training run, through the real handler under moto.

A clean run is probed first to record its S3 calls in order (head and read of the upload, the
config, the claim, every artifact write, the manifest, ``current.json``, retention...). Then,
for every position N of that sequence, a fresh dataset with a good model current is trained
with a client that throttles (``SlowDown``) exactly the N-th call. Each time:

- the first delivery either completes, or is reported for retry (``batchItemFailures``) with
  ``current.json`` untouched, or (a fault after the pointer moved) with ``current.json`` at
  the new, complete version;
- the retry (fault over) completes: the new version is current, complete and verified, no claim
  is left, and readers never saw a version without its manifest.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lambdas.training import runner
from lambdas.training.handler import handler
from shared.contract.layout import ModelLayout
from shared.settings import get_settings
from shared.store.base import (
    list_versions,
    read_current,
    read_manifest,
    read_verified_artifact,
)
from shared.store.s3 import S3ModelStore, S3RawUploadReader
from shared.training.pipeline import TrainingOutput
from tests.hardening.conftest import (
    GOOD_VERSION,
    MALL,
    RecordingEngine,
    Stack,
    assert_no_partial_version,
    seed_good_model,
)
from tests.support.aws import FakeLambdaContext
from tests.support.engine import settings_training_run

SMALL_CONFIG = b'{"k_max": 4, "algorithms": ["kmeans", "gmm"]}'


@dataclass
class FaultyClient:
    """Delegates to a boto3 client; the ``fail_at``-th call (0-based) raises ``code`` instead."""

    client: Any
    fail_at: int | None = None
    code: str = "SlowDown"
    calls: list[tuple[str, str]] = field(default_factory=list)

    def __getattr__(self, op: str) -> Any:
        target = getattr(self.client, op)
        if not callable(target) or op.startswith("_") or op in {"meta", "exceptions"}:
            return target

        def call(**kwargs: Any) -> Any:
            index = len(self.calls)
            self.calls.append((op, str(kwargs.get("Key", kwargs.get("Prefix", "")))))
            if index == self.fail_at:
                raise ClientError({"Error": {"Code": self.code, "Message": "injected"}}, op)
            return target(**kwargs)

        return call


def step_name(op: str, key: str) -> str:
    """A readable name of one S3 call of a training run."""
    if key.startswith("uploads/"):
        return f"{op} upload"
    if key.startswith("configs/"):
        return "read config"
    if "/claims/" in key:
        return f"{op} claim"
    if key.endswith("/current.json"):
        return "write current.json" if op == "put_object" else "read current.json"
    if key.endswith("/manifest.json"):
        return "write manifest" if op == "put_object" else f"{op} manifest"
    if "/versions/" in key and op == "put_object":
        return "write artifact " + key.split("/versions/", 1)[1].split("/", 1)[1]
    # Anything else (listings of retention, reads of the previous version): drop the names.
    return f"{op} " + re.sub(r"^datasets/[^/]+/(versions/[^/]+/)?", "", key)


def train_with_fault(
    stack: Stack, engine: RecordingEngine, dataset: str, fail_at: int | None
) -> tuple[dict[str, Any], FaultyClient, dict[str, Any]]:
    """Upload the Mall file for ``dataset``; deliver it once with the fault. Returns the first
    response, the client and the SQS event (for the retry)."""
    settings = get_settings()
    client = FaultyClient(stack.moto.s3, fail_at=fail_at)
    runner.configure(
        settings_training_run(
            engine,
            store=S3ModelStore(settings.models_bucket, client=client),
            raw=S3RawUploadReader(settings.raw_bucket, client=client),
        )
    )
    event = stack.upload(f"uploads/{dataset}/mall.csv", MALL.read_bytes())
    response = handler(event, FakeLambdaContext())
    return dict(response), client, event


@pytest.mark.slow
def test_a_fault_at_every_s3_call_never_corrupts_and_a_retry_completes(
    stack: Stack,
    good_output: TrainingOutput,
    engine_cache: dict[tuple[str, str, str], TrainingOutput],
) -> None:
    engine = RecordingEngine(cache=engine_cache)
    store = stack.store

    def prepare(dataset: str) -> bytes:
        seed_good_model(store, good_output, dataset)
        stack.put_config(dataset, SMALL_CONFIG)
        return store.get_bytes(ModelLayout.current(dataset))

    prepare("probe")
    response, probe, _ = train_with_fault(stack, engine, "probe", None)
    assert response == {"batchItemFailures": []}
    steps = [step_name(op, key) for op, key in probe.calls]
    assert {"get_object upload", "write manifest", "write current.json"} <= set(steps)
    assert sum(s.startswith("write artifact") for s in steps) == len(good_output.artifacts)

    outcomes: dict[str, str] = {}
    for index, step in enumerate(steps):
        dataset = f"fault-{index}"
        current_before = prepare(dataset)

        first, client, event = train_with_fault(stack, engine, dataset, index)

        assert step_name(*client.calls[index]) == step, (index, step, client.calls[index])
        where = f"fault at call {index} ({step})"
        pointer = read_current(store, dataset)
        assert pointer is not None, where
        if first["batchItemFailures"]:
            message_id = event["Records"][0]["messageId"]
            assert first == {"batchItemFailures": [{"itemIdentifier": message_id}]}, where
            current_now = store.get_bytes(ModelLayout.current(dataset))
            if current_now == current_before:
                outcome = "retried; current.json untouched"
            else:
                # Only a fault after the pointer write may leave it moved, to a complete version.
                manifest = read_manifest(store, dataset, pointer.version)
                for path in manifest.artifacts:
                    read_verified_artifact(store, manifest, path)
                assert pointer.source_key == f"uploads/{dataset}/mall.csv", where
                outcome = "retried; current.json already at the complete new version"
            # Readers only ever see complete versions (a manifest whose artifacts all verify).
            for version in list_versions(store, dataset):
                complete = read_manifest(store, dataset, version)
                for path in complete.artifacts:
                    read_verified_artifact(store, complete, path)
            client.fail_at = None
            retry = handler(event, FakeLambdaContext())
            assert retry == {"batchItemFailures": []}, where
        else:
            outcome = "completed"
        outcomes[where] = outcome

        pointer = read_current(store, dataset)
        assert pointer is not None, where
        assert pointer.version != GOOD_VERSION, where
        assert pointer.source_key == f"uploads/{dataset}/mall.csv", where
        versions = assert_no_partial_version(store, dataset)
        assert sorted(versions) == sorted([GOOD_VERSION, pointer.version]), where
        claims = store.list_keys(f"datasets/{dataset}/claims/")
        # A throttled release leaves the claim behind: harmless (the version is published, so
        # redeliveries are duplicates; a claim expires after DEFAULT_CLAIM_TIMEOUT anyway).
        assert claims == [] or step == "delete_object claim", (where, claims)
        assert store.list_keys(f"datasets/{dataset}/failures/") == [], where

    # Every kind of step was hit, and a throttled write before the pointer never moved it.
    assert len(outcomes) == len(steps)
    for where, outcome in outcomes.items():
        if "write artifact" in where or "write manifest" in where or "upload" in where:
            assert outcome == "retried; current.json untouched", (where, outcome)
    assert len(engine.calls) >= len(steps) // 2  # most faults forced a retrain on retry
    print(json.dumps(outcomes, indent=1))

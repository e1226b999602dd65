"""Duplicates and races through the training handler under moto, with the real engine.

S3 and SQS deliver at least once and Lambda runs deliveries concurrently in separate
containers (threads here, each with its own batch processor around the real record handler).
Whatever the interleaving: exactly one version per distinct file, the newest upload current,
and no partial version (every version folder has a manifest whose artifacts all verify).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from lambdas.training import runner
from shared.settings import get_settings
from shared.store.base import read_current, read_manifest
from shared.store.s3 import S3ModelStore
from shared.training.pipeline import TrainingOutput
from tests.hardening.conftest import (
    GOOD_VERSION,
    MALL,
    AtomicConditionalWrites,
    RecordingEngine,
    Stack,
    api_handler,
    assert_no_partial_version,
    assert_serves,
    container_handler,
    seed_good_model,
)
from tests.support.engine import settings_training_run

DATASET = "shop"
SMALL_CONFIG = b'{"k_max": 4, "algorithms": ["kmeans", "gmm"]}'


@pytest.fixture
def engine(
    stack: Stack, engine_cache: dict[tuple[str, str, str], TrainingOutput]
) -> Iterator[RecordingEngine]:
    engine = RecordingEngine(cache=engine_cache)
    settings = get_settings()
    client = AtomicConditionalWrites(stack.moto.s3)
    runner.configure(
        settings_training_run(engine, store=S3ModelStore(settings.models_bucket, client=client))
    )
    yield engine
    runner.configure(None)


@pytest.fixture
def seeded(stack: Stack, good_output: TrainingOutput) -> Stack:
    seed_good_model(stack.store, good_output, DATASET)
    stack.put_config(DATASET, SMALL_CONFIG)
    return stack


def run_concurrently(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Deliver every event at the same moment, one container (thread) each."""
    start = threading.Barrier(len(events))
    responses: list[dict[str, Any] | None] = [None] * len(events)
    errors: list[BaseException] = []

    def deliver(i: int) -> None:
        start.wait()
        try:
            responses[i] = container_handler(events[i])
        except BaseException as e:  # surfaced below: a delivery must never crash
            errors.append(e)

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(len(events))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors
    assert all(r is not None for r in responses)
    return [r for r in responses if r is not None]


def test_same_upload_delivered_five_times_concurrently(
    seeded: Stack, engine: RecordingEngine
) -> None:
    event = seeded.upload(f"uploads/{DATASET}/mall.csv", MALL.read_bytes())
    message_id = event["Records"][0]["messageId"]

    responses = run_concurrently([event] * 5)

    # Losers of the claim ask SQS to retry (TrainingInProgressError); nobody else fails.
    retried = [r for r in responses if r["batchItemFailures"]]
    assert all(r["batchItemFailures"] == [{"itemIdentifier": message_id}] for r in retried)
    assert len(retried) < 5
    assert engine.calls == ["mall.csv"]  # trained exactly once
    # The retries SQS makes later find the published version: acknowledged, not retrained.
    for _ in retried:
        assert container_handler(event) == {"batchItemFailures": []}
    assert engine.calls == ["mall.csv"]

    store = seeded.store
    versions = assert_no_partial_version(store, DATASET)
    assert len(versions) == 2
    assert GOOD_VERSION in versions
    (new,) = [v for v in versions if v != GOOD_VERSION]
    pointer = read_current(store, DATASET)
    assert pointer is not None
    assert pointer.version == new
    assert store.list_keys(f"datasets/{DATASET}/claims/") == []
    assert_serves(api_handler(store), DATASET, new)


@pytest.mark.parametrize("last", ["older", "newer"])
def test_two_uploads_racing_for_one_dataset(
    seeded: Stack, engine: RecordingEngine, last: str
) -> None:
    """The newer upload ends current whichever run publishes last."""
    mall = MALL.read_bytes()
    older = seeded.upload(f"uploads/{DATASET}/january.csv", mall)
    time.sleep(1.05)  # S3 upload times have one-second resolution
    newer_bytes = b"\n".join(mall.splitlines()[:-10]) + b"\n"  # a different file
    newer = seeded.upload(f"uploads/{DATASET}/february.csv", newer_bytes)
    held = "january.csv" if last == "older" else "february.csv"
    gate = engine.gates[held] = threading.Event()

    responses: dict[str, dict[str, Any]] = {}

    def deliver(name: str, event: dict[str, Any]) -> None:
        responses[name] = container_handler(event)

    threads = {
        "january.csv": threading.Thread(target=deliver, args=("january.csv", older)),
        "february.csv": threading.Thread(target=deliver, args=("february.csv", newer)),
    }
    for thread in threads.values():
        thread.start()
    first = "february.csv" if held == "january.csv" else "january.csv"
    threads[first].join(timeout=300)
    assert not threads[first].is_alive()
    gate.set()  # now the held run publishes, last
    threads[held].join(timeout=300)

    assert responses == {
        "january.csv": {"batchItemFailures": []},
        "february.csv": {"batchItemFailures": []},
    }
    store = seeded.store
    versions = assert_no_partial_version(store, DATASET)
    assert len(versions) == 3  # the good one and one per distinct file
    pointer = read_current(store, DATASET)
    assert pointer is not None
    assert pointer.source_key == f"uploads/{DATASET}/february.csv"
    assert read_manifest(store, DATASET, pointer.version).rows.read == 190
    assert sorted(engine.calls) == ["february.csv", "january.csv"]

    # Redelivering both (at-least-once) changes nothing.
    assert container_handler(older) == {"batchItemFailures": []}
    assert container_handler(newer) == {"batchItemFailures": []}
    assert read_current(store, DATASET) == pointer
    assert len(assert_no_partial_version(store, DATASET)) == 3
    assert_serves(api_handler(store), DATASET, pointer.version)

"""Duplicates and races through the training handler under moto, with the real engine.

S3 and SQS deliver at least once and Lambda runs deliveries concurrently in separate
containers (threads here, each with its own batch processor around the real record handler).
Whatever the interleaving: exactly one version per distinct file, the newest upload current,
and no partial version (every version folder has a manifest whose artifacts all verify).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lambdas.api.routes import versions as versions_route
from lambdas.training import runner
from lambdas.training.runner import event_time_of
from shared.contract.layout import ModelLayout
from shared.contract.manifest import CurrentPointer
from shared.settings import get_settings
from shared.store.base import ModelStore, read_current, read_manifest, write_current
from shared.store.pointer import RETENTION_GRACE, promote_version
from shared.store.s3 import S3ModelStore
from shared.training.pipeline import TrainingOutput
from shared.training.run import apply_retention, promote_if_newer
from tests.hardening.conftest import (
    GOOD_VERSION,
    MALL,
    AtomicConditionalWrites,
    RecordingEngine,
    Stack,
    api_call,
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


# --- promote racing retention --------------------------------------------------------------------

OLD_VERSION = "20190101T000000Z-1111111111"
NEWER_VERSION = "20210101T000000Z-2222222222"
LONG_AGO = datetime(2019, 1, 1, tzinfo=UTC)


@pytest.fixture
def three_versions(stack: Stack, good_output: TrainingOutput) -> S3ModelStore:
    """An old version, the current one (GOOD_VERSION) and a newer one, all published long ago."""
    store = stack.store
    seed_good_model(store, good_output, DATASET, version=OLD_VERSION, uploaded=LONG_AGO)
    seed_good_model(store, good_output, DATASET)
    seed_good_model(store, good_output, DATASET, version=NEWER_VERSION, current=False)
    return store


def test_promote_of_a_version_retention_deletes_meanwhile_leaves_current_intact(
    three_versions: S3ModelStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Promote verified the version, retention deleted it, then promote swapped the pointer."""
    store = three_versions
    before = store.get_bytes(ModelLayout.current(DATASET))
    swapped: list[str] = []

    def retention_in_between(
        store_: ModelStore, dataset: str, pointer: CurrentPointer
    ) -> CurrentPointer | None:
        # A retention run that read its state before the promote recorded itself.
        deleted = apply_retention(store_, dataset, 1, grace=timedelta(0))
        assert OLD_VERSION in deleted
        swapped.append(pointer.version)
        return promote_version(store_, dataset, pointer)

    monkeypatch.setattr(versions_route, "promote_version", retention_in_between)
    api = api_handler(store)

    status, body = api_call(api, "POST", f"/datasets/{DATASET}/versions/{OLD_VERSION}/promote")

    assert swapped == [OLD_VERSION]
    assert status == 404, body
    assert "deleted while being promoted" in body["message"]
    assert store.get_bytes(ModelLayout.current(DATASET)) == before  # the pointer put back
    assert_serves(api_handler(store), DATASET, GOOD_VERSION)  # a fresh container still serves


def test_promote_then_retention_keeps_the_version_through_the_grace_period(
    three_versions: S3ModelStore,
) -> None:
    store = three_versions
    status, body = api_call(
        api_handler(store), "POST", f"/datasets/{DATASET}/versions/{OLD_VERSION}/promote"
    )
    assert status == 200, body
    # A later upload takes over; the promoted version is no longer current but is recent.
    write_current(
        store,
        DATASET,
        CurrentPointer(version=NEWER_VERSION, updated_at=datetime.now(UTC)),
    )
    now = datetime.now(UTC)
    assert apply_retention(store, DATASET, 1, now=now + timedelta(minutes=29)) == [GOOD_VERSION]
    assert store.exists(ModelLayout.manifest(DATASET, OLD_VERSION))
    later = now + RETENTION_GRACE + timedelta(minutes=1)
    assert apply_retention(store, DATASET, 1, now=later) == [OLD_VERSION]
    assert not store.exists(ModelLayout.promotion(DATASET, OLD_VERSION))
    assert_no_partial_version(store, DATASET)


def test_retention_keeps_a_version_published_within_the_grace_period(
    stack: Stack, good_output: TrainingOutput
) -> None:
    store = stack.store
    now = datetime.now(UTC)
    seed_good_model(store, good_output, DATASET, version=OLD_VERSION, uploaded=now, current=False)
    seed_good_model(store, good_output, DATASET, version=NEWER_VERSION, uploaded=now)
    assert apply_retention(store, DATASET, 1, now=now + timedelta(minutes=5)) == []
    assert apply_retention(store, DATASET, 1, now=now + RETENTION_GRACE) == [OLD_VERSION]


class _PromoteDuringDelete(S3ModelStore):
    """A store where a promote of ``target`` lands right after retention's first delete."""

    def __init__(self, base: S3ModelStore, target: str) -> None:
        super().__init__(base.bucket, client=base.client)
        self.target = target
        self.promoted = False

    def delete(self, key: str) -> None:
        super().delete(key)
        if not self.promoted:
            self.promoted = True
            pointer = CurrentPointer(version=self.target, updated_at=LONG_AGO, promoted=True)
            write_current(self, DATASET, pointer)


def test_retention_reads_current_again_before_each_delete(three_versions: S3ModelStore) -> None:
    store = _PromoteDuringDelete(three_versions, target=GOOD_VERSION)
    write_current(store, DATASET, CurrentPointer(version=NEWER_VERSION, updated_at=LONG_AGO))

    deleted = apply_retention(store, DATASET, 1, now=datetime.now(UTC))

    assert store.promoted
    assert deleted == [OLD_VERSION]  # GOOD_VERSION became current after the first delete
    pointer = read_current(store, DATASET)
    assert pointer is not None
    assert pointer.version == GOOD_VERSION
    assert store.exists(ModelLayout.manifest(DATASET, GOOD_VERSION))


# --- two uploads within one second ---------------------------------------------------------------


def test_two_uploads_in_one_second_the_later_stays_current(
    seeded: Stack, engine: RecordingEngine
) -> None:
    """Back to back (usually within one Last-Modified second), the later one published first:
    the event times (milliseconds) order them, not the hash in their version ids."""
    mall = MALL.read_bytes()
    first = seeded.upload(f"uploads/{DATASET}/one.csv", mall)
    second = seeded.upload(
        f"uploads/{DATASET}/two.csv", b"\n".join(mall.splitlines()[:-10]) + b"\n"
    )
    times = [
        event_time_of(json.loads(e["Records"][0]["body"])["Records"][0]["eventTime"])
        for e in (first, second)
    ]
    assert times[0] is not None
    assert times[1] is not None
    assert times[0] < times[1]

    assert container_handler(second) == {"batchItemFailures": []}
    assert container_handler(first) == {"batchItemFailures": []}

    store = seeded.store
    pointer = read_current(store, DATASET)
    assert pointer is not None
    assert pointer.source_key == f"uploads/{DATASET}/two.csv"
    assert pointer.source_event_time == times[1]
    assert_serves(api_handler(store), DATASET, pointer.version)


def test_a_failed_promote_without_a_previous_pointer_blocks_no_later_publish(
    stack: Stack, good_output: TrainingOutput, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No pointer to go back to: the one left behind is replaced by any publish, even of an
    upload older than the failed promote."""
    store = stack.store
    seed_good_model(store, good_output, DATASET, version=OLD_VERSION, current=False)

    def deleted_in_between(
        store_: ModelStore, dataset: str, pointer: CurrentPointer
    ) -> CurrentPointer | None:
        store_.delete(ModelLayout.manifest(dataset, pointer.version))
        return promote_version(store_, dataset, pointer)

    monkeypatch.setattr(versions_route, "promote_version", deleted_in_between)
    status, body = api_call(
        api_handler(store), "POST", f"/datasets/{DATASET}/versions/{OLD_VERSION}/promote"
    )

    assert status == 404, body
    left = read_current(store, DATASET)
    assert left is not None
    assert left.promoted is False
    assert left.source_last_modified is None
    seed_good_model(store, good_output, DATASET, current=False)
    late = CurrentPointer(
        version=GOOD_VERSION, updated_at=datetime.now(UTC), source_last_modified=LONG_AGO
    )
    assert promote_if_newer(store, DATASET, late) is True
    assert_serves(api_handler(store), DATASET, GOOD_VERSION)

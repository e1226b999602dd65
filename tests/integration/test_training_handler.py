"""The training Lambda handler under moto with a fake engine: event shapes, batches, retries.

Each test goes through the real notification path where it can: an object put to the raw bucket
makes moto send the S3 notification to the queue, the test receives it and hands the handler the
SQS event Lambda would build. The engine is the fast fake of ``tests/support/engine.py``; the real
engine runs in ``test_training_mall.py``.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cli.resources import MAX_RECEIVE_COUNT
from lambdas.training import runner
from lambdas.training.handler import handler
from shared.contract.layout import ModelLayout
from shared.settings import get_settings
from shared.store.base import list_versions, read_current
from shared.store.s3 import S3ModelStore, build_raw_reader
from tests.conftest import MotoStack
from tests.support.aws import (
    FailingClient,
    FakeLambdaContext,
    receive_messages,
    sqs_event_from_messages,
)
from tests.support.engine import FakeEngine, fake_csv, settings_training_run
from tests.support.events import load_event, with_object


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def stack(moto_stack: MotoStack, engine: FakeEngine) -> Iterator[MotoStack]:
    """The moto stack with the handler's training run using the fake engine."""
    runner.configure(settings_training_run(engine))
    moto_stack.sqs.purge_queue(QueueUrl=moto_stack.resources.queue_url)  # the s3:TestEvent
    yield moto_stack
    runner.configure(None)


def _models(stack: MotoStack) -> S3ModelStore:
    return S3ModelStore(stack.resources.models_bucket, client=stack.s3)


def _upload_and_receive(stack: MotoStack, key: str, body: bytes) -> dict[str, Any]:
    """Put an upload and return the SQS event Lambda would receive for it."""
    stack.s3.put_object(Bucket=stack.resources.raw_bucket, Key=key, Body=body)
    messages = receive_messages(stack.sqs, stack.resources.queue_url)
    assert len(messages) == 1
    return sqs_event_from_messages(messages, queue_arn=stack.resources.queue_arn)


def test_notification_path_publishes_a_version(
    stack: MotoStack, engine: FakeEngine, lambda_context: FakeLambdaContext
) -> None:
    event = _upload_and_receive(stack, "uploads/demo/first day.csv", fake_csv(1, -1, 2))
    # moto URL-encodes the key like S3 does
    assert (
        "first+day.csv"
        in json.loads(event["Records"][0]["body"])["Records"][0]["s3"]["object"]["key"]
    )

    response = handler(event, lambda_context)

    assert response == {"batchItemFailures": []}
    pointer = read_current(_models(stack), "demo")
    assert pointer is not None
    assert pointer.source_key == "uploads/demo/first day.csv"
    assert list_versions(_models(stack), "demo") == [pointer.version]
    assert [c.filename for c in engine.calls] == ["first day.csv"]


def test_moto_test_event_message_is_skipped(
    moto_stack: MotoStack, lambda_context: FakeLambdaContext
) -> None:
    # Configuring the notification made moto (like S3) send an s3:TestEvent to the queue.
    messages = receive_messages(moto_stack.sqs, moto_stack.resources.queue_url)
    assert [json.loads(m["Body"]).get("Event") for m in messages] == ["s3:TestEvent"]

    event = sqs_event_from_messages(messages, queue_arn=moto_stack.resources.queue_arn)
    assert handler(event, lambda_context) == {"batchItemFailures": []}


def test_sample_events_are_handled(
    stack: MotoStack, engine: FakeEngine, lambda_context: FakeLambdaContext
) -> None:
    put = stack.s3.put_object(
        Bucket=stack.resources.raw_bucket, Key="uploads/mall/mall_customers.csv", Body=fake_csv(3)
    )
    pinned = {"versionId": put["VersionId"], "eTag": put["ETag"].strip('"'), "size": 8}

    direct = handler(with_object(load_event("s3-put-mall"), **pinned), lambda_context)
    wrapped = handler(with_object(load_event("sqs-s3-put-mall"), **pinned), lambda_context)
    test_event = handler(load_event("sqs-s3-test-event"), lambda_context)
    config = handler(load_event("s3-put-config-mall"), lambda_context)

    assert [r["status"] for r in direct["results"]] == ["published"]
    assert wrapped == {"batchItemFailures": []}
    assert test_event == {"batchItemFailures": []}
    assert [r["status"] for r in config["results"]] == ["ignored"]
    assert len(engine.calls) == 1  # the SQS copy of the same object version was a duplicate


def test_duplicate_delivery_publishes_one_version(
    stack: MotoStack, engine: FakeEngine, lambda_context: FakeLambdaContext
) -> None:
    event = _upload_and_receive(stack, "uploads/demo/a.csv", fake_csv(1, -1))

    handler(event, lambda_context)
    handler(event, lambda_context)

    assert len(engine.calls) == 1
    assert len(list_versions(_models(stack), "demo")) == 1


def test_invalid_upload_is_acknowledged_with_a_failure_report(
    stack: MotoStack, lambda_context: FakeLambdaContext
) -> None:
    handler(_upload_and_receive(stack, "uploads/demo/a.csv", fake_csv(1, -1)), lambda_context)
    before = read_current(_models(stack), "demo")

    response = handler(
        _upload_and_receive(stack, "uploads/demo/b.csv", b"name,age\nann,3\n"), lambda_context
    )

    assert response == {"batchItemFailures": []}  # acknowledged: no poison-message loop
    failures = _models(stack).list_keys("datasets/demo/failures/")
    assert len(failures) == 1
    report = json.loads(_models(stack).get_bytes(failures[0]))
    assert report["error"] == "'b.csv' does not start with the header 'x,y'"
    assert report["source"]["key"] == "uploads/demo/b.csv"
    assert read_current(_models(stack), "demo") == before


def test_transient_error_is_reported_for_retry(
    stack: MotoStack, engine: FakeEngine, lambda_context: FakeLambdaContext
) -> None:
    throttled = FailingClient(stack.s3, get_object="SlowDown")
    runner.configure(
        settings_training_run(engine, raw=build_raw_reader(get_settings(), client=throttled))
    )
    event = _upload_and_receive(stack, "uploads/demo/a.csv", fake_csv(1, -1))

    response = handler(event, lambda_context)

    message_id = event["Records"][0]["messageId"]
    assert response == {"batchItemFailures": [{"itemIdentifier": message_id}]}
    assert read_current(_models(stack), "demo") is None
    assert _models(stack).list_keys("datasets/") == []  # no failure report, no claim

    # The retry (throttling over) publishes.
    throttled.fail.clear()
    assert handler(event, lambda_context) == {"batchItemFailures": []}
    assert read_current(_models(stack), "demo") is not None


def test_batch_reports_only_the_failing_record(
    stack: MotoStack, engine: FakeEngine, lambda_context: FakeLambdaContext
) -> None:
    good = _upload_and_receive(stack, "uploads/demo/a.csv", fake_csv(1, -1))
    broken = load_event("sqs-s3-put-mall")
    broken["Records"][0]["messageId"] = "not-json"
    broken["Records"][0]["body"] = "{truncated"
    event = {"Records": good["Records"] + broken["Records"]}

    response = handler(event, lambda_context)

    assert response == {"batchItemFailures": [{"itemIdentifier": "not-json"}]}
    assert len(engine.calls) == 1


def test_retried_messages_end_in_the_dead_letter_queue(
    stack: MotoStack, lambda_context: FakeLambdaContext
) -> None:
    """A message whose record keeps failing is redelivered, then dead-lettered (maxReceiveCount)."""
    sqs, res = stack.sqs, stack.resources
    sqs.set_queue_attributes(QueueUrl=res.queue_url, Attributes={"VisibilityTimeout": "0"})
    sqs.send_message(QueueUrl=res.queue_url, MessageBody="{truncated")
    receives = 0
    for _ in range(10):
        messages = receive_messages(sqs, res.queue_url, max_messages=1)
        if not messages:
            break
        receives += 1
        response = handler(
            sqs_event_from_messages(messages, queue_arn=res.queue_arn), lambda_context
        )
        assert len(response["batchItemFailures"]) == 1
        # Lambda deletes only the records not listed; the failing one stays on the queue.

    dead = receive_messages(sqs, res.dlq_url)
    assert receives == MAX_RECEIVE_COUNT == 5
    assert [m["Body"] for m in dead] == ["{truncated"]


def test_delete_and_invalid_dataset_events_do_nothing(
    stack: MotoStack, engine: FakeEngine, lambda_context: FakeLambdaContext
) -> None:
    removed = load_event("s3-put-mall")
    removed["Records"][0]["eventName"] = "ObjectRemoved:Delete"
    invalid = with_object(load_event("s3-put-mall"), key="uploads/..%2Fother/x.csv")

    assert handler(removed, lambda_context) == {"results": []}
    result = handler(invalid, lambda_context)["results"][0]
    assert result["status"] == "rejected"
    assert result["key"] == "uploads/../other/x.csv"
    assert engine.calls == []
    assert _models(stack).list_keys("") == []
    assert not _models(stack).exists(ModelLayout.current("other"))


def test_retention_prunes_old_version_folders_in_s3(
    stack: MotoStack, engine: FakeEngine, lambda_context: FakeLambdaContext
) -> None:
    run = settings_training_run(engine, keep_versions=1)
    # Each run an hour after the last: past the retention grace period, which would otherwise
    # keep every version published within the last 30 minutes. The three uploads usually share
    # one Last-Modified second: retention orders them by event time, as current.json does.
    hours = itertools.count()
    start = datetime.now(UTC)
    run.clock = lambda: start + timedelta(hours=next(hours))
    runner.configure(run)
    for i in range(3):
        handler(
            _upload_and_receive(stack, f"uploads/demo/{i}.csv", fake_csv(i + 1)), lambda_context
        )

    store = _models(stack)
    pointer = read_current(store, "demo")
    assert pointer is not None
    assert list_versions(store, "demo") == [pointer.version]
    # Every object of the older versions is gone. (moto still lists their folders as common
    # prefixes of the versioned bucket's delete markers; S3 does not.)
    kept = ModelLayout.version("demo", pointer.version)
    assert all(k.startswith(kept) for k in store.list_keys("datasets/demo/versions/"))
    assert len(engine.calls) == 3


def test_handler_emits_emf_metrics(
    stack: MotoStack, lambda_context: FakeLambdaContext, capsys: pytest.CaptureFixture[str]
) -> None:
    from lambdas.training.runner import metrics

    event = _upload_and_receive(stack, "uploads/demo/a.csv", fake_csv(1, -1))
    # Metrics added outside a handler invocation by an earlier test in this process (the
    # hardening tests call the record handler without the handler's flush) are not this one's.
    metrics.clear_metrics()
    capsys.readouterr()

    handler(event, lambda_context)

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "_aws" in line]
    assert len(lines) == 1
    emf = lines[0]
    (directive,) = emf["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "CustomerSegmentation"
    names = {m["Name"] for m in directive["Metrics"]}
    assert names == {"UploadsReceived", "TrainingSucceeded", "TrainingSeconds"}
    assert emf["TrainingSucceeded"] == [1.0]

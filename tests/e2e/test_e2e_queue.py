"""The local stack's plumbing with a fake training handler: notification filter, retries, DLQ.

These run against the real moto server the demo uses, so they pin what the dispatcher and SQS
do together: a reported batch item failure is redelivered after the visibility timeout, and a
message that keeps failing lands in the dead-letter queue after ``maxReceiveCount`` receives.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus

import pytest

from cli.localstack import LocalStack, LocalStackConfig

pytestmark = pytest.mark.e2e


class RecordingHandler:
    """Records each S3 key it is invoked with; fails keys as told."""

    def __init__(self, fail: Callable[[str, int], bool] = lambda key, attempt: False) -> None:
        self.fail = fail
        self.calls: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        failures = []
        for record in event["Records"]:
            body = json.loads(record["body"])
            if body.get("Event") == "s3:TestEvent":
                continue
            key = unquote_plus(body["Records"][0]["s3"]["object"]["key"])  # URL-encoded, as AWS
            with self.lock:
                self.calls.append(key)
                attempt = self.calls.count(key)
            if self.fail(key, attempt):
                failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}


def _wait(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)


def _queue_depth(stack: LocalStack, url: str) -> int:
    attrs = stack.client("sqs").get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(
        attrs["ApproximateNumberOfMessagesNotVisible"]
    )


def _stack(handler: RecordingHandler) -> LocalStack:
    config = LocalStackConfig(
        handler=handler, serve_api=False, visibility_timeout_seconds=1, max_receive_count=2
    )
    return LocalStack(config)


def test_only_uploads_with_known_suffixes_reach_the_handler() -> None:
    handler = RecordingHandler()
    with _stack(handler) as stack:
        s3 = stack.client("s3")
        for key in (
            "configs/mall.json",
            "uploads/mall/notes.txt",
            "other/mall/x.csv",
            "uploads/mall/a.csv",
            "uploads/mall/b.csv.gz",
            "uploads/mall/c.parquet",
        ):
            s3.put_object(Bucket=stack.raw_bucket, Key=key, Body=b"x")
        _wait(lambda: len(handler.calls) >= 3)
        time.sleep(1.5)  # anything else would have arrived by now
        assert sorted(handler.calls) == [
            "uploads/mall/a.csv",
            "uploads/mall/b.csv.gz",
            "uploads/mall/c.parquet",
        ]
        assert stack.resources is not None
        _wait(lambda: _queue_depth(stack, stack.resources.queue_url) == 0)  # type: ignore[union-attr]


def test_a_failed_item_is_retried_after_the_visibility_timeout() -> None:
    handler = RecordingHandler(fail=lambda key, attempt: attempt == 1)
    with _stack(handler) as stack:
        assert stack.resources is not None
        stack.client("s3").put_object(Bucket=stack.raw_bucket, Key="uploads/d/a.csv", Body=b"x")
        _wait(lambda: handler.calls.count("uploads/d/a.csv") == 2)
        _wait(lambda: _queue_depth(stack, stack.resources.queue_url) == 0)  # type: ignore[union-attr]
        assert _queue_depth(stack, stack.resources.dlq_url) == 0


def test_a_poison_message_ends_in_the_dead_letter_queue() -> None:
    handler = RecordingHandler(fail=lambda key, attempt: True)
    with _stack(handler) as stack:
        assert stack.resources is not None
        stack.client("s3").put_object(Bucket=stack.raw_bucket, Key="uploads/d/bad.csv", Body=b"x")
        dlq = stack.resources.dlq_url
        _wait(lambda: _queue_depth(stack, dlq) == 1, timeout=30)
        # maxReceiveCount=2: two deliveries, then SQS moved it instead of a third.
        assert handler.calls.count("uploads/d/bad.csv") == 2
        body = json.loads(stack.client("sqs").receive_message(QueueUrl=dlq)["Messages"][0]["Body"])
        assert unquote_plus(body["Records"][0]["s3"]["object"]["key"]) == "uploads/d/bad.csv"

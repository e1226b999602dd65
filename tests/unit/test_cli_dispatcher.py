"""The queue dispatcher's Lambda semantics, with a recording fake SQS client (no AWS)."""

from __future__ import annotations

from typing import Any

import pytest

from cli.dispatcher import LambdaContext, QueueDispatcher, sqs_event

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:segments-ingest"


class FakeSqs:
    """Holds messages; records deletes. Enough of SQS for :class:`QueueDispatcher`."""

    def __init__(self, messages: list[dict[str, Any]]) -> None:
        self.messages = messages
        self.deleted: list[str] = []
        self.receive_calls: list[dict[str, Any]] = []

    def receive_message(self, **kwargs: Any) -> dict[str, Any]:
        self.receive_calls.append(kwargs)
        batch = self.messages[: kwargs["MaxNumberOfMessages"]]
        self.messages = self.messages[len(batch) :]
        return {"Messages": batch} if batch else {}

    def delete_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, str]]) -> None:
        self.deleted += [e["ReceiptHandle"] for e in Entries]


def _messages(n: int) -> list[dict[str, Any]]:
    return [
        {
            "MessageId": f"m{i}",
            "ReceiptHandle": f"r{i}",
            "Body": f'{{"n": {i}}}',
            "MD5OfBody": "md5",
            "Attributes": {"ApproximateReceiveCount": 1, "SentTimestamp": "1700000000000"},
        }
        for i in range(n)
    ]


def _dispatcher(sqs: FakeSqs, handler: Any, batch_size: int = 10) -> QueueDispatcher:
    return QueueDispatcher(
        sqs, "http://q", QUEUE_ARN, handler=handler, batch_size=batch_size, wait_seconds=0
    )


def test_event_has_lambda_record_shape() -> None:
    event = sqs_event(_messages(2), queue_arn=QUEUE_ARN, region="eu-west-1")
    record = event["Records"][1]
    assert record == {
        "messageId": "m1",
        "receiptHandle": "r1",
        "body": '{"n": 1}',
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000"},
        "messageAttributes": {},
        "md5OfBody": "md5",
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": "eu-west-1",
    }


def test_success_deletes_the_whole_batch() -> None:
    sqs = FakeSqs(_messages(3))
    seen: list[int] = []
    result = _dispatcher(sqs, lambda e, c: seen.append(len(e["Records"]))).poll_once()
    assert seen == [3]
    assert result is not None
    assert (result.deleted, result.failed) == (3, 0)
    assert sqs.deleted == ["r0", "r1", "r2"]


def test_batch_item_failures_stay_on_the_queue() -> None:
    sqs = FakeSqs(_messages(3))
    dispatcher = _dispatcher(sqs, lambda e, c: {"batchItemFailures": [{"itemIdentifier": "m1"}]})
    result = dispatcher.poll_once()
    assert result is not None
    assert (result.deleted, result.failed) == (2, 1)
    assert sqs.deleted == ["r0", "r2"]
    assert dispatcher.stats.failed == 1


def test_a_raising_handler_fails_the_whole_batch() -> None:
    def handler(event: Any, context: Any) -> Any:
        raise TimeoutError("S3 read timed out")

    sqs = FakeSqs(_messages(2))
    dispatcher = _dispatcher(sqs, handler)
    result = dispatcher.poll_once()
    assert result is not None
    assert result.deleted == 0
    assert result.failed == 2
    assert result.error == "TimeoutError: S3 read timed out"
    assert sqs.deleted == []


@pytest.mark.parametrize(
    "response",
    [
        {"batchItemFailures": [{"itemIdentifier": "not-in-batch"}]},
        {"batchItemFailures": [{"itemIdentifier": ""}]},
        {"batchItemFailures": [{}]},
    ],
)
def test_malformed_failure_report_fails_the_whole_batch(response: dict[str, Any]) -> None:
    sqs = FakeSqs(_messages(2))
    result = _dispatcher(sqs, lambda e, c: response).poll_once()
    assert result is not None
    assert result.deleted == 0
    assert sqs.deleted == []


def test_batch_size_is_passed_to_receive_and_checked() -> None:
    sqs = FakeSqs(_messages(3))
    dispatcher = _dispatcher(sqs, lambda e, c: None, batch_size=1)
    dispatcher.poll_once()
    assert sqs.receive_calls[0]["MaxNumberOfMessages"] == 1
    assert sqs.deleted == ["r0"]
    with pytest.raises(ValueError, match=r"batch_size=11 should be in 1\.\.10"):
        QueueDispatcher(sqs, "u", "a", batch_size=11)


def test_empty_queue_returns_none() -> None:
    assert _dispatcher(FakeSqs([]), lambda e, c: None).poll_once() is None


def test_context_counts_down() -> None:
    context = LambdaContext(timeout_seconds=2.0)
    assert 0 < context.get_remaining_time_in_millis() <= 2000
    assert context.invoked_function_arn.endswith(":function:segments-training-local")

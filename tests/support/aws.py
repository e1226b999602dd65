"""moto-backed AWS resources for tests, created exactly as the stack declares them.

The definitions themselves live in :mod:`cli.resources` (shared with the local stack, pinned
against ``infra/`` by its tests); this module adds what tests need around them: the fake
credentials, a fake Lambda context, and the Lambda SQS event built from messages that moto put
on the queue.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cli.resources import StackNames, StackResources, create_stack_resources

__all__ = [
    "AWS_TEST_ENV",
    "REGION",
    "FailingClient",
    "FakeLambdaContext",
    "StackResources",
    "make_local_stack",
    "receive_messages",
    "sqs_event_from_messages",
]

REGION = "us-east-1"
AWS_TEST_ENV = {
    "AWS_DEFAULT_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
"""Fake credentials: no test may ever reach a real account."""


def make_local_stack(s3: Any, sqs: Any, **kwargs: Any) -> StackResources:
    """Create the raw and models buckets, the queue + DLQ (redrive policy) and the raw bucket's
    notification (``uploads/`` + ``.csv``/``.csv.gz``/``.parquet`` -> queue) as the stack does.

    ``kwargs`` go to :func:`cli.resources.create_stack_resources` (``names``,
    ``visibility_timeout_seconds``, ``max_receive_count``).
    """
    kwargs.setdefault("names", StackNames())
    return create_stack_resources(s3, sqs, region=REGION, **kwargs)


def receive_messages(sqs: Any, queue_url: str, *, max_messages: int = 10) -> list[dict[str, Any]]:
    """Every message now visible on the queue (moto delivers S3 notifications synchronously)."""
    messages: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(10, max_messages - len(messages)),
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        messages.extend(batch)
        if not batch or len(messages) >= max_messages:
            return messages


def sqs_event_from_messages(
    messages: Iterable[dict[str, Any]], *, queue_arn: str, region: str = REGION
) -> dict[str, Any]:
    """The event Lambda's SQS event source mapping builds from received messages."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": dict(m.get("Attributes", {})),
                "messageAttributes": {
                    name: {
                        "stringValue": value.get("StringValue"),
                        "binaryValue": value.get("BinaryValue"),
                        "stringListValues": [],
                        "binaryListValues": [],
                        "dataType": value["DataType"],
                    }
                    for name, value in m.get("MessageAttributes", {}).items()
                },
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


class FailingClient:
    """Delegates to a real boto3 client, but ``fail[op]`` raises that S3 error code instead.

    ``FailingClient(s3, get_object="SlowDown")`` throttles every ``get_object``; clear
    ``fail`` to let calls through again. ``calls`` lists the operations called.
    """

    def __init__(self, client: Any, **fail: str) -> None:
        self._client = client
        self.fail = dict(fail)
        self.calls: list[str] = []

    def __getattr__(self, op: str) -> Any:
        from botocore.exceptions import ClientError

        target = getattr(self._client, op)

        def call(**kwargs: Any) -> Any:
            self.calls.append(op)
            if op in self.fail:
                code = self.fail[op]
                raise ClientError({"Error": {"Code": code, "Message": code}}, op)
            return target(**kwargs)

        return call


@dataclass
class FakeLambdaContext:
    """The attributes Powertools' ``inject_lambda_context`` reads."""

    function_name: str = "segments-training"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 3008
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:segments-training"
    aws_request_id: str = "52fdfc07-2182-154f-163f-5f0f9a621d72"
    log_group_name: str = "/aws/lambda/segments-training"
    log_stream_name: str = "2025/03/01/[$LATEST]abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000

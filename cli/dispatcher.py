"""A local stand-in for Lambda's SQS event source mapping.

:class:`QueueDispatcher` long-polls the ingest queue and invokes the training handler the way
Lambda does for an SQS event source with ``ReportBatchItemFailures``:

- up to ``batch_size`` messages become one SQS event (``Records`` shaped as Lambda sends them);
- the handler returns ``{"batchItemFailures": [{"itemIdentifier": <messageId>}, ...]}``: every
  other message is deleted; the listed ones stay and reappear after the visibility timeout;
- a handler that raises, or a response naming an unknown or empty ``itemIdentifier``, fails the
  whole batch (nothing is deleted);
- SQS itself counts receives and moves a message to the dead-letter queue after
  ``maxReceiveCount`` (the redrive policy), so poison messages end there, as deployed.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BatchResult", "DispatcherStats", "LambdaContext", "QueueDispatcher", "sqs_event"]

logger = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str = "segments-training-local"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 10240
    timeout_seconds: float = 900.0
    region: str = "us-east-1"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/segments-training-local"
    log_stream_name: str = "local"
    _started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the (simulated) function timeout."""
        left = self.timeout_seconds - (time.monotonic() - self._started)
        return max(0, int(left * 1000))


def sqs_event(messages: list[Mapping[str, Any]], *, queue_arn: str, region: str) -> dict[str, Any]:
    """Turn ``ReceiveMessage`` results into the event Lambda passes to an SQS-triggered function.

    Examples
    --------
    >>> msg = {"MessageId": "m1", "ReceiptHandle": "r1", "Body": "{}", "MD5OfBody": "x",
    ...        "Attributes": {"ApproximateReceiveCount": "1"}}
    >>> event = sqs_event([msg], queue_arn="arn:aws:sqs:us-east-1:1:q", region="us-east-1")
    >>> event["Records"][0]["messageId"], event["Records"][0]["eventSource"]
    ('m1', 'aws:sqs')
    """
    records = []
    for msg in messages:
        attributes = {k: str(v) for k, v in (msg.get("Attributes") or {}).items()}
        message_attributes = {
            name: {
                "stringValue": value.get("StringValue"),
                "binaryValue": value.get("BinaryValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value.get("DataType", "String"),
            }
            for name, value in (msg.get("MessageAttributes") or {}).items()
        }
        records.append(
            {
                "messageId": msg["MessageId"],
                "receiptHandle": msg["ReceiptHandle"],
                "body": msg["Body"],
                "attributes": attributes,
                "messageAttributes": message_attributes,
                "md5OfBody": msg.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
        )
    return {"Records": records}


@dataclass(frozen=True)
class BatchResult:
    """What happened to one batch."""

    received: int
    deleted: int
    failed: int
    error: str | None = None


@dataclass
class DispatcherStats:
    """Running totals, read by the CLI's progress display."""

    batches: int = 0
    received: int = 0
    deleted: int = 0
    failed: int = 0
    errors: int = 0
    busy: bool = False
    last_error: str | None = None


class QueueDispatcher:
    """Poll an SQS queue and invoke a handler per batch, as Lambda's event source mapping does.

    Parameters
    ----------
    sqs : botocore SQS client
    queue_url, queue_arn : str
        The queue to poll (the ARN goes into each record's ``eventSourceARN``).
    handler : callable, optional
        ``handler(event, context)``; default ``lambdas.training.handler.handler`` (imported on
        first use, so the environment the local stack sets is in place).
    batch_size : int
        Messages per invocation (1 to 10; the deployed event source uses 1).
    wait_seconds : int
        Long-poll wait per ``ReceiveMessage`` call; also bounds how long :meth:`stop` takes.
    region : str
        Goes into each record's ``awsRegion``.

    Examples
    --------
    >>> dispatcher = QueueDispatcher(None, "url", "arn", handler=lambda e, c: None)
    >>> dispatcher.batch_size
    1
    """

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        *,
        handler: Handler | None = None,
        batch_size: int = 1,
        wait_seconds: int = 1,
        region: str = "us-east-1",
        timeout_seconds: float = 900.0,
    ) -> None:
        if not 1 <= batch_size <= 10:
            raise ValueError(f"batch_size={batch_size} should be in 1..10 (SQS's limit)")
        self.sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.handler = handler
        self.batch_size = batch_size
        self.wait_seconds = wait_seconds
        self.region = region
        self.timeout_seconds = timeout_seconds
        self.stats = DispatcherStats()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _handler(self) -> Handler:
        if self.handler is None:
            from lambdas.training.handler import handler

            self.handler = handler
        return self.handler

    def poll_once(self) -> BatchResult | None:
        """Receive one batch and process it; None when the queue had nothing."""
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=self.wait_seconds,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        if not messages:
            return None
        return self.process(messages)

    def process(self, messages: list[Mapping[str, Any]]) -> BatchResult:
        """Invoke the handler with one batch and delete what succeeded."""
        event = sqs_event(messages, queue_arn=self.queue_arn, region=self.region)
        context = LambdaContext(region=self.region, timeout_seconds=self.timeout_seconds)
        self.stats.busy = True
        self.stats.batches += 1
        self.stats.received += len(messages)
        try:
            try:
                response = self._handler()(event, context)
            except Exception as e:  # Lambda: a raised error fails the whole batch
                logger.exception("training handler raised; the batch will be retried")
                return self._fail_all(messages, f"{type(e).__name__}: {e}")
            failed_ids = self._failed_ids(response, messages)
            if failed_ids is None:
                return self._fail_all(messages, f"invalid batchItemFailures in {response!r}")
            to_delete = [m for m in messages if m["MessageId"] not in failed_ids]
            if to_delete:
                self.sqs.delete_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(to_delete)
                    ],
                )
            self.stats.deleted += len(to_delete)
            self.stats.failed += len(failed_ids)
            if failed_ids:
                logger.warning(
                    "%d message(s) reported as failed; SQS redelivers them after the "
                    "visibility timeout",
                    len(failed_ids),
                )
            return BatchResult(len(messages), len(to_delete), len(failed_ids))
        finally:
            self.stats.busy = False

    def _fail_all(self, messages: list[Mapping[str, Any]], error: str) -> BatchResult:
        self.stats.errors += 1
        self.stats.failed += len(messages)
        self.stats.last_error = error
        return BatchResult(len(messages), 0, len(messages), error)

    @staticmethod
    def _failed_ids(response: Any, messages: list[Mapping[str, Any]]) -> set[str] | None:
        """The message ids to keep, or None when the response is malformed (batch fails)."""
        if not isinstance(response, Mapping) or "batchItemFailures" not in response:
            return set()  # no partial-failure report: every message succeeded
        failures = response["batchItemFailures"] or []
        known = {str(m["MessageId"]) for m in messages}
        ids: set[str] = set()
        for item in failures:
            identifier = item.get("itemIdentifier") if isinstance(item, Mapping) else None
            if not identifier or identifier not in known:
                return None
            ids.add(str(identifier))
        return ids

    def run(self) -> None:
        """Poll until :meth:`stop` is called; errors of the poll itself are logged and retried."""
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception as e:  # keep the loop alive (e.g. moto server restarting)
                self.stats.last_error = f"{type(e).__name__}: {e}"
                if self._stop.is_set():
                    break
                logger.warning("polling the queue failed: %s", e)
                self._stop.wait(1.0)

    def start(self) -> QueueDispatcher:
        """Start polling in a daemon thread."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self.run, name="sqs-dispatcher", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop polling; waits for the batch in progress (up to ``timeout`` seconds)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

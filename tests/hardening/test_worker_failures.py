"""Failures that used to leave no report (issue 16, item 4), through the real training handler.

- an unexpected exception in the engine is an internal error: a failure report with a generic
  message and the request id, the traceback in the log, the message acknowledged and
  ``current.json`` untouched (retrying would fail the same way);
- only transient errors are retried;
- a run killed by the platform (out of memory, timeout) cannot write anything, so the last
  delivery (``ApproximateReceiveCount`` at the redrive limit) writes a report before it starts;
  whatever that attempt concludes replaces the report, and a third kill leaves it in place.

Deliveries are real: moto's queue (the stack's redrive limit, visibility timeout 0) counts the
receives.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from cli.resources import MAX_RECEIVE_COUNT
from lambdas.training import runner
from lambdas.training.handler import handler
from shared.contract.layout import ModelLayout
from shared.exceptions import NotATableError, TransientStoreError
from shared.store.base import list_versions, read_current
from shared.store.s3 import S3ModelStore
from shared.training.pipeline import TrainingOutput
from tests.conftest import MotoStack
from tests.support.aws import FakeLambdaContext, receive_messages, sqs_event_from_messages
from tests.support.engine import FakeEngine, fake_csv, settings_training_run

DATASET = "shop"
LIMIT = MAX_RECEIVE_COUNT
"""Deliveries before the dead-letter queue: the local stack's redrive limit, as deployed."""


class Killed(BaseException):
    """Stands for the platform killing the process (out of memory, timeout): nothing in the
    process can catch it and go on, so no code after it runs."""


@dataclass
class ScriptedEngine(FakeEngine):
    """The fake engine, whose successive calls do what ``script`` says first:
    ``"kill"``, ``"crash"`` (a bug), ``"transient"``, ``"bad"`` (a bad file) or ``"ok"``.
    Records the failure reports present when each call starts."""

    script: list[str] = field(default_factory=list)
    store: S3ModelStore | None = None
    reports_seen: list[list[str]] = field(default_factory=list)

    def __call__(self, data: bytes, **kwargs: Any) -> TrainingOutput:  # type: ignore[override]
        assert self.store is not None
        self.reports_seen.append(self.store.list_keys(f"datasets/{DATASET}/failures/"))
        step = self.script.pop(0) if self.script else "ok"
        if step == "kill":
            raise Killed
        if step == "crash":
            raise KeyError("an internal detail that must stay in the log")
        if step == "transient":
            raise TransientStoreError("S3 was slow")
        if step == "bad":
            raise NotATableError("customers.csv: line 3 has 4 fields but the header has 2")
        return super().__call__(data, **kwargs)


@pytest.fixture
def stack(moto_stack: MotoStack) -> Iterator[MotoStack]:
    sqs, res = moto_stack.sqs, moto_stack.resources
    sqs.purge_queue(QueueUrl=res.queue_url)  # the s3:TestEvent
    sqs.set_queue_attributes(QueueUrl=res.queue_url, Attributes={"VisibilityTimeout": "0"})
    yield moto_stack
    runner.configure(None)


def _store(stack: MotoStack) -> S3ModelStore:
    return S3ModelStore(stack.resources.models_bucket, client=stack.s3)


def _engine(stack: MotoStack, *script: str) -> ScriptedEngine:
    engine = ScriptedEngine(script=list(script), store=_store(stack))
    runner.configure(settings_training_run(engine))
    return engine


def _deliver(stack: MotoStack) -> tuple[dict[str, Any] | None, str]:
    """Receive the upload's message once and run the handler on it, as Lambda would.

    Returns the handler's response (None when the process was "killed") and the receive count.
    """
    messages = receive_messages(stack.sqs, stack.resources.queue_url, max_messages=1)
    assert len(messages) == 1, messages
    count = messages[0]["Attributes"]["ApproximateReceiveCount"]
    event = sqs_event_from_messages(messages, queue_arn=stack.resources.queue_arn)
    try:
        response = handler(event, FakeLambdaContext())
    except Killed:
        return None, count
    if not response["batchItemFailures"]:  # Lambda deletes the acknowledged records
        handle = messages[0]["ReceiptHandle"]
        stack.sqs.delete_message(QueueUrl=stack.resources.queue_url, ReceiptHandle=handle)
    return dict(response), count


def _publish_good(stack: MotoStack) -> bytes:
    _engine(stack, "ok")
    stack.s3.put_object(Bucket=stack.resources.raw_bucket, Key=f"uploads/{DATASET}/good.csv",
                        Body=fake_csv(1, -1, 2))  # fmt: skip
    response, _ = _deliver(stack)
    assert response == {"batchItemFailures": []}
    return _store(stack).get_bytes(ModelLayout.current(DATASET))


def _upload(stack: MotoStack) -> None:
    stack.s3.put_object(Bucket=stack.resources.raw_bucket, Key=f"uploads/{DATASET}/new.csv",
                        Body=fake_csv(3, -3, 4))  # fmt: skip


def _reports(stack: MotoStack) -> list[dict[str, Any]]:
    store = _store(stack)
    keys = store.list_keys(f"datasets/{DATASET}/failures/")
    return [json.loads(store.get_bytes(k)) for k in keys]


def test_an_internal_error_is_reported_without_details_and_acknowledged(
    stack: MotoStack, caplog: pytest.LogCaptureFixture
) -> None:
    current = _publish_good(stack)
    _engine(stack, "crash")
    _upload(stack)

    response, _ = _deliver(stack)

    assert response == {"batchItemFailures": []}, "an internal error is not retried"
    (report,) = _reports(stack)
    request_id = FakeLambdaContext().aws_request_id
    assert report["error"] == (
        "training stopped on an internal error (KeyError); the details are in the training log "
        f"under request id {request_id}"
    )
    assert report["error_type"] == "InternalError"
    assert report["request_id"] == request_id
    assert report["source"]["key"] == f"uploads/{DATASET}/new.csv"
    assert "Traceback" in caplog.text
    assert "an internal detail that must stay in the log" in caplog.text
    assert _store(stack).get_bytes(ModelLayout.current(DATASET)) == current
    assert _store(stack).list_keys(f"datasets/{DATASET}/claims/") == []
    assert receive_messages(stack.sqs, stack.resources.queue_url) == []  # acknowledged


def test_transient_errors_are_retried_and_the_last_delivery_report_goes_once_it_publishes(
    stack: MotoStack,
) -> None:
    engine = _engine(stack, *["transient"] * (LIMIT - 1), "ok")
    _upload(stack)

    outcomes = [_deliver(stack) for _ in range(LIMIT)]

    assert [count for _, count in outcomes] == [str(n) for n in range(1, LIMIT + 1)]
    for response, _ in outcomes[:-1]:
        assert response is not None
        assert response["batchItemFailures"]  # retried
    assert outcomes[-1][0] == {"batchItemFailures": []}
    # The last delivery wrote its report before the engine started, and removed it after.
    assert [len(seen) for seen in engine.reports_seen] == [0] * (LIMIT - 1) + [1]
    assert _reports(stack) == []
    pointer = read_current(_store(stack), DATASET)
    assert pointer is not None
    assert pointer.source_key == f"uploads/{DATASET}/new.csv"


def test_a_worker_killed_on_every_delivery_leaves_a_report(stack: MotoStack) -> None:
    current = _publish_good(stack)
    engine = _engine(stack, *["kill"] * LIMIT)
    _upload(stack)

    outcomes = [_deliver(stack) for _ in range(LIMIT)]

    assert outcomes == [(None, str(n)) for n in range(1, LIMIT + 1)]
    assert [len(seen) for seen in engine.reports_seen] == [0] * (LIMIT - 1) + [1]
    (report,) = _reports(stack)
    assert report["error"].startswith(
        f"previous attempts ran out of memory or time (delivery {LIMIT} of {LIMIT}, the last one)"
    )
    assert report["error_type"] == "PreviousAttemptsFailedError"
    assert report["source"]["key"] == f"uploads/{DATASET}/new.csv"
    assert _store(stack).get_bytes(ModelLayout.current(DATASET)) == current
    assert len(list_versions(_store(stack), DATASET)) == 1
    # SQS then dead-letters the message: nobody waits for a run that will never come.
    assert receive_messages(stack.sqs, stack.resources.queue_url) == []
    assert len(receive_messages(stack.sqs, stack.resources.dlq_url)) == 1


def test_a_last_delivery_that_finds_a_bad_file_keeps_only_its_own_report(
    stack: MotoStack,
) -> None:
    _engine(stack, *["kill"] * (LIMIT - 1), "bad")
    _upload(stack)

    outcomes = [_deliver(stack) for _ in range(LIMIT)]

    assert outcomes[-1] == ({"batchItemFailures": []}, str(LIMIT))
    (report,) = _reports(stack)
    assert report["error_type"] == "NotATableError"
    assert report["error"] == "customers.csv: line 3 has 4 fields but the header has 2"


def test_no_last_delivery_report_below_the_redrive_limit(
    stack: MotoStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.settings import get_settings

    monkeypatch.setenv("MAX_RECEIVE_COUNT", str(LIMIT + 1))  # a deployment with a higher limit
    get_settings.cache_clear()
    engine = _engine(stack, *["transient"] * (LIMIT - 1), "ok")
    _upload(stack)

    outcomes = [_deliver(stack) for _ in range(LIMIT)]

    assert outcomes[-1] == ({"batchItemFailures": []}, str(LIMIT))
    assert [len(seen) for seen in engine.reports_seen] == [0] * LIMIT

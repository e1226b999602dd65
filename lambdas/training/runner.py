"""The training Lambda's plumbing: event records -> :class:`~shared.training.run.TrainingRun`.

Events are read with Powertools' ``S3Event``/``SQSEvent`` data classes (tolerant of the fields
moto leaves out). Each record's ``eventTime`` (milliseconds) goes with the upload: it orders two
uploads made within one second. Per S3 record: ``s3:TestEvent`` messages and
non-``ObjectCreated`` records are skipped, keys are URL-decoded (``unquote_plus``), and
everything else goes to the training run, which ignores keys outside ``uploads/<dataset>/``. A
``configs/<dataset>.json`` upload alone does not train (the bucket notification does not even
send it): the config applies from the dataset's next upload. Only transient errors
(:class:`TransientStoreError`: throttling, network, another worker's claim) are re-raised, so
the batch processor reports the record in ``batchItemFailures`` and SQS redelivers it (then
dead-letters it); every other outcome, internal errors included, ends in a version or a failure
report and the message is acknowledged (see :mod:`shared.training.run`). A message delivered for
the last time (``ApproximateReceiveCount`` at ``MAX_RECEIVE_COUNT``, the queue's redrive limit)
makes the run write a failure report before it starts, since an out-of-memory kill or a timeout
cannot.

The :class:`TrainingRun` is built on first use from :func:`shared.settings.get_settings`
(``RAW_BUCKET``; ``MODELS_DIR`` or ``MODELS_BUCKET``); tests inject one with :func:`configure`.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes import S3Event, SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.contract.layout import RawLayout
from shared.exceptions import TransientStoreError
from shared.settings import get_settings
from shared.store.s3 import build_model_store, build_raw_reader
from shared.training.run import TrainingResult, TrainingRun, UploadEvent
from shared.training.score_run import ScoreResult, ScoreRun

__all__ = [
    "METRICS_NAMESPACE",
    "configure",
    "event_time_of",
    "final_attempt_of",
    "get_score_run",
    "get_training_run",
    "is_sqs_event",
    "logger",
    "metrics",
    "process_s3_event",
    "process_sqs_record",
    "processor",
    "uploads_in",
]

METRICS_NAMESPACE = "CustomerSegmentation"
_STATUS_METRICS = {
    "published": "TrainingSucceeded",
    "duplicate": "TrainingDuplicate",
    "failed": "TrainingFailed",
    "ignored": "TrainingSkipped",
    "rejected": "TrainingSkipped",
    "started": "TrainingDistributed",
}

# The service name comes from POWERTOOLS_SERVICE_NAME (set by the stack: segments-training).
logger = Logger()
metrics = Metrics(namespace=METRICS_NAMESPACE)
# A batch where every record fails still answers with batchItemFailures (not an exception), so
# the response always lists exactly the records to retry.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

# The shared/ modules log through their own loggers: give them the Lambda's JSON formatting.
logging.getLogger("shared")
copy_config_to_registered_loggers(source_logger=logger, include={"shared"})

_training_run: TrainingRun | None = None
_score_run: ScoreRun | None = None


def configure(run: TrainingRun | None, score_run: ScoreRun | None = None) -> None:
    """Use ``run`` (and ``score_run``) for the next events (tests); ``None`` rebuilds them from
    the settings."""
    global _training_run, _score_run
    _training_run = run
    _score_run = score_run


def get_score_run() -> ScoreRun:
    """The container's :class:`ScoreRun` (``score/<dataset>/...`` uploads), built on first use."""
    global _score_run
    if _score_run is None:
        settings = get_settings()
        _score_run = ScoreRun(
            store=build_model_store(settings),
            raw=build_raw_reader(settings),
            max_upload_bytes=settings.max_upload_bytes,
            max_decompressed_bytes=settings.max_decompressed_bytes,
        )
    return _score_run


def get_training_run() -> TrainingRun:
    """The container's :class:`TrainingRun`, built from the settings on first use."""
    global _training_run
    if _training_run is None:
        settings = get_settings()
        workflow = None
        if settings.workflow_state_machine_arn:
            from shared.store.workflow import StepFunctionsStarter

            workflow = StepFunctionsStarter(settings.workflow_state_machine_arn)
        _training_run = TrainingRun(
            store=build_model_store(settings),
            raw=build_raw_reader(settings),
            max_upload_bytes=settings.max_upload_bytes,
            max_decompressed_bytes=settings.max_decompressed_bytes,
            keep_versions=settings.keep_versions,
            streaming_min_bytes=settings.streaming_min_bytes,
            workflow=workflow,
            workflow_min_bytes=settings.workflow_min_bytes,
        )
    return _training_run


def is_sqs_event(event: dict[str, Any]) -> bool:
    """True for an SQS event (records from ``aws:sqs``), False for a direct S3 event.

    Examples
    --------
    >>> is_sqs_event({"Records": [{"eventSource": "aws:sqs"}]})
    True
    """
    records = event.get("Records") or []
    return bool(records) and records[0].get("eventSource") == "aws:sqs"


def uploads_in(event: S3Event) -> list[UploadEvent]:
    """The created objects an S3 notification names (test events and deletions skipped).

    Examples
    --------
    >>> event = S3Event({"Records": [{"eventName": "ObjectCreated:Put", "s3": {
    ...     "bucket": {"name": "raw"}, "object": {"key": "uploads/mall/a+b.csv", "size": 1}}}]})
    >>> uploads_in(event)[0].key
    'uploads/mall/a b.csv'
    """
    if event.get("Event") == "s3:TestEvent" or "Records" not in event:
        logger.info("skipping a message that is not an S3 object event", extra={"body": event})
        return []
    uploads = []
    for record in event.records:
        if not record.event_name.startswith("ObjectCreated"):
            logger.info("skipping %s event", record.event_name)
            continue
        obj = record.s3.get_object
        uploads.append(
            UploadEvent(
                key=unquote_plus(obj.key),
                bucket=record.s3.bucket.name,
                version_id=obj.version_id or None,
                etag=obj.etag or None,
                event_time=event_time_of(record.get("eventTime")),
            )
        )
    return uploads


def event_time_of(value: object) -> datetime | None:
    """A record's ``eventTime`` (``2025-03-01T12:00:05.123Z``) as a UTC time, or None.

    It orders two uploads of one dataset made within one second (see
    :mod:`shared.training.run`); a missing or malformed value falls back to the object's
    Last-Modified.

    Examples
    --------
    >>> event_time_of("2025-03-01T12:00:05.123Z")
    datetime.datetime(2025, 3, 1, 12, 0, 5, 123000, tzinfo=datetime.timezone.utc)
    >>> event_time_of(None), event_time_of("yesterday")
    (None, None)
    """
    if not isinstance(value, str) or not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        logger.warning("ignoring an unreadable eventTime %.60r", value)
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def process_s3_event(
    event: S3Event, *, request_id: str | None = None, final_attempt: str | None = None
) -> list[TrainingResult | ScoreResult]:
    """Run training (or scoring, for ``score/`` keys) for every upload of a (direct or
    SQS-carried) S3 notification.

    ``request_id`` (the invocation's) is quoted in internal-error reports; ``final_attempt``
    (e.g. ``"delivery 3 of 3"``) marks the message's last delivery.
    """
    uploads = uploads_in(event)
    metrics.add_metric(name="UploadsReceived", unit=MetricUnit.Count, value=len(uploads))
    return [
        _score(upload)
        if RawLayout.score_dataset_of(upload.key) is not None
        else _train(upload, request_id, final_attempt)
        for upload in uploads
    ]


def _score(upload: UploadEvent) -> ScoreResult:
    """A ``score/<dataset>/<file>`` upload: score it (see :mod:`shared.training.score_run`)."""
    result = get_score_run().run(upload.key, version_id=upload.version_id)
    metrics.add_metric(
        name="ScoringSucceeded" if result.status == "done" else "ScoringSkipped",
        unit=MetricUnit.Count,
        value=1,
    )
    return result


def final_attempt_of(record: SQSRecord, max_receive_count: int) -> str | None:
    """``"delivery N of M"`` when this delivery is the last before the dead-letter queue.

    Examples
    --------
    >>> record = SQSRecord({"attributes": {"ApproximateReceiveCount": "3"}})
    >>> final_attempt_of(record, 3), final_attempt_of(record, 4)
    ('delivery 3 of 3', None)
    """
    try:
        received = int(record.attributes.approximate_receive_count)
    except (KeyError, TypeError, ValueError):
        return None
    return f"delivery {received} of {max_receive_count}" if received >= max_receive_count else None


def process_sqs_record(
    record: SQSRecord, lambda_context: LambdaContext | None = None
) -> list[dict[str, Any]]:
    """The batch processor's record handler: the body is an S3 notification.

    A body that is not JSON is re-raised: retried, then dead-lettered where it can be inspected.
    """
    try:
        body = record.json_body
    except ValueError:
        metrics.add_metric(name="MessagesUnreadable", unit=MetricUnit.Count, value=1)
        logger.error("message %s is not JSON: %.200s", record.message_id, record.body)
        raise
    final = final_attempt_of(record, get_settings().max_receive_count)
    if final is not None:
        logger.warning(
            "message %s: %s, the last before the dead-letter queue", record.message_id, final
        )
    request_id = getattr(lambda_context, "aws_request_id", None)
    results = process_s3_event(S3Event(body), request_id=request_id, final_attempt=final)
    return [r.to_dict() for r in results]


def _train(
    upload: UploadEvent, request_id: str | None, final_attempt: str | None
) -> TrainingResult:
    try:
        result = get_training_run().run(upload, request_id=request_id, final_attempt=final_attempt)
    except TransientStoreError as e:
        metrics.add_metric(name="TrainingRetried", unit=MetricUnit.Count, value=1)
        logger.warning("retrying %s later: %s", upload.key, e)
        raise
    except Exception:
        # Only when not even a failure report could be written (storage refusing us).
        metrics.add_metric(name="TrainingErrored", unit=MetricUnit.Count, value=1)
        logger.exception("training %s failed and no report was written; retrying", upload.key)
        raise
    if result.error_type == "InternalError":
        metrics.add_metric(name="TrainingErrored", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name=_STATUS_METRICS[result.status], unit=MetricUnit.Count, value=1)
    if result.status == "published":
        metrics.add_metric(name="TrainingSeconds", unit=MetricUnit.Seconds, value=result.seconds)
    return result

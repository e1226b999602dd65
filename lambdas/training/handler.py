"""Training Lambda: S3 upload notifications (through SQS, or direct) -> a published model version.

The rules (idempotency, ordering, failures, retention) live in :mod:`shared.training`; the event
plumbing in :mod:`lambdas.training.runner`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.data_classes import S3Event
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.training.runner import (
    is_sqs_event,
    logger,
    metrics,
    process_s3_event,
    process_sqs_record,
    processor,
)

__all__ = ["handler"]


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> Mapping[str, object]:
    """Train on each uploaded object the event names.

    An SQS event answers ``{"batchItemFailures": [...]}`` (the records to retry); a direct S3
    event answers ``{"results": [...]}`` and raises when a record should be retried.
    """
    if is_sqs_event(event):
        return process_partial_response(
            event=event, record_handler=process_sqs_record, processor=processor, context=context
        )
    results = process_s3_event(S3Event(event), request_id=context.aws_request_id)
    return {"results": [r.to_dict() for r in results]}

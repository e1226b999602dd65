"""The AWS resources of the stack, created with boto3 exactly as ``infra/`` declares them.

One definition, used by the local stack (against moto server) and by tests (against moto's
mock): two versioned buckets with all public access blocked, an ingest queue whose dead-letter
queue takes a message after :data:`MAX_RECEIVE_COUNT` receives, a queue policy that lets only the
raw bucket send, and the raw bucket's notification of ``uploads/`` (training) and ``score/``
(whole-file scoring) objects ending in :data:`UPLOAD_SUFFIXES` to the queue. Keep it in step
with ``infra/constructs/storage.py`` and ``infra/constructs/training.py`` (the values are
pinned by ``tests/unit/test_cli_resources.py``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from shared.contract.layout import RawLayout

__all__ = [
    "DLQ_RETENTION_SECONDS",
    "MAX_RECEIVE_COUNT",
    "NOTIFIED_PREFIXES",
    "QUEUE_RETENTION_SECONDS",
    "SCORE_PREFIX",
    "UPLOAD_PREFIX",
    "UPLOAD_SUFFIXES",
    "StackNames",
    "StackResources",
    "create_stack_resources",
    "notification_configuration",
]

logger = logging.getLogger(__name__)

UPLOAD_PREFIX: str = RawLayout.UPLOADS
"""Objects under this prefix of the raw bucket start a training run."""

SCORE_PREFIX: str = RawLayout.SCORES
"""Objects under this prefix of the raw bucket are scored against the current model."""
NOTIFIED_PREFIXES: tuple[str, ...] = (UPLOAD_PREFIX, SCORE_PREFIX)

UPLOAD_SUFFIXES: tuple[str, ...] = RawLayout.SUFFIXES
"""One S3 notification rule per suffix (a rule holds one prefix and one suffix)."""

MAX_RECEIVE_COUNT = 5
"""Receives after which SQS moves a message to the dead-letter queue (as in infra/)."""

QUEUE_RETENTION_SECONDS = 4 * 24 * 3600
DLQ_RETENTION_SECONDS = 14 * 24 * 3600


@dataclass(frozen=True)
class StackNames:
    """Names of the local resources (the deployed stack lets CloudFormation name them).

    Examples
    --------
    >>> StackNames().raw_bucket
    'segments-raw'
    """

    raw_bucket: str = "segments-raw"
    models_bucket: str = "segments-models"
    queue: str = "segments-ingest"
    dead_letter_queue: str = "segments-ingest-dlq"


@dataclass(frozen=True)
class StackResources:
    """What :func:`create_stack_resources` created."""

    raw_bucket: str
    models_bucket: str
    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str
    region: str


def notification_configuration(queue_arn: str) -> dict[str, Any]:
    """The raw bucket's notification: ``uploads/`` and ``score/``, each with each of
    :data:`UPLOAD_SUFFIXES` -> queue.

    Examples
    --------
    >>> cfg = notification_configuration("arn:aws:sqs:us-east-1:123456789012:q")
    >>> [r["Filter"]["Key"]["FilterRules"][1]["Value"] for r in cfg["QueueConfigurations"]][:6]
    ['.csv', '.csv.gz', '.parquet', '.CSV', '.CSV.GZ', '.PARQUET']
    >>> len(cfg["QueueConfigurations"])
    12
    """
    return {
        "QueueConfigurations": [
            {
                "Id": f"{prefix.rstrip('/')}{suffix.replace('.', '-')}",
                "QueueArn": queue_arn,
                "Events": ["s3:ObjectCreated:*"],
                "Filter": {
                    "Key": {
                        "FilterRules": [
                            {"Name": "prefix", "Value": prefix},
                            {"Name": "suffix", "Value": suffix},
                        ]
                    }
                },
            }
            for prefix in NOTIFIED_PREFIXES
            for suffix in UPLOAD_SUFFIXES
        ]
    }


def _create_bucket(s3: Any, name: str, region: str) -> None:
    kwargs: dict[str, Any] = {"Bucket": name}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**kwargs)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_public_access_block(
        Bucket=name,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )


def create_stack_resources(
    s3: Any,
    sqs: Any,
    *,
    names: StackNames | None = None,
    region: str = "us-east-1",
    visibility_timeout_seconds: int = 90 * 60,
    max_receive_count: int = MAX_RECEIVE_COUNT,
) -> StackResources:
    """Create the buckets, the queue + DLQ and the S3 -> SQS notification.

    Parameters
    ----------
    s3, sqs : botocore clients
        Clients for the target (moto server, moto's mock or a sandbox account).
    names : StackNames, optional
        Resource names; default :class:`StackNames`.
    region : str
        The clients' region (the bucket location constraint and the ARNs use it).
    visibility_timeout_seconds : int
        The queue's visibility timeout. The stack uses 6 x the training timeout (90 min); the
        local stack uses less so that a failed batch item is retried within a demo's time.
    max_receive_count : int
        Receives before SQS moves a message to the dead-letter queue.

    Returns
    -------
    StackResources
        Names, URLs and ARNs of what was created.

    Examples
    --------
    >>> import boto3
    >>> from moto import mock_aws
    >>> with mock_aws():
    ...     res = create_stack_resources(
    ...         boto3.client("s3", region_name="us-east-1"),
    ...         boto3.client("sqs", region_name="us-east-1"),
    ...     )
    >>> res.raw_bucket
    'segments-raw'
    """
    names = names or StackNames()
    for bucket in (names.raw_bucket, names.models_bucket):
        _create_bucket(s3, bucket, region)

    dlq_url = sqs.create_queue(
        QueueName=names.dead_letter_queue,
        Attributes={"MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS)},
    )["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    raw_bucket_arn = f"arn:aws:s3:::{names.raw_bucket}"
    queue_url = sqs.create_queue(
        QueueName=names.queue,
        Attributes={
            "VisibilityTimeout": str(visibility_timeout_seconds),
            "MessageRetentionPeriod": str(QUEUE_RETENTION_SECONDS),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)}
            ),
        },
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": ["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"],
                "Resource": queue_arn,
                "Condition": {"ArnLike": {"aws:SourceArn": raw_bucket_arn}},
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})
    s3.put_bucket_notification_configuration(
        Bucket=names.raw_bucket,
        NotificationConfiguration=notification_configuration(queue_arn),
    )
    logger.info(
        "created buckets %s, %s and queue %s (DLQ after %d receives)",
        names.raw_bucket,
        names.models_bucket,
        names.queue,
        max_receive_count,
    )
    return StackResources(
        raw_bucket=names.raw_bucket,
        models_bucket=names.models_bucket,
        queue_url=queue_url,
        queue_arn=queue_arn,
        dlq_url=dlq_url,
        dlq_arn=dlq_arn,
        region=region,
    )

"""Training: the ingest queue (+ dead-letter queue) and the training function it feeds."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, RemovalPolicy, Size
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.constructs.function import image_function

__all__ = ["TRAINING_HANDLER", "Training"]

#: Image command of the training function (contract: lambdas/training/handler.py:handler).
TRAINING_HANDLER = "lambdas.training.handler.handler"


class Training(Construct):
    """SQS ingest queue -> training Lambda (container image), with a dead-letter queue.

    The queue receives the raw bucket's S3 notifications (wired by the stack). Its visibility
    timeout is six times the function timeout, so a message is not redelivered while a run that
    received it may still be working; after ``max_receive_count`` failed receives it moves to
    the DLQ. The event source reads one message per invocation (one upload = one run) and
    reports partial batch failures. Concurrency is capped by the event source's
    ``max_concurrency`` (so SQS never throttles into retries) and, optionally, by reserved
    concurrency (so a burst of uploads cannot take the account's whole Lambda pool; a new
    account with a concurrency quota of 10 cannot reserve any, hence off by default).

    Parameters
    ----------
    scope, construct_id
        The usual construct arguments.
    image
        The image asset of the training function (Dockerfile target ``training``).
    environment
        Environment variables of the function (the stack builds them from one dict).
    memory_mb, timeout_minutes, ephemeral_storage_gib
        Function sizing. 3,008 MB (the default) is what a new account allows and fits about
        2M rows in memory (~1.2 GB per 1M rows); up to 10,240 MB after a quota increase.
    reserved_concurrency
        Reserved concurrent executions; 0 leaves it unreserved (new accounts with a
        concurrency quota of 10 cannot reserve any).
    max_concurrency
        Maximum concurrent invocations by the SQS event source (>= 2).
    max_receive_count
        Receives before a message moves to the DLQ. AWS suggests at least 5 for Lambda event
        sources, so a message is not dead-lettered only because invocations were throttled.
        The local stack uses the same number (``cli/resources.py``: ``MAX_RECEIVE_COUNT``;
        ``tests/unit/test_cli_resources.py`` keeps them equal).
    log_level
        Application log level of the function's JSON logs.
    allow_destroy
        Delete the log group with the stack (dev stacks).

    Examples
    --------
    >>> training.queue.queue_arn  # doctest: +SKIP
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        image: ecr_assets.DockerImageAsset,
        environment: Mapping[str, str],
        memory_mb: int = 3008,
        timeout_minutes: int = 15,
        ephemeral_storage_gib: int = 10,
        reserved_concurrency: int = 0,
        max_concurrency: int = 2,
        max_receive_count: int = 5,
        log_level: str = "INFO",
        allow_destroy: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        removal = RemovalPolicy.DESTROY if allow_destroy else RemovalPolicy.RETAIN
        timeout = Duration.minutes(timeout_minutes)

        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        self.queue = sqs.Queue(
            self,
            "IngestQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=Duration.minutes(6 * timeout_minutes),
            retention_period=Duration.days(4),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letter_queue, max_receive_count=max_receive_count
            ),
        )

        # Only its own log group: no AWSLambdaBasicExecutionRole (logs:* on every group).
        self.log_group, self.role, self.function = image_function(
            self,
            image=image,
            handler=TRAINING_HANDLER,
            description="Trains segment models for each upload (lambdas/training/handler.py).",
            role_description="Training function: reads raw uploads, writes model versions.",
            memory_mb=memory_mb,
            timeout=timeout,
            environment=environment,
            removal=removal,
            log_level=log_level,
            ephemeral_storage_size=Size.gibibytes(ephemeral_storage_gib),
            reserved_concurrent_executions=reserved_concurrency or None,
        )
        self.timeout = timeout
        self.max_receive_count = max_receive_count
        self.function.add_event_source(
            event_sources.SqsEventSource(
                self.queue,
                batch_size=1,
                report_batch_item_failures=True,
                max_concurrency=max_concurrency,
            )
        )

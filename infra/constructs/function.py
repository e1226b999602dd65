"""What the stack's Lambda functions share: an image function with its own log group and role."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

__all__ = ["application_log_level", "image_function"]

_LOG_LEVELS = {
    "DEBUG": lambda_.ApplicationLogLevel.DEBUG,
    "INFO": lambda_.ApplicationLogLevel.INFO,
    "WARNING": lambda_.ApplicationLogLevel.WARN,
    "WARN": lambda_.ApplicationLogLevel.WARN,
    "ERROR": lambda_.ApplicationLogLevel.ERROR,
    "CRITICAL": lambda_.ApplicationLogLevel.FATAL,
}


def application_log_level(level: str) -> lambda_.ApplicationLogLevel:
    """Lambda's application log level for a Python level name (``LOG_LEVEL``).

    Examples
    --------
    >>> application_log_level("warning").value
    'WARN'
    """
    try:
        return _LOG_LEVELS[level.upper()]
    except KeyError:
        raise ValueError(f"logLevel={level!r} is not one of {sorted(_LOG_LEVELS)}") from None


def image_function(
    scope: Construct,
    *,
    image: ecr_assets.DockerImageAsset,
    handler: str,
    description: str,
    role_description: str,
    memory_mb: int,
    timeout: Duration,
    environment: Mapping[str, str],
    removal: RemovalPolicy,
    log_level: str = "INFO",
    **options: Any,
) -> tuple[logs.LogGroup, iam.Role, lambda_.DockerImageFunction]:
    """A function of the shared image, with a one-month log group and a role of its own.

    Creates ``Logs``, ``Role`` and ``Function`` in ``scope``. The role may write to that log
    group only (no AWSLambdaBasicExecutionRole, which grants ``logs:*`` on every group); the
    caller grants the rest. ``options`` go to :class:`aws_cdk.aws_lambda.DockerImageFunction`.

    Logs are JSON (Lambda's advanced logging controls): the runtime formats every record of
    Python's ``logging`` module as one JSON object with level, logger, request id and
    timestamp, and Powertools' loggers already write JSON, so both functions' logs can be
    queried by field in Logs Insights. ``log_level`` filters application logs there.

    Examples
    --------
    >>> from aws_cdk import Stack
    >>> from aws_cdk.aws_ecr_assets import DockerImageAsset
    >>> stack = Stack()
    >>> image = DockerImageAsset(stack, "Image", directory=".")  # doctest: +SKIP
    >>> logs_, role, fn = image_function(stack, image=image, handler="m.handler",
    ...     description="d", role_description="r", memory_mb=512,
    ...     timeout=Duration.seconds(29), environment={},
    ...     removal=RemovalPolicy.DESTROY)  # doctest: +SKIP
    """
    log_group = logs.LogGroup(
        scope, "Logs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=removal
    )
    role = iam.Role(
        scope,
        "Role",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description=role_description,
    )
    log_group.grant_write(role)
    function = lambda_.DockerImageFunction(
        scope,
        "Function",
        description=description,
        code=lambda_.DockerImageCode.from_ecr(
            image.repository, tag_or_digest=image.image_tag, cmd=[handler]
        ),
        architecture=lambda_.Architecture.X86_64,
        memory_size=memory_mb,
        timeout=timeout,
        environment=dict(environment),
        role=role,
        log_group=log_group,
        logging_format=lambda_.LoggingFormat.JSON,
        application_log_level_v2=application_log_level(log_level),
        system_log_level_v2=lambda_.SystemLogLevel.INFO,
        **options,
    )
    return log_group, role, function

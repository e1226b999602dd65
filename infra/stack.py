"""The one stack of the system: composes the constructs, grants access and wires environment."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from constructs import Construct

from infra.config import DeploymentConfig
from infra.constructs import Monitoring, SegmentsApi, Storage, Training, TrainingWorkflow
from infra.constructs.monitoring import TrainingMetrics
from infra.nag import acknowledge

__all__ = [
    "IMAGE_EXCLUDES",
    "IMAGE_TARGETS",
    "REPO_ROOT",
    "UPLOAD_PREFIX",
    "UPLOAD_SUFFIXES",
    "SegmentsStack",
    "function_environment",
]

#: Build context of the Lambda image: the repository root (see Dockerfile and .dockerignore).
REPO_ROOT = Path(__file__).resolve().parent.parent
#: Kept out of the asset's fingerprint and copy even if .dockerignore were lost (speed).
IMAGE_EXCLUDES = [
    ".git",
    ".venv",
    "node_modules",
    "cdk.out",
    "tests",
    "infra",
    "docs",
    "bench",
    "data",
    ".local",
    "test-output",
    "**/__pycache__",
    "**/.pytest_cache",
    "**/.mypy_cache",
    "**/.ruff_cache",
    "**/.hypothesis",
]
#: Dockerfile targets (stages): the request path's packages only, and the whole runtime.
IMAGE_TARGETS = ("api", "training")
UPLOAD_PREFIX = "uploads/"
SCORE_PREFIX = "score/"
NOTIFIED_PREFIXES = (UPLOAD_PREFIX, SCORE_PREFIX)
UPLOAD_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".CSV", ".CSV.GZ", ".PARQUET")


def function_environment(
    config: DeploymentConfig, *, raw_bucket: str, models_bucket: str
) -> dict[str, dict[str, str]]:
    """Environment of each function, from one place (names match ``shared/settings.py``).

    Parameters
    ----------
    config
        Deployment options.
    raw_bucket, models_bucket
        Bucket names (CloudFormation tokens at synth time).

    Returns
    -------
    dict
        ``{"training": {...}, "api": {...}}``.

    Examples
    --------
    >>> env = function_environment(DeploymentConfig(), raw_bucket="r", models_bucket="m")
    >>> env["api"]["MODELS_BUCKET"], env["training"]["RAW_BUCKET"]
    ('m', 'r')
    """
    common = {
        "RAW_BUCKET": raw_bucket,
        "MODELS_BUCKET": models_bucket,
        "LOG_LEVEL": config.log_level,
        "KEEP_VERSIONS": str(config.keep_versions),
        "POWERTOOLS_LOG_LEVEL": config.log_level,
        # Lambda has no /dev/shm: tell joblib up front instead of letting it warn per run.
        "JOBLIB_MULTIPROCESSING": "0",
    }
    api = {
        **common,
        "POWERTOOLS_SERVICE_NAME": "segments-api",
        "LOG_FORMAT": "json",  # one JSON object per line (lambdas/api/logs.py)
        "MODEL_REFRESH_SECONDS": str(config.model_refresh_seconds),
    }
    if not config.api_docs:
        api["API_DOCS"] = "false"  # /docs and /redoc would load scripts from a CDN
    # Static tokens are optional defence in depth behind the JWT authorizer (see docs/deploy.md).
    if config.api_tokens:
        api["API_TOKENS"] = config.api_tokens
    if config.admin_tokens:
        api["ADMIN_TOKENS"] = config.admin_tokens
    return {
        "training": {**common, "POWERTOOLS_SERVICE_NAME": "segments-training"},
        "api": api,
    }


def _acknowledge_object_patterns(
    role: iam.IRole, patterns: dict[s3.IBucket, tuple[str, ...]], reason: str
) -> None:
    """Acknowledge cdk-nag IAM5 for key patterns inside named buckets (not ``Resource::*``).

    cdk-nag 3 names each finding after the resource, e.g.
    ``AwsSolutions-IAM5[Resource::<StorageRaw1234ABCD.Arn>/uploads/*]``; the logical id is
    computed here, so no hashed id is written by hand.
    """
    for bucket, keys in patterns.items():
        cfn_bucket = bucket.node.default_child
        if not isinstance(cfn_bucket, s3.CfnBucket):
            raise TypeError(f"{bucket.node.path} is not an L2 bucket with a CfnBucket child")
        logical_id = Stack.of(bucket).get_logical_id(cfn_bucket)
        for key in keys:
            acknowledge(role, f"AwsSolutions-IAM5[Resource::<{logical_id}.Arn>/{key}]", reason)


class SegmentsStack(Stack):
    """Raw bucket -> queue -> training function -> models bucket <- API function <- HTTP API.

    Parameters
    ----------
    scope, construct_id
        The usual construct arguments.
    config
        Deployment options (``DeploymentConfig.from_node(app.node)`` in ``app.py``).
    **kwargs
        Passed to :class:`aws_cdk.Stack` (``env``, ``description``, ...).

    Examples
    --------
    >>> from aws_cdk import App
    >>> stack = SegmentsStack(App(), "Segments", config=DeploymentConfig())  # doctest: +SKIP
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeploymentConfig,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        self.config = config

        self.storage = Storage(
            self,
            "Storage",
            allow_destroy=config.allow_destroy,
            raw_upload_retention_days=config.raw_upload_retention_days,
            noncurrent_version_retention_days=config.noncurrent_version_retention_days,
            access_log_retention_days=config.access_log_retention_days,
        )
        raw, models = self.storage.raw_bucket, self.storage.models_bucket
        environment = function_environment(
            config, raw_bucket=raw.bucket_name, models_bucket=models.bucket_name
        )
        # One Dockerfile, one target per function (each function also sets its image command).
        self.images = {
            target: ecr_assets.DockerImageAsset(
                self,
                f"{target.capitalize()}Image",
                directory=str(REPO_ROOT),
                file="Dockerfile",
                target=target,
                platform=ecr_assets.Platform.LINUX_AMD64,
                exclude=IMAGE_EXCLUDES,
            )
            for target in sorted({"training", config.api_image_target})
        }

        self.training = Training(
            self,
            "Training",
            image=self.images["training"],
            environment=environment["training"],
            memory_mb=config.training_memory_mb,
            timeout_minutes=config.training_timeout_minutes,
            ephemeral_storage_gib=config.training_ephemeral_storage_gib,
            reserved_concurrency=config.training_reserved_concurrency,
            max_concurrency=config.training_max_concurrency,
            log_level=config.log_level,
            allow_destroy=config.allow_destroy,
        )
        # Uploads past WORKFLOW_MIN_BYTES are handed to the training state machine.
        self.workflow = TrainingWorkflow(
            self,
            "Workflow",
            image=self.images["training"],
            environment=environment["training"],
            memory_mb=config.training_memory_mb,
            map_concurrency=config.map_concurrency,
            log_level=config.log_level,
            allow_destroy=config.allow_destroy,
        )
        self.workflow.state_machine.grant_start_execution(self.training.function)
        self.training.function.add_environment(
            "WORKFLOW_STATE_MACHINE_ARN", self.workflow.state_machine.state_machine_arn
        )
        # The queue's redrive limit: its last delivery writes a failure report before it starts.
        self.training.function.add_environment(
            "MAX_RECEIVE_COUNT", str(self.training.max_receive_count)
        )
        self.api = SegmentsApi(
            self,
            "Api",
            image=self.images[config.api_image_target],
            environment=environment["api"],
            memory_mb=config.api_memory_mb,
            timeout_seconds=config.api_timeout_seconds,
            provisioned_concurrency=config.api_provisioned_concurrency,
            cors_origins=config.cors_origins,
            throttle_rate_limit=config.throttle_rate_limit,
            throttle_burst_limit=config.throttle_burst_limit,
            cognito_domain_prefix=config.cognito_domain_prefix,
            log_level=config.log_level,
            dashboard_urls=config.dashboard_urls,
            allow_destroy=config.allow_destroy,
        )
        # Sign-in endpoints and public client ids, known once the API construct exists.
        for name, value in self.api.sign_in_environment.items():
            self.api.function.add_environment(name, value)
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            dead_letter_queue=self.training.dead_letter_queue,
            ingest_queue=self.training.queue,
            training_function=self.training.function,
            training_timeout=self.training.timeout,
            training_metrics=TrainingMetrics(environment["training"]["POWERTOOLS_SERVICE_NAME"]),
            functions={"Training": self.training.function, "Api": self.api.function},
            http_api=self.api.http_api,
            max_queue_age=Duration.minutes(4 * config.training_timeout_minutes),
            alarm_email=config.alarm_email,
            allow_destroy=config.allow_destroy,
        )

        # Training uploads and files to score share the queue and the function.
        for prefix in NOTIFIED_PREFIXES:
            for suffix in UPLOAD_SUFFIXES:
                raw.add_event_notification(
                    s3.EventType.OBJECT_CREATED,
                    s3n.SqsDestination(self.training.queue),
                    s3.NotificationKeyFilter(prefix=prefix, suffix=suffix),
                )
        self._grant_training(self.training.role, raw=raw, models=models)
        self._grant_training(self.workflow.role, raw=raw, models=models)
        self._grant_api(self.api.role, models=models, raw=raw)
        self._acknowledge_cdk_singletons()
        self._outputs()

    @staticmethod
    def _grant_training(role: iam.IRole, *, raw: s3.IBucket, models: s3.IBucket) -> None:
        """Training reads uploads and configs, and reads/writes/prunes model versions."""
        statements = [
            iam.PolicyStatement(
                sid="ReadUploadsAndConfigs",
                actions=["s3:GetObject", "s3:GetObjectVersion"],
                resources=[
                    raw.arn_for_objects("uploads/*"),
                    raw.arn_for_objects("configs/*"),
                    raw.arn_for_objects("score/*"),
                ],
            ),
            # ListBucket turns a missing optional configs/<dataset>.json into 404, not 403.
            iam.PolicyStatement(
                sid="ListRaw", actions=["s3:ListBucket"], resources=[raw.bucket_arn]
            ),
            iam.PolicyStatement(
                sid="ReadWriteModelVersions",
                actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                resources=[models.arn_for_objects("datasets/*")],
            ),
            iam.PolicyStatement(
                sid="ListModels", actions=["s3:ListBucket"], resources=[models.bucket_arn]
            ),
        ]
        for statement in statements:
            role.add_to_principal_policy(statement)
        _acknowledge_object_patterns(
            role,
            {raw: ("uploads/*", "configs/*", "score/*"), models: ("datasets/*",)},
            "Object-level actions on key prefixes of one bucket: a run reads whichever upload "
            "(or file to score) and config its event names and writes a new version folder (or "
            "scores folder) under datasets/.",
        )

    @staticmethod
    def _grant_api(role: iam.IRole, *, models: s3.IBucket, raw: s3.IBucket) -> None:
        """The API reads model versions and may only write the current pointer, the
        promotion record that shields a version from retention while it is promoted, and the
        dataset's segment-name overlay (``names.json``, set by an admin); it signs browser uploads
        (``uploads/``) and uploads of files to score (``score/``), nothing else on raw."""
        statements = [
            iam.PolicyStatement(
                sid="ReadModelVersions",
                actions=["s3:GetObject"],
                resources=[models.arn_for_objects("datasets/*")],
            ),
            iam.PolicyStatement(
                sid="ListModels", actions=["s3:ListBucket"], resources=[models.bucket_arn]
            ),
            iam.PolicyStatement(
                sid="PromoteWritesCurrentPointer",
                actions=["s3:PutObject"],
                resources=[
                    models.arn_for_objects("datasets/*/current.json"),
                    models.arn_for_objects("datasets/*/promotions/*"),
                ],
            ),
            iam.PolicyStatement(
                sid="RenameWritesNameOverlay",
                actions=["s3:PutObject"],
                resources=[models.arn_for_objects("datasets/*/names.json")],
            ),
            # A presigned POST acts with the signer's rights: the browser upload it signs (one
            # key under uploads/, size-capped) needs PutObject there, and nothing else on raw.
            iam.PolicyStatement(
                sid="SignBrowserUploads",
                actions=["s3:PutObject"],
                resources=[raw.arn_for_objects("uploads/*")],
            ),
            iam.PolicyStatement(
                sid="SignScoreUploads",
                actions=["s3:PutObject"],
                resources=[raw.arn_for_objects("score/*")],
            ),
        ]
        for statement in statements:
            role.add_to_principal_policy(statement)
        _acknowledge_object_patterns(
            role,
            {
                models: (
                    "datasets/*",
                    "datasets/*/current.json",
                    "datasets/*/promotions/*",
                    "datasets/*/names.json",
                ),
                raw: ("uploads/*", "score/*"),
            },
            "The API serves any dataset's versions (GetObject under datasets/) and promote may "
            "rewrite only each dataset's current.json pointer and its promotion records "
            "(retention spares a version promoted recently), rename only each dataset's "
            "names.json, not the artifacts; uploads it signs go under uploads/ (browser) and "
            "score/ (files to score) only.",
        )

    def _acknowledge_cdk_singletons(self) -> None:
        """Findings on helper functions that CDK adds to the stack by itself."""
        for child in self.node.children:
            if child.node.id.startswith("BucketNotificationsHandler"):
                acknowledge(
                    child,
                    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
                    "service-role/AWSLambdaBasicExecutionRole]",
                    "CDK's own S3-notification custom resource: it only writes its own logs "
                    "with this policy and runs once per deployment; its role is not ours to shape.",
                )

    def _outputs(self) -> None:
        outputs = {
            "ApiUrl": self.api.url,
            "DashboardUrl": self.api.dashboard_url,
            "DashboardClientId": self.api.dashboard_client.user_pool_client_id,
            "CliClientId": self.api.cli_client.user_pool_client_id,
            "RawBucketName": self.storage.raw_bucket.bucket_name,
            "ModelsBucketName": self.storage.models_bucket.bucket_name,
            "IngestQueueUrl": self.training.queue.queue_url,
            "DeadLetterQueueUrl": self.training.dead_letter_queue.queue_url,
            "UserPoolId": self.api.user_pool.user_pool_id,
            "ReaderClientId": self.api.reader_client.user_pool_client_id,
            "AdminClientId": self.api.admin_client.user_pool_client_id,
            "TokenUrl": self.api.token_url,
            "AlarmTopicArn": self.monitoring.topic.topic_arn,
            "TrainingLogGroupName": self.training.log_group.log_group_name,
            "ApiLogGroupName": self.api.log_group.log_group_name,
        }
        for name, value in outputs.items():
            CfnOutput(self, name, value=value)

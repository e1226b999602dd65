"""Storage: the raw-upload bucket, the models bucket and the bucket their access logs go to."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct

__all__ = ["Storage"]


class Storage(Construct):
    """Three S3 buckets: ``raw_bucket``, ``models_bucket`` and ``log_bucket``.

    All three are encrypted (SSE-S3), block all public access, refuse plain HTTP and are
    versioned. Raw and models buckets write server access logs to the log bucket.

    Retention (documented in docs/deploy.md):

    - raw ``uploads/``: the current object expires after ``raw_upload_retention_days``; the
      trained model keeps the upload's sha256 and version id, so the manifest stays verifiable
      while the object exists.
    - every bucket: noncurrent (overwritten or deleted) object versions expire after
      ``noncurrent_version_retention_days``; incomplete multipart uploads are aborted after 7 days.
    - models bucket: current objects never expire (a model version is deleted only by the
      training run's own pruning, ``KEEP_VERSIONS``), then its noncurrent copy ages out as above.
    - log bucket: access logs expire after ``access_log_retention_days``.

    Parameters
    ----------
    scope, construct_id
        The usual construct arguments.
    allow_destroy
        ``True`` for throw-away dev stacks: buckets are emptied and deleted with the stack.
        ``False`` (default) keeps every bucket and its data when the stack is deleted.
    raw_upload_retention_days, noncurrent_version_retention_days, access_log_retention_days
        Lifecycle periods, in days.

    Examples
    --------
    >>> from aws_cdk import Stack
    >>> storage = Storage(Stack(), "Storage")
    >>> storage.raw_bucket is not storage.models_bucket
    True
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        allow_destroy: bool = False,
        raw_upload_retention_days: int = 90,
        noncurrent_version_retention_days: int = 30,
        access_log_retention_days: int = 365,
    ) -> None:
        super().__init__(scope, construct_id)
        removal = RemovalPolicy.DESTROY if allow_destroy else RemovalPolicy.RETAIN
        noncurrent = Duration.days(noncurrent_version_retention_days)
        abort_multipart = Duration.days(7)

        def bucket(construct: str, rules: list[s3.LifecycleRule], **options: Any) -> s3.Bucket:
            # SSE-S3: server access log delivery only supports it on the target bucket.
            return s3.Bucket(
                self,
                construct,
                encryption=s3.BucketEncryption.S3_MANAGED,
                block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
                object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
                enforce_ssl=True,
                versioned=True,
                removal_policy=removal,
                auto_delete_objects=allow_destroy,
                lifecycle_rules=rules,
                **options,
            )

        expire_noncurrent = s3.LifecycleRule(
            id="expire-noncurrent-versions",
            noncurrent_version_expiration=noncurrent,
            abort_incomplete_multipart_upload_after=abort_multipart,
            expired_object_delete_marker=True,
        )
        self.log_bucket = bucket(
            "AccessLogs",
            [
                s3.LifecycleRule(
                    id="expire-access-logs",
                    expiration=Duration.days(access_log_retention_days),
                    noncurrent_version_expiration=noncurrent,
                    abort_incomplete_multipart_upload_after=abort_multipart,
                )
            ],
        )
        self.raw_bucket = bucket(
            "Raw",
            [
                s3.LifecycleRule(
                    id="expire-raw-uploads",
                    prefix="uploads/",
                    expiration=Duration.days(raw_upload_retention_days),
                ),
                expire_noncurrent,
            ],
            server_access_logs_bucket=self.log_bucket,
            server_access_logs_prefix="raw/",
            # Browser uploads: the dashboard posts a file with a presigned POST that the API
            # signs for one key under uploads/<dataset>/ and a size cap. CORS only lets the
            # browser read S3's answer; the signature is what authorizes the upload.
            cors=[
                s3.CorsRule(
                    allowed_methods=[s3.HttpMethods.POST],
                    allowed_origins=["*"],
                    allowed_headers=["*"],
                    max_age=600,
                )
            ],
        )
        self.models_bucket = bucket(
            "Models",
            [expire_noncurrent],
            server_access_logs_bucket=self.log_bucket,
            server_access_logs_prefix="models/",
        )

"""Deployment options read from CDK context (``cdk.json`` or ``cdk synth -c key=value``).

Context values given on the command line arrive as strings, values in ``cdk.json`` as JSON; both
are accepted. Every option has a default that is safe for production (nothing is destroyed,
no provisioned concurrency is paid for, no static tokens are baked into the functions, no
browser origin other than the API's own may call it) and that deploys on a fresh AWS account:
new accounts are commonly limited to 3,008 MB of function memory and 10 concurrent executions
(of which none can be reserved), so training asks for 3,008 MB and reserves nothing unless
``trainingMemoryMb`` / ``trainingReservedConcurrency`` say otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from constructs import Node

__all__ = ["CONTEXT_KEYS", "FRESH_ACCOUNT_MEMORY_MB", "DeploymentConfig"]

#: Function memory a new AWS account allows before a quota increase (the training default).
FRESH_ACCOUNT_MEMORY_MB = 3008

#: Context key -> DeploymentConfig field. The README/deploy docs list the same keys.
CONTEXT_KEYS: dict[str, str] = {
    "stackName": "stack_name",
    "allowDestroy": "allow_destroy",
    "trainingMemoryMb": "training_memory_mb",
    "trainingReservedConcurrency": "training_reserved_concurrency",
    "trainingMaxConcurrency": "training_max_concurrency",
    "apiMemoryMb": "api_memory_mb",
    "apiProvisionedConcurrency": "api_provisioned_concurrency",
    "apiImageTarget": "api_image_target",
    "apiTokens": "api_tokens",
    "adminTokens": "admin_tokens",
    "corsOrigins": "cors_origins",
    "dashboardUrls": "dashboard_urls",
    "apiDocs": "api_docs",
    "throttleRateLimit": "throttle_rate_limit",
    "throttleBurstLimit": "throttle_burst_limit",
    "rawUploadRetentionDays": "raw_upload_retention_days",
    "noncurrentVersionRetentionDays": "noncurrent_version_retention_days",
    "accessLogRetentionDays": "access_log_retention_days",
    "cognitoDomainPrefix": "cognito_domain_prefix",
    "alarmEmail": "alarm_email",
    "logLevel": "log_level",
    "modelRefreshSeconds": "model_refresh_seconds",
    "keepVersions": "keep_versions",
}


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"context value {value!r} is not a boolean (use true or false)")


def _check_origin(origin: str) -> None:
    """Refuse what a browser would never send as ``Origin`` (a path, a missing scheme...)."""
    if origin == "*":
        return
    scheme, sep, host = origin.partition("://")
    if scheme not in {"https", "http"} or not sep or not host or "/" in host or "*" in host:
        raise ValueError(
            f"corsOrigins entry {origin!r} is not an origin like https://dashboard.example.com"
        )
    if scheme == "http" and host.split(":")[0] not in {"localhost", "127.0.0.1"}:
        raise ValueError(f"corsOrigins entry {origin!r}: plain http is allowed for localhost only")


def _check_dashboard_url(url: str) -> None:
    """A sign-in callback: https (http only for localhost), ending with ``/`` like the page."""
    scheme, sep, rest = url.partition("://")
    host = rest.split("/")[0].split(":")[0]
    if scheme not in {"https", "http"} or not sep or not host or not url.endswith("/"):
        raise ValueError(
            f"dashboardUrls entry {url!r} is not a URL like https://segments.example.com/"
        )
    if scheme == "http" and host not in {"localhost", "127.0.0.1"}:
        raise ValueError(f"dashboardUrls entry {url!r}: plain http is allowed for localhost only")


def _as_str_tuple(value: Any) -> tuple[str, ...]:
    if isinstance(value, list | tuple):
        return tuple(str(v).strip() for v in value if str(v).strip())
    return tuple(v.strip() for v in str(value).split(",") if v.strip())


@dataclass(frozen=True, kw_only=True)
class DeploymentConfig:
    """Typed deployment options; build it with :meth:`from_node`.

    Examples
    --------
    >>> DeploymentConfig().training_timeout_minutes
    15
    >>> DeploymentConfig(allow_destroy=True).allow_destroy
    True
    """

    stack_name: str = "CustomerSegments"
    allow_destroy: bool = False
    training_memory_mb: int = FRESH_ACCOUNT_MEMORY_MB
    training_timeout_minutes: int = 15
    training_ephemeral_storage_gib: int = 10
    training_reserved_concurrency: int = 0
    training_max_concurrency: int = 2
    api_memory_mb: int = 2048
    api_timeout_seconds: int = 29
    api_provisioned_concurrency: int = 0
    #: Dockerfile target of the API function: ``api`` (the request path's packages only, about
    #: 650 MB smaller; the default since the dashboard serves a vendored plotly.js) or
    #: ``training`` (the whole runtime). tests/infra/test_images.py keeps this in step.
    api_image_target: str = "api"
    api_tokens: str = ""
    admin_tokens: str = ""
    cors_origins: tuple[str, ...] = ()
    #: More URLs the dashboard is served at (a custom domain), allowed as sign-in callbacks.
    dashboard_urls: tuple[str, ...] = ()
    #: Serve /docs and /redoc (Swagger UI and ReDoc load their scripts from a CDN).
    api_docs: bool = False
    throttle_rate_limit: int = 50
    throttle_burst_limit: int = 100
    raw_upload_retention_days: int = 90
    noncurrent_version_retention_days: int = 30
    access_log_retention_days: int = 365
    cognito_domain_prefix: str = ""
    alarm_email: str = ""
    log_level: str = "INFO"
    model_refresh_seconds: int = 30
    keep_versions: int = 10

    def __post_init__(self) -> None:
        if not 128 <= self.training_memory_mb <= 10240:
            raise ValueError(f"trainingMemoryMb={self.training_memory_mb} must be in 128..10240")
        if not 128 <= self.api_memory_mb <= 10240:
            raise ValueError(f"apiMemoryMb={self.api_memory_mb} must be in 128..10240")
        if self.training_reserved_concurrency < 0:
            raise ValueError(
                f"trainingReservedConcurrency={self.training_reserved_concurrency} must be >= 0"
            )
        if self.training_max_concurrency < 2:
            raise ValueError(
                f"trainingMaxConcurrency={self.training_max_concurrency} must be >= 2 "
                "(the SQS event source's minimum)"
            )
        if self.api_image_target not in {"api", "training"}:
            raise ValueError(
                f"apiImageTarget={self.api_image_target!r} must be 'api' or 'training'"
            )
        if self.api_provisioned_concurrency < 0:
            raise ValueError(
                f"apiProvisionedConcurrency={self.api_provisioned_concurrency} must be >= 0"
            )
        for origin in self.cors_origins:
            _check_origin(origin)
        for url in self.dashboard_urls:
            _check_dashboard_url(url)
        if "*" in self.cors_origins and len(self.cors_origins) > 1:
            raise ValueError(f"corsOrigins={','.join(self.cors_origins)}: '*' must stand alone")
        if self.raw_upload_retention_days < 1 or self.noncurrent_version_retention_days < 1:
            raise ValueError("retention days must be >= 1")

    @property
    def queue_visibility_timeout_minutes(self) -> int:
        """Six times the training timeout, as AWS recommends for SQS event sources."""
        return 6 * self.training_timeout_minutes

    @classmethod
    def from_node(cls, node: Node) -> DeploymentConfig:
        """Read every key of :data:`CONTEXT_KEYS` present in the construct tree's context.

        Examples
        --------
        >>> from aws_cdk import App
        >>> DeploymentConfig.from_node(App(context={"allowDestroy": "true"}).node).allow_destroy
        True
        """
        defaults = cls()
        values: dict[str, Any] = {}
        for key, attr in CONTEXT_KEYS.items():
            raw = node.try_get_context(key)
            if raw is None:
                continue
            default = getattr(defaults, attr)
            if isinstance(default, bool):
                values[attr] = _as_bool(raw)
            elif isinstance(default, int):
                values[attr] = int(raw)
            elif isinstance(default, tuple):
                values[attr] = _as_str_tuple(raw)
            else:
                values[attr] = str(raw)
        return cls(**values)

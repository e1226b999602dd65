"""Settings: the only module that reads the environment.

Everything configurable at deploy time is a field here, named after its environment variable.
``get_settings()`` caches one instance per process; tests call ``get_settings.cache_clear()``
after changing the environment.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DEFAULT_MAX_DECOMPRESSED_BYTES", "ENV", "Settings", "get_settings"]

DEFAULT_MAX_DECOMPRESSED_BYTES = 2 * 1024**3
"""Bytes an upload may hold once decompressed (2 GiB, as ``MAX_UPLOAD_BYTES`` for plain files):
the default of ``MAX_DECOMPRESSED_BYTES``, and of the engine's parameter of that name."""


class ENV:
    """Names of the environment variables (the deployment contract)."""

    RAW_BUCKET = "RAW_BUCKET"
    MODELS_BUCKET = "MODELS_BUCKET"
    AWS_ENDPOINT_URL = "AWS_ENDPOINT_URL"
    API_TOKENS = "API_TOKENS"
    ADMIN_TOKENS = "ADMIN_TOKENS"
    MODELS_DIR = "MODELS_DIR"
    MODEL_REFRESH_SECONDS = "MODEL_REFRESH_SECONDS"
    MAX_UPLOAD_BYTES = "MAX_UPLOAD_BYTES"
    MAX_DECOMPRESSED_BYTES = "MAX_DECOMPRESSED_BYTES"
    MAX_RECEIVE_COUNT = "MAX_RECEIVE_COUNT"
    MAX_ASSIGN_BATCH = "MAX_ASSIGN_BATCH"
    KEEP_VERSIONS = "KEEP_VERSIONS"
    LOG_LEVEL = "LOG_LEVEL"
    AUTH_MODE = "AUTH_MODE"
    OAUTH_DOMAIN_URL = "OAUTH_DOMAIN_URL"
    OAUTH_CLIENT_ID = "OAUTH_CLIENT_ID"
    OAUTH_CLI_CLIENT_ID = "OAUTH_CLI_CLIENT_ID"
    OAUTH_SCOPES = "OAUTH_SCOPES"
    API_DOCS = "API_DOCS"
    POWERTOOLS_SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
    LOG_FORMAT = "LOG_FORMAT"


def _split_tokens(raw: str) -> frozenset[str]:
    return frozenset(t.strip() for t in raw.split(",") if t.strip())


class Settings(BaseSettings):
    """Deployment settings, read from the environment once per process."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    raw_bucket: str = Field(default="", validation_alias=AliasChoices(ENV.RAW_BUCKET))
    models_bucket: str = Field(default="", validation_alias=AliasChoices(ENV.MODELS_BUCKET))
    aws_endpoint_url: str | None = Field(
        default=None, validation_alias=AliasChoices(ENV.AWS_ENDPOINT_URL)
    )
    api_tokens_raw: str = Field(default="", validation_alias=AliasChoices(ENV.API_TOKENS))
    admin_tokens_raw: str = Field(default="", validation_alias=AliasChoices(ENV.ADMIN_TOKENS))
    models_dir: str | None = Field(
        default=None,
        validation_alias=AliasChoices(ENV.MODELS_DIR),
        description="A local folder used as the model store instead of the models bucket.",
    )
    model_refresh_seconds: float = Field(
        default=5.0, ge=0, validation_alias=AliasChoices(ENV.MODEL_REFRESH_SECONDS)
    )
    max_upload_bytes: int = Field(
        default=2 * 1024**3, gt=0, validation_alias=AliasChoices(ENV.MAX_UPLOAD_BYTES)
    )
    max_decompressed_bytes: int = Field(
        default=DEFAULT_MAX_DECOMPRESSED_BYTES,
        gt=0,
        validation_alias=AliasChoices(ENV.MAX_DECOMPRESSED_BYTES),
        description="Bytes an upload may inflate to (gzip) or declare uncompressed (Parquet); "
        "larger ones get a failure report naming this limit.",
    )
    max_receive_count: int = Field(
        default=5,
        ge=1,
        validation_alias=AliasChoices(ENV.MAX_RECEIVE_COUNT),
        description="The training queue's redrive limit (deliveries before the dead-letter "
        "queue): the delivery that reaches it writes a failure report before it starts.",
    )
    max_assign_batch: int = Field(
        default=10_000, gt=0, validation_alias=AliasChoices(ENV.MAX_ASSIGN_BATCH)
    )
    keep_versions: int = Field(default=10, ge=1, validation_alias=AliasChoices(ENV.KEEP_VERSIONS))
    log_level: str = Field(default="INFO", validation_alias=AliasChoices(ENV.LOG_LEVEL))
    auth_mode: Literal["enforced", "open"] = Field(
        default="enforced",
        validation_alias=AliasChoices(ENV.AUTH_MODE),
        description="``enforced`` (default): a request needs gateway-verified scopes or a "
        "static token. ``open``: with no static token configured every request is allowed "
        "(local use: the local stack, ``make demo``, tests); tokens, once set, are enforced.",
    )

    oauth_domain_url: str = Field(
        default="",
        validation_alias=AliasChoices(ENV.OAUTH_DOMAIN_URL),
        description="Base URL of the OAuth 2.0 server people sign in with (the Cognito domain, "
        "https://<prefix>.auth.<region>.amazoncognito.com); empty: no sign-in.",
    )
    oauth_client_id: str = Field(
        default="",
        validation_alias=AliasChoices(ENV.OAUTH_CLIENT_ID),
        description="The dashboard's public app client (authorization code + PKCE).",
    )
    oauth_cli_client_id: str = Field(
        default="",
        validation_alias=AliasChoices(ENV.OAUTH_CLI_CLIENT_ID),
        description="The CLI's public app client (loopback redirect).",
    )
    oauth_scopes: str = Field(
        default="openid email segments/read",
        validation_alias=AliasChoices(ENV.OAUTH_SCOPES),
        description="Scopes people sign in with (space-separated).",
    )
    api_docs: bool = Field(
        default=True,
        validation_alias=AliasChoices(ENV.API_DOCS),
        description="Serve /docs (Swagger UI, loaded from a CDN by the browser) and /redoc; the "
        "deployed stack turns them off unless apiDocs=true. /openapi.json is always served.",
    )

    log_format: Literal["text", "json"] = Field(
        default="text",
        validation_alias=AliasChoices(ENV.LOG_FORMAT),
        description="``json``: the API writes one JSON object per log line to standard output "
        "(the deployed API function); ``text`` leaves logging to the process (uvicorn, the CLI, "
        "whose standard output carries its own results).",
    )
    service_name: str = Field(
        default="segments-api",
        validation_alias=AliasChoices(ENV.POWERTOOLS_SERVICE_NAME),
        description="The ``service`` field of JSON log lines (Powertools' variable).",
    )

    @property
    def api_tokens(self) -> frozenset[str]:
        """Bearer tokens allowed to call the read and assign routes."""
        return _split_tokens(self.api_tokens_raw)

    @property
    def admin_tokens(self) -> frozenset[str]:
        """Bearer tokens allowed to call admin routes (promote); they may call every route."""
        return _split_tokens(self.admin_tokens_raw)

    @property
    def auth_enabled(self) -> bool:
        """False only in ``AUTH_MODE=open`` with no token configured: secure by default.

        Examples
        --------
        >>> Settings(auth_mode="enforced").auth_enabled, Settings(auth_mode="open").auth_enabled
        (True, False)
        >>> Settings(auth_mode="open", api_tokens_raw="t").auth_enabled
        True
        """
        return self.auth_mode != "open" or bool(self.api_tokens or self.admin_tokens)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read from the environment on first use.

    Examples
    --------
    >>> isinstance(get_settings().max_assign_batch, int)
    True
    """
    return Settings()

"""Dependencies of the API routes: settings, the model store and registry, auth, parameters.

The store and the model registry are built on the first request (not at import: moto must be
able to intercept, and tests change the environment), once per container, and cached on
``app.state``. Tests inject a store with ``create_app(store=...)``.

Authorization (defence in depth behind API Gateway)
---------------------------------------------------
Secure by default: a request is allowed when **either**

- API Gateway's JWT authorizer (Cognito) verified it: Mangum passes the gateway event as
  ``request.scope["aws.event"]``, and ``requestContext.authorizer.jwt.scopes`` (or, when that
  list is absent, the verified ``scope`` claim) holds ``segments/read`` for reading and
  assigning, or ``segments/admin`` for every route including promote. The ``Authorization``
  header then carries the Cognito JWT, which the gateway has already checked; the app trusts
  the context because only API Gateway (or a caller allowed to invoke the Lambda directly,
  which IAM already trusts) can build that event. Under uvicorn there is no ``aws.event``, so
  this never applies there;
- or the request sends ``Authorization: Bearer <token>`` with one of ``API_TOKENS`` (read) or
  ``ADMIN_TOKENS`` (admin), compared in constant time.

Anything else gets a 401 (a 403 when the verified scopes or the token do not cover the route):
a header-only request (no authorizer block in the event) needs a static token, and a verified
JWT with only ``segments/read`` cannot promote. The one exception is ``AUTH_MODE=open`` with no
static token configured (the local stack, ``make demo``, tests): every request is allowed, and
the log and ``/health`` say so. Deployed stacks never set it.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
from dataclasses import dataclass, field
from typing import Annotated, Literal

from fastapi import Depends, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from lambdas.api.errors import AuthenticationRequiredError, PermissionDeniedError
from lambdas.api.logs import configure_logging
from shared.contract.config import DATASET_NAME_PATTERN, K_LIMIT, Algorithm
from shared.serving.registry import ModelRegistry
from shared.settings import Settings, get_settings
from shared.store.base import ModelStore
from shared.store.local import LocalModelStore
from shared.store.s3 import build_model_store

__all__ = [
    "GATEWAY_ADMIN_SCOPE",
    "GATEWAY_READ_SCOPE",
    "AdminAccess",
    "AlgorithmQuery",
    "ApiServices",
    "AppSettingsDep",
    "Credentials",
    "DatasetPath",
    "KQuery",
    "ReadAccess",
    "RegistryDep",
    "ServicesDep",
    "SettingsDep",
    "StoreDep",
    "VersionPath",
    "VersionQuery",
    "gateway_scopes",
    "require_admin",
    "require_reader",
    "reset_services",
]

logger = logging.getLogger(__name__)

VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,127}$"
GATEWAY_READ_SCOPE = "segments/read"
"""OAuth scope (Cognito resource server ``segments``) that API Gateway requires to read/assign."""
GATEWAY_ADMIN_SCOPE = "segments/admin"
"""OAuth scope that API Gateway requires to promote a version."""
_build_lock = threading.Lock()


@dataclass(frozen=True)
class ApiServices:
    """What the routes share within one container."""

    settings: Settings
    store: ModelStore
    registry: ModelRegistry
    store_kind: Literal["s3", "local"]
    link_key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    """Signs the app's own short-lived links (a report read from a local folder store)."""


def _settings_of(request: Request) -> Settings:
    injected: Settings | None = getattr(request.app.state, "settings", None)
    return injected if injected is not None else get_settings()


async def request_settings(request: Request) -> Settings:
    """The app's settings without building the store (routes that need no data)."""
    return _settings_of(request)


AppSettingsDep = Annotated[Settings, Depends(request_settings)]


async def get_services(request: Request) -> ApiServices:
    """The container's services, built on first use (``async``: no threadpool hop).

    Rebuilt when the process-wide settings change (``get_settings.cache_clear()`` after the
    environment changed, as the CLI and tests do); otherwise built once per container.
    """
    settings = _settings_of(request)
    services: ApiServices | None = getattr(request.app.state, "services", None)
    if services is not None and services.settings is settings:
        return services
    with _build_lock:
        services = getattr(request.app.state, "services", None)
        if services is None or services.settings is not settings:
            injected: ModelStore | None = getattr(request.app.state, "store", None)
            store = injected if injected is not None else build_model_store(settings)
            kind: Literal["s3", "local"] = "local" if isinstance(store, LocalModelStore) else "s3"
            configure_logging(
                settings.log_level,
                service=settings.service_name,
                json_lines=settings.log_format == "json",
            )
            registry = ModelRegistry(store, refresh_seconds=settings.model_refresh_seconds)
            services = ApiServices(settings, store, registry, kind)
            request.app.state.services = services
            if not settings.auth_enabled:
                logger.warning(
                    "in-app authorization is DISABLED (AUTH_MODE=open and neither API_TOKENS "
                    "nor ADMIN_TOKENS is set): every route is open; for local use only"
                )
    return services


def reset_services(app: object) -> None:
    """Forget the cached services (tests: after changing the environment or the store)."""
    state = getattr(app, "state", None)
    if state is not None:
        state.services = None


ServicesDep = Annotated[ApiServices, Depends(get_services)]


async def get_settings_dep(services: ServicesDep) -> Settings:
    return services.settings


async def get_store(services: ServicesDep) -> ModelStore:
    return services.store


async def get_registry(services: ServicesDep) -> ModelRegistry:
    return services.registry


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
StoreDep = Annotated[ModelStore, Depends(get_store)]
RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]

# --- authorization -----------------------------------------------------------------------------

bearer_scheme = HTTPBearer(
    auto_error=False,
    description="Behind API Gateway: a Cognito access token with scope segments/read (read "
    "and assign) or segments/admin (also promote), verified by the gateway. Direct calls: one "
    "of API_TOKENS (read and assign) or ADMIN_TOKENS (also promote).",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]


def _matches(token: str, allowed: frozenset[str]) -> bool:
    """Constant-time membership: every candidate is compared, no early exit."""
    supplied = token.encode()
    found = False
    for candidate in allowed:
        found |= hmac.compare_digest(supplied, candidate.encode())
    return found


Scope = Literal["read", "admin", "open"]


def gateway_scopes(request: Request) -> frozenset[str] | None:
    """OAuth scopes API Gateway's JWT authorizer verified for this request.

    None when the request did not come through a gateway JWT authorizer (no ``aws.event`` in
    the ASGI scope, or no ``requestContext.authorizer.jwt`` block in it).

    Examples
    --------
    >>> from starlette.requests import Request
    >>> jwt = {"claims": {"sub": "abc"}, "scopes": ["segments/read"]}
    >>> event = {"requestContext": {"authorizer": {"jwt": jwt}}}
    >>> sorted(gateway_scopes(Request({"type": "http", "aws.event": event})))
    ['segments/read']
    >>> gateway_scopes(Request({"type": "http"})) is None
    True
    """
    event = request.scope.get("aws.event")
    context = event.get("requestContext") if isinstance(event, dict) else None
    authorizer = context.get("authorizer") if isinstance(context, dict) else None
    jwt = authorizer.get("jwt") if isinstance(authorizer, dict) else None
    if not isinstance(jwt, dict):
        return None
    scopes = jwt.get("scopes")
    if isinstance(scopes, list):
        return frozenset(s for s in scopes if isinstance(s, str))
    # Tokens whose scopes the gateway did not list: the verified "scope" claim (space-separated).
    claims = jwt.get("claims")
    claim = claims.get("scope") if isinstance(claims, dict) else None
    return frozenset(claim.split()) if isinstance(claim, str) else frozenset()


def _scope_of(
    settings: Settings,
    credentials: HTTPAuthorizationCredentials | None,
    verified: frozenset[str] | None = None,
) -> Scope:
    if not settings.auth_enabled:
        return "open"
    if verified is not None:
        if GATEWAY_ADMIN_SCOPE in verified:
            return "admin"
        if GATEWAY_READ_SCOPE in verified:
            return "read"
        # A verified JWT without our scopes: only a static token can still let it through.
    if credentials is None or not credentials.credentials:
        raise AuthenticationRequiredError(
            "missing bearer token: send 'Authorization: Bearer <token>'"
        )
    token = credentials.credentials
    if _matches(token, settings.admin_tokens):
        return "admin"
    if _matches(token, settings.api_tokens):
        return "read"
    raise AuthenticationRequiredError("invalid bearer token")


async def require_reader(
    request: Request, services: ServicesDep, credentials: Credentials
) -> Scope:
    """Allow a gateway-verified JWT with a segments scope or any valid static token (or everyone
    when auth is disabled)."""
    return _scope_of(services.settings, credentials, gateway_scopes(request))


async def require_admin(request: Request, services: ServicesDep, credentials: Credentials) -> Scope:
    """Allow a gateway-verified JWT with ``segments/admin`` or an admin token (or everyone when
    auth is disabled)."""
    scope = _scope_of(services.settings, credentials, gateway_scopes(request))
    if scope == "read":
        raise PermissionDeniedError(
            f"this route needs an admin token (ADMIN_TOKENS) or the {GATEWAY_ADMIN_SCOPE} scope"
        )
    return scope


ReadAccess = Depends(require_reader)
AdminAccess = Depends(require_admin)

# --- parameters --------------------------------------------------------------------------------

DatasetPath = Annotated[
    str,
    Path(
        description="Dataset name: 1-63 of a-z, 0-9, '-', '_'.",
        pattern=DATASET_NAME_PATTERN.pattern,
        examples=["mall"],
    ),
]
VersionPath = Annotated[
    str,
    Path(description="A version id (see /datasets/{dataset}/versions).", pattern=VERSION_PATTERN),
]
VersionQuery = Annotated[
    str | None,
    Query(description="Serve this version instead of the current one.", pattern=VERSION_PATTERN),
]
AlgorithmQuery = Annotated[
    Algorithm | None, Query(description="Any fitted algorithm; default: the champion.")
]
KQuery = Annotated[
    int | None, Query(ge=1, le=K_LIMIT, description="Any k of the sweep; default: the chosen k.")
]

"""Dependencies of the API routes: settings, the model store and registry, auth, parameters.

The store and the model registry are built on the first request (not at import: moto must be
able to intercept, and tests change the environment), once per container, and cached on
``app.state``. Tests inject a store with ``create_app(store=...)``.
"""

from __future__ import annotations

import hmac
import logging
import threading
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from lambdas.api.errors import AuthenticationRequiredError, PermissionDeniedError
from shared.config import DATASET_NAME_PATTERN, K_LIMIT, Algorithm
from shared.model import ModelRegistry
from shared.settings import Settings, get_settings
from shared.store import LocalModelStore, ModelStore, build_model_store

__all__ = [
    "AdminAccess",
    "AlgorithmQuery",
    "ApiServices",
    "DatasetPath",
    "KQuery",
    "ReadAccess",
    "RegistryDep",
    "ServicesDep",
    "SettingsDep",
    "StoreDep",
    "VersionPath",
    "VersionQuery",
    "require_admin",
    "require_reader",
    "reset_services",
]

logger = logging.getLogger(__name__)

VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,127}$"
_build_lock = threading.Lock()


@dataclass(frozen=True)
class ApiServices:
    """What the routes share within one container."""

    settings: Settings
    store: ModelStore
    registry: ModelRegistry
    store_kind: Literal["s3", "local"]


def _settings_of(request: Request) -> Settings:
    injected: Settings | None = getattr(request.app.state, "settings", None)
    return injected if injected is not None else get_settings()


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
            _apply_log_level(settings.log_level)
            registry = ModelRegistry(store, refresh_seconds=settings.model_refresh_seconds)
            services = ApiServices(settings, store, registry, kind)
            request.app.state.services = services
            if not settings.auth_enabled:
                logger.warning(
                    "in-app authorization is DISABLED: neither API_TOKENS nor ADMIN_TOKENS is "
                    "set, every route is open (rely on the API Gateway authorizer)"
                )
    return services


def _apply_log_level(level: str) -> None:
    """``LOG_LEVEL`` for this app's loggers (Lambda's root logger would drop INFO otherwise)."""
    for name in ("lambdas", "shared"):
        try:
            logging.getLogger(name).setLevel(level.upper())
        except ValueError:
            logger.warning("LOG_LEVEL=%r is not a logging level; keeping the default", level)
            return


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
    description="API_TOKENS (read and assign) or ADMIN_TOKENS (also promote).",
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


def _scope_of(settings: Settings, credentials: HTTPAuthorizationCredentials | None) -> Scope:
    if not settings.auth_enabled:
        return "open"
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


async def require_reader(services: ServicesDep, credentials: Credentials) -> Scope:
    """Allow any valid token (or everyone when auth is disabled)."""
    return _scope_of(services.settings, credentials)


async def require_admin(services: ServicesDep, credentials: Credentials) -> Scope:
    """Allow admin tokens only (or everyone when auth is disabled)."""
    scope = _scope_of(services.settings, credentials)
    if scope == "read":
        raise PermissionDeniedError("this route needs an admin token (ADMIN_TOKENS)")
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

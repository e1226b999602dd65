"""``GET /health``: liveness and whether in-app authorization is on. Never needs a token."""

from __future__ import annotations

from fastapi import APIRouter

import shared
from lambdas.api.dependencies import ServicesDep
from lambdas.api.schemas import HealthResponse

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthResponse, summary="Liveness and auth mode")
async def health(services: ServicesDep) -> HealthResponse:
    """Answer without touching the store: ``auth`` says whether tokens are enforced."""
    return HealthResponse(
        auth="enabled" if services.settings.auth_enabled else "disabled",
        version=shared.__version__,
        store=services.store_kind,
        models=services.registry.cached_versions(),
    )

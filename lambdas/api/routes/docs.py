"""``/docs`` (Swagger UI) and ``/redoc``: on unless ``API_DOCS=false``.

Both pages load their scripts from a CDN (jsDelivr) into the API's origin, the origin that
holds people's tokens; the deployed stack therefore turns them off unless ``apiDocs=true``
(``/openapi.json`` stays: the schema itself loads nothing). Locally they are on.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

from lambdas.api.dependencies import AppSettingsDep

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


def _openapi_url(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/") + request.app.openapi_url


def _refuse_when_off(settings: AppSettingsDep) -> None:
    if not settings.api_docs:
        raise HTTPException(
            status_code=404, detail="the API docs are off here (API_DOCS=false); see /openapi.json"
        )


@router.get("/docs", response_class=HTMLResponse)
async def swagger_ui(request: Request, settings: AppSettingsDep) -> HTMLResponse:
    """Swagger UI over this API's schema."""
    _refuse_when_off(settings)
    title = f"{request.app.title} - Swagger UI"
    return get_swagger_ui_html(openapi_url=_openapi_url(request), title=title)


@router.get("/redoc", response_class=HTMLResponse)
async def redoc(request: Request, settings: AppSettingsDep) -> HTMLResponse:
    """ReDoc over this API's schema."""
    _refuse_when_off(settings)
    return get_redoc_html(openapi_url=_openapi_url(request), title=f"{request.app.title} - ReDoc")

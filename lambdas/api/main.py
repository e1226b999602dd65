"""The segment API: FastAPI behind API Gateway (HTTP API) through Mangum.

``app`` is the FastAPI application (uvicorn serves it locally), ``handler`` the Lambda entry
point. Importing this module is cheap: it imports no pandas, scikit-learn, scipy, skops, plotly
or boto3 (``tests/unit/test_serving.py`` checks it at run time, import-linter's contracts in
``pyproject.toml`` statically). Every route is served from each version's numpy serving bundle
(:mod:`shared.serving`), so a cold start's first assign needs only numpy and, for the S3 store,
boto3 (built on first use); no route reads a skops artifact. Models are cached per container
(``lifespan="off"``: Mangum would otherwise run startup on every invocation).

Blocking work stays off uvicorn's event loop: routes that read the store are plain ``def``
routes (FastAPI runs them in its thread pool); ``POST /assign`` is ``async``: it answers on the
loop when the model is cached and loaded, hands a request that must read the store to a thread,
and under uvicorn (concurrent requests share the loop) a large batch too; ``/health`` reads
memory only.

Authorization: API Gateway's Cognito JWT authorizer guards the deployed routes; the app checks
again (defence in depth), accepting the gateway's verified scopes (``segments/read``,
``segments/admin``) from the Lambda event or a static ``API_TOKENS``/``ADMIN_TOKENS`` bearer
token (see :mod:`lambdas.api.dependencies`).

Examples
--------
>>> from lambdas.api.main import create_app
>>> create_app().title
'Customer segments API'
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from mangum import Mangum

import shared
from lambdas.api.errors import install_error_handlers
from lambdas.api.middleware import MAX_BODY_BYTES, MAX_RESPONSE_BYTES, GatewayMiddleware
from lambdas.api.routes import (
    assign,
    auth,
    dashboard,
    datasets,
    docs,
    health,
    report,
    score_jobs,
    segment_work,
    segments,
    transactions,
    uploads,
    versions,
)
from shared.settings import Settings, get_settings
from shared.store.base import ModelStore

__all__ = ["app", "create_app", "handler"]

logger = logging.getLogger(__name__)

DESCRIPTION = """\
Assign customers to segments and explore the segments of every published model.

Send `Authorization: Bearer <token>`: behind API Gateway a Cognito access token with scope
`segments/read` (read and assign) or `segments/admin` (also promote); when calling the app
directly, one of its `API_TOKENS`/`ADMIN_TOKENS` (`GET /health` says whether in-app authorization
is on). Errors are JSON: `{"error", "message", "request_id", ...}`.
"""


def create_app(
    *,
    store: ModelStore | None = None,
    settings: Settings | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    max_response_bytes: int = MAX_RESPONSE_BYTES,
) -> FastAPI:
    """Build the API application.

    Parameters
    ----------
    store : ModelStore, optional
        The model store; by default built from the settings on the first request
        (``MODELS_DIR`` -> a local folder, else the ``MODELS_BUCKET`` bucket).
    settings : Settings, optional
        Settings to use instead of :func:`shared.settings.get_settings` (tests).
    max_body_bytes : int
        Request bodies above this get a 413 before they are parsed.
    max_response_bytes : int
        Responses whose Lambda payload would be larger are replaced by a 413 naming the limit.

    Examples
    --------
    >>> sorted(p for p in create_app().openapi()["paths"] if p.startswith("/health"))
    ['/health']
    """
    app = FastAPI(
        title="Customer segments API",
        version=shared.__version__,
        description=DESCRIPTION,
        # Behind an API Gateway stage the middleware sets root_path; /docs then loads
        # <stage>/openapi.json and the schema's servers list the stage.
        root_path_in_servers=True,
        # /docs and /redoc: lambdas.api.routes.docs (switched off by API_DOCS=false).
        docs_url=None,
        redoc_url=None,
    )
    app.state.store = store
    app.state.settings = settings
    app.state.services = None
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(datasets.router)
    app.include_router(report.router)
    app.include_router(segments.router)
    app.include_router(assign.router)
    app.include_router(transactions.router)
    app.include_router(versions.router)
    app.include_router(score_jobs.router)
    app.include_router(segment_work.router)
    app.include_router(uploads.router)
    app.include_router(dashboard.router)
    app.include_router(docs.router)
    app.add_middleware(
        GatewayMiddleware, max_body_bytes=max_body_bytes, max_response_bytes=max_response_bytes
    )
    app.openapi = _openapi_following_auth(app)  # type: ignore[method-assign]
    return app


def _openapi_following_auth(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """The OpenAPI schema declares bearer security only when tokens are enforced.

    With neither ``API_TOKENS`` nor ``ADMIN_TOKENS`` set the API is open, and a schema that
    still demanded a token would be wrong (clients and fuzzers trust it).
    """
    generate = app.openapi
    schemas: dict[bool, dict[str, Any]] = {}

    def openapi() -> dict[str, Any]:
        settings: Settings = getattr(app.state, "settings", None) or get_settings()
        enforced = settings.auth_enabled
        if enforced not in schemas:
            schema = copy.deepcopy(generate())
            if not enforced:
                for operations in schema.get("paths", {}).values():
                    for operation in operations.values():
                        if isinstance(operation, dict):
                            operation.pop("security", None)
                schema.get("components", {}).pop("securitySchemes", None)
            schemas[enforced] = schema
        return schemas[enforced]

    return openapi


app = create_app()
# The stage prefix (HTTP API stages other than $default) is handled by GatewayMiddleware, which
# also sets root_path so /docs works there; Mangum itself strips nothing.
handler = Mangum(app, lifespan="off", api_gateway_base_path="/")

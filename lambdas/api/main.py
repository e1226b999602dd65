"""The segment API: FastAPI behind API Gateway (HTTP API) through Mangum.

``app`` is the FastAPI application (uvicorn serves it locally), ``handler`` the Lambda entry
point. Importing this module is cheap: the model store, skops, scikit-learn and pandas are
loaded on the first request that needs them, and models are cached per container
(``lifespan="off"``: Mangum would otherwise run startup on every invocation).

Examples
--------
>>> from lambdas.api.main import create_app
>>> create_app().title
'Customer segments API'
"""

from __future__ import annotations

import logging

from fastapi import FastAPI
from mangum import Mangum

import shared
from lambdas.api.errors import install_error_handlers
from lambdas.api.middleware import MAX_BODY_BYTES, GatewayMiddleware
from lambdas.api.routes import assign, dashboard, datasets, health, segments, versions
from shared.settings import Settings
from shared.store import ModelStore

__all__ = ["app", "create_app", "handler"]

logger = logging.getLogger(__name__)

DESCRIPTION = """\
Assign customers to segments and explore the segments of every published model.

Send `Authorization: Bearer <token>` when the API runs with `API_TOKENS`/`ADMIN_TOKENS`
(`GET /health` says whether it does). Errors are JSON: `{"error", "message", "request_id", ...}`.
"""


def create_app(
    *,
    store: ModelStore | None = None,
    settings: Settings | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
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

    Examples
    --------
    >>> sorted(r.path for r in create_app().routes if r.path.startswith("/health"))
    ['/health']
    """
    app = FastAPI(
        title="Customer segments API",
        version=shared.__version__,
        description=DESCRIPTION,
        # Behind an API Gateway stage the middleware sets root_path; /docs then loads
        # <stage>/openapi.json and the schema's servers list the stage.
        root_path_in_servers=True,
    )
    app.state.store = store
    app.state.settings = settings
    app.state.services = None
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(datasets.router)
    app.include_router(segments.router)
    app.include_router(assign.router)
    app.include_router(versions.router)
    app.include_router(dashboard.router)
    app.add_middleware(GatewayMiddleware, max_body_bytes=max_body_bytes)
    return app


app = create_app()
# The stage prefix (HTTP API stages other than $default) is handled by GatewayMiddleware, which
# also sets root_path so /docs works there; Mangum itself strips nothing.
handler = Mangum(app, lifespan="off", api_gateway_base_path="/")

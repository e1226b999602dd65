"""The dashboard: ``GET /`` serves the page, ``GET /static/<file>`` its scripts and styles.

Everything the page needs is served by the app itself (it works offline and behind API Gateway
with no CDN): the HTML shell, ``app.js`` and ``app.css`` from ``lambdas/api/static/``, and
plotly.js from the installed ``plotly`` package. The page then reads the JSON API (datasets,
segments, plots, assign) with URLs relative to where it was loaded, so it works under an API
Gateway stage prefix too.

Static files are read once per process and kept in memory with their gzip form: plotly.min.js is
~4.8 MB raw, ~1.4 MB gzipped, which keeps the Lambda response well under its 6 MB limit. Asset
URLs carry a content hash (``app.js?v=<hash>``, ``plotly-<version>.min.js``) so they can be
cached for a year; the HTML itself is revalidated on every load.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "STATIC_DIR",
    "StaticAsset",
    "load_asset",
    "render_index",
    "router",
]

logger = logging.getLogger(__name__)

router = APIRouter(tags=["dashboard"])

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
"""Folder of the dashboard's own files (``index.html``, ``app.js``, ``app.css``...)."""

_OWN_ASSETS: dict[str, str] = {
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
_PLOTLY_PREFIX = "plotly-"
_LONG_CACHE = "public, max-age=31536000, immutable"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data: blob:; "
    "style-src 'self' 'unsafe-inline'; font-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
"""The page loads nothing from elsewhere and runs no inline script; Plotly sets inline styles."""
_GZIP_MIN_BYTES = 1024


@dataclass(frozen=True)
class StaticAsset:
    """One file served by the dashboard, kept in memory with its gzip form and ETag."""

    body: bytes
    gzipped: bytes | None
    media_type: str
    etag: str


def _make_asset(body: bytes, media_type: str) -> StaticAsset:
    digest = hashlib.sha256(body).hexdigest()[:16]
    gzipped = (
        gzip.compress(body, compresslevel=6, mtime=0) if len(body) >= _GZIP_MIN_BYTES else None
    )
    return StaticAsset(body=body, gzipped=gzipped, media_type=media_type, etag=f'"{digest}"')


@lru_cache(maxsize=1)
def _plotly_version() -> str:
    from plotly.offline import get_plotlyjs_version

    return str(get_plotlyjs_version())


def _plotly_file_name() -> str:
    return f"{_PLOTLY_PREFIX}{_plotly_version()}.min.js"


@lru_cache(maxsize=8)
def load_asset(name: str) -> StaticAsset:
    """Load one servable file by name (cached for the life of the process).

    Parameters
    ----------
    name : str
        ``app.js``, ``app.css``, ``favicon.svg`` or ``plotly-<version>.min.js``.

    Raises
    ------
    KeyError
        When ``name`` is not one of the servable files (no path is ever built from it).

    Examples
    --------
    >>> load_asset("app.css").media_type
    'text/css; charset=utf-8'
    """
    if name in _OWN_ASSETS:
        return _make_asset((STATIC_DIR / name).read_bytes(), _OWN_ASSETS[name])
    if name == _plotly_file_name():
        import plotly

        path = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
        return _make_asset(path.read_bytes(), "text/javascript; charset=utf-8")
    raise KeyError(name)


@lru_cache(maxsize=1)
def render_index() -> str:
    """The dashboard's HTML with cache-busting asset URLs filled in.

    Examples
    --------
    >>> "static/plotly-" in render_index()
    True
    """
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    versions = {
        "{{APP_JS}}": f"static/app.js?v={load_asset('app.js').etag.strip(chr(34))}",
        "{{APP_CSS}}": f"static/app.css?v={load_asset('app.css').etag.strip(chr(34))}",
        "{{FAVICON}}": "static/favicon.svg",
        "{{PLOTLY_JS}}": f"static/{_plotly_file_name()}",
    }
    for placeholder, url in versions.items():
        html = html.replace(placeholder, url)
    return html


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def dashboard() -> HTMLResponse:
    """The dashboard page (a static shell; its data comes from the JSON API)."""
    return HTMLResponse(
        render_index(),
        headers={
            "Cache-Control": "no-cache",
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


@router.get("/static/{name}", include_in_schema=False)
def static_file(name: str, request: Request) -> Response:
    """Serve one of the dashboard's files, gzipped when the client accepts it."""
    try:
        asset = load_asset(name)
    except KeyError:
        raise HTTPException(status_code=404, detail=f"no static file {name!r}") from None
    headers = {
        "Cache-Control": _LONG_CACHE,
        "ETag": asset.etag,
        "Vary": "Accept-Encoding",
        "X-Content-Type-Options": "nosniff",
    }
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    if asset.gzipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(asset.gzipped, media_type=asset.media_type, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)

"""The dashboard: ``GET /`` serves the page, ``GET /static/<file>`` its scripts and styles.

Everything the page needs is served by the app itself (it works offline and behind API Gateway
with no CDN): the HTML shell, the ES modules (``app.js`` imports the others) and ``app.css`` from
``lambdas/api/static/``, and plotly.js from ``lambdas/api/vendor/`` (the file the plotly Python
package ships, the one the reports embed, copied with its licence and checked against
:data:`PLOTLY_JS_SHA256` when loaded: the API image needs no plotly package). The page then reads
the JSON API (datasets, segments, plots, assign) with URLs relative to where it was loaded, so it
works under an API Gateway stage prefix too.

Static files are read once per process and kept in memory with their gzip form: plotly.min.js is
~4.8 MB raw, ~1.4 MB gzipped, which keeps the Lambda response well under its 6 MB limit. Asset
URLs carry a content hash (``app.js?v=<hash>``, ``plotly-<version>.min.js``) so they can be
cached for a year; the HTML itself is revalidated on every load.

**Modules without a build step.** The browser loads ``app.js`` as ``<script type="module">`` and
follows its ``import ... from './<module>.js'`` lines. So that a module URL never serves a stale
cached copy, every relative import is rewritten when the file is loaded to
``'./<module>.js?v=<hash>'``, where ``<hash>`` is :func:`dashboard_version` (one hash over every
file of the dashboard). An import of anything but a sibling module of the dashboard is refused
when the file loads. The modules are same-origin scripts: the CSP's ``script-src 'self'`` allows
them, no inline script or import map is needed.

**Path safety.** The servable names are the files of ``lambdas/api/static/`` listed once (plain
names, ``[a-z][a-z0-9-]*`` plus ``.js``, ``.css`` or ``.svg``); a request is looked up in that
listing and no path is ever built from it.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from lambdas.api.dependencies import AppSettingsDep
from shared.quoting import quote_value

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "PLOTLY_JS_SHA256",
    "PLOTLY_JS_VERSION",
    "STATIC_DIR",
    "StaticAsset",
    "content_security_policy",
    "dashboard_version",
    "load_asset",
    "own_assets",
    "render_index",
    "router",
]

logger = logging.getLogger(__name__)

router = APIRouter(tags=["dashboard"])

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
"""Folder of the dashboard's own files (``index.html``, ``app.js``, ``app.css``...)."""

VENDOR_DIR = Path(__file__).resolve().parent.parent / "vendor"
PLOTLY_JS_VERSION = "4.1.1"
"""plotly.js served to the dashboard: the version plotly 7.1.0 (the engine's pin) embeds in
reports, so both draw alike (``tests/unit/test_dashboard_routes.py`` checks it)."""
PLOTLY_JS_SHA256 = "3b6e15d45dbb7fca5bd2094291e961ddc5472cd887009e6009a56dab668d721f"
"""sha256 of ``vendor/plotly-<version>.min.js``; a different file is refused, not served. When
the engine's plotly pin moves, copy its ``plotly/package_data/plotly.min.js`` to
``vendor/plotly-<new version>.min.js`` and update both constants (the test says when)."""

_MEDIA_TYPES: dict[str, str] = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
_ASSET_NAME = re.compile(r"[a-z][a-z0-9-]*\.(?:js|css|svg)")
_MODULE_IMPORT = re.compile(
    r"""^(?P<head>import\s+|(?:import|export)\s[^'";]*?\sfrom\s+)(?P<q>['"])(?P<spec>[^'"\n]+)(?P=q)""",
    re.MULTILINE,
)
_DYNAMIC_IMPORT = re.compile(r"(?<![\w.$])import\s*\(")
_SIBLING_MODULE = re.compile(r"\./(?P<name>[a-z][a-z0-9-]*\.js)")
_PLOTLY_PREFIX = "plotly-"
_LONG_CACHE = "public, max-age=31536000, immutable"
_CSP_TEMPLATE = (
    "default-src 'self'; script-src 'self'; connect-src 'self'{connect}; "
    "img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; font-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
CONTENT_SECURITY_POLICY = _CSP_TEMPLATE.format(connect="")
"""The page loads nothing from elsewhere and runs no inline script; Plotly sets inline styles."""


def content_security_policy(oauth_domain_url: str = "", upload_origin: str | None = None) -> str:
    """:data:`CONTENT_SECURITY_POLICY`, plus the sign-in server's origin in ``connect-src``
    (the page exchanges its authorization code and refreshes tokens there) and the raw
    bucket's S3 endpoint that browser uploads post to (``upload_origin``), when there are.

    Examples
    --------
    >>> "connect-src 'self' https://a.example;" in content_security_policy("https://a.example/")
    True
    >>> content_security_policy() == CONTENT_SECURITY_POLICY
    True
    >>> "connect-src 'self' https://raw.s3.amazonaws.com;" in content_security_policy(
    ...     upload_origin="https://raw.s3.amazonaws.com")
    True
    """
    sources = []
    parts = urlsplit(oauth_domain_url.strip())
    if parts.scheme == "https" and parts.netloc:
        sources.append(f"https://{parts.netloc}")
    if upload_origin:
        sources.append(upload_origin)
    if not sources:
        return CONTENT_SECURITY_POLICY
    return _CSP_TEMPLATE.format(connect="".join(f" {source}" for source in sources))


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


def _plotly_file_name() -> str:
    return f"{_PLOTLY_PREFIX}{PLOTLY_JS_VERSION}.min.js"


def _plotly_bytes() -> bytes:
    """The vendored plotly.js, after checking its sha256 (a swapped file is never served)."""
    body = (VENDOR_DIR / _plotly_file_name()).read_bytes()
    digest = hashlib.sha256(body).hexdigest()
    if digest != PLOTLY_JS_SHA256:
        raise ValueError(
            f"{_plotly_file_name()} has sha256 {digest[:12]}..., expected "
            f"{PLOTLY_JS_SHA256[:12]}...; refusing to serve it"
        )
    return body


@lru_cache(maxsize=1)
def own_assets() -> dict[str, str]:
    """The dashboard's own servable files (name -> media type), listed once from STATIC_DIR.

    Examples
    --------
    >>> own_assets()["app.js"], "index.html" in own_assets()
    ('text/javascript; charset=utf-8', False)
    """
    return {
        path.name: _MEDIA_TYPES[path.suffix]
        for path in sorted(STATIC_DIR.iterdir())
        if path.is_file() and _ASSET_NAME.fullmatch(path.name)
    }


@lru_cache(maxsize=1)
def dashboard_version() -> str:
    """One content hash over every file of the dashboard: the ``?v=`` of its module URLs.

    Examples
    --------
    >>> len(dashboard_version())
    16
    """
    digest = hashlib.sha256()
    for name in [*own_assets(), "index.html"]:
        digest.update(name.encode() + b"\0" + (STATIC_DIR / name).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _versioned_imports(name: str, source: str) -> str:
    """``source`` with every ``'./<module>.js'`` import pinned to :func:`dashboard_version`.

    Raises
    ------
    ValueError
        An import of anything but a sibling module of the dashboard (named in the message), or
        a dynamic ``import()``.
    """
    modules = {n for n in own_assets() if n.endswith(".js")}
    if _DYNAMIC_IMPORT.search(source):  # its URL could not be pinned
        raise ValueError(f"{name} uses a dynamic import(): import modules statically")

    def pin(match: re.Match[str]) -> str:
        spec = match["spec"]
        sibling = _SIBLING_MODULE.fullmatch(spec)
        if sibling is None or sibling["name"] not in modules:
            raise ValueError(
                f"{name} imports {quote_value(spec)}: only './<module>.js' of the dashboard"
            )
        pinned = f"./{sibling['name']}?v={dashboard_version()}"
        return f"{match['head']}{match['q']}{pinned}{match['q']}"

    return _MODULE_IMPORT.sub(pin, source)


@lru_cache(maxsize=32)
def load_asset(name: str) -> StaticAsset:
    """Load one servable file by name (cached for the life of the process).

    ES modules come with their sibling imports pinned to :func:`dashboard_version`.

    Parameters
    ----------
    name : str
        A file of :func:`own_assets` (``app.js``, ``map.js``, ``app.css``, ``favicon.svg``...)
        or ``plotly-<version>.min.js``.

    Raises
    ------
    KeyError
        When ``name`` is not one of the servable files (no path is ever built from it).

    Examples
    --------
    >>> load_asset("app.css").media_type
    'text/css; charset=utf-8'
    >>> f"./state.js?v={dashboard_version()}'" in load_asset("app.js").body.decode()
    True
    """
    assets = own_assets()
    if name in assets:
        body = (STATIC_DIR / name).read_bytes()
        if name.endswith(".js"):
            body = _versioned_imports(name, body.decode("utf-8")).encode("utf-8")
        return _make_asset(body, assets[name])
    if name == _plotly_file_name():
        return _make_asset(_plotly_bytes(), "text/javascript; charset=utf-8")
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
        "{{APP_JS}}": f"static/app.js?v={dashboard_version()}",
        "{{APP_CSS}}": f"static/app.css?v={load_asset('app.css').etag.strip(chr(34))}",
        "{{FAVICON}}": "static/favicon.svg",
        "{{PLOTLY_JS}}": f"static/{_plotly_file_name()}",
    }
    for placeholder, url in versions.items():
        html = html.replace(placeholder, url)
    return html


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def dashboard(settings: AppSettingsDep) -> HTMLResponse:
    """The dashboard page (a static shell; its data comes from the JSON API)."""
    from lambdas.api.routes.uploads import upload_origin

    return HTMLResponse(
        render_index(),
        headers={
            "Cache-Control": "no-cache",
            "Content-Security-Policy": content_security_policy(
                settings.oauth_domain_url, upload_origin(settings)
            ),
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
        raise HTTPException(status_code=404, detail=f"no static file {quote_value(name)}") from None
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

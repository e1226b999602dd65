"""The HTML report of a version, served so that no response comes near Lambda's 6 MB limit.

A report holds plotly.js and every figure of the run: ~6 MB for 20,000 customers x 36 columns,
too large to return through Lambda (and uncompressed HTML is what a browser's plain link gets).
So the report never travels through the function when the store is S3:

- ``GET /datasets/{dataset}/report-link`` (read access) answers a short-lived URL: an S3
  presigned ``GetObject`` URL (valid :data:`REPORT_LINK_SECONDS`, served as ``text/html``) or,
  for a local model folder (uvicorn, the CLI), this route's own URL with an expiring HMAC
  signature (the key lives in the process, :attr:`ApiServices.link_key`). The dashboard's
  "Full report" fetches it with its token and opens the URL.
- ``GET /datasets/{dataset}/report`` with read access redirects (307) to the presigned URL on
  S3 (``curl -L``), and answers the HTML itself for a local folder (with a hash-based CSP). A
  request carrying a valid ``expires`` + ``signature`` pair needs no token (the signature pins
  dataset and version).

Examples
--------
>>> sig = sign_report_link(b"k", "mall", "v1", 100)
>>> report_link_is_valid(b"k", "mall", "v1", 100, sig, now=99.0)
True
>>> report_link_is_valid(b"k", "mall", "v2", 100, sig, now=99.0)
False
>>> report_link_is_valid(b"k", "mall", "v1", 100, sig, now=101.0)
False
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
import time
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from lambdas.api.dependencies import (
    Credentials,
    DatasetPath,
    ReadAccess,
    RegistryDep,
    ServicesDep,
    StoreDep,
    VersionQuery,
    require_reader,
)
from lambdas.api.errors import ERROR_RESPONSES, JSON_ERROR_RESPONSES, AuthenticationRequiredError
from lambdas.api.schemas import ReportLink
from shared.contract.layout import REPORT_PATH, ModelLayout
from shared.exceptions import NotFoundError
from shared.quoting import quote_value
from shared.serving.model import SegmentationModel

__all__ = [
    "REPORT_LINK_SECONDS",
    "report_content_policy",
    "report_link_is_valid",
    "router",
    "sign_report_link",
]

REPORT_LINK_SECONDS = 300
"""How long a report link stays valid (the page loads once; reloading needs a new link)."""
_HTML = "text/html; charset=utf-8"

router = APIRouter(prefix="/datasets", tags=["datasets"], responses=ERROR_RESPONSES)


def sign_report_link(key: bytes, dataset: str, version: str, expires: int) -> str:
    """The signature of a report link (URL-safe base64 of an HMAC-SHA256)."""
    message = f"report\n{dataset}\n{version}\n{expires}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def report_link_is_valid(
    key: bytes, dataset: str, version: str, expires: int, signature: str, *, now: float
) -> bool:
    """True when ``signature`` signs this dataset, version and expiry, and it has not expired."""
    expected = sign_report_link(key, dataset, version, expires)
    return now < expires and hmac.compare_digest(expected.encode(), signature.encode())


async def _report_access(
    request: Request,
    services: ServicesDep,
    credentials: Credentials,
    dataset: DatasetPath,
    version: VersionQuery = None,
    expires: Annotated[int | None, Query(description="Expiry of a signed link (epoch s).")] = None,
    signature: Annotated[str | None, Query(max_length=100, description="Link signature.")] = None,
) -> bool:
    """True for a valid signed link; otherwise the usual read access (raises when absent)."""
    if expires is not None or signature is not None:
        if (
            version is None
            or expires is None
            or signature is None
            or not report_link_is_valid(
                services.link_key, dataset, version, expires, signature, now=time.time()
            )
        ):
            raise AuthenticationRequiredError(
                "the report link is invalid or expired: ask GET /datasets/{dataset}/report-link "
                "for a new one"
            )
        return True
    await require_reader(request, services, credentials)
    return False


def _report_key(model: SegmentationModel) -> str:
    return ModelLayout.artifact(model.dataset, model.version, REPORT_PATH)


@router.get(
    "/{dataset}/report-link",
    response_model=ReportLink,
    dependencies=[ReadAccess],
    summary="A short-lived URL of the HTML report",
)
def get_report_link(
    dataset: DatasetPath,
    request: Request,
    registry: RegistryDep,
    store: StoreDep,
    services: ServicesDep,
    version: VersionQuery = None,
) -> ReportLink:
    """A URL that opens the version's report without a token for a few minutes."""
    model = registry.get(dataset, version)
    if REPORT_PATH not in model.manifest.artifacts:
        raise NotFoundError(f"version {quote_value(model.version)} has no report")
    expires = int(time.time()) + REPORT_LINK_SECONDS
    url = store.presigned_get_url(
        _report_key(model), expires_seconds=REPORT_LINK_SECONDS, content_type=_HTML
    )
    if url is None:
        signature = sign_report_link(services.link_key, model.dataset, model.version, expires)
        own = request.url_for("get_report", dataset=model.dataset)
        url = str(
            own.include_query_params(version=model.version, expires=expires, signature=signature)
        )
    return ReportLink(
        dataset=model.dataset,
        model_version=model.version,
        url=url,
        expires_at=datetime.fromtimestamp(expires, tz=UTC),
    )


@router.get(
    "/{dataset}/report",
    response_class=HTMLResponse,
    response_model=None,
    summary="The training report (HTML, or a redirect to it)",
    responses={
        200: {"content": {"text/html": {}}, "description": "The report page (local store)"},
        307: {"description": "Redirect to a presigned URL of the report (S3 store)"},
        **JSON_ERROR_RESPONSES,
    },
)
def get_report(
    dataset: DatasetPath,
    registry: RegistryDep,
    store: StoreDep,
    signed: Annotated[bool, Depends(_report_access)],
    version: VersionQuery = None,
) -> Response:
    """The self-contained HTML report of a training run.

    On S3 a redirect (307) to a presigned URL: the page never passes through the function. From
    a local folder the page itself, with a Content-Security-Policy like the dashboard's: only
    the report's own inline scripts run (by hash), nothing is loaded from elsewhere and the
    page cannot be framed.
    """
    model = registry.get(dataset, version)
    if not signed:
        url = store.presigned_get_url(
            _report_key(model), expires_seconds=REPORT_LINK_SECONDS, content_type=_HTML
        )
        if url is not None:
            return RedirectResponse(url, status_code=307, headers={"Cache-Control": "no-store"})
    document = model.document(REPORT_PATH)
    return HTMLResponse(
        document,
        headers={
            "Content-Security-Policy": report_content_policy(document),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "private, no-store",
        },
    )


_INLINE_SCRIPT = re.compile(rb"<script(?P<attrs>[^>]*)>(?P<code>.*?)</script>", re.DOTALL)


@functools.lru_cache(maxsize=8)
def report_content_policy(document: bytes) -> str:
    """The report's Content-Security-Policy: its inline scripts allowed by sha256, nothing else.

    Data blocks (``type="application/json"``) are not scripts and need no hash.

    Examples
    --------
    >>> page = b"<script>1</script><script type='application/json'>{}</script>"
    >>> report_content_policy(page).split("; ")[1]
    "script-src 'sha256-a4ayc/80/OGda4BO/1o/V0etpOqiLx1JwB5S3beHW0s='"
    """
    hashes = sorted(
        {
            "'sha256-" + base64.b64encode(hashlib.sha256(m["code"]).digest()).decode() + "'"
            for m in _INLINE_SCRIPT.finditer(document)
            if b"application/json" not in m["attrs"].lower()
        }
    )
    scripts = " ".join(hashes) or "'none'"
    return (
        f"default-src 'none'; script-src {scripts}; "
        "style-src 'unsafe-inline'; img-src data: blob:; font-src data:; object-src 'none'; "
        "base-uri 'none'; frame-ancestors 'none'; form-action 'none'"
    )

"""Browser uploads: ``POST /datasets/{dataset}/uploads`` (admin) hands out a presigned S3 POST.

The signature allows one key, ``uploads/<dataset>/<name>`` (so the upload starts a training run
of that dataset, as any upload does), a body of at most ``MAX_UPLOAD_BYTES`` (what training
reads) and :data:`UPLOAD_TICKET_SECONDS` of life. The browser posts the file to S3 itself: the
file never passes through the API (whose responses and requests stop at 6 MB). The dashboard's
Content-Security-Policy allows that one origin (:func:`upload_origin`).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING

from fastapi import APIRouter

from lambdas.api.dependencies import AdminAccess, DatasetPath, SettingsDep
from lambdas.api.errors import ERROR_RESPONSES, UploadsUnavailableError
from lambdas.api.schemas import ErrorResponse, UploadRequest, UploadTicket
from shared.contract.layout import RawLayout
from shared.exceptions import FileTooLargeError
from shared.settings import Settings

if TYPE_CHECKING:
    from shared.store.s3 import S3UploadSigner

__all__ = ["UPLOAD_TICKET_SECONDS", "router", "upload_origin"]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/datasets", tags=["uploads"], responses=ERROR_RESPONSES)

UPLOAD_TICKET_SECONDS = 900
"""How long a presigned upload stays valid (a large file on a slow line needs minutes)."""


@lru_cache(maxsize=4)
def _signer(bucket: str, endpoint: str | None) -> S3UploadSigner:
    """One signer per raw bucket and endpoint (boto3 client built on first use)."""
    from shared.store.s3 import S3UploadSigner

    return S3UploadSigner(bucket)


@lru_cache(maxsize=4)
def _origin(bucket: str, endpoint: str | None) -> str | None:
    try:
        return _signer(bucket, endpoint).origin()
    except Exception:  # no credentials to sign with: the page simply offers no upload
        logger.warning("cannot sign uploads to %s; browser uploads are off", bucket, exc_info=True)
        return None


def upload_origin(settings: Settings) -> str | None:
    """Where browsers post uploads (``scheme://host``), or None without a raw bucket (or
    without credentials to sign with)."""
    if not settings.raw_bucket:
        return None
    return _origin(settings.raw_bucket, settings.aws_endpoint_url)


@router.post(
    "/{dataset}/uploads",
    response_model=UploadTicket,
    summary="A presigned browser upload (admin)",
    dependencies=[AdminAccess],
    responses={403: {"model": ErrorResponse, "description": "Needs an admin token"}},
)
def create_upload(dataset: DatasetPath, body: UploadRequest, settings: SettingsDep) -> UploadTicket:
    """A presigned S3 POST for ``uploads/<dataset>/<filename>``, size-capped; posting the file
    starts a training run of ``dataset`` (new or existing) like any upload."""
    if not settings.raw_bucket:
        raise UploadsUnavailableError(
            "browser uploads need the raw bucket (RAW_BUCKET); this API serves a local model "
            "folder: train with `segments train` instead"
        )
    if body.size > settings.max_upload_bytes:
        raise FileTooLargeError(
            f"{body.filename} has {body.size:,} bytes; uploads may have at most "
            f"{settings.max_upload_bytes:,} (MAX_UPLOAD_BYTES)"
        )
    name = "-".join(body.filename.split())
    key = RawLayout.upload(dataset, name)
    signer = _signer(settings.raw_bucket, settings.aws_endpoint_url)
    post = signer.presign_post(
        key, max_bytes=settings.max_upload_bytes, expires_seconds=UPLOAD_TICKET_SECONDS
    )
    return UploadTicket(
        dataset=dataset,
        key=key,
        url=post["url"],
        fields=post["fields"],
        max_bytes=settings.max_upload_bytes,
        expires_at=datetime.now(UTC) + timedelta(seconds=UPLOAD_TICKET_SECONDS),
    )

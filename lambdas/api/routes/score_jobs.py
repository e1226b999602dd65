"""``/datasets/{dataset}/score-jobs``: score a whole customer file through the raw bucket.

``POST`` answers a job id and a presigned URL; the client PUTs its file there
(``score/<dataset>/<job id>.<ext>`` in the raw bucket), the bucket notification sends it to the
training function, which scores it against the current version
(:mod:`shared.training.score_run`) and writes ``datasets/<dataset>/scores/<job id>/``: the scored
``.csv.gz`` and ``.parquet`` files, then ``score.json``. ``GET`` reads ``score.json``: ``pending``
until it exists, then ``done`` (with the model version used, counts and presigned download URLs)
or ``failed`` (with the reason). Files of any size go this way: nothing passes through the API,
whose answers stay small.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path

from lambdas.api.dependencies import DatasetPath, ReadAccess, ServicesDep
from lambdas.api.errors import ERROR_RESPONSES, ScoringUnavailableError
from lambdas.api.schemas import (
    ErrorResponse,
    ScoreJobCreated,
    ScoreJobRequest,
    ScoreJobStatus,
    ScoreOutput,
)
from shared.contract.layout import SCORE_RECORD_PATH, ModelLayout, RawLayout
from shared.contract.scoring import SCORE_NAME_PATTERN, ScoreRecord
from shared.exceptions import NoModelError
from shared.quoting import quote_value
from shared.store.base import ObjectNotFoundError, read_current
from shared.store.s3 import presigned_url

__all__ = ["UPLOAD_URL_SECONDS", "router"]

router = APIRouter(prefix="/datasets", tags=["scoring"], responses=ERROR_RESPONSES)

UPLOAD_URL_SECONDS = 900
"""How long a presigned upload or download URL stays valid (15 minutes)."""
_EXTENSIONS = {"csv": ".csv", "csv.gz": ".csv.gz", "parquet": ".parquet"}

JobPath = Annotated[str, Path(description="The job id POST answered.", pattern=SCORE_NAME_PATTERN)]


def _new_job_id() -> str:
    """``<UTC time>-<10 hex>``: sorts by creation, unguessable enough to share a bucket."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(5)}"


@router.post(
    "/{dataset}/score-jobs",
    response_model=ScoreJobCreated,
    status_code=201,
    summary="Start scoring a whole file: get a presigned upload URL",
    dependencies=[ReadAccess],
    responses={
        409: {"model": ErrorResponse, "description": "This API serves a local model folder"}
    },
)
def create_score_job(
    dataset: DatasetPath, services: ServicesDep, body: ScoreJobRequest | None = None
) -> ScoreJobCreated:
    """A job id and where to PUT the file; the file is scored against the version current
    when it arrives."""
    settings = services.settings
    if services.store_kind != "s3" or not settings.raw_bucket:
        raise ScoringUnavailableError(
            "whole-file scoring needs the raw bucket (RAW_BUCKET) and the models bucket; with a "
            "local model folder use `segments score FILE --models-dir DIR` instead"
        )
    if read_current(services.store, dataset) is None:
        raise NoModelError(f"dataset {quote_value(dataset)} has no current model to score with")
    job_id = _new_job_id()
    key = RawLayout.score_upload(dataset, job_id + _EXTENSIONS[(body or ScoreJobRequest()).format])
    return ScoreJobCreated(
        job_id=job_id,
        dataset=dataset,
        upload_url=presigned_url(
            settings.raw_bucket, key, method="put_object", expires_seconds=UPLOAD_URL_SECONDS
        ),
        upload_key=key,
        expires_in=UPLOAD_URL_SECONDS,
        status_url=f"/datasets/{dataset}/score-jobs/{job_id}",
    )


@router.get(
    "/{dataset}/score-jobs/{job_id}",
    response_model=ScoreJobStatus,
    summary="A scoring job's status, counts and output locations",
    dependencies=[ReadAccess],
)
def get_score_job(dataset: DatasetPath, job_id: JobPath, services: ServicesDep) -> ScoreJobStatus:
    """``pending`` until the scores are written; then ``done`` or ``failed``."""
    key = ModelLayout.scores(dataset, job_id) + SCORE_RECORD_PATH
    try:
        record = ScoreRecord.model_validate_json(services.store.get_bytes(key))
    except ObjectNotFoundError:
        return ScoreJobStatus(job_id=job_id, dataset=dataset, status="pending")
    types = {"csv.gz": "application/gzip", "parquet": "application/octet-stream"}
    outputs = {
        kind: ScoreOutput(
            key=output_key,
            url=services.store.presigned_get_url(
                output_key,
                expires_seconds=UPLOAD_URL_SECONDS,
                content_type=types.get(kind, "application/octet-stream"),
            ),
        )
        for kind, output_key in record.outputs.items()
    }
    return ScoreJobStatus(
        job_id=job_id,
        dataset=dataset,
        status=record.status,
        model_version=record.model_version,
        algorithm=record.algorithm,
        k=record.k,
        rows=record.rows,
        unscored=record.unscored,
        segment_counts=record.segment_counts,
        outputs=outputs,
        error=record.error,
        created_at=record.created_at,
    )

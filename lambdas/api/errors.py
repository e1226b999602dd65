"""Errors to HTTP, in one place.

Every :class:`~shared.exceptions.SegmentationError` maps to a status through :data:`STATUS`
(looked up along the exception's class hierarchy, most specific first). Request validation
errors become a 422 naming the field (and, for customers, the row and column). Anything else is a
500 with a generic message and the request id: the stack trace goes to the log, never to the
client.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from lambdas.api.schemas import ErrorResponse, FieldProblem
from shared.exceptions import (
    AlgorithmNotFittedError,
    ArtifactError,
    BatchTooLargeError,
    DataValidationError,
    FileTooLargeError,
    InvalidCustomerError,
    InvalidTransactionError,
    NoModelError,
    NotFoundError,
    NotOrderLinesError,
    SegmentationError,
    TransientStoreError,
)
from shared.quoting import shorten

__all__ = [
    "ERROR_RESPONSES",
    "JSON_ERROR_RESPONSES",
    "STATUS",
    "AssignBatchTooLargeError",
    "AuthenticationRequiredError",
    "PermissionDeniedError",
    "ScoringUnavailableError",
    "UploadsUnavailableError",
    "install_error_handlers",
    "request_id_of",
]

logger = logging.getLogger(__name__)


class AuthenticationRequiredError(SegmentationError):
    """No valid bearer token was sent (401)."""


class PermissionDeniedError(SegmentationError):
    """The token is valid but lacks the scope the route needs (403)."""


class ScoringUnavailableError(SegmentationError):
    """Whole-file scoring jobs need the raw and models buckets; an API serving a local model
    folder has neither (409: the request is valid, this deployment cannot take it)."""


class UploadsUnavailableError(SegmentationError):
    """Browser uploads need the raw bucket (``RAW_BUCKET``); a local model folder has none."""


class AssignBatchTooLargeError(BatchTooLargeError):
    """More customers than ``MAX_ASSIGN_BATCH`` in one call (413); carries the limit."""

    def __init__(self, message: str, *, limit: int) -> None:
        super().__init__(message)
        self.limit = limit


STATUS: dict[type[SegmentationError], tuple[int, str]] = {
    InvalidCustomerError: (422, "invalid_customer"),
    InvalidTransactionError: (422, "invalid_transactions"),
    NotOrderLinesError: (409, "not_order_lines"),
    DataValidationError: (422, "invalid_input"),
    BatchTooLargeError: (413, "batch_too_large"),
    FileTooLargeError: (413, "file_too_large"),
    AlgorithmNotFittedError: (404, "model_not_fitted"),
    NotFoundError: (404, "not_found"),
    NoModelError: (503, "no_model"),
    ArtifactError: (503, "artifact_refused"),
    TransientStoreError: (503, "store_unavailable"),
    AuthenticationRequiredError: (401, "unauthorized"),
    UploadsUnavailableError: (503, "uploads_unavailable"),
    PermissionDeniedError: (403, "forbidden"),
    ScoringUnavailableError: (409, "scoring_unavailable"),
    SegmentationError: (400, "bad_request"),
}
"""Status and machine code per error class; the most specific class in the MRO wins."""

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    422: "invalid_request",
}

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in {
        400: "The body is not readable (not UTF-8 JSON)",
        401: "Missing or invalid bearer token",
        404: "Unknown dataset, version, segment or model",
        422: "Invalid request (names the field, row and column)",
        503: "No model yet, artifact refused, or store unavailable",
    }.items()
}
"""Documented error answers shared by the dataset routes (OpenAPI ``responses=``)."""

JSON_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "description": spec["description"],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
    }
    for status, spec in ERROR_RESPONSES.items()
}
"""The same, spelled out as JSON for routes whose success is not JSON (the HTML report)."""


def request_id_of(request: Request) -> str:
    """The request id: Lambda's, API Gateway's, or a fresh one (set by the gateway middleware)."""
    state = request.scope.get("state") or {}
    rid = state.get("request_id")
    if isinstance(rid, str):
        return rid
    return uuid.uuid4().hex


def _json(status: int, body: ErrorResponse, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        status_code=status,
        content=body.model_dump(exclude_none=True),
        headers={"x-request-id": body.request_id or "", **(headers or {})},
    )


def _status_of(exc: SegmentationError) -> tuple[int, str]:
    for cls in type(exc).__mro__:
        found = STATUS.get(cls)
        if found is not None:
            return found
    return 400, "bad_request"


async def _segmentation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SegmentationError)
    status, code = _status_of(exc)
    body = ErrorResponse(error=code, message=str(exc), request_id=request_id_of(request))
    headers: dict[str, str] = {}
    if isinstance(exc, InvalidCustomerError):
        body.row, body.column = exc.row, exc.column
        body.field = f"customers[{exc.row}]" + (f".{exc.column}" if exc.column else "")
    if isinstance(exc, AssignBatchTooLargeError):
        body.limit = exc.limit
    if status == 401:
        headers["www-authenticate"] = "Bearer"
    if isinstance(exc, TransientStoreError):
        headers["retry-after"] = "1"
    log = logger.warning if status >= 500 else logger.info
    log(
        "request refused",
        extra={"status": status, "error": code, "detail": str(exc), "path": request.url.path},
    )
    return _json(status, body, headers)


def _field_name(loc: tuple[Any, ...]) -> tuple[str, int | None, str | None]:
    """``("body", "customers", 3, "Age")`` -> ``("customers[3].Age", 3, "Age")``."""
    parts = list(loc[1:] if loc and loc[0] in {"body", "query", "path", "header"} else loc)
    row: int | None = None
    column: str | None = None
    if len(parts) >= 2 and parts[0] == "customers" and isinstance(parts[1], int):
        row = parts[1]
        if len(parts) >= 3:
            column = shorten(str(parts[2]))
    text = ""
    for part in parts:
        # Keys come from the request: a 5 MB key is shown as its first characters.
        name = shorten(str(part))
        text += f"[{part}]" if isinstance(part, int) else (f".{name}" if text else name)
    return text or "body", row, column


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems: list[FieldProblem] = []
    for err in exc.errors():
        field, row, column = _field_name(tuple(err.get("loc", ())))
        problems.append(
            FieldProblem(
                field=field, message=str(err.get("msg", "invalid")), row=row, column=column
            )
        )
    first = problems[0] if problems else FieldProblem(field="body", message="invalid request")
    where = first.field if first.row is None else f"{first.field} (row {first.row})"
    more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
    body = ErrorResponse(
        error="invalid_request",
        message=f"{where}: {first.message}{more}",
        request_id=request_id_of(request),
        field=first.field,
        row=first.row,
        column=first.column,
        problems=problems[:50],
    )
    return _json(422, body)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    body = ErrorResponse(error=code, message=str(exc.detail), request_id=request_id_of(request))
    headers = dict(exc.headers or {})
    return _json(exc.status_code, body, headers)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    rid = request_id_of(request)
    logger.exception("unexpected error", extra={"request_id": rid, "path": request.url.path})
    body = ErrorResponse(
        error="internal_error",
        message=f"internal error; quote request id {rid} when reporting it",
        request_id=rid,
    )
    return _json(500, body)


def install_error_handlers(app: FastAPI) -> None:
    """Register every exception handler of the API on ``app``."""
    app.add_exception_handler(SegmentationError, _segmentation_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)

"""ASGI middleware between API Gateway (via Mangum) and the app.

- **Stage prefix**: an HTTP API stage other than ``$default`` puts its name in front of every
  path (``/prod/docs``). The prefix becomes the ASGI ``root_path``, so routes match and
  ``/docs`` loads ``/prod/openapi.json`` whose ``servers`` say ``/prod``.
- **Request id**: Lambda's request id (or API Gateway's, or a fresh one) is put on the request
  state and returned as ``x-request-id``.
- **Body cap**: bodies above ``max_body_bytes`` get a 413 before anything parses them.
- **Cross-site requests**: a state-changing request (``POST``, ``PUT``, ``PATCH``, ``DELETE``)
  with a body or a ``Content-Type`` other than ``application/json`` gets a 415, so a plain HTML
  form (which can only send form or text bodies) cannot reach a route. One whose ``Origin`` is
  not this API's own host gets a 403, unless it carries an ``Authorization`` header: browsers
  send that header cross-origin only after a CORS preflight the API approved. Same-origin
  requests and requests without ``Origin`` (CLI, curl) are unaffected.
- **HEAD** is answered as ``GET`` without the body, wherever ``GET`` exists.
- **Compression**: a JSON (or CSV export) response of at least :data:`GZIP_MIN_BYTES` is
  gzipped when the client accepts gzip (browsers, curl ``--compressed``, httpx): JSON shrinks
  5-10x, so a large plot or evaluation document stays far below Lambda's limit even
  base64-encoded.
- **Response cap**: a response whose Lambda payload would exceed ``max_response_bytes`` (Lambda
  returns at most 6 MB) is replaced by a 413 that names the size and the limit.

A plain ASGI class, not ``BaseHTTPMiddleware``: it adds microseconds, not a task per request.
"""

from __future__ import annotations

import gzip
import json
import uuid
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.quoting import quote_value

__all__ = ["GZIP_MIN_BYTES", "MAX_BODY_BYTES", "MAX_RESPONSE_BYTES", "GatewayMiddleware"]

MAX_BODY_BYTES = 6 * 1024 * 1024
"""Lambda's synchronous payload limit: nothing larger can arrive through API Gateway anyway."""

MAX_RESPONSE_BYTES = MAX_BODY_BYTES - 64 * 1024
"""The largest response body, as Lambda returns it (JSON-escaped or base64), headers aside."""

GZIP_MIN_BYTES = 4096
"""Smaller responses are sent as they are: compressing them saves less than it costs."""
_COMPRESSIBLE_TYPES = (b"application/json", b"text/csv")

STATE_CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_TEXT_TYPES = (b"application/json", b"text/")


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


def _is_json(content_type: bytes) -> bool:
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json"


def _is_foreign_origin(scope: Scope) -> bool:
    origin = _header(scope, b"origin")
    if origin is None:
        return False
    host = (_header(scope, b"host") or b"").decode("latin-1").lower()
    netloc = urlsplit(origin.decode("latin-1").strip()).netloc.lower()
    return not host or netloc != host


def accepts_gzip(scope: Scope) -> bool:
    """True when the request's ``Accept-Encoding`` lists gzip (without ``q=0``).

    Examples
    --------
    >>> accepts_gzip({"headers": [(b"accept-encoding", b"gzip, deflate, br")]})
    True
    >>> accepts_gzip({"headers": [(b"accept-encoding", b"br, gzip;q=0")]})
    False
    """
    accepted = (_header(scope, b"accept-encoding") or b"").decode("latin-1").lower()
    for item in accepted.split(","):
        name, _, params = item.strip().partition(";")
        if name.strip() in {"gzip", "*"}:
            return params.replace(" ", "") not in {"q=0", "q=0.0", "q=0.00", "q=0.000"}
    return False


def gzip_response(
    body: bytes, headers: list[tuple[bytes, bytes]]
) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """``body`` gzipped with its headers adjusted, or both unchanged when not worth it.

    Examples
    --------
    >>> body, headers = gzip_response(b"[" + b"1," * 5000 + b"1]",
    ...                               [(b"content-type", b"application/json")])
    >>> dict(headers)[b"content-encoding"], len(body) < 100
    (b'gzip', True)
    >>> gzip_response(b"{}", [(b"content-type", b"application/json")])[0]
    b'{}'
    """
    kinds = {k.lower(): v for k, v in headers}
    content_type = kinds.get(b"content-type", b"").lower()
    if (
        len(body) < GZIP_MIN_BYTES
        or b"content-encoding" in kinds
        or not content_type.startswith(_COMPRESSIBLE_TYPES)
    ):
        return body, headers
    packed = gzip.compress(body, compresslevel=6, mtime=0)
    kept = [(k, v) for k, v in headers if k.lower() not in {b"content-length", b"vary"}]
    vary = [v for k, v in headers if k.lower() == b"vary"]
    vary_value = b", ".join([*vary, b"Accept-Encoding"]) if vary else b"Accept-Encoding"
    return packed, [
        *kept,
        (b"content-encoding", b"gzip"),
        (b"content-length", str(len(packed)).encode()),
        (b"vary", vary_value),
    ]


def lambda_payload_size(body: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    """How many bytes ``body`` takes in Lambda's response document.

    Mangum returns text as a JSON string (quotes, backslashes and non-ASCII escaped) and
    anything else (gzip, images) base64-encoded.

    Examples
    --------
    >>> lambda_payload_size(b'{"a":"\\u00e9"}', [(b"content-type", b"application/json")])
    21
    >>> lambda_payload_size(b"abc", [(b"content-encoding", b"gzip")])
    4
    """
    kinds = dict(headers)
    content_type = kinds.get(b"content-type", b"")
    if b"content-encoding" in kinds or not content_type.startswith(_TEXT_TYPES):
        return 4 * ((len(body) + 2) // 3)
    if body.isascii():
        return _json_string_size_ascii(body)
    return len(json.dumps(body.decode("utf-8", "replace")))


_SHORT_ESCAPES = np.array([ord(c) for c in "\b\f\n\r\t"], dtype=np.uint8)
"""The control characters ``json.dumps`` writes as two characters (``\\n``), not six."""


def _json_string_size_ascii(body: bytes) -> int:
    """``len(json.dumps(body.decode()))`` for an ASCII ``body``, without building the string.

    ``json.dumps`` writes a quote, a backslash and ``\\b \\f \\n \\r \\t`` as two characters,
    any other control character and DEL as six (``\\u001f``) and the rest as they are; numpy
    counts them (a 10 MB answer in milliseconds, against tens for the string itself).

    Examples
    --------
    >>> body = b'{"a":"x\\\\y"}\\n\\x01\\x7f'
    >>> _json_string_size_ascii(body) == len(json.dumps(body.decode()))
    True
    """
    data = np.frombuffer(body, dtype=np.uint8)
    size = len(body) + 2 + int(np.count_nonzero(data == ord('"')))
    size += int(np.count_nonzero(data == ord("\\")))
    special = (data < 0x20) | (data == 0x7F)
    if special.any():
        escaped = data[special]
        short = int(np.count_nonzero(np.isin(escaped, _SHORT_ESCAPES)))
        size += short + 5 * (escaped.size - short)
    return size


def _request_id(scope: Scope) -> str:
    context = scope.get("aws.context")
    rid = getattr(context, "aws_request_id", None)
    if isinstance(rid, str) and rid:
        return rid
    event = scope.get("aws.event") or {}
    rid = (event.get("requestContext") or {}).get("requestId")
    if isinstance(rid, str) and rid:
        return rid
    return uuid.uuid4().hex


def _stage_prefix(scope: Scope) -> str | None:
    event = scope.get("aws.event") or {}
    stage = (event.get("requestContext") or {}).get("stage")
    if not isinstance(stage, str) or not stage or stage == "$default":
        return None
    prefix = "/" + stage
    path: str = scope.get("path", "")
    if path == prefix or path.startswith(prefix + "/"):
        return prefix
    return None


class GatewayMiddleware:
    """Stage prefix -> ``root_path``, request ids, and a cap on body size."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int = MAX_BODY_BYTES,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_response_bytes = max_response_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = rid
        prefix = _stage_prefix(scope)
        if prefix is not None:
            # Starlette strips root_path from path when matching routes; path keeps the prefix.
            scope["root_path"] = scope.get("root_path", "") + prefix

        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_body_bytes:
                await self._refuse(
                    send, rid, 413, "payload_too_large", self._message(), self.max_body_bytes
                )
                return
        refusal = self._cross_site_refusal(scope)
        if refusal is not None:
            await self._refuse(send, rid, *refusal)
            return
        compress = accepts_gzip(scope)
        head = scope["method"] == "HEAD"
        if head:
            scope["method"] = "GET"

        seen = 0

        async def capped_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body_bytes:
                    # Raised inside the app's body read, so the app's error handlers answer.
                    raise HTTPException(status_code=413, detail=self._message())
            return message

        start: Message | None = None
        chunks: list[bytes] = []

        async def send_capped(message: Message) -> None:
            # The whole response is held (Mangum holds it anyway) so its size is known.
            nonlocal start
            if message["type"] == "http.response.start":
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"
                ]
                headers.append((b"x-request-id", rid.encode()))
                start = {**message, "headers": headers}
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            if compress:
                body, headers = gzip_response(body, start["headers"])
                start = {**start, "headers": headers}
            size = lambda_payload_size(body, start["headers"])
            if size > self.max_response_bytes:
                await self._refuse(
                    send,
                    rid,
                    413,
                    "response_too_large",
                    f"the response would take {size} bytes, over the limit of "
                    f"{self.max_response_bytes} bytes a Lambda function can return; ask for less "
                    "(fewer customers per call)",
                    self.max_response_bytes,
                )
                return
            await send(start)
            await send({"type": "http.response.body", "body": b"" if head else body})

        await self.app(scope, capped_receive, send_capped)

    def _cross_site_refusal(self, scope: Scope) -> tuple[int, str, str, None] | None:
        if scope["method"] not in STATE_CHANGING_METHODS:
            return None
        content_type = _header(scope, b"content-type")
        length = _header(scope, b"content-length")
        # A form always sends a Content-Type; a bodiless POST (``curl -X POST``) needs none.
        has_body = length is not None and length.strip() not in (b"", b"0")
        if (content_type is not None or has_body) and not _is_json(content_type or b""):
            shown = (content_type or b"none").decode("latin-1")[:100]
            return (
                415,
                "unsupported_media_type",
                f"state-changing requests take a JSON body (Content-Type: application/json), "
                f"not {quote_value(shown)}",
                None,
            )
        if _is_foreign_origin(scope) and _header(scope, b"authorization") is None:
            return (
                403,
                "forbidden_origin",
                "cross-site requests may not change anything: the Origin is not this API's host",
                None,
            )
        return None

    def _message(self) -> str:
        return f"request body is larger than the limit of {self.max_body_bytes} bytes"

    async def _refuse(
        self, send: Send, rid: str, status: int, code: str, message: str, limit: int | None
    ) -> None:
        body: dict[str, Any] = {"error": code, "message": message, "request_id": rid}
        if limit is not None:
            body["limit"] = limit
        payload = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"x-request-id", rid.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

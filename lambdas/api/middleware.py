"""ASGI middleware between API Gateway (via Mangum) and the app.

- **Stage prefix**: an HTTP API stage other than ``$default`` puts its name in front of every
  path (``/prod/docs``). The prefix becomes the ASGI ``root_path``, so routes match and
  ``/docs`` loads ``/prod/openapi.json`` whose ``servers`` say ``/prod``.
- **Request id**: Lambda's request id (or API Gateway's, or a fresh one) is put on the request
  state and returned as ``x-request-id``.
- **Body cap**: bodies above ``max_body_bytes`` get a 413 before anything parses them.

A plain ASGI class, not ``BaseHTTPMiddleware``: it adds microseconds, not a task per request.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["MAX_BODY_BYTES", "GatewayMiddleware"]

MAX_BODY_BYTES = 6 * 1024 * 1024
"""Lambda's synchronous payload limit: nothing larger can arrive through API Gateway anyway."""


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

    def __init__(self, app: ASGIApp, *, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

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
                await self._too_large(send, rid)
                return

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

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", rid.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, capped_receive, send_with_id)

    def _message(self) -> str:
        return f"request body is larger than the limit of {self.max_body_bytes} bytes"

    async def _too_large(self, send: Send, rid: str) -> None:
        body: dict[str, Any] = {
            "error": "payload_too_large",
            "message": self._message(),
            "request_id": rid,
            "limit": self.max_body_bytes,
        }
        payload = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"x-request-id", rid.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

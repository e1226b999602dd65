"""orjson for the large bodies of ``/assign``: parsing requests and writing answers.

A 10,000-customer request is ~1 MB of JSON each way; the standard library's ``json`` spends
about as long on it as the model does. :class:`FastJSONRoute` gives the routes of a router a
request whose ``json()`` parses with orjson, and :func:`json_response` writes an answer with
orjson. When orjson refuses a body, the standard parser reads it again, so malformed, non-UTF-8
or ``NaN``-carrying bodies get exactly the answers they got before (422 naming the position,
400 for undecodable bytes). The response schema is still documented by ``response_model``;
routes returning :func:`json_response` skip FastAPI's re-validation of their own output
(the assignment columns are typed where they are built, in :mod:`shared.serving.model`).
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.routing import APIRoute

__all__ = ["FastJSONRequest", "FastJSONRoute", "json_response"]


class FastJSONRequest(Request):
    """A request whose ``json()`` parses with orjson (falling back to ``json`` on errors)."""

    async def json(self) -> Any:
        """The parsed body, cached like Starlette's."""
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = orjson.loads(body)
            except orjson.JSONDecodeError:
                # Let the standard parser raise its own error (or accept what orjson refuses,
                # such as NaN literals), exactly as before.
                self._json = json.loads(body)
        return self._json


class FastJSONRoute(APIRoute):
    """An ``APIRoute`` whose handler sees a :class:`FastJSONRequest`, with the cyclic garbage
    collector paused while it runs.

    A 10,000-customer call creates ~100,000 short-lived containers (the parsed body, the answer
    rows); each triggers the cyclic collector's generation counters, and its full collections
    then walk every object of the process (the API's libraries, any loaded model), adding tens
    of milliseconds. Those containers are freed by reference counting; the collector runs again
    as usual once the call is answered.

    Examples
    --------
    >>> from fastapi import APIRouter
    >>> router = APIRouter(route_class=FastJSONRoute)
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap the standard handler so it receives a :class:`FastJSONRequest`."""
        handler = super().get_route_handler()

        async def fast_json_handler(request: Request) -> Response:
            paused = gc.isenabled()
            if paused:
                gc.disable()
            try:
                return await handler(FastJSONRequest(request.scope, request.receive))
            finally:
                if paused:
                    gc.enable()

        return fast_json_handler


def json_response(payload: Any, *, status_code: int = 200) -> Response:
    """A JSON response written by orjson (str keys; NaN and infinities become ``null``).

    Examples
    --------
    >>> json_response({"a": [1, 2.5, None]}).body
    b'{"a":[1,2.5,null]}'
    """
    return Response(
        content=orjson.dumps(payload), status_code=status_code, media_type="application/json"
    )

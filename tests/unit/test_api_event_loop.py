"""The API never reads the store on uvicorn's event loop; single assigns stay on it.

A store that notes, on every method call, whether it runs on a thread with a running event loop
serves a tiny published version (``tests/support/versions.py``) to the real app through
Starlette's TestClient (which runs the app on an event loop in a portal thread, as uvicorn does).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from mangum import Mangum

import lambdas.api.routes.assign as assign_route
from lambdas.api.main import create_app
from shared.settings import Settings
from shared.store.local import LocalModelStore
from tests.support.aws import FakeLambdaContext
from tests.support.events import load_event
from tests.support.versions import RECORDS, build_version, point_at


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class LoopWatchingStore(LocalModelStore):
    """A local store recording ``(method, called on the event loop)`` for every public call."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.calls: list[tuple[str, bool]] = []

    def __getattribute__(self, name: str) -> Any:
        attr = super().__getattribute__(name)
        if not name.startswith("_") and callable(attr):
            object.__getattribute__(self, "calls").append((name, _on_event_loop()))
        return attr


@pytest.fixture
def served(tmp_path: Path) -> tuple[TestClient, LoopWatchingStore]:
    setup = LocalModelStore(tmp_path)
    build_version(setup, "tiny", "v1")
    build_version(setup, "tiny", "v2")
    point_at(setup, "tiny", "v1")
    store = LoopWatchingStore(tmp_path)
    settings = Settings(
        auth_mode="open", api_tokens_raw="", admin_tokens_raw="", model_refresh_seconds=60
    )
    return TestClient(create_app(store=store, settings=settings)), store


def test_no_route_reads_the_store_on_the_event_loop(
    served: tuple[TestClient, LoopWatchingStore],
) -> None:
    client, store = served
    ok = [
        ("GET", "/datasets"),
        ("GET", "/datasets/tiny"),
        ("GET", "/datasets/tiny/segments"),
        ("GET", "/datasets/tiny/segments/7?algorithm=gmm"),
        ("GET", "/datasets/tiny/versions"),
        ("GET", "/datasets/tiny/failures"),
        ("GET", "/datasets/tiny?version=v2"),
        ("POST", "/datasets/tiny/versions/v2/promote"),
    ]
    for method, url in ok:
        response = client.request(method, url)
        assert response.status_code == 200, (url, response.text)
    for url in ("/datasets/tiny/evaluation", "/datasets/tiny/plots", "/datasets/tiny/report"):
        client.get(url)  # this hand-built version has no such documents: an error, off the loop
    for query in ("", "?algorithm=gmm", "?k=3", "?version=v1"):
        response = client.post(f"/datasets/tiny/assign{query}", json={"customers": RECORDS})
        assert response.status_code == 200, (query, response.text)
    assert len({method for method, _ in store.calls}) >= 4  # the watch does see the reads
    on_loop = [method for method, loop in store.calls if loop]
    assert on_loop == []


def test_a_cached_single_assign_stays_on_the_event_loop(
    served: tuple[TestClient, LoopWatchingStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, store = served
    hops: list[int] = []
    real = assign_route.run_in_threadpool

    async def counting(func: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(next(len(a) for a in args if isinstance(a, list)))  # the customers
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(assign_route, "run_in_threadpool", counting)
    one = {"customers": RECORDS[:1]}
    assert client.post("/datasets/tiny/assign", json=one).status_code == 200
    assert hops == [1]  # the first call loads the model in a thread
    reads = len(store.calls)
    for _ in range(3):
        body = client.post("/datasets/tiny/assign", json=one).json()
        assert body["assignments"][0]["segment_id"] == 7
    assert hops == [1]  # then answered on the loop, without touching the store
    assert len(store.calls) == reads
    many = {"customers": RECORDS * (assign_route.INLINE_MAX_CUSTOMERS // len(RECORDS) + 1)}
    assert client.post("/datasets/tiny/assign", json=many).status_code == 200
    assert hops == [1, len(many["customers"])]  # a real batch is CPU work: a thread
    assert client.post("/datasets/tiny/assign?algorithm=gmm", json=one).status_code == 200
    assert hops == [1, len(many["customers"]), 1]  # a model not loaded yet: a thread


def test_inside_lambda_a_large_batch_on_a_loaded_model_stays_on_the_loop(
    served: tuple[TestClient, LoopWatchingStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Lambda container handles one invocation at a time: no other request shares its loop."""
    client, _ = served
    handler = Mangum(client.app, lifespan="off", api_gateway_base_path="/")
    hops: list[int] = []
    real = assign_route.run_in_threadpool

    async def counting(func: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(next(len(a) for a in args if isinstance(a, list)))
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(assign_route, "run_in_threadpool", counting)

    def invoke(customers: list[dict[str, Any]]) -> dict[str, Any]:
        event = load_event("api-assign")
        event["rawPath"] = event["requestContext"]["http"]["path"] = "/datasets/tiny/assign"
        event["body"] = json.dumps({"customers": customers})
        event["headers"]["content-length"] = str(len(event["body"]))
        response: dict[str, Any] = handler(event, FakeLambdaContext())
        assert response["statusCode"] == 200, response["body"]
        return response

    invoke(RECORDS[:1])
    assert hops == [1]  # the first call reads the store: a thread, in Lambda too
    many = RECORDS * (assign_route.INLINE_MAX_CUSTOMERS // len(RECORDS) + 1)
    body = json.loads(invoke(many)["body"])
    assert [a["segment_id"] for a in body["assignments"][:4]] == [7, 3, 7, 7]
    assert hops == [1]

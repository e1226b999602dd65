"""``GET /datasets`` reads the datasets' pointers in parallel and answers them in name order."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient

from lambdas.api.main import create_app
from shared.contract.manifest import CurrentPointer
from shared.settings import Settings
from shared.store.base import write_current
from shared.store.local import LocalModelStore


class SlowPointerStore(LocalModelStore):
    """A folder store whose ``current.json`` reads take 50 ms, counting how many overlap."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.active = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def get_bytes(self, key: str) -> bytes:
        if not key.endswith("current.json"):
            return super().get_bytes(key)
        with self._lock:
            self.active += 1
            self.most_at_once = max(self.most_at_once, self.active)
        try:
            time.sleep(0.05)
            return super().get_bytes(key)
        finally:
            with self._lock:
                self.active -= 1


def test_pointers_are_read_in_parallel_and_listed_in_order(tmp_path: Path) -> None:
    store = SlowPointerStore(tmp_path)
    names = [f"shop-{i:02d}" for i in range(12)]
    for i, name in enumerate(names):
        if i % 3:  # every third dataset has no model yet
            write_current(
                store, name, CurrentPointer(version=f"v{i}", updated_at=datetime.now(UTC))
            )
        else:
            store.put_bytes(f"datasets/{name}/failures/f.json", b"{}")
    app = create_app(store=store, settings=Settings(auth_mode="open"))
    with TestClient(app) as client:
        body = client.get("/datasets").json()
    assert [d["dataset"] for d in body["datasets"]] == names
    assert [d["current_version"] for d in body["datasets"]] == [
        None if i % 3 == 0 else f"v{i}" for i in range(12)
    ]
    assert store.most_at_once > 1

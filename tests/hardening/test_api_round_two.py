"""Round two of the hostile review through the Mangum handler (issue 16: 7, 9, 10, 13, 14)."""

from __future__ import annotations

from pathlib import Path

import pytest
from mangum import Mangum

from shared.contract.layout import ModelLayout
from shared.store.base import read_current
from shared.store.local import LocalModelStore
from shared.training.pipeline import TrainingOutput
from tests.hardening.conftest import GOOD_VERSION, api_call, api_handler, seed_good_model


@pytest.fixture
def store(tmp_path: Path, good_output: TrainingOutput) -> LocalModelStore:
    store = LocalModelStore(tmp_path / "models")
    seed_good_model(store, good_output, "mall")
    return store


@pytest.fixture
def api(store: LocalModelStore) -> Mangum:
    return api_handler(store)


# --- item 9: a corrupt current.json -------------------------------------------------------------


@pytest.mark.parametrize("garbage", [b"{not json", b'{"version": 3}', b"\xff\xfe", b""])
def test_a_corrupt_pointer_reads_as_no_model_and_promote_repairs_it(
    store: LocalModelStore, garbage: bytes
) -> None:
    store.put_bytes(ModelLayout.current("mall"), garbage)
    api = api_handler(store)
    status, body = api_call(api, "GET", "/datasets/mall/versions")
    assert status == 200, body
    assert body["current_version"] is None
    assert [v["version"] for v in body["versions"]] == [GOOD_VERSION]
    status, body = api_call(api, "GET", "/datasets/mall/segments")
    assert status == 503, body
    assert body["error"] == "no_model"

    status, body = api_call(api, "POST", f"/datasets/mall/versions/{GOOD_VERSION}/promote")
    assert status == 200, body
    assert body["previous_version"] is None
    pointer = read_current(store, "mall")
    assert pointer is not None
    assert pointer.version == GOOD_VERSION
    status, body = api_call(api, "GET", "/datasets/mall/segments")
    assert status == 200, body

"""The local model store, the raw-upload layout and the local raw reader (no AWS)."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.contract.layout import MAX_CONFIG_BYTES, ModelLayout, RawLayout
from shared.contract.manifest import CurrentPointer
from shared.exceptions import ConfigError, FileTooLargeError, TransientStoreError
from shared.settings import ENV, Settings
from shared.store.base import (
    ObjectNotFoundError,
    UploadInfo,
    list_datasets,
    list_versions,
    read_current,
    write_current,
)
from shared.store.local import LocalModelStore, LocalRawUploadReader
from shared.store.s3 import (
    S3ModelStore,
    S3RawUploadReader,
    build_model_store,
    build_raw_reader,
)


@pytest.fixture
def store(tmp_path: Path) -> LocalModelStore:
    return LocalModelStore(tmp_path / "models")


def test_local_store_round_trip(store: LocalModelStore) -> None:
    store.put_bytes("datasets/mall/versions/v1/a.json", b"1")
    store.put_bytes("datasets/mall/versions/v2/manifest.json", b"{}")

    assert store.get_bytes("datasets/mall/versions/v1/a.json") == b"1"
    assert store.list_children("datasets/mall/versions/") == ["v1", "v2"]
    assert list_versions(store, "mall") == ["v2"]  # only complete versions
    assert list_datasets(store) == ["mall"]
    assert store.delete_prefix("datasets/mall/versions/v1/") == 1
    with pytest.raises(ObjectNotFoundError):
        store.get_bytes("datasets/mall/versions/v1/a.json")


@pytest.mark.parametrize("key", ["", "a/../b", "./a", "a//.."])
def test_local_store_refuses_path_tricks(store: LocalModelStore, key: str) -> None:
    with pytest.raises(ValueError, match="invalid store key"):
        store.put_bytes(key, b"x")


def test_local_put_if_absent(store: LocalModelStore) -> None:
    assert store.put_if_absent("datasets/mall/claims/v1.json", b"first") is True
    assert store.put_if_absent("datasets/mall/claims/v1.json", b"second") is False
    assert store.get_bytes("datasets/mall/claims/v1.json") == b"first"


def test_local_put_if_tag_is_compare_and_swap(store: LocalModelStore) -> None:
    key = "datasets/mall/current.json"
    assert store.put_if_tag(key, b"a", None) is True
    assert store.put_if_tag(key, b"b", None) is False  # not absent any more
    _, tag = store.get_with_tag(key)
    store.put_bytes(key, b"other writer")

    assert store.put_if_tag(key, b"c", tag) is False
    data, fresh = store.get_with_tag(key)
    assert data == b"other writer"
    assert store.put_if_tag(key, b"c", fresh) is True
    assert store.get_bytes(key) == b"c"
    assert store.put_if_tag("datasets/mall/none.json", b"x", fresh) is False


def test_local_put_if_tag_serializes_concurrent_writers(store: LocalModelStore) -> None:
    key = "datasets/mall/counter"
    store.put_bytes(key, b"0")

    def increment() -> None:
        for _ in range(20):
            while True:
                data, tag = store.get_with_tag(key)
                if store.put_if_tag(key, str(int(data) + 1).encode(), tag):
                    break

    threads = [threading.Thread(target=increment) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert store.get_bytes(key) == b"80"  # no lost update
    assert store.list_keys("") == [key]  # the lock file is hidden


def test_current_pointer_round_trip(store: LocalModelStore) -> None:
    assert read_current(store, "mall") is None
    pointer = CurrentPointer(version="v1", updated_at=datetime(2025, 3, 1, tzinfo=UTC))
    write_current(store, "mall", pointer)
    assert read_current(store, "mall") == pointer
    assert store.list_keys("datasets/") == [ModelLayout.current("mall")]


@pytest.mark.parametrize(
    ("key", "dataset"),
    [
        ("uploads/mall/mall_customers.csv", "mall"),
        ("uploads/mall/2025/03/x.csv.gz", "mall"),
        ("uploads/Mall/x.csv", "Mall"),  # returned as is; validated by the training run
        ("uploads/mall/", None),
        ("uploads/x.csv", None),
        ("configs/mall.json", None),
        ("other/mall/x.csv", None),
    ],
)
def test_raw_layout_dataset_of(key: str, dataset: str | None) -> None:
    assert RawLayout.dataset_of(key) == dataset


def test_upload_revision_prefers_version_id() -> None:
    when = datetime(2025, 3, 1, tzinfo=UTC)
    assert UploadInfo(key="k", size=1, last_modified=when, etag="e").revision == "e"
    with_version = UploadInfo(key="k", size=1, last_modified=when, etag="e", version_id="v")
    assert with_version.revision == "v"


def test_local_raw_reader_head_and_read(tmp_path: Path) -> None:
    path = tmp_path / "uploads" / "mall" / "a.csv"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"x,y\n1,2\n")
    os.utime(path, (1_740_830_405, 1_740_830_405))
    reader = LocalRawUploadReader(tmp_path)

    info = reader.head("uploads/mall/a.csv")

    assert info.size == 8
    assert info.last_modified == datetime(2025, 3, 1, 12, 0, 5, tzinfo=UTC)
    assert info.etag == f"8-{1_740_830_405 * 10**9}"
    assert reader.read(info, max_bytes=8) == b"x,y\n1,2\n"
    with pytest.raises(FileTooLargeError, match="is 8 bytes; the limit is 7 bytes"):
        reader.read(info, max_bytes=7)
    path.write_bytes(b"x,y\n")
    with pytest.raises(TransientStoreError, match="changed while being read"):
        reader.read(info, max_bytes=100)
    with pytest.raises(ObjectNotFoundError):
        reader.head("uploads/mall/none.csv")


def test_local_raw_reader_config(tmp_path: Path) -> None:
    reader = LocalRawUploadReader(tmp_path)
    assert reader.read_config("mall") is None
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "mall.json").write_bytes(b'{"k_max": 4}')
    (tmp_path / "configs" / "big.json").write_bytes(b" " * (MAX_CONFIG_BYTES + 1))

    assert reader.read_config("mall") == b'{"k_max": 4}'
    with pytest.raises(ConfigError, match="config limit"):
        reader.read_config("big")


def test_factories_follow_the_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (ENV.RAW_BUCKET, ENV.MODELS_BUCKET, ENV.MODELS_DIR):
        monkeypatch.delenv(name, raising=False)
    local = build_model_store(Settings(MODELS_DIR=str(tmp_path), MODELS_BUCKET="models"))
    s3 = build_model_store(Settings(MODELS_BUCKET="models"))
    raw = build_raw_reader(Settings(RAW_BUCKET="raw"))

    assert isinstance(local, LocalModelStore)
    assert isinstance(s3, S3ModelStore)
    assert s3.bucket == "models"
    assert isinstance(raw, S3RawUploadReader)
    assert raw.bucket == "raw"
    with pytest.raises(ValueError, match="is RAW_BUCKET set"):
        build_raw_reader(Settings())


class _Body:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.closed = False

    def read(self) -> bytes:
        if self.error is not None:
            raise self.error
        return b"data"

    def close(self) -> None:
        self.closed = True


class _Client:
    """Raises ``error`` from every call, or answers with ``body``."""

    def __init__(self, error: Exception | None = None, body: _Body | None = None) -> None:
        self.error = error
        self.body = body

    def get_object(self, **kwargs: object) -> dict[str, object]:
        if self.error is not None:
            raise self.error
        return {"Body": self.body, "ETag": '"e"', "ContentLength": 4}


def test_unreachable_s3_is_transient() -> None:
    from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError

    for error in (
        EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
        ConnectTimeoutError(endpoint_url="http://127.0.0.1:1"),
    ):
        store = S3ModelStore("models", client=_Client(error=error))
        with pytest.raises(TransientStoreError, match="could not reach S3"):
            store.get_bytes("datasets/mall/current.json")


def test_interrupted_body_is_transient_and_closed() -> None:
    from botocore.exceptions import ResponseStreamingError

    body = _Body(ResponseStreamingError(error="connection reset"))
    store = S3ModelStore("models", client=_Client(body=body))

    with pytest.raises(TransientStoreError, match="was interrupted"):
        store.get_bytes("datasets/mall/current.json")
    assert body.closed
    healthy = _Body()
    assert S3ModelStore("models", client=_Client(body=healthy)).get_with_tag("k") == (
        b"data",
        '"e"',
    )
    assert healthy.closed

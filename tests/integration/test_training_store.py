"""The S3 model store and raw-upload reader under moto (the same interface as the local ones)."""

from __future__ import annotations

import pytest

from shared.contract.layout import MAX_CONFIG_BYTES
from shared.exceptions import ConfigError, FileTooLargeError, TransientStoreError
from shared.store.base import ObjectNotFoundError
from shared.store.s3 import S3ModelStore, S3RawUploadReader
from tests.conftest import MotoStack
from tests.support.aws import FailingClient


@pytest.fixture
def models(moto_stack: MotoStack) -> S3ModelStore:
    return S3ModelStore(moto_stack.resources.models_bucket, client=moto_stack.s3)


@pytest.fixture
def raw(moto_stack: MotoStack) -> S3RawUploadReader:
    return S3RawUploadReader(moto_stack.resources.raw_bucket, client=moto_stack.s3)


def test_s3_store_round_trip(models: S3ModelStore) -> None:
    models.put_bytes("datasets/mall/versions/v1/a.json", b"1")
    models.put_bytes("datasets/mall/versions/v2/b.json", b"2")

    assert models.get_bytes("datasets/mall/versions/v1/a.json") == b"1"
    assert models.list_children("datasets/mall/versions/") == ["v1", "v2"]
    assert models.list_keys("datasets/mall/versions/v2/") == ["datasets/mall/versions/v2/b.json"]
    assert models.delete_prefix("datasets/mall/versions/v1/") == 1
    assert not models.exists("datasets/mall/versions/v1/a.json")
    with pytest.raises(ObjectNotFoundError):
        models.get_bytes("datasets/mall/versions/v1/a.json")


def test_s3_put_if_absent_is_conditional(models: S3ModelStore) -> None:
    assert models.put_if_absent("datasets/mall/claims/v1.json", b"first") is True
    assert models.put_if_absent("datasets/mall/claims/v1.json", b"second") is False
    assert models.get_bytes("datasets/mall/claims/v1.json") == b"first"
    # A released claim (a delete marker in the versioned bucket) can be claimed again.
    models.delete("datasets/mall/claims/v1.json")
    assert models.put_if_absent("datasets/mall/claims/v1.json", b"third") is True


def test_s3_put_if_tag_is_compare_and_swap(models: S3ModelStore) -> None:
    key = "datasets/mall/current.json"
    assert models.put_if_tag(key, b"a", None) is True
    _, tag = models.get_with_tag(key)
    models.put_bytes(key, b"b")  # another writer

    assert models.put_if_tag(key, b"c", tag) is False
    data, fresh = models.get_with_tag(key)
    assert data == b"b"
    assert models.put_if_tag(key, b"c", fresh) is True
    assert models.get_bytes(key) == b"c"
    assert models.put_if_tag("datasets/mall/none.json", b"x", fresh) is False


def test_s3_throttling_is_transient(moto_stack: MotoStack) -> None:
    client = FailingClient(moto_stack.s3, get_object="SlowDown")
    store = S3ModelStore(moto_stack.resources.models_bucket, client=client)

    with pytest.raises(TransientStoreError, match=r"failed transiently \(SlowDown\)"):
        store.get_bytes("datasets/mall/current.json")


def test_raw_head_reads_version_and_etag(moto_stack: MotoStack, raw: S3RawUploadReader) -> None:
    put = moto_stack.s3.put_object(
        Bucket=raw.bucket, Key="uploads/mall/a b.csv", Body=b"x,y\n1,2\n"
    )

    info = raw.head("uploads/mall/a b.csv")

    assert info.size == 8
    assert info.etag == put["ETag"].strip('"')
    assert info.version_id == put["VersionId"]  # the stack's buckets are versioned
    assert info.revision == put["VersionId"]
    assert info.bucket == raw.bucket
    assert raw.read(info, max_bytes=100) == b"x,y\n1,2\n"


def test_raw_read_pins_the_headed_version(moto_stack: MotoStack, raw: S3RawUploadReader) -> None:
    moto_stack.s3.put_object(Bucket=raw.bucket, Key="uploads/mall/a.csv", Body=b"old")
    info = raw.head("uploads/mall/a.csv")
    moto_stack.s3.put_object(Bucket=raw.bucket, Key="uploads/mall/a.csv", Body=b"newer")

    assert raw.read(info, max_bytes=100) == b"old"


def test_raw_read_by_etag_refuses_a_replaced_object(moto_stack: MotoStack) -> None:
    s3 = moto_stack.s3
    bucket = moto_stack.resources.raw_bucket
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    raw = S3RawUploadReader(bucket, client=s3)
    s3.put_object(Bucket=bucket, Key="uploads/mall/a.csv", Body=b"old")
    info = raw.head("uploads/mall/a.csv")
    s3.put_object(Bucket=bucket, Key="uploads/mall/a.csv", Body=b"newer")

    with pytest.raises(TransientStoreError, match="was replaced while being read"):
        raw.read(info.__class__(**{**info.__dict__, "version_id": None}), max_bytes=100)


def test_raw_size_is_checked_before_download(moto_stack: MotoStack) -> None:
    client = FailingClient(moto_stack.s3)
    raw = S3RawUploadReader(moto_stack.resources.raw_bucket, client=client)
    moto_stack.s3.put_object(Bucket=raw.bucket, Key="uploads/mall/a.csv", Body=b"0123456789")
    info = raw.head("uploads/mall/a.csv")

    with pytest.raises(FileTooLargeError, match="is 10 bytes; the limit is 9 bytes"):
        raw.read(info, max_bytes=9)
    assert client.calls == ["head_object"]


def test_raw_config_absent_present_and_too_large(
    moto_stack: MotoStack, raw: S3RawUploadReader
) -> None:
    assert raw.read_config("mall") is None
    moto_stack.s3.put_object(Bucket=raw.bucket, Key="configs/mall.json", Body=b'{"k_max": 4}')
    assert raw.read_config("mall") == b'{"k_max": 4}'
    big = b" " * (MAX_CONFIG_BYTES + 1)
    moto_stack.s3.put_object(Bucket=raw.bucket, Key="configs/big.json", Body=big)
    with pytest.raises(ConfigError, match="a config may have at most 1,048,576"):
        raw.read_config("big")


def test_raw_head_of_missing_object(raw: S3RawUploadReader) -> None:
    with pytest.raises(ObjectNotFoundError, match=r"uploads/mall/none\.csv"):
        raw.head("uploads/mall/none.csv")

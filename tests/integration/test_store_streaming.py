"""Large objects move through files, never whole in memory: S3 spool (download) and multipart."""

from __future__ import annotations

import os
from pathlib import Path

from shared.store.base import SPOOL_CHUNK_BYTES, file_sha256, sha256_hex
from shared.store.s3 import S3ModelStore, S3RawUploadReader
from tests.conftest import MotoStack


def test_a_large_file_is_published_with_a_multipart_upload(
    moto_stack: MotoStack, tmp_path: Path
) -> None:
    data = os.urandom(SPOOL_CHUNK_BYTES + 1_000)  # just over one part
    path = tmp_path / "assignments.csv.gz"
    path.write_bytes(data)
    store = S3ModelStore(moto_stack.resources.models_bucket, client=moto_stack.s3)
    store.put_file(
        "datasets/x/versions/v/assignments.csv.gz", path, content_type="application/gzip"
    )
    head = moto_stack.s3.head_object(
        Bucket=moto_stack.resources.models_bucket, Key="datasets/x/versions/v/assignments.csv.gz"
    )
    assert head["ETag"].strip('"').endswith("-2")  # two parts: S3's multipart ETag
    assert head["ContentType"] == "application/gzip"
    assert store.get_bytes("datasets/x/versions/v/assignments.csv.gz") == data


def test_an_upload_is_spooled_to_a_file_of_the_same_bytes(moto_stack: MotoStack) -> None:
    data = os.urandom(SPOOL_CHUNK_BYTES * 2 + 17)
    raw = moto_stack.resources.raw_bucket
    moto_stack.s3.put_object(Bucket=raw, Key="uploads/x/big.csv", Body=data)
    reader = S3RawUploadReader(raw, client=moto_stack.s3)
    spooled = reader.spool(reader.head("uploads/x/big.csv"), max_bytes=len(data))
    try:
        assert file_sha256(spooled) == sha256_hex(data)
    finally:
        spooled.unlink()

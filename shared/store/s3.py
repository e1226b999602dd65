"""The S3 implementations of the store: the only module that calls boto3."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from shared.exceptions import (
    ConfigError,
    TransientStoreError,
)
from shared.quoting import quote_value
from shared.settings import Settings
from shared.store.base import (
    SPOOL_CHUNK_BYTES,
    ModelStore,
    ObjectNotFoundError,
    RawUploadReader,
    UploadInfo,
    _check_size,
    _spool_chunks,
)
from shared.store.local import LocalModelStore

logger = logging.getLogger(__name__)

_TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "InternalError",
        "ServiceUnavailable",
        "503",
        "500",
    }
)
_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound", "NoSuchVersion"})
_CONDITION_FAILED_CODES = frozenset(
    {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}
)


def _build_s3_client() -> Any:
    """A boto3 S3 client with standard retries (``AWS_ENDPOINT_URL`` is honoured by boto3)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        # SigV4 for presigned URLs in every region (the report link).
        config=Config(retries={"max_attempts": 4, "mode": "standard"}, signature_version="s3v4"),
    )


def presigned_url(
    bucket: str,
    key: str,
    *,
    method: Literal["put_object", "get_object"],
    expires_seconds: int = 900,
    client: Any | None = None,
) -> str:
    """A presigned URL to PUT (upload) or GET (download) one object.

    Examples
    --------
    >>> import boto3
    >>> client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x",
    ...                       aws_secret_access_key="y", endpoint_url="http://127.0.0.1:5000")
    >>> presigned_url("raw", "score/mall/j1.csv", method="put_object", client=client)[:40]
    'http://127.0.0.1:5000/raw/score/mall/j1.'
    """
    client = client if client is not None else _build_s3_client()
    url: str = client.generate_presigned_url(
        method, Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_seconds
    )
    return url


def _error_code(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _call_s3(client: Any, op: str, bucket: str, key: str, **kwargs: Any) -> Any:
    """Call ``client.<op>(Bucket=bucket, **kwargs)`` and map S3 errors to the error hierarchy.

    A missing object becomes :class:`ObjectNotFoundError`; throttling, timeouts and unreachable
    endpoints become :class:`TransientStoreError` (retry later); anything else propagates.
    """
    from botocore.exceptions import ClientError

    try:
        return getattr(client, op)(Bucket=bucket, **kwargs)
    except ClientError as e:
        code = _error_code(e)
        if code in _MISSING_CODES:
            raise ObjectNotFoundError(f"no object at s3://{bucket}/{key}") from e
        if code in _TRANSIENT_CODES:
            raise TransientStoreError(
                f"S3 {op} of s3://{bucket}/{key} failed transiently ({code})"
            ) from e
        raise
    except _network_errors() as e:
        raise TransientStoreError(f"S3 {op} of s3://{bucket}/{key} could not reach S3: {e}") from e


def _network_errors() -> tuple[type[Exception], ...]:
    """botocore's connection, timeout and interrupted-stream errors: worth a retry."""
    from botocore.exceptions import ConnectionError, HTTPClientError, IncompleteReadError

    return (ConnectionError, HTTPClientError, IncompleteReadError)


def _read_body(response: dict[str, Any], bucket: str, key: str) -> bytes:
    """Read and close a ``get_object`` body (one read of a known length: one bytes object)."""
    body = response["Body"]
    try:
        return bytes(body.read())
    except _network_errors() as e:
        raise TransientStoreError(f"reading s3://{bucket}/{key} was interrupted: {e}") from e
    finally:
        body.close()


class _BucketClient:
    """One bucket and a boto3 S3 client built on first use (or injected)."""

    _BUCKET_SETTING = "the bucket setting"

    def __init__(self, bucket: str, *, client: Any | None = None) -> None:
        if not bucket:
            raise ValueError(
                f"{type(self).__name__} needs a bucket name (is {self._BUCKET_SETTING} set?)"
            )
        self.bucket = bucket
        self._client = client

    @property
    def client(self) -> Any:
        """The boto3 S3 client, built on first use."""
        if self._client is None:
            self._client = _build_s3_client()
        return self._client


class S3ModelStore(_BucketClient, ModelStore):
    """A :class:`ModelStore` over one S3 bucket.

    Parameters
    ----------
    bucket : str
        The bucket name.
    client : botocore client, optional
        An S3 client; by default one is built on first use (``AWS_ENDPOINT_URL`` is honoured by
        boto3 itself, so the same code runs against AWS, moto server and moto's mock).
    """

    _BUCKET_SETTING = "MODELS_BUCKET"

    def _call(self, op: str, key: str, **kwargs: Any) -> Any:
        return _call_s3(self.client, op, self.bucket, key, **kwargs)

    def get_bytes(self, key: str) -> bytes:
        return _read_body(self._call("get_object", key, Key=key), self.bucket, key)

    def put_bytes(
        self, key: str, data: bytes, *, content_type: str = "application/octet-stream"
    ) -> None:
        self._call("put_object", key, Key=key, Body=data, ContentType=content_type)

    def put_file(
        self, key: str, path: Path, *, content_type: str = "application/octet-stream"
    ) -> None:
        """The file, streamed to S3: a multipart upload in 8 MiB parts from 8 MiB on."""
        from boto3.s3.transfer import TransferConfig
        from botocore.exceptions import BotoCoreError, ClientError

        config = TransferConfig(
            multipart_threshold=SPOOL_CHUNK_BYTES, multipart_chunksize=SPOOL_CHUNK_BYTES
        )
        try:
            self.client.upload_file(
                str(path),
                self.bucket,
                key,
                ExtraArgs={"ContentType": content_type},
                Config=config,
            )
        except (BotoCoreError, ClientError) as e:
            raise TransientStoreError(f"uploading s3://{self.bucket}/{key} failed: {e}") from e

    def put_if_absent(
        self, key: str, data: bytes, *, content_type: str = "application/octet-stream"
    ) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._call(
                "put_object", key, Key=key, Body=data, ContentType=content_type, IfNoneMatch="*"
            )
        except ClientError as e:
            if _error_code(e) in _CONDITION_FAILED_CODES:
                return False
            raise
        return True

    def presigned_get_url(self, key: str, *, expires_seconds: int, content_type: str) -> str:
        """A SigV4 presigned ``GetObject`` URL (valid ``expires_seconds``, at most as long as
        the signing credentials), answered with ``content_type`` and no caching.

        Examples
        --------
        >>> import boto3
        >>> from botocore.config import Config
        >>> client = boto3.client("s3", region_name="eu-west-1", aws_access_key_id="a",
        ...     aws_secret_access_key="b", config=Config(signature_version="s3v4"))
        >>> url = S3ModelStore("models", client=client).presigned_get_url(
        ...     "datasets/d/r.html", expires_seconds=60, content_type="text/html")
        >>> "X-Amz-Expires=60" in url, "response-content-type=text%2Fhtml" in url
        (True, True)
        """
        url = self.client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "ResponseContentType": content_type,
                "ResponseCacheControl": "private, no-store",
            },
            ExpiresIn=expires_seconds,
        )
        return str(url)

    def exists(self, key: str) -> bool:
        try:
            self._call("head_object", key, Key=key)
        except ObjectNotFoundError:
            return False
        return True

    def _list_pages(self, prefix: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every page of ``ListObjectsV2`` under ``prefix``, following continuation tokens."""
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Prefix": prefix, **params}
            if token:
                kwargs["ContinuationToken"] = token
            page: dict[str, Any] = self._call("list_objects_v2", prefix, **kwargs)
            yield page
            if not page.get("IsTruncated"):
                return
            token = page.get("NextContinuationToken")

    def list_keys(self, prefix: str) -> list[str]:
        return sorted(
            obj["Key"] for page in self._list_pages(prefix) for obj in page.get("Contents", [])
        )

    def list_children(self, prefix: str) -> list[str]:
        return sorted(
            cp["Prefix"][len(prefix) :].rstrip("/")
            for page in self._list_pages(prefix, Delimiter="/")
            for cp in page.get("CommonPrefixes", [])
        )

    def delete(self, key: str) -> None:
        self._call("delete_object", key, Key=key)

    def get_with_tag(self, key: str) -> tuple[bytes, str]:
        response = self._call("get_object", key, Key=key)
        return _read_body(response, self.bucket, key), str(response["ETag"])

    def put_if_tag(
        self,
        key: str,
        data: bytes,
        tag: str | None,
        *,
        content_type: str = "application/octet-stream",
    ) -> bool:
        from botocore.exceptions import ClientError

        if tag is None:
            return self.put_if_absent(key, data, content_type=content_type)
        try:
            self._call("put_object", key, Key=key, Body=data, ContentType=content_type, IfMatch=tag)
        except ObjectNotFoundError:
            return False
        except ClientError as e:
            if _error_code(e) in _CONDITION_FAILED_CODES:
                return False
            raise
        return True


class S3RawUploadReader(_BucketClient, RawUploadReader):  # type: ignore[misc]  # bucket: str, never None here
    """A :class:`RawUploadReader` over the raw bucket.

    Examples
    --------
    >>> reader = S3RawUploadReader("my-raw-bucket")  # the client is built on first use
    >>> reader.bucket
    'my-raw-bucket'
    """

    _BUCKET_SETTING = "RAW_BUCKET"

    def head(self, key: str, *, version_id: str | None = None) -> UploadInfo:
        extra = {"VersionId": version_id} if version_id else {}
        response = _call_s3(self.client, "head_object", self.bucket, key, Key=key, **extra)
        return UploadInfo(
            key=key,
            size=int(response["ContentLength"]),
            last_modified=response["LastModified"],
            etag=str(response.get("ETag", "")).strip('"') or None,
            version_id=response.get("VersionId") or None,
            bucket=self.bucket,
        )

    def read(self, upload: UploadInfo, *, max_bytes: int) -> bytes:
        response = self._get_sized_version(upload, max_bytes)
        # One read of a known Content-Length fills a single bytes object: no chunk list to join
        # and no second copy (a bytearray filled chunk by chunk would need one more copy to
        # become the immutable bytes the engine takes).
        return _read_body(response, self.bucket, upload.key)

    def spool(self, upload: UploadInfo, *, max_bytes: int, directory: str | None = None) -> Path:
        """The object version, streamed from its body into a temporary file in 8 MiB chunks."""
        body = self._get_sized_version(upload, max_bytes)["Body"]
        try:
            return _spool_chunks(body.iter_chunks(SPOOL_CHUNK_BYTES), directory)
        except _network_errors() as e:
            raise TransientStoreError(
                f"reading s3://{self.bucket}/{upload.key} was interrupted: {e}"
            ) from e
        finally:
            body.close()

    def _get_sized_version(self, upload: UploadInfo, max_bytes: int) -> dict[str, Any]:
        """``get_object`` of exactly the object version that was sized (by version id, else by
        etag), refused over ``max_bytes`` before and after the request (body closed)."""
        from botocore.exceptions import ClientError

        _check_size(upload, upload.size, max_bytes)
        pin: dict[str, str] = {}
        if upload.version_id:
            pin = {"VersionId": upload.version_id}
        elif upload.etag:
            pin = {"IfMatch": f'"{upload.etag}"'}
        try:
            response: dict[str, Any] = _call_s3(
                self.client, "get_object", self.bucket, upload.key, Key=upload.key, **pin
            )
        except ClientError as e:
            if _error_code(e) in _CONDITION_FAILED_CODES:
                raise TransientStoreError(
                    f"s3://{self.bucket}/{upload.key} was replaced while being read; retry"
                ) from e
            raise
        if int(response["ContentLength"]) > max_bytes:
            response["Body"].close()
            _check_size(upload, int(response["ContentLength"]), max_bytes)
        return response

    def _get_optional(self, key: str, max_bytes: int) -> bytes | None:
        try:
            response = _call_s3(self.client, "get_object", self.bucket, key, Key=key)
        except ObjectNotFoundError:
            return None
        size = int(response["ContentLength"])
        if size > max_bytes:
            response["Body"].close()
            raise ConfigError(
                f"{quote_value(key)} is {size:,} bytes; a config may have at most {max_bytes:,}"
            )
        return _read_body(response, self.bucket, key)


def build_model_store(settings: Settings, *, client: Any | None = None) -> ModelStore:
    """The deployment's model store: ``MODELS_DIR`` -> a local folder, else ``MODELS_BUCKET``.

    Examples
    --------
    >>> type(build_model_store(Settings(MODELS_DIR="/tmp/models"))).__name__
    'LocalModelStore'
    """
    if settings.models_dir:
        return LocalModelStore(settings.models_dir)
    return S3ModelStore(settings.models_bucket, client=client)


def build_raw_reader(settings: Settings, *, client: Any | None = None) -> RawUploadReader:
    """The deployment's raw-upload reader over ``RAW_BUCKET``.

    Examples
    --------
    >>> build_raw_reader(Settings(RAW_BUCKET="raw-bucket")).bucket
    'raw-bucket'
    """
    return S3RawUploadReader(settings.raw_bucket, client=client)


class S3UploadSigner(_BucketClient):
    """Presigned browser uploads into the raw bucket: one key, a size cap, a short life.

    The signature allows exactly one key (``uploads/<dataset>/<name>``) and a body of
    ``1..max_bytes`` bytes; S3 refuses anything else. Nothing is sent to S3 to sign.

    Examples
    --------
    >>> signer = S3UploadSigner("my-raw-bucket")  # the client is built on first use
    >>> signer.bucket
    'my-raw-bucket'
    """

    _BUCKET_SETTING = "RAW_BUCKET"

    def presign_post(self, key: str, *, max_bytes: int, expires_seconds: int) -> dict[str, Any]:
        """``{"url", "fields"}`` of a presigned POST for ``key`` (a form's action and hidden
        fields; the file goes last, as the field ``file``)."""
        post = self.client.generate_presigned_post(
            Bucket=self.bucket,
            Key=key,
            Conditions=[["content-length-range", 1, max_bytes]],
            ExpiresIn=expires_seconds,
        )
        return {
            "url": str(post["url"]),
            "fields": {str(k): str(v) for k, v in post["fields"].items()},
        }

    def origin(self) -> str:
        """The scheme and host browsers post to (the dashboard's CSP must allow it)."""
        from urllib.parse import urlsplit

        url = urlsplit(self.presign_post("uploads/x", max_bytes=1, expires_seconds=60)["url"])
        return f"{url.scheme}://{url.netloc}"

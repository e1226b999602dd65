"""The artifact store: the only module that talks to S3.

One small interface, :class:`ModelStore`, with two implementations: :class:`S3ModelStore` (boto3,
client injected or built on first use, so moto can intercept) and :class:`LocalModelStore`
(a folder, used by the CLI and tests). Keys are ``/``-separated paths relative to the store root,
laid out as in the models-bucket contract (see :class:`ModelLayout`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.exceptions import (
    ChecksumMismatchError,
    ConfigError,
    FileTooLargeError,
    NotFoundError,
    TransientStoreError,
    VersionNotFoundError,
)
from shared.manifest import CurrentPointer, Manifest
from shared.settings import Settings

__all__ = [
    "MAX_CONFIG_BYTES",
    "LocalModelStore",
    "LocalRawUploadReader",
    "ModelLayout",
    "ModelStore",
    "ObjectNotFoundError",
    "RawLayout",
    "RawUploadReader",
    "S3ModelStore",
    "S3RawUploadReader",
    "UploadInfo",
    "build_model_store",
    "build_raw_reader",
    "list_datasets",
    "list_versions",
    "read_current",
    "read_manifest",
    "read_verified_artifact",
    "sha256_hex",
    "write_current",
]

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


class ObjectNotFoundError(NotFoundError):
    """No object is stored under that key."""


def sha256_hex(data: bytes) -> str:
    """Hex sha256 of ``data``.

    Examples
    --------
    >>> sha256_hex(b"")[:8]
    'e3b0c442'
    """
    return hashlib.sha256(data).hexdigest()


def _build_s3_client() -> Any:
    """A boto3 S3 client with standard retries (``AWS_ENDPOINT_URL`` is honoured by boto3)."""
    import boto3
    from botocore.config import Config

    return boto3.client("s3", config=Config(retries={"max_attempts": 4, "mode": "standard"}))


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


def _local_path(root: Path, key: str) -> Path:
    """The file of ``key`` under ``root``; keys that could leave ``root`` are refused."""
    parts = [p for p in key.split("/") if p]
    if not parts or any(p in {".", ".."} for p in parts):
        raise ValueError(f"invalid store key {key!r}")
    return root.joinpath(*parts)


class ModelStore(ABC):
    """Byte storage with the few operations a training run and the API need."""

    @abstractmethod
    def get_bytes(self, key: str) -> bytes:
        """Return the object's bytes; raise :class:`ObjectNotFoundError` if absent."""

    @abstractmethod
    def put_bytes(
        self, key: str, data: bytes, *, content_type: str = "application/octet-stream"
    ) -> None:
        """Store ``data`` under ``key`` (replacing any object there)."""

    @abstractmethod
    def put_if_absent(
        self, key: str, data: bytes, *, content_type: str = "application/octet-stream"
    ) -> bool:
        """Store ``data`` only if ``key`` is free; return False when it already existed."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """True when an object is stored under ``key``."""

    @abstractmethod
    def list_keys(self, prefix: str) -> list[str]:
        """Every key under ``prefix``, sorted."""

    @abstractmethod
    def list_children(self, prefix: str) -> list[str]:
        """Names of the immediate sub-folders of ``prefix`` (which ends with ``/``), sorted."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Delete ``key`` if present."""

    def delete_prefix(self, prefix: str) -> int:
        """Delete every key under ``prefix``; return how many were deleted."""
        keys = self.list_keys(prefix)
        for key in keys:
            self.delete(key)
        return len(keys)

    def get_with_tag(self, key: str) -> tuple[bytes, str]:
        """The object's bytes and a tag that changes whenever the object is replaced.

        Raise :class:`ObjectNotFoundError` if absent. The tag is only meaningful to
        :meth:`put_if_tag` of the same store.
        """
        data = self.get_bytes(key)
        return data, sha256_hex(data)

    def put_if_tag(
        self,
        key: str,
        data: bytes,
        tag: str | None,
        *,
        content_type: str = "application/octet-stream",
    ) -> bool:
        """Compare-and-swap: replace ``key`` only if it still carries ``tag``.

        ``tag=None`` means "only if absent". Return False (and write nothing) when another writer
        changed the object since ``tag`` was read. This default checks then writes, which is not
        atomic; :class:`S3ModelStore` (conditional ``PutObject``) and :class:`LocalModelStore`
        (a file lock) override it with atomic versions.
        """
        if tag is None:
            return self.put_if_absent(key, data, content_type=content_type)
        try:
            _, current_tag = self.get_with_tag(key)
        except ObjectNotFoundError:
            return False
        if current_tag != tag:
            return False
        self.put_bytes(key, data, content_type=content_type)
        return True


class LocalModelStore(ModelStore):
    """A :class:`ModelStore` over a local folder. Writes are atomic (temp file + rename).

    Examples
    --------
    >>> import tempfile
    >>> store = LocalModelStore(tempfile.mkdtemp())
    >>> store.put_bytes("a/b.txt", b"hi"); store.get_bytes("a/b.txt")
    b'hi'
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return _local_path(self.root, key)

    def get_bytes(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as e:
            raise ObjectNotFoundError(f"no object at {key!r}") from e

    def put_bytes(
        self, key: str, data: bytes, *, content_type: str = "application/octet-stream"
    ) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def put_if_absent(
        self, key: str, data: bytes, *, content_type: str = "application/octet-stream"
    ) -> bool:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        return True

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list_keys(self, prefix: str) -> list[str]:
        base = self.root
        if not base.exists():
            return []
        keys = [
            p.relative_to(base).as_posix()
            for p in base.rglob("*")
            if p.is_file() and not p.name.startswith(".")
        ]
        return sorted(k for k in keys if k.startswith(prefix))

    def list_children(self, prefix: str) -> list[str]:
        folder = self.root / prefix if prefix else self.root
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if p.is_dir())

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def put_if_tag(
        self,
        key: str,
        data: bytes,
        tag: str | None,
        *,
        content_type: str = "application/octet-stream",
    ) -> bool:
        # One lock file per store serializes compare-and-swap writers (threads and processes);
        # readers need no lock because every write is an atomic rename.
        import fcntl

        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".cas.lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                return super().put_if_tag(key, data, tag, content_type=content_type)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


class S3ModelStore(ModelStore):
    """A :class:`ModelStore` over one S3 bucket.

    Parameters
    ----------
    bucket : str
        The bucket name.
    client : botocore client, optional
        An S3 client; by default one is built on first use (``AWS_ENDPOINT_URL`` is honoured by
        boto3 itself, so the same code runs against AWS, moto server and moto's mock).
    """

    def __init__(self, bucket: str, *, client: Any | None = None) -> None:
        if not bucket:
            raise ValueError("S3ModelStore needs a bucket name (is MODELS_BUCKET set?)")
        self.bucket = bucket
        self._client = client

    @property
    def client(self) -> Any:
        """The boto3 S3 client, built on first use."""
        if self._client is None:
            self._client = _build_s3_client()
        return self._client

    def _call(self, op: str, key: str, **kwargs: Any) -> Any:
        return _call_s3(self.client, op, self.bucket, key, **kwargs)

    def get_bytes(self, key: str) -> bytes:
        return _read_body(self._call("get_object", key, Key=key), self.bucket, key)

    def put_bytes(
        self, key: str, data: bytes, *, content_type: str = "application/octet-stream"
    ) -> None:
        self._call("put_object", key, Key=key, Body=data, ContentType=content_type)

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


# --- the raw bucket: uploads and configs --------------------------------------------------------

MAX_CONFIG_BYTES = 1024 * 1024
"""A dataset config larger than this (1 MiB) is refused without being read."""


class RawLayout:
    """Keys of the raw-bucket contract.

    Examples
    --------
    >>> RawLayout.config("mall")
    'configs/mall.json'
    >>> RawLayout.dataset_of("uploads/mall/mall_customers.csv")
    'mall'
    >>> RawLayout.dataset_of("configs/mall.json") is None
    True
    """

    UPLOADS = "uploads/"
    CONFIGS = "configs/"
    SUFFIXES = (".csv", ".csv.gz", ".parquet")

    @staticmethod
    def config(dataset: str) -> str:
        return f"configs/{dataset}.json"

    @staticmethod
    def dataset_of(key: str) -> str | None:
        """The ``<dataset>`` of ``uploads/<dataset>/<name>``; None for any other key.

        The name is not validated here (see :func:`shared.config.validate_dataset_name`).
        Deeper keys (``uploads/<dataset>/2024/x.csv``) belong to ``<dataset>`` too.
        """
        parts = key.split("/")
        if len(parts) < 3 or parts[0] != "uploads" or not parts[-1]:
            return None
        return parts[1]


@dataclass(frozen=True)
class UploadInfo:
    """What the raw store says about one uploaded object (a head request, no body).

    ``etag`` is unquoted. ``version_id`` is set only in a versioned bucket.
    """

    key: str
    size: int
    last_modified: datetime
    etag: str | None = None
    version_id: str | None = None
    bucket: str | None = None

    @property
    def revision(self) -> str:
        """What identifies this object version: the version id, else the etag."""
        return self.version_id or self.etag or ""


def _check_size(upload: UploadInfo, size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise FileTooLargeError(
            f"upload {upload.key!r} is {size:,} bytes; the limit is {max_bytes:,} bytes "
            "(MAX_UPLOAD_BYTES)"
        )


class RawUploadReader(ABC):
    """Read-only access to the raw uploads and dataset configs (the raw bucket or a folder)."""

    bucket: str | None = None
    """The raw bucket read from (None for a local folder)."""

    @abstractmethod
    def head(self, key: str, *, version_id: str | None = None) -> UploadInfo:
        """Size, etag, version and time of an upload; :class:`ObjectNotFoundError` if absent."""

    @abstractmethod
    def read(self, upload: UploadInfo, *, max_bytes: int) -> bytes:
        """The bytes of exactly the object version ``upload`` describes.

        Raises
        ------
        FileTooLargeError
            When the object is larger than ``max_bytes`` (checked before any byte is read).
        TransientStoreError
            When the object was replaced since :meth:`head` (retry: the new head wins).
        """

    @abstractmethod
    def _get_optional(self, key: str, max_bytes: int) -> bytes | None:
        """The bytes under ``key``, or None when absent."""

    def read_config(self, dataset: str) -> bytes | None:
        """The raw ``configs/<dataset>.json``, or None when the dataset has no config.

        Raises
        ------
        ConfigError
            When the config is larger than :data:`MAX_CONFIG_BYTES`.
        """
        return self._get_optional(RawLayout.config(dataset), MAX_CONFIG_BYTES)


class S3RawUploadReader(RawUploadReader):
    """A :class:`RawUploadReader` over the raw bucket.

    Examples
    --------
    >>> reader = S3RawUploadReader("my-raw-bucket")  # the client is built on first use
    >>> reader.bucket
    'my-raw-bucket'
    """

    def __init__(self, bucket: str, *, client: Any | None = None) -> None:
        if not bucket:
            raise ValueError("S3RawUploadReader needs a bucket name (is RAW_BUCKET set?)")
        self.bucket: str = bucket
        self._client = client

    @property
    def client(self) -> Any:
        """The boto3 S3 client, built on first use."""
        if self._client is None:
            self._client = _build_s3_client()
        return self._client

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
        from botocore.exceptions import ClientError

        _check_size(upload, upload.size, max_bytes)
        # Pin the exact object version that was sized: by version id, else by etag.
        if upload.version_id:
            pin: dict[str, str] = {"VersionId": upload.version_id}
        elif upload.etag:
            pin = {"IfMatch": f'"{upload.etag}"'}
        else:
            pin = {}
        try:
            response = _call_s3(
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
        # One read of a known Content-Length fills a single bytes object: no chunk list to join
        # and no second copy (a bytearray filled chunk by chunk would need one more copy to
        # become the immutable bytes the engine takes).
        return _read_body(response, self.bucket, upload.key)

    def _get_optional(self, key: str, max_bytes: int) -> bytes | None:
        try:
            response = _call_s3(self.client, "get_object", self.bucket, key, Key=key)
        except ObjectNotFoundError:
            return None
        size = int(response["ContentLength"])
        if size > max_bytes:
            response["Body"].close()
            raise ConfigError(f"{key!r} is {size:,} bytes; a config may have at most {max_bytes:,}")
        return _read_body(response, self.bucket, key)


class LocalRawUploadReader(RawUploadReader):
    """A :class:`RawUploadReader` over a folder laid out like the raw bucket (for the CLI).

    The etag of a local file is ``<size>-<mtime in ns>``: it changes whenever the file does.

    Examples
    --------
    >>> import tempfile
    >>> LocalRawUploadReader(tempfile.mkdtemp()).read_config("mall") is None
    True
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return _local_path(self.root, key)

    def head(self, key: str, *, version_id: str | None = None) -> UploadInfo:
        path = self._path(key)
        try:
            stat = path.stat()
        except (FileNotFoundError, NotADirectoryError) as e:
            raise ObjectNotFoundError(f"no upload at {path}") from e
        return UploadInfo(
            key=key,
            size=stat.st_size,
            last_modified=datetime.fromtimestamp(stat.st_mtime, tz=UTC),
            etag=f"{stat.st_size}-{stat.st_mtime_ns}",
        )

    def read(self, upload: UploadInfo, *, max_bytes: int) -> bytes:
        _check_size(upload, upload.size, max_bytes)
        path = self._path(upload.key)
        data = path.read_bytes()
        if len(data) != upload.size:
            raise TransientStoreError(f"{path} changed while being read; retry")
        return data

    def _get_optional(self, key: str, max_bytes: int) -> bytes | None:
        path = self._path(key)
        if not path.is_file():
            return None
        if path.stat().st_size > max_bytes:
            raise ConfigError(f"{key!r} is larger than {max_bytes:,} bytes, the config limit")
        return path.read_bytes()


class ModelLayout:
    """Keys of the models-bucket contract.

    Examples
    --------
    >>> ModelLayout.current("mall")
    'datasets/mall/current.json'
    >>> ModelLayout.artifact("mall", "v1", "models/kmeans-k5.skops")
    'datasets/mall/versions/v1/models/kmeans-k5.skops'
    """

    ROOT = "datasets/"

    @staticmethod
    def dataset(dataset: str) -> str:
        return f"datasets/{dataset}/"

    @staticmethod
    def current(dataset: str) -> str:
        return f"datasets/{dataset}/current.json"

    @staticmethod
    def versions(dataset: str) -> str:
        return f"datasets/{dataset}/versions/"

    @staticmethod
    def version(dataset: str, version: str) -> str:
        return f"datasets/{dataset}/versions/{version}/"

    @staticmethod
    def manifest(dataset: str, version: str) -> str:
        return f"datasets/{dataset}/versions/{version}/manifest.json"

    @staticmethod
    def artifact(dataset: str, version: str, path: str) -> str:
        return f"datasets/{dataset}/versions/{version}/{path}"

    @staticmethod
    def failure(dataset: str, failure_id: str) -> str:
        return f"datasets/{dataset}/failures/{failure_id}.json"


def read_current(store: ModelStore, dataset: str) -> CurrentPointer | None:
    """The dataset's ``current.json``, or None when no version was ever published.

    Examples
    --------
    >>> import tempfile
    >>> read_current(LocalModelStore(tempfile.mkdtemp()), "mall") is None
    True
    """
    try:
        raw = store.get_bytes(ModelLayout.current(dataset))
    except ObjectNotFoundError:
        return None
    return CurrentPointer.model_validate_json(raw)


def write_current(store: ModelStore, dataset: str, pointer: CurrentPointer) -> None:
    """Point readers at ``pointer.version`` (call only once that version is complete)."""
    store.put_bytes(
        ModelLayout.current(dataset),
        pointer.model_dump_json(indent=2).encode(),
        content_type="application/json",
    )


def read_manifest(store: ModelStore, dataset: str, version: str) -> Manifest:
    """Load a version's manifest.

    Raises
    ------
    VersionNotFoundError
        When the dataset has no such (complete) version.
    """
    try:
        raw = store.get_bytes(ModelLayout.manifest(dataset, version))
    except ObjectNotFoundError as e:
        raise VersionNotFoundError(f"dataset {dataset!r} has no version {version!r}") from e
    return Manifest.model_validate_json(raw)


def read_verified_artifact(store: ModelStore, manifest: Manifest, path: str) -> bytes:
    """Read one artifact of a version and check it against the manifest's sha256.

    Raises
    ------
    ChecksumMismatchError
        When the artifact is not listed in the manifest or its bytes do not match.
    """
    info = manifest.artifacts.get(path)
    if info is None:
        raise ChecksumMismatchError(
            f"artifact {path!r} is not listed in the manifest of "
            f"{manifest.dataset}/{manifest.version}; refusing to load it"
        )
    data = store.get_bytes(ModelLayout.artifact(manifest.dataset, manifest.version, path))
    digest = sha256_hex(data)
    if digest != info.sha256:
        raise ChecksumMismatchError(
            f"artifact {path!r} of {manifest.dataset}/{manifest.version} has sha256 "
            f"{digest[:12]}..., the manifest says {info.sha256[:12]}...; refusing to load it"
        )
    return data


def list_datasets(store: ModelStore) -> list[str]:
    """Names of every dataset with anything stored (models or failures)."""
    return store.list_children(ModelLayout.ROOT)


def list_versions(store: ModelStore, dataset: str) -> list[str]:
    """Ids of the dataset's complete versions (those with a manifest), sorted."""
    return [
        v
        for v in store.list_children(ModelLayout.versions(dataset))
        if store.exists(ModelLayout.manifest(dataset, v))
    ]


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

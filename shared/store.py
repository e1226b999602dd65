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
from pathlib import Path
from typing import Any

from shared.exceptions import (
    ChecksumMismatchError,
    NotFoundError,
    TransientStoreError,
    VersionNotFoundError,
)
from shared.manifest import CurrentPointer, Manifest

__all__ = [
    "LocalModelStore",
    "ModelLayout",
    "ModelStore",
    "ObjectNotFoundError",
    "S3ModelStore",
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
        parts = [p for p in key.split("/") if p]
        if not parts or any(p in {".", ".."} for p in parts):
            raise ValueError(f"invalid store key {key!r}")
        return self.root.joinpath(*parts)

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
            if p.is_file() and not p.name.startswith(".tmp-")
        ]
        return sorted(k for k in keys if k.startswith(prefix))

    def list_children(self, prefix: str) -> list[str]:
        folder = self.root / prefix if prefix else self.root
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if p.is_dir())

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


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
            import boto3
            from botocore.config import Config

            self._client = boto3.client(
                "s3", config=Config(retries={"max_attempts": 4, "mode": "standard"})
            )
        return self._client

    def _call(self, op: str, key: str, **kwargs: Any) -> Any:
        from botocore.exceptions import (
            ClientError,
            ConnectionClosedError,
            EndpointConnectionError,
            ReadTimeoutError,
        )

        try:
            return getattr(self.client, op)(Bucket=self.bucket, **kwargs)
        except ClientError as e:
            code = str(e.response.get("Error", {}).get("Code", ""))
            if code in _MISSING_CODES:
                raise ObjectNotFoundError(f"no object at s3://{self.bucket}/{key}") from e
            if code in _TRANSIENT_CODES:
                raise TransientStoreError(
                    f"S3 {op} of s3://{self.bucket}/{key} failed transiently ({code})"
                ) from e
            raise
        except (EndpointConnectionError, ReadTimeoutError, ConnectionClosedError) as e:
            raise TransientStoreError(
                f"S3 {op} of s3://{self.bucket}/{key} could not reach S3: {e}"
            ) from e

    def get_bytes(self, key: str) -> bytes:
        body = self._call("get_object", key, Key=key)["Body"]
        try:
            return bytes(body.read())
        finally:
            body.close()

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
            code = str(e.response.get("Error", {}).get("Code", ""))
            if code in {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}:
                return False
            raise
        return True

    def exists(self, key: str) -> bool:
        try:
            self._call("head_object", key, Key=key)
        except ObjectNotFoundError:
            return False
        return True

    def list_keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Prefix": prefix}
            if token:
                kwargs["ContinuationToken"] = token
            page = self._call("list_objects_v2", prefix, **kwargs)
            keys.extend(obj["Key"] for obj in page.get("Contents", []))
            if not page.get("IsTruncated"):
                return sorted(keys)
            token = page.get("NextContinuationToken")

    def list_children(self, prefix: str) -> list[str]:
        names: list[str] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Prefix": prefix, "Delimiter": "/"}
            if token:
                kwargs["ContinuationToken"] = token
            page = self._call("list_objects_v2", prefix, **kwargs)
            names.extend(
                cp["Prefix"][len(prefix) :].rstrip("/") for cp in page.get("CommonPrefixes", [])
            )
            if not page.get("IsTruncated"):
                return sorted(names)
            token = page.get("NextContinuationToken")

    def delete(self, key: str) -> None:
        self._call("delete_object", key, Key=key)


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

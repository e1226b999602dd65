"""The artifact store: the only module that talks to S3.

One small interface, :class:`ModelStore`, with two implementations: :class:`S3ModelStore` (boto3,
client injected or built on first use, so moto can intercept) and :class:`LocalModelStore`
(a folder, used by the CLI and tests). Keys are ``/``-separated paths relative to the store root,
laid out as in the models-bucket contract (see :class:`ModelLayout`).
"""

from __future__ import annotations

import hashlib
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime

from shared.contract.layout import MAX_CONFIG_BYTES, ModelLayout, RawLayout
from shared.contract.manifest import CurrentPointer, Manifest
from shared.exceptions import (
    ChecksumMismatchError,
    FileTooLargeError,
    NotFoundError,
    VersionNotFoundError,
)
from shared.quoting import quote_value

logger = logging.getLogger(__name__)


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

    def presigned_get_url(self, key: str, *, expires_seconds: int, content_type: str) -> str | None:
        """A URL that reads ``key`` without credentials for ``expires_seconds``, served as
        ``content_type``; None when the store cannot make one (a local folder)."""
        return None

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
            f"upload {quote_value(upload.key)} is {size:,} bytes; the limit is {max_bytes:,} bytes "
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


def read_current(store: ModelStore, dataset: str) -> CurrentPointer | None:
    """The dataset's ``current.json``, or None when none is published or it is unreadable.

    An unreadable pointer (not JSON, not a pointer document) is logged and treated as absent:
    readers answer as for a dataset with no model (503) and promote or the next publish
    overwrites it, so the documented recovery path can always repair it.

    Examples
    --------
    >>> import tempfile
    >>> from shared.store.local import LocalModelStore
    >>> read_current(LocalModelStore(tempfile.mkdtemp()), "mall") is None
    True
    """
    try:
        raw = store.get_bytes(ModelLayout.current(dataset))
    except ObjectNotFoundError:
        return None
    try:
        return CurrentPointer.model_validate_json(raw)
    except ValueError as e:
        logger.error("current.json of %s is unreadable (%s); treating it as absent", dataset, e)
        return None


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
        raise VersionNotFoundError(
            f"dataset {quote_value(dataset)} has no version {quote_value(version)}"
        ) from e
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
            f"artifact {quote_value(path)} is not listed in the manifest of "
            f"{manifest.dataset}/{manifest.version}; refusing to load it"
        )
    data = store.get_bytes(ModelLayout.artifact(manifest.dataset, manifest.version, path))
    digest = sha256_hex(data)
    if digest != info.sha256:
        raise ChecksumMismatchError(
            f"artifact {quote_value(path)} of {manifest.dataset}/{manifest.version} has sha256 "
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

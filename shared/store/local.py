"""The local-folder implementations of the store (CLI, local runs, tests)."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from shared.exceptions import (
    ConfigError,
    TransientStoreError,
)
from shared.quoting import quote_value
from shared.store.base import (
    SPOOL_CHUNK_BYTES,
    ModelStore,
    ObjectNotFoundError,
    RawUploadReader,
    UploadInfo,
    _check_size,
    _spool_chunks,
)

logger = logging.getLogger(__name__)


def _local_path(root: Path, key: str) -> Path:
    """The file of ``key`` under ``root``; keys that could leave ``root`` are refused."""
    parts = [p for p in key.split("/") if p]
    if not parts or any(p in {".", ".."} for p in parts):
        raise ValueError(f"invalid store key {quote_value(key)}")
    return root.joinpath(*parts)


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
            raise ObjectNotFoundError(f"no object at {quote_value(key)}") from e

    def put_bytes(
        self, key: str, data: bytes, *, content_type: str = "application/octet-stream"
    ) -> None:
        self._place(key, data, os.replace)

    def put_file(
        self, key: str, path: Path, *, content_type: str = "application/octet-stream"
    ) -> None:
        """A copy of the file, chunk by chunk, moved into place."""
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out, path.open("rb") as source:
                while chunk := source.read(SPOOL_CHUNK_BYTES):
                    out.write(chunk)
            os.replace(tmp, target)
        finally:
            Path(tmp).unlink(missing_ok=True)

    def put_if_absent(
        self, key: str, data: bytes, *, content_type: str = "application/octet-stream"
    ) -> bool:
        # Hard-linking the written file into place is atomic and fails when the key exists, so a
        # concurrent reader never sees a created-but-still-empty object (which a claim reader
        # would take for a stale claim).
        try:
            self._place(key, data, os.link)
        except FileExistsError:
            return False
        return True

    def _place(self, key: str, data: bytes, move: Callable[[str, Path], None]) -> None:
        """Write ``data`` to a temporary file beside the key's path, then ``move`` it there."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            move(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)

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

    def spool(self, upload: UploadInfo, *, max_bytes: int, directory: str | None = None) -> Path:
        """A copy of the upload, made chunk by chunk (the original may be replaced meanwhile)."""
        _check_size(upload, upload.size, max_bytes)
        path = self._path(upload.key)

        def chunks() -> Iterator[bytes]:
            with path.open("rb") as handle:
                while chunk := handle.read(SPOOL_CHUNK_BYTES):
                    yield chunk

        copy = _spool_chunks(chunks(), directory)
        if copy.stat().st_size != upload.size:
            copy.unlink()
            raise TransientStoreError(f"{path} changed while being read; retry")
        return copy

    def _get_optional(self, key: str, max_bytes: int) -> bytes | None:
        path = self._path(key)
        if not path.is_file():
            return None
        if path.stat().st_size > max_bytes:
            raise ConfigError(
                f"{quote_value(key)} is larger than {max_bytes:,} bytes, the config limit"
            )
        return path.read_bytes()

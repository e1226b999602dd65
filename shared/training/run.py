"""One training run per upload: read it, train, publish a version, move ``current.json``.

No AWS in here apart from the :class:`~shared.store.base.ModelStore` and
:class:`~shared.store.base.RawUploadReader` passed in; the engine is injectable too (it defaults to
:func:`shared.training.pipeline.train_segments`). The training Lambda and the CLI share this module.

Rules (the tests pin them):

- **Version ids** are ``<upload time, UTC, YYYYMMDDTHHMMSSZ>-<10 hex>``, the hex being the start
  of ``sha256(key + "\\n" + (S3 version id or etag) + "\\n" + sha256 of the bytes + "\\n" +
  config digest)``. Sorting ids sorts versions by upload time.
- **Config is part of identity**: the config digest (:func:`config_digest`) is the sha256 of the
  *effective* parsed config, every key with its value after defaults, as canonical JSON. So the
  same object version with the same effective config always maps to the same id (a duplicate),
  whatever the config file's formatting, key order or spelled-out defaults (``{}`` and
  ``{"k_min": 2}`` are the same config); a config that changes anything the engine reads makes a
  new version of the same upload. The digest is recorded as ``source.config_sha256``. A config
  that cannot be parsed fails the upload (its failure id carries no config digest).
- **Idempotent**: a version whose ``manifest.json`` exists is not trained again. Concurrent
  deliveries of one object version race for ``datasets/<d>/claims/<version>.json`` with a
  conditional write (``If-None-Match: *``); the loser raises :class:`TrainingInProgressError`, so
  its message is retried after the queue's visibility timeout and then finds the manifest. A claim
  older than ``claim_timeout`` (default 16 min, longer than a Lambda can run) belongs to a crashed
  worker and is taken over.
- **Publish order**: every artifact, then ``manifest.json`` (with each artifact's sha256), then
  ``current.json``. Readers go through ``current.json``, so they never see a half-written version.
- **Ordering**: a version becomes current only when its upload is newer than the current one's:
  ``(upload time, version)`` compares greater, the upload time being the S3 event's ``eventTime``
  (milliseconds, carried into the pointer as ``source_event_time``) when the run came from an
  event for that very object, else ``source_last_modified`` (whole seconds). So two uploads made
  within one second are ordered by when S3 finished them, not by their hash (the event
  ``sequencer`` only orders events of one key). An older upload processed late is published but
  not made current; of two versions of one upload (same key and upload time, two configs), the one
  whose run read the config last (``config_read_at``) wins, so retraining a file with a new config
  (or back with an old one, a duplicate) makes that config's version current. A manual promote
  (``promoted: true``) counts as of its ``updated_at``: it holds against every upload made before
  it, and the first upload after it takes over. ``current.json`` is replaced with a
  compare-and-swap, so two runs finishing together cannot leave the older one current. A
  redelivered (duplicate) upload re-checks the pointer, which repairs a run that crashed between
  its manifest and the pointer.
- **Retention**: after a publish, the newest ``keep_versions`` complete versions (by id, i.e. by
  upload time; ids of one upload second by their manifest's ``source.event_time``) and the
  current one are kept; older version folders are deleted, manifest first,
  so a folder being deleted no longer counts as a version. Folders without a manifest (a run in
  progress, or a crashed one that its retry will complete) are never touched. ``current.json``
  is read again before each delete (a promote may have moved it meanwhile), and a version
  published (manifest ``created_at``) or promoted (``promotions/<version>.json``, written before
  the promote verifies it) within :data:`RETENTION_GRACE` (30 minutes) is never deleted.
- **Promote** (:func:`shared.store.pointer.promote_version`, the API's): marks the version as
  being promoted, verifies it, replaces ``current.json`` with a compare-and-swap, then reads the
  manifest again; if retention deleted it in between, the previous pointer is put back (again
  by compare-and-swap) and the promote fails with a 404.
- **Failures**: a :class:`DataValidationError` (bad file, bad config, file too large...) writes
  ``datasets/<d>/failures/<id>.json`` (id as a version id) and is acknowledged; ``current.json``
  is untouched. A key whose dataset name is invalid writes nothing (there is no safe place to
  write under) and is only logged. Only transient errors (:class:`TransientStoreError`:
  throttling, timeouts, network; another worker's claim) propagate, so the queue retries them
  and finally dead-letters them. Any other exception is an internal error: its traceback goes to
  the log, and a failure report with a generic message (the exception's type, the request id,
  no details) is written under the id of the object version with no content hash (as for a file
  refused before download); the message is acknowledged, as retrying would fail the same way.
- **Last delivery**: a run told it is the final attempt (the queue's ``ApproximateReceiveCount``
  has reached its redrive limit) writes that same report first, saying previous attempts ran
  out of memory or time, because an out-of-memory kill or a timeout leaves no chance to write
  one afterwards. Whatever the attempt then concludes (published, duplicate, or a report of its
  own) replaces or removes it; only a run that dies (or fails transiently) again leaves it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import ValidationError

from shared.contract.config import (
    DATASET_NAME_PATTERN,
    DatasetConfig,
    parse_config,
    validate_dataset_name,
)
from shared.contract.layout import (
    MANIFEST_PATH,
    PREPROCESSOR_PATH,
    PROFILES_PATH,
    ModelLayout,
    RawLayout,
)
from shared.contract.manifest import (
    ArtifactInfo,
    CurrentPointer,
    FailureReport,
    Manifest,
    SourceInfo,
)
from shared.contract.profiles import ProfileCatalog
from shared.exceptions import (
    ArtifactError,
    DataValidationError,
    InvalidDatasetNameError,
    NotFoundError,
    PreviousAttemptsFailedError,
    TrainingInProgressError,
    TransientStoreError,
)
from shared.quoting import quote_value, shorten
from shared.settings import DEFAULT_MAX_DECOMPRESSED_BYTES
from shared.store.base import (
    ModelStore,
    ObjectNotFoundError,
    RawUploadReader,
    UploadInfo,
    file_sha256,
    list_versions,
    read_manifest,
    read_verified_artifact,
    sha256_hex,
)
from shared.store.pointer import CURRENT_SWAP_ATTEMPTS, RETENTION_GRACE
from shared.store.pointer import read_current_tagged as _read_current_tagged
from shared.store.pointer import recently_used as _recently_used

if TYPE_CHECKING:
    from shared.store.workflow import WorkflowStarter
    from shared.training.pipeline import TrainingOutput

__all__ = [
    "DEFAULT_CLAIM_TIMEOUT",
    "DEFAULT_WORKFLOW_CLAIM",
    "RETENTION_GRACE",
    "TrainingEngine",
    "TrainingResult",
    "TrainingRun",
    "TrainingStatus",
    "UploadEvent",
    "apply_retention",
    "claim_key",
    "config_digest",
    "content_type_for",
    "promote_if_newer",
    "publish_and_release",
    "publish_version",
    "version_id_for",
]

logger = logging.getLogger(__name__)

MAX_REPORT_ERROR_CHARS = 2_000
"""Most characters of an error message a failure report keeps."""

DEFAULT_CLAIM_TIMEOUT = timedelta(minutes=16)
DEFAULT_WORKFLOW_CLAIM = timedelta(hours=6)
"""How long the claim of a run handed to the state machine holds (its execution timeout)."""
"""A claim older than this belongs to a crashed worker (a Lambda runs at most 15 minutes)."""

_ENGINE_PACKAGES = ("numpy", "pandas", "scikit-learn", "scipy", "skops", "pyarrow")
_CONTENT_TYPES = {
    ".json": "application/json",
    ".html": "text/html; charset=utf-8",
    ".csv.gz": "application/gzip",
    ".csv": "text/csv",
    ".skops": "application/octet-stream",
}

TrainingStatus = Literal["published", "duplicate", "failed", "ignored", "rejected", "started"]
"""What a run did: published a version; found it published already; wrote a failure report;
ignored a key outside ``uploads/<dataset>/`` (or an object gone since its event); rejected a key
it may not act on (invalid dataset name, another bucket)."""


class TrainingEngine(Protocol):
    """The signature of :func:`shared.training.pipeline.train_segments`."""

    def __call__(
        self,
        data: bytes,
        *,
        filename: str,
        config: DatasetConfig | None = None,
        previous: ProfileCatalog | None = None,
        dataset: str = "dataset",
        random_state: int = 0,
        max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
    ) -> TrainingOutput: ...


@dataclass(frozen=True)
class UploadEvent:
    """One uploaded object named by an event (the key already URL-decoded).

    Examples
    --------
    >>> UploadEvent(key="uploads/mall/mall_customers.csv", bucket="raw").key
    'uploads/mall/mall_customers.csv'
    """

    key: str
    bucket: str | None = None
    version_id: str | None = None
    etag: str | None = None
    event_time: datetime | None = None
    """The event's ``eventTime`` (when S3 finished the put, in milliseconds), if known."""


@dataclass(frozen=True)
class TrainingResult:
    """The outcome of one run, for logs, metrics and the CLI."""

    status: TrainingStatus
    key: str
    dataset: str | None = None
    version: str | None = None
    current: bool = False
    failure_key: str | None = None
    error: str | None = None
    error_type: str | None = None
    deleted_versions: tuple[str, ...] = ()
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (for logs and the direct-invocation response)."""
        return {
            "status": self.status,
            "key": self.key,
            "dataset": self.dataset,
            "version": self.version,
            "current": self.current,
            "failure_key": self.failure_key,
            "error": self.error,
            "error_type": self.error_type,
            "deleted_versions": list(self.deleted_versions),
            "seconds": round(self.seconds, 3),
        }


def config_digest(config: DatasetConfig) -> str:
    """sha256 of the effective config: every key with its value after defaults, canonical JSON.

    Formatting, key order and spelled-out defaults do not change it; any value the engine
    reads does.

    Examples
    --------
    >>> config_digest(parse_config(b"{}")) == config_digest(parse_config(b'{"k_min": 2}'))
    True
    >>> config_digest(parse_config(b"{}")) == config_digest(parse_config(b'{"k_max": 6}'))
    False
    """
    effective = config.model_dump(mode="json")
    canonical = json.dumps(effective, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def version_id_for(upload: UploadInfo, sha256: str | None, config_sha256: str | None = None) -> str:
    """The version id of an object version with content hash ``sha256`` trained with the config
    whose :func:`config_digest` is ``config_sha256``.

    ``sha256=None`` (bytes never read, e.g. a file over the size limit) still gives a stable id,
    used for its failure report; so does ``config_sha256=None`` (a config that cannot be read).

    Examples
    --------
    >>> info = UploadInfo(key="uploads/mall/a.csv", size=1, etag="e1",
    ...                   last_modified=datetime(2025, 3, 1, 12, 0, 5, tzinfo=UTC))
    >>> config = config_digest(DatasetConfig())
    >>> vid = version_id_for(info, "ab" * 32, config)
    >>> vid[:17], len(vid)
    ('20250301T120005Z-', 27)
    >>> vid == version_id_for(info, "ab" * 32, config)
    True
    >>> vid == version_id_for(info, "ab" * 32, config_digest(DatasetConfig(k_max=6)))
    False
    """
    when = _as_utc(upload.last_modified)
    parts = [upload.key, upload.revision, sha256 or ""]
    if config_sha256 is not None:
        parts.append(config_sha256)
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()
    return f"{when:%Y%m%dT%H%M%SZ}-{digest[:10]}"


def claim_key(dataset: str, version: str) -> str:
    """Key of the claim a worker holds while training ``version``.

    Examples
    --------
    >>> claim_key("mall", "v1")
    'datasets/mall/claims/v1.json'
    """
    return ModelLayout.claim(dataset, version)


def content_type_for(path: str) -> str:
    """Content type an artifact is stored with, by suffix.

    Examples
    --------
    >>> content_type_for("assignments.csv.gz"), content_type_for("models/kmeans-k5.skops")
    ('application/gzip', 'application/octet-stream')
    """
    for suffix, content_type in _CONTENT_TYPES.items():
        if path.endswith(suffix):
            return content_type
    return "application/octet-stream"


def publish_version(
    store: ModelStore,
    dataset: str,
    version: str,
    output: TrainingOutput,
    source: SourceInfo,
    *,
    created_at: datetime,
    previous_version: str | None = None,
) -> Manifest:
    """Write every artifact of ``output``, then the manifest that lists their sha256.

    Does not touch ``current.json`` (see :func:`promote_if_newer`).

    Raises
    ------
    ArtifactError
        When ``output`` lacks an artifact its summaries name, or names an unsafe path.

    Examples
    --------
    >>> # manifest = publish_version(store, "mall", vid, output, source, created_at=now)
    """
    _check_artifacts(output)
    infos: dict[str, ArtifactInfo] = {}
    for path, blob in sorted(output.artifacts.items()):
        content_type = content_type_for(path)
        store.put_bytes(
            ModelLayout.artifact(dataset, version, path), blob, content_type=content_type
        )
        infos[path] = ArtifactInfo(
            sha256=sha256_hex(blob), size=len(blob), content_type=content_type
        )
    for path, file in sorted(output.artifact_files.items()):  # streamed (multipart on S3)
        content_type = content_type_for(path)
        store.put_file(
            ModelLayout.artifact(dataset, version, path), file, content_type=content_type
        )
        infos[path] = ArtifactInfo(
            sha256=file_sha256(file), size=file.stat().st_size, content_type=content_type
        )
    manifest = Manifest(
        version=version,
        dataset=dataset,
        created_at=created_at,
        source=source,
        rows=output.rows,
        columns=output.columns,
        config=output.config,
        champion=output.champion,
        algorithms=output.algorithms,
        selection=output.selection,
        feature_names=output.feature_names,
        artifacts=infos,
        previous_version=previous_version,
        engine=engine_versions(),
        warnings=list(output.warnings),
        segment_ids=output.profiles.segment_ids,
        transactions=output.transactions,
    )
    store.put_bytes(
        ModelLayout.manifest(dataset, version),
        manifest.to_json().encode(),
        content_type="application/json",
    )
    return manifest


def publish_and_release(
    store: ModelStore,
    dataset: str,
    version: str,
    output: TrainingOutput,
    source: SourceInfo,
    *,
    created_at: datetime,
    previous_version: str | None = None,
) -> Manifest:
    """:func:`publish_version`, then the output's temporary artifact files (a streaming run's
    ``assignments.csv.gz``) deleted, whether the publish succeeded or not."""
    try:
        return publish_version(
            store,
            dataset,
            version,
            output,
            source,
            created_at=created_at,
            previous_version=previous_version,
        )
    finally:
        for file in output.artifact_files.values():
            file.unlink(missing_ok=True)


def promote_if_newer(store: ModelStore, dataset: str, pointer: CurrentPointer) -> bool:
    """Make ``pointer`` current unless the current version's upload is newer.

    Pointers compare by ``(source_last_modified, version)``; a manually promoted pointer by its
    ``updated_at`` (the promote time) instead; a pointer without a time counts as oldest. Two
    versions of one upload (same key and upload time, two configs) compare by
    ``config_read_at``: the config read last wins. The pointer is replaced with a
    compare-and-swap and compared again on conflict.

    Returns
    -------
    bool
        True when ``pointer.version`` is current afterwards.

    Examples
    --------
    >>> import tempfile
    >>> from shared.store.local import LocalModelStore
    >>> store = LocalModelStore(tempfile.mkdtemp())
    >>> new = CurrentPointer(version="v2", updated_at=datetime.now(UTC),
    ...                      source_last_modified=datetime(2025, 1, 2, tzinfo=UTC))
    >>> old = new.model_copy(update={"version": "v1",
    ...                              "source_last_modified": datetime(2025, 1, 1, tzinfo=UTC)})
    >>> promote_if_newer(store, "mall", new), promote_if_newer(store, "mall", old)
    (True, False)
    """
    key = ModelLayout.current(dataset)
    data = pointer.model_dump_json(indent=2).encode()
    for _ in range(CURRENT_SWAP_ATTEMPTS):
        existing, tag = _read_current_tagged(store, dataset)
        if existing is not None:
            if existing.version == pointer.version:
                return True
            if not _is_newer(pointer, existing):
                return False
        if store.put_if_tag(key, data, tag, content_type="application/json"):
            return True
        logger.info("current.json of %s changed meanwhile; comparing again", dataset)
    raise TransientStoreError(
        f"current.json of {quote_value(dataset)} kept changing during "
        f"{CURRENT_SWAP_ATTEMPTS} attempts"
    )


def apply_retention(
    store: ModelStore,
    dataset: str,
    keep_versions: int,
    *,
    now: datetime | None = None,
    grace: timedelta = RETENTION_GRACE,
) -> list[str]:
    """Delete complete versions beyond the newest ``keep_versions`` (the current one stays).

    Before each delete ``current.json`` is read again, and a version published or promoted
    less than ``grace`` before ``now`` is kept (see the module's rules).

    Returns
    -------
    list of str
        The deleted version ids, oldest first.

    Examples
    --------
    >>> import tempfile
    >>> from shared.store.local import LocalModelStore
    >>> apply_retention(LocalModelStore(tempfile.mkdtemp()), "mall", 3)
    []
    """
    if keep_versions < 1:
        raise ValueError(f"keep_versions={keep_versions} should be >= 1")
    now = _as_utc(now) if now is not None else datetime.now(UTC)
    versions = _in_upload_order(store, dataset, list_versions(store, dataset))
    candidates = versions[:-keep_versions]
    deleted: list[str] = []
    for version in candidates:
        current, _ = _read_current_tagged(store, dataset)
        if current is not None and current.version == version:
            continue
        if _recently_used(store, dataset, version, now - grace):
            logger.info("retention keeps %s/%s: published or promoted recently", dataset, version)
            continue
        # Manifest first: from then on the folder is no longer a complete version.
        store.delete(ModelLayout.manifest(dataset, version))
        store.delete_prefix(ModelLayout.version(dataset, version))
        store.delete(ModelLayout.promotion(dataset, version))
        deleted.append(version)
    if deleted:
        logger.info("retention deleted %d version(s) of %s: %s", len(deleted), dataset, deleted)
    return deleted


def _in_upload_order(store: ModelStore, dataset: str, versions: list[str]) -> list[str]:
    """``versions`` (sorted ids) with ids of one upload second ordered by their event time.

    An id starts with its upload second, so sorting ids sorts versions by upload time except
    within one second, where the hash decides; there the manifests' ``source.event_time``
    (milliseconds) does, as it does for ``current.json``.
    """
    seconds = [v.split("-", 1)[0] for v in versions]
    shared = {s for s in seconds if seconds.count(s) > 1}
    if not shared:
        return versions
    floor = datetime.min.replace(tzinfo=UTC)

    def key(version: str) -> tuple[str, datetime, str]:
        second = version.split("-", 1)[0]
        when = floor
        if second in shared:
            try:
                event_time = read_manifest(store, dataset, version).source.event_time
            except (NotFoundError, ValidationError):
                event_time = None
            when = _as_utc(event_time) if event_time is not None else floor
        return second, when, version

    return sorted(versions, key=key)


@lru_cache(maxsize=1)
def engine_versions() -> dict[str, str]:
    """Versions of Python and the libraries a model was trained with (for the manifest)."""
    versions = {"python": platform.python_version()}
    for package in _ENGINE_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


@dataclass
class TrainingRun:
    """Turns one upload event into a published version (or a failure report).

    Parameters
    ----------
    store : ModelStore
        Where versions, pointers, claims and failure reports go.
    raw : RawUploadReader
        Where uploads and configs are read from.
    max_upload_bytes : int
        Larger uploads are refused before download (:class:`FileTooLargeError`).
    max_decompressed_bytes : int
        Passed to the engine: most bytes an upload may inflate to (gzip) or declare
        uncompressed (Parquet).
    keep_versions : int
        Retention: complete versions kept besides the current one.
    engine : TrainingEngine, optional
        Default :func:`shared.training.pipeline.train_segments`.
    clock : callable, optional
        Returns "now" (UTC); injectable for tests.
    claim_timeout : timedelta
        Age after which another worker's claim is taken over.
    random_state : int
        Passed to the engine.
    streaming_min_bytes : int, optional
        Uploads of at least this many bytes are spooled to a temporary file (never held in
        memory) and trained by the bounded-memory streaming engine
        (:func:`shared.training.streaming.train_streaming`, its map tasks in
        ``streaming_workers`` processes); None: never.
    workflow, workflow_min_bytes : optional
        Uploads of at least ``workflow_min_bytes`` are handed to the training state machine
        (:mod:`shared.training.workflow`) once claimed: status ``started``, and the claim is
        rewritten to expire after ``workflow_claim`` (the state machine's timeout) instead
        of being released; the state machine's last step releases it.

    Examples
    --------
    >>> # run = TrainingRun(store=S3ModelStore(b1), raw=S3RawUploadReader(b2),
    >>> #                   max_upload_bytes=2**31, keep_versions=10)
    >>> # run.run(UploadEvent(key="uploads/mall/mall_customers.csv")).status
    """

    store: ModelStore
    raw: RawUploadReader
    max_upload_bytes: int
    keep_versions: int
    engine: TrainingEngine | None = None
    max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    claim_timeout: timedelta = DEFAULT_CLAIM_TIMEOUT
    random_state: int = 0
    streaming_min_bytes: int | None = None
    streaming_workers: int = 1
    workflow: WorkflowStarter | None = None
    workflow_min_bytes: int | None = None
    workflow_claim: timedelta = DEFAULT_WORKFLOW_CLAIM

    def run(
        self,
        upload: UploadEvent,
        *,
        request_id: str | None = None,
        final_attempt: str | None = None,
    ) -> TrainingResult:
        """Train and publish the version of ``upload``; see the module rules.

        Parameters
        ----------
        upload : UploadEvent
            The uploaded object.
        request_id : str, optional
            The invocation's request id, quoted in internal-error reports.
        final_attempt : str, optional
            Set on the last delivery of the message (e.g. ``"delivery 3 of 3"``): a report is
            written before training starts (see the module rules).

        Raises
        ------
        TransientStoreError
            Storage failed transiently, or another worker is training this version
            (:class:`TrainingInProgressError`): retry later.
        """
        started = time.perf_counter()
        try:
            result = self._run(upload, final_attempt)
        except TransientStoreError:
            raise
        except Exception as e:
            result = self._fail_internal(upload, e, request_id)
        seconds = time.perf_counter() - started
        result = replace(result, seconds=seconds)
        logger.info("training run %s", result.status, extra={"training": result.to_dict()})
        return result

    # --- steps ---------------------------------------------------------------------------------

    def _run(self, upload: UploadEvent, final_attempt: str | None) -> TrainingResult:
        key = upload.key
        dataset = RawLayout.dataset_of(key)
        if dataset is None:
            logger.info("ignoring %r: not under uploads/<dataset>/", key)
            return TrainingResult("ignored", key, error="not under uploads/<dataset>/")
        try:
            validate_dataset_name(dataset)
        except InvalidDatasetNameError as e:
            # No failure report: the name is not safe to build a key from.
            logger.warning("rejecting %r: %s", key, e)
            return TrainingResult("rejected", key, error=str(e))
        raw_bucket = self.raw.bucket
        if upload.bucket and raw_bucket and upload.bucket != raw_bucket:
            message = (
                f"event names bucket {quote_value(upload.bucket)}, this function "
                f"reads {quote_value(raw_bucket)}"
            )
            logger.warning("rejecting %r: %s", key, message)
            return TrainingResult("rejected", key, dataset=dataset, error=message)
        try:
            info = self.raw.head(key, version_id=upload.version_id)
        except ObjectNotFoundError:
            logger.warning("ignoring %r: the object is gone (deleted since the event)", key)
            return TrainingResult("ignored", key, dataset=dataset, error="object not found")
        event_time = upload.event_time
        if upload.etag and info.etag and upload.etag != info.etag and not upload.version_id:
            logger.info("%r was replaced since its event; training the object there now", key)
            event_time = None  # the event's time is another object's
        if final_attempt is None:
            return self._train(dataset, info, event_time)
        early = self._fail(dataset, info, None, _previous_attempts_error(final_attempt))
        result = self._train(dataset, info, event_time)
        if result.failure_key != early.failure_key:
            self.store.delete(str(early.failure_key))  # this attempt concluded: not its story
        return result

    def _train(
        self, dataset: str, info: UploadInfo, event_time: datetime | None = None
    ) -> TrainingResult:
        """Read, train and publish the object version ``info`` (or report why not).

        Uploads the streaming engine trains are spooled to a temporary file chunk by chunk
        (never held in memory) and the file is deleted afterwards.
        """
        spooled: Path | None = None
        try:
            if self._streams(info.size):
                spooled = self.raw.spool(info, max_bytes=self.max_upload_bytes)
                data, sha256 = b"", file_sha256(spooled)
            else:
                data = self.raw.read(info, max_bytes=self.max_upload_bytes)
                sha256 = sha256_hex(data)
        except DataValidationError as e:
            return self._fail(dataset, info, None, e)
        try:
            return self._train_read(dataset, info, event_time, data, sha256, spooled)
        finally:
            if spooled is not None:
                spooled.unlink(missing_ok=True)

    def _train_read(
        self,
        dataset: str,
        info: UploadInfo,
        event_time: datetime | None,
        data: bytes,
        sha256: str,
        spooled: Path | None,
    ) -> TrainingResult:
        """:meth:`_train` once the upload is read (``data``) or spooled (``spooled``)."""
        key = info.key
        config_read_at = self.clock()
        try:
            config = parse_config(self.raw.read_config(dataset))
        except DataValidationError as e:
            return self._fail(dataset, info, sha256, e)
        config_sha256 = config_digest(config)
        version = version_id_for(info, sha256, config_sha256)
        source = SourceInfo(
            bucket=info.bucket,
            key=key,
            version_id=info.version_id,
            etag=info.etag,
            sha256=sha256,
            size=info.size,
            config_sha256=config_sha256,
            event_time=_as_utc(event_time) if event_time is not None else None,
        )
        pointer = self._pointer(version, info, config_read_at, event_time)
        if self.store.exists(ModelLayout.manifest(dataset, version)):
            return self._duplicate(dataset, version, info, pointer)

        self._claim(dataset, version, key)
        handed_over = False
        try:
            # The holder of the claim before us may have finished and released it.
            if self.store.exists(ModelLayout.manifest(dataset, version)):
                return self._duplicate(dataset, version, info, pointer)
            if self._hands_over(info.size):
                ticket = self._ticket(dataset, version, info, source, config, config_read_at)
                handed_over = self._start_workflow(ticket)
                return TrainingResult("started", key, dataset=dataset, version=version)
            try:
                previous_version, previous = self._previous(dataset)
                engine = (
                    self._engine()
                    if spooled is None
                    else _spooled_engine(spooled, self.streaming_workers)
                )
                output = engine(
                    data,
                    filename=key.rsplit("/", 1)[-1],
                    config=config,
                    previous=previous,
                    dataset=dataset,
                    random_state=self.random_state,
                    max_decompressed_bytes=self.max_decompressed_bytes,
                )
            except DataValidationError as e:
                return self._fail(dataset, info, sha256, e)
            del data  # the engine is done with the upload: free it before publishing
            publish_and_release(
                self.store,
                dataset,
                version,
                output,
                source,
                created_at=self.clock(),
                previous_version=previous_version,
            )
        finally:
            if not handed_over:
                self.store.delete(claim_key(dataset, version))
        is_current = promote_if_newer(
            self.store, dataset, pointer.model_copy(update={"updated_at": self.clock()})
        )
        if not is_current:
            logger.info("%s/%s published but not current: a newer upload is", dataset, version)
        deleted = apply_retention(self.store, dataset, self.keep_versions, now=self.clock())
        return TrainingResult(
            "published",
            key,
            dataset=dataset,
            version=version,
            current=is_current,
            deleted_versions=tuple(deleted),
        )

    def _hands_over(self, size: int) -> bool:
        return (
            self.workflow is not None
            and self.workflow_min_bytes is not None
            and size >= self.workflow_min_bytes
        )

    def _ticket(
        self,
        dataset: str,
        version: str,
        info: UploadInfo,
        source: SourceInfo,
        config: DatasetConfig,
        config_read_at: datetime,
    ) -> dict[str, Any]:
        """The state machine's input (:class:`shared.training.workflow.RunTicket`)."""
        from shared.training.workflow import RunTicket

        return RunTicket(
            dataset=dataset,
            version=version,
            key=info.key,
            bucket=info.bucket,
            version_id=info.version_id,
            etag=info.etag,
            size=info.size,
            last_modified=_as_utc(info.last_modified),
            sha256=source.sha256,
            config_sha256=str(source.config_sha256),
            config=config.model_dump(mode="json"),
            event_time=source.event_time,
            config_read_at=_as_utc(config_read_at),
            random_state=self.random_state,
        ).model_dump(mode="json")

    def _start_workflow(self, ticket: dict[str, Any]) -> bool:
        """Start the state machine; the claim now lasts until the run's deadline."""
        from shared.store.workflow import execution_name

        assert self.workflow is not None
        dataset, version = ticket["dataset"], ticket["version"]
        now = self.clock()
        body = {
            "version": version,
            "key": ticket["key"],
            "claimed_at": now.isoformat(),
            "expires_at": (now + self.workflow_claim).isoformat(),
        }
        self.store.put_bytes(
            claim_key(dataset, version), json.dumps(body).encode(), content_type="application/json"
        )
        execution = self.workflow.start(execution_name(dataset, version), ticket)
        logger.info("%s/%s handed to the training state machine: %s", dataset, version, execution)
        return True

    def _streams(self, size: int) -> bool:
        """True for uploads the streaming engine trains (``streaming_min_bytes`` or more)."""
        return self.streaming_min_bytes is not None and size >= self.streaming_min_bytes

    def _engine(self) -> TrainingEngine:
        if self.engine is None:
            from shared.training.pipeline import train_segments

            self.engine = train_segments
        return self.engine

    def _pointer(
        self,
        version: str,
        info: UploadInfo,
        config_read_at: datetime,
        event_time: datetime | None,
    ) -> CurrentPointer:
        return CurrentPointer(
            version=version,
            updated_at=self.clock(),
            source_key=info.key,
            source_last_modified=_as_utc(info.last_modified),
            source_event_time=_as_utc(event_time) if event_time is not None else None,
            config_read_at=_as_utc(config_read_at),
        )

    def _duplicate(
        self, dataset: str, version: str, info: UploadInfo, pointer: CurrentPointer
    ) -> TrainingResult:
        logger.info("%s/%s is already published; not training it again", dataset, version)
        is_current = promote_if_newer(self.store, dataset, pointer)
        return TrainingResult(
            "duplicate", info.key, dataset=dataset, version=version, current=is_current
        )

    def _claim(self, dataset: str, version: str, key: str) -> None:
        now = self.clock()
        body = json.dumps({"version": version, "key": key, "claimed_at": now.isoformat()}).encode()
        ck = claim_key(dataset, version)
        if self.store.put_if_absent(ck, body, content_type="application/json"):
            return
        expires_at: datetime | None = None
        try:
            held = json.loads(self.store.get_bytes(ck))
            claimed_at = datetime.fromisoformat(held["claimed_at"])
            if held.get("expires_at"):  # a run handed to the state machine
                expires_at = _as_utc(datetime.fromisoformat(held["expires_at"]))
        except ObjectNotFoundError:
            # Released between our two calls: the holder finished; one more try.
            if self.store.put_if_absent(ck, body, content_type="application/json"):
                return
            claimed_at = now
        except (ValueError, KeyError, TypeError):
            claimed_at = datetime.min.replace(tzinfo=UTC)
        if (expires_at is not None and now < expires_at) or (
            expires_at is None and now - _as_utc(claimed_at) < self.claim_timeout
        ):
            raise TrainingInProgressError(
                f"{dataset}/{version} is being trained by another worker since "
                f"{claimed_at.isoformat()}; retry later"
            )
        logger.warning("taking over the stale claim on %s/%s from %s", dataset, version, claimed_at)
        self.store.put_bytes(ck, body, content_type="application/json")

    def _previous(self, dataset: str) -> tuple[str | None, ProfileCatalog | None]:
        """The current version and its profiles (for stable segment ids), if usable."""
        current, _ = _read_current_tagged(self.store, dataset)
        if current is None:
            return None, None
        try:
            manifest = read_manifest(self.store, dataset, current.version)
            profiles = read_verified_artifact(self.store, manifest, PROFILES_PATH)
            return current.version, ProfileCatalog.model_validate_json(profiles)
        except (NotFoundError, ArtifactError, ValidationError) as e:
            logger.warning(
                "the profiles of %s/%s are unusable (%s); segment ids start afresh",
                dataset,
                current.version,
                e,
            )
            return current.version, None

    def _fail_internal(
        self, upload: UploadEvent, error: Exception, request_id: str | None
    ) -> TrainingResult:
        """Log the traceback of an unexpected error; report it without details (see rules)."""
        logger.exception(
            "training %r failed with an internal error (request %s)", upload.key, request_id
        )
        dataset = RawLayout.dataset_of(upload.key)
        if dataset is None or not DATASET_NAME_PATTERN.fullmatch(dataset):
            raise error  # checked before anything can fail: there is nowhere safe to report
        try:
            info = self.raw.head(upload.key, version_id=upload.version_id)
        except Exception:
            raise error from None  # storage itself is failing: let the queue retry
        message = (
            f"training stopped on an internal error ({type(error).__name__}); the details are "
            f"in the training log under request id {request_id or 'unknown'}"
        )
        return self._fail(dataset, info, None, _InternalError(message), request_id=request_id)

    def _fail(
        self,
        dataset: str,
        info: UploadInfo,
        sha256: str | None,
        error: DataValidationError | PreviousAttemptsFailedError | _InternalError,
        *,
        request_id: str | None = None,
    ) -> TrainingResult:
        failure_id = version_id_for(info, sha256)
        error_type = error.error_type if isinstance(error, _InternalError) else type(error).__name__
        source: SourceInfo | dict[str, Any]
        if sha256 is None:
            source = {
                "bucket": info.bucket,
                "key": info.key,
                "version_id": info.version_id,
                "etag": info.etag,
                "size": info.size,
            }
        else:
            source = SourceInfo(
                bucket=info.bucket,
                key=info.key,
                version_id=info.version_id,
                etag=info.etag,
                sha256=sha256,
                size=info.size,
            )
        report = FailureReport(
            id=failure_id,
            dataset=dataset,
            # Messages of our own quote values briefly; a library's may embed a whole cell.
            error=shorten(str(error), MAX_REPORT_ERROR_CHARS),
            error_type=error_type,
            source=source,
            created_at=self.clock(),
            request_id=request_id,
        )
        failure_key = ModelLayout.failure(dataset, failure_id)
        self.store.put_bytes(
            failure_key, report.model_dump_json(indent=2).encode(), content_type="application/json"
        )
        logger.warning(
            "upload %r of %s failed: %s: %s (report %s)",
            info.key,
            dataset,
            error_type,
            error,
            failure_key,
        )
        return TrainingResult(
            "failed",
            info.key,
            dataset=dataset,
            failure_key=failure_key,
            # Messages of our own quote values briefly; a library's may embed a whole cell.
            error=shorten(str(error), MAX_REPORT_ERROR_CHARS),
            error_type=error_type,
        )


class _InternalError(Exception):
    """The report-safe stand-in for an unexpected exception (its message has no details)."""

    error_type = "InternalError"


def _previous_attempts_error(attempt: str) -> PreviousAttemptsFailedError:
    return PreviousAttemptsFailedError(
        f"previous attempts ran out of memory or time ({attempt}, the last one): the upload is "
        "probably too large for the training function's memory or time limit"
    )


def _spooled_engine(path: Path, workers: int) -> TrainingEngine:
    """The streaming engine reading the spooled copy at ``path`` (``data`` is unused)."""
    from shared.engine.streaming import TableSource
    from shared.training.streaming import train_streaming

    def engine(data: bytes, *, filename: str, **options: Any) -> TrainingOutput:
        return train_streaming(TableSource.from_path(path, filename), workers=workers, **options)

    return engine


def _as_utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _upload_order(pointer: CurrentPointer) -> tuple[datetime, str]:
    when: datetime | None = pointer.updated_at
    if not pointer.promoted:
        when = pointer.source_event_time or pointer.source_last_modified
    return (_as_utc(when) if when else datetime.min.replace(tzinfo=UTC), pointer.version)


def _is_newer(pointer: CurrentPointer, existing: CurrentPointer) -> bool:
    """Whether ``pointer`` should replace ``existing`` (see :func:`promote_if_newer`)."""
    same_upload = (
        not pointer.promoted
        and not existing.promoted
        and pointer.source_key == existing.source_key
        and pointer.source_last_modified == existing.source_last_modified
    )
    if same_upload and pointer.config_read_at and existing.config_read_at:
        # Two versions of one upload (two configs): the config read last wins.
        return (_as_utc(pointer.config_read_at), pointer.version) > (
            _as_utc(existing.config_read_at),
            existing.version,
        )
    return _upload_order(pointer) > _upload_order(existing)


def _check_artifacts(output: TrainingOutput) -> None:
    for path in [*output.artifacts, *output.artifact_files]:
        parts = path.split("/")
        if path.startswith("/") or any(p in {"", ".", ".."} for p in parts):
            raise ArtifactError(
                f"the engine produced an artifact with an unsafe path {quote_value(path)}"
            )
        if path == MANIFEST_PATH:
            raise ArtifactError(
                f"the engine may not produce {MANIFEST_PATH}; the publisher writes it"
            )
    needed = {PREPROCESSOR_PATH, PROFILES_PATH}
    for summary in output.algorithms.values():
        needed.add(summary.artifact)
        needed.update(summary.models.values())
    missing = sorted(needed - set(output.artifacts) - set(output.artifact_files))
    if missing:
        raise ArtifactError(f"the training output lacks artifact(s) {missing}; nothing published")

"""Upload a customer file to the raw bucket and wait for the version (or failure) it produces.

The wait reads the models bucket through :class:`shared.store.s3.S3ModelStore`: it succeeds when a
new version's manifest names the uploaded object (key and sha256, and the S3 version id or ETag
when both sides know it) and fails when a new failure report names it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cli.errors import CliError, ExitCode
from cli.resources import UPLOAD_PREFIX, UPLOAD_SUFFIXES
from shared.contract.config import parse_config, validate_dataset_name
from shared.contract.layout import ModelLayout, RawLayout
from shared.contract.manifest import FailureReport, Manifest
from shared.exceptions import DataValidationError, SegmentationError
from shared.store.base import ModelStore, list_versions, read_manifest, sha256_hex

__all__ = [
    "UploadedObject",
    "WaitOutcome",
    "check_upload_name",
    "existing_state",
    "find_outcome",
    "s3_failure",
    "upload_config",
    "upload_file",
    "wait_for_training",
]


@dataclass(frozen=True)
class UploadedObject:
    """The raw-bucket object an upload created."""

    bucket: str
    key: str
    sha256: str
    size: int
    version_id: str | None
    etag: str | None


@dataclass(frozen=True)
class WaitOutcome:
    """A published version (``manifest``) or a failure report (``failure``)."""

    manifest: Manifest | None = None
    failure: FailureReport | None = None
    seconds: float = 0.0


def check_upload_name(path: Path) -> str:
    """Return the object name for ``path``, or raise when it would not start a training run.

    Examples
    --------
    >>> check_upload_name(Path("data/mall_customers.csv"))
    'mall_customers.csv'
    """
    name = path.name
    if not name.lower().endswith(UPLOAD_SUFFIXES):
        raise CliError(
            f"{name!r} would not start training: uploads must end with "
            f"{', '.join(UPLOAD_SUFFIXES)}",
            ExitCode.INPUT,
        )
    return name


def s3_failure(e: Exception, what: str) -> CliError:
    from botocore.exceptions import ClientError, NoCredentialsError

    if isinstance(e, NoCredentialsError):
        return CliError(f"{what}: no AWS credentials found", ExitCode.INPUT)
    if isinstance(e, ClientError):
        code = e.response.get("Error", {}).get("Code", "")
        if code in {"NoSuchBucket", "AccessDenied", "403", "404"}:
            return CliError(f"{what}: {code} ({e})", ExitCode.INPUT)
    return CliError(f"{what}: {e}", ExitCode.UNREACHABLE)


def upload_config(s3: Any, bucket: str, dataset: str, config_path: Path) -> str:
    """Validate ``config_path`` locally, then put it at ``configs/<dataset>.json``."""
    validate_dataset_name(dataset)
    try:
        raw = config_path.read_bytes()
    except OSError as e:
        raise CliError(f"cannot read config {config_path}: {e}", ExitCode.INPUT) from e
    try:
        parse_config(raw)
    except DataValidationError as e:
        raise CliError(f"config {config_path} is invalid: {e}", ExitCode.INPUT) from e
    key = RawLayout.config(dataset)
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=raw, ContentType="application/json")
    except Exception as e:
        raise s3_failure(e, f"cannot upload the config to s3://{bucket}/{key}") from e
    return key


def upload_file(
    s3: Any,
    bucket: str,
    dataset: str,
    path: Path,
    *,
    on_bytes: Callable[[int], None] | None = None,
) -> UploadedObject:
    """Put ``path`` at ``uploads/<dataset>/<name>`` (multipart for large files)."""
    validate_dataset_name(dataset)
    name = check_upload_name(path)
    if not path.is_file():
        raise CliError(f"no such file: {path}", ExitCode.INPUT)
    data = path.read_bytes()
    key = f"{UPLOAD_PREFIX}{dataset}/{name}"
    try:
        s3.upload_file(str(path), bucket, key, Callback=on_bytes)
        head = s3.head_object(Bucket=bucket, Key=key)
    except Exception as e:
        raise s3_failure(e, f"cannot upload to s3://{bucket}/{key}") from e
    return UploadedObject(
        bucket=bucket,
        key=key,
        sha256=sha256_hex(data),
        size=len(data),
        version_id=head.get("VersionId"),
        etag=str(head.get("ETag", "")).strip('"') or None,
    )


def _same_source(source: Mapping[str, Any], obj: UploadedObject) -> bool:
    if source.get("key") != obj.key or source.get("sha256") not in {None, obj.sha256}:
        return False
    version_id = source.get("version_id")
    if version_id and obj.version_id and version_id != "null":
        return bool(version_id == obj.version_id)
    etag = str(source.get("etag") or "").strip('"')
    return not (etag and obj.etag) or etag == obj.etag


def find_outcome(
    store: ModelStore,
    dataset: str,
    obj: UploadedObject,
    *,
    seen_versions: set[str],
    seen_failures: set[str],
) -> WaitOutcome | None:
    """Look once for a version or failure report of ``obj`` not among the ``seen_*`` ones."""
    for version in list_versions(store, dataset):
        if version in seen_versions:
            continue
        seen_versions.add(version)
        manifest = read_manifest(store, dataset, version)
        if _same_source(manifest.source.model_dump(), obj):
            return WaitOutcome(manifest=manifest)
    prefix = f"{ModelLayout.dataset(dataset)}failures/"
    for key in store.list_keys(prefix):
        if key in seen_failures:
            continue
        seen_failures.add(key)
        try:
            report = FailureReport.model_validate_json(store.get_bytes(key))
        except (ValueError, SegmentationError):
            continue
        source = report.source if isinstance(report.source, Mapping) else report.source.model_dump()
        if _same_source(source, obj):
            return WaitOutcome(failure=report)
    return None


def existing_state(store: ModelStore, dataset: str) -> tuple[set[str], set[str]]:
    """Versions and failure-report keys present before an upload."""
    versions = set(list_versions(store, dataset))
    failures = set(store.list_keys(f"{ModelLayout.dataset(dataset)}failures/"))
    return versions, failures


def wait_for_training(
    store: ModelStore,
    dataset: str,
    obj: UploadedObject,
    *,
    seen_versions: set[str],
    seen_failures: set[str],
    timeout: float,
    poll_seconds: float = 0.5,
    on_tick: Callable[[float], None] | None = None,
) -> WaitOutcome:
    """Poll until a version or failure report of ``obj`` appears; raise on timeout."""
    started = time.monotonic()
    while True:
        elapsed = time.monotonic() - started
        try:
            outcome = find_outcome(
                store, dataset, obj, seen_versions=seen_versions, seen_failures=seen_failures
            )
        except SegmentationError as e:
            raise CliError(f"cannot read the models store: {e}", ExitCode.UNREACHABLE) from e
        if outcome is not None:
            return WaitOutcome(outcome.manifest, outcome.failure, time.monotonic() - started)
        if elapsed > timeout:
            raise CliError(
                f"no version or failure report for s3://{obj.bucket}/{obj.key} after "
                f"{timeout:.0f} s (is the training function running? see `segments status`)",
                ExitCode.TIMEOUT,
            )
        if on_tick is not None:
            on_tick(elapsed)
        time.sleep(poll_seconds)

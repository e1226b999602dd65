"""A training run spread over a Step Functions state machine: the tasks' side of it.

For uploads of at least ``WORKFLOW_MIN_BYTES`` (when a state machine is configured),
:class:`~shared.training.run.TrainingRun` claims the version as usual, then hands the run over
as a :class:`RunTicket` (the state machine's input) instead of training inline; the claim is
rewritten to expire at the run's deadline, so no redelivered message trains the same version
meanwhile. The state machine (``infra/constructs/workflow.py``) calls :class:`WorkflowSteps`
through the step function's handler (``lambdas/training/steps.py``):

``Prepare`` (pass 1: sample + part files) -> ``Fit`` (the sample) -> ``Assign`` (a Distributed
Map over the parts, ``MaxConcurrency`` configurable) -> ``Reduce`` (merge, then publish with
the protocol of :mod:`shared.training.run`: every artifact, the manifest last,
``current.json`` by compare-and-swap, retention; the claim released and the work folder
deleted). Any task that fails goes to ``Fail``, which writes the failure report (a
:class:`~shared.exceptions.DataValidationError`'s own message; anything else a generic internal
error), releases the claim and deletes the work folder; ``current.json`` is never touched.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from shared.contract.config import DatasetConfig
from shared.contract.documents import Document
from shared.contract.layout import PROFILES_PATH, ModelLayout
from shared.contract.manifest import CurrentPointer, FailureReport, SourceInfo
from shared.contract.profiles import ProfileCatalog
from shared.engine.streaming import TableSource
from shared.exceptions import ArtifactError, DataValidationError, NotFoundError
from shared.quoting import shorten
from shared.settings import DEFAULT_MAX_DECOMPRESSED_BYTES
from shared.store.base import (
    ModelStore,
    RawUploadReader,
    UploadInfo,
    read_current,
    read_manifest,
    read_verified_artifact,
)
from shared.training.distributed import (
    WorkLayout,
    assign_step,
    fit_step,
    prepare_step,
    reduce_step,
)

__all__ = ["RunTicket", "WorkflowSteps"]

logger = logging.getLogger(__name__)

_MAX_ERROR_CHARS = 2_000


class RunTicket(Document):
    """The state machine's input: one claimed version of one upload, ready to train."""

    dataset: str
    version: str
    key: str
    bucket: str | None = None
    version_id: str | None = None
    etag: str | None = None
    size: int
    last_modified: datetime
    sha256: str
    config_sha256: str
    config: dict[str, Any]
    event_time: datetime | None = None
    config_read_at: datetime
    random_state: int = 0

    def upload(self) -> UploadInfo:
        """The object version the ticket trains."""
        return UploadInfo(
            key=self.key,
            size=self.size,
            last_modified=self.last_modified,
            etag=self.etag,
            version_id=self.version_id,
            bucket=self.bucket,
        )


@dataclass
class WorkflowSteps:
    """What each task of the training state machine does (plain calls; see the module)."""

    store: ModelStore
    raw: RawUploadReader
    max_upload_bytes: int
    keep_versions: int
    max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    sample_rows: int | None = None
    chunk_rows: int | None = None

    def _work(self, ticket: RunTicket) -> WorkLayout:
        return WorkLayout(ticket.dataset, ticket.version)

    def prepare(self, ticket: RunTicket) -> dict[str, Any]:
        """Pass 1: the sample and the part files; the Map state iterates ``parts``."""
        options: dict[str, int] = {}
        if self.sample_rows is not None:
            options["sample_rows"] = self.sample_rows
        if self.chunk_rows is not None:
            options["chunk_rows"] = self.chunk_rows
        # Streamed from the body into a temporary file (/tmp), never held in memory.
        spooled = self.raw.spool(ticket.upload(), max_bytes=self.max_upload_bytes)
        try:
            return prepare_step(
                self.store,
                TableSource.from_path(spooled, ticket.key.rsplit("/", 1)[-1]),
                self._work(ticket),
                max_decompressed_bytes=self.max_decompressed_bytes,
                **options,
            )
        finally:
            spooled.unlink(missing_ok=True)

    def fit(self, ticket: RunTicket, prepared: dict[str, Any]) -> dict[str, Any]:
        """The models, fitted on the sample (against the current version's segment ids)."""
        fit_step(
            self.store,
            self._work(ticket),
            prepared,
            config=DatasetConfig.model_validate(ticket.config),
            previous=self._previous(ticket.dataset)[1],
            dataset=ticket.dataset,
            random_state=ticket.random_state,
        )
        return {"fitted": True}

    def assign(
        self, ticket: RunTicket, part: dict[str, Any], fmt: dict[str, Any] | None
    ) -> dict[str, Any]:
        """One Map iteration: assign one part file."""
        return assign_step(self.store, self._work(ticket), part, fmt)

    def reduce(self, ticket: RunTicket, prepared: dict[str, Any]) -> dict[str, Any]:
        """Merge, publish (manifest last, ``current.json`` by compare-and-swap), clean up."""
        from shared.training.run import (
            apply_retention,
            claim_key,
            promote_if_newer,
            publish_and_release,
        )

        work = self._work(ticket)
        output = reduce_step(self.store, work, len(prepared["parts"]), dataset=ticket.dataset)
        previous_version, _ = self._previous(ticket.dataset)
        source = SourceInfo(
            bucket=ticket.bucket,
            key=ticket.key,
            version_id=ticket.version_id,
            etag=ticket.etag,
            sha256=ticket.sha256,
            size=ticket.size,
            config_sha256=ticket.config_sha256,
            event_time=ticket.event_time,
        )
        publish_and_release(
            self.store,
            ticket.dataset,
            ticket.version,
            output,
            source,
            created_at=self.clock(),
            previous_version=previous_version,
        )
        pointer = CurrentPointer(
            version=ticket.version,
            updated_at=self.clock(),
            source_key=ticket.key,
            source_last_modified=ticket.last_modified,
            source_event_time=ticket.event_time,
            config_read_at=ticket.config_read_at,
        )
        current = promote_if_newer(self.store, ticket.dataset, pointer)
        deleted = apply_retention(self.store, ticket.dataset, self.keep_versions, now=self.clock())
        self.store.delete(claim_key(ticket.dataset, ticket.version))
        self.store.delete_prefix(work.root)
        return {
            "status": "published",
            "version": ticket.version,
            "current": current,
            "rows": output.rows.read,
            "deleted_versions": deleted,
        }

    def fail(self, ticket: RunTicket, error: dict[str, Any]) -> dict[str, Any]:
        """A task failed: the failure report, the claim released, the work folder deleted.

        ``error`` is what the state machine's ``Catch`` put there: ``Error`` (the exception's
        type name) and ``Cause`` (Lambda's JSON with ``errorMessage``, ``errorType``).
        """
        from shared.training.run import claim_key, version_id_for

        error_type, message = _describe(error)
        failure_id = version_id_for(ticket.upload(), ticket.sha256)
        report = FailureReport(
            id=failure_id,
            dataset=ticket.dataset,
            error=shorten(message, _MAX_ERROR_CHARS),
            error_type=error_type,
            source=SourceInfo(
                bucket=ticket.bucket,
                key=ticket.key,
                version_id=ticket.version_id,
                etag=ticket.etag,
                sha256=ticket.sha256,
                size=ticket.size,
            ),
            created_at=self.clock(),
        )
        failure_key = ModelLayout.failure(ticket.dataset, failure_id)
        self.store.put_bytes(
            failure_key, report.model_dump_json(indent=2).encode(), content_type="application/json"
        )
        self.store.delete(claim_key(ticket.dataset, ticket.version))
        self.store.delete_prefix(self._work(ticket).root)
        logger.warning("distributed run of %s failed: %s: %s", ticket.key, error_type, message)
        return {"status": "failed", "failure_key": failure_key, "error_type": error_type}

    def _previous(self, dataset: str) -> tuple[str | None, ProfileCatalog | None]:
        pointer = read_current(self.store, dataset)
        if pointer is None:
            return None, None
        try:
            manifest = read_manifest(self.store, dataset, pointer.version)
            profiles = read_verified_artifact(self.store, manifest, PROFILES_PATH)
            return pointer.version, ProfileCatalog.model_validate_json(profiles)
        except (NotFoundError, ArtifactError, ValidationError) as e:
            logger.warning("the current profiles of %s are unusable (%s)", dataset, e)
            return pointer.version, None


def _validation_errors() -> set[str]:
    """Names of every :class:`DataValidationError` class (their messages are for users)."""
    names: set[str] = set()
    pending: list[type[Exception]] = [DataValidationError]
    while pending:
        cls = pending.pop()
        names.add(cls.__name__)
        pending.extend(cls.__subclasses__())
    return names


def _describe(error: dict[str, Any]) -> tuple[str, str]:
    """``(error type, message)`` of a ``Catch`` result; internal errors say nothing more."""
    error_type = str(error.get("Error") or "InternalError")
    try:
        cause = json.loads(str(error.get("Cause") or "{}"))
    except ValueError:
        cause = {}
    error_type = str(cause.get("errorType") or error_type)
    if error_type in _validation_errors():
        return error_type, str(cause.get("errorMessage") or error_type)
    return "InternalError", (
        f"the distributed training run failed in one of its steps ({error_type}); the state "
        "machine's execution history and the step function's log have the details"
    )

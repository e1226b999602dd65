"""Score one uploaded file against its dataset's current version and publish the scores.

An upload to ``score/<dataset>/<name>.csv|.csv.gz|.parquet`` in the raw bucket reaches the
training function through the same notification and queue as a training upload;
:class:`ScoreRun` scores it (:func:`shared.engine.scoring.score_file`, chunk by chunk) and writes
``datasets/<dataset>/scores/<name>/scores.csv.gz`` and ``scores.parquet`` (both from one pass),
then ``score.json`` (:class:`~shared.contract.scoring.ScoreRecord`) naming the model version used.

Rules:

- ``score.json`` is written last; a reader that finds it ``done`` finds both files complete;
- a file that cannot be scored (unreadable, a feature column missing, past a size cap, no
  current model) gets a ``failed`` record naming the problem and no scored files; nothing else
  is touched (never ``current.json``, never a version);
- an invalid dataset or file name writes nothing (there is no safe key to write under) and is
  only logged; transient storage errors propagate so the queue retries the message;
- scoring the same object twice writes the same bytes (idempotent redelivery).
"""

from __future__ import annotations

import logging
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from shared.contract.config import validate_dataset_name
from shared.contract.layout import (
    SCORE_RECORD_PATH,
    SCORES_CSV_PATH,
    SCORES_PARQUET_PATH,
    ModelLayout,
    RawLayout,
    score_name,
)
from shared.contract.scoring import SCORE_NAME_PATTERN, ScoreRecord
from shared.exceptions import (
    AlgorithmNotFittedError,
    DataValidationError,
    InvalidDatasetNameError,
    NoModelError,
    TransientStoreError,
)
from shared.quoting import quote_value
from shared.settings import DEFAULT_MAX_DECOMPRESSED_BYTES
from shared.store.base import ModelStore, ObjectNotFoundError, RawUploadReader, UploadInfo

__all__ = ["ScoreResult", "ScoreRun"]

logger = logging.getLogger(__name__)

_NAME = re.compile(SCORE_NAME_PATTERN)


@dataclass(frozen=True)
class ScoreResult:
    """The outcome of one scoring run (for logs and the handler's answer)."""

    status: str
    key: str
    dataset: str | None = None
    name: str | None = None
    record_key: str | None = None
    rows: int = 0
    error: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready view."""
        return {
            "status": self.status,
            "key": self.key,
            "dataset": self.dataset,
            "name": self.name,
            "record_key": self.record_key,
            "rows": self.rows,
            "error": self.error,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class ScoreRun:
    """Turns one ``score/<dataset>/<file>`` upload into scored files and a ``score.json``.

    Examples
    --------
    >>> # ScoreRun(store, raw, max_upload_bytes=2**31).run("score/mall/march.csv").status
    """

    store: ModelStore
    raw: RawUploadReader
    max_upload_bytes: int
    max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def run(self, key: str, *, version_id: str | None = None) -> ScoreResult:
        """Score the object at ``key`` (see the module rules)."""
        started = time.perf_counter()
        result = self._run(key, version_id)
        result = ScoreResult(**{**result.__dict__, "seconds": time.perf_counter() - started})
        logger.info("scoring run %s", result.status, extra={"scoring": result.to_dict()})
        return result

    def _run(self, key: str, version_id: str | None) -> ScoreResult:
        dataset = RawLayout.score_dataset_of(key)
        if dataset is None:
            return ScoreResult("ignored", key, error="not under score/<dataset>/")
        filename = key.rsplit("/", 1)[-1]
        name = score_name(filename)
        try:
            validate_dataset_name(dataset)
        except InvalidDatasetNameError as e:
            logger.warning("rejecting %r: %s", key, e)
            return ScoreResult("rejected", key, error=str(e))
        if not _NAME.match(name):
            message = (
                f"file name {quote_value(name)} is not a safe score name ({SCORE_NAME_PATTERN})"
            )
            logger.warning("rejecting %r: %s", key, message)
            return ScoreResult("rejected", key, dataset=dataset, error=message)
        try:
            info = self.raw.head(key, version_id=version_id)
        except ObjectNotFoundError:
            return ScoreResult("ignored", key, dataset=dataset, error="object not found")
        folder = ModelLayout.scores(dataset, name)
        record_key = folder + SCORE_RECORD_PATH
        try:
            record = self._score(dataset, name, filename, info, folder)
        except TransientStoreError:
            raise
        except (DataValidationError, NoModelError, AlgorithmNotFittedError) as e:
            record = ScoreRecord(
                dataset=dataset,
                name=name,
                status="failed",
                source_key=key,
                created_at=self.clock(),
                error=str(e),
                error_type=type(e).__name__,
            )
        document = record.model_dump_json(indent=2).encode()
        self.store.put_bytes(record_key, document, content_type="application/json")
        return ScoreResult(
            record.status,
            key,
            dataset=dataset,
            name=name,
            record_key=record_key,
            rows=record.rows,
            error=record.error,
        )

    def _score(
        self, dataset: str, name: str, filename: str, info: UploadInfo, folder: str
    ) -> ScoreRecord:
        from shared.engine.scoring import ScoringModel, score_file
        from shared.engine.streaming import TableSource

        model = ScoringModel.current(self.store, dataset)
        outputs = {"csv.gz": folder + SCORES_CSV_PATH, "parquet": folder + SCORES_PARQUET_PATH}
        # The upload and both scored files live in temporary files, never whole in memory.
        with tempfile.TemporaryDirectory(prefix="score-") as work:
            upload = self.raw.spool(info, max_bytes=self.max_upload_bytes, directory=work)
            csv_path, parquet_path = Path(work, SCORES_CSV_PATH), Path(work, SCORES_PARQUET_PATH)
            with csv_path.open("wb") as csv_out, parquet_path.open("wb") as parquet_out:
                summary = score_file(
                    TableSource.from_path(upload, filename),
                    model,
                    {"csv.gz": csv_out, "parquet": parquet_out},
                    max_decompressed_bytes=self.max_decompressed_bytes,
                )
            self.store.put_file(outputs["csv.gz"], csv_path, content_type="application/gzip")
            self.store.put_file(
                outputs["parquet"], parquet_path, content_type="application/octet-stream"
            )
        return ScoreRecord(
            dataset=dataset,
            name=name,
            status="done",
            source_key=f"{RawLayout.SCORES}{dataset}/{filename}",
            created_at=self.clock(),
            model_version=summary.version,
            algorithm=summary.algorithm,
            k=summary.k,
            rows=summary.rows,
            unscored=summary.unscored,
            segment_counts={str(k): v for k, v in summary.segment_counts.items()},
            outputs=outputs,
        )

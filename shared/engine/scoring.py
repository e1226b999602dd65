"""Score a whole customer file against a published version, chunk by chunk.

The API assigns at most ``MAX_ASSIGN_BATCH`` customers per call; a file of millions is scored
here instead, in memory flat in its rows: each chunk of the file
(:mod:`shared.engine.streaming`, any format training reads, decompressed bytes capped) is typed
with the version's schema (:func:`shared.engine.schema.prepare_frame`), prepared by its fitted
preprocessor and assigned by one of its models (default: the champion), and its rows are
written out before the next chunk is read: CSV gzip members appended one after the other (one
valid ``.csv.gz``), or one Parquet row group per chunk.

Each output row: the customer id (the schema's id column, else ``row``: the 1-based data row),
``segment_id``, ``segment_name``, ``confidence`` and ``outlier``, in the file's row order. As in
the API, a customer with more than half of its features missing (imputed) gets an empty
confidence, and one with no known feature gets no segment (every cell empty but its id).

The model is read through the version's manifest: every artifact's sha256 is checked before
it is parsed (:func:`shared.store.base.read_verified_artifact`).
"""

from __future__ import annotations

import gzip
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any, Literal

import numpy as np
import pandas as pd

from shared.contract.layout import PREPROCESSOR_PATH, PROFILES_PATH, model_artifact_path
from shared.contract.manifest import ColumnSchema, Manifest
from shared.contract.profiles import ProfileCatalog
from shared.engine.persistence import load_artifact
from shared.engine.schema import prepare_frame
from shared.engine.streaming import (
    DEFAULT_CHUNK_ROWS,
    CsvFormat,
    TableSource,
    chunk_rows_for,
    iter_chunks,
    sniff_format,
    table_columns,
    with_encoding_fallback,
)
from shared.exceptions import AlgorithmNotFittedError, NoModelError
from shared.quoting import quote_value
from shared.serving.model import LOW_INFORMATION_SHARE
from shared.settings import DEFAULT_MAX_DECOMPRESSED_BYTES
from shared.store.base import ModelStore, read_current, read_manifest, read_verified_artifact

__all__ = [
    "SCORE_COLUMNS",
    "SCORE_GZIP_LEVEL",
    "ScoreFormat",
    "ScoreSummary",
    "ScoringModel",
    "score_chunk",
    "score_file",
]

logger = logging.getLogger(__name__)

SCORE_COLUMNS = ("segment_id", "segment_name", "confidence", "outlier")
"""The columns after the customer id."""
SCORE_GZIP_LEVEL = 6
"""gzip level of ``.csv.gz`` scores (gzip's own default, a fair speed/size balance)."""
ROW_COLUMN = "row"
"""The id column's name when the schema has no id: the 1-based data row of the file."""

ScoreFormat = Literal["csv.gz", "parquet"]


@dataclass(frozen=True)
class ScoringModel:
    """One model of a published version, loaded for scoring files.

    ``names`` maps each internal label to its ``(segment_id, name)``.
    """

    dataset: str
    version: str
    algorithm: str
    k: int | None
    columns: list[ColumnSchema]
    transformer: Any
    assigner: Any
    names: dict[int, tuple[int, str]]

    @property
    def id_column(self) -> str | None:
        """The schema's id column, if any."""
        return next((c.name for c in self.columns if c.role == "id"), None)

    @classmethod
    def from_version(
        cls, store: ModelStore, manifest: Manifest, algorithm: str | None = None
    ) -> ScoringModel:
        """The chosen model of ``algorithm`` (default the champion) of a version."""
        algorithm = algorithm or manifest.champion
        summary = manifest.algorithms.get(algorithm)
        if summary is None:
            raise AlgorithmNotFittedError(
                f"{quote_value(algorithm)} was not fitted in {manifest.dataset} version "
                f"{manifest.version}; fitted: {', '.join(sorted(manifest.algorithms))}"
            )
        catalog = ProfileCatalog.model_validate_json(
            read_verified_artifact(store, manifest, PROFILES_PATH)
        )
        segments = catalog.sets[catalog.chosen[algorithm]]
        return cls(
            dataset=manifest.dataset,
            version=manifest.version,
            algorithm=algorithm,
            k=summary.k,
            columns=list(manifest.columns),
            transformer=load_artifact(read_verified_artifact(store, manifest, PREPROCESSOR_PATH)),
            assigner=load_artifact(
                read_verified_artifact(store, manifest, model_artifact_path(algorithm, summary.k))
            ),
            names={s.label: (s.segment_id, s.name) for s in segments.segments},
        )

    @classmethod
    def current(cls, store: ModelStore, dataset: str, algorithm: str | None = None) -> ScoringModel:
        """The current version's model (``current.json``).

        Raises
        ------
        NoModelError
            The dataset has no current version.
        """
        pointer = read_current(store, dataset)
        if pointer is None:
            raise NoModelError(f"dataset {quote_value(dataset)} has no current model to score with")
        return cls.from_version(store, read_manifest(store, dataset, pointer.version), algorithm)


@dataclass
class ScoreSummary:
    """What a scoring run did (also the ``score.json`` record's numbers)."""

    dataset: str
    version: str
    algorithm: str
    k: int | None
    rows: int = 0
    unscored: int = 0
    """Rows with no known feature (no segment)."""
    segment_counts: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0


def score_chunk(model: ScoringModel, frame: pd.DataFrame, first_row: int = 0) -> pd.DataFrame:
    """Score the rows of one chunk (see the module notes for the columns).

    Examples
    --------
    See ``tests/unit/test_scoring.py``: the scores of a trained version's own upload equal its
    ``assignments.csv.gz``.
    """
    features = prepare_frame(frame, model.columns)
    n_features = features.shape[1]
    missing = features.isna().to_numpy().sum(axis=1)
    known = missing < n_features
    n = len(frame)
    segment = np.full(n, -1, dtype=np.int64)
    confidence = np.full(n, np.nan)
    outlier = np.zeros(n, dtype=bool)
    label_of = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
    if known.any():
        rows = features if known.all() else features.loc[known]
        X = np.asarray(model.transformer.transform(rows), dtype=np.float64)
        batch = model.assigner.assign(X)
        label_of[known] = batch.labels
        confidence[known] = batch.confidence
        outlier[known] = batch.outlier
    confidence[missing > n_features * LOW_INFORMATION_SHARE] = np.nan
    labels = np.array(sorted(model.names), dtype=np.int64)
    ids = np.array([model.names[int(v)][0] for v in labels], dtype=np.int64)
    names = np.array([model.names[int(v)][1] for v in labels], dtype=object)
    position = np.searchsorted(labels, label_of[known])
    segment[known] = ids[position]
    segment_name = np.full(n, None, dtype=object)
    segment_name[known] = names[position]
    id_name = model.id_column
    if id_name is not None:
        customer = frame[id_name].reset_index(drop=True)
    else:
        id_name = ROW_COLUMN
        customer = pd.Series(np.arange(first_row + 1, first_row + n + 1))
    segment_ids = pd.array(segment, dtype="Int64")
    flags = pd.array(outlier, dtype="boolean")
    if not known.all():
        segment_ids[~known] = pd.NA
        flags[~known] = pd.NA
    return pd.DataFrame(
        {
            id_name: customer,
            "segment_id": segment_ids,
            "segment_name": segment_name,
            "confidence": np.round(confidence, 6),
            "outlier": flags,
        }
    )


def score_file(
    source: TableSource,
    model: ScoringModel,
    outputs: Mapping[ScoreFormat, IO[bytes]],
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
    progress: Callable[[int], None] | None = None,
) -> ScoreSummary:
    """Score every row of ``source`` with ``model`` and write the scores to ``out``.

    Parameters
    ----------
    source : TableSource
        The customer file (any format training reads).
    model : ScoringModel
        The model to score with (:meth:`ScoringModel.current`).
    outputs : mapping
        Where the scores go, per format: ``{"csv.gz": file}``, ``{"parquet": file}`` or both
        (written in the same pass).
    progress : callable, optional
        Called with the number of rows scored so far after each chunk.

    Raises
    ------
    DataValidationError
        The file cannot be read (the subclass and message name the problem), a feature column
        is missing (:class:`MissingColumnError`), or it is past ``max_decompressed_bytes``.
    """
    started = time.perf_counter()
    fmt = sniff_format(source, max_decompressed_bytes=max_decompressed_bytes)
    chunk_rows = chunk_rows_for(table_columns(source, fmt), chunk_rows)

    def run(fmt: CsvFormat | None) -> ScoreSummary:
        summary = ScoreSummary(model.dataset, model.version, model.algorithm, model.k)
        writers = [_Writer(out, kind) for kind, out in outputs.items()]
        chunks = iter_chunks(
            source, fmt, chunk_rows=chunk_rows, max_decompressed_bytes=max_decompressed_bytes
        )
        for chunk in chunks:
            scores = score_chunk(model, chunk.frame, chunk.first_row)
            for writer in writers:
                writer.write(scores)
            summary.rows += len(scores)
            ids = scores["segment_id"]
            summary.unscored += int(ids.isna().sum())
            for segment_id, count in ids.dropna().value_counts().items():
                key = int(segment_id)  # type: ignore[call-overload]
                summary.segment_counts[key] = summary.segment_counts.get(key, 0) + int(count)
            if progress is not None:
                progress(summary.rows)
        for writer in writers:
            writer.close()
        return summary

    positions = {kind: out.tell() for kind, out in outputs.items() if out.seekable()}

    def again(fmt: CsvFormat | None) -> ScoreSummary:
        for kind, out in outputs.items():  # a Latin-1 second pass starts the outputs again
            if kind in positions and out.tell() != positions[kind]:
                out.seek(positions[kind])
                out.truncate()
        return run(fmt)

    summary = with_encoding_fallback(fmt, again)
    summary.segment_counts = dict(sorted(summary.segment_counts.items()))
    summary.seconds = time.perf_counter() - started
    logger.info(
        "scored %s rows of %s with %s/%s %s in %.1f s",
        summary.rows,
        source.filename,
        model.dataset,
        model.version,
        model.algorithm,
        summary.seconds,
    )
    return summary


class _Writer:
    """Appends score chunks to ``out``: gzip members of CSV, or Parquet row groups."""

    def __init__(self, out: IO[bytes], output_format: ScoreFormat) -> None:
        self._out = out
        self._format = output_format
        self._parquet: Any = None
        self._header = True

    def write(self, scores: pd.DataFrame) -> None:
        if self._format == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(scores, preserve_index=False)
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self._out, table.schema)
            self._parquet.write_table(table.cast(self._parquet.schema))
            return
        text = scores.to_csv(index=False, header=self._header, lineterminator="\n")
        self._header = False
        self._out.write(gzip.compress(text.encode("utf-8"), SCORE_GZIP_LEVEL, mtime=0))

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()

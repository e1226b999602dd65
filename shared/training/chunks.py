"""Pass 2 of a streaming training run: the map function over chunks and the reduce.

:func:`assign_chunk` (map) types one chunk with the sample's schema, checks it against that
schema, prepares it with the fitted preprocessor, assigns it with every algorithm's chosen model
and returns the chunk's per-segment statistics and its rows of ``assignments.csv.gz`` (one gzip
member: members concatenate into one valid gzip file). :func:`reduce_chunks` merges the results
in chunk order into the sample's :class:`~shared.training.pipeline.TrainingOutput`. Both are
plain functions of plain (picklable) data: a local process pool, or any other runner of map
tasks, calls them as they are. See :mod:`shared.training.streaming` for the whole run.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from shared.contract.evaluation import Evaluation
from shared.contract.layout import (
    ASSIGNMENTS_PATH,
    EVALUATION_PATH,
    PLOTS_PATH,
    PREPROCESSOR_PATH,
    PROFILES_PATH,
    REPORT_PATH,
    model_artifact_path,
)
from shared.contract.manifest import ColumnSchema, RowCounts
from shared.contract.plots import PlotData
from shared.contract.profiles import OUTLIER_SEGMENT_ID
from shared.engine.schema import PARSE_SHARE, prepare_frame
from shared.engine.segment_stats import SegmentStats, apply_segment_stats
from shared.engine.streaming import TableChunk
from shared.exceptions import SchemaViolationError
from shared.quoting import quote_value
from shared.serving.values import MISSING_TOKENS
from shared.training.pipeline import ASSIGNMENTS_FORMULA_PREFIXES, TrainingOutput

__all__ = ["CHECKED_CHUNK_ROWS", "AssignPlan", "ChunkResult", "assign_chunk", "reduce_chunks"]

logger = logging.getLogger(__name__)

CHECKED_CHUNK_ROWS = 1_000
"""Chunks at least this long fail on their own when a column breaks the schema."""
_BAD_SHARE = 1.0 - PARSE_SHARE


# --- the map function ------------------------------------------------------------------------


@dataclass(frozen=True)
class AssignPlan:
    """What a map task needs, as plain picklable data (the skops artifacts as bytes).

    ``models`` maps each algorithm to its chosen model's artifact bytes, ``labels`` to the
    model's internal labels (group order of its statistics) and ``segment_ids`` to the segment
    id of each label.
    """

    columns: list[ColumnSchema]
    preprocessor: bytes
    models: dict[str, bytes]
    labels: dict[str, tuple[int, ...]]
    segment_ids: dict[str, dict[int, int]]
    id_column: str | None
    outcomes: list[str]
    key: str

    @classmethod
    def from_output(cls, output: TrainingOutput) -> AssignPlan:
        """The plan of a trained sample's output (its chosen models)."""
        catalog = output.profiles
        models: dict[str, bytes] = {}
        labels: dict[str, tuple[int, ...]] = {}
        segment_ids: dict[str, dict[int, int]] = {}
        for algorithm, summary in output.algorithms.items():
            models[algorithm] = output.artifacts[model_artifact_path(algorithm, summary.k)]
            segments = catalog.sets[catalog.chosen[algorithm]]
            mapping = {s.label: s.segment_id for s in segments.segments}
            if algorithm == "dbscan":
                mapping.setdefault(OUTLIER_SEGMENT_ID, OUTLIER_SEGMENT_ID)
            labels[algorithm] = tuple(sorted(mapping))
            segment_ids[algorithm] = mapping
        preprocessor = output.artifacts[PREPROCESSOR_PATH]
        digest = hashlib.sha256(preprocessor)
        for algorithm in sorted(models):
            digest.update(models[algorithm])
        return cls(
            columns=list(output.columns),
            preprocessor=preprocessor,
            models=models,
            labels=labels,
            segment_ids=segment_ids,
            id_column=next((c.name for c in output.columns if c.role == "id"), None),
            outcomes=sorted(catalog.sets[catalog.chosen[output.champion]].population_outcomes),
            key=digest.hexdigest(),
        )


@dataclass
class ChunkResult:
    """What the map task of one chunk returns to the reduce."""

    first_row: int
    rows: int
    used: int
    imputed: dict[str, int]
    unparseable: dict[str, tuple[int, int, str]]
    """Per numeric or date column: (count, first such row (1-based), its value)."""
    stats: dict[str, SegmentStats]
    part: bytes
    """Rows of ``assignments.csv.gz`` (no header), one gzip member."""
    segment_rows: dict[str, np.ndarray] = field(default_factory=dict)


_LOADED: dict[str, tuple[Any, dict[str, Any]]] = {}


def _loaded(plan: AssignPlan) -> tuple[Any, dict[str, Any]]:
    """The plan's fitted preprocessor and assigners, loaded once per process."""
    if plan.key not in _LOADED:
        from shared.engine.persistence import load_artifact

        _LOADED.clear()
        _LOADED[plan.key] = (
            load_artifact(plan.preprocessor),
            {a: load_artifact(blob) for a, blob in plan.models.items()},
        )
    return _LOADED[plan.key]


def _unparseable(raw: pd.Series, typed: pd.Series, first_row: int) -> tuple[int, int, str] | None:
    """Cells with a value that did not type (numeric or date column)."""
    if pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(raw.dtype):
        return None
    text = raw.astype(object).where(raw.notna(), "").astype(str).str.strip()
    blank = (text == "") | text.isin(MISSING_TOKENS)
    bad = typed.isna().to_numpy() & ~blank.to_numpy()
    count = int(bad.sum())
    if not count:
        return None
    i = int(np.flatnonzero(bad)[0])
    return count, first_row + i + 1, str(raw.iloc[i])


def _violation(column: str, count: int, rows: int, row: int, value: str, where: str) -> str:
    return (
        f"column {quote_value(column)}: {count:,} of {rows:,} values {where} are not of the "
        f"type the sample established (more than {_BAD_SHARE:.0%}); first at row {row:,}: "
        f"{quote_value(value)}"
    )


def assign_chunk(plan: AssignPlan, chunk: TableChunk) -> ChunkResult:
    """The map function: type, check, prepare and assign one chunk; its statistics and part.

    Raises
    ------
    SchemaViolationError
        A chunk of at least :data:`CHECKED_CHUNK_ROWS` rows with more than 5 % of a numeric or
        date column unparseable (naming column, row and value).
    MissingColumnError
        A feature column is absent.
    """
    transformer, assigners = _loaded(plan)
    frame = chunk.frame
    features = prepare_frame(frame, plan.columns)
    unparseable: dict[str, tuple[int, int, str]] = {}
    for column in plan.columns:
        if not column.used or column.role not in ("numeric", "date"):
            continue
        found = _unparseable(frame[column.name], features[column.name], chunk.first_row)
        if found is None:
            continue
        unparseable[column.name] = found
        count, row, value = found
        if len(frame) >= CHECKED_CHUNK_ROWS and count > _BAD_SHARE * len(frame):
            where = f"in rows {chunk.first_row + 1:,}..{chunk.first_row + len(frame):,}"
            raise SchemaViolationError(
                _violation(column.name, count, len(frame), row, value, where)
            )
    keep = ~features.isna().all(axis=1).to_numpy()
    if not keep.all():
        features = features.loc[keep].reset_index(drop=True)
    imputed = {str(name): int(n) for name, n in features.isna().sum().items() if n}
    X = np.asarray(transformer.transform(features), dtype=np.float64)
    hashes = np.asarray(
        pd.util.hash_pandas_object(features, index=False).to_numpy(), dtype=np.uint64
    )
    outcome_frame = None
    if plan.outcomes:
        outcome_columns = [
            c.model_copy(update={"used": True, "role": "categorical"})
            for c in plan.columns
            if c.name in plan.outcomes
        ]
        outcome_frame = prepare_frame(frame.loc[keep], outcome_columns)
    numeric = [c.name for c in plan.columns if c.used and c.role in ("numeric", "date")]
    categorical = [c.name for c in plan.columns if c.used and c.role == "categorical"]
    stats: dict[str, SegmentStats] = {}
    segment_columns: dict[str, np.ndarray] = {}
    for algorithm, assigner in assigners.items():
        labels = np.asarray(assigner.predict(X), dtype=np.int64)
        order = plan.labels[algorithm]
        known = np.asarray(order, dtype=np.int64)  # sorted
        group = np.searchsorted(known, labels).astype(np.int64)
        if labels.size and not np.array_equal(known[np.minimum(group, known.size - 1)], labels):
            raise ValueError(f"{algorithm} assigned a label outside its segments {order}")
        ids = np.array([plan.segment_ids[algorithm][label] for label in order], dtype=np.int64)
        segment_columns[algorithm] = ids[group]
        stats[algorithm] = SegmentStats.from_rows(
            order,
            group,
            features,
            X,
            hashes,
            numeric=numeric,
            categorical=categorical,
            outcomes=outcome_frame,
        )
    part = _assignment_rows(frame, keep, plan.id_column, segment_columns)
    return ChunkResult(
        first_row=chunk.first_row,
        rows=len(frame),
        used=int(keep.sum()),
        imputed=imputed,
        unparseable=unparseable,
        stats=stats,
        part=part,
    )


def _neutralise(value: object) -> object:
    if isinstance(value, str) and value.startswith(ASSIGNMENTS_FORMULA_PREFIXES):
        return "'" + value
    return value


def _assignment_rows(
    frame: pd.DataFrame, keep: np.ndarray, id_column: str | None, columns: dict[str, np.ndarray]
) -> bytes:
    out = pd.DataFrame(columns)
    if id_column is not None:
        ids = frame[id_column].loc[keep].reset_index(drop=True)
        if ids.dtype == object or pd.api.types.is_string_dtype(ids.dtype):
            ids = ids.map(_neutralise)
        out.insert(0, id_column, ids)
    text = out.to_csv(index=False, header=False, lineterminator="\n").encode("utf-8")
    return gzip.compress(text, compresslevel=6, mtime=0)


def _assignments_header(id_column: str | None, algorithms: list[str]) -> bytes:
    names = [str(_neutralise(id_column))] if id_column is not None else []
    names += [str(_neutralise(a)) for a in algorithms]
    text = pd.DataFrame(columns=names).to_csv(index=False, lineterminator="\n")
    return gzip.compress(text.encode("utf-8"), compresslevel=6, mtime=0)


# --- the reduce ---------------------------------------------------------------------------------


@dataclass
class _Reduction:
    rows: int = 0
    used: int = 0
    imputed: dict[str, int] = field(default_factory=dict)
    unparseable: dict[str, tuple[int, int, str]] = field(default_factory=dict)
    stats: dict[str, SegmentStats] = field(default_factory=dict)
    assignments: IO[bytes] | None = None
    """Where the chunks' rows of ``assignments.csv.gz`` are appended as they arrive."""

    def add(self, result: ChunkResult) -> None:
        self.rows += result.rows
        self.used += result.used
        for name, n in result.imputed.items():
            self.imputed[name] = self.imputed.get(name, 0) + n
        for name, (count, row, value) in result.unparseable.items():
            before = self.unparseable.get(name)
            if before is None:
                self.unparseable[name] = (count, row, value)
            else:
                self.unparseable[name] = (before[0] + count, before[1], before[2])
        for algorithm, stats in result.stats.items():
            mine = self.stats.get(algorithm)
            self.stats[algorithm] = stats if mine is None else mine.merge(stats)
        if self.assignments is not None:
            self.assignments.write(result.part)


def reduce_chunks(
    output: TrainingOutput,
    plan: AssignPlan,
    results: Iterable[ChunkResult],
    *,
    dataset: str = "dataset",
) -> TrainingOutput:
    """The reduce: merge the chunks' results (in chunk order) into the sample's output.

    Returns the output with exact row counts, the chosen models' profiles from every row, the
    report re-rendered with them, and ``assignments.csv.gz`` of every row, written chunk by
    chunk to a temporary file (``TrainingOutput.artifact_files``; the publisher streams it to
    the store, multipart on S3, and deletes it): nothing of it stays in memory.

    Raises
    ------
    SchemaViolationError
        More than 5 % of a numeric or date column unparseable over the whole file.
    """
    handle, name = tempfile.mkstemp(prefix="assignments-", suffix=".csv.gz")
    assignments = Path(name)
    try:
        with os.fdopen(handle, "wb") as sink:
            sink.write(_assignments_header(plan.id_column, list(plan.models)))
            total = _Reduction(assignments=sink)
            for result in results:
                total.add(result)
        for column, (count, row, value) in total.unparseable.items():
            if count > _BAD_SHARE * total.rows:
                raise SchemaViolationError(
                    _violation(column, count, total.rows, row, value, "in the whole file")
                )
        return _reduced(output, total, assignments, dataset)
    except BaseException:
        assignments.unlink(missing_ok=True)
        raise


def _reduced(
    output: TrainingOutput, total: _Reduction, assignments: Path, dataset: str
) -> TrainingOutput:
    """The sample's output with the merged statistics applied (see :func:`reduce_chunks`)."""
    catalog = output.profiles
    sets = dict(catalog.sets)
    for algorithm, stats in total.stats.items():
        key = catalog.chosen[algorithm]
        sets[key] = apply_segment_stats(sets[key], stats)
    catalog = catalog.model_copy(update={"sets": sets})
    dropped = total.rows - total.used
    rows = RowCounts(
        read=total.rows,
        used=total.used,
        dropped=dropped,
        dropped_reasons={"every feature missing": dropped} if dropped else {},
        imputed_values={
            c.name: total.imputed[c.name] for c in output.columns if c.name in total.imputed
        },
    )
    columns = [
        c.model_copy(update={"missing": total.imputed.get(c.name, 0)}) if c.used else c
        for c in output.columns
    ]
    warnings = [
        f"trained on a hash sample of {output.rows.read:,} of {total.rows:,} rows (streaming "
        "run): the chosen models' segment sizes, shares, means, spreads and mixes count every "
        "row; metrics, names, other k and plots come from the sample",
        *output.warnings,
    ]
    artifacts = dict(output.artifacts)
    artifacts[PROFILES_PATH] = catalog.model_dump_json().encode("utf-8")
    artifacts.pop(ASSIGNMENTS_PATH, None)  # the sample's; every row's is in the file
    from shared.report.html import render_report_html

    artifacts[REPORT_PATH] = render_report_html(
        title=f"Customer segments: {dataset}",
        plot_data=PlotData.model_validate_json(output.artifacts[PLOTS_PATH]),
        evaluation=Evaluation.model_validate_json(output.artifacts[EVALUATION_PATH]),
        profiles=catalog,
        columns=columns,
        rows=rows,
        warnings=warnings,
    ).encode("utf-8")
    return replace(
        output,
        rows=rows,
        columns=columns,
        profiles=catalog,
        artifacts=artifacts,
        warnings=warnings,
        timings=dict(output.timings),
        artifact_files={ASSIGNMENTS_PATH: assignments},
    )

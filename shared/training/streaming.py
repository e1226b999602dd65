"""Train on files of any number of rows in bounded memory: two streaming passes, map/reduce.

The in-memory run (:func:`shared.training.pipeline.train_segments`) holds the whole table; its
peak grows by about 1.2 GB per million rows. Its models are fitted on samples anyway (K-Means on
at most 50,000 rows, metrics on 100,000...): what grows with the rows is reading, preparing,
assigning and profiling every one of them. :func:`train_streaming` splits the run in two passes
over the file, each holding one chunk (:mod:`shared.engine.streaming`) at a time:

1. **Sample** (:func:`hash_sample`): every row's content hash (``shared.engine.row_order``'s
   hash of the row's cells as written, so the type pandas guesses for one chunk never enters it)
   and the :data:`SAMPLE_ROWS` rows with the smallest hashes: a deterministic, order-independent
   sample (any permutation or chunking of the file gives the same rows). The in-memory run then
   trains on the sample exactly as it trains a small upload: schema inference, preprocessing,
   every algorithm's sweep, metrics, selection, names, plots, report and artifacts.
2. **Assign** (the map function :func:`assign_chunk`, the reduce :func:`reduce_chunks`): every
   chunk is typed with the sample's schema (:func:`shared.engine.schema.prepare_frame`), checked
   against it, prepared by the fitted preprocessor and assigned by each algorithm's chosen
   model; the chunk's per-segment sufficient statistics
   (:class:`shared.engine.segment_stats.SegmentStats`) and its part of ``assignments.csv.gz``
   (one gzip member; members concatenate into one valid gzip file) are returned. The reduce
   merges them in chunk order, so the chosen models' profiles get exact sizes, shares, means,
   spreads, ranges, category mixes, outcome rates and centroids over every row, and the row
   counts are those of the whole file.

The map and reduce are plain functions: :func:`train_streaming` runs the map in this process
(``workers=1``) or in a local process pool (``workers=N``); since each chunk's result does not
depend on where it ran and the reduce merges in chunk order, both give identical output.

Rules the tests pin:

- a row's segment is the same as the in-memory run gives when the file fits in the sample
  (then the sample is the whole file);
- the schema of the sample is enforced on every chunk: a chunk of at least
  :data:`CHECKED_CHUNK_ROWS` rows in which more than 5 % of a numeric or date column does not
  parse, or more than 5 % over the whole file, is a :class:`SchemaViolationError` naming the
  column, the first such row and its value;
- decompressed bytes past ``MAX_DECOMPRESSED_BYTES`` are a :class:`FileTooLargeError`.

What stays sample-based, and says so in the manifest's warnings: the segment names and the
details of their descriptions, the non-chosen k of each sweep, the metrics, plots and report
figures (the report's tables show the exact profiles).
"""

from __future__ import annotations

import gzip
import io
import logging
import time
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from shared.contract.config import DatasetConfig, parse_config
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
from shared.contract.profiles import OUTLIER_SEGMENT_ID, ProfileCatalog
from shared.engine.row_order import row_hashes
from shared.engine.schema import PARSE_SHARE, prepare_frame
from shared.engine.segment_stats import SegmentStats, apply_segment_stats
from shared.engine.streaming import (
    DEFAULT_CHUNK_ROWS,
    CsvFormat,
    TableChunk,
    TableSource,
    iter_chunks,
    sniff_format,
    with_encoding_fallback,
)
from shared.exceptions import SchemaViolationError
from shared.quoting import quote_value
from shared.serving.values import MISSING_TOKENS
from shared.settings import DEFAULT_MAX_DECOMPRESSED_BYTES
from shared.training.pipeline import ASSIGNMENTS_FORMULA_PREFIXES, TrainingOutput, train_segments

__all__ = [
    "CHECKED_CHUNK_ROWS",
    "SAMPLE_ROWS",
    "AssignPlan",
    "ChunkResult",
    "SamplePass",
    "assign_chunk",
    "hash_sample",
    "reduce_chunks",
    "train_streaming",
    "train_streaming_bytes",
]

logger = logging.getLogger(__name__)

SAMPLE_ROWS = 200_000
"""Rows of the hash sample the models are fitted on: twice the largest sample any step of the
in-memory run draws (metrics: 100,000), so the fits see what they would see in memory."""
CHECKED_CHUNK_ROWS = 1_000
"""Chunks at least this long fail on their own when a column breaks the schema."""
_BAD_SHARE = 1.0 - PARSE_SHARE


@dataclass(frozen=True)
class SamplePass:
    """Pass 1: the sample as a file the in-memory run reads, and the file's row count."""

    data: bytes
    filename: str
    rows: int
    fmt: CsvFormat | None


def hash_sample(
    source: TableSource,
    *,
    sample_rows: int = SAMPLE_ROWS,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
) -> SamplePass:
    """The ``sample_rows`` rows of ``source`` with the smallest content hashes (pass 1).

    The sample is written back in the file's own format (CSV with its separator, as UTF-8; or
    Parquet), so the in-memory reader types it as it types a small upload.

    Examples
    --------
    >>> rows = "".join(f"{i},{i % 7}\\n" for i in range(100))
    >>> a = hash_sample(TableSource.from_bytes(("id,v\\n" + rows).encode(), "a.csv"),
    ...                 sample_rows=10, chunk_rows=7)
    >>> shuffled = "".join(sorted(rows.splitlines(keepends=True), key=lambda r: r[::-1]))
    >>> b = hash_sample(TableSource.from_bytes(("id,v\\n" + shuffled).encode(), "b.csv"),
    ...                 sample_rows=10, chunk_rows=33)
    >>> a.rows, a.data == b.data, len(a.data.splitlines())
    (100, True, 11)
    """
    fmt = sniff_format(source, max_decompressed_bytes=max_decompressed_bytes)

    def run(fmt: CsvFormat | None) -> SamplePass:
        kept: pd.DataFrame | None = None
        kept_hashes = np.empty(0, dtype=np.uint64)
        rows = 0
        chunks = iter_chunks(
            source,
            fmt,
            chunk_rows=chunk_rows,
            max_decompressed_bytes=max_decompressed_bytes,
            text=True,
        )
        for chunk in chunks:
            rows += len(chunk.frame)
            hashes = row_hashes(chunk.frame)
            frame = chunk.frame
            if kept is not None and len(kept) >= sample_rows:
                candidates = hashes < kept_hashes[-1]
                frame, hashes = frame[candidates], hashes[candidates]
            if kept is None:
                kept = frame
            elif len(frame):
                kept = pd.concat([kept, frame], ignore_index=True)
            else:
                continue
            kept_hashes = np.concatenate([kept_hashes, hashes])
            order = np.argsort(kept_hashes, kind="stable")[:sample_rows]
            kept = kept.take(order).reset_index(drop=True)
            kept_hashes = kept_hashes[order]
        assert kept is not None  # iter_chunks raises on a file without rows
        return SamplePass(*_sample_file(kept, fmt, source.filename), rows=rows, fmt=fmt)

    return with_encoding_fallback(fmt, run)


def _sample_file(kept: pd.DataFrame, fmt: CsvFormat | None, filename: str) -> tuple[bytes, str]:
    stem = filename.rsplit("/", 1)[-1]
    if fmt is None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        buffer = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(kept, preserve_index=False), buffer)
        return buffer.getvalue(), f"{stem} (sample).parquet"
    text = kept.to_csv(index=False, sep=fmt.sep, lineterminator="\n")
    return text.encode("utf-8"), f"{stem} (sample).csv"


# --- pass 2: the map function ------------------------------------------------------------------


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
        import hashlib

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
    imputed = {name: int(n) for name, n in features.isna().sum().items() if n}
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


# --- pass 2: the reduce ------------------------------------------------------------------------


@dataclass
class _Reduction:
    rows: int = 0
    used: int = 0
    imputed: dict[str, int] = field(default_factory=dict)
    unparseable: dict[str, tuple[int, int, str]] = field(default_factory=dict)
    stats: dict[str, SegmentStats] = field(default_factory=dict)
    parts: list[bytes] = field(default_factory=list)

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
        self.parts.append(result.part)


def reduce_chunks(
    output: TrainingOutput,
    plan: AssignPlan,
    results: Iterator[ChunkResult],
    *,
    dataset: str = "dataset",
) -> TrainingOutput:
    """The reduce: merge the chunks' results (in chunk order) into the sample's output.

    Returns the output with exact row counts, the chosen models' profiles from every row, the
    report re-rendered with them, and ``assignments.csv.gz`` of every row.

    Raises
    ------
    SchemaViolationError
        More than 5 % of a numeric or date column unparseable over the whole file.
    """
    total = _Reduction()
    for result in results:
        total.add(result)
    for name, (count, row, value) in total.unparseable.items():
        if count > _BAD_SHARE * total.rows:
            raise SchemaViolationError(
                _violation(name, count, total.rows, row, value, "in the whole file")
            )
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
        imputed_values=dict(sorted(total.imputed.items())),
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
    header = _assignments_header(plan.id_column, list(plan.models))
    artifacts[ASSIGNMENTS_PATH] = header + b"".join(total.parts)
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
    return TrainingOutput(
        rows=rows,
        columns=columns,
        config=output.config,
        champion=output.champion,
        algorithms=output.algorithms,
        selection=output.selection,
        feature_names=output.feature_names,
        profiles=catalog,
        evaluation=output.evaluation,
        artifacts=artifacts,
        warnings=warnings,
        timings=dict(output.timings),
    )


# --- the whole run -----------------------------------------------------------------------------


def _map_chunks(
    plan: AssignPlan, chunks: Iterator[TableChunk], workers: int
) -> Iterator[ChunkResult]:
    """``assign_chunk`` over the chunks, in order: here, or in a pool of ``workers``
    processes with at most two chunks per worker in flight (memory stays bounded)."""
    if workers <= 1:
        for chunk in chunks:
            yield assign_chunk(plan, chunk)
        return
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending: list[Future[ChunkResult]] = []
        for chunk in chunks:
            pending.append(pool.submit(assign_chunk, plan, chunk))
            if len(pending) >= 2 * workers:
                yield pending.pop(0).result()
        for future in pending:
            yield future.result()


def train_streaming(
    source: TableSource,
    *,
    config: DatasetConfig | None = None,
    previous: ProfileCatalog | None = None,
    dataset: str = "dataset",
    random_state: int = 0,
    max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
    workers: int = 1,
    sample_rows: int = SAMPLE_ROWS,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> TrainingOutput:
    """Train on ``source`` in two streaming passes (see the module notes).

    Parameters are those of :func:`shared.training.pipeline.train_segments`, plus ``workers``
    (map tasks side by side; 1 runs them in this process), ``sample_rows`` and ``chunk_rows``.

    Examples
    --------
    >>> from pathlib import Path
    >>> out = train_streaming(TableSource.from_path("data/mall_customers.csv"),
    ...     config=DatasetConfig(features=["Annual Income (k$)", "Spending Score (1-100)"],
    ...                          algorithms=["kmeans"]), chunk_rows=64)
    >>> out.algorithms["kmeans"].k, out.rows.read
    (5, 200)
    """
    started = time.perf_counter()
    config = parse_config(config)
    sample = hash_sample(
        source,
        sample_rows=sample_rows,
        chunk_rows=chunk_rows,
        max_decompressed_bytes=max_decompressed_bytes,
    )
    sampled = time.perf_counter()
    output = train_segments(
        sample.data,
        filename=sample.filename,
        config=config,
        previous=previous,
        dataset=dataset,
        random_state=random_state,
        max_decompressed_bytes=max_decompressed_bytes,
    )
    fitted = time.perf_counter()
    plan = AssignPlan.from_output(output)

    def run(fmt: CsvFormat | None) -> TrainingOutput:
        chunks = iter_chunks(
            source, fmt, chunk_rows=chunk_rows, max_decompressed_bytes=max_decompressed_bytes
        )
        result = reduce_chunks(output, plan, _map_chunks(plan, chunks, workers), dataset=dataset)
        result.timings.clear()
        return result

    result = with_encoding_fallback(sample.fmt, run)
    finished = time.perf_counter()
    result.timings.update(
        {
            "sample": sampled - started,
            **{f"sample_fit:{k}": v for k, v in output.timings.items()},
            "sample_fit": fitted - sampled,
            "assign": finished - fitted,
        }
    )
    logger.info(
        "streaming training run finished",
        extra={
            "dataset": dataset,
            "rows": result.rows.read,
            "sample_rows": output.rows.read,
            "workers": workers,
            "seconds": {k: round(v, 3) for k, v in result.timings.items()},
        },
    )
    return result


def train_streaming_bytes(
    data: bytes,
    *,
    filename: str,
    config: DatasetConfig | None = None,
    previous: ProfileCatalog | None = None,
    dataset: str = "dataset",
    random_state: int = 0,
    max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
) -> TrainingOutput:
    """:func:`train_streaming` with the signature of ``train_segments`` (a ``TrainingEngine``
    for :class:`shared.training.run.TrainingRun`)."""
    return train_streaming(
        TableSource.from_bytes(data, filename),
        config=config,
        previous=previous,
        dataset=dataset,
        random_state=random_state,
        max_decompressed_bytes=max_decompressed_bytes,
    )

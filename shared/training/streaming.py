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
  :data:`~shared.training.chunks.CHECKED_CHUNK_ROWS` rows in which more than 5 % of a numeric
  or date column does not parse, or more than 5 % over the whole file, is a
  :class:`SchemaViolationError` naming the column, the first such row and its value;
- decompressed bytes past ``MAX_DECOMPRESSED_BYTES`` are a :class:`FileTooLargeError`.

Order-line uploads (``shared.engine.transactions``) are recognised on the sample and then
trained in memory on the whole file: a sample of lines is not a sample of customers.

What stays sample-based, and says so in the manifest's warnings: the segment names and the
details of their descriptions, the non-chosen k of each sweep, the metrics, plots and report
figures (the report's tables show the exact profiles).
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from shared.contract.config import DatasetConfig, parse_config
from shared.contract.profiles import ProfileCatalog
from shared.engine.row_order import row_hashes
from shared.engine.streaming import (
    DEFAULT_CHUNK_ROWS,
    CsvFormat,
    TableChunk,
    TableSource,
    chunk_rows_for,
    iter_chunks,
    sniff_format,
    table_columns,
    with_encoding_fallback,
    written_separator,
)
from shared.settings import DEFAULT_MAX_DECOMPRESSED_BYTES
from shared.training.chunks import AssignPlan, ChunkResult, assign_chunk, reduce_chunks
from shared.training.pipeline import TrainingOutput, train_segments

__all__ = [
    "SAMPLE_ROWS",
    "SamplePass",
    "hash_sample",
    "train_streaming",
]

logger = logging.getLogger(__name__)

SAMPLE_ROWS = 200_000
"""Rows of the hash sample the models are fitted on: twice the largest sample any step of the
in-memory run draws (metrics: 100,000), so the fits see what they would see in memory."""
SAMPLE_CELLS = 20_000_000
"""Cells of the hash sample at most (a wide table gets fewer rows: 200,000 rows of 100 columns,
2,000 rows of 10,000 columns), so the sample's memory does not grow with the columns."""


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
    columns = table_columns(source, fmt)
    sample_rows = max(1, min(sample_rows, SAMPLE_CELLS // columns))
    chunk_rows = chunk_rows_for(columns, chunk_rows)

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
    text = kept.to_csv(index=False, sep=written_separator(fmt), lineterminator="\n")
    return text.encode("utf-8"), f"{stem} (sample).csv"


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
    if output.transactions is not None:
        # Order lines: a sample of lines is not a sample of customers, and every line of a
        # customer is needed to aggregate it; such files are trained in memory.
        logger.info("%s holds order lines: training it in memory", source.filename)
        with source.open() as handle:
            data = handle.read()
        return train_segments(
            data,
            filename=source.filename,
            config=config,
            previous=previous,
            dataset=dataset,
            random_state=random_state,
            max_decompressed_bytes=max_decompressed_bytes,
        )
    plan = AssignPlan.from_output(output)
    chunk_rows = chunk_rows_for(table_columns(source, sample.fmt), chunk_rows)

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

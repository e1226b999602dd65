"""The streaming run as separate steps over storage: what each Step Functions task runs.

:func:`shared.training.streaming.train_streaming` runs its passes in one process. Past one
Lambda the same work is split into steps that hand over through the models bucket, under the
run's work folder ``datasets/<dataset>/runs/<version>/`` (:meth:`WorkLayout`):

1. :func:`prepare_step` (one task): pass 1 over the upload, streaming: the hash sample
   (``sample.csv`` or ``sample.parquet``) and the upload re-chunked into row-aligned part files
   (``parts/part-00000.csv.gz``...; quoted newlines never split a row, as the parts are written
   from parsed rows). Returns the part list the Map state iterates over.
2. :func:`fit_step` (one task): the in-memory run on the sample (:func:`train_segments`); its
   :class:`TrainingOutput` is stored as ``output/`` (artifacts and one JSON summary).
3. :func:`assign_step` (one task per part, in a Distributed Map): the map function
   :func:`shared.training.chunks.assign_chunk` on one part; its statistics go to
   ``results/part-00000.npz`` (numpy arrays and a JSON string, read with
   ``allow_pickle=False``) and its rows of ``assignments.csv.gz`` to ``results/part-00000.gz``.
4. :func:`reduce_step` (one task): :func:`shared.training.chunks.reduce_chunks` over the
   parts' results in part order, giving the very :class:`TrainingOutput` the one-process run
   gives; the caller publishes it with the usual protocol (:mod:`shared.training.run`).

Every step is a plain function of a :class:`~shared.store.base.ModelStore` and JSON-ready
arguments, so tests run them in a loop, in a process pool, or inside moto's Step Functions
interpreter, with identical results.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from shared.contract.config import DatasetConfig, parse_config
from shared.contract.evaluation import Evaluation
from shared.contract.manifest import AlgorithmSummary, ColumnSchema, RowCounts, SelectionInfo
from shared.contract.profiles import ProfileCatalog
from shared.engine.row_order import row_hashes
from shared.engine.segment_stats import SegmentStats
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
from shared.exceptions import UnsupportedFormatError
from shared.settings import DEFAULT_MAX_DECOMPRESSED_BYTES
from shared.store.base import ModelStore
from shared.training.chunks import AssignPlan, ChunkResult, assign_chunk, reduce_chunks
from shared.training.pipeline import TrainingOutput, train_segments
from shared.training.streaming import SAMPLE_CELLS, SAMPLE_ROWS, _sample_file

__all__ = [
    "PartSpec",
    "WorkLayout",
    "assign_step",
    "fit_step",
    "prepare_step",
    "reduce_step",
]

logger = logging.getLogger(__name__)


class WorkLayout:
    """Keys of one distributed run's work folder (in the models bucket, beside the versions).

    Examples
    --------
    >>> WorkLayout("mall", "v1").part(3)
    'datasets/mall/runs/v1/parts/part-00003.csv.gz'
    """

    def __init__(self, dataset: str, version: str) -> None:
        self.root = f"datasets/{dataset}/runs/{version}/"

    def part(self, index: int) -> str:
        return f"{self.root}parts/part-{index:05d}.csv.gz"

    def result(self, index: int) -> str:
        return f"{self.root}results/part-{index:05d}.npz"

    def rows(self, index: int) -> str:
        return f"{self.root}results/part-{index:05d}.gz"

    def output(self, path: str) -> str:
        return f"{self.root}output/{path}"

    @property
    def summary(self) -> str:
        return f"{self.root}output.json"

    @property
    def sample(self) -> str:
        return f"{self.root}sample"


@dataclass(frozen=True)
class PartSpec:
    """One item of the Map state: a part file and the upload row it starts at."""

    index: int
    key: str
    first_row: int


# --- 1. prepare --------------------------------------------------------------------------------


def prepare_step(
    store: ModelStore,
    source: TableSource,
    work: WorkLayout,
    *,
    sample_rows: int = SAMPLE_ROWS,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
) -> dict[str, Any]:
    """Pass 1: the hash sample and the row-aligned part files. Returns ``{"parts": [...],
    "rows": n, "sample": {"key", "filename"}, "format": {...} | None}`` (JSON-ready)."""
    fmt = sniff_format(source, max_decompressed_bytes=max_decompressed_bytes)
    columns = table_columns(source, fmt)
    sample_rows = max(1, min(sample_rows, SAMPLE_CELLS // columns))
    chunk_rows = chunk_rows_for(columns, chunk_rows)

    def run(fmt: CsvFormat | None) -> dict[str, Any]:
        kept: pd.DataFrame | None = None
        kept_hashes = np.empty(0, dtype=np.uint64)
        parts: list[PartSpec] = []
        rows = 0
        chunks = iter_chunks(
            source,
            fmt,
            chunk_rows=chunk_rows,
            max_decompressed_bytes=max_decompressed_bytes,
            text=True,
        )
        for chunk in chunks:
            part = PartSpec(len(parts), work.part(len(parts)), chunk.first_row)
            store.put_bytes(part.key, _part_bytes(chunk.frame, fmt))
            parts.append(part)
            rows += len(chunk.frame)
            hashes = row_hashes(chunk.frame)
            frame = chunk.frame
            if kept is not None and len(kept) >= sample_rows:
                keep = hashes < kept_hashes[-1]
                frame, hashes = frame[keep], hashes[keep]
            kept = frame if kept is None else pd.concat([kept, frame], ignore_index=True)
            kept_hashes = np.concatenate([kept_hashes, hashes])
            order = np.argsort(kept_hashes, kind="stable")[:sample_rows]
            kept = kept.take(order).reset_index(drop=True)
            kept_hashes = kept_hashes[order]
        assert kept is not None  # iter_chunks raises on a file without rows
        data, filename = _sample_file(kept, fmt, source.filename)
        store.put_bytes(work.sample, data)
        return {
            "parts": [asdict(p) for p in parts],
            "rows": rows,
            "sample": {"key": work.sample, "filename": filename},
            "format": None if fmt is None else asdict(fmt),
        }

    return with_encoding_fallback(fmt, run)


def _part_bytes(frame: pd.DataFrame, fmt: CsvFormat | None) -> bytes:
    """A part file: the rows as written (CSV text, UTF-8, the upload's separator), gzip."""
    if fmt is None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        buffer = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer)
        return buffer.getvalue()
    text = frame.to_csv(index=False, sep=written_separator(fmt), lineterminator="\n")
    return gzip.compress(text.encode("utf-8"), compresslevel=1, mtime=0)


def _part_frame(data: bytes, fmt: dict[str, Any] | None) -> pd.DataFrame:
    """A part file typed as the one-process run types the same rows of the upload."""
    if fmt is None:
        import pyarrow.parquet as pq

        from shared.engine.streaming import record_batch_frame

        table = pq.read_table(io.BytesIO(data))
        return pd.concat([record_batch_frame(b) for b in table.to_batches()], ignore_index=True)
    return pd.read_csv(
        io.BytesIO(gzip.decompress(data)),
        sep=written_separator(CsvFormat(**fmt)),
        decimal=fmt["decimal"],
        encoding="utf-8",
        engine="c",
        skip_blank_lines=True,
    )


# --- 2. fit ------------------------------------------------------------------------------------


def fit_step(
    store: ModelStore,
    work: WorkLayout,
    prepared: dict[str, Any],
    *,
    config: DatasetConfig | None = None,
    previous: ProfileCatalog | None = None,
    dataset: str = "dataset",
    random_state: int = 0,
) -> None:
    """The in-memory run on the sample; its output stored under ``output/``."""
    output = train_segments(
        store.get_bytes(prepared["sample"]["key"]),
        filename=prepared["sample"]["filename"],
        config=parse_config(config),
        previous=previous,
        dataset=dataset,
        random_state=random_state,
    )
    if output.transactions is not None:
        raise UnsupportedFormatError(
            "order-line files are aggregated to customers in memory, and this one is too large "
            "for that (at least WORKFLOW_MIN_BYTES); aggregate it to one row per customer "
            "first, or upload it in parts below that size"
        )
    for path, blob in output.artifacts.items():
        store.put_bytes(work.output(path), blob)
    summary = {
        "rows": output.rows.model_dump(mode="json"),
        "columns": [c.model_dump(mode="json") for c in output.columns],
        "config": output.config.model_dump(mode="json"),
        "champion": output.champion,
        "algorithms": {a: s.model_dump(mode="json") for a, s in output.algorithms.items()},
        "selection": output.selection.model_dump(mode="json"),
        "feature_names": output.feature_names,
        "profiles": output.profiles.model_dump(mode="json"),
        "evaluation": output.evaluation.model_dump(mode="json"),
        "warnings": output.warnings,
        "artifacts": sorted(output.artifacts),
    }
    store.put_bytes(work.summary, json.dumps(summary).encode())


def _load_output(store: ModelStore, work: WorkLayout) -> TrainingOutput:
    summary = json.loads(store.get_bytes(work.summary))
    return TrainingOutput(
        rows=RowCounts.model_validate(summary["rows"]),
        columns=[ColumnSchema.model_validate(c) for c in summary["columns"]],
        config=DatasetConfig.model_validate(summary["config"]),
        champion=summary["champion"],
        algorithms={
            a: AlgorithmSummary.model_validate(s) for a, s in summary["algorithms"].items()
        },
        selection=SelectionInfo.model_validate(summary["selection"]),
        feature_names=summary["feature_names"],
        profiles=ProfileCatalog.model_validate(summary["profiles"]),
        evaluation=Evaluation.model_validate(summary["evaluation"]),
        artifacts={path: store.get_bytes(work.output(path)) for path in summary["artifacts"]},
        warnings=summary["warnings"],
    )


# --- 3. assign (one part) ----------------------------------------------------------------------


def assign_step(
    store: ModelStore, work: WorkLayout, part: dict[str, Any], fmt: dict[str, Any] | None
) -> dict[str, Any]:
    """The map task of one part: its statistics and assignment rows stored under
    ``results/``. Returns ``{"index", "rows"}``."""
    spec = PartSpec(**part)
    plan = AssignPlan.from_output(_load_output(store, work))
    frame = _part_frame(store.get_bytes(spec.key), fmt)
    result = assign_chunk(plan, TableChunk(frame, spec.first_row))
    store.put_bytes(work.result(spec.index), _result_bytes(result))
    store.put_bytes(work.rows(spec.index), result.part)
    return {"index": spec.index, "rows": result.rows}


def _result_bytes(result: ChunkResult) -> bytes:
    """A chunk's result as one ``.npz``: arrays, plus its JSON-ready fields as a string."""
    arrays: dict[str, np.ndarray] = {}
    stats_meta: dict[str, Any] = {}
    for algorithm, stats in result.stats.items():
        prefix = f"{algorithm}."
        for name in ("counts", "observed", "mean", "m2", "low", "high", "centroid_sums"):
            arrays[prefix + name] = getattr(stats, name)
        for g, (hashes, values) in enumerate(
            zip(stats.sketch_hashes, stats.sketch_values, strict=True)
        ):
            arrays[f"{prefix}sketch_hashes.{g}"] = hashes
            arrays[f"{prefix}sketch_values.{g}"] = values
        labelled: dict[str, list[tuple[str, list[str]]]] = {}
        for kind in ("categories", "outcomes"):
            labelled[kind] = []
            for i, (column, counts) in enumerate(getattr(stats, kind).items()):
                labels = list(counts)
                labelled[kind].append((column, labels))
                if labels:
                    arrays[f"{prefix}{kind}.{i}"] = np.stack([counts[x] for x in labels])
        stats_meta[algorithm] = {
            "labels": list(stats.labels),
            "numeric": stats.numeric,
            **labelled,
        }
    meta = {
        "first_row": result.first_row,
        "rows": result.rows,
        "used": result.used,
        "imputed": result.imputed,
        "unparseable": {k: list(v) for k, v in result.unparseable.items()},
        "stats": stats_meta,
    }
    arrays["meta"] = np.array(json.dumps(meta))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def _result_of(data: bytes, part: bytes) -> ChunkResult:
    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
        meta = json.loads(str(arrays["meta"]))
        stats: dict[str, SegmentStats] = {}
        for algorithm, info in meta["stats"].items():
            prefix = f"{algorithm}."
            n_groups = len(info["labels"])
            labelled: dict[str, dict[str, dict[str, np.ndarray]]] = {}
            for kind in ("categories", "outcomes"):
                labelled[kind] = {}
                for i, (column, labels) in enumerate(info[kind]):
                    table = arrays[f"{prefix}{kind}.{i}"] if labels else np.empty((0, n_groups))
                    labelled[kind][column] = {x: table[j] for j, x in enumerate(labels)}
            stats[algorithm] = SegmentStats(
                labels=tuple(info["labels"]),
                numeric=info["numeric"],
                counts=arrays[prefix + "counts"],
                observed=arrays[prefix + "observed"],
                mean=arrays[prefix + "mean"],
                m2=arrays[prefix + "m2"],
                low=arrays[prefix + "low"],
                high=arrays[prefix + "high"],
                centroid_sums=arrays[prefix + "centroid_sums"],
                categories=labelled["categories"],
                outcomes=labelled["outcomes"],
                sketch_hashes=[arrays[f"{prefix}sketch_hashes.{g}"] for g in range(n_groups)],
                sketch_values=[arrays[f"{prefix}sketch_values.{g}"] for g in range(n_groups)],
            )
    return ChunkResult(
        first_row=meta["first_row"],
        rows=meta["rows"],
        used=meta["used"],
        imputed=meta["imputed"],
        unparseable={k: (int(v[0]), int(v[1]), str(v[2])) for k, v in meta["unparseable"].items()},
        stats=stats,
        part=part,
    )


# --- 4. reduce ---------------------------------------------------------------------------------


def reduce_step(
    store: ModelStore, work: WorkLayout, n_parts: int, *, dataset: str = "dataset"
) -> TrainingOutput:
    """Merge every part's result (in part order) into the run's :class:`TrainingOutput`."""
    output = _load_output(store, work)
    plan = AssignPlan.from_output(output)
    results = (
        _result_of(store.get_bytes(work.result(i)), store.get_bytes(work.rows(i)))
        for i in range(n_parts)
    )
    return reduce_chunks(output, plan, results, dataset=dataset)

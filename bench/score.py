"""Benchmark of whole-file scoring against the floor of the same work, measured in one run.

1. Writes a synthetic customer file (``customer_id``, 8 numeric columns, ``region``; the table
   of ``bench/train.py``) of ``--rows`` rows as ``.csv.gz`` into a temporary folder, in chunks.
2. Trains a K-Means-only model on its first 100,000 rows into a local model folder (not timed).
3. Measures, each in a fresh child process, alternating ``--repeat`` times:

   - ``floor``: the least work that scores the file: pandas' C engine reads the whole
     ``.csv.gz``, numpy standardizes the numeric columns with the fitted scaler and takes the
     nearest K-Means centre (one matrix product), pandas writes ``customer_id,segment`` as
     ``.csv.gz`` (same gzip level). No validation, no categorical column, no confidence,
     outlier flag or names, whole file in memory;
   - ``score``: :func:`shared.engine.scoring.score_file` (the CLI's ``segments score``): chunked
     read with the decompression cap, the schema's typing, the fitted preprocessor, the model's
     assignment with confidence and outlier flag, segment names, ``.csv.gz`` out chunk by chunk.

Prints rows/s of each (median of the repeats), peak memory (``ru_maxrss`` of each child) and
the ratio score / floor; the goal is a ratio of at least 0.5.

Usage: ``python -m bench.score [--rows 10000000] [--repeat 1]``
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a file (`python bench/x.py`, make bench) too
    sys.path.insert(1, str(ROOT))

from bench.children import peak_mb, run_child  # noqa: E402

TRAIN_ROWS = 100_000
WRITE_CHUNK = 1_000_000
NUMERIC = ["age", "tenure", "visits", "basket", "returns", "discount", "spend", "online_spend"]


def write_table(path: Path, n_rows: int, *, seed: int = 0) -> None:
    """The synthetic table of ``bench/train.py`` (same kind of segments), written in chunks
    (gzip-compressed when ``path`` ends in ``.gz``)."""
    import pandas as pd

    from shared.engine.scoring import SCORE_GZIP_LEVEL

    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 3.0, (6, len(NUMERIC)))
    mix = rng.dirichlet(np.ones(4) * 0.5, 6)
    regions = np.array(["north", "south", "east", "west"])
    compressed = path.name.endswith(".gz")
    with (
        gzip.open(path, "wb", compresslevel=SCORE_GZIP_LEVEL) if compressed else path.open("wb")
    ) as out:
        for start in range(0, n_rows, WRITE_CHUNK):
            n = min(WRITE_CHUNK, n_rows - start)
            segment = rng.integers(0, 6, n)
            values = centres[segment] + rng.normal(0.0, 1.0, (n, len(NUMERIC)))
            values[:, 6] = np.round(np.exp(values[:, 6] / 3.0 + 3.0), 2)
            values[:, 7] = np.round(np.exp(values[:, 7] / 3.0 + 2.0), 2)
            cumulative = mix.cumsum(axis=1)[segment]
            region = regions[(rng.random(n)[:, None] > cumulative).sum(axis=1).clip(0, 3)]
            frame = pd.DataFrame({"customer_id": np.arange(start + 1, start + n + 1)})
            for j, name in enumerate(NUMERIC):
                frame[name] = np.round(values[:, j], 3)
            frame["region"] = region
            out.write(frame.to_csv(index=False, header=start == 0).encode())


def _child_floor(table: Path, models: Path, out: Path) -> dict[str, Any]:
    import pandas as pd

    from shared.engine.scoring import SCORE_GZIP_LEVEL, ScoringModel
    from shared.store.local import LocalModelStore

    model = ScoringModel.current(LocalModelStore(models), "bench")
    scaler = model.transformer.named_transformers_["numeric"].named_steps["scale"]
    used = list(model.transformer.transformers_[0][2])
    centres = model.assigner.centroids_[:, : len(used)]
    started = time.perf_counter()
    frame = pd.read_csv(table, engine="c")
    X = (frame[used].to_numpy(dtype=np.float64) - scaler.mean_) / scaler.scale_
    distance = (X * X).sum(axis=1)[:, None] - 2.0 * X @ centres.T + (centres**2).sum(axis=1)
    segment = distance.argmin(axis=1)
    pd.DataFrame({"customer_id": frame["customer_id"], "segment": segment}).to_csv(
        out, index=False, compression={"method": "gzip", "compresslevel": SCORE_GZIP_LEVEL}
    )
    return {"seconds": time.perf_counter() - started, "rows": len(frame), "peak_mb": peak_mb()}


def _child_score(table: Path, models: Path, out: Path) -> dict[str, Any]:
    from shared.engine.scoring import ScoringModel, score_file
    from shared.engine.streaming import TableSource
    from shared.store.local import LocalModelStore

    model = ScoringModel.current(LocalModelStore(models), "bench")
    started = time.perf_counter()
    with out.open("wb") as sink:
        summary = score_file(TableSource.from_path(table), model, {"csv.gz": sink})
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": summary.rows, "peak_mb": peak_mb()}


def _train(table: Path, models: Path) -> None:
    from datetime import UTC, datetime

    import pandas as pd

    from shared.contract.config import DatasetConfig
    from shared.contract.manifest import CurrentPointer, SourceInfo
    from shared.store.local import LocalModelStore
    from shared.training.pipeline import train_segments
    from shared.training.run import promote_if_newer, publish_version

    head = pd.read_csv(table, nrows=TRAIN_ROWS).to_csv(index=False).encode()
    config = DatasetConfig(algorithms=["kmeans"], features=[*NUMERIC, "region"])
    output = train_segments(head, filename="bench.csv", config=config, dataset="bench")
    store = LocalModelStore(models)
    now = datetime.now(UTC)
    source = SourceInfo(key="uploads/bench/bench.csv", sha256="0" * 64, size=len(head))
    publish_version(store, "bench", "v1", output, source, created_at=now)
    promote_if_newer(
        store,
        "bench",
        CurrentPointer(
            version="v1", updated_at=now, source_key=source.key, source_last_modified=now
        ),
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with ``--child``, one measured child)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, table, models, out = args.child
        child = _child_floor if kind == "floor" else _child_score
        print(json.dumps(child(Path(table), Path(models), Path(out))))
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-score-") as tmp:
        folder = Path(tmp)
        table, models = folder / "customers.csv.gz", folder / "models"
        started = time.perf_counter()
        write_table(table, args.rows)
        print(
            f"table: {args.rows:,} rows, {table.stat().st_size / 2**20:,.0f} MiB .csv.gz "
            f"(written in {time.perf_counter() - started:.0f} s)"
        )
        _train(table, models)
        runs: dict[str, list[dict[str, Any]]] = {"floor": [], "score": []}
        for _ in range(args.repeat):
            for kind in ("floor", "score"):
                out = folder / f"{kind}.csv.gz"
                runs[kind].append(run_child("bench.score", kind, str(table), str(models), str(out)))
                out.unlink()
        rates = {}
        for kind, results in runs.items():
            seconds = statistics.median(r["seconds"] for r in results)
            rates[kind] = args.rows / seconds
            peak = max(r["peak_mb"] for r in results)
            each = ", ".join(f"{r['seconds']:.1f}" for r in results)
            print(
                f"{kind:>6}: {seconds:7.1f} s  {rates[kind]:>12,.0f} rows/s  peak {peak:,.0f} MB"
                f"  (runs: {each} s)"
            )
        print(f"score / floor: {rates['score'] / rates['floor']:.2f} (goal >= 0.50)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

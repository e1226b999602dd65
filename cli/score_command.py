"""``segments score``: score a whole customer file against a dataset's current model.

The model comes from a local model folder (``--models-dir``, as ``segments train --out`` writes
it) or from the stack's models bucket (``--models-bucket``, ``--endpoint-url`` for the local
stack); the scoring itself (:func:`shared.engine.scoring.score_file`) runs here, chunk by chunk,
so files of any number of rows are scored in memory flat in their rows.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from cli.errors import CliError, ExitCode
from cli.status import models_store

__all__ = ["output_format_of", "run_score"]


def output_format_of(path: Path) -> str:
    """``csv.gz`` or ``parquet`` from the output file's name.

    Examples
    --------
    >>> output_format_of(Path("out/scores.csv.gz")), output_format_of(Path("s.parquet"))
    ('csv.gz', 'parquet')
    """
    name = path.name.lower()
    if name.endswith(".csv.gz"):
        return "csv.gz"
    if name.endswith(".parquet"):
        return "parquet"
    raise CliError(f"--out must end in .csv.gz or .parquet, not {path.name!r}", ExitCode.INPUT)


def run_score(args: argparse.Namespace) -> int:
    """Score ``args.file`` into ``args.out`` with a progress line; print a summary."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from cli.console import console, error_console, print_json
    from shared.engine.scoring import ScoringModel, score_file
    from shared.engine.streaming import TableSource
    from shared.settings import get_settings

    file: Path = args.file
    out: Path = args.out
    if not file.is_file():
        raise CliError(f"no such file: {file}", ExitCode.INPUT)
    output_format = output_format_of(out)
    model = ScoringModel.current(models_store(args), args.dataset, args.algorithm)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Written beside the target and moved into place: a failed run leaves no half file.
    handle, partial = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with (
            os.fdopen(handle, "wb") as sink,
            Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TextColumn("{task.fields[rows]:,} rows"),
                TimeElapsedColumn(),
                console=error_console,
                transient=True,
            ) as progress,
        ):
            task = progress.add_task(f"scoring {file.name}", rows=0)
            summary = score_file(
                TableSource.from_path(file),
                model,
                {output_format: sink},  # type: ignore[dict-item]
                max_decompressed_bytes=get_settings().max_decompressed_bytes,
                progress=lambda rows: progress.update(task, rows=rows),
            )
        os.replace(partial, out)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    body = {
        "dataset": summary.dataset,
        "model_version": summary.version,
        "algorithm": summary.algorithm,
        "k": summary.k,
        "rows": summary.rows,
        "unscored": summary.unscored,
        "segment_counts": {str(k): v for k, v in summary.segment_counts.items()},
        "seconds": round(summary.seconds, 3),
        "out": str(out),
    }
    if args.output == "json":
        print_json(body)
        return ExitCode.OK
    rate = summary.rows / summary.seconds if summary.seconds else 0.0
    console.print(
        f"scored {summary.rows:,} rows in {summary.seconds:.1f} s ({rate:,.0f} rows/s) with "
        f"{summary.dataset} version {summary.version}, {summary.algorithm} k={summary.k} -> {out}"
    )
    if summary.unscored:
        console.print(f"[yellow]{summary.unscored:,} rows had no known feature (no segment)[/]")
    console.print(json.dumps(body["segment_counts"]))
    return ExitCode.OK

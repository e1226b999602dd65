"""``segments train FILE --out DIR``: the training run on a local file, with no AWS at all.

The file (and config) are laid out in a temporary folder like the raw bucket and handed to the
same :class:`shared.training.run.TrainingRun` the Lambda uses, with a
:class:`~shared.store.local.LocalRawUploadReader` and a
:class:`~shared.store.local.LocalModelStore` on
``DIR``: the folder gets exactly the versions, ``current.json``, failure reports and HTML report
of the models bucket, and ``segments assign/segments --models-dir DIR`` serve from it.

A run holds a claim file (``datasets/<d>/claims/<version>.json``) while it trains. A run that was
killed leaves it behind; the next run of the same file says so in one line and ``--take-over``
takes the claim over at once (instead of after the 16 minutes a Lambda could still be running).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from cli.errors import CliError, ExitCode

__all__ = ["dataset_from_filename", "run_train", "train_local"]


def dataset_from_filename(path: Path) -> str:
    """A valid dataset name derived from a file name.

    Examples
    --------
    >>> dataset_from_filename(Path("Mall_Customers.csv.gz"))
    'mall_customers'
    """
    stem = path.name.lower()
    for suffix in (".csv.gz", ".csv", ".parquet"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    name = re.sub(r"[^a-z0-9\-_]+", "-", stem).strip("-_")[:63]
    return name or "dataset"


def train_local(
    path: Path,
    *,
    out: Path,
    dataset: str,
    config: Path | None = None,
    take_over: bool = False,
    workers: int = 1,
) -> tuple[Any, float]:
    """Run one training of ``path`` into the model folder ``out``; return (result, seconds).

    The result is a :class:`shared.training.run.TrainingResult` (status ``published``,
    ``duplicate`` or ``failed``). ``take_over`` takes over the claim of another run of the same
    file into ``out`` (one that was killed) instead of refusing. ``workers`` processes run the
    streaming run's map tasks (files of at least ``STREAMING_MIN_BYTES``; same result for any
    number).
    """
    from datetime import timedelta

    from cli.uploads import check_upload_name
    from shared.contract.config import parse_config, validate_dataset_name
    from shared.contract.layout import RawLayout
    from shared.exceptions import TrainingInProgressError
    from shared.settings import get_settings
    from shared.store.local import LocalModelStore, LocalRawUploadReader
    from shared.training.run import DEFAULT_CLAIM_TIMEOUT, TrainingRun, UploadEvent

    validate_dataset_name(dataset)
    name = check_upload_name(path)
    if not path.is_file():
        raise CliError(f"no such file: {path}", ExitCode.INPUT)
    config_bytes: bytes | None = None
    if config is not None:
        try:
            config_bytes = config.read_bytes()
        except OSError as e:
            raise CliError(f"cannot read config {config}: {e}", ExitCode.INPUT) from e
        parse_config(config_bytes)  # fail before training, with the config's own message
    out.mkdir(parents=True, exist_ok=True)
    settings = get_settings()
    with tempfile.TemporaryDirectory(prefix="segments-raw-") as tmp:
        raw = Path(tmp)
        upload = raw / "uploads" / dataset / name
        upload.parent.mkdir(parents=True)
        try:
            upload.symlink_to(path.resolve())
        except OSError:
            shutil.copy2(path, upload)
        if config_bytes is not None:
            (raw / "configs").mkdir()
            (raw / "configs" / f"{dataset}.json").write_bytes(config_bytes)
        run = TrainingRun(
            store=LocalModelStore(out),
            raw=LocalRawUploadReader(raw),
            max_upload_bytes=settings.max_upload_bytes,
            max_decompressed_bytes=settings.max_decompressed_bytes,
            keep_versions=settings.keep_versions,
            streaming_min_bytes=settings.streaming_min_bytes,
            streaming_workers=workers,
            claim_timeout=timedelta(0) if take_over else DEFAULT_CLAIM_TIMEOUT,
        )
        started = time.perf_counter()
        try:
            result = run.run(UploadEvent(key=RawLayout.upload(dataset, name)))
        except TrainingInProgressError as e:
            raise CliError(
                f"{e}; if no other `segments train` of this file into {out} is running (one "
                "was killed), rerun with --take-over",
                ExitCode.INPUT,
            ) from e
    return result, time.perf_counter() - started


def run_train(args: argparse.Namespace) -> int:
    """Train, then print the segments, the comparison and where the report is."""
    from cli.console import console, error_console, print_json
    from cli.render import comparison_table, segments_table, warnings_view
    from shared.contract.layout import ModelLayout, model_key
    from shared.store.base import read_manifest, read_verified_artifact
    from shared.store.local import LocalModelStore

    dataset = args.dataset or dataset_from_filename(args.file)
    if args.workers < 1:
        raise CliError("--workers must be >= 1", ExitCode.INPUT)
    with error_console.status(f"training {args.file} as dataset {dataset!r}..."):
        result, seconds = train_local(
            args.file,
            out=args.out,
            dataset=dataset,
            config=args.config,
            take_over=args.take_over,
            workers=args.workers,
        )
    if result.status == "failed":
        if args.output == "json":
            print_json({"status": "failed", "error": result.error, "failure": result.failure_key})
        raise CliError(
            f"training refused {args.file}: {result.error} "
            f"(report: {args.out / (result.failure_key or '')})",
            ExitCode.TRAINING_FAILED,
        )
    if result.status not in {"published", "duplicate"} or result.version is None:
        raise CliError(f"training did not run: {result.error or result.status}", ExitCode.INPUT)
    store = LocalModelStore(args.out)
    manifest = read_manifest(store, dataset, result.version)
    version_dir = args.out / ModelLayout.version(dataset, result.version)
    report = version_dir / "report.html"
    if args.output == "json":
        print_json(
            {
                "status": result.status,
                "dataset": dataset,
                "version": result.version,
                "current": result.current,
                "champion": manifest.champion,
                "seconds": round(seconds, 2),
                "folder": str(version_dir),
                "report": str(report) if report.exists() else None,
                "warnings": list(manifest.warnings),
            }
        )
        return ExitCode.OK
    champion = manifest.algorithms[manifest.champion]
    profiles = json.loads(read_verified_artifact(store, manifest, "profiles.json"))
    segment_set = profiles.get("sets", {}).get(model_key(manifest.champion, champion.k), {})
    console.print(
        segments_table(
            segment_set,
            title=f"{dataset}: {len(segment_set.get('segments', []))} segments "
            f"({manifest.champion}{'' if champion.k is None else f', k={champion.k}'}, "
            f"version {manifest.version})",
        )
    )
    evaluation = json.loads(read_verified_artifact(store, manifest, "evaluation.json"))
    console.print(comparison_table(evaluation.get("comparison", [])))
    if manifest.warnings:
        console.print(warnings_view(manifest.warnings))
    word = "trained" if result.status == "published" else "already trained (same file)"
    console.print(f"{word} in {seconds:.1f} s -> {version_dir}")
    if report.exists():
        console.print(f"report: {report}")
    console.print(
        f"[dim]next: segments assign --models-dir {args.out} --dataset {dataset} --json '{{...}}'"
        "[/dim]"
    )
    return ExitCode.OK

"""``segments upload``: put a file in the raw bucket, show progress, wait for the model."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cli.errors import CliError, ExitCode
from cli.uploads import (
    UploadedObject,
    WaitOutcome,
    existing_state,
    s3_failure,
    upload_config,
    upload_file,
    wait_for_training,
)
from shared.contract.manifest import STRUCTURE_WORDS
from shared.store.base import ModelStore
from shared.store.pointer import read_current_tagged
from shared.store.s3 import S3ModelStore

__all__ = ["run_upload", "upload_with_progress"]


def _amount(done: int, total: int) -> str:
    """``1.2/4.0 MB``-style progress text.

    Examples
    --------
    >>> _amount(2000, 4000)
    '2.0/4.0 kB'
    """
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if total >= scale:
            return f"{done / scale:.1f}/{total / scale:.1f} {unit}"
    return f"{done}/{total} B"


def upload_with_progress(
    s3: Any,
    store: ModelStore,
    *,
    raw_bucket: str,
    dataset: str,
    path: Path,
    config: Path | None,
    timeout: float,
    wait: bool = True,
    training_note: Callable[[], str] | None = None,
    check: Callable[[], None] | None = None,
) -> tuple[UploadedObject, WaitOutcome | None]:
    """Upload (config first, then the file) with a progress bar, then wait for training.

    ``training_note`` adds a live detail to the training line (the local stack shows what its
    dispatcher is doing); ``check`` runs at every poll and may raise :class:`CliError` to stop
    waiting (the local stack does when the message reached the dead-letter queue).
    """
    from rich.progress import (
        BarColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    from cli.console import error_console

    if not path.is_file():
        raise CliError(f"no such file: {path}", ExitCode.INPUT)
    try:
        seen_versions, seen_failures = existing_state(store, dataset)
    except Exception as e:
        raise s3_failure(e, f"cannot read the models bucket for dataset {dataset!r}") from e
    if config is not None:
        key = upload_config(s3, raw_bucket, dataset, config)
        error_console.print(f"config  {config} -> s3://{raw_bucket}/{key}")
    size = path.stat().st_size
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[amount]}"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[note]}"),
        console=error_console,
        transient=False,
    ) as progress:
        up = progress.add_task(f"upload  {path.name}", total=size, note="", amount=_amount(0, size))
        sent = 0

        def on_bytes(n: int) -> None:
            nonlocal sent
            sent += n
            progress.update(up, completed=sent, amount=_amount(sent, size))

        obj = upload_file(s3, raw_bucket, dataset, path, on_bytes=on_bytes)
        progress.update(
            up, completed=size, amount=_amount(size, size), note=f"s3://{obj.bucket}/{obj.key}"
        )
        if not wait:
            return obj, None
        train = progress.add_task("training", total=None, note="waiting for the queue", amount="")

        def tick(_elapsed: float) -> None:
            if training_note is not None:
                progress.update(train, note=training_note())
            if check is not None:
                check()

        outcome = wait_for_training(
            store,
            dataset,
            obj,
            seen_versions=seen_versions,
            seen_failures=seen_failures,
            timeout=timeout,
            on_tick=tick,
        )
        if outcome.manifest is not None:
            progress.update(train, total=1, completed=1, note=f"version {outcome.manifest.version}")
        else:
            progress.update(train, total=1, completed=0, note="[red]failed[/red]")
    return obj, outcome


def _clients(args: argparse.Namespace) -> tuple[Any, ModelStore]:
    if not args.raw_bucket:
        raise CliError("no raw bucket: pass --raw-bucket or set RAW_BUCKET", ExitCode.INPUT)
    if not args.models_bucket and not args.no_wait:
        raise CliError(
            "no models bucket to wait on: pass --models-bucket or set MODELS_BUCKET (or --no-wait)",
            ExitCode.INPUT,
        )
    import boto3

    s3 = boto3.client("s3", endpoint_url=args.endpoint_url or None)
    store = S3ModelStore(args.models_bucket or args.raw_bucket, client=s3)
    return s3, store


def run_upload(args: argparse.Namespace) -> int:
    """Upload, wait, and print the outcome; exit 2 when training refused the file."""
    from cli.console import console, print_json
    from shared.contract.config import validate_dataset_name

    validate_dataset_name(args.dataset)
    s3, store = _clients(args)
    obj, outcome = upload_with_progress(
        s3,
        store,
        raw_bucket=args.raw_bucket,
        dataset=args.dataset,
        path=args.file,
        config=args.config,
        timeout=args.timeout,
        wait=not args.no_wait,
    )
    if outcome is None:
        if args.output == "json":
            print_json({"bucket": obj.bucket, "key": obj.key, "version_id": obj.version_id})
        return ExitCode.OK
    if outcome.failure is not None:
        if args.output == "json":
            print_json({"status": "failed", **outcome.failure.model_dump(mode="json")})
        raise CliError(
            f"training refused s3://{obj.bucket}/{obj.key}: {outcome.failure.error}",
            ExitCode.TRAINING_FAILED,
        )
    manifest = outcome.manifest
    assert manifest is not None
    current = current_version(store, args.dataset)
    if args.output == "json":
        print_json(
            {
                "status": "trained",
                "dataset": manifest.dataset,
                "version": manifest.version,
                "current": current == manifest.version,
                "current_version": current,
                "champion": manifest.champion,
                "seconds": round(outcome.seconds, 2),
                "warnings": list(manifest.warnings),
            }
        )
        return ExitCode.OK
    champion = manifest.algorithms[manifest.champion]
    silhouette = champion.metrics.silhouette
    quality = "silhouette -" if silhouette is None else f"silhouette {silhouette:.3f}"
    if champion.structure is not None:
        quality += f", {STRUCTURE_WORDS[champion.structure.verdict]}"
    console.print(
        f"[green]trained[/green] {manifest.dataset} version [bold]{manifest.version}[/bold] "
        f"in {outcome.seconds:.1f} s: champion {manifest.champion} with "
        f"{champion.n_segments} segments ({quality})"
    )
    if current != manifest.version:
        console.print(not_current_notice(manifest.dataset, manifest.version, current))
    if manifest.warnings:
        from cli.render import warnings_view

        console.print(warnings_view(manifest.warnings))
    if args.api_url:
        from cli.api_client import remote_api
        from cli.render import segments_table

        with remote_api(args.api_url, token=args.token) as api:
            # This upload's own version, whichever one is current.
            segments = api.segments(args.dataset, version=manifest.version)
            console.print(segments_table(segments, title=f"Segments of version {manifest.version}"))
    return ExitCode.OK


def current_version(store: ModelStore, dataset: str) -> str | None:
    """The version ``current.json`` names now (None when absent or unreadable)."""
    pointer, _ = read_current_tagged(store, dataset)
    return pointer.version if pointer is not None else None


def not_current_notice(dataset: str, version: str, current: str | None) -> str:
    """The plain sentence for a version that was published but is not the one served.

    Examples
    --------
    >>> not_current_notice("mall", "v1", "v2")  # doctest: +NORMALIZE_WHITESPACE
    '[yellow]version v1 is published but NOT current[/yellow]: mall serves v2 (a newer upload
    or a manual promote). The API answers with v2; promote v1 to serve it.'
    """
    if current is None:
        return (
            f"[yellow]version {version} is published but NOT current[/yellow]: {dataset} has no "
            f"current version (the API answers 503); promote {version} to serve it."
        )
    return (
        f"[yellow]version {version} is published but NOT current[/yellow]: {dataset} serves "
        f"{current} (a newer upload or a manual promote). The API answers with {current}; "
        f"promote {version} to serve it."
    )

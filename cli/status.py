"""``segments status``: datasets, their versions, the current one and recent failures."""

from __future__ import annotations

import argparse
from typing import Any

from cli.errors import CliError, ExitCode
from shared.contract.layout import ModelLayout
from shared.contract.manifest import FailureReport
from shared.exceptions import SegmentationError
from shared.store.base import (
    ModelStore,
    list_datasets,
    list_versions,
    read_current,
    read_manifest,
)
from shared.store.local import LocalModelStore
from shared.store.s3 import S3ModelStore

__all__ = ["collect_status", "models_store", "run_status"]

MAX_FAILURES_SHOWN = 5


def models_store(args: argparse.Namespace) -> ModelStore:
    """The model store named by ``--models-dir`` or ``--models-bucket``/``MODELS_BUCKET``."""
    if getattr(args, "models_dir", None) is not None:
        if not args.models_dir.is_dir():
            raise CliError(f"models folder {args.models_dir} does not exist", ExitCode.INPUT)
        return LocalModelStore(args.models_dir)
    if not args.models_bucket:
        raise CliError(
            "no model store: pass --models-dir, or --models-bucket (or set MODELS_BUCKET)",
            ExitCode.INPUT,
        )
    import boto3

    client = boto3.client("s3", endpoint_url=args.endpoint_url or None)
    return S3ModelStore(args.models_bucket, client=client)


def collect_status(store: ModelStore, dataset: str | None = None) -> list[dict[str, Any]]:
    """Per dataset: current version, versions (oldest first) and the newest failures."""
    datasets = [dataset] if dataset else list_datasets(store)
    result = []
    for name in datasets:
        current = read_current(store, name)
        versions = []
        for version in list_versions(store, name):
            manifest = read_manifest(store, name, version)
            champion = manifest.algorithms.get(manifest.champion)
            versions.append(
                {
                    "version": version,
                    "created_at": manifest.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                    "source": manifest.source.key,
                    "rows": manifest.rows.used,
                    "champion": manifest.champion,
                    "n_segments": champion.n_segments if champion else None,
                    "silhouette": champion.metrics.silhouette if champion else None,
                    "current": current is not None and current.version == version,
                }
            )
        versions.sort(key=lambda v: str(v["created_at"]))
        failures = []
        for key in store.list_keys(f"{ModelLayout.dataset(name)}failures/"):
            try:
                report = FailureReport.model_validate_json(store.get_bytes(key))
            except ValueError:
                continue
            source = report.source
            source_key = source.get("key") if isinstance(source, dict) else source.key
            failures.append(
                {
                    "id": report.id,
                    "created_at": report.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                    "source": source_key,
                    "error_type": report.error_type,
                    "error": report.error,
                }
            )
        failures.sort(key=lambda f: str(f["created_at"]), reverse=True)
        result.append(
            {
                "dataset": name,
                "current_version": current.version if current else None,
                "versions": versions,
                "failures": failures[:MAX_FAILURES_SHOWN],
                "failure_count": len(failures),
            }
        )
    return result


def run_status(args: argparse.Namespace) -> int:
    """Print the status of one or every dataset; exit 5 when a named dataset has nothing."""
    from rich.table import Table

    from cli.console import console, print_json
    from cli.render import versions_table
    from cli.uploads import s3_failure

    store = models_store(args)
    if args.dataset:
        from shared.contract.config import validate_dataset_name

        validate_dataset_name(args.dataset)
    try:
        status = collect_status(store, args.dataset)
    except SegmentationError as e:
        raise CliError(f"cannot read the model store: {e}", ExitCode.UNREACHABLE) from e
    except Exception as e:
        raise s3_failure(e, "cannot read the model store") from e
    if args.output == "json":
        print_json(status)
    elif not status:
        console.print("no datasets yet: upload one with `segments upload FILE --dataset NAME`")
    for entry in status:
        if args.output == "json":
            break
        console.print(versions_table(entry["dataset"], entry["versions"]))
        if not entry["versions"]:
            console.print("  [yellow]no model yet[/yellow]")
        if entry["failures"]:
            table = Table(
                title=f"{entry['dataset']}: failures ({entry['failure_count']}, newest first)",
                title_justify="left",
                header_style="bold",
            )
            for column in ("created", "source", "error"):
                table.add_column(column)
            for failure in entry["failures"]:
                table.add_row(failure["created_at"], str(failure["source"]), failure["error"])
            console.print(table)
    if args.dataset and status and not status[0]["versions"] and not status[0]["failures"]:
        raise CliError(f"dataset {args.dataset!r} has nothing stored", ExitCode.NOT_FOUND)
    return ExitCode.OK

"""Versions of a dataset, and promotion (roll forward or back)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from lambdas.api.dependencies import (
    AdminAccess,
    DatasetPath,
    ReadAccess,
    RegistryDep,
    StoreDep,
    VersionPath,
)
from lambdas.api.errors import ERROR_RESPONSES
from lambdas.api.schemas import ErrorResponse, PromoteResponse, VersionItem, VersionList
from shared.contract.layout import ModelLayout
from shared.contract.manifest import CurrentPointer
from shared.exceptions import DatasetNotFoundError, VersionNotFoundError
from shared.quoting import quote_value
from shared.serving.model import SegmentationModel
from shared.store.base import (
    ModelStore,
    list_versions,
    read_current,
    read_manifest,
)
from shared.store.pointer import mark_promotion, promote_version

__all__ = ["router"]

router = APIRouter(prefix="/datasets", tags=["versions"], responses=ERROR_RESPONSES)


def _require_dataset(store: ModelStore, dataset: str) -> None:
    if not store.list_children(ModelLayout.dataset(dataset)):
        raise DatasetNotFoundError(f"no dataset named {quote_value(dataset)}")


@router.get(
    "/{dataset}/versions",
    response_model=VersionList,
    summary="Every complete version",
    dependencies=[ReadAccess],
)
def get_versions(dataset: DatasetPath, store: StoreDep) -> VersionList:
    """Complete versions (those with a manifest), newest first, and which one is current."""
    _require_dataset(store, dataset)
    pointer = read_current(store, dataset)
    current = pointer.version if pointer else None
    items: list[VersionItem] = []
    for version in list_versions(store, dataset):
        try:
            manifest = read_manifest(store, dataset, version)
        except (VersionNotFoundError, ValueError):
            continue
        items.append(
            VersionItem(
                version=version,
                created_at=manifest.created_at,
                champion=manifest.champion,
                rows_used=manifest.rows.used,
                source_key=manifest.source.key,
                previous_version=manifest.previous_version,
                current=version == current,
            )
        )
    items.sort(key=lambda v: v.created_at, reverse=True)
    return VersionList(dataset=dataset, current_version=current, versions=items)


@router.post(
    "/{dataset}/versions/{version}/promote",
    response_model=PromoteResponse,
    summary="Serve this version (roll forward or back)",
    dependencies=[AdminAccess],
    responses={403: {"model": ErrorResponse, "description": "Needs an admin token"}},
)
def promote(
    dataset: DatasetPath, version: VersionPath, store: StoreDep, registry: RegistryDep
) -> PromoteResponse:
    """Point ``current.json`` at ``version`` (admin).

    The version is loaded and verified first (every artifact the champion needs, checksums and
    trusted types), so a tampered version is refused (503) and never becomes current. This
    container serves the new version at once; others within ``MODEL_REFRESH_SECONDS``.

    Retention cannot pull the version away meanwhile: the promote is recorded before the
    version is verified (retention spares it for ``RETENTION_GRACE``), ``current.json`` is
    replaced by compare-and-swap, and the manifest is checked again afterwards; a version
    deleted anyway is answered 404 with the previous pointer restored.
    """
    _require_dataset(store, dataset)
    if store.exists(ModelLayout.manifest(dataset, version)):
        mark_promotion(store, dataset, version, now=datetime.now(UTC))
    model = SegmentationModel.open(store, dataset, version)
    model.warm()
    pointer = CurrentPointer(
        version=version,
        updated_at=datetime.now(UTC),
        source_key=model.manifest.source.key,
        promoted=True,
    )
    previous = promote_version(store, dataset, pointer)
    registry.invalidate(dataset)
    return PromoteResponse(
        dataset=dataset,
        version=version,
        previous_version=previous.version if previous else None,
        updated_at=pointer.updated_at,
    )

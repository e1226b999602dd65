"""Datasets and the documents of a version: manifest, evaluation, plots, failures (the report:
:mod:`lambdas.api.routes.report`)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from lambdas.api.dependencies import (
    DatasetPath,
    ReadAccess,
    RegistryDep,
    StoreDep,
    VersionQuery,
)
from lambdas.api.errors import ERROR_RESPONSES
from lambdas.api.schemas import (
    AlgorithmInfo,
    DatasetDetail,
    DatasetItem,
    DatasetList,
    DatasetStatus,
    EvaluationResponse,
    FailureList,
    PlotsResponse,
    TrainingRunInfo,
)
from shared.contract.layout import ModelLayout
from shared.contract.manifest import FailureReport, Manifest
from shared.exceptions import DatasetNotFoundError
from shared.quoting import quote_value
from shared.store.base import ModelStore, ObjectNotFoundError, list_datasets, read_current

__all__ = ["router"]

router = APIRouter(
    prefix="/datasets", tags=["datasets"], dependencies=[ReadAccess], responses=ERROR_RESPONSES
)


def _detail(manifest: Manifest) -> DatasetDetail:
    algorithms = {
        name: AlgorithmInfo(
            n_segments=s.n_segments,
            k=s.k,
            ks=sorted(int(k) for k in s.models) or ([s.k] if s.k is not None else []),
            champion=name == manifest.champion,
            metrics=s.metrics,
            params=s.params,
            assignment_rule=s.assignment_rule,
            rule_agreement=s.rule_agreement,
            fit_rows=s.fit_rows,
            note=s.note,
            eligible=s.eligible,
            ineligible_reason=s.ineligible_reason,
            structure=s.structure,
        )
        for name, s in manifest.algorithms.items()
    }
    return DatasetDetail(
        dataset=manifest.dataset,
        model_version=manifest.version,
        created_at=manifest.created_at,
        source=manifest.source,
        rows=manifest.rows,
        columns=manifest.columns,
        input_columns=[c.name for c in manifest.input_columns],
        config=manifest.config,
        champion=manifest.champion,
        algorithms=algorithms,
        selection=manifest.selection,
        feature_names=manifest.feature_names,
        previous_version=manifest.previous_version,
        engine=manifest.engine,
        warnings=list(manifest.warnings),
        transactions=manifest.transactions,
    )


#: Pointers read at once by ``GET /datasets`` (S3 answers each in ~20-50 ms; one by one, 100
#: datasets would take seconds).
LIST_READERS = 16


def _item(store: ModelStore, name: str) -> DatasetItem:
    try:
        pointer = read_current(store, name)
    except ValueError:
        pointer = None  # an unreadable pointer is reported as "no model" here
    return DatasetItem(
        dataset=name,
        current_version=pointer.version if pointer else None,
        updated_at=pointer.updated_at if pointer else None,
        promoted=pointer.promoted if pointer else False,
    )


@router.get("", response_model=DatasetList, summary="Datasets and their current versions")
def list_all(store: StoreDep) -> DatasetList:
    """Every dataset with anything stored; ``current_version`` is null until one is published.

    The datasets' ``current.json`` pointers are read in parallel (:data:`LIST_READERS` at once).
    """
    names = list_datasets(store)
    if len(names) <= 1:
        return DatasetList(datasets=[_item(store, name) for name in names])
    with ThreadPoolExecutor(max_workers=min(LIST_READERS, len(names))) as pool:
        items = list(pool.map(lambda name: _item(store, name), names))
    return DatasetList(datasets=items)


@router.get("/{dataset}", response_model=DatasetDetail, summary="Manifest summary of a version")
def get_dataset(
    dataset: DatasetPath, registry: RegistryDep, version: VersionQuery = None
) -> DatasetDetail:
    """The current version's manifest summary: source, rows, columns, algorithms, champion."""
    return _detail(registry.get(dataset, version).manifest)


@router.get(
    "/{dataset}/evaluation", response_model=EvaluationResponse, summary="Metrics and k sweeps"
)
def get_evaluation(
    dataset: DatasetPath, registry: RegistryDep, version: VersionQuery = None
) -> EvaluationResponse:
    """Every candidate's metrics, the k sweeps (elbow, BIC), dendrogram data, the comparison."""
    model = registry.get(dataset, version)
    evaluation = model.evaluation()
    return EvaluationResponse(
        **evaluation.model_dump(), dataset=model.dataset, model_version=model.version
    )


@router.get("/{dataset}/plots", response_model=PlotsResponse, summary="Plot data for the dashboard")
def get_plots(
    dataset: DatasetPath, registry: RegistryDep, version: VersionQuery = None
) -> PlotsResponse:
    """Sampled customers with map coordinates and segment ids, and ready Plotly figures."""
    model = registry.get(dataset, version)
    plots = model.plots()
    return PlotsResponse(**plots.model_dump(), dataset=model.dataset, model_version=model.version)


@router.get("/{dataset}/failures", response_model=FailureList, summary="Recent failed uploads")
def list_failures(
    dataset: DatasetPath,
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=100, description="How many, newest first.")] = 20,
) -> FailureList:
    """Why recent uploads of the dataset could not be used, newest first."""
    if not store.list_children(ModelLayout.dataset(dataset)):
        raise DatasetNotFoundError(f"no dataset named {quote_value(dataset)}")
    return FailureList(dataset=dataset, failures=_recent_failures(store, dataset, limit))


def _recent_failures(store: ModelStore, dataset: str, limit: int) -> list[FailureReport]:
    """The newest ``limit`` failure reports of ``dataset``, newest first."""
    prefix = ModelLayout.dataset(dataset) + "failures/"
    keys = [k for k in store.list_keys(prefix) if k.endswith(".json")]
    reports: list[FailureReport] = []
    # Keys are not time-ordered in general: read a bounded window, then sort by created_at.
    for key in keys[-max(limit * 5, 100) :]:
        try:
            reports.append(FailureReport.model_validate_json(store.get_bytes(key)))
        except (ObjectNotFoundError, ValueError):
            continue
    reports.sort(key=lambda r: r.created_at, reverse=True)
    return reports[:limit]


TRAINING_STALE_AFTER = timedelta(minutes=16)
"""A claim older than this belongs to a crashed worker (the training run's claim timeout,
``shared.training.run.DEFAULT_CLAIM_TIMEOUT``; a test keeps the two equal)."""


def _training_runs(store: ModelStore, dataset: str, now: datetime) -> list[TrainingRunInfo]:
    """The claims younger than :data:`TRAINING_STALE_AFTER`, oldest first."""
    runs: list[TrainingRunInfo] = []
    prefix = ModelLayout.dataset(dataset) + "claims/"
    for key in store.list_keys(prefix):
        if not key.endswith(".json"):
            continue
        try:
            claim = json.loads(store.get_bytes(key))
            since = datetime.fromisoformat(str(claim["claimed_at"]))
            version = str(claim["version"])
        except (ObjectNotFoundError, ValueError, KeyError, TypeError):
            continue  # released between the listing and the read, or not a claim
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        if now - since > TRAINING_STALE_AFTER:
            continue
        source = claim.get("key")
        runs.append(
            TrainingRunInfo(
                version=version, source_key=source if isinstance(source, str) else None, since=since
            )
        )
    runs.sort(key=lambda r: r.since)
    return runs


@router.get(
    "/{dataset}/status", response_model=DatasetStatus, summary="Training, failure and version"
)
def get_status(dataset: DatasetPath, store: StoreDep) -> DatasetStatus:
    """Whether a model is training (since when), the newest failure and the current version.

    Cheap enough to poll: one pointer read, one listing of the claims and of the failures.
    A dataset is known once anything is stored for it (a claim, a failure or a version).
    """
    if not store.list_children(ModelLayout.dataset(dataset)):
        raise DatasetNotFoundError(f"no dataset named {quote_value(dataset)}")
    try:
        pointer = read_current(store, dataset)
    except ValueError:
        pointer = None
    failures = _recent_failures(store, dataset, 1)
    return DatasetStatus(
        dataset=dataset,
        current_version=pointer.version if pointer else None,
        updated_at=pointer.updated_at if pointer else None,
        training=_training_runs(store, dataset, datetime.now(UTC)),
        last_failure=failures[0] if failures else None,
    )

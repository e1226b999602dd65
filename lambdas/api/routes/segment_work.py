"""What a marketer does with segments: name one, export its customers, compare two versions.

- ``PUT /datasets/{d}/segments/{id}/name`` (admin): a person's name for a segment, stored in
  the dataset's name overlay (``names.json``, keyed by stable segment id, so it follows the
  segment through retrains); ``{"name": null}`` clears it.
- ``GET /datasets/{d}/segments/{id}/customers.csv``: that segment's training customers (id,
  segment id, name) from the version's ``assignments.csv.gz``, formula-neutralised. Only the
  chosen k of each algorithm has per-customer assignments.
- ``GET /datasets/{d}/versions/{v}/compare?with=<other>`` (default: the current version): the
  two versions' published
  segments (sizes) and how customers moved between them (matched by id).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi import Path as PathParam
from fastapi.responses import Response

from lambdas.api.dependencies import (
    AdminAccess,
    AlgorithmQuery,
    DatasetPath,
    ReadAccess,
    RegistryDep,
    StoreDep,
    VersionPath,
    VersionQuery,
)
from lambdas.api.errors import ERROR_RESPONSES
from lambdas.api.middleware import MAX_RESPONSE_BYTES
from lambdas.api.schemas import (
    ErrorResponse,
    SegmentCount,
    SegmentMove,
    SegmentNameRequest,
    SegmentNameResponse,
    VersionComparison,
)
from shared.contract.layout import ASSIGNMENTS_PATH, ModelLayout
from shared.contract.profiles import SegmentSet
from shared.exceptions import (
    AlgorithmNotFittedError,
    ArtifactError,
    BatchTooLargeError,
    DatasetNotFoundError,
    SegmentNotFoundError,
)
from shared.quoting import quote_value
from shared.serving.assignments import (
    AssignmentTable,
    read_assignments,
    segment_customers_csv,
    segment_moves,
)
from shared.serving.model import SegmentationModel
from shared.serving.names import read_names, set_segment_name

__all__ = ["router"]

router = APIRouter(prefix="/datasets", tags=["segments"], responses=ERROR_RESPONSES)

SegmentPath = Annotated[int, PathParam(ge=-1, le=10_000, description="-1 is Outliers.")]
EXPORT_MAX_BYTES = MAX_RESPONSE_BYTES // 2
"""Largest CSV export answered inline (gzip is not assumed; the rest of the cap is headroom)."""


def _known_ids(model: SegmentationModel) -> set[int]:
    return {s.segment_id for sets in model.profiles.sets.values() for s in sets.segments}


@router.put(
    "/{dataset}/segments/{segment_id}/name",
    response_model=SegmentNameResponse,
    summary="Name a segment (admin)",
    dependencies=[AdminAccess],
    responses={403: {"model": ErrorResponse, "description": "Needs an admin token"}},
)
def rename_segment(
    dataset: DatasetPath,
    segment_id: SegmentPath,
    body: SegmentNameRequest,
    registry: RegistryDep,
    store: StoreDep,
) -> SegmentNameResponse:
    """Set a person's name for a segment of the current version (``null`` clears it).

    The name outranks every generated one (known-group label, RFM name, generated name) and
    follows the segment's stable id into later versions. Assign answers show it at once from
    this container and within the model refresh (``MODEL_REFRESH_SECONDS``) from the others.
    """
    model = registry.get(dataset, None)
    if segment_id not in _known_ids(model):
        raise SegmentNotFoundError(
            f"{model.dataset} version {model.version} has no segment {segment_id}"
        )
    overlay = set_segment_name(store, model.dataset, segment_id, body.name)
    registry.invalidate(model.dataset)  # the next answer re-reads the names
    return SegmentNameResponse(
        dataset=model.dataset,
        segment_id=segment_id,
        name=overlay.name_of(segment_id),
        names={key: entry.name for key, entry in overlay.names.items()},
    )


@router.get(
    "/{dataset}/segments/{segment_id}/customers.csv",
    response_class=Response,
    response_model=None,
    summary="A segment's customers as CSV",
    dependencies=[ReadAccess],
    responses={200: {"content": {"text/csv": {}}, "description": "id, segment_id, name"}},
)
def export_segment(
    dataset: DatasetPath,
    segment_id: SegmentPath,
    registry: RegistryDep,
    store: StoreDep,
    algorithm: AlgorithmQuery = None,
    version: VersionQuery = None,
) -> Response:
    """The training customers of one segment of an algorithm's chosen model (default: the
    champion), as a CSV a spreadsheet opens safely (formula-like cells start with ``'``)."""
    model = registry.get(dataset, version)
    choice = model.choose(algorithm, None)
    segments = model.segment_set(choice)
    segment = segments.by_id(segment_id)
    if segment is None:
        raise SegmentNotFoundError(
            f"{choice.key} of {model.dataset} version {model.version} has no segment {segment_id}"
        )
    table = _assignments(model)
    name = read_names(store, model.dataset).name_of(segment_id) or segment.name
    body, count = segment_customers_csv(table, choice.algorithm, segment_id, name)
    if len(body) > EXPORT_MAX_BYTES:
        raise BatchTooLargeError(
            f"segment {segment_id} has {count:,} customers ({len(body):,} bytes of CSV), more "
            f"than one answer carries ({EXPORT_MAX_BYTES:,} bytes); read the version's "
            f"{ASSIGNMENTS_PATH} from the models bucket instead"
        )
    filename = f"{model.dataset}-{model.version}-segment-{segment_id}.csv"
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "X-Content-Type-Options": "nosniff",
        },
    )


def _assignments(model: SegmentationModel) -> AssignmentTable:
    try:
        return read_assignments(model.document(ASSIGNMENTS_PATH), list(model.manifest.algorithms))
    except ValueError as e:
        raise ArtifactError(
            f"{ASSIGNMENTS_PATH} of {model.dataset} version {model.version} is unreadable: {e}"
        ) from e


def _published(model: SegmentationModel) -> tuple[str, SegmentSet]:
    key = model.profiles.champion
    if key is None or key not in model.profiles.sets:
        raise AlgorithmNotFittedError(
            f"{model.dataset} version {model.version} publishes no champion segments"
        )
    return key, model.profiles.sets[key]


def _counts(segments: SegmentSet, names: dict[int, str]) -> list[SegmentCount]:
    return [
        SegmentCount(
            segment_id=s.segment_id,
            name=names.get(s.segment_id, s.name),
            size=s.size,
            share=s.share,
        )
        for s in segments.segments
    ]


@router.get(
    "/{dataset}/versions/{version}/compare",
    response_model=VersionComparison,
    summary="Two versions' segments side by side",
    dependencies=[ReadAccess],
)
def compare_versions(
    dataset: DatasetPath,
    version: VersionPath,
    registry: RegistryDep,
    store: StoreDep,
    other: Annotated[
        str | None,
        Query(alias="with", description="The version to compare with (default: the current)."),
    ] = None,
) -> VersionComparison:
    """Sizes of the published (champion) segments of ``version`` and ``with`` (default: the
    current version), the ids both keep, and how customers moved (customers matched by id;
    none without an id column)."""
    if not store.list_children(ModelLayout.dataset(dataset)):
        raise DatasetNotFoundError(f"no dataset named {quote_value(dataset)}")
    base = registry.get(dataset, version)
    later = registry.get(dataset, other)
    base_key, base_set = _published(base)
    other_key, other_set = _published(later)
    overlay = read_names(store, dataset)
    names = {int(k): v.name for k, v in overlay.names.items()}
    base_table, other_table = _assignments(base), _assignments(later)
    base_algo, other_algo = base_set.algorithm, other_set.algorithm
    note = None
    moves: list[SegmentMove] = []
    matched: int | None = None
    if base_table.ids is None or other_table.ids is None:
        note = "the uploads have no id column: customers cannot be matched between versions"
    else:
        pairs, matched = segment_moves(base_table, base_algo, other_table, other_algo)
        moves = [
            SegmentMove(from_segment=a, to_segment=b, customers=n) for (a, b), n in pairs.items()
        ]
    base_ids = {s.segment_id for s in base_set.segments}
    return VersionComparison(
        dataset=dataset,
        base_version=base.version,
        other_version=later.version,
        base_model=base_key,
        other_model=other_key,
        base_segments=_counts(base_set, names),
        other_segments=_counts(other_set, names),
        kept=sorted(s.segment_id for s in other_set.segments if s.segment_id in base_ids),
        matched_customers=matched,
        moves=moves,
        note=note,
    )

"""Segment profiles of a version: every segment of one fitted model, or one segment."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from fastapi import Path as PathParam

from lambdas.api.dependencies import (
    AlgorithmQuery,
    DatasetPath,
    KQuery,
    ReadAccess,
    RegistryDep,
    StoreDep,
    VersionQuery,
)
from lambdas.api.errors import ERROR_RESPONSES
from lambdas.api.schemas import NamedSegment, SegmentDetail, SegmentsResponse
from shared.contract.profiles import SegmentProfile
from shared.exceptions import SegmentNotFoundError
from shared.serving.names import named, read_names
from shared.store.base import ModelStore

__all__ = ["router"]

router = APIRouter(
    prefix="/datasets", tags=["segments"], dependencies=[ReadAccess], responses=ERROR_RESPONSES
)


def _named(store: ModelStore, dataset: str, segments: list[SegmentProfile]) -> list[NamedSegment]:
    """The segments with the names people set (``names.json``) over the generated ones."""
    overlay = read_names(store, dataset)
    return [
        NamedSegment(
            **segment.model_dump(exclude={"name"}),
            name=shown,
            generated_name=segment.name,
            name_source=source,
        )
        for segment, shown, source in named(segments, overlay)
    ]


@router.get(
    "/{dataset}/segments", response_model=SegmentsResponse, summary="Segment profiles of a model"
)
def list_segments(
    dataset: DatasetPath,
    registry: RegistryDep,
    store: StoreDep,
    algorithm: AlgorithmQuery = None,
    k: KQuery = None,
    version: VersionQuery = None,
) -> SegmentsResponse:
    """Every segment of one fitted model (default: the champion at its chosen k).

    ``size`` counts the training customers in the segment; ``share`` is its fraction. ``name``
    is a person's name for the segment when one was set (``name_source: person``), else the
    generated one (kept in ``generated_name``).
    """
    model = registry.get(dataset, version)
    choice = model.choose(algorithm, k)
    segments = model.segment_set(choice)
    return SegmentsResponse(
        dataset=model.dataset,
        model_version=model.version,
        algorithm=segments.algorithm,
        k=choice.k,
        n_segments=segments.n_segments,
        segments=_named(store, model.dataset, segments.segments),
        population=segments.population,
        population_categorical=segments.population_categorical,
    )


@router.get(
    "/{dataset}/segments/{segment_id}",
    response_model=SegmentDetail,
    summary="One segment's profile",
)
def get_segment(
    dataset: DatasetPath,
    segment_id: Annotated[int, PathParam(ge=-1, le=10_000, description="-1 is Outliers.")],
    registry: RegistryDep,
    store: StoreDep,
    algorithm: AlgorithmQuery = None,
    k: KQuery = None,
    version: VersionQuery = None,
) -> SegmentDetail:
    """One segment of one fitted model, with its statistics and distinctive features."""
    model = registry.get(dataset, version)
    choice = model.choose(algorithm, k)
    segments = model.segment_set(choice)
    segment = segments.by_id(segment_id)
    if segment is None:
        known = ", ".join(str(s.segment_id) for s in segments.segments)
        raise SegmentNotFoundError(
            f"{choice.key} of {model.dataset} version {model.version} has no segment "
            f"{segment_id}; its segments are {known}"
        )
    return SegmentDetail(
        **_named(store, model.dataset, [segment])[0].model_dump(),
        dataset=model.dataset,
        model_version=model.version,
        algorithm=segments.algorithm,
        k=choice.k,
    )

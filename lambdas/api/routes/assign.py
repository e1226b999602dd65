"""``POST /datasets/{dataset}/assign``: put new customers into segments."""

from __future__ import annotations

import gc
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from lambdas.api.dependencies import (
    AlgorithmQuery,
    DatasetPath,
    KQuery,
    ReadAccess,
    RegistryDep,
    SettingsDep,
    VersionQuery,
)
from lambdas.api.errors import ERROR_RESPONSES, AssignBatchTooLargeError
from lambdas.api.fastjson import FastJSONRoute, json_response
from lambdas.api.schemas import AssignRequest, AssignResponse, ErrorResponse
from shared.serving.model import SegmentationModel

__all__ = ["MAX_PREPARED", "enforce_batch_limit", "router"]

_frozen_versions: set[tuple[str, str]] = set()


def _freeze_loaded_model(model: SegmentationModel) -> None:
    """Move everything loaded so far (libraries, the model) out of the garbage collector's view.

    A loaded model drags in ~150,000 long-lived objects (scikit-learn, pandas, skops); every
    full collection would scan them again, adding 50-400 ms pauses to large batches. Freezing
    is O(1) and done once per model version and container.
    """
    key = (model.dataset, model.version)
    if key not in _frozen_versions and model.is_warm:
        gc.freeze()
        _frozen_versions.add(key)


MAX_PREPARED = 100
"""Most customers per call whose prepared vectors are returned (``prepared=true``): a vector
has one number per prepared feature, and 10,000 wide ones would not fit Lambda's 6 MB answer."""

PreparedQuery = Annotated[
    bool,
    Query(
        description="Also return each customer's prepared feature vector (`prepared`): the row "
        "of the model matrix, which plots.json's `pca_projection` maps onto the customer map. "
        f"At most {MAX_PREPARED} customers per call."
    ),
]

router = APIRouter(
    prefix="/datasets",
    tags=["assign"],
    dependencies=[ReadAccess],
    responses=ERROR_RESPONSES,
    route_class=FastJSONRoute,  # orjson parses the (up to 10,000-customer) body
)


async def enforce_batch_limit(request: Request, settings: SettingsDep) -> None:
    """Refuse an oversized batch (413) before any customer is validated.

    FastAPI has already parsed the JSON body (and caches it on the request), but dependencies
    run before the body model validates each customer, so a 100,000-customer body costs one
    ``len()`` here, not 100,000 validations.
    """
    try:
        body: Any = await request.json()
    except ValueError:
        return  # not JSON: the body model answers with a 422 naming the problem
    customers = body.get("customers") if isinstance(body, dict) else None
    limit = settings.max_assign_batch
    if isinstance(customers, list) and len(customers) > limit:
        raise AssignBatchTooLargeError(
            f"{len(customers)} customers in one call exceed the limit of {limit} "
            "(MAX_ASSIGN_BATCH); split the batch",
            limit=limit,
        )


@router.post(
    "/{dataset}/assign",
    response_model=AssignResponse,
    summary="Assign customers to segments",
    dependencies=[Depends(enforce_batch_limit)],
    responses={413: {"model": ErrorResponse, "description": "Batch or body over the limit"}},
)
async def assign(
    dataset: DatasetPath,
    body: AssignRequest,
    registry: RegistryDep,
    algorithm: AlgorithmQuery = None,
    k: KQuery = None,
    version: VersionQuery = None,
    prepared: PreparedQuery = False,
) -> Response:
    """Assign each customer (keyed by the upload's original column names) to a segment.

    Answers in request order. Missing or null values are imputed as in training and listed in
    ``imputed``; values outside the training range or unseen categories are accepted with a
    warning; a value of the wrong type is a 422 naming its row and column.

    With ``prepared=true`` each assignment also carries the customer's prepared vector, from
    the same serving transform (the dashboard places a typed-in customer on the PCA map with it).
    """
    if prepared and len(body.customers) > MAX_PREPARED:
        raise AssignBatchTooLargeError(
            f"prepared=true returns the vectors of at most {MAX_PREPARED} customers per call, "
            f"not {len(body.customers)}; split the batch",
            limit=MAX_PREPARED,
        )
    model = registry.get(dataset, version)
    result = model.assign_batch(body.customers, algorithm=algorithm, k=k)
    _freeze_loaded_model(model)
    assignments = result.to_dicts()
    if prepared and assignments:
        # The serving transform again, on the same records (the dashboard asks for one
        # customer at a time; plain assign calls never pay for it).
        X, _, _ = model.transform(body.customers)
        for row, vector in zip(assignments, X.tolist(), strict=True):
            row["prepared"] = vector
    payload = {
        "dataset": model.dataset,
        "model_version": model.version,
        "algorithm": result.choice.algorithm,
        "k": result.choice.k,
        "count": len(result),
        "assignments": assignments,
    }
    # Written by orjson instead of re-validated through response_model (which still documents
    # the schema): a 10,000-customer answer would otherwise spend longer in validation than in
    # the model. The columns are typed where they are built
    # (shared.serving.results.SegmentAssignments),
    # and the integration tests validate answers against AssignResponse.
    return json_response(payload)

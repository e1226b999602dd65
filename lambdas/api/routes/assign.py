"""``POST /datasets/{dataset}/assign``: put new customers into segments."""

from __future__ import annotations

import gc
from collections.abc import Callable, Coroutine, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

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
from shared.serving.registry import ModelRegistry

__all__ = [
    "INLINE_MAX_CUSTOMERS",
    "MAX_EXPLAINED",
    "MAX_PREPARED",
    "batch_limit",
    "enforce_batch_limit",
    "router",
]

INLINE_MAX_CUSTOMERS = 16
"""Batches up to this size are assigned on the event loop when the model is loaded (tens of
microseconds of numpy). Larger ones go to a thread where requests share the loop (uvicorn), and
any request that must read the store always does."""

_frozen_versions: set[tuple[str, str]] = set()


def _freeze_loaded_model(model: SegmentationModel) -> None:
    """Move everything loaded so far (libraries, the model) out of the garbage collector's view.

    A loaded model and the libraries around it are long-lived objects; every full collection
    would scan them again, adding pauses to large batches. Freezing is O(1) and done once per
    model version and container.
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

MAX_EXPLAINED = 1_000
"""Most customers per call with ``explain=true``: an explanation (runner-up, margin, three
columns with values, segment means and a sentence) is about 1 kB of JSON, so 10,000 explained
customers would pass Lambda's 6 MB answer (bench/api.py prints the measured size)."""

ExplainQuery = Annotated[
    bool,
    Query(
        description="Also return why each customer is in its segment (`explanation`): the "
        "rule's margin over the runner-up segment, split exactly into per-column "
        "contributions, the largest listed in original units. "
        f"At most {MAX_EXPLAINED} customers per call."
    ),
]

router = APIRouter(
    prefix="/datasets",
    tags=["assign"],
    dependencies=[ReadAccess],
    responses=ERROR_RESPONSES,
    route_class=FastJSONRoute,  # orjson parses the (up to 10,000-customer) body
)


def batch_limit(
    key: str, noun: str, advice: str
) -> Callable[[Request, SettingsDep], Coroutine[Any, Any, None]]:
    """A dependency refusing more than ``MAX_ASSIGN_BATCH`` items of body ``key`` (413).

    FastAPI has already parsed the JSON body (and caches it on the request), but dependencies
    run before the body model validates each item, so a 100,000-item body costs one ``len()``
    here, not 100,000 validations.
    """

    async def enforce(request: Request, settings: SettingsDep) -> None:
        try:
            body: Any = await request.json()
        except ValueError:
            return  # not JSON: the body model answers with a 422 naming the problem
        items = body.get(key) if isinstance(body, dict) else None
        limit = settings.max_assign_batch
        if isinstance(items, list) and len(items) > limit:
            raise AssignBatchTooLargeError(
                f"{len(items)} {noun} in one call exceed the limit of {limit} "
                f"(MAX_ASSIGN_BATCH); {advice}",
                limit=limit,
            )

    return enforce


enforce_batch_limit = batch_limit("customers", "customers", "split the batch")
"""Refuse an oversized batch of customers (413) before any customer is validated."""


@router.post(
    "/{dataset}/assign",
    response_model=AssignResponse,
    summary="Assign customers to segments",
    dependencies=[Depends(enforce_batch_limit)],
    responses={413: {"model": ErrorResponse, "description": "Batch or body over the limit"}},
)
async def assign(
    request: Request,
    dataset: DatasetPath,
    body: AssignRequest,
    registry: RegistryDep,
    algorithm: AlgorithmQuery = None,
    k: KQuery = None,
    version: VersionQuery = None,
    prepared: PreparedQuery = False,
    explain: ExplainQuery = False,
) -> Response:
    """Assign each customer (keyed by the upload's original column names) to a segment.

    Answers in request order. Missing or null values are imputed as in training and listed in
    ``imputed``; values outside the training range or unseen categories are accepted with a
    warning; a value of the wrong type is a 422 naming its row and column. A customer with no
    known feature is a 422 naming its row and the expected columns; one with more than half of
    its features imputed gets ``confidence: null`` and a warning.

    With ``prepared=true`` each assignment also carries the customer's prepared vector, from
    the same serving transform (the dashboard places a typed-in customer on the PCA map with it).
    With ``explain=true`` each carries its ``explanation`` (why this segment, exactly).
    """
    if prepared and len(body.customers) > MAX_PREPARED:
        raise AssignBatchTooLargeError(
            f"prepared=true returns the vectors of at most {MAX_PREPARED} customers per call, "
            f"not {len(body.customers)}; split the batch",
            limit=MAX_PREPARED,
        )
    if explain and len(body.customers) > MAX_EXPLAINED:
        raise AssignBatchTooLargeError(
            f"explain=true explains at most {MAX_EXPLAINED} customers per call, not "
            f"{len(body.customers)}; split the batch",
            limit=MAX_EXPLAINED,
        )
    model = registry.cached(dataset, version)
    if model is None or not model.is_ready(algorithm, k):
        # A store read (a refresh of current.json, a first load): never on the event loop.
        return await run_in_threadpool(
            _answer_loading,
            registry,
            dataset,
            version,
            body.customers,
            algorithm,
            k,
            prepared,
            explain,
        )
    if len(body.customers) > INLINE_MAX_CUSTOMERS and _serves_concurrently(request):
        # Real CPU work while other requests may be waiting on this loop: a thread.
        return await run_in_threadpool(
            _answer, model, body.customers, algorithm, k, prepared, explain
        )
    # The hot path: the model is in memory, and either the batch is small (a thread hop would
    # cost more than the assignment) or nothing else shares this loop.
    return _answer(model, body.customers, algorithm, k, prepared, explain)


def _serves_concurrently(request: Request) -> bool:
    """False inside Lambda: Mangum puts the event in the scope, and a Lambda container handles
    one invocation at a time, so nothing else waits on its event loop (a thread hop would only
    add scheduling latency). True under uvicorn."""
    return "aws.event" not in request.scope


def _answer_loading(
    registry: ModelRegistry,
    dataset: str,
    version: str | None,
    customers: Sequence[dict[str, Any]],
    algorithm: str | None,
    k: int | None,
    prepared: bool,
    explain: bool = False,
) -> Response:
    """:func:`_answer` after getting the model from the registry (may read the store)."""
    return _answer(registry.get(dataset, version), customers, algorithm, k, prepared, explain)


def _answer(
    model: SegmentationModel,
    customers: Sequence[dict[str, Any]],
    algorithm: str | None,
    k: int | None,
    prepared: bool,
    explain: bool = False,
) -> Response:
    result = model.assign_batch(customers, algorithm=algorithm, k=k, explain=explain)
    _freeze_loaded_model(model)
    assignments = result.to_dicts()
    if prepared and assignments:
        # The serving transform again, on the same records (the dashboard asks for one
        # customer at a time; plain assign calls never pay for it).
        X, _, _ = model.transform(customers)
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

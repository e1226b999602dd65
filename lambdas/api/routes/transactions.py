"""``POST /datasets/{dataset}/assign-transactions``: order lines to customers to segments."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from lambdas.api.dependencies import (
    AlgorithmQuery,
    DatasetPath,
    KQuery,
    ReadAccess,
    RegistryDep,
    VersionQuery,
)
from lambdas.api.errors import ERROR_RESPONSES
from lambdas.api.fastjson import FastJSONRoute, json_response
from lambdas.api.routes.assign import batch_limit
from lambdas.api.schemas import ErrorResponse, TransactionAssignRequest, TransactionAssignResponse
from shared.serving.registry import ModelRegistry
from shared.serving.transactions import assign_transactions

__all__ = ["enforce_line_limit", "router"]

router = APIRouter(
    prefix="/datasets",
    tags=["assign"],
    dependencies=[ReadAccess],
    responses=ERROR_RESPONSES,
    route_class=FastJSONRoute,
)


enforce_line_limit = batch_limit(
    "transactions", "order lines", "split the lines by customer, or score the whole file"
)
"""Refuse more than ``MAX_ASSIGN_BATCH`` lines (413) before any line is validated."""


@router.post(
    "/{dataset}/assign-transactions",
    response_model=TransactionAssignResponse,
    summary="Aggregate order lines per customer and assign each customer",
    dependencies=[Depends(enforce_line_limit)],
    responses={
        409: {"model": ErrorResponse, "description": "The version was trained on customers"},
        413: {"model": ErrorResponse, "description": "More lines than the limit"},
    },
)
def assign_order_lines(
    dataset: DatasetPath,
    body: TransactionAssignRequest,
    registry: RegistryDep,
    algorithm: AlgorithmQuery = None,
    k: KQuery = None,
    version: VersionQuery = None,
) -> Response:
    """Aggregate the lines per customer with the version's training rules, then assign.

    For versions trained on an order-line upload (the manifest's ``transactions``). Lines are
    keyed by the upload's columns; each customer's recency, frequency, monetary... are computed
    exactly as in training (cancellations and returns net against purchases; lines without a
    customer, date or amount are left out and counted in ``dropped_lines``) and counted to
    ``as_of`` (default: today, UTC; the answer says which). One assignment per customer, in
    customer-id order, with the features it was assigned on. A version trained on a customer
    table answers 409.
    """
    as_of, source = (body.as_of, "request") if body.as_of else (datetime.now(UTC).date(), "today")
    return _answer(registry, dataset, version, body.transactions, as_of, source, algorithm, k)


def _answer(
    registry: ModelRegistry,
    dataset: str,
    version: str | None,
    lines: Sequence[dict[str, Any]],
    as_of: date,
    source: str,
    algorithm: str | None,
    k: int | None,
) -> Response:
    model = registry.get(dataset, version)
    result = assign_transactions(model, lines, as_of=as_of, algorithm=algorithm, k=k)
    return json_response(
        {
            "dataset": model.dataset,
            "model_version": model.version,
            "algorithm": result.assignments.choice.algorithm,
            "k": result.assignments.choice.k,
            "as_of": as_of.isoformat(),
            "as_of_source": source,
            "lines": result.customers.lines,
            "dropped_lines": result.customers.dropped,
            "count": len(result.assignments),
            "assignments": result.to_dicts(),
        }
    )

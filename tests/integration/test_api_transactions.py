"""``POST /datasets/{d}/assign-transactions`` through the Lambda handler, on a published version
trained from order lines by the real pipeline."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from mangum import Mangum

from lambdas.api.main import create_app
from lambdas.api.schemas import TransactionAssignResponse
from shared.contract.config import DatasetConfig
from shared.contract.layout import ASSIGNMENTS_PATH
from shared.settings import Settings
from shared.store.local import LocalModelStore
from shared.training.pipeline import TrainingOutput, train_segments
from tests.hardening.conftest import api_call, good_output, seed_good_model
from tests.support.orders import planted_order_lines

__all__ = ["good_output"]  # the session fixture, imported for this module

TOKEN = "read-5d1c7b3a9e2f4a6c8b0d"


@pytest.fixture(scope="module")
def orders() -> pd.DataFrame:
    """Planted lines whose Country is the customer's (carried to the customer table and
    profiled; the lines sent for assignment carry it too, and it must not get in the way)."""
    frame = planted_order_lines(90, seed=2).frame
    ids = sorted(frame["CustomerID"].dropna().unique())
    countries = ["United Kingdom", "France", "Germany"]
    frame["Country"] = frame["CustomerID"].map({c: countries[i % 3] for i, c in enumerate(ids)})
    return frame


@pytest.fixture(scope="module")
def trained(orders: pd.DataFrame) -> TrainingOutput:
    raw = orders.to_csv(index=False).encode()
    config = DatasetConfig(algorithms=["kmeans", "gmm"], k_max=6)
    return train_segments(raw, filename="orders.csv", config=config, dataset="orders")


@pytest.fixture(scope="module")
def api(
    tmp_path_factory: pytest.TempPathFactory, trained: TrainingOutput, good_output: TrainingOutput
) -> Mangum:
    store = LocalModelStore(Path(tmp_path_factory.mktemp("orders-models")))
    seed_good_model(store, trained, "orders")
    seed_good_model(store, good_output, "mall")
    settings = Settings(api_tokens_raw=TOKEN, max_assign_batch=5_000)
    return Mangum(create_app(store=store, settings=settings), lifespan="off")


def send(api: Mangum, dataset: str, body: Any, **query: Any) -> tuple[int, Any]:
    return api_call(
        api, "POST", f"/datasets/{dataset}/assign-transactions", body=body, token=TOKEN, query=query
    )


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    loaded: list[dict[str, Any]] = json.loads(frame.to_json(orient="records"))
    return loaded


def test_training_lines_reproduce_the_training_segments(
    api: Mangum, orders: pd.DataFrame, trained: TrainingOutput
) -> None:
    assert trained.transactions is not None
    assert trained.transactions.attributes == ["Country"]
    as_of = trained.transactions.spec.as_of
    status, body = send(api, "orders", {"transactions": records(orders), "as_of": as_of})
    assert status == 200, body
    answer = TransactionAssignResponse.model_validate(body)
    assert (answer.as_of.isoformat(), answer.as_of_source) == (as_of, "request")
    assert answer.lines == len(orders)
    assert answer.dropped_lines == trained.transactions.dropped
    expected = pd.read_csv(
        io.BytesIO(trained.artifacts[ASSIGNMENTS_PATH]),
        compression="gzip",
        dtype={"CustomerID": str},
    )
    assert [a.customer_id for a in answer.assignments] == list(expected["CustomerID"])
    assert [a.segment_id for a in answer.assignments] == list(expected[trained.champion])
    assert answer.count == len(expected)
    first = answer.assignments[0]
    assert set(first.features) == set(trained.transactions.spec.features)


def test_as_of_defaults_to_today_and_every_algorithm_answers(
    api: Mangum, orders: pd.DataFrame
) -> None:
    mine = orders[orders["CustomerID"] == orders["CustomerID"].dropna().iloc[0]]
    for algorithm in ("kmeans", "gmm"):
        status, body = send(api, "orders", {"transactions": records(mine)}, algorithm=algorithm)
        assert status == 200, body
        assert body["as_of_source"] == "today"
        assert body["as_of"] == datetime.now(UTC).date().isoformat()
        assert body["algorithm"] == algorithm
        assert body["count"] == 1
        recency = body["assignments"][0]["features"]["recency_days"]
        assert recency > (date.today() - date(2024, 6, 30)).days - 2


def test_bad_lines_are_422_naming_line_and_column(api: Mangum, orders: pd.DataFrame) -> None:
    lines = records(orders.head(3))
    lines[2]["Quantity"] = "lots"
    status, body = send(api, "orders", {"transactions": lines, "as_of": "2024-06-30"})
    assert status == 422, body
    assert body["error"] == "invalid_transactions"
    assert "line 2, column 'Quantity'" in body["message"]
    assert "Traceback" not in json.dumps(body)
    status, body = send(api, "orders", {"transactions": lines[:2], "as_of": "2024-13-40"})
    assert status == 422
    assert "as_of" in json.dumps(body)


def test_customer_table_version_is_409(api: Mangum) -> None:
    status, body = send(api, "mall", {"transactions": [{"Age": 30}]})
    assert status == 409, body
    assert body["error"] == "not_order_lines"
    assert "/assign" in body["message"]


def test_more_lines_than_the_limit_is_413(api: Mangum) -> None:
    status, body = send(api, "orders", {"transactions": [{}] * 5_001})
    assert status == 413, body
    assert "5001 order lines" in body["message"]

"""An order-line export dropped into the local stack, as a shop would: detected, aggregated per
customer, named in RFM terms, shown in the dashboard, and its new lines assigned over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import TRAINING_TIMEOUT_S, _wait_for_model, new_page, post_json
from tests.support.orders import planted_order_lines

pytestmark = pytest.mark.browser

ORDERS = "shop"


@pytest.fixture(scope="module")
def orders_api() -> Iterator[str]:
    """The local stack with a shop's order lines uploaded (no config) and trained."""
    from cli.localstack import LocalStack, LocalStackConfig

    stack = LocalStack(LocalStackConfig(log_level="WARNING")).start()
    try:
        frame = planted_order_lines(150, seed=8).frame
        stack.client("s3").put_object(
            Bucket=stack.raw_bucket,
            Key=f"uploads/{ORDERS}/invoice_lines.csv",
            Body=frame.to_csv(index=False).encode(),
        )
        _wait_for_model(stack.api_url, ORDERS, TRAINING_TIMEOUT_S)
        yield str(stack.api_url)
    finally:
        stack.stop()


def test_order_lines_become_rfm_segments_in_the_dashboard(orders_api: str, browser: Any) -> None:
    page = new_page(browser)
    try:
        page.goto(f"{orders_api}/#dataset={ORDERS}")
        page.wait_for_selector("[data-testid=segment-card]")
        scores = page.locator("[data-testid=rfm-scores]").all_inner_texts()
        assert scores, "no RFM line on the cards"
        assert all(text.startswith("RFM R ") for text in scores)
        page.click("#analysis-tabs [data-tab=data]")
        facts = page.locator("[data-testid=order-lines]").inner_text()
        assert "→ 150 customers" in facts
        assert "no customer id" in facts
        assert page.script_errors == []
    finally:
        page.context.close()


def test_new_lines_are_assigned_per_customer_over_http(orders_api: str) -> None:
    lines = [
        {"InvoiceNo": "700001", "InvoiceDate": "06/20/2024 10:00", "CustomerID": 99001,
         "StockCode": "10001", "Quantity": 40, "UnitPrice": 35.0},
        {"InvoiceNo": "700002", "InvoiceDate": "06/27/2024 10:00", "CustomerID": 99001,
         "StockCode": "10002", "Quantity": 40, "UnitPrice": 30.0},
        {"InvoiceNo": "600001", "InvoiceDate": "07/01/2023 10:00", "CustomerID": 99002,
         "StockCode": "10003", "Quantity": 1, "UnitPrice": 2.0},
    ]  # fmt: skip
    body = post_json(
        f"{orders_api}/datasets/{ORDERS}/assign-transactions",
        {"transactions": lines, "as_of": "2024-06-30"},
    )
    assert [a["customer_id"] for a in body["assignments"]] == ["99001", "99002"]
    first, second = body["assignments"]
    assert first["features"]["recency_days"] == 3
    assert first["features"]["frequency"] == 2
    assert second["features"]["recency_days"] == 365
    assert first["segment_id"] != second["segment_id"]

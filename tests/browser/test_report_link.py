"""The dashboard's "Full report" on the local stack: a presigned URL of the S3 (moto) object.

The report never passes through the API there (as deployed): the button asks report-link and
opens the presigned URL in a new tab, where the report draws its figures.
"""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect


def test_full_report_opens_the_presigned_s3_url(page: Any, api_url: str) -> None:
    page.goto(f"{api_url}/")
    page.wait_for_selector("[data-testid=segment-card]")
    with page.context.expect_page() as opened:
        page.locator("#report-link").click()
    report = opened.value
    report.wait_for_url("**X-Amz-Signature=*")
    report.wait_for_load_state()
    assert "/datasets/mall/versions/" in report.url
    assert "X-Amz-Expires=300" in report.url
    boxes = report.locator("[data-figure]")
    expect(boxes.first).to_be_attached()
    assert boxes.count() > 5
    assert page.script_errors == []

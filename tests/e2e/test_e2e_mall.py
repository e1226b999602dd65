"""End to end on the local stack: upload Mall, train through the queue, use the API and the CLI."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from cli.main import main
from shared.contract.layout import ModelLayout
from shared.contract.manifest import CurrentPointer
from shared.store.base import read_current
from shared.store.s3 import S3ModelStore
from tests.e2e.conftest import MALL_CSV, TrainedStack

pytestmark = pytest.mark.e2e

INCOME = "Annual Income (k$)"
SPENDING = "Spending Score (1-100)"


def _get(stack: TrainedStack, path: str, **params: Any) -> Any:
    response = httpx.get(f"{stack.stack.api_url}{path}", params=params, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def _assign(stack: TrainedStack, customers: list[dict[str, Any]], **params: Any) -> Any:
    response = httpx.post(
        f"{stack.stack.api_url}/datasets/mall/assign",
        params=params,
        json={"customers": customers},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return response.json()


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _store_flags(stack: TrainedStack) -> list[str]:
    return [
        "--models-bucket",
        stack.stack.models_bucket,
        "--endpoint-url",
        stack.stack.endpoint_url,
    ]


def test_upload_published_a_current_version(mall_stack: TrainedStack) -> None:
    manifest = mall_stack.manifest
    assert manifest.source.key == "uploads/mall/mall_customers.csv"
    assert manifest.rows.used == 200
    assert [c.name for c in manifest.input_columns] == [INCOME, SPENDING]
    store = S3ModelStore(mall_stack.stack.models_bucket, client=mall_stack.stack.client("s3"))
    current = read_current(store, "mall")
    assert current is not None
    assert current.version == manifest.version
    assert manifest.algorithms["kmeans"].k == 5  # the k rule finds the five classic segments


def test_kmeans_gives_five_named_segments_over_http(mall_stack: TrainedStack) -> None:
    body = _get(mall_stack, "/datasets/mall/segments", algorithm="kmeans")
    segments = body["segments"]
    assert body["model_version"] == mall_stack.manifest.version
    assert len(segments) == 5
    assert sum(s["size"] for s in segments) == 200
    names = [s["name"] for s in segments]
    assert len(set(names)) == 5
    # The corners of the income x spending plane are named as such.
    corners = [n.lower() for n in names if "income" in n.lower() and "spending" in n.lower()]
    assert len(corners) >= 4, names


def test_assign_over_http_puts_customers_in_the_right_corner(mall_stack: TrainedStack) -> None:
    profiles = {
        s["segment_id"]: s
        for s in _get(mall_stack, "/datasets/mall/segments", algorithm="kmeans")["segments"]
    }
    rich_spender = {INCOME: 120, SPENDING: 90}
    frugal_poor = {INCOME: 18, SPENDING: 8}
    body = _assign(mall_stack, [rich_spender, frugal_poor], algorithm="kmeans")
    first, second = body["assignments"]
    assert first["segment_id"] != second["segment_id"]
    rich = profiles[first["segment_id"]]["numeric"]
    poor = profiles[second["segment_id"]]["numeric"]
    assert rich[INCOME]["z"] > 0.5
    assert rich[SPENDING]["z"] > 0.5
    assert poor[INCOME]["z"] < -0.5
    assert poor[SPENDING]["z"] < -0.5


def test_assigning_the_training_rows_reproduces_segment_sizes(mall_stack: TrainedStack) -> None:
    import csv

    with MALL_CSV.open(newline="") as fh:
        rows = [{INCOME: int(r[INCOME]), SPENDING: int(r[SPENDING])} for r in csv.DictReader(fh)]
    body = _assign(mall_stack, rows, algorithm="kmeans")
    counts = Counter(a["segment_id"] for a in body["assignments"])
    sizes = {
        s["segment_id"]: s["size"]
        for s in _get(mall_stack, "/datasets/mall/segments", algorithm="kmeans")["segments"]
    }
    assert dict(counts) == sizes


def test_cli_segments_status_and_assign_against_the_stack(
    mall_stack: TrainedStack, capsys: pytest.CaptureFixture[str]
) -> None:
    url = mall_stack.stack.api_url
    code, out, _ = _cli(capsys, "segments", "--dataset", "mall", "--api-url", url, "-o", "json")
    assert code == 0
    assert json.loads(out)["model_version"] == mall_stack.manifest.version

    code, out, _ = _cli(
        capsys,
        "assign",
        "--dataset",
        "mall",
        "--api-url",
        url,
        "--json",
        json.dumps({INCOME: 120, SPENDING: 90}),
        "-o",
        "json",
    )
    assert code == 0
    assert len(json.loads(out)["assignments"]) == 1

    code, out, _ = _cli(
        capsys, "status", "--dataset", "mall", "-o", "json", *_store_flags(mall_stack)
    )
    assert code == 0
    (entry,) = json.loads(out)
    assert entry["current_version"] == mall_stack.manifest.version

    code, _, err = _cli(capsys, "segments", "--dataset", "nosuch", "--api-url", url)
    assert code == 5, err


def test_cli_upload_of_a_bad_file_exits_2_and_keeps_the_model(
    mall_stack: TrainedStack, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    stack = mall_stack.stack
    bad = tmp_path / "header_only.csv"
    bad.write_text(f"CustomerID,{INCOME},{SPENDING}\n")
    store = S3ModelStore(stack.models_bucket, client=stack.client("s3"))
    before = store.get_bytes(ModelLayout.current("mall"))
    code, _, err = _cli(
        capsys,
        "upload",
        str(bad),
        "--dataset",
        "mall",
        "--raw-bucket",
        stack.raw_bucket,
        "--timeout",
        "120",
        *_store_flags(mall_stack),
    )
    assert code == 2, err
    assert "training refused" in err
    after = store.get_bytes(ModelLayout.current("mall"))
    assert CurrentPointer.model_validate_json(after).version == mall_stack.manifest.version
    assert after == before
    # The model still answers.
    assert _assign(mall_stack, [{INCOME: 60, SPENDING: 50}])["assignments"]

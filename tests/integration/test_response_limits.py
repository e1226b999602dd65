"""Every route's answer fits Lambda's 6 MB response limit on a wide dataset, through Mangum.

The app is called the way Lambda calls it: ``lambdas.api.main.handler`` with API Gateway v2
events, against a moto S3 models bucket holding a 20,000 x 36 table's version (whose
``report.html`` is ~6 MB). The measure is the size of the whole Lambda response document
(body escaped or base64-encoded, plus headers), as Lambda counts it. Routes are enumerated from
the OpenAPI schema, so a new JSON route is checked without editing this file.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from lambdas.api import main
from lambdas.api.dependencies import reset_services
from shared.contract.layout import REPORT_PATH, ModelLayout
from shared.contract.manifest import CurrentPointer, SourceInfo
from shared.settings import get_settings
from shared.store.base import write_current
from shared.store.s3 import S3ModelStore
from shared.training.pipeline import TrainingOutput, train_segments
from shared.training.run import publish_version
from tests.support.aws import AWS_TEST_ENV, FakeLambdaContext
from tests.support.customer_tables import wide_table
from tests.support.events import load_event

pytestmark = pytest.mark.slow

LAMBDA_RESPONSE_LIMIT = 6 * 1024 * 1024
BUCKET = "segments-models-wide"
DATASET = "wide"
VERSION = "v1"
PATH_VALUES = {
    "{dataset}": DATASET,
    "{version}": VERSION,
    "{segment_id}": "0",
    "{job_id}": "20250101T000000Z-0123456789",
}
ASSIGN_ROWS = 2_000


@pytest.fixture(scope="module")
def wide() -> tuple[bytes, TrainingOutput]:
    table = wide_table()
    assert table.shape == (20_000, 36)
    data = table.to_csv(index=False).encode()
    return data, train_segments(data, filename="wide.csv", dataset=DATASET)


@pytest.fixture(scope="module")
def bucket(wide: tuple[bytes, TrainingOutput]) -> Iterator[S3ModelStore]:
    _, output = wide
    with pytest.MonkeyPatch.context() as mp:
        for name, value in AWS_TEST_ENV.items():
            mp.setenv(name, value)
        with mock_aws():
            client = boto3.client("s3")
            client.create_bucket(Bucket=BUCKET)
            store = S3ModelStore(BUCKET, client=client)
            source = SourceInfo(bucket="raw", key="uploads/wide/wide.csv", sha256="0" * 64, size=1)
            publish_version(store, DATASET, VERSION, output, source, created_at=datetime.now(UTC))
            write_current(
                store, DATASET, CurrentPointer(version=VERSION, updated_at=datetime.now(UTC))
            )
            yield store


@pytest.fixture
def handler(bucket: S3ModelStore, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in AWS_TEST_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("MODELS_DIR", raising=False)
    monkeypatch.setenv("MODELS_BUCKET", BUCKET)
    monkeypatch.setenv("RAW_BUCKET", "segments-raw-wide")  # browser uploads are signed for it
    get_settings.cache_clear()
    reset_services(main.app)
    yield main.handler
    reset_services(main.app)
    get_settings.cache_clear()


def _event(method: str, path: str, *, gzip_ok: bool, body: Any = None) -> dict[str, Any]:
    event = load_event("api-assign" if method in ("POST", "PUT") else "api-health")
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    event["rawQueryString"] = ""
    event["queryStringParameters"] = None
    headers = {k: v for k, v in event["headers"].items() if k != "accept-encoding"}
    if gzip_ok:
        headers["accept-encoding"] = "gzip, deflate, br"
    if body is not None:
        event["body"] = json.dumps(body)
        headers["content-length"] = str(len(event["body"].encode()))
    event["headers"] = headers
    return event


def _json_routes() -> list[tuple[str, str]]:
    routes = []
    for path, operations in main.app.openapi()["paths"].items():
        for method in operations:
            concrete = path
            for placeholder, value in PATH_VALUES.items():
                concrete = concrete.replace(placeholder, value)
            routes.append((method.upper(), concrete))
    return sorted(routes)


ROUTES = _json_routes()


def _payload(out: dict[str, Any]) -> bytes:
    """The body as the client receives it."""
    text = out.get("body") or ""
    raw = base64.b64decode(text) if out.get("isBase64Encoded") else text.encode()
    if out.get("headers", {}).get("content-encoding") == "gzip":
        raw = gzip.decompress(raw)
    return raw


def test_the_wide_report_alone_would_not_fit(wide: tuple[bytes, TrainingOutput]) -> None:
    """Why the report must not travel through the function (measured, not assumed)."""
    report = wide[1].artifacts[REPORT_PATH]
    assert len(json.dumps(report.decode())) > 0.9 * LAMBDA_RESPONSE_LIMIT


def test_the_routes_cover_the_api() -> None:
    paths = {path for _, path in ROUTES}
    for suffix in ("", "/segments", "/plots", "/evaluation", "/report", "/report-link", "/assign"):
        assert f"/datasets/{DATASET}{suffix}" in paths


@pytest.mark.parametrize("gzip_ok", [True, False], ids=["gzip", "identity"])
@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_every_route_fits_the_lambda_response_limit(
    handler: Any,
    wide: tuple[bytes, TrainingOutput],
    method: str,
    path: str,
    gzip_ok: bool,
) -> None:
    body = None
    expected = {200, 307}
    if path.endswith("/assign-transactions"):
        # The wide version is a customer table: order lines are refused (409) past auth.
        body = {"transactions": [{"customer_id": "C1"}]}
        expected = {409}
    elif path.endswith("/score-jobs"):
        # A score job: a presigned upload URL into the raw bucket (created).
        body = {"format": "csv.gz"}
        expected = {201}
    elif path.endswith("/assign"):
        rows = wide_table(ASSIGN_ROWS, seed=11).drop(columns=["customer_id"])
        body = {"customers": json.loads(rows.to_json(orient="records"))}
    elif path.endswith("/uploads"):
        body = {"filename": "wide.csv", "size": 1_000_000}
    elif path.endswith("/name"):
        body = {"name": "A name set by a person"}
    elif method == "POST":
        body = {}
    out = handler(_event(method, path, gzip_ok=gzip_ok, body=body), FakeLambdaContext())
    size = len(json.dumps(out).encode())
    assert size < LAMBDA_RESPONSE_LIMIT, (path, size)
    assert out["statusCode"] in expected, (path, out["statusCode"], _payload(out)[:300])
    if path.endswith("/report"):
        assert out["statusCode"] == 307
        assert out["headers"]["location"].startswith("https://")
    if path.endswith("/assign"):
        answer = json.loads(_payload(out))
        assert len(answer["assignments"]) == ASSIGN_ROWS
    if gzip_ok and len(_payload(out)) >= 4096 and out["statusCode"] == 200:
        assert out["headers"].get("content-encoding") == "gzip", path


def test_the_report_link_opens_the_report(handler: Any, bucket: S3ModelStore) -> None:
    out = handler(
        _event("GET", f"/datasets/{DATASET}/report-link", gzip_ok=True), FakeLambdaContext()
    )
    link = json.loads(_payload(out))
    assert link["model_version"] == VERSION
    assert "X-Amz-Expires=300" in link["url"]
    assert "response-content-type=text%2Fhtml" in link["url"]
    key = ModelLayout.artifact(DATASET, VERSION, REPORT_PATH)
    assert key in link["url"]

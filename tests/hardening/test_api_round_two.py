"""Round two of the hostile review through the Mangum handler (issue 16: 7, 9, 10, 13, 14)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mangum import Mangum

from lambdas.api.middleware import MAX_RESPONSE_BYTES, lambda_payload_size
from shared.contract.layout import ModelLayout
from shared.quoting import quote_value
from shared.serving.model import MAX_BATCH_WARNINGS, MAX_ROW_WARNINGS, cap_warnings
from shared.store.base import read_current
from shared.store.local import LocalModelStore
from shared.training.pipeline import TrainingOutput
from tests.hardening.conftest import (
    GOOD_VERSION,
    MALL_CUSTOMER,
    api_call,
    api_handler,
    seed_good_model,
)
from tests.support.aws import FakeLambdaContext
from tests.support.events import load_event


@pytest.fixture
def store(tmp_path: Path, good_output: TrainingOutput) -> LocalModelStore:
    store = LocalModelStore(tmp_path / "models")
    seed_good_model(store, good_output, "mall")
    return store


@pytest.fixture
def api(store: LocalModelStore) -> Mangum:
    return api_handler(store)


# --- item 9: a corrupt current.json -------------------------------------------------------------


@pytest.mark.parametrize("garbage", [b"{not json", b'{"version": 3}', b"\xff\xfe", b""])
def test_a_corrupt_pointer_reads_as_no_model_and_promote_repairs_it(
    store: LocalModelStore, garbage: bytes
) -> None:
    store.put_bytes(ModelLayout.current("mall"), garbage)
    api = api_handler(store)
    status, body = api_call(api, "GET", "/datasets/mall/versions")
    assert status == 200, body
    assert body["current_version"] is None
    assert [v["version"] for v in body["versions"]] == [GOOD_VERSION]
    status, body = api_call(api, "GET", "/datasets/mall/segments")
    assert status == 503, body
    assert body["error"] == "no_model"

    status, body = api_call(api, "POST", f"/datasets/mall/versions/{GOOD_VERSION}/promote")
    assert status == 200, body
    assert body["previous_version"] is None
    pointer = read_current(store, "mall")
    assert pointer is not None
    assert pointer.version == GOOD_VERSION
    status, body = api_call(api, "GET", "/datasets/mall/segments")
    assert status == 200, body


# --- item 14: cross-site requests, CSP of the report, HEAD, one x-request-id -------------------


def raw_call(
    handler: Mangum,
    method: str,
    path: str,
    *,
    body: str | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One API Gateway v2 event with exactly these headers; the raw Lambda answer."""
    event = load_event("api-health")
    event["rawPath"] = path
    event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    event["headers"] = {"host": HOST, **(headers or {})}
    if body is not None:
        event["body"] = body
        event["headers"]["content-length"] = str(len(body.encode()))
    out: dict[str, Any] = handler(event, FakeLambdaContext())  # type: ignore[arg-type]
    return out


HOST = "abc123defg.execute-api.eu-west-1.amazonaws.com"
PROMOTE = f"/datasets/mall/versions/{GOOD_VERSION}/promote"
FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({**FORM, "origin": "https://evil.example"}, "a=1"),
        (FORM, "a=1"),
        ({"content-type": "text/plain"}, '{"customers": []}'),
        ({"content-type": "multipart/form-data; boundary=x"}, "--x--"),
        ({}, "a=1"),
    ],
)
def test_a_form_post_cannot_promote(api: Mangum, headers: dict[str, str], body: str) -> None:
    out = raw_call(api, "POST", PROMOTE, body=body, headers=headers)
    assert out["statusCode"] == 415, out
    assert json.loads(out["body"])["error"] == "unsupported_media_type"


def test_a_foreign_origin_cannot_change_anything(api: Mangum, store: LocalModelStore) -> None:
    before = store.get_bytes(ModelLayout.current("mall"))
    for origin in ("https://evil.example", "null", f"https://{HOST}.evil.example"):
        out = raw_call(
            api,
            "POST",
            PROMOTE,
            body="{}",
            headers={"content-type": "application/json", "origin": origin},
        )
        assert out["statusCode"] == 403, out
        assert json.loads(out["body"])["error"] == "forbidden_origin"
    assert store.get_bytes(ModelLayout.current("mall")) == before


@pytest.mark.parametrize(
    "headers",
    [
        {"content-type": "application/json", "origin": f"https://{HOST}"},
        {"content-type": "application/json; charset=utf-8"},
        {},
    ],
)
def test_same_origin_and_origin_less_requests_still_promote(
    api: Mangum, headers: dict[str, str]
) -> None:
    out = raw_call(api, "POST", PROMOTE, body="{}" if headers else None, headers=headers)
    assert out["statusCode"] == 200, out


def test_the_report_has_a_content_security_policy_allowing_only_its_own_scripts(
    api: Mangum,
) -> None:
    out = raw_call(api, "GET", "/datasets/mall/report")
    assert out["statusCode"] == 200
    policy = out["headers"]["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy.split("script-src", 1)[1].split(";", 1)[0]
    assert policy.count("'sha256-") == 2  # plotly.js and the report's own script


@pytest.mark.parametrize("path", ["/health", "/datasets/mall/versions", "/", "/static/app.js"])
def test_head_answers_like_get_without_a_body(api: Mangum, path: str) -> None:
    got = raw_call(api, "GET", path)
    head = raw_call(api, "HEAD", path)
    assert head["statusCode"] == got["statusCode"] == 200
    assert head["body"] in ("", None)
    assert head["headers"]["content-type"] == got["headers"]["content-type"]


def test_head_where_no_get_exists_is_not_allowed(api: Mangum) -> None:
    assert raw_call(api, "HEAD", PROMOTE)["statusCode"] == 405


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/health"), ("GET", "/datasets/nope/versions"), ("POST", PROMOTE)],
)
def test_the_request_id_appears_once(api: Mangum, method: str, path: str) -> None:
    body = "{}" if method == "POST" else None
    headers = {"content-type": "application/json"} if body else {}
    out = raw_call(api, method, path, body=body, headers=headers)
    names = [k.lower() for k in out["headers"]] + [
        k.lower() for k in (out.get("multiValueHeaders") or {})
    ]
    assert names.count("x-request-id") == 1, out["headers"]
    assert "," not in out["headers"]["x-request-id"], out["headers"]  # Mangum joins repeats


# --- item 10: no response above Lambda's limit ------------------------------------------------


def test_the_default_response_cap_is_below_lambdas_six_megabytes() -> None:
    assert MAX_RESPONSE_BYTES < 6 * 1024 * 1024


def test_a_response_over_the_cap_is_a_413_that_says_so(store: LocalModelStore) -> None:
    small = api_handler(store, max_response_bytes=2_000)
    customers = [{**MALL_CUSTOMER, "CustomerID": i} for i in range(40)]
    status, body = api_call(small, "POST", "/datasets/mall/assign", body={"customers": customers})
    assert status == 413, body
    assert body["error"] == "response_too_large"
    assert body["limit"] == 2_000
    assert "2000 bytes" in body["message"]
    status, body = api_call(
        small, "POST", "/datasets/mall/assign", body={"customers": customers[:1]}
    )
    assert status == 200, body


def test_json_escaping_counts_towards_the_cap() -> None:
    quotes = b'"' * 1000
    assert lambda_payload_size(quotes, [(b"content-type", b"application/json")]) == 2002
    assert lambda_payload_size(b"x" * 3000, [(b"content-type", b"image/png")]) == 4000


# --- item 7: customers with nothing (or little) known ---------------------------------------------

FEATURES = ["Gender", "Age", "Annual Income (k$)", "Spending Score (1-100)"]


@pytest.mark.parametrize(
    "nobody",
    [{}, {"age": 31, "Income": 70}, {"CustomerID": 5, "Gender": None, "Age": ""}],
)
def test_a_customer_with_no_known_feature_is_a_422_naming_row_and_columns(
    api: Mangum, nobody: dict[str, Any]
) -> None:
    customers = [MALL_CUSTOMER, MALL_CUSTOMER, nobody]
    status, body = api_call(api, "POST", "/datasets/mall/assign", body={"customers": customers})
    assert status == 422, body
    assert body["error"] == "invalid_customer"
    assert body["row"] == 2
    assert body["field"] == "customers[2]"
    assert "customer 2 has no known feature" in body["message"]
    for name in FEATURES:
        assert repr(name) in body["message"]


def test_a_low_information_customer_gets_no_confidence(api: Mangum) -> None:
    few = {"Age": 31}  # 3 of 4 features imputed
    half = {"Age": 31, "Gender": "Female"}  # 2 of 4: not most
    status, body = api_call(
        api, "POST", "/datasets/mall/assign", body={"customers": [MALL_CUSTOMER, few, half]}
    )
    assert status == 200, body
    full, low, enough = body["assignments"]
    assert isinstance(full["confidence"], float)
    assert low["confidence"] is None
    assert "3 of 4 features were imputed; confidence withheld (null)" in low["warnings"]
    assert isinstance(enough["confidence"], float)
    assert not [w for w in enough["warnings"] if "confidence" in w]


def test_a_huge_wrong_value_is_not_echoed_in_full(api: Mangum) -> None:
    huge = "x" * 5_000_000
    status, body = api_call(
        api, "POST", "/datasets/mall/assign", body={"customers": [{**MALL_CUSTOMER, "Age": huge}]}
    )
    assert status == 422, str(body)[:300]
    assert body["column"] == "Age"
    assert len(json.dumps(body)) < 2_000
    assert "(5000000 characters)" in body["message"]


def test_a_huge_key_is_not_echoed_in_full(api: Mangum) -> None:
    key = "k" * 5_000_000
    status, body = api_call(api, "POST", "/datasets/mall/assign", body={"customers": {key: 1}})
    assert status == 422, str(body)[:300]
    assert len(json.dumps(body)) < 5_000
    status, body = api_call(
        api, "POST", "/datasets/mall/assign", body={"customers": [{**MALL_CUSTOMER, key: 1}]}
    )
    assert status == 200, str(body)[:300]
    assert len(json.dumps(body)) < 5_000


def test_warnings_are_capped_per_row_and_per_answer(api: Mangum) -> None:
    unknown = {f"extra_{i}": i for i in range(50)}
    wild = {"Gender": "Robot", "Age": 500, "Annual Income (k$)": -9, "Spending Score (1-100)": 900}
    customers = [{**MALL_CUSTOMER, **unknown} for _ in range(2_000)] + [wild] * 3
    status, body = api_call(api, "POST", "/datasets/mall/assign", body={"customers": customers})
    assert status == 200, str(body)[:300]
    rows = body["assignments"]
    first = rows[0]["warnings"]
    assert len(first) == 1
    assert first[0].startswith("unknown field(s) 'extra_0', 'extra_1'")
    assert first[0].endswith("and 40 more ignored")
    assert all(len(r["warnings"]) <= MAX_ROW_WARNINGS for r in rows)
    listed = [w for r in rows for w in r["warnings"] if not w.startswith("... and")]
    assert len(listed) == MAX_BATCH_WARNINGS
    assert rows[-1]["warnings"] == [
        f"... and 4 more warning(s) (at most {MAX_BATCH_WARNINGS} per answer)"
    ]


def test_cap_warnings_keeps_short_lists_and_counts_the_rest() -> None:
    rows = [[f"w{i}" for i in range(25)], ["a"], []]
    cap_warnings(rows)
    assert rows[0] == [
        *(f"w{i}" for i in range(MAX_ROW_WARNINGS - 1)),
        "... and 16 more warning(s)",
    ]
    assert rows[1:] == [["a"], []]


def test_quote_value_never_builds_the_whole_repr() -> None:
    assert quote_value("a" * 98) == repr("a" * 98)
    shown = quote_value("é" * 10_000_000)
    assert len(shown) < 150
    assert shown.endswith("(10000000 characters)")
    assert len(quote_value(b"\x00" * 1000)) < 150
    assert len(quote_value(list(range(100_000)))) < 150

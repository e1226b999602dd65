"""The segment API through its Lambda handler, as API Gateway (HTTP API, payload 2.0) calls it.

Every test sends a real-shaped event from ``events/api-*.json`` (adjusted per test) to
``lambdas.api.main.handler`` with the models bucket in moto. The Mall customers are trained once
by the real pipeline and published by the real publisher (``shared.training.run.publish_version``).
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import gzip
import io
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest
from mangum import Mangum
from moto import mock_aws

from lambdas.api import main
from lambdas.api.main import create_app
from lambdas.api.routes.datasets import TRAINING_STALE_AFTER
from lambdas.api.schemas import AssignResponse, ErrorResponse, SegmentsResponse
from shared.contract.config import ALL_ALGORITHMS, DatasetConfig
from shared.contract.layout import SERVING_PARAMS_PATH, ModelLayout, model_key, serving_arrays_path
from shared.contract.manifest import CurrentPointer, Manifest, SourceInfo
from shared.exceptions import UntrustedTypeError
from shared.settings import get_settings
from shared.store.base import read_current, sha256_hex, write_current
from shared.store.local import LocalModelStore
from shared.store.s3 import S3ModelStore
from shared.training.pipeline import TrainingOutput, train_segments
from shared.training.run import publish_version
from tests.support.aws import AWS_TEST_ENV, FakeLambdaContext
from tests.support.events import load_event

MALL = Path(__file__).resolve().parents[2] / "data" / "mall_customers.csv"
BUCKET = "segments-models-test"
READ_TOKEN = "read-token-0123456789"
ADMIN_TOKEN = "admin-token-0123456789"


# --- fixtures ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    """The moto bucket shared by the module: dataset ``mall`` with v1 and v2 (current)."""

    store: S3ModelStore
    v1: Manifest
    v2: Manifest


@pytest.fixture(scope="module")
def trained() -> TrainingOutput:
    """The Mall customers through the real pipeline, once per module (k up to 6: fewer files),
    with every algorithm (the opt-in autoencoder too)."""
    config = DatasetConfig(k_max=6, algorithms=list(ALL_ALGORITHMS))
    return train_segments(MALL.read_bytes(), filename=MALL.name, config=config, dataset="mall")


@pytest.fixture(scope="module")
def world(trained: TrainingOutput) -> Iterator[World]:
    with pytest.MonkeyPatch.context() as mp:
        for name, value in AWS_TEST_ENV.items():
            mp.setenv(name, value)
        with mock_aws():
            client = boto3.client("s3")
            client.create_bucket(Bucket=BUCKET)
            store = S3ModelStore(BUCKET, client=client)
            v1 = publish(store, trained, "v1")
            v2 = publish(store, trained, "v2")
            yield World(store, v1, v2)


@pytest.fixture
def env(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """A fresh environment per test; clearing the settings cache gives the app fresh services
    (store, model registry), as a new Lambda container would have."""
    for name, value in AWS_TEST_ENV.items():
        monkeypatch.setenv(name, value)
    for name in ("API_TOKENS", "ADMIN_TOKENS", "MODELS_DIR", "MAX_ASSIGN_BATCH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODELS_BUCKET", BUCKET)
    monkeypatch.setenv("MODEL_REFRESH_SECONDS", "5")
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


@pytest.fixture
def store(world: World, env: pytest.MonkeyPatch) -> S3ModelStore:
    return world.store


@pytest.fixture
def mall(world: World, env: pytest.MonkeyPatch) -> Manifest:
    """The current version of ``mall`` (v2). Tests must not modify ``mall``: they publish
    their own dataset (:func:`publish`) when they tamper or promote."""
    return world.v2


def publish(
    store: S3ModelStore,
    output: TrainingOutput,
    version: str,
    *,
    dataset: str = "mall",
    current: bool = True,
) -> Manifest:
    source = SourceInfo(
        bucket="segments-raw", key=f"uploads/{dataset}/mall_customers.csv", sha256="0" * 64, size=1
    )
    manifest = publish_version(
        store, dataset, version, output, source, created_at=datetime.now(UTC)
    )
    if current:
        pointer = CurrentPointer(version=version, updated_at=datetime.now(UTC))
        write_current(store, dataset, pointer)
    return manifest


def call(
    method: str,
    path: str,
    *,
    query: dict[str, Any] | None = None,
    body: Any = None,
    token: str | None = None,
    stage: str | None = None,
    handler: Mangum | None = None,
    raw_body: str | None = None,
    jwt_scopes: list[str] | None = None,
) -> tuple[int, Any, dict[str, str]]:
    """Send one API Gateway v2 event through the handler; return status, decoded body, headers.

    ``jwt_scopes``: the event carries the gateway's JWT authorizer block (and the Cognito JWT in
    ``Authorization``) with these verified scopes, as ``events/api-assign-jwt.json``.
    """
    name = "api-assign" if method in ("POST", "PUT") else "api-health"
    event = load_event(name)
    if jwt_scopes is not None:
        signed = load_event("api-assign-jwt")
        authorizer = signed["requestContext"]["authorizer"]
        authorizer["jwt"]["scopes"] = jwt_scopes
        authorizer["jwt"]["claims"]["scope"] = " ".join(jwt_scopes)
        event["requestContext"]["authorizer"] = authorizer
        event["headers"]["authorization"] = signed["headers"]["authorization"]
    full_path = f"/{stage}{path}" if stage else path
    event["rawPath"] = full_path
    event["requestContext"]["http"]["path"] = full_path
    event["requestContext"]["http"]["method"] = method
    if stage:
        event["requestContext"]["stage"] = stage
    event["rawQueryString"] = urlencode(query or {})
    event["queryStringParameters"] = {k: str(v) for k, v in (query or {}).items()} or None
    if token:
        event["headers"]["authorization"] = f"Bearer {token}"
    if method in ("POST", "PUT"):
        text = raw_body if raw_body is not None else json.dumps(body)
        event["body"] = text
        event["headers"]["content-length"] = str(len(text.encode()))
    out = (handler or main.handler)(event, FakeLambdaContext())  # type: ignore[arg-type]
    headers = out.get("headers", {})
    text = out.get("body") or ""
    if headers.get("content-encoding") == "gzip":
        text = gzip.decompress(base64.b64decode(text)).decode()
    decoded = (
        json.loads(text)
        if text and headers.get("content-type", "").startswith("application/json")
        else text
    )
    return out["statusCode"], decoded, headers


def mall_records() -> list[dict[str, Any]]:
    rows = list(csv.DictReader(io.StringIO(MALL.read_text())))
    return [{k: (v if k == "Gender" else int(v)) for k, v in row.items()} for row in rows]


def assert_error(body: Any, code: str) -> ErrorResponse:
    error = ErrorResponse.model_validate(body)
    assert error.error == code, body
    assert error.request_id
    assert "Traceback" not in error.message
    return error


# --- health, docs, datasets --------------------------------------------------------------------


def test_health_says_auth_is_disabled(env: pytest.MonkeyPatch) -> None:
    status, body, headers = call("GET", "/health")
    assert status == 200
    assert body["status"] == "ok"
    assert body["auth"] == "disabled"
    assert headers["x-request-id"] == FakeLambdaContext.aws_request_id


def test_docs_work_behind_a_stage_prefix(mall: Manifest) -> None:
    status, html, _ = call("GET", "/docs", stage="prod")
    assert status == 200
    assert "/prod/openapi.json" in html
    status, schema, _ = call("GET", "/openapi.json", stage="prod")
    assert status == 200
    assert schema["servers"] == [{"url": "/prod"}]
    assert "/datasets/{dataset}/assign" in schema["paths"]
    status, body, _ = call("GET", "/datasets/mall", stage="prod")
    assert status == 200
    assert body["model_version"] == "v2"


def test_docs_can_be_switched_off(mall: Manifest, env: pytest.MonkeyPatch) -> None:
    """Deployed, API_DOCS=false: no page that loads scripts from a CDN; the schema stays."""
    env.setenv("API_DOCS", "false")
    get_settings.cache_clear()
    for path in ("/docs", "/redoc"):
        status, body, _ = call("GET", path)
        assert status == 404
        assert_error(body, "not_found")
    status, schema, _ = call("GET", "/openapi.json")
    assert status == 200
    assert "/auth/config" in schema["paths"]


def test_sign_in_configuration_is_public(mall: Manifest, env: pytest.MonkeyPatch) -> None:
    env.delenv("AUTH_MODE")
    env.setenv("OAUTH_DOMAIN_URL", "https://segments-1.auth.eu-west-1.amazoncognito.com")
    env.setenv("OAUTH_CLIENT_ID", "dashboard-id")
    env.setenv("OAUTH_CLI_CLIENT_ID", "cli-id")
    get_settings.cache_clear()
    status, body, _ = call("GET", "/auth/config")
    assert status == 200
    assert body == {
        "mode": "cognito",
        "authorize_url": "https://segments-1.auth.eu-west-1.amazoncognito.com/oauth2/authorize",
        "token_url": "https://segments-1.auth.eu-west-1.amazoncognito.com/oauth2/token",
        "logout_url": "https://segments-1.auth.eu-west-1.amazoncognito.com/logout",
        "client_id": "dashboard-id",
        "cli_client_id": "cli-id",
        "scopes": ["openid", "email", "segments/read"],
    }
    assert call("GET", "/datasets")[0] == 401  # the data still needs a token
    status, _, headers = call("GET", "/")
    assert status == 200
    policy = headers["content-security-policy"]
    assert "connect-src 'self' https://segments-1.auth.eu-west-1.amazoncognito.com;" in policy


def test_list_and_describe_datasets(mall: Manifest, store: S3ModelStore) -> None:
    store.put_bytes(ModelLayout.failure("pending", "f1"), b"{}")
    status, body, _ = call("GET", "/datasets")
    assert status == 200
    found = {d["dataset"]: d["current_version"] for d in body["datasets"]}
    assert (found["mall"], found["pending"]) == ("v2", None)

    status, body, _ = call("GET", "/datasets/mall")
    assert status == 200
    assert body["champion"] == mall.champion
    assert body["rows"]["used"] == 200
    assert set(body["algorithms"]) == set(mall.algorithms)
    assert "Annual Income (k$)" in body["input_columns"]
    assert "CustomerID" not in body["input_columns"]
    kmeans = body["algorithms"]["kmeans"]
    assert kmeans["k"] in kmeans["ks"]
    assert body["warnings"] == mall.warnings
    assert any("weakly separated" in w for w in body["warnings"])  # Mall's four columns
    structure = mall.algorithms["kmeans"].structure
    assert structure is not None
    assert kmeans["structure"]["verdict"] == structure.verdict
    assert kmeans["eligible"] is True


def test_unknown_dataset_version_and_segment_are_404(mall: Manifest) -> None:
    status, body, _ = call("GET", "/datasets/nothing")
    assert status == 404
    assert "'nothing'" in assert_error(body, "not_found").message
    status, body, _ = call("GET", "/datasets/mall/segments", query={"version": "v9"})
    assert status == 404
    assert "'v9'" in assert_error(body, "not_found").message
    status, body, _ = call("GET", "/datasets/mall/segments/999")
    assert status == 404
    assert "no segment 999" in assert_error(body, "not_found").message
    status, body, _ = call("GET", "/datasets/mall/segments", query={"algorithm": "kmeans", "k": 29})
    assert status == 404
    assert "k=29" in assert_error(body, "model_not_fitted").message


def test_no_model_yet_is_503(store: S3ModelStore) -> None:
    store.put_bytes(ModelLayout.failure("training", "f1"), b"{}")
    for method, path in [
        ("GET", "/datasets/training/segments"),
        ("POST", "/datasets/training/assign"),
    ]:
        status, body, _ = call(method, path, body={"customers": [{"Age": 30}]})
        assert status == 503
        assert "no published model" in assert_error(body, "no_model").message


# --- segments -----------------------------------------------------------------------------------


def test_segments_of_champion_and_of_any_k(mall: Manifest, trained: TrainingOutput) -> None:
    status, body, _ = call("GET", "/datasets/mall/segments")
    assert status == 200
    assert body["algorithm"] == mall.champion
    assert body["model_version"] == "v2"
    assert sum(s["size"] for s in body["segments"]) == 200
    assert {"segment_id", "name", "description", "size", "share"} <= set(body["segments"][0])

    status, body, _ = call("GET", "/datasets/mall/segments", query={"algorithm": "gmm", "k": 3})
    assert status == 200
    assert (body["algorithm"], body["k"], len(body["segments"])) == ("gmm", 3, 3)

    first = body["segments"][0]["segment_id"]
    status, one, _ = call(
        "GET", f"/datasets/mall/segments/{first}", query={"algorithm": "gmm", "k": 3}
    )
    assert status == 200
    assert one["segment_id"] == first
    assert one["name"] == body["segments"][0]["name"]


# --- assign -------------------------------------------------------------------------------------


def test_assign_event_answers_in_request_order(mall: Manifest) -> None:
    event = load_event("api-assign")
    out = main.handler(event, FakeLambdaContext())  # type: ignore[arg-type]
    assert out["statusCode"] == 200
    response = AssignResponse.model_validate_json(out["body"])
    assert response.count == len(response.assignments) == 2
    assert response.model_version == "v2"
    assert response.algorithm == mall.champion
    rich, careful = response.assignments
    assert rich.segment_id != careful.segment_id  # opposite corners of the income/spend map


@pytest.mark.parametrize("algorithm", ["kmeans", "gmm", "autoencoder"])
def test_assign_reproduces_training_segments(
    mall: Manifest, trained: TrainingOutput, algorithm: str
) -> None:
    records = mall_records()
    status, body, _ = call(
        "POST", "/datasets/mall/assign", query={"algorithm": algorithm}, body={"customers": records}
    )
    assert status == 200
    counts = Counter(a["segment_id"] for a in body["assignments"])
    summary = mall.algorithms[algorithm]
    profile = trained.profiles.sets[f"{algorithm}-k{summary.k}"]
    assert counts == {s.segment_id: s.size for s in profile.segments}
    if algorithm == "gmm":
        first = body["assignments"][0]
        assert set(first["probabilities"]) == {str(s.segment_id) for s in profile.segments}
        assert first["confidence"] == pytest.approx(max(first["probabilities"].values()))


def test_prepared_vectors_land_on_the_published_pca_map(mall: Manifest) -> None:
    """The serving transform's vectors, through plots.json's projection, give the map's points
    (computed at training time by scikit-learn's preprocessor and PCA): the dashboard's route."""
    import numpy as np

    from lambdas.api.routes.assign import MAX_PREPARED

    records = mall_records()
    vectors = []
    for start in range(0, len(records), MAX_PREPARED):
        batch = records[start : start + MAX_PREPARED]
        status, body, _ = call(
            "POST", "/datasets/mall/assign", query={"prepared": "true"}, body={"customers": batch}
        )
        assert status == 200
        AssignResponse.model_validate(body)
        vectors.extend(a["prepared"] for a in body["assignments"])
    prepared = np.array(vectors)
    status, plots, _ = call("GET", "/datasets/mall/plots")
    assert status == 200
    points = plots["points"]
    projection = points["pca_projection"]
    assert prepared.shape == (len(records), len(projection["mean"]))
    coords = (prepared - np.array(projection["mean"])) @ np.array(projection["components"]).T
    by_id = {int(r["CustomerID"]): i for i, r in enumerate(records)}
    rows = [by_id[int(i)] for i in points["ids"]]
    assert np.abs(coords[rows] - np.array(points["pca"])).max() < 1e-5  # published to 5 places
    plain = call("POST", "/datasets/mall/assign", body={"customers": records[:1]})[1]
    assert "prepared" not in plain["assignments"][0]  # only when asked


def test_prepared_vectors_are_capped_per_call(mall: Manifest) -> None:
    from lambdas.api.routes.assign import MAX_PREPARED

    records = mall_records()[: MAX_PREPARED + 1]
    query = {"prepared": "true"}
    status, body, _ = call(
        "POST", "/datasets/mall/assign", query=query, body={"customers": records}
    )
    assert status == 413
    assert f"at most {MAX_PREPARED} customers" in assert_error(body, "batch_too_large").message
    status, body, _ = call(
        "POST", "/datasets/mall/assign", query=query, body={"customers": records[:-1]}
    )
    assert status == 200
    assert len(body["assignments"]) == MAX_PREPARED


def test_explain_returns_exact_reasons_for_every_algorithm(mall: Manifest) -> None:
    from lambdas.api.routes.assign import MAX_EXPLAINED

    records = mall_records()
    for algorithm in sorted(mall.algorithms):
        status, body, _ = call(
            "POST",
            "/datasets/mall/assign",
            query={"explain": "true", "algorithm": algorithm},
            body={"customers": records},
        )
        assert status == 200, body
        answer = AssignResponse.model_validate(body)
        assert answer.algorithm == algorithm
        for row in answer.assignments:
            explanation = row.explanation
            assert explanation is not None
            listed = sum(c.contribution for c in explanation.contributions)
            total = explanation.baseline + explanation.other + listed
            assert total == pytest.approx(explanation.margin, abs=2e-6)
    status, body, _ = call(
        "POST",
        "/datasets/mall/assign",
        query={"explain": "true"},
        body={"customers": (records * 6)[: MAX_EXPLAINED + 1]},
    )
    assert status == 413
    assert f"at most {MAX_EXPLAINED} customers" in assert_error(body, "batch_too_large").message


def test_segments_carry_their_crm_rules(mall: Manifest) -> None:
    status, body, _ = call("GET", "/datasets/mall/segments")
    assert status == 200
    answer = SegmentsResponse.model_validate(body)
    for segment in answer.segments:
        assert segment.rule is not None, segment.name
        assert segment.rule.text
        assert segment.rule.reliable == (
            segment.rule.precision is not None and segment.rule.precision >= 0.7
        )


def test_assign_imputes_missing_values_and_warns(mall: Manifest) -> None:
    customers = [{"Gender": "Female", "Age": None}, {"Annual Income (k$)": 500, "Extra": 1}]
    status, body, _ = call("POST", "/datasets/mall/assign", body={"customers": customers})
    assert status == 200
    first, second = body["assignments"]
    assert "Age" in first["imputed"]
    assert "Annual Income (k$)" in first["imputed"]
    assert any("500" in w for w in second["warnings"])


def test_invalid_customer_is_422_naming_row_and_column(mall: Manifest) -> None:
    customers = [{"Age": 30}, {"Age": 40}, {"Age": "old"}]
    status, body, _ = call("POST", "/datasets/mall/assign", body={"customers": customers})
    assert status == 422
    error = assert_error(body, "invalid_customer")
    assert (error.row, error.column, error.field) == (2, "Age", "customers[2].Age")
    assert "'Age'" in error.message


def test_malformed_body_is_422_naming_the_field(mall: Manifest) -> None:
    status, body, _ = call(
        "POST", "/datasets/mall/assign", body={"customers": [{"Age": 1}, [1, 2]]}
    )
    assert status == 422
    error = assert_error(body, "invalid_request")
    assert (error.field, error.row) == ("customers[1]", 1)
    status, body, _ = call("POST", "/datasets/mall/assign", body={"people": []})
    assert status == 422
    assert assert_error(body, "invalid_request").field == "customers"
    status, body, _ = call("POST", "/datasets/mall/assign", raw_body="{not json")
    assert status == 422
    status, body, _ = call("POST", "/datasets/mall/assign", query={"algorithm": "magic"}, body={})
    assert status == 422
    assert assert_error(body, "invalid_request").field == "algorithm"


def test_batch_over_the_limit_is_413(mall: Manifest) -> None:
    customers = [{"Age": 30}] * 10_001
    status, body, _ = call("POST", "/datasets/mall/assign", body={"customers": customers})
    assert status == 413
    error = assert_error(body, "batch_too_large")
    assert error.limit == 10_000
    assert "10001" in error.message
    assert "10000" in error.message


def test_batch_limit_follows_settings(mall: Manifest, env: pytest.MonkeyPatch) -> None:
    env.setenv("MAX_ASSIGN_BATCH", "3")
    get_settings.cache_clear()
    ok = call("POST", "/datasets/mall/assign", body={"customers": [{"Age": 1}] * 3})
    assert ok[0] == 200
    status, body, _ = call("POST", "/datasets/mall/assign", body={"customers": [{"Age": 1}] * 4})
    assert status == 413
    assert assert_error(body, "batch_too_large").limit == 3


def test_body_over_the_byte_cap_is_413(mall: Manifest) -> None:
    handler = Mangum(create_app(max_body_bytes=1000), lifespan="off")
    customers = [{"Gender": "Female" * 10, "Age": 30}] * 30
    status, body, _ = call(
        "POST", "/datasets/mall/assign", body={"customers": customers}, handler=handler
    )
    assert status == 413
    assert "1000 bytes" in body["message"]


# --- refused artifacts --------------------------------------------------------------------------


def without_bundle(output: TrainingOutput) -> TrainingOutput:
    """The same run as published before serving bundles existed: skops artifacts only."""
    kept = {p: b for p, b in output.artifacts.items() if not p.startswith("serving/")}
    return dataclasses.replace(output, artifacts=kept)


def served_path(manifest: Manifest) -> str:
    """The file assignment loads for the champion: its serving arrays."""
    summary = manifest.algorithms[manifest.champion]
    return serving_arrays_path(model_key(manifest.champion, summary.k))


def test_tampered_artifact_is_503(store: S3ModelStore, trained: TrainingOutput) -> None:
    manifest = publish(store, trained, "v1", dataset="tampered")
    path = served_path(manifest)
    key = ModelLayout.artifact("tampered", "v1", path)
    blob = bytearray(store.get_bytes(key))
    blob[len(blob) // 2] ^= 0xFF  # one flipped byte
    store.put_bytes(key, bytes(blob))
    status, body, _ = call("POST", "/datasets/tampered/assign", body={"customers": [{"Age": 30}]})
    assert status == 503
    error = assert_error(body, "artifact_refused")
    assert path in error.message
    assert "refusing" in error.message


def test_version_without_serving_bundle_is_503_naming_the_file(
    store: S3ModelStore, trained: TrainingOutput
) -> None:
    publish(store, without_bundle(trained), "v1", dataset="skops-only")
    status, body, _ = call("POST", "/datasets/skops-only/assign", body={"customers": [{"Age": 30}]})
    assert status == 503
    error = assert_error(body, "artifact_refused")
    assert SERVING_PARAMS_PATH in error.message
    assert "refusing" in error.message


class Evil:
    """A type no reviewer trusted: skops must refuse to construct it."""

    def __init__(self) -> None:
        self.payload = "rm -rf /"


def test_untrusted_type_is_never_read_by_the_api_and_refused_by_skops_readers(
    store: S3ModelStore, trained: TrainingOutput
) -> None:
    import skops.io as sio

    from shared.contract.profiles import ProfileCatalog
    from shared.serving.model import SegmentationModel
    from tests.support.oracle import ReferenceModel

    manifest = publish(store, without_bundle(trained), "v1", dataset="untrusted")
    path = manifest.algorithms[manifest.champion].artifact
    blob = sio.dumps(Evil())
    store.put_bytes(ModelLayout.artifact("untrusted", "v1", path), blob)
    forged = manifest.model_copy(deep=True)
    forged.artifacts[path].sha256 = sha256_hex(blob)
    store.put_bytes(ModelLayout.manifest("untrusted", "v1"), forged.to_json().encode())
    status, body, _ = call("POST", "/datasets/untrusted/assign", body={"customers": [{"Age": 30}]})
    assert status == 503  # no serving bundle: refused before any skops file is looked at
    assert SERVING_PARAMS_PATH in assert_error(body, "artifact_refused").message
    profiles = ProfileCatalog.model_validate_json(
        store.get_bytes(ModelLayout.artifact("untrusted", "v1", "profiles.json"))
    )
    # Built around SegmentationModel.open, which refuses a version without a serving bundle.
    reference = ReferenceModel(SegmentationModel(store, forged, profiles))
    with pytest.raises(UntrustedTypeError, match="Evil"):
        reference.assign([{"Age": 30}])


def test_pickled_array_in_the_bundle_is_503_even_with_a_matching_checksum(
    store: S3ModelStore, trained: TrainingOutput
) -> None:
    import numpy as np

    manifest = publish(store, trained, "v1", dataset="pickled")
    path = served_path(manifest)
    buffer = io.BytesIO()
    np.savez(buffer, centroids=np.array([Evil()], dtype=object), labels=np.arange(1))
    blob = buffer.getvalue()
    store.put_bytes(ModelLayout.artifact("pickled", "v1", path), blob)
    forged = manifest.model_copy(deep=True)
    forged.artifacts[path].sha256 = sha256_hex(blob)
    store.put_bytes(ModelLayout.manifest("pickled", "v1"), forged.to_json().encode())
    status, body, _ = call("POST", "/datasets/pickled/assign", body={"customers": [{"Age": 30}]})
    assert status == 503
    message = assert_error(body, "artifact_refused").message
    assert path in message
    assert "pickle" in message


def test_last_good_model_keeps_serving_when_a_new_version_is_tampered(
    store: S3ModelStore, trained: TrainingOutput, env: pytest.MonkeyPatch
) -> None:
    env.setenv("MODEL_REFRESH_SECONDS", "0")  # recheck current.json on every request
    get_settings.cache_clear()
    publish(store, trained, "v1", dataset="switch")
    body = {"customers": [{"Age": 30}]}
    status, answer, _ = call("POST", "/datasets/switch/assign", body=body)
    assert (status, answer["model_version"]) == (200, "v1")

    bad = publish(store, trained, "v2", dataset="switch")  # current.json now says v2
    key = ModelLayout.artifact("switch", "v2", served_path(bad))
    store.put_bytes(key, b"tampered")
    status, answer, _ = call("POST", "/datasets/switch/assign", body=body)
    assert (status, answer["model_version"]) == (200, "v1")
    status, answer, _ = call("GET", "/datasets/switch")
    assert (status, answer["model_version"]) == (200, "v1")

    publish(store, trained, "v3", dataset="switch")  # a good version is picked up at once
    status, answer, _ = call("POST", "/datasets/switch/assign", body=body)
    assert (status, answer["model_version"]) == (200, "v3")


def test_current_pointing_at_a_missing_version_is_503(store: S3ModelStore) -> None:
    pointer = CurrentPointer(version="gone", updated_at=datetime.now(UTC))
    write_current(store, "dangling", pointer)
    status, body, _ = call("GET", "/datasets/dangling/segments")
    assert status == 503
    assert "'gone'" in assert_error(body, "artifact_refused").message


# --- versions and promotion ---------------------------------------------------------------------


def test_promote_rolls_back_and_forward(store: S3ModelStore, trained: TrainingOutput) -> None:
    DS = "promote"  # its own dataset: the shared mall must stay as it is
    publish(store, trained, "v1", dataset=DS)
    publish(store, trained, "v2", dataset=DS)
    status, body, _ = call("GET", f"/datasets/{DS}/versions")
    assert status == 200
    assert body["current_version"] == "v2"
    assert {v["version"]: v["current"] for v in body["versions"]} == {"v1": False, "v2": True}
    assert call("GET", f"/datasets/{DS}")[1]["model_version"] == "v2"

    status, body, _ = call("POST", f"/datasets/{DS}/versions/v1/promote", body={})
    assert status == 200
    assert (body["version"], body["previous_version"]) == ("v1", "v2")
    pointer = read_current(store, DS)
    assert pointer is not None
    assert (pointer.version, pointer.promoted) == ("v1", True)
    # This container serves the promoted version at once (no wait for the refresh interval).
    assert call("GET", f"/datasets/{DS}")[1]["model_version"] == "v1"
    status, body, _ = call("POST", f"/datasets/{DS}/assign", body={"customers": [{"Age": 30}]})
    assert (status, body["model_version"]) == (200, "v1")

    status, body, _ = call("POST", f"/datasets/{DS}/versions/v2/promote", body={})
    assert (status, body["previous_version"]) == (200, "v1")
    assert call("GET", f"/datasets/{DS}")[1]["model_version"] == "v2"

    status, body, _ = call("POST", f"/datasets/{DS}/versions/v7/promote", body={})
    assert status == 404
    assert "'v7'" in assert_error(body, "not_found").message


def test_promote_refuses_a_tampered_version(store: S3ModelStore, trained: TrainingOutput) -> None:
    DS = "promote-bad"
    publish(store, trained, "v1", dataset=DS)
    publish(store, trained, "v2", dataset=DS, current=False)
    key = ModelLayout.artifact(DS, "v2", SERVING_PARAMS_PATH)  # what the API replays
    store.put_bytes(key, b"tampered")
    status, body, _ = call("POST", f"/datasets/{DS}/versions/v2/promote", body={})
    assert status == 503
    assert_error(body, "artifact_refused")
    pointer = read_current(store, DS)
    assert pointer is not None
    assert pointer.version == "v1"


def test_version_query_serves_an_older_version(mall: Manifest) -> None:
    status, body, _ = call("GET", "/datasets/mall/segments", query={"version": "v1"})
    assert (status, body["model_version"]) == (200, "v1")
    status, body, _ = call(
        "POST", "/datasets/mall/assign", query={"version": "v1"}, body={"customers": [{"Age": 1}]}
    )
    assert (status, body["model_version"]) == (200, "v1")
    status, body, _ = call("GET", "/datasets/mall/segments")
    assert (status, body["model_version"]) == (200, "v2")


# --- dashboard documents ------------------------------------------------------------------------


def test_evaluation_plots_report_and_failures(mall: Manifest, store: S3ModelStore) -> None:
    status, body, _ = call("GET", "/datasets/mall/evaluation")
    assert status == 200
    assert body["champion"] == mall.champion
    assert {row["algorithm"] for row in body["comparison"]} == set(mall.algorithms)

    status, body, _ = call("GET", "/datasets/mall/plots")
    assert status == 200
    assert body["points"]["n"] > 0
    assert body["model_version"] == "v2"

    # The report never passes through the function on S3: a redirect to a presigned URL.
    status, _, headers = call("GET", "/datasets/mall/report")
    assert status == 307
    assert headers["cache-control"] == "no-store"
    location = headers["location"]
    assert f"/{BUCKET}/" in location or f"//{BUCKET}." in location
    assert "X-Amz-Signature=" in location
    assert "X-Amz-Expires=300" in location
    status, link, _ = call("GET", "/datasets/mall/report-link")
    assert status == 200
    assert link["model_version"] == "v2"
    assert "X-Amz-Signature=" in link["url"]
    page = store.get_bytes(ModelLayout.artifact("mall", "v2", "report.html"))
    assert b"<html" in page.lower()

    failure = {
        "id": "f1",
        "dataset": "failing",
        "error": "column 'Age' has no numbers",
        "error_type": "NoUsableFeatureError",
        "source": {"key": "uploads/mall/bad.csv"},
        "created_at": "2025-01-01T00:00:00Z",
    }
    store.put_bytes(ModelLayout.failure("failing", "f1"), json.dumps(failure).encode())
    status, body, _ = call("GET", "/datasets/failing/failures")
    assert status == 200
    assert [f["error"] for f in body["failures"]] == [failure["error"]]


def test_status_says_training_since_when_the_last_failure_and_the_current_version(
    mall: Manifest, store: S3ModelStore
) -> None:
    status, body, _ = call("GET", "/datasets/mall/status")
    assert status == 200
    assert (body["current_version"], body["training"], body["last_failure"]) == ("v2", [], None)

    since = datetime.now(UTC) - timedelta(seconds=30)
    claim = {"version": "v3", "key": "uploads/mall/new.csv", "claimed_at": since.isoformat()}
    store.put_bytes(ModelLayout.claim("mall", "v3"), json.dumps(claim).encode())
    stale = dict(claim, version="v0", claimed_at=(since - TRAINING_STALE_AFTER).isoformat())
    store.put_bytes(ModelLayout.claim("mall", "v0"), json.dumps(stale).encode())
    failure = {
        "id": "f9",
        "dataset": "mall",
        "error": "column 'Age' has no numbers",
        "error_type": "NoUsableFeatureError",
        "source": {"key": "uploads/mall/bad.csv"},
        "created_at": "2025-01-01T00:00:00Z",
    }
    store.put_bytes(ModelLayout.failure("mall", "f9"), json.dumps(failure).encode())
    status, body, _ = call("GET", "/datasets/mall/status")
    assert status == 200
    assert [(r["version"], r["source_key"]) for r in body["training"]] == [
        ("v3", "uploads/mall/new.csv")
    ]
    assert datetime.fromisoformat(body["training"][0]["since"]) == since
    assert body["last_failure"]["error"] == failure["error"]
    assert body["current_version"] == "v2"
    status, body, _ = call("GET", "/datasets/nothing-here/status")
    assert status == 404


def test_a_segment_name_set_by_a_person_outranks_the_generated_one_and_follows_its_id(
    store: S3ModelStore, trained: TrainingOutput
) -> None:
    publish(store, trained, "v1", dataset="named")
    status, body, _ = call("GET", "/datasets/named/segments")
    first = body["segments"][0]
    generated, sid = first["name"], first["segment_id"]
    assert (first["name_source"], first["generated_name"]) == ("generated", generated)

    status, body, _ = call(
        "PUT", f"/datasets/named/segments/{sid}/name", body={"name": "  Weekend   regulars "}
    )
    assert status == 200, body
    assert (body["name"], body["names"]) == ("Weekend regulars", {str(sid): "Weekend regulars"})
    # Assign answers name the segment as the person did, reasons included.
    status, body, _ = call(
        "POST", "/datasets/named/assign", query={"explain": "true"},
        body={"customers": mall_records()},
    )  # fmt: skip
    assert status == 200, body
    mine = [a for a in body["assignments"] if a["segment_id"] == sid]
    assert mine
    assert {a["segment_name"] for a in mine} == {"Weekend regulars"}
    towards = [
        c["text"]
        for a in body["assignments"]
        for c in a["explanation"]["contributions"]
        if a["explanation"]["versus"] and a["explanation"]["versus"]["segment_id"] == sid
    ]
    assert towards
    assert all(generated not in text for text in towards)
    assert any("'Weekend regulars'" in text for text in towards)
    # Any model of any version with that stable id shows the name; the id is what it follows.
    publish(store, trained, "v2", dataset="named")
    status, detail, _ = call("GET", f"/datasets/named/segments/{sid}")
    status, older, _ = call("GET", "/datasets/named/segments", query={"version": "v1"})
    for segment in (detail, next(s for s in older["segments"] if s["segment_id"] == sid)):
        assert (segment["name"], segment["name_source"]) == ("Weekend regulars", "person")
        assert segment["generated_name"] == generated

    for bad in ("", " ", "x" * 81, "tab\u0007"):
        status, body, _ = call("PUT", f"/datasets/named/segments/{sid}/name", body={"name": bad})
        assert status == 422, (bad, body)
    status, body, _ = call("PUT", "/datasets/named/segments/999/name", body={"name": "Ghost"})
    assert status == 404
    status, body, _ = call("PUT", f"/datasets/named/segments/{sid}/name", body={"name": None})
    assert (status, body["name"], body["names"]) == (200, None, {})
    status, body, _ = call("GET", f"/datasets/named/segments/{sid}")
    assert (body["name"], body["name_source"]) == (generated, "generated")
    status, body, _ = call("POST", "/datasets/named/assign", body={"customers": mall_records()})
    assert {a["segment_name"] for a in body["assignments"] if a["segment_id"] == sid} == {generated}


def test_a_segments_customers_export_as_csv_a_spreadsheet_opens_safely(
    store: S3ModelStore, trained: TrainingOutput
) -> None:
    publish(store, trained, "v1", dataset="export")
    call("PUT", "/datasets/export/segments/1/name", body={"name": "=1+1 buyers"})
    status, text, headers = call("GET", "/datasets/export/segments/1/customers.csv")
    assert status == 200
    assert headers["content-type"].startswith("text/csv")
    assert "attachment" in headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["CustomerID", "segment_id", "segment_name"]
    champion = trained.profiles.sets[trained.profiles.champion]
    size = next(s.size for s in champion.segments if s.segment_id == 1)
    assert len(rows) - 1 == size
    assert {r[1] for r in rows[1:]} == {"1"}
    assert {r[2] for r in rows[1:]} == {"'=1+1 buyers"}
    status, _body, _ = call("GET", "/datasets/export/segments/77/customers.csv")
    assert status == 404


def test_an_export_larger_than_an_answer_can_carry_is_a_413_naming_the_artifact(
    store: S3ModelStore, trained: TrainingOutput, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lambdas.api.routes import segment_work

    publish(store, trained, "v1", dataset="big-export")
    monkeypatch.setattr(segment_work, "EXPORT_MAX_BYTES", 100)
    status, body, _ = call("GET", "/datasets/big-export/segments/0/customers.csv")
    assert (status, body["error"]) == (413, "batch_too_large")
    assert "assignments.csv.gz" in body["message"]
    assert segment_work.EXPORT_MAX_BYTES < 6 * 1024 * 1024


def test_two_versions_compare_by_segment_sizes_and_moves(
    store: S3ModelStore, trained: TrainingOutput
) -> None:
    publish(store, trained, "v1", dataset="compare")
    publish(store, trained, "v2", dataset="compare")
    status, body, _ = call("GET", "/datasets/compare/versions/v1/compare", query={"with": "v2"})
    assert status == 200, body
    champion = trained.profiles.sets[trained.profiles.champion]
    sizes = {s.segment_id: s.size for s in champion.segments}
    assert {s["segment_id"]: s["size"] for s in body["base_segments"]} == sizes
    assert {s["segment_id"]: s["size"] for s in body["other_segments"]} == sizes
    assert body["kept"] == sorted(sizes)
    assert body["matched_customers"] == 200
    # The same training: every customer stays in its segment.
    assert {(m["from_segment"], m["to_segment"]): m["customers"] for m in body["moves"]} == {
        (sid, sid): n for sid, n in sizes.items()
    }
    status, body, _ = call("GET", "/datasets/compare/versions/v1/compare")  # with the current
    assert (status, body["other_version"]) == (200, "v2")
    status, body, _ = call("GET", "/datasets/compare/versions/v1/compare", query={"with": "v9"})
    assert status == 404


def test_a_browser_upload_is_a_presigned_post_for_one_key_under_a_size_cap(
    mall: Manifest, env: pytest.MonkeyPatch
) -> None:
    import base64

    env.setenv("RAW_BUCKET", "segments-raw-test")
    env.setenv("MAX_UPLOAD_BYTES", "5000")
    get_settings.cache_clear()
    body_in = {"filename": "new customers.csv", "size": 1234}
    status, body, _ = call("POST", "/datasets/fresh-data/uploads", body=body_in)
    assert status == 200, body
    assert body["key"] == "uploads/fresh-data/new-customers.csv"
    assert body["url"].startswith("https://segments-raw-test.s3")
    assert body["max_bytes"] == 5000
    policy = json.loads(base64.b64decode(body["fields"]["policy"]))
    assert ["content-length-range", 1, 5000] in policy["conditions"]
    assert {"key": "uploads/fresh-data/new-customers.csv"} in policy["conditions"]
    assert {"bucket": "segments-raw-test"} in policy["conditions"]

    status, body, _ = call("POST", "/datasets/fresh-data/uploads", body={**body_in, "size": 5001})
    assert (status, body["error"]) == (413, "file_too_large")
    assert "5,000" in body["message"]
    for name in ("../x.csv", "x.exe", "a/b.csv", ".csv", "x.csv\n"):
        status, body, _ = call(
            "POST", "/datasets/fresh-data/uploads", body={**body_in, "filename": name}
        )
        assert status == 422, (name, body)
    status, _, _ = call("POST", "/datasets/Bad Name/uploads", body=body_in)
    assert status in (404, 422)

    status, _, headers = call("GET", "/")
    assert status == 200
    assert "connect-src 'self' https://segments-raw-test.s3" in headers["content-security-policy"]


def test_the_status_stale_claim_age_is_the_training_claim_timeout() -> None:
    from shared.training.run import DEFAULT_CLAIM_TIMEOUT

    assert TRAINING_STALE_AFTER == DEFAULT_CLAIM_TIMEOUT


# --- authorization ------------------------------------------------------------------------------


@pytest.fixture
def tokens(env: pytest.MonkeyPatch) -> None:
    env.setenv("API_TOKENS", f"other-token, {READ_TOKEN}")
    env.setenv("ADMIN_TOKENS", ADMIN_TOKEN)
    get_settings.cache_clear()


def test_auth_open_routes_need_no_token(mall: Manifest, tokens: None) -> None:
    status, body, _ = call("GET", "/health")
    assert (status, body["auth"]) == (200, "enabled")
    assert call("GET", "/docs")[0] == 200
    assert call("GET", "/openapi.json")[0] == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/datasets"),
        ("GET", "/datasets/mall"),
        ("GET", "/datasets/mall/segments"),
        ("GET", "/datasets/mall/segments/0"),
        ("POST", "/datasets/mall/assign"),
        ("GET", "/datasets/mall/evaluation"),
        ("GET", "/datasets/mall/plots"),
        ("GET", "/datasets/mall/report"),
        ("GET", "/datasets/mall/report-link"),
        ("GET", "/datasets/mall/failures"),
        ("GET", "/datasets/mall/versions"),
        ("POST", "/datasets/mall/versions/v2/promote"),  # v2 is current already
    ],
)
def test_auth_every_other_route_needs_a_token(
    mall: Manifest, tokens: None, method: str, path: str
) -> None:
    body = {"customers": [{"Age": 30}]}
    status, answer, headers = call(method, path, body=body)
    assert status == 401
    assert_error(answer, "unauthorized")
    assert headers["www-authenticate"] == "Bearer"
    assert call(method, path, body=body, token="wrong-token")[0] == 401
    allowed = 307 if path.endswith("/report") else 200  # the report redirects to S3
    expected = 403 if path.endswith("/promote") else allowed
    assert call(method, path, body=body, token=READ_TOKEN)[0] == expected
    assert call(method, path, body=body, token=ADMIN_TOKEN)[0] == allowed


def test_gateway_jwt_scopes_authorize_without_a_static_token(mall: Manifest, tokens: None) -> None:
    """Behind API Gateway the Authorization header carries a Cognito JWT the gateway verified;
    its scopes arrive in the event's authorizer block, which the app trusts."""
    body = {"customers": [{"Age": 30}]}
    promote = "/datasets/mall/versions/v2/promote"  # v2 is current already
    read = ["segments/read"]
    assert call("POST", "/datasets/mall/assign", body=body, jwt_scopes=read)[0] == 200
    assert call("GET", "/datasets/mall/segments", jwt_scopes=read)[0] == 200
    status, answer, _ = call("POST", promote, body={}, jwt_scopes=read)
    assert status == 403
    assert "segments/admin" in assert_error(answer, "forbidden").message
    admin = ["segments/read", "segments/admin"]
    assert call("POST", promote, body={}, jwt_scopes=admin)[0] == 200
    assert call("POST", "/datasets/mall/assign", body=body, jwt_scopes=["segments/admin"])[0] == 200
    # A verified token without our scopes is not enough; a static token still is.
    assert call("GET", "/datasets", jwt_scopes=["openid"])[0] == 401
    assert call("GET", "/datasets", jwt_scopes=["openid"], token=READ_TOKEN)[0] == 200


def test_gateway_scope_claim_is_used_when_the_scopes_list_is_absent(
    mall: Manifest, tokens: None
) -> None:
    event = load_event("api-assign-jwt")
    del event["requestContext"]["authorizer"]["jwt"]["scopes"]
    event["body"] = json.dumps({"customers": [{"Age": 30}]})
    event["headers"]["content-length"] = str(len(event["body"].encode()))
    out = main.handler(event, FakeLambdaContext())  # type: ignore[arg-type]
    assert out["statusCode"] == 200, out["body"]


def test_a_jwt_header_without_the_gateway_context_is_refused(mall: Manifest, tokens: None) -> None:
    """The same request sent around the gateway (no authorizer block): the JWT is not a token."""
    event = load_event("api-assign-jwt")
    del event["requestContext"]["authorizer"]
    event["body"] = json.dumps({"customers": [{"Age": 30}]})
    event["headers"]["content-length"] = str(len(event["body"].encode()))
    out = main.handler(event, FakeLambdaContext())  # type: ignore[arg-type]
    assert out["statusCode"] == 401
    assert_error(json.loads(out["body"]), "unauthorized")


def test_gateway_context_with_auth_disabled_is_open(mall: Manifest) -> None:
    assert call("GET", "/datasets", jwt_scopes=[])[0] == 200


# --- serving path -------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["kmeans", "gmm", "agglomerative", "dbscan"])
def test_handler_answers_equal_the_skops_reference(mall: Manifest, algorithm: str) -> None:
    from shared.serving.model import SegmentationModel
    from tests.support.oracle import ReferenceModel

    records = [{k: v for k, v in r.items() if k != "CustomerID"} for r in mall_records()]
    records[3]["Gender"] = "Robot"
    records[5]["Age"] = None
    status, body, _ = call(
        "POST", "/datasets/mall/assign", query={"algorithm": algorithm}, body={"customers": records}
    )
    assert status == 200
    AssignResponse.model_validate(body)
    store = S3ModelStore(BUCKET)
    reference = ReferenceModel(SegmentationModel.open(store, "mall", "v2")).assign(
        records, algorithm=algorithm
    )
    got = body["assignments"]
    assert [a["segment_id"] for a in got] == [r.segment_id for r in reference]
    assert [a["outlier"] for a in got] == [r.outlier for r in reference]
    assert [a["warnings"] for a in got] == [r.warnings for r in reference]
    assert [a["distance"] for a in got] == pytest.approx([r.distance for r in reference])
    assert [a["confidence"] for a in got] == pytest.approx([r.confidence for r in reference])


def test_nan_literal_and_malformed_json_answer_as_before(mall: Manifest) -> None:
    """orjson parses /assign bodies; what it refuses the standard parser judges, as before."""
    text = '{"customers": [{"Age": NaN, "Gender": "Male"}]}'
    status, body, _ = call("POST", "/datasets/mall/assign", raw_body=text)
    assert status == 200
    assert body["assignments"][0]["imputed"][0] == "Age"
    status, body, _ = call("POST", "/datasets/mall/assign", raw_body='{"customers": [')
    assert status == 422
    assert_error(body, "invalid_request")


# --- never a stack trace ------------------------------------------------------------------------


class BrokenStore(LocalModelStore):
    def list_children(self, prefix: str) -> list[str]:
        raise RuntimeError("disk on fire at /secret/path")


def test_unexpected_error_is_a_generic_500(tmp_path: Path, env: pytest.MonkeyPatch) -> None:
    handler = Mangum(create_app(store=BrokenStore(tmp_path)), lifespan="off")
    status, body, _ = call("GET", "/datasets", handler=handler)
    assert status == 500
    error = assert_error(body, "internal_error")
    assert "secret" not in json.dumps(body)
    assert error.request_id is not None
    assert error.request_id in error.message

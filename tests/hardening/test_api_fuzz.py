"""Fuzz the API with schemathesis against its own OpenAPI schema, in-process (ASGI).

A trained Mall model is published (dataset ``mall``, whose name is the schema's example, so
generated requests reach real models and answer 200s too). For every operation of the schema,
schemathesis generates requests from the schema (positive: valid by the schema; negative:
invalid on purpose) plus the schema's explicit examples, sends them through the app and runs
its checks: no 5xx, status codes, content types, headers and bodies conform to the schema,
invalid data is rejected. Over 1,000 requests in all, counted.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance

from lambdas.api.main import create_app
from lambdas.api.schemas import MAX_POST_UPLOAD_BYTES
from shared.settings import Settings
from shared.store.local import LocalModelStore
from shared.training.pipeline import TrainingOutput
from tests.hardening.conftest import seed_good_model
from tests.support.aws import AWS_TEST_ENV

POSITIVE_EXAMPLES = 40
TARGETED_EXAMPLES = 50
NEGATIVE_EXAMPLES = 30
MIN_REQUESTS = 1_000


@pytest.fixture(scope="module")
def api_schema(
    tmp_path_factory: pytest.TempPathFactory, good_output: TrainingOutput, monkeypatch_module: Any
) -> Any:
    store = LocalModelStore(Path(tmp_path_factory.mktemp("fuzz-models")))
    seed_good_model(store, good_output, "mall")
    # A raw bucket (and credentials to sign with; signing a browser upload calls nothing)
    # so the uploads operation answers tickets; its cap is S3's own POST limit, the schema's.
    for name, value in AWS_TEST_ENV.items():
        monkeypatch_module.setenv(name, value)
    open_settings = Settings(
        auth_mode="open",
        api_tokens_raw="",
        admin_tokens_raw="",
        model_refresh_seconds=60,
        raw_bucket="fuzz-raw",
        max_upload_bytes=MAX_POST_UPLOAD_BYTES,
    )
    app = create_app(store=store, settings=open_settings)
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.fixture(scope="module")
def monkeypatch_module() -> Any:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def run_operation(
    operation: Any, strategy: Any, max_examples: int, record: Callable[[Any, Any], None]
) -> None:
    @given(case=strategy)
    @settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: Any) -> None:
        if operation.path.endswith("/assign"):
            # A schema-valid customer may still know none of the model's columns (a 422
            # naming them): the schema cannot say which columns a dataset's model has. Every
            # other check applies, and a 422 of a schema-valid body must be that one.
            response = case.call_and_validate(excluded_checks=[positive_data_acceptance])
            positive = case.meta is None or case.meta.generation.mode == GenerationMode.POSITIVE
            if response.status_code == 422 and positive:
                assert response.json()["error"] == "invalid_customer", response.text[:300]
        else:
            response = case.call_and_validate()
        record(case, response)

    fuzz()


@pytest.mark.slow
def test_fuzz_every_operation(api_schema: Any) -> None:
    requests: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    server_errors: list[str] = []

    def record(case: Any, response: Any) -> None:
        label = f"{case.method} {case.path}"
        requests[label] += 1
        statuses[response.status_code] += 1
        if response.status_code >= 500:
            server_errors.append(f"{label} -> {response.status_code}")

    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:
        strategies = list(api_schema.get_strategies_from_examples(operation))
        if strategies:
            run_operation(operation, st.one_of(strategies), 20, record)
        run_operation(operation, operation.as_strategy(), POSITIVE_EXAMPLES, record)
        if "{dataset}" in operation.path:
            # Everything else generated, the dataset pinned to the trained one: real answers.
            targeted = operation.as_strategy(path_parameters={"dataset": "mall"})
            run_operation(operation, targeted, TARGETED_EXAMPLES, record)
        # Nothing to invalidate without parameters or a body (GET /health): Unsatisfiable.
        with contextlib.suppress(Unsatisfiable):
            run_operation(
                operation,
                operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
                NEGATIVE_EXAMPLES,
                record,
            )

    total = sum(requests.values())
    print(f"\n{total} requests; statuses {dict(sorted(statuses.items()))}")
    for label, count in sorted(requests.items()):
        print(f"  {count:5d}  {label}")
    assert not server_errors
    assert total >= MIN_REQUESTS
    assert statuses[200] > 100  # generated requests reached the trained model, not only errors
    assert set(requests) == {f"{op.method.upper()} {op.path}" for op in operations}

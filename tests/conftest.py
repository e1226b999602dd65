"""Shared fixtures: fake AWS credentials, moto's mock with the stack's resources, events.

``aws_env`` isolates a test from the developer's environment (fake credentials, no endpoint, no
local model folder) and clears the settings cache; ``moto_stack`` creates, inside ``mock_aws``,
the buckets, queue + DLQ and the bucket notification exactly as the stack does (see
:mod:`tests.support.aws`) and points ``RAW_BUCKET``/``MODELS_BUCKET`` at them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from shared.settings import ENV, get_settings
from tests.support.aws import AWS_TEST_ENV, REGION, FakeLambdaContext, StackResources


@pytest.fixture(autouse=True)
def _shared_logs_reach_caplog(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let ``shared.*`` records reach pytest's log capture in every test.

    Importing ``lambdas.training.runner`` gives the ``shared`` logger Powertools' JSON handler
    and turns its propagation off (right in Lambda: no duplicate lines). In one test process that
    import would hide ``shared.*`` records from ``caplog`` in every later test, so a test's
    outcome depended on which tests ran before it.
    """
    monkeypatch.setattr(logging.getLogger("shared"), "propagate", True)
    # The API's JSON logging (lambdas.api.logs) does the same to the ``lambdas`` logger.
    monkeypatch.setattr(logging.getLogger("lambdas"), "propagate", True)


@pytest.fixture(autouse=True)
def _local_auth_mode(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests run the API in ``AUTH_MODE=open`` (as the local stack does) unless they say otherwise.

    The API is secure by default (no token and no verified claims: 401); tests of authorization
    pass ``Settings(auth_mode="enforced")`` or tokens, or delete the variable.
    """
    monkeypatch.setenv(ENV.AUTH_MODE, "open")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@dataclass(frozen=True)
class MotoStack:
    """moto clients and the stack's resources."""

    s3: Any
    sqs: Any
    resources: StackResources


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fake credentials and region; no endpoint override; fresh settings."""
    for name, value in AWS_TEST_ENV.items():
        monkeypatch.setenv(name, value)
    for name in (ENV.AWS_ENDPOINT_URL, ENV.MODELS_DIR, "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def moto_stack(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoStack]:
    """moto's in-process mock with the stack's buckets, queues and notification."""
    import boto3
    from moto import mock_aws

    from tests.support.aws import make_local_stack

    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        resources = make_local_stack(s3, sqs)
        monkeypatch.setenv(ENV.RAW_BUCKET, resources.raw_bucket)
        monkeypatch.setenv(ENV.MODELS_BUCKET, resources.models_bucket)
        get_settings.cache_clear()
        yield MotoStack(s3=s3, sqs=sqs, resources=resources)
    get_settings.cache_clear()


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    """A Lambda context object as Powertools reads it."""
    return FakeLambdaContext()

"""Fixtures that start the local stack (moto server, dispatcher, API) in this process."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cli.localstack import LocalStack, LocalStackConfig
from shared.contract.manifest import Manifest

ROOT = Path(__file__).resolve().parents[2]
MALL_CSV = ROOT / "data" / "mall_customers.csv"
MALL_CONFIG = ROOT / "data" / "mall_config.json"


@dataclass(frozen=True)
class TrainedStack:
    """A running local stack with the Mall data trained as dataset ``mall``."""

    stack: LocalStack
    manifest: Manifest


@pytest.fixture(scope="module")
def mall_stack() -> Iterator[TrainedStack]:
    """The local stack with Mall trained through the real path (S3 -> SQS -> handler)."""
    with LocalStack(LocalStackConfig(api_port=0)) as stack:
        manifest = stack.train(MALL_CSV, dataset="mall", config=MALL_CONFIG, timeout=300)
        yield TrainedStack(stack, manifest)

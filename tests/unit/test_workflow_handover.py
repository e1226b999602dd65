"""TrainingRun hands large uploads to the state machine; the claim outlives the hand-over."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.exceptions import TrainingInProgressError
from shared.store.local import LocalModelStore, LocalRawUploadReader
from shared.store.workflow import execution_name
from shared.training.run import TrainingRun, UploadEvent, claim_key
from shared.training.workflow import RunTicket, _describe
from tests.support.engine import FakeEngine, fake_csv

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


class RecordingStarter:
    """A WorkflowStarter that records the executions it was asked to start."""

    def __init__(self) -> None:
        self.started: list[tuple[str, dict[str, Any]]] = []

    def start(self, name: str, run: dict[str, Any]) -> str:
        self.started.append((name, run))
        return f"arn:aws:states:us-east-1:123456789012:execution:t:{name}"


def _run(tmp_path: Path, starter: RecordingStarter, now: list[datetime]) -> TrainingRun:
    return TrainingRun(
        store=LocalModelStore(tmp_path / "models"),
        raw=LocalRawUploadReader(tmp_path / "raw"),
        max_upload_bytes=10**6,
        keep_versions=3,
        engine=FakeEngine(),
        clock=lambda: now[0],
        workflow=starter,
        workflow_min_bytes=100,
        workflow_claim=timedelta(hours=6),
    )


def _upload(tmp_path: Path, name: str, data: bytes) -> UploadEvent:
    path = tmp_path / "raw" / "uploads" / "shop" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return UploadEvent(key=f"uploads/shop/{name}")


def test_a_large_upload_is_handed_over_with_a_ticket_and_a_long_claim(tmp_path: Path) -> None:
    starter, now = RecordingStarter(), [T0]
    run = _run(tmp_path, starter, now)
    upload = _upload(tmp_path, "big.csv", fake_csv(*range(50)))
    result = run.run(upload)
    assert result.status == "started"
    assert result.version is not None
    ((name, ticket),) = starter.started
    assert name == execution_name("shop", result.version)
    parsed = RunTicket.model_validate(ticket)
    assert (parsed.dataset, parsed.version, parsed.key) == (
        "shop",
        result.version,
        "uploads/shop/big.csv",
    )
    assert isinstance(run.engine, FakeEngine)
    assert not run.engine.calls  # not trained here
    claim = json.loads(run.store.get_bytes(claim_key("shop", result.version)))
    assert datetime.fromisoformat(claim["expires_at"]) == T0 + timedelta(hours=6)

    # A redelivery an hour later (past the ordinary 16-minute claim) is still refused...
    now[0] = T0 + timedelta(hours=1)
    with pytest.raises(TrainingInProgressError):
        run.run(upload)
    # ... until the run's deadline has passed: then the claim is taken over.
    now[0] = T0 + timedelta(hours=7)
    assert run.run(upload).status == "started"
    assert len(starter.started) == 2


def test_a_small_upload_is_trained_inline(tmp_path: Path) -> None:
    starter, now = RecordingStarter(), [T0]
    run = _run(tmp_path, starter, now)
    result = run.run(_upload(tmp_path, "small.csv", b"x,y\n1,2\n3,4\n"))
    assert result.status == "published"
    assert not starter.started
    assert not run.store.list_keys("datasets/shop/claims/")


def test_a_failed_steps_report_shows_data_errors_and_hides_internal_ones() -> None:
    cause = {"errorType": "MissingColumnError", "errorMessage": "missing feature column(s) 'x'"}
    data = {"Error": "MissingColumnError", "Cause": json.dumps(cause)}
    assert _describe(data) == ("MissingColumnError", "missing feature column(s) 'x'")
    secret = {"errorType": "KeyError", "errorMessage": "'secret detail'"}
    internal = {"Error": "KeyError", "Cause": json.dumps(secret)}
    error_type, message = _describe(internal)
    assert error_type == "InternalError"
    assert "secret detail" not in message
    assert "KeyError" in message

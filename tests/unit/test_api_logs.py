"""The API logs JSON lines (Powertools' format), tracebacks included, with the service name."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from lambdas.api.main import create_app
from shared.settings import Settings
from shared.store.local import LocalModelStore


class BrokenStore(LocalModelStore):
    def list_children(self, prefix: str) -> list[str]:
        raise RuntimeError("the disk is on fire")


@pytest.fixture
def restore_loggers() -> Iterator[None]:
    saved = {n: list(logging.getLogger(n).handlers) for n in ("lambdas", "shared")}
    yield
    for name, handlers in saved.items():
        logging.getLogger(name).handlers = handlers


@pytest.mark.usefixtures("restore_loggers")
def test_an_internal_error_is_one_json_line_with_its_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(
        auth_mode="open", service_name="segments-api-test", log_level="info", log_format="json"
    )
    app = create_app(store=BrokenStore(tmp_path), settings=settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/datasets")
    assert response.status_code == 500
    assert "fire" not in response.text  # never a stack trace in the answer
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    (error,) = [line for line in lines if line["level"] == "ERROR"]
    assert error["service"] == "segments-api-test"
    assert error["exception_name"] == "RuntimeError"
    assert "the disk is on fire" in error["exception"]


@pytest.mark.usefixtures("restore_loggers")
def test_text_format_leaves_standard_output_to_the_process(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI runs the app in process and prints its results on standard output."""
    settings = Settings(auth_mode="open", log_level="info", log_format="text")
    app = create_app(store=BrokenStore(tmp_path), settings=settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/datasets").status_code == 500
    assert capsys.readouterr().out == ""

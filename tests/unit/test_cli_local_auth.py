"""The local stack's API enforces ``API_TOKENS`` / ``ADMIN_TOKENS`` from the environment."""

from __future__ import annotations

import pytest

from cli.demo import _first_token
from cli.main import build_parser


@pytest.mark.parametrize("command", ["demo", "stack"])
def test_tokens_come_from_the_environment(command: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_TOKENS", "read-1,read-2")
    monkeypatch.setenv("ADMIN_TOKENS", "admin-1")
    args = build_parser().parse_args([command])
    assert (args.api_tokens, args.admin_tokens) == ("read-1,read-2", "admin-1")
    flagged = build_parser().parse_args([command, "--api-tokens", "other"])
    assert flagged.api_tokens == "other"


def test_without_tokens_the_local_api_is_open(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("API_TOKENS", raising=False)
    monkeypatch.delenv("ADMIN_TOKENS", raising=False)
    args = build_parser().parse_args(["demo"])
    assert (args.api_tokens, args.admin_tokens) == ("", "")
    assert _first_token(args) is None


def test_the_demo_calls_its_api_with_a_configured_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_TOKENS", " , read-1")
    monkeypatch.setenv("ADMIN_TOKENS", "admin-1")
    assert _first_token(build_parser().parse_args(["demo"])) == "read-1"

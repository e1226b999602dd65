"""GitHub Actions pinned by commit SHA, and an update bot for every kind of pin."""

from __future__ import annotations

import re
from typing import Any

import yaml

from infra.stack import REPO_ROOT

WORKFLOWS = sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))
PINNED_ACTION = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")


def test_every_action_is_pinned_by_commit_sha() -> None:
    uses = [
        line.split("uses:", 1)[1].strip()
        for workflow in WORKFLOWS
        for line in workflow.read_text().splitlines()
        if line.strip().startswith(("uses:", "- uses:"))
    ]
    assert uses
    unpinned = [u for u in uses if not PINNED_ACTION.match(u)]
    assert not unpinned, unpinned


def test_update_bot_covers_actions_base_image_and_python_locks() -> None:
    config: dict[str, Any] = yaml.safe_load((REPO_ROOT / ".github" / "dependabot.yml").read_text())
    assert config["version"] == 2
    by_ecosystem = {u["package-ecosystem"]: u for u in config["updates"]}
    assert set(by_ecosystem) == {"github-actions", "docker", "pip"}
    assert by_ecosystem["docker"]["directory"] == "/"  # the Dockerfile
    assert set(by_ecosystem["pip"]["directories"]) == {"/", "/requirements"}
    for update in config["updates"]:
        assert update["schedule"]["interval"] in {"daily", "weekly"}

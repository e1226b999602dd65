"""Fixtures for the CDK tests: each app variant is synthesized once per test session.

The app is built exactly as ``infra/app.py`` builds it (same ``cdk.json`` context, same stack,
cdk-nag's AwsSolutions pack as a validation plugin). cdk-nag makes ``app.synth()`` raise when a
finding is not acknowledged; the fixture keeps that error and reads the templates it had already
written, so the property tests still run and only the nag test fails.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from aws_cdk import App, Stack, Validations
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

from infra.config import DeploymentConfig
from infra.stack import REPO_ROOT, SegmentsStack

#: Context of a throw-away development stack (every optional feature switched on, including
#: the sizes an account gets after a quota increase).
DEV_CONTEXT: dict[str, Any] = {
    "stackName": "CustomerSegmentsDev",
    "allowDestroy": "true",
    "apiProvisionedConcurrency": "2",
    "apiImageTarget": "training",
    "apiTokens": "reader-token",
    "adminTokens": "admin-token",
    "alarmEmail": "ops@example.com",
    "corsOrigins": "https://dashboard.example.com,http://localhost:8000",
    "dashboardUrls": "https://segments.example.com/",
    "trainingMemoryMb": "10240",
    "trainingReservedConcurrency": "2",
}


@dataclass
class Synthesized:
    """One synthesized app variant."""

    stack: SegmentsStack
    template: Template
    outdir: Path
    synth_error: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    def logical_id(self, construct: IConstruct) -> str:
        """Logical id of an L2 construct's CloudFormation resource (never hard-coded)."""
        default_child = construct.node.default_child
        assert default_child is not None, f"{construct.node.path} has no default child"
        return Stack.of(construct).get_logical_id(default_child)  # type: ignore[arg-type]

    def resource(self, construct: IConstruct) -> dict[str, Any]:
        """The template's resource of an L2 construct."""
        resource: dict[str, Any] = self.raw["Resources"][self.logical_id(construct)]
        return resource

    def image_target(self, function: IConstruct) -> str:
        """Dockerfile target of a function's image asset, from the cloud assembly."""
        image_uri = json.dumps(self.resource(function)["Properties"]["Code"]["ImageUri"])
        assets = json.loads((self.outdir / f"{self.stack.stack_name}.assets.json").read_text())
        targets = {
            asset_hash: image["source"].get("dockerBuildTarget", "")
            for asset_hash, image in assets["dockerImages"].items()
        }
        (target,) = [t for asset_hash, t in targets.items() if f":{asset_hash}" in image_uri]
        return target

    @property
    def template_path(self) -> Path:
        return self.outdir / f"{self.stack.stack_name}.template.json"

    def error_metadata(self) -> list[str]:
        """``aws:cdk:error`` entries of the cloud assembly (construct errors, not nag)."""
        manifest = json.loads((self.outdir / "manifest.json").read_text())
        return [
            f"{path}: {entry.get('data')}"
            for artifact in manifest["artifacts"].values()
            for path, entries in artifact.get("metadata", {}).items()
            for entry in entries
            if entry["type"] == "aws:cdk:error"
        ]

    def validation_violations(self) -> list[dict[str, Any]]:
        """Violations listed in the cloud assembly's validation report (empty when clean)."""
        report_path = self.outdir / "validation-report.json"
        if not report_path.exists():
            return []
        report = json.loads(report_path.read_text())
        return [v for plugin in report.get("pluginReports", []) for v in plugin["violations"]]


def build(context: dict[str, Any], outdir: Path) -> tuple[App, SegmentsStack]:
    """Build the app like ``infra/app.py`` does (cdk.json context + extra context)."""
    base_context = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    app = App(context={**base_context, **context}, outdir=str(outdir))
    config = DeploymentConfig.from_node(app.node)
    stack = SegmentsStack(app, config.stack_name, config=config)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app, stack


def synthesize(context: dict[str, Any], outdir: Path) -> Synthesized:
    """Build the app and synthesize it into ``outdir``, or reuse a synthesis already there.

    Synthesis (cdk-nag, templates, asset copy) is most of the cost, so pytest-xdist workers
    share it: the first worker synthesizes under a file lock, the others build the construct
    tree only (for logical-id look-ups) and read the same cloud assembly.
    """
    outdir.mkdir(parents=True, exist_ok=True)
    result_path = outdir / "synth-result.json"
    with (outdir.parent / f"{outdir.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if result_path.exists():
            _, stack = build(context, outdir / "unused")
            error = json.loads(result_path.read_text())["error"]
        else:
            app, stack = build(context, outdir)
            error = None
            try:
                app.synth()
            except RuntimeError as exc:  # cdk-nag findings (or another validation) failed
                error = str(exc)
            result_path.write_text(json.dumps({"error": error}))
    raw = json.loads((outdir / f"{stack.stack_name}.template.json").read_text())
    return Synthesized(
        stack=stack, template=Template.from_json(raw), outdir=outdir, synth_error=error, raw=raw
    )


def _shared_dir(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A directory shared by all xdist workers of this run (per-process without xdist)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return tmp_path_factory.getbasetemp().parent / name
    return tmp_path_factory.mktemp(name)


@pytest.fixture(scope="session")
def prod(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The stack with the defaults of ``cdk.json`` (what CI deploys)."""
    return synthesize({}, _shared_dir(tmp_path_factory, "cdk-prod"))


@pytest.fixture(scope="session")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """A development stack: destroyable, provisioned concurrency, static tokens, e-mail."""
    return synthesize(DEV_CONTEXT, _shared_dir(tmp_path_factory, "cdk-dev"))

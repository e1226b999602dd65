"""cdk-nag (AwsSolutions) finds nothing unacknowledged; cfn-lint, hadolint, actionlint pass."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from infra.stack import REPO_ROOT
from tests.infra.conftest import Synthesized

#: cfn-lint checks skipped, each with its reason.
CFN_LINT_IGNORED = {
    # CDK writes explicit DependsOn next to GetAtt for ordering it needs during updates.
    "W3005": "redundant DependsOn emitted by CDK itself",
}
WORKFLOWS = sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))


@pytest.mark.parametrize("variant", ["prod", "dev"])
def test_cdk_nag_has_no_unacknowledged_findings(
    variant: str, request: pytest.FixtureRequest
) -> None:
    synthesized: Synthesized = request.getfixturevalue(variant)
    violations = synthesized.validation_violations()
    described = [
        f"{v['ruleName']} at {[c['constructPath'] for c in v['violatingConstructs']]}"
        for v in violations
    ]
    assert synthesized.synth_error is None, "\n".join(described) or synthesized.synth_error
    assert described == []
    assert synthesized.error_metadata() == []


def test_acknowledgments_carry_reasons() -> None:
    from aws_cdk import Stack

    from infra.nag import acknowledge

    with pytest.raises(ValueError, match="specific reason"):
        acknowledge(Stack(), "AwsSolutions-S1", "n/a")


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (pip install -r requirements-dev.txt provides it)")
    return path


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, cwd=REPO_ROOT, check=False)


def test_cfn_lint_passes(prod: Synthesized, dev: Synthesized) -> None:
    cfn_lint = _binary("cfn-lint")
    templates = [str(prod.template_path), str(dev.template_path)]
    # One process for both templates: cfn-lint's start-up dominates its run time.
    result = _run([cfn_lint, "--ignore-checks", *CFN_LINT_IGNORED, "--", *templates])
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_passes_on_the_dockerfile() -> None:
    hadolint = _binary("hadolint")
    result = _run([hadolint, "--failure-threshold", "info", "Dockerfile"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_passes_on_the_workflows() -> None:
    actionlint = _binary("actionlint")
    assert WORKFLOWS, "no workflow under .github/workflows"
    result = _run([actionlint, "-no-color", *(str(w) for w in WORKFLOWS)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_build_context_is_small(prod: Synthesized) -> None:
    assets = list(prod.outdir.glob("asset.*"))
    assert len(assets) == 2  # one build context per image target (api, training)
    for asset in assets:
        files = {str(p.relative_to(asset)) for p in asset.rglob("*") if p.is_file()}
        top_level = {p.name for p in asset.iterdir()}
        expected = {"Dockerfile", ".dockerignore", "requirements", "docker", "shared", "lambdas"}
        assert top_level == expected
        assert {f for f in files if f.startswith(("requirements/", "docker/"))} == {
            "requirements/api.txt",
            "requirements/training.txt",
            "docker/api-entrypoint.sh",
        }
        size = sum(p.stat().st_size for p in asset.rglob("*") if p.is_file())
        assert size < 20 * 1024**2, f"image build context is {size} bytes"
        assert not list(asset.rglob("__pycache__"))


def test_dockerfile_copies_only_runtime_code() -> None:
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    copies = [line.split()[1] for line in dockerfile.splitlines() if line.startswith("COPY")]
    assert copies == [
        "requirements/api.txt",
        "shared/",
        "lambdas/",
        "docker/api-entrypoint.sh",
        "requirements/training.txt",
        "shared/",
        "lambdas/",
    ]
    assert "--no-cache-dir" in dockerfile


def test_cdk_cli_is_pinned() -> None:
    import json

    package = json.loads((REPO_ROOT / "package.json").read_text())
    version = package["devDependencies"]["aws-cdk"]
    assert version[0].isdigit(), f"aws-cdk is not pinned exactly: {version}"
    assert version.startswith("2."), "the CLI must be 2.x for aws-cdk-lib 2.x"
    lock = json.loads((REPO_ROOT / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/aws-cdk"]["version"] == version
    cdk_json = json.loads((REPO_ROOT / "cdk.json").read_text())
    assert cdk_json["app"] == "python3 -m infra.app"


def test_pinned_cdk_cli_reads_the_cloud_assembly(prod: Synthesized) -> None:
    """The CLI must understand the library's cloud-assembly schema (CLI >= library schema).

    ``cdk ls --app <assembly dir>`` loads the assembly the fixture synthesized with the same
    code as ``cdk.json``'s app command, without running Python a second time.
    """
    cdk = REPO_ROOT / "node_modules" / ".bin" / "cdk"
    if not cdk.exists():
        pytest.skip("CDK CLI not installed: run `npm ci`")
    result = _run([str(cdk), "ls", "--app", str(prod.outdir)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split() == [prod.stack.stack_name]

"""The two Lambda images: hashed lock files, the digest-pinned base, targets, the API's package set.

The lock files are generated with ``uv pip compile --python-version 3.12 --python-platform
x86_64-manylinux_2_28 --generate-hashes`` (command in each ``requirements/*.in``) and installed
with ``pip install --require-hashes --no-deps --only-binary=:all:``.
"""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from infra.config import DeploymentConfig
from infra.constructs.api import API_HANDLER
from infra.constructs.training import TRAINING_HANDLER
from infra.stack import IMAGE_TARGETS, REPO_ROOT

REQUIREMENTS = REPO_ROOT / "requirements"
DOCKERFILE = REPO_ROOT / "Dockerfile"
#: Never in the API image (the issue's list, plus pyarrow which only loading needs).
ENGINE_ONLY = {"pandas", "scikit-learn", "skops", "plotly", "pyarrow"}
#: Code the API image runs (lambdas/api and the shared packages it may import).
API_SOURCES = [
    REPO_ROOT / "lambdas" / "api",
    REPO_ROOT / "shared" / "serving",
    REPO_ROOT / "shared" / "store",
    REPO_ROOT / "shared" / "contract",
    REPO_ROOT / "shared" / "settings.py",
    REPO_ROOT / "shared" / "exceptions.py",
    REPO_ROOT / "shared" / "__init__.py",
]
ENGINE_PACKAGES = ("shared.engine", "shared.report", "shared.training")
#: Imports of the API code (mostly deferred ones) that the ``api`` image cannot satisfy, and why
#: they are there. While any remains, the API function keeps the ``training`` image by default
#: (``apiImageTarget``); a new one fails ``test_no_new_imports_outside_the_api_image``.
KNOWN_API_IMAGE_GAPS: dict[str, str] = {}
#: Direct requirements of the API image that its code does not import itself.
NOT_IMPORTED_BY_THE_API = {
    "uvicorn": "serves the image over HTTP off Lambda (docker/api-entrypoint.sh)",
}
DIGEST_PINNED_BASE = re.compile(
    r"^FROM public\.ecr\.aws/lambda/python:3\.12@sha256:[0-9a-f]{64} AS base$"
)


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _lock(name: str) -> dict[str, tuple[str, list[str]]]:
    """``{package: (version, [sha256 hashes])}`` of ``requirements/<name>.txt``."""
    text = (REQUIREMENTS / f"{name}.txt").read_text()
    packages: dict[str, tuple[str, list[str]]] = {}
    for block in re.split(r"\n(?=\S)", text):
        line = block.strip()
        if not line or line.startswith("#"):
            continue
        head = line.split()[0]
        assert "==" in head, f"{name}.txt: {head!r} is not pinned with =="
        package, version = head.split("==")
        hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", block)
        packages[_normalize(package)] = (version, hashes)
    return packages


def _pins(path: Path) -> dict[str, str]:
    """``{package: version}`` of the ``name==version`` lines of a requirements file."""
    pins = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)(\[[^]]*\])?==(\S+)", line)
        if match:
            pins[_normalize(match.group(1))] = match.group(3)
    return pins


@pytest.mark.parametrize("target", IMAGE_TARGETS)
def test_lock_pins_every_package_with_hashes(target: str) -> None:
    packages = _lock(target)
    assert packages
    for package, (version, hashes) in packages.items():
        assert re.fullmatch(r"[0-9][0-9A-Za-z.+]*", version), (package, version)
        assert hashes, f"{target}.txt: {package} has no --hash"
    text = (REQUIREMENTS / f"{target}.txt").read_text()
    assert "://" not in text, "a lock file names no index or URL"


def test_api_image_has_no_engine_packages() -> None:
    packages = set(_lock("api"))
    assert not packages & ENGINE_ONLY, sorted(packages & ENGINE_ONLY)
    assert not packages & {"scikit-learn", "joblib", "threadpoolctl", "narwhals"}


def test_training_image_has_the_whole_runtime() -> None:
    lock = _lock("training")
    for package, version in _pins(REPO_ROOT / "requirements.txt").items():
        assert lock[package][0] == version, package


def test_api_pins_match_the_project_pins() -> None:
    lock = _lock("api")
    direct = _pins(REQUIREMENTS / "api.in")
    project = {**_pins(REPO_ROOT / "requirements-dev.txt"), **_pins(REPO_ROOT / "requirements.txt")}
    for package, version in direct.items():
        assert lock[package][0] == version, f"api.txt is stale for {package}: re-run uv"
        assert project[package] == version, f"{package} differs from requirements*.txt"


def _imports(paths: list[Path]) -> dict[str, set[str]]:
    """Absolute imports (also deferred, inside functions) -> files that make them."""
    found: dict[str, set[str]] = {}
    files = [f for p in paths for f in ([p] if p.is_file() else sorted(p.rglob("*.py")))]
    for file in files:
        for node in ast.walk(ast.parse(file.read_text(), filename=str(file))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                found.setdefault(name, set()).add(str(file.relative_to(REPO_ROOT)))
    return found


def _api_imports() -> tuple[set[str], dict[str, set[str]]]:
    """Distributions the API code imports, and imports the ``api`` image cannot satisfy."""
    in_image = set(_lock("api"))
    distributions = importlib.metadata.packages_distributions()
    imported: set[str] = set()
    gaps: dict[str, set[str]] = {}
    for name, files in _imports(API_SOURCES).items():
        top = name.split(".")[0]
        if top in sys.stdlib_module_names or top == "__future__":
            continue
        if top in {"shared", "lambdas"}:
            if name.startswith(ENGINE_PACKAGES):
                gaps.setdefault(".".join(name.split(".")[:2]), set()).update(files)
            continue
        dists = {_normalize(d) for d in distributions.get(top, [top])}
        imported |= dists
        if not dists & in_image:
            gaps.setdefault(top, set()).update(files)
    return imported, gaps


def test_api_image_holds_only_what_the_api_imports() -> None:
    """Every direct requirement of the API image is imported by its code (or listed why not).

    scipy stays only while a serving kernel imports it (the DBSCAN KD-tree).
    """
    imported, _ = _api_imports()
    direct = set(_pins(REQUIREMENTS / "api.in"))
    unused = direct - imported - set(NOT_IMPORTED_BY_THE_API)
    assert not unused, f"api.in lists packages the API code does not import: {sorted(unused)}"


def test_no_new_imports_outside_the_api_image() -> None:
    _, gaps = _api_imports()
    new = {name: sorted(files) for name, files in gaps.items() if name not in KNOWN_API_IMAGE_GAPS}
    assert not new, f"the API imports these, the api image lacks them: {new}"


def test_default_api_image_target_follows_the_gaps() -> None:
    """The API function gets the lean image by default once nothing it imports is missing."""
    _, gaps = _api_imports()
    expected = "training" if gaps else "api"
    assert DeploymentConfig().api_image_target == expected, (
        f"gaps: {sorted(gaps)}; set DeploymentConfig.api_image_target to {expected!r}"
    )


def _stages() -> dict[str, list[str]]:
    stages: dict[str, list[str]] = {}
    current = ""
    for line in DOCKERFILE.read_text().splitlines():
        if line.startswith("FROM "):
            current = line.split()[-1]
            stages[current] = [line]
        elif current and line.strip() and not line.startswith("#"):
            stages[current].append(line)
    return stages


def test_base_image_is_pinned_by_digest() -> None:
    stages = _stages()
    assert DIGEST_PINNED_BASE.match(stages["base"][0]), stages["base"][0]
    for target in IMAGE_TARGETS:
        assert stages[target][0] == f"FROM base AS {target}"
    assert set(stages) == {"base", *IMAGE_TARGETS}


@pytest.mark.parametrize(
    ("target", "command"), [("api", API_HANDLER), ("training", TRAINING_HANDLER)]
)
def test_each_target_installs_its_lock_with_hashes(target: str, command: str) -> None:
    stage = "\n".join(_stages()[target])
    assert f"COPY requirements/{target}.txt " in stage
    install = stage[stage.index("RUN pip install") :]
    for flag in ("--require-hashes", "--no-deps", "--only-binary=:all:", "--no-cache-dir"):
        assert flag in install, (target, flag)
    assert f'CMD ["{command}"]' in stage


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_api_image_entry_point_serves_http_off_lambda(tmp_path: Path) -> None:
    """Off Lambda the api image's entry point runs uvicorn on $PORT (no Docker needed here)."""
    port = _free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_LAMBDA_", "PYTEST_"))
    }
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        PORT=str(port),
        LAMBDA_TASK_ROOT=str(REPO_ROOT),
        MODELS_DIR=str(tmp_path),
        AUTH_MODE="open",
        FORWARDED_ALLOW_IPS="127.0.0.1",
    )
    env.pop("RUN_AS", None)
    process = subprocess.Popen(
        ["sh", str(REPO_ROOT / "docker" / "api-entrypoint.sh"), API_HANDLER],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    assert r.status == 200
                    assert b"status" in r.read()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    output = process.stdout.read().decode() if process.stdout else ""
                    pytest.fail(f"uvicorn did not answer on port {port}:\n{output}")
                time.sleep(0.2)
    finally:
        process.terminate()
        process.wait(timeout=10)

"""Fixtures of the browser tests: the local stack with a trained Mall model, and headless Chromium.

Module-scoped, not session-scoped: the stack sets AWS environment variables and Playwright's sync
API keeps an event loop running while it is open; both must end before the next test module.

The stack is :class:`cli.localstack.LocalStack` (moto S3 + SQS, the queue dispatcher calling the
training handler, the API under uvicorn), the same one ``segments demo`` runs. The Mall file (and
its config) go to the raw bucket exactly as a user would upload them; the tests wait for the
training run to publish, then drive the Debian Chromium (``/usr/bin/chromium``; Playwright's own
browser download is not used) against the API's dashboard.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.contract.config import ALL_ALGORITHMS

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data"
OUTPUT = REPO / "test-output" / "browser"
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DATASET = "mall"
SHOPPERS = "shoppers"
TRAINING_TIMEOUT_S = 120.0
EXTERNAL_API_ENV = "SEGMENTS_BROWSER_API_URL"


def get_json(url: str) -> Any:
    """GET ``url`` and parse the JSON answer."""
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def post_json(url: str, body: Any) -> Any:
    """POST ``body`` as JSON to ``url`` and parse the JSON answer."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _wait_for_model(api_url: str, dataset: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            return dict(get_json(f"{api_url}/datasets/{dataset}"))
        except urllib.error.HTTPError as e:
            last = f"{e.code} {e.read()[:300]!r}"
        except OSError as e:
            last = e
        time.sleep(0.5)
    raise AssertionError(f"no model for {dataset!r} after {timeout:.0f} s (last answer: {last})")


@pytest.fixture(scope="module")
def mall_stack() -> Iterator[Any]:
    """The local stack, with the Mall customers uploaded and trained by the real pipeline."""
    from cli.localstack import LocalStack, LocalStackConfig

    stack = LocalStack(LocalStackConfig(log_level="WARNING")).start()
    try:
        s3 = stack.client("s3")
        s3.put_object(
            Bucket=stack.raw_bucket,
            Key=f"configs/{DATASET}.json",
            Body=(DATA / "mall_config.json").read_bytes(),
        )
        s3.put_object(
            Bucket=stack.raw_bucket,
            Key=f"uploads/{DATASET}/mall_customers.csv",
            Body=(DATA / "mall_customers.csv").read_bytes(),
        )
        # A second dataset with two versions, trained while the first tests run: the Mall file
        # without the Mall config (Gender and Age are used too), first without its last 20
        # customers, then whole. The newer upload becomes current; S3 times have one-second
        # resolution, so the second upload waits until the first model is in (seconds later).
        lines = (DATA / "mall_customers.csv").read_bytes().splitlines(keepends=True)
        # Every algorithm there, the opt-in autoencoder too.
        s3.put_object(
            Bucket=stack.raw_bucket,
            Key=f"configs/{SHOPPERS}.json",
            Body=json.dumps({"algorithms": list(ALL_ALGORITHMS)}).encode(),
        )
        s3.put_object(
            Bucket=stack.raw_bucket, Key=f"uploads/{SHOPPERS}/part.csv", Body=b"".join(lines[:-20])
        )
        _wait_for_model(stack.api_url, DATASET, TRAINING_TIMEOUT_S)
        s3.put_object(
            Bucket=stack.raw_bucket, Key=f"uploads/{SHOPPERS}/whole.csv", Body=b"".join(lines)
        )
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def shoppers_versions(request: pytest.FixtureRequest) -> tuple[str, str]:
    """The second dataset's (older, current) versions, once both are published."""
    if os.environ.get(EXTERNAL_API_ENV):
        pytest.skip(
            f"the second dataset is uploaded by the local stack fixture, not {EXTERNAL_API_ENV}"
        )
    mall_stack = request.getfixturevalue("mall_stack")
    deadline = time.monotonic() + TRAINING_TIMEOUT_S
    last: object = None
    while time.monotonic() < deadline:
        try:
            listing = get_json(f"{mall_stack.api_url}/datasets/{SHOPPERS}/versions")
        except urllib.error.HTTPError as e:
            last = e.code
        else:
            by_source = {
                v["source_key"].rsplit("/", 1)[-1]: v["version"] for v in listing["versions"]
            }
            last = listing
            if {"part.csv", "whole.csv"} <= by_source.keys() and listing[
                "current_version"
            ] == by_source["whole.csv"]:
                return by_source["part.csv"], by_source["whole.csv"]
        time.sleep(0.5)
    raise AssertionError(f"{SHOPPERS!r} did not get both versions in time (last: {last})")


@pytest.fixture(scope="module")
def api_url(request: pytest.FixtureRequest) -> str:
    """Base URL of the API serving the trained Mall model (no trailing slash).

    ``SEGMENTS_BROWSER_API_URL`` points the tests at a stack that is already running (for
    example ``segments demo``, which trains the Mall data); otherwise the local stack is started.
    """
    external = os.environ.get(EXTERNAL_API_ENV)
    if external:
        _wait_for_model(external.rstrip("/"), DATASET, 10)
        return external.rstrip("/")
    return str(request.getfixturevalue("mall_stack").api_url)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright."""
    if not CHROMIUM.is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def new_page(browser: Any, *, bypass_csp: bool = True) -> Any:
    """A page in a fresh context (no shared localStorage) that records script errors.

    Playwright's polling waits (``wait_for_function``) evaluate strings inside the page, which
    the dashboard's Content-Security-Policy forbids; the tests bypass the policy except where
    they check it (``bypass_csp=False``).
    """
    context = browser.new_context(viewport={"width": 1400, "height": 900}, bypass_csp=bypass_csp)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    def on_console(message: Any) -> None:
        # HTTP errors the page handles (a 503 when there is no model) are logged by Chromium
        # as "Failed to load resource"; they are not script errors.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(message.text)

    page.on("console", on_console)
    page.script_errors = errors
    page.set_default_timeout(15_000)
    return page


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page; see :func:`new_page`."""
    page = new_page(browser)
    try:
        yield page
    finally:
        # Route handlers may still be serving the page's background prefetches.
        page.unroute_all(behavior="ignoreErrors")
        page.context.close()


@pytest.fixture(scope="session")
def output_dir() -> Path:
    """``test-output/browser/`` (gitignored): screenshots of every step."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    return OUTPUT

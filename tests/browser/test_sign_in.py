"""The dashboard's sign-in (authorization code + PKCE) against a local OIDC stand-in.

The API runs under uvicorn with sign-in configured (``OAUTH_*``), enforced authorization and a
published Mall model in a local folder; its only accepted token is the one the stand-in issues,
so a dashboard that shows segments has signed in. The stand-in (Playwright routes on the page's
own origin, so the page's CSP admits it) plays Cognito's ``/oauth2/authorize`` (redirects back
with a code bound to the S256 challenge) and ``/oauth2/token`` (gives tokens only for the
verifier of that challenge).
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lambdas.api.main import create_app
from shared.settings import Settings
from shared.store.local import LocalModelStore
from tests.browser.conftest import new_page

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect

CLIENT_ID = "dashboard-client"
ACCESS_TOKEN = "stand-in-access-token"


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _publish_mall(store: LocalModelStore) -> None:
    from datetime import UTC, datetime

    from shared.contract.config import DatasetConfig
    from shared.contract.manifest import CurrentPointer, SourceInfo
    from shared.store.base import write_current
    from shared.training.pipeline import train_segments
    from shared.training.run import publish_version
    from tests.browser.conftest import DATA, DATASET

    data = (DATA / "mall_customers.csv").read_bytes()
    config = DatasetConfig.model_validate_json((DATA / "mall_config.json").read_bytes())
    output = train_segments(data, filename="mall_customers.csv", config=config, dataset=DATASET)
    source = SourceInfo(bucket="local", key=f"uploads/{DATASET}/m.csv", sha256="0" * 64, size=1)
    now = datetime.now(UTC)
    publish_version(store, DATASET, "v1", output, source, created_at=now)
    write_current(store, DATASET, CurrentPointer(version="v1", updated_at=now))


@pytest.fixture(scope="module")
def signin_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The API with sign-in configured, under uvicorn on a free port."""
    import uvicorn

    from cli.localstack import free_port

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = Settings(
        auth_mode="enforced",
        api_tokens_raw=ACCESS_TOKEN,
        oauth_domain_url=f"{base}/stand-in",
        oauth_client_id=CLIENT_ID,
        oauth_cli_client_id="cli-client",
    )
    store = LocalModelStore(Path(tmp_path_factory.mktemp("signin-models")))
    _publish_mall(store)
    app = create_app(store=store, settings=settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class StandIn:
    """Cognito's two endpoints, as Playwright routes."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.codes: dict[str, dict[str, str]] = {}
        self.token_forms: list[dict[str, str]] = []

    def install(self, page: Any) -> None:
        page.route(f"{self.base}/stand-in/oauth2/authorize*", self.authorize)
        page.route(f"{self.base}/stand-in/oauth2/token", self.token)

    def authorize(self, route: Any) -> None:
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(route.request.url).query))
        code = f"code-{len(self.codes)}"
        self.codes[code] = query
        back = urllib.parse.urlencode({"code": code, "state": query["state"]})
        route.fulfill(status=302, headers={"Location": f"{query['redirect_uri']}?{back}"})

    def token(self, route: Any) -> None:
        form = dict(urllib.parse.parse_qsl(route.request.post_data or ""))
        self.token_forms.append(form)
        issued = self.codes.pop(form.get("code", ""), None)
        good = (
            form.get("grant_type") == "authorization_code"
            and issued is not None
            and form.get("client_id") == CLIENT_ID
            and form.get("redirect_uri") == issued["redirect_uri"]
            and _challenge(form.get("code_verifier", "")) == issued["code_challenge"]
        )
        if form.get("grant_type") == "refresh_token" and form.get("refresh_token") == "r-1":
            good = True
        if not good:
            route.fulfill(status=400, json={"error": "invalid_grant"})
            return
        route.fulfill(
            status=200,
            json={"access_token": ACCESS_TOKEN, "refresh_token": "r-1", "expires_in": 3600},
        )


@pytest.fixture
def signin_page(browser: Any) -> Iterator[Any]:
    page = new_page(browser, bypass_csp=False)  # the real policy must admit the exchange
    try:
        yield page
    finally:
        page.context.close()


def test_sign_in_with_pkce_then_sign_out(signin_page: Any, signin_api: str) -> None:
    page, stand_in = signin_page, StandIn(signin_api)
    stand_in.install(page)
    sent: list[str | None] = []
    page.on(
        "request",
        lambda r: sent.append(r.headers.get("authorization")) if "/datasets" in r.url else None,
    )
    page.goto(f"{signin_api}/")
    notice = page.locator("[data-testid=notice]")
    notice.wait_for()
    assert "Sign in" in notice.inner_text()
    assert page.locator("#signin-button").is_visible()
    assert page.locator("#token-button").is_hidden()  # nothing to paste when deployed

    page.locator("#signin-button").click()
    expect(page.locator("#signout-button")).to_be_visible()
    expect(page.locator("[data-testid=segment-card]").first).to_be_visible()
    assert "code=" not in page.url  # code and state are gone from the address bar
    assert "state=" not in page.url
    (exchange,) = stand_in.token_forms
    assert exchange["grant_type"] == "authorization_code"
    assert exchange["redirect_uri"] == f"{signin_api}/"
    assert len(exchange["code_verifier"]) >= 43
    assert sent[0] is None
    assert sent[-1] == f"Bearer {ACCESS_TOKEN}"
    assert page.locator("#signin-button").is_hidden()

    # "Full report" opens a short-lived signed link: no token in the new tab, yet it loads.
    with page.context.expect_page() as opened:
        page.locator("#report-link").click()
    report = opened.value
    report.wait_for_url("**/datasets/mall/report?*signature=*")
    report.wait_for_load_state()
    assert report.locator("[data-figure]").count() > 0
    report.close()
    assert page.script_errors == []

    page.route(f"{signin_api}/stand-in/logout*", lambda route: route.fulfill(body="signed out"))
    page.locator("#signout-button").click()
    page.wait_for_url(f"{signin_api}/stand-in/logout*")
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(page.url).query))
    assert query == {"client_id": CLIENT_ID, "logout_uri": f"{signin_api}/"}


def test_a_redirect_from_another_sign_in_is_refused(signin_page: Any, signin_api: str) -> None:
    page, stand_in = signin_page, StandIn(signin_api)
    stand_in.install(page)
    page.goto(f"{signin_api}/?code=stolen&state=forged")
    notice = page.locator("[data-testid=notice]")
    expect(notice).to_contain_text("state mismatch")
    assert stand_in.token_forms == []  # the code was never exchanged
    assert page.locator("#signin-button").is_visible()


def test_an_expired_token_is_refreshed(signin_page: Any, signin_api: str) -> None:
    page, stand_in = signin_page, StandIn(signin_api)
    stand_in.install(page)
    page.add_init_script(
        "sessionStorage.setItem('segments.session', JSON.stringify("
        "{access_token: 'old', refresh_token: 'r-1', expires_at: Date.now() - 1000}))"
    )
    page.goto(f"{signin_api}/")
    expect(page.locator("[data-testid=segment-card]").first).to_be_visible()
    assert [f["grant_type"] for f in stand_in.token_forms] == ["refresh_token"]
    assert stand_in.token_forms[0]["client_id"] == CLIENT_ID


def test_a_refused_refresh_asks_to_sign_in_again(signin_page: Any, signin_api: str) -> None:
    page, stand_in = signin_page, StandIn(signin_api)
    stand_in.install(page)
    page.add_init_script(
        "sessionStorage.setItem('segments.session', JSON.stringify("
        "{access_token: 'old', refresh_token: 'revoked', expires_at: Date.now() - 1000}))"
    )
    page.goto(f"{signin_api}/")
    expect(page.locator("[data-testid=notice]")).to_contain_text("Sign in to see the segments")
    expect(page.locator("#signin-button")).to_be_visible()
    expect(page.locator("#signout-button")).to_be_hidden()
    assert page.evaluate("() => sessionStorage.getItem('segments.session')") is None

"""``segments login``: PKCE (RFC 7636), the state check, the token exchange, the token file.

A fake OAuth server on 127.0.0.1 stands in for Cognito: its authorize step binds a code to the
S256 challenge it was given, and its token endpoint gives tokens only for the verifier that
hashes to that challenge, as the real one does.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import stat
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cli.errors import CliError
from cli.login import (
    SignInConfig,
    Tokens,
    TokenStore,
    authorization_url,
    callback_code,
    client_credentials,
    code_challenge,
    code_verifier,
    exchange_code,
    fetch_sign_in_config,
    login_in_browser,
)
from cli.main import main
from infra.constructs.api import CLI_CALLBACK_URL
from lambdas.api.main import create_app
from shared.settings import Settings

UNRESERVED = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


class FakeOAuth:
    """Authorize (in-process) and token endpoint (HTTP) of a PKCE-checking OAuth server."""

    def __init__(self) -> None:
        self.codes: dict[str, dict[str, str]] = {}
        self.requests: list[dict[str, Any]] = []
        self.refresh_tokens = {"refresh-1"}
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                fake.requests.append({"form": form, "authorization": self.headers["authorization"]})
                status, body = fake.token(form, self.headers.get("authorization"))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.token_url = f"http://127.0.0.1:{self.server.server_address[1]}/oauth2/token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def authorize(self, url: str) -> str:
        """What the sign-in page does after a good password: a code bound to the challenge."""
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
        assert query["response_type"] == "code"
        assert query["code_challenge_method"] == "S256"
        code = f"code-{len(self.codes)}"
        self.codes[code] = query
        answer = urllib.parse.urlencode({"code": code, "state": query["state"]})
        return f"{query['redirect_uri']}?{answer}"

    def token(self, form: dict[str, str], authorization: str | None) -> tuple[int, dict[str, Any]]:
        grant = form.get("grant_type")
        if grant == "authorization_code":
            issued = self.codes.pop(form.get("code", ""), None)
            if issued is None or form.get("redirect_uri") != issued["redirect_uri"]:
                return 400, {"error": "invalid_grant"}
            if code_challenge(form.get("code_verifier", "")) != issued["code_challenge"]:
                return 400, {"error": "invalid_grant", "error_description": "PKCE mismatch"}
            return 200, {
                "access_token": "access-1",
                "refresh_token": "refresh-1",
                "expires_in": 3600,
            }
        if grant == "refresh_token" and form.get("refresh_token") in self.refresh_tokens:
            return 200, {"access_token": "access-2", "expires_in": 3600}
        if grant == "client_credentials":
            expected = "Basic " + base64.b64encode(b"machine:s3cret").decode()
            if authorization != expected:
                return 401, {"error": "invalid_client"}
            return 200, {"access_token": f"machine-{form['scope']}", "expires_in": 3600}
        return 400, {"error": "unsupported_grant_type"}


@pytest.fixture
def oauth() -> Iterator[FakeOAuth]:
    fake = FakeOAuth()
    fake.thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def config_for(oauth: FakeOAuth) -> SignInConfig:
    return SignInConfig(
        authorize_url="https://signin.example/oauth2/authorize",
        token_url=oauth.token_url,
        client_id="cli-client",
        scopes=("openid", "email", "segments/read"),
    )


# --- PKCE ---------------------------------------------------------------------------------------


def test_challenge_matches_rfc_7636_appendix_b() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert code_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_challenge_is_unpadded_base64url_of_sha256() -> None:
    verifier = code_verifier()
    digest = hashlib.sha256(verifier.encode()).digest()
    assert code_challenge(verifier) == base64.urlsafe_b64encode(digest).decode().rstrip("=")
    assert "=" not in code_challenge(verifier)


def test_verifiers_are_valid_and_fresh() -> None:
    verifiers = {code_verifier() for _ in range(50)}
    assert len(verifiers) == 50
    for verifier in verifiers:
        assert 43 <= len(verifier) <= 128  # RFC 7636 section 4.1
        assert set(verifier) <= UNRESERVED


def test_authorization_url_asks_for_a_code_with_s256(oauth: FakeOAuth) -> None:
    url = authorization_url(config_for(oauth), state="st", challenge="ch")
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query))
    assert (
        f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://signin.example/oauth2/authorize"
    )
    assert query == {
        "response_type": "code",
        "client_id": "cli-client",
        "redirect_uri": "http://localhost:8976/callback",
        "scope": "openid email segments/read",
        "state": "st",
        "code_challenge": "ch",
        "code_challenge_method": "S256",
    }
    assert query["redirect_uri"] == CLI_CALLBACK_URL  # what the stack registers


# --- state check --------------------------------------------------------------------------------


def test_callback_gives_the_code_only_for_our_state() -> None:
    assert callback_code("/callback?code=c1&state=mine", "mine") == "c1"
    for target in ("/callback?code=c1&state=other", "/callback?code=c1", "/callback?state="):
        with pytest.raises(CliError, match="state does not match"):
            callback_code(target, "mine")
    with pytest.raises(CliError, match="User is disabled"):
        callback_code("/callback?error=access_denied&error_description=User+is+disabled", "x")
    with pytest.raises(CliError, match="no authorization code"):
        callback_code("/callback?state=mine", "mine")


# --- token exchange -----------------------------------------------------------------------------


def test_code_exchange_sends_the_verifier(oauth: FakeOAuth) -> None:
    config = config_for(oauth)
    verifier = code_verifier()
    redirect = oauth.authorize(
        authorization_url(config, state="s", challenge=code_challenge(verifier))
    )
    code = callback_code(
        urllib.parse.urlsplit(redirect)._replace(scheme="", netloc="").geturl(), "s"
    )
    tokens = exchange_code(config, code, verifier, now=lambda: 1000.0)
    assert tokens == Tokens("access-1", 4600.0, oauth.token_url, "cli-client", "refresh-1")
    form = oauth.requests[-1]["form"]
    assert form["grant_type"] == "authorization_code"
    assert form["code_verifier"] == verifier
    assert form["client_id"] == "cli-client"
    assert oauth.requests[-1]["authorization"] is None  # a public client sends no secret


def test_code_exchange_with_another_verifier_is_refused(oauth: FakeOAuth) -> None:
    config = config_for(oauth)
    redirect = oauth.authorize(
        authorization_url(config, state="s", challenge=code_challenge(code_verifier()))
    )
    code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(redirect).query))["code"]
    with pytest.raises(CliError, match="PKCE mismatch"):
        exchange_code(config, code, code_verifier())


def test_login_in_browser_end_to_end(oauth: FakeOAuth) -> None:
    """The loopback server receives the redirect, checks the state and exchanges the code."""
    from cli.localstack import free_port

    port = free_port()
    config = config_for(oauth)

    def browser(url: str) -> None:
        redirect = oauth.authorize(url).replace("localhost", "127.0.0.1")
        threading.Thread(target=lambda: urllib.request.urlopen(redirect, timeout=10).read()).start()

    tokens = login_in_browser(config, port=port, open_url=browser, timeout=20)
    assert tokens.access_token == "access-1"
    assert oauth.requests[-1]["form"]["redirect_uri"] == f"http://localhost:{port}/callback"


def test_a_forged_redirect_is_refused(oauth: FakeOAuth) -> None:
    from cli.localstack import free_port

    port = free_port()

    def attacker(url: str) -> None:
        forged = f"http://127.0.0.1:{port}/callback?code=stolen&state=guess"
        threading.Thread(target=lambda: urllib.request.urlopen(forged, timeout=10).read()).start()

    with pytest.raises(CliError, match="state does not match"):
        login_in_browser(config_for(oauth), port=port, open_url=attacker, timeout=20)
    assert oauth.requests == []  # nothing was sent to the token endpoint


def test_client_credentials_for_ci(oauth: FakeOAuth) -> None:
    tokens = client_credentials(oauth.token_url, "machine", "s3cret", scope="segments/read")
    assert tokens.access_token == "machine-segments/read"
    assert tokens.refresh_token is None
    with pytest.raises(CliError, match="invalid_client"):
        client_credentials(oauth.token_url, "machine", "wrong", scope="segments/read")


# --- token file ---------------------------------------------------------------------------------


def test_tokens_are_stored_owner_only_and_refreshed(tmp_path: Path, oauth: FakeOAuth) -> None:
    path = tmp_path / "config" / "segments" / "credentials.json"
    store = TokenStore(path)
    api = "https://api.example/"
    store.put(api, Tokens("access-1", 1000.0, oauth.token_url, "cli-client", "refresh-1"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert store.access_token(api, now=lambda: 500.0) == "access-1"  # still valid
    assert store.access_token(api, now=lambda: 990.0) == "access-2"  # refreshed near expiry
    saved = store.get("https://api.example")
    assert saved is not None
    assert saved.refresh_token == "refresh-1"  # Cognito keeps it
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert store.remove(api)
    assert store.get(api) is None


def test_an_existing_token_file_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    path.write_text("{}")
    path.chmod(0o644)
    TokenStore(path).put("https://a", Tokens("t", 1.0, "u", "c"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_sign_in_config_comes_from_the_api() -> None:
    from fastapi.testclient import TestClient

    settings = Settings(
        oauth_domain_url="https://d.auth.eu-west-1.amazoncognito.com",
        oauth_client_id="dash",
        oauth_cli_client_id="cli",
    )
    with TestClient(create_app(settings=settings)) as http:
        config = fetch_sign_in_config("http://testserver", client=http)
    assert config.client_id == "cli"
    assert config.token_url == "https://d.auth.eu-west-1.amazoncognito.com/oauth2/token"
    assert "segments/read" in config.scopes
    open_app = create_app(settings=Settings(auth_mode="open"))
    with TestClient(open_app) as http, pytest.raises(CliError, match="does not use sign-in"):
        fetch_sign_in_config("http://testserver", client=http)


def test_commands_use_the_stored_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, oauth: FakeOAuth
) -> None:
    """``segments segments`` without --token sends what ``segments login`` stored."""
    import cli.api_client

    path = tmp_path / "credentials.json"
    TokenStore(path).put("https://api.example", Tokens("stored", 1e12, oauth.token_url, "c"))
    monkeypatch.setenv("SEGMENTS_CREDENTIALS", str(path))
    monkeypatch.delenv("SEGMENTS_API_TOKEN", raising=False)
    seen: list[str | None] = []

    def fake_remote_api(url: str, *, token: str | None = None) -> Any:
        seen.append(token)
        raise CliError("stop here")

    monkeypatch.setattr(cli.api_client, "remote_api", fake_remote_api)
    main(["segments", "--dataset", "mall", "--api-url", "https://api.example"])
    assert seen == ["stored"]

"""``segments login`` / ``segments logout``: tokens for a deployed API, kept 0600 on disk.

How a client signs in is asked from the API itself (``GET /auth/config``, no token needed):
the Cognito domain's endpoints and the CLI's public app client. Two ways:

- **People**: the OAuth 2.0 authorization code flow with PKCE (RFC 7636) and a loopback
  redirect (RFC 8252), as cloud CLIs do (Cognito has no device grant). The CLI listens on
  ``http://localhost:8976/callback`` (the callback URL the stack registers), opens the managed
  login page in a browser (or prints its URL), checks the ``state`` it gets back, and exchanges
  the code with its verifier. Refresh tokens renew the access token when it expires.
- **CI and services**: the client-credentials grant with a machine client's id and secret
  (``--client-id`` + ``SEGMENTS_CLIENT_SECRET``), no browser.

Tokens are stored per API URL in ``~/.config/segments/credentials.json`` (folder 0700, file
0600, rewritten atomically); ``--token`` / ``SEGMENTS_API_TOKEN`` still win when given.

Examples
--------
>>> verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"  # RFC 7636, appendix B
>>> code_challenge(verifier)
'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM'
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import os
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cli.errors import CliError, ExitCode

__all__ = [
    "CALLBACK_PATH",
    "CALLBACK_PORT",
    "SignInConfig",
    "TokenStore",
    "Tokens",
    "authorization_url",
    "callback_code",
    "client_credentials",
    "code_challenge",
    "code_verifier",
    "exchange_code",
    "fetch_sign_in_config",
    "login_in_browser",
    "refresh",
]

CALLBACK_PORT = 8976
"""Port of the loopback redirect (the stack registers http://localhost:8976/callback)."""
CALLBACK_PATH = "/callback"
REFRESH_MARGIN_SECONDS = 60
HTTP_TIMEOUT = 30.0


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def code_verifier() -> str:
    """A fresh PKCE code verifier: 32 random bytes, URL-safe base64 (43 characters).

    Examples
    --------
    >>> v = code_verifier()
    >>> len(v), set(v) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    (43, True)
    """
    return _b64url(secrets.token_bytes(32))


def code_challenge(verifier: str) -> str:
    """The S256 challenge of ``verifier``: base64url(SHA-256(ascii(verifier))), no padding."""
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


@dataclass(frozen=True)
class SignInConfig:
    """What ``GET /auth/config`` says about signing in (public values only)."""

    authorize_url: str
    token_url: str
    client_id: str
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class Tokens:
    """Tokens of one API, as stored."""

    access_token: str
    expires_at: float
    token_url: str
    client_id: str
    refresh_token: str | None = None

    @classmethod
    def from_answer(
        cls, answer: dict[str, Any], *, token_url: str, client_id: str, now: float
    ) -> Tokens:
        """Tokens from a token endpoint's JSON answer (``expires_in`` seconds from ``now``)."""
        token = answer.get("access_token")
        if not isinstance(token, str) or not token:
            raise CliError("the token endpoint answered without an access_token", ExitCode.INPUT)
        return cls(
            access_token=token,
            expires_at=now + float(answer.get("expires_in", 3600)),
            token_url=token_url,
            client_id=client_id,
            refresh_token=answer.get("refresh_token"),
        )


def fetch_sign_in_config(api_url: str, *, client: Any = None) -> SignInConfig:
    """Ask the API how to sign in; refuse when it does not use sign-in."""
    import httpx

    url = api_url.rstrip("/") + "/auth/config"
    try:
        response = (client or httpx).get(url, timeout=HTTP_TIMEOUT)
    except httpx.HTTPError as e:
        raise CliError(f"cannot reach {url}: {e}", ExitCode.UNREACHABLE) from e
    if response.status_code != 200:
        raise CliError(
            f"{url} answered {response.status_code}: is {api_url} a segments API?",
            ExitCode.UNREACHABLE,
        )
    body = response.json()
    if body.get("mode") != "cognito" or not body.get("cli_client_id"):
        raise CliError(
            f"{api_url} does not use sign-in (mode {body.get('mode')!r}): "
            + (
                "it needs no token"
                if body.get("mode") == "open"
                else "pass one of its tokens with --token or SEGMENTS_API_TOKEN"
            ),
            ExitCode.INPUT,
        )
    return SignInConfig(
        authorize_url=body["authorize_url"],
        token_url=body["token_url"],
        client_id=body["cli_client_id"],
        scopes=tuple(body.get("scopes") or ()),
    )


def redirect_uri(port: int = CALLBACK_PORT) -> str:
    """The loopback redirect URI registered for the CLI's app client."""
    return f"http://localhost:{port}{CALLBACK_PATH}"


def authorization_url(
    config: SignInConfig, *, state: str, challenge: str, port: int = CALLBACK_PORT
) -> str:
    """The managed login URL that starts a sign-in (authorization code + S256 challenge).

    Examples
    --------
    >>> c = SignInConfig("https://d.example/oauth2/authorize", "t", "cid", ("openid",))
    >>> url = authorization_url(c, state="s1", challenge="ch")
    >>> "code_challenge_method=S256" in url and "redirect_uri=http%3A%2F%2Flocalhost%3A8976" in url
    True
    """
    query = urllib.parse.urlencode(
        {
            "response_type": "code",
            "client_id": config.client_id,
            "redirect_uri": redirect_uri(port),
            "scope": " ".join(config.scopes),
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    return f"{config.authorize_url}?{query}"


def callback_code(target: str, expected_state: str) -> str:
    """The authorization code of the redirect's request target, after checking its state.

    Raises
    ------
    CliError
        The sign-in server reported an error, the state is not ours (another sign-in, or a
        forged redirect), or no code came back.

    Examples
    --------
    >>> callback_code("/callback?code=abc&state=s1", "s1")
    'abc'
    >>> callback_code("/callback?code=abc&state=evil", "s1")
    Traceback (most recent call last):
    ...
    cli.errors.CliError: sign-in refused: the answer's state does not match this sign-in
    """
    params = urllib.parse.parse_qs(urllib.parse.urlsplit(target).query)
    if "error" in params:
        detail = params.get("error_description", params["error"])[0]
        raise CliError(f"sign-in failed: {detail}", ExitCode.INPUT)
    if not secrets.compare_digest(params.get("state", [""])[0], expected_state):
        raise CliError(
            "sign-in refused: the answer's state does not match this sign-in", ExitCode.INPUT
        )
    code = params.get("code", [""])[0]
    if not code:
        raise CliError("sign-in failed: the redirect carried no authorization code")
    return code


def _post_token(
    token_url: str, form: dict[str, str], *, auth: tuple[str, str] | None = None, client: Any = None
) -> dict[str, Any]:
    import httpx

    try:
        response = (client or httpx).post(token_url, data=form, auth=auth, timeout=HTTP_TIMEOUT)
    except httpx.HTTPError as e:
        raise CliError(f"cannot reach {token_url}: {e}", ExitCode.UNREACHABLE) from e
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200:
        detail = body.get("error_description") or body.get("error") or response.status_code
        raise CliError(f"the token endpoint refused: {detail}", ExitCode.INPUT)
    return body


def exchange_code(
    config: SignInConfig,
    code: str,
    verifier: str,
    *,
    port: int = CALLBACK_PORT,
    client: Any = None,
    now: Callable[[], float] = time.time,
) -> Tokens:
    """Trade an authorization code (and the PKCE verifier) for tokens."""
    form = {
        "grant_type": "authorization_code",
        "client_id": config.client_id,
        "code": code,
        "redirect_uri": redirect_uri(port),
        "code_verifier": verifier,
    }
    answer = _post_token(config.token_url, form, client=client)
    return Tokens.from_answer(
        answer, token_url=config.token_url, client_id=config.client_id, now=now()
    )


def refresh(tokens: Tokens, *, client: Any = None, now: Callable[[], float] = time.time) -> Tokens:
    """New tokens from the refresh token (Cognito keeps the refresh token itself)."""
    if not tokens.refresh_token:
        raise CliError("the sign-in expired: run `segments login` again", ExitCode.INPUT)
    form = {
        "grant_type": "refresh_token",
        "client_id": tokens.client_id,
        "refresh_token": tokens.refresh_token,
    }
    answer = _post_token(tokens.token_url, form, client=client)
    answer.setdefault("refresh_token", tokens.refresh_token)
    return Tokens.from_answer(
        answer, token_url=tokens.token_url, client_id=tokens.client_id, now=now()
    )


def client_credentials(
    token_url: str,
    client_id: str,
    client_secret: str,
    *,
    scope: str,
    client: Any = None,
    now: Callable[[], float] = time.time,
) -> Tokens:
    """A machine token (CI): the client-credentials grant with HTTP Basic client auth."""
    form = {"grant_type": "client_credentials", "scope": scope}
    answer = _post_token(token_url, form, auth=(client_id, client_secret), client=client)
    return Tokens.from_answer(answer, token_url=token_url, client_id=client_id, now=now())


class _CallbackHandler(http.server.BaseHTTPRequestHandler):
    server: _CallbackServer

    def do_GET(self) -> None:
        if urllib.parse.urlsplit(self.path).path != CALLBACK_PATH:
            self.send_error(404)
            return
        self.server.target = self.path
        page = b"<!doctype html><title>segments</title><p>Signed in: back to the terminal.</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)
        self.server.done.set()

    def log_message(self, format: str, *args: Any) -> None:
        return  # the terminal shows our own messages only


class _CallbackServer(http.server.HTTPServer):
    target: str | None = None
    done: threading.Event


def login_in_browser(
    config: SignInConfig,
    *,
    port: int = CALLBACK_PORT,
    open_url: Callable[[str], object] | None = None,
    timeout: float = 300.0,
    client: Any = None,
) -> Tokens:
    """The whole people flow: listen on the loopback port, send the browser, exchange the code.

    ``open_url`` gets the authorization URL (default: the system browser, and the URL printed).
    """
    verifier, state = code_verifier(), secrets.token_urlsafe(24)
    try:
        server = _CallbackServer(("127.0.0.1", port), _CallbackHandler)
    except OSError as e:
        raise CliError(
            f"cannot listen on localhost:{port} for the sign-in redirect ({e}); free the port",
            ExitCode.INPUT,
        ) from e
    server.done = threading.Event()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = authorization_url(config, state=state, challenge=code_challenge(verifier), port=port)
        if open_url is None:
            import webbrowser

            from cli.console import error_console

            error_console.print(f"Sign in in your browser; if it did not open, visit:\n{url}")
            webbrowser.open(url)
        else:
            open_url(url)
        if not server.done.wait(timeout):
            raise CliError(f"no sign-in within {timeout:.0f} s", ExitCode.TIMEOUT)
    finally:
        server.shutdown()
        server.server_close()
    assert server.target is not None
    code = callback_code(server.target, state)
    return exchange_code(config, code, verifier, port=port, client=client)


class TokenStore:
    """Tokens per API URL in one JSON file readable by its owner only (0600 in a 0700 folder)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, api_url: str) -> Tokens | None:
        entry = self._read().get(api_url.rstrip("/"))
        if not isinstance(entry, dict):
            return None
        try:
            return Tokens(**entry)
        except TypeError:
            return None

    def put(self, api_url: str, tokens: Tokens) -> None:
        data = self._read()
        data[api_url.rstrip("/")] = tokens.__dict__
        self._write(data)

    def remove(self, api_url: str) -> bool:
        data = self._read()
        found = data.pop(api_url.rstrip("/"), None) is not None
        if found:
            self._write(data)
        return found

    def _write(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)  # also when the file existed with wider permissions
            with os.fdopen(fd, "w") as handle:
                json.dump(data, handle, indent=1)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        os.replace(temporary, self.path)

    def access_token(
        self, api_url: str, *, client: Any = None, now: Callable[[], float] = time.time
    ) -> str | None:
        """A valid access token for ``api_url`` (refreshed and saved when near expiry), or None."""
        tokens = self.get(api_url)
        if tokens is None:
            return None
        if now() < tokens.expires_at - REFRESH_MARGIN_SECONDS:
            return tokens.access_token
        tokens = refresh(tokens, client=client, now=now)
        self.put(api_url, tokens)
        return tokens.access_token

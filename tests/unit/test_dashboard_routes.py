"""The dashboard's routes: the page shell and its static files (no browser, no model needed)."""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lambdas.api.main import create_app
from lambdas.api.routes import dashboard
from lambdas.api.routes.dashboard import STATIC_DIR, dashboard_version, load_asset, own_assets
from shared.store.local import LocalModelStore


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    return TestClient(create_app(store=LocalModelStore(tmp_path)))


def _asset_urls(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html)


def test_page_is_served_with_relative_asset_urls(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    urls = _asset_urls(response.text)
    assert any(u.startswith("static/plotly-") for u in urls)
    assert any(u.startswith("static/app.js?v=") for u in urls)
    # Relative URLs only: the page must work under an API Gateway stage prefix, and offline.
    assert not [u for u in urls if u.startswith(("/", "http:", "https:", "//"))]
    assert "{{" not in response.text
    csp = response.headers["content-security-policy"]
    assert "script-src 'self';" in csp
    assert "<script>" not in response.text  # no inline script: the policy forbids it
    assert f'<script type="module" src="static/app.js?v={dashboard_version()}">' in response.text


def test_no_cdn_anywhere_in_the_dashboard() -> None:
    for path in STATIC_DIR.iterdir():
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"https?://", text.replace("http://www.w3.org/2000/svg", "")), path


MODULES = sorted(p.name for p in STATIC_DIR.glob("*.js"))
IMPORT = re.compile(r"""^import\s[^'"]*?\sfrom\s+'([^']+)';$""", re.M)


@pytest.mark.parametrize("name", ["app.css", "favicon.svg"])
def test_own_assets_are_served_with_long_cache(client: TestClient, name: str) -> None:
    response = client.get(f"/static/{name}")
    assert response.status_code == 200
    assert response.content == (STATIC_DIR / name).read_bytes()
    assert "immutable" in response.headers["cache-control"]
    assert response.headers["etag"] == load_asset(name).etag


def test_the_dashboard_is_split_into_modules_by_concern() -> None:
    assert set(MODULES) == {
        "app.js",
        "state.js",
        "api.js",
        "dom.js",
        "format.js",
        "notices.js",
        "model.js",
        "cards.js",
        "map.js",
        "filters.js",
        "assign.js",
        "analysis.js",
        "filtered.js",
        "status.js",
        "explain.js",
        "layout.js",
        "segments-work.js",
        "versions.js",
        "upload.js",
        "reasons.js",
        "auth.js",
        "report.js",
    }
    for name in MODULES:
        lines = (STATIC_DIR / name).read_text(encoding="utf-8").count("\n")
        assert lines < 400, f"{name} has {lines} lines"
    assert set(MODULES) <= set(own_assets())


@pytest.mark.parametrize("name", MODULES)
def test_every_module_is_served_with_its_imports_pinned(client: TestClient, name: str) -> None:
    """Each module's sibling imports carry the dashboard's version: a new deploy never mixes
    cached modules of the old one (every module URL is cached for a year)."""
    response = client.get(f"/static/{name}?v={dashboard_version()}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "immutable" in response.headers["cache-control"]
    source = (STATIC_DIR / name).read_text(encoding="utf-8")
    served = response.text
    imports = IMPORT.findall(source)
    assert IMPORT.findall(served) == [f"{spec}?v={dashboard_version()}" for spec in imports]
    for spec in imports:  # every import resolves to a servable sibling
        assert client.get(f"/static/{spec.removeprefix('./')}").status_code == 200
    assert served.replace(f"?v={dashboard_version()}", "") == source


def test_a_module_importing_anything_else_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lambdas.api.routes.dashboard as dashboard

    for name in ("index.html", "app.css"):
        (tmp_path / name).write_bytes((STATIC_DIR / name).read_bytes())
    (tmp_path / "ok.js").write_text("export const x = 'from here';\n", encoding="utf-8")
    (tmp_path / "app.js").write_text(
        "import { x } from './ok.js';\nimport { y } from '../routes/secret.js';\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(dashboard, "STATIC_DIR", tmp_path)
    for cached in (dashboard.own_assets, dashboard.dashboard_version, dashboard.load_asset):
        cached.cache_clear()
    try:
        assert "ok.js" in dashboard.own_assets()
        assert dashboard.load_asset("ok.js").body == b"export const x = 'from here';\n"
        with pytest.raises(ValueError, match=r"app\.js imports '\.\./routes/secret\.js'"):
            dashboard.load_asset("app.js")
        (tmp_path / "lazy.js").write_text("const m = await import('./ok.js');\n", encoding="utf-8")
        dashboard.own_assets.cache_clear()
        with pytest.raises(ValueError, match=r"lazy\.js uses a dynamic import"):
            dashboard.load_asset("lazy.js")
    finally:
        for cached in (dashboard.own_assets, dashboard.dashboard_version, dashboard.load_asset):
            cached.cache_clear()


def test_vendored_plotly_is_the_reports_plotly_with_its_licence() -> None:
    """The dashboard draws with the plotly.js the reports embed (the engine's plotly package),
    the file is the one the checksum names, and its licence ships beside it."""
    import hashlib

    from plotly.offline import get_plotlyjs, get_plotlyjs_version

    vendored = dashboard.VENDOR_DIR / f"plotly-{dashboard.PLOTLY_JS_VERSION}.min.js"
    body = vendored.read_bytes()
    assert hashlib.sha256(body).hexdigest() == dashboard.PLOTLY_JS_SHA256
    assert get_plotlyjs_version() == dashboard.PLOTLY_JS_VERSION
    assert body.decode("utf-8") == get_plotlyjs()
    assert f"plotly.js v{dashboard.PLOTLY_JS_VERSION}" in body[:200].decode()
    licence = (dashboard.VENDOR_DIR / "LICENSE-plotly.js.txt").read_text()
    assert "MIT License" in licence
    assert dashboard.PLOTLY_JS_VERSION in licence


def test_a_swapped_plotly_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"plotly-{dashboard.PLOTLY_JS_VERSION}.min.js"
    (tmp_path / name).write_text("window.Plotly = {evil: true};")
    monkeypatch.setattr(dashboard, "VENDOR_DIR", tmp_path)
    dashboard.load_asset.cache_clear()
    try:
        with pytest.raises(ValueError, match="refusing to serve it"):
            dashboard.load_asset(name)
    finally:
        dashboard.load_asset.cache_clear()


def test_plotly_comes_from_the_vendored_file_gzipped(client: TestClient) -> None:
    url = next(u for u in _asset_urls(client.get("/").text) if "plotly-" in u)
    response = client.get(f"/{url}", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["content-type"].startswith("text/javascript")
    assert b"plotly" in response.content[:2000].lower()
    raw = load_asset(url.removeprefix("static/"))
    assert raw.gzipped is not None
    assert gzip.decompress(raw.gzipped) == raw.body
    # The Lambda response limit is 6 MB (base64 adds a third): the gzip form must fit.
    assert len(raw.gzipped) * 4 / 3 < 6 * 1024 * 1024


def test_unchanged_asset_answers_304(client: TestClient) -> None:
    etag = client.get("/static/app.css").headers["etag"]
    response = client.get("/static/app.css", headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response.content == b""


@pytest.mark.parametrize(
    "name",
    [
        "index.html",
        "nope.js",
        "..%2Fmain.py",
        "..%2F..%2Froutes%2Fdashboard.py",
        "%2E%2E%2Fschemas.py",
        "plotly-0.0.0.min.js",
        "APP.JS",
        "app.js%00.css",
    ],
)
def test_other_names_are_404(client: TestClient, name: str) -> None:
    response = client.get(f"/static/{name}")
    assert response.status_code == 404
    assert "error" in response.json()


def test_page_needs_no_token_when_auth_is_on(tmp_path: Path) -> None:
    """The shell holds no data; the page sends the token on its API calls."""
    from shared.settings import Settings

    settings = Settings(API_TOKENS="t1")
    client = TestClient(create_app(store=LocalModelStore(tmp_path), settings=settings))
    assert client.get("/").status_code == 200
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/datasets").status_code == 401
    assert client.get("/datasets", headers={"Authorization": "Bearer t1"}).status_code == 200


def test_segment_colours_match_the_training_figures() -> None:
    """Cards and maps (app.js) use the palette of the plots.json figures, by segment_id."""
    from shared.report.figures import OUTLIER_COLOUR, PALETTE

    script = (STATIC_DIR / "format.js").read_text(encoding="utf-8")
    block = re.search(r"const PALETTE = \[(.*?)\];", script, re.S)
    assert block is not None
    assert tuple(re.findall(r"'(#[0-9a-fA-F]{6})'", block.group(1))) == tuple(PALETTE)
    assert f"export const OUTLIER_COLOR = '{OUTLIER_COLOUR}';" in script


class _LambdaContext:
    aws_request_id = "dashboard-test"
    function_name = "api"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:api"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def _gateway_event(path: str, *, stage: str = "$default", gzip_ok: bool = True) -> dict[str, Any]:
    """The API Gateway (HTTP API) sample event of events/, pointed at a dashboard path."""
    from tests.support.events import load_event

    event = load_event("api-health")
    event["rawPath"] = path
    event["requestContext"]["http"]["path"] = path
    event["requestContext"]["stage"] = stage
    headers = event["headers"]
    headers["accept"] = "*/*"
    if gzip_ok:
        headers["accept-encoding"] = "gzip, deflate, br"
    return event


def handler(event: dict[str, Any], context: _LambdaContext) -> dict[str, Any]:
    """The Lambda entry point, called on a fresh thread as Lambda would (Mangum runs its own
    event loop, which must not meet one already running in this process, e.g. Playwright's)."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from lambdas.api.main import handler as lambda_handler

    def invoke() -> dict[str, Any]:
        loop = asyncio.new_event_loop()  # Mangum calls asyncio.get_event_loop()
        asyncio.set_event_loop(loop)
        try:
            answer: dict[str, Any] = lambda_handler(event, context)
            return answer
        finally:
            asyncio.set_event_loop(None)
            loop.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(invoke).result()


def test_through_api_gateway_plotly_fits_the_lambda_response_limit() -> None:
    import base64

    page = handler(_gateway_event("/"), _LambdaContext())
    assert page["statusCode"] == 200
    url = next(u for u in _asset_urls(page["body"]) if "plotly-" in u)
    response = handler(_gateway_event(f"/{url}"), _LambdaContext())
    assert response["statusCode"] == 200
    assert response["isBase64Encoded"] is True
    assert len(response["body"]) < 6 * 1024 * 1024
    body = gzip.decompress(base64.b64decode(response["body"]))
    assert body == load_asset(url.removeprefix("static/")).body


def test_through_api_gateway_under_a_stage_prefix() -> None:
    page = handler(_gateway_event("/prod/", stage="prod"), _LambdaContext())
    assert page["statusCode"] == 200
    assert "static/app.js" in page["body"]
    css = handler(_gateway_event("/prod/static/app.css", stage="prod"), _LambdaContext())
    assert css["statusCode"] == 200
    module = handler(
        _gateway_event("/prod/static/map.js", stage="prod", gzip_ok=False), _LambdaContext()
    )
    assert module["statusCode"] == 200
    assert f"from './filters.js?v={dashboard_version()}'" in module["body"]

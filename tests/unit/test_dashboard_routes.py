"""The dashboard's routes: the page shell and its static files (no browser, no model needed)."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from lambdas.api.main import create_app
from lambdas.api.routes.dashboard import STATIC_DIR, load_asset
from shared.store import LocalModelStore


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


def test_no_cdn_anywhere_in_the_dashboard() -> None:
    for path in STATIC_DIR.iterdir():
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"https?://", text.replace("http://www.w3.org/2000/svg", "")), path


@pytest.mark.parametrize("name", ["app.js", "app.css", "favicon.svg"])
def test_own_assets_are_served_with_long_cache(client: TestClient, name: str) -> None:
    response = client.get(f"/static/{name}")
    assert response.status_code == 200
    assert response.content == (STATIC_DIR / name).read_bytes()
    assert "immutable" in response.headers["cache-control"]
    assert response.headers["etag"] == load_asset(name).etag


def test_plotly_comes_from_the_installed_package_gzipped(client: TestClient) -> None:
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


@pytest.mark.parametrize("name", ["index.html", "nope.js", "..%2Fmain.py", "plotly-0.0.0.min.js"])
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
    from shared.report_figures import OUTLIER_COLOUR, PALETTE

    script = (STATIC_DIR / "app.js").read_text(encoding="utf-8")
    block = re.search(r"const PALETTE = \[(.*?)\];", script, re.S)
    assert block is not None
    assert tuple(re.findall(r"'(#[0-9a-fA-F]{6})'", block.group(1))) == tuple(PALETTE)
    assert f"const OUTLIER_COLOR = '{OUTLIER_COLOUR}';" in script

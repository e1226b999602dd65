"""The dashboard in headless Chromium against the local stack with a trained Mall model.

What a user does: open the page, see the maps and the segment cards, switch the number of
segments, narrow the customers with a slider, assign a typed-in customer. Every step saves a
screenshot under ``test-output/browser/``. Set ``SEGMENTS_UPDATE_SCREENSHOT=1`` to also refresh
the README's ``docs/dashboard.png``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import DATASET, REPO, get_json, new_page, post_json

pytestmark = pytest.mark.browser

CUSTOMER = {"Annual Income (k$)": 120, "Spending Score (1-100)": 85}


def _open_dashboard(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("[data-testid=segment-card]")
    page.wait_for_function("Number(document.getElementById('map').dataset.shown || 0) > 0")


def _screenshot(page: Any, path: Path) -> None:
    page.evaluate("window.scrollTo(0, 0)")  # full-page shots with a sticky header
    page.screenshot(path=str(path), full_page=True)


def _card_names(page: Any) -> list[str]:
    return [str(n) for n in page.locator("[data-testid=segment-card] .card-name").all_inner_texts()]


def _points_drawn(page: Any) -> int:
    """Markers Plotly actually drew on the map (SVG paths of the segment traces)."""
    return int(
        page.evaluate(
            """() => {
                const gd = document.getElementById('map');
                return (gd.data || []).filter((t) => t.meta && t.meta.segment_id !== undefined)
                    .reduce((n, t) => n + t.x.length, 0);
            }"""
        )
    )


def test_dashboard_end_to_end(page: Any, api_url: str, output_dir: Path) -> None:
    summary = get_json(f"{api_url}/datasets/{DATASET}")
    champion = summary["champion"]
    algo = summary["algorithms"][champion]

    # 1. The page renders the champion's cards and the customer map.
    _open_dashboard(page, f"{api_url}/")
    _screenshot(page, output_dir / "01-loaded.png")
    names = _card_names(page)
    assert len(names) == algo["n_segments"], names
    api_names = [s["name"] for s in get_json(f"{api_url}/datasets/{DATASET}/segments")["segments"]]
    assert sorted(names) == sorted(api_names)
    drawn = page.locator("#map .scatterlayer path.point").count()
    assert drawn > 0
    shown = int(page.locator("#map").get_attribute("data-shown"))
    assert _points_drawn(page) == shown == drawn
    assert page.locator("#mix .barlayer path").count() > 0
    assert page.locator(".kpi").count() >= 3

    # Clicking a card focuses its segment on the map (the others fade); clicking again undoes it.
    first = page.locator("[data-testid=segment-card]").first
    first_id = int(first.get_attribute("data-segment-id"))
    first.click()
    opacities = page.evaluate(
        "() => Object.fromEntries(document.getElementById('map').data"
        ".filter((t) => t.meta).map((t) => [t.meta.segment_id, t.marker.opacity]))"
    )
    assert opacities.pop(str(first_id)) > 0.5
    assert opacities
    assert all(o < 0.5 for o in opacities.values())
    first.click()
    assert page.locator(".card.dimmed").count() == 0

    # 2. Another number of segments: the cards follow (profiles fetched for that k).
    other_k = next(k for k in algo["ks"] if k != algo["k"] and k != len(names))
    page.locator(f"#k-buttons button[data-k='{other_k}']").click()
    page.wait_for_function(
        f"document.querySelectorAll('[data-testid=segment-card]').length === {other_k}"
    )
    other_names = _card_names(page)
    assert len(other_names) == other_k
    assert sorted(other_names) != sorted(names)
    expected = get_json(f"{api_url}/datasets/{DATASET}/segments?algorithm={champion}&k={other_k}")
    assert sorted(other_names) == sorted(s["name"] for s in expected["segments"])
    _screenshot(page, output_dir / "02-other-k.png")

    # Back to the chosen k for the rest.
    page.locator(f"#k-buttons button[data-k='{algo['k']}']").click()
    page.wait_for_function(
        f"document.querySelectorAll('[data-testid=segment-card]').length === {len(names)}"
    )

    # 3. Moving a slider filters the map and the segment mix.
    before = int(page.locator("#map").get_attribute("data-shown"))
    slider = page.locator("#filters input[type=range][data-end='lo']").first
    feature = slider.get_attribute("data-feature")
    low, high = float(slider.get_attribute("min")), float(slider.get_attribute("max"))
    cut = low + (high - low) * 0.6
    slider.fill(str(round(cut)))
    page.wait_for_function(f"Number(document.getElementById('map').dataset.shown) < {before}")
    after = int(page.locator("#map").get_attribute("data-shown"))
    assert 0 < after < before
    assert page.locator("#map .scatterlayer path.point").count() == after == _points_drawn(page)
    plots = get_json(f"{api_url}/datasets/{DATASET}/plots")
    values = plots["points"]["features"][feature]
    bound = float(
        page.locator(f"#filters input[data-feature='{feature}'][data-end='lo']").input_value()
    )
    assert after == sum(1 for v in values if v is not None and v >= bound)
    shown_in_mix = page.evaluate(
        "() => document.getElementById('mix').data[1].x.reduce((a, b) => a + b, 0)"
    )
    assert shown_in_mix == after
    assert page.locator("[data-testid=shown-count]").inner_text().startswith(f"{after} of")
    _screenshot(page, output_dir / "03-filtered.png")
    page.locator("#filters-reset").click()
    page.wait_for_function(f"Number(document.getElementById('map').dataset.shown) === {before}")

    # 4. A typed-in customer is assigned through the API; its segment card lights up.
    for column, value in CUSTOMER.items():
        page.locator(f"#assign-fields [data-column='{column}']").fill(str(value))
    page.locator("#assign-submit").click()
    page.wait_for_selector("[data-testid=assign-result] [data-testid=assign-segment]")
    truth = post_json(f"{api_url}/datasets/{DATASET}/assign", {"customers": [CUSTOMER]})
    expected_segment = truth["assignments"][0]
    assert (
        page.locator("[data-testid=assign-segment]").inner_text()
        == expected_segment["segment_name"]
    )
    highlighted = page.locator(".card.highlight")
    assert highlighted.count() == 1
    assert highlighted.get_attribute("data-segment-id") == str(expected_segment["segment_id"])
    # Why this segment: the API's exact reasons, as text, and each card's CRM rule.
    explained = post_json(
        f"{api_url}/datasets/{DATASET}/assign?explain=true", {"customers": [CUSTOMER]}
    )
    contributions = explained["assignments"][0]["explanation"]["contributions"]
    reasons = page.locator("[data-testid=assign-reasons] li").all_inner_texts()
    assert reasons == [c["text"] for c in contributions]
    assert page.locator("[data-testid=segment-card] [data-testid=segment-rule]").count() >= 1
    marked = page.evaluate(
        "() => document.getElementById('map').data.filter((t) => t.name === 'Your customer').length"
    )
    assert marked == 1
    _screenshot(page, output_dir / "04-assigned.png")

    # 5. t-SNE map and the analysis figures draw too.
    page.locator("#projection button[data-projection='tsne']").click()
    page.wait_for_function(
        "document.getElementById('map').layout.xaxis.title.text.startsWith('t-SNE')"
    )
    page.locator("#figs-model .figure").first.scroll_into_view_if_needed()
    page.wait_for_selector("#figs-model .plot[data-drawn='1']")
    # The silhouette per segment is drawn live for the selected model (any k of the sweep).
    live = page.locator(".plot[data-figure='segment_silhouette']")
    live.scroll_into_view_if_needed()
    page.wait_for_selector(".plot[data-figure='segment_silhouette'][data-drawn='1'] .barlayer")
    bars = page.evaluate(
        "() => document.querySelector(\".plot[data-figure='segment_silhouette']\").data.length"
    )
    assert bars == len(names)
    page.locator(f"#k-buttons button[data-k='{other_k}']").click()
    page.wait_for_function(
        "document.querySelector(\".plot[data-figure='segment_silhouette']\").data.length"
        f" === {other_k}"
    )
    assert (
        f"k = {other_k}" in page.locator("[data-figure-name='segment_silhouette'] h3").inner_text()
    )
    page.locator("#analysis-tabs button[data-tab='eda']").click()
    page.wait_for_selector("#figs-eda .plot[data-drawn='1']")
    figures = page.locator("#figs-eda .plot")
    for i in range(figures.count()):  # figures draw when scrolled into view: visit each one
        figures.nth(i).scroll_into_view_if_needed()
        page.wait_for_function(
            f"document.querySelectorAll('#figs-eda .plot')[{i}].dataset.drawn === '1'"
        )
    _screenshot(page, output_dir / "05-analysis.png")

    assert page.script_errors == []


def test_dataset_version_and_category_filter(
    page: Any, api_url: str, shoppers_versions: tuple[str, str], output_dir: Path
) -> None:
    """Switch dataset and version; a category checkbox filters the map."""
    older, current = shoppers_versions
    _open_dashboard(page, f"{api_url}/")
    page.locator("#dataset-select").select_option("shoppers")
    page.wait_for_function(
        "document.getElementById('version-meta').textContent === '200 customers · from whole.csv'"
    )
    page.wait_for_function("Number(document.getElementById('map').dataset.shown || 0) > 0")
    assert page.locator("#version-select").input_value() == current

    # Gender is a used categorical here: a checkbox per category filters the customers.
    plots = get_json(f"{api_url}/datasets/shoppers/plots")
    genders = plots["points"]["features"]["Gender"]
    females = sum(1 for g in genders if g == "Female")
    assert 0 < females < len(genders)
    before = int(page.locator("#map").get_attribute("data-shown"))
    assert before == len(genders)
    page.locator("[data-testid='filter-Gender'] input[value='Male']").uncheck()
    page.wait_for_function(f"Number(document.getElementById('map').dataset.shown) === {females}")
    _screenshot(page, output_dir / "06-category-filter.png")
    assert page.locator("#assign-fields select[data-column='Gender'] option").count() >= 3

    # The older version: fewer training customers, and the URL remembers the choice.
    page.locator("#version-select").select_option(older)
    page.wait_for_function(
        "document.getElementById('version-meta').textContent === '180 customers · from part.csv'"
    )
    page.wait_for_selector(f"#cards[data-model^='{older}|']")
    sizes = page.locator("[data-testid=segment-card] .size .n").all_inner_texts()
    assert sum(int(n.replace(",", "")) for n in sizes) == 180
    assert f"version={older}" in page.url
    assert page.script_errors == []


def test_readme_screenshot(page: Any, api_url: str, output_dir: Path) -> None:
    """The 1400x900 view for the README (refreshes docs/dashboard.png on request)."""
    _open_dashboard(page, f"{api_url}/")
    page.wait_for_timeout(400)  # let Plotly finish its transitions
    shot = output_dir / "dashboard-1400x900.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 20_000
    if os.environ.get("SEGMENTS_UPDATE_SCREENSHOT") == "1":
        (REPO / "docs").mkdir(exist_ok=True)
        shutil.copyfile(shot, REPO / "docs" / "dashboard.png")
    assert page.script_errors == []


def test_works_under_a_stage_prefix_and_sends_the_token(page: Any, api_url: str) -> None:
    """Behind an API Gateway stage (/prod/...) every URL stays relative to the page."""
    seen: list[tuple[str, str | None]] = []

    def strip_stage(route: Any) -> None:
        url = route.request.url.replace(f"{api_url}/prod", api_url, 1)
        seen.append((url, route.request.headers.get("authorization")))
        route.continue_(url=url)

    page.route(f"{api_url}/prod/**", strip_stage)
    page.add_init_script("localStorage.setItem('segments.apiToken', 'secret-token')")
    _open_dashboard(page, f"{api_url}/prod/")
    assert page.locator("[data-testid=segment-card]").count() > 0
    api_calls = [(u, auth) for u, auth in seen if "/datasets" in u]
    assert api_calls
    assert all(auth == "Bearer secret-token" for _, auth in api_calls), api_calls
    assert page.script_errors == []


def test_asks_for_a_token_when_the_api_needs_one(page: Any, api_url: str) -> None:
    """A 401 opens the token field; the saved token goes out as a bearer token."""
    sent: list[str | None] = []

    def guarded(route: Any) -> None:
        auth = route.request.headers.get("authorization")
        sent.append(auth)
        if auth != "Bearer let-me-in":
            route.fulfill(
                status=401,
                json={"error": "unauthorized", "message": "missing bearer token"},
            )
        else:
            route.continue_()

    page.route(f"{api_url}/datasets**", guarded)
    page.goto(f"{api_url}/")
    notice = page.locator("[data-testid=notice]")
    notice.wait_for()
    assert "needs a token" in notice.inner_text()
    assert page.locator("#token-panel").is_visible()
    page.locator("#token-input").fill("let-me-in")
    page.locator("#token-save").click()
    page.wait_for_selector("[data-testid=segment-card]")
    assert sent[0] is None
    assert sent[-1] == "Bearer let-me-in"
    assert page.evaluate("() => localStorage.getItem('segments.apiToken')") == "let-me-in"
    assert page.locator("#token-button").inner_text() == "API token ✓"
    assert page.script_errors == []


def test_says_so_when_there_is_no_dataset(page: Any, api_url: str) -> None:
    page.route(
        f"{api_url}/datasets",
        lambda route: route.fulfill(json={"datasets": []}),
    )
    page.goto(f"{api_url}/")
    notice = page.locator("[data-testid=notice]")
    notice.wait_for()
    assert "No datasets yet" in notice.inner_text()
    assert page.locator("#layout").is_hidden()
    assert page.script_errors == []


def test_says_so_when_a_dataset_has_no_model(page: Any, api_url: str) -> None:
    page.route(
        f"{api_url}/datasets",
        lambda route: route.fulfill(
            json={"datasets": [{"dataset": "fresh", "current_version": None}]}
        ),
    )
    page.route(
        f"{api_url}/datasets/fresh/versions",
        lambda route: route.fulfill(
            json={"dataset": "fresh", "current_version": None, "versions": []}
        ),
    )
    page.route(
        f"{api_url}/datasets/fresh",
        lambda route: route.fulfill(
            status=503,
            body=json.dumps({"error": "no_model", "message": "dataset 'fresh' has no model yet"}),
            content_type="application/json",
        ),
    )
    page.route(
        f"{api_url}/datasets/fresh/failures?limit=1",
        lambda route: route.fulfill(
            json={
                "dataset": "fresh",
                "failures": [
                    {
                        "id": "f1",
                        "dataset": "fresh",
                        "error": "column 'Age' has no numbers <b>at all</b>",
                        "error_type": "NoUsableFeatureError",
                        "source": {"key": "uploads/fresh/x.csv"},
                        "created_at": "2026-01-01T00:00:00Z",
                    }
                ],
            }
        ),
    )
    page.goto(f"{api_url}/")
    notice = page.locator("[data-testid=notice]")
    notice.wait_for()
    failure = page.locator("[data-testid=latest-failure]")
    failure.wait_for()
    assert "uploads/fresh/x.csv: column 'Age' has no numbers <b>at all</b>" in failure.inner_text()
    text = notice.inner_text()
    assert 'No model for "fresh" yet' in text
    assert "has no model yet" in text
    assert page.locator("#layout").is_hidden()
    assert page.script_errors == []


def test_content_security_policy_allows_everything_the_page_does(
    browser: Any, api_url: str
) -> None:
    """With the policy enforced, the page still draws maps, cards, mix and figures, and
    assigns: nothing it needs is inline script, eval or another origin."""
    page = new_page(browser, bypass_csp=False)
    try:
        page.goto(f"{api_url}/")
        page.wait_for_selector("[data-testid=segment-card]")
        page.wait_for_selector("#map .scatterlayer path.point")
        page.wait_for_selector("#mix .barlayer path")
        page.locator("#figs-model .figure").first.scroll_into_view_if_needed()
        page.wait_for_selector("#figs-model .plot[data-drawn='1'] .main-svg")
        page.locator("#analysis-tabs button[data-tab='eda']").click()
        page.locator("#figs-eda .figure").first.scroll_into_view_if_needed()
        page.wait_for_selector("#figs-eda .plot[data-drawn='1'] .main-svg")
        for column, value in CUSTOMER.items():
            page.locator(f"#assign-fields [data-column='{column}']").fill(str(value))
        page.locator("#assign-submit").click()
        page.wait_for_selector(".card.highlight")
        assert page.script_errors == []
    finally:
        page.context.close()


def test_data_strings_are_not_parsed_as_html(page: Any, api_url: str) -> None:
    """A segment name carrying markup is shown as text, never run."""
    evil = '<img src=x onerror="window.__pwned=1">'

    def poisoned(route: Any) -> None:
        response = route.fetch()
        body = response.json()
        for segment in body["segments"]:
            segment["name"] = evil
            segment["description"] = evil
        route.fulfill(response=response, json=body)

    page.route(f"{api_url}/datasets/{DATASET}/segments*", poisoned)
    _open_dashboard(page, f"{api_url}/")
    assert evil in _card_names(page)[0]
    assert page.evaluate("() => window.__pwned === undefined")
    assert page.locator("[data-testid=cards] img").count() == 0


def test_the_opt_in_autoencoder_is_a_model_like_the_others(
    page: Any, api_url: str, shoppers_versions: tuple[str, str]
) -> None:
    """The shoppers config asks for every algorithm: the autoencoder's segments, its
    bottleneck figure and its reasons (integrated gradients) show like any other model's."""
    summary = get_json(f"{api_url}/datasets/shoppers")
    model = summary["algorithms"]["autoencoder"]
    page.goto(f"{api_url}/#algorithm=autoencoder&dataset=shoppers")
    page.wait_for_selector(f"#cards[data-model$='|autoencoder-k{model['k']}']")
    assert page.locator("[data-testid=segment-card]").count() == model["n_segments"]
    button = page.locator("#algo-buttons [data-algo='autoencoder']")
    assert button.get_attribute("aria-checked") == "true"
    assert "Autoencoder" in button.inner_text()

    customer = {"Gender": "Female", "Age": 31, **CUSTOMER}
    for column, value in customer.items():
        field = page.locator(f"#assign-fields [data-column='{column}']")
        if column == "Gender":
            field.select_option(value)
        else:
            field.fill(str(value))
    page.locator("#assign-submit").click()
    page.wait_for_selector("[data-testid=assign-result] [data-testid=assign-segment]")
    explained = post_json(
        f"{api_url}/datasets/shoppers/assign?explain=true&algorithm=autoencoder",
        {"customers": [customer]},
    )
    answer = explained["assignments"][0]
    assert answer["explanation"]["margin_kind"] == "latent_squared_distance_gap"
    assert page.locator("[data-testid=assign-segment]").inner_text() == answer["segment_name"]
    reasons = page.locator("[data-testid=assign-reasons] li").all_inner_texts()
    assert reasons == [c["text"] for c in answer["explanation"]["contributions"]]

    figure = page.locator(".plot[data-figure='autoencoder_bottleneck']")
    figure.scroll_into_view_if_needed()
    page.wait_for_selector(".plot[data-figure='autoencoder_bottleneck'][data-drawn='1']")
    assert page.script_errors == []


def _star(page: Any) -> tuple[float, float]:
    """Where the map draws the typed-in customer (the 'Your customer' trace)."""
    page.wait_for_function(
        "(document.getElementById('map').data || []).some((t) => t.name === 'Your customer')"
    )
    x, y = page.evaluate(
        """() => {
            const t = document.getElementById('map').data.find((d) => d.name === 'Your customer');
            return [t.x[0], t.y[0]];
        }"""
    )
    return float(x), float(y)


def _type_customer(page: Any, record: dict[str, Any]) -> None:
    for column, value in record.items():
        field = page.locator(f"#assign-fields [data-column='{column}']")
        if field.evaluate("(e) => e.tagName") == "SELECT":
            field.select_option(str(value))
        else:
            field.fill(f"{value:g}" if isinstance(value, float) else str(value))
    page.locator("#assign-submit").click()
    page.wait_for_selector("[data-testid=assign-result] [data-testid=assign-segment]")


@pytest.mark.parametrize("dataset", [DATASET, "shoppers"])
def test_typed_in_customer_lands_exactly_on_its_pca_position(
    page: Any, api_url: str, dataset: str, request: pytest.FixtureRequest
) -> None:
    """A training customer typed into the form is drawn exactly where training put it on the
    PCA map (scikit-learn's preprocessor and PCA, at training time), and where the Python
    projection of the API's prepared vector puts it. shoppers has a one-hot column (Gender)."""
    import numpy as np

    if dataset != DATASET:
        request.getfixturevalue("shoppers_versions")
    plots = get_json(f"{api_url}/datasets/{dataset}/plots")
    points = plots["points"]
    projection = points["pca_projection"]
    assert projection is not None
    summary = get_json(f"{api_url}/datasets/{dataset}")
    inputs = [
        c["name"]
        for c in summary["columns"]
        if c["used"] and c["role"] in ("numeric", "categorical")
    ]
    # The customer farthest from the map's centre: a wrong scale or offset shows most there.
    i = int(np.argmax(np.hypot(*np.array(points["pca"]).T)))
    record = {name: points["features"][name][i] for name in inputs}
    assert all(v is not None for v in record.values()), record

    _open_dashboard(page, f"{api_url}/#dataset={dataset}")
    _type_customer(page, record)
    x, y = _star(page)

    trained = points["pca"][i]  # published rounded to 5 decimals
    assert abs(x - trained[0]) < 2e-5, ((x, y), trained)
    assert abs(y - trained[1]) < 2e-5, ((x, y), trained)
    answer = post_json(
        f"{api_url}/datasets/{dataset}/assign?prepared=true", {"customers": [record]}
    )
    vector = np.array(answer["assignments"][0]["prepared"])
    expected = (vector - np.array(projection["mean"])) @ np.array(projection["components"]).T
    assert abs(x - expected[0]) < 1e-9, ((x, y), expected)
    assert abs(y - expected[1]) < 1e-9, ((x, y), expected)
    note = page.locator("[data-testid=assign-map-note]").inner_text()
    assert "PCA map" in note
    # The star stays inside the axes; on t-SNE it is not drawn (no formula places new points).
    ranges = page.evaluate(
        "() => { const l = document.getElementById('map').layout;"
        " return [l.xaxis.range, l.yaxis.range]; }"
    )
    assert ranges[0][0] < x < ranges[0][1]
    assert ranges[1][0] < y < ranges[1][1]
    page.locator("#projection button[data-projection='tsne']").click()
    page.wait_for_function(
        "document.getElementById('map').layout.xaxis.title.text.startsWith('t-SNE')"
    )
    assert page.evaluate(
        "() => document.getElementById('map').data.every((t) => t.name !== 'Your customer')"
    )
    assert "cannot place a new customer" in page.locator("#map-note").inner_text()
    assert page.script_errors == []


WARNINGS = [
    "No substantial structure: silhouette 0.13 is below 0.25; these segments slice a continuum.",
    'Column "Churn" is an outcome <img src=x onerror="window.__warned=1">, not clustered.',
]


def _with_warnings(page: Any, api_url: str, warnings: list[str]) -> None:
    def inject(route: Any) -> None:
        response = route.fetch()
        body = response.json()
        body["warnings"] = warnings
        route.fulfill(response=response, json=body)

    page.route(f"{api_url}/datasets/{DATASET}", inject)


def test_warnings_banner_shows_the_versions_warnings_as_text_at_390px(
    browser: Any, api_url: str, output_dir: Path
) -> None:
    page = new_page(browser)
    try:
        page.set_viewport_size({"width": 390, "height": 844})
        _with_warnings(page, api_url, WARNINGS)
        _open_dashboard(page, f"{api_url}/")
        banner = page.locator("[data-testid=warnings-banner]")
        assert banner.is_visible()
        items = page.locator("[data-testid=warnings-banner] [data-testid=warning]")
        assert items.all_inner_texts() == WARNINGS  # as typed: markup is text
        assert page.locator("[data-testid=warnings-banner] img").count() == 0
        assert page.evaluate("() => window.__warned === undefined")
        assert "2 warnings" in banner.inner_text()
        box = banner.bounding_box()
        assert box is not None
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= 390
        assert box["y"] < 844  # on the first screen, under the top bar
        assert page.evaluate(  # the list wraps inside the banner: nothing cut off
            "() => { const b = document.getElementById('warnings-banner');"
            " return b.scrollWidth <= b.clientWidth; }"
        )
        for li in items.all():
            li_box = li.bounding_box()
            assert li_box is not None
            assert li_box["x"] + li_box["width"] <= 390
        dismiss = page.locator("[data-testid=warnings-dismiss]")
        assert dismiss.is_visible()
        _screenshot(page, output_dir / "07-warnings-390.png")
        dismiss.click()
        assert banner.is_hidden()
        assert page.script_errors == []
    finally:
        page.context.close()


def test_no_banner_without_warnings(page: Any, api_url: str) -> None:
    _with_warnings(page, api_url, [])
    _open_dashboard(page, f"{api_url}/")
    assert page.locator("[data-testid=warnings-banner]").is_hidden()
    assert page.locator("[data-testid=warnings-banner] li").count() == 0
    assert page.script_errors == []


def test_report_draws_its_own_maps_and_silhouettes(page: Any, api_url: str) -> None:
    """The report builds the figures the dashboard draws live (maps, silhouette per segment)
    from the published points, and its packaged script draws every figure."""
    plots = get_json(f"{api_url}/datasets/{DATASET}/plots")
    assert not {"pca", "tsne", "comparison"} & set(plots["figures"])
    assert not [name for name in plots["figures"] if name.startswith("silhouette:")]
    page.goto(f"{api_url}/datasets/{DATASET}/report")
    boxes = page.locator("[data-figure]")
    names = [boxes.nth(i).get_attribute("data-figure") for i in range(boxes.count())]
    assert {"pca", "tsne"} <= set(names)
    assert any(name.startswith("silhouette:") for name in names)
    assert "comparison" not in names  # the algorithm table is HTML, once
    from playwright.sync_api import expect

    for i in range(boxes.count()):  # figures draw as they scroll near the viewport
        boxes.nth(i).scroll_into_view_if_needed()
        expect(boxes.nth(i)).to_have_attribute("data-drawn", "1")
    points = page.evaluate(
        "() => document.querySelector('[data-figure=pca]').data.reduce((n, t) => n + t.x.length, 0)"
    )
    assert points == plots["points"]["n"]
    wide = [
        boxes.nth(i).get_attribute("data-figure")
        for i in range(boxes.count())
        if "wide" in (boxes.nth(i).get_attribute("class") or "")
    ]
    assert wide == [name for name in names if name in plots["wide_figures"]]
    assert page.script_errors == []

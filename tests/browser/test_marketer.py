"""The dashboard as a marketer uses it: the columns the segments were not formed on (Age and
Gender of the Mall demo), filters that recompute the cards, the empty result, live status.

Headless Chromium against the local stack trained on Mall with its demo config (clustering on
income and spending only). Screenshots go to ``test-output/browser/``.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from statistics import mean
from typing import Any

import pytest

from tests.browser.conftest import DATA, DATASET, REPO, TRAINING_TIMEOUT_S, get_json, new_page

pytestmark = pytest.mark.browser

INCOME, SPENDING = "Annual Income (k$)", "Spending Score (1-100)"
MALL_URL = "{}/#dataset=" + DATASET  # another test adds a dataset that sorts first


def _open(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("[data-testid=segment-card]")
    page.wait_for_function("Number(document.getElementById('map').dataset.shown || 0) > 0")


def _card_sizes(page: Any) -> dict[int, int]:
    cards = page.locator("[data-testid=segment-card]")
    return {
        int(cards.nth(i).get_attribute("data-segment-id")): int(
            cards.nth(i).locator(".size .n").inner_text().replace(",", "")
        )
        for i in range(cards.count())
    }


def test_age_and_gender_are_profiled_though_not_clustered_on(
    page: Any, api_url: str, output_dir: Path
) -> None:
    summary = get_json(f"{api_url}/datasets/{DATASET}")
    columns = {c["name"]: c for c in summary["columns"]}
    assert (columns["Age"]["used"], columns["Age"]["profiled"]) == (False, True)
    assert (columns["Gender"]["used"], columns["Gender"]["profiled"]) == (False, True)
    assert summary["feature_names"]
    assert not any("Age" in f for f in summary["feature_names"])

    _open(page, MALL_URL.format(api_url))
    cards = page.locator("[data-testid=segment-card]")
    for i in range(cards.count()):
        keys = cards.nth(i).locator(".stats .k").all_inner_texts()
        assert "Age" in keys
        assert "Gender" in keys
    # The whole population of 200, untouched sliders keep every customer (the extremes too).
    assert page.locator("[data-testid=shown-count]").inner_text() == "200 of 200 customers"

    # The segment x feature heat map of z-scores covers Age too; any column per segment.
    segments = get_json(f"{api_url}/datasets/{DATASET}/segments")["segments"]
    page.wait_for_function("document.getElementById('profile-heatmap').dataset.drawn")
    heat = page.evaluate("() => document.getElementById('profile-heatmap').data[0]")
    assert len(heat["z"]) == len(segments)
    assert any(label.startswith("Age") for label in heat["x"])
    age_column = heat["x"].index(next(x for x in heat["x"] if x.startswith("Age")))
    assert sorted(row[age_column] for row in heat["z"]) == pytest.approx(
        sorted(s["numeric"]["Age"]["z"] for s in segments)
    )
    page.locator("[data-testid=profile-column]").select_option("Age")
    page.wait_for_function("document.getElementById('profile-box').dataset.column === 'Age'")
    boxes = page.evaluate("() => document.getElementById('profile-box').data.length")
    assert boxes == len(segments)

    page.locator("#analysis-tabs button[data-tab='eda']").click()
    names = page.eval_on_selector_all(
        "#figs-eda [data-figure-name]", "nodes => nodes.map((n) => n.dataset.figureName)"
    )
    assert {"hist:Age", "violin:Age:Gender", "box:Age", "correlation"} <= set(names)
    figure = page.locator("[data-figure-name='box:Age']")
    figure.scroll_into_view_if_needed()
    page.wait_for_selector("[data-figure-name='box:Age'] .plot[data-drawn='1'] .main-svg")
    page.screenshot(path=str(output_dir / "10-age-by-segment.png"), full_page=False)
    assert page.script_errors == []


def test_filters_recompute_cards_sizes_shares_and_means(
    page: Any, api_url: str, output_dir: Path
) -> None:
    _open(page, MALL_URL.format(api_url))
    plots = get_json(f"{api_url}/datasets/{DATASET}/plots")
    points = plots["points"]
    assert points["n"] == points["sampled_from"] == 200  # every customer: the cards are exact
    key = page.locator("#cards").get_attribute("data-model").split("|")[1]
    labels = points["labels"][key]
    genders = points["features"]["Gender"]
    ages = points["features"]["Age"]
    unfiltered = _card_sizes(page)

    page.locator("[data-testid='filter-Gender'] input[value='Male']").uncheck()
    women = [i for i, g in enumerate(genders) if g == "Female"]
    page.wait_for_function(f"document.getElementById('cards').dataset.filtered === '{len(women)}'")
    caption = page.locator("#cards-caption").inner_text()
    assert caption == f"Filtered: {len(women)} of 200 training customers (exact)"
    sizes = _card_sizes(page)
    expected = {sid: sum(1 for i in women if labels[i] == sid) for sid in unfiltered}
    assert sizes == expected
    assert sum(sizes.values()) == len(women) < sum(unfiltered.values())

    # A card's Age reads the filtered customers' mean, its Gender mix 100% Female.
    sid = max(expected, key=lambda s: expected[s])
    card = page.locator(f"[data-testid=segment-card][data-segment-id='{sid}']")
    age_item = card.locator(".stats li", has=page.locator(".k", has_text="Age"))
    shown_mean = float(age_item.locator(".v").inner_text().split()[0])
    true_mean = mean(ages[i] for i in women if labels[i] == sid)
    assert shown_mean == pytest.approx(true_mean, abs=0.05 if true_mean < 100 else 0.5)
    gender_item = card.locator(".stats li", has=page.locator(".k", has_text="Gender"))
    assert gender_item.locator(".v").inner_text() == "Female 100%"
    page.screenshot(path=str(output_dir / "11-filtered-cards.png"), full_page=True)

    # The silhouette per segment draws the filtered customers too.
    live = page.locator(".plot[data-figure='segment_silhouette']")
    live.scroll_into_view_if_needed()
    page.wait_for_selector(".plot[data-figure='segment_silhouette'][data-drawn='1'] .barlayer")
    drawn = page.evaluate(
        "() => document.querySelector(\".plot[data-figure='segment_silhouette']\").data"
        ".reduce((n, t) => n + t.x.length, 0)"
    )
    silhouettes = points["silhouette"][key]
    assert drawn == sum(1 for i in women if silhouettes[i] is not None)

    # Nobody left: a message on the cards and the map, and a way back.
    page.locator("[data-testid='filter-Gender'] input[value='Female']").uncheck()
    empty = page.locator("[data-testid=empty-result]")
    empty.wait_for()
    assert "No customers match these filters" in empty.inner_text()
    assert page.locator("#map").get_attribute("data-shown") == "0"
    annotations = page.evaluate(
        "() => (document.getElementById('map').layout.annotations || []).map((a) => a.text)"
    )
    assert annotations == ["No customers match these filters"]
    page.screenshot(path=str(output_dir / "12-empty-result.png"), full_page=False)
    empty.locator("button").click()
    page.wait_for_function("document.getElementById('cards').dataset.filtered === ''")
    assert _card_sizes(page) == unfiltered
    assert page.script_errors == []


def test_float_sliders_reach_both_extremes(page: Any, api_url: str) -> None:
    """A float column's slider ends at its exact minimum and maximum: moved away and back, it
    keeps every customer (a fractional step used to snap below the maximum)."""
    values = [round(19.5 + i * 0.37, 2) for i in range(200)]

    def with_floats(route: Any) -> None:
        response = route.fetch()
        data = response.json()
        data["points"]["features"] = {"Spend": values}
        route.fulfill(response=response, json=data)

    page.route(f"{api_url}/datasets/{DATASET}/plots*", with_floats)
    _open(page, MALL_URL.format(api_url))
    count = page.locator("[data-testid=shown-count]")
    assert count.inner_text() == "200 of 200 customers"
    hi = page.locator("[data-testid=filter-Spend] input[data-end='hi']")
    hi.press("ArrowLeft")
    page.wait_for_function("document.getElementById('map').dataset.shown === '199'")
    hi.press("ArrowRight")
    page.wait_for_function("document.getElementById('map').dataset.shown === '200'")
    lo = page.locator("[data-testid=filter-Spend] input[data-end='lo']")
    lo.press("ArrowRight")
    lo.press("ArrowLeft")
    page.wait_for_function("document.getElementById('map').dataset.shown === '200'")
    assert count.inner_text() == "200 of 200 customers"
    assert page.locator("[data-testid=filter-Spend] .range").inner_text() == "19.5 \u2013 93.1"
    assert page.script_errors == []


def test_the_page_follows_a_training_run_to_its_new_version(
    page: Any, api_url: str, mall_stack: Any, output_dir: Path
) -> None:
    """Open on a dataset, upload a newer file: the page says it is training, then shows the
    new version by itself (no reload)."""
    s3 = mall_stack.client("s3")
    lines = (DATA / "mall_customers.csv").read_bytes().splitlines(keepends=True)
    s3.put_object(
        Bucket=mall_stack.raw_bucket, Key="uploads/live/first.csv", Body=b"".join(lines[:-30])
    )
    deadline = time.monotonic() + TRAINING_TIMEOUT_S
    while True:
        listing = get_json(f"{api_url}/datasets")
        if any(d["dataset"] == "live" and d["current_version"] for d in listing["datasets"]):
            break
        assert time.monotonic() < deadline, "the first upload of 'live' was not trained in time"
        time.sleep(0.5)
    _open(page, f"{api_url}/#dataset=live")
    page.wait_for_function(
        "document.getElementById('version-meta').textContent === '170 customers · from first.csv'"
    )
    time.sleep(1.1)  # S3 times have one-second resolution: the second upload is newer
    s3.put_object(Bucket=mall_stack.raw_bucket, Key="uploads/live/second.csv", Body=b"".join(lines))
    page.wait_for_function(
        "document.getElementById('live-status').dataset.state === 'training'",
        timeout=TRAINING_TIMEOUT_S * 1000,
    )
    assert "Training second.csv" in page.locator("[data-testid=live-status]").inner_text()
    page.screenshot(path=str(output_dir / "13-training.png"), full_page=False)
    page.wait_for_function(
        "document.getElementById('version-meta').textContent === '200 customers · from second.csv'",
        timeout=TRAINING_TIMEOUT_S * 1000,
    )
    page.wait_for_selector("[data-testid=segment-card]")
    page.wait_for_function("document.getElementById('live-status').dataset.state === 'idle'")
    status = get_json(f"{api_url}/datasets/live/status")
    assert page.locator("#version-select").input_value() == status["current_version"]
    assert page.script_errors == []


@pytest.mark.parametrize("width", [390, 768, 1024])
def test_no_horizontal_scroll_and_filters_in_a_drawer(
    browser: Any, api_url: str, output_dir: Path, width: int
) -> None:
    page = new_page(browser)
    try:
        page.set_viewport_size({"width": width, "height": 844})
        _open(page, MALL_URL.format(api_url))
        page.locator("#analysis-tabs button[data-tab='eda']").click()
        figures = page.locator("#figs-eda .plot")
        for i in range(figures.count()):  # figures draw as they scroll into view
            figures.nth(i).scroll_into_view_if_needed()
            page.wait_for_function(
                f"document.querySelectorAll('#figs-eda .plot')[{i}].dataset.drawn === '1'"
            )
        page.evaluate("window.scrollTo(0, 0)")
        widths = page.evaluate(
            "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert widths[0] <= widths[1] == width, widths
        for control in ("#dataset-select", "#version-select", "#token-button"):
            box = page.locator(control).bounding_box()
            assert box is not None
            assert box["x"] >= 0
            assert box["x"] + box["width"] <= width, control
        # The filters are one tap away at the top, not at the bottom of a long page.
        sidebar = page.locator("#sidebar")
        toggle = page.locator("[data-testid=drawer-toggle]")
        assert toggle.is_visible()
        assert toggle.bounding_box()["y"] < 844
        assert not sidebar.is_visible() or page.locator("#filters").bounding_box()["x"] < 0
        toggle.click()
        page.wait_for_function("document.getElementById('sidebar').classList.contains('open')")
        page.wait_for_timeout(300)  # the slide-in transition
        box = page.locator("#filters").bounding_box()
        assert box is not None
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= width
        page.screenshot(path=str(output_dir / f"14-drawer-{width}.png"))
        page.keyboard.press("Escape")
        page.wait_for_function("!document.getElementById('sidebar').classList.contains('open')")
        if width == 390:  # the README's phone picture: the first screen
            page.wait_for_timeout(400)  # the drawer's slide-out
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=str(output_dir / "dashboard-390.png"))
            if os.environ.get("SEGMENTS_UPDATE_SCREENSHOT") == "1":
                shutil.copyfile(
                    output_dir / "dashboard-390.png", REPO / "docs" / "dashboard-phone.png"
                )
        assert page.script_errors == []
    finally:
        page.context.close()


def test_keyboard_radiogroups_and_tabs(page: Any, api_url: str) -> None:
    _open(page, MALL_URL.format(api_url))
    k_group = page.locator("#k-buttons")
    checked = k_group.locator("[aria-checked=true]")
    start = int(checked.get_attribute("data-k"))
    assert k_group.locator("button[tabindex='0']").count() == 1
    checked.focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function(
        f"document.getElementById('cards').dataset.model.endsWith('-k{start + 1}')"
    )
    assert page.evaluate("() => document.activeElement.dataset.k") == str(start + 1)
    page.keyboard.press("ArrowLeft")
    page.wait_for_function(f"document.getElementById('cards').dataset.model.endsWith('-k{start}')")

    algo = page.locator("#algo-buttons [aria-checked=true]")
    first = algo.get_attribute("data-algo")
    algo.focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function(
        f"document.querySelector('#algo-buttons [aria-checked=true]').dataset.algo !== '{first}'"
    )
    assert page.evaluate("() => document.activeElement.getAttribute('aria-checked')") == "true"

    tabs = page.locator("#analysis-tabs [role=tab]")
    assert [tabs.nth(i).get_attribute("aria-selected") for i in range(3)] == [
        "true",
        "false",
        "false",
    ]
    tabs.nth(0).focus()
    page.keyboard.press("ArrowRight")
    assert [tabs.nth(i).get_attribute("aria-selected") for i in range(3)] == [
        "false",
        "true",
        "false",
    ]
    assert page.locator("#tab-eda").is_visible()
    assert page.script_errors == []


def test_metrics_and_the_k_choice_read_in_plain_words(page: Any, api_url: str) -> None:
    _open(page, MALL_URL.format(api_url))
    sentence = page.locator("[data-testid=k-sentence]").inner_text()
    assert sentence.startswith("5 segments: the elbow of the within-segment spread is at 5")
    assert "best separation nearby" in sentence
    help_text = page.locator("[data-testid=kpi-silhouette]").get_attribute("title")
    assert help_text.startswith("How clearly customers sit in their own segment")
    heads = page.locator("#comparison th")
    assert heads.nth(4).get_attribute("title").startswith("How much segments overlap")
    assert page.script_errors == []


@pytest.mark.parametrize("width", [1400, 390])
def test_axe_finds_no_violations(browser: Any, api_url: str, width: int) -> None:
    from axe_playwright_python.sync_playwright import Axe

    page = new_page(browser)
    try:
        page.set_viewport_size({"width": width, "height": 900})
        _open(page, MALL_URL.format(api_url))
        if width < 1100:  # the filters are in the drawer: open it
            page.locator("[data-testid=drawer-toggle]").click()
            page.wait_for_timeout(300)
        page.locator("[data-testid='filter-Gender'] input[value='Male']").uncheck()
        page.wait_for_function("document.getElementById('cards').dataset.filtered !== ''")
        results = Axe().run(page)
        violations = [
            (v["id"], v["help"], [n["target"] for n in v["nodes"]][:3])
            for v in results.response["violations"]
        ]
        assert violations == []
    finally:
        page.context.close()


def _upload_and_wait(stack: Any, api_url: str, dataset: str, name: str, body: bytes) -> str:
    """Upload ``body`` as ``uploads/<dataset>/<name>``; return the version it publishes."""
    s3 = stack.client("s3")
    s3.put_object(Bucket=stack.raw_bucket, Key=f"uploads/{dataset}/{name}", Body=body)
    deadline = time.monotonic() + TRAINING_TIMEOUT_S
    while True:
        try:
            listing = get_json(f"{api_url}/datasets/{dataset}/versions")
        except OSError:
            listing = {"versions": []}
        for version in listing["versions"]:
            if version["source_key"].endswith(f"/{name}") and listing["current_version"]:
                return str(version["version"])
        assert time.monotonic() < deadline, f"{dataset}/{name} was not trained in time"
        time.sleep(0.5)


def test_rename_export_compare_and_promote(
    page: Any, api_url: str, mall_stack: Any, output_dir: Path
) -> None:
    lines = (DATA / "mall_customers.csv").read_bytes().splitlines(keepends=True)
    first = _upload_and_wait(mall_stack, api_url, "work", "part.csv", b"".join(lines[:-20]))
    _open(page, f"{api_url}/#dataset=work")

    # Rename the largest segment; the card, the API and the heat map say the new name.
    card = page.locator("[data-testid=segment-card]").first
    sid = card.get_attribute("data-segment-id")
    generated = card.locator(".card-name").inner_text()
    card.locator("[data-testid=rename-segment]").click()
    page.locator("[data-testid=rename-input]").fill("Weekend regulars")
    page.locator("[data-testid=rename-form] button[type=submit]").click()
    named = page.locator(f"[data-testid=segment-card][data-segment-id='{sid}'] .card-name")
    page.wait_for_function(
        f"document.querySelector(\"[data-segment-id='{sid}'] .card-name\").textContent"
        " === 'Weekend regulars'"
    )
    api_segment = get_json(f"{api_url}/datasets/work/segments/{sid}")
    assert (api_segment["name"], api_segment["generated_name"]) == ("Weekend regulars", generated)

    # Export that segment's customers.
    with page.expect_download() as download:
        page.locator(
            f"[data-testid=segment-card][data-segment-id='{sid}'] [data-testid=export-segment]"
        ).click()
    rows = Path(download.value.path()).read_text().splitlines()
    assert rows[0] == "CustomerID,segment_id,segment_name"
    size = int(
        page.locator(f"[data-testid=segment-card][data-segment-id='{sid}'] .size .n").inner_text()
    )
    assert len(rows) - 1 == size
    assert all(r.endswith(f",{sid},Weekend regulars") for r in rows[1:])

    # A retrain: the page follows it, and the name follows the segment's stable id.
    time.sleep(1.1)
    second = _upload_and_wait(mall_stack, api_url, "work", "whole.csv", b"".join(lines))
    page.wait_for_function(
        "document.getElementById('version-meta').textContent === '200 customers · from whole.csv'",
        timeout=30_000,
    )
    page.wait_for_selector(f"#cards[data-model^='{second}|']")
    assert named.inner_text() == "Weekend regulars"
    page.screenshot(path=str(output_dir / "15-renamed-after-retrain.png"))

    # Compare the two versions, then promote the first one back (with a confirmation).
    page.locator("#version-select").select_option(first)
    page.wait_for_selector(f"#cards[data-model^='{first}|']")
    page.locator("#analysis-tabs button[data-tab='data']").click()
    page.locator("[data-testid=compare-select]").select_option(second)
    page.locator("[data-testid=compare]").click()
    summary = page.locator("[data-testid=compare-summary]")
    summary.wait_for()
    compared = get_json(f"{api_url}/datasets/work/versions/{first}/compare?with={second}")
    assert compared["matched_customers"] == 180
    stayed = sum(m["customers"] for m in compared["moves"] if m["from_segment"] == m["to_segment"])
    assert summary.inner_text().startswith(f"{stayed} of the 180 customers")
    rows = page.locator("[data-testid=compare-sizes] tbody tr")
    assert rows.count() == len(
        {s["segment_id"] for s in compared["base_segments"] + compared["other_segments"]}
    )
    page.screenshot(path=str(output_dir / "16-compare.png"), full_page=True)

    dialogs: list[str] = []
    page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
    page.locator("[data-testid=promote]").click()
    page.wait_for_function(
        "document.querySelector('[data-testid=promote-message]').textContent.includes('current')"
    )
    assert dialogs
    assert first in dialogs[0]
    assert get_json(f"{api_url}/datasets/work/status")["current_version"] == first
    page.wait_for_function(
        "document.querySelector('#version-select option:checked')"
        ".textContent.endsWith('(current)')",
        timeout=30_000,
    )
    assert page.script_errors == []


def test_assign_form_checks_ranges_shows_gmm_membership_and_follows_typing(
    page: Any, api_url: str
) -> None:
    _open(page, MALL_URL.format(api_url).replace("#dataset=", "#algorithm=gmm&k=5&dataset="))
    page.wait_for_selector("#cards[data-model$='|gmm-k5']")
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if "/assign" in r.url else None)
    spending = page.locator(f"#assign-fields [data-column='{SPENDING}']")
    income = page.locator(f"#assign-fields [data-column='{INCOME}']")
    income.fill("120")
    spending.fill("-40")
    page.locator("#assign-submit").click()
    error = page.locator(f"[data-testid='assign-error-{SPENDING}']")
    assert error.inner_text() == "Between 1 and 99, the range seen in training."
    assert spending.get_attribute("aria-invalid") == "true"
    assert requests == []

    spending.fill("85")
    page.locator("#assign-submit").click()
    bars = page.locator("[data-testid=assign-membership] .bar-row")
    bars.first.wait_for()
    shares = [float(v.rstrip("%")) for v in bars.locator(".bar-value").all_inner_texts()]
    assert shares == sorted(shares, reverse=True)
    assert 90 <= sum(shares) <= 100.5
    first_answer = page.locator("[data-testid=assign-segment]").inner_text()

    # Typing another customer re-assigns without pressing the button.
    spending.fill("10")
    page.wait_for_function(
        f"document.querySelector('[data-testid=assign-segment]').textContent !== {first_answer!r}"
    )
    assert len(requests) == 2
    assert page.script_errors == []


def test_an_admin_uploads_a_file_in_the_browser_and_watches_it_become_a_version(
    page: Any, api_url: str, output_dir: Path
) -> None:
    _open(page, MALL_URL.format(api_url))
    page.locator("[data-testid=upload-button]").click()
    page.locator("[data-testid=upload-dataset]").fill("browser-upload")
    page.locator("[data-testid=upload-file]").set_input_files(
        files=[
            {
                "name": "shop.csv",
                "mimeType": "text/csv",
                "buffer": (DATA / "mall_customers.csv").read_bytes(),
            }
        ]
    )
    page.locator("#upload-submit").click()
    message = page.locator("[data-testid=upload-message]")
    page.wait_for_function(
        "document.querySelector('[data-testid=upload-message]').textContent"
        ".startsWith('Uploaded to uploads/browser-upload/shop.csv')",
        timeout=30_000,
    )
    assert page.locator("#upload-progress").get_attribute("value") == "100"
    page.screenshot(path=str(output_dir / "17-uploaded.png"))
    # The page follows the new dataset through training to its first version.
    page.wait_for_function(
        "document.getElementById('dataset-select').value === 'browser-upload'",
        timeout=TRAINING_TIMEOUT_S * 1000,
    )
    page.wait_for_function(
        "document.getElementById('version-meta').textContent === '200 customers · from shop.csv'",
        timeout=TRAINING_TIMEOUT_S * 1000,
    )
    page.wait_for_selector("[data-testid=segment-card]")
    assert "Uploaded" in message.inner_text()
    assert page.script_errors == []


def test_upload_is_refused_without_an_admin_token_when_tokens_are_set(
    page: Any, api_url: str
) -> None:
    def refuse(route: Any) -> None:
        route.fulfill(
            status=403,
            json={"error": "forbidden", "message": "this route needs an admin token"},
        )

    page.route(f"{api_url}/datasets/*/uploads", refuse)
    _open(page, MALL_URL.format(api_url))
    page.locator("[data-testid=upload-button]").click()
    page.locator("[data-testid=upload-file]").set_input_files(
        files=[{"name": "x.csv", "mimeType": "text/csv", "buffer": b"a,b\n1,2\n"}]
    )
    page.locator("#upload-submit").click()
    page.wait_for_function(
        "document.querySelector('[data-testid=upload-message]').textContent.includes('admin')"
    )
    assert page.script_errors == []

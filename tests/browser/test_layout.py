"""Issue 14 in a real Chromium: the finder on a phone (390×844) and a desktop (1280×800).

Phone: focus and view go to the results; the form folds away; "Show on map" opens
its popup where the coach is looking.  Desktop: the map stays beside the list.
Map: numbered markers, a radius ring, popups that can request an introduction,
cards and markers that highlight each other.  "In person or online" is grouped
and counted honestly.  Each message shows once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from urllib.request import urlopen

import pytest

from web.conftest import NEWCASTLE  # noqa: E402

from .test_finder import WAIT_MS, assert_clean, search_from_form, wait_until

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
#: No marker animation still running (zoom, clusters).
SETTLED = "() => !document.querySelector('.leaflet-zoom-anim, .leaflet-cluster-anim')"


def _context_page(browser, viewport: dict, mobile: bool) -> tuple[object, object]:
    context = browser.new_context(viewport=viewport, is_mobile=mobile, has_touch=mobile)
    page = context.new_page()
    page.problems = []
    page.on("pageerror", lambda error: page.problems.append(f"uncaught: {error}"))
    page.on(
        "console",
        lambda m: page.problems.append(f"console: {m.text}")
        if m.type == "error" and "ERR_UNSAFE_PORT" not in m.text and "ERR_CONNECTION_REFUSED" not in m.text and "status of 404" not in m.text
        else None,
    )
    return context, page


@pytest.fixture
def phone(browser) -> Iterator[object]:
    context, page = _context_page(browser, PHONE, True)
    yield page
    context.close()


@pytest.fixture
def desktop(browser) -> Iterator[object]:
    context, page = _context_page(browser, DESKTOP, False)
    yield page
    context.close()


def in_viewport(page, box: dict | None, slack: float = 1) -> bool:
    size = page.viewport_size
    return box is not None and box["y"] >= -slack and box["y"] + box["height"] <= size["height"] + slack and box["x"] >= -slack and box["x"] + box["width"] <= size["width"] + slack


def api(live_server, query: str) -> dict:
    with urlopen(f"{live_server.url}/api/v1/search?{query}") as response:  # noqa: S310 (our own test server)
        return json.load(response)


def ready(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("#finder[data-ready='true']", timeout=WAIT_MS)


# ---------------------------------------------------------------- 1. phone
def test_phone_search_goes_to_the_results_and_folds_the_form(phone, live_server, tmp_path):
    ready(phone, live_server.url + "/")
    search_from_form(phone, NEWCASTLE)
    heading = phone.locator("#results-summary")
    wait_until(phone, "() => document.activeElement.id === 'results-summary'")
    assert NEWCASTLE in heading.inner_text()
    box = heading.bounding_box()
    assert in_viewport(phone, box) and box["y"] < 100, "the summary is at the top of the screen"
    # The form is folded into a one-line summary with a button to edit it.
    assert not phone.locator("#search-form").is_visible()
    assert NEWCASTLE in phone.locator("#search-summary-text").inner_text()
    # The first card starts on the first screen.
    assert phone.locator(".result h3").first.bounding_box()["y"] < PHONE["height"]
    phone.screenshot(path=str(tmp_path / "phone-results.png"))
    phone.click("#edit-search")
    assert phone.locator("#search-form").is_visible()
    assert phone.evaluate("document.activeElement.id") == "postcode"
    assert_clean(phone)


def test_phone_show_on_map_opens_the_popup_in_view(phone, live_server, tmp_path):
    ready(phone, live_server.url + "/?postcode=NE1+4ST")
    phone.wait_for_selector(".result", timeout=WAIT_MS)
    card = phone.locator(".result").nth(6)
    card.scroll_into_view_if_needed()
    card.get_by_role("button", name="Show on map").click()
    popup = phone.locator(".leaflet-popup")
    popup.wait_for(timeout=WAIT_MS)
    wait_until(phone, SETTLED)
    phone.wait_for_timeout(300)  # the popup's own pan
    assert in_viewport(phone, popup.bounding_box(), slack=12)
    assert card.locator("h3").inner_text().split(". ", 1)[1] in popup.inner_text()
    phone.screenshot(path=str(tmp_path / "phone-popup.png"))
    assert_clean(phone)


# ---------------------------------------------------------------- 2. desktop
def test_desktop_list_beside_a_map_that_stays_in_view(desktop, live_server, tmp_path):
    ready(desktop, live_server.url + "/")
    search_from_form(desktop, NEWCASTLE)
    names = desktop.locator(".result h3")
    above_fold = [b for b in (names.nth(i).bounding_box() for i in range(names.count())) if b["y"] + b["height"] <= DESKTOP["height"]]
    assert len(above_fold) >= 2, "more than one result above the fold"
    map_box = desktop.locator("#map").bounding_box()
    first = desktop.locator(".result").first.bounding_box()
    assert map_box["x"] > first["x"] + first["width"], "the map is beside the list"
    desktop.screenshot(path=str(tmp_path / "desktop-results.png"))
    # Scrolled far down the list, the map is still wholly in view, beside the cards.
    desktop.locator(".result").nth(8).scroll_into_view_if_needed()
    desktop.mouse.wheel(0, 300)
    desktop.wait_for_timeout(200)
    assert desktop.evaluate("scrollY") > 500
    assert in_viewport(desktop, desktop.locator("#map").bounding_box(), slack=2)
    assert any(in_viewport(desktop, desktop.locator(".result").nth(i).bounding_box()) for i in range(6, 10))
    desktop.screenshot(path=str(tmp_path / "desktop-scrolled.png"))
    assert_clean(desktop)


# ---------------------------------------------------------------- 3. map
def test_numbered_markers_ring_and_highlighting(desktop, live_server):
    ready(desktop, live_server.url + "/?postcode=NE1+4ST")
    desktop.wait_for_selector(".result", timeout=WAIT_MS)
    wait_until(desktop, SETTLED)
    cards = desktop.locator(".result")
    assert [cards.nth(i).get_attribute("data-number") for i in range(cards.count())] == [str(i) for i in range(1, cards.count() + 1)]
    # Every card number is on the map, alone or in a cluster that lists it.
    on_map = desktop.evaluate(
        """() => [...document.querySelectorAll('.num-marker')].map(m => Number(m.textContent)).concat(
               ...[...document.querySelectorAll('.num-cluster .visually-hidden')].map(c => c.textContent.match(/\\d+/g).map(Number)))"""
    )
    assert sorted(on_map) == list(range(1, cards.count() + 1))
    # The radius ring and the searched point are drawn.
    assert desktop.locator(".leaflet-overlay-pane path").count() == 2
    # A card and its marker highlight each other.
    cards.first.hover()
    assert desktop.locator(".num-marker.highlight, .num-cluster.highlight").count() == 1
    desktop.mouse.move(5, 5)
    assert desktop.locator(".num-marker.highlight, .num-cluster.highlight").count() == 0
    # Pointing at a marker highlights its card; at a cluster, the cards it holds.
    icon = desktop.locator(".num-marker, .num-cluster").first
    numbers = re.findall(r"\d+", icon.locator(".visually-hidden").inner_text() if icon.locator(".visually-hidden").count() else icon.inner_text())
    icon.hover()
    assert [c.get_attribute("data-number") for c in desktop.locator(".result.highlight").all()] == numbers
    assert_clean(desktop)


def test_popup_requests_an_introduction_by_keyboard(desktop, live_server):
    ready(desktop, live_server.url + "/?postcode=NE1+4ST")
    desktop.wait_for_selector(".result", timeout=WAIT_MS)
    card = desktop.locator(".result").nth(2)
    card.locator(".show-on-map").focus()
    desktop.keyboard.press("Enter")
    desktop.locator(".leaflet-popup").wait_for(timeout=WAIT_MS)
    wait_until(desktop, "() => document.activeElement.closest('.leaflet-popup') !== null")
    popup = desktop.locator(".leaflet-popup")
    assert "Request an introduction" in popup.inner_text()
    assert card.locator("h3").inner_text() in popup.locator("h3").inner_text()
    while desktop.evaluate("document.activeElement.textContent") != "Request an introduction":
        desktop.keyboard.press("Tab")
    desktop.keyboard.press("Enter")
    wait_until(desktop, "() => document.activeElement.name === 'name'")
    assert desktop.evaluate("document.activeElement.closest('.result').dataset.number") == "3"
    wait_until(desktop, "() => !document.querySelector('.leaflet-popup')")
    assert_clean(desktop)


def test_a_failed_search_clears_the_map(desktop, live_server):
    ready(desktop, live_server.url + "/?postcode=NE1+4ST")
    desktop.wait_for_selector(".result", timeout=WAIT_MS)
    assert desktop.locator(".leaflet-overlay-pane path").count() == 2
    desktop.fill("#postcode", "NE1 4ZZ")
    desktop.click("#search-button")
    desktop.locator("#postcode-error .suggestion").first.wait_for(timeout=WAIT_MS)
    assert desktop.locator(".leaflet-overlay-pane path").count() == 0
    assert desktop.locator(".num-marker, .num-cluster").count() == 0
    assert desktop.locator(".result").count() == 0
    assert_clean(desktop)


# ---------------------------------------------------------------- 4. in person or online
def test_in_person_or_online_is_grouped_and_counted(desktop, live_server, tmp_path):
    body = api(live_server, "postcode=NE1+4ST&mode=any&radius_km=10&limit=50")
    near, online = body["totals"]["near"], body["totals"]["online"]
    assert near and online and near + online == body["total"]
    ready(desktop, live_server.url + "/?postcode=NE1+4ST&mode=any&radius_km=10&limit=50")
    desktop.wait_for_selector(".result", timeout=WAIT_MS)
    headings = desktop.locator(".group-heading").all_inner_texts()
    assert headings == [f"Near you ({near})", f"Online ({online})"]
    summary = desktop.locator("#results-summary").inner_text()
    assert f"{near} within 10 km of {NEWCASTLE}" in summary and f"{online} online" in summary
    for card in desktop.locator("ol[data-group='online'] .result").all():
        reasons = card.locator(".reasons li").all_inner_texts()
        assert re.fullmatch(r"based in the \S+( \S+)? area", reasons[0])
        assert not any(r.endswith(" km away") for r in reasons)
        assert card.locator(".online").count() == 0  # no "Also offers online support" here
    for card in desktop.locator(".result").all():
        text = card.inner_text()
        assert not ("offers online support" in text.replace("Also offers online support", "") and "Also offers online support" in text)
    desktop.screenshot(path=str(tmp_path / "groups.png"), full_page=True)
    assert_clean(desktop)


def test_include_online_from_an_empty_search_says_what_it_finds(desktop, live_server):
    ready(desktop, live_server.url + "/?postcode=NE46+3&role=mentor&radius_km=5")
    offer = desktop.locator(".relax button", has_text="Include online support?")
    offer.wait_for(timeout=WAIT_MS)
    count = int(re.search(r"\((\d+) online\)", offer.inner_text()).group(1))
    offer.click()
    desktop.wait_for_selector(".result", timeout=WAIT_MS)
    summary = desktop.locator("#results-summary").inner_text()
    assert "none within 5 km of NE46 3" in summary and f"{count} online" in summary
    assert desktop.locator(".group-heading").all_inner_texts()[-1] == f"Online ({count})"
    assert_clean(desktop)


# ---------------------------------------------------------------- 5. messages once
def _occurrences(page, text: str) -> int:
    return page.evaluate("t => document.body.innerText.split(t).length - 1", text)


def test_each_message_shows_once(desktop, live_server):
    ready(desktop, live_server.url + "/")
    desktop.fill("#postcode", "NE1 4ZZ")
    desktop.press("#postcode", "Enter")
    desktop.locator("#postcode-error .suggestion").first.wait_for(timeout=WAIT_MS)
    assert _occurrences(desktop, "Did you mean") == 1
    assert _occurrences(desktop, "is not a postcode we know") == 1
    assert desktop.evaluate("document.activeElement.id") == "postcode"
    # An empty search says so once (the heading); the box below offers what to try.
    ready(desktop, live_server.url + "/?postcode=NE46+3&role=mentor&radius_km=5")
    desktop.locator(".relax button").first.wait_for(timeout=WAIT_MS)
    assert _occurrences(desktop, "No mentor within 5 km of NE46 3") == 1
    # A typo fixed by the server: the box shows what was searched for, and says so once.
    ready(desktop, live_server.url + "/")
    search_from_form(desktop, "SWIA 2AA")
    assert desktop.locator("#postcode").input_value() == "SW1A 2AA"
    assert _occurrences(desktop, "was read as SW1A 2AA") == 1
    assert "postcode=SW1A+2AA" in desktop.url
    assert_clean(desktop, expected=("status of 404",))


# ---------------------------------------------------------------- 6. controls
def test_sort_and_filters_are_server_side_and_kept_in_the_url(desktop, live_server):
    ready(desktop, live_server.url + "/?postcode=NE1+4ST&radius_km=50")
    desktop.wait_for_selector(".result", timeout=WAIT_MS)

    def names() -> list[str]:
        return [h.split(". ", 1)[1] for h in desktop.locator(".result h3").all_inner_texts()]

    def settle(fragment: str) -> None:
        wait_until(desktop, f"() => location.search.includes('{fragment}') && !document.querySelector('#finder[aria-busy]')")

    # Keyboard only: from the summary to the order, then the filters.
    desktop.locator("#results-summary").focus()
    desktop.keyboard.press("Tab")
    assert desktop.evaluate("document.activeElement.id") == "sort"
    desktop.select_option("#sort", "nearest")
    settle("sort=nearest")
    expected = api(live_server, "postcode=NE1+4ST&radius_km=50&sort=nearest")
    assert names() == [r["name"] for r in expected["results"]]
    distances = [r["distance_km"] for r in expected["results"]]
    assert distances == sorted(distances)
    assert desktop.evaluate("document.activeElement.id") == "sort", "focus stays on the control"
    desktop.keyboard.press("Tab")
    assert desktop.evaluate("document.activeElement.id") == "min_qualification"
    desktop.select_option("#min_qualification", "advanced_coach")
    settle("min_qualification=advanced_coach")
    desktop.keyboard.press("Tab")
    assert desktop.evaluate("document.activeElement.id") == "has_room"
    desktop.keyboard.press("Space")
    settle("has_room=true")
    expected = api(live_server, "postcode=NE1+4ST&radius_km=50&sort=nearest&min_qualification=advanced_coach&has_room=true")
    assert names() == [r["name"] for r in expected["results"]]
    assert all(r["spare_capacity"] > 0 and r["qualification"] == "advanced_coach" for r in expected["results"])
    summary = desktop.locator("#results-summary").inner_text()
    assert summary.startswith(f"{expected['total']} matches") and "(with room, Advanced Coach or above)" in summary
    # A shared or reloaded URL keeps the order and the filters.
    desktop.reload()
    desktop.wait_for_selector(".result", timeout=WAIT_MS)
    assert desktop.locator("#sort").input_value() == "nearest"
    assert desktop.locator("#min_qualification").input_value() == "advanced_coach"
    assert desktop.locator("#has_room").is_checked()
    assert names() == [r["name"] for r in expected["results"]]
    assert_clean(desktop)


def test_a_filter_that_empties_the_list_can_be_undone(desktop, live_server):
    ready(desktop, live_server.url + "/?postcode=NE46+3&radius_km=25&min_qualification=advanced_coach&has_room=true&role=mentor")
    undo = desktop.locator(".relax button", has_text="Without the filters?")
    undo.wait_for(timeout=WAIT_MS)
    assert desktop.locator("#result-controls").is_visible()
    undo.click()
    desktop.wait_for_selector(".result", timeout=WAIT_MS)
    assert "has_room" not in desktop.url and "min_qualification" not in desktop.url
    assert not desktop.locator("#has_room").is_checked()
    assert_clean(desktop)


def test_loading_is_shown_while_searching(desktop, live_server):
    ready(desktop, live_server.url + "/")
    release = []

    def slow(route):
        release.append(route)

    desktop.route("**/api/v1/search?*", slow)
    desktop.fill("#postcode", NEWCASTLE)
    desktop.click("#search-button")
    wait_until(desktop, "() => document.querySelector('#results-summary.loading') !== null")
    # Shown by the heading (a spinner; nothing moves), said by the live region.
    assert desktop.locator("#results-summary").inner_text() == "Searching…"
    assert desktop.locator("#status").text_content() == "Searching…"
    assert desktop.locator("#finder").get_attribute("aria-busy") == "true"
    release[0].continue_()
    desktop.wait_for_selector(".result", timeout=WAIT_MS)
    assert desktop.locator("#results-summary.loading").count() == 0
    assert NEWCASTLE in desktop.locator("#results-summary").inner_text()
    assert desktop.locator("#finder").get_attribute("aria-busy") is None
    assert_clean(desktop)


# ---------------------------------------------------------------- 7. widget
def test_widget_frame_is_bounded_by_the_window(desktop, live_server, club_server):
    desktop.goto(club_server + "/widget")
    finder = desktop.frame_locator("#finder-box iframe")
    finder.locator(".result").first.wait_for(timeout=WAIT_MS)
    wait_until(desktop, "() => document.querySelector('#finder-box iframe').style.height !== '640px'")
    height = desktop.evaluate("parseInt(document.querySelector('#finder-box iframe').style.height)")
    assert height <= DESKTOP["height"], "the frame never outgrows the window"
    content = finder.locator("html").evaluate("e => e.scrollHeight")
    assert content > height  # ten results: the finder scrolls inside its frame
    assert_clean(desktop)


def test_compact_widget_list_view_on_another_origin(browser, live_server, club_server, tmp_path):
    for viewport, mobile in ((PHONE, True), (DESKTOP, False)):
        context, page = _context_page(browser, viewport, mobile)
        try:
            page.goto(club_server + "/widget-list")
            frame = page.locator("#sidebar iframe")
            frame.wait_for(timeout=WAIT_MS)
            assert "view=list" in frame.get_attribute("src") and "accent=7a1f1f" in frame.get_attribute("src")
            assert frame.get_attribute("title") == "Find a mentor"
            finder = page.frame_locator("#sidebar iframe")
            finder.locator(".result").first.wait_for(timeout=WAIT_MS)
            # A set height, and a minimum width even in a 150 px sidebar.
            box = frame.bounding_box()
            assert box["height"] == 500 and round(box["width"]) >= 300
            # List first: no map, a link to the full finder with the search.
            assert finder.locator("#map").is_hidden()
            assert finder.locator(".show-on-map").count() == 0
            link = finder.locator("#full-finder")
            assert link.get_attribute("href").startswith("/?") and "postcode=NE1+4ST" in link.get_attribute("href")
            assert link.get_attribute("target") == "_blank"
            # The club's colour on the buttons (dark enough already to keep white text readable).
            colour = finder.locator(".result .primary").first.evaluate("b => getComputedStyle(b).backgroundColor")
            assert colour == "rgb(122, 31, 31)"
            # The host page heard about the search, and then about the introduction.
            wait_until(page, "() => window.__events.some(e => e.type === 'findsupport:search')")
            event = page.evaluate("window.__events.find(e => e.type === 'findsupport:search').detail")
            assert event["total"] >= 1 and event["shown"] >= 1 and "postcode" not in event
            card = finder.locator(".result").first
            card.get_by_role("button", name="Request an introduction").click()
            card.get_by_label("Your name").fill("Robin Coach")
            card.get_by_label("Your e-mail address").fill(f"robin-{viewport['width']}@coach.example")
            card.get_by_label("Message (what help you are looking for)").fill("Widget test")
            card.get_by_role("button", name="Send request").click()
            card.locator(".intro-done").wait_for(timeout=WAIT_MS)
            wait_until(page, "() => window.__events.some(e => e.type === 'findsupport:introduction')")
            sent = page.evaluate("window.__events.find(e => e.type === 'findsupport:introduction').detail")
            assert set(sent) == {"provider_id"} and sent["provider_id"].startswith("fs-")
            page.screenshot(path=str(tmp_path / f"widget-list-{viewport['width']}.png"))
            assert_clean(page)
        finally:
            context.close()


def test_a_light_accent_is_darkened_and_a_bad_one_ignored(desktop, live_server):
    desktop.goto(live_server.url + "/embed?postcode=NE1+4ST&accent=ffff00")
    desktop.wait_for_selector(".result", timeout=WAIT_MS)
    colour = desktop.locator(".result .primary").first.evaluate("b => getComputedStyle(b).backgroundColor")
    r, g, b = (int(v) for v in re.findall(r"\d+", colour)[:3])

    def luminance(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    assert 1.05 / (0.2126 * luminance(r) + 0.7152 * luminance(g) + 0.0722 * luminance(b) + 0.05) >= 4.5
    desktop.goto(live_server.url + "/embed?postcode=NE1+4ST&accent=red;background:url(x)")
    desktop.wait_for_selector(".result", timeout=WAIT_MS)
    assert desktop.locator(".result .primary").first.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(11, 79, 138)"
    assert_clean(desktop)


def test_widget_builder_previews_and_copies_the_line(desktop, live_server, tmp_path):
    desktop.context.grant_permissions(["clipboard-read", "clipboard-write"])
    desktop.goto(live_server.url + "/widget")
    desktop.wait_for_selector("#builder[data-ready='true']", timeout=WAIT_MS)
    desktop.fill("#b-postcode", "NE1 4ST")
    desktop.select_option("#b-role", "mentor")
    desktop.check("input[name='view'][value='list']")
    desktop.fill("#b-height", "480")
    desktop.fill("#b-accent", "#7a1f1f")
    line = desktop.locator("#snippet").input_value()
    assert line == (f'<script src="{live_server.url}/widget.js" data-postcode="NE1 4ST" data-role="mentor" '
                    'data-view="list" data-height="480" data-accent="#7a1f1f" async></script>')
    # The preview is the real widget with those options.
    frame = desktop.locator("#preview iframe")
    wait_until(desktop, "() => (document.querySelector('#preview iframe') || {}).src?.includes('role=mentor') && document.querySelector('#preview iframe').style.height === '480px'")
    desktop.frame_locator("#preview iframe").locator(".result").first.wait_for(timeout=WAIT_MS)
    assert frame.bounding_box()["height"] == 480
    desktop.click("#copy-snippet")
    wait_until(desktop, "() => document.querySelector('#copy-status').textContent !== ''")
    assert desktop.evaluate("navigator.clipboard.readText()") == line
    # A colour that is not one is refused, and said so.
    desktop.fill("#b-accent", "tomato")
    assert "not a hex colour" in desktop.locator("#b-accent-error").inner_text()
    assert "data-accent" not in desktop.locator("#snippet").input_value()
    desktop.screenshot(path=str(tmp_path / "builder.png"), full_page=True)
    assert_clean(desktop)

"""End to end in a real Chromium: what a coach (and a club's website) actually does."""

from __future__ import annotations

import email
import json
import time
from email import policy
from urllib.request import urlopen

import pytest

from web.conftest import HOSTILE_NAME, NEWCASTLE  # noqa: E402

pytestmark = pytest.mark.browser

#: How long the page may take to answer a search in these tests (ms); generous for a loaded CI machine.
WAIT_MS = 15_000


def search_from_form(page, postcode: str) -> None:
    page.fill("#postcode", postcode)
    page.click("#search-button")
    page.wait_for_selector(".result", timeout=WAIT_MS)


def wait_until(page, predicate: str, timeout_ms: int = WAIT_MS) -> None:
    """Poll a JavaScript function until it returns true.

    (``page.wait_for_function`` evaluates strings with ``eval``, which the page's
    CSP rightly forbids; ``page.evaluate`` goes through the DevTools protocol.)
    """
    deadline = time.monotonic() + timeout_ms / 1000
    while not page.evaluate(predicate):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {predicate}")
        page.wait_for_timeout(50)


def assert_clean(page, expected: tuple[str, ...] = ()) -> None:
    """No CSP violation, console error or uncaught exception (but the ``expected`` ones); no injected script ran."""
    assert [p for p in page.problems if not any(e in p for e in expected)] == []
    assert page.evaluate("window.__xss") is None


def test_search_by_postcode_shows_list_and_markers(page, live_server, tmp_path):
    page.goto(live_server.url + "/")
    page.wait_for_selector("#finder[data-ready='true']", timeout=WAIT_MS)
    search_from_form(page, NEWCASTLE)
    results = page.locator(".result")
    assert results.count() == 10
    summary = page.locator("#results-summary").inner_text()
    assert "matches" in summary and NEWCASTLE in summary
    # Markers (single or clustered) stand for every result on the map, once the zoom animation ends.
    count_markers = """() => document.querySelectorAll('.num-marker').length +
               [...document.querySelectorAll('.num-cluster [data-count]')].reduce((n, c) => n + Number(c.dataset.count), 0)"""
    # Polled rather than read once: on a loaded machine the clustering settles late.
    wait_until(page, f"() => !document.querySelector('.leaflet-zoom-anim, .leaflet-cluster-anim') && ({count_markers})() === 10")
    assert page.evaluate(count_markers) == 10
    # Each result shows distance, reasons and availability; the query is in the URL.
    first = results.first
    # In person, the first reason is the distance, and the meta line does not repeat it.
    assert first.locator(".reasons li").first.inner_text().endswith(" km away")
    assert " km" not in first.locator(".meta").inner_text()
    assert first.locator(".availability").inner_text().startswith("Free")
    assert "postcode=NE1+4ST" in page.url
    # Tiles cannot load here: the page says so, and everything else works.
    assert page.locator("#map-note").is_visible()
    # A provider's hostile name is shown as text, not run as markup.
    assert page.get_by_text(HOSTILE_NAME).count() >= 1
    page.screenshot(path=str(tmp_path / "map.png"))
    # Back and forward re-run the searches in the URL.
    search_from_form(page, "SW1A 2AA")
    page.go_back()
    wait_until(page, "() => document.querySelector('#postcode').value === 'NE1 4ST'")
    wait_until(page, "() => document.querySelector('#results-summary').textContent.includes('NE1 4ST')")
    assert_clean(page)


def test_shared_url_reruns_the_query_and_empty_state_offers_a_wider_radius(page, live_server, tmp_path):
    page.goto(live_server.url + "/?postcode=NE46+3&role=mentor&radius_km=5")
    widen = page.locator(".relax button", has_text="Widen to")
    widen.wait_for(timeout=WAIT_MS)
    assert page.locator("#role").input_value() == "mentor"
    assert "No mentor within 5 km of NE46 3" in page.locator("#results-summary").inner_text()
    page.screenshot(path=str(tmp_path / "empty.png"))
    widen.click()
    page.wait_for_selector(".result", timeout=WAIT_MS)
    assert "radius_km=" in page.url and "radius_km=5&" not in page.url
    assert_clean(page)


def test_did_you_mean_and_use_my_location(page, live_server):
    page.goto(live_server.url + "/")
    page.wait_for_selector("#finder[data-ready='true']", timeout=WAIT_MS)
    page.fill("#postcode", "NE1 4ZZ")
    page.press("#postcode", "Enter")
    suggestion = page.locator("#postcode-error .suggestion").first
    suggestion.wait_for(timeout=WAIT_MS)
    assert page.locator("#postcode").get_attribute("aria-invalid") == "true"
    chosen = suggestion.inner_text()
    suggestion.click()
    page.wait_for_selector(".result", timeout=WAIT_MS)
    assert chosen in page.locator("#results-summary").inner_text()
    page.click("#use-location")
    wait_until(page, "() => document.querySelector('#results-summary').textContent.includes('your location')")
    # The search's URL is pushed when its results arrive, which can be just after the status.
    wait_until(page, "() => location.search.includes('lon=') && location.search.includes('lat=')")
    # The unknown postcode was a 404 problem from the API: the browser logs that, nothing else.
    assert_clean(page, expected=("status of 404",))


def test_keyboard_only_search_and_details(page, live_server, tmp_path):
    page.goto(live_server.url + "/")
    page.wait_for_selector("#finder[data-ready='true']", timeout=WAIT_MS)
    order = []
    for _ in range(9):
        page.keyboard.press("Tab")
        order.append(page.evaluate("document.activeElement.id || document.activeElement.tagName"))
    # Skip link, then the form in reading order.
    assert order == ["A", "postcode", "use-location", "role", "event", "mode", "radius_km", "SUMMARY", "search-button"]
    page.locator("#postcode").focus()
    page.keyboard.type("NE1 4ST")
    page.keyboard.press("Tab")  # use my location
    page.keyboard.press("Tab")  # role
    page.keyboard.press("ArrowDown")  # "Mentor"
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")  # submits the form from the postcode box
    page.wait_for_selector(".result", timeout=WAIT_MS)
    assert page.locator("#role").input_value() == "mentor"
    assert "role=mentor" in page.url
    # Tab on into the results: the first result's Details button opens with Enter.
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Details":
            break
    else:
        pytest.fail("the results' buttons are not reachable with Tab")
    page.keyboard.press("Enter")
    details = page.locator(".result .details").first
    details.locator("dl").wait_for(timeout=WAIT_MS)
    assert page.locator(".result button[aria-expanded='true']").first.inner_text() == "Details"
    assert "Qualification" in details.inner_text()
    page.screenshot(path=str(tmp_path / "keyboard.png"))
    assert_clean(page)


def test_open_details_shows_the_public_profile_only(page, live_server, tmp_path):
    page.goto(live_server.url + "/?postcode=NE1+4ST&radius_km=10&limit=10")
    page.wait_for_selector(".result", timeout=WAIT_MS)
    hostile = page.locator(".result", has_text=HOSTILE_NAME)
    hostile.get_by_role("button", name="Details").click()
    hostile.locator(".bio").wait_for(timeout=WAIT_MS)
    assert "<script>window.__xss = 1</script>" in hostile.locator(".bio").inner_text()
    content = page.content()
    assert "provider.invalid" not in content
    page.screenshot(path=str(tmp_path / "details.png"))
    assert_clean(page)


def test_send_an_introduction(page, live_server, tmp_path):
    seen_bodies: list[str] = []
    page.on("response", lambda r: seen_bodies.append(r.text()) if "/api/" in r.url else None)
    page.goto(live_server.url + "/?postcode=NE1+4ST")
    page.wait_for_selector(".result", timeout=WAIT_MS)
    card = page.locator(".result").first
    name = card.locator("h3").inner_text().split(". ", 1)[1]
    card.get_by_role("button", name="Request an introduction").click()
    form = card.locator("form.intro")
    form.get_by_label("Your name").fill("Robin Coach")
    form.get_by_label("Your e-mail address").fill("robin@coach.example")
    form.get_by_label("Message (what help you are looking for)").fill("Could you mentor me on hurdles drills?")
    form.get_by_role("button", name="Send request").click()
    done = card.locator(".intro-done")
    done.wait_for(timeout=WAIT_MS)
    assert name in done.inner_text()  # the API says what happens next, naming the provider
    page.screenshot(path=str(tmp_path / "introduction.png"))
    # An e-mail to the provider lands in the outbox; the page never showed their address.
    deadline = time.monotonic() + 10
    to_provider: list[email.message.EmailMessage] = []
    while time.monotonic() < deadline and not to_provider:
        messages = [email.message_from_bytes(f.read_bytes(), policy=policy.default) for f in sorted(live_server.outbox.glob("*.eml"))]
        to_provider = [m for m in messages if m["To"].addresses[0].addr_spec.endswith("@provider.invalid") and "hurdles drills" in m.get_body(("plain",)).get_content()]
        time.sleep(0.1)
    assert to_provider, "no e-mail to the provider was written"
    provider_address = to_provider[-1]["To"].addresses[0].addr_spec
    assert provider_address not in page.content()
    assert not any(provider_address in body for body in seen_bodies)
    assert_clean(page)


def test_embed_inside_an_iframe_on_another_origin(page, live_server, club_server, tmp_path):
    page.goto(club_server + "/iframe")
    finder = page.frame_locator("iframe")
    finder.locator(".result").first.wait_for(timeout=WAIT_MS)
    assert finder.locator("#postcode").input_value() == NEWCASTLE
    assert finder.locator("#event").input_value() == "jumps"
    assert finder.locator("#role").input_value() == "mentor"
    assert finder.locator(".result").count() >= 1
    page.screenshot(path=str(tmp_path / "embed.png"))
    assert_clean(page)


def test_widget_script_on_a_club_page(page, live_server, club_server, tmp_path):
    page.goto(club_server + "/widget")
    frame_element = page.locator("#finder-box iframe")
    frame_element.wait_for(timeout=WAIT_MS)
    assert frame_element.get_attribute("src").startswith(live_server.url + "/embed?")
    finder = page.frame_locator("#finder-box iframe")
    finder.locator(".result").first.wait_for(timeout=WAIT_MS)
    # The finder reported its height, and the widget resized the frame to it.
    wait_until(page, "() => document.querySelector('#finder-box iframe').style.height !== '640px'")
    frame_height = page.evaluate("parseInt(document.querySelector('#finder-box iframe').style.height)")
    content_height = finder.locator("html").evaluate("e => e.getBoundingClientRect().height")
    # As tall as the finder, but never taller than the window (the finder then scrolls inside).
    assert abs(frame_height - min(content_height, page.viewport_size["height"])) <= 2
    box_width = page.evaluate("document.querySelector('#finder-box').getBoundingClientRect().width")
    assert page.evaluate("document.querySelector('#finder-box iframe').getBoundingClientRect().width") == box_width
    # A message from another origin cannot resize it.
    page.evaluate("window.postMessage({type: 'findsupport:resize', height: 5}, '*')")
    page.wait_for_timeout(100)
    assert page.evaluate("parseInt(document.querySelector('#finder-box iframe').style.height)") == frame_height
    # A tall viewport rather than full_page: Chromium paints a cross-origin frame only where it is in view.
    page.set_viewport_size({"width": 1280, "height": min(frame_height + 400, 4000)})
    page.screenshot(path=str(tmp_path / "widget.png"))
    assert_clean(page)


def test_phone_layout(browser, live_server, tmp_path):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        page.goto(live_server.url + "/?postcode=NE1+4ST")
        page.wait_for_selector(".result", timeout=WAIT_MS)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, "no sideways scrolling on a phone"
        # A shared search on a phone shows its results: the form is folded into a summary.
        assert page.locator("#edit-search").bounding_box()["height"] >= 44
        page.click("#edit-search")
        target = page.locator("#search-button").bounding_box()
        assert target["height"] >= 44
        page.screenshot(path=str(tmp_path / "phone.png"), full_page=False)
    finally:
        context.close()


def test_online_results_show_their_distance_once(page, live_server):
    """Found online, the reasons do not lead with the distance, so the meta line carries it."""
    page.goto(live_server.url + "/?postcode=NE1+4ST&mode=online&limit=5")
    page.wait_for_selector(".result", timeout=WAIT_MS)
    first = page.locator(".result").first
    assert " km" in first.locator(".meta").inner_text()
    assert not any(text.endswith(" km away") for text in first.locator(".reasons li").all_inner_texts())
    assert_clean(page)


def test_cards_say_has_room_and_how_soon_the_provider_replies(page, live_server):
    """After enough answered introductions (and the reload that follows), a card says how soon they reply."""
    from findsupport.introductions import Asked
    from findsupport.introductions.tokens import RESPOND

    state = live_server.app.extensions["findsupport"]
    service = state.introductions
    with urlopen(f"{live_server.url}/api/v1/search?postcode=NE1+4ST&limit=10") as response:  # noqa: S310 (our own server)
        results = json.load(response)["results"]
    chosen = next(r for r in results if r["spare_capacity"] > 0 and r["replies_within_days"] is None)
    others = [r["name"] for r in results if r["id"] != chosen["id"] and r["replies_within_days"] is None]
    asked = Asked.from_query({"postcode": NEWCASTLE, "role": "mentor", "mode": "in_person"})
    for i in range(state.settings.responsiveness_min_answered):
        introduction = service.request(chosen["id"], name="Sam Coach", email=f"sam{i}@coach.example",
                                       message="Could you help with sprint starts?", asked=asked)
        service.decline(service.tokens.dump(RESPOND, introduction.id))  # answered at once: within a day
    assert state.reloader.check() is True, "answers change places, so every server reloads"
    page.goto(live_server.url + "/?postcode=NE1+4ST")
    page.wait_for_selector(".result", timeout=WAIT_MS)
    card = page.locator(".result", has=page.locator("h3", has_text=chosen["name"]))
    said_in_reasons = any(text.startswith("has room") for text in card.locator(".reasons li").all_inner_texts())
    expected = "Usually replies within 1 day" if said_in_reasons else "Has room · Usually replies within 1 day"
    assert card.locator(".standing").inner_text() == expected
    # Room is said once on a card: by a reason ("has room for 2 more coaches") or by the standing line.
    summary = card.locator(".reasons").inner_text() + "\n" + card.locator(".standing").inner_text()
    assert summary.lower().count("has room") == 1
    other = page.locator(".result", has=page.locator("h3", has_text=others[0]))
    assert "Usually replies" not in other.inner_text(), "no promise without enough history"
    assert_clean(page)


@pytest.mark.parametrize(("viewport", "mobile"), [({"width": 390, "height": 844}, True), ({"width": 1280, "height": 800}, False)],
                         ids=["phone", "desktop"])
def test_online_only_is_the_online_mode_kept_in_the_url(browser, live_server, viewport, mobile):
    """"Online only" above the list is mode=online (the same parameter as the form's "How"), by keyboard."""
    context = browser.new_context(viewport=viewport, is_mobile=mobile, has_touch=mobile)
    page = context.new_page()
    page.problems = []
    page.on("pageerror", lambda error: page.problems.append(f"uncaught: {error}"))
    try:
        page.goto(live_server.url + "/?postcode=NE1+4ST&mode=any&radius_km=50")
        page.wait_for_selector(".result", timeout=WAIT_MS)
        assert page.locator(".result.group-near").count() > 0
        assert not page.locator("#online_only").is_checked()
        page.locator("#has_room").focus()
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "online_only"
        box = page.locator("#online_only").evaluate("e => e.closest('.control').getBoundingClientRect().height")
        assert box >= 24, "a target big enough to tap"
        page.keyboard.press("Space")
        wait_until(page, "() => location.search.includes('mode=online') && !document.querySelector('#finder[aria-busy]')")
        assert page.evaluate("document.activeElement.id") == "online_only", "focus stays on the control"
        assert page.locator("#mode").input_value() == "online", "one idea: the form's mode says the same"
        cards = page.locator(".result")
        assert cards.count() > 0 and cards.count() == page.locator(".result.group-online").count()
        with urlopen(f"{live_server.url}/api/v1/search?postcode=NE1+4ST&mode=online&radius_km=50") as response:  # noqa: S310
            expected = json.load(response)
        assert [h.split(". ", 1)[1] for h in page.locator(".result h3").all_inner_texts()] == [r["name"] for r in expected["results"]]
        assert "online_only" not in page.url
        # Unticked, it goes back to the search it came from ("in person or online"), not to a default.
        page.keyboard.press("Space")
        wait_until(page, "() => location.search.includes('mode=any') && !document.querySelector('#finder[aria-busy]')")
        assert page.locator("#mode").input_value() == "any"
        assert page.locator(".result.group-near").count() > 0
        # A shared or reloaded URL keeps it; unticked there, it searches in person (the form's default).
        page.keyboard.press("Space")
        wait_until(page, "() => location.search.includes('mode=online') && !document.querySelector('#finder[aria-busy]')")
        page.reload()
        page.wait_for_selector(".result", timeout=WAIT_MS)
        assert page.locator("#online_only").is_checked()
        page.locator("#online_only").focus()
        page.keyboard.press("Space")
        wait_until(page, "() => !location.search.includes('mode=') && !document.querySelector('#finder[aria-busy]')")
        assert page.locator("#mode").input_value() == "in_person"
        assert page.locator(".result").count() == page.locator(".result.group-near").count() > 0
        assert page.problems == []
    finally:
        context.close()

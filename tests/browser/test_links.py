"""The respond and manage pages in a real Chromium: keyboard only, at phone width, and axe-core clean.

The links come from the e-mails the live server's background worker writes
into its outbox; the test follows them as a provider would, on a 390 px wide
phone, using only the keyboard.  axe-core (``npm install`` into
``.cache/axe``, see the Makefile's ``axe`` target; ``FINDSUPPORT_AXE`` names
another ``axe.min.js``) must find no serious or critical violation.  Without
axe-core the accessibility checks are skipped, except under ``CI=true``,
where a missing axe-core is a failure.
"""

from __future__ import annotations

import email
import json
import os
import re
import time
from collections.abc import Iterator
from email import policy
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
AXE = Path(os.environ.get("FINDSUPPORT_AXE", REPO / ".cache" / "axe" / "node_modules" / "axe-core" / "axe.min.js"))
#: An iPhone 12-15's CSS width: the narrowest phone the pages are designed for.
PHONE = {"width": 390, "height": 844}
WAIT_S = 15.0
#: axe-core impacts that fail the test.
BLOCKING = ("serious", "critical")
#: Tab presses allowed to reach a control: the pages are short, so a long walk means a focus trap or a lost control.
MAX_TABS = 60


@pytest.fixture(scope="session")
def axe_script() -> Path:
    if not AXE.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{AXE} is missing; CI must install axe-core (make axe)")
        pytest.skip(f"axe-core is not installed at {AXE} (make axe)")
    return AXE


@pytest.fixture
def phone(browser) -> Iterator[object]:
    """A phone-sized page; CSP is bypassed only so the test can inject axe-core (the pages' own CSP is checked)."""
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, bypass_csp=True)
    page = context.new_page()
    page.problems = []
    page.on("pageerror", lambda error: page.problems.append(f"uncaught: {error}"))
    page.on("console", lambda m: page.problems.append(f"console: {m.text}") if m.type == "error" else None)
    yield page
    context.close()


def emails_for(outbox: Path, introduction_id: str) -> dict[str, email.message.EmailMessage]:
    """The e-mails of one introduction by kind, once the background worker has written both."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        found = {}
        for path in outbox.glob(f"*-{introduction_id}-*.eml"):
            message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
            found[message["X-Findsupport-Kind"]] = message
        if {"request", "confirmation"} <= set(found):
            return found
        time.sleep(0.1)
    raise AssertionError(f"the worker wrote no request e-mail for {introduction_id}")


def link(message: email.message.EmailMessage, prefix: str, base: str) -> str:
    """The link to ``prefix`` in a message, on the live server (links name the configured public URL)."""
    found = re.search(r"https?://[^/\s]+(" + re.escape(prefix) + r"[A-Za-z0-9._-]+)", message.get_body(("plain",)).get_content())
    assert found, f"no {prefix} link"
    return base + found.group(1)


def request_introduction(page, live_server, provider_id: str, coach: str) -> dict[str, email.message.EmailMessage]:
    answer = page.request.post(
        live_server.url + "/api/v1/introductions",
        data=json.dumps({"provider_id": provider_id, "name": "Robin <b>Coach</b>", "email": coach,
                         "message": "Could you mentor me on hurdles drills?\nEvenings suit me."}),
        headers={"Content-Type": "application/json"},
    )
    assert answer.status == 202, answer.text()
    with live_server.app.app_context():
        state = live_server.app.extensions["findsupport"]
        introduction = next(i for i in state.introductions.list(state="pending") if i.provider_id == provider_id)
    return emails_for(live_server.outbox, introduction.id)


def tab_to(page, selector: str) -> None:
    """Press Tab until the element matching ``selector`` has the focus, showing a visible focus ring."""
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement && document.activeElement.matches(s)", selector):
            outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
            assert outline != "none", f"{selector} has no visible focus"
            return
    raise AssertionError(f"Tab never reached {selector}")


def assert_accessible(page, axe_script: Path, name: str) -> None:
    page.add_script_tag(path=str(axe_script))
    violations = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 3)}))"
    )
    blocking = [v for v in violations if v["impact"] in BLOCKING]
    assert not blocking, f"{name}: {blocking}"


def assert_fits_the_phone(page) -> None:
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"], "sideways scrolling"


def test_respond_page_by_keyboard_on_a_phone(phone, live_server, axe_script, tmp_path):
    provider_id = live_server.sample.ids[12]
    messages = request_introduction(phone, live_server, provider_id, "robin.keys@coach.example")
    respond = link(messages["request"], "/respond/", live_server.url)
    response = phone.goto(respond)
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert phone.locator("h1").inner_text() == "Robin <b>Coach</b> would like an introduction"
    assert "robin.keys@coach.example" not in phone.content()
    assert_fits_the_phone(phone)
    assert_accessible(phone, axe_script, "respond page")
    phone.screenshot(path=str(tmp_path / "respond.png"), full_page=True)
    tab_to(phone, "textarea#note")
    phone.keyboard.type("Happy to help: Tuesday evenings suit me.")
    tab_to(phone, 'button[name="answer"][value="accept"]')
    phone.keyboard.press("Enter")
    phone.wait_for_selector("text=You accepted", timeout=WAIT_S * 1000)
    assert phone.locator("form").count() == 0
    assert_accessible(phone, axe_script, "answered page")
    assert not phone.problems, phone.problems
    # The link is single use: opening it again says so, with no form (the browser logs the 409 itself).
    again = phone.goto(respond)
    assert again.status == 409 and phone.locator("form").count() == 0
    assert_accessible(phone, axe_script, "problem page")


def test_manage_page_by_keyboard_on_a_phone(phone, live_server, axe_script, tmp_path):
    provider_id = live_server.sample.ids[16]
    messages = request_introduction(phone, live_server, provider_id, "sam.keys@coach.example")
    manage = link(messages["request"], "/manage/", live_server.url)
    phone.goto(manage)
    assert phone.locator("h1").inner_text().startswith("Your listing:")
    assert_fits_the_phone(phone)
    assert_accessible(phone, axe_script, "manage page")
    phone.screenshot(path=str(tmp_path / "manage.png"), full_page=True)
    tab_to(phone, 'button[name="action"][value="pause"]')
    phone.keyboard.press("Enter")
    phone.wait_for_selector("text=Your listing is paused", timeout=WAIT_S * 1000)
    assert_accessible(phone, axe_script, "manage page, paused")
    tab_to(phone, 'button[name="action"][value="resume"]')
    phone.keyboard.press("Enter")
    phone.wait_for_selector("text=Your listing is live again", timeout=WAIT_S * 1000)
    # Withdrawing asks first; the confirmation page is reached by keyboard too, and nothing is deleted yet.
    tab_to(phone, 'button[name="action"][value="withdraw"]')
    phone.keyboard.press("Enter")
    phone.wait_for_selector("text=Withdraw from findsupport?", timeout=WAIT_S * 1000)
    assert_fits_the_phone(phone)
    assert_accessible(phone, axe_script, "withdraw confirmation")
    assert live_server.app.extensions["findsupport"].store.contact_for(provider_id) is not None
    assert not phone.problems, phone.problems


def test_the_finder_says_already_requested_instead_of_sending_twice(page, live_server):
    page.goto(live_server.url + "/?postcode=NE1+4ST")
    page.wait_for_selector(".result", timeout=WAIT_S * 1000)
    # The first sample provider of the results who still has room takes a first request, by the API
    # (other tests of this session's server fill some providers' places).
    for index in range(page.locator(".result").count()):
        card = page.locator(".result").nth(index)
        name = card.locator("h3").inner_text().split(". ", 1)[1]
        found = re.fullmatch(r"Sample Provider (\d+)", name)
        if not found:
            continue
        first = page.request.post(
            live_server.url + "/api/v1/introductions",
            data=json.dumps({"provider_id": f"fs-{int(found.group(1)):03d}", "name": "Robin Coach",
                             "email": "twice@coach.example", "message": "Could you help?"}),
            headers={"Content-Type": "application/json"},
        )
        if first.status == 202:
            break
    else:
        pytest.fail("no sample provider with room among the results")
    card.get_by_role("button", name="Request an introduction").click()
    form = card.locator("form.intro")
    form.get_by_label("Your name").fill("Robin Coach")
    form.get_by_label("Your e-mail address").fill("Twice@Coach.example")
    form.get_by_label("Message (what help you are looking for)").fill("Asking again, in case.")
    form.get_by_role("button", name="Send request").click()
    done = card.locator(".intro-done")
    done.wait_for(timeout=WAIT_S * 1000)
    assert done.inner_text().startswith(f"You already asked {name}")
    assert card.get_by_role("button", name="Request an introduction").count() == 0, "the button is not offered again"

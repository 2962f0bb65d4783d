"""The introduction loop through HTTP and the real outbox: request, e-mails, respond, manage, cancel, outcome.

Every e-mail is read back from the ``.eml`` files the outbox writes and parsed
as a receiver would; the links inside are followed with the Flask test client.
Each test has a catalogue of its own (the sample CSV imported into the test's
own database, SQLite or PostgreSQL), so places and pauses never leak between
tests, and a clock it moves by hand.
"""

from __future__ import annotations

import email
import re
import socketserver
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from findsupport.catalog import CatalogStore, import_file
from findsupport.introductions import TokenSigner
from findsupport.search.engine import Engine, Snapshot, load_serving_ranker

from .conftest import web_settings

PUBLIC_URL = "https://find.example"
COACH = {"name": "Robin Coach", "email": "robin@coach.example", "message": "Looking for help with hurdles drills.\nThanks!"}
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
_LINK = re.compile(re.escape(PUBLIC_URL) + r"(/[a-z]+/[A-Za-z0-9._-]+)")
HTML = {"Accept": "text/html"}


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Loop:
    """One app on a catalogue of its own, with its clock and its outbox folder."""

    app: Flask
    client: FlaskClient
    clock: Clock
    outbox: Path
    store: CatalogStore
    seen: set[Path] = field(default_factory=set)

    @property
    def state(self):
        return self.app.extensions["findsupport"]

    def deliver(self) -> list[EmailMessage]:
        """Run the due work now, as the background worker would; the e-mails it wrote, parsed back."""
        self.state.introductions.tick(mailer=self.state.worker.mailer)
        new = sorted(set(self.outbox.glob("*.eml")) - self.seen) if self.outbox.exists() else []
        self.seen.update(new)
        return [email.message_from_bytes(path.read_bytes(), policy=policy.default) for path in new]

    def reload(self) -> None:
        self.state.reloader.check()

    def ask(self, provider_id: str, /, **changes):
        return self.client.post("/api/v1/introductions", json={"provider_id": provider_id, **COACH, **changes})


def raw(message: EmailMessage) -> str:
    return bytes(message).decode("utf-8", "replace")


def text(message: EmailMessage) -> str:
    return message.get_body(("plain",)).get_content()


def one(messages: list[EmailMessage], kind: str, to: str | None = None) -> EmailMessage:
    found = [m for m in messages if m["X-Findsupport-Kind"] == kind and (to is None or m["To"] == to)]
    assert len(found) == 1, [(m["X-Findsupport-Kind"], str(m["To"])) for m in messages]
    return found[0]


def path_of(message: EmailMessage, prefix: str) -> str:
    """The path (``/respond/<token>`` ...) of the first link to ``prefix`` in a message's text."""
    for path in _LINK.findall(text(message)):
        if path.startswith(prefix):
            return path
    raise AssertionError(f"no {prefix} link in {text(message)!r}")


def csrf(page_html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page_html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def assert_no_form(response) -> None:
    assert "<form" not in response.get_data(as_text=True)


@pytest.fixture(scope="session")
def ranker(web_data_dir, cache_dir):
    return load_serving_ranker(web_settings(web_data_dir[0], cache_dir))


def set_clock(app: Flask, clock: Clock) -> None:
    """Run an app's introductions (and the timestamps of their links) on ``clock``."""
    service = app.extensions["findsupport"].introductions
    service.clock = clock
    service.tokens = TokenSigner.open(service.engine, clock)


def make_loop(tmp_path: Path, cache_dir: Path, directory, sample, ranker, database_url: str | None,
              **overrides) -> Loop:
    """An app on its own copy of the sample catalogue (an import into the test's own database)."""
    values = {"outbox_dir": tmp_path / "outbox", "public_url": PUBLIC_URL, **overrides}
    if database_url:
        values["database_url"] = database_url
    settings = web_settings(tmp_path / "instance", cache_dir, **values)
    store = CatalogStore.open(settings)
    assert import_file(sample.csv_path, store, directory, settings).ok
    from findsupport.ranking.feedback import FeedbackLog

    snapshot = Snapshot.build(store.public_catalog(), *ranker)
    engine = Engine(snapshot, directory, settings=settings, store=store, feedback=FeedbackLog.open(settings))
    from findsupport.web import create_app

    app = create_app(settings, engine=engine, background=False)
    app.testing = True
    clock = Clock()
    set_clock(app, clock)
    return Loop(app=app, client=app.test_client(), clock=clock, outbox=tmp_path / "outbox", store=store)


@pytest.fixture
def loop(tmp_path, cache_dir, directory, sample, ranker, database_url) -> Loop:
    made = make_loop(tmp_path, cache_dir, directory, sample, ranker, database_url)
    yield made
    made.state.close()


def spare(loop: Loop, provider_id: str) -> int:
    loop.reload()
    return loop.client.get(f"/api/v1/providers/{provider_id}").get_json()["spare_capacity"]


def searched(loop: Loop) -> tuple[str, list[str]]:
    """A real search (its id and the ids shown), so requests carry what the coach asked."""
    found = loop.client.get("/api/v1/search", query_string={"postcode": "NE1 4ST", "role": "mentor", "limit": 10}).get_json()
    return found["search_id"], [r["id"] for r in found["results"] if r["spare_capacity"] > 0]


# ---------------------------------------------------------------------------------------------- the request
def test_a_request_emails_the_provider_without_the_coach_address_and_confirms_to_the_coach(loop, sample):
    search_id, shown = searched(loop)
    provider_id = shown[0]
    before = spare(loop, provider_id)
    answer = loop.ask(provider_id, search_id=search_id)
    assert answer.status_code == 202
    body = answer.get_json()
    assert body["status"] == "pending" and body["provider_id"] == provider_id
    assert "confirmation e-mail" in body["detail"]
    assert "provider.invalid" not in answer.get_data(as_text=True)
    assert spare(loop, provider_id) == before - 1, "a pending request holds a place"
    messages = loop.deliver()
    request = one(messages, "request")
    assert request["To"].addresses[0].addr_spec.endswith("@provider.invalid")
    assert COACH["email"] not in raw(request), "contacts are exchanged only on acceptance"
    assert "Reply-To" not in request
    assert "> Looking for help with hurdles drills." in text(request)
    assert "Looking for: Mentor" in text(request) and "(postcode sector)" in text(request)
    assert "NE1 4ST" not in raw(request)
    path_of(request, "/respond/"), path_of(request, "/manage/")
    confirmation = one(messages, "confirmation")
    assert str(confirmation["To"]) == COACH["email"]
    assert "provider.invalid" not in raw(confirmation)
    path_of(confirmation, "/cancel/")
    session = next(s for s in loop.state.engine.feedback.sessions() if s["search_id"] == search_id)
    assert {r["provider_id"]: r["action"] for r in session["results"]}[provider_id] == "requested"


def test_a_second_pending_request_is_a_409_naming_the_provider(loop, sample):
    assert loop.ask(sample.ids[0]).status_code == 202
    again = loop.ask(sample.ids[0], email=COACH["email"].upper())
    assert again.status_code == 409
    problem = again.get_json()
    assert again.mimetype == "application/problem+json"
    assert problem["type"] == "/problems/introduction-duplicate" and problem["provider_id"] == sample.ids[0]
    assert problem["detail"].startswith("You already asked Sample Provider 0")
    assert loop.ask(sample.ids[0], email="someone.else@coach.example").status_code == 202


def test_a_full_provider_is_a_409_said_plainly(loop, sample):
    provider_id = sample.ids[3]  # capacity 3, 3 active coaches: no room
    assert loop.client.get(f"/api/v1/providers/{provider_id}").get_json()["spare_capacity"] == 0
    full = loop.ask(provider_id)
    assert full.status_code == 409
    assert full.get_json()["type"] == "/problems/provider-full"
    assert "no free place" in full.get_json()["detail"]


@pytest.mark.parametrize("which", ["unknown", "unconsented"])
def test_unlisted_providers_are_the_404_of_the_provider_view(loop, sample, which):
    provider_id = {"unknown": "no-such-provider", "unconsented": sample.hidden_ids[0]}[which]
    asked = loop.ask(provider_id)
    viewed = loop.client.get(f"/api/v1/providers/{provider_id}")
    assert asked.status_code == viewed.status_code == 404
    keys = ("type", "title", "status", "detail")
    assert {k: asked.get_json()[k] for k in keys} == {k: viewed.get_json()[k] for k in keys}
    assert not loop.deliver()


# ---------------------------------------------------------------------------------------------- accept
def test_accept_exchanges_contacts_takes_a_place_and_the_link_is_single_use(loop, sample):
    search_id, shown = searched(loop)
    provider_id = shown[0]
    before = spare(loop, provider_id)
    loop.ask(provider_id, search_id=search_id)
    request = one(loop.deliver(), "request")
    respond = path_of(request, "/respond/")
    page = loop.client.get(respond, headers=HTML)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'name="answer" value="accept"' in html and 'name="answer" value="decline"' in html
    assert "Robin Coach" in html and "Looking for help with hurdles drills." in html
    for private in (COACH["email"], *sample.emails, *sample.postcodes, "NE1 4ST"):
        assert private not in html
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    done = loop.client.post(respond, data={"csrf_token": csrf(html), "answer": "accept", "note": "Call me <b>any</b> evening"})
    assert done.status_code == 200
    assert_no_form(done)
    messages = loop.deliver()
    to_coach = one(messages, "accepted", to=COACH["email"])
    provider_address = request["To"].addresses[0].addr_spec
    assert provider_address in text(to_coach) and str(to_coach["Reply-To"]) == provider_address
    assert "Call me <b>any</b> evening" in text(to_coach)
    assert "Call me &lt;b&gt;any&lt;/b&gt; evening" in to_coach.get_body(("html",)).get_content()
    to_provider = one(messages, "accepted", to=provider_address)
    assert COACH["email"] in text(to_provider)
    assert spare(loop, provider_id) == before - 1, "the held place is now taken"
    # Replayed: the page and the form both say it is answered, never a form again.
    for replay in (loop.client.get(respond), loop.client.post(respond, data={"csrf_token": csrf(html), "answer": "decline"})):
        assert replay.status_code == 409
        assert replay.get_json()["type"] == "/problems/already-answered"
        assert_no_form(replay)
    assert_no_form(loop.client.get(respond, headers=HTML))
    session = next(s for s in loop.state.engine.feedback.sessions() if s["search_id"] == search_id)
    assert {r["provider_id"]: r["action"] for r in session["results"]}[provider_id] == "accepted"


def test_decline_tells_the_coach_kindly_with_the_next_best_matches(loop):
    search_id, shown = searched(loop)
    before = spare(loop, shown[0])
    loop.ask(shown[0], search_id=search_id)
    respond = path_of(one(loop.deliver(), "request"), "/respond/")
    page = loop.client.get(respond).get_data(as_text=True)
    assert loop.client.post(respond, data={"csrf_token": csrf(page), "answer": "decline"}).status_code == 200
    declined = one(loop.deliver(), "declined")
    assert str(declined["To"]) == COACH["email"]
    body = text(declined)
    assert "provider.invalid" not in raw(declined)
    assert "Other matches:" in body and f"{PUBLIC_URL}/?postcode=NE1+4" in body
    assert spare(loop, shown[0]) == before, "the held place is free again"


def test_concurrent_accepts_for_the_last_place_through_http_give_it_to_one(loop, sample):
    provider_id = sample.ids[0]  # capacity 3, none active
    paths = []
    for k in range(2):
        assert loop.ask(provider_id, email=f"coach{k}@coach.example").status_code == 202
    for message in loop.deliver():
        if message["X-Findsupport-Kind"] == "request":
            paths.append(path_of(message, "/respond/"))
    tokens = [csrf(loop.client.get(p).get_data(as_text=True)) for p in paths]
    loop.store.apply_edit(provider_id, {"capacity": "1"}, now=datetime(2026, 12, 1))  # room shrank to one place
    start = threading.Barrier(2)
    statuses: list[int] = []

    def accept(path: str, token: str) -> None:
        client = loop.app.test_client()
        start.wait()
        statuses.append(client.post(path, data={"csrf_token": token, "answer": "accept"}).status_code)

    workers = [threading.Thread(target=accept, args=pair) for pair in zip(paths, tokens)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sorted(statuses) == [200, 409]
    accepted = [m for m in loop.deliver() if m["X-Findsupport-Kind"] == "accepted"]
    assert len(accepted) == 2, "one acceptance: one e-mail to each side"


# ---------------------------------------------------------------------------------------------- time passes
def test_a_reminder_then_expiry_with_a_controllable_clock(loop, sample):
    loop.ask(sample.ids[1])
    messages = loop.deliver()
    respond, cancel = path_of(one(messages, "request"), "/respond/"), path_of(one(messages, "confirmation"), "/cancel/")
    loop.clock.advance(days=2)
    assert not loop.deliver()
    loop.clock.advance(days=1, minutes=1)
    reminder = one(loop.deliver(), "reminder")
    assert path_of(reminder, "/respond/").startswith("/respond/")
    assert COACH["email"] not in raw(reminder)
    loop.clock.advance(days=4)
    expired = one(loop.deliver(), "expired")
    assert str(expired["To"]) == COACH["email"] and "provider.invalid" not in raw(expired)
    for path in (respond, cancel):
        late = loop.client.get(path, headers=HTML)
        assert late.status_code == 409 and "expired" in late.get_data(as_text=True)
        assert_no_form(late)
    loop.clock.advance(days=2)  # past the link's own lifetime (expiry + a day of grace)
    gone = loop.client.get(respond)
    assert gone.status_code == 410 and gone.get_json()["type"] == "/problems/link-expired"


def test_the_coach_withdraws_from_the_confirmation(loop, sample):
    before = spare(loop, sample.ids[2])
    loop.ask(sample.ids[2])
    messages = loop.deliver()
    cancel, respond = path_of(one(messages, "confirmation"), "/cancel/"), path_of(one(messages, "request"), "/respond/")
    page = loop.client.get(cancel, headers=HTML)
    assert page.status_code == 200 and 'name="action" value="withdraw"' in page.get_data(as_text=True)
    assert "provider.invalid" not in page.get_data(as_text=True)
    done = loop.client.post(cancel, data={"csrf_token": csrf(page.get_data(as_text=True)), "action": "withdraw"})
    assert done.status_code == 200
    withdrawn = one(loop.deliver(), "withdrawn")
    assert COACH["email"] not in raw(withdrawn)
    assert loop.client.get(respond).status_code == 409
    assert spare(loop, sample.ids[2]) == before
    assert loop.ask(sample.ids[2]).status_code == 202, "after withdrawing, the coach may ask again"


def test_outcome_check_in_after_acceptance_is_one_confirmed_click(loop, sample):
    loop.ask(sample.ids[0])
    respond = path_of(one(loop.deliver(), "request"), "/respond/")
    loop.client.post(respond, data={"csrf_token": csrf(loop.client.get(respond).get_data(as_text=True)), "answer": "accept"})
    loop.deliver()
    loop.clock.advance(days=29)
    check_ins = [m for m in loop.deliver() if m["X-Findsupport-Kind"] == "outcome"]
    assert len(check_ins) == 2
    coach = next(m for m in check_ins if str(m["To"]) == COACH["email"])
    link = path_of(coach, "/outcome/")
    page = loop.client.get(link, headers=HTML)
    assert page.status_code == 200 and "helpful" in page.get_data(as_text=True)
    introduction = loop.state.introductions.list()[0]
    assert introduction.coach_met is None, "opening the link (a mail scanner) records nothing"
    assert loop.client.post(link, data={"csrf_token": csrf(page.get_data(as_text=True))}).status_code == 200
    assert loop.state.introductions.get(introduction.id).coach_met is True


# ---------------------------------------------------------------------------------------------- hostile links and forms
@pytest.mark.parametrize("prefix", ["/respond/", "/cancel/", "/manage/", "/outcome/"])
@pytest.mark.parametrize("token", ["x", "eyJhIjoxfQ.Zz9aZg.forged", "a" * 401, "..%2F..%2Fetc"])
def test_forged_tokens_are_404_pages_never_forms(loop, prefix, token):
    for accept in ({}, HTML):
        response = loop.client.get(prefix + token, headers=accept)
        assert response.status_code == 404
        assert_no_form(response)
        assert response.headers["Referrer-Policy"] == "no-referrer"


def test_a_link_made_for_one_page_does_not_open_another(loop, sample):
    loop.ask(sample.ids[0])
    messages = loop.deliver()
    manage = path_of(one(messages, "request"), "/manage/").removeprefix("/manage/")
    respond = path_of(one(messages, "request"), "/respond/").removeprefix("/respond/")
    assert loop.client.get(f"/respond/{manage}").status_code == 404
    assert loop.client.get(f"/cancel/{respond}").status_code == 404
    assert loop.client.get(f"/manage/{respond}").status_code == 404


@pytest.mark.parametrize("how", ["missing", "forged", "other page", "other form"])
def test_a_post_without_its_page_csrf_token_is_a_400_and_changes_nothing(loop, sample, how):
    for pid, email_ in ((sample.ids[0], COACH["email"]), (sample.ids[1], "other@coach.example")):
        loop.ask(pid, email=email_)
    requests = [m for m in loop.deliver() if m["X-Findsupport-Kind"] == "request"]
    respond, other = (path_of(m, "/respond/") for m in requests)
    tokens = {
        "missing": None,
        "forged": "eyJmb3JtIjoicmVzcG9uZCJ9.forged",
        "other page": csrf(loop.client.get(other).get_data(as_text=True)),
        "other form": loop.state.introductions.form_token("manage", respond.removeprefix("/respond/")),
    }
    data = {"answer": "accept", **({"csrf_token": tokens[how]} if tokens[how] else {})}
    refused = loop.client.post(respond, data=data)
    assert refused.status_code == 400
    assert refused.get_json()["field"] == "csrf_token"
    assert loop.client.post(respond, data=data, headers=HTML).status_code == 400
    assert {i.state for i in loop.state.introductions.list()} == {"pending"}


# ---------------------------------------------------------------------------------------------- the provider's listing
def manage_path(loop: Loop, provider_id: str) -> str:
    return "/manage/" + loop.state.introductions.manage_link(provider_id).rsplit("/", 1)[1]


def test_pause_hides_the_listing_and_resume_brings_it_back(loop, sample):
    provider_id = sample.ids[5]
    path = manage_path(loop, provider_id)
    page = loop.client.get(path, headers=HTML)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'name="action" value="pause"' in html and 'value="withdraw"' in html
    for private in (*sample.emails, *sample.postcodes):
        assert private not in html
    paused = loop.client.post(path, data={"csrf_token": csrf(html), "action": "pause"})
    assert paused.status_code == 303
    again = loop.client.get(paused.headers["Location"]).get_data(as_text=True)
    assert "Your listing is paused" in again and 'name="action" value="resume"' in again
    loop.reload()
    assert loop.client.get(f"/api/v1/providers/{provider_id}").status_code == 404
    asked = loop.ask(provider_id)
    assert asked.status_code == 404 and asked.get_json()["type"] == "/problems/provider-not-found"
    assert loop.client.post(path, data={"csrf_token": csrf(again), "action": "resume"}).status_code == 303
    loop.reload()
    assert loop.client.get(f"/api/v1/providers/{provider_id}").status_code == 200
    assert loop.ask(provider_id).status_code == 202


def test_the_provider_edits_their_listing(loop, sample):
    provider_id = sample.ids[6]
    path = manage_path(loop, provider_id)
    html = loop.client.get(path).get_data(as_text=True)
    form = {"csrf_token": csrf(html), "action": "edit", "capacity": "5", "travel_km": "12", "online": "true",
            "availability": ["mon_eve", "sat_am"], "events": ["hurdles", "long_jump"], "bio": "Hurdles <em>and</em> jumps."}
    saved = loop.client.post(path, data=form)
    assert saved.status_code == 303, saved.get_data(as_text=True)[:400]
    loop.reload()
    public = loop.client.get(f"/api/v1/providers/{provider_id}").get_json()
    assert public["events"] == ["hurdles", "long_jump"] and public["availability"] == ["mon_eve", "sat_am"]
    assert public["online"] is True and public["bio"] == "Hurdles <em>and</em> jumps."
    bad = loop.client.post(path, data={**form, "capacity": "lots"})
    assert bad.status_code == 400 and "capacity" in bad.get_data(as_text=True)


def test_withdrawal_asks_to_confirm_then_deletes_and_tells_waiting_coaches(loop, sample):
    provider_id = sample.ids[9]
    assert loop.ask(provider_id).status_code == 202
    loop.deliver()
    path = manage_path(loop, provider_id)
    html = loop.client.get(path).get_data(as_text=True)
    confirm = loop.client.post(path, data={"csrf_token": csrf(html), "action": "withdraw"})
    assert confirm.status_code == 200 and 'name="confirm" value="yes"' in confirm.get_data(as_text=True)
    assert loop.store.contact_for(provider_id) is not None, "nothing happens before the confirmation"
    done = loop.client.post(path, data={"csrf_token": csrf(confirm.get_data(as_text=True)), "action": "withdraw",
                                        "confirm": "yes"})
    assert done.status_code == 200
    assert loop.store.contact_for(provider_id) is None
    assert str(one(loop.deliver(), "declined")["To"]) == COACH["email"]
    assert loop.client.get(path).status_code == 404
    loop.reload()
    assert loop.client.get(f"/api/v1/providers/{provider_id}").status_code == 404


def test_manage_links_answer_the_same_whether_listed_or_not(loop, sample):
    page = loop.client.get("/manage")
    token = csrf(page.get_data(as_text=True))
    listed = loop.client.post("/manage", data={"csrf_token": token, "email": sample.emails[8].upper()})
    unlisted = loop.client.post("/manage", data={"csrf_token": token, "email": "nobody@example.org"})
    assert listed.status_code == unlisted.status_code == 200
    assert listed.get_data() == unlisted.get_data()
    (message,) = loop.deliver()
    assert message["To"].addresses[0].addr_spec == sample.emails[8]
    assert loop.client.get(path_of(message, "/manage/")).status_code == 200
    api = [loop.client.post("/api/v1/manage-links", json={"email": e}) for e in (sample.emails[9], "x@example.org")]
    assert {a.status_code for a in api} == {202} and api[0].get_data() == api[1].get_data()
    assert loop.client.post("/manage", data={"email": "nobody@example.org"}).status_code == 400, "CSRF"
    assert loop.client.post("/manage", data={"csrf_token": token, "email": "not an address"}).status_code == 400


# ---------------------------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": None}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "Eve\r\nBcc: victim@example.org"}, "name"),
        ({"name": "Sam\u2028Bcc: list@victim.example"}, "name"),
        ({"name": "Sam\u0085Bcc: list@victim.example"}, "name"),
        ({"name": "Sam\ud800"}, "name"),
        ({"email": "not-an-address"}, "email"),
        ({"email": "a@b"}, "email"),
        ({"email": "robin@coach.example\nBcc: x@y.z"}, "email"),
        ({"email": 42}, "email"),
        ({"email": "josé@example.org"}, "email"),
        ({"email": "=?utf-8?q?a=0D=0ABcc=3A_x=40y.z?=@example.org"}, "email"),
        ({"email": "a..b@example.org"}, "email"),
        ({"message": ""}, "message"),
        ({"message": "x" * 2001}, "message"),
        ({"message": "Hello\u2028there"}, "message"),
        ({"message": "Hello \ud83d"}, "message"),
        ({"provider_id": ""}, "provider_id"),
        ({"provider_id": ["fs-000"]}, "provider_id"),
        ({"search_id": 7}, "search_id"),
        ({"search_id": "s" * 101}, "search_id"),
        ({"phone": "0191"}, "phone"),
    ],
)
def test_invalid_requests_are_a_400_naming_the_field_and_nothing_is_stored(loop, sample, changes, field):
    response = loop.ask(sample.ids[0], **changes)
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["field"] == field
    assert loop.state.introductions.list() == []


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        ('{"provider_id": "fs-000"', "application/json", 400),
        ("[1, 2]", "application/json", 400),
        ("provider_id=fs-000", "application/x-www-form-urlencoded", 415),
        ('{"provider_id": "fs-000"}', "text/plain", 415),
        ("[" * 30_000, "application/json", 400),
        (b"{" + b" " * 100_000 + b"}", "application/json", 413),
    ],
)
def test_the_body_must_be_a_json_object(client, data, content_type, status):
    response = client.post("/api/v1/introductions", data=data, content_type=content_type)
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"


@pytest.mark.parametrize("name", ["=?utf-8?q?Sam=0D=0AContent-Type:_text/html=0D=0ABcc:_list@victim.example?=",
                                  "Zoë (club) \"Z\" O'Neill ?= 😀"])
def test_awkward_names_are_sent_as_typed_and_reach_no_header(loop, sample, name):
    assert loop.ask(sample.ids[0], name=name, message="Line one\rline two\r\n.\nFrom me\t!").status_code == 202
    for message in loop.deliver():
        assert {k.lower() for k in message.keys()} == {"subject", "from", "to", "date", "message-id", "mime-version",
                                                       "content-type", "x-findsupport-introduction", "x-findsupport-kind"}
        assert name in text(message)


# ---------------------------------------------------------------------------------------------- limits and workers
def test_the_introductions_limit_holds_under_parallel_requests_and_across_workers(tmp_path, cache_dir, directory, sample,
                                                                                  ranker, database_url):
    from concurrent.futures import ThreadPoolExecutor

    first = make_loop(tmp_path, cache_dir, directory, sample, ranker, database_url, rate_limits="introductions=5/hour")
    # Providers with room, each asked by a different coach: only the limit can refuse.
    roomy = [pid for k, pid in enumerate(sample.ids[:36]) if k % 4 != 3][:24]
    start = threading.Barrier(len(roomy))

    def post(k: int) -> int:
        client = first.app.test_client()
        start.wait()
        return client.post("/api/v1/introductions", json={"provider_id": roomy[k], **COACH, "email": f"c{k}@coach.example"},
                           environ_base={"REMOTE_ADDR": "198.51.100.7"}).status_code

    try:
        with ThreadPoolExecutor(len(roomy)) as pool:
            statuses = list(pool.map(post, range(len(roomy))))
        assert sorted(statuses) == [202] * 5 + [429] * (len(roomy) - 5)
        assert len(first.state.introductions.list()) == 5
        from findsupport.web import create_app

        twin = create_app(first.state.settings, engine=first.state.engine, background=False)  # a second worker
        set_clock(twin, first.clock)
        limited = twin.test_client().post("/api/v1/introductions", json={"provider_id": roomy[0], **COACH},
                                          environ_base={"REMOTE_ADDR": "198.51.100.7"})
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 3000
        other = twin.test_client().post("/api/v1/introductions", json={"provider_id": roomy[0], **COACH},
                                        environ_base={"REMOTE_ADDR": "198.51.100.8"})
        assert other.status_code == 202, "the limit is per client"
        twin.extensions["findsupport"].close()
        with first.store.engine.connect() as conn:
            stored = " ".join(str(v) for row in conn.exec_driver_sql("SELECT * FROM introduction_requests") for v in row)
        assert "198.51.100" not in stored, "only a keyed hash of the address is stored"
    finally:
        first.state.close()


def test_the_link_pages_are_rate_limited(tmp_path, cache_dir, directory, sample, ranker, database_url):
    limited = make_loop(tmp_path, cache_dir, directory, sample, ranker, database_url, rate_limits="links=3/minute")
    try:
        statuses = [limited.client.get("/respond/nope").status_code for _ in range(4)]
        assert statuses == [404, 404, 404, 429]
    finally:
        limited.state.close()


def test_the_background_worker_delivers_without_being_asked(tmp_path, cache_dir, directory, sample, ranker, database_url):
    made = make_loop(tmp_path, cache_dir, directory, sample, ranker, database_url)
    made.state.background = True
    try:
        made.ask(sample.ids[2])  # the request wakes the worker
        for _ in range(100):
            if len(list(made.outbox.glob("*.eml"))) == 2:
                break
            threading.Event().wait(0.05)
    finally:
        made.state.close()
    assert len(list(made.outbox.glob("*.eml"))) == 2


class _SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP to accept messages (a real socket conversation, no mocks)."""

    def handle(self) -> None:
        self.wfile.write(b"220 test ESMTP\r\n")
        data, in_data = [], False
        for raw_line in self.rfile:
            line = raw_line.decode("utf-8", "replace")
            if in_data:
                if line in (".\r\n", ".\n"):
                    in_data = False
                    self.server.messages.append("".join(data))  # type: ignore[attr-defined]
                    data = []
                    self.wfile.write(b"250 queued\r\n")
                else:
                    data.append(line)
                continue
            verb = line[:4].upper()
            if verb == "EHLO":
                self.wfile.write(b"250-test\r\n250 8BITMIME\r\n")
            elif verb == "DATA":
                in_data = True
                self.wfile.write(b"354 go on\r\n")
            elif verb == "QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.server.envelope.append(line.strip())  # type: ignore[attr-defined]
                self.wfile.write(b"250 ok\r\n")


def test_smtp_delivery(tmp_path, cache_dir, directory, sample, ranker, database_url):
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SmtpHandler)
    server.messages, server.envelope = [], []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    made = make_loop(tmp_path, cache_dir, directory, sample, ranker, database_url, smtp_host="127.0.0.1",
                     smtp_port=server.server_address[1], smtp_starttls=False, mail_from="finder@club.example")
    try:
        assert made.ask(sample.ids[3 + 1]).status_code == 202
        made.deliver()
    finally:
        made.state.close()
        server.shutdown()
        server.server_close()
    envelope = [line.upper() for line in server.envelope]
    assert "RCPT TO:<PRIVATE-4@PROVIDER.INVALID>" in envelope and "RCPT TO:<ROBIN@COACH.EXAMPLE>" in envelope
    assert any(line.startswith("MAIL FROM:<FINDER@CLUB.EXAMPLE>") for line in envelope)
    assert len(server.messages) == 2
    assert not made.outbox.exists() or not list(made.outbox.glob("*.eml")), "with SMTP nothing is written to the folder"


def test_link_problems_have_the_problem_shape(loop, sample):
    """JSON problems for API clients, pages with the same detail for browsers; never a form."""
    from .schemas import check_schema

    loop.ask(sample.ids[0])
    respond = path_of(one(loop.deliver(), "request"), "/respond/")
    page = loop.client.get(respond).get_data(as_text=True)
    loop.client.post(respond, data={"csrf_token": csrf(page), "answer": "decline"})

    def both(method: str, path: str, **kwargs):
        return (loop.client.open(path, method=method, **kwargs),
                loop.client.open(path, method=method, headers=HTML, **kwargs))

    answers = {404: both("GET", "/respond/forged"), 409: both("GET", respond), 400: both("POST", "/manage", data={})}
    loop.clock.advance(days=9)
    answers[410] = both("GET", respond)
    for status, (as_json, as_html) in answers.items():
        assert as_json.status_code == as_html.status_code == status
        assert as_json.mimetype == "application/problem+json" and as_html.mimetype == "text/html"
        body = as_json.get_json()
        check_schema(body, "Problem")
        assert body["status"] == status and body["title"] and body["detail"]
        assert body["detail"].replace("'", "&#39;") in as_html.get_data(as_text=True)
        assert_no_form(as_html)
        assert loop.client.get(body["type"]).status_code == 200, "the type names a page that explains it"

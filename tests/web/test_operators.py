"""Operator pages behind sign-in: who gets in (only listed operators, by a one-time link or trusted SSO), what they see.

Sign-in links are read back from the ``.eml`` files the real outbox folder
writes and followed with the test client.  The app runs on plain
``http://localhost``, so the session cookie is not ``Secure`` there (a browser
would never send it back over http); one test runs on an https public URL and
checks that it is.
"""

from __future__ import annotations

import email
import re
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from findsupport.catalog import CatalogStore, import_file, places
from findsupport.introductions.tables import introduction_requests
from findsupport.search.engine import Engine, Snapshot, load_serving_ranker
from findsupport.web import create_app
from findsupport.web.operators import COVERAGE_KEY, SIGN_IN_KIND, SIGN_IN_SUBJECT

from .conftest import make_app, web_settings

OPERATOR = "ops@findsupport.example"
SECOND_OPERATOR = "lead@findsupport.example"
OPERATORS = f"{OPERATOR}, {SECOND_OPERATOR}"
OUTSIDER = "coach@elsewhere.example"
PUBLIC_URL = "http://localhost"
HTML = {"Accept": "text/html"}
_LINK = re.compile(re.escape(PUBLIC_URL) + r"(/operator/sign-in/[A-Za-z0-9._-]+)")

#: Every operator endpoint but sign-in itself: (method, path, kind).
PAGES = ("/operator/", "/operator/introductions", "/operator/attention", "/operator/coverage")
APIS = ("/operator/api/introductions", "/operator/api/attention", "/operator/api/coverage")
ENDPOINTS = [("GET", path, "page") for path in PAGES] + [("GET", path, "api") for path in APIS] + [
    ("POST", "/operator/sign-out", "post")]


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def operator_app(web_data_dir, cache_dir, web_engine, tmp_path, database_url, **overrides) -> Flask:
    values = {"operator_emails": OPERATORS, "public_url": PUBLIC_URL, **overrides}
    app = make_app(web_data_dir, cache_dir, web_engine, tmp_path, database_url=database_url, **values)
    app.testing = True
    no_outlines(app, tmp_path)
    return app


def no_outlines(app: Flask, tmp_path: Path) -> None:
    """Look for the district outlines where there are none (whatever other tests cached)."""
    app.extensions[COVERAGE_KEY].cache_dir = tmp_path / "no-outlines"


@pytest.fixture
def app(web_data_dir, cache_dir, web_engine, tmp_path, database_url):
    application = operator_app(web_data_dir, cache_dir, web_engine, tmp_path, database_url)
    yield application
    application.extensions["findsupport"].close()


def csrf(page_html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page_html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def outbox(tmp_path: Path) -> list[EmailMessage]:
    folder = tmp_path / "outbox"
    files = sorted(folder.glob("*.eml")) if folder.exists() else []
    return [email.message_from_bytes(path.read_bytes(), policy=policy.default) for path in files]


def ask_for_link(client: FlaskClient, address: str):
    token = csrf(client.get("/operator/sign-in").get_data(as_text=True))
    return client.post("/operator/sign-in", data={"email": address, "csrf_token": token})


def link_path(tmp_path: Path, address: str = OPERATOR) -> str:
    """The path of the newest sign-in link e-mailed to ``address``."""
    sent = [m for m in outbox(tmp_path) if m["To"] == address]
    assert sent, "no sign-in e-mail"
    text = sent[-1].get_body(("plain",)).get_content()
    found = _LINK.findall(text)
    assert len(found) == 1, text
    return found[0]


def follow(client: FlaskClient, path: str):
    """Open a sign-in link and press its button."""
    page = client.get(path)
    assert page.status_code == 200, page.get_data(as_text=True)
    return client.post(path, data={"csrf_token": csrf(page.get_data(as_text=True))})


def sign_in(client: FlaskClient, tmp_path: Path, address: str = OPERATOR):
    assert ask_for_link(client, address).status_code == 200
    answer = follow(client, link_path(tmp_path, address))
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/operator/")
    return answer


def assert_refused(client: FlaskClient, method: str, path: str, kind: str, **kwargs) -> None:
    """Nobody but an operator: pages go to sign-in, JSON is a 401 problem, a POST is a 403 problem."""
    answer = client.open(path, method=method, **kwargs)
    body = answer.get_data(as_text=True)
    if kind == "page":
        assert answer.status_code == 303, body
        assert answer.headers["Location"].endswith("/operator/sign-in")
    else:
        assert answer.status_code == (401 if kind == "api" else 403), body
        assert answer.mimetype == "application/problem+json"
        assert answer.get_json()["status"] == answer.status_code
    assert answer.headers["Cache-Control"] == "no-store"
    assert "Signed in as" not in body


# ---------------------------------------------------------------------------------------------- refusals
@pytest.mark.parametrize("method,path,kind", ENDPOINTS)
def test_anonymous_clients_are_refused_everywhere(app, method, path, kind):
    assert_refused(app.test_client(), method, path, kind)


@pytest.mark.parametrize("method,path,kind", ENDPOINTS + [("GET", "/operator/sign-in", "page"),
                                                          ("POST", "/operator/sign-in", "post")])
def test_without_listed_operators_there_are_no_operator_pages(web_data_dir, cache_dir, web_engine, tmp_path,
                                                              database_url, method, path, kind):
    app = operator_app(web_data_dir, cache_dir, web_engine, tmp_path, database_url, operator_emails="")
    try:
        answer = app.test_client().open(path, method=method)
        assert answer.status_code == 404
    finally:
        app.extensions["findsupport"].close()


@pytest.mark.parametrize("cookie", ["", "not-a-session", "eyJhIjoxfQ.Zz1234.forged-signature"])
@pytest.mark.parametrize("method,path,kind", ENDPOINTS)
def test_forged_session_cookies_are_refused(app, cookie, method, path, kind):
    client = app.test_client()
    client.set_cookie("findsupport_operator", cookie, path="/operator")
    assert_refused(client, method, path, kind)


def test_a_non_operator_address_gets_no_link_and_no_way_in(app, tmp_path):
    client = app.test_client()
    assert ask_for_link(client, OUTSIDER).status_code == 200
    assert outbox(tmp_path) == []
    for method, path, kind in ENDPOINTS:
        assert_refused(client, method, path, kind)


def test_the_sign_in_answer_is_the_same_for_listed_unlisted_and_malformed_addresses(app, tmp_path):
    answers = [ask_for_link(app.test_client(), address)
               for address in (OPERATOR, OPERATOR.upper(), OUTSIDER, "not an address", "")]
    assert {a.status_code for a in answers} == {200}
    assert len({a.get_data() for a in answers}) == 1
    assert all("set-cookie" not in a.headers for a in answers)
    assert "If that address is an operator" in answers[0].get_data(as_text=True)
    assert [m["To"] for m in outbox(tmp_path)] == [OPERATOR, OPERATOR]


def test_the_sign_in_form_needs_its_csrf_token(app, tmp_path):
    answer = app.test_client().post("/operator/sign-in", data={"email": OPERATOR}, headers=HTML)
    assert answer.status_code == 403
    assert outbox(tmp_path) == []


def test_sign_in_requests_are_rate_limited_alike_for_everyone(web_data_dir, cache_dir, web_engine, tmp_path, database_url):
    app = operator_app(web_data_dir, cache_dir, web_engine, tmp_path, database_url,
                       rate_limits="operator_sign_in=2/hour")
    try:
        client = app.test_client()
        statuses = [ask_for_link(client, address).status_code for address in (OUTSIDER, OPERATOR, OPERATOR)]
        assert statuses == [200, 200, 429]
        assert len(outbox(tmp_path)) == 1
    finally:
        app.extensions["findsupport"].close()


# ---------------------------------------------------------------------------------------------- the link
def test_the_walk_from_outbox_to_pages_and_out(app, tmp_path):
    client = app.test_client()
    assert ask_for_link(client, OPERATOR).status_code == 200
    [message] = outbox(tmp_path)
    assert message["Subject"] == SIGN_IN_SUBJECT and message["X-Findsupport-Kind"] == SIGN_IN_KIND
    assert message.get_body(("html",)) is not None
    path = link_path(tmp_path)
    # Opening the link (a mail scanner does) spends nothing and signs nobody in.
    for _ in range(2):
        opened = client.get(path)
        assert opened.status_code == 200 and "set-cookie" not in opened.headers
        assert opened.headers["Referrer-Policy"] == "no-referrer"
    assert_refused(client, "GET", "/operator/", "page")
    answer = follow(client, path)
    assert answer.status_code == 303
    home = client.get("/operator/")
    assert home.status_code == 200 and f"Signed in as {OPERATOR}" in home.get_data(as_text=True)
    for path_ in PAGES:
        assert client.get(path_).status_code == 200, path_
    assert client.get("/operator/api/introductions").get_json()["requests"] >= 0
    # Signing out ends the session: the same cookie, replayed, opens nothing.
    cookie = client.get_cookie("findsupport_operator", path="/operator").value
    out = client.post("/operator/sign-out", data={"csrf_token": csrf(home.get_data(as_text=True))})
    assert out.status_code == 200
    assert_refused(client, "GET", "/operator/", "page")
    thief = app.test_client()
    thief.set_cookie("findsupport_operator", cookie, path="/operator")
    assert_refused(thief, "GET", "/operator/api/attention", "api")


def test_session_cookie_flags_on_http(app, tmp_path):
    header = sign_in(app.test_client(), tmp_path).headers["Set-Cookie"]
    assert header.startswith("findsupport_operator=")
    flags = {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}
    assert {"httponly", "path", "max-age", "samesite"} <= flags and "secure" not in flags
    assert "SameSite=Strict" in header and "Path=/operator" in header
    assert f"Max-Age={8 * 3600}" in header


def test_session_cookie_is_secure_on_https(web_data_dir, cache_dir, web_engine, tmp_path, database_url):
    global_link = re.compile(r"https://find\.example(/operator/sign-in/[A-Za-z0-9._-]+)")
    app = operator_app(web_data_dir, cache_dir, web_engine, tmp_path, database_url, public_url="https://find.example")
    try:
        client = app.test_client()
        ask_for_link(client, OPERATOR)
        [path] = global_link.findall(outbox(tmp_path)[0].get_body(("plain",)).get_content())
        page = client.get(path, base_url="https://find.example")
        answer = client.post(path, base_url="https://find.example", data={"csrf_token": csrf(page.get_data(as_text=True))})
        header = answer.headers["Set-Cookie"]
        assert header.startswith("__Secure-findsupport_operator=")
        assert "Secure" in header and "HttpOnly" in header and "SameSite=Strict" in header
        assert client.get("/operator/", base_url="https://find.example").status_code == 200
    finally:
        app.extensions["findsupport"].close()


def test_a_forged_link_is_a_404_page_never_a_form(app, tmp_path):
    client = app.test_client()
    ask_for_link(client, OPERATOR)
    path = link_path(tmp_path)
    head, _, signature = path.rpartition(".")
    forged = head + "." + ("A" if signature[0] != "A" else "B") + signature[1:]
    for attempt in (forged, "/operator/sign-in/not-a-token", "/operator/sign-in/" + "x" * 500):
        page = client.get(attempt, headers=HTML)
        assert page.status_code == 404 and "<form" not in page.get_data(as_text=True).split("</header>")[1]
        assert client.post(attempt, data={"csrf_token": "x"}).status_code in (403, 404)
        assert "set-cookie" not in page.headers
    assert_refused(client, "GET", "/operator/", "page")


def test_a_link_made_with_another_purpose_or_secret_does_not_sign_in(app):
    service = app.extensions["findsupport"].introductions
    manage_token = service.manage_link(OPERATOR).rsplit("/", 1)[-1]
    client = app.test_client()
    assert client.get(f"/operator/sign-in/{manage_token}").status_code == 404
    from itsdangerous import URLSafeTimedSerializer

    foreign = URLSafeTimedSerializer("not our secret", salt="findsupport.operators.sign-in-link").dumps(
        {"e": OPERATOR, "j": "0" * 32})
    assert client.get(f"/operator/sign-in/{foreign}").status_code == 404


def test_an_expired_link_is_a_410(app, tmp_path):
    client = app.test_client()
    ask_for_link(client, OPERATOR)
    path = link_path(tmp_path)
    page = client.get(path)
    access = app.extensions["findsupport.operators"]
    access.clock = Clock(datetime.now(UTC) + timedelta(minutes=16))
    assert client.get(path).status_code == 410
    assert client.post(path, data={"csrf_token": csrf(page.get_data(as_text=True))}).status_code == 410
    assert "set-cookie" not in client.get(path).headers


def test_a_replayed_link_is_a_409_and_signs_nobody_in(app, tmp_path):
    first = app.test_client()
    ask_for_link(first, OPERATOR)
    path = link_path(tmp_path)
    page = first.get(path)
    token = csrf(page.get_data(as_text=True))
    assert first.post(path, data={"csrf_token": token}).status_code == 303
    second = app.test_client()
    assert second.get(path).status_code == 409
    replay = second.post(path, data={"csrf_token": token})
    assert replay.status_code == 409 and "set-cookie" not in replay.headers
    assert_refused(second, "GET", "/operator/", "page")


def test_a_valid_link_for_a_removed_operator_is_refused(web_data_dir, cache_dir, web_engine, tmp_path, database_url, app):
    ask_for_link(app.test_client(), SECOND_OPERATOR)
    path = link_path(tmp_path, SECOND_OPERATOR)
    # The same database (and keys), after the settings dropped the second operator.
    later = operator_app(web_data_dir, cache_dir, web_engine, tmp_path, database_url, operator_emails=OPERATOR)
    try:
        client = later.test_client()
        assert client.get(path).status_code == 404
        assert client.post(path, data={"csrf_token": "x"}).status_code in (403, 404)
        assert_refused(client, "GET", "/operator/", "page")
        # And a session made before the removal stops working too.
        signed = app.test_client()
        sign_in(signed, tmp_path, OPERATOR)
        other = app.test_client()
        ask_for_link(other, SECOND_OPERATOR)
        follow(other, link_path(tmp_path, SECOND_OPERATOR))
        assert other.get("/operator/").status_code == 200
        cookie = other.get_cookie("findsupport_operator", path="/operator").value
        moved = later.test_client()
        moved.set_cookie("findsupport_operator", cookie, path="/operator")
        assert_refused(moved, "GET", "/operator/api/introductions", "api")
    finally:
        later.extensions["findsupport"].close()


def test_a_session_ends_after_its_lifetime(app, tmp_path):
    client = app.test_client()
    sign_in(client, tmp_path)
    assert client.get("/operator/").status_code == 200
    app.extensions["findsupport.operators"].clock = Clock(datetime.now(UTC) + timedelta(hours=8, minutes=1))
    assert_refused(client, "GET", "/operator/", "page")


# ---------------------------------------------------------------------------------------------- CSRF
def test_a_stolen_cookie_without_the_csrf_token_changes_nothing(app, tmp_path):
    victim = app.test_client()
    sign_in(victim, tmp_path)
    cookie = victim.get_cookie("findsupport_operator", path="/operator").value
    thief = app.test_client()
    thief.set_cookie("findsupport_operator", cookie, path="/operator")
    assert thief.post("/operator/sign-out").status_code == 403
    assert thief.post("/operator/sign-out", data={"csrf_token": "forged"}).status_code == 403
    # A form token of another session is no good either.
    other = app.test_client()
    sign_in(other, tmp_path, SECOND_OPERATOR)
    foreign = csrf(other.get("/operator/").get_data(as_text=True))
    answer = thief.post("/operator/sign-out", data={"csrf_token": foreign})
    assert answer.status_code == 403 and answer.mimetype == "application/problem+json"
    assert victim.get("/operator/").status_code == 200  # still signed in: nothing changed


# ---------------------------------------------------------------------------------------------- single sign-on
@pytest.mark.parametrize("trust_proxy,user,allowed", [
    (False, OPERATOR, False),
    (True, OUTSIDER, False),
    (True, "", False),
    (True, f"{OPERATOR}, {OUTSIDER}", False),
    (True, OPERATOR.upper(), True),
])
def test_the_sso_header_only_behind_a_trusted_proxy_and_only_for_listed_operators(
        web_data_dir, cache_dir, web_engine, tmp_path, database_url, trust_proxy, user, allowed):
    app = operator_app(web_data_dir, cache_dir, web_engine, tmp_path, database_url,
                       operator_sso_header="X-Remote-User", trust_proxy=trust_proxy)
    try:
        client = app.test_client()
        headers = {"X-Remote-User": user}
        for method, path, kind in ENDPOINTS:
            if allowed and method == "GET":
                answer = client.get(path, headers=headers)
                assert answer.status_code == (503 if path.endswith("/coverage") and "/api/" in path else 200), path
            else:
                assert_refused(client, method, path, kind, headers=headers)
    finally:
        app.extensions["findsupport"].close()


def test_the_sso_header_means_nothing_when_not_configured(app):
    client = app.test_client()
    for method, path, kind in ENDPOINTS:
        assert_refused(client, method, path, kind, headers={"X-Remote-User": OPERATOR})


# ---------------------------------------------------------------------------------------------- figures
START = datetime(2026, 11, 1, 9, 0)


@pytest.fixture
def own_app(tmp_path, cache_dir, directory, sample, web_data_dir, database_url):
    """An operator app on a catalogue of its own (its introductions and places are the test's)."""
    values = {"outbox_dir": tmp_path / "outbox", "public_url": PUBLIC_URL, "operator_emails": OPERATORS,
              **({"database_url": database_url} if database_url else {})}
    settings = web_settings(tmp_path / "instance", cache_dir, **values)
    store = CatalogStore.open(settings)
    assert import_file(sample.csv_path, store, directory, settings).ok
    ranker = load_serving_ranker(web_settings(web_data_dir[0], cache_dir))
    engine = Engine(Snapshot.build(store.public_catalog(), *ranker), directory, settings=settings, store=store)
    app = create_app(settings, engine=engine, background=False)
    app.testing = True
    no_outlines(app, tmp_path)
    yield app
    app.extensions["findsupport"].close()


def _introduction(number: int, provider_id: str, state: str, sector: str, role: str, *, created: datetime,
                  answered_days: float | None = None) -> dict:
    answered = created + timedelta(days=answered_days) if answered_days is not None else None
    closed = answered if state != "pending" else None
    if state == "expired":
        closed = created + timedelta(days=7)
    return {"id": f"{number:032x}", "provider_id": provider_id, "coach_name": "Coach", "coach_email": "c@coach.example",
            "message": "hello", "state": state, "sector": sector, "role": role, "created_at": created,
            "expires_at": created + timedelta(days=7), "answered_at": answered, "closed_at": closed, "slots": "",
            "client_key": ""}


def test_the_stats_and_attention_pages_show_figures_of_a_small_hand_made_world(own_app, tmp_path, sample):
    """Hand-computed: NE: accepted in 1 day, declined in 3, expired → rate 2/3, median 2.0 days; SW: 1 pending.

    fs-010 expired three in a row and paused itself (not answering); fs-011 paused by the provider;
    fs-003 is full since import (capacity 3, 3 active coaches); every other listing was never requested.
    """
    engine = own_app.extensions["findsupport"].introductions.engine
    rows = [
        _introduction(1, "fs-001", "accepted", "NE1 4", "mentor", created=START, answered_days=1),
        _introduction(2, "fs-002", "declined", "NE2 1", "coach_developer", created=START, answered_days=3),
        _introduction(3, "fs-004", "expired", "NE3 2", "mentor", created=START),
        _introduction(4, "fs-036", "pending", "SW1A 2", "mentor", created=START + timedelta(days=20)),
    ] + [_introduction(10 + k, "fs-010", "expired", "NE4 5", "mentor", created=START + timedelta(days=k)) for k in range(3)]
    with engine.begin() as conn:
        conn.execute(sa.insert(introduction_requests), rows)
    for provider_id, when in (("fs-010", START + timedelta(days=10)), ("fs-011", START + timedelta(days=5))):
        places.ensure_row(engine, provider_id)
        with engine.begin() as conn:
            places.set_paused(conn, provider_id, True, when)
    own_app.extensions["findsupport"].introductions.clock = lambda: datetime.now(UTC) + timedelta(days=60)

    client = own_app.test_client()
    sign_in(client, tmp_path)
    figures = client.get("/operator/api/introductions").get_json()
    assert figures["requests"] == 7 and figures["answered"] == 2
    assert figures["states"]["expired"] == 4 and figures["states"]["pending"] == 1
    assert figures["response_rate"] == round(2 / 6, 3) and figures["median_response_days"] == 2.0
    assert figures["by_region"]["NE"]["response_rate"] == round(2 / 6, 3)
    assert figures["by_region"]["SW"] == {**figures["by_region"]["SW"], "requests": 1, "response_rate": None}
    assert figures["by_role"]["coach_developer"]["median_response_days"] == 3.0
    page = client.get("/operator/introductions").get_data(as_text=True)
    assert '<dd id="total-requests">7</dd>' in page
    assert '<dd id="total-rate">33%</dd>' in page and '<dd id="total-median">2.0</dd>' in page
    assert '<th scope="row">SW</th><td>1</td>' in page

    attention = client.get("/operator/api/attention").get_json()
    assert [(r["provider_id"], r["reason"]) for r in attention["paused"]] == [
        ("fs-011", "by the provider"), ("fs-010", "not answering")]
    full = {r["provider_id"] for r in attention["full_for_long"]}
    assert "fs-003" in full and not full & {"fs-001", "fs-002", "fs-004", "fs-036"}
    never = {r["provider_id"] for r in attention["never_requested"]}
    requested = {"fs-001", "fs-002", "fs-004", "fs-036", "fs-010", "fs-011"}
    assert not never & requested and not never & full
    assert never | full | requested >= set(sample.ids) - {"fs-011"}
    assert not never & set(sample.hidden_ids)
    html = client.get("/operator/attention").get_data(as_text=True)
    assert "not answering" in html and "fs-003" in html
    assert not any(address in html for address in sample.emails)
    assert not any(postcode in html for postcode in sample.postcodes)


def test_hostile_names_on_the_attention_page_are_text(own_app, tmp_path):
    client = own_app.test_client()
    sign_in(client, tmp_path)
    html = client.get("/operator/attention").get_data(as_text=True)
    assert "&lt;img src=x" in html and "<img src=x" not in html


def test_coverage_answers_503_until_the_outlines_are_cached(app, tmp_path):
    client = app.test_client()
    sign_in(client, tmp_path)
    answer = client.get("/operator/api/coverage")
    assert answer.status_code == 503 and answer.mimetype == "application/problem+json"
    assert "findsupport coverage" in answer.get_json()["detail"]
    page = client.get("/operator/coverage").get_data(as_text=True)
    assert 'id="coverage-map"' in page and "<script>" not in page and "operator-coverage" in page


def test_operator_pages_keep_the_strict_csp(app, tmp_path):
    client = app.test_client()
    sign_in(client, tmp_path)
    for path in PAGES:
        policy_ = client.get(path).headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy_ and "unsafe-inline" not in policy_


@pytest.fixture(scope="module")
def small_outlines(directory):
    from findsupport.geo.outlines import DistrictOutlines

    return DistrictOutlines.build(directory, areas=("NE", "SW"))


def test_coverage_geojson_by_district_with_small_counts_withheld(own_app, tmp_path, small_outlines):
    own_app.extensions[COVERAGE_KEY].outlines = small_outlines
    with own_app.extensions["findsupport"].introductions.engine.begin() as conn:
        conn.execute(sa.insert(introduction_requests),
                     [_introduction(1, "fs-001", "accepted", "NE1 4", "mentor", created=START, answered_days=1)])
    client = own_app.test_client()
    sign_in(client, tmp_path)
    answer = client.get("/operator/api/coverage", query_string={"role": "mentor"})
    assert answer.status_code == 200 and answer.mimetype == "application/geo+json"
    collection = answer.get_json()
    assert collection["type"] == "FeatureCollection" and collection["metadata"]["by"] == "district"
    districts = {f["properties"]["district"] for f in collection["features"]}
    assert {"NE1", "SW1A"} <= districts
    for feature in collection["features"]:
        for name in ("searches", "unmet_searches", "providers", "spare_places"):
            value = feature["properties"][name]
            assert value == "<5" or int(value) >= 5, (name, value)
    bad = client.get("/operator/api/coverage", query_string={"role": "wizard"})
    assert bad.status_code == 400 and bad.get_json()["field"] == "role"
    assert_refused(own_app.test_client(), "GET", "/operator/api/coverage", "api")

"""Introductions: validation, the same answer for every id, the outbox (.eml and SMTP), rate limits, feedback."""

from __future__ import annotations

import email
import socketserver
import threading
from email import policy
from pathlib import Path

import pytest

from findsupport.web.introductions import ACCEPTED_DETAIL, IntroductionStore
from findsupport.web.outbox import MAX_ATTEMPTS

from .conftest import make_app

COACH = {"name": "Robin Coach", "email": "robin@coach.example", "message": "Looking for help with hurdles drills.\nThanks!"}


def introduce(client, provider, **changes):
    return client.post("/api/v1/introductions", json={"provider_id": provider, **COACH, **changes})


def outbox_files(app) -> list[Path]:
    folder = app.extensions["findsupport"].settings.resolved_outbox_dir
    return sorted(folder.glob("*.eml")) if folder.exists() else []


def test_known_unknown_and_unconsented_ids_get_the_same_answer(client, app, sample):
    answers = [introduce(client, pid) for pid in (sample.ids[0], "no-such-provider", sample.hidden_ids[0])]
    assert {a.status_code for a in answers} == {202}
    assert all(a.get_json() == {"status": "accepted", "detail": ACCEPTED_DETAIL} for a in answers)
    assert len({a.get_data() for a in answers}) == 1
    outcome = app.extensions["findsupport"].outbox.deliver_due()
    assert outcome == {"sent": 1, "undeliverable": 2, "retry": 0, "failed": 0}
    files = outbox_files(app)
    assert len(files) == 1
    message = email.message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert message["To"].addresses[0].addr_spec == "private-0@provider.invalid"
    assert message["Reply-To"].addresses[0].addr_spec == COACH["email"]
    assert "Robin Coach" in message["Subject"]
    body = message.get_content()
    assert "> Looking for help with hurdles drills." in body
    # The provider's address is in the e-mail only, never in what the coach sees.
    for answer in answers:
        assert "provider.invalid" not in answer.get_data(as_text=True)


def test_delivery_happens_once_even_with_two_outboxes(client, app, sample, web_data_dir, cache_dir, web_engine, tmp_path):
    introduce(client, sample.ids[1])
    twin = make_app(web_data_dir, cache_dir, web_engine, tmp_path)  # a second worker on the same database
    try:
        first = app.extensions["findsupport"].outbox.deliver_due()
        second = twin.extensions["findsupport"].outbox.deliver_due()
    finally:
        twin.extensions["findsupport"].close()
    assert first["sent"] + second["sent"] == 1
    assert len(outbox_files(app)) == 1


def test_background_outbox_delivers_without_being_asked(web_data_dir, cache_dir, web_engine, tmp_path, sample):
    app = make_app(web_data_dir, cache_dir, web_engine, tmp_path, background=True)
    state = app.extensions["findsupport"]
    try:
        introduce(app.test_client(), sample.ids[2])  # the request starts the thread and wakes it
        for _ in range(100):
            if state.introductions.counts().get("sent"):
                break
            threading.Event().wait(0.05)
    finally:
        state.close()
    assert len(outbox_files(app)) == 1
    assert state.introductions.counts() == {"sent": 1}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": None}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "Eve\r\nBcc: victim@example.org"}, "name"),  # header injection
        ({"email": "not-an-address"}, "email"),
        ({"email": "a@b"}, "email"),
        ({"email": "robin@coach.example\nBcc: x@y.z"}, "email"),
        ({"email": 42}, "email"),
        ({"message": ""}, "message"),
        ({"message": "x" * 2001}, "message"),
        ({"provider_id": ""}, "provider_id"),
        ({"provider_id": ["fs-000"]}, "provider_id"),
        ({"search_id": 7}, "search_id"),
        ({"search_id": "s" * 101}, "search_id"),
        ({"phone": "0191"}, "phone"),  # unknown member
    ],
)
def test_invalid_introductions_are_rejected_and_not_stored(client, app, sample, changes, field):
    response = introduce(client, sample.ids[0], **changes)
    assert response.status_code == 400
    body = response.get_json()
    assert body["field"] == field
    assert app.extensions["findsupport"].introductions.counts() == {}


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        ('{"provider_id": "fs-000"', "application/json", 400),  # malformed JSON
        ("[1, 2]", "application/json", 400),  # not an object
        ("provider_id=fs-000", "application/x-www-form-urlencoded", 415),  # a cross-site form post
        ('{"provider_id": "fs-000"}', "text/plain", 415),
    ],
)
def test_body_must_be_a_json_object(client, data, content_type, status):
    response = client.post("/api/v1/introductions", data=data, content_type=content_type)
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"


def test_oversized_body_is_413(client):
    response = client.post("/api/v1/introductions", data=b"{" + b" " * 100_000 + b"}", content_type="application/json")
    assert response.status_code == 413
    assert response.get_json()["status"] == 413


def test_rate_limit_holds_across_workers(web_data_dir, cache_dir, web_engine, tmp_path, sample):
    apps = [make_app(web_data_dir, cache_dir, web_engine, tmp_path, rate_limits="introductions=2/hour") for _ in range(2)]
    try:
        clients = [a.test_client() for a in apps]
        spammer = {"REMOTE_ADDR": "198.51.100.7"}
        other = {"REMOTE_ADDR": "198.51.100.8"}
        post = lambda c, env: c.post("/api/v1/introductions", json={"provider_id": sample.ids[0], **COACH}, environ_base=env)  # noqa: E731
        assert post(clients[0], spammer).status_code == 202
        assert post(clients[1], spammer).status_code == 202
        limited = post(clients[0], spammer)
        assert limited.status_code == 429
        assert int(limited.headers["Retry-After"]) > 3000
        assert limited.get_json()["retry_after"] == int(limited.headers["Retry-After"])
        assert post(clients[1], other).status_code == 202, "the limit is per client"
        # Only a hash of the address is stored.
        with apps[0].extensions["findsupport"].introductions.db.connect() as conn:
            stored = " ".join(str(v) for row in conn.exec_driver_sql("SELECT * FROM introductions") for v in row)
        assert "198.51.100" not in stored
    finally:
        for a in apps:
            a.extensions["findsupport"].close()


def test_introduction_records_requested_feedback(client, app):
    state = app.extensions["findsupport"]
    if state.engine.feedback is None:
        pytest.fail("the engine has no feedback log attached")
    found = client.get("/api/v1/search", query_string={"postcode": "NE1 4ST", "limit": 3}).get_json()
    chosen = found["results"][0]["id"]
    assert introduce(client, chosen, search_id=found["search_id"]).status_code == 202
    session = next(s for s in state.engine.feedback.sessions() if s["search_id"] == found["search_id"])
    actions = {r["provider_id"]: r["action"] for r in session["results"]}
    assert actions[chosen] == "requested"
    # A search id that does not fit changes nothing in the answer.
    assert introduce(client, chosen, search_id="no-such-search").status_code == 202


class _SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP to accept one message (a real socket conversation, no mocks)."""

    def handle(self) -> None:
        self.wfile.write(b"220 test ESMTP\r\n")
        data, in_data = [], False
        for raw in self.rfile:
            line = raw.decode("utf-8", "replace")
            if in_data:
                if line in (".\r\n", ".\n"):
                    in_data = False
                    self.server.messages.append("".join(data))  # type: ignore[attr-defined]
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


def test_smtp_delivery(web_data_dir, cache_dir, web_engine, tmp_path, sample):
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SmtpHandler)
    server.messages, server.envelope = [], []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    app = make_app(web_data_dir, cache_dir, web_engine, tmp_path, smtp_host="127.0.0.1",
                   smtp_port=server.server_address[1], smtp_starttls=False, mail_from="finder@club.example")
    try:
        assert introduce(app.test_client(), sample.ids[3]).status_code == 202
        assert app.extensions["findsupport"].outbox.deliver_due()["sent"] == 1
    finally:
        app.extensions["findsupport"].close()
        server.shutdown()
        server.server_close()
    envelope = [line.upper() for line in server.envelope]
    assert "RCPT TO:<PRIVATE-3@PROVIDER.INVALID>" in envelope
    assert any(line.startswith("MAIL FROM:<FINDER@CLUB.EXAMPLE>") for line in envelope)
    assert "Reply-To: Robin Coach <robin@coach.example>" in server.messages[0]
    assert not outbox_files(app), "with SMTP configured nothing is written to the folder"


def test_smtp_failures_are_retried_then_marked_failed(web_data_dir, cache_dir, web_engine, tmp_path, sample):
    import socket

    with socket.socket() as s:  # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = make_app(web_data_dir, cache_dir, web_engine, tmp_path, smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False)
    state = app.extensions["findsupport"]
    try:
        introduce(app.test_client(), sample.ids[4])
        assert state.outbox.deliver_due()["retry"] == 1
        assert state.introductions.counts() == {"pending": 1}
        from datetime import timedelta

        from findsupport.web.introductions import utcnow

        for attempt in range(2, MAX_ATTEMPTS + 1):
            outcome = state.outbox.deliver_due(now=utcnow() + timedelta(days=attempt))
        assert outcome["failed"] == 1
        assert state.introductions.counts() == {"failed": 1}
    finally:
        state.close()


def test_client_hash_key_is_shared_by_every_worker(tmp_path):
    from findsupport.db import create_db_engine

    db = create_db_engine(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    a, b = IntroductionStore(db), IntroductionStore(db)
    assert a.client_key("203.0.113.9") == b.client_key("203.0.113.9") != a.client_key("203.0.113.10")


# ---------------------------------------------------------------------------------------------- issue 10: mail


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": "=?utf-8?q?Sam=0D=0AContent-Type:_text/html=0D=0ABcc:_list@victim.example?="}, "name"),
        ({"name": "Sam\u2028Bcc: list@victim.example"}, "name"),
        ({"name": "Sam\u0085Bcc: list@victim.example"}, "name"),
        ({"name": "Sam\x00"}, "name"),
        ({"name": "Sam\ud800"}, "name"),  # an unpaired surrogate, which JSON can spell
        ({"email": "josé@example.org"}, "email"),
        ({"email": "=?utf-8?q?a=0D=0ABcc=3A_x=40y.z?=@example.org"}, "email"),
        ({"email": "a..b@example.org"}, "email"),
        ({"message": "Hello\u0085there"}, "message"),
        ({"message": "Hello\u2028there"}, "message"),
        ({"message": "Hello \ud83d"}, "message"),
    ],
)
def test_what_cannot_be_sent_is_refused_at_once(client, app, sample, changes, field):
    """Never "on its way" and then not sent: a 400 naming the field, and nothing stored."""
    response = introduce(client, sample.ids[0], **changes)
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["field"] == field
    assert app.extensions["findsupport"].introductions.counts() == {}


@pytest.mark.parametrize(
    ("changes", "reply_to"),
    [
        ({"email": "bob@bücher.example"}, "bob@xn--bcher-kva.example"),
        ({"name": "Zoë (club) \"Z\" O'Neill ?= 😀", "message": "Line one\rline two\r\n.\nFrom me\t!"}, COACH["email"]),
    ],
)
def test_what_is_accepted_is_sent(client, app, sample, changes, reply_to):
    assert introduce(client, sample.ids[0], **changes).status_code == 202
    assert app.extensions["findsupport"].outbox.deliver_due()["sent"] == 1
    (eml,) = outbox_files(app)
    message = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert message["Reply-To"].addresses[0].addr_spec == reply_to
    assert {name.lower() for name in message.keys()} == {
        "subject", "from", "to", "reply-to", "date", "message-id", "x-findsupport-introduction",
        "content-type", "content-transfer-encoding", "mime-version"}


def _store_directly(state, provider_id: str, minute: int, **changes) -> str:
    """A row written past request validation (stored by an older version, or another tool)."""
    from datetime import timedelta

    from findsupport.web.introductions import IntroductionRequest, utcnow

    intro = IntroductionRequest(provider_id, changes.get("name", COACH["name"]), changes.get("email", COACH["email"]),
                                changes.get("message", COACH["message"]))
    client_key = state.introductions.client_key("192.0.2.1")
    return state.introductions.add(intro, client_key, now=utcnow() - timedelta(minutes=60 - minute))


def test_a_poisoned_introduction_does_not_stall_the_others(app, sample, caplog):
    state = app.extensions["findsupport"]
    lookup = state.outbox.contacts

    def contacts(provider_id):
        if provider_id == "fs-explodes":
            raise IndexError("list index out of range")
        return lookup(provider_id)

    state.outbox.contacts = contacts
    poisoned = [
        _store_directly(state, "fs-explodes", 0),  # the catalogue lookup raises for it
        _store_directly(state, sample.ids[0], 1, email="josé@example.org"),  # cannot be composed
        _store_directly(state, sample.ids[0], 2, name="=?utf-8?q?Sam=0D=0ABcc:_list@victim.example?="),
        _store_directly(state, sample.ids[0], 3, name="Sam\u2028Bcc: list@victim.example", message="x\x0b"),
    ]
    genuine = [_store_directly(state, sample.ids[k], 10 + k) for k in range(1, 4)]
    outcome = state.outbox.deliver_due()
    statuses = {i: state.introductions.get(i)["status"] for i in poisoned + genuine}
    assert all(statuses[i] == "sent" for i in genuine), statuses
    assert "sending" not in statuses.values(), "no claim is left behind"
    assert statuses[poisoned[0]] == "pending" and outcome["retry"] == 1  # retried, with the attempt cap
    assert statuses[poisoned[1]] == statuses[poisoned[3]] == "undeliverable"
    assert statuses[poisoned[2]] == "sent", "an encoded-word name is sent, without it in any header"
    for eml in outbox_files(app):
        headers = {name.lower() for name in email.message_from_bytes(eml.read_bytes(), policy=policy.default).keys()}
        assert "bcc" not in headers
    # Log lines name introductions by id only.
    assert "josé" not in caplog.text and "@" not in caplog.text
    from datetime import timedelta

    from findsupport.web.introductions import utcnow

    for day in range(1, MAX_ATTEMPTS + 2):
        state.outbox.deliver_due(now=utcnow() + timedelta(days=day))
    assert state.introductions.get(poisoned[0])["status"] == "failed"
    assert state.introductions.get(poisoned[0])["attempts"] == MAX_ATTEMPTS


def test_abandoned_claims_count_towards_the_attempt_cap(app, sample):
    """A row whose worker died mid-delivery MAX_ATTEMPTS times is failed, not claimed forever."""
    import sqlalchemy as sa

    from findsupport.web.introductions import introductions_table, utcnow
    from findsupport.web.outbox import STALE_CLAIM

    state = app.extensions["findsupport"]
    stuck = _store_directly(state, sample.ids[0], 0)
    retried = _store_directly(state, sample.ids[1], 1)
    long_ago = utcnow() - 2 * STALE_CLAIM
    with state.introductions.db.begin() as conn:
        for introduction_id, attempts in ((stuck, MAX_ATTEMPTS), (retried, MAX_ATTEMPTS - 1)):
            conn.execute(sa.update(introductions_table).where(introductions_table.c.id == introduction_id)
                         .values(status="sending", attempts=attempts, claimed_at=long_ago))
    outcome = state.outbox.deliver_due()
    assert state.introductions.get(stuck)["status"] == "failed"
    assert state.introductions.get(retried)["status"] == "sent"
    assert outcome["sent"] == 1
    assert len(outbox_files(app)) == 1


def test_deeply_nested_json_is_a_400(client, app):
    for body in ("[" * 30_000, '{"name": ' + "[" * 30_000, "[" * 15_000 + "]" * 15_000):
        response = client.post("/api/v1/introductions", data=body, content_type="application/json")
        assert response.status_code == 400, response.get_data(as_text=True)[:200]
        assert response.mimetype == "application/problem+json"
        assert response.get_json()["field"] == "body"
    assert app.extensions["findsupport"].introductions.counts() == {}


def test_the_introductions_limit_holds_under_parallel_requests(web_data_dir, cache_dir, web_engine, tmp_path, sample):
    """30 requests at once from one client against 5 an hour: exactly 5 are accepted."""
    from concurrent.futures import ThreadPoolExecutor

    app = make_app(web_data_dir, cache_dir, web_engine, tmp_path, rate_limits="introductions=5/hour")
    start = threading.Barrier(30)

    def post(k: int) -> int:
        client = app.test_client()
        start.wait()
        return client.post("/api/v1/introductions", json={"provider_id": sample.ids[k % 5], **COACH},
                           environ_base={"REMOTE_ADDR": "198.51.100.7"}).status_code

    try:
        with ThreadPoolExecutor(30) as pool:
            statuses = list(pool.map(post, range(30)))
        assert sorted(statuses) == [202] * 5 + [429] * 25
        assert app.extensions["findsupport"].introductions.counts() == {"pending": 5}
    finally:
        app.extensions["findsupport"].close()

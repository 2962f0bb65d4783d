"""E-mail composition: exactly the headers the server sets and one text part, whatever the coach typed.

The e-mails are checked as a receiver sees them: the bytes are parsed back
with ``email.message_from_bytes(..., policy=policy.default)``.
"""

from __future__ import annotations

import email
from dataclasses import dataclass
from datetime import datetime
from email import policy

import pytest
from hypothesis import HealthCheck, event, given, settings as hsettings
from hypothesis import strategies as st

from findsupport.config import load_settings
from findsupport.errors import InvalidInput
from findsupport.web.introductions import parse_introduction
from findsupport.web.mail import ComposeError, compose_introduction, header_text, normalise_address

#: Every header an introduction e-mail carries: the ones the outbox sets and the MIME ones of one text part.
EXPECTED_HEADERS = sorted(
    ["subject", "from", "to", "reply-to", "date", "message-id", "x-findsupport-introduction",
     "content-type", "content-transfer-encoding", "mime-version"]
)
#: The payload of issue 10: on Python 3.11.7 it produced real Content-Type and Bcc headers.
ENCODED_WORD_NAME = "=?utf-8?q?Sam=0D=0AContent-Type:_text/html=0D=0ABcc:_list@victim.example?="
HOSTILE_NAMES = [
    ENCODED_WORD_NAME,
    "=?utf-8?b?U2FtDQpCY2M6IGxpc3RAdmljdGltLmV4YW1wbGU=?=",  # the same in base64
    '"=?utf-8?q?Sam=0ABcc:_x@victim.example?=" <x@y.z>',
    "Sam\r\nBcc: list@victim.example",
    "Sam\u2028Bcc: list@victim.example",
    "Sam\u0085Bcc: list@victim.example",
    "Sam\x00Bcc",
    "Sam\ud800",
]
#: Pieces hostile text is built from: encoded-word syntax, every line break Python knows, NUL, quotes.
HOSTILE_PIECES = ["=?", "?=", "=?utf-8?q?", "=0D=0A", "\r", "\n", "\r\n", "\u2028", "\u2029", "\u0085", "\x00",
                  "\x0b", "\x0c", "\x1c", "\t", '"', "\\", "(", ")", "<", ">", ",", ";", ":", "@", " ", "Bcc: x@y.z",
                  "Content-Type: text/html", "é", "José", "\u202e", "\ufeff", "\ud800", "😀", "."]

hostile_text = st.lists(st.one_of(st.sampled_from(HOSTILE_PIECES), st.text(max_size=5)), max_size=12).map("".join)
#: Awkward text a request may well be allowed to carry: quotes, brackets, "?=", accents, emoji, bidi marks, U+FEFF.
_PRINTABLE = st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"))
awkward_text = st.lists(
    st.one_of(st.sampled_from([p for p in HOSTILE_PIECES if p != "=?" and header_text(p) == p]), st.text(_PRINTABLE, max_size=6)),
    min_size=1, max_size=10,
).map("".join)
#: A message body may also hold tabs and line breaks (CR, LF); U+2028/U+2029 make the request a 400.
awkward_message = st.lists(st.one_of(awkward_text, st.sampled_from(["\n", "\r\n", "\r", "\t", "\u2028", ".", "\n.\n", "From me"])),
                           min_size=1, max_size=12).map("".join)


@dataclass(frozen=True)
class Provider:
    name: str = "Sam Provider"
    email: str = "private-0@provider.invalid"


SETTINGS = load_settings({"mail_from": "finder@club.example", "public_url": "https://finder.example"}, environ={})


def stored(**changes) -> dict:
    """An ``introductions`` row as the outbox reads it."""
    return {"id": "0123456789abcdef0123456789abcdef", "created_at": datetime(2026, 1, 5, 9, 30), "provider_id": "fs-000",
            "coach_name": "Robin Coach", "coach_email": "robin@coach.example", "message": "Hello.\nThanks!",
            "attempts": 1, **changes}


def received(message) -> email.message.EmailMessage:
    """What a receiver parses from each way the message is serialised (as smtplib sends it, as the folder stores it)."""
    wire = [message.as_bytes(policy=policy.SMTP), bytes(message)]
    parsed = [email.message_from_bytes(data, policy=policy.default) for data in wire]
    for each in parsed:
        assert sorted(name.lower() for name in each.keys()) == EXPECTED_HEADERS
        assert not each.is_multipart() and each.get_content_type() == "text/plain"
        assert not any(part is not each for part in each.walk()), "exactly one text part"
    return parsed[0]


def test_a_plain_introduction_carries_the_names():
    message = received(compose_introduction(stored(), Provider(), SETTINGS))
    assert str(message["Subject"]) == "Introduction request from Robin Coach (findsupport)"
    assert message["Reply-To"].addresses[0].display_name == "Robin Coach"
    assert message["Reply-To"].addresses[0].addr_spec == "robin@coach.example"
    assert message["To"].addresses[0].display_name == "Sam Provider"
    assert "> Hello." in message.get_content()


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_hostile_stored_name_adds_no_header(name):
    """Rows stored before names were checked (or by any other path) still make a safe e-mail, or none."""
    try:
        message = compose_introduction(stored(coach_name=name), Provider(name=name), SETTINGS)
    except ComposeError:
        return  # not sent at all is safe too
    parsed = received(message)
    assert parsed["Reply-To"].addresses[0].addr_spec == "robin@coach.example"
    assert parsed["To"].addresses[0].addr_spec == "private-0@provider.invalid"
    assert "victim" not in str(parsed["Subject"]) + str(parsed["Reply-To"]) + str(parsed["To"])


def test_an_encoded_word_name_stays_in_the_body_only():
    parsed = received(compose_introduction(stored(coach_name=ENCODED_WORD_NAME), Provider(), SETTINGS))
    assert str(parsed["Subject"]) == "Introduction request (findsupport)"
    assert parsed["Reply-To"].addresses[0].display_name == ""
    assert ENCODED_WORD_NAME in parsed.get_content(), "the body says literally what the coach typed"


@given(name=hostile_text, provider_name=hostile_text, message=hostile_text, local=hostile_text)
@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_stored_row_makes_an_exact_email_or_none(name, provider_name, message, local):
    """Whatever a row holds, composing gives exactly our headers and one text part, or ComposeError."""
    row = stored(coach_name=name, message=message, coach_email=f"{local}@coach.example")
    try:
        composed = compose_introduction(row, Provider(name=provider_name), SETTINGS)
    except ComposeError:
        return
    parsed = received(composed)
    assert parsed["Reply-To"].addresses[0].addr_spec == row["coach_email"]


emails = st.one_of(
    st.emails(),
    st.builds(lambda local, domain: f"{local}@{domain}", hostile_text, st.sampled_from(["example.org", "bücher.example", "x"])),
    st.sampled_from(["josé@example.org", "sam@exämple.org", "a..b@example.org", ".a@example.org", "=?utf-8?q?a?=@example.org",
                     "sam@example.org\u2028", "sam@-bad-.example", "sam@[127.0.0.1]", "\"sam\"@example.org"]),
)


def check_accepted_requests_can_be_sent(name: str, address: str, message: str) -> None:
    """Anything answered 202 composes and serialises (bytes(), and policy=SMTP as smtplib would)."""
    body = {"provider_id": "fs-000", "name": name, "email": address, "message": message}
    try:
        intro = parse_introduction(body, SETTINGS)
    except InvalidInput as exc:
        assert exc.extra["field"] in {"name", "email", "message"}
        event(f"refused: {exc.extra['field']}")
        return
    event("accepted")
    row = stored(coach_name=intro.name, coach_email=intro.email, message=intro.message)
    parsed = received(compose_introduction(row, Provider(), SETTINGS))
    assert parsed["Reply-To"].addresses[0].addr_spec == intro.email
    assert intro.email.isascii()


@given(name=st.one_of(awkward_text, hostile_text, st.sampled_from(HOSTILE_NAMES)),
       address=st.one_of(st.emails(), emails), message=st.one_of(awkward_message, hostile_text))
@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_accepted_request_can_be_sent(name, address, message):
    check_accepted_requests_can_be_sent(name, address, message)


@given(name=awkward_text, address=st.emails(), message=awkward_message)
@hsettings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_accepted_awkward_request_can_be_sent(name, address, message):
    """The same, on text that is mostly accepted (quotes, brackets, accents, emoji, every line break in a message)."""
    check_accepted_requests_can_be_sent(name, address, message)


@pytest.mark.parametrize(
    ("typed", "stored_as"),
    [("sam@example.org", "sam@example.org"), ("Sam.O'Neill+club@Example.ORG", "Sam.O'Neill+club@Example.ORG"),
     ("bob@bücher.example", "bob@xn--bcher-kva.example"), ("bob@example.org.", "bob@example.org")],
)
def test_addresses_are_stored_in_ascii(typed, stored_as):
    assert normalise_address(typed) == stored_as


@pytest.mark.parametrize("typed", ["josé@example.org", "a..b@example.org", "sam@x", "sam@", "@example.org",
                                   "=?utf-8?q?a?=@example.org", "sam@exa mple.org", "sam@-x.example",
                                   "sam@example.org.."])
def test_addresses_that_cannot_be_sent_are_refused(typed):
    with pytest.raises(InvalidInput):
        normalise_address(typed)


@pytest.mark.parametrize(("text", "plain"), [("Zoë O'Neill", True), ("=?x?=", False), ("a\u2028b", False), ("a\tb", False)])
def test_header_text(text, plain):
    assert (header_text(text) == text) is plain

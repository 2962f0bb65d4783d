"""Safe mail (issue 10), on the introduction loop: whatever a person types, an e-mail carries exactly our headers.

Moved here from ``tests/web/test_mail.py`` when ``findsupport/web/mail.py`` was
folded into this package: the rules now live once, in
:mod:`findsupport.introductions.validation` (what may be stored),
:mod:`~findsupport.introductions.addresses` (what may reach a header) and
:mod:`~findsupport.introductions.messages` (composition, and the check of
every message from its bytes).  The guarantees are the same: a request that
is accepted can be sent, and no text anyone typed can add a header or a
recipient.  E-mails are checked as a receiver sees them: the bytes are parsed
back with ``email.message_from_bytes(..., policy=policy.default)``, as
``smtplib`` sends them and as the outbox folder stores them.
"""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy

import pytest
from hypothesis import HealthCheck, event, given, settings as hsettings
from hypothesis import strategies as st

from findsupport.errors import InvalidInput
from findsupport.introductions import Asked, Introduction, Links, MessageFacts, compose, safe_addr_spec
from findsupport.introductions.addresses import UnsafeAddress
from findsupport.introductions.messages import KINDS, RECIPIENTS, CannotCompose
from findsupport.introductions.validation import check_request, unsafe_text

#: Every header an introduction e-mail carries: ours, and the MIME ones of a text + HTML alternative.
EXPECTED_HEADERS = sorted(["subject", "from", "to", "date", "message-id", "x-findsupport-introduction",
                           "x-findsupport-kind", "content-type", "mime-version"])
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
_PRINTABLE = st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"))
awkward_text = st.lists(st.one_of(st.sampled_from(["=?", "?=", '"', "(", "<", "é", "😀", "\u202e", "\ufeff", "."]),
                                  st.text(_PRINTABLE, max_size=6)), min_size=1, max_size=10).map("".join)
awkward_message = st.lists(st.one_of(awkward_text, st.sampled_from(["\n", "\r\n", "\r", "\t", "\u2028", ".", "\n.\n", "From me"])),
                           min_size=1, max_size=12).map("".join)
emails = st.one_of(
    st.emails(),
    st.builds(lambda local, domain: f"{local}@{domain}", hostile_text, st.sampled_from(["example.org", "bücher.example", "x"])),
    st.sampled_from(["josé@example.org", "sam@exämple.org", "a..b@example.org", ".a@example.org", "=?utf-8?q?a?=@example.org",
                     "sam@example.org\u2028", "sam@-bad-.example", "sam@[127.0.0.1]", "\"sam\"@example.org"]),
)
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PROVIDER_EMAIL = "private-0@provider.invalid"


def introduction(name: str, message: str, coach_email: str = "robin@coach.example", note: str | None = None) -> Introduction:
    return Introduction(
        id="0123456789abcdef0123456789abcdef", provider_id="fs-000", search_id=None, coach_name=name,
        coach_email=coach_email, asked=Asked(role="mentor", sector="NE21 4"), message=message, note=note,
        state="pending", created_at=NOW, expires_at=NOW, reminded_at=None, answered_at=None, closed_at=None,
        outcome_sent_at=None, coach_met=None, coach_helpful=None, provider_met=None, provider_helpful=None,
    )  # fmt: skip


def facts(intro: Introduction, provider_name: str = "Sam Provider", provider_email: str = PROVIDER_EMAIL) -> MessageFacts:
    return MessageFacts(introduction=intro, provider_name=provider_name, provider_email=provider_email,
                        mail_from="finder@club.example", site="https://finder.example",
                        links=Links(respond="https://finder.example/respond/t", manage="https://finder.example/manage/t",
                                    cancel="https://finder.example/cancel/t"), date=NOW)


def received(message) -> email.message.EmailMessage:
    """What a receiver parses from each serialisation; both must carry exactly our headers."""
    parsed = [email.message_from_bytes(data, policy=policy.default)
              for data in (message.as_bytes(policy=policy.SMTP), bytes(message))]
    expected = EXPECTED_HEADERS + (["reply-to"] if message["X-Findsupport-Kind"] == "accepted" else [])
    for each in parsed:
        assert sorted(name.lower() for name in each.keys()) == sorted(expected)
        assert each.get_content_type() == "multipart/alternative"
        assert [part.get_content_type() for part in each.iter_parts()] == ["text/plain", "text/html"]
        assert len(each.get_all("To")) == 1 and len(each["To"].addresses) == 1
    return parsed[0]


ALL = [(kind, recipient) for kind in KINDS if kind != "manage" for recipient in RECIPIENTS[kind]]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
@pytest.mark.parametrize(("kind", "recipient"), [("request", "provider"), ("confirmation", "coach"), ("accepted", "coach"),
                                                 ("accepted", "provider")])
def test_a_hostile_stored_name_adds_no_header_and_stays_in_the_body(name, kind, recipient):
    """Rows stored by any path still make an e-mail with exactly our headers (the name is text in the body), or none."""
    try:
        composed = compose(kind, recipient, facts(introduction(name, "Hello"), provider_name=name))
    except CannotCompose:
        assert unsafe_text(name) is not None, "only text the service refuses to store can fail to compose"
        return
    parsed = received(composed)
    assert "victim" not in "".join(f"{k}: {v}" for k, v in parsed.items())
    addresses = {"coach": "robin@coach.example", "provider": PROVIDER_EMAIL}
    assert parsed["To"].addresses[0].addr_spec == addresses[recipient]
    if name.isprintable():
        assert name in parsed.get_body(("plain",)).get_content(), "the body says literally what was typed"


@given(name=hostile_text, provider_name=hostile_text, message=hostile_text, local=hostile_text,
       which=st.sampled_from(ALL))
@hsettings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_stored_row_makes_an_exact_email_or_none(name, provider_name, message, local, which):
    """Whatever a row holds, composing gives exactly our headers, or UnsafeAddress (nothing is sent)."""
    kind, recipient = which
    intro = introduction(name, message or "-", coach_email=f"{local}@coach.example", note=message)
    try:
        composed = compose(kind, recipient, facts(intro, provider_name=provider_name))
    except UnsafeAddress:
        event("refused")
        return
    event("composed")
    parsed = received(composed)
    if recipient == "coach":
        assert parsed["To"].addresses[0].addr_spec == safe_addr_spec(intro.coach_email)


def check_accepted_requests_can_be_sent(name: str, address: str, message: str) -> None:
    """Anything the service accepts composes and serialises for both sides, before and after acceptance."""
    try:
        fields = check_request("fs-000", name=name, email=address, message=message, max_message_chars=2000)
    except InvalidInput as exc:
        assert exc.extra["field"] in {"name", "email", "message"}
        event(f"refused: {exc.extra['field']}")
        return
    event("accepted")
    assert fields.email.isascii()
    intro = introduction(fields.name, fields.message, coach_email=fields.email)
    for kind, recipient in (("request", "provider"), ("confirmation", "coach"), ("accepted", "provider")):
        parsed = received(compose(kind, recipient, facts(intro)))
        if kind == "request":
            assert fields.name in parsed.get_body(("plain",)).get_content()
        if recipient == "coach":
            assert parsed["To"].addresses[0].addr_spec == fields.email


@given(name=st.one_of(awkward_text, hostile_text, st.sampled_from(HOSTILE_NAMES)),
       address=st.one_of(st.emails(), emails), message=st.one_of(awkward_message, hostile_text))
@hsettings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_accepted_request_can_be_sent(name, address, message):
    check_accepted_requests_can_be_sent(name, address, message)


@given(name=awkward_text, address=st.emails(), message=awkward_message)
@hsettings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_accepted_awkward_request_can_be_sent(name, address, message):
    """The same, on text that is mostly accepted (quotes, brackets, accents, emoji, every line break in a message)."""
    check_accepted_requests_can_be_sent(name, address, message)


@pytest.mark.parametrize(
    ("typed", "stored_as"),
    [("sam@example.org", "sam@example.org"), ("Sam.O'Neill+club@Example.ORG", "Sam.O'Neill+club@example.org"),
     ("bob@bücher.example", "bob@xn--bcher-kva.example"), ("bob@example.org.", "bob@example.org")],
)
def test_addresses_are_stored_in_ascii(typed, stored_as):
    """The local part as typed (it may be case-sensitive); the domain lower-cased and IDNA-encoded."""
    assert safe_addr_spec(typed) == stored_as


@pytest.mark.parametrize("typed", ["josé@example.org", "a..b@example.org", "sam@x", "sam@", "@example.org",
                                   "=?utf-8?q?a?=@example.org", "sam@exa mple.org", "sam@-x.example",
                                   "sam@example.org..", "sam@example.org\r\nBcc: x@y.example"])
def test_addresses_that_cannot_be_sent_are_refused_with_a_sentence(typed):
    with pytest.raises(UnsafeAddress) as caught:
        safe_addr_spec(typed)
    assert "e.g. sam@example.org" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "multiline", "safe"),
    [("Zoë O'Neill", False, True), ("=?x?=", False, True), ("a\u2028b", False, False), ("a\u2029b", True, False),
     ("a\tb", False, False), ("a\tb\r\nc", True, True), ("a\u0085b", True, False), ("a\ud800", True, False),
     ("a\x00b", True, False)],
)
def test_unsafe_text(text, multiline, safe):
    assert (unsafe_text(text, multiline=multiline) is None) is safe

"""The e-mails: exact header sets whatever people type, escaped HTML, and nothing private before acceptance."""

from __future__ import annotations

import email
import html
import email.policy
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from findsupport.introductions import Asked, Introduction, Links, MessageFacts, compose, safe_addr_spec
from findsupport.introductions.addresses import UnsafeAddress
from findsupport.introductions.messages import KINDS, RECIPIENTS, SUBJECTS

from .conftest import ask, deliver, find, link, text_of

HOSTILE = [
    "=?utf-8?q?Sam=0D=0ABcc:_x@y.example?=",
    "Sam\r\nBcc: x@y.example",
    "Sam\nSubject: pwned",
    '<script>alert("x")</script>',
    "Sam <evil@y.example>, other@y.example",
    "Zoë Ünïcödé 山田",
    "\u2028Bcc: x@y.example",
]
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
HEADERS = {"Subject", "From", "To", "Date", "Message-ID", "X-Findsupport-Introduction", "X-Findsupport-Kind",
           "MIME-Version", "Content-Type"}


def introduction(name="Alex", message="Hello", note=None, coach_email="coach@coaches.example"):
    return Introduction(
        id="0" * 32, provider_id="p1", search_id=None, coach_name=name, coach_email=coach_email,
        asked=Asked(role="mentor", event="jumps", slots=("tue_eve",), mode="online", sector="NE21 4",
                    level="athletics_coach"),
        message=message, note=note, state="pending", created_at=NOW, expires_at=NOW, reminded_at=None,
        answered_at=None, closed_at=None, outcome_sent_at=None, coach_met=None, coach_helpful=None,
        provider_met=None, provider_helpful=None,
    )  # fmt: skip


def facts(intro, provider_name="Sam Provider", provider_email="sam@providers.example"):
    links = Links(respond="https://find.example/respond/t", manage="https://find.example/manage/t",
                  cancel="https://find.example/cancel/t", finder="https://find.example/?postcode=NE21+4",
                  outcome=(("Yes", "https://find.example/outcome/y"),))
    return MessageFacts(introduction=intro, provider_name=provider_name, provider_email=provider_email,
                        mail_from="findsupport@find.example", site="https://find.example", links=links, date=NOW)


def parsed(message):
    return email.message_from_bytes(bytes(message), policy=email.policy.default)


ALL = [(kind, recipient) for kind in KINDS for recipient in RECIPIENTS[kind]]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.one_of(st.sampled_from(HOSTILE), st.text(max_size=60)),
       provider_name=st.one_of(st.sampled_from(HOSTILE), st.text(max_size=60)),
       text=st.one_of(st.sampled_from(HOSTILE), st.text(max_size=200)),
       which=st.sampled_from(ALL))
def test_headers_are_exactly_ours_whatever_people_type(name, provider_name, text, which):
    kind, recipient = which
    message = compose(kind, recipient, facts(introduction(name, text, note=text), provider_name))
    back = parsed(message)
    expected = HEADERS | ({"Reply-To"} if kind == "accepted" else set())
    assert set(back.keys()) == expected and len(back.keys()) == len(expected)
    assert back["Subject"] == SUBJECTS[kind]
    assert back["To"] == ("sam@providers.example" if recipient == "provider" else "coach@coaches.example")
    assert back["From"] == "findsupport@find.example"
    assert back["X-Findsupport-Introduction"] == "0" * 32 and back["X-Findsupport-Kind"] == kind
    for part in back.walk():
        if part.get_content_type() == "text/html":
            html_text = part.get_content()
            assert "<script>" not in html_text
            if kind == "request" and name.isprintable():
                assert f"<td>{html.escape(name)}</td>" in html_text


@pytest.mark.parametrize(("kind", "recipient"), ALL)
def test_every_kind_has_text_and_html_and_escapes_names(kind, recipient):
    message = parsed(compose(kind, recipient, facts(introduction('<b>Alex</b> & "co"', "<i>hi</i>", note="<u>n</u>"))))
    plain = message.get_body(("plain",)).get_content()
    html_text = message.get_body(("html",)).get_content()
    assert "<b>" not in html_text and "<i>" not in html_text and "<u>" not in html_text
    if kind in ("request", "confirmation", "accepted", "declined", "expired", "withdrawn", "reminder", "outcome"):
        assert "&lt;b&gt;Alex&lt;/b&gt;" in html_text or "Sam Provider" in html_text
    assert plain.strip()


@pytest.mark.parametrize(("kind", "recipient"), [k for k in ALL if k[0] != "accepted"])
def test_no_address_of_the_other_side_before_acceptance(kind, recipient):
    message = parsed(compose(kind, recipient, facts(introduction())))
    whole = bytes(message).decode("utf-8", "replace") + message.get_body(("plain",)).get_content()
    other = "coach@coaches.example" if recipient == "provider" else "sam@providers.example"
    assert other not in whole
    assert "NE21 4LZ" not in whole


def test_the_provider_request_says_who_what_and_where_at_sector_level(service, mailbox):
    ask(service)
    request = find(deliver(service, mailbox), "request")
    text = text_of(request)
    for expected in ("Alex Coach", "Sessional Coach", "Mentor", "Hurdles", "Tue evening", "Sat morning",
                     "In person", "NE21 4 (postcode sector)", "> Could you help me with hurdles drills?",
                     "https://find.example/respond/", "https://find.example/manage/"):
        assert expected in text, expected
    assert "coach@coaches.example" not in bytes(request).decode()
    assert "NE21 4LZ" not in bytes(request).decode()


def test_an_address_that_cannot_go_into_a_header_is_refused():
    with pytest.raises(UnsafeAddress):
        compose("request", "provider", facts(introduction(), provider_email="sam@providers.example\r\nBcc: x@y.z"))


@pytest.mark.parametrize("address", ["a@b.example", "first.last+tag@sub.example.org", "x@xn--bcher-kva.example"])
def test_good_addresses_pass_unchanged(address):
    assert safe_addr_spec(address) == address


@given(st.text(max_size=80))
def test_whatever_passes_is_a_plain_ascii_addr_spec(text):
    try:
        address = safe_addr_spec(text)
    except UnsafeAddress:
        return
    assert address.isascii() and address.count("@") == 1
    assert not any(c in address for c in ' \t\r\n<>(),;:"\\[]')


@pytest.mark.parametrize("name", [n for n in HOSTILE if n.isprintable()])
def test_hostile_names_through_the_whole_loop_reach_no_header(service, mailbox, name):
    ask(service, name=name, message=name)
    token = link(find(deliver(service, mailbox), "request"), "/respond/")
    service.accept(token, note=name)
    for message in mailbox.sent:
        back = parsed(message)
        assert "bcc" not in {key.lower() for key in back.keys()}
        assert len(back.get_all("To")) == 1 and "@" in back["To"] and "," not in back["To"]
        assert name not in "".join(f"{k}: {v}" for k, v in back.items())

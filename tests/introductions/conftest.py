"""Fixtures for the introduction tests: a small catalogue, a controllable clock, a service, a mailbox."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest

from findsupport.catalog import CatalogStore
from findsupport.catalog.model import Provider
from findsupport.introductions import Asked, IntroductionService, ListMailer

PUBLIC_URL = "https://find.example"
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ASKED = Asked.from_query({"postcode": "NE21 4LZ", "role": "mentor", "event": "hurdles", "slots": ["tue_eve", "sat_am"],
                          "mode": "in_person", "level": "sessional_coach"})


def provider(provider_id: str, *, capacity: int = 3, active: int = 0, consent: bool = True, **changes: Any) -> Provider:
    """A stored provider at NE21 4LZ (values as validation would make them)."""
    values = dict(
        id=provider_id, name=f"Provider {provider_id}", roles=("mentor",), events=("hurdles",),
        availability=("tue_eve",), online=False, travel_km=20.0, capacity=capacity, active_coaches=active,
        qualification="athletics_coach", club=None, bio=None, consent=consent, area="NE21 4",
        easting=417600.0, northing=563300.0, lon=-1.7259, lat=54.9641, email=f"{provider_id}@providers.example",
        postcode="NE21 4LZ", base_lon=None, base_lat=None, base_easting=417647.0, base_northing=563312.0,
    )  # fmt: skip
    values.update(changes)
    return Provider(**values)


@dataclass
class Clock:
    """A clock the test moves by hand."""

    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass
class RecordingFeedback:
    """Stands in for the feedback log: remembers every action."""

    actions: list[tuple[str, str, str]] = field(default_factory=list)
    helpful: list[tuple[str, str, bool]] = field(default_factory=list)

    def record(self, search_id: str, provider_id: str, action: str) -> None:
        self.actions.append((search_id, provider_id, action))

    def record_helpful(self, search_id: str, provider_id: str, helpful: bool) -> None:
        self.helpful.append((search_id, provider_id, helpful))


@pytest.fixture
def intro_settings(settings):
    return settings.replace(public_url=PUBLIC_URL, mail_from="findsupport@find.example")


@pytest.fixture
def store(intro_settings) -> CatalogStore:
    store = CatalogStore.open(intro_settings)
    store.write([provider("p1", capacity=3, active=1), provider("p2", capacity=1), provider("full", capacity=1, active=1),
                 provider("hidden", consent=False)], source="test", format="demo")
    return store


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def feedback() -> RecordingFeedback:
    return RecordingFeedback()


@pytest.fixture
def service(store, intro_settings, clock, feedback) -> IntroductionService:
    return IntroductionService(store.engine, intro_settings, contacts=store.contact_for, feedback=feedback, clock=clock)


@pytest.fixture
def mailbox() -> ListMailer:
    return ListMailer()


def ask(service: IntroductionService, provider_id: str = "p1", email: str = "coach@coaches.example", **changes: Any):
    values = dict(name="Alex Coach", email=email, message="Could you help me with hurdles drills?", asked=ASKED,
                  search_id="s1")
    values.update(changes)
    return service.request(provider_id, **values)


_LINK = re.compile(r"https://find\.example/\S*")


def text_of(message: EmailMessage) -> str:
    return message.get_body(("plain",)).get_content()


def deliver(service: IntroductionService, mailbox: ListMailer) -> list[EmailMessage]:
    """Deliver what is due; return the messages sent by this call."""
    before = len(mailbox.sent)
    service.deliver_due(mailbox)
    return mailbox.sent[before:]


def find(messages: list[EmailMessage], kind: str, to: str | None = None) -> EmailMessage:
    matches = [m for m in messages if m["X-Findsupport-Kind"] == kind and (to is None or m["To"] == to)]
    assert len(matches) == 1, [(m["X-Findsupport-Kind"], m["To"]) for m in messages]
    return matches[0]


def link(message: EmailMessage, path: str) -> str:
    """The token of the first link to ``{PUBLIC_URL}{path}`` in a message's text."""
    for url in _LINK.findall(text_of(message)):
        if url.startswith(PUBLIC_URL + path):
            return url[len(PUBLIC_URL + path):]
    raise AssertionError(f"no {path} link in {text_of(message)!r}")

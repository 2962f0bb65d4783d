"""The introduction lifecycle: request, answer, withdraw, with real places.

``pending`` → ``accepted`` | ``declined`` | ``expired`` | ``withdrawn``.  Every
change is **one transaction** holding a conditional UPDATE of the
introduction's state (``WHERE state = 'pending'``), the matching change of the
provider's places (:mod:`findsupport.catalog.places`) and the e-mails it
causes (:mod:`.outbox`): they commit together or not at all, and of two
answers racing for one introduction (a double click, a replayed link) exactly
one wins; the other gets :class:`~findsupport.errors.AlreadyAnswered`.

Transactions write before they read, so on SQLite the first statement takes
the write lock (no deadlock from upgrading a read lock), and on PostgreSQL the
conditional UPDATEs lock the rows they change and re-check their WHERE after
waiting for a concurrent writer.

Scheduled work (reminders, expiry, check-ins, retention, delivery) is in
:mod:`.duework`; outcomes, the manage link, pausing and responsiveness in
:mod:`.followup`; figures in :mod:`.stats`.  The service knows nothing of
Flask: the web layer parses a request, calls one method, and renders.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..catalog import places
from ..config import Settings
from ..db import advisory_lock_key, metadata
from ..errors import (
    AlreadyAnswered,
    DuplicateIntroduction,
    InvalidInput,
    ProviderFull,
    ProviderNotFound,
    RateLimited,
    TokenInvalid,
)
from .duework import ScheduledWork
from .followup import OUTCOME_ANSWERS, FollowUp
from .model import (
    ACCEPTED,
    DECLINED,
    EXPIRED,
    PENDING,
    WITHDRAWN,
    Asked,
    Clock,
    Introduction,
    naive_utc,
    utc_clock,
)
from .messages import days_phrase
from .outbox import MessageQueue, enqueue
from .tables import INTRODUCTION_TABLES, MAX_NOTE_CHARS, introduction_requests
from .validation import check_request, clean_text
from .tokens import COACH, MANAGE, OUTCOME, RESPOND, TokenSigner

__all__ = [
    "IntroductionService",
    "ContactLookup",
    "FeedbackSink",
    "NextMatches",
    "LINK_PATHS",
    "DEFAULT_PUBLIC_URL",
    "OUTCOME_ANSWERS",
]

log = logging.getLogger(__name__)

#: Where each signed link points, under ``settings.public_url`` (the web layer routes these).
LINK_PATHS: dict[str, str] = {RESPOND: "/respond/", MANAGE: "/manage/", COACH: "/cancel/", OUTCOME: "/outcome/"}
#: Links in e-mails need an absolute URL; without ``public_url`` they point at ``findsupport serve``'s default.
DEFAULT_PUBLIC_URL = "http://127.0.0.1:5000"
#: A respond or cancel link outlives the request's expiry by this much, so a late click
#: says "this request has expired" (409) rather than a bare "link expired" (410).
LINK_GRACE = timedelta(days=1)

_I = introduction_requests.c


class _Contact(Protocol):
    name: str
    email: str


#: ``provider_id -> contact or None`` (the catalogue store's ``contact_for``: consented providers only).
ContactLookup = Callable[[str], "_Contact | None"]
#: ``introduction -> [(provider name, url), ...]``: the next best matches of the same search.
NextMatches = Callable[[Introduction], Sequence[tuple[str, str]]]


class FeedbackSink(Protocol):
    """What the service needs of the feedback log (:class:`findsupport.ranking.FeedbackLog`)."""

    def record(self, search_id: str, provider_id: str, action: str) -> None: ...

    def record_helpful(self, search_id: str, provider_id: str, helpful: bool) -> None: ...


def _pending_key(provider_id: str, email: str) -> str:
    """One pending request per coach (e-mail, case-insensitively) and provider."""
    return hashlib.sha256(f"{provider_id}\n{email.casefold()}".encode()).hexdigest()


class IntroductionService(ScheduledWork, FollowUp):
    """Introductions from request to outcome, on the shared database.

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
        The shared database (its introduction and places tables are created if missing).
    settings : Settings
        ``introduction_*`` days, ``public_url``, ``mail_from``, ``max_message_chars`` ...
    contacts : callable
        ``provider_id -> Contact | None`` (``CatalogStore.contact_for``).
    feedback : FeedbackSink, optional
        Where ``requested``/``accepted``/``declined``/``met`` go (by ``search_id``).
    next_matches : callable, optional
        Links to other providers for a declined or expired request's coach.
    provider_ids_for_email : callable, optional
        ``email -> [provider_id, ...]`` of listed providers
        (``CatalogStore.provider_ids_for_email``), for :meth:`send_manage_links`.
    clock : callable, optional
        Aware UTC now (tests pass a controllable one).
    """

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        contacts: ContactLookup,
        feedback: FeedbackSink | None = None,
        next_matches: NextMatches | None = None,
        provider_ids_for_email: Callable[[str], Sequence[str]] | None = None,
        clock: Clock = utc_clock,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.contacts = contacts
        self.feedback = feedback
        self.next_matches = next_matches
        self.provider_ids_for_email = provider_ids_for_email
        self.clock = clock
        tables = [*INTRODUCTION_TABLES, *places.PLACES_TABLES]
        try:
            metadata.create_all(engine, tables=tables)
        except sa.exc.OperationalError:  # another worker created them between check and CREATE
            metadata.create_all(engine, tables=tables)
        self.tokens = TokenSigner.open(engine, clock)
        self.queue = MessageQueue(engine)
        self.public_url = (settings.public_url or DEFAULT_PUBLIC_URL).rstrip("/")

    # ------------------------------------------------------------------ links
    def link(self, purpose: str, payload: Any) -> str:
        """An absolute signed link (``{public_url}/respond/{token}`` and so on)."""
        return f"{self.public_url}{LINK_PATHS[purpose]}{self.tokens.dump(purpose, payload)}"

    def manage_link(self, provider_id: str) -> str:
        """A fresh manage link for a provider (the web layer e-mails it on request)."""
        return self.link(MANAGE, provider_id)

    def _days(self, days: float) -> timedelta:
        return timedelta(days=days)

    @property
    def _respond_max_age_s(self) -> float:
        return (self._days(self.settings.introduction_expiry_days) + LINK_GRACE).total_seconds()

    # ------------------------------------------------------------------ reading
    def get(self, introduction_id: str) -> Introduction | None:
        """One introduction, or ``None``."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(introduction_requests).where(_I.id == introduction_id)).mappings().first()
        return Introduction.from_row(row) if row else None

    def list(self, state: str | None = None, limit: int | None = None) -> list[Introduction]:
        """Introductions, newest first, optionally in one state."""
        query = sa.select(introduction_requests).order_by(_I.created_at.desc(), _I.id)
        if state is not None:
            query = query.where(_I.state == state)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [Introduction.from_row(row) for row in conn.execute(query).mappings()]

    def is_pending(self, provider_id: str, email: str) -> bool:
        """True when this coach already has a pending request to this provider (the page says "already requested")."""
        with self.engine.connect() as conn:
            key = _pending_key(provider_id, email.strip())
            return conn.execute(sa.select(_I.id).where(_I.pending_key == key)).first() is not None

    # ------------------------------------------------------------------ the coach asks
    def request(
        self,
        provider_id: str,
        *,
        name: str,
        email: str,
        message: str,
        asked: Asked = Asked(),
        search_id: str | None = None,
        client_key: str = "",
        limit: tuple[int, float] | None = None,
    ) -> Introduction:
        """Ask a provider for an introduction; holds one of their places while pending.

        Queues the provider's e-mail (respond and manage links; never the
        coach's address) and the coach's confirmation (with a cancel link).

        Parameters
        ----------
        provider_id, name, email, message : str
            What the coach sent (checked by :func:`~.validation.check_request`).
        asked : Asked
            What they searched for, at sector level.
        search_id : str, optional
            The search the provider was shown in (``requested`` feedback).
        client_key : str
            Keyed hash of the client's address (never the address).
        limit : (int, float), optional
            At most ``limit[0]`` requests stored per ``client_key`` in
            ``limit[1]`` seconds, counted atomically with the insert (a per-client
            lock: SQLite's write lock, a PostgreSQL advisory lock), so parallel
            requests from one client cannot all pass the count.

        Raises
        ------
        InvalidInput
            A missing or bad field (``extra["field"]`` names it).
        ProviderNotFound
            No listed provider has this id (unknown, unconsented and paused alike).
        RateLimited
            Over ``limit`` (``extra["retry_after"]`` in seconds); nothing stored.
        DuplicateIntroduction
            This coach (same e-mail, any case) already has a pending request to them (409).
        ProviderFull
            No spare place: every place is taken or held by pending requests (409).
        """
        fields = check_request(provider_id, name=name, email=email, message=message, search_id=search_id,
                               max_message_chars=self.settings.max_message_chars)
        provider_id, email, search_id = fields.provider_id, fields.email, fields.search_id
        contact = self.contacts(provider_id)
        if contact is None:
            raise ProviderNotFound("No provider with that id is listed.")
        places.ensure_row(self.engine, provider_id)
        now = naive_utc(self.clock())
        introduction_id = uuid.uuid4().hex
        expiry_days = self.settings.introduction_expiry_days
        try:
            with self.engine.begin() as conn:
                if limit is not None and conn.dialect.name == "postgresql":
                    # Serialise one client's requests (other clients are not blocked); released at commit.
                    key = advisory_lock_key(f"introductions\n{client_key}")
                    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))
                conn.execute(sa.insert(introduction_requests).values(
                    id=introduction_id, provider_id=provider_id, search_id=search_id, coach_name=fields.name,
                    coach_email=email, coach_level=asked.level, role=asked.role, event=asked.event,
                    slots=";".join(asked.slots), mode=asked.mode, sector=asked.sector, message=fields.message,
                    state=PENDING, pending_key=_pending_key(provider_id, email), client_key=client_key,
                    created_at=now, expires_at=now + self._days(self.settings.introduction_expiry_days),
                ))  # fmt: skip
                if limit is not None:
                    _check_client_limit(conn, client_key, limit, now)
                if not places.hold(conn, provider_id):
                    if places.places_of(conn, provider_id).paused:
                        raise ProviderNotFound("No provider with that id is listed.")
                    raise ProviderFull(
                        f"{contact.name} has no free place at the moment: every place is taken or held by a "
                        f"request waiting for an answer. Please choose someone else, or try again in "
                        f"{days_phrase(expiry_days)}.",
                        provider_id=provider_id,
                    )
                enqueue(conn, introduction_id, "request", "provider", now)
                enqueue(conn, introduction_id, "confirmation", "coach", now)
        except sa.exc.IntegrityError:
            raise DuplicateIntroduction(
                f"You already asked {contact.name} for an introduction and they have not answered yet; "
                f"you will hear from us when they do, or when the request lapses after {days_phrase(expiry_days)}.",
                provider_id=provider_id,
            ) from None
        log.info("introduction %s requested", introduction_id)
        self._record(search_id, provider_id, "requested")
        return self.get(introduction_id)

    # ------------------------------------------------------------------ the provider answers
    def open_respond(self, token: str) -> Introduction:
        """The pending introduction a respond link is for (the respond page shows it; no coach e-mail in it).

        Raises
        ------
        TokenInvalid, TokenExpired
            Not our link (404), or too old (410).
        AlreadyAnswered
            The introduction is no longer pending (409).
        """
        return self._open(RESPOND, token)

    def accept(self, token: str, note: str | None = None) -> Introduction:
        """The provider accepts: takes one of their places, exchanges contacts (e-mails to both).

        Raises
        ------
        TokenInvalid, TokenExpired, AlreadyAnswered
            See :meth:`open_respond`; a replayed link is ``AlreadyAnswered``.
        ProviderFull
            No place is left (room shrank since the request, or another acceptance
            took the last place first); the introduction stays pending.
        """
        return self._answer(token, ACCEPTED, note)

    def decline(self, token: str, note: str | None = None) -> Introduction:
        """The provider declines: frees the held place; the coach gets a kind note and other matches."""
        return self._answer(token, DECLINED, note)

    def _answer(self, token: str, state: str, note: str | None) -> Introduction:
        introduction_id = self.tokens.load(RESPOND, token, max_age_s=self._respond_max_age_s)
        note = clean_text(note, "note", MAX_NOTE_CHARS, "the note", multiline=True, required=False)
        now = naive_utc(self.clock())
        with self.engine.begin() as conn:
            provider_id = self._close(conn, introduction_id, state, now, note=note, answered=True)
            if state == ACCEPTED:
                if not places.take(conn, provider_id):
                    raise ProviderFull(
                        "You have no free place left, so this request cannot be accepted as things stand. "
                        "If you can take one more coach, raise your places on your manage page and accept again."
                    )
                enqueue(conn, introduction_id, "accepted", "coach", now)
                enqueue(conn, introduction_id, "accepted", "provider", now)
            else:
                places.release_hold(conn, provider_id)
                enqueue(conn, introduction_id, "declined", "coach", now)
        log.info("introduction %s %s", introduction_id, state)
        introduction = self.get(introduction_id)
        self._record(introduction.search_id, provider_id, state)
        return introduction

    def _close(self, conn: Connection, introduction_id: Any, state: str, now: datetime, *, note: str | None = None,
               answered: bool = False) -> str:
        """Move a pending introduction to ``state`` in ``conn``'s transaction; return its provider id.

        The conditional UPDATE comes first (it takes the write lock); only when
        it changed nothing do we read why, to raise the right error.
        """
        values: dict[str, Any] = {"state": state, "closed_at": now, "pending_key": None}
        if answered:
            values.update(answered_at=now, note=note)
        if not isinstance(introduction_id, str):
            raise TokenInvalid("This link is not one we sent. Please use the link in your e-mail as it is.")
        changed = conn.execute(
            sa.update(introduction_requests)
            # Past its expiry it is expired, whether or not a tick has marked it yet.
            .where(_I.id == introduction_id, _I.state == PENDING, _I.expires_at > now)
            .values(**values)
        ).rowcount
        row = conn.execute(sa.select(_I.provider_id, _I.state).where(_I.id == introduction_id)).first()
        if row is None:
            raise TokenInvalid("This request no longer exists (old requests are deleted after a while).")
        if not changed:
            raise AlreadyAnswered(_closed_message(EXPIRED if row.state == PENDING else row.state))
        return row.provider_id

    # ------------------------------------------------------------------ the coach withdraws
    def open_cancel(self, token: str) -> Introduction:
        """The introduction a coach's cancel link is for, while it can still be withdrawn."""
        return self._open(COACH, token)

    def withdraw(self, token: str) -> Introduction:
        """The coach cancels a pending request (their confirmation's link); the provider is told."""
        introduction_id = self.tokens.load(COACH, token, max_age_s=self._respond_max_age_s)
        now = naive_utc(self.clock())
        with self.engine.begin() as conn:
            provider_id = self._close(conn, introduction_id, WITHDRAWN, now)
            places.release_hold(conn, provider_id)
            enqueue(conn, introduction_id, "withdrawn", "provider", now)
        log.info("introduction %s withdrawn", introduction_id)
        return self.get(introduction_id)

    # ------------------------------------------------------------------ helpers
    def _open(self, purpose: str, token: str) -> Introduction:
        """The pending introduction a respond or cancel link is for, or why it is not pending any more."""
        introduction = self._by_token(purpose, token, self._respond_max_age_s)
        if introduction.state != PENDING:
            raise AlreadyAnswered(_closed_message(introduction.state))
        if introduction.expires_at <= self.clock():
            raise AlreadyAnswered(_closed_message(EXPIRED))
        return introduction

    def _by_token(self, purpose: str, token: str, max_age_s: float) -> Introduction:
        introduction_id = self.tokens.load(purpose, token, max_age_s=max_age_s)
        introduction = self.get(introduction_id) if isinstance(introduction_id, str) else None
        if introduction is None:
            raise TokenInvalid("This request no longer exists (old requests are deleted after a while).")
        return introduction

    def _record(self, search_id: str | None, provider_id: str, action: str) -> None:
        """Feed an action to the feedback log; a search it does not know (or an action it cannot keep) is skipped."""
        if self.feedback is None or search_id is None:
            return
        try:
            self.feedback.record(search_id, provider_id, action)
        except InvalidInput as exc:
            log.info("feedback %s on search %s not recorded: %s", action, search_id, exc.extra.get("field", "input"))


def _check_client_limit(conn: Connection, client_key: str, limit: tuple[int, float], now: datetime) -> None:
    """Raise :class:`RateLimited` when ``client_key`` stored more than ``limit`` requests (this one included).

    Runs after this request's INSERT, in its transaction: on SQLite the INSERT
    holds the write lock, on PostgreSQL the advisory lock serialises the
    client, so the count sees every earlier request of the client.  Closed
    requests count too (only a purge removes them).
    """
    most, period_s = limit
    since = now - timedelta(seconds=period_s)
    recent = conn.execute(
        sa.select(_I.created_at).where(_I.client_key == client_key, _I.created_at > since)
        .order_by(_I.created_at).limit(most + 1)
    ).scalars().all()
    if len(recent) > most:
        wait = max(1, int((recent[0] + timedelta(seconds=period_s) - now).total_seconds()) + 1)
        raise RateLimited(f"Too many introduction requests from your address; please wait {wait} s and try again.",
                          retry_after=wait, bucket="introductions")


def _closed_message(state: str) -> str:
    return {
        ACCEPTED: "This request has already been accepted; the coach has your contact details.",
        DECLINED: "This request has already been declined.",
        EXPIRED: "This request has expired: it was not answered in time, and the coach has been told.",
        WITHDRAWN: "The coach has withdrawn this request; there is nothing more to do.",
    }.get(state, "This request has already been answered.")

"""Introductions: a coach asks a provider to get in touch, through the server.

``POST /api/v1/introductions`` with JSON ``{provider_id, name, email, message,
search_id}``.  The request is validated, stored in the ``introductions`` table
(status ``pending``) and answered ``202`` with the same body whatever the
``provider_id``: whether a provider exists, consented or not, is never
revealed, and neither is their e-mail address.  The e-mail itself is sent
afterwards by the outbox (:mod:`findsupport.web.outbox`), so the answer also
takes the same time for every id.

Anything answered ``202`` can really be sent: names may not hold ``=?``,
control characters or line separators, and an address must be plain ASCII
before the ``@`` (its domain is stored IDNA-encoded); both rules come from
:mod:`findsupport.web.mail`, which composes the e-mail with the same ones.

A per-client limit (``introductions=N/period`` in ``settings.rate_limits``) is
counted in this table, so it holds across every worker process and server
sharing the database.  Counting and storing happen in one transaction that
holds a per-client lock (``BEGIN IMMEDIATE`` on SQLite, a transaction-scoped
advisory lock on PostgreSQL), so parallel requests cannot all pass the count
before any of them is stored.  The client's address is stored only as a
keyed hash.

When a ``search_id`` is given, the introduction is also recorded as a
``requested`` action on that search's feedback session.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, jsonify, request

from ..config import Settings
from ..db import metadata
from ..errors import InvalidInput
from .mail import normalise_address, unsafe_text
from .ratelimit import RateRule, rate_limited

__all__ = [
    "introductions_table",
    "web_secrets_table",
    "IntroductionRequest",
    "IntroductionStore",
    "parse_introduction",
    "blueprint",
    "ACCEPTED_DETAIL",
    "MAX_NAME_CHARS",
    "MAX_EMAIL_CHARS",
    "MAX_PROVIDER_ID_CHARS",
    "MAX_SEARCH_ID_CHARS",
]

log = logging.getLogger(__name__)

#: Long enough for any real name, short enough for an e-mail subject line.
MAX_NAME_CHARS = 100
#: RFC 5321's limit on a forward path (254 characters of address).
MAX_EMAIL_CHARS = 254
#: Provider ids come from catalogue files; longer ones are not ids.
MAX_PROVIDER_ID_CHARS = 200
#: Search ids are short opaque tokens from the feedback log.
MAX_SEARCH_ID_CHARS = 100

INTRODUCTION_FIELDS = ("provider_id", "name", "email", "message", "search_id")
STATUSES = ("pending", "sending", "sent", "undeliverable", "failed")

#: The one answer to every accepted introduction, known provider or not.
ACCEPTED_DETAIL = (
    "Thank you. Your request is on its way: the provider receives your name, e-mail address and "
    "message, and can reply to you directly. Their own address is not shared with you."
)

introductions_table = sa.Table(
    "introductions",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("created_at", sa.DateTime, nullable=False, index=True),
    sa.Column("provider_id", sa.String(MAX_PROVIDER_ID_CHARS), nullable=False),
    sa.Column("search_id", sa.String(MAX_SEARCH_ID_CHARS), nullable=True),
    sa.Column("coach_name", sa.String(MAX_NAME_CHARS), nullable=False),
    sa.Column("coach_email", sa.String(MAX_EMAIL_CHARS), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    # Keyed hash of the client address: enough to count requests, not to find the person.
    sa.Column("client_key", sa.String(64), nullable=False, index=True),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", sa.DateTime, nullable=False),
    sa.Column("claimed_at", sa.DateTime, nullable=True),
    sa.Column("sent_at", sa.DateTime, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
)

#: Small secrets the web layer needs in every worker (the client-address hash key).
web_secrets_table = sa.Table(
    "web_secrets",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(128), nullable=False),
)


def utcnow() -> datetime:
    """Naive UTC now (SQLite keeps no time zones; every timestamp here is UTC)."""
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class IntroductionRequest:
    """A validated introduction request."""

    provider_id: str
    name: str
    email: str
    message: str
    search_id: str | None = None


def _field_error(field: str, message: str) -> InvalidInput:
    return InvalidInput(message, field=field)


def _text(body: dict[str, Any], field: str, limit: int, *, label: str, multiline: bool = False) -> str:
    value = body.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise _field_error(field, f"Please give {label}.")
    if not isinstance(value, str):
        raise _field_error(field, f"{field} must be text; got {type(value).__name__}.")
    value = value.strip()
    if len(value) > limit:
        raise _field_error(field, f"{label[0].upper() + label[1:]} must be at most {limit} characters; got {len(value)}.")
    problem = unsafe_text(value, multiline=multiline)
    if problem is not None:
        raise _field_error(field, f"{label[0].upper() + label[1:]} {problem}; please remove it.")
    return value


def parse_introduction(body: Any, settings: Settings) -> IntroductionRequest:
    """Validate the JSON body of ``POST /api/v1/introductions``.

    Everything accepted can be sent (:mod:`findsupport.web.mail`): the e-mail
    address comes back with its domain IDNA-encoded, as it is stored.

    Raises
    ------
    InvalidInput
        With ``field`` naming the first bad member.
    """
    if not isinstance(body, dict):
        raise _field_error("body", f"The body must be a JSON object with {', '.join(INTRODUCTION_FIELDS)}.")
    unknown = sorted(str(k) for k in body if k not in INTRODUCTION_FIELDS)
    if unknown:
        raise InvalidInput(
            f"Unknown field {unknown[0][:40]!r}; an introduction has {', '.join(INTRODUCTION_FIELDS)}.",
            field=unknown[0][:40],
            allowed=list(INTRODUCTION_FIELDS),
        )
    provider_id = _text(body, "provider_id", MAX_PROVIDER_ID_CHARS, label="the provider_id")
    name = _text(body, "name", MAX_NAME_CHARS, label="your name")
    if "=?" in name:
        # E-mail software reads "=?...?=" as encoded text, so the name would not arrive as written.
        raise _field_error("name", "Your name cannot contain '=?'; please write it as plain text.")
    email = _text(body, "email", MAX_EMAIL_CHARS, label="your e-mail address")
    try:
        email = normalise_address(email)
    except InvalidInput as exc:
        raise _field_error("email", exc.message) from None
    if len(email) > MAX_EMAIL_CHARS:  # an IDNA-encoded domain is longer than the one typed
        raise _field_error("email", f"Your e-mail address must be at most {MAX_EMAIL_CHARS} characters once its domain is encoded.")
    message = _text(body, "message", settings.max_message_chars, label="a short message", multiline=True)
    search_id = body.get("search_id")
    if search_id is not None:
        if not isinstance(search_id, str) or not 0 < len(search_id) <= MAX_SEARCH_ID_CHARS:
            raise _field_error("search_id", f"search_id must be the text id of a search (at most {MAX_SEARCH_ID_CHARS} characters).")
        if unsafe_text(search_id) is not None:
            raise _field_error("search_id", "search_id contains control characters.")
    return IntroductionRequest(provider_id, name, email, message, search_id)


class IntroductionStore:
    """The ``introductions`` table: add requests, count them per client, hand them to the outbox.

    Parameters
    ----------
    db : sqlalchemy.engine.Engine
        The shared database (``findsupport.db.engine_for(settings.resolved_database_url)``).
    """

    def __init__(self, db: sa.engine.Engine) -> None:
        self.db = db
        try:
            metadata.create_all(db, tables=[introductions_table, web_secrets_table])
        except sa.exc.OperationalError:
            # Another worker created the tables between our check and our CREATE.
            metadata.create_all(db, tables=[introductions_table, web_secrets_table])
        self._key = self._client_hash_key()

    def _client_hash_key(self) -> bytes:
        """The hash key every worker shares: created once per database, then read."""
        t = web_secrets_table
        select = sa.select(t.c.value).where(t.c.name == "client_key")
        with self.db.connect() as conn:
            row = conn.execute(select).first()
        if row is None:
            try:
                with self.db.begin() as conn:
                    conn.execute(sa.insert(t).values(name="client_key", value=secrets.token_hex(32)))
            except sa.exc.IntegrityError:
                pass  # another worker created it first; we read theirs below
            with self.db.connect() as conn:
                row = conn.execute(select).one()
        return bytes.fromhex(row.value)

    def client_key(self, address: str) -> str:
        """Keyed hash of a client address (hex)."""
        return hmac.new(self._key, address.encode(), hashlib.sha256).hexdigest()

    def add(
        self,
        intro: IntroductionRequest,
        client_key: str,
        rule: RateRule | None = None,
        now: datetime | None = None,
    ) -> str:
        """Store a request as ``pending`` unless ``client_key`` is over ``rule``; return its id.

        The count and the insert are one transaction holding a per-client lock
        (:meth:`_lock_client`), so ``N`` parallel requests store at most
        ``rule.limit`` whatever their timing.

        Raises
        ------
        RateLimited
            When the client already stored ``rule.limit`` requests in ``rule.period_s``.
        """
        now = now or utcnow()
        introduction_id = uuid.uuid4().hex
        t = introductions_table
        with self.db.connect() as conn:
            self._lock_client(conn, client_key)
            if rule is not None:
                since = now - timedelta(seconds=rule.period_s)
                recent = conn.execute(
                    sa.select(t.c.created_at)
                    .where(t.c.client_key == client_key, t.c.created_at > since)
                    .order_by(t.c.created_at)
                    .limit(rule.limit)
                ).all()
                if len(recent) >= rule.limit:
                    conn.rollback()
                    wait = max(1, int((recent[0].created_at + timedelta(seconds=rule.period_s) - now).total_seconds()) + 1)
                    raise rate_limited(rule, wait)
            conn.execute(
                sa.insert(t).values(
                    id=introduction_id,
                    created_at=now,
                    provider_id=intro.provider_id,
                    search_id=intro.search_id,
                    coach_name=intro.name,
                    coach_email=intro.email,
                    message=intro.message,
                    client_key=client_key,
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                )
            )
            conn.commit()
        return introduction_id

    @staticmethod
    def _lock_client(conn: sa.Connection, client_key: str) -> None:
        """Begin the transaction of ``conn`` holding the lock that serialises one client's requests.

        SQLite: ``BEGIN IMMEDIATE`` takes the database's write lock before the
        count (a plain ``BEGIN`` would let two transactions count, then both
        insert).  PostgreSQL: ``pg_advisory_xact_lock`` on a number derived
        from the client key, released at commit or rollback; other clients are
        not blocked.  Other databases get an ordinary transaction.
        """
        dialect = conn.dialect.name
        if dialect == "sqlite":
            # The sqlite3 module would only BEGIN (deferred) before the INSERT; begin now, immediately.
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        elif dialect == "postgresql":
            # Advisory locks are named by a signed 64-bit number: the first 8 bytes of a hash of the key.
            lock_id = int.from_bytes(hashlib.sha256(client_key.encode()).digest()[:8], "big", signed=True)
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(lock_id)))

    def get(self, introduction_id: str) -> dict[str, Any] | None:
        """One stored introduction as a dict (for the outbox and tests)."""
        with self.db.connect() as conn:
            row = conn.execute(sa.select(introductions_table).where(introductions_table.c.id == introduction_id)).first()
        return dict(row._mapping) if row else None

    def claim_due(self, now: datetime, stale_after: timedelta, batch: int, *, max_attempts: int) -> list[dict[str, Any]]:
        """Claim pending introductions whose time has come (and abandoned claims) for delivery.

        A claim is one conditional UPDATE per row, so several workers polling
        the same table never deliver one introduction twice.  Each claim counts
        as an attempt: an abandoned claim (its worker died) that already used
        ``max_attempts`` is marked ``failed`` instead of being claimed again,
        so a row that kills its worker cannot be retried forever.
        """
        t = introductions_table
        due = sa.or_(
            sa.and_(t.c.status == "pending", t.c.next_attempt_at <= now),
            sa.and_(t.c.status == "sending", t.c.claimed_at < now - stale_after),
        )
        claimed: list[dict[str, Any]] = []
        with self.db.begin() as conn:
            candidates = conn.execute(sa.select(t).where(due).order_by(t.c.created_at).limit(batch)).all()
            for row in candidates:
                if row.attempts >= max_attempts:
                    conn.execute(
                        sa.update(t)
                        .where(t.c.id == row.id, t.c.status == row.status, t.c.attempts == row.attempts)
                        .values(status="failed", claimed_at=None, last_error=f"abandoned after {row.attempts} attempts")
                    )
                    log.error("introduction %s failed: abandoned after %d attempts", row.id, row.attempts)
                    continue
                result = conn.execute(
                    sa.update(t)
                    .where(t.c.id == row.id, t.c.status == row.status, t.c.attempts == row.attempts)
                    .values(status="sending", claimed_at=now, attempts=row.attempts + 1)
                )
                if result.rowcount == 1:
                    claimed.append({**row._mapping, "status": "sending", "attempts": row.attempts + 1})
        return claimed

    def finish(self, introduction_id: str, status: str, *, error: str | None = None, retry_at: datetime | None = None) -> None:
        """Record the outcome of a delivery attempt."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}; got {status!r}")
        values: dict[str, Any] = {"status": status, "last_error": error, "claimed_at": None}
        if status == "sent":
            values["sent_at"] = utcnow()
        if retry_at is not None:
            values["next_attempt_at"] = retry_at
        with self.db.begin() as conn:
            conn.execute(sa.update(introductions_table).where(introductions_table.c.id == introduction_id).values(**values))

    def counts(self) -> dict[str, int]:
        """Introductions by status (for health and tests)."""
        t = introductions_table
        with self.db.connect() as conn:
            rows = conn.execute(sa.select(t.c.status, sa.func.count()).group_by(t.c.status)).all()
        return {status: int(n) for status, n in rows}


blueprint = Blueprint("introductions", __name__)


@blueprint.post("/api/v1/introductions")
def request_introduction():
    """Accept an introduction request (202, the same for every provider id)."""
    from .state import web_state

    state = web_state()
    if not request.is_json:
        from werkzeug.exceptions import UnsupportedMediaType

        raise UnsupportedMediaType()
    body = request.get_json(silent=True)
    if body is None:
        raise InvalidInput("The body is not valid JSON; send an object such as "
                           '{"provider_id": "...", "name": "...", "email": "...", "message": "..."}.', field="body")
    intro = parse_introduction(body, state.settings)
    client_key = state.introductions.client_key(state.client_address())
    state.introductions.add(intro, client_key, state.rate_rules.get("introductions"))
    if state.background:
        state.outbox.wake()
    if intro.search_id is not None:
        state.record_feedback(intro.search_id, intro.provider_id, "requested", strict=False)
    response = jsonify({"status": "accepted", "detail": ACCEPTED_DETAIL})
    response.status_code = 202
    response.headers["Cache-Control"] = "no-store"
    return response

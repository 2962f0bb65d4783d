"""The introduction tables, declared on the shared :data:`findsupport.db.metadata`.

SQLAlchemy Core with portable types only (SQLite and PostgreSQL alike).  Every
timestamp is **naive UTC** (SQLite keeps no time zone; the service converts at
its edges, see :func:`findsupport.introductions.model.naive_utc`).

``introduction_requests``
    The lifecycle of one introduction: who asked (coach name, e-mail, own
    level), what they asked (role, event, slots, mode and the coach's postcode
    *sector*, never the full postcode), the message, the provider's optional
    note, the state (``pending`` → ``accepted`` | ``declined`` | ``expired`` |
    ``withdrawn``), when it was created, answered, reminded, closed, when it
    expires, the outcome check-in answers and the keyed hash of the client
    address.  It replaced the web layer's older ``introductions`` table
    (plain e-mails with no lifecycle, delivered by a separate outbox), which
    nothing reads any more: a database that has one may drop it once its
    rows were delivered.
``outbox_messages``
    The e-mails to send, one row per message (kind, introduction, recipient
    role ``provider`` or ``coach``; a manage link sent on request names a
    provider instead of an introduction), with their own delivery state, attempts,
    next attempt and last error: lifecycle state and delivery state are
    separate, and each message fails on its own.  A row holds no address and
    no text: the e-mail is composed when it is delivered, from the
    introduction and the catalogue, so nothing personal is copied.
``signing_keys``
    The secrets that sign links, created once per database and shared by every
    server; the newest signs, all verify (rotation).
"""

from __future__ import annotations

import sqlalchemy as sa

from ..db import metadata

__all__ = [
    "introduction_requests",
    "outbox_messages",
    "signing_keys",
    "INTRODUCTION_TABLES",
    "ID_CHARS",
    "MAX_NAME_CHARS",
    "MAX_EMAIL_CHARS",
    "MAX_PROVIDER_ID_CHARS",
    "MAX_SEARCH_ID_CHARS",
    "MAX_NOTE_CHARS",
]

#: Introduction ids are ``uuid4().hex``.
ID_CHARS = 32
#: Long enough for any real name, short enough for a line of an e-mail.
MAX_NAME_CHARS = 100
#: RFC 5321's limit on a forward path (254 characters of address).
MAX_EMAIL_CHARS = 254
#: Provider ids come from catalogue files; longer ones are not ids.
MAX_PROVIDER_ID_CHARS = 200
#: Search ids are short opaque tokens from the feedback log.
MAX_SEARCH_ID_CHARS = 100
#: The provider's note with an answer: a sentence or two, not a letter.
MAX_NOTE_CHARS = 500
_STATE_CHARS = 16
_CODE_CHARS = 40  # the longest vocabulary code, "leader_in_running_fitness", is 25
_SLOTS_CHARS = 21 * 8  # every slot code joined with ';'
_SECTOR_CHARS = 6  # "AB12 3"
_HASH_CHARS = 64

introduction_requests = sa.Table(
    "introduction_requests",
    metadata,
    sa.Column("id", sa.String(ID_CHARS), primary_key=True),
    sa.Column("provider_id", sa.String(MAX_PROVIDER_ID_CHARS), nullable=False, index=True),
    sa.Column("search_id", sa.String(MAX_SEARCH_ID_CHARS), nullable=True),
    sa.Column("coach_name", sa.String(MAX_NAME_CHARS), nullable=False),
    sa.Column("coach_email", sa.String(MAX_EMAIL_CHARS), nullable=False),
    sa.Column("coach_level", sa.String(_CODE_CHARS), nullable=True),
    # What was asked; the coach's location only as a postcode sector.
    sa.Column("role", sa.String(_CODE_CHARS), nullable=True),
    sa.Column("event", sa.String(_CODE_CHARS), nullable=True),
    sa.Column("slots", sa.String(_SLOTS_CHARS), nullable=False, default=""),
    sa.Column("mode", sa.String(_CODE_CHARS), nullable=True),
    sa.Column("sector", sa.String(_SECTOR_CHARS), nullable=True),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("note", sa.String(MAX_NOTE_CHARS), nullable=True),
    sa.Column("state", sa.String(_STATE_CHARS), nullable=False, index=True),
    # A digest of (provider, lower-cased e-mail) while pending, NULL once closed: the unique
    # constraint makes "one pending request per coach and provider" atomic on every backend.
    sa.Column("pending_key", sa.String(_HASH_CHARS), nullable=True, unique=True),
    # Keyed hash of the client address: enough to count requests, not to find the person.
    sa.Column("client_key", sa.String(_HASH_CHARS), nullable=False, default="", index=True),
    sa.Column("created_at", sa.DateTime, nullable=False, index=True),
    sa.Column("expires_at", sa.DateTime, nullable=False, index=True),
    sa.Column("reminded_at", sa.DateTime, nullable=True),
    sa.Column("answered_at", sa.DateTime, nullable=True),
    sa.Column("closed_at", sa.DateTime, nullable=True, index=True),
    sa.Column("outcome_sent_at", sa.DateTime, nullable=True),
    # Outcome check-in answers (None: not answered).
    sa.Column("coach_met", sa.Boolean, nullable=True),
    sa.Column("coach_helpful", sa.Boolean, nullable=True),
    sa.Column("provider_met", sa.Boolean, nullable=True),
    sa.Column("provider_helpful", sa.Boolean, nullable=True),
)

outbox_messages = sa.Table(
    "outbox_messages",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    # The introduction a message is about; NULL for a manage link sent on request, which
    # names the provider instead.
    sa.Column("introduction_id", sa.String(ID_CHARS), nullable=True, index=True),
    sa.Column("provider_id", sa.String(MAX_PROVIDER_ID_CHARS), nullable=True),
    sa.Column("kind", sa.String(_CODE_CHARS), nullable=False),
    sa.Column("recipient", sa.String(16), nullable=False),
    sa.Column("status", sa.String(_STATE_CHARS), nullable=False, index=True),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("next_attempt_at", sa.DateTime, nullable=False, index=True),
    sa.Column("claimed_at", sa.DateTime, nullable=True),
    sa.Column("sent_at", sa.DateTime, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
)

signing_keys = sa.Table(
    "signing_keys",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("secret", sa.String(128), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

INTRODUCTION_TABLES = (introduction_requests, outbox_messages, signing_keys)

"""The mail queue: one row per e-mail, delivered and retried on its own.

The lifecycle only *enqueues* (in the same transaction as the state change
that causes the e-mail, so an answer and its e-mails commit together or not
at all).  :meth:`MessageQueue.deliver_due` then claims due rows one by one
(a conditional UPDATE each, so several workers never send one message twice),
asks the caller to compose each, and hands it to a mailer:

* a message that cannot be composed (its introduction is gone, an address
  cannot go into a header, or a bug in composing, logged with its stack) is
  marked ``undeliverable`` and the rest go on;
* a mailer failure (``OSError``, ``smtplib.SMTPException``) is retried with a
  doubling back-off, then marked ``failed`` after :data:`MAX_ATTEMPTS`;
* a claim left behind by a worker that died mid-delivery is claimed again
  after :data:`STALE_CLAIM`.

Rows hold no address and no text.  Log lines name messages and introductions
by id only.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from .addresses import UnsafeAddress
from .messages import RECIPIENTS
from .model import naive_utc
from .tables import outbox_messages

__all__ = [
    "Mailer",
    "QueuedMessage",
    "MessageQueue",
    "enqueue",
    "Undeliverable",
    "MESSAGE_STATUSES",
    "MAX_ATTEMPTS",
    "RETRY_BASE_SECONDS",
    "STALE_CLAIM",
    "BATCH",
]

log = logging.getLogger(__name__)

#: After this many attempts (1+2+4+8 minutes of back-off) a message is marked failed.
MAX_ATTEMPTS = 5
#: First retry after a failed attempt; each further retry waits twice as long.
RETRY_BASE_SECONDS = 60.0
#: A claim older than this belonged to a worker that died mid-delivery; claim it again.
STALE_CLAIM = timedelta(minutes=10)
#: Messages claimed per pass (a pass is short; the next follows at once while more are due).
BATCH = 20
MESSAGE_STATUSES: tuple[str, ...] = ("pending", "sending", "sent", "undeliverable", "failed")

_M = outbox_messages.c


class Mailer(Protocol):
    """Sends one e-mail (SMTP, a folder of ``.eml`` files, a list in tests)."""

    def send(self, message: EmailMessage) -> Any: ...

    def describe(self) -> str: ...


class Undeliverable(Exception):
    """Raised by a composer: this message can never be sent (the reason goes to the row, not the log)."""


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    """One claimed message."""

    id: int
    introduction_id: str | None
    kind: str
    recipient: str
    attempts: int
    provider_id: str | None = None


Composer = Callable[[QueuedMessage], EmailMessage]


def enqueue(conn: Connection, introduction_id: str | None, kind: str, recipient: str, now: datetime, *,
            provider_id: str | None = None) -> None:
    """Queue one e-mail in the caller's transaction (about an introduction, or else a provider)."""
    if recipient not in RECIPIENTS.get(kind, ()):
        raise ValueError(f"Got kind={kind!r}, recipient={recipient!r}; {kind} goes to {RECIPIENTS.get(kind)}")
    if (introduction_id is None) == (provider_id is None):
        raise ValueError("a message is about an introduction or (a manage link) a provider, not both or neither")
    now = naive_utc(now)
    conn.execute(
        sa.insert(outbox_messages).values(
            introduction_id=introduction_id, provider_id=provider_id, kind=kind, recipient=recipient, status="pending",
            attempts=0, created_at=now, next_attempt_at=now,
        )
    )


class MessageQueue:
    """The ``outbox_messages`` table: claim, deliver, retry, count."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def claim_due(self, now: datetime, batch: int = BATCH) -> list[QueuedMessage]:
        """Claim due messages (and abandoned claims), oldest first."""
        now = naive_utc(now)
        due = sa.or_(
            sa.and_(_M.status == "pending", _M.next_attempt_at <= now),
            sa.and_(_M.status == "sending", _M.claimed_at < now - STALE_CLAIM),
        )
        with self.engine.connect() as conn:
            candidates = conn.execute(sa.select(outbox_messages).where(due).order_by(_M.id).limit(batch)).all()
        claimed: list[QueuedMessage] = []
        for row in candidates:
            with self.engine.begin() as conn:
                result = conn.execute(
                    sa.update(outbox_messages)
                    .where(_M.id == row.id, _M.status == row.status, _M.attempts == row.attempts)
                    .values(status="sending", claimed_at=now, attempts=row.attempts + 1)
                )
            if result.rowcount == 1:
                claimed.append(QueuedMessage(row.id, row.introduction_id, row.kind, row.recipient, row.attempts + 1,
                                             row.provider_id))
        return claimed

    def finish(self, message_id: int, status: str, now: datetime, *, error: str | None = None,
               retry_at: datetime | None = None) -> None:
        """Record the outcome of one delivery attempt."""
        if status not in MESSAGE_STATUSES:
            raise ValueError(f"Got status={status!r}; status must be one of {', '.join(MESSAGE_STATUSES)}")
        values: dict[str, Any] = {"status": status, "last_error": error, "claimed_at": None}
        if status == "sent":
            values["sent_at"] = naive_utc(now)
        if retry_at is not None:
            values["next_attempt_at"] = naive_utc(retry_at)
        with self.engine.begin() as conn:
            conn.execute(sa.update(outbox_messages).where(_M.id == message_id).values(**values))

    def deliver_due(self, now: datetime, mailer: Mailer, compose: Composer) -> dict[str, int]:
        """Deliver every due message; return counts by outcome (``sent``, ``undeliverable``, ``retry``, ``failed``)."""
        outcome = {"sent": 0, "undeliverable": 0, "retry": 0, "failed": 0}
        while True:
            claimed = self.claim_due(now)
            for message in claimed:
                outcome[self._deliver(message, now, mailer, compose)] += 1
            if len(claimed) < BATCH:
                return outcome

    def _deliver(self, queued: QueuedMessage, now: datetime, mailer: Mailer, compose: Composer) -> str:
        try:
            message = compose(queued)
        except (Undeliverable, UnsafeAddress) as exc:
            self.finish(queued.id, "undeliverable", now, error=str(exc) or type(exc).__name__)
            log.info("message %d (%s, introduction %s) undeliverable", queued.id, queued.kind, queued.introduction_id)
            return "undeliverable"
        except Exception as exc:  # noqa: BLE001 - a bug: logged with its stack; this message alone fails, the pass goes on
            self.finish(queued.id, "undeliverable", now, error=f"cannot compose: {type(exc).__name__}")
            log.error("message %d (%s, introduction %s): unexpected %s while composing; not sent", queued.id,
                      queued.kind, queued.introduction_id, type(exc).__name__, exc_info=True)
            return "undeliverable"
        try:
            mailer.send(message)
        except (OSError, smtplib.SMTPException) as exc:
            return self._retry(queued, now, f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # noqa: BLE001 - a mailer bug: retried like a failure, logged with its stack
            log.error("message %d: unexpected %s while sending", queued.id, type(exc).__name__, exc_info=True)
            return self._retry(queued, now, type(exc).__name__)
        self.finish(queued.id, "sent", now)
        log.info("message %d (%s, introduction %s) sent (%s)", queued.id, queued.kind, queued.introduction_id,
                 mailer.describe())
        return "sent"

    def _retry(self, queued: QueuedMessage, now: datetime, error: str) -> str:
        if queued.attempts >= MAX_ATTEMPTS:
            self.finish(queued.id, "failed", now, error=error)
            log.error("message %d (introduction %s) failed after %d attempts", queued.id, queued.introduction_id,
                      queued.attempts)
            return "failed"
        delay = RETRY_BASE_SECONDS * 2 ** (queued.attempts - 1)
        self.finish(queued.id, "pending", now, error=error, retry_at=now + timedelta(seconds=delay))
        # The error text may quote an address (an SMTP 550 does): keep it in the database only.
        log.warning("message %d (introduction %s): attempt %d failed; retrying in %.0f s", queued.id,
                    queued.introduction_id, queued.attempts, delay)
        return "retry"

    def counts(self) -> dict[str, int]:
        """Messages by status."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(_M.status, sa.func.count()).group_by(_M.status)).all()
        return {status: int(n) for status, n in rows}

    def kinds_for(self, introduction_id: str) -> list[tuple[str, str, str]]:
        """``(kind, recipient, status)`` of an introduction's messages, in order (tests, operators)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(_M.kind, _M.recipient, _M.status).where(_M.introduction_id == introduction_id).order_by(_M.id)
            ).all()
        return [tuple(row) for row in rows]

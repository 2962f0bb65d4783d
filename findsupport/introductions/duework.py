"""Work that falls due with time: reminders, expiry, self-pausing, check-ins, retention, delivery.

:meth:`ScheduledWork.tick` runs all of it once; the web layer's background
thread and ``findsupport introductions tick`` (cron) both call it, as often as
they like: every step is a conditional UPDATE per row, so two servers ticking
at once never remind, expire or check in twice.

Mixed into :class:`~.lifecycle.IntroductionService`, whose attributes
(``engine``, ``settings``, ``clock``, ``queue``, ``contacts`` ...) it uses.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ..catalog import places
from .messages import Links, MessageFacts, compose
from .model import ACCEPTED, EXPIRED, PENDING, Introduction, naive_utc
from .outbox import Mailer, QueuedMessage, Undeliverable, enqueue
from .tables import introduction_requests, outbox_messages
from .tokens import COACH, MANAGE, RESPOND

if TYPE_CHECKING:
    from .lifecycle import IntroductionService

__all__ = ["ScheduledWork", "TickReport", "EXPIRY_BATCH"]

log = logging.getLogger(__name__)

#: Rows handled per query of a due step: bounded memory; a step loops until none are due.
EXPIRY_BATCH = 200

_I = introduction_requests.c
_M = outbox_messages.c


@dataclass
class TickReport:
    """What one :meth:`ScheduledWork.tick` did."""

    reminded: int = 0
    expired: int = 0
    paused: int = 0
    checked_in: int = 0
    purged: int = 0
    delivery: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ScheduledWork:
    """Due work of the introduction service (a mixin of :class:`~.lifecycle.IntroductionService`)."""

    def tick(self: "IntroductionService", now: datetime | None = None, mailer: Mailer | None = None) -> TickReport:
        """Reminders, expiries (and self-pausing), outcome check-ins, retention, then delivery of due e-mails.

        Parameters
        ----------
        now : datetime, optional
            Aware UTC; the service's clock by default.
        mailer : Mailer, optional
            Without one, nothing is delivered (the messages stay queued).
        """
        now = now or self.clock()
        report = TickReport()
        report.reminded = self.remind_due(now)
        report.expired, report.paused = self.expire_due(now)
        report.checked_in = self.check_in_due(now)
        report.purged = self.purge(now)
        if mailer is not None:
            report.delivery = self.deliver_due(mailer, now)
        return report

    def remind_due(self: "IntroductionService", now: datetime) -> int:
        """One reminder to each provider whose request has waited ``introduction_reminder_days``."""
        stamp = naive_utc(now)
        cutoff = stamp - timedelta(days=self.settings.introduction_reminder_days)
        due = sa.and_(_I.state == PENDING, _I.reminded_at.is_(None), _I.created_at <= cutoff, _I.expires_at > stamp)
        count = 0
        for introduction_id in self._due_ids(due):
            with self.engine.begin() as conn:
                changed = conn.execute(
                    sa.update(introduction_requests).where(_I.id == introduction_id, due).values(reminded_at=stamp)
                ).rowcount
                if changed:
                    enqueue(conn, introduction_id, "reminder", "provider", stamp)
            count += changed
        return count

    def expire_due(self: "IntroductionService", now: datetime) -> tuple[int, int]:
        """Expire unanswered requests (the coach is told); pause listings with too many in a row.

        Returns
        -------
        (expired, paused) : tuple of int
        """
        stamp = naive_utc(now)
        due = sa.and_(_I.state == PENDING, _I.expires_at <= stamp)
        expired = paused = 0
        for introduction_id in self._due_ids(due):
            with self.engine.begin() as conn:
                changed = conn.execute(
                    sa.update(introduction_requests)
                    .where(_I.id == introduction_id, due)
                    .values(state=EXPIRED, closed_at=stamp, pending_key=None)
                ).rowcount
                if not changed:
                    continue  # answered, withdrawn or expired by another worker meanwhile
                provider_id = conn.execute(sa.select(_I.provider_id).where(_I.id == introduction_id)).scalar_one()
                places.release_hold(conn, provider_id)
                enqueue(conn, introduction_id, "expired", "coach", stamp)
                if self._expiry_streak(conn, provider_id) and places.set_paused(conn, provider_id, True, stamp):
                    enqueue(conn, introduction_id, "paused", "provider", stamp)
                    paused += 1
            expired += 1
            log.info("introduction %s expired", introduction_id)
        return expired, paused

    def _expiry_streak(self: "IntroductionService", conn: Any, provider_id: str) -> bool:
        """True when the provider's last ``pause_after_expiries`` closed requests (since the listing was
        last paused or resumed) all expired unanswered."""
        needed = self.settings.pause_after_expiries
        since = places.places_of(conn, provider_id).paused_changed_at
        query = (
            sa.select(_I.state)
            .where(_I.provider_id == provider_id, _I.closed_at.is_not(None))
            .order_by(_I.closed_at.desc(), _I.id.desc())
            .limit(needed)
        )
        if since is not None:
            query = query.where(_I.closed_at > since)
        states = conn.execute(query).scalars().all()
        return len(states) == needed and all(state == EXPIRED for state in states)

    def check_in_due(self: "IntroductionService", now: datetime) -> int:
        """Ask both sides "did you meet? was it helpful?" ``introduction_outcome_days`` after acceptance."""
        stamp = naive_utc(now)
        cutoff = stamp - timedelta(days=self.settings.introduction_outcome_days)
        due = sa.and_(_I.state == ACCEPTED, _I.outcome_sent_at.is_(None), _I.answered_at <= cutoff)
        count = 0
        for introduction_id in self._due_ids(due):
            with self.engine.begin() as conn:
                changed = conn.execute(
                    sa.update(introduction_requests).where(_I.id == introduction_id, due).values(outcome_sent_at=stamp)
                ).rowcount
                if changed:
                    enqueue(conn, introduction_id, "outcome", "coach", stamp)
                    enqueue(conn, introduction_id, "outcome", "provider", stamp)
            count += changed
        return count

    def purge(self: "IntroductionService", now: datetime) -> int:
        """Delete introductions closed more than ``introduction_retention_days`` ago, with their messages.

        Statistics come from the introductions still kept, so they describe the
        retention period (recent behaviour, which is what a coach needs to know).
        """
        cutoff = naive_utc(now) - timedelta(days=self.settings.introduction_retention_days)
        gone = sa.and_(_I.closed_at.is_not(None), _I.closed_at <= cutoff)
        with self.engine.begin() as conn:  # manage links sent on request belong to no introduction
            conn.execute(sa.delete(outbox_messages).where(_M.introduction_id.is_(None), _M.created_at <= cutoff))
        purged = 0
        while True:
            with self.engine.begin() as conn:
                ids = conn.execute(sa.select(_I.id).where(gone).limit(EXPIRY_BATCH)).scalars().all()
                if not ids:
                    return purged
                conn.execute(sa.delete(outbox_messages).where(_M.introduction_id.in_(ids)))
                conn.execute(sa.delete(introduction_requests).where(_I.id.in_(ids)))
            purged += len(ids)
            log.info("purged %d closed introductions", len(ids))

    def _due_ids(self: "IntroductionService", condition: Any) -> list[str]:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(_I.id).where(condition).order_by(_I.created_at)).scalars().all()

    # ------------------------------------------------------------------ delivery
    def deliver_due(self: "IntroductionService", mailer: Mailer, now: datetime | None = None) -> dict[str, int]:
        """Compose and send every due e-mail through ``mailer``; counts by outcome."""
        return self.queue.deliver_due(now or self.clock(), mailer, self.compose_message)

    def compose_message(self: "IntroductionService", queued: QueuedMessage) -> EmailMessage:
        """The e-mail for one queued message, from the introduction and the catalogue as they are now.

        Raises
        ------
        Undeliverable
            The introduction is gone, or the provider is no longer listed and
            the message needs their address.
        """
        if queued.introduction_id is None:  # a manage link the provider asked for
            contact = self.contacts(queued.provider_id)
            if contact is None:
                raise Undeliverable("the provider is no longer listed")
            return compose(queued.kind, queued.recipient, MessageFacts(
                introduction=None, provider_name=contact.name, provider_email=contact.email,
                mail_from=self.settings.mail_from, site=self.public_url,
                links=Links(manage=self.link(MANAGE, queued.provider_id)), date=self.clock(),
            ))  # fmt: skip
        introduction = self.get(queued.introduction_id)
        if introduction is None:
            raise Undeliverable("the introduction no longer exists")
        contact = self.contacts(introduction.provider_id)
        needs_provider = queued.recipient == "provider" or queued.kind == "accepted"
        if contact is None and needs_provider:
            raise Undeliverable("the provider is no longer listed")
        links = self._links(queued, introduction)
        facts = MessageFacts(
            introduction=introduction,
            provider_name=contact.name if contact is not None else "The provider",
            provider_email=contact.email if contact is not None else "",
            mail_from=self.settings.mail_from,
            site=self.public_url,
            links=links,
            expiry_days=self.settings.introduction_expiry_days,
            replies_within_days=self.usually_replies_within_days(introduction.provider_id)
            if queued.kind == "confirmation" else None,
            date=self.clock(),
        )
        return compose(queued.kind, queued.recipient, facts)

    def _links(self: "IntroductionService", queued: QueuedMessage, introduction: Introduction) -> Links:
        kind, recipient = queued.kind, queued.recipient
        values: dict[str, Any] = {}
        if kind in ("request", "reminder"):
            values["respond"] = self.link(RESPOND, introduction.id)
        if recipient == "provider" and kind in ("request", "reminder", "accepted", "paused"):
            values["manage"] = self.link(MANAGE, introduction.provider_id)
        if kind == "confirmation":
            values["cancel"] = self.link(COACH, introduction.id)
        if kind in ("declined", "expired"):
            values["finder"] = introduction.asked.finder_url(self.public_url)
            if self.next_matches is not None:
                values["matches"] = tuple(self.next_matches(introduction))
        if kind == "outcome":
            values["outcome"] = self.outcome_links(introduction.id, recipient)
        return Links(**values)


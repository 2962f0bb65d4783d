"""After the answer, and the provider's side: outcome check-ins, the manage link, pausing, withdrawal,
responsiveness, and the CSRF tokens of the pages that act on links.

Mixed into :class:`~.lifecycle.IntroductionService`, whose attributes
(``engine``, ``settings``, ``clock``, ``tokens`` ...) and helpers it uses.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ..catalog import places
from ..errors import InvalidInput, TokenExpired, TokenInvalid
from . import stats
from .addresses import UnsafeAddress, safe_addr_spec
from .model import ACCEPTED, DECLINED, PENDING, Introduction, naive_utc
from .outbox import enqueue
from .tables import introduction_requests, outbox_messages
from .tokens import FORM, MANAGE, OUTCOME

if TYPE_CHECKING:
    from .lifecycle import IntroductionService

__all__ = ["FollowUp", "OUTCOME_ANSWERS", "FORM_MAX_AGE"]

log = logging.getLogger(__name__)

#: The one-click outcome answers: label, met, helpful.
OUTCOME_ANSWERS: tuple[tuple[str, bool, bool | None], ...] = (
    ("Yes, we met and it was helpful", True, True),
    ("We met, but it was not so helpful", True, False),
    ("No, we did not meet", False, None),
)

#: A page's forms work this long after it was shown: time to read and answer; an older page is
#: simply opened again from the e-mail's link (which has its own, longer, lifetime).
FORM_MAX_AGE = timedelta(hours=12)

_I = introduction_requests.c
_M = outbox_messages.c


class FollowUp:
    """Outcomes, the provider's listing and responsiveness (a mixin of :class:`~.lifecycle.IntroductionService`)."""

    # ------------------------------------------------------------------ outcomes
    def outcome_links(self: "IntroductionService", introduction_id: str, recipient: str) -> tuple[tuple[str, str], ...]:
        """The one-click check-in links for one side (``"coach"`` or ``"provider"``)."""
        return tuple((label, self.link(OUTCOME, [introduction_id, recipient, met, helpful]))
                     for label, met, helpful in OUTCOME_ANSWERS)

    def outcome_answer(self: "IntroductionService", token: str) -> tuple[str, str]:
        """``(recipient, label)`` of a check-in link, without recording it (the page asks to confirm).

        Raises
        ------
        TokenInvalid, TokenExpired
            Not our link (404), or too old (410).
        """
        payload = self.tokens.load(OUTCOME, token, max_age_s=self._days(self.settings.outcome_link_days).total_seconds())
        try:
            _introduction_id, recipient, met, helpful = payload
        except (TypeError, ValueError):
            raise TokenInvalid("This link is not one we sent. Please use the link in your e-mail as it is.") from None
        for label, answer_met, answer_helpful in OUTCOME_ANSWERS:
            if (met, helpful) == (answer_met, answer_helpful) and recipient in ("coach", "provider"):
                return recipient, label
        raise TokenInvalid("This link is not one we sent. Please use the link in your e-mail as it is.")

    def record_outcome(self: "IntroductionService", token: str) -> Introduction:
        """Store a one-click check-in answer (the last click wins) and feed ``met`` and helpfulness to the feedback log.

        The result's ``helpful`` in the log is the coach's answer when they gave
        one (it was their search), else the provider's; it is recorded once
        either side says they met.

        The web layer should show a one-button form for the GET of the link and
        call this on its POST: mail scanners open links, people press buttons.
        """
        payload = self.tokens.load(OUTCOME, token, max_age_s=self._days(self.settings.outcome_link_days).total_seconds())
        try:
            introduction_id, recipient, met, helpful = payload
        except (TypeError, ValueError):
            raise TokenInvalid("This link is not one we sent. Please use the link in your e-mail as it is.") from None
        shapes_ok = isinstance(introduction_id, str) and isinstance(met, bool) and helpful in (True, False, None)
        if recipient not in ("coach", "provider") or not shapes_ok:
            raise TokenInvalid("This link is not one we sent. Please use the link in your e-mail as it is.")
        with self.engine.begin() as conn:
            changed = conn.execute(
                sa.update(introduction_requests)
                .where(_I.id == introduction_id, _I.state == ACCEPTED)
                .values(**{f"{recipient}_met": met, f"{recipient}_helpful": helpful})
            ).rowcount
        if not changed:
            raise TokenInvalid("This introduction is no longer on record (old ones are deleted after a while).")
        introduction = self.get(introduction_id)
        if met:
            self._record(introduction.search_id, introduction.provider_id, "met")
        said_met = introduction.coach_met or introduction.provider_met
        helpful_now = introduction.coach_helpful if introduction.coach_helpful is not None else introduction.provider_helpful
        if said_met and helpful_now is not None and self.feedback is not None and introduction.search_id is not None:
            try:
                self.feedback.record_helpful(introduction.search_id, introduction.provider_id, helpful_now)
            except InvalidInput as exc:  # a search the log no longer has: the check-in still counts here
                log.info("feedback helpfulness not recorded: %s", exc.extra.get("field", "input"))
        log.info("introduction %s: outcome from the %s", introduction_id, recipient)
        return introduction

    # ------------------------------------------------------------------ the provider's listing
    def open_manage(self: "IntroductionService", token: str) -> str:
        """The provider id a manage link is for (404/410 for bad or old links)."""
        provider_id = self.tokens.load(MANAGE, token, max_age_s=self._days(self.settings.manage_link_days).total_seconds())
        if not isinstance(provider_id, str):
            raise TokenInvalid("This link is not one we sent. Please use the link in your e-mail as it is.")
        return provider_id

    def send_manage_links(self: "IntroductionService", email: str) -> None:
        """Queue a fresh manage link to each listing at ``email`` ("Are you a provider? Manage your listing").

        Returns nothing and behaves the same whether the address is listed or
        not (the link goes to the address, never to whoever asked); the web
        layer answers with one fixed message and rate-limits the endpoint.

        Raises
        ------
        InvalidInput
            ``email`` is not an address at all (independent of any listing).
        """
        try:
            address = safe_addr_spec(email)
        except UnsafeAddress:
            raise InvalidInput("That does not look like an e-mail address (e.g. sam@example.org).", field="email") from None
        if self.provider_ids_for_email is None:
            raise TypeError("send_manage_links needs the service's provider_ids_for_email")
        provider_ids = list(self.provider_ids_for_email(address))
        if not provider_ids:
            return
        now = naive_utc(self.clock())
        with self.engine.begin() as conn:
            for provider_id in provider_ids:
                enqueue(conn, None, "manage", "provider", now, provider_id=provider_id)

    def provider_withdrawn(self: "IntroductionService", provider_id: str) -> int:
        """Close a provider's pending requests after they withdrew consent; how many were closed.

        Each coach is told kindly (a ``declined`` e-mail, with other matches);
        e-mails still queued *to* the provider are dropped, since their address
        is gone.  Their places row went with their listing.
        """
        now = naive_utc(self.clock())
        with self.engine.begin() as conn:
            conn.execute(sa.delete(outbox_messages).where(
                _M.status == "pending", _M.recipient == "provider",
                sa.or_(_M.provider_id == provider_id,
                       _M.introduction_id.in_(sa.select(_I.id).where(_I.provider_id == provider_id))),
            ))  # fmt: skip
            pending = conn.execute(
                sa.select(_I.id).where(_I.provider_id == provider_id, _I.state == PENDING)
            ).scalars().all()
            for introduction_id in pending:
                conn.execute(
                    sa.update(introduction_requests)
                    .where(_I.id == introduction_id, _I.state == PENDING)
                    .values(state=DECLINED, closed_at=now, pending_key=None)
                )
                enqueue(conn, introduction_id, "declined", "coach", now)
        if pending:
            log.info("closed %d pending introductions of a withdrawn listing", len(pending))
        return len(pending)

    # ------------------------------------------------------------------ CSRF tokens of the link pages
    def form_token(self: "IntroductionService", form: str, page_token: str) -> str:
        """The hidden CSRF field of ``form`` on the page of ``page_token`` (a link token, or a fixed page name)."""
        return self.tokens.dump(FORM, [form, _digest(page_token)])

    def check_form_token(self: "IntroductionService", form: str, page_token: str, value: Any) -> None:
        """Accept a POST only with the CSRF token its page was rendered with, for that form, recently.

        Raises
        ------
        InvalidInput
            Missing, forged, made for another page or form, or older than
            :data:`FORM_MAX_AGE` (a 400 naming ``csrf_token``).
        """
        try:
            payload = self.tokens.load(FORM, value, max_age_s=FORM_MAX_AGE.total_seconds())
        except (TokenInvalid, TokenExpired):
            payload = None
        if payload != [form, _digest(page_token)]:
            raise InvalidInput("This form is out of date or was not sent from our page. Please open the page "
                               "again (from the link in your e-mail, if you came from one) and try again.",
                               field="csrf_token")

    def pause(self: "IntroductionService", provider_id: str) -> bool:
        """Pause a listing (coaches stop seeing it within the reload interval); ``True`` if it changed."""
        return self._set_paused(provider_id, True)

    def resume(self: "IntroductionService", provider_id: str) -> bool:
        """Resume a paused listing; ``True`` if it changed."""
        return self._set_paused(provider_id, False)

    def _set_paused(self: "IntroductionService", provider_id: str, paused: bool) -> bool:
        places.ensure_row(self.engine, provider_id)
        with self.engine.begin() as conn:
            changed = places.set_paused(conn, provider_id, paused, naive_utc(self.clock()))
        if changed:  # no provider id in the log: ids are public, but the log need not link them to pauses
            log.info("a provider listing was %s", "paused" if paused else "resumed")
        return changed

    # ------------------------------------------------------------------ responsiveness
    def responsiveness(self: "IntroductionService", provider_id: str) -> stats.Responsiveness:
        """One provider's response rate, median response time and coarse "usually replies within"."""
        return stats.responsiveness(self.engine, provider_id, self.settings.responsiveness_min_answered)

    def usually_replies_within_days(self: "IntroductionService", provider_id: str) -> int | None:
        """1, 2, 3 or 7 once the provider has enough answered requests; else ``None``."""
        return self.responsiveness(provider_id).usually_replies_within_days

    def replies_within_by_provider(self: "IntroductionService") -> dict[str, int]:
        """Every provider's "usually replies within N days" (for the cards; compute once per reload)."""
        return stats.replies_within_by_provider(self.engine, self.settings.responsiveness_min_answered)

    def stats(self: "IntroductionService") -> dict[str, Any]:
        """Operator figures: states, response rates and times, by region and role."""
        return stats.summary(self.engine)


def _digest(page_token: str) -> str:
    """A short digest of a page's link token: a CSRF token names its page without repeating the link."""
    return hashlib.sha256(str(page_token).encode()).hexdigest()[:32]

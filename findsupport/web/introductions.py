"""``POST /api/v1/introductions``: a coach asks a provider for an introduction.

JSON ``{provider_id, name, email, message, search_id}``.  The request goes to
:meth:`findsupport.introductions.IntroductionService.request`, which checks
every field (a 400 naming the first bad one), holds one of the provider's
places and queues two e-mails: the provider's (what was asked, the coach's
message, respond and manage links; never the coach's address) and the
coach's confirmation (with a cancel link).  The background
:class:`~findsupport.introductions.IntroductionWorker` sends them.

Answers:

* ``202`` ``{status: "pending", provider_id, detail}``: on its way; the
  coach gets a confirmation e-mail;
* ``404`` exactly as ``GET /api/v1/providers/{id}``: no listed provider has
  this id (unknown, unconsented and paused alike);
* ``409`` ``introduction-duplicate``: this coach (same address, any case)
  already has a pending request to this provider; ``provider-full``: no free
  place.  Both carry ``provider_id``, so a page can mark that provider;
* ``429`` over the per-client ``introductions`` limit, counted in the
  database atomically with the insert (so it holds across every worker and
  server, and under parallel requests).

When a ``search_id`` is given, the search's query (kept in the feedback log at
sector level) says what the coach asked for, and the request is recorded as a
``requested`` action on that search.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from flask import Blueprint, Response, jsonify, request
from werkzeug.exceptions import UnsupportedMediaType

from ..errors import FindSupportError, InvalidInput, RateLimited
from ..geo.grammar import sector_of
from ..introductions import Asked, Introduction
from ..introductions.messages import days_phrase
from .ratelimit import rate_limited
from .state import web_state

__all__ = [
    "blueprint",
    "INTRODUCTION_FIELDS",
    "REQUESTED_DETAIL",
    "MAX_NEXT_MATCHES",
    "asked_for_search",
    "next_matches_from",
]

log = logging.getLogger(__name__)

#: The members of the JSON body; anything else is a 400 naming it.
INTRODUCTION_FIELDS = ("provider_id", "name", "email", "message", "search_id")
#: The answer to a request on its way (the confirmation e-mail says the rest).
REQUESTED_DETAIL = (
    "Thank you: your request is on its way to {name}. You'll get a confirmation e-mail now, and another one "
    "when they answer (within {days}). Your e-mail address is shared with them only if they accept."
)
#: A declined or expired request's coach is pointed at this many other providers of the same search:
#: enough to choose from, few enough to read in an e-mail.
MAX_NEXT_MATCHES = 3

blueprint = Blueprint("introductions", __name__)


def _feedback_query(feedback: Any, search_id: str | None) -> dict[str, Any] | None:
    """The logged query (sector level) and shown provider ids of a search, or ``None``."""
    if feedback is None or search_id is None:
        return None
    return feedback.served(search_id)


def asked_for_search(feedback: Any, search_id: str | None) -> Asked:
    """What the coach asked for, from the search they requested from (empty when unknown)."""
    session = _feedback_query(feedback, search_id)
    if session is None or not isinstance(session["query"], dict):
        return Asked()
    query = session["query"]
    sector = None
    if isinstance(query.get("postcode"), str):
        try:
            sector = sector_of(query["postcode"])
        except FindSupportError:
            sector = None
    return Asked.from_query(query, sector=sector)


def next_matches_from(engine: Any, public_url: str) -> Callable[[Introduction], Sequence[tuple[str, str]]]:
    """For a declined or expired request: other providers of the same search who are listed and have room.

    Each links to the finder with the same search (sector level), showing only
    providers with room; the finder has no page per provider.
    """

    def next_matches(introduction: Introduction) -> list[tuple[str, str]]:
        session = _feedback_query(getattr(engine, "feedback", None), introduction.search_id)
        if session is None:
            return []
        url = introduction.asked.finder_url(public_url)
        url += ("&" if "?" in url else "?") + "has_room=true"
        matches: list[tuple[str, str]] = []
        catalog = engine.catalog
        for provider_id in session["shown"]:
            if provider_id == introduction.provider_id or provider_id not in catalog:
                continue
            provider = catalog.get(provider_id)
            if provider.spare > 0:
                matches.append((provider.name, url))
            if len(matches) == MAX_NEXT_MATCHES:
                break
        return matches

    return next_matches


def _body() -> dict[str, Any]:
    if not request.is_json:
        raise UnsupportedMediaType()
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidInput("The body must be a JSON object such as "
                           '{"provider_id": "...", "name": "...", "email": "...", "message": "..."}.', field="body")
    unknown = sorted(str(k) for k in body if k not in INTRODUCTION_FIELDS)
    if unknown:
        raise InvalidInput(
            f"Unknown field {unknown[0][:40]!r}; an introduction has {', '.join(INTRODUCTION_FIELDS)}.",
            field=unknown[0][:40],
            allowed=list(INTRODUCTION_FIELDS),
        )
    return body


@blueprint.post("/api/v1/introductions")
def request_introduction() -> Response:
    """Ask a provider for an introduction (202; 400, 404, 409, 429 as problems)."""
    state = web_state()
    body = _body()
    rule = state.rate_rules.get("introductions")
    search_id = body.get("search_id") if isinstance(body.get("search_id"), str) else None
    try:
        # Unknown, unconsented and paused ids raise the very ProviderNotFound of GET /api/v1/providers/{id}.
        introduction = state.introductions.request(
            body.get("provider_id"),
            name=body.get("name"),
            email=body.get("email"),
            message=body.get("message"),
            search_id=body.get("search_id"),
            asked=asked_for_search(getattr(state.engine, "feedback", None), search_id),
            client_key=state.client_key(),
            limit=(rule.limit, rule.period_s) if rule is not None else None,
        )
    except RateLimited as exc:
        raise rate_limited(rule, int(exc.extra["retry_after"])) from None
    if state.background:
        state.worker.wake()
    contact = state.introductions.contacts(introduction.provider_id)
    name = contact.name if contact is not None else "the provider"
    detail = REQUESTED_DETAIL.format(name=name, days=days_phrase(state.settings.introduction_expiry_days))
    response = jsonify({"status": "pending", "provider_id": introduction.provider_id, "detail": detail})
    response.status_code = 202
    response.headers["Cache-Control"] = "no-store"
    return response

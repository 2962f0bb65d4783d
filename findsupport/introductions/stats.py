"""How responsive providers are, and what the introduction loop is doing overall.

* **response rate**: answered (accepted or declined) out of the requests the
  provider could answer (answered or expired; a request the coach withdrew
  does not count against them);
* **median response time**: from request to answer, over answered requests;
* **usually replies within N days**: the median rounded *up* to a coarse
  bucket of :data:`REPLY_BUCKETS_DAYS`, shown only once the provider has
  answered ``settings.responsiveness_min_answered`` requests, and not at all
  when the median is beyond the last bucket (a promise we could not keep).

Figures come from the introductions still kept (retention deletes closed ones
after ``introduction_retention_days``), so they describe recent behaviour.

Examples
--------
>>> [coarse_reply_days(d) for d in (0.2, 1.0, 1.5, 2.9, 5.0, 9.0)]
[1, 1, 2, 3, 7, None]
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .model import ACCEPTED, DECLINED, EXPIRED, STATES, Asked
from .tables import introduction_requests

__all__ = [
    "Responsiveness",
    "REPLY_BUCKETS_DAYS",
    "coarse_reply_days",
    "responsiveness",
    "replies_within_by_provider",
    "summary",
]

#: "Usually replies within 1, 2, 3 or 7 days": coarse on purpose, so a card never
#: promises more precision than a handful of answers supports.
REPLY_BUCKETS_DAYS: tuple[int, ...] = (1, 2, 3, 7)
_SECONDS_PER_DAY = 86_400.0
_I = introduction_requests.c
_ANSWERED = (ACCEPTED, DECLINED)


def coarse_reply_days(median_days: float | None) -> int | None:
    """The smallest bucket at or above ``median_days`` (``None`` beyond the last bucket)."""
    if median_days is None:
        return None
    return next((bucket for bucket in REPLY_BUCKETS_DAYS if median_days <= bucket), None)


@dataclass(frozen=True, slots=True)
class Responsiveness:
    """One provider's (or one group's) figures."""

    requests: int
    states: dict[str, int]
    answered: int
    response_rate: float | None
    median_response_days: float | None
    usually_replies_within_days: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _figures(rows: Iterable[tuple[str, datetime, datetime | None]], min_answered: int | None) -> Responsiveness:
    states = {state: 0 for state in STATES}
    delays: list[float] = []
    for state, created_at, answered_at in rows:
        states[state] = states.get(state, 0) + 1
        if state in _ANSWERED and answered_at is not None:
            delays.append((answered_at - created_at).total_seconds() / _SECONDS_PER_DAY)
    answerable = len(delays) + states[EXPIRED]
    median = round(statistics.median(delays), 2) if delays else None
    within = coarse_reply_days(median) if min_answered is not None and len(delays) >= min_answered else None
    return Responsiveness(
        requests=sum(states.values()),
        states=states,
        answered=len(delays),
        response_rate=round(len(delays) / answerable, 3) if answerable else None,
        median_response_days=median,
        usually_replies_within_days=within,
    )


def responsiveness(engine: Engine, provider_id: str, min_answered: int) -> Responsiveness:
    """One provider's figures (``usually_replies_within_days`` once ``min_answered`` answers are kept)."""
    query = sa.select(_I.state, _I.created_at, _I.answered_at).where(_I.provider_id == provider_id)
    with engine.connect() as conn:
        return _figures(conn.execute(query).all(), min_answered)


def replies_within_by_provider(engine: Engine, min_answered: int) -> dict[str, int]:
    """``provider_id -> N`` for every provider with a "usually replies within N days" to show.

    For the search cards: computed once per catalogue reload, not per search.
    """
    query = sa.select(_I.provider_id, _I.created_at, _I.answered_at).where(_I.state.in_(_ANSWERED))
    delays: dict[str, list[float]] = defaultdict(list)
    with engine.connect() as conn:
        for provider_id, created_at, answered_at in conn.execute(query):
            if answered_at is not None:
                delays[provider_id].append((answered_at - created_at).total_seconds() / _SECONDS_PER_DAY)
    result = {}
    for provider_id, values in delays.items():
        if len(values) >= min_answered:
            within = coarse_reply_days(statistics.median(values))
            if within is not None:
                result[provider_id] = within
    return result


def summary(engine: Engine) -> dict[str, Any]:
    """Operator figures: overall, by region (postcode area of the coach's sector) and by role.

    No names, addresses or messages: counts, rates and times only.
    """
    query = sa.select(_I.state, _I.created_at, _I.answered_at, _I.sector, _I.role)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    by_region: dict[str, list[tuple[str, datetime, datetime | None]]] = defaultdict(list)
    by_role: dict[str, list[tuple[str, datetime, datetime | None]]] = defaultdict(list)
    for state, created_at, answered_at, sector, role in rows:
        item = (state, created_at, answered_at)
        by_region[Asked(sector=sector).area or "unknown"].append(item)
        by_role[role or "any"].append(item)
    overall = _figures(((r[0], r[1], r[2]) for r in rows), None).to_dict()
    overall.pop("usually_replies_within_days")
    groups = {}
    for name, grouped in (("by_region", by_region), ("by_role", by_role)):
        groups[name] = {}
        for key in sorted(grouped):
            figures = _figures(grouped[key], None).to_dict()
            figures.pop("usually_replies_within_days")
            groups[name][key] = figures
    return {**overall, **groups}

"""Listings that need an operator's attention: paused, full for long, never requested.

Read from the catalogue (``providers``, consented listings only), the places
findsupport keeps (``provider_places``) and the introductions still kept
(``introduction_requests``; retention deletes closed ones after
``introduction_retention_days``, so "never" means "not within what is kept").

``paused``
    Listings that are paused, and why: ``not answering`` when the last
    ``pause_after_expiries`` requests that closed before the pause all expired
    (the listing paused itself, :mod:`.lifecycle`), else ``by the provider``.
``full for long``
    No spare place now (``capacity - active_coaches - taken - held <= 0``) and
    nothing has changed that for ``operator_full_days``: the newest of the
    listing's import and its latest request or acceptance is older than that.
    Findsupport does not record the moment a listing became full; that newest
    change is the latest it can have happened, so "full since at least".
``never requested``
    Listed, not paused, and no request kept for them.

Only operator-facing facts: ids, names and public areas (sectors), never an
address or a postcode.

Examples
--------
>>> from findsupport.db import create_db_engine
>>> attention = listings_needing_attention(create_db_engine("sqlite://"), datetime(2026, 12, 1),
...                                        full_days=30, pause_after_expiries=3)
>>> attention.to_dict()
{'paused': [], 'full_for_long': [], 'never_requested': []}
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..catalog.places import places_table
from ..catalog.tables import imports_table, providers_table
from ..db import metadata
from .model import ACCEPTED, EXPIRED, PENDING, naive_utc
from .tables import introduction_requests

__all__ = ["Listing", "Attention", "listings_needing_attention", "NOT_ANSWERING", "BY_PROVIDER"]

NOT_ANSWERING = "not answering"
BY_PROVIDER = "by the provider"

_P = providers_table.c
_T = places_table.c
_I = introduction_requests.c
_M = imports_table.c


@dataclass(frozen=True, slots=True)
class Listing:
    """One listing on the attention page (public facts and the reason it is there)."""

    provider_id: str
    name: str
    area: str
    #: Why it is listed: ``not answering``/``by the provider`` (paused), ``full`` or ``never requested``.
    reason: str
    #: Since when (naive UTC), when known: the pause, or the last change of a full listing's places.
    since: datetime | None = None
    requests: int = 0

    def to_dict(self) -> dict[str, Any]:
        row = asdict(self)
        row["since"] = self.since.isoformat(timespec="minutes") + "Z" if self.since else None
        return row


@dataclass(frozen=True)
class Attention:
    """The three lists, each sorted oldest first (the longest waiting at the top)."""

    paused: list[Listing] = field(default_factory=list)
    full_for_long: list[Listing] = field(default_factory=list)
    never_requested: list[Listing] = field(default_factory=list)

    def to_dict(self) -> dict[str, list[dict[str, Any]]]:
        return {name: [listing.to_dict() for listing in getattr(self, name)]
                for name in ("paused", "full_for_long", "never_requested")}


def _sort_key(listing: Listing) -> tuple[datetime, str]:
    return (listing.since or datetime.min, listing.provider_id)


def listings_needing_attention(engine: Engine, now: datetime, *, full_days: float,
                               pause_after_expiries: int) -> Attention:
    """The listings that need attention at ``now``.

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
        The database of the catalogue and the introductions.
    now : datetime
        Aware or naive UTC.
    full_days : float
        ``settings.operator_full_days``.
    pause_after_expiries : int
        ``settings.pause_after_expiries``: how many expiries in a row pause a listing.
    """
    metadata.create_all(engine, tables=[providers_table, imports_table, places_table, introduction_requests])
    now = naive_utc(now)
    listed = (sa.select(_P.id, _P.name, _P.area, _P.capacity, _P.active_coaches, _M.finished_at, _M.started_at)
              .select_from(providers_table.outerjoin(imports_table, _M.id == _P.import_id))
              .where(_P.consent == sa.true()))
    requests = sa.select(_I.provider_id, _I.state, _I.created_at, _I.answered_at, _I.closed_at)
    with engine.connect() as conn:
        providers = conn.execute(listed).all()
        places = {row.provider_id: row for row in conn.execute(sa.select(places_table))}
        by_provider: dict[str, list[Any]] = defaultdict(list)
        for row in conn.execute(requests):
            by_provider[row.provider_id].append(row)
    paused, full, never = [], [], []
    for provider in providers:
        kept = by_provider.get(provider.id, [])
        place = places.get(provider.id)
        if place is not None and place.paused:
            reason = _pause_reason(kept, place.paused_changed_at, pause_after_expiries)
            paused.append(Listing(provider.id, provider.name, provider.area, reason, place.paused_changed_at, len(kept)))
            continue
        occupied = (place.taken + place.held) if place is not None else 0
        if provider.capacity - provider.active_coaches - occupied <= 0:
            changes = [_imported_at(provider)]
            changes += [row.created_at for row in kept if row.state in (PENDING, ACCEPTED)]
            changes += [row.answered_at for row in kept if row.state == ACCEPTED]
            last_change = max((moment for moment in changes if moment is not None), default=None)
            if last_change is None or last_change <= now - timedelta(days=full_days):
                full.append(Listing(provider.id, provider.name, provider.area, "full", last_change, len(kept)))
            continue
        if not kept:
            never.append(Listing(provider.id, provider.name, provider.area, "never requested",
                                 _imported_at(provider)))
    return Attention(sorted(paused, key=_sort_key), sorted(full, key=_sort_key), sorted(never, key=_sort_key))


def _imported_at(provider: Any) -> datetime | None:
    """When the provider's row was last imported, naive UTC (the import's times are aware on PostgreSQL)."""
    moment = provider.finished_at or provider.started_at
    return None if moment is None else naive_utc(moment)


def _pause_reason(kept: list[Any], paused_at: datetime | None, in_a_row: int) -> str:
    """``not answering`` when the last ``in_a_row`` requests closed before the pause all expired."""
    closed = sorted((row for row in kept if row.closed_at is not None and (paused_at is None or row.closed_at <= paused_at)),
                    key=lambda row: row.closed_at)
    last = closed[-in_a_row:]
    return NOT_ANSWERING if len(last) == in_a_row and all(row.state == EXPIRED for row in last) else BY_PROVIDER

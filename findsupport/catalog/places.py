"""A provider's places: taken and held through introductions, and whether the listing is paused.

The catalogue file says how many coaches a provider can take (``capacity``) and
how many they already have (``active_coaches``, counted by the operator,
outside findsupport).  This module keeps what findsupport itself changes, in
one row per provider of ``provider_places``:

``taken``
    Places taken by introductions the provider accepted here.
``held``
    Pending introductions: each holds a place until it is answered, withdrawn
    or expires, so one provider is never offered to more coaches than they have
    room for.
``paused``
    The listing is paused (by the provider, or by itself after requests in a
    row expired unanswered): the public catalogue leaves the provider out, so
    asking for them looks exactly like asking for an unknown id.

The public ``spare`` is ``capacity - active_coaches - taken - held`` (never
negative).  Every change happens in a **conditional UPDATE** on the row
(``WHERE taken + held < capacity - active_coaches``), evaluated by the database
under the row's write lock, so two requests or two acceptances racing for the
last place give it to one of them, on SQLite (one writer at a time) and on
PostgreSQL (the second UPDATE waits for the first and re-checks its WHERE on the
committed row) alike.  The functions that change places take the caller's
connection, so they commit or roll back with the introduction they belong to.

Each change also bumps the single revision counter of ``provider_places_revision``
in the same transaction; :meth:`CatalogStore.version` folds it in, so every
server's periodic reload check sees places change.

Re-imports and places: ``taken`` counts only acceptances made through
findsupport and is never touched by an import; an operator who later counts
those coaches in ``active_coaches`` should :func:`release` them here (the manage
page lets a provider free a place when a pairing ends).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..db import metadata
from .model import MAX_ID_CHARS
from .tables import providers_table

__all__ = [
    "places_table",
    "places_revision_table",
    "PLACES_TABLES",
    "Places",
    "ensure_row",
    "hold",
    "release_hold",
    "take",
    "release",
    "set_paused",
    "forget",
    "places_of",
    "revision",
    "occupied_and_paused",
]

places_table = sa.Table(
    "provider_places",
    metadata,
    sa.Column("provider_id", sa.String(MAX_ID_CHARS), primary_key=True),
    sa.Column("taken", sa.Integer, nullable=False, default=0),
    sa.Column("held", sa.Integer, nullable=False, default=0),
    sa.Column("paused", sa.Boolean, nullable=False, default=False),
    # When the listing was last paused or resumed (naive UTC): expiries before it
    # do not count towards pausing it again.
    sa.Column("paused_changed_at", sa.DateTime, nullable=True),
)

#: One row (id 1): a counter bumped by every change of places, read by the catalogue version.
places_revision_table = sa.Table(
    "provider_places_revision",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("revision", sa.Integer, nullable=False),
)

PLACES_TABLES = (places_table, places_revision_table)

_T = places_table.c
_P = providers_table.c


@dataclass(frozen=True, slots=True)
class Places:
    """One provider's places as findsupport counts them."""

    provider_id: str
    taken: int = 0
    held: int = 0
    paused: bool = False
    paused_changed_at: datetime | None = None


def _room() -> sa.ColumnElement[int]:
    """``capacity - active_coaches`` of the places row's provider (NULL for an unknown provider)."""
    return (
        sa.select(_P.capacity - _P.active_coaches)
        .where(_P.id == _T.provider_id, _P.consent == sa.true())
        .scalar_subquery()
    )


def _bump(conn: Connection) -> None:
    """Count one change of places (the row exists: :func:`ensure_row` made it)."""
    t = places_revision_table
    conn.execute(sa.update(t).where(t.c.id == 1).values(revision=t.c.revision + 1))


def ensure_row(engine: Engine, provider_id: str) -> None:
    """Make the provider's places row (and the revision row) if missing, in a transaction of its own.

    Separate from the conditional updates so that two first requests racing to
    create the row never abort the transaction that holds an introduction: the
    loser of the INSERT race simply finds the row there.
    """
    for table, values, key in (
        (places_revision_table, {"id": 1, "revision": 0}, places_revision_table.c.id == 1),
        (places_table, {"provider_id": provider_id, "taken": 0, "held": 0, "paused": False}, _T.provider_id == provider_id),
    ):
        with engine.connect() as conn:
            present = conn.execute(sa.select(sa.literal(1)).select_from(table).where(key)).first()
        if present is None:
            try:
                with engine.begin() as conn:
                    conn.execute(sa.insert(table).values(**values))
            except sa.exc.IntegrityError:
                pass  # another request made it first


def hold(conn: Connection, provider_id: str) -> bool:
    """Hold a place for a new pending request; ``False`` when there is no spare room or the listing is paused.

    The row must exist (:func:`ensure_row`).
    """
    result = conn.execute(
        sa.update(places_table)
        .where(_T.provider_id == provider_id, _T.paused == sa.false(), _T.taken + _T.held < _room())
        .values(held=_T.held + 1)
    )
    if result.rowcount == 1:
        _bump(conn)
        return True
    return False


def release_hold(conn: Connection, provider_id: str) -> None:
    """A pending request was declined, withdrawn or expired: its held place is free again."""
    result = conn.execute(
        sa.update(places_table).where(_T.provider_id == provider_id, _T.held > 0).values(held=_T.held - 1)
    )
    if result.rowcount:
        _bump(conn)


def take(conn: Connection, provider_id: str) -> bool:
    """Turn one held place into a taken one (an acceptance); ``False`` when no place is left.

    The condition is on ``taken`` alone (the request being accepted holds one of
    the ``held`` places), so it fails only when room shrank since the request
    (a re-import lowered ``capacity`` or raised ``active_coaches``) and two
    acceptances race for what is left: one gets it.
    """
    result = conn.execute(
        sa.update(places_table)
        .where(_T.provider_id == provider_id, _T.taken < _room())
        .values(taken=_T.taken + 1, held=sa.case((_T.held > 0, _T.held - 1), else_=0))
    )
    if result.rowcount == 1:
        _bump(conn)
        return True
    return False


def release(engine: Engine, provider_id: str, count: int = 1) -> int:
    """Free up to ``count`` taken places (a pairing ended); returns how many were freed."""
    if count < 1:
        raise ValueError(f"count must be at least 1; got {count}")
    with engine.begin() as conn:
        row = conn.execute(sa.select(_T.taken).where(_T.provider_id == provider_id)).first()
        freed = min(count, row.taken) if row else 0
        if freed:
            conn.execute(
                sa.update(places_table)
                .where(_T.provider_id == provider_id, _T.taken >= freed)
                .values(taken=_T.taken - freed)
            )
            _bump(conn)
    return freed


def set_paused(conn: Connection, provider_id: str, paused: bool, now: datetime) -> bool:
    """Pause or resume a listing; ``True`` when this changed it."""
    result = conn.execute(
        sa.update(places_table)
        .where(_T.provider_id == provider_id, _T.paused == (sa.false() if paused else sa.true()))
        .values(paused=paused, paused_changed_at=now)
    )
    if result.rowcount == 1:
        _bump(conn)
        return True
    return False


def forget(conn: Connection, provider_id: str) -> None:
    """The provider withdrew consent: delete their places row (holds of pending requests go with it)."""
    if conn.execute(sa.delete(places_table).where(_T.provider_id == provider_id)).rowcount:
        _bump(conn)


def places_of(conn: Connection, provider_id: str) -> Places:
    """The provider's places (zeros when findsupport never changed them)."""
    row = conn.execute(sa.select(places_table).where(_T.provider_id == provider_id)).mappings().first()
    return Places(**row) if row else Places(provider_id=provider_id)


def revision(conn: Connection) -> int:
    """The places revision (0 before any change)."""
    value = conn.execute(sa.select(places_revision_table.c.revision).where(places_revision_table.c.id == 1)).scalar()
    return int(value or 0)


def occupied_and_paused(conn: Connection) -> tuple[dict[str, int], set[str]]:
    """Places taken or held by provider id (non-zero only), and the ids of paused listings."""
    occupied: dict[str, int] = {}
    paused: set[str] = set()
    for provider_id, taken, held, is_paused in conn.execute(sa.select(_T.provider_id, _T.taken, _T.held, _T.paused)):
        if taken + held:
            occupied[provider_id] = taken + held
        if is_paused:
            paused.add(provider_id)
    return occupied, paused

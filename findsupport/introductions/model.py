"""What an introduction is: its states, what the coach asked, and the record the service hands out.

Examples
--------
>>> asked = Asked.from_query({"postcode": "NE21 4LZ", "role": "mentor", "event": "hurdles",
...                           "slots": ["tue_eve"], "mode": "in_person", "level": "sessional_coach"})
>>> asked.sector, asked.area
('NE21 4', 'NE')
>>> asked.finder_url("https://find.example")
'https://find.example/?postcode=NE21+4&role=mentor&event=hurdles&slots=tue_eve&mode=in_person&level=sessional_coach'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from .. import taxonomy
from ..errors import InvalidPostcode
from ..geo.grammar import parse_postcode

__all__ = [
    "STATES",
    "OPEN_STATES",
    "CLOSED_STATES",
    "PENDING",
    "ACCEPTED",
    "DECLINED",
    "EXPIRED",
    "WITHDRAWN",
    "Asked",
    "Introduction",
    "Clock",
    "utc_clock",
    "naive_utc",
    "aware_utc",
]

PENDING = "pending"
ACCEPTED = "accepted"
DECLINED = "declined"
EXPIRED = "expired"
WITHDRAWN = "withdrawn"
#: Every state, in lifecycle order.
STATES: tuple[str, ...] = (PENDING, ACCEPTED, DECLINED, EXPIRED, WITHDRAWN)
#: States an answer can still change.
OPEN_STATES: tuple[str, ...] = (PENDING,)
#: Final states (``accepted`` is final for the lifecycle; its outcome check-in follows).
CLOSED_STATES: tuple[str, ...] = (ACCEPTED, DECLINED, EXPIRED, WITHDRAWN)

#: A clock returns an aware UTC datetime; tests pass their own.
Clock = Callable[[], datetime]


def utc_clock() -> datetime:
    """The real clock (aware UTC)."""
    return datetime.now(UTC)


def naive_utc(moment: datetime) -> datetime:
    """Naive UTC for storage (aware times are converted; naive ones are taken as UTC)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def aware_utc(moment: datetime | None) -> datetime | None:
    """Aware UTC from a stored naive UTC time."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _code(value: Any, allowed: Any) -> str | None:
    return value if isinstance(value, str) and value in allowed else None


@dataclass(frozen=True, slots=True)
class Asked:
    """What the coach asked for, at public granularity (their postcode *sector*, never the full postcode).

    Built from a search's query with :meth:`from_query`; unknown codes are
    dropped rather than trusted, since the query may come from a client.
    """

    role: str | None = None
    event: str | None = None
    slots: tuple[str, ...] = ()
    mode: str | None = None
    sector: str | None = None
    level: str | None = None

    @classmethod
    def from_query(cls, query: Mapping[str, Any] | None, *, sector: str | None = None) -> "Asked":
        """From a feedback-log ``query`` (``postcode, role, event, slots, mode, level``).

        ``sector`` overrides the one derived from ``query["postcode"]`` (the web
        layer passes it for a search by longitude/latitude, which has no postcode).
        """
        query = query or {}
        if sector is None:
            sector = _sector(query.get("postcode"))
        slots = query.get("slots") or ()
        if isinstance(slots, str):
            slots = slots.split(",")
        return cls(
            role=_code(query.get("role"), taxonomy.ROLES),
            event=query.get("event") if isinstance(query.get("event"), str) and taxonomy.is_event_or_group(query["event"]) else None,
            slots=tuple(s for s in slots if isinstance(s, str) and s in taxonomy.SLOTS),
            mode=_code(query.get("mode"), taxonomy.MODES),
            sector=sector,
            level=_code(query.get("level"), taxonomy.QUALIFICATIONS),
        )

    @property
    def area(self) -> str | None:
        """Postcode area letters of the sector (``"NE"``), for statistics by region."""
        if not self.sector:
            return None
        try:
            return parse_postcode(self.sector).area
        except InvalidPostcode:
            return None

    def finder_url(self, public_url: str) -> str:
        """The finder with the same search, at sector level: ``{public_url}/?postcode=<sector>&role=...``."""
        params: list[tuple[str, str]] = []
        for name, value in (("postcode", self.sector), ("role", self.role), ("event", self.event)):
            if value:
                params.append((name, value))
        if self.slots:
            params.append(("slots", ",".join(self.slots)))
        for name, value in (("mode", self.mode), ("level", self.level)):
            if value:
                params.append((name, value))
        return f"{public_url.rstrip('/')}/" + (f"?{urlencode(params)}" if params else "")


def _sector(postcode: Any) -> str | None:
    if not isinstance(postcode, str):
        return None
    try:
        return parse_postcode(postcode).sector
    except InvalidPostcode:
        return None


@dataclass(frozen=True, slots=True)
class Introduction:
    """One introduction as stored (times aware UTC).  ``coach_email`` is private until acceptance."""

    id: str
    provider_id: str
    search_id: str | None
    coach_name: str
    coach_email: str = field(repr=False)
    asked: Asked
    message: str
    note: str | None
    state: str
    created_at: datetime
    expires_at: datetime
    reminded_at: datetime | None
    answered_at: datetime | None
    closed_at: datetime | None
    outcome_sent_at: datetime | None
    coach_met: bool | None
    coach_helpful: bool | None
    provider_met: bool | None
    provider_helpful: bool | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "Introduction":
        """From a row of ``introduction_requests``."""
        return cls(
            id=row["id"],
            provider_id=row["provider_id"],
            search_id=row["search_id"],
            coach_name=row["coach_name"],
            coach_email=row["coach_email"],
            asked=Asked(
                role=row["role"],
                event=row["event"],
                slots=tuple(s for s in (row["slots"] or "").split(";") if s),
                mode=row["mode"],
                sector=row["sector"],
                level=row["coach_level"],
            ),
            message=row["message"],
            note=row["note"],
            state=row["state"],
            created_at=aware_utc(row["created_at"]),
            expires_at=aware_utc(row["expires_at"]),
            reminded_at=aware_utc(row["reminded_at"]),
            answered_at=aware_utc(row["answered_at"]),
            closed_at=aware_utc(row["closed_at"]),
            outcome_sent_at=aware_utc(row["outcome_sent_at"]),
            coach_met=row["coach_met"],
            coach_helpful=row["coach_helpful"],
            provider_met=row["provider_met"],
            provider_helpful=row["provider_helpful"],
        )

    def public_dict(self) -> dict[str, Any]:
        """Fields safe for an operator listing: no name, e-mail or message of the coach."""
        return {
            "id": self.id,
            "provider_id": self.provider_id,
            "state": self.state,
            "role": self.asked.role,
            "event": self.asked.event,
            "mode": self.asked.mode,
            "area": self.asked.area,
            "created_at": self.created_at.isoformat(timespec="seconds"),
            "answered_at": self.answered_at.isoformat(timespec="seconds") if self.answered_at else None,
            "closed_at": self.closed_at.isoformat(timespec="seconds") if self.closed_at else None,
            "met": self.coach_met if self.coach_met is not None else self.provider_met,
        }

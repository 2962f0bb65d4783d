"""The search query: one validated shape for the CLI, the HTTP API, batch files, feedback logs and notebooks.

A value type below the search engine and the ranking package (which rebuilds
logged queries with it); :mod:`findsupport.search` re-exports it.

:func:`parse_query` is the only place a search parameter is checked.  It
accepts what people and programs actually send (strings from URLs and flags,
lists or comma-separated strings for slots, JSON numbers) and raises
:class:`InvalidQuery` naming the field, what was wrong and what is allowed.

Examples
--------
>>> q = parse_query({"postcode": "ne21 4lz", "role": "mentor", "event": "jumps",
...                  "slots": "tue_eve,sat_am", "radius_km": "30"})
>>> q.postcode, q.role, q.event, q.slots, q.radius_km, q.limit, q.mode
('ne21 4lz', 'mentor', 'jumps', ('tue_eve', 'sat_am'), 30.0, 10, 'in_person')
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from . import taxonomy
from .config import Settings
from .errors import InvalidQuery

__all__ = ["SearchQuery", "parse_query", "QUERY_FIELDS", "DEFAULT_MODE", "SORTS", "MAX_DEPTH", "MAX_ID_CHARS"]

#: Every field a query may carry (DESIGN.md contract, plus lon/lat, offset, a batch id, the order and the filters).
QUERY_FIELDS: tuple[str, ...] = (
    "postcode",
    "lon",
    "lat",
    "role",
    "event",
    "slots",
    "mode",
    "level",
    "radius_km",
    "limit",
    "offset",
    "id",
    "sort",
    "has_room",
    "min_qualification",
)

#: A coach looking at a map of people near them means in person unless they say otherwise.
DEFAULT_MODE = "in_person"
#: How deep a coach may page (offset + limit); deeper pages are never looked at.
MAX_DEPTH = 500
#: Batch ids are echoed back; keep them short.
MAX_ID_CHARS = 200
#: Result orders: the ranking's (default), or by distance from the coach (the score breaks ties).
SORTS: tuple[str, ...] = ("best", "nearest")
#: How yes/no parameters may be spelled (URLs, flags, JSON booleans).
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """A validated search.

    Exactly one of ``postcode`` (full, sector or district; resolved by the
    engine) and ``lon``/``lat`` is set.  ``role`` and ``event`` may be
    ``None`` (any).  ``slots`` keeps the order given, without duplicates.
    """

    postcode: str | None = None
    lon: float | None = None
    lat: float | None = None
    role: str | None = None
    event: str | None = None
    slots: tuple[str, ...] = ()
    mode: str = DEFAULT_MODE
    level: str | None = None
    radius_km: float = 25.0
    limit: int = 10
    offset: int = 0
    id: str | None = None
    #: ``best`` (the ranking) or ``nearest``.
    sort: str = "best"
    #: Only providers with a free place.
    has_room: bool = False
    #: Only providers qualified at least this (a qualification code; its level counts).
    min_qualification: str | None = None

    @property
    def filtered(self) -> bool:
        """Whether the query filters or orders beyond the ranking (see :mod:`findsupport.search.refine`)."""
        return self.has_room or self.min_qualification is not None or self.sort != "best"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (as echoed in responses and written to the feedback log)."""
        data = asdict(self)
        data["slots"] = list(self.slots)
        return data

    def feedback_query(self) -> dict[str, Any]:
        """The ``query`` object of a feedback-log line (DESIGN.md)."""
        return {
            "postcode": self.postcode,
            "lon": self.lon,
            "lat": self.lat,
            "role": self.role,
            "event": self.event,
            "slots": list(self.slots),
            "mode": self.mode,
            "level": self.level,
        }


def _fail(field: str, message: str, allowed: Any = None) -> InvalidQuery:
    return InvalidQuery(message, field=field, allowed=allowed)


def _text(params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        raise _fail(name, f"{name} was given {len(value)} times; give it once.")
    if not isinstance(value, str):
        raise _fail(name, f"{name} must be text; got {type(value).__name__}.")
    value = value.strip()
    return value or None


def _choice(params: Mapping[str, Any], name: str, allowed: tuple[str, ...] | list[str]) -> str | None:
    value = _text(params, name)
    if value is None:
        return None
    code = value.lower()
    if code not in allowed:
        shown = value if len(value) <= 40 else value[:40] + "…"
        raise _fail(name, f"Got {name}={shown!r}; {name} must be one of {', '.join(allowed)}.", list(allowed))
    return code


def _number(params: Mapping[str, Any], name: str, default: float, low: float, high: float, *, integer: bool) -> Any:
    value = params.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    if isinstance(value, (list, tuple)):
        raise _fail(name, f"{name} was given {len(value)} times; give it once.")
    kind = "a whole number" if integer else "a number"
    if isinstance(value, bool):
        raise _fail(name, f"{name} must be {kind} between {low:g} and {high:g}; got {value!r}.")
    try:
        number = float(value.strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        shown = str(value)[:40]
        raise _fail(name, f"{name} must be {kind} between {low:g} and {high:g}; got {shown!r}.") from None
    if not math.isfinite(number) or (integer and number != int(number)):
        raise _fail(name, f"{name} must be {kind} between {low:g} and {high:g}; got {value!r}.")
    if not low <= number <= high:
        raise _fail(name, f"{name} must be between {low:g} and {high:g}; got {number:g}.")
    return int(number) if integer else number


def _flag(params: Mapping[str, Any], name: str) -> bool:
    value = params.get(name)
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, (list, tuple)):
        raise _fail(name, f"{name} was given {len(value)} times; give it once.")
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE or not text:
        return False
    raise _fail(name, f"Got {name}={str(value)[:40]!r}; {name} must be true or false.", ["true", "false"])


def _slots(params: Mapping[str, Any]) -> tuple[str, ...]:
    value = params.get("slots")
    if value is None:
        return ()
    if isinstance(value, str):
        items = [s.strip().lower() for s in value.split(",")]
    elif isinstance(value, (list, tuple)):
        items = []
        for item in value:
            if not isinstance(item, str):
                raise _fail("slots", f"slots must be slot codes such as tue_eve; got {item!r}.", list(taxonomy.SLOTS))
            items.extend(s.strip().lower() for s in item.split(","))
    else:
        raise _fail("slots", f"slots must be a comma-separated list such as tue_eve,sat_am; got {type(value).__name__}.")
    items = [s for s in items if s]
    unknown = [s for s in items if s not in taxonomy.SLOTS]
    if unknown:
        shown = ", ".join(repr(s[:20]) for s in unknown[:3])
        raise _fail(
            "slots",
            f"Unknown slot {shown}; a slot is a day (mon..sun) and a time (am, pm, eve), e.g. tue_eve or sat_am.",
            list(taxonomy.SLOTS),
        )
    return tuple(dict.fromkeys(items))


def parse_query(params: Mapping[str, Any], settings: Settings | None = None, *, strict: bool = True) -> SearchQuery:
    """Validate search parameters into a :class:`SearchQuery`.

    Parameters
    ----------
    params : mapping
        Field names of :data:`QUERY_FIELDS`.  Values may be strings (URLs,
        flags) or JSON values (batch files, Python).  A list value for a
        single-valued field means it was repeated, which is an error.
    settings : Settings, optional
        Radius and limit bounds and defaults (the built-in defaults otherwise).
    strict : bool, default True
        Reject unknown fields (a typo such as ``radius=`` would otherwise be
        silently ignored).

    Raises
    ------
    InvalidQuery
        With ``field`` naming the parameter and a message that says what is allowed.
    """
    settings = settings or Settings()
    if not isinstance(params, Mapping):
        raise _fail("query", f"A query must be an object of fields; got {type(params).__name__}.")
    if strict:
        unknown = sorted(str(k) for k in params if k not in QUERY_FIELDS)
        if unknown:
            raise _fail(
                unknown[0][:40],
                f"Unknown parameter {unknown[0][:40]!r}; known parameters are {', '.join(QUERY_FIELDS)}.",
                list(QUERY_FIELDS),
            )
    postcode = _text(params, "postcode")
    has_lon, has_lat = params.get("lon") not in (None, ""), params.get("lat") not in (None, "")
    lon = lat = None
    if has_lon or has_lat:
        if not (has_lon and has_lat):
            missing = "lat" if has_lon else "lon"
            raise _fail(missing, f"Give both lon and lat (degrees), or a postcode; {missing} is missing.")
        if postcode is not None:
            raise _fail("postcode", "Give either a postcode or lon/lat, not both.")
        lon = _number(params, "lon", 0.0, -180.0, 180.0, integer=False)
        lat = _number(params, "lat", 0.0, -90.0, 90.0, integer=False)
    elif postcode is None:
        raise _fail("postcode", "Enter a postcode (e.g. NE21 4LZ), a district (NE21) or a location (lon and lat).")
    elif len(postcode) > 16:
        raise _fail("postcode", "That is too long for a postcode; a postcode looks like NE21 4LZ.")

    role = _choice(params, "role", taxonomy.ROLES)
    event = _choice(params, "event", [*taxonomy.EVENT_GROUPS, *[e for e in taxonomy.EVENTS if e not in taxonomy.EVENT_GROUPS]])
    mode = _choice(params, "mode", taxonomy.MODES) or DEFAULT_MODE
    level = _choice(params, "level", list(taxonomy.QUALIFICATIONS))
    radius_km = _number(
        params, "radius_km", settings.default_radius_km, settings.min_radius_km, settings.max_radius_km, integer=False
    )
    limit = _number(params, "limit", settings.default_limit, 1, settings.max_limit, integer=True)
    offset = _number(params, "offset", 0, 0, MAX_DEPTH - 1, integer=True)
    if offset + limit > MAX_DEPTH:
        raise _fail("offset", f"offset + limit must be at most {MAX_DEPTH}; got {offset + limit}.")
    query_id = params.get("id")
    if query_id is not None:
        if isinstance(query_id, bool) or not isinstance(query_id, (str, int)):
            raise _fail("id", f"id must be text or a whole number; got {type(query_id).__name__}.")
        query_id = str(query_id)
        if len(query_id) > MAX_ID_CHARS:
            raise _fail("id", f"id must be at most {MAX_ID_CHARS} characters.")
    return SearchQuery(
        postcode=postcode,
        lon=lon,
        lat=lat,
        role=role,
        event=event,
        slots=_slots(params),
        mode=mode,
        level=level,
        radius_km=radius_km,
        limit=limit,
        offset=offset,
        id=query_id,
        sort=_choice(params, "sort", SORTS) or "best",
        has_room=_flag(params, "has_room"),
        min_qualification=_choice(params, "min_qualification", list(taxonomy.QUALIFICATIONS)),
    )

"""The provider model: one private record per provider, the columns of a catalogue file, the limits.

A :class:`Provider` is everything the store keeps about one volunteer,
private fields included (their postcode, the coordinates they gave, their
e-mail address).  It is built only by validation
(:func:`findsupport.catalog.validate_row` and the import that uses it), so a
``Provider`` always satisfies every rule below.  Every later layer sees the
:class:`~findsupport.catalog.public.PublicProvider` that
:meth:`Provider.public` makes, which has no field for the private data.

The fixed numbers of a catalogue row live here, each with its reason.

Examples
--------
>>> split_list(" mentor; co_coach ;;mentor")
('mentor', 'co_coach')
>>> join_list(("tue_eve", "sat_am"))
'tue_eve;sat_am'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .public import PublicProvider

__all__ = [
    "Provider",
    "Contact",
    "Problem",
    "LIST_SEPARATOR",
    "CSV_COLUMNS",
    "REQUIRED_COLUMNS",
    "COORDINATE_COLUMNS",
    "SERVICE_AREA_COLUMN",
    "IMPORT_COLUMNS",
    "PRIVATE_COLUMNS",
    "DEFAULT_CAPACITY",
    "MAX_CAPACITY",
    "MAX_TRAVEL_KM",
    "MAX_ID_CHARS",
    "MAX_NAME_CHARS",
    "MAX_CLUB_CHARS",
    "MAX_BIO_CHARS",
    "MAX_EMAIL_CHARS",
    "MIN_SERVICE_AREA_KM2",
    "MIN_POSTCODES_IN_PUBLIC_AREA",
    "MAX_SERVICE_AREA_VERTICES",
    "split_list",
    "join_list",
]

#: DESIGN.md: list items (roles, events, availability) are separated by ``;`` in files.
LIST_SEPARATOR = ";"

#: DESIGN.md's provider CSV contract, in its order.
CSV_COLUMNS: tuple[str, ...] = (
    "id",
    "name",
    "roles",
    "postcode",
    "events",
    "availability",
    "travel_km",
    "online",
    "capacity",
    "active_coaches",
    "qualification",
    "club",
    "email",
    "consent",
    "bio",
)
#: Columns every file must have (``postcode`` may be replaced by ``lat`` and ``lon``,
#: or in a spatial file by point geometries).
REQUIRED_COLUMNS: tuple[str, ...] = ("id", "name", "roles", "postcode", "events", "email", "consent")
#: DESIGN.md: ``lat``/``lon`` (WGS84 degrees) may replace ``postcode``.
COORDINATE_COLUMNS: tuple[str, ...] = ("lat", "lon")
#: An explicit service area in a CSV file: WKT of a polygon or multipolygon in
#: British National Grid metres (EPSG:27700).  Spatial files carry it as their geometry.
SERVICE_AREA_COLUMN = "service_area"
#: Every column an import understands; any other column is an error, so a
#: misspelt header ("avaliability") cannot silently lose a whole column of data.
IMPORT_COLUMNS: tuple[str, ...] = (*CSV_COLUMNS, *COORDINATE_COLUMNS, SERVICE_AREA_COLUMN)
#: Columns of a ``--private`` CSV export: exactly what an import reads back.
PRIVATE_COLUMNS: tuple[str, ...] = IMPORT_COLUMNS

#: A provider who leaves capacity empty can take on three coaches: a mentor or
#: co-coach volunteering a couple of evenings a week typically supports two to
#: four coaches, and three keeps an unfilled column from looking like "full" (0)
#: or "unlimited".
DEFAULT_CAPACITY = 3
#: Even a full-time coach developer supports a few dozen coaches at most; a larger
#: number is a typo (or a headcount of athletes), not a capacity.
MAX_CAPACITY = 100
#: Issue #3: beyond 200 km in-person support is not realistic (the same bound as
#: the largest search radius); farther help is what ``online`` is for.
MAX_TRAVEL_KM = 200.0
#: Ids appear in URLs (``/api/v1/providers/{id}``) and feedback logs: short and plain.
MAX_ID_CHARS = 64
#: Long enough for any real name (and the e-mail subject line it goes into).
MAX_NAME_CHARS = 100
#: The longest registered club names are around 60 characters.
MAX_CLUB_CHARS = 120
#: A bio is a short paragraph on a result card, not a CV.
MAX_BIO_CHARS = 1000
#: RFC 5321's limit on a forward path.
MAX_EMAIL_CHARS = 254
#: An explicit service area smaller than this could outline a home more closely than
#: the public sector location does (urban sectors are around 1-5 km²); a real service
#: area is a district or a county.  Smaller reach is what ``travel_km`` is for.
MIN_SERVICE_AREA_KM2 = 10.0
#: The public location is the centroid of the provider's postcode sector only when the
#: sector has at least this many located postcodes (about 15 addresses each); a smaller
#: sector (some hold a single postcode) would give away the postcode itself, so the
#: district's centroid is used instead, and a district that small is refused.
MIN_POSTCODES_IN_PUBLIC_AREA = 5
#: A county boundary simplified for display has a few thousand vertices; far more
#: slows every search that tests the polygon, so such a file should be simplified first.
MAX_SERVICE_AREA_VERTICES = 20_000


class Problem(NamedTuple):
    """Why one value of a row cannot be imported: the column (or ``geometry``) and a reason."""

    column: str
    reason: str


def split_list(text: str) -> tuple[str, ...]:
    """Items of a ``;``-separated list, trimmed, empty items and repeats dropped, order kept."""
    items = (item.strip() for item in text.split(LIST_SEPARATOR))
    return tuple(dict.fromkeys(item for item in items if item))


def join_list(items: tuple[str, ...] | list[str]) -> str:
    """The file form of a list of codes."""
    return LIST_SEPARATOR.join(items)


@dataclass(frozen=True, slots=True)
class Provider:
    """One provider as the store keeps them: public fields, public location and private data.

    Public location (``area``, ``easting``, ``northing``, ``lon``, ``lat``): the
    centroid of the provider's postcode sector, fixed at import (of their
    district, labelled like ``"AB21"``, in the rare sector with fewer than
    ``MIN_POSTCODES_IN_PUBLIC_AREA`` postcodes).  Private data,
    hidden from ``repr`` so a log line cannot leak it by accident:

    ``email``
        For introductions only (sent by the server, never shown).
    ``postcode``
        Canonical postcode as given, or ``None`` when the row gave coordinates only.
    ``base_lon``, ``base_lat``
        The coordinates the row gave (``lat``/``lon`` columns or a point geometry),
        or ``None`` when it gave a postcode only.
    ``base_easting``, ``base_northing``
        The provider's base on the British National Grid: the given point, else
        their postcode's own location.

    ``service_area`` is an explicit polygon (EPSG:27700) or ``None``.
    """

    id: str
    name: str
    roles: tuple[str, ...]
    events: tuple[str, ...]
    availability: tuple[str, ...]
    online: bool
    travel_km: float
    capacity: int
    active_coaches: int
    qualification: str | None
    club: str | None
    bio: str | None
    consent: bool
    area: str
    easting: float
    northing: float
    lon: float
    lat: float
    email: str = field(repr=False)
    postcode: str | None = field(repr=False)
    base_lon: float | None = field(repr=False)
    base_lat: float | None = field(repr=False)
    base_easting: float = field(repr=False)
    base_northing: float = field(repr=False)
    service_area: Any = field(default=None, compare=False, repr=False)

    def public(self) -> PublicProvider:
        """The public view: no postcode, no private coordinates, no e-mail."""
        return PublicProvider(
            id=self.id,
            name=self.name,
            roles=self.roles,
            events=self.events,
            availability=self.availability,
            online=self.online,
            travel_km=self.travel_km,
            capacity=self.capacity,
            active_coaches=self.active_coaches,
            qualification=self.qualification,
            club=self.club,
            bio=self.bio,
            area=self.area,
            easting=self.easting,
            northing=self.northing,
            lon=self.lon,
            lat=self.lat,
            service_area=self.service_area,
        )


@dataclass(frozen=True, slots=True)
class Contact:
    """How to reach a consented provider, for the introduction mailer only.

    Never serialise it into a response, a page or a log line; ``repr`` hides
    the address so an accidental ``log.info("%r", contact)`` does not leak it.
    """

    id: str
    name: str
    email: str = field(repr=False)

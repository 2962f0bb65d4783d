"""The public view of providers: the only provider data any later layer sees.

Providers are volunteers and their homes are personal data.  The public view
type has **no field** for the private postcode, the private coordinates or the
e-mail address, so the index, the ranking, the API, the map and the logs
cannot leak them by accident.  Everything here is computed from the
provider's *public location*: the centroid of their postcode sector, fixed at
import, with the sector's label (``"NE21 4"``) as ``area``.

:class:`PublicCatalog` holds the consented providers twice: as
:class:`PublicProvider` objects (for serialising results) and as contiguous
numpy columns (for the index and the vectorised ranking).  Position ``i`` in
every column is ``providers[i]``.  It is immutable once built; a new import
builds a new one that is swapped in whole.  ``providers`` is a tuple when the
catalogue was built from objects (:meth:`PublicCatalog.from_providers`), or a
sequence that makes each object from columns when it came from a cached
snapshot (:mod:`findsupport.catalog.snapshot`); both compare equal to the
tuple of the same providers.

Examples
--------
>>> p = PublicProvider(id="p1", name="Sam", roles=("mentor",), events=("hurdles",),
...                    availability=("tue_eve",), online=False, travel_km=20.0, capacity=3,
...                    active_coaches=1, qualification="athletics_coach", club=None, bio=None,
...                    area="NE21 4", easting=417647.0, northing=563312.0, lon=-1.7259, lat=54.9641)
>>> catalog = PublicCatalog.from_providers([p])
>>> len(catalog), int(catalog.spare[0]), catalog.position_of("p1")
(1, 2, 0)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import taxonomy
from ..errors import ProviderNotFound

__all__ = ["PublicProvider", "PublicCatalog", "PUBLIC_FIELDS"]

#: Fields of the public view, in export order (CSV/GeoJSON of the public catalogue).
PUBLIC_FIELDS: tuple[str, ...] = (
    "id",
    "name",
    "roles",
    "events",
    "availability",
    "online",
    "travel_km",
    "capacity",
    "active_coaches",
    "qualification",
    "club",
    "bio",
    "area",
    "lat",
    "lon",
)


@dataclass(frozen=True, slots=True)
class PublicProvider:
    """One consented provider as the public may see them.

    ``easting``/``northing`` (metres, EPSG:27700) and ``lon``/``lat`` are the
    centroid of the provider's postcode sector ``area``.  ``service_area`` is
    an explicit polygon (EPSG:27700) when the provider declared one (a coach
    developer covering a county); otherwise their service area is the circle
    of ``travel_km`` around the public location.
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
    area: str
    easting: float
    northing: float
    lon: float
    lat: float
    service_area: Any = field(default=None, compare=False, repr=False)  # shapely geometry or None
    #: Places taken or held through introductions (see :mod:`findsupport.catalog.places`).
    places_taken: int = 0

    @property
    def spare(self) -> int:
        """How many more coaches the provider can take on (never negative).

        Pending introductions hold places, so a provider is not offered to more
        coaches than they have room for.
        """
        return max(self.capacity - self.active_coaches - self.places_taken, 0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready public fields (the API's provider shape, without search-specific fields)."""
        return {
            "id": self.id,
            "name": self.name,
            "roles": list(self.roles),
            "events": list(self.events),
            "availability": list(self.availability),
            "online": self.online,
            "travel_km": self.travel_km,
            "capacity": self.capacity,
            "active_coaches": self.active_coaches,
            "spare_capacity": self.spare,
            "qualification": self.qualification,
            "club": self.club,
            "bio": self.bio,
            "area": self.area,
            "has_service_area": self.service_area is not None,
            "location": {"lat": round(self.lat, 6), "lon": round(self.lon, 6)},
        }


@dataclass(frozen=True, eq=False)
class PublicCatalog:
    """Consented providers as objects and as aligned numpy columns.

    Columns (length ``n``; position ``i`` is ``providers[i]``):

    ``x``, ``y`` (float64 metres)
        Public location (sector centroid) on the British National Grid.
    ``reach_m`` (float64)
        ``travel_km`` in metres: radius of the circular service area.
    ``online`` (bool)
    ``role_mask`` (uint8), ``event_mask`` (uint32), ``slot_mask`` (uint32)
        Bit ``k`` set when the provider has ``ROLES[k]``/``EVENTS[k]``/``SLOTS[k]``
        (see :mod:`findsupport.taxonomy`).
    ``primary_role`` (int8)
        Index into ``ROLES`` of the provider's first-listed role.
    ``capacity``, ``active``, ``spare`` (int32)
        ``spare`` also counts places taken or held through introductions.
    ``level`` (int8)
        Qualification level 0-4 (0: none given).
    ``has_area`` (bool)
        True when ``providers[i].service_area`` is an explicit polygon.
    """

    providers: Sequence[PublicProvider]
    x: np.ndarray
    y: np.ndarray
    reach_m: np.ndarray
    online: np.ndarray
    role_mask: np.ndarray
    event_mask: np.ndarray
    slot_mask: np.ndarray
    primary_role: np.ndarray
    capacity: np.ndarray
    active: np.ndarray
    spare: np.ndarray
    level: np.ndarray
    has_area: np.ndarray
    version: str
    _positions: Mapping[str, int] = field(repr=False)

    COLUMNS = (
        "x",
        "y",
        "reach_m",
        "online",
        "role_mask",
        "event_mask",
        "slot_mask",
        "primary_role",
        "capacity",
        "active",
        "spare",
        "level",
        "has_area",
    )

    @classmethod
    def from_providers(cls, providers: Iterable[PublicProvider], version: str | None = None) -> "PublicCatalog":
        """Build the columns from public providers (order kept; ids must be unique)."""
        items = tuple(providers)
        positions: dict[str, int] = {}
        for i, p in enumerate(items):
            if p.id in positions:
                raise ValueError(f"duplicate provider id {p.id!r} in the public catalogue")
            positions[p.id] = i
        n = len(items)
        role_bits = {code: 1 << k for k, code in enumerate(taxonomy.ROLES)}
        event_bits = {code: 1 << k for k, code in enumerate(taxonomy.EVENTS)}
        slot_bits = {code: 1 << k for k, code in enumerate(taxonomy.SLOTS)}
        role_index = {code: k for k, code in enumerate(taxonomy.ROLES)}

        def mask(codes: Sequence[str], bits: dict[str, int]) -> int:
            value = 0
            for code in codes:
                value |= bits[code]
            return value

        capacity = np.fromiter((p.capacity for p in items), dtype=np.int32, count=n)
        active = np.fromiter((p.active_coaches for p in items), dtype=np.int32, count=n)
        taken = np.fromiter((p.places_taken for p in items), dtype=np.int32, count=n)
        columns = dict(
            x=np.fromiter((p.easting for p in items), dtype=np.float64, count=n),
            y=np.fromiter((p.northing for p in items), dtype=np.float64, count=n),
            reach_m=np.fromiter((p.travel_km * 1000.0 for p in items), dtype=np.float64, count=n),
            online=np.fromiter((p.online for p in items), dtype=bool, count=n),
            role_mask=np.fromiter((mask(p.roles, role_bits) for p in items), dtype=np.uint8, count=n),
            event_mask=np.fromiter((mask(p.events, event_bits) for p in items), dtype=np.uint32, count=n),
            slot_mask=np.fromiter((mask(p.availability, slot_bits) for p in items), dtype=np.uint32, count=n),
            primary_role=np.fromiter((role_index[p.roles[0]] if p.roles else -1 for p in items), dtype=np.int8, count=n),
            capacity=capacity,
            active=active,
            spare=np.maximum(capacity - active - taken, 0).astype(np.int32),
            level=np.fromiter((taxonomy.qualification_level(p.qualification) for p in items), dtype=np.int8, count=n),
            has_area=np.fromiter((p.service_area is not None for p in items), dtype=bool, count=n),
        )
        for column in columns.values():
            column.flags.writeable = False
        return cls(providers=items, version=version or _fingerprint(items), _positions=positions, **columns)

    def __len__(self) -> int:
        return len(self.providers)

    def __contains__(self, provider_id: object) -> bool:
        return provider_id in self._positions

    def position_of(self, provider_id: str) -> int:
        """Position of a provider; :class:`ProviderNotFound` for unknown (or unconsented) ids."""
        try:
            return self._positions[provider_id]
        except (KeyError, TypeError):
            raise ProviderNotFound("No provider with that id is listed.") from None

    def get(self, provider_id: str) -> PublicProvider:
        """The public view of one provider; unknown and unconsented ids raise the same error."""
        return self.providers[self.position_of(provider_id)]

    def service_area_at(self, position: int) -> Any:
        """The explicit service area of the provider at ``position`` (``None`` for a travel circle).

        Does not make the whole provider when the catalogue came from a snapshot
        (the index reads every polygon this way when it is built).
        """
        area_of = getattr(self.providers, "service_area", None)
        return area_of(position) if area_of is not None else self.providers[position].service_area

    def columns(self) -> dict[str, np.ndarray]:
        """The numpy columns by name (read-only arrays)."""
        return {name: getattr(self, name) for name in self.COLUMNS}


def _fingerprint(providers: Sequence[PublicProvider]) -> str:
    """A short content hash, so caches and feedback can tell catalogue versions apart."""
    digest = hashlib.sha256()
    for p in providers:
        row = {k: getattr(p, k) for k in PUBLIC_FIELDS if k not in ("lat", "lon")}
        row["xy"] = (round(p.easting, 1), round(p.northing, 1))
        row["area_wkb"] = p.service_area.wkb_hex if p.service_area is not None else None
        digest.update(json.dumps(row, sort_keys=True, default=list).encode())
    return digest.hexdigest()[:16]

"""Search results and their JSON / GeoJSON shapes (DESIGN.md's HTTP contract).

Everything here is built from the public view, so serialising a response can
never reveal a provider's postcode, home coordinates or e-mail.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from ..catalog.public import PublicProvider
from ..geo import ATTRIBUTION, PostcodeLocation
from .query import SearchQuery

__all__ = ["SearchResult", "SearchResponse", "GROUPS"]

#: How a result can help the coach: ``near`` (meets in person: reaches them, within
#: the radius) or ``online`` (online support from further away).  A page lists them
#: under these headings; ``totals`` counts each.
GROUPS: tuple[str, ...] = ("near", "online")

_QUERY_FIELDS = tuple(f.name for f in fields(SearchQuery))
#: round(v, 4) of the values most features take (k/n: shares of asked-for slots,
#: spare places over the capacity scale, qualification gaps, 0 and 1 handled
#: apart), worked out once: Python's round is ~0.5 µs a call.  No entry is 0.0
#: but the key 0.0 itself (|k/n| >= 1/24 otherwise), which _rounded_features never
#: looks up (integral values are kept as they are).
_ROUNDED4 = {k / n: round(k / n, 4) for n in range(1, 25) for k in range(-n, n + 1)}


def _rounded_features(features: dict[str, float]) -> dict[str, Any]:
    """``{name: round(value, 4)}``: integral floats as they are, the usual fractions from a table."""
    if set(map(type, features.values())) != _ONLY_FLOATS:
        return {k: round(v, 4) for k, v in features.items()}
    # One comprehension, no call per value (0.0 and 1.0 are most of them).
    get = _ROUNDED4.get
    return {k: v if v.is_integer() else (get(v) or round(v, 4)) for k, v in features.items()}


_ONLY_FLOATS = {float}


def _location(p: PublicProvider) -> dict[str, float]:
    """The public location rounded to 6 decimals (memoised: providers share their sector's centroid)."""
    key = (p.lat, p.lon)
    rounded = _LOCATIONS.get(key)
    if rounded is None or type(p.lat) is not float or type(p.lon) is not float:
        rounded = (round(p.lat, 6), round(p.lon, 6))
        if type(p.lat) is float and type(p.lon) is float and p.lat and p.lon:  # 0.0 and -0.0 are equal keys
            if len(_LOCATIONS) >= _LOCATIONS_CACHED:
                _LOCATIONS.clear()
            _LOCATIONS[key] = rounded
    return {"lat": rounded[0], "lon": rounded[1]}


#: Rounded locations kept (about one per postcode sector in use).
_LOCATIONS_CACHED = 16384
_LOCATIONS: dict[tuple[float, float], tuple[float, float]] = {}


@dataclass(frozen=True, slots=True)
class SearchResult:
    """One ranked provider.

    ``distance_km`` is from the coach's point to the provider's public
    location, rounded to one decimal; ``features`` maps feature names to
    values; ``reasons`` and ``missing`` are plain text; ``replies_within_days``
    is how soon the provider usually answers an introduction (``None``: not
    enough history).
    """

    provider: PublicProvider
    position: int  # 1-based rank in the whole result list (offset included)
    distance_km: float
    score: float
    features: dict[str, float]
    reasons: tuple[str, ...]
    missing: tuple[str, ...] = ()
    #: ``features`` rounded to 4 decimals for the JSON shape, when the engine
    #: rounded a whole page at once (one numpy call instead of a ``round`` per
    #: value); ``None`` rounds here.  Internal: not part of the result's value.
    rounded_features: dict[str, float] | None = field(default=None, repr=False, compare=False)
    #: One of :data:`GROUPS`.
    group: str = "near"
    #: "Usually replies within N days" (1, 2, 3 or 7; see
    #: :data:`findsupport.introductions.REPLY_BUCKETS_DAYS`), once the provider
    #: answered enough introductions; ``None`` until then.
    replies_within_days: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The API's result object.

        One dict literal, in the documented member order: the provider's
        public fields first (all of them, and only those: the privacy rule),
        then what this search adds.  A page of ten is made for every search
        answered, so no helper dict is made and merged per result.
        """
        p = self.provider
        return {
            "id": p.id,
            "name": p.name,
            "roles": list(p.roles),
            "events": list(p.events),
            "availability": list(p.availability),
            "online": p.online,
            "qualification": p.qualification,
            "club": p.club,
            "bio": p.bio,
            "area": p.area,
            "travel_km": p.travel_km,
            "capacity": p.capacity,
            "spare_capacity": p.spare,
            "distance_km": self.distance_km,
            "location": _location(p),
            "position": self.position,
            "score": round(self.score, 4),
            "reasons": list(self.reasons),
            "missing": list(self.missing),
            "features": self.rounded_features if self.rounded_features is not None else _rounded_features(self.features),
            "group": self.group,
            "replies_within_days": self.replies_within_days,
        }

    def to_feature(self) -> dict[str, Any]:
        """A GeoJSON Feature (RFC 7946: longitude first) at the public location."""
        properties = self.to_dict()
        location = properties.pop("location")
        return {
            "type": "Feature",
            "id": self.provider.id,
            "geometry": {"type": "Point", "coordinates": [location["lon"], location["lat"]]},
            "properties": properties,
        }


@dataclass(frozen=True)
class SearchResponse:
    """A page of ranked results for one query.

    ``total`` counts every provider that matched (within reach, right role),
    not just this page; ``totals`` splits it by :data:`GROUPS` (``near`` and
    ``online``; they add up to ``total``).  ``search_id`` identifies the
    feedback session the search was logged as (``None`` when not logged).
    """

    query: SearchQuery
    location: PostcodeLocation
    results: tuple[SearchResult, ...]
    total: int
    search_id: str | None = None
    model_version: str | None = None
    notes: tuple[str, ...] = field(default=())
    #: ``{"near": n, "online": m}``; ``None`` means every match is in the query mode's own group.
    totals: dict[str, int] | None = None
    #: Renderings of ``results`` kept for the next response of the same cached page (the web
    #: layer's encoded JSON, by format), shared by every response the page answers; ``None``
    #: when the page is not kept.  Internal: not part of the response's value.
    rendered: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    def group_totals(self) -> dict[str, int]:
        """``total`` by group (:data:`GROUPS`): everything is ``near`` in person and ``online`` online."""
        if self.totals is not None:
            return dict(self.totals)
        online = self.total if self.query.mode == "online" else 0
        return {"near": self.total - online, "online": online}

    def query_dict(self) -> dict[str, Any]:
        """The query as echoed in responses: its fields, where it was read as, and how."""
        query = self.query
        # SearchQuery.to_dict() without dataclasses.asdict's deep copy (all fields
        # are scalars but slots); tests/search check the two stay equal.
        data = {name: getattr(query, name) for name in _QUERY_FIELDS}
        data["slots"] = list(query.slots)
        data["location"] = {"lat": round(self.location.lat, 6), "lon": round(self.location.lon, 6)}
        data["resolved"] = {
            "postcode": self.location.postcode,
            "kind": self.location.kind,
            "corrected": self.location.corrected,
        }
        return data

    def to_dict(self, *, results: Any = None) -> dict[str, Any]:
        """The JSON body of ``GET /api/v1/search``.

        ``results``: the results member already rendered (the web layer's
        encoded JSON of ``[r.to_dict() for r in self.results]``); by default
        made here.
        """
        return {
            "query": self.query_dict(),
            "results": [r.to_dict() for r in self.results] if results is None else results,
            "total": self.total,
            "search_id": self.search_id,
            "model_version": self.model_version,
            "notes": list(self.notes),
            "attribution": ATTRIBUTION,
            "totals": self.group_totals(),
        }

    def to_geojson(self, *, features: Any = None) -> dict[str, Any]:
        """A GeoJSON FeatureCollection (RFC 7946) of the results, with the query as a foreign member.

        ``features``: the features member already rendered (as ``results`` of :meth:`to_dict`).
        """
        return {
            "type": "FeatureCollection",
            "features": [r.to_feature() for r in self.results] if features is None else features,
            "query": self.query_dict(),
            "total": self.total,
            "search_id": self.search_id,
            "attribution": ATTRIBUTION,
            "totals": self.group_totals(),
        }

"""Search results and their JSON / GeoJSON shapes (DESIGN.md's HTTP contract).

Everything here is built from the public view, so serialising a response can
never reveal a provider's postcode, home coordinates or e-mail.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields
from typing import Any

from ..catalog.public import PublicProvider
from ..geo import ATTRIBUTION, PostcodeLocation
from .query import SearchQuery

__all__ = ["SearchResult", "SearchResponse", "ResponseEncoder"]

_QUERY_FIELDS = tuple(f.name for f in fields(SearchQuery))
#: round(v, 4) of the values most features take (k/n: shares of asked-for slots,
#: spare places over the capacity scale, qualification gaps, 0 and 1 handled
#: apart), worked out once: Python's round is ~0.5 µs a call.
_ROUNDED4 = {k / n: round(k / n, 4) for n in range(1, 25) for k in range(-n, n + 1)}


def _round4(value: Any) -> Any:
    """``round(value, 4)``, faster for the usual feature values (same result, sign included)."""
    if type(value) is float:
        if value.is_integer():
            return value  # round() returns an integral float unchanged
        rounded = _ROUNDED4.get(value)
        if rounded is not None:
            return rounded
    return round(value, 4)


def _provider_fields(p: PublicProvider) -> dict[str, Any]:
    """The fields of a result object that depend on the provider alone (those before ``distance_km``)."""
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
    }


def _location(p: PublicProvider) -> dict[str, float]:
    return {"lat": round(p.lat, 6), "lon": round(p.lon, 6)}


@dataclass(frozen=True, slots=True)
class SearchResult:
    """One ranked provider.

    ``distance_km`` is from the coach's point to the provider's public
    location, rounded to one decimal; ``features`` maps feature names to
    values; ``reasons`` and ``missing`` are plain text.
    """

    provider: PublicProvider
    position: int  # 1-based rank in the whole result list (offset included)
    distance_km: float
    score: float
    features: dict[str, float]
    reasons: tuple[str, ...]
    missing: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The API's result object."""
        p = self.provider
        return {
            **_provider_fields(p),
            "distance_km": self.distance_km,
            "location": _location(p),
            "position": self.position,
            "score": round(self.score, 4),
            "reasons": list(self.reasons),
            "missing": list(self.missing),
            "features": {k: _round4(v) for k, v in self.features.items()},
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
    not just this page.  ``search_id`` identifies the feedback session the
    search was logged as (``None`` when not logged).
    """

    query: SearchQuery
    location: PostcodeLocation
    results: tuple[SearchResult, ...]
    total: int
    search_id: str | None = None
    model_version: str | None = None
    notes: tuple[str, ...] = field(default=())

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

    def to_dict(self) -> dict[str, Any]:
        """The JSON body of ``GET /api/v1/search``."""
        return {
            "query": self.query_dict(),
            "results": [r.to_dict() for r in self.results],
            "total": self.total,
            "search_id": self.search_id,
            "model_version": self.model_version,
            "notes": list(self.notes),
            "attribution": ATTRIBUTION,
        }

    def to_geojson(self) -> dict[str, Any]:
        """A GeoJSON FeatureCollection (RFC 7946) of the results, with the query as a foreign member."""
        return {
            "type": "FeatureCollection",
            "features": [r.to_feature() for r in self.results],
            "query": self.query_dict(),
            "total": self.total,
            "search_id": self.search_id,
            "attribution": ATTRIBUTION,
        }


#: Distinct texts an encoder memoises before starting afresh (reasons are few).
_ENCODER_MEMO = 8192


class ResponseEncoder:
    """JSON text of responses: ``json.dumps(response.to_dict(), ensure_ascii=False)``, byte for byte, faster.

    For batches of searches (``findsupport search --batch``): the fields of a
    result that depend on the provider alone (name, roles, events, area,
    location...) are encoded once per provider, the texts of reasons once,
    and only the distance, rank, score, reasons and features are written per
    result.  The shape stays :meth:`SearchResult.to_dict`'s: the fixed part of
    each provider is taken from its ``to_dict`` and anything unexpected (a
    value that is not a plain float, say) is encoded by ``json.dumps``.

    Examples
    --------
    >>> import json
    >>> encoder = ResponseEncoder()
    >>> encoder.encode_value({"id": 1}) == json.dumps({"id": 1})
    True
    """

    def __init__(self) -> None:
        self._providers: dict[str, tuple[PublicProvider, str, str]] = {}
        self._strings: dict[str, str] = {}
        self._floats: dict[float, str] = {}  # feature value -> text of its rounded value
        self._lists: dict[tuple[str, ...], str] = {}
        self._features_keys: tuple[str, ...] = ()
        self._features_head: tuple[str, ...] = ()

    @staticmethod
    def encode_value(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False)

    def encode(self, response: "SearchResponse", leading: dict[str, Any] | None = None) -> str:
        """``json.dumps({**leading, **response.to_dict()}, ensure_ascii=False)``."""
        head = dict(leading) if leading else {}
        head["query"] = response.query_dict()
        results = ", ".join([self._result(r) for r in response.results])
        tail = {
            "total": response.total,
            "search_id": response.search_id,
            "model_version": response.model_version,
            "notes": list(response.notes),
            "attribution": ATTRIBUTION,
        }
        return f"{json.dumps(head, ensure_ascii=False)[:-1]}, \"results\": [{results}], {json.dumps(tail, ensure_ascii=False)[1:]}"

    def _result(self, result: SearchResult) -> str:
        provider = result.provider
        fixed = self._providers.get(provider.id)
        if fixed is None or fixed[0] is not provider:
            fixed = self._provider(result)
            if fixed is None:
                return json.dumps(result.to_dict(), ensure_ascii=False)
        distance, score = result.distance_km, round(result.score, 4)
        features = self._features(result.features)
        if type(distance) is not float or type(score) is not float or not _finite(distance) or not _finite(score) or features is None:
            return json.dumps(result.to_dict(), ensure_ascii=False)
        return (
            f"{fixed[1]}, \"distance_km\": {float.__repr__(distance)}, \"location\": {fixed[2]}, "
            f"\"position\": {int(result.position)!r}, \"score\": {float.__repr__(score)}, "
            f"\"reasons\": {self._strings_list(result.reasons)}, \"missing\": {self._strings_list(result.missing)}, "
            f"\"features\": {features}}}"
        )

    def _provider(self, result: SearchResult) -> tuple[PublicProvider, str, str] | None:
        """The provider's fixed fields as JSON (everything before ``distance_km``), and their location."""
        if type(result.position) is not int:
            return None  # not what the engine makes: json.dumps it
        provider = result.provider
        fixed = self._fixed_fields(provider) if _FIXED_FIELDS_KNOWN else None
        if fixed is None:
            fixed = json.dumps(_provider_fields(provider), ensure_ascii=False)[:-1]
        location = _location(provider)
        lat, lon = location["lat"], location["lon"]
        if type(lat) is float and type(lon) is float and _finite(lat) and _finite(lon):
            location_text = f'{{"lat": {float.__repr__(lat)}, "lon": {float.__repr__(lon)}}}'
        else:
            location_text = json.dumps(location, ensure_ascii=False)
        if len(self._providers) >= _ENCODER_MEMO:
            self._providers.clear()
        entry = (provider, fixed, location_text)
        self._providers[provider.id] = entry
        return entry

    def _fixed_fields(self, p: PublicProvider) -> str | None:
        """``json.dumps(_provider_fields(p))`` without its closing brace, from memoised pieces (None: unusual types)."""
        text = _text_or_null
        if not (
            type(p.id) is str and type(p.name) is str and type(p.area) is str and type(p.online) is bool
            and type(p.capacity) is int and type(p.travel_km) in (float, int) and _finite(p.travel_km)
            and (p.club is None or type(p.club) is str) and (p.bio is None or type(p.bio) is str)
            and (p.qualification is None or type(p.qualification) is str)
        ):  # fmt: skip
            return None
        spare = p.spare
        roles, events, free = self._codes(p.roles), self._codes(p.events), self._codes(p.availability)
        if roles is None or events is None or free is None or type(spare) is not int:
            return None
        travel = float.__repr__(p.travel_km) if type(p.travel_km) is float else int.__repr__(p.travel_km)
        return (
            f'{{"id": {text(p.id)}, "name": {text(p.name)}, "roles": {roles}, "events": {events}, '
            f'"availability": {free}, "online": {"true" if p.online else "false"}, '
            f'"qualification": {text(p.qualification)}, "club": {text(p.club)}, "bio": {text(p.bio)}, '
            f'"area": {text(p.area)}, "travel_km": {travel}, "capacity": {int.__repr__(p.capacity)}, '
            f'"spare_capacity": {int.__repr__(spare)}'
        )

    def _codes(self, codes: tuple[str, ...]) -> str | None:
        """A list of vocabulary codes as JSON (roles, events, free slots), the short ones memoised."""
        if type(codes) is not tuple:
            return None
        encoded = self._lists.get(codes) if len(codes) <= _MEMO_LIST_CODES else None
        if encoded is None:
            if not all(type(code) is str for code in codes):
                return None
            encoded = f"[{', '.join(map(_text, codes))}]"
            if len(codes) <= _MEMO_LIST_CODES:
                if len(self._lists) >= _ENCODER_MEMO:
                    self._lists.clear()
                self._lists[codes] = encoded
        return encoded

    def _strings_list(self, texts: tuple[str, ...]) -> str:
        if not texts:
            return "[]"
        strings = self._strings
        parts = []
        for text in texts:
            encoded = strings.get(text)
            if encoded is None:
                if len(strings) >= _ENCODER_MEMO:
                    strings.clear()
                encoded = strings[text] = json.dumps(text, ensure_ascii=False)
            parts.append(encoded)
        return f"[{', '.join(parts)}]"

    def _features(self, features: dict[str, float]) -> str | None:
        keys = tuple(features)
        if keys != self._features_keys:
            if not all(type(key) is str for key in keys):
                return None
            self._features_keys = keys
            self._features_head = tuple(json.dumps(key, ensure_ascii=False) + ": " for key in keys)
        texts = self._floats
        parts = []
        for head, value in zip(self._features_head, features.values()):
            if type(value) is not float:
                return None
            if value:
                text = texts.get(value)
            else:  # 0.0 and -0.0 are equal keys but different texts
                text = _ZERO_TEXTS[math.copysign(1.0, value) > 0]
            if text is None:
                rounded = _round4(value)
                if not _finite(rounded):
                    return None
                text = float.__repr__(rounded)
                if len(texts) >= _ENCODER_MEMO:
                    texts.clear()
                texts[value] = text
            parts.append(head + text)
        return f"{{{', '.join(parts)}}}"


_ZERO_TEXTS = {True: "0.0", False: "-0.0"}
#: Lists of up to this many codes repeat across providers (roles, events); longer
#: ones (free slots) rarely do, and hashing them costs more than encoding them.
_MEMO_LIST_CODES = 4
#: The fields _fixed_fields writes, in order; if _provider_fields ever differs, the
#: encoder uses json.dumps for them instead (and tests/search says so).
_FIXED_FIELDS = (
    "id", "name", "roles", "events", "availability", "online", "qualification", "club", "bio", "area",
    "travel_km", "capacity", "spare_capacity",
)  # fmt: skip
_text = json.encoder.encode_basestring  # what json.dumps(ensure_ascii=False) writes a str with


def _text_or_null(value: str | None) -> str:
    return "null" if value is None else _text(value)


def _finite(value: float) -> bool:
    return value - value == 0.0  # false for nan and ±inf


def _fixed_fields_known() -> bool:
    sample = PublicProvider(
        id="", name="", roles=(), events=(), availability=(), online=False, travel_km=0.0, capacity=0, active_coaches=0,
        qualification=None, club=None, bio=None, area="", easting=0.0, northing=0.0, lon=0.0, lat=0.0,
    )
    return tuple(_provider_fields(sample)) == _FIXED_FIELDS


_FIXED_FIELDS_KNOWN = _fixed_fields_known()

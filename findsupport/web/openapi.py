"""The OpenAPI 3.1 description of the API, generated in one place.

:func:`build_openapi` derives everything that can change from its source:
enums from :mod:`findsupport.taxonomy`, ranges and defaults from
:class:`~findsupport.config.Settings`, search parameters from
:data:`findsupport.search.query.QUERY_FIELDS`, problem types from
:mod:`findsupport.errors`.  The tests check that every API route is described
here and that real responses validate against these schemas (OpenAPI 3.1
schemas are JSON Schema 2020-12).

The document states exactly what the server enforces, so that a generated
client (or schemathesis, ``tests/web/test_schemathesis.py``) never sends a
request the document allows and the server refuses, nor the other way round:
patterns for postcodes, slot lists, e-mail addresses and one-line text;
Great Britain's envelope as the lon/lat range; "a postcode, or lon and lat,
exactly one" as one exploded object parameter (``place``) whose JSON Schema
says so, since OpenAPI cannot make query parameters depend on each other.
What no schema can know (is this postcode in Code-Point Open? is this point
near a GB postcode?) is a documented 404 or 422.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from flask import Blueprint, Response, jsonify

from .. import __version__, taxonomy
from ..config import Settings
from ..geo.coverage import GB_LAT_RANGE, GB_LON_RANGE, NOT_COVERED_AREAS
from ..geo.directory import LOCATION_KINDS, POINT_KIND, POSTCODE_KINDS
from ..geo.grammar import MAX_INPUT_CHARS, OUTCODE_PATTERN, UNIT_LETTERS_PATTERN
from ..introductions.addresses import ATEXT, LABEL_PATTERN, MAX_LOCAL_CHARS
from ..introductions.stats import REPLY_BUCKETS_DAYS
from ..introductions.tables import MAX_EMAIL_CHARS, MAX_NAME_CHARS, MAX_PROVIDER_ID_CHARS, MAX_SEARCH_ID_CHARS
from ..ranking.provenance import MIXED
from ..ranking.registry import DEFAULT_VERSION, HEALTH_PROVENANCE_FIELDS, UNKNOWN_PROVENANCE
from ..ranking.sessions import SOURCES
from ..search.query import MAX_DEPTH, MAX_ID_CHARS, SORTS
from ..search.results import GROUPS
from .api import FORMATS, GEOJSON_MIMETYPE, SEARCH_PARAMETERS, max_offset
from .problems import PROBLEM_MIMETYPE, problem_types
from .serving import MAX_URL_CHARS

__all__ = [
    "build_openapi",
    "blueprint",
    "SCHEMAS_PATH",
    "POSTCODE_PATTERN",
    "SLOTS_PATTERN",
    "TEXT_PATTERN",
    "MESSAGE_PATTERN",
    "EMAIL_PATTERN",
    "SEARCH_ID_PATTERN",
    "ENCODED_WORD_PATTERN",
    "DOUBLE_DOT_PATTERN",
    "NUMERIC_TLD_PATTERN",
]

SCHEMAS_PATH = "#/components/schemas/"


def _any_case(pattern: str) -> str:
    """``pattern`` with every character class also matching lower case (JSON Schema has no flags)."""
    return re.sub(r"\[([^\]]+)\]", lambda m: f"[{m.group(1)}{m.group(1).lower()}]" if m.group(1).isupper() else m.group(0), pattern)


# The unit's sector digit and two letters, as findsupport.geo.grammar parses them.
_UNIT = f"[0-9]{UNIT_LETTERS_PATTERN}"
#: A full postcode (NE21 4LZ, NE214LZ), a sector (NE21 4) or a district (NE21), any case,
#: with spaces around.  The server also fixes an unambiguous O/0 or I/1 typo.
POSTCODE_PATTERN = _any_case(f"^ *{OUTCODE_PATTERN}(?: *{_UNIT}| +[0-9])? *$")
_SLOT = "(?:" + "|".join(taxonomy.SLOTS) + ")"
#: Slot codes separated by commas (spaces and empty items are ignored).
SLOTS_PATTERN = f"^[ ,]*(?:{_SLOT}(?: *,[ ,]*{_SLOT})*)?[ ,]*$"
# What findsupport.introductions.validation.unsafe_text refuses in any text a person types:
# controls (C0, DEL, C1) and the line/paragraph separators.  (Unpaired surrogates too, which
# valid UTF-8 JSON cannot carry, so the patterns leave them out.)  Bodies may also hold tab, CR, LF.
_UNSAFE = "\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029"
_UNSAFE_IN_BODY = "\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f\\u2028\\u2029"
#: One line of text with something besides spaces (the server strips the ends).
TEXT_PATTERN = f"^[^{_UNSAFE}]*[^\\s{_UNSAFE}][^{_UNSAFE}]*$"
#: Several lines of text with something besides spaces: tabs and line breaks allowed.
MESSAGE_PATTERN = f"^[^{_UNSAFE_IN_BODY}]*[^\\s{_UNSAFE_IN_BODY}][^{_UNSAFE_IN_BODY}]*$"
#: A search_id as the server takes it: one line; blank means none.
SEARCH_ID_PATTERN = f"^[^{_UNSAFE}]*$"
# A dot-atom local part of at most MAX_LOCAL_CHARS characters of atext, and LDH domain labels,
# as findsupport.introductions.addresses checks them (".." is refused apart, DOUBLE_DOT_PATTERN).
_LOCAL = f"[{ATEXT}](?:[.{ATEXT}]{{0,{MAX_LOCAL_CHARS - 2}}}[{ATEXT}])?"
#: An address the server can really send to: an ASCII dot-atom before the @ (without "=?"
#: or ".."), a domain of two or more labels.  (Internationalised domains are accepted too and
#: stored IDNA-encoded; the pattern shows only their ASCII form.)
EMAIL_PATTERN = f"^ *{_LOCAL}@{LABEL_PATTERN}(?:\\.{LABEL_PATTERN})+\\.? *$"
#: Two dots in a row: never in an address.
DOUBLE_DOT_PATTERN = "\\.\\."
#: A top-level domain of digits only (an IP address is not a mail domain).
NUMERIC_TLD_PATTERN = "\\.[0-9]+\\.? *$"
#: Text the e-mail library would decode as an encoded word; refused in an address.
ENCODED_WORD_PATTERN = "=\\?"


def _email_schema() -> dict[str, Any]:
    return {
        "type": "string",
        "maxLength": MAX_EMAIL_CHARS,
        "pattern": EMAIL_PATTERN,
        "not": {"anyOf": [{"pattern": p} for p in (ENCODED_WORD_PATTERN, DOUBLE_DOT_PATTERN, NUMERIC_TLD_PATTERN)]},
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": SCHEMAS_PATH + name}


def _closed(properties: dict[str, Any]) -> dict[str, Any]:
    """An object with exactly these members, all present: what the server's responses are.

    Closed (``additionalProperties: false``) so that a field the server adds
    without documenting it fails the response checks, here and in schemathesis.
    """
    return {"type": "object", "required": list(properties), "additionalProperties": False, "properties": properties}


def _open_members(required: dict[str, Any], optional: dict[str, Any]) -> dict[str, Any]:
    """An object with the ``required`` members always and the ``optional`` ones sometimes, nothing else.

    Closed like :func:`_closed`, for bodies whose members depend on the case
    (a problem's extension members, the facts a model's provenance records).
    """
    return {"type": "object", "required": list(required), "additionalProperties": False,
            "properties": {**required, **optional}}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


_STRING = {"type": "string"}
_NUMBER = {"type": "number"}
_INTEGER = {"type": "integer"}
_BOOLEAN = {"type": "boolean"}
_STRINGS = {"type": "array", "items": _STRING}
_LATLON = {
    "type": "object",
    "required": ["lat", "lon"],
    "additionalProperties": False,
    "properties": {"lat": {"type": "number", "minimum": -90, "maximum": 90}, "lon": {"type": "number", "minimum": -180, "maximum": 180}},
}


#: The extension members a problem may carry, beyond RFC 9457's: every extra that a
#: FindSupportError raised on a web request or the app's own handlers put in a body
#: (findsupport.web.problems.problem_body), so a new one fails the response checks until described.
_PROBLEM_EXTENSIONS: dict[str, Any] = {
    "field": {"type": "string", "description": "The parameter or body member at fault."},
    "allowed": {"type": "array", "description": "Accepted values, when the list is short."},
    "problems": {
        "type": "array",
        "description": "Every field at fault in a form, when there are several (field is the first).",
        "items": _closed({"field": _STRING, "message": _STRING}),
    },
    "postcode": {"type": "string", "description": "The postcode as read, when it is not one we can locate."},
    "suggestions": {**_STRINGS, "description": "Postcodes the client may have meant."},
    "area": {"type": "string", "description": "The postcode area outside Great Britain (e.g. BT)."},
    "provider_id": {"type": "string", "description": "The provider the conflicting introduction is with."},
    "retry_after": {"type": "integer", "description": "Seconds to wait (also the Retry-After header)."},
    "bucket": {"type": "string", "description": "The rate limit the client is over."},
    "incident": {"type": "string", "description": "Reference of an unexpected error in the server log."},
}
#: The schema of each provenance fact /api/v1/health shows besides kind (the names are the registry's).
_HEALTH_PROVENANCE: dict[str, Any] = {
    "sessions": _INTEGER,
    "clients": _INTEGER,
    "first_session": _nullable(_STRING),
    "last_session": _nullable(_STRING),
    "trained_at": _nullable(_STRING),
}


def _coded(codes: Iterable[str], **more: Any) -> dict[str, Any]:
    """A list of vocabulary entries, ``{code, label, ...more}`` each, as ``/api/v1/taxonomy`` gives them."""
    return {"type": "array", "items": _closed({"code": {"type": "string", "enum": list(codes)}, "label": _STRING, **more})}


def _event_codes() -> list[str]:
    """What ``event`` takes: the event groups first, then the events that are not a group of their own."""
    return [*taxonomy.EVENT_GROUPS, *[e for e in taxonomy.EVENTS if e not in taxonomy.EVENT_GROUPS]]


def _schemas(settings: Settings) -> dict[str, Any]:
    events = _event_codes()
    role = {"type": "string", "enum": list(taxonomy.ROLES)}
    event = {"type": "string", "enum": events}
    slot = {"type": "string", "enum": list(taxonomy.SLOTS)}
    level = {"type": "string", "enum": list(taxonomy.QUALIFICATIONS)}
    mode = {"type": "string", "enum": list(taxonomy.MODES)}
    provider_props: dict[str, Any] = {
        "id": _STRING,
        "name": _STRING,
        "roles": {"type": "array", "items": role},
        "events": {"type": "array", "items": {"type": "string", "enum": list(taxonomy.EVENTS)}},
        "availability": {"type": "array", "items": slot},
        "online": _BOOLEAN,
        "travel_km": _NUMBER,
        "capacity": _INTEGER,
        "spare_capacity": _INTEGER,
        "qualification": _nullable(level),
        "club": _nullable(_STRING),
        "bio": _nullable(_STRING),
        "area": {"type": "string", "description": "The provider's postcode sector (their public location)."},
    }
    result_props = {
        **provider_props,
        "distance_km": {"type": "number", "description": "From the searched point to the provider's sector centroid, one decimal."},
        "location": _LATLON,
        "position": {"type": "integer", "minimum": 1},
        "score": _NUMBER,
        "reasons": {**_STRINGS, "description": "Why this provider matches, strongest first."},
        "missing": {**_STRINGS, "description": "What was asked for that this provider does not offer."},
        "features": {"type": "object", "additionalProperties": _NUMBER},
        "group": {"type": "string", "enum": list(GROUPS),
                  "description": "near: meets the coach in person; online: online support from further away."},
        "replies_within_days": {
            **_nullable({"type": "integer", "enum": list(REPLY_BUCKETS_DAYS)}),
            "description": "The provider usually answers an introduction within this many days (their median, "
                           "rounded up to a coarse step); null until they have answered enough requests.",
        },
    }
    # The echo holds every query field (null when not given), then where and how the place was read.
    query_props: dict[str, Any] = {
        "postcode": _nullable(_STRING),
        "lon": _nullable(_NUMBER),
        "lat": _nullable(_NUMBER),
        "role": _nullable(role),
        "event": _nullable(event),
        "slots": {"type": "array", "items": slot},
        "mode": mode,
        "level": _nullable(level),
        "radius_km": _NUMBER,
        "limit": _INTEGER,
        "offset": _INTEGER,
        "id": _nullable(_STRING),
        "sort": {"type": "string", "enum": list(SORTS)},
        "has_room": _BOOLEAN,
        "min_qualification": _nullable(level),
        "location": _LATLON,
        "resolved": _closed({
            "postcode": {"type": "string", "description": "The postcode searched, or the one nearest the point."},
            "kind": {"enum": list(LOCATION_KINDS), "description": f"{POINT_KIND}: lon/lat were given."},
            "corrected": _BOOLEAN,
        }),
    }
    totals = {
        **_closed({group: {"type": "integer", "minimum": 0} for group in GROUPS}),
        "description": "total split by group (they add up to total).",
    }
    feature_props = {name: schema for name, schema in result_props.items() if name != "location"}
    return {
        "Problem": {
            **_open_members(
                {
                    "type": {"type": "string", "description": "/problems/<code>: a page describing the problem."},
                    "title": _STRING,
                    "status": {"type": "integer", "minimum": 400, "maximum": 599},
                    "detail": _STRING,
                    "instance": _nullable({"type": "string", "description": "The path asked for (null when the HTTP "
                                           "server answers before the request reaches the application)."}),
                },
                _PROBLEM_EXTENSIONS,
            ),
            "description": "RFC 9457 problem details; every error has this shape. The extension members appear "
            "only on the problems they concern.",
        },
        "Health": _closed({
            "status": {"const": "ok"},
            "version": _STRING,
            "providers": _INTEGER,
            "catalog_version": _STRING,
            "model_version": _nullable(_STRING),
            "model": {
                **_closed({
                    "version": _nullable(_STRING),
                    "activated": _nullable(_STRING),
                    "created_at": _nullable(_STRING),
                    # Only the facts the model's document records (always its kind).
                    "provenance": _open_members(
                        {"kind": {"enum": [*SOURCES, MIXED, UNKNOWN_PROVENANCE, DEFAULT_VERSION],
                                  "description": f"{DEFAULT_VERSION}: the built-in weights; {UNKNOWN_PROVENANCE}: "
                                  "a model file that records no provenance."}},
                        {name: _HEALTH_PROVENANCE[name] for name in HEALTH_PROVENANCE_FIELDS if name != "kind"},
                    ),
                }),
                "description": "The ranking model serving, the one activated (they differ when the activated "
                "model cannot serve, e.g. it learnt from simulated sessions and was not forced), and where "
                "its training data came from.",
            },
            "postcodes": _INTEGER,
            "demo": {"type": "boolean", "description": "True when the catalogue is synthetic demo data."},
        }),
        "Postcode": _closed({
            "postcode": _STRING,
            "outcode": _STRING,
            "sector": _nullable(_STRING),
            "lat": _NUMBER,
            "lon": _NUMBER,
            "easting": _INTEGER,
            "northing": _INTEGER,
            "kind": {"enum": list(POSTCODE_KINDS), "description": "A unit, or a sector/district centroid."},
            "input": _STRING,
            "corrected": {"type": "boolean", "description": "The input had a typo that was fixed (O/0, I/1)."},
            "attribution": _STRING,
        }),
        "Query": _closed(query_props),
        "Result": _closed(result_props),
        "SearchResponse": _closed({
            "query": _ref("Query"),
            "results": {"type": "array", "items": _ref("Result")},
            "total": {"type": "integer", "minimum": 0, "description": "All matches, not just this page."},
            "search_id": _nullable({"type": "string", "description": "Feedback session of this search."}),
            "model_version": _nullable(_STRING),
            "notes": _STRINGS,
            "attribution": _STRING,
            "totals": totals,
        }),
        "SearchFeatureCollection": {
            **_closed({
                "type": {"const": "FeatureCollection"},
                "features": {
                    "type": "array",
                    "items": _closed({
                        "type": {"const": "Feature"},
                        "id": _STRING,
                        "geometry": _closed({
                            "type": {"const": "Point"},
                            "coordinates": {"type": "array", "items": _NUMBER, "minItems": 2, "maxItems": 2,
                                            "description": "Longitude, latitude (RFC 7946 order)."},
                        }),
                        "properties": {**_closed(feature_props), "description": "The Result fields without location."},
                    }),
                },
                "query": _ref("Query"),
                "total": {"type": "integer", "minimum": 0},
                "search_id": _nullable(_STRING),
                "attribution": _STRING,
                "totals": totals,
            }),
            "description": "RFC 7946 FeatureCollection with the query, totals and search_id as foreign members.",
        },
        "SearchCount": _closed({"total": {"type": "integer", "minimum": 0}, "query": _ref("Query")}),
        "Provider": _closed({
            **provider_props,
            "active_coaches": _INTEGER,
            "has_service_area": _BOOLEAN,
            "location": _LATLON,
            "attribution": _STRING,
        }),
        "Taxonomy": _closed({
            "roles": _coded(taxonomy.ROLES),
            "event_groups": _coded(taxonomy.EVENT_GROUPS, events=_coded(taxonomy.EVENTS)),
            "slots": _coded(taxonomy.SLOTS),
            "qualifications": _coded(taxonomy.QUALIFICATIONS, level=_INTEGER),
            "modes": _coded(taxonomy.MODES),
            "actions": {"type": "array", "items": {"type": "string", "enum": list(taxonomy.ACTIONS)}},
        }),
        "IntroductionRequest": {
            "type": "object",
            "required": ["provider_id", "name", "email", "message"],
            "additionalProperties": False,
            "properties": {
                "provider_id": {"type": "string", "maxLength": MAX_PROVIDER_ID_CHARS, "pattern": TEXT_PATTERN},
                "name": {"type": "string", "maxLength": MAX_NAME_CHARS, "pattern": TEXT_PATTERN},
                "email": _email_schema(),
                "message": {"type": "string", "maxLength": settings.max_message_chars, "pattern": MESSAGE_PATTERN},
                "search_id": _nullable(_search_id_schema()),
            },
        },
        "IntroductionPending": _closed({"status": {"const": "pending"}, "provider_id": _STRING, "detail": _STRING}),
        "ManageLinksRequest": {
            "type": "object",
            "required": ["email"],
            "additionalProperties": False,
            "properties": {"email": _email_schema()},
        },
        "ManageLinksAccepted": _closed({"status": {"const": "accepted"}, "detail": _STRING}),
    }


#: The query fields that say where to search; the document groups them into one parameter.
PLACE_FIELDS = ("postcode", "lon", "lat")


def _search_id_schema() -> dict[str, Any]:
    return {
        "type": "string",
        "maxLength": MAX_SEARCH_ID_CHARS,
        "pattern": SEARCH_ID_PATTERN,
        "description": "A search's search_id (blank is the same as none).",
    }


def _postcode_schema() -> dict[str, Any]:
    return {"type": "string", "maxLength": MAX_INPUT_CHARS, "pattern": POSTCODE_PATTERN}


def _place_parameter(settings: Settings) -> dict[str, Any]:
    """Where to search: a postcode, or a point (lon and lat), never both, never neither.

    OpenAPI cannot make query parameters depend on each other, but one object
    parameter exploded in form style (``?lon=-1.6&lat=54.9``) carries a JSON
    Schema that can: the ``oneOf`` below is exactly the rule
    :func:`~findsupport.search.query.parse_query` enforces.
    """
    lon_min, lon_max = GB_LON_RANGE
    lat_min, lat_max = GB_LAT_RANGE
    excluded = ", ".join(f"{area} ({place})" for area, place in NOT_COVERED_AREAS.items())
    return {
        "name": "place",
        "in": "query",
        "required": True,
        "style": "form",
        "explode": True,
        "description": "Where to search, as the query parameters postcode, or lon and lat (exactly one of the two). "
        f"Points and postcodes outside Great Britain answer 422: {excluded} postcodes, and points "
        f"with no Great Britain postcode within {settings.reverse_max_km:g} km.",
        "schema": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "postcode": {
                    **_postcode_schema(),
                    "description": "Full postcode, sector (NE21 4) or district (NE21), any case; an O/0 or I/1 typo is fixed.",
                },
                "lon": {"type": "number", "minimum": lon_min, "maximum": lon_max,
                        "description": "Longitude in degrees (with lat); the range is Great Britain's envelope."},
                "lat": {"type": "number", "minimum": lat_min, "maximum": lat_max,
                        "description": "Latitude in degrees (with lon); the range is Great Britain's envelope."},
            },
            "oneOf": [
                {"required": ["postcode"], "not": {"anyOf": [{"required": ["lon"]}, {"required": ["lat"]}]}},
                {"required": ["lon", "lat"], "not": {"required": ["postcode"]}},
            ],
        },
    }


def _query_parameters(settings: Settings, *, with_format: bool) -> list[dict[str, Any]]:
    events = _event_codes()
    described: dict[str, tuple[dict[str, Any], str]] = {
        "role": ({"type": "string", "enum": list(taxonomy.ROLES)}, "The kind of help wanted (any when absent)."),
        "event": ({"type": "string", "enum": events}, "An event or an event group (any when absent)."),
        "slots": (
            {"type": "string", "pattern": SLOTS_PATTERN, "description": "Comma-separated slot codes: " + ", ".join(taxonomy.SLOTS)},
            "When the coach is free; comma-separated, or the parameter repeated.",
        ),
        "mode": ({"type": "string", "enum": list(taxonomy.MODES), "default": "in_person"}, "In person, online, or either."),
        "level": ({"type": "string", "enum": list(taxonomy.QUALIFICATIONS)}, "The searching coach's own qualification."),
        "radius_km": (
            {"type": "number", "minimum": settings.min_radius_km, "maximum": settings.max_radius_km, "default": settings.default_radius_km},
            "How far from the point to look (in-person help).",
        ),
        "limit": ({"type": "integer", "minimum": 1, "maximum": settings.max_limit, "default": settings.default_limit}, "Results per page."),
        "offset": (
            {"type": "integer", "minimum": 0, "maximum": max_offset(settings), "default": 0},
            f"Results to skip; with any limit, no page reaches past result {MAX_DEPTH}.",
        ),
        "id": ({"type": "string", "maxLength": MAX_ID_CHARS}, "A client's own id for the query, echoed back."),
        "sort": ({"type": "string", "enum": list(SORTS), "default": "best"}, "best: the ranking's order; nearest: by distance (the score breaks ties)."),
        "has_room": ({"type": "boolean", "default": False}, "Only providers with a free place."),
        "min_qualification": (
            {"type": "string", "enum": list(taxonomy.QUALIFICATIONS)},
            "Only providers qualified at least this (by level: assistant = leader in running fitness < sessional = coach in running fitness < athletics < advanced).",
        ),
        "format": ({"type": "string", "enum": list(FORMATS), "default": "json"}, "geojson for an RFC 7946 FeatureCollection."),
    }
    names = [n for n in SEARCH_PARAMETERS if n not in PLACE_FIELDS and (with_format or n != "format")]
    return [_place_parameter(settings)] + [
        {"name": n, "in": "query", "required": False, "schema": described[n][0], "description": described[n][1]} for n in names
    ]


#: Errors any request can meet, whatever the operation: a URL past the limit
#: (findsupport.web.serving.MAX_URL_CHARS), headers the server cannot read.
_ANY_REQUEST = (414, 431)


def _problems(*statuses: int) -> dict[str, Any]:
    content = {PROBLEM_MIMETYPE: {"schema": _ref("Problem")}}
    names = {400: "Invalid input", 404: "Not found", 405: "Method not allowed", 409: "Conflicts with a pending introduction",
             413: "Body too large", 414: f"URL longer than {MAX_URL_CHARS} characters", 415: "Not JSON",
             422: "Outside Great Britain", 429: "Too many requests", 431: "Header fields too large",
             500: "Unexpected error", 503: "Service data unavailable"}
    return {str(s): {"description": names[s], "content": content} for s in sorted({*statuses, *_ANY_REQUEST})}


def _ok(schema: str, description: str, mimetype: str = "application/json") -> dict[str, Any]:
    return {"200": {"description": description, "content": {mimetype: {"schema": _ref(schema)}}}}


def build_openapi(settings: Settings) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the whole HTTP API."""
    search_ok = {
        "200": {
            "description": "Ranked results (JSON, or GeoJSON with format=geojson or Accept: application/geo+json).",
            "content": {
                "application/json": {"schema": _ref("SearchResponse")},
                GEOJSON_MIMETYPE: {"schema": _ref("SearchFeatureCollection")},
            },
            # What a client does next with a page of results (schemathesis' stateful run follows these).
            "links": {
                "ViewFirstResult": {
                    "operationId": "provider",
                    "parameters": {"provider_id": "$response.body#/results/0/id", "search_id": "$response.body#/search_id"},
                    "description": "Open the first result; search_id records the view as feedback.",
                },
                "AskFirstResult": {
                    "operationId": "requestIntroduction",
                    "requestBody": {
                        "provider_id": "$response.body#/results/0/id",
                        "search_id": "$response.body#/search_id",
                        "name": "Sam Coach",
                        "email": "sam@example.org",
                        "message": "Could you help me with my sprinters?",
                    },
                    "description": "Ask the first result for an introduction.",
                },
            },
        }
    }
    paths: dict[str, Any] = {
        "/api/v1/health": {"get": {"operationId": "health", "summary": "Service status", "responses": {**_ok("Health", "Up"), **_problems(400)}}},
        "/api/v1/postcodes/{postcode}": {
            "get": {
                "operationId": "postcode",
                "summary": "Resolve a postcode, sector or district",
                "parameters": [
                    {"name": "postcode", "in": "path", "required": True, "schema": _postcode_schema(), "example": "NE1 4ST"}
                ],
                "responses": {**_ok("Postcode", "The location"), **_problems(400, 404, 422, 429)},
            }
        },
        "/api/v1/search": {
            "get": {
                "operationId": "search",
                "summary": "Ranked providers near a postcode or point",
                "description": "Unknown and repeated parameters are rejected (slots may repeat). Each GET is logged "
                "as a feedback session; its id is search_id (HEAD runs the search but logs nothing).",
                "parameters": _query_parameters(settings, with_format=True),
                "responses": {**search_ok, **_problems(400, 404, 422, 429)},
            }
        },
        "/api/v1/search/count": {
            "get": {
                "operationId": "searchCount",
                "summary": "How many providers match (not logged)",
                "parameters": _query_parameters(settings, with_format=False),
                "responses": {**_ok("SearchCount", "The number of matches"), **_problems(400, 404, 422, 429)},
            }
        },
        "/api/v1/providers/{provider_id}": {
            "get": {
                "operationId": "provider",
                "summary": "One provider's public view",
                "description": "Unknown and unlisted ids give the same 404. With search_id, records that the provider was viewed "
                "(GET only: HEAD records nothing).",
                "parameters": [
                    {"name": "provider_id", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}},
                    {
                        "name": "search_id",
                        "in": "query",
                        "required": False,
                        "schema": _search_id_schema(),
                        "description": "The search that showed this provider; its view is recorded as feedback. "
                        "An id that names no such search is ignored (the provider is still shown).",
                    },
                ],
                "responses": {**_ok("Provider", "The provider"), **_problems(400, 404, 429)},
            }
        },
        "/api/v1/taxonomy": {
            "get": {"operationId": "taxonomy", "summary": "The vocabulary", "responses": {**_ok("Taxonomy", "Codes and labels"), **_problems(400)}}
        },
        "/api/v1/introductions": {
            "post": {
                "operationId": "requestIntroduction",
                "summary": "Ask a provider for an introduction",
                "description": "202 when the request is on its way (the coach gets a confirmation e-mail); 404 exactly "
                "as GET /api/v1/providers/{provider_id} for an id no listed provider has; 409 when this coach already "
                "has a pending request to this provider, or the provider has no free place. The provider's address is "
                "never revealed. Not available cross-origin (no CORS).",
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("IntroductionRequest")}}},
                "responses": {
                    "202": {"description": "Pending", "content": {"application/json": {"schema": _ref("IntroductionPending")}}},
                    **_problems(400, 404, 409, 413, 415, 429),
                },
            }
        },
        "/api/v1/manage-links": {
            "post": {
                "operationId": "requestManageLinks",
                "summary": "E-mail a provider the links to manage their listings",
                "description": "The same 202 for every well-formed address, listed or not; the links go to the address only.",
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("ManageLinksRequest")}}},
                "responses": {
                    "202": {"description": "Accepted", "content": {"application/json": {"schema": _ref("ManageLinksAccepted")}}},
                    **_problems(400, 413, 415, 429),
                },
            }
        },
        "/openapi.json": {"get": {"operationId": "openapi", "summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1"}}}},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "findsupport API",
            "version": __version__,
            "description": "Find My Coaching Support: mentors, coach developers, technical advisors and co-coaches "
            "near a postcode. Errors are application/problem+json. Read-only GET endpoints allow any origin (CORS).",
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": _schemas(settings),
            "x-problem-types": problem_types(),
        },
    }


blueprint = Blueprint("openapi", __name__)


@blueprint.get("/openapi.json")
def openapi_document() -> Response:
    from flask import request

    from .api import request_params
    from .state import web_state

    request_params(request.args, ())
    response = jsonify(build_openapi(web_state().settings))
    response.headers["Cache-Control"] = "public, max-age=300"
    return response

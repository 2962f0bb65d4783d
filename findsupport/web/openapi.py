"""The OpenAPI 3.1 description of the API, generated in one place.

:func:`build_openapi` derives everything that can change from its source:
enums from :mod:`findsupport.taxonomy`, ranges and defaults from
:class:`~findsupport.config.Settings`, search parameters from
:data:`findsupport.search.query.QUERY_FIELDS`, problem types from
:mod:`findsupport.errors`.  The tests check that every API route is described
here and that real responses validate against these schemas (OpenAPI 3.1
schemas are JSON Schema 2020-12).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from .. import __version__, taxonomy
from ..config import Settings
from ..search.query import MAX_DEPTH, MAX_ID_CHARS
from .api import FORMATS, GEOJSON_MIMETYPE, SEARCH_PARAMETERS
from .introductions import MAX_EMAIL_CHARS, MAX_NAME_CHARS, MAX_PROVIDER_ID_CHARS, MAX_SEARCH_ID_CHARS
from .problems import PROBLEM_MIMETYPE, problem_types

__all__ = ["build_openapi", "blueprint", "SCHEMAS_PATH"]

SCHEMAS_PATH = "#/components/schemas/"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": SCHEMAS_PATH + name}


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
    "properties": {"lat": {"type": "number", "minimum": -90, "maximum": 90}, "lon": {"type": "number", "minimum": -180, "maximum": 180}},
}


def _schemas(settings: Settings) -> dict[str, Any]:
    events = [*taxonomy.EVENT_GROUPS, *[e for e in taxonomy.EVENTS if e not in taxonomy.EVENT_GROUPS]]
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
    }
    query_echo = {
        "type": "object",
        "required": ["role", "event", "slots", "mode", "radius_km", "limit", "offset", "location"],
        "properties": {
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
            "location": _LATLON,
            "resolved": {
                "type": "object",
                "properties": {"postcode": _STRING, "kind": {"enum": ["unit", "sector", "outcode"]}, "corrected": _BOOLEAN},
            },
        },
    }
    return {
        "Problem": {
            "type": "object",
            "description": "RFC 9457 problem details; every error has this shape.",
            "required": ["type", "title", "status", "detail"],
            "properties": {
                "type": {"type": "string", "description": "/problems/<code>: a page describing the problem."},
                "title": _STRING,
                "status": {"type": "integer", "minimum": 400, "maximum": 599},
                "detail": _STRING,
                "instance": _STRING,
                "field": {"type": "string", "description": "The parameter or body member at fault."},
                "allowed": {"type": "array", "description": "Accepted values, when the list is short."},
                "suggestions": {**_STRINGS, "description": "Postcodes the client may have meant."},
                "retry_after": {"type": "integer", "description": "Seconds to wait (also the Retry-After header)."},
                "incident": {"type": "string", "description": "Reference of an unexpected error in the server log."},
            },
        },
        "Health": {
            "type": "object",
            "required": ["status", "version", "providers", "catalog_version", "model_version", "postcodes", "demo"],
            "properties": {
                "status": {"const": "ok"},
                "version": _STRING,
                "providers": _INTEGER,
                "catalog_version": _STRING,
                "model_version": _nullable(_STRING),
                "postcodes": _INTEGER,
                "demo": {"type": "boolean", "description": "True when the catalogue is synthetic demo data."},
            },
        },
        "Postcode": {
            "type": "object",
            "required": ["postcode", "outcode", "sector", "lat", "lon", "easting", "northing", "kind"],
            "properties": {
                "postcode": _STRING,
                "outcode": _STRING,
                "sector": _nullable(_STRING),
                "lat": _NUMBER,
                "lon": _NUMBER,
                "easting": _INTEGER,
                "northing": _INTEGER,
                "kind": {"enum": ["unit", "sector", "outcode"], "description": "A unit, or a sector/district centroid."},
                "input": _STRING,
                "corrected": {"type": "boolean", "description": "The input had a typo that was fixed (O/0, I/1)."},
                "attribution": _STRING,
            },
        },
        "Query": query_echo,
        "Result": {"type": "object", "required": list(result_props), "properties": result_props},
        "SearchResponse": {
            "type": "object",
            "required": ["query", "results", "total", "search_id", "model_version", "notes", "attribution"],
            "properties": {
                "query": _ref("Query"),
                "results": {"type": "array", "items": _ref("Result")},
                "total": {"type": "integer", "minimum": 0, "description": "All matches, not just this page."},
                "search_id": _nullable({"type": "string", "description": "Feedback session of this search."}),
                "model_version": _nullable(_STRING),
                "notes": _STRINGS,
                "attribution": _STRING,
            },
        },
        "SearchFeatureCollection": {
            "type": "object",
            "description": "RFC 7946 FeatureCollection; properties are the Result fields without location.",
            "required": ["type", "features", "query", "total"],
            "properties": {
                "type": {"const": "FeatureCollection"},
                "features": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["type", "id", "geometry", "properties"],
                        "properties": {
                            "type": {"const": "Feature"},
                            "id": _STRING,
                            "geometry": {
                                "type": "object",
                                "required": ["type", "coordinates"],
                                "properties": {
                                    "type": {"const": "Point"},
                                    "coordinates": {"type": "array", "items": _NUMBER, "minItems": 2, "maxItems": 2},
                                },
                            },
                            "properties": {"type": "object"},
                        },
                    },
                },
                "query": _ref("Query"),
                "total": _INTEGER,
                "search_id": _nullable(_STRING),
                "attribution": _STRING,
            },
        },
        "SearchCount": {
            "type": "object",
            "required": ["total", "query"],
            "properties": {"total": {"type": "integer", "minimum": 0}, "query": _ref("Query")},
        },
        "Provider": {
            "type": "object",
            "required": [*provider_props, "active_coaches", "has_service_area", "location"],
            "properties": {
                **provider_props,
                "active_coaches": _INTEGER,
                "has_service_area": _BOOLEAN,
                "location": _LATLON,
                "attribution": _STRING,
            },
        },
        "Taxonomy": {
            "type": "object",
            "required": ["roles", "event_groups", "slots", "qualifications", "modes", "actions"],
            "properties": {name: {"type": "array"} for name in ("roles", "event_groups", "slots", "qualifications", "modes", "actions")},
        },
        "IntroductionRequest": {
            "type": "object",
            "required": ["provider_id", "name", "email", "message"],
            "additionalProperties": False,
            "properties": {
                "provider_id": {"type": "string", "minLength": 1, "maxLength": MAX_PROVIDER_ID_CHARS},
                "name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME_CHARS},
                "email": {"type": "string", "format": "email", "maxLength": MAX_EMAIL_CHARS},
                "message": {"type": "string", "minLength": 1, "maxLength": settings.max_message_chars},
                "search_id": _nullable({"type": "string", "maxLength": MAX_SEARCH_ID_CHARS}),
            },
        },
        "IntroductionAccepted": {
            "type": "object",
            "required": ["status", "detail"],
            "properties": {"status": {"const": "accepted"}, "detail": _STRING},
        },
    }


def _query_parameters(settings: Settings, *, with_format: bool) -> list[dict[str, Any]]:
    events = [*taxonomy.EVENT_GROUPS, *[e for e in taxonomy.EVENTS if e not in taxonomy.EVENT_GROUPS]]
    described: dict[str, tuple[dict[str, Any], str]] = {
        "postcode": ({"type": "string", "maxLength": 16}, "Full postcode, sector (NE21 4) or district (NE21); or give lon and lat."),
        "lon": ({"type": "number", "minimum": -180, "maximum": 180}, "Longitude in degrees (with lat, instead of postcode)."),
        "lat": ({"type": "number", "minimum": -90, "maximum": 90}, "Latitude in degrees (with lon, instead of postcode)."),
        "role": ({"type": "string", "enum": list(taxonomy.ROLES)}, "The kind of help wanted (any when absent)."),
        "event": ({"type": "string", "enum": events}, "An event or an event group (any when absent)."),
        "slots": (
            {"type": "string", "description": "Comma-separated slot codes: " + ", ".join(taxonomy.SLOTS)},
            "When the coach is free; comma-separated, or the parameter repeated.",
        ),
        "mode": ({"type": "string", "enum": list(taxonomy.MODES), "default": "in_person"}, "In person, online, or either."),
        "level": ({"type": "string", "enum": list(taxonomy.QUALIFICATIONS)}, "The searching coach's own qualification."),
        "radius_km": (
            {"type": "number", "minimum": settings.min_radius_km, "maximum": settings.max_radius_km, "default": settings.default_radius_km},
            "How far from the point to look (in-person help).",
        ),
        "limit": ({"type": "integer", "minimum": 1, "maximum": settings.max_limit, "default": settings.default_limit}, "Results per page."),
        "offset": ({"type": "integer", "minimum": 0, "maximum": MAX_DEPTH - 1, "default": 0}, f"Results to skip (offset + limit ≤ {MAX_DEPTH})."),
        "id": ({"type": "string", "maxLength": MAX_ID_CHARS}, "A client's own id for the query, echoed back."),
        "format": ({"type": "string", "enum": list(FORMATS), "default": "json"}, "geojson for an RFC 7946 FeatureCollection."),
    }
    names = SEARCH_PARAMETERS if with_format else tuple(n for n in SEARCH_PARAMETERS if n != "format")
    return [{"name": n, "in": "query", "required": False, "schema": described[n][0], "description": described[n][1]} for n in names]


def _problems(*statuses: int) -> dict[str, Any]:
    content = {PROBLEM_MIMETYPE: {"schema": _ref("Problem")}}
    names = {400: "Invalid input", 404: "Not found", 405: "Method not allowed", 413: "Body too large",
             415: "Not JSON", 422: "Outside Great Britain", 429: "Too many requests", 500: "Unexpected error",
             503: "Service data unavailable"}
    return {str(s): {"description": names[s], "content": content} for s in statuses}


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
        }
    }
    paths: dict[str, Any] = {
        "/api/v1/health": {"get": {"operationId": "health", "summary": "Service status", "responses": {**_ok("Health", "Up"), **_problems(400)}}},
        "/api/v1/postcodes/{postcode}": {
            "get": {
                "operationId": "postcode",
                "summary": "Resolve a postcode, sector or district",
                "parameters": [{"name": "postcode", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {**_ok("Postcode", "The location"), **_problems(400, 404, 422, 429)},
            }
        },
        "/api/v1/search": {
            "get": {
                "operationId": "search",
                "summary": "Ranked providers near a postcode or point",
                "description": "Unknown and repeated parameters are rejected (slots may repeat). Each search is logged "
                "as a feedback session; its id is search_id.",
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
                "description": "Unknown and unlisted ids give the same 404. With search_id, records that the provider was viewed.",
                "parameters": [
                    {"name": "provider_id", "in": "path", "required": True, "schema": {"type": "string"}},
                    {"name": "search_id", "in": "query", "required": False, "schema": {"type": "string"}},
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
                "description": "Answers 202 for any provider_id, known or not; the provider's address is never revealed. "
                "Not available cross-origin (no CORS).",
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("IntroductionRequest")}}},
                "responses": {
                    "202": {"description": "Accepted", "content": {"application/json": {"schema": _ref("IntroductionAccepted")}}},
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

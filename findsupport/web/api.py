"""The read-only JSON API (``/api/v1/...``): parse the request, call the engine, serialise.

Parameter handling, the same on every endpoint:

* **Unknown parameters are rejected** (400, ``field`` names it): a typo such as
  ``radius=50`` must not be silently ignored.  Search accepts the query fields
  of DESIGN.md (``postcode``, ``lon``, ``lat``, ``role``, ``event``, ``slots``,
  ``mode``, ``level``, ``radius_km``, ``limit``, ``offset``, ``id``) plus
  ``format``; a provider accepts only ``search_id``; the others take none.
* **Repeated parameters are rejected**, except ``slots``, whose values join
  (``slots=tue_eve&slots=sat_am`` is ``slots=tue_eve,sat_am``).
* Validation happens in one place, :func:`findsupport.search.query.parse_query`.

Search answers JSON by default and GeoJSON (RFC 7946,
``application/geo+json``) when ``format=geojson`` or when the ``Accept``
header prefers ``application/geo+json``; ``format`` wins over ``Accept``.
Every served search is logged as a feedback session and carries its
``search_id``; ``/api/v1/search/count`` answers only the number of matches
(for "widen to 50 km? (3 there)" hints) and is not logged, because nobody saw
those results.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from flask import Blueprint, Response, jsonify, request
from werkzeug.datastructures import MultiDict

from .. import __version__, taxonomy
from ..errors import InvalidInput, InvalidQuery
from ..geo import ATTRIBUTION
from ..search.query import QUERY_FIELDS, parse_query
from .state import web_state

__all__ = ["blueprint", "request_params", "FORMATS", "GEOJSON_MIMETYPE", "SEARCH_PARAMETERS", "TAXONOMY_MAX_AGE_S"]

GEOJSON_MIMETYPE = "application/geo+json"
FORMATS = ("json", "geojson")
#: Parameters of /api/v1/search: the query fields and the output format.
SEARCH_PARAMETERS: tuple[str, ...] = (*QUERY_FIELDS, "format")
#: Parameters whose repeated values are joined into one list rather than rejected.
LIST_PARAMETERS = frozenset({"slots"})
#: The vocabulary changes only with a release; an hour of caching saves every page load a request.
TAXONOMY_MAX_AGE_S = 3600

blueprint = Blueprint("api", __name__, url_prefix="/api/v1")


def request_params(args: MultiDict, allowed: Iterable[str], *, error: type[InvalidInput] = InvalidInput) -> dict[str, Any]:
    """Query-string parameters as a mapping: one value, or a list when repeated.

    Raises ``error`` (:class:`InvalidInput`; :class:`InvalidQuery` for searches)
    for a parameter not in ``allowed`` and for a repeated one, except list
    parameters such as ``slots``.
    """
    allowed = tuple(allowed)
    params: dict[str, Any] = {}
    for key in args.keys():
        if key not in allowed:
            shown = key[:40]
            if allowed:
                message = f"Unknown parameter {shown!r}; parameters here are {', '.join(allowed)}."
            else:
                message = f"Unknown parameter {shown!r}; {request.path} takes no parameters."
            raise error(message, field=shown, allowed=list(allowed))
        values = args.getlist(key)
        if len(values) == 1:
            params[key] = values[0]
        elif key in LIST_PARAMETERS:
            params[key] = values
        else:
            raise error(f"{key} was given {len(values)} times; give it once.", field=key)
    return params


def _output_format(params: dict[str, Any]) -> str:
    given = params.pop("format", None)
    if given is not None:
        code = given.strip().lower()
        if code not in FORMATS:
            raise InvalidQuery(f"Got format={given[:40]!r}; format must be one of {', '.join(FORMATS)}.", field="format", allowed=list(FORMATS))
        return code
    best = request.accept_mimetypes.best_match(["application/json", GEOJSON_MIMETYPE])
    return "geojson" if best == GEOJSON_MIMETYPE else "json"


def _json(body: Any, *, mimetype: str = "application/json", cache: str = "no-store") -> Response:
    response = jsonify(body)
    response.mimetype = mimetype
    response.headers["Cache-Control"] = cache
    return response


@blueprint.get("/health")
def health() -> Response:
    """Is the service up, and what is it serving?"""
    request_params(request.args, ())
    state = web_state()
    engine = state.engine
    return _json(
        {
            "status": "ok",
            "version": __version__,
            "providers": len(engine.catalog),
            "catalog_version": engine.catalog.version,
            "model_version": engine.model_version,
            "postcodes": len(engine.directory),
            "demo": state.demo,
        }
    )


@blueprint.get("/postcodes/<postcode>")
def postcode(postcode: str) -> Response:
    """Resolve a postcode, sector or district (with "did you mean" suggestions when unknown)."""
    request_params(request.args, ())
    state = web_state()
    state.limit("postcodes")
    location = state.engine.directory.lookup(postcode)
    body = location.to_dict()
    body.update(input=postcode, corrected=location.corrected, attribution=ATTRIBUTION)
    return _json(body, cache="public, max-age=3600")


@blueprint.get("/search")
def search() -> Response:
    """Ranked providers near a postcode or a point."""
    state = web_state()
    state.limit("search")
    params = request_params(request.args, SEARCH_PARAMETERS, error=InvalidQuery)
    output = _output_format(params)
    query = parse_query(params, state.settings)
    response = state.engine.search(query, log=True)
    if output == "geojson":
        result = _json(response.to_geojson(), mimetype=GEOJSON_MIMETYPE)
    else:
        result = _json(response.to_dict())
    result.vary.add("Accept")  # the same URL answers JSON or GeoJSON by Accept
    return result


@blueprint.get("/search/count")
def search_count() -> Response:
    """How many providers match a query (nothing is logged: no results were shown)."""
    state = web_state()
    state.limit("search")
    params = request_params(request.args, QUERY_FIELDS, error=InvalidQuery)
    query = parse_query(params, state.settings)
    response = state.engine.search(dataclasses.replace(query, limit=1, offset=0), log=False)
    return _json({"total": response.total, "query": response.query_dict()})


@blueprint.get("/providers/<path:provider_id>")
def provider(provider_id: str) -> Response:
    """One provider's public view; records a ``viewed`` action when ``search_id`` is given."""
    state = web_state()
    state.limit("providers")
    params = request_params(request.args, ("search_id",))
    public = state.engine.provider(provider_id)
    search_id = params.get("search_id")
    if search_id:
        state.record_feedback(search_id, public.id, "viewed", strict=True)
    return _json({**public.to_dict(), "attribution": ATTRIBUTION})


@blueprint.get("/taxonomy")
def vocabulary() -> Response:
    """Roles, events, slots, qualifications and modes with their labels."""
    request_params(request.args, ())
    return _json(taxonomy.as_dict(), cache=f"public, max-age={TAXONOMY_MAX_AGE_S}")

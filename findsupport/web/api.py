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
Every search served to a GET is logged as a feedback session and carries its
``search_id``; ``/api/v1/search/count`` answers only the number of matches
(for "widen to 50 km? (3 there)" hints) and is not logged, because nobody saw
those results.  Nobody sees the results of a ``HEAD`` either (monitors and
link checkers send it), so a HEAD never logs feedback anywhere.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.datastructures import MultiDict

from .. import __version__, taxonomy
from ..config import Settings
from ..errors import InvalidInput, InvalidQuery
from ..geo import ATTRIBUTION
from ..introductions.tables import MAX_SEARCH_ID_CHARS
from ..introductions.validation import clean_text
from ..search.query import MAX_DEPTH, QUERY_FIELDS, SearchQuery, parse_query
from ..search.results import SearchResponse
from .jsonbody import EncodedJSON
from .state import web_state

__all__ = [
    "blueprint",
    "request_params",
    "logs_feedback",
    "max_offset",
    "FORMATS",
    "GEOJSON_MIMETYPE",
    "SEARCH_PARAMETERS",
    "TAXONOMY_MAX_AGE_S",
]

GEOJSON_MIMETYPE = "application/geo+json"
FORMATS = ("json", "geojson")
#: Parameters of /api/v1/search: the query fields and the output format.
SEARCH_PARAMETERS: tuple[str, ...] = (*QUERY_FIELDS, "format")
#: Parameters whose repeated values are joined into one list rather than rejected.
LIST_PARAMETERS = frozenset({"slots"})
#: Parameters whose documented pattern allows spaces around the value.  Every other search
#: parameter is a code, a number or yes/no: given, it must be exactly that.
SPACED_PARAMETERS = frozenset({"postcode", "slots", "id"})
#: Parameters that may be given blank, as documented: no slots, an empty id.
BLANK_PARAMETERS = frozenset({"slots", "id"})
#: ``Accept`` values that can only mean JSON (the first offer wins a tie), answered without parsing the header.
_PLAIN_JSON_ACCEPTS = frozenset({"*/*", "application/json", ""})
#: The vocabulary changes only with a release; an hour of caching saves every page load a request.
TAXONOMY_MAX_AGE_S = 3600

blueprint = Blueprint("api", __name__, url_prefix="/api/v1")


def logs_feedback() -> bool:
    """Whether this request may write feedback: a GET may, a HEAD never (nobody sees its body)."""
    return request.method != "HEAD"


def max_offset(settings: Settings) -> int:
    """The deepest ``offset`` the API takes: with it, every allowed ``limit`` stays within ``MAX_DEPTH``.

    A bound of its own rather than "offset + limit ≤ MAX_DEPTH", because the
    OpenAPI document can state a bound per parameter but not on their sum;
    this way what it states is exactly what is enforced.
    """
    return MAX_DEPTH - settings.max_limit


def _check_given_values(params: dict[str, Any]) -> None:
    """A parameter that is given has a value, as the document states: no blank ``role=``, no ``limit= 5``.

    (:func:`parse_query` forgives both, for flags and batch files; an API
    client that sends them has a bug worth hearing about.)
    """
    for name, value in params.items():
        if not isinstance(value, str) or (name in BLANK_PARAMETERS and not value.strip()):
            continue
        if not value.strip():
            raise InvalidQuery(f"{name} is empty; give a value or leave the parameter out.", field=name)
        if name not in SPACED_PARAMETERS and value != value.strip():
            raise InvalidQuery(f"{name}={value.strip()[:40]!r} has spaces around it; send the value alone.", field=name)


def _parse_search(params: dict[str, Any], settings: Settings) -> SearchQuery:
    """:func:`parse_query`, plus what the API itself promises: given values (see
    :func:`_check_given_values`) and its own bound on ``offset`` (see :func:`max_offset`)."""
    _check_given_values(params)
    query = parse_query(params, settings)
    deepest = max_offset(settings)
    if query.offset > deepest:
        raise InvalidQuery(f"offset must be between 0 and {deepest}; got {query.offset}.", field="offset")
    return query


def _search_id(params: dict[str, Any]) -> str | None:
    """The ``search_id`` parameter, checked as introductions check theirs (blank is none)."""
    return clean_text(params.get("search_id"), "search_id", MAX_SEARCH_ID_CHARS, "the search_id", required=False)


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
    if request.headers.get("Accept", "*/*") in _PLAIN_JSON_ACCEPTS:
        return "json"  # what API clients send; parsing the header would answer the same
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
            # What ranks the results, and whether it learnt from real feedback (issue 12).
            "model": state.serving_model(),
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
    query = _parse_search(params, state.settings)
    logged = logs_feedback()
    response = state.engine.search(query, log=logged, client=state.client_key() if logged else None)
    if output == "geojson":
        result = _json(response.to_geojson(features=_rendered(response, output)), mimetype=GEOJSON_MIMETYPE)
    else:
        result = _json(response.to_dict(results=_rendered(response, output)))
    result.vary.add("Accept")  # the same URL answers JSON or GeoJSON by Accept
    return result


def _rendered(response: SearchResponse, output: str) -> EncodedJSON | None:
    """The page's results (``features`` in GeoJSON) as JSON text, made once per cached page.

    A repeated search (a club widget's, on every page view) shares its page
    with the responses before it (:attr:`SearchResponse.rendered`), so its
    results are written into the body as the first response wrote them: the
    same bytes, without making ten result objects and encoding them again.
    ``None`` (made with the body) when the page is not kept.
    """
    memo = response.rendered
    if memo is None:
        return None
    encoded = memo.get(output)
    if encoded is None:
        items = [r.to_feature() for r in response.results] if output == "geojson" else [r.to_dict() for r in response.results]
        encoded = current_app.json.encoded(items)
        if encoded is not None:
            memo[output] = encoded  # a dict store is atomic; two first responses at worst both encode
    return encoded


@blueprint.get("/search/count")
def search_count() -> Response:
    """How many providers match a query (nothing is logged: no results were shown)."""
    state = web_state()
    state.limit("search")
    params = request_params(request.args, QUERY_FIELDS, error=InvalidQuery)
    query = _parse_search(params, state.settings)
    response = state.engine.search(dataclasses.replace(query, limit=1, offset=0), log=False)
    return _json({"total": response.total, "query": response.query_dict()})


@blueprint.get("/providers/<path:provider_id>")
def provider(provider_id: str) -> Response:
    """One provider's public view; records a ``viewed`` action when ``search_id`` is given.

    A well-formed ``search_id`` that names no search showing this provider
    (an old link, a log pruned since) is not recorded, and the coach still
    sees the provider: what they see never depends on the bookkeeping.
    """
    state = web_state()
    state.limit("providers")
    params = request_params(request.args, ("search_id",))
    search_id = _search_id(params)
    public = state.engine.provider(provider_id)
    if search_id is not None and logs_feedback():
        state.record_feedback(search_id, public.id, "viewed", strict=False)
    return _json({**public.to_dict(), "attribution": ATTRIBUTION})


@blueprint.get("/taxonomy")
def vocabulary() -> Response:
    """Roles, events, slots, qualifications and modes with their labels."""
    request_params(request.args, ())
    return _json(taxonomy.as_dict(), cache=f"public, max-age={TAXONOMY_MAX_AGE_S}")

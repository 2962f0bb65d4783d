"""Real responses match the served OpenAPI document exactly: no field missing, none undocumented.

The response schemas are closed (``additionalProperties: false``, every
member required), so a field the server adds (``totals``, a result's
``group``, a new query filter echoed back) fails here until the document
states it, and a documented field the server stops sending fails too.  The
bodies come from the real app on the sample catalogue, across both formats
and the query options that change a response's shape (filters, order, mode).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from findsupport import taxonomy
from findsupport.search.query import QUERY_FIELDS
from findsupport.search.results import GROUPS

from .conftest import NEWCASTLE

#: Searches whose responses differ in shape or content: defaults, a point, every mode,
#: the filters and the nearest-first order, a page past the end.
SEARCHES = [
    {"postcode": NEWCASTLE},
    {"lon": "-1.6178", "lat": "54.9783", "radius_km": "10"},
    {"postcode": NEWCASTLE, "mode": "any", "sort": "nearest", "limit": "20"},
    {"postcode": NEWCASTLE, "mode": "online"},
    {"postcode": NEWCASTLE, "has_room": "true", "min_qualification": list(taxonomy.QUALIFICATIONS)[1], "sort": "nearest"},
    {"postcode": NEWCASTLE, "role": taxonomy.ROLES[0], "slots": taxonomy.SLOTS[0], "level": list(taxonomy.QUALIFICATIONS)[0], "id": "q1"},
    {"postcode": NEWCASTLE, "offset": "400"},
]


@pytest.fixture
def document(client) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def _validator(document: dict[str, Any], name: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": document["components"]})


def _undocumented(node: Any, schema: dict[str, Any], components: dict[str, Any], path: str = "") -> list[str]:
    """Members of ``node`` that its schema does not name (whatever ``additionalProperties`` says)."""
    if "$ref" in schema:
        schema = components["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    for branch in schema.get("anyOf", ()):
        if isinstance(node, dict) == (branch.get("type") == "object" or "$ref" in branch) and branch.get("type") != "null":
            return _undocumented(node, branch, components, path)
    if isinstance(node, list) and isinstance(schema.get("items"), dict):
        return [found for i, item in enumerate(node) for found in _undocumented(item, schema["items"], components, f"{path}/{i}")]
    if not isinstance(node, dict) or isinstance(schema.get("additionalProperties"), dict):
        return []  # a map such as a result's features: any key is documented
    properties = schema.get("properties", {})
    return [f"{path}/{key}" for key in node if key not in properties] + [
        found for key, value in node.items() if key in properties
        for found in _undocumented(value, properties[key], components, f"{path}/{key}")
    ]


def _search(client, params: dict[str, str], output: str) -> dict[str, Any]:
    extra = {"format": "geojson"} if output == "geojson" else {}
    response = client.get("/api/v1/search", query_string={**params, **extra})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json(force=True)


@pytest.mark.parametrize("params", SEARCHES, ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()))
@pytest.mark.parametrize(("output", "schema"), [("json", "SearchResponse"), ("geojson", "SearchFeatureCollection")])
def test_search_responses_match_the_document(client, document, params, output, schema):
    body = _search(client, params, output)
    assert not _undocumented(body, {"$ref": f"#/components/schemas/{schema}"}, document["components"])
    _validator(document, schema).validate(body)
    assert set(body["query"]) == {*QUERY_FIELDS, "location", "resolved"}, "the echo holds every query field"
    assert set(body["totals"]) == set(GROUPS) and sum(body["totals"].values()) == body["total"]


def test_a_search_with_both_groups_documents_each_result(client, document):
    body = _search(client, {"postcode": NEWCASTLE, "mode": "any", "radius_km": "5", "limit": "40"}, "json")
    assert not _undocumented(body, {"$ref": "#/components/schemas/SearchResponse"}, document["components"])
    _validator(document, "SearchResponse").validate(body)
    assert {r["group"] for r in body["results"]} == set(GROUPS), "the sample has near and online results"


def _with_extra(body: dict[str, Any], output: str) -> list[tuple[str, dict[str, Any]]]:
    """Copies of ``body``, each with one undocumented member added at a different depth."""
    first = ("features", 0, "properties") if output == "geojson" else ("results", 0)
    places: list[tuple[str, tuple]] = [("top", ()), ("query", ("query",)), ("resolved", ("query", "resolved")),
                                       ("totals", ("totals",)), ("result", first)]
    if output == "geojson":
        places += [("feature", ("features", 0)), ("geometry", ("features", 0, "geometry"))]
    copies = []
    for label, path in places:
        changed = copy.deepcopy(body)
        node = changed
        for key in path:
            node = node[key]
        node["undocumented"] = 1
        copies.append((label, changed))
    return copies


@pytest.mark.parametrize(("output", "schema"), [("json", "SearchResponse"), ("geojson", "SearchFeatureCollection")])
def test_an_undocumented_or_missing_field_fails(client, document, output, schema):
    body = _search(client, {"postcode": NEWCASTLE, "sort": "nearest", "has_room": "true"}, output)
    validator = _validator(document, schema)
    validator.validate(body)
    for label, changed in _with_extra(body, output):
        assert not validator.is_valid(changed), f"an undocumented member in the {label} object passes"
    for member in ("totals", "query", "total"):
        missing = copy.deepcopy(body)
        del missing[member]
        assert not validator.is_valid(missing), f"a body without {member} passes"
    result = copy.deepcopy(body)
    (result["features"][0]["properties"] if output == "geojson" else result["results"][0]).pop("group")
    assert not validator.is_valid(result), "a result without its group passes"


def test_count_and_provider_match_the_document(client, document):
    count = client.get("/api/v1/search/count", query_string={"postcode": NEWCASTLE, "has_room": "true", "sort": "nearest"})
    assert count.status_code == 200
    _validator(document, "SearchCount").validate(count.get_json())
    first = _search(client, {"postcode": NEWCASTLE}, "json")["results"][0]["id"]
    provider = client.get(f"/api/v1/providers/{first}")
    assert provider.status_code == 200
    _validator(document, "Provider").validate(provider.get_json())
    assert not _validator(document, "Provider").is_valid({**provider.get_json(), "undocumented": 1})


def test_the_query_parameters_and_the_echo_document_the_same_fields(document):
    parameters = document["paths"]["/api/v1/search"]["get"]["parameters"]
    names = {p["name"] for p in parameters if p["name"] != "place"} | set(parameters[0]["schema"]["properties"])
    echoed = set(document["components"]["schemas"]["Query"]["properties"]) - {"location", "resolved"}
    assert names - {"format"} == echoed == set(QUERY_FIELDS)

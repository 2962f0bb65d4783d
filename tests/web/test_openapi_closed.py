"""The health, postcode and problem schemas are closed: they state exactly what the endpoints return.

``test_openapi_responses.py`` does the same for the search responses.  Here a
real body of each of the other shapes validates, and the same body with one
undocumented member (at each depth) or without a member it always has fails.
The problem's extension members are the extras the code really raises with,
found by reading the code (so a new extra fails until the document describes
it), and the location kinds come from their one definition in
:mod:`findsupport.geo.directory`.
"""

from __future__ import annotations

import ast
import copy
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from findsupport import errors
from findsupport.config import Settings
from findsupport.geo.directory import LOCATION_KINDS, POINT_KIND, POSTCODE_KINDS
from findsupport.web.openapi import build_openapi
from findsupport.web.problems import problem_body

from .conftest import NEWCASTLE

PACKAGE = Path(__file__).resolve().parents[2] / "findsupport"
#: Extras only the command line ever shows (a catalogue file's columns on a rejected import):
#: they never reach a problem body, so the document need not describe them.
COMMAND_LINE_ONLY = {"columns"}


@pytest.fixture(scope="module")
def components() -> dict[str, Any]:
    return build_openapi(Settings())["components"]


def _validator(components: dict[str, Any], name: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": components})


def _with_member(body: dict[str, Any], path: tuple[str, ...], name: str = "undocumented") -> dict[str, Any]:
    changed = copy.deepcopy(body)
    node = changed
    for key in path:
        node = node[key]
    node[name] = 1
    return changed


def test_health_is_closed_at_every_depth(client, components):
    body = client.get("/api/v1/health").get_json()
    validator = _validator(components, "Health")
    validator.validate(body)
    for path in ((), ("model",), ("model", "provenance")):
        assert not validator.is_valid(_with_member(body, path)), f"an undocumented member in health{list(path)} passes"
    for member in ("demo", "model", "postcodes"):
        assert not validator.is_valid({k: v for k, v in body.items() if k != member}), f"health without {member} passes"


@pytest.mark.parametrize("postcode", ["NE1 4ST", "NE1 4", "NE1", "NEI 4ST"])  # unit, sector, district, a typo fixed
def test_postcode_is_closed(client, components, postcode):
    response = client.get(f"/api/v1/postcodes/{postcode}")
    assert response.status_code == 200
    body = response.get_json()
    validator = _validator(components, "Postcode")
    validator.validate(body)
    assert body["kind"] in POSTCODE_KINDS
    assert not validator.is_valid(_with_member(body, ()))
    for member in ("attribution", "input", "corrected", "kind"):
        assert not validator.is_valid({k: v for k, v in body.items() if k != member}), f"a postcode without {member} passes"


#: Requests whose problems carry each extension member the API can send.
PROBLEMS = [
    ("/api/v1/search?postcode=NE1%204ST&format=xml", {"field", "allowed"}),
    ("/api/v1/postcodes/NE21%204ZZ", {"postcode", "suggestions"}),
    ("/api/v1/postcodes/BT1%201AA", {"area"}),
    ("/api/v1/providers/nobody", set()),
    ("/api/v2/search", set()),
]


@pytest.mark.parametrize(("path", "members"), PROBLEMS)
def test_real_problems_validate_and_an_undocumented_member_fails(client, components, path, members):
    response = client.get(path)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert members <= set(body), body
    validator = _validator(components, "Problem")
    validator.validate(body)
    assert not validator.is_valid(_with_member(body, ())), "an undocumented problem member passes"
    assert not validator.is_valid({k: v for k, v in body.items() if k != "instance"}), "a problem without instance passes"


def test_rate_limited_and_server_made_problems_validate(web_data_dir, cache_dir, web_engine, tmp_path, components):
    from .conftest import make_app

    client = make_app(web_data_dir, cache_dir, web_engine, tmp_path, rate_limits="postcodes=1/minute").test_client()
    assert client.get("/api/v1/postcodes/NE1%204ST").status_code == 200
    limited = client.get("/api/v1/postcodes/NE1%204ST").get_json()
    assert {"retry_after", "bucket"} <= set(limited)
    validator = _validator(components, "Problem")
    validator.validate(limited)
    # What the HTTP servers answer before a request reaches the app (a URL too long) has no path.
    validator.validate(problem_body(414, "URI Too Long", "The URL is too long."))


def _error_classes() -> set[str]:
    def below(cls: type) -> set[str]:
        return {cls.__name__}.union(*(below(sub) for sub in cls.__subclasses__()))

    return below(errors.FindSupportError)


def test_every_extra_the_code_raises_with_is_documented(components):
    """Every keyword given to a FindSupportError anywhere in findsupport names a documented member."""
    classes = _error_classes()
    used: dict[str, str] = {}
    for source in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name in classes:
                    used.update({k.arg: f"{source.relative_to(PACKAGE)}:{node.lineno}" for k in node.keywords if k.arg})
    assert {"field", "suggestions", "retry_after", "provider_id"} <= set(used), "the scan finds the known extras"
    documented = set(components["schemas"]["Problem"]["properties"])
    missing = {k: where for k, where in used.items() if k not in documented | COMMAND_LINE_ONLY}
    assert not missing, f"problem members the document does not describe: {missing}"


def test_the_location_kinds_come_from_their_definition(components, client):
    schemas = components["schemas"]
    assert schemas["Query"]["properties"]["resolved"]["properties"]["kind"]["enum"] == list(LOCATION_KINDS)
    assert schemas["Postcode"]["properties"]["kind"]["enum"] == list(POSTCODE_KINDS)
    point = client.get("/api/v1/search/count", query_string={"lon": "-1.6178", "lat": "54.9783"}).get_json()
    unit = client.get("/api/v1/search/count", query_string={"postcode": NEWCASTLE}).get_json()
    assert (point["query"]["resolved"]["kind"], unit["query"]["resolved"]["kind"]) == (POINT_KIND, "unit")


def test_taxonomy_is_closed_at_every_depth(client, components):
    body = client.get("/api/v1/taxonomy").get_json()
    validator = _validator(components, "Taxonomy")
    validator.validate(body)
    for path in ((), ("roles", 0), ("event_groups", 0), ("event_groups", 0, "events", 0), ("qualifications", 0)):
        assert not validator.is_valid(_with_member(body, path)), f"an undocumented member in taxonomy{list(path)} passes"
    unknown = copy.deepcopy(body)
    unknown["modes"][0]["code"] = "teleport"
    assert not validator.is_valid(unknown), "a mode the taxonomy does not have passes"


def test_the_202_answers_are_closed(client, sample, components):
    asked = client.post("/api/v1/introductions", json={"provider_id": sample.ids[0], "name": "Sam Coach",
                                                       "email": "sam@coach.example", "message": "Could you help?"})
    links = client.post("/api/v1/manage-links", json={"email": "someone@example.org"})
    for response, name in ((asked, "IntroductionPending"), (links, "ManageLinksAccepted")):
        assert response.status_code == 202, response.get_data(as_text=True)
        validator = _validator(components, name)
        validator.validate(response.get_json())
        assert not validator.is_valid(_with_member(response.get_json(), ())), f"{name} with an undocumented member passes"

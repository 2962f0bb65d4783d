"""The read-only API with Flask's test client, on a real catalogue and the real engine."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from findsupport import taxonomy
from findsupport.geo import ATTRIBUTION
from findsupport.web.api import max_offset

from .conftest import HOSTILE_ID, NEWCASTLE, POLE_VAULT_ID
from .schemas import check_schema


def search(client, **params):
    return client.get("/api/v1/search", query_string=params)


def test_health_describes_what_is_served(client, sample):
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    body = response.get_json()
    check_schema(body, "Health")
    assert body["status"] == "ok"
    assert body["providers"] == len(sample.ids)
    assert body["postcodes"] > 1_000_000
    assert body["demo"] is False


@pytest.mark.parametrize(
    ("text", "postcode", "kind", "corrected"),
    [
        ("NE21 4LZ", "NE21 4LZ", "unit", False),
        ("ne214lz", "NE21 4LZ", "unit", False),
        ("NE2I 4LZ", "NE21 4LZ", "unit", True),  # I typed for 1
        ("NE21 4", "NE21 4", "sector", False),
        ("NE21", "NE21", "outcode", False),
    ],
)
def test_postcode_lookup(client, text, postcode, kind, corrected):
    response = client.get(f"/api/v1/postcodes/{quote(text)}")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    check_schema(body, "Postcode")
    assert (body["postcode"], body["kind"], body["corrected"]) == (postcode, kind, corrected)
    assert body["attribution"] == ATTRIBUTION
    assert 54.9 < body["lat"] < 55.0 and -1.8 < body["lon"] < -1.6


@pytest.mark.parametrize(
    ("text", "status", "code"),
    [
        ("NE21 4ZZ", 404, "postcode-not-found"),
        ("BT1 1AA", 422, "postcode-not-covered"),
        ("JE2 3AB", 422, "postcode-not-covered"),
        ("NOT A POSTCODE", 400, "invalid-postcode"),
    ],
)
def test_postcode_errors(client, text, status, code):
    response = client.get(f"/api/v1/postcodes/{quote(text)}")
    assert response.status_code == status
    body = response.get_json()
    assert body["type"] == f"/problems/{code}"
    if code == "postcode-not-found":
        assert body["suggestions"], "an unknown postcode offers 'did you mean' suggestions"
        assert all(s.startswith("NE21") for s in body["suggestions"][:1])
        assert "Did you mean" in body["detail"]


def test_search_json_shape_and_ranking(client, sample):
    response = search(client, postcode=NEWCASTLE, limit=5)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body = response.get_json()
    check_schema(body, "SearchResponse")
    assert len(body["results"]) == 5
    assert body["total"] >= 5
    assert body["search_id"], "every served search is a feedback session"
    assert body["query"]["resolved"]["postcode"] == NEWCASTLE
    assert [r["position"] for r in body["results"]] == [1, 2, 3, 4, 5]
    assert all(r["reasons"] for r in body["results"])
    assert {r["id"] for r in body["results"]} <= set(sample.ids)


@pytest.mark.parametrize(
    ("headers", "params", "mimetype"),
    [
        ({"Accept": "application/geo+json"}, {}, "application/geo+json"),
        ({}, {"format": "geojson"}, "application/geo+json"),
        ({"Accept": "application/geo+json"}, {"format": "json"}, "application/json"),  # format wins
        ({"Accept": "*/*"}, {}, "application/json"),
        ({"Accept": "application/json, application/geo+json;q=0.5"}, {}, "application/json"),
    ],
)
def test_search_format_negotiation(client, headers, params, mimetype):
    response = client.get("/api/v1/search", query_string={"postcode": NEWCASTLE, **params}, headers=headers)
    assert response.status_code == 200
    assert response.mimetype == mimetype
    assert "Accept" in response.headers.get("Vary", "")
    body = response.get_json(force=True)
    if mimetype == "application/geo+json":
        check_schema(body, "SearchFeatureCollection")
        first = body["features"][0]
        lon, lat = first["geometry"]["coordinates"]
        assert -2 < lon < -1 and 54 < lat < 56, "RFC 7946: longitude first"
    else:
        check_schema(body, "SearchResponse")


def test_search_by_location(client):
    response = search(client, lon="-1.6178", lat="54.9783", radius_km="10")
    assert response.status_code == 200
    body = response.get_json()
    assert body["query"]["resolved"]["postcode"].startswith("NE")
    assert body["results"]


def test_repeated_slots_join_and_other_repeats_are_rejected(client):
    joined = client.get("/api/v1/search?postcode=NE1+4ST&slots=tue_eve&slots=sat_am")
    assert joined.status_code == 200
    assert joined.get_json()["query"]["slots"] == ["tue_eve", "sat_am"]
    repeated = client.get("/api/v1/search?postcode=NE1+4ST&radius_km=10&radius_km=20")
    assert repeated.status_code == 400
    assert repeated.get_json()["field"] == "radius_km"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"postcode": NEWCASTLE, "radius": "10"}, "radius"),  # unknown parameter (typo)
        ({"postcode": NEWCASTLE, "callback": "x"}, "callback"),  # no JSONP
        ({"postcode": NEWCASTLE, "radius_km": "0.5"}, "radius_km"),
        ({"postcode": NEWCASTLE, "radius_km": "201"}, "radius_km"),
        ({"postcode": NEWCASTLE, "radius_km": "ten"}, "radius_km"),
        ({"postcode": NEWCASTLE, "limit": "0"}, "limit"),
        ({"postcode": NEWCASTLE, "limit": "51"}, "limit"),
        ({"postcode": NEWCASTLE, "slots": "tue_night"}, "slots"),
        ({"postcode": NEWCASTLE, "role": "guru"}, "role"),
        ({"postcode": NEWCASTLE, "event": "quidditch"}, "event"),
        ({"postcode": NEWCASTLE, "mode": "telepathy"}, "mode"),
        ({"postcode": NEWCASTLE, "format": "xml"}, "format"),
        ({"lon": "-1.6"}, "lat"),
        ({}, "postcode"),
    ],
)
def test_search_rejects_bad_parameters(client, params, field):
    response = search(client, **params)
    assert response.status_code == 400
    body = response.get_json()
    assert body["field"] == field
    assert body["status"] == 400


@pytest.mark.parametrize(("radius", "status"), [("1", 200), ("200", 200)])
def test_search_radius_bounds_are_inclusive(client, radius, status):
    assert search(client, postcode=NEWCASTLE, radius_km=radius).status_code == status


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"postcode": "BT1 1AA"}, 422, "postcode-not-covered"),
        ({"postcode": "IM1 1AA"}, 422, "postcode-not-covered"),
        ({"lon": "-5.93", "lat": "54.6"}, 422, "location-outside-coverage"),  # Belfast
        ({"postcode": "NE21 4ZZ"}, 404, "postcode-not-found"),
    ],
)
def test_search_outside_coverage(client, params, status, code):
    response = search(client, **params)
    assert response.status_code == status
    assert response.get_json()["type"] == f"/problems/{code}"


def test_unconsented_providers_never_appear(client, sample):
    body = search(client, postcode=NEWCASTLE, radius_km=200, limit=50, mode="any").get_json()
    shown = {r["id"] for r in body["results"]}
    assert not shown & set(sample.hidden_ids)
    assert body["total"] <= len(sample.ids)


def test_no_private_data_in_any_search_response(client, sample):
    for params in ({"postcode": NEWCASTLE, "radius_km": 200, "limit": 50}, {"postcode": "SW1A 2AA", "radius_km": 50}):
        for fmt in ("json", "geojson"):
            text = search(client, format=fmt, **params).get_data(as_text=True)
            for email in sample.emails:
                assert email not in text
            for postcode in sample.postcodes:
                assert postcode not in text, "a provider's postcode must never leave the server"


def test_count_matches_search_total_and_is_not_logged(client, app):
    feedback = app.extensions["findsupport"].engine.feedback
    params = {"postcode": NEWCASTLE, "role": "mentor", "radius_km": 25}
    before = feedback.count()
    total = search(client, **params).get_json()["total"]
    assert feedback.count() == before + 1, "a served search is logged"
    response = client.get("/api/v1/search/count", query_string=params)
    assert response.status_code == 200
    check_schema(response.get_json(), "SearchCount")
    assert response.get_json()["total"] == total
    assert feedback.count() == before + 1, "a count shows nobody anything: not logged"


#: Hexham is about 30 km west of Newcastle: nobody in the sample catalogue is within 5 km.
HEXHAM = "NE46 3"


def test_empty_search_and_wider_count(client):
    narrow = search(client, postcode=HEXHAM, role="mentor", radius_km=5).get_json()
    assert narrow["total"] == 0 and narrow["results"] == []
    assert narrow["search_id"] is None, "an empty page is not a feedback session"
    wide = client.get("/api/v1/search/count", query_string={"postcode": HEXHAM, "role": "mentor", "radius_km": 50})
    assert wide.get_json()["total"] >= 1


def test_provider_public_view(client, sample):
    response = client.get(f"/api/v1/providers/{sample.ids[0]}")
    assert response.status_code == 200
    body = response.get_json()
    check_schema(body, "Provider")
    assert body["id"] == sample.ids[0]
    text = response.get_data(as_text=True)
    assert "email" not in body and "postcode" not in body
    assert not any(email in text for email in sample.emails)


def test_unknown_and_unconsented_providers_look_the_same(client, sample):
    unknown = client.get("/api/v1/providers/no-such-provider")
    hidden = client.get(f"/api/v1/providers/{sample.hidden_ids[0]}")
    assert unknown.status_code == hidden.status_code == 404
    a, b = unknown.get_json(), hidden.get_json()
    a.pop("instance"), b.pop("instance")
    assert a == b


def test_viewing_a_provider_records_feedback(client, app):
    body = search(client, postcode=NEWCASTLE, limit=3).get_json()
    provider_id = body["results"][1]["id"]
    response = client.get(f"/api/v1/providers/{provider_id}", query_string={"search_id": body["search_id"]})
    assert response.status_code == 200
    feedback = app.extensions["findsupport"].engine.feedback
    session = next(s for s in feedback.sessions() if s["search_id"] == body["search_id"])
    assert {r["provider_id"]: r["action"] for r in session["results"]}[provider_id] == "viewed"



def test_a_search_id_that_names_no_such_search_is_ignored_not_an_error(client, app):
    """The document cannot list logged searches, so a well-formed search_id is accepted as it says.

    The coach still sees the provider (an old link, a pruned log); nothing is recorded.
    """
    body = search(client, postcode=NEWCASTLE, limit=3).get_json()
    feedback = app.extensions["findsupport"].engine.feedback
    other = search(client, postcode="SW1A 2AA", radius_km=10, limit=1).get_json()
    not_shown = other["results"][0]["id"]
    for search_id, provider_id in ((body["search_id"], not_shown), ("not-a-search", body["results"][0]["id"])):
        response = client.get(f"/api/v1/providers/{provider_id}", query_string={"search_id": search_id})
        assert response.status_code == 200
        check_schema(response.get_json(), "Provider")
    actions = {(s["search_id"], r["provider_id"]): r["action"] for s in feedback.sessions() for r in s["results"]}
    assert actions[(body["search_id"], body["results"][0]["id"])] == "shown"
    assert (body["search_id"], not_shown) not in actions


def test_a_blank_search_id_is_none(client, sample):
    """As in introductions: blank is the same as leaving it out (the document says so)."""
    response = client.get(f"/api/v1/providers/{sample.ids[0]}", query_string={"search_id": " "})
    assert response.status_code == 200


@pytest.mark.parametrize("search_id", ["a" * 101, "abc\x00", "abc\u2028def"])
def test_a_malformed_search_id_is_a_400_naming_it(client, sample, search_id):
    response = client.get(f"/api/v1/providers/{sample.ids[0]}", query_string={"search_id": search_id})
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["field"] == "search_id"


def test_head_of_a_search_logs_nothing_and_get_still_does(client, app):
    feedback = app.extensions["findsupport"].engine.feedback
    before = feedback.count()
    head = client.head("/api/v1/search", query_string={"postcode": NEWCASTLE})
    assert head.status_code == 200
    assert head.get_data() == b""
    assert feedback.count() == before, "a HEAD shows nobody any results"
    got = search(client, postcode=NEWCASTLE).get_json()
    assert got["search_id"]
    assert feedback.count() == before + 1


def test_head_of_a_provider_records_no_view(client, app):
    body = search(client, postcode=NEWCASTLE, limit=3).get_json()
    provider_id = body["results"][0]["id"]
    feedback = app.extensions["findsupport"].engine.feedback
    head = client.head(f"/api/v1/providers/{provider_id}", query_string={"search_id": body["search_id"]})
    assert head.status_code == 200
    session = next(s for s in feedback.sessions() if s["search_id"] == body["search_id"])
    assert {r["provider_id"]: r["action"] for r in session["results"]}[provider_id] == "shown"


@pytest.mark.parametrize("deepest", [False, True])
def test_the_deepest_documented_offset_works_with_the_largest_limit(client, app, deepest):
    settings = app.extensions["findsupport"].settings
    offset = max_offset(settings) if deepest else 0
    response = search(client, postcode=NEWCASTLE, offset=offset, limit=settings.max_limit)
    assert response.status_code == 200


def test_an_offset_past_the_documented_maximum_is_a_400(client, app):
    response = search(client, postcode=NEWCASTLE, offset=max_offset(app.extensions["findsupport"].settings) + 1, limit=1)
    assert response.status_code == 400
    assert response.get_json()["field"] == "offset"


@pytest.mark.parametrize(("name", "value"), [("role", ""), ("mode", " "), ("limit", " 5"), ("lon", ""), ("postcode", "")])
def test_a_given_parameter_has_a_value_as_documented(client, name, value):
    params = {"postcode": NEWCASTLE, name: value}
    response = client.get("/api/v1/search", query_string=params)
    assert response.status_code == 400
    assert response.get_json()["field"] == name


@pytest.mark.parametrize(("name", "value"), [("slots", ""), ("id", ""), ("postcode", f"  {NEWCASTLE} ")])
def test_documented_blank_and_spaced_values_are_accepted(client, name, value):
    assert client.get("/api/v1/search", query_string={"postcode": NEWCASTLE, name: value}).status_code == 200


# ---------------------------------------------------------------- a repeated search's page, written once
@pytest.mark.parametrize("output", ["json", "geojson"])
def test_a_repeated_search_answers_the_same_page_with_its_own_search_id(app, client, output):
    """A club widget's search repeats on every page view: each answer carries its own search id and
    the same results, byte for byte, as an answer made from scratch and as the standard library's."""
    params = {"postcode": NEWCASTLE, "role": "mentor", "radius_km": 50, "format": output, "limit": 7}
    answers = [search(client, **params) for _ in range(3)]
    assert all(a.status_code == 200 for a in answers)
    bodies = [a.get_json() for a in answers]
    ids = [b.pop("search_id") for b in bodies]
    assert len(set(ids)) == 3 and None not in ids
    assert bodies[0] == bodies[1] == bodies[2]
    members = "features" if output == "geojson" else "results"
    assert len(bodies[0][members]) == 7
    # The same bytes as the first answer, but for the search id.
    raw = [a.get_data().replace(sid.encode(), b"-") for a, sid in zip(answers, ids)]
    assert raw[0] == raw[1] == raw[2]
    # As made from scratch: the engine's own page, rendered now.
    engine = app.extensions["findsupport"].engine
    query = {k: v for k, v in params.items() if k != "format"}
    fresh = engine.search(query)
    expected = fresh.to_geojson() if output == "geojson" else fresh.to_dict()
    assert json.loads(json.dumps(expected[members])) == bodies[0][members]
    # The standard library (debug mode's indented output) writes the same value.
    app.debug = True
    try:
        debug = search(client, **params)
    finally:
        app.debug = False
    body = debug.get_json()
    body.pop("search_id")
    assert body == bodies[0] and b"\n  " in debug.get_data()


def test_a_repeated_search_renders_its_results_once(client, monkeypatch):
    """The second answer of a page writes the first's encoded results: no result is made into a dict again."""
    from findsupport.search.results import SearchResult

    made = []
    to_dict = SearchResult.to_dict
    monkeypatch.setattr(SearchResult, "to_dict", lambda self: made.append(self.provider.id) or to_dict(self))
    params = {"postcode": NEWCASTLE, "radius_km": 37, "limit": 5}
    assert search(client, **params).status_code == 200
    assert len(made) == 5
    assert search(client, **params).status_code == 200
    assert len(made) == 5
    assert search(client, **{**params, "limit": 4}).status_code == 200  # another query: its own page
    assert len(made) == 9

"""The engine as the web, the CLI and notebooks use it: real postcodes, the whole flow."""

from __future__ import annotations

import math

import numpy as np
import pytest

from findsupport import Engine as TopLevelEngine
from findsupport.errors import (
    InvalidInput,
    InvalidPostcode,
    InvalidQuery,
    LocationOutsideCoverage,
    PostcodeNotCovered,
    PostcodeNotFound,
    ProviderNotFound,
)
from findsupport.ranking.explain import explain
from findsupport.ranking.features import FEATURE_NAMES
from findsupport.ranking.model import MatchRanker
from findsupport.search import Engine, SearchQuery, parse_query

from index.brute import assert_same_top, brute_search  # tests/ is on sys.path (packages per directory)


def test_engine_is_public_api() -> None:
    assert TopLevelEngine is Engine


@pytest.mark.parametrize(
    ("params", "kind", "note"),
    [
        ({"postcode": "ne21 4lz"}, "unit", None),
        ({"postcode": "NE21 4"}, "sector", "centre of sector NE21 4"),
        ({"postcode": "NE21"}, "outcode", "centre of postcode district NE21"),
        ({"postcode": "NE2I 4LZ"}, "unit", "was read as NE21 4LZ"),
        ({"lon": "-1.7259", "lat": "54.9641"}, "point", "Searching from your location, near NE21 4"),
    ],
)
def test_where_the_coach_is(engine: Engine, params: dict, kind: str, note: str | None) -> None:
    response = engine.search(params)
    assert response.location.kind == kind
    if note:
        assert any(note in n for n in response.notes), response.notes
    assert response.total > 0 and response.results


def test_a_point_search_keeps_the_point(engine: Engine) -> None:
    response = engine.search({"lon": -1.7259, "lat": 54.9641})
    assert (response.location.lon, response.location.lat) == (-1.7259, 54.9641)
    assert response.location.distance_m is not None and response.location.distance_m < 2000


def test_results_are_explained_public_views(engine: Engine) -> None:
    response = engine.search({"postcode": "NE21 4LZ", "event": "hurdles", "slots": "tue_eve,sat_am", "role": "mentor"})
    location = response.location
    assert [r.position for r in response.results] == list(range(1, len(response.results) + 1))
    scores = [r.score for r in response.results]
    assert scores == sorted(scores, reverse=True)
    for result in response.results:
        p = result.provider
        assert "mentor" in p.roles
        expected_km = round(math.hypot(p.easting - location.easting, p.northing - location.northing) / 1000, 1)
        assert result.distance_km == expected_km
        assert list(result.features) == list(FEATURE_NAMES)
        assert result.reasons[0] == f"{result.distance_km:.1f} km away"
        if "hurdles" not in p.events:
            assert any("hurdles" in m for m in result.missing)
        if "sat_am" not in p.availability:
            assert any(m.startswith("not free") for m in result.missing)
        body = result.to_dict()
        assert "email" not in body and "postcode" not in body


@pytest.mark.parametrize(
    "params",
    [
        {"postcode": "NE21 4LZ", "event": "hurdles", "slots": "tue_eve,sat_am", "role": "mentor", "limit": 20},
        {"postcode": "NE1 1AD", "event": "jumps", "slots": "mon_eve,tue_eve,thu_eve", "mode": "any", "limit": 30},
        {"postcode": "DH1 3LE", "event": "sprints_hurdles", "role": "mentor", "mode": "online", "level": "advanced_coach"},
    ],
)
def test_page_reasons_are_explains(engine: Engine, params: dict) -> None:
    """The engine's per-query explainer gives exactly what ranking.explain gives for each result."""
    response = engine.search(params)
    query = response.query
    assert response.results
    for result in response.results:
        row = np.array([result.features[name] for name in FEATURE_NAMES])
        why = explain(result.provider, row, engine.ranker.contributions(row[None, :])[0], result.distance_km,
                      event=query.event, slots=query.slots, role=query.role, mode=query.mode, level=query.level)  # fmt: skip
        assert (result.reasons, result.missing) == (why.reasons, why.missing)


def test_reasons_speak_to_the_coachs_own_level(engine: Engine) -> None:
    """A coach who gives their level reads which providers are qualified above it."""
    plain = engine.search({"postcode": "NE1 1AD", "mode": "any", "limit": 50})
    leveled = engine.search({"postcode": "NE1 1AD", "mode": "any", "limit": 50, "level": "assistant_coach"})
    assert not any("above your level" in reason for r in plain.results for reason in r.reasons)
    above = [r for r in leveled.results if r.features["qualified_above"]]
    assert above
    assert any(reason.endswith(", above your level") for r in above for reason in r.reasons)


def test_score_is_the_rankers_score(engine: Engine) -> None:
    response = engine.search({"postcode": "NE1 1AD", "event": "jumps", "level": "sessional_coach", "mode": "any"})
    for result in response.results:
        row = np.array([result.features[name] for name in FEATURE_NAMES])
        assert result.score == pytest.approx(float(engine.ranker.decision_function(row[None, :])[0]), abs=1e-9)


@pytest.mark.parametrize("mode", ["in_person", "online", "any"])
@pytest.mark.parametrize("postcode", ["NE21 4LZ", "DH1 3LE", "EH1 1YZ"])
def test_pages_equal_brute_force(engine: Engine, ne_catalog, mode: str, postcode: str) -> None:
    query = parse_query({"postcode": postcode, "mode": mode, "event": "hurdles", "slots": "tue_eve", "limit": 7, "offset": 2})
    response = engine.search(query)
    location = engine.resolve_location(query)
    brute = brute_search(
        ne_catalog,
        engine.ranker,
        {"x": location.easting, "y": location.northing, "radius_km": 25.0, "role": None, "mode": mode,
         "event": "hurdles", "slots": ("tue_eve",), "level": None},
    )
    assert response.total == brute.total
    positions = [ne_catalog.position_of(r.provider.id) for r in response.results]
    assert_same_top(positions, np.array([r.score for r in response.results]), brute, offset=2)


def test_paging_is_seamless(engine: Engine) -> None:
    whole = engine.search({"postcode": "NE8 1HA", "mode": "any", "limit": 12})
    pages = [engine.search({"postcode": "NE8 1HA", "mode": "any", "limit": 4, "offset": o}) for o in (0, 4, 8)]
    assert [r.provider.id for p in pages for r in p.results] == [r.provider.id for r in whole.results]
    assert [r.position for r in pages[2].results] == [9, 10, 11, 12]
    assert {p.total for p in pages} == {whole.total}


def test_past_the_last_page(engine: Engine) -> None:
    response = engine.search({"postcode": "NE21 4LZ", "offset": 400})
    assert response.results == () and response.total > 0
    assert any("this page starts after the last one" in n for n in response.notes)


def test_nothing_near_says_what_to_try(engine: Engine) -> None:
    response = engine.search({"postcode": "TR18 4AA", "role": "co_coach"})
    assert response.total == 0 and response.results == ()
    assert any("try a larger radius" in n for n in response.notes)


def test_totals_by_mode(engine: Engine, ne_catalog) -> None:
    in_person = engine.search({"postcode": "NE1 1AD"})
    online = engine.search({"postcode": "NE1 1AD", "mode": "online"})
    both = engine.search({"postcode": "NE1 1AD", "mode": "any", "limit": 50})
    assert online.total == int(ne_catalog.online.sum())
    ids_in_person = {r.provider.id for r in engine.search({"postcode": "NE1 1AD", "limit": 50}).results}
    online_ids = {p.id for p in ne_catalog.providers if p.online}
    assert both.total == len(ids_in_person | online_ids) < in_person.total + online.total
    assert len({r.provider.id for r in both.results}) == len(both.results)


def test_polygon_service_area_in_the_engine(engine: Engine) -> None:
    """The Durham coach developer's box reaches Chester-le-Street but not Berwick."""
    near = engine.search({"postcode": "DH3 3AA", "role": "coach_developer", "limit": 50})
    far = engine.search({"postcode": "TD15 1AA", "role": "coach_developer", "radius_km": 200, "limit": 50})
    assert "p902" in {r.provider.id for r in near.results}
    assert "p902" not in {r.provider.id for r in far.results}


# ---------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "postcode"),
        ({"postcode": "NE21 4LZ", "role": "coach"}, "role"),
        ({"postcode": "NE21 4LZ", "event": "hurdling"}, "event"),
        ({"postcode": "NE21 4LZ", "slots": "tue_evening"}, "slots"),
        ({"postcode": "NE21 4LZ", "mode": "video"}, "mode"),
        ({"postcode": "NE21 4LZ", "level": "olympic"}, "level"),
        ({"postcode": "NE21 4LZ", "radius_km": "0"}, "radius_km"),
        ({"postcode": "NE21 4LZ", "radius_km": "far"}, "radius_km"),
        ({"postcode": "NE21 4LZ", "limit": "0"}, "limit"),
        ({"postcode": "NE21 4LZ", "limit": "51"}, "limit"),
        ({"postcode": "NE21 4LZ", "offset": "-1"}, "offset"),
        ({"postcode": "NE21 4LZ", "offset": "495", "limit": "10"}, "offset"),
        ({"postcode": "NE21 4LZ", "id": ["a"]}, "id"),
        ({"lon": "-1.7"}, "lat"),
        ({"postcode": "NE21 4LZ", "lon": "-1.7", "lat": "54.9"}, "postcode"),
        ({"postcode": "NE21 4LZ", "radius": "10"}, "radius"),
    ],
)
def test_each_field_is_validated(engine: Engine, params: dict, field: str) -> None:
    with pytest.raises(InvalidQuery) as caught:
        engine.search(params)
    assert caught.value.extra["field"] == field
    assert caught.value.http_status == 400


@pytest.mark.parametrize(
    ("params", "error", "words"),
    [
        ({"postcode": "NOT A CODE"}, InvalidPostcode, "postcode"),
        ({"postcode": "NE21 4XX"}, PostcodeNotFound, "Did you mean"),
        ({"postcode": "BT1 1AA"}, PostcodeNotCovered, "Northern Ireland"),
        ({"lon": 2.35, "lat": 48.86}, LocationOutsideCoverage, "Great Britain"),
        ({"lon": 54.96, "lat": -1.72}, InvalidInput, "swapped"),
        ({"lon": -5.93, "lat": 54.6}, LocationOutsideCoverage, "Northern Ireland"),
    ],
)
def test_where_errors(engine: Engine, params: dict, error: type, words: str) -> None:
    with pytest.raises(error, match=words):
        engine.search(params)


def test_provider_lookup(engine: Engine, ne_catalog) -> None:
    assert engine.provider("p001") == ne_catalog.get("p001")
    with pytest.raises(ProviderNotFound):
        engine.provider("nobody")


def test_a_searchquery_is_used_as_given(engine: Engine) -> None:
    query = SearchQuery(postcode="NE21 4LZ", limit=3)
    assert engine.search(query).query is query


def test_a_learned_looking_ranker_changes_the_order(ne_catalog, directory) -> None:
    """Weights are the ranker's: an engine serving 'nearest only' ranks by distance."""
    weights = {f"w_{name}": 0.0 for name in FEATURE_NAMES}
    weights["w_proximity_near"] = 1.0
    nearest = Engine.from_catalog(ne_catalog, directory, ranker=MatchRanker(**weights).use_parameter_weights(), model_version="near")
    response = nearest.search({"postcode": "NE15 6AA", "limit": 20})
    distances = [r.distance_km for r in response.results]
    assert distances == sorted(distances)
    assert response.model_version == "near"

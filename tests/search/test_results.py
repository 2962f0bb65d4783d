"""Result shapes: the JSON of a response (an API contract), built faster but the same."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from findsupport.search.engine import Engine
from findsupport.search.results import _rounded_features

RESULT_KEYS = [
    "id", "name", "roles", "events", "availability", "online", "qualification", "club", "bio", "area", "travel_km",
    "capacity", "spare_capacity", "distance_km", "location", "position", "score", "reasons", "missing", "features", "group",
    "replies_within_days",
]  # fmt: skip


def test_result_keys_are_the_api_contract(engine: Engine) -> None:
    response = engine.search({"postcode": "NE21 4LZ", "mode": "any"})
    assert list(response.results[0].to_dict()) == RESULT_KEYS
    assert list(response.to_dict()) == ["query", "results", "total", "search_id", "model_version", "notes", "attribution", "totals"]


@pytest.mark.parametrize(
    "params",
    [
        {"postcode": "NE21 4LZ"},
        {"postcode": "ne1 1ad", "role": "mentor", "event": "jumps", "slots": "tue_eve,sat_am", "level": "sessional_coach", "id": "q1"},
        {"lon": -1.6178, "lat": 54.9783, "mode": "online", "limit": 3, "offset": 2},
    ],
)
def test_query_echo_is_the_querys_own_dict(engine: Engine, params: dict) -> None:
    response = engine.search(params)
    echo = response.query_dict()
    expected = response.query.to_dict()
    assert {k: echo[k] for k in expected} == expected and list(echo)[: len(expected)] == list(expected)
    assert set(echo) - set(expected) == {"location", "resolved"}


values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1.0, -1.0, 1 / 3, 2 / 3, 0.25, -0.75, 5e-5, 1 / 21]),
    st.integers(-3, 3),
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from("abcdefgh"), values, max_size=8))
def test_rounded_features_are_round(features: dict) -> None:
    """Same values, same types, same signs (so the same JSON) as round(v, 4) of each."""
    assert repr(_rounded_features(features)) == repr({k: round(v, 4) for k, v in features.items()})


@pytest.mark.parametrize("mode", ["in_person", "online", "any"])
def test_rounded_values_are_pythons_round(engine: Engine, mode: str) -> None:
    """The cheaper rounding writes the same JSON as round(v, 4) / round(v, 6) did."""
    response = engine.search({"postcode": "NE1 1AD", "mode": mode, "event": "jumps", "slots": "tue_eve,sat_am", "limit": 50})
    for result in response.results:
        body = result.to_dict()
        plain = {k: round(v, 4) for k, v in result.features.items()}
        assert json.dumps(body["features"]) == json.dumps(plain)
        assert body["score"] == round(result.score, 4)
        assert body["location"] == {"lat": round(result.provider.lat, 6), "lon": round(result.provider.lon, 6)}


@pytest.mark.parametrize("params", [{"postcode": "NE21 4LZ"}, {"postcode": "NE1 1AD", "role": "mentor", "radius_km": 5}, {"postcode": "DH1 3LE", "radius_km": 10}])
def test_any_search_counts_near_and_online_apart(engine: Engine, params: dict) -> None:
    """`any` = who meets you in person (the in-person search's matches) + who helps online from further away."""
    mixed = engine.search({**params, "mode": "any", "limit": 50})
    in_person = engine.search({**params, "mode": "in_person", "limit": 1})
    online = engine.search({**params, "mode": "online", "limit": 1})
    body = mixed.to_dict()
    assert body["totals"] == {"near": in_person.total, "online": mixed.total - in_person.total}
    assert body["totals"]["online"] <= online.total
    near_ids = {r.provider.id for r in engine.search({**params, "mode": "in_person", "limit": 50}).results}
    for result in mixed.results:
        assert result.group == ("near" if result.provider.id in near_ids or result.distance_km <= mixed.query.radius_km and result.features["in_service_area"] else "online")
        if result.group == "online":
            assert result.provider.online and not result.reasons[0].endswith(" km away")
    assert engine.search({**params, "mode": "online"}).to_dict()["totals"] == {"near": 0, "online": online.total}
    assert in_person.to_dict()["totals"] == {"near": in_person.total, "online": 0}

"""Result shapes: the JSON of a response, and the batch encoder that must write exactly the same bytes."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from findsupport.catalog.public import PublicProvider
from findsupport.ranking.features import FEATURE_NAMES
from findsupport.search import SearchQuery
from findsupport.search.engine import Engine
from findsupport.search.results import ResponseEncoder, SearchResponse, SearchResult, _round4

RESULT_KEYS = [
    "id", "name", "roles", "events", "availability", "online", "qualification", "club", "bio", "area", "travel_km",
    "capacity", "spare_capacity", "distance_km", "location", "position", "score", "reasons", "missing", "features",
]  # fmt: skip
ODD_TEXTS = ['Zoë "Quote" O\'Neil\\', "Line\nbreak\tand tab", "emoji 🏃\u200d♀️ and \u2028", "\x00\x1f control", "", None]


def test_result_keys_are_the_api_contract(engine: Engine) -> None:
    response = engine.search({"postcode": "NE21 4LZ", "mode": "any"})
    assert list(response.results[0].to_dict()) == RESULT_KEYS
    assert list(response.to_dict()) == ["query", "results", "total", "search_id", "model_version", "notes", "attribution"]


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


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -0.0, 1 / 3, 2 / 3, 0.25, -0.75, 5e-5])))
def test_round4_is_round(value: float) -> None:
    assert repr(_round4(value)) == repr(round(value, 4))


def _provider(name: str, club: str | None, bio: str | None, **changes) -> PublicProvider:
    fields = dict(
        id="p\"1", name=name, roles=("mentor", "co_coach"), events=("hurdles",), availability=("mon_am", "sun_eve"),
        online=True, travel_km=12.5, capacity=3, active_coaches=1, qualification="athletics_coach", club=club, bio=bio,
        area="NE21 4", easting=417647.0, northing=563312.0, lon=-1.72593333, lat=54.96411111,
    )
    fields.update(changes)
    return PublicProvider(**fields)


feature_values = st.one_of(
    st.sampled_from([0.0, 1.0, -0.0, 0.5, 1 / 3, -0.25]), st.floats(min_value=-1, max_value=1), st.floats(allow_nan=True, allow_infinity=True)
)


@settings(max_examples=150, deadline=None)
@given(
    name=st.text(max_size=12),
    club=st.one_of(st.none(), st.sampled_from(ODD_TEXTS[:-1]), st.text(max_size=8)),
    bio=st.one_of(st.none(), st.text(max_size=8)),
    values=st.lists(feature_values, min_size=len(FEATURE_NAMES), max_size=len(FEATURE_NAMES)),
    score=st.floats(allow_nan=False, allow_infinity=False, min_value=-10, max_value=10),
    distance=st.floats(min_value=0, max_value=900),
    reasons=st.lists(st.sampled_from(["4.2 km away", "hurdles specialist", "naïve \"quoted\""]), max_size=3),
    travel=st.sampled_from([12.5, 20, 0.0]),
    query_id=st.one_of(st.none(), st.text(max_size=6), st.integers()),
)
def test_encoder_writes_the_bytes_json_dumps_writes(name, club, bio, values, score, distance, reasons, travel, query_id, directory) -> None:
    """Any strings, feature values (-0.0, NaN, inf included), ints or floats: the same text as json.dumps."""
    provider = _provider(name, club, bio, travel_km=travel)
    result = SearchResult(
        provider=provider, position=3, distance_km=round(distance, 1), score=score,
        features=dict(zip(FEATURE_NAMES, values)), reasons=tuple(reasons), missing=("not free Tue evening",),
    )  # fmt: skip
    other = dataclasses.replace(result, provider=_provider(name + "x", None, None), position=4, features={"a": 1, "b": 0.5})
    response = SearchResponse(
        query=SearchQuery(postcode="NE21 4LZ", slots=("tue_eve",), id=query_id if not isinstance(query_id, int) else str(query_id)),
        location=directory.lookup("NE21 4LZ"),
        results=(result, other, result),
        total=7,
        notes=("a note",),
    )
    encoder = ResponseEncoder()
    lead = {"id": query_id, "line": 9}
    for _ in range(2):  # the second time from the encoder's memos
        assert encoder.encode(response, lead) == json.dumps({**lead, **response.to_dict()}, ensure_ascii=False)


@pytest.mark.parametrize("mode", ["in_person", "online", "any"])
def test_encoder_on_engine_responses(engine: Engine, ne_catalog, mode: str) -> None:
    odd = [dataclasses.replace(p, name=ODD_TEXTS[i % 5] or "x", club=ODD_TEXTS[(i + 1) % 6], bio=ODD_TEXTS[(i + 2) % 6])
           for i, p in enumerate(ne_catalog.providers)]  # fmt: skip
    from findsupport.catalog.public import PublicCatalog

    engine = Engine.from_catalog(PublicCatalog.from_providers(odd), engine.directory)
    encoder = ResponseEncoder()
    for postcode in ("NE21 4LZ", "DH1 3LE", "SW1A 2AA"):
        for params in ({"limit": 50}, {"event": "jumps", "slots": "tue_eve,sat_am", "role": "mentor", "offset": 1}):
            response = engine.search({"postcode": postcode, "mode": mode, **params})
            lead = {"id": postcode, "line": 1}
            assert encoder.encode(response, lead) == json.dumps({**lead, **response.to_dict()}, ensure_ascii=False)


def test_finite_check() -> None:
    from findsupport.search.results import _finite

    assert [_finite(v) for v in (0.0, -1e308, math.inf, -math.inf, math.nan, float(np.float64(2.5)))] == [True, True, False, False, False, True]

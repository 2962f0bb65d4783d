"""Filters (has room, qualified at least) and nearest-first: exact, and the same ranking as the fast path."""

from __future__ import annotations

import pytest

from findsupport import taxonomy
from findsupport.errors import InvalidQuery
from findsupport.search.engine import Engine
from findsupport.search.query import parse_query

QUERIES = [
    {"postcode": "NE21 4LZ", "radius_km": 40},
    {"postcode": "NE1 1AD", "role": "mentor", "event": "jumps", "mode": "any", "radius_km": 10},
    {"postcode": "DH1 3LE", "mode": "online", "slots": "tue_eve"},
]
#: Deep enough to hold every match of these queries on the test catalogue, or the first 50.
ALL = {"limit": 50}


def _ids(response) -> list[str]:
    return [r.provider.id for r in response.results]


@pytest.mark.parametrize("params", QUERIES)
def test_filters_keep_the_rankings_order_and_count_exactly(engine: Engine, params: dict) -> None:
    plain = engine.search({**params, **ALL})
    for filters, passes in [
        ({"has_room": "true"}, lambda p: p.spare > 0),
        ({"min_qualification": "athletics_coach"}, lambda p: p.qualification and taxonomy.QUALIFICATIONS[p.qualification] >= 3),
        ({"has_room": "1", "min_qualification": "advanced_coach"}, lambda p: p.spare > 0 and p.qualification == "advanced_coach"),
    ]:
        filtered = engine.search({**params, **filters, **ALL})
        assert all(passes(r.provider) for r in filtered.results)
        if plain.total <= ALL["limit"]:  # every match is on the page: the filtered list is exactly the passing ones, in order
            assert _ids(filtered) == [r.provider.id for r in plain.results if passes(r.provider)]
            assert filtered.total == len(filtered.results)
        totals = filtered.to_dict()["totals"]
        assert totals["near"] + totals["online"] == filtered.total
        assert [r.position for r in filtered.results] == list(range(1, len(filtered.results) + 1))


@pytest.mark.parametrize("params", QUERIES)
def test_nearest_first_orders_every_match_by_distance(engine: Engine, params: dict) -> None:
    plain = engine.search({**params, "limit": 1})
    nearest = engine.search({**params, "sort": "nearest", **ALL})
    assert nearest.total == plain.total
    distances = [r.distance_km for r in nearest.results]
    assert distances == sorted(distances)
    second = engine.search({**params, "sort": "nearest", "limit": 5, "offset": 5})
    assert _ids(second) == _ids(nearest)[5:10]
    assert nearest.to_dict()["totals"] == plain.to_dict()["totals"]


@pytest.mark.parametrize(
    ("params", "field"),
    [({"sort": "closest"}, "sort"), ({"has_room": "maybe"}, "has_room"), ({"min_qualification": "expert"}, "min_qualification")],
)
def test_bad_filters_name_the_field_and_the_choices(params: dict, field: str) -> None:
    with pytest.raises(InvalidQuery) as caught:
        parse_query({"postcode": "NE1 1AD", **params})
    assert caught.value.extra["field"] == field


def test_filters_default_off() -> None:
    query = parse_query({"postcode": "NE1 1AD", "has_room": "false", "sort": "best"})
    assert (query.sort, query.has_room, query.min_qualification, query.filtered) == ("best", False, None, False)

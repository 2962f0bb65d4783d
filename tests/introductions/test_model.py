"""What the coach asked, kept at sector level, and rebuilt as a finder link."""

from __future__ import annotations

import pytest

from findsupport.introductions import Asked


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"postcode": "ne21 4lz", "role": "mentor"}, Asked(role="mentor", sector="NE21 4")),
        ({"postcode": "SW1A 2AA", "event": "jumps", "slots": "tue_eve,sat_am"},
         Asked(event="jumps", slots=("tue_eve", "sat_am"), sector="SW1A 2")),
        ({"postcode": "NE21", "mode": "online"}, Asked(mode="online")),  # a district has no sector
        ({"lon": -1.6, "lat": 54.9, "role": "co_coach"}, Asked(role="co_coach")),
        ({"postcode": "not a postcode", "role": "<script>", "event": "x", "slots": ["mon_am", 3, "nope"],
          "mode": "teleport", "level": "wizard"}, Asked(slots=("mon_am",))),
        (None, Asked()),
    ],
)
def test_from_query_keeps_known_codes_and_the_sector_only(query, expected):
    assert Asked.from_query(query) == expected


def test_a_search_by_coordinates_takes_the_sector_the_web_layer_found():
    assert Asked.from_query({"lon": -1.6, "lat": 54.9}, sector="NE1 4").area == "NE"


@pytest.mark.parametrize(("sector", "area"), [("NE21 4", "NE"), ("B1 1", "B"), ("EH1 1", "EH"), (None, None)])
def test_area_is_the_postcode_area_letters(sector, area):
    assert Asked(sector=sector).area == area


def test_finder_url_rebuilds_the_search_without_the_full_postcode():
    asked = Asked.from_query({"postcode": "NE21 4LZ", "role": "mentor", "slots": ["tue_eve", "sat_am"]})
    url = asked.finder_url("https://find.example/")
    assert url == "https://find.example/?postcode=NE21+4&role=mentor&slots=tue_eve%2Csat_am"
    assert Asked().finder_url("https://find.example") == "https://find.example/"

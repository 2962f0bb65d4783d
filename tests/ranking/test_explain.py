"""Explanation texts: what a coach reads beside each result."""

from __future__ import annotations

import numpy as np
import pytest

from findsupport.catalog.public import PublicProvider
from findsupport.ranking import FEATURE_NAMES, MatchRanker, default_ranker, explain, format_distance


def provider(**changes) -> PublicProvider:
    fields = dict(
        id="p1", name="Sam", roles=("mentor", "co_coach"), events=("hurdles", "sprints"),
        availability=("tue_eve", "thu_eve", "sat_am"), online=False, travel_km=20.0, capacity=4,
        active_coaches=2, qualification="athletics_coach", club=None, bio=None, area="NE21 4",
        easting=417647.0, northing=563312.0, lon=-1.7259, lat=54.9641,
    )
    fields.update(changes)
    return PublicProvider(**fields)


def reasons_for(p: PublicProvider, values: dict[str, float], ranker: MatchRanker | None = None, distance_km=4.23, **query):
    f = np.array([values.get(name, 0.0) for name in FEATURE_NAMES])
    c = (ranker or default_ranker()).contributions(f[None, :])[0]
    return explain(p, f, c, distance_km, **query)


@pytest.mark.parametrize(
    "distance_km, text",
    [(4.23, "4.2 km away"), (4.25, "4.2 km away"), (12.0, "12.0 km away"), (0.04, "under 0.1 km away"), (0.06, "0.1 km away")],
)
def test_distance_has_one_decimal(distance_km, text):
    assert format_distance(distance_km) == text


@pytest.mark.parametrize(
    "query, values, reason",
    [
        ({"event": "hurdles"}, {"event_exact": 1}, "hurdles specialist"),
        ({"event": "sprints_hurdles"}, {"event_exact": 1}, "hurdles specialist"),  # their event of the group
        ({"event": "relays"}, {"event_group": 1}, "coaches sprints and hurdles"),
        ({"slots": ["tue_eve", "thu_eve"]}, {"availability": 1, "availability_all": 1}, "free on both evenings you asked for"),
        ({"slots": ["tue_eve", "sat_am"]}, {"availability": 1, "availability_all": 1}, "free at both times you asked for"),
        ({"slots": ["thu_eve"]}, {"availability": 1, "availability_all": 1}, "free Thu evening"),
        ({"slots": ["tue_eve", "thu_eve", "sat_am"]}, {"availability": 1, "availability_all": 1}, "free at all 3 times you asked for"),
        ({"slots": ["tue_eve", "wed_eve"]}, {"availability": 0.5}, "free Tue evening"),
        ({}, {"spare_capacity": 2 / 3}, "has room for 2 more coaches"),
        ({"level": "sessional_coach"}, {"qualified_above": 1, "qualification_gap": 0.25}, "Athletics Coach, above your level"),
        ({}, {"qualified_above": 1, "qualification_gap": 0.75}, "Athletics Coach"),
        ({"mode": "any"}, {"online_fit": 1, "in_service_area": 1}, "offers online support"),  # in person, online too
        ({"role": "mentor"}, {"primary_role": 1}, "mentoring is their main role"),
        ({}, {"in_service_area": 1}, "travels to you"),
    ],
)
def test_reason_texts(query, values, reason):
    assert reason in reasons_for(provider(online=True), values, **query).reasons


def test_distance_first_then_strongest_reasons_capped_at_three():
    values = {"event_exact": 1, "availability": 1, "availability_all": 1, "spare_capacity": 2 / 3, "qualified_above": 1,
              "in_service_area": 1, "primary_role": 1}
    why = reasons_for(provider(), values, event="hurdles", slots=["tue_eve", "thu_eve"], role="mentor")
    assert why.reasons == ("4.2 km away", "hurdles specialist", "free on both evenings you asked for", "Athletics Coach")
    assert why.missing == ()


@pytest.mark.parametrize(
    "mode, values, first",
    [
        ("online", {"online_fit": 1, "online_region": 0.08}, "online, based in NE21 4"),
        # "In person or online", a provider who does not travel to the coach: online only.
        ("any", {"online_fit": 1, "online_region": 0.04}, "online, based in NE21 4"),
        # ...and one who does: in person, so the distance leads.
        ("any", {"online_fit": 1, "in_service_area": 1, "proximity_far": 0.04}, "318.4 km away"),
        ("in_person", {"online_fit": 0, "in_service_area": 1, "proximity_far": 0.04}, "318.4 km away"),
    ],
)
def test_an_online_only_match_says_where_they_are_based_never_a_distance(mode, values, first):
    why = reasons_for(provider(online=True), values, distance_km=318.4, mode=mode)
    assert why.reasons[0] == first
    if first.startswith("online"):
        assert not any("km" in reason for reason in why.reasons)
        assert "offers online support" not in why.reasons  # said once, by the first reason


@pytest.mark.parametrize(
    "query, values, changes, missing",
    [
        ({"event": "pole_vault"}, {}, {}, "not a pole vault specialist"),
        ({"event": "jumps"}, {}, {}, "not a jumps specialist"),
        ({"event": "relays"}, {"event_group": 1}, {}, "not a relays specialist"),
        ({"slots": ["tue_eve", "wed_eve", "fri_eve"]}, {"availability": 1 / 3}, {}, "not free Wed and Fri evenings"),
        ({"slots": ["mon_am"]}, {}, {}, "not free at the times you asked for"),
        ({}, {"full": 1}, {"active_coaches": 4}, "full at the moment"),
        ({"level": "advanced_coach"}, {"qualified_below": 1}, {}, "qualified below your own level"),
    ],
)
def test_missing_texts(query, values, changes, missing):
    assert missing in reasons_for(provider(**changes), values, **query).missing


def test_a_feature_the_model_does_not_reward_is_not_a_reason():
    values = {"event_exact": 1, "spare_capacity": 1}
    indifferent = MatchRanker(w_event_exact=0.0, w_spare_capacity=-0.5).use_parameter_weights()
    why = reasons_for(provider(), values, ranker=indifferent, event="hurdles")
    assert why.reasons == ("4.2 km away",)


def test_full_provider_never_offers_room():
    why = reasons_for(provider(active_coaches=4), {"full": 1})
    assert not any("room" in r for r in why.reasons) and "full at the moment" in why.missing

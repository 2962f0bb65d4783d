"""The vocabulary: stable codes and their helpers."""

from __future__ import annotations

import json

import pytest

from findsupport import taxonomy
from findsupport.errors import InvalidInput


def test_codes_are_those_of_the_design() -> None:
    assert taxonomy.ROLES == ("mentor", "coach_developer", "technical_advisor", "co_coach")
    assert len(taxonomy.SLOTS) == 21 and taxonomy.SLOTS[0] == "mon_am" and taxonomy.SLOTS[-1] == "sun_eve"
    assert len(taxonomy.EVENTS) == 23
    assert taxonomy.MODES == ("in_person", "online", "any")
    assert taxonomy.ACTIONS == ("shown", "viewed", "requested", "declined", "accepted", "met")  # DESIGN.md: feedback log


def test_every_code_has_a_label() -> None:
    assert set(taxonomy.ROLE_LABELS) == set(taxonomy.ROLES)
    assert set(taxonomy.EVENT_LABELS) == set(taxonomy.EVENTS)
    assert set(taxonomy.EVENT_GROUP_LABELS) == set(taxonomy.EVENT_GROUPS)
    assert set(taxonomy.QUALIFICATION_LABELS) == set(taxonomy.QUALIFICATIONS)


@pytest.mark.parametrize(
    ("lower", "higher"),
    [("assistant_coach", "sessional_coach"), ("sessional_coach", "athletics_coach"), ("athletics_coach", "advanced_coach"),
     ("leader_in_running_fitness", "coach_in_running_fitness")],
)
def test_qualifications_are_ordered(lower: str, higher: str) -> None:
    assert taxonomy.qualification_level(lower) < taxonomy.qualification_level(higher)


def test_equivalent_qualifications_share_a_level() -> None:
    assert taxonomy.qualification_level("assistant_coach") == taxonomy.qualification_level("leader_in_running_fitness") == 1
    assert taxonomy.qualification_level(None) == 0


@pytest.mark.parametrize(
    ("code", "expanded"),
    [("hurdles", ("hurdles",)), ("jumps", ("high_jump", "long_jump", "triple_jump", "pole_vault")), ("race_walking", ("race_walking",))],
)
def test_event_groups_expand(code: str, expanded: tuple[str, ...]) -> None:
    assert taxonomy.expand_event(code) == expanded


def test_masks_round_trip() -> None:
    mask = taxonomy.slot_mask(["tue_eve", "sat_am"])
    assert taxonomy.mask_to_codes(mask, taxonomy.SLOTS) == ("tue_eve", "sat_am")
    assert taxonomy.mask_to_codes(taxonomy.event_mask(["throws"]), taxonomy.EVENTS) == taxonomy.EVENT_GROUPS["throws"]


@pytest.mark.parametrize(
    ("call", "words"),
    [(lambda: taxonomy.expand_event("parkour"), "event must be one of"), (lambda: taxonomy.slot_label("mon_night"), "slot"),
     (lambda: taxonomy.qualification_level("guru"), "qualification"), (lambda: taxonomy.role_mask(["boss"]), "role")],
)
def test_unknown_codes_are_echoed_with_the_valid_ones(call, words: str) -> None:
    with pytest.raises(InvalidInput, match=words):
        call()


def test_labels_read_well() -> None:
    assert taxonomy.slot_label("tue_eve") == "Tue evening"


def test_as_dict_is_json() -> None:
    data = json.loads(json.dumps(taxonomy.as_dict()))
    assert [r["code"] for r in data["roles"]] == list(taxonomy.ROLES)
    assert sum(len(g["events"]) for g in data["event_groups"]) == len(taxonomy.EVENTS)

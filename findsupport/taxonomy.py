"""The athletics vocabulary: roles, events, availability slots, qualifications, modes.

This module is the one source of truth for every code that appears in a file,
a URL, the API or the feedback log (see ``DESIGN.md``: codes are stable API).
The order of each tuple is stable too, because bit masks over the catalogue
(:func:`event_mask`, :func:`slot_mask`, :func:`role_mask`) use the position of a
code as its bit; append new codes at the end, never reorder.

Examples
--------
>>> events_in("jumps")
('high_jump', 'long_jump', 'triple_jump', 'pole_vault')
>>> group_of("hurdles")
'sprints_hurdles'
>>> qualification_level("sessional_coach") > qualification_level("assistant_coach")
True
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .errors import InvalidInput

__all__ = [
    "ROLES",
    "ROLE_LABELS",
    "EVENT_GROUPS",
    "EVENT_GROUP_LABELS",
    "EVENTS",
    "EVENT_LABELS",
    "DAYS",
    "DAY_LABELS",
    "PERIODS",
    "PERIOD_LABELS",
    "SLOTS",
    "QUALIFICATIONS",
    "QUALIFICATION_LABELS",
    "MODES",
    "MODE_LABELS",
    "ACTIONS",
    "group_of",
    "events_in",
    "expand_event",
    "is_event_or_group",
    "qualification_level",
    "slot_label",
    "role_mask",
    "event_mask",
    "slot_mask",
    "mask_to_codes",
    "as_dict",
]

ROLES: tuple[str, ...] = ("mentor", "coach_developer", "technical_advisor", "co_coach")
ROLE_LABELS: dict[str, str] = {
    "mentor": "Mentor",
    "coach_developer": "Coach developer",
    "technical_advisor": "Technical advisor",
    "co_coach": "Co-coach",
}

EVENT_GROUPS: dict[str, tuple[str, ...]] = {
    "sprints_hurdles": ("sprints", "hurdles", "relays"),
    "endurance": (
        "middle_distance",
        "long_distance",
        "steeplechase",
        "cross_country",
        "road_running",
        "fell_trail",
    ),
    "jumps": ("high_jump", "long_jump", "triple_jump", "pole_vault"),
    "throws": ("shot_put", "discus", "hammer", "javelin"),
    "combined_events": ("combined_events",),
    "race_walking": ("race_walking",),
    "para_athletics": ("para_track", "para_field"),
    "running_fitness": ("running_fitness",),
    "young_athletes": ("young_athletes",),
}
EVENT_GROUP_LABELS: dict[str, str] = {
    "sprints_hurdles": "Sprints and hurdles",
    "endurance": "Endurance",
    "jumps": "Jumps",
    "throws": "Throws",
    "combined_events": "Combined events",
    "race_walking": "Race walking",
    "para_athletics": "Para athletics",
    "running_fitness": "Running fitness",
    "young_athletes": "Young athletes",
}

EVENTS: tuple[str, ...] = tuple(e for events in EVENT_GROUPS.values() for e in events)
EVENT_LABELS: dict[str, str] = {
    "sprints": "Sprints",
    "hurdles": "Hurdles",
    "relays": "Relays",
    "middle_distance": "Middle distance",
    "long_distance": "Long distance",
    "steeplechase": "Steeplechase",
    "cross_country": "Cross country",
    "road_running": "Road running",
    "fell_trail": "Fell and trail",
    "high_jump": "High jump",
    "long_jump": "Long jump",
    "triple_jump": "Triple jump",
    "pole_vault": "Pole vault",
    "shot_put": "Shot put",
    "discus": "Discus",
    "hammer": "Hammer",
    "javelin": "Javelin",
    "combined_events": "Combined events",
    "race_walking": "Race walking",
    "para_track": "Para track",
    "para_field": "Para field",
    "running_fitness": "Running fitness",
    "young_athletes": "Young athletes",
}

DAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_LABELS: dict[str, str] = {
    "mon": "Mon",
    "tue": "Tue",
    "wed": "Wed",
    "thu": "Thu",
    "fri": "Fri",
    "sat": "Sat",
    "sun": "Sun",
}
PERIODS: tuple[str, ...] = ("am", "pm", "eve")
PERIOD_LABELS: dict[str, str] = {"am": "morning", "pm": "afternoon", "eve": "evening"}
SLOTS: tuple[str, ...] = tuple(f"{d}_{p}" for d in DAYS for p in PERIODS)

#: Ordered from least to most qualified; equal levels share a number.
QUALIFICATIONS: dict[str, int] = {
    "assistant_coach": 1,
    "leader_in_running_fitness": 1,
    "sessional_coach": 2,
    "coach_in_running_fitness": 2,
    "athletics_coach": 3,
    "advanced_coach": 4,
}
QUALIFICATION_LABELS: dict[str, str] = {
    "assistant_coach": "Assistant Coach",
    "leader_in_running_fitness": "Leader in Running Fitness",
    "sessional_coach": "Sessional Coach",
    "coach_in_running_fitness": "Coach in Running Fitness",
    "athletics_coach": "Athletics Coach",
    "advanced_coach": "Advanced Coach",
}

MODES: tuple[str, ...] = ("in_person", "online", "any")
MODE_LABELS: dict[str, str] = {"in_person": "In person", "online": "Online", "any": "In person or online"}

#: Feedback actions, from weakest to strongest signal: a decline is a request the provider
#: answered; ``met`` is both people saying they met after an acceptance.
ACTIONS: tuple[str, ...] = ("shown", "viewed", "requested", "declined", "accepted", "met")

_GROUP_OF: dict[str, str] = {e: g for g, events in EVENT_GROUPS.items() for e in events}
_ROLE_BIT = {code: i for i, code in enumerate(ROLES)}
_EVENT_BIT = {code: i for i, code in enumerate(EVENTS)}
_SLOT_BIT = {code: i for i, code in enumerate(SLOTS)}


def _unknown(kind: str, value: Any, allowed: Iterable[str]) -> InvalidInput:
    allowed = list(allowed)
    return InvalidInput(
        f"Got {kind}={value!r}; {kind} must be one of {', '.join(allowed)}.",
        field=kind,
        allowed=allowed,
    )


def group_of(event: str) -> str:
    """The event group an event belongs to (a group code maps to itself)."""
    if event in EVENT_GROUPS:
        return event
    try:
        return _GROUP_OF[event]
    except KeyError:
        raise _unknown("event", event, EVENTS) from None


def events_in(group: str) -> tuple[str, ...]:
    """The events of a group, in taxonomy order."""
    try:
        return EVENT_GROUPS[group]
    except KeyError:
        raise _unknown("event group", group, EVENT_GROUPS) from None


def is_event_or_group(code: str) -> bool:
    """True when ``code`` names an event or an event group."""
    return code in _EVENT_BIT or code in EVENT_GROUPS


def expand_event(code: str) -> tuple[str, ...]:
    """The events a search for ``code`` asks for: itself, or every event of a group.

    Single-event groups (``combined_events``, ``race_walking``...) share their code
    with their event, so they expand to that one event either way.
    """
    if code in EVENT_GROUPS:
        return EVENT_GROUPS[code]
    if code in _EVENT_BIT:
        return (code,)
    raise _unknown("event", code, [*EVENT_GROUPS, *EVENTS])


def qualification_level(code: str | None) -> int:
    """The level 1-4 of a qualification code; ``None`` or ``""`` is level 0 (none given)."""
    if code is None or code == "":
        return 0
    try:
        return QUALIFICATIONS[code]
    except KeyError:
        raise _unknown("qualification", code, QUALIFICATIONS) from None


def slot_label(slot: str) -> str:
    """``"tue_eve"`` → ``"Tue evening"``."""
    if slot not in _SLOT_BIT:
        raise _unknown("slot", slot, SLOTS)
    day, period = slot.split("_")
    return f"{DAY_LABELS[day]} {PERIOD_LABELS[period]}"


def _mask(kind: str, codes: Iterable[str], bits: dict[str, int]) -> int:
    mask = 0
    for code in codes:
        try:
            mask |= 1 << bits[code]
        except KeyError:
            raise _unknown(kind, code, bits) from None
    return mask


def role_mask(roles: Iterable[str]) -> int:
    """Bit mask of roles (bit ``i`` is ``ROLES[i]``)."""
    return _mask("role", roles, _ROLE_BIT)


def event_mask(events: Iterable[str]) -> int:
    """Bit mask of events; a group code sets the bits of all its events."""
    expanded: list[str] = []
    for code in events:
        expanded.extend(expand_event(code))
    return _mask("event", expanded, _EVENT_BIT)


def slot_mask(slots: Iterable[str]) -> int:
    """Bit mask of availability slots (bit ``i`` is ``SLOTS[i]``)."""
    return _mask("slot", slots, _SLOT_BIT)


def mask_to_codes(mask: int, codes: tuple[str, ...]) -> tuple[str, ...]:
    """The codes whose bits are set in ``mask``, in vocabulary order."""
    return tuple(code for i, code in enumerate(codes) if mask >> i & 1)


def event_group_choices() -> list[tuple[str, str, list[tuple[str, str]]]]:
    """Every event under its group, for menus: ``[(group, group label, [(event, label), ...]), ...]``.

    The finder, the widget builder and a provider's own listing page offer
    the same events in the same groups; each takes them from here.
    """
    return [(g, EVENT_GROUP_LABELS[g], [(e, EVENT_LABELS[e]) for e in events]) for g, events in EVENT_GROUPS.items()]


def as_dict() -> dict[str, Any]:
    """The whole vocabulary as JSON-ready data (served as ``/api/v1/taxonomy``)."""
    return {
        "roles": [{"code": r, "label": ROLE_LABELS[r]} for r in ROLES],
        "event_groups": [
            {
                "code": g,
                "label": EVENT_GROUP_LABELS[g],
                "events": [{"code": e, "label": EVENT_LABELS[e]} for e in events],
            }
            for g, events in EVENT_GROUPS.items()
        ],
        "slots": [{"code": s, "label": slot_label(s)} for s in SLOTS],
        "qualifications": [
            {"code": q, "label": QUALIFICATION_LABELS[q], "level": level}
            for q, level in QUALIFICATIONS.items()
        ],
        "modes": [{"code": m, "label": MODE_LABELS[m]} for m in MODES],
        "actions": list(ACTIONS),
    }

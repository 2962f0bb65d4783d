"""Plain-language reasons for a match, from the per-feature contributions.

A coach reads "4.2 km away · hurdles specialist · free on both evenings you
asked for · has room for 2 more coaches", not weights.  :func:`explain`
turns one result's feature values and contributions into

* ``reasons``: the distance (always first for in-person help), then the
  features that helped this match most, strongest first;
* ``missing``: what the coach asked for that this provider does not offer, so
  a list that has no perfect match still says why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .. import taxonomy
from ..catalog.public import PublicProvider
from .features import FEATURE_NAMES

__all__ = ["Explanation", "explain", "format_distance", "MAX_REASONS"]

#: Reasons after the distance; more than three stops being a glance.
MAX_REASONS = 3
#: A contribution smaller than this does not change a ranking enough to mention.
MIN_CONTRIBUTION = 0.05

_ROLE_NOUNS = {
    "mentor": "mentoring",
    "coach_developer": "coach development",
    "technical_advisor": "technical advice",
    "co_coach": "co-coaching",
}


@dataclass(frozen=True, slots=True)
class Explanation:
    """Plain-text reasons for a match, and what the coach asked for that is missing."""

    reasons: tuple[str, ...]
    missing: tuple[str, ...]


def format_distance(distance_km: float) -> str:
    """``4.23`` → ``"4.2 km away"`` (one decimal, as everywhere people see distances).

    Examples
    --------
    >>> format_distance(4.23), format_distance(0.04)
    ('4.2 km away', 'under 0.1 km away')
    """
    if round(distance_km, 1) < 0.1:
        return "under 0.1 km away"
    return f"{distance_km:.1f} km away"


def _all_free_phrase(slots: Sequence[str]) -> str:
    """"free Tue evening", "free on both evenings you asked for", "free at all 3 times you asked for"."""
    if len(slots) == 1:
        return f"free {_slots_phrase(slots)}"
    if len(slots) == 2:
        periods = {s.split("_")[1] for s in slots}
        if len(periods) == 1:
            return f"free on both {taxonomy.PERIOD_LABELS[periods.pop()]}s you asked for"
        return "free at both times you asked for"
    return f"free at all {len(slots)} times you asked for"


def _slots_phrase(slots: Sequence[str]) -> str:
    """``("tue_eve", "thu_eve")`` → ``"Tue and Thu evenings"``; mixed periods listed in full."""
    periods = {s.split("_")[1] for s in slots}
    if len(periods) == 1:
        period = taxonomy.PERIOD_LABELS[periods.pop()]
        days = [taxonomy.DAY_LABELS[s.split("_")[0]] for s in slots]
        joined = days[0] if len(days) == 1 else ", ".join(days[:-1]) + " and " + days[-1]
        return f"{joined} {period}" + ("s" if len(days) > 1 else "")
    labels = [taxonomy.slot_label(s) for s in slots]
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]


def _event_words(provider: PublicProvider, asked: str) -> tuple[str, str]:
    """(specialism reason, missing phrase) for an asked-for event or group."""
    if asked in taxonomy.EVENT_GROUPS and len(taxonomy.EVENT_GROUPS[asked]) > 1:
        mine = [e for e in provider.events if e in taxonomy.EVENT_GROUPS[asked]]
        label = taxonomy.EVENT_GROUP_LABELS[asked].lower()
        shown = taxonomy.EVENT_LABELS[mine[0]].lower() if mine else label
        return f"{shown} specialist", f"not a {label} specialist"
    label = taxonomy.EVENT_LABELS[taxonomy.expand_event(asked)[0]].lower()
    return f"{label} specialist", f"not a {label} specialist"


def explain(
    provider: PublicProvider,
    features: np.ndarray,
    contributions: np.ndarray,
    distance_km: float,
    *,
    event: str | None = None,
    slots: Sequence[str] = (),
    role: str | None = None,
    mode: str = "in_person",
    level: str | None = None,
    max_reasons: int = MAX_REASONS,
) -> Explanation:
    """Reasons and gaps for one result.

    Parameters
    ----------
    provider : PublicProvider
    features, contributions : 1-D arrays
        The result's row of the feature matrix and of ``ranker.contributions``.
    distance_km : float
    event, slots, role, mode, level
        What the coach asked for (from the query).
    max_reasons : int
        Reasons after the distance.

    Returns
    -------
    Explanation
        ``reasons``: the distance first (unless the coach asked for online
        support and the provider offers it), then what helped this match
        most, strongest first; a reason is given only when its features
        raised the score by at least :data:`MIN_CONTRIBUTION`.  ``missing``:
        what the coach asked for that this provider does not offer.

    Examples
    --------
    >>> from findsupport.ranking import FEATURE_NAMES, default_ranker
    >>> p = PublicProvider(id="p1", name="Sam", roles=("mentor",), events=("hurdles",),
    ...                    availability=("tue_eve", "thu_eve"), online=False, travel_km=20.0, capacity=3,
    ...                    active_coaches=1, qualification=None, club=None, bio=None,
    ...                    area="NE21 4", easting=417647.0, northing=563312.0, lon=-1.7259, lat=54.9641)
    >>> values = {"event_exact": 1.0, "availability": 1.0, "availability_all": 1.0, "spare_capacity": 2 / 3}
    >>> f = np.array([values.get(name, 0.0) for name in FEATURE_NAMES])
    >>> c = default_ranker().contributions(f[None, :])[0]
    >>> explain(p, f, c, 4.23, event="hurdles", slots=["tue_eve", "thu_eve"]).reasons
    ('4.2 km away', 'hurdles specialist', 'free on both evenings you asked for', 'has room for 2 more coaches')
    """
    f = dict(zip(FEATURE_NAMES, map(float, features)))
    c = dict(zip(FEATURE_NAMES, map(float, contributions)))
    candidates: list[tuple[float, str]] = []
    missing: list[str] = []

    def offer(names: tuple[str, ...], text: str) -> None:
        # Related features (share and "all" of availability, say) make one reason.
        total = sum(c[name] for name in names)
        if total >= MIN_CONTRIBUTION:
            candidates.append((total, text))

    if event:
        exact_text, missing_text = _event_words(provider, event)
        if f["event_exact"]:
            offer(("event_exact",), exact_text)
        elif f["event_group"]:
            group = taxonomy.group_of(taxonomy.expand_event(event)[0])
            offer(("event_group",), f"coaches {taxonomy.EVENT_GROUP_LABELS[group].lower()}")
            missing.append(missing_text)
        else:
            missing.append(missing_text)
    if slots:
        free = [s for s in slots if s in provider.availability]
        if len(free) == len(slots):
            offer(("availability", "availability_all"), _all_free_phrase(slots))
        elif free:
            offer(("availability", "availability_all"), f"free {_slots_phrase(free)}")
            missing.append(f"not free {_slots_phrase([s for s in slots if s not in free])}")
        else:
            missing.append("not free at the times you asked for")
    if f["full"]:
        missing.append("full at the moment")
    elif provider.spare:
        more = "1 more coach" if provider.spare == 1 else f"{provider.spare} more coaches"
        offer(("spare_capacity",), f"has room for {more}")
    if f["qualified_above"] and provider.qualification:
        label = taxonomy.QUALIFICATION_LABELS[provider.qualification]
        offer(("qualified_above", "qualification_gap"), f"{label}, above your level" if level else label)
    if f["qualified_below"]:
        missing.append("qualified below your own level")
    if f["in_service_area"] and mode != "online":
        offer(("in_service_area",), "travels to you")
    if f["online_fit"]:
        offer(("online_fit",), "offers online support")
    if role and f["primary_role"]:
        offer(("primary_role",), f"{_ROLE_NOUNS[role]} is their main role")

    candidates.sort(key=lambda item: -item[0])
    reasons = [text for _, text in candidates[:max_reasons]]
    if mode != "online" or not provider.online:
        reasons.insert(0, format_distance(distance_km))
    return Explanation(tuple(reasons), tuple(missing))

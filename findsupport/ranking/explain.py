"""Plain-language reasons for a match, from the per-feature contributions.

A coach reads "4.2 km away · hurdles specialist · free on both evenings you
asked for · has room for 2 more coaches", not weights.  :func:`explain`
turns one result's feature values and contributions into

* ``reasons``: first how the help would be given — the distance for an
  in-person match, "online, based in NE21 4" (the provider's public area,
  never a distance) for an online-only one — then the features that helped
  this match most, strongest first;
* ``missing``: what the coach asked for that this provider does not offer, so
  a list that has no perfect match still says why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
from typing import Any

import numpy as np

from .. import taxonomy
from ..catalog.public import PublicProvider
from ..features import FEATURE_NAMES

__all__ = ["Explanation", "Explainer", "explain", "format_distance", "MAX_REASONS"]

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
    text = _DISTANCE_TEXTS.get(distance_km)
    if text is None:
        text = "under 0.1 km away" if round(distance_km, 1) < 0.1 else f"{distance_km:.1f} km away"
        if len(_DISTANCE_TEXTS) >= _PHRASES_CACHED:
            _DISTANCE_TEXTS.clear()
        _DISTANCE_TEXTS[distance_km] = text
    return text


# The phrases below depend on the query and on little of the provider (a distance,
# their own event of the asked-for group, which asked-for slots they are free in),
# which few distinct values cover: memoised (plain dictionaries cleared when full,
# lru caches, and each Explainer's own), so a page of results costs a few look-ups
# rather than string building.
_PHRASES_CACHED = 4096
_DISTANCE_TEXTS: dict[float, str] = {}


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


#: Groups of more than one event, as sets (a single-event group is just that event).
_GROUP_MEMBERS = {group: frozenset(events) for group, events in taxonomy.EVENT_GROUPS.items() if len(events) > 1}


@lru_cache(maxsize=_PHRASES_CACHED)
def _event_phrases(asked: str, mine: str | None) -> tuple[str, str]:
    if asked in _GROUP_MEMBERS:
        label = taxonomy.EVENT_GROUP_LABELS[asked].lower()
        shown = taxonomy.EVENT_LABELS[mine].lower() if mine else label
        return f"{shown} specialist", f"not a {label} specialist"
    label = taxonomy.EVENT_LABELS[taxonomy.expand_event(asked)[0]].lower()
    return f"{label} specialist", f"not a {label} specialist"


@lru_cache(maxsize=_PHRASES_CACHED)
def _slot_phrases(free: tuple[str, ...], asked: tuple[str, ...]) -> tuple[str | None, str | None]:
    if len(free) == len(asked):
        return _all_free_phrase(asked), None
    if free:
        return f"free {_slots_phrase(free)}", f"not free {_slots_phrase([s for s in asked if s not in free])}"
    return None, "not free at the times you asked for"


@lru_cache(maxsize=_PHRASES_CACHED)
def _room_phrase(spare: int) -> str:
    return f"has room for {'1 more coach' if spare == 1 else f'{spare} more coaches'}"


_J = {name: j for j, name in enumerate(FEATURE_NAMES)}


class Explainer:
    """:func:`explain` for the results of one query: the query's phrases are worked out once.

    Parameters are :func:`explain`'s query fields; call the explainer with
    ``(provider, features, contributions, distance_km)``, where ``features``
    and ``contributions`` are a result's rows (arrays, or lists of Python
    floats as ``ndarray.tolist`` gives, in :data:`FEATURE_NAMES` order).
    Gives exactly what :func:`explain` gives.
    """

    __slots__ = (
        "event", "slots", "role", "mode", "level", "max_reasons", "_group_text", "_role_text",
        "_members", "_event_words", "_group_words", "_slot_words",
    )  # fmt: skip

    def __init__(
        self,
        *,
        event: str | None = None,
        slots: Sequence[str] = (),
        role: str | None = None,
        mode: str = "in_person",
        level: str | None = None,
        max_reasons: int = MAX_REASONS,
    ) -> None:
        self.event = event
        self.slots = tuple(slots)
        self.role = role
        self.mode = mode
        self.level = level
        self.max_reasons = max_reasons
        self._group_text = None
        self._members = _GROUP_MEMBERS.get(event) if event else None
        self._event_words = _event_phrases(event, None) if event and self._members is None else None
        self._group_words: dict[str | None, tuple[str, str]] = {}
        self._slot_words: dict[tuple[str, ...], tuple[str | None, str | None]] = {}
        if event:
            group = taxonomy.group_of(taxonomy.expand_event(event)[0])
            self._group_text = f"coaches {taxonomy.EVENT_GROUP_LABELS[group].lower()}"
        self._role_text = f"{_ROLE_NOUNS[role]} is their main role" if role else None

    def __call__(self, provider: PublicProvider, features: Any, contributions: Any, distance_km: float) -> Explanation:
        return Explanation(*self.texts(provider, features, contributions, distance_km))

    def texts(self, provider: PublicProvider, features: Any, contributions: Any, distance_km: float) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """``(reasons, missing)``: what :meth:`__call__` wraps in an :class:`Explanation`."""
        f = features if type(features) is list else _floats(features)
        c = contributions if type(contributions) is list else _floats(contributions)
        # Online only: an online provider the coach would not meet (an online search, or an
        # `any` search where they do not travel to the coach).  Distance is not the point then.
        online_only = provider.online and (self.mode == "online" or (self.mode == "any" and not f[_INSIDE]))
        candidates: list[tuple[float, str]] = []
        missing: list[str] = []
        # Related features (share and "all" of availability, say) make one reason;
        # a reason is offered only when its features raised the score enough.
        if self.event:
            members = self._members
            if members is None:  # an event, or a one-event group: the same words for everyone
                exact_text, missing_text = self._event_words
            else:
                # The reason names the provider's own (first) event of the group.
                mine = next((event for event in provider.events if event in members), None)
                words = self._group_words.get(mine)
                if words is None:
                    words = self._group_words[mine] = _event_phrases(self.event, mine)
                exact_text, missing_text = words
            if f[_EVENT_EXACT]:
                if c[_EVENT_EXACT] >= MIN_CONTRIBUTION:
                    candidates.append((c[_EVENT_EXACT], exact_text))
            elif f[_EVENT_GROUP]:
                if c[_EVENT_GROUP] >= MIN_CONTRIBUTION:
                    candidates.append((c[_EVENT_GROUP], self._group_text))  # type: ignore[arg-type]
                missing.append(missing_text)
            else:
                missing.append(missing_text)
        if self.slots:
            free = provider.availability
            # The words depend only on which asked-for slots are free (few combinations).
            key = tuple([slot for slot in self.slots if slot in free])
            words = self._slot_words.get(key)
            if words is None:
                # Asking for many slots, the combinations can run into thousands: bounded.
                if len(self._slot_words) >= _PHRASES_CACHED:
                    self._slot_words.clear()
                words = self._slot_words[key] = _slot_phrases(key, self.slots)
            free_text, not_free_text = words
            if free_text is not None:
                total = c[_AVAILABILITY] + c[_AVAILABILITY_ALL]
                if total >= MIN_CONTRIBUTION:
                    candidates.append((total, free_text))
            if not_free_text is not None:
                missing.append(not_free_text)
        if f[_FULL]:
            missing.append("full at the moment")
        else:
            spare = provider.spare
            if spare and c[_SPARE] >= MIN_CONTRIBUTION:
                candidates.append((c[_SPARE], _room_phrase(spare)))
        if f[_ABOVE] and provider.qualification:
            total = c[_ABOVE] + c[_GAP]
            if total >= MIN_CONTRIBUTION:
                label = taxonomy.QUALIFICATION_LABELS[provider.qualification]
                candidates.append((total, f"{label}, above your level" if self.level else label))
        if f[_BELOW]:
            missing.append("qualified below your own level")
        if f[_INSIDE] and c[_INSIDE] >= MIN_CONTRIBUTION:
            candidates.append((c[_INSIDE], "travels to you"))
        if f[_ONLINE] and not online_only and c[_ONLINE] >= MIN_CONTRIBUTION:
            candidates.append((c[_ONLINE], "offers online support"))
        if self.role and f[_PRIMARY] and c[_PRIMARY] >= MIN_CONTRIBUTION:
            candidates.append((c[_PRIMARY], self._role_text))  # type: ignore[arg-type]
        if len(candidates) > 1:
            # Strongest first; the sort is stable, so equal contributions keep the order above.
            candidates.sort(key=_contribution, reverse=True)
        reasons = [text for _, text in candidates[: self.max_reasons]]
        reasons.insert(0, _based_in(provider.area) if online_only else format_distance(distance_km))
        return tuple(reasons), tuple(missing)


_contribution = itemgetter(0)


@lru_cache(maxsize=_PHRASES_CACHED)
def _based_in(area: str) -> str:
    """``"NE21 4"`` → ``"online, based in NE21 4"``: where an online-only match is, at public granularity."""
    return f"online, based in {area}" if area else "online"


def _floats(row: Any) -> list[float]:
    return row.tolist() if isinstance(row, np.ndarray) else [float(v) for v in row]


_EVENT_EXACT, _EVENT_GROUP = _J["event_exact"], _J["event_group"]
_AVAILABILITY, _AVAILABILITY_ALL = _J["availability"], _J["availability_all"]
_FULL, _SPARE = _J["full"], _J["spare_capacity"]
_ABOVE, _GAP, _BELOW = _J["qualified_above"], _J["qualification_gap"], _J["qualified_below"]
_INSIDE, _ONLINE, _PRIMARY = _J["in_service_area"], _J["online_fit"], _J["primary_role"]


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
        ``reasons``: the distance first for an in-person match; for an
        online-only one (an online provider, and an online search or an
        ``any`` search where they do not travel to the coach) "online, based
        in" their public area instead, never a distance; then what helped this match
        most, strongest first; a reason is given only when its features
        raised the score by at least :data:`MIN_CONTRIBUTION`.  ``missing``:
        what the coach asked for that this provider does not offer.

    See Also
    --------
    Explainer : the same for many results of one query, with the query's phrases worked out once.

    Examples
    --------
    >>> from findsupport.ranking import FEATURE_NAMES, default_serving_ranker
    >>> p = PublicProvider(id="p1", name="Sam", roles=("mentor",), events=("hurdles",),
    ...                    availability=("tue_eve", "thu_eve"), online=False, travel_km=20.0, capacity=3,
    ...                    active_coaches=1, qualification=None, club=None, bio=None,
    ...                    area="NE21 4", easting=417647.0, northing=563312.0, lon=-1.7259, lat=54.9641)
    >>> values = {"event_exact": 1.0, "availability": 1.0, "availability_all": 1.0, "spare_capacity": 2 / 3}
    >>> f = np.array([values.get(name, 0.0) for name in FEATURE_NAMES])
    >>> c = default_serving_ranker().contributions(f[None, :])[0]
    >>> explain(p, f, c, 4.23, event="hurdles", slots=["tue_eve", "thu_eve"]).reasons
    ('4.2 km away', 'hurdles specialist', 'free on both evenings you asked for', 'has room for 2 more coaches')
    """
    explainer = Explainer(event=event, slots=slots, role=role, mode=mode, level=level, max_reasons=max_reasons)
    return explainer(provider, features, contributions, distance_km)

"""A simulator of coach behaviour, so notebooks, tests and benchmarks have feedback to learn from.

It is a stand-in for real logs, not a claim about real coaches; everything it
assumes is written down here and in the dataclasses' defaults.  The model
never sees these functional forms: the features are exponential decays and
shares, the simulated tastes are linear in km, square roots and thresholds,
and every coach draws their own weights.

The world (:class:`QueryMix`)
    Coaches live where people live: each session's coach is at a postcode
    drawn uniformly from Code-Point Open (so cities search more); for
    catalogues covering a few areas only, coaches can be placed near
    providers instead.  A coach asks for a role, usually an event (sometimes
    a whole event group, sometimes none), usually one to three times they
    are free (weekday evenings and weekend mornings most often), a mode and,
    often, their own qualification.  A coach who finds fewer than five
    people searches again with twice the radius (that search is logged); one
    who still finds fewer than two is not logged.

Heterogeneous tastes (:class:`CoachPopulation`)
    Each coach draws their own: how much an exact event specialist matters
    (and a same-group one, less), how much being free at the asked times
    matters (square root of the share of times), whether a qualification
    above their own matters and one below puts them off, how much a full
    provider puts them off, their main role, and a per-result taste nothing
    listed explains (Gumbel noise).  The utility is the sum of those and of
    *how the help would reach them*, which depends on the mode they asked
    for (issue 12: coaches value closeness very differently for someone who
    would come to their track than for someone on a video call):

    * **in person** — a meeting at the coach's track: the km cost utility
      linearly, steeply (one unit per ``distance_km``, log-normal around
      10 km across coaches), and a provider whose travel area does not
      reach the coach costs ``outside_area`` more (they would have to ask
      for an exception);
    * **online** — a video call: distance does not count, only a mild
      preference for someone in the same region (``same_region_km``: a
      shared county association, a meeting at a championship); every
      online provider is worth the coach's own liking for online help
      (``online_match``, the same for all of them, so it changes how much
      they engage, not the order);
    * **any** ("in person or online") — each provider is worth the better
      of the two ways it can help: in person as above, and, for online
      providers, online, at the worth this coach puts on online help (a
      minority, ``online_lovers``, prefer it: ``online_bonus``; the rest
      would rather meet: ``online_reluctance``, below zero).  A good mentor
      a few km away usually beats an online one 300 km away, a strong
      online specialist beats a poor local match.

The logging policy (:class:`LoggingPolicy`)
    What a plain store locator shows: candidates (the engine's rules:
    service area covers the coach and within the radius; online providers
    for online searches) nearest first, one page of ten, with exploration:
    each position is swapped, with probability 0.3, with a random candidate
    among the nearest three pages, so providers are seen at other positions
    and a little farther away.

Behaviour (:class:`Behaviour`)
    Position-biased examination (position ``k`` is looked at with
    probability ``k ** -examination_exponent``); a looked-at result is opened
    (``viewed``) with a probability rising steeply with its utility (the card
    already shows distance, events, times and reasons); the best opened
    result is ``requested`` when it is good enough, occasionally a second
    one; a request is ``accepted`` mostly when the provider has room.

Every session also carries its *truth* for all candidates, not just those
shown: the probability this coach would open each provider if they looked.
Benchmarks use it to check that a model trained on biased clicks ranks what
coaches actually prefer, not just what they happened to see.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial import cKDTree
from scipy.special import expit

from .. import taxonomy
from ..catalog.public import PublicCatalog
from ..geo import PostcodeDirectory
from ..query import SearchQuery
from .candidates import scan_candidates

__all__ = [
    "CoachPopulation",
    "QueryMix",
    "Behaviour",
    "LoggingPolicy",
    "SimulatedSession",
    "CoachSimulator",
    "LOGGING_POLICY_VERSION",
]

#: Recorded as the "model version" of simulated sessions.
LOGGING_POLICY_VERSION = "nearest-first-explore"


@dataclass(frozen=True)
class CoachPopulation:
    """How coaches' tastes vary; each coach draws one value from each range (uniform unless noted)."""

    #: In person: median km that cost one unit of utility (log-normal across coaches).
    #: Steep: a weekly session at the coach's track is a drive every week.
    distance_km: float = 10.0
    #: Log-normal spread of that distance: some coaches travel far, some will not.
    distance_spread: float = 0.5
    #: In person: the extra cost of a provider whose travel area does not reach the coach.
    outside_area: tuple[float, float] = (1.0, 2.5)
    event_exact: tuple[float, float] = (2.0, 4.0)
    #: A same-group specialist is worth this share of an exact one.
    event_group_share: tuple[float, float] = (0.2, 0.5)
    #: Being free when the coach is: weekly sessions cannot happen otherwise.
    availability: tuple[float, float] = (1.0, 3.0)
    #: Coaches who gave their level value a provider above it this much...
    qualification_above: tuple[float, float] = (0.3, 1.5)
    #: ...and one below it this much less.
    qualification_below: tuple[float, float] = (0.5, 1.5)
    #: Without their level, coaches still trust an Athletics Coach or above this much.
    senior_qualification: tuple[float, float] = (0.0, 0.8)
    full: tuple[float, float] = (1.0, 3.0)
    spare: tuple[float, float] = (0.0, 0.6)
    #: Places free beyond which more room does not matter to a coach (a different
    #: number from the features' capacity scale, on purpose).
    spare_enough: int = 2
    #: Online searches: what any online provider is worth to the coach (their liking for
    #: online help; the same for every candidate, so it sets engagement, not the order).
    online_match: tuple[float, float] = (0.0, 1.0)
    #: Online help: within this distance the provider counts as "same region"...
    same_region_km: float = 80.0
    #: ...which online coaches mildly prefer (a shared county, a meeting at a championship).
    same_region: tuple[float, float] = (0.0, 0.5)
    #: "In person or online" searches: the share of coaches who would rather have online
    #: help, and what an online provider is worth to them...
    online_lovers: float = 0.3
    online_bonus: tuple[float, float] = (0.5, 1.5)
    #: ...and to the others, who would rather meet (below zero: a close in-person
    #: match wins, a far one loses to a good online match).
    online_reluctance: tuple[float, float] = (-3.0, -1.0)
    main_role: tuple[float, float] = (0.0, 0.5)
    #: Scale of the per-result taste nothing listed explains (Gumbel).
    noise: float = 0.2


@dataclass(frozen=True)
class QueryMix:
    """What coaches ask for."""

    roles: dict[str, float] = field(
        default_factory=lambda: {"mentor": 0.4, "technical_advisor": 0.25, "coach_developer": 0.2, "co_coach": 0.15}
    )
    #: Popularity of event groups (endurance and sprints common, race walking rare).
    groups: dict[str, float] = field(
        default_factory=lambda: {
            "endurance": 0.3,
            "sprints_hurdles": 0.25,
            "jumps": 0.14,
            "throws": 0.11,
            "young_athletes": 0.06,
            "running_fitness": 0.06,
            "combined_events": 0.03,
            "para_athletics": 0.03,
            "race_walking": 0.02,
        }
    )
    #: Share asking for one event, a whole group, or no event.
    event_kinds: tuple[float, float, float] = (0.7, 0.15, 0.15)
    #: Probability of asking for 0, 1, 2 or 3 times.
    slot_counts: tuple[float, ...] = (0.15, 0.35, 0.35, 0.15)
    #: Weekday evenings and weekend mornings are this many times likelier than other slots.
    common_slot_weight: float = 4.0
    modes: dict[str, float] = field(default_factory=lambda: {"in_person": 0.65, "any": 0.25, "online": 0.1})
    #: Share of coaches who give their own qualification, and its mix.
    level_given: float = 0.75
    levels: dict[str, float] = field(
        default_factory=lambda: {"assistant_coach": 0.35, "sessional_coach": 0.3, "athletics_coach": 0.2,
                                 "leader_in_running_fitness": 0.1, "advanced_coach": 0.05}
    )
    radius_km: float = 25.0
    #: A coach who finds fewer people than this searches again, farther afield...
    widen_below: int = 5
    #: ...with this radius (the session logged is the wider search).
    widen_radius_km: float = 50.0
    #: Where coaches are: "postcodes" — a uniformly drawn real postcode (people live where
    #: postcodes are dense); "providers" — near a random provider (for catalogues that
    #: cover a few areas only, such as test fixtures).
    placement: str = "postcodes"
    #: With "providers" placement, coaches live within this distance of a provider.
    coach_spread_km: float = 15.0
    #: A drawn point farther than this from any postcode is at sea or on a moor: draw again.
    max_snap_km: float = 2.0


@dataclass(frozen=True)
class Behaviour:
    """How a coach works through a page of results."""

    #: Position k is looked at with probability k ** -examination_exponent.  A shortlist
    #: of ten people to ask for help is read with more care than web search results
    #: (exponent about 1 there): position 10 is looked at 0.63 times as often as position 1.
    examination_exponent: float = 0.2
    #: Utility at which a looked-at result is opened half the time: the result card
    #: already shows distance, events, availability and reasons, so coaches open only
    #: the ones that look like a strong match.
    view_threshold: float = 2.0
    #: How sharply opening depends on utility (larger: more random).
    view_temperature: float = 0.2
    #: The best opened result is requested when its utility exceeds this.
    request_threshold: float = 2.5
    #: Chance of also requesting another opened result above the threshold.
    second_request: float = 0.2
    accept_if_room: float = 0.85
    accept_if_full: float = 0.1


@dataclass(frozen=True)
class LoggingPolicy:
    """What the logged system showed: nearest first, one page, with random swaps."""

    page_size: int = 10
    #: Each position is swapped, with this probability, with a random candidate among the
    #: nearest ``explore_pages`` pages: providers get seen at other positions (for the
    #: position-bias estimate) and a little farther away (so distance can be learned).
    swap_probability: float = 0.3
    explore_pages: int = 3
    #: Sessions with fewer candidates than this are not searched again (nothing to rank).
    min_results: int = 2
    #: Attempts to find a coach location with enough candidates before giving up.
    max_attempts: int = 200


@dataclass(frozen=True)
class SimulatedSession:
    """One simulated search: its feedback-log line and the truth about every candidate."""

    feedback: dict[str, Any]
    candidates: np.ndarray  # catalogue positions of every candidate, nearest first
    distance_m: np.ndarray
    inside: np.ndarray
    relevance: np.ndarray  # probability the coach would open each candidate if they looked


class CoachSimulator:
    """Simulated coaches searching a catalogue; see the module docstring.

    Parameters
    ----------
    catalog : PublicCatalog
    directory : PostcodeDirectory
        Coaches are placed at its postcodes.
    population, mix, behaviour, policy
        The assumptions (defaults documented on each dataclass).
    seed : int
        Everything is reproducible from it.
    """

    def __init__(
        self,
        catalog: PublicCatalog,
        directory: PostcodeDirectory,
        *,
        population: CoachPopulation = CoachPopulation(),
        mix: QueryMix = QueryMix(),
        behaviour: Behaviour = Behaviour(),
        policy: LoggingPolicy = LoggingPolicy(),
        seed: int = 0,
    ) -> None:
        if len(catalog) == 0:
            raise ValueError("The catalogue is empty; there is nobody to search for.")
        self.catalog = catalog
        self.directory = directory
        self.population = population
        self.mix = mix
        self.behaviour = behaviour
        self.policy = policy
        self.seed = seed
        self._postcodes = directory.located_arrays()
        self._tree = cKDTree(np.column_stack([catalog.x, catalog.y]))
        self._max_reach = float(catalog.reach_m.max())
        slot_weights = np.array(
            [mix.common_slot_weight if (s.endswith("_eve") and s[:3] in taxonomy.DAYS[:5])
             or (s.endswith("_am") and s[:3] in ("sat", "sun")) else 1.0 for s in taxonomy.SLOTS]
        )
        self._log_slot_p = np.log(slot_weights / slot_weights.sum())
        self._tables = {
            "roles": self._table(mix.roles),
            "groups": self._table(mix.groups),
            "event_kinds": self._table(mix.event_kinds),
            "slot_counts": self._table(mix.slot_counts),
            "modes": self._table(mix.modes),
            "levels": self._table(mix.levels),
        }

    # ------------------------------------------------------------------ queries
    @staticmethod
    def _table(weights: dict[str, float] | tuple[float, ...]) -> tuple[list[Any], np.ndarray]:
        """Choices and their cumulative probabilities (one uniform number draws one)."""
        names: list[Any] = list(weights) if isinstance(weights, dict) else list(range(len(weights)))
        values = [weights[n] for n in names] if isinstance(weights, dict) else list(weights)
        p = np.asarray(values, dtype=float)
        return names, np.cumsum(p / p.sum())

    @staticmethod
    def _draw(rng: np.random.Generator, table: tuple[list[Any], np.ndarray]) -> Any:
        names, cumulative = table
        return names[min(int(np.searchsorted(cumulative, rng.random(), side="right")), len(names) - 1)]

    def _query(self, rng: np.random.Generator, postcode: str) -> SearchQuery:
        t = self._tables
        kind = self._draw(rng, t["event_kinds"])
        event = None
        if kind < 2:
            group = self._draw(rng, t["groups"])
            members = taxonomy.EVENT_GROUPS[group]
            event = group if kind == 1 else members[int(rng.integers(len(members)))]
        n_slots = self._draw(rng, t["slot_counts"])
        # Weighted sampling without replacement: the n largest of log(p) + Gumbel noise.
        keys = self._log_slot_p + rng.gumbel(size=len(taxonomy.SLOTS))
        slots = tuple(taxonomy.SLOTS[i] for i in sorted(np.argsort(-keys)[:n_slots]))
        level = self._draw(rng, t["levels"]) if rng.random() < self.mix.level_given else None
        return SearchQuery(
            postcode=postcode,
            role=self._draw(rng, t["roles"]),
            event=event,
            slots=slots,
            mode=self._draw(rng, t["modes"]),
            level=level,
            radius_km=self.mix.radius_km,
        )

    def _candidates(self, query: SearchQuery, x: float, y: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if query.mode == "in_person" and not self.catalog.has_area.any():
            # Only providers within the radius can qualify; the tree narrows the scan.
            near = np.asarray(self._tree.query_ball_point([x, y], r=query.radius_km * 1000.0), dtype=np.intp)
            if len(near) < self.policy.min_results:
                return np.zeros(0, dtype=np.intp), np.zeros(0), np.zeros(0, dtype=bool)
        return scan_candidates(self.catalog, x, y, role=query.role, mode=query.mode, radius_m=query.radius_km * 1000.0)

    # ------------------------------------------------------------------ tastes
    def _reach(self, rng: np.random.Generator, mode: str, online: np.ndarray, km: np.ndarray, inside: np.ndarray) -> np.ndarray:
        """Utility of how each candidate's help would reach this coach (see "Heterogeneous tastes")."""
        pop = self.population
        in_person = remote = None
        if mode != "online":
            tolerance_km = pop.distance_km * float(np.exp(rng.normal(0.0, pop.distance_spread)))
            in_person = -km / tolerance_km - rng.uniform(*pop.outside_area) * ~inside
        if mode != "in_person":
            if mode == "online":
                worth = rng.uniform(*pop.online_match)
            elif rng.random() < pop.online_lovers:
                worth = rng.uniform(*pop.online_bonus)
            else:
                worth = rng.uniform(*pop.online_reluctance)
            remote = np.where(online, worth + rng.uniform(*pop.same_region) * (km <= pop.same_region_km), -np.inf)
        if in_person is None:
            # Online searches list online providers only; -inf cannot occur, but never let it through.
            return np.where(np.isfinite(remote), remote, 0.0)
        if remote is None:
            return in_person
        # "Any": each provider helps the better of the two ways it can.
        return np.maximum(in_person, remote)

    def _utility(
        self, rng: np.random.Generator, query: SearchQuery, positions: np.ndarray, distance_m: np.ndarray, inside: np.ndarray
    ) -> np.ndarray:
        pop, c = self.population, self.catalog
        u = self._reach(rng, query.mode, c.online[positions], distance_m / 1000.0, inside)
        if query.event:
            exact = (c.event_mask[positions] & np.uint32(taxonomy.event_mask([query.event]))) != 0
            group = taxonomy.group_of(taxonomy.expand_event(query.event)[0])
            same_group = ~exact & ((c.event_mask[positions] & np.uint32(taxonomy.event_mask([group]))) != 0)
            b_exact = rng.uniform(*pop.event_exact)
            u += b_exact * exact + b_exact * rng.uniform(*pop.event_group_share) * same_group
        if query.slots:
            free = np.bitwise_count(c.slot_mask[positions] & np.uint32(taxonomy.slot_mask(query.slots)))
            u += rng.uniform(*pop.availability) * np.sqrt(free / len(query.slots))
        level = c.level[positions]
        if query.level:
            own = taxonomy.qualification_level(query.level)
            u += rng.uniform(*pop.qualification_above) * (level > own) - rng.uniform(*pop.qualification_below) * (level < own)
        else:
            u += rng.uniform(*pop.senior_qualification) * (level >= taxonomy.qualification_level("athletics_coach"))
        spare = c.spare[positions]
        room = np.minimum(spare, pop.spare_enough) / pop.spare_enough
        u += -rng.uniform(*pop.full) * (spare <= 0) + rng.uniform(*pop.spare) * room
        if query.role:
            u += rng.uniform(*pop.main_role) * (c.primary_role[positions] == taxonomy.ROLES.index(query.role))
        return u

    # ------------------------------------------------------------------ behaviour
    def _page(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Indices (into the nearest-first candidates) shown on the page, in shown order."""
        page = self.policy.page_size
        pool = min(n, self.policy.explore_pages * page)
        order = np.arange(n)
        for k in range(min(n, page)):
            if rng.random() < self.policy.swap_probability:
                j = int(rng.integers(pool))
                order[k], order[j] = order[j], order[k]
        return order[: min(n, page)]

    def _actions(self, rng: np.random.Generator, u: np.ndarray, spare: np.ndarray) -> list[str]:
        b = self.behaviour
        n = len(u)
        looked = rng.random(n) < np.arange(1, n + 1, dtype=float) ** -b.examination_exponent
        opened = looked & (rng.random(n) < expit((u - b.view_threshold) / b.view_temperature))
        actions = ["viewed" if o else "shown" for o in opened]
        good = np.flatnonzero(opened & (u > b.request_threshold))
        if len(good):
            best = int(good[np.argmax(u[good])])
            requested = [best] + [int(i) for i in good if i != best and rng.random() < b.second_request]
            for i in requested:
                accept = b.accept_if_room if spare[i] > 0 else b.accept_if_full
                actions[i] = "accepted" if rng.random() < accept else "requested"
        return actions

    # ------------------------------------------------------------------ sessions
    def _coach_location(self, rng: np.random.Generator) -> tuple[int, float, float] | None:
        """A postcode row and its point (see ``QueryMix.placement``), or None when the draw fell off the land."""
        if self.mix.placement == "postcodes":
            i = int(rng.integers(len(self._postcodes["keys"])))
            return i, float(self._postcodes["easting"][i]), float(self._postcodes["northing"][i])
        home = int(rng.integers(len(self.catalog)))
        spread = self.mix.coach_spread_km * 1000.0
        radius, angle = spread * np.sqrt(rng.random()), rng.uniform(0.0, 2.0 * np.pi)
        px = self.catalog.x[home] + radius * np.cos(angle)
        py = self.catalog.y[home] + radius * np.sin(angle)
        index, distance = self.directory.nearest_many(np.array([px]), np.array([py]))
        if distance[0] > self.mix.max_snap_km * 1000.0:
            return None
        i = int(index[0])
        return i, float(self._postcodes["easting"][i]), float(self._postcodes["northing"][i])

    def sessions(self, n_sessions: int) -> Iterator[SimulatedSession]:
        """``n_sessions`` simulated searches (fewer only if no location has enough candidates)."""
        rng = np.random.default_rng(self.seed)
        made = 0
        attempts = 0
        while made < n_sessions and attempts < self.policy.max_attempts * max(n_sessions, 1):
            attempts += 1
            located = self._coach_location(rng)
            if located is None:
                continue
            i, x, y = located
            query = self._query(rng, self.directory.postcode_at(i))
            positions, distance, inside = self._candidates(query, x, y)
            if len(distance) < self.mix.widen_below and query.mode != "online":
                query = dataclasses.replace(query, radius_km=self.mix.widen_radius_km)
                positions, distance, inside = self._candidates(query, x, y)
            if len(distance) < self.policy.min_results:
                continue
            u_mean = self._utility(rng, query, positions, distance, inside)
            u = u_mean + rng.gumbel(0.0, self.population.noise, len(u_mean))
            shown = self._page(rng, len(positions))
            actions = self._actions(rng, u[shown], self.catalog.spare[positions[shown]])
            results = [
                {"provider_id": self.catalog.providers[int(positions[j])].id, "position": k, "action": a}
                for k, (j, a) in enumerate(zip(shown, actions), start=1)
            ]
            feedback = {
                "query": query.feedback_query(),
                "results": results,
                "search_id": f"sim-{self.seed}-{made}",
                "model_version": LOGGING_POLICY_VERSION,
                "catalog_version": self.catalog.version,
            }
            relevance = expit((u_mean - self.behaviour.view_threshold) / self.behaviour.view_temperature)
            yield SimulatedSession(feedback, positions, distance, inside, relevance)
            made += 1

    def feedback(self, n_sessions: int) -> list[dict[str, Any]]:
        """Feedback-log lines (DESIGN.md format) of ``n_sessions`` simulated searches."""
        return [s.feedback for s in self.sessions(n_sessions)]

    def write(self, path: str | os.PathLike[str], n_sessions: int) -> int:
        """Write ``n_sessions`` simulated sessions as JSON lines; returns how many were written."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        count = 0
        with target.open("w", encoding="utf-8") as fh:
            for session in self.sessions(n_sessions):
                fh.write(json.dumps(session.feedback, ensure_ascii=False) + "\n")
                count += 1
        return count

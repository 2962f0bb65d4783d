"""The demo catalogue: realistic, clearly synthetic providers at real postcodes, from a seed.

Nobody here is real.  Names are a gender-neutral first name and a nature-word
surname ("Alex Kestrel"), clubs are invented ("Riverside Striders"), every
e-mail address is at a reserved example domain (RFC 2606: ``example.org``,
``example.com``, ``example.net``), and every bio ends "Demo profile: not a
real person."

What *is* real is the geography: each provider is based at a real postcode,
drawn uniformly from every located postcode in Code-Point Open, so density
follows postcode density (cities have more providers, the Highlands fewer).
A few coach developers cover a county-sized area: the union of circles around
populated postcodes near their *public* location (the sector centroid the
import will show, never their home postcode, which an area's outline could
otherwise give away), built with shapely; the import then coarsens it to the
public grid like any declared area.

The mixes (roles, events, availability, capacity, qualifications) are the
weights below; ``data/README.md`` describes them for people.  The same seed
and the same postcode data give the same catalogue, row for row.  Demo rows go
through exactly the import path a file does (validation, bulk location, one
transaction), so demo data is never special.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import shapely

from .. import taxonomy
from ..config import Settings
from ..geo import PostcodeDirectory
from ..geo.grammar import directory_key
from .importer import ImportReport, import_rows
from .locate import _area_centroids, _postcode_counts
from .model import LIST_SEPARATOR, MIN_POSTCODES_IN_PUBLIC_AREA
from .readers import RawRow
from .store import CatalogStore

__all__ = ["generate_demo_rows", "load_demo", "DEMO_FORMAT", "DEMO_MARK"]

Progress = Callable[[str], None]

#: The ``format`` the import history records for the demo.
DEMO_FORMAT = "demo"
#: Ends every demo bio, so the map and the API say so wherever a profile shows.
DEMO_MARK = "Demo profile: not a real person."

# --- who they are -------------------------------------------------------------------
FIRST_NAMES = (
    "Alex", "Ash", "Bailey", "Billie", "Cameron", "Charlie", "Dale", "Drew", "Eden", "Ellis",
    "Emery", "Finley", "Frankie", "Harley", "Hayden", "Jamie", "Jess", "Jo", "Jordan", "Jude",
    "Kai", "Kit", "Lee", "Logan", "Morgan", "Nico", "Parker", "Quinn", "Reese", "Remy",
    "Riley", "Robin", "Rowan", "Sam", "Sasha", "Sky", "Taylor", "Toni", "Val", "Wren",
)  # fmt: skip
SURNAMES = (
    "Alder", "Ashdown", "Birch", "Bracken", "Brook", "Calder", "Curlew", "Dunlin", "Elm", "Fell",
    "Fern", "Finch", "Gorse", "Hawthorn", "Heath", "Heron", "Holly", "Kestrel", "Larch", "Linnet",
    "Lark", "Maple", "Merlin", "Moss", "Nettle", "Oakley", "Osprey", "Plover", "Rowan", "Rush",
    "Sedge", "Sorrel", "Swift", "Teal", "Thistle", "Thorn", "Wagtail", "Willow", "Yarrow", "Yew",
)  # fmt: skip
CLUB_PLACES = (
    "Riverside", "Hillside", "Northgate", "Eastfield", "Westbrook", "Moorland", "Valley", "Harbour",
    "Castle", "Forest", "Meadow", "Bridgend Park", "Parkside", "Heathfield", "Lakeside", "Seaview",
    "Millbrook", "Oakfield", "Stonebridge", "Kingsmead",
)  # fmt: skip
CLUB_KINDS = ("Harriers", "Striders", "Athletic Club", "Runners", "AC", "Track and Field", "Road Runners")
EMAIL_DOMAINS = ("example.org", "example.com", "example.net")
#: Share of providers who name a club.
CLUB_SHARE = 0.8

# --- what they offer ------------------------------------------------------------------
ROLE_WEIGHTS = {"mentor": 0.40, "co_coach": 0.25, "technical_advisor": 0.20, "coach_developer": 0.15}
#: Share of providers who offer a second role as well.
SECOND_ROLE_SHARE = 0.25
#: Endurance and sprints common, race walking rare (as in club athletics).
GROUP_WEIGHTS = {
    "endurance": 30, "sprints_hurdles": 22, "jumps": 12, "throws": 10, "young_athletes": 10,
    "running_fitness": 8, "combined_events": 3, "para_athletics": 3, "race_walking": 1,
}  # fmt: skip
#: How many event groups a provider covers: 1, 2 or 3.
GROUP_COUNT_WEIGHTS = (0.55, 0.35, 0.10)
#: Chance of naming a whole group ("endurance") rather than its events.
WHOLE_GROUP_SHARE = 0.15
#: Within a group, the chance each event is listed (at least one always is).
EVENT_SHARES = {
    "sprints": 0.9, "hurdles": 0.4, "relays": 0.4,
    "middle_distance": 0.6, "long_distance": 0.5, "steeplechase": 0.12, "cross_country": 0.45,
    "road_running": 0.45, "fell_trail": 0.2,
    "high_jump": 0.45, "long_jump": 0.6, "triple_jump": 0.3, "pole_vault": 0.15,
    "shot_put": 0.55, "discus": 0.45, "hammer": 0.25, "javelin": 0.45,
    "para_track": 0.7, "para_field": 0.5,
}  # fmt: skip
#: Volunteers coach after work and at weekend mornings.
SLOT_SHARES = {"eve_weekday": 0.45, "am_weekend": 0.5, "pm_weekend": 0.15, "day_weekday": 0.06, "eve_weekend": 0.04}
#: km; empty travel_km (the default) for a share of rows.
TRAVEL_CHOICES = (5, 10, 15, 20, 25, 30, 40, 50)
TRAVEL_WEIGHTS = (5, 15, 20, 25, 12, 10, 8, 5)
COACH_DEVELOPER_TRAVEL = (20, 30, 40, 50, 60, 80)
EMPTY_CELL_SHARE = 0.12
ONLINE_SHARE = {"mentor": 0.25, "co_coach": 0.1, "technical_advisor": 0.4, "coach_developer": 0.3}
#: (low, high) inclusive capacity by primary role.
CAPACITY_RANGE = {"mentor": (1, 5), "co_coach": (1, 3), "technical_advisor": (2, 8), "coach_developer": (5, 20)}
#: Share of providers already at capacity.
FULL_SHARE = 0.15
#: Qualification levels 1-4 by primary role (weights); running-fitness-only providers
#: use the running fitness ladder instead.
LEVEL_WEIGHTS = {
    "mentor": (0.05, 0.25, 0.45, 0.25),
    "co_coach": (0.30, 0.40, 0.25, 0.05),
    "technical_advisor": (0.0, 0.10, 0.45, 0.45),
    "coach_developer": (0.0, 0.05, 0.40, 0.55),
}
LEVEL_CODES = {1: "assistant_coach", 2: "sessional_coach", 3: "athletics_coach", 4: "advanced_coach"}
FITNESS_CODES = {1: "leader_in_running_fitness", 2: "coach_in_running_fitness"}
#: Share of rows with no consent (stored, never listed: shows the rule at work).
UNCONSENTED_SHARE = 0.03

# --- county-sized service areas -----------------------------------------------------------
#: Share of coach developers who declare an explicit area instead of a travel circle.
SERVICE_AREA_SHARE = 0.08
#: The area is built from populated places within this distance of their base...
SERVICE_AREA_REACH_M = 30_000.0
#: ...as circles of this radius around up to this many sampled postcodes, unioned...
SERVICE_AREA_CIRCLE_M = 4_000.0
SERVICE_AREA_SAMPLES = 300
#: Segments per quarter circle: the union is simplified anyway, so coarse circles will do.
SERVICE_AREA_QUAD_SEGS = 4
#: ...and simplified to this tolerance (a county outline, not a street plan).
SERVICE_AREA_SIMPLIFY_M = 250.0

_BIO_OPENERS = {
    "mentor": "Mentor for coaches in {events}.",
    "co_coach": "Co-coach for {events} sessions.",
    "technical_advisor": "Technical advisor for {events}.",
    "coach_developer": "Coach developer supporting clubs with {events}.",
}
_BIO_CLOSERS = (
    "Happy to watch a session and talk it through afterwards.",
    "Available at club nights or over a video call.",
    "Especially keen to help coaches who are starting out.",
    "Focused on safe, enjoyable, progressive training.",
    "Glad to share session plans, drills and progressions.",
)


def _pick(rng: np.random.Generator, options: tuple | list, weights: tuple | list | None = None) -> Any:
    if weights is None:
        return options[int(rng.integers(len(options)))]
    p = np.asarray(weights, dtype=float)
    return options[int(rng.choice(len(options), p=p / p.sum()))]


def _events(rng: np.random.Generator) -> tuple[list[str], list[str]]:
    """Codes to write in the row (events or whole groups) and the groups chosen."""
    groups = list(GROUP_WEIGHTS)
    weights = np.array([GROUP_WEIGHTS[g] for g in groups], dtype=float)
    count = int(rng.choice(len(GROUP_COUNT_WEIGHTS), p=GROUP_COUNT_WEIGHTS)) + 1
    chosen = [groups[i] for i in rng.choice(len(groups), size=count, replace=False, p=weights / weights.sum())]
    codes: list[str] = []
    for group in chosen:
        events = taxonomy.EVENT_GROUPS[group]
        if len(events) == 1 or rng.random() < WHOLE_GROUP_SHARE:
            codes.append(group)
            continue
        picked = [e for e in events if rng.random() < EVENT_SHARES[e]]
        codes.extend(picked or [_pick(rng, events)])
    return codes, chosen


def _slots(rng: np.random.Generator) -> list[str]:
    slots = []
    for slot in taxonomy.SLOTS:
        day, period = slot.split("_")
        weekend = day in ("sat", "sun")
        if period == "eve":
            share = SLOT_SHARES["eve_weekend" if weekend else "eve_weekday"]
        elif weekend:
            share = SLOT_SHARES["am_weekend" if period == "am" else "pm_weekend"]
        else:
            share = SLOT_SHARES["day_weekday"]
        if rng.random() < share:
            slots.append(slot)
    return slots or [_pick(rng, ("mon_eve", "tue_eve", "wed_eve", "thu_eve"))]


class _PostcodesByEasting:
    """Located postcodes sorted by easting once, so "postcodes near here" is a binary search."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        order = np.argsort(arrays["easting"], kind="stable")
        self.easting = arrays["easting"][order].astype(np.float64)
        self.northing = arrays["northing"][order].astype(np.float64)

    def within(self, e0: float, n0: float, reach: float) -> np.ndarray:
        lo, hi = np.searchsorted(self.easting, [e0 - reach, e0 + reach + 1])
        near = np.arange(lo, hi)
        return near[np.hypot(self.easting[near] - e0, self.northing[near] - n0) <= reach]


def _public_location(directory: PostcodeDirectory, keys: np.ndarray, postcode: str) -> tuple[float, float]:
    """Where the import will show a provider based at ``postcode``: their public location.

    Their sector's centroid, or their district's when the sector is too small to
    hide a postcode in: the rule of :mod:`.locate`, with its own helpers.
    """
    sector = postcode[:-2]
    district = sector[:-2]
    (size,) = _postcode_counts(keys, [directory_key(district, sector[-1])])
    easting, northing = _area_centroids(directory, [sector if size >= MIN_POSTCODES_IN_PUBLIC_AREA else district])
    return float(easting[0]), float(northing[0])


def _service_area(rng: np.random.Generator, postcodes: _PostcodesByEasting, e0: float, n0: float) -> Any:
    """A county-sized polygon (EPSG:27700) following the populated places around a public location.

    ``(e0, n0)`` must be the provider's public location, never their base: the
    outline is published (coarsened) and must not depend on where they live.
    """
    near = postcodes.within(e0, n0, SERVICE_AREA_REACH_M)
    sample = rng.choice(near, size=min(SERVICE_AREA_SAMPLES, len(near)), replace=False)
    centres = shapely.points(postcodes.easting[sample], postcodes.northing[sample])
    circles = shapely.buffer(centres, SERVICE_AREA_CIRCLE_M, quad_segs=SERVICE_AREA_QUAD_SEGS)
    return shapely.union_all(circles).simplify(SERVICE_AREA_SIMPLIFY_M)


def _bases(directory: PostcodeDirectory, arrays: dict[str, np.ndarray], rng: np.random.Generator, providers: int) -> np.ndarray:
    """Distinct postcode rows to base providers at, none in a district the import would refuse.

    A postcode whose district has fewer than ``MIN_POSTCODES_IN_PUBLIC_AREA``
    located postcodes (PO box districts such as AB99) has no public location
    that would not give it away, so the import rejects it; the few drawn there
    are drawn again, so the demo imports every row it generates.
    """
    n = len(arrays["keys"])
    bases = rng.choice(n, size=providers, replace=False)
    refused = _refused(directory, arrays["keys"], bases)
    while refused.any():
        taken = set(bases.tolist())
        spare = np.array([i for i in rng.choice(n, size=4 * int(refused.sum()) + 8, replace=False).tolist() if i not in taken])
        bases[np.flatnonzero(refused)[: len(spare)]] = spare[: int(refused.sum())]
        refused = _refused(directory, arrays["keys"], bases)
    return bases


def _refused(directory: PostcodeDirectory, keys: np.ndarray, bases: np.ndarray) -> np.ndarray:
    """Whether each base's district is too small to hold a public location."""
    districts = np.array([directory.postcode_at(int(b)).split(" ")[0] for b in bases])
    unique, inverse = np.unique(districts, return_inverse=True)
    sizes = _postcode_counts(keys, [directory_key(str(d)) for d in unique])
    return (sizes < MIN_POSTCODES_IN_PUBLIC_AREA)[inverse]


def generate_demo_rows(directory: PostcodeDirectory, *, seed: int, providers: int) -> list[RawRow]:
    """The demo catalogue as rows, exactly as a CSV file would give them.

    Parameters
    ----------
    directory : PostcodeDirectory
        Postcodes are drawn from it (uniformly: density follows postcode density).
    seed : int
        Same seed and same postcode data → the same rows.
    providers : int
        How many rows.
    """
    if providers < 0:
        raise ValueError(f"providers must be zero or more; got {providers}")
    rng = np.random.default_rng(seed)
    arrays = directory.located_arrays()
    bases = _bases(directory, arrays, rng, providers)
    roles = list(ROLE_WEIGHTS)
    role_p = np.array([ROLE_WEIGHTS[r] for r in roles])
    postcodes: _PostcodesByEasting | None = None  # built on first use: small demos may need none
    rows = []
    for i, base in enumerate(bases):
        number = i + 1
        first, surname = _pick(rng, FIRST_NAMES), _pick(rng, SURNAMES)
        role = roles[int(rng.choice(len(roles), p=role_p))]
        role_list = [role]
        if rng.random() < SECOND_ROLE_SHARE:
            role_list.append(_pick(rng, [r for r in roles if r != role]))
        event_codes, groups = _events(rng)
        travel = _pick(rng, COACH_DEVELOPER_TRAVEL) if role == "coach_developer" else _pick(rng, TRAVEL_CHOICES, TRAVEL_WEIGHTS)
        low, high = CAPACITY_RANGE[role]
        capacity = int(rng.integers(low, high + 1))
        active = capacity if rng.random() < FULL_SHARE else int(rng.integers(0, capacity))
        level = int(rng.choice(4, p=LEVEL_WEIGHTS[role])) + 1
        fitness_only = groups == ["running_fitness"]
        qualification = FITNESS_CODES[min(level, 2)] if fitness_only else LEVEL_CODES[level]
        labels = [taxonomy.EVENT_GROUP_LABELS[g].lower() for g in groups]
        events_text = labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]
        bio = f"{_BIO_OPENERS[role].format(events=events_text)} {_pick(rng, _BIO_CLOSERS)} {DEMO_MARK}"
        values: dict[str, Any] = {
            "id": f"demo-{number:05d}",
            "name": f"{first} {surname}",
            "roles": LIST_SEPARATOR.join(role_list),
            "postcode": directory.postcode_at(int(base)),
            "events": LIST_SEPARATOR.join(event_codes),
            "availability": LIST_SEPARATOR.join(_slots(rng)),
            "travel_km": "" if rng.random() < EMPTY_CELL_SHARE else str(travel),
            "online": "true" if rng.random() < ONLINE_SHARE[role] else "false",
            "capacity": "" if rng.random() < EMPTY_CELL_SHARE else str(capacity),
            "active_coaches": str(active),
            "qualification": "" if rng.random() < EMPTY_CELL_SHARE else qualification,
            "club": f"{_pick(rng, CLUB_PLACES)} {_pick(rng, CLUB_KINDS)}" if rng.random() < CLUB_SHARE else "",
            "email": f"{first}.{surname}.{number:05d}@{_pick(rng, EMAIL_DOMAINS)}".lower(),
            "consent": "false" if rng.random() < UNCONSENTED_SHARE else "true",
            "bio": bio,
        }
        if values["capacity"] == "":
            # An empty capacity means the default; keep active_coaches within it.
            values["active_coaches"] = "0"
        area = None
        if role == "coach_developer" and rng.random() < SERVICE_AREA_SHARE:
            if postcodes is None:
                postcodes = _PostcodesByEasting(arrays)
            public_e, public_n = _public_location(directory, arrays["keys"], values["postcode"])
            # The area draws from its own generator (one draw from the catalogue's), so
            # how many postcodes lie around someone never shifts the rows after theirs.
            area_rng = np.random.default_rng(int(rng.integers(np.iinfo(np.int64).max)))
            area = _service_area(area_rng, postcodes, public_e, public_n)
        rows.append(RawRow(number=number, values=values, area=area))
    return rows


def load_demo(
    store: CatalogStore,
    directory: PostcodeDirectory,
    settings: Settings,
    *,
    seed: int | None = None,
    providers: int | None = None,
    replace: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Generate the demo catalogue and import it like any file (``settings.demo_seed``/``demo_providers`` by default)."""
    seed = settings.demo_seed if seed is None else seed
    providers = settings.demo_providers if providers is None else providers
    if progress:
        progress(f"generating {providers:,} synthetic providers (seed {seed})")
    rows = generate_demo_rows(directory, seed=seed, providers=providers)
    return import_rows(
        rows,
        store,
        directory,
        settings,
        source=f"demo (seed {seed}, {providers} providers)",
        format=DEMO_FORMAT,
        unit="row",
        replace=replace,
        progress=progress,
    )

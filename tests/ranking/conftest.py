"""Fixtures for the ranking tests: a synthetic public catalogue at real postcodes, simulated feedback."""

from __future__ import annotations

import numpy as np
import pytest

from findsupport import taxonomy
from findsupport.catalog.public import PublicCatalog, PublicProvider
from findsupport.geo import PostcodeDirectory
from findsupport.ranking.simulator import CoachPopulation, CoachSimulator, QueryMix

#: Postcode areas (Newcastle, Manchester, Birmingham): busy enough that small catalogues give full pages.
AREAS = ("NE", "M", "B")


def make_catalog(directory: PostcodeDirectory, n: int, seed: int = 1, areas: tuple[str, ...] = AREAS) -> PublicCatalog:
    """``n`` synthetic providers based in sectors of ``areas`` (public view only)."""
    rng = np.random.default_rng(seed)
    arrays = directory.located_arrays()
    keys = arrays["keys"]
    pools = []
    for area in areas:
        # Keys are the outcode padded to 4 then the inward code; an area is its letters then a digit.
        lo, hi = np.searchsorted(keys, area.encode() + b"0"), np.searchsorted(keys, area.encode() + b":")
        pools.append(np.arange(lo, hi))
    pool = np.concatenate(pools)
    providers = []
    for i in range(n):
        row = int(pool[rng.integers(len(pool))])
        sector = directory.postcode_at(row)[:-2]
        location = directory.sector_location(sector)
        group = rng.choice(list(taxonomy.EVENT_GROUPS))
        events = list(rng.choice(taxonomy.EVENT_GROUPS[group], size=min(len(taxonomy.EVENT_GROUPS[group]), int(rng.integers(1, 4))), replace=False))
        if rng.random() < 0.3:
            events.append(str(rng.choice(taxonomy.EVENTS)))
        roles = list(dict.fromkeys(rng.choice(taxonomy.ROLES, size=int(rng.integers(1, 3)))))
        capacity = int(rng.integers(1, 6))
        qualification = rng.choice([None, *taxonomy.QUALIFICATIONS])
        providers.append(
            PublicProvider(
                id=f"p{i:05d}",
                name=f"Provider {i}",
                roles=tuple(str(r) for r in roles),
                events=tuple(dict.fromkeys(str(e) for e in events)),
                availability=tuple(sorted(str(s) for s in rng.choice(taxonomy.SLOTS, size=int(rng.integers(2, 8)), replace=False))),
                online=bool(rng.random() < 0.3),
                travel_km=float(rng.choice([10.0, 20.0, 30.0, 40.0])),
                capacity=capacity,
                active_coaches=int(rng.integers(0, capacity + 1)),
                qualification=None if qualification is None else str(qualification),
                club=None,
                bio=None,
                area=location.postcode,
                easting=location.easting,
                northing=location.northing,
                lon=location.lon,
                lat=location.lat,
            )
        )
    return PublicCatalog.from_providers(providers)


@pytest.fixture(scope="session")
def catalog(directory: PostcodeDirectory) -> PublicCatalog:
    return make_catalog(directory, 400)


@pytest.fixture(scope="session")
def simulator(catalog: PublicCatalog, directory: PostcodeDirectory) -> CoachSimulator:
    """Simulated coaches living near the fixture's providers (it covers three areas only)."""
    return CoachSimulator(catalog, directory, mix=QueryMix(placement="providers"), seed=7)


@pytest.fixture(scope="session")
def simulated_feedback(simulator: CoachSimulator) -> list[dict]:
    """Feedback-log lines of 1,500 simulated sessions (shared, read-only)."""
    return simulator.feedback(1500)


#: Coaches whose tastes are far from the default weights: near, qualified, with room
#: matter most; the event less.  Learning must find what the defaults do not know.
DIFFERENT_TASTES = CoachPopulation(
    distance_km=6.0, event_exact=(0.5, 1.5), availability=(0.3, 1.0), full=(3.0, 5.0),
    qualification_above=(1.0, 2.5), online_lovers=0.6,
)


@pytest.fixture(scope="session")
def different_tastes_feedback(catalog: PublicCatalog, directory: PostcodeDirectory) -> list[dict]:
    """Feedback-log lines of 2,500 sessions by coaches with :data:`DIFFERENT_TASTES`."""
    simulator = CoachSimulator(catalog, directory, mix=QueryMix(placement="providers"), population=DIFFERENT_TASTES, seed=8)
    return simulator.feedback(2500)

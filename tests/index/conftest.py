"""Small catalogues for index tests: providers on a 1 km grid, so exact boundaries are common.

With integer-kilometre coordinates, reaches and radii, squared distances are
exact in floating point, and a provider straight north of the coach at
exactly the radius (or at exactly their reach) is an everyday case rather
than a coincidence.
"""

from __future__ import annotations

from typing import Any

import pytest
import shapely
from hypothesis import strategies as st

from findsupport import taxonomy
from findsupport.catalog.public import PublicCatalog, PublicProvider
from findsupport.features import FEATURE_NAMES
from findsupport.ranking.model import MatchRanker

KM = 1000.0
#: Origin of the test grid: somewhere in the middle of Great Britain's grid.
ORIGIN = (400_000.0, 400_000.0)
QUALIFICATIONS = (None, *taxonomy.QUALIFICATIONS)


def provider(
    i: int,
    x_km: float,
    y_km: float,
    *,
    reach_km: float = 20.0,
    roles: tuple[str, ...] = ("mentor",),
    online: bool = False,
    events: tuple[str, ...] = ("hurdles",),
    slots: tuple[str, ...] = ("tue_eve",),
    capacity: int = 3,
    active: int = 0,
    qualification: str | None = "athletics_coach",
    area: Any = None,
) -> PublicProvider:
    """A public provider at grid kilometre ``(x_km, y_km)`` from :data:`ORIGIN`."""
    return PublicProvider(
        id=f"p{i:04d}",
        name=f"Provider {i}",
        roles=roles,
        events=events,
        availability=slots,
        online=online,
        travel_km=float(reach_km),
        capacity=capacity,
        active_coaches=active,
        qualification=qualification,
        club=None,
        bio=None,
        area="NE21 4",
        easting=ORIGIN[0] + x_km * KM,
        northing=ORIGIN[1] + y_km * KM,
        lon=-1.7,
        lat=54.9,
        service_area=area,
    )


def grid_polygon(kind: int, x_km: int, y_km: int, size_km: int) -> Any:
    """A polygon service area with corners on the kilometre grid (so points land on its edges)."""
    x0, y0 = ORIGIN[0] + x_km * KM, ORIGIN[1] + y_km * KM
    s = size_km * KM
    if kind == 0:
        return shapely.box(x0, y0, x0 + s, y0 + s)
    if kind == 1:
        return shapely.Polygon([(x0, y0), (x0 + 2 * s, y0), (x0, y0 + 2 * s)])
    return shapely.MultiPolygon([shapely.box(x0, y0, x0 + s, y0 + s), shapely.box(x0 + 2 * s, y0, x0 + 3 * s, y0 + s)])


REACHES_KM = (0, 1, 3, 5, 10, 13, 20, 25, 40, 60, 120)
RADII_KM = (1, 3, 5, 10, 13, 25, 60)
#: Offsets (km) that put a coach at an exact whole-kilometre distance from a site.
EXACT_OFFSETS = [(0, 1), (1, 0), (3, 4), (4, 3), (5, 12), (6, 8)]


@st.composite
def scenarios(draw: st.DrawFn, max_providers: int = 80) -> tuple[PublicCatalog, dict[str, Any]]:
    """A random catalogue and a coach's query on the same grid.

    Providers share a few sites (as they share sector centroids); reaches,
    radii and the coach's position are chosen so that providers exactly at
    the radius or exactly at the edge of their reach are frequent.
    """
    n_sites = draw(st.integers(1, 10))
    sites = [(draw(st.integers(-30, 30)), draw(st.integers(-30, 30))) for _ in range(n_sites)]
    n = draw(st.integers(0, max_providers))
    providers = []
    for i in range(n):
        x, y = sites[draw(st.integers(0, n_sites - 1))]
        roles = tuple(draw(st.lists(st.sampled_from(taxonomy.ROLES), min_size=1, max_size=3, unique=True)))
        area = None
        if draw(st.integers(0, 9)) == 0:
            area = grid_polygon(draw(st.integers(0, 2)), draw(st.integers(-30, 20)), draw(st.integers(-30, 20)), draw(st.integers(1, 15)))
        capacity = draw(st.integers(0, 6))
        providers.append(
            provider(
                i,
                x,
                y,
                reach_km=draw(st.sampled_from(REACHES_KM)),
                roles=roles,
                online=draw(st.booleans()),
                events=tuple(draw(st.lists(st.sampled_from(taxonomy.EVENTS), max_size=4, unique=True))),
                slots=tuple(draw(st.lists(st.sampled_from(taxonomy.SLOTS), max_size=6, unique=True))),
                capacity=capacity,
                active=draw(st.integers(0, capacity + 1)),
                qualification=draw(st.sampled_from(QUALIFICATIONS)),
                area=area,
            )
        )
    if draw(st.booleans()):
        x, y = draw(st.integers(-35, 35)), draw(st.integers(-35, 35))
    else:
        # Exactly a whole number of kilometres from a site, in a random direction.
        sx, sy = sites[draw(st.integers(0, n_sites - 1))]
        ox, oy = draw(st.sampled_from(EXACT_OFFSETS))
        scale = draw(st.sampled_from([1, 3, 5, 10, 13, 20, 25]))
        sign_x, sign_y = draw(st.sampled_from([-1, 1])), draw(st.sampled_from([-1, 1]))
        x, y = sx + sign_x * ox * scale, sy + sign_y * oy * scale
    query = {
        "x": ORIGIN[0] + x * KM,
        "y": ORIGIN[1] + y * KM,
        "radius_km": float(draw(st.sampled_from(RADII_KM))),
        "role": draw(st.sampled_from([None, *taxonomy.ROLES])),
        "mode": draw(st.sampled_from(taxonomy.MODES)),
        "event": draw(st.sampled_from([None, "hurdles", "jumps", "long_jump", "race_walking", "endurance"])),
        "slots": tuple(draw(st.lists(st.sampled_from(taxonomy.SLOTS), max_size=3, unique=True))),
        "level": draw(st.sampled_from(QUALIFICATIONS)),
        "k": draw(st.integers(1, 12)),
    }
    return PublicCatalog.from_providers(providers), query


@st.composite
def rankers(draw: st.DrawFn) -> MatchRanker:
    """The default ranker or random weights, negative ones included."""
    if draw(st.booleans()):
        return MatchRanker().use_parameter_weights()
    weights = {f"w_{name}": draw(st.sampled_from([-2.0, -0.5, 0.0, 0.3, 1.0, 2.5])) for name in FEATURE_NAMES}
    return MatchRanker(**weights).use_parameter_weights()


@pytest.fixture
def grid_catalog() -> PublicCatalog:
    """A hand-made catalogue around the origin for table-driven tests."""
    return PublicCatalog.from_providers(
        [
            provider(0, 0, 5, reach_km=20),  # 5 km north
            provider(1, 0, 25, reach_km=30),  # exactly at a 25 km radius
            provider(2, 3, 4, reach_km=5),  # 5 km away, reach exactly 5 km
            provider(3, 3, 4, reach_km=4),  # 5 km away, reach 4 km: does not reach
            provider(4, 0, 26, reach_km=30, online=True),  # just beyond 25 km; online
            provider(5, 50, 0, reach_km=10, online=True, roles=("coach_developer",)),  # far, online
            provider(6, 2, 0, reach_km=0, area=shapely.box(ORIGIN[0] - 1000, ORIGIN[1], ORIGIN[0] + 1000, ORIGIN[1] + 1000)),
            provider(7, 10, 0, reach_km=50, area=shapely.box(ORIGIN[0] + 1000, ORIGIN[1], ORIGIN[0] + 2000, ORIGIN[1] + 1000)),
        ]
    )

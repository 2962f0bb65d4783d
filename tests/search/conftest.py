"""Engines over small catalogues at real sector centroids (real Code-Point postcodes)."""

from __future__ import annotations

from typing import Any

import pytest
import shapely

from findsupport.catalog import CatalogStore, load_demo
from findsupport.catalog.public import PublicCatalog, PublicProvider
from findsupport.geo import PostcodeDirectory
from findsupport.search.engine import Engine

#: Sectors around Newcastle upon Tyne, one in Edinburgh and one in London.
NEWCASTLE = ("NE21 4", "NE1 1", "NE4 5", "NE8 1", "NE15 6", "NE40 3", "NE16 4", "DH7 9", "NE61 1")


def at_sector(directory: PostcodeDirectory, i: int, sector: str, prefix: str = "p", **fields: Any) -> PublicProvider:
    """A provider whose public location is ``sector``'s centroid (as every import makes it)."""
    location = directory.sector_location(sector)
    values: dict[str, Any] = {
        "id": f"{prefix}{i:03d}",
        "name": f"Coach {prefix}{i}",
        "roles": ("mentor",),
        "events": ("hurdles",),
        "availability": ("tue_eve",),
        "online": False,
        "travel_km": 20.0,
        "capacity": 3,
        "active_coaches": 1,
        "qualification": "athletics_coach",
        "club": None,
        "bio": None,
        "area": location.sector,
        "easting": location.easting,
        "northing": location.northing,
        "lon": location.lon,
        "lat": location.lat,
        "service_area": None,
    }
    values.update(fields)
    return PublicProvider(**values)


def north_east_catalog(directory: PostcodeDirectory, prefix: str = "p", count: int = 36) -> PublicCatalog:
    """Providers spread over Tyneside with varied roles, events, slots and capacity, plus online ones far away."""
    roles = ("mentor", "coach_developer", "technical_advisor", "co_coach")
    events = (("hurdles",), ("long_jump", "high_jump"), ("middle_distance",), ("sprints", "relays"))
    slots = (("tue_eve",), ("sat_am", "sun_am"), ("mon_eve", "tue_eve", "thu_eve"), ())
    providers = [
        at_sector(
            directory,
            i,
            NEWCASTLE[i % len(NEWCASTLE)],
            prefix,
            roles=(roles[i % 4],) if i % 5 else (roles[i % 4], "mentor"),
            events=events[i % 4],
            availability=slots[(i // 2) % 4],
            capacity=1 + i % 4,
            active_coaches=(i * 7) % 5,
            online=i % 6 == 0,
            travel_km=(5.0, 10.0, 20.0, 30.0)[i % 4],
            qualification=(None, "assistant_coach", "athletics_coach", "advanced_coach")[i % 4],
        )
        for i in range(count)
    ]
    providers.append(at_sector(directory, 900, "EH1 1", prefix, online=True, roles=("mentor",)))
    providers.append(at_sector(directory, 901, "SW1A 2", prefix, online=True, roles=("technical_advisor",)))
    # A coach developer covering a county-sized box around Durham, based in Durham.
    durham = directory.sector_location("DH1 3")
    county = shapely.box(durham.easting - 15_000, durham.northing - 15_000, durham.easting + 15_000, durham.northing + 15_000)
    providers.append(at_sector(directory, 902, "DH1 3", prefix, roles=("coach_developer",), service_area=county, travel_km=0.0))
    return PublicCatalog.from_providers(providers)


@pytest.fixture(scope="session")
def ne_catalog(directory: PostcodeDirectory) -> PublicCatalog:
    return north_east_catalog(directory)


@pytest.fixture
def engine(ne_catalog: PublicCatalog, directory: PostcodeDirectory) -> Engine:
    return Engine.from_catalog(ne_catalog, directory)


@pytest.fixture
def stocked(settings, directory):
    """A catalogue store in this test's data dir, holding 60 demo providers (an engine opened on it follows it)."""
    store = CatalogStore.open(settings)
    load_demo(store, directory, settings, seed=11, providers=60)
    return store

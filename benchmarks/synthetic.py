"""Synthetic public catalogues at real postcodes, fast enough for a million providers.

The benchmarks need catalogues far larger than the demo (which goes through
the row-by-row import), so this builds :class:`PublicProvider` objects
directly, vectorised, with the demo's mixes (roles, events, travel, online,
capacity, qualifications; a few county-sized polygon service areas) and the
public location every real import gives: the centroid of the provider's
postcode sector.  Postcodes are drawn uniformly from Code-Point Open, so
density follows postcode density (London dense, the Highlands sparse).
"""

from __future__ import annotations

import numpy as np
import shapely

from findsupport import taxonomy
from findsupport.catalog import demo
from findsupport.catalog.public import PublicCatalog, PublicProvider
from findsupport.geo import PostcodeDirectory, to_wgs84

__all__ = ["synthetic_catalog", "sample_query_postcodes"]

#: Share of providers with an explicit polygon service area (demo: 8% of coach developers).
POLYGON_SHARE = 0.01
#: Distinct polygons to draw from (shapes are shared; each provider gets its own id).
POLYGON_SHAPES = 200


def _sector_keys(keys: np.ndarray) -> np.ndarray:
    return keys.astype("S5")


def synthetic_catalog(directory: PostcodeDirectory, n: int, seed: int = 0) -> PublicCatalog:
    """``n`` synthetic consented providers at real postcodes (public view only)."""
    rng = np.random.default_rng(seed)
    arrays = directory.located_arrays()
    picks = rng.integers(0, len(arrays["keys"]), n)
    # Public location = sector centroid (what the catalogue's import computes).
    sector_keys = _sector_keys(arrays["keys"][picks])
    unique, inverse = np.unique(sector_keys, return_inverse=True)
    labels = [f"{k.decode()[:4].rstrip()} {k.decode()[4]}" for k in unique]
    se, sn, found = directory.sector_centroids(labels)
    assert found.all()
    slon, slat = to_wgs84(se, sn)
    roles = list(demo.ROLE_WEIGHTS)
    role_p = np.array([demo.ROLE_WEIGHTS[r] for r in roles])
    primary = rng.choice(len(roles), n, p=role_p / role_p.sum())
    second = rng.choice(len(roles), n)
    has_second = (rng.random(n) < demo.SECOND_ROLE_SHARE) & (second != primary)
    travel = np.array(demo.TRAVEL_CHOICES, dtype=float)[
        rng.choice(len(demo.TRAVEL_CHOICES), n, p=np.array(demo.TRAVEL_WEIGHTS) / sum(demo.TRAVEL_WEIGHTS))
    ]
    online_share = np.array([demo.ONLINE_SHARE[r] for r in roles])
    online = rng.random(n) < online_share[primary]
    capacity = rng.integers(1, 9, n)
    full = rng.random(n) < demo.FULL_SHARE
    active = np.where(full, capacity, rng.integers(0, capacity + 1) // 2)
    levels = rng.integers(0, 5, n)
    quals = (None, "assistant_coach", "sessional_coach", "athletics_coach", "advanced_coach")
    groups = list(demo.GROUP_WEIGHTS)
    group_p = np.array([demo.GROUP_WEIGHTS[g] for g in groups], dtype=float)
    group_pick = rng.choice(len(groups), (n, 2), p=group_p / group_p.sum())
    two_groups = rng.random(n) < 0.45
    event_choice = rng.random((n, len(taxonomy.EVENTS)))
    slot_choice = rng.random((n, len(taxonomy.SLOTS)))
    slot_share = np.array(
        [
            demo.SLOT_SHARES["eve_weekday"] if s.endswith("eve") and s[:3] not in ("sat", "sun")
            else demo.SLOT_SHARES["am_weekend"] if s in ("sat_am", "sun_am")
            else demo.SLOT_SHARES["pm_weekend"] if s in ("sat_pm", "sun_pm")
            else demo.SLOT_SHARES["eve_weekend"] if s.endswith("eve")
            else demo.SLOT_SHARES["day_weekday"]
            for s in taxonomy.SLOTS
        ]
    )
    free = slot_choice < slot_share
    shapes = []
    n_polygons = int(round(n * POLYGON_SHARE))
    polygon_rows = set(rng.choice(n, n_polygons, replace=False).tolist()) if n_polygons else set()
    if polygon_rows:
        centres = rng.choice(n, min(POLYGON_SHAPES, n_polygons), replace=False)
        for c in centres:
            cx, cy = se[inverse[c]], sn[inverse[c]]
            blob = shapely.buffer(shapely.points(cx + rng.normal(0, 12e3, 12), cy + rng.normal(0, 12e3, 12)), 8e3)
            shapes.append(shapely.union_all(blob).simplify(250.0))
    role_codes = tuple(roles)
    event_cache: dict[tuple, tuple] = {}
    providers = []
    for i in range(n):
        g1 = groups[group_pick[i, 0]]
        chosen = [g1] if not two_groups[i] or group_pick[i, 1] == group_pick[i, 0] else [g1, groups[group_pick[i, 1]]]
        events = []
        for g in chosen:
            members = taxonomy.EVENT_GROUPS[g]
            picked = [e for e in members if event_choice[i, taxonomy.EVENTS.index(e)] < demo.EVENT_SHARES.get(e, 1.0)]
            events.extend(picked or [members[0]])
        events_t = event_cache.setdefault(tuple(events), tuple(events))
        p_role = role_codes[primary[i]]
        role_t = (p_role, role_codes[second[i]]) if has_second[i] else (p_role,)
        j = inverse[i]
        providers.append(
            PublicProvider(
                id=f"s{i:07d}",
                name=f"Provider {i}",
                roles=role_t,
                events=events_t,
                availability=tuple(s for s, f in zip(taxonomy.SLOTS, free[i]) if f),
                online=bool(online[i]),
                travel_km=float(travel[i]),
                capacity=int(capacity[i]),
                active_coaches=int(active[i]),
                qualification=quals[levels[i]],
                club=None,
                bio=None,
                area=labels[j],
                easting=float(se[j]),
                northing=float(sn[j]),
                lon=float(slon[j]),
                lat=float(slat[j]),
                service_area=shapes[i % len(shapes)] if i in polygon_rows else None,
            )
        )
    return PublicCatalog.from_providers(providers, version=f"synthetic-{n}-{seed}")


def sample_query_postcodes(directory: PostcodeDirectory, n: int, seed: int = 1) -> list[str]:
    """``n`` real GB postcodes drawn uniformly (so city queries are as common as cities)."""
    rng = np.random.default_rng(seed)
    arrays = directory.located_arrays()
    return [directory.postcode_at(int(i)) for i in rng.integers(0, len(arrays["keys"]), n)]

"""Where candidates are relative to a coach: distances and service-area tests from the columns.

The search engine finds candidates with its index; training, evaluation and
the simulator need the same geometry for *named* providers (the ones a
logged session showed) or for a small catalogue scanned whole.  Both are
computed here from the public columns only, exactly as the engine does:

* the distance is the straight line in metres on the British National Grid
  from the coach's point to the provider's public location (sector centroid);
* the coach is inside a provider's service area when that distance is at most
  the provider's ``travel_km`` (the circle), or, for a provider with an
  explicit polygon, when the polygon covers the point (its edge included).

The arithmetic is the index's own, so boundary cases agree exactly: the
squared distance ``dx * dx + dy * dy`` is compared with the squared reach or
radius, and the distance is its square root.
"""

from __future__ import annotations

import numpy as np
import shapely

from .. import taxonomy
from ..catalog.public import PublicCatalog

__all__ = ["candidate_geometry", "scan_candidates"]


def candidate_geometry(
    catalog: PublicCatalog, positions: np.ndarray, x: float, y: float
) -> tuple[np.ndarray, np.ndarray]:
    """Distance (metres) and inside-service-area flags of catalogue ``positions`` for point ``(x, y)``.

    Examples
    --------
    >>> from findsupport.catalog.public import PublicCatalog, PublicProvider
    >>> p = PublicProvider(id="p1", name="Sam", roles=("mentor",), events=(), availability=(),
    ...                    online=False, travel_km=5.0, capacity=1, active_coaches=0,
    ...                    qualification=None, club=None, bio=None, area="NE21 4",
    ...                    easting=417000.0, northing=563000.0, lon=-1.73, lat=54.96)
    >>> d, inside = candidate_geometry(PublicCatalog.from_providers([p]), [0], 420000.0, 567000.0)
    >>> float(d[0]), bool(inside[0])
    (5000.0, True)
    """
    d2, inside = _geometry(catalog, np.asarray(positions, dtype=np.intp), x, y)
    return np.sqrt(d2), inside


def _geometry(catalog: PublicCatalog, positions: np.ndarray, x: float, y: float) -> tuple[np.ndarray, np.ndarray]:
    """Squared distances and inside flags, with the index's expressions (see the module docstring)."""
    dx = catalog.x[positions] - x
    dy = catalog.y[positions] - y
    d2 = dx * dx + dy * dy
    reach = catalog.reach_m[positions]
    inside = d2 <= reach * reach
    with_area = np.flatnonzero(catalog.has_area[positions])
    if len(with_area):
        areas = [catalog.providers[i].service_area for i in positions[with_area]]
        inside[with_area] = shapely.intersects_xy(np.asarray(areas, dtype=object), x, y)
    return d2, inside


def scan_candidates(
    catalog: PublicCatalog,
    x: float,
    y: float,
    *,
    role: str | None = None,
    mode: str = "in_person",
    radius_m: float = 25_000.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every candidate of a query by a full scan, nearest first: ``(positions, distance_m, inside)``.

    The engine's candidate rules, for small catalogues (simulation, tests):
    ``in_person`` — the point is inside the service area and the public
    location within ``radius_m``; ``online`` — online providers at any
    distance; ``any`` — both.  ``role`` is a hard filter.
    """
    everyone = np.arange(len(catalog), dtype=np.intp)
    d2, inside = _geometry(catalog, everyone, x, y)
    distance = np.sqrt(d2)
    keep = np.zeros(len(catalog), dtype=bool)
    if mode in ("in_person", "any"):
        keep |= inside & (d2 <= radius_m * radius_m)
    if mode in ("online", "any"):
        keep |= catalog.online
    if role is not None:
        keep &= (catalog.role_mask & np.uint8(taxonomy.role_mask([role]))) != 0
    chosen = everyone[keep]
    order = np.argsort(distance[chosen], kind="stable")
    chosen = chosen[order]
    return chosen, distance[chosen], inside[chosen]

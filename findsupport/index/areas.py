"""Explicit polygon service areas, tested exactly with shapely 2.

Most providers' service area is a circle (``travel_km`` around their public
location) and stays analytic: one squared distance against one squared
radius.  A few declare a polygon (a coach developer covering a county).
Those are held here, once, as prepared geometries in an array; the index
keeps an integer ``area_id`` per provider pointing into it (``-1`` for a
circle), never the geometry itself.

A point on a polygon's boundary counts as inside (``intersects``, not
``contains``), matching the ``<=`` of the circles.

Whether a coach is inside is public ("travels to you"), so the polygons held
here must be no finer than the public location: the catalogue coarsens every
declared area to whole national grid squares at import, and again on reading
anything older from the store
(:mod:`findsupport.catalog.service_area`), so an index built from a
catalogue answers the same everywhere inside a grid square.
:attr:`ServiceAreas.on_public_grid` says whether that holds for the areas
given (catalogues built by hand, in tests and notebooks, may hold any
polygon).

GEOS prepared geometries build part of their index lazily on first use,
which is not thread-safe (libgeos/geos#825).  Preparation and one warm-up
test per geometry happen at build time, and :class:`ServiceAreas` guards
its predicate with a lock as well, so concurrent searches are safe.

Examples
--------
>>> from shapely import box
>>> areas = ServiceAreas([box(0, 0, 10, 10), box(20, 0, 30, 10)])
>>> areas.covers(np.array([0, 1, 0]), 10.0, 5.0).tolist()
[True, False, True]
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely

from ..catalog.service_area import on_public_grid
from .kernels import areas_at

__all__ = ["ServiceAreas"]


class ServiceAreas:
    """Prepared polygon service areas, addressed by integer ``area_id``.

    Parameters
    ----------
    geometries : sequence of shapely geometries
        Polygons or multipolygons in EPSG:27700 metres.
    """

    def __init__(self, geometries: Sequence[Any]) -> None:
        geoms = np.empty(len(geometries), dtype=object)
        geoms[:] = list(geometries)
        if len(geoms):
            if shapely.is_missing(geoms).any() or shapely.is_empty(geoms).any():
                raise ValueError("a polygon service area is empty or missing")
            shapely.prepare(geoms)
            # Warm-up: force GEOS to build its lazy point-in-area locators now,
            # single-threaded, rather than racing inside concurrent searches.
            shapely.intersects_xy(geoms, 0.0, 0.0)
        self._geoms = geoms
        self._lock = threading.Lock()
        self.bounds: np.ndarray = np.ascontiguousarray(shapely.bounds(geoms) if len(geoms) else np.empty((0, 4)), dtype=np.float64)
        self.bounds.flags.writeable = False
        #: True when every area is a union of whole public grid squares (as every imported area is).
        self.on_public_grid: bool = bool(on_public_grid(geoms).all())

    @classmethod
    def deduplicated(cls, geometries: Sequence[Any]) -> tuple["ServiceAreas", np.ndarray]:
        """Areas of the distinct geometries (equal WKB shared), and each given geometry's area id.

        Coach developers of one county often declare the same polygon; each
        distinct shape is then tested once per search, whoever declared it.
        """
        geoms = np.empty(len(geometries), dtype=object)
        geoms[:] = list(geometries)
        if len(geoms) == 0:
            return cls([]), np.zeros(0, dtype=np.int32)
        if shapely.is_missing(geoms).any():
            raise ValueError("a polygon service area is empty or missing")
        _, first, inverse = np.unique(shapely.to_wkb(geoms), return_index=True, return_inverse=True)
        return cls(geoms[first]), inverse.astype(np.int32).reshape(-1)

    def __len__(self) -> int:
        return len(self._geoms)

    def flags_at(self, x: float, y: float, area_ids: np.ndarray | None = None) -> np.ndarray:
        """Whether the point ``(x, y)`` lies in (or on the edge of) each area: a bool per area id.

        Only ``area_ids`` are tested (the others read False); all areas whose
        box holds the point by default.
        """
        flags = np.zeros(len(self._geoms), dtype=bool)
        if len(flags):
            maybe = areas_at(self.bounds, x, y) if area_ids is None else area_ids  # bounding boxes first, compiled
            if len(maybe):
                with self._lock:
                    flags[maybe] = shapely.intersects_xy(self._geoms[maybe], x, y)
        return flags

    def covers(self, area_ids: np.ndarray, x: float, y: float) -> np.ndarray:
        """Whether the point ``(x, y)`` lies in (or on the edge of) each listed area."""
        area_ids = np.asarray(area_ids, dtype=np.intp)
        if area_ids.size == 0:
            return np.zeros(0, dtype=bool)
        # Bounding boxes first (a few vectorised comparisons), GEOS only for the rest.
        box = self.bounds[area_ids]
        result = (box[:, 0] <= x) & (x <= box[:, 2]) & (box[:, 1] <= y) & (y <= box[:, 3])
        maybe = np.flatnonzero(result)
        if len(maybe):
            with self._lock:
                result[maybe] = shapely.intersects_xy(self._geoms[area_ids[maybe]], x, y)
        return result

    @property
    def geometries(self) -> np.ndarray:
        """The prepared geometries (read them; do not modify)."""
        return self._geoms

"""Explicit service areas: check, repair, coarsen and encode the polygon a provider declares.

A provider's service area is normally the circle of ``travel_km`` around their
public location.  A coach developer who covers a county can declare the
county instead: a polygon or multipolygon, in British National Grid metres
(EPSG:27700).  Invalid polygons (self-intersections, wrong ring order) are
repaired with shapely's ``make_valid`` when that gives a polygonal result and
rejected otherwise.

Whether a coach's point lies in the area is public (``in_service_area``,
"travels to you"), and probing it along rays recovers the outline to the
metre.  So a declared polygon is never stored as drawn: it is **coarsened to
public granularity** here, at import (DESIGN.md, privacy):

1. holes smaller than ``MIN_SERVICE_AREA_KM2`` are filled and parts smaller
   than it are dropped (a 30 m hole or a 50 m² island at a home would
   otherwise outline the home);
2. the area is moved, whole, so that its centroid is on the nearest grid
   point (a shift of at most ``SERVICE_AREA_CELL_M / 2`` each way): where
   within a square's width an area was drawn is forgotten, so an area drawn
   *around* a home (a buffer, a square) comes out the same wherever the home
   is within the square around the nearest grid point, and averaging many
   edge squares (which a fixed grid alone would allow) cannot find the home
   to better than that square;
3. it is snapped to the national grid of ``SERVICE_AREA_CELL_M`` squares
   (aligned on the grid's false origin, so the same for everyone): a square
   belongs to the area when at least ``CELL_MAJORITY_SHARE`` of it is
   covered (the *majority rule*; a square covered exactly half belongs);
4. step 1 again on the squares (a hole of one or two squares is filled, an
   isolated part of one or two squares is dropped).

An area that is already a union of whole grid squares (every vertex within
``GRID_TOLERANCE_M`` of a grid point, every edge along a grid line, as our own
exports are) skips steps 2 and 3: it is at public granularity already, and
so an export imports back unchanged.

What is stored, indexed, exported and tested by every search is that union
of whole grid squares, so whether a point is "in the area" is constant inside
every square and can change only on grid lines, which are where they are
whoever lives nearby.  An area with nothing left is refused with a message
naming the minimum.  Stored areas read back by :func:`from_wkb_many` that are
not unions of grid squares (stored before coarsening existed) are coarsened on
the way out of the store, so no consumer ever sees a finer outline.

The coarsened area is kept even when it no longer holds the provider's
public location (the sector centroid): a service area says where a provider
travels, which need not include where they live (a coach developer may cover
the county next door), and a public location near the edge of the declared
area can only fall into or out of the area's edge squares.  Adding the public
location's square would be safe (it depends on public data only) but would
change a declared area behind the provider's back, so it is not done: the
import keeps the row, and a coach at the public location is then told the
provider does not travel to them, as a coach just outside any area is.

Stored as WKB (EPSG:27700): a PostGIS backend reads the same bytes with
``ST_GeomFromWKB(..., 27700)``.

Examples
--------
>>> from shapely.geometry import Polygon
>>> bowtie = Polygon([(400000, 500000), (410000, 510000), (410000, 500000), (400000, 510000)])
>>> area = clean_service_area(bowtie)        # repaired into two triangles (50 km²), then coarsened
>>> area.geom_type, area.area / 1e6, bool(on_public_grid([area])[0])
('MultiPolygon', 50.0, True)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from .model import MAX_SERVICE_AREA_VERTICES, MIN_SERVICE_AREA_KM2

__all__ = [
    "ServiceAreaError",
    "clean_service_area",
    "coarsen_service_area",
    "on_public_grid",
    "parse_service_area_wkt",
    "to_wkb",
    "from_wkb_many",
    "GB_GRID_BOUNDS",
    "POLYGONAL_TYPES",
    "SERVICE_AREA_CELL_M",
    "CELL_MAJORITY_SHARE",
    "GRID_TOLERANCE_M",
]

log = logging.getLogger(__name__)

#: The British National Grid's extent (metres): every GB postcode lies inside.
GB_GRID_BOUNDS = (0.0, 0.0, 700_000.0, 1_300_000.0)
POLYGONAL_TYPES = ("Polygon", "MultiPolygon")
#: Side (metres) of the national grid squares every explicit service area is snapped to.
#: The public location is a postcode sector's centroid, and urban sectors, the smallest,
#: cover about 1-5 km²: a 2 km square (4 km²) says no more about where someone lives than
#: their sector does, while a county (hundreds of km²) keeps its shape to within a
#: kilometre.  Squares aligned on the grid's origin are the same for everyone, so where
#: an area's edge can fall depends on no one's home.  The 10 km² minimum is 2.5 squares.
SERVICE_AREA_CELL_M = 2_000.0
#: A grid square belongs to a coarsened area when at least this share of it is covered
#: (the majority rule): a square is in or out by what mostly covers it, so a sliver, a
#: spike or a notch drawn at a home moves nothing, and the outline stays as large as drawn
#: on average (a square half covered, as along a diagonal, belongs).
CELL_MAJORITY_SHARE = 0.5
#: An area whose every vertex is this close to a grid point (and whose edges follow grid
#: lines) is a union of grid squares already: a WGS84 round trip (a GeoJSON export
#: imported again) moves a vertex by well under a millimetre, and a metre is nothing
#: beside a 2 km square.
GRID_TOLERANCE_M = 1.0
#: Shares this close to the majority threshold count as on it: the whole-area shift puts
#: the edges of a regular shape exactly through the middle of squares, and float noise
#: (a WKT or WGS84 round trip) must not decide whether those squares belong.
_SHARE_NOISE = 1e-6
_SQUARE_METRES_PER_KM2 = 1_000_000.0
_MIN_SERVICE_AREA_M2 = MIN_SERVICE_AREA_KM2 * _SQUARE_METRES_PER_KM2


class ServiceAreaError(ValueError):
    """A geometry that cannot be a service area; the message says why, for the import report."""


def _polygonal_part(geometry: BaseGeometry) -> BaseGeometry | None:
    """The polygons of a geometry (collections keep only their polygonal members)."""
    if geometry.geom_type in POLYGONAL_TYPES:
        return geometry
    if geometry.geom_type == "GeometryCollection":
        parts = [g for g in shapely.get_parts(geometry) if g.geom_type in POLYGONAL_TYPES and not g.is_empty]
        if parts:
            return shapely.union_all(parts)
    return None


def clean_service_area(geometry: BaseGeometry) -> BaseGeometry:
    """A valid 2-D polygon or multipolygon in EPSG:27700, coarsened to the public grid, or :class:`ServiceAreaError`.

    Parameters
    ----------
    geometry : shapely geometry
        In British National Grid metres, as the provider drew it.

    Returns
    -------
    shapely Polygon or MultiPolygon
        A union of whole ``SERVICE_AREA_CELL_M`` grid squares (see
        :func:`coarsen_service_area`): what is stored and published.

    Raises
    ------
    ServiceAreaError
        Not polygonal, empty, unrepairable, outside Great Britain, too small
        (under ``MIN_SERVICE_AREA_KM2``, as drawn or once coarsened) or too
        detailed (over ``MAX_SERVICE_AREA_VERTICES``).
    """
    kind = geometry.geom_type
    if kind not in (*POLYGONAL_TYPES, "GeometryCollection"):
        raise ServiceAreaError(
            f"a {kind} cannot be a service area; use a Polygon or MultiPolygon "
            "(or a Point for the provider's base)"
        )
    if geometry.is_empty:
        raise ServiceAreaError(f"the {kind} is empty")
    if shapely.has_z(geometry):
        geometry = shapely.force_2d(geometry)
    if not np.isfinite(shapely.get_coordinates(geometry)).all():
        raise ServiceAreaError("the polygon has coordinates that are not finite numbers")
    if not geometry.is_valid:
        reason = shapely.is_valid_reason(geometry)
        repaired = _polygonal_part(shapely.make_valid(geometry))
        if repaired is None or repaired.is_empty or repaired.area == 0:
            raise ServiceAreaError(f"the polygon is invalid ({reason}) and cannot be repaired into an area")
        geometry = repaired
    else:
        polygonal = _polygonal_part(geometry)
        if polygonal is None:
            raise ServiceAreaError("the geometry collection holds no polygon")
        geometry = polygonal
    min_x, min_y, max_x, max_y = geometry.bounds
    gb_min_x, gb_min_y, gb_max_x, gb_max_y = GB_GRID_BOUNDS
    if min_x < gb_min_x or min_y < gb_min_y or max_x > gb_max_x or max_y > gb_max_y:
        raise ServiceAreaError(
            f"the polygon (bounds {min_x:.0f}, {min_y:.0f}, {max_x:.0f}, {max_y:.0f}) is not inside "
            "Great Britain's National Grid (0-700000 east, 0-1300000 north metres)"
        )
    area_km2 = geometry.area / _SQUARE_METRES_PER_KM2
    if area_km2 < MIN_SERVICE_AREA_KM2:
        raise ServiceAreaError(
            f"the service area covers {area_km2:.2f} km², less than the {MIN_SERVICE_AREA_KM2:g} km² minimum; "
            "a small area would reveal more than the postcode sector, so use travel_km for a short reach"
        )
    vertices = shapely.get_num_coordinates(geometry)
    if vertices > MAX_SERVICE_AREA_VERTICES:
        raise ServiceAreaError(
            f"the polygon has {vertices:,} vertices (at most {MAX_SERVICE_AREA_VERTICES:,}); "
            "simplify it in your GIS first"
        )
    return coarsen_service_area(geometry)


def _fill_holes_and_drop_parts(geometry: BaseGeometry) -> BaseGeometry | None:
    """Holes under the minimum filled, then parts under the minimum dropped (``None`` when none is left)."""
    kept = []
    for part in shapely.get_parts(geometry):
        rings = shapely.get_rings(part)
        shell, holes = rings[0], rings[1:]
        if len(holes):
            holes = holes[shapely.area(shapely.polygons(holes)) >= _MIN_SERVICE_AREA_M2]
        filled = shapely.polygons(shell, holes=holes if len(holes) else None)
        if filled.area >= _MIN_SERVICE_AREA_M2:
            kept.append(filled)
    if not kept:
        return None
    # A filled lake may hold another part (an island): union, not a plain collection.
    return kept[0] if len(kept) == 1 else shapely.union_all(kept)


def _clip(geometry: BaseGeometry, x: float, y: float, cell: float) -> BaseGeometry:
    """The part of ``geometry`` in one grid square.

    GEOS's fast rectangle clip can build a degenerate ring (three points) where
    a sliver of the outline just touches a square's edge and then raises; the
    general intersection is exact there, only slower, and such squares are rare.
    """
    try:
        return shapely.clip_by_rect(geometry, x, y, x + cell, y + cell)
    except shapely.errors.GEOSException:
        return shapely.intersection(geometry, shapely.box(x, y, x + cell, y + cell))


def _grid_squares(geometry: BaseGeometry) -> np.ndarray:
    """The national grid squares that at least ``CELL_MAJORITY_SHARE`` of is covered by ``geometry``."""
    cell = SERVICE_AREA_CELL_M
    min_x, min_y, max_x, max_y = geometry.bounds
    columns = np.arange(math.floor(min_x / cell), math.ceil(max_x / cell), dtype=np.float64) * cell
    rows = np.arange(math.floor(min_y / cell), math.ceil(max_y / cell), dtype=np.float64) * cell
    x0, y0 = (a.ravel() for a in np.meshgrid(columns, rows))
    squares = shapely.box(x0, y0, x0 + cell, y0 + cell)
    shapely.prepare(geometry)
    # Predicates first (prepared, fast); the covered share only for squares the edge crosses.
    share = shapely.covers(geometry, squares).astype(np.float64)
    edge = np.flatnonzero(shapely.intersects(geometry, squares) & (share == 0.0))
    if len(edge):
        # clip_by_rect takes one rectangle a call, but is ten times faster than a
        # vectorised intersection with a county outline; only edge squares get here.
        clipped = [_clip(geometry, x, y, cell) for x, y in zip(x0[edge], y0[edge])]
        share[edge] = shapely.area(clipped) / (cell * cell)
    return squares[share >= CELL_MAJORITY_SHARE - _SHARE_NOISE]


def coarsen_service_area(geometry: BaseGeometry) -> BaseGeometry:
    """A valid polygonal area at public granularity: whole national grid squares (see the module docstring).

    Parameters
    ----------
    geometry : shapely Polygon or MultiPolygon
        Valid, 2-D, in British National Grid metres.

    Returns
    -------
    shapely Polygon or MultiPolygon
        A union of ``SERVICE_AREA_CELL_M`` squares aligned on the grid's
        origin, every part and every hole at least ``MIN_SERVICE_AREA_KM2``,
        normalised (equal areas have equal WKB).

    Raises
    ------
    ServiceAreaError
        Nothing of at least the minimum is left.

    Examples
    --------
    >>> from shapely import box
    >>> hole = box(421_000, 561_000, 421_030, 561_030)                 # a 30 m hole at someone's home
    >>> area = coarsen_service_area(box(418_100, 558_100, 422_100, 562_100).difference(hole))
    >>> area.bounds, len(area.interiors)                                # whole 2 km squares, no hole
    ((418000.0, 558000.0, 422000.0, 562000.0), 0)
    """
    cell_km = SERVICE_AREA_CELL_M / 1000.0
    drawn = _fill_holes_and_drop_parts(geometry)
    if drawn is None:
        largest = float(shapely.area(shapely.get_parts(geometry)).max()) / _SQUARE_METRES_PER_KM2
        raise ServiceAreaError(
            f"every part of the service area is smaller than the {MIN_SERVICE_AREA_KM2:g} km² minimum "
            f"(the largest covers {largest:.2f} km²); small parts would reveal more than the postcode sector"
        )
    if on_public_grid([drawn], GRID_TOLERANCE_M)[0]:
        coarse = shapely.set_precision(drawn, SERVICE_AREA_CELL_M)  # exactly onto the grid points it is at
    else:
        squares = _grid_squares(_centred_on_the_grid(drawn))
        coarse = shapely.coverage_union_all(squares) if len(squares) else None
    coarse = _fill_holes_and_drop_parts(coarse) if coarse is not None and not coarse.is_empty else None
    if coarse is None:
        raise ServiceAreaError(
            f"snapped to the {cell_km:g} km national grid (a square counts when at least half of it is "
            f"covered), the service area has no part of at least the {MIN_SERVICE_AREA_KM2:g} km² minimum; "
            "draw it to cover more whole squares, or use travel_km for a short reach"
        )
    # Collinear vertices along square edges go (exactly: tolerance 0); normal form for equal WKB.
    return shapely.normalize(shapely.simplify(coarse, 0.0))


def _centred_on_the_grid(geometry: BaseGeometry) -> BaseGeometry:
    """The geometry moved, whole, so its centroid is on the nearest grid point (a corner of four squares)."""
    cell = SERVICE_AREA_CELL_M
    centroid = np.asarray(geometry.centroid.coords[0])
    shift = np.round(centroid / cell) * cell - centroid
    return shapely.transform(geometry, lambda coords: coords + shift)


def on_public_grid(geometries: Sequence[Any], tolerance_m: float = 0.0) -> np.ndarray:
    """Whether each geometry is a union of whole national grid squares: every vertex on a grid point, every edge along a grid line.

    Vectorised over all geometries; ``None`` counts as on the grid (it has no
    outline).  With ``tolerance_m``, a vertex that close to a grid point
    counts as on it.

    Examples
    --------
    >>> from shapely import box, Polygon
    >>> on_public_grid([box(0, 0, 4000, 2000), box(0, 0, 4000, 2500), None]).tolist()
    [True, False, True]
    >>> on_public_grid([Polygon([(0, 0), (4000, 0), (0, 4000)])]).tolist()     # corners on the grid, slanted edge
    [False]
    """
    cell = SERVICE_AREA_CELL_M
    geoms = np.empty(len(geometries), dtype=object)
    geoms[:] = list(geometries)
    rings, owner = shapely.get_rings(geoms, return_index=True)
    coords, ring_of = shapely.get_coordinates(rings, return_index=True)
    nearest = np.round(coords / cell) * cell
    off_grid = np.any(np.abs(coords - nearest) > tolerance_m, axis=1)
    step = np.diff(nearest, axis=0)
    slanted = (ring_of[1:] == ring_of[:-1]) & (step[:, 0] != 0.0) & (step[:, 1] != 0.0)
    bad_rings = np.zeros(len(rings), dtype=bool)
    bad_rings[ring_of[off_grid]] = True
    bad_rings[ring_of[1:][slanted]] = True
    bad = np.zeros(len(geoms), dtype=bool)
    bad[owner[bad_rings]] = True
    return ~bad


def parse_service_area_wkt(text: str) -> BaseGeometry:
    """Parse the ``service_area`` CSV column (WKT in EPSG:27700), clean and coarsen it."""
    try:
        geometry = shapely.from_wkt(text)
    except shapely.errors.ShapelyError as exc:
        shown = text if len(text) <= 40 else text[:40] + "…"
        raise ServiceAreaError(f"{shown!r} is not WKT ({exc}); expected e.g. POLYGON ((x y, ...))") from None
    return clean_service_area(geometry)


def to_wkb(geometry: BaseGeometry | None) -> bytes | None:
    """WKB bytes for the store (``None`` stays ``None``)."""
    return None if geometry is None else shapely.to_wkb(geometry)


def from_wkb_many(blobs: Sequence[bytes | None]) -> list[Any]:
    """Geometries from stored WKB, vectorised; ``None`` where there is none.

    Every area comes back as a union of public grid squares: one stored before
    imports coarsened (a finer outline) is coarsened here, so no reader of the
    store sees more; one with nothing left once coarsened is dropped with a
    warning in the log (the provider falls back to their ``travel_km`` circle
    until their row is imported again, when the import reports why).
    """
    out: list[Any] = [None] * len(blobs)
    present = [i for i, blob in enumerate(blobs) if blob is not None]
    if present:
        geometries = shapely.from_wkb([blobs[i] for i in present])
        fine = np.flatnonzero(~on_public_grid(geometries))
        for k in fine:
            try:
                geometries[k] = clean_service_area(geometries[k])
            except ServiceAreaError as exc:
                log.warning("a stored service area was dropped: %s", exc)
                geometries[k] = None
        for i, geometry in zip(present, geometries):
            out[i] = geometry
    return out

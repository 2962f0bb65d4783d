"""Explicit service areas: check, repair and encode the polygon a provider declares.

A provider's service area is normally the circle of ``travel_km`` around their
public location.  A coach developer who covers a county can declare the
county instead: a polygon or multipolygon, in British National Grid metres
(EPSG:27700).  Invalid polygons (self-intersections, wrong ring order) are
repaired with shapely's ``make_valid`` when that gives a polygonal result and
rejected otherwise; tiny polygons are rejected because they would locate a
home more precisely than the public sector does.

Stored as WKB (EPSG:27700): a PostGIS backend reads the same bytes with
``ST_GeomFromWKB(..., 27700)``.

Examples
--------
>>> from shapely.geometry import Polygon
>>> bowtie = Polygon([(400000, 500000), (410000, 510000), (410000, 500000), (400000, 510000)])
>>> clean_service_area(bowtie).geom_type     # repaired into two triangles
'MultiPolygon'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from .model import MAX_SERVICE_AREA_VERTICES, MIN_SERVICE_AREA_KM2

__all__ = [
    "ServiceAreaError",
    "clean_service_area",
    "parse_service_area_wkt",
    "to_wkb",
    "from_wkb_many",
    "GB_GRID_BOUNDS",
    "POLYGONAL_TYPES",
]

#: The British National Grid's extent (metres): every GB postcode lies inside.
GB_GRID_BOUNDS = (0.0, 0.0, 700_000.0, 1_300_000.0)
POLYGONAL_TYPES = ("Polygon", "MultiPolygon")
_SQUARE_METRES_PER_KM2 = 1_000_000.0


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
    """A valid, 2-D polygon or multipolygon in EPSG:27700, or :class:`ServiceAreaError`.

    Parameters
    ----------
    geometry : shapely geometry
        In British National Grid metres.

    Raises
    ------
    ServiceAreaError
        Not polygonal, empty, unrepairable, outside Great Britain, too small
        (under ``MIN_SERVICE_AREA_KM2``) or too detailed (over
        ``MAX_SERVICE_AREA_VERTICES``).
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
    return geometry


def parse_service_area_wkt(text: str) -> BaseGeometry:
    """Parse the ``service_area`` CSV column (WKT in EPSG:27700) and clean it."""
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
    """Geometries from stored WKB, vectorised; ``None`` where there is none."""
    out: list[Any] = [None] * len(blobs)
    present = [i for i, blob in enumerate(blobs) if blob is not None]
    if present:
        geometries = shapely.from_wkb([blobs[i] for i in present])
        for i, geometry in zip(present, geometries):
            out[i] = geometry
    return out

"""Explicit service areas: accepted, repaired or rejected, and stored as WKB without loss."""

from __future__ import annotations

import pytest
import shapely
from shapely.geometry import GeometryCollection, LineString, MultiPolygon, Point, Polygon

from findsupport.catalog.service_area import ServiceAreaError, clean_service_area, from_wkb_many, to_wkb

E, N = 420_000.0, 560_000.0  # near Newcastle
SQUARE = Polygon([(E, N), (E + 20_000, N), (E + 20_000, N + 20_000), (E, N + 20_000)])
BOWTIE = Polygon([(E, N), (E + 20_000, N + 20_000), (E + 20_000, N), (E, N + 20_000)])
SPIKE = Polygon([(E, N), (E + 20_000, N), (E + 20_000, N + 20_000), (E + 10_000, N - 5_000), (E, N + 20_000)])


@pytest.mark.parametrize(
    ("geometry", "kind", "area_km2"),
    [
        (SQUARE, "Polygon", 400.0),
        (MultiPolygon([SQUARE, shapely.affinity.translate(SQUARE, 50_000)]), "MultiPolygon", 800.0),
        (BOWTIE, "MultiPolygon", 200.0),  # self-intersection repaired into two triangles
        (shapely.force_3d(SQUARE), "Polygon", 400.0),  # Z dropped
        (GeometryCollection([SQUARE, LineString([(E, N), (E + 1, N + 1)])]), "Polygon", 400.0),
    ],
)
def test_polygonal_areas_are_kept_or_repaired(geometry, kind, area_km2):
    cleaned = clean_service_area(geometry)
    assert cleaned.is_valid and not shapely.has_z(cleaned)
    assert cleaned.geom_type == kind
    assert cleaned.area / 1e6 == pytest.approx(area_km2)


def test_a_spiky_ring_is_repaired_to_its_area():
    cleaned = clean_service_area(SPIKE)
    assert cleaned.is_valid and cleaned.area > 10e6


@pytest.mark.parametrize(
    ("geometry", "fragment"),
    [
        (Point(E, N), "a Point cannot be a service area"),
        (LineString([(E, N), (E + 10_000, N)]), "a LineString cannot be a service area"),
        (Polygon(), "is empty"),
        (Polygon([(E, N), (E + 10_000, N), (E + 20_000, N), (E, N)]), "cannot be repaired into an area"),
        (GeometryCollection([LineString([(E, N), (E + 1, N + 1)])]), "holds no polygon"),
        (Polygon([(E, N), (E + 1_000, N), (E + 1_000, N + 1_000), (E, N + 1_000)]), "1.00 km², less than the 10 km² minimum"),
        (shapely.affinity.translate(SQUARE, 1_000_000), "is not inside Great Britain"),
        (Polygon([(-1.7, 54.9), (-1.5, 54.9), (-1.5, 55.0), (-1.7, 55.0)]), "is not inside Great Britain"),
        (Point(E, N).buffer(30_000, quad_segs=6000), "vertices (at most 20,000)"),
    ],
)
def test_unusable_geometries_are_rejected_with_a_reason(geometry, fragment):
    with pytest.raises(ServiceAreaError) as caught:
        clean_service_area(geometry)
    assert fragment in str(caught.value)


def test_wkb_round_trip_is_exact():
    geometries = [clean_service_area(BOWTIE), None, SQUARE]
    restored = from_wkb_many([to_wkb(g) for g in geometries])
    assert restored[1] is None
    assert restored[0].equals_exact(geometries[0], 0) and restored[2].equals_exact(SQUARE, 0)

"""Explicit service areas: accepted, repaired, coarsened to the public grid or rejected, and stored as WKB without loss."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import shapely
from hypothesis import example, given, settings
from hypothesis import strategies as st
from shapely.geometry import GeometryCollection, LineString, MultiPolygon, Point, Polygon

from findsupport.catalog.model import MIN_SERVICE_AREA_KM2
from findsupport.catalog.service_area import (
    SERVICE_AREA_CELL_M,
    ServiceAreaError,
    clean_service_area,
    coarsen_service_area,
    from_wkb_many,
    on_public_grid,
    to_wkb,
)

E, N = 420_000.0, 560_000.0  # near Newcastle
SQUARE = Polygon([(E, N), (E + 20_000, N), (E + 20_000, N + 20_000), (E, N + 20_000)])
BOWTIE = Polygon([(E, N), (E + 20_000, N + 20_000), (E + 20_000, N), (E, N + 20_000)])
SPIKE = Polygon([(E, N), (E + 20_000, N), (E + 20_000, N + 20_000), (E + 10_000, N - 5_000), (E, N + 20_000)])


@pytest.mark.parametrize(
    ("geometry", "kind", "area_km2"),
    [
        (SQUARE, "Polygon", 400.0),
        (MultiPolygon([SQUARE, shapely.affinity.translate(SQUARE, 50_000)]), "MultiPolygon", 800.0),
        (BOWTIE, "MultiPolygon", 200.0),  # self-intersection repaired into two triangles (then coarsened)
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


# --- coarsening to public granularity (issue 10) --------------------------------------------
HOME = (421_337.0, 561_713.0)  # someone's home, off the grid
CELL = SERVICE_AREA_CELL_M


def _square_around(e: float, n: float, half: float) -> Polygon:
    return shapely.box(e - half, n - half, e + half, n + half)


def _is_public(area) -> bool:
    """A union of whole grid squares, every part and every hole at least the minimum."""
    minimum = MIN_SERVICE_AREA_KM2 * 1e6
    parts = shapely.get_parts(area)
    holes = [shapely.Polygon(ring) for part in parts for ring in part.interiors]
    return (
        bool(on_public_grid([area])[0])
        and area.is_valid
        and bool((shapely.area(parts) >= minimum).all())
        and all(hole.area >= minimum for hole in holes)
    )


def test_a_30m_hole_at_the_home_is_filled():
    """The audit's case: a 16 km² square with a 30 m hole at the home was stored and readable."""
    square = _square_around(*HOME, 2_000)
    holed = square.difference(_square_around(*HOME, 15))
    area = clean_service_area(holed)
    assert _is_public(area) and not any(len(p.interiors) for p in shapely.get_parts(area))
    assert area.equals_exact(clean_service_area(square), 0.0)
    assert shapely.intersects_xy(area, *HOME)


def test_a_50m2_part_at_the_home_is_dropped():
    """The audit's other case: a county plus a 50 m² part at the home."""
    county = shapely.box(HOME[0] + 3_000, HOME[1] - 6_000, HOME[0] + 8_000, HOME[1] + 6_000)
    crumb = shapely.box(HOME[0] - 5, HOME[1] - 5, HOME[0] + 5, HOME[1])
    area = clean_service_area(MultiPolygon([county, crumb]))
    assert _is_public(area) and area.geom_type == "Polygon"
    assert area.equals_exact(clean_service_area(county), 0.0)
    assert area.distance(Point(HOME)) > 1_000


def test_holes_and_parts_of_at_least_the_minimum_are_kept():
    ring = _square_around(400_000, 500_000, 10_000).difference(_square_around(400_000, 500_000, 3_000))  # 36 km² hole
    island = _square_around(430_000, 500_000, 2_000)  # 16 km², far away
    area = clean_service_area(MultiPolygon([ring, island]))
    assert _is_public(area) and area.geom_type == "MultiPolygon"
    assert len(shapely.get_parts(area)) == 2 and sum(len(p.interiors) for p in shapely.get_parts(area)) == 1
    assert area.area == pytest.approx(400e6 - 36e6 + 16e6)


@pytest.mark.parametrize(
    ("geometry", "fragment"),
    [
        # 3 parts of 4 km² each: 12 km² in all, but no part reaches the minimum.
        (
            MultiPolygon([_square_around(400_000 + 10_000 * k, 500_000, 1_000) for k in range(3)]),
            "every part of the service area is smaller than the 10 km² minimum (the largest covers 4.00 km²)",
        ),
        # A strip 300 m wide and 40 km long (12 km²): no grid square is half covered.
        (shapely.box(400_100, 500_100, 440_100, 500_400), "snapped to the 2 km national grid"),
    ],
)
def test_areas_with_nothing_public_left_are_refused_naming_the_minimum(geometry, fragment):
    with pytest.raises(ServiceAreaError) as caught:
        clean_service_area(geometry)
    assert fragment in str(caught.value) and "10 km² minimum" in str(caught.value)


def test_the_majority_rule_takes_half_covered_squares():
    # Centroid on a grid point, edges through the middle of squares: every edge square is half covered.
    area = coarsen_service_area(_square_around(400_000, 500_000, 3_000))  # 6 km wide
    assert area.bounds == (396_000.0, 496_000.0, 404_000.0, 504_000.0)
    # Edges a quarter of a square from a grid line: the quarter-covered squares are out.
    area = coarsen_service_area(_square_around(400_000, 500_000, 2_500))  # 5 km wide
    assert area.bounds == (398_000.0, 498_000.0, 402_000.0, 502_000.0)


def test_areas_already_on_the_grid_are_kept_exactly_and_coarsening_is_idempotent():
    on_grid = shapely.union(shapely.box(400_000, 500_000, 410_000, 506_000), shapely.box(410_000, 500_000, 414_000, 502_000))
    kept = clean_service_area(on_grid)
    assert kept.equals(on_grid) and on_public_grid([kept])[0]
    # A millimetre off (a WGS84 round trip) is still on the grid, and snapped back exactly.
    nudged = shapely.transform(on_grid, lambda xy: xy + 0.0007)
    assert clean_service_area(nudged).equals_exact(kept, 0.0)
    once = clean_service_area(Point(*HOME).buffer(5_000))
    assert coarsen_service_area(once).equals_exact(once, 0.0)


@settings(max_examples=60, deadline=None)
@given(
    e=st.floats(200_000, 500_000),
    n=st.floats(200_000, 900_000),
    radius=st.floats(2_000, 12_000),
    sides=st.integers(3, 40),
    squash=st.floats(0.3, 1.0),
)
@example(e=200_000.0, n=200_000.0, radius=6_000.0, sides=3, squash=0.5)  # a thin triangle: squares 4 km off a tip
def test_every_coarsened_area_is_a_union_of_whole_grid_squares(e, n, radius, sides, squash):
    angles = np.linspace(0, 2 * np.pi, sides, endpoint=False)
    drawn = Polygon(np.c_[e + radius * np.cos(angles), n + squash * radius * np.sin(angles)])
    try:
        area = clean_service_area(drawn)
    except ServiceAreaError as exc:
        assert "10 km² minimum" in str(exc)
        return
    assert _is_public(area)
    # Membership is decided square by square: a square's middle answers for all of it.
    x0, y0, x1, y1 = area.bounds
    xs, ys = np.meshgrid(np.arange(x0, x1, CELL), np.arange(y0, y1, CELL))
    squares = shapely.box(xs.ravel(), ys.ravel(), xs.ravel() + CELL, ys.ravel() + CELL)
    inside = shapely.contains_xy(area, xs.ravel() + CELL / 2, ys.ravel() + CELL / 2)
    assert shapely.covers(area, squares[inside]).all()
    assert not shapely.intersects(area, shapely.buffer(squares[~inside], -1.0)).any()
    # Shifted by at most half a square each way, then snapped: every kept square lies within the
    # shift (half a square's diagonal) plus one square's diagonal of what was drawn.  (The other
    # way round is not bounded: a sliver thinner than half a square is dropped, as it should be.)
    corners = shapely.points(shapely.get_coordinates(area))
    assert shapely.distance(drawn, corners).max() <= 1.5 * np.sqrt(2) * CELL + 1e-6


def test_on_public_grid_finds_finer_outlines():
    assert on_public_grid([shapely.box(0, 0, 4_000, 2_000), None]).tolist() == [True, True]
    assert not on_public_grid([shapely.box(0, 0, 4_000, 2_001)])[0]
    assert not on_public_grid([Polygon([(0, 0), (4_000, 0), (0, 4_000)])])[0]  # grid corners, slanted edge
    holed = shapely.box(0, 0, 20_000, 20_000).difference(shapely.box(8_000, 8_000, 8_030, 8_030))
    assert not on_public_grid([holed])[0]


def test_areas_stored_before_coarsening_are_coarsened_when_read(caplog):
    """The store round trip: no reader ever sees an outline finer than the grid, whatever was stored."""
    fine = _square_around(*HOME, 2_000).difference(_square_around(*HOME, 15))
    hopeless = _square_around(*HOME, 100)  # 0.04 km²: nothing to keep
    with caplog.at_level(logging.WARNING, logger="findsupport.catalog.service_area"):
        restored = from_wkb_many([to_wkb(fine), to_wkb(hopeless), None])
    assert restored[0].equals_exact(clean_service_area(fine), 0.0) and _is_public(restored[0])
    assert restored[1] is None and "a stored service area was dropped" in caplog.text
    assert restored[2] is None


def test_a_coarsened_area_that_no_longer_holds_the_public_location_is_kept(import_csv, store, directory):
    """The documented choice: the area says where they travel, which need not include where they are shown."""
    from .conftest import good_row

    public = directory.sector_location("NE21 4")
    # Areas whose east edge is just east of the public location; find one the grid cuts it off.
    shapes = [(width, reach) for width in np.arange(4_000.0, 9_000.0, 250.0) for reach in np.arange(50.0, CELL, 50.0)]
    for width, reach in shapes:
        east = public.easting + reach
        declared = shapely.box(east - width, public.northing - 3_000, east, public.northing + 3_000)
        coarse = clean_service_area(declared)
        if not shapely.intersects_xy(coarse, public.easting, public.northing):
            break
    else:  # pragma: no cover - the grid always cuts some such edge off
        pytest.fail("no declared edge near the public location was coarsened away")
    assert shapely.intersects_xy(declared, public.easting, public.northing)
    report = import_csv([good_row(postcode="NE21 4LZ", service_area=shapely.to_wkt(declared))])
    assert report.ok, report.rejections
    provider = store.public_catalog().get("p1")
    assert (provider.easting, provider.northing) == (public.easting, public.northing)
    assert provider.service_area.equals_exact(coarse, 0.0)

"""District outlines from Code-Point Open: every postcode in its own district's outline, no overlaps.

The fast tests build the outlines of three postcode areas (NE, DH, SR: about
50,000 postcodes, two seconds); the ``slow`` ones check the whole of Great
Britain on the cached build (built once per machine into the shared test
cache, about a minute of CPU the first time).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely

from findsupport.errors import InvalidInput
from findsupport.geo import PostcodeDirectory
from findsupport.geo.outlines import (
    COINCIDENT_OFFSET_M,
    DistrictOutlines,
    area_of_districts,
    district_of_keys,
)

AREAS = ("NE", "DH", "SR")
#: Postcodes sharing their exact coordinate with a majority of another district are the
#: documented exceptions (module docstring, step 1): 0.35 % of Code-Point Open.
MAX_EXCEPTION_SHARE = 0.005


def postcodes_in(directory: PostcodeDirectory, areas: tuple[str, ...] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    arrays = directory.located_arrays()
    districts = district_of_keys(arrays["keys"])
    keep = np.isin(area_of_districts(districts), areas) if areas else np.ones(len(districts), bool)
    return districts[keep], arrays["easting"][keep].astype(float), arrays["northing"][keep].astype(float)


def outside_own_outline(outlines: DistrictOutlines, districts, easting, northing, *, simplified: bool = False) -> np.ndarray:
    positions = outlines.positions(districts)
    assert (positions >= 0).all()
    geometries = outlines.simplified if simplified else outlines.geometries
    shapely.prepare(geometries)
    return ~shapely.contains_xy(geometries[positions], easting, northing)


def overlapping_pairs(geometries: np.ndarray) -> tuple[int, float]:
    """Pairs whose interiors meet, and the largest intersection area (m²), via an STRtree."""
    left, right = shapely.STRtree(geometries).query(geometries)
    pairs = left < right
    left, right = left[pairs], right[pairs]
    interiors_meet = shapely.relate_pattern(geometries[left], geometries[right], "T********")
    areas = shapely.area(shapely.intersection(geometries[left[interiors_meet]], geometries[right[interiors_meet]]))
    return int(interiors_meet.sum()), float(areas.max()) if len(areas) else 0.0


@pytest.fixture(scope="module")
def region(directory: PostcodeDirectory) -> DistrictOutlines:
    return DistrictOutlines.build(directory, areas=AREAS)


@pytest.mark.parametrize(("districts", "areas"), [(["NE21", "B1", "E1W", "W1A", "SW1A", "EC4P"], ["NE", "B", "E", "W", "SW", "EC"])])
def test_area_of_districts(districts, areas):
    assert area_of_districts(districts).tolist() == areas


def test_every_district_of_the_region_has_one_valid_outline(region, directory):
    districts, _, _ = postcodes_in(directory, AREAS)
    assert region.districts.tolist() == sorted(set(districts.tolist()))
    assert not shapely.is_empty(region.geometries).any()
    assert shapely.is_valid(region.geometries).all() and shapely.is_valid(region.simplified).all()
    assert {shapely.get_type_id(g) for g in region.geometries} == {6}  # MultiPolygon, one layer type


def test_every_postcode_lies_in_its_own_districts_outline(region, directory):
    districts, easting, northing = postcodes_in(directory, AREAS)
    outside = outside_own_outline(region, districts, easting, northing)
    # Exactly the documented exceptions, and few of them.
    assert outside.sum() == region.report.coincident_postcodes
    assert outside.sum() <= MAX_EXCEPTION_SHARE * len(districts)
    # ...each of which shares its grid reference with a postcode of the district it fell in.
    key = easting * 2.0**21 + northing
    for i in np.flatnonzero(outside)[:20]:
        others = np.flatnonzero((key == key[i]) & (districts != districts[i]))
        assert len(others), districts[i]


def test_outlines_do_not_overlap(region):
    for geometries in (region.geometries, region.simplified):
        count, largest = overlapping_pairs(geometries)
        assert count == 0 and largest == 0.0


def test_non_geographic_districts_still_get_an_outline(region):
    # NE98 (a PO-box district at shared addresses) has no coordinate of its own; its postcodes are
    # offset by COINCIDENT_OFFSET_M, so it gets small slivers, not nothing.
    assert "NE98" in region and region.outline("NE98").area > 0
    assert COINCIDENT_OFFSET_M < 1.0


def test_coast_and_holes_are_where_nobody_lives(region, directory):
    union = shapely.coverage_union_all(region.geometries)
    # The North Sea 10 km off Tynemouth is not land; Newcastle's Grey Street is.
    assert not shapely.contains_xy(union, 447_000.0, 569_000.0)
    assert shapely.contains_xy(union, 425_000.0, 564_200.0)
    # The coast lies within about half of COAST_GAP_M plus the sea grid of the last postcodes.
    _, easting, northing = postcodes_in(directory, AREAS)
    assert shapely.contains_xy(union, easting, northing).mean() > 0.99


def test_save_and_load_round_trip(region, tmp_path: Path):
    path = tmp_path / "outlines.npz"
    region.save(path)
    again = DistrictOutlines._read(path, region.version)
    assert again.districts.tolist() == region.districts.tolist()
    assert shapely.equals_exact(again.geometries, region.geometries, tolerance=0).all()
    assert again.report == region.report


def test_load_builds_once_and_caches_by_directory_version(directory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    built = []
    small = DistrictOutlines.build(directory, areas=("SR",))

    def fake_build(cls, directory, *, areas=None, progress=None):
        built.append(1)
        return small

    monkeypatch.setattr(DistrictOutlines, "build", classmethod(fake_build))
    first = DistrictOutlines.load(tmp_path, directory)
    second = DistrictOutlines.load(tmp_path, directory)
    assert len(built) == 1 and second.districts.tolist() == first.districts.tolist()
    assert list(tmp_path.glob("outlines-*.npz")) == [DistrictOutlines.cache_path(tmp_path, directory)]
    assert DistrictOutlines.cache_path(tmp_path, directory).name == f"outlines-{directory.version}-o1.npz"


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson"])
def test_export(region, tmp_path: Path, suffix: str):
    import geopandas as gpd

    path = region.write(tmp_path / f"districts{suffix}")
    frame = gpd.read_file(path)
    assert sorted(frame["district"]) == region.districts.tolist()
    minx, miny, maxx, maxy = frame.total_bounds
    if suffix == ".geojson":  # WGS84 longitude/latitude, x first
        assert -3.0 < minx < maxx < -1.0 and 54.0 < miny < maxy < 56.0
        assert json.loads(path.read_text())["type"] == "FeatureCollection"
    else:
        assert frame.crs.to_epsg() == 27700 and 300_000 < minx < maxx < 500_000


def test_unknown_district_and_bad_suffix(region, tmp_path: Path):
    with pytest.raises(InvalidInput, match="ZZ9"):
        region.outline("ZZ9")
    with pytest.raises(InvalidInput, match=r"\.gpkg, \.geojson"):
        region.write(tmp_path / "districts.shp")


@pytest.mark.slow
def test_the_whole_of_great_britain(directory, cache_dir: Path):
    outlines = DistrictOutlines.load(cache_dir, directory)
    districts, easting, northing = postcodes_in(directory, None)
    assert len(outlines) == len(set(districts.tolist()))
    assert not shapely.is_empty(outlines.geometries).any()
    assert shapely.is_valid(outlines.geometries).all()
    outside = outside_own_outline(outlines, districts, easting, northing)
    assert outside.sum() == outlines.report.coincident_postcodes <= MAX_EXCEPTION_SHARE * len(districts)
    count, largest = overlapping_pairs(outlines.geometries)
    assert count == 0 and largest == 0.0

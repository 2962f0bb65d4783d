"""The postcode directory on real Code-Point Open data."""

from __future__ import annotations

import csv
import gzip
import math
from pathlib import Path

import numpy as np
import pytest

from findsupport.errors import (
    InvalidInput,
    InvalidPostcode,
    LocationOutsideCoverage,
    PostcodeNotCovered,
    PostcodeNotFound,
)
from findsupport.geo import PostcodeDirectory, to_bng
from findsupport.geo import codepoint as codepoint_module
from findsupport.geo.codepoint import CodePointSource, locate_codepoint


def _metres_apart(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    dy = (lat1 - lat2) * 111_320
    dx = (lon1 - lon2) * 111_320 * math.cos(math.radians(lat1))
    return math.hypot(dx, dy)


# Published coordinates: ONS Postcode Directory values (as served by postcodes.io; the
# AB14 rows are from the ONSPD extract in postcodes.io's test seed) and the task's SW1A 2AA.
PUBLISHED = [
    ("SW1A 2AA", 51.503541, -0.12767),
    ("SW1A 1AA", 51.501009, -0.141588),
    ("AB14 0TX", 57.099231, -2.267891),
    ("AB14 0UA", 57.099127, -2.270498),
    ("AB14 0UB", 57.098106, -2.269121),
    ("AB14 0UD", 57.096323, -2.267062),
    ("AB14 0UE", 57.094230, -2.271007),
    ("AB14 0UF", 57.097482, -2.270981),
    ("AB14 0UJ", 57.095940, -2.267049),
    ("AB14 0UL", 57.096024, -2.269426),
    ("AB14 0UN", 57.097181, -2.268867),
    ("AB14 0UP", 57.098328, -2.270426),
    ("AB14 0WA", 57.096167, -2.276633),
]


@pytest.mark.parametrize(("postcode", "lat", "lon"), PUBLISHED)
def test_coordinates_match_published_values_within_a_few_metres(directory, postcode, lat, lon) -> None:
    found = directory.lookup(postcode)
    assert found.postcode == postcode
    assert _metres_apart(found.lat, found.lon, lat, lon) < 5.0


@pytest.mark.parametrize(
    ("postcode", "easting", "northing"),
    [("M32 0JG", 379988, 395476), ("OX49 5NU", 464447, 195647), ("SW1A 2AA", 530047, 179951)],
)
def test_grid_references_are_code_point_values(directory, postcode, easting, northing) -> None:
    found = directory.lookup(postcode).to_dict()
    assert (found["easting"], found["northing"]) == (easting, northing)


def test_lookup_shape_matches_the_api_contract(directory) -> None:
    found = directory.lookup(" sw1a2aa ").to_dict()
    assert {"postcode", "outcode", "sector", "lat", "lon", "easting", "northing"} <= found.keys()
    assert (found["postcode"], found["outcode"], found["sector"]) == ("SW1A 2AA", "SW1A", "SW1A 2")


def test_typos_resolve_and_say_so(directory) -> None:
    found = directory.lookup("SWIA 2AA")
    assert found.postcode == "SW1A 2AA" and found.corrected and found.input == "SWIA 2AA"


def _raw_rows(area_file: str, prefix: str) -> list[tuple[int, int]]:
    path = locate_codepoint().directory / area_file
    with gzip.open(path, "rt") as fh:
        return [
            (int(row[2]), int(row[3]))
            for row in csv.reader(fh)
            if row[0].startswith(prefix) and row[1] != "90"
        ]


@pytest.mark.parametrize(
    ("partial", "kind", "area_file", "prefix"),
    [("NE21 4", "sector", "ne.csv.gz", "NE21 4"), ("NE21", "outcode", "ne.csv.gz", "NE21 "), ("ne1", "outcode", "ne.csv.gz", "NE1 ")],
)
def test_sectors_and_districts_resolve_to_the_centroid_of_their_postcodes(directory, partial, kind, area_file, prefix):
    rows = np.array(_raw_rows(area_file, prefix), dtype=float)
    found = directory.lookup(partial)
    assert found.kind == kind
    assert found.easting == pytest.approx(rows[:, 0].mean(), abs=0.01)
    assert found.northing == pytest.approx(rows[:, 1].mean(), abs=0.01)


def test_sector_centroids_vectorised_agree_with_single_lookups(directory) -> None:
    e, n, found = directory.sector_centroids(["NE21 4", "SW1A 2", "ZZ9 9"])
    assert found.tolist() == [True, True, False]
    assert e[0] == pytest.approx(directory.lookup("NE21 4").easting)
    assert n[1] == pytest.approx(directory.lookup("SW1A 2").northing)
    assert math.isnan(e[2])


@pytest.mark.parametrize(
    ("text", "place"),
    [("BT1 1AA", "Northern Ireland"), ("bt7", "Northern Ireland"), ("JE2 3AB", "Jersey"),
     ("GY1 1AA", "Guernsey"), ("IM1 1AA", "Isle of Man")],
)
def test_territories_outside_code_point_are_named_not_just_not_found(directory, text, place) -> None:
    with pytest.raises(PostcodeNotCovered) as info:
        directory.lookup(text)
    assert place in info.value.message
    assert "Great Britain" in info.value.message
    assert info.value.http_status == 422


def test_unknown_postcode_suggests_live_ones_nearby(directory) -> None:
    with pytest.raises(PostcodeNotFound) as info:
        directory.lookup("B1 1AA")
    suggestions = info.value.suggestions
    assert 1 <= len(suggestions) <= 5
    assert all(s in directory for s in suggestions)
    assert all(s.startswith("B1 1") for s in suggestions)  # one edit away, same sector first
    assert "Did you mean" in info.value.message


def test_one_edit_suggestions_come_first(directory) -> None:
    # NE21 4LZ exists; NE21 4ZL is an adjacent swap of it.
    with pytest.raises(PostcodeNotFound) as info:
        directory.lookup("NE21 4ZL")
    assert "NE21 4LZ" in info.value.suggestions


def test_unknown_sector_and_district(directory) -> None:
    with pytest.raises(PostcodeNotFound) as sector:
        directory.lookup("NE21 8")
    suggestions = sector.value.suggestions
    assert suggestions[:4] == ["NE21 4", "NE21 5", "NE21 6", "NE21 9"]  # same district first
    assert all(s in ("NE21 4", "NE21 5", "NE21 6", "NE21 9") or directory.lookup(s) for s in suggestions)
    with pytest.raises(PostcodeNotFound) as district:
        directory.lookup("NE89")
    assert "district" in district.value.message


def test_postcodes_without_coordinates_are_explained(directory) -> None:
    with pytest.raises(PostcodeNotFound, match="no location"):
        directory.lookup("AB43 1AG")


def test_lookup_many_keeps_order_and_returns_errors_in_place(directory) -> None:
    results = directory.lookup_many(["NE21 4LZ", "nonsense", "BT1 1AA", "NE21"])
    assert [type(r).__name__ for r in results] == ["PostcodeLocation", "InvalidPostcode", "PostcodeNotCovered", "PostcodeLocation"]


def test_full_postcode_required_when_asked(directory) -> None:
    with pytest.raises(InvalidPostcode):
        directory.lookup("NE21", allow_partial=False)


def test_every_postcode_is_in_great_britain_grid(directory) -> None:
    arrays = directory.located_arrays()
    assert len(directory) > 1_700_000
    assert arrays["easting"].min() > 0 and arrays["easting"].max() < 700_000
    assert arrays["northing"].min() > 0 and arrays["northing"].max() < 1_300_000
    assert np.all(arrays["keys"][1:] > arrays["keys"][:-1])  # sorted, unique


# ---------------------------------------------------------------- reverse lookup
@pytest.mark.parametrize(("postcode",), [("SW1A 2AA",), ("NE21 4LZ",), ("AB14 0UA",), ("M32 0JG",)])
def test_nearest_postcode_to_a_postcode_location_is_itself(directory, postcode) -> None:
    here = directory.lookup(postcode)
    found = directory.nearest(here.lon, here.lat)
    # Several postcodes can share one grid reference; any of them is at distance ~0.
    assert found.distance_m is not None and found.distance_m < 1.0
    assert directory.lookup(found.postcode).easting == here.easting


def test_nearest_is_vectorised(directory) -> None:
    points = [directory.lookup(p) for p in ("SW1A 2AA", "NE21 4LZ", "OX49 5NU")]
    e, n = to_bng([p.lon for p in points], [p.lat for p in points])
    idx, dist = directory.nearest_many(e, n)
    assert dist.max() < 1.0
    assert [directory.lookup(directory.postcode_at(int(i))).easting for i in idx] == [p.easting for p in points]


@pytest.mark.parametrize(
    ("lon", "lat", "error", "words"),
    [
        (-5.93, 54.60, LocationOutsideCoverage, "Northern Ireland"),  # Belfast
        (-4.48, 54.15, LocationOutsideCoverage, "Isle of Man"),
        (-2.11, 49.19, LocationOutsideCoverage, "Jersey"),
        (2.35, 48.85, LocationOutsideCoverage, "outside Great Britain"),  # Paris
        (-3.0, 56.0 + 4.5, LocationOutsideCoverage, "Great Britain"),  # North Sea, north of Scotland
        (51.5, -0.12, InvalidInput, "swapped"),
        (530047, 179951, InvalidInput, "grid references"),
        ("abc", 51.5, InvalidInput, "number"),
        (float("nan"), 51.5, InvalidInput, "finite"),
        (-0.1, 95, InvalidInput, "not valid degrees"),
    ],
)
def test_reverse_lookup_rejects_points_outside_great_britain(directory, lon, lat, error, words) -> None:
    with pytest.raises(error) as info:
        directory.nearest(lon, lat)
    assert words in info.value.message


# ---------------------------------------------------------------- cache
def _small_source(tmp_path: Path, rows_per_area: int = 300) -> CodePointSource:
    """A tiny Code-Point source: the first rows of two real area files."""
    real = locate_codepoint()
    folder = tmp_path / "codepoint"
    folder.mkdir()
    files = []
    for name in ("ne.csv.gz", "sw.csv.gz"):
        with gzip.open(real.directory / name, "rt") as src, gzip.open(folder / name, "wt") as dst:
            for _, line in zip(range(rows_per_area), src):
                dst.write(line)
        files.append(folder / name)
    return CodePointSource(folder, tuple(files), "test")


def test_cache_is_built_once_then_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = _small_source(tmp_path)
    messages: list[str] = []
    built = PostcodeDirectory.load(tmp_path / "cache", progress=messages.append, source=source)
    assert len(built) > 0 and any("building" in m for m in messages)
    assert len(list((tmp_path / "cache").glob("postcodes-*.npz"))) == 1

    def no_rebuild(*args, **kwargs):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(codepoint_module, "read_codepoint", no_rebuild)
    monkeypatch.setattr("findsupport.geo.directory.read_codepoint", no_rebuild)
    loaded = PostcodeDirectory.load(tmp_path / "cache", source=source)
    assert len(loaded) == len(built)
    first = built.postcode_at(0)
    assert loaded.lookup(first) == built.lookup(first)


def test_new_data_version_rebuilds_and_removes_the_stale_cache(tmp_path: Path) -> None:
    old = _small_source(tmp_path, rows_per_area=100)
    PostcodeDirectory.load(tmp_path / "cache", source=old)
    new = CodePointSource(old.directory, old.files, "test-2")
    PostcodeDirectory.load(tmp_path / "cache", source=new)
    caches = list((tmp_path / "cache").glob("postcodes-*.npz"))
    assert len(caches) == 1 and "test-2" in caches[0].name


def test_corrupt_cache_is_rebuilt(tmp_path: Path) -> None:
    source = _small_source(tmp_path, rows_per_area=50)
    PostcodeDirectory.load(tmp_path / "cache", source=source)
    cache = next((tmp_path / "cache").glob("postcodes-*.npz"))
    cache.write_bytes(b"not a zip file")
    again = PostcodeDirectory.load(tmp_path / "cache", source=source)
    assert len(again) > 0


def test_locate_many_agrees_with_single_lookups(directory) -> None:
    located = directory.locate_many(["NE21 4LZ", "SW1A 2AA", "B1 1AA"])
    assert located["found"].tolist() == [True, True, False]
    assert located["easting"][1] == directory.lookup("SW1A 2AA").easting
    assert located["lat"][0] == pytest.approx(directory.lookup("NE21 4LZ").lat)
    assert math.isnan(located["northing"][2])

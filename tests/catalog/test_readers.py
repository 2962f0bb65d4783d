"""Reading files: CSV line numbers as an editor shows them, whole-file errors, spatial formats and CRSs."""

from __future__ import annotations

import json
import warnings

import geopandas as gpd
import pytest
from shapely.geometry import LineString, Point, Polygon

from findsupport.catalog import read_source
from findsupport.errors import ImportRejected

from .conftest import good_row

HEADER = "id,name,roles,postcode,events,email,consent"


def write(tmp_path, text, name="providers.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def test_line_numbers_are_the_lines_an_editor_shows(tmp_path):
    text = (
        f"{HEADER}\n"  # line 1
        "p1,Sam,mentor,NE21 4LZ,sprints,a@example.org,true\n"  # 2
        "\n"  # 3: blank
        'p2,"Jo\nSwift",mentor,NE21 4LZ,sprints,b@example.org,true\n'  # 4-5: quoted line break
        ",,,,,,\n"  # 6: empty cells
        "p3,Kit,mentor,NE21 4LZ,sprints,c@example.org,true\r\n"  # 7
    )
    source = read_source(write(tmp_path, text))
    assert [(r.number, r.values["id"]) for r in source.rows] == [(2, "p1"), (4, "p2"), (7, "p3")]
    assert source.rows[1].values["name"] == "Jo\nSwift"
    assert (source.format, source.unit) == ("csv", "line")


def test_header_names_are_trimmed_and_case_insensitive_and_a_bom_is_fine(tmp_path):
    text = "\ufeff ID , Name,ROLES,postcode,events,email,consent\np1,Sam,mentor,NE21 4LZ,sprints,a@example.org,true\n"
    source = read_source(write(tmp_path, text))
    assert source.columns == ("id", "name", "roles", "postcode", "events", "email", "consent")
    assert source.rows[0].values["id"] == "p1"


def test_short_rows_are_padded_and_long_rows_flagged(tmp_path):
    text = f"{HEADER},bio\np1,Sam,mentor,NE21 4LZ,sprints,a@example.org,true\np2,Jo,mentor,NE21 4LZ,sprints,b@x.org,true,bio,extra\n"
    rows = read_source(write(tmp_path, text)).rows
    assert rows[0].values.get("bio") is None and rows[0].problems == ()
    assert "9 cells but the header has 8 columns" in rows[1].problems[0].reason


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("", "is empty: the first line must be the header"),
        ("\n\n", "is empty"),
        ("id;name;roles;postcode;events;email;consent\n", "separates columns with ';'"),
        ("id,name,roles,postcode,events,emial,consent\n", "unknown column 'emial' (did you mean 'email'?)"),
        ("id,name,roles,postcode,events,email,consent,notes\n", "unknown column 'notes'"),
        ("id,name,roles,events,email,consent\n", "missing column postcode (or lat and lon)"),
        ("id,name,roles,lat,events,email,consent\n", "missing column postcode (or lat and lon)"),
        ("id,roles,postcode,events,email\n", "missing column name, consent"),
        ("id,name,name,roles,postcode,events,email,consent\n", "repeats name"),
        ("id,,roles,postcode,events,email,consent\n", "column 2 of the header has no name"),
        (b"id,name,roles,postcode,events,email,consent\np1,Ren\xe9,mentor\n", "not UTF-8 text: line 2 has the byte 0xe9"),
        ('id,name,roles,postcode,events,email,consent\np1,"Sam\np2,Jo\n', "record starting on line 2 is not valid CSV"),
        ('id,name,roles,postcode,events,email,consent\np1,Sam\np2,"Jo"x,\n', "record starting on line 3 is not valid CSV"),
    ],
)
def test_whole_file_problems_reject_the_file(tmp_path, content, fragment):
    with pytest.raises(ImportRejected) as caught:
        read_source(write(tmp_path, content))
    assert fragment in caught.value.message


@pytest.mark.parametrize(
    ("name", "fragment"),
    [("providers.xlsx", "must end in one of"), ("providers", "no ending"), ("missing.csv", "does not exist")],
)
def test_unusable_file_names(tmp_path, name, fragment):
    if name != "missing.csv":
        (tmp_path / name).write_text(HEADER)
    with pytest.raises(ImportRejected, match=fragment):
        read_source(tmp_path / name)


# ---------------------------------------------------------------------- spatial files
PROPERTIES = {k: v for k, v in good_row().items() if k != "postcode"}
# NE21 4LZ is at about lon -1.73158, lat 54.97020 (E 417282, N 563986).
BASE_BNG = Point(417282, 563986)
AREA_BNG = Polygon([(400000, 550000), (430000, 550000), (430000, 580000), (400000, 580000)])


def frame(geometries, crs, **columns):
    n = len(geometries)
    data = {k: [v] * n for k, v in PROPERTIES.items()}
    data["id"] = [f"p{i}" for i in range(n)]
    data.update(columns)
    return gpd.GeoDataFrame(data, geometry=geometries, crs=crs)


def save(gdf, path, **kwargs):
    with warnings.catch_warnings():
        # pyogrio warns when writing a layer without a CRS: that is the point of those tests.
        warnings.simplefilter("ignore", UserWarning)
        gdf.to_file(path, engine="pyogrio", **kwargs)
    return path


@pytest.mark.parametrize(("crs", "name"), [("EPSG:27700", "p.gpkg"), ("EPSG:4326", "p.geojson"), ("EPSG:3857", "p.gpkg")])
def test_spatial_files_in_any_crs_give_wgs84_points_and_bng_areas(tmp_path, crs, name):
    gdf = frame([BASE_BNG, AREA_BNG, None], "EPSG:27700", postcode=[None, "NE21 4LZ", "NE21 4LZ"]).to_crs(crs)
    source = read_source(save(gdf, tmp_path / name))
    assert source.unit == "feature" and [r.number for r in source.rows] == [1, 2, 3]
    point, polygon, bare = source.rows
    assert point.point == pytest.approx((-1.73158, 54.97020), abs=1e-4)
    assert point.area is None and point.values["postcode"] is None
    assert polygon.point is None and polygon.area.equals_exact(AREA_BNG, 0.01)
    assert bare.point is None and bare.area is None and bare.values["postcode"] == "NE21 4LZ"
    assert point.values["capacity"] == "3" or point.values["capacity"] == 3


def test_a_gpkg_without_crs_is_rejected_not_guessed(tmp_path):
    path = save(frame([BASE_BNG], None), tmp_path / "nocrs.gpkg")
    with pytest.raises(ImportRejected, match="has no coordinate reference system"):
        read_source(path)


def test_geojson_with_metres_and_no_crs_is_rejected(tmp_path):
    # GeoJSON without a crs member means longitude/latitude (RFC 7946): these are metres.
    path = save(frame([BASE_BNG], None), tmp_path / "metres.geojson")
    with pytest.raises(ImportRejected, match="look like metres"):
        read_source(path)


def test_unsupported_geometries_are_row_problems(tmp_path):
    gdf = frame([LineString([(417000, 563000), (418000, 564000)]), BASE_BNG], "EPSG:27700")
    rows = read_source(save(gdf, tmp_path / "lines.gpkg")).rows
    assert "a LineString geometry is not supported" in rows[0].problems[0].reason
    assert rows[1].problems == ()


def test_geopackage_layers(tmp_path):
    path = tmp_path / "two.gpkg"
    save(frame([BASE_BNG], "EPSG:27700"), path, layer="north")
    save(frame([BASE_BNG, BASE_BNG], "EPSG:27700"), path, layer="south", mode="a")
    with pytest.raises(ImportRejected, match=r"several layers \(north, south\); choose one with --layer"):
        read_source(path)
    assert len(read_source(path, layer="south").rows) == 2
    with pytest.raises(ImportRejected, match="no layer 'east'"):
        read_source(path, layer="east")


def test_spatial_columns_are_checked_like_csv(tmp_path):
    path = save(frame([BASE_BNG], "EPSG:27700", emial=["x@example.org"]), tmp_path / "typo.gpkg")
    with pytest.raises(ImportRejected, match="did you mean 'email'"):
        read_source(path)


def test_geojson_lists_may_be_json_arrays(tmp_path):
    feature = {
        "type": "Feature",
        "properties": {**PROPERTIES, "roles": ["mentor", "co_coach"], "consent": True, "capacity": 4},
        "geometry": {"type": "Point", "coordinates": [-1.7316, 54.9702]},
    }
    path = tmp_path / "arrays.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    row = read_source(path).rows[0]
    assert list(row.values["roles"]) == ["mentor", "co_coach"]
    assert row.values["consent"] is True or row.values["consent"] == 1


def test_unreadable_spatial_file(tmp_path):
    path = write(tmp_path, "this is not json", name="broken.geojson")
    with pytest.raises(ImportRejected, match="cannot be read as geojson"):
        read_source(path)

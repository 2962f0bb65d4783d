"""Reading files: CSV line numbers as an editor shows them, whole-file errors, spatial formats and CRSs."""

from __future__ import annotations

import csv
import io
import json
import re
import warnings

import geopandas as gpd
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
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
        f"{HEADER},bio\n"  # line 1
        "p1,Sam,mentor,NE21 4LZ,sprints,a@example.org,true\n"  # 2
        "\n"  # 3: blank
        'p2,Jo,mentor,NE21 4LZ,sprints,b@example.org,true,"Two\nlines"\n'  # 4-5: quoted line break
        ",,,,,,\n"  # 6: empty cells
        "p3,Kit,mentor,NE21 4LZ,sprints,c@example.org,true\r\n"  # 7
    )
    source = read_source(write(tmp_path, text))
    assert [(r.number, r.values["id"]) for r in source.rows] == [(2, "p1"), (4, "p2"), (7, "p3")]
    assert source.rows[1].values["bio"] == "Two\nlines"
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
        (b"id,name,ro\xe9les,postcode,events,email,consent\n", "not UTF-8 text: the header (line 1) has the byte 0xe9"),
        (b"\n\nid,name\xff\n", "the header (line 3) has the byte 0xff"),
        ('id,"name,roles,postcode,events,email,consent\np1,Sam\n', "the header on line 1 is not valid CSV"),
        ("id,name,roles,postcode,events,email,consent\n".encode("utf-16"), "is UTF-16 text"),
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


# ---------------------------------------------------------------------- one record never stops a CSV file
GOOD = "p{n},Sam,mentor,NE21 4LZ,sprints,a@example.org,true,"
HEADER_BIO = f"{HEADER},bio"


def lines_of(*records):
    return (HEADER_BIO + "\n" + "".join(records)).encode() if all(isinstance(r, str) for r in records) else b""


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        pytest.param(  # issue 10: one bio of 200,000 characters stopped the file ("field larger than field limit")
            [GOOD.format(n=1) + "\n", GOOD.format(n=2) + "x" * 200_000 + "\n", GOOD.format(n=3) + "\n"],
            [(2, "p1", None), (3, "p2", None), (4, "p3", None)],
            id="bio-of-200000-characters",
        ),
        pytest.param(  # the same, quoted and spread over lines
            [GOOD.format(n=1) + '"' + "long\n" * 40_000 + '"\n', GOOD.format(n=2) + "\n"],
            [(2, "p1", None), (40_003, "p2", None)],
            id="quoted-bio-of-40000-lines",
        ),
        pytest.param(  # a quote left open: reported where it starts, and no good row is hidden after it
            [GOOD.format(n=1) + "\n", 'p2,"Sam,mentor,NE21 4LZ,sprints,a@example.org,true,\n', GOOD.format(n=3) + "\n",
             GOOD.format(n=4) + "\n"],
            [(2, "p1", None), (3, "p2", "never closed"), (4, "p3", None), (5, "p4", None)],
            id="quote-left-open-to-the-end",
        ),
        pytest.param(  # a quote left open that a later, well-formed quoted value runs into
            ['p1,"Sam,mentor,NE21 4LZ,sprints,a@example.org,true,\n', GOOD.format(n=2) + "\n",
             GOOD.format(n=3) + '"a ""good"" bio"\n'],
            [(2, "p1", "noticed on line 4"), (3, "p2", None), (4, "p3", None)],
            id="quote-left-open-then-a-quoted-value",
        ),
        pytest.param(  # a quote left open that a later value starting with a comma happens to close
            ['p1,"Sam,mentor,NE21 4LZ,sprints,a@example.org,true,\n', GOOD.format(n=2) + "\n",
             'p3,",Kit"\n'],
            [(2, "p1", "its name holds a line break"), (3, "p2", None), (4, "p3", None)],
            id="quote-left-open-closed-by-chance",
        ),
        pytest.param(
            [GOOD.format(n=1) + "\n", 'p2,"Jo" Swift,mentor,NE21 4LZ,sprints,a@example.org,true,\n', GOOD.format(n=3) + "\n"],
            [(2, "p1", None), (3, "p2", "ends before its cell does"), (4, "p3", None)],
            id="stray-quote-after-a-quoted-value",
        ),
        pytest.param(
            [GOOD.format(n=1) + "\n", GOOD.format(n=2) + "bio,extra\n", GOOD.format(n=3) + "\n"],
            [(2, "p1", None), (3, "p2", "9 cells but the header has 8 columns"), (4, "p3", None)],
            id="too-many-cells",
        ),
        pytest.param(
            [GOOD.format(n=1) + "\n", HEADER_BIO + "\n", GOOD.format(n=3) + "\n"],
            [(2, "p1", None), (3, None, "repeats the header"), (4, "p3", None)],
            id="repeated-header",
        ),
        pytest.param(
            [GOOD.format(n=1) + "\r\n", GOOD.format(n=2) + "\r", GOOD.format(n=3) + "\n", "\r\n", GOOD.format(n=5)],
            [(2, "p1", None), (3, "p2", None), (4, "p3", None), (6, "p5", None)],
            id="crlf-cr-lf-mixed-and-no-final-line-break",
        ),
        pytest.param(
            [GOOD.format(n=1) + "\n", "p2,Sa\x00m,mentor,NE21 4LZ,sprints,a@example.org,true,\n", GOOD.format(n=3) + "\n"],
            [(2, "p1", None), (3, "p2", None), (4, "p3", None)],  # NUL is validation's business (a control character)
            id="nul-byte",
        ),
        pytest.param(
            [GOOD.format(n=1) + "\n", GOOD.format(n=2) + "\ufeffBOM in the middle\n", GOOD.format(n=3) + "\n"],
            [(2, "p1", None), (3, "p2", None), (4, "p3", None)],
            id="bom-inside-the-file",
        ),
    ],
)
def test_one_record_never_stops_the_file(tmp_path, records, expected):
    rows = read_source(write(tmp_path, lines_of(*records))).rows
    assert [(r.number, r.values.get("id"), r.problems[0].reason if r.problems else None) for r in rows] == [
        (number, provider_id, None if fragment is None else Contains(fragment))
        for number, provider_id, fragment in expected
    ]
    unreadable = [r.number for r in rows if not r.readable]
    assert unreadable == [n for n, _, fragment in expected if fragment and "cells but" not in fragment]


class Contains(str):
    """Equal to any text containing it (for comparing whole lists of rows at once)."""

    def __eq__(self, other):
        return isinstance(other, str) and str(self) in other

    __hash__ = str.__hash__


@pytest.mark.parametrize(
    ("line", "column", "byte"),
    [
        (b"p2,Ren\xe9,mentor,NE21 4LZ,sprints,a@example.org,true,\n", "name", "0xe9"),  # Latin-1
        (b"p2,Sam,mentor,NE21 4LZ,sprints,a@example.org,true,caf\xc3\n", "bio", "0xc3"),  # cut UTF-8 sequence
        (b"p2,Sam,mentor,NE21 4LZ,sprints,\x96@example.org,true,\n", "email", "0x96"),  # Windows-1252 dash
    ],
)
def test_bytes_that_are_not_utf8_reject_their_row_only(tmp_path, line, column, byte):
    text = (HEADER_BIO + "\n" + GOOD.format(n=1) + "\n").encode() + line + (GOOD.format(n=3) + "\n").encode()
    rows = read_source(write(tmp_path, text)).rows
    assert [r.number for r in rows] == [2, 3, 4]
    assert rows[0].problems == rows[2].problems == ()
    (problem,) = rows[1].problems
    assert problem.column == column and f"the byte {byte}" in problem.reason and "CSV UTF-8" in problem.reason
    assert "\ufffd" in rows[1].values[column]  # shown replaced: safe to print and to write to a report
    assert all(not ("\udc80" <= ch <= "\udcff") for value in rows[1].values.values() for ch in value)


def test_an_unreadable_record_keeps_its_id_for_replace(tmp_path):
    text = lines_of('p7,"Sam,mentor\n', '"",broken\n')
    rows = read_source(write(tmp_path, text)).rows
    assert (rows[0].number, rows[0].values, rows[0].readable) == (2, {"id": "p7"}, False)


# A cell may hold anything a spreadsheet can save (quotes, commas, NUL, accents), and a bio line
# breaks too: in any other column a line break is read as a sign of a quote left open (validation
# would refuse it there anyway).  Only a cell that starts with a comma or a line break is left out
# of the corruption test below: that is the one way a later value can close a quote left open
# without any sign.
_cell = st.text(st.sampled_from('ab ,"\'\x00é;=-'), max_size=12)
_bio = st.text(st.sampled_from('ab ,"\'\n\r\x00é;=-'), max_size=20)
_safe_cell = _cell.filter(lambda c: not c.startswith(","))
_safe_bio = _bio.filter(lambda c: not c.startswith((",", "\n", "\r")))


def _file(rows):
    buffer = io.StringIO(newline="")
    csv.writer(buffer).writerows([HEADER_BIO.split(","), *rows])
    return buffer.getvalue()


@given(st.lists(st.tuples(st.lists(_cell, min_size=7, max_size=7), _bio).map(lambda r: [*r[0], r[1]]), min_size=1, max_size=8))
@hsettings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_well_formed_csv_reads_back_exactly_with_editor_line_numbers(tmp_path, rows):
    rows = [[f"p{i}", *row[1:]] for i, row in enumerate(rows)]
    text = _file(rows)
    got = read_source(write(tmp_path, text)).rows
    keep = [row for row in rows if any(cell.strip() for cell in row)]
    assert [list(r.values.values()) for r in got] == keep
    assert all(r.problems == () and r.readable for r in got)
    # line numbers: 2 plus the line breaks (\r\n, \r or \n, as an editor counts them) before each record
    starts, line = [], 2
    for row in rows:
        if any(cell.strip() for cell in row):
            starts.append(line)
        line += len(re.findall(r"\r\n|\r|\n", _file([row])[len(_file([])) :]))
    assert [r.number for r in got] == starts


@given(
    st.lists(st.tuples(st.lists(_safe_cell, min_size=6, max_size=6), _safe_bio).map(lambda r: [*r[0], r[1]]), min_size=2, max_size=8),
    st.data(),
)
@hsettings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_quote_left_open_hides_no_other_row(tmp_path, rows, data):
    rows = [[f"p{i}", *row] for i, row in enumerate(rows)]
    broken = data.draw(st.integers(0, len(rows) - 1))
    # The broken row is written by hand: single line, and its name opens a quote it never closes.
    lines = [_file([row]).split("\r\n", 1)[1] for row in rows]
    lines[broken] = f'p{broken},"Sam,mentor,NE21 4LZ,sprints,a@example.org,true,\r\n'
    text = HEADER_BIO + "\r\n" + "".join(lines)
    got = read_source(write(tmp_path, text)).rows
    by_id = {r.values.get("id"): r for r in got}
    bad = by_id.pop(f"p{broken}")
    assert not bad.readable and "quote" in bad.problems[0].reason
    assert bad.number == 2 + sum(len(re.findall(r"\r\n|\r|\n", line)) for line in lines[:broken])
    for i, row in enumerate(rows):
        if i != broken:
            assert list(by_id[f"p{i}"].values.values()) == row
            assert by_id[f"p{i}"].problems == ()


def test_a_line_break_outside_bio_is_read_as_a_quote_left_open(tmp_path):
    # Validation refuses a line break in a name anyway; reading on from the next line means a quote
    # left open in a name can never swallow the rows after it.
    rows = read_source(write(tmp_path, lines_of('p1,"Jo\n', 'Swift",mentor\n', GOOD.format(n=3) + "\n"))).rows
    assert [(r.number, r.readable) for r in rows] == [(2, False), (3, True), (4, True)]
    assert "its name holds a line break" in rows[0].problems[0].reason


# ---------------------------------------------------------------------- one feature never stops a spatial file
FEATURE = {
    "type": "Feature",
    "properties": dict(PROPERTIES),
    "geometry": {"type": "Point", "coordinates": [-1.7316, 54.9702]},
}


def feature(**changes):
    item = json.loads(json.dumps(FEATURE))
    for key, value in changes.items():
        if key in ("geometry", "type", "properties"):
            item[key] = value
        else:
            item["properties"][key] = value
    return item


@pytest.mark.parametrize(
    ("bad", "column", "fragment"),
    [
        (feature(geometry={"type": "Point", "coordinates": "abc"}), "geometry", "the geometry cannot be read"),
        (feature(geometry={"type": "Point", "coordinates": [1]}), "geometry", "the geometry cannot be read"),
        (feature(geometry={"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]}), "geometry", "cannot be read"),
        (feature(geometry={"type": "Blob", "coordinates": [1, 2]}), "geometry", "cannot be read"),
        (feature(geometry="POINT (1 2)"), "geometry", "cannot be read"),
        (feature(geometry={"type": "Polygon", "coordinates": [[[0, 0], [417282, 0], [0, 563986], [0, 0]]]}), "geometry",
         "outside longitude"),
        (feature(geometry={"type": "Polygon", "coordinates": [[[0, 0], [1e400, 0], [0, 1], [0, 0]]]}), "geometry",
         "not finite"),
        (feature(type="Thing"), "", "not a GeoJSON Feature"),
        (feature(properties=["p1"]), "", "properties are not a JSON object"),
        (feature(notes="hello"), "notes", "unknown property 'notes'"),
        (feature(emial="x@example.org"), "emial", "did you mean 'email'"),
    ],
)
def test_one_bad_feature_is_that_features_problem(tmp_path, bad, column, fragment):
    # Before issue 10 these stopped the whole file (a GEOSException, an 'out of range' whole-file
    # rejection), or GDAL dropped the feature or its geometry silently and renumbered the rest.
    path = tmp_path / "features.geojson"
    text = json.dumps({"type": "FeatureCollection", "features": [FEATURE, bad, FEATURE]})
    path.write_text(text.replace("Infinity", "1e400"))  # a number too large for a float, as a file may hold
    rows = read_source(path).rows
    assert [r.number for r in rows] == [1, 2, 3]
    assert rows[0].problems == rows[2].problems == ()
    assert rows[0].point == pytest.approx((-1.7316, 54.9702))
    assert [p.column for p in rows[1].problems] == [column], rows[1].problems
    assert fragment in rows[1].problems[0].reason


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"capacity": 10**30}, 10**30),  # too big for any integer column: validation says so
        ({"capacity": "1e400"}, "1e400"),
        ({"roles": {"a": 1}}, {"a": 1}),
        ({"bio": "x" * 200_000}, "x" * 200_000),
        ({"consent": [True]}, [True]),
    ],
)
def test_odd_property_values_reach_validation_unchanged(tmp_path, values, expected):
    path = tmp_path / "odd.geojson"
    text = json.dumps({"type": "FeatureCollection", "features": [FEATURE, feature(**values)]})
    path.write_text(text.replace('"1e400"', "1e400") if values.get("capacity") == "1e400" else text)
    rows = read_source(path).rows
    (column,) = values
    got = rows[1].values[column]
    if values.get("capacity") == "1e400":
        assert got == float("inf")
    else:
        assert got == expected
    assert rows[1].problems == ()


def test_a_gpkg_geometry_that_cannot_be_read_is_that_features_problem(tmp_path):
    import sqlite3
    import struct

    path = save(frame([BASE_BNG, BASE_BNG, BASE_BNG], "EPSG:27700"), tmp_path / "damaged.gpkg")
    with sqlite3.connect(path) as conn:
        (table,) = conn.execute("select table_name from gpkg_contents").fetchone()
        (column,) = conn.execute("select column_name from gpkg_geometry_columns").fetchone()
        # A GeoPackage header followed by a WKB polygon whose ring is not closed.
        header = bytes.fromhex("47500001346c0000")  # 'GP', version, flags (little endian, no envelope), srs 27700
        ring = [(0.0, 0.0), (1.0, 1.0), (1.0, 0.0), (2.0, 2.0)]
        wkb = struct.pack("<bIII", 1, 3, 1, len(ring)) + b"".join(struct.pack("<dd", *xy) for xy in ring)
        # GDAL's R-tree triggers call SpatiaLite functions plain sqlite3 lacks; the index is not needed here.
        for (trigger,) in conn.execute("select name from sqlite_master where type = 'trigger'").fetchall():
            conn.execute(f'drop trigger "{trigger}"')
        conn.execute(f'update "{table}" set "{column}" = ? where rowid = 2', (header + wkb,))
    conn.close()
    rows = read_source(path).rows
    assert [r.number for r in rows] == [1, 2, 3]
    assert rows[0].point is not None and rows[2].point is not None
    assert "the geometry cannot be read" in rows[1].problems[0].reason


@pytest.mark.parametrize(("coordinates", "point"), [([417282, 563986], (417282.0, 563986.0)), (["1e400", 54.97], (float("inf"), 54.97))])
def test_a_point_that_cannot_be_longitude_latitude_goes_to_validation_as_it_is(tmp_path, coordinates, point):
    path = tmp_path / "points.geojson"
    bad = feature(geometry={"type": "Point", "coordinates": coordinates})
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [FEATURE, bad]}).replace('"1e400"', "1e400"))
    row = read_source(path).rows[1]
    assert row.point == point and row.problems == ()


# ---------------------------------------------------------------------- module layout
def test_readers_keep_their_names_and_each_format_reads_in_its_own_module(tmp_path):
    """``readers`` stays the entry point (the importer and tools import from it); the readers live apart."""
    from findsupport.catalog import csv_rows, readers, source_rows, spatial_rows

    assert readers.read_csv is csv_rows.read_csv and readers.read_spatial is spatial_rows.read_spatial
    assert readers.RawRow is source_rows.RawRow and readers.SourceRows is source_rows.SourceRows
    assert readers.PROGRESS_EVERY_ROWS == source_rows.PROGRESS_EVERY_ROWS
    assert all(hasattr(readers, name) for name in readers.__all__)
    path = tmp_path / "p.csv"
    path.write_text(",".join(good_row()) + "\n" + "\n".join(",".join(good_row(id=f"fs-{k}").values()) for k in range(5)) + "\n")
    heard: list[str] = []
    assert len(csv_rows.read_csv(path, heard.append, progress_every=2).rows) == 5
    assert heard == ["read 2 rows", "read 4 rows"]

"""Imports end to end: mixed good and bad rows, duplicate ids, the report file, the three formats."""

from __future__ import annotations

import csv
import io
import json

import geopandas as gpd
import pytest
from shapely.geometry import Point, Polygon

from findsupport.catalog import import_file, write_report
from findsupport.errors import ImportRejected

from .conftest import catalogue_rows, good_row, write_csv


def test_mixed_file_imports_the_good_rows_and_reports_every_bad_one(tmp_path, store, directory, settings):
    rows = [
        good_row(id="ok1"),  # line 2
        good_row(id="bad-postcode", postcode="NE21 4ZZ"),  # line 3
        good_row(id="ok2", bio="Two\nlines"),  # lines 4-5
        good_row(id="bad-two", roles="boss", consent="perhaps"),  # line 6: two problems
        good_row(id="ok1", email="other@example.org"),  # line 7: repeated id
        good_row(id="ok3", postcode="", lat="54.9702", lon="-1.7316"),  # line 8
        good_row(id="far", postcode="", lat="53.35", lon="-6.26"),  # line 9
    ]
    report = import_file(write_csv(tmp_path / "mixed.csv", rows), store, directory, settings)
    assert (report.rows, report.rejected_rows, report.imported) == (7, 4, 3)
    assert [(r.number, r.column, r.provider_id) for r in report.rejections] == [
        (3, "postcode", "bad-postcode"),
        (6, "roles", "bad-two"),
        (6, "consent", "bad-two"),
        (7, "id", "ok1"),
        (9, "lat", "far"),
    ]
    assert "Did you mean NE21 4AZ" in report.rejections[0].reason
    assert report.rejections[3].reason == "id 'ok1' is already used on line 2; ids must be unique"
    assert report.describe(report.rejections[1]).startswith("line 6: roles: 'boss' is not a role")
    assert sorted(p.id for p in store.public_catalog().providers) == ["ok1", "ok2", "ok3"]
    assert store.get_private("ok1").email == "sam.kestrel@example.org"  # the first row with the id wins
    assert not report.ok and "4 lines rejected" in report.summary()

    write_report(tmp_path / "report.csv", report)
    with (tmp_path / "report.csv").open(newline="", encoding="utf-8") as fh:
        lines = list(csv.reader(fh))
    assert lines[0] == ["line", "column", "id", "reason"]
    assert [line[:3] for line in lines[1:]] == [[str(r.number), r.column, r.provider_id] for r in report.rejections]


def test_report_cells_are_neutralised(tmp_path, store, directory, settings):
    path = write_csv(tmp_path / "evil.csv", [good_row(id="=HYPERLINK(\"http://x\")", roles="@SUM(1)")])
    report = import_file(path, store, directory, settings)
    write_report(tmp_path / "report.csv", report)
    with (tmp_path / "report.csv").open(newline="", encoding="utf-8") as fh:
        lines = list(csv.reader(fh))
    assert [line[2] for line in lines[1:]] == ["'=HYPERLINK(\"http://x\")"] * 2
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for line in lines for cell in line)


def spatial_frame(crs: str):
    base = {k: v for k, v in good_row().items() if k != "postcode"}
    data = {k: [v] * 4 for k, v in base.items()}
    data["id"] = ["point", "area", "bad-line", "bad-far"]
    data["email"] = [f"{i}@example.org" for i in data["id"]]
    data["postcode"] = [None, "EH1 1YZ", None, None]
    geometries = [
        Point(417282, 563986),  # NE21 4LZ
        Polygon([(320000, 660000), (340000, 660000), (340000, 680000), (320000, 680000)]),  # around Edinburgh
        Point(0, 0).buffer(1).exterior,  # a ring: not a supported geometry
        Point(100000, 1200000),  # far out at sea
    ]
    return gpd.GeoDataFrame(data, geometry=geometries, crs="EPSG:27700").to_crs(crs)


@pytest.mark.parametrize(("crs", "name"), [("EPSG:4326", "providers.geojson"), ("EPSG:27700", "providers.gpkg"), ("EPSG:3035", "providers.gpkg")])
def test_spatial_import_reports_feature_numbers(tmp_path, store, directory, settings, crs, name):
    path = tmp_path / name
    spatial_frame(crs).to_file(path, engine="pyogrio")
    report = import_file(path, store, directory, settings)
    assert report.unit == "feature" and report.format == path.suffix[1:]
    assert [(r.number, r.column) for r in report.rejections] == [(3, "geometry"), (3, "postcode"), (4, "geometry")]
    assert report.describe(report.rejections[-1]).startswith("feature 4: geometry: the point")
    catalog = store.public_catalog()
    assert catalog.get("point").area == "NE21 4"
    area = catalog.get("area")
    assert area.area == "EH1 1" and area.service_area.area == pytest.approx(400e6, rel=1e-3)
    assert store.get_private("point").base_lon == pytest.approx(-1.73158, abs=1e-4)


def test_a_file_level_problem_changes_nothing(tmp_path, store, directory, settings, import_csv):
    import_csv(catalogue_rows(2))
    version = store.version()
    path = tmp_path / "bad.csv"
    path.write_text("id,name,roles,postcode,events,emial,consent\n")
    with pytest.raises(ImportRejected):
        import_file(path, store, directory, settings, replace=True)
    assert store.version() == version and store.counts().providers == 2 and len(store.history()) == 1


def test_progress_is_reported_for_large_files(tmp_path, store, directory, settings, monkeypatch):
    from findsupport.catalog import importer, readers

    monkeypatch.setattr(readers, "PROGRESS_EVERY_ROWS", 3)
    monkeypatch.setattr(importer, "PROGRESS_EVERY_ROWS", 3)
    messages: list[str] = []
    import_file(write_csv(tmp_path / "p.csv", catalogue_rows(7)), store, directory, settings, progress=messages.append)
    assert "read 3 rows" in messages and "checked 6 of 7 lines" in messages and "locating 7 providers" in messages


# ---------------------------------------------------------------------- issue 10: one row never stops an import
HEADER_LINE = ",".join(good_row())


def csv_line(**changes):
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\n").writerow(list(good_row(**changes).values()))
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("bad_line", "rejections"),
    [
        pytest.param(  # issue 10: "field larger than field limit (131072) ... Nothing was imported."
            csv_line(id="p2", bio="b" * 200_000),
            [(3, "bio", "bio is 200,000 characters long; at most 1,000 are allowed")],
            id="bio-of-200000-characters",
        ),
        pytest.param(
            'p2,"Sam Kestrel,mentor,NE21 4LZ,hurdles,tue_eve,15,false,3,1,,,b@example.org,true,\n',
            [(3, "", "never closed")],
            id="quote-left-open",
        ),
        pytest.param(
            'p2,"Sam" Kestrel,mentor,NE21 4LZ,hurdles,tue_eve,15,false,3,1,,,b@example.org,true,\n',
            [(3, "", "ends before its cell does")],
            id="stray-quote",
        ),
        pytest.param(
            csv_line(id="p2", name="Ren\udce9"),  # written below as the single byte 0xe9
            [(3, "name", "the byte 0xe9")],
            id="latin-1-byte",
        ),
        pytest.param(csv_line(id="p2", name="Sa\x00m"), [(3, "name", "control character")], id="nul-byte"),
        pytest.param(
            csv_line(id="p2").rstrip("\n") + ",extra\n",
            [(3, "", "16 cells but the header has 15 columns")],
            id="too-many-cells",
        ),
        pytest.param(HEADER_LINE + "\n", [(3, "", "repeats the header")], id="repeated-header"),
    ],
)
def test_one_bad_line_is_its_own_rejection_and_the_rest_import(tmp_path, store, directory, settings, bad_line, rejections):
    text = HEADER_LINE + "\r\n" + csv_line(id="p1", email="a@example.org") + bad_line + csv_line(id="p3", email="c@example.org")
    path = tmp_path / "providers.csv"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    report = import_file(path, store, directory, settings)
    got = [(r.number, r.column, r.reason) for r in report.rejections]
    assert [(n, c) for n, c, _ in got] == [(n, c) for n, c, _ in rejections], got
    for (_, _, reason), (_, _, fragment) in zip(got, rejections):
        assert fragment in reason
    assert sorted(p.id for p in store.public_catalog().providers) == ["p1", "p3"]
    assert (report.rows, report.rejected_rows) == (3, 1)


def test_a_row_with_several_problems_reports_all_of_them(tmp_path, store, directory, settings):
    rows = [good_row(id="ok"), good_row(id="bad", roles="boss", postcode="NE21 4ZZ", capacity="lots")]
    report = import_file(write_csv(tmp_path / "p.csv", rows), store, directory, settings)
    assert [(r.number, r.column) for r in report.rejections] == [(3, "roles"), (3, "capacity"), (3, "postcode")]
    assert report.rejected_rows == 1 and "Did you mean" in report.rejections[-1].reason


def test_the_summary_counts_the_providers_actually_listed(tmp_path, store, directory, settings):
    # issue 10: "the catalogue now lists 2,006 providers" while 1,946 were listed.
    rows = catalogue_rows(6)
    for row in rows[:2]:
        row["consent"] = "false"
    report = import_file(write_csv(tmp_path / "p.csv", rows), store, directory, settings)
    assert len(store.public_catalog().providers) == 4 == report.listed
    assert "the catalogue now lists 4 providers (2 more are stored but not listed" in report.summary()


def test_replace_removes_no_one_when_a_row_that_could_be_anyones_is_unreadable(tmp_path, store, directory, settings, import_csv):
    import_csv(catalogue_rows(3))
    text = HEADER_LINE + "\n" + csv_line(id="p000") + '"p001,"Sam\n'
    path = tmp_path / "replace.csv"
    path.write_text(text)
    report = import_file(path, store, directory, settings, replace=True)
    assert [r.number for r in report.rejections] == [3] and report.unremoved == (3,)
    assert sorted(p.id for p in store.providers()) == ["p000", "p001", "p002"]
    assert "--replace removed no one: line 3 could not be read" in report.summary()


def test_replace_keeps_the_provider_of_an_unreadable_row_whose_id_can_be_read(tmp_path, store, directory, settings, import_csv):
    import_csv(catalogue_rows(3))
    text = HEADER_LINE + "\n" + csv_line(id="p000") + 'p001,"Sam\n'
    path = tmp_path / "replace.csv"
    path.write_text(text)
    report = import_file(path, store, directory, settings, replace=True)
    assert report.unremoved == () and report.record.removed == 1 and report.record.kept == 1
    assert sorted(p.id for p in store.providers()) == ["p000", "p001"]


def test_one_bad_geojson_feature_is_its_own_rejection(tmp_path, store, directory, settings):
    base = {k: v for k, v in good_row().items() if k != "postcode"}

    def feature(provider_id, geometry, **changes):
        return {"type": "Feature", "properties": {**base, "id": provider_id, **changes}, "geometry": geometry}

    point = {"type": "Point", "coordinates": [-1.7316, 54.9702]}
    features = [
        feature("ok1", point),
        feature("ring", {"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]}, postcode="NE21 4LZ"),
        feature("huge", point, bio="b" * 200_000, capacity=10**30),
        feature("far", {"type": "Point", "coordinates": [417282, 563986]}),
        {"type": "Thing", "properties": {"id": "thing"}},
        feature("ok2", point),
    ]
    path = tmp_path / "p.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    report = import_file(path, store, directory, settings)
    assert [(r.number, r.column) for r in report.rejections] == [
        (2, "geometry"),
        (3, "bio"),
        (3, "capacity"),
        (4, "geometry"),
        (5, ""),  # one rejection: not also "id is required", "name is required", ...
    ]
    assert "look like grid references" in report.rejections[3].reason
    assert sorted(p.id for p in store.public_catalog().providers) == ["ok1", "ok2"]

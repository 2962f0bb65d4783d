"""Imports end to end: mixed good and bad rows, duplicate ids, the report file, the three formats."""

from __future__ import annotations

import csv

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

"""Exports: the public view in CSV and GeoJSON, formula neutralising, and import → export → import round trips."""

from __future__ import annotations

import csv
import json

import pytest

from findsupport.catalog import CatalogStore, PUBLIC_FIELDS, export_catalog, import_file
from findsupport.catalog import export as export_module
from findsupport.catalog.model import PRIVATE_COLUMNS
from findsupport.errors import InvalidInput

from .conftest import catalogue_rows, good_row
from .test_validation import SQUARE_20KM

FORMULAS = ["=SUM(A1:A9)", "+44 7000 000000", "-minus", "@handle", "=HYPERLINK(\"http://evil\")"]


def varied_rows():
    """Postcode rows, coordinate rows, a service area, an unconsented provider, formula-like text."""
    rows = catalogue_rows(6)
    rows[0] = {**rows[0], "name": FORMULAS[0], "club": FORMULAS[1], "bio": FORMULAS[2]}
    rows[1] = {**rows[1], "name": FORMULAS[3], "bio": FORMULAS[4]}
    rows[2] = {**rows[2], "postcode": "", "lat": "54.97051", "lon": "-1.73217"}
    rows[3] = {**rows[3], "service_area": SQUARE_20KM, "postcode": "NE21 4LZ"}
    rows[4] = {**rows[4], "consent": "false"}
    rows[5] = {**rows[5], "service_area": SQUARE_20KM, "postcode": "", "lat": "54.97051", "lon": "-1.73217"}
    return rows


@pytest.fixture
def filled(store, import_csv):
    report = import_csv(varied_rows())
    assert report.ok, report.rejections
    return store


def read_csv(path):
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def test_public_csv_is_the_public_view_with_formulas_neutralised(filled, tmp_path):
    path = tmp_path / "public.csv"
    assert export_catalog(filled, path) == 5
    header, *rows = read_csv(path)
    assert tuple(header) == PUBLIC_FIELDS
    assert [r[0] for r in rows] == ["p000", "p001", "p002", "p003", "p005"]  # p004 did not consent
    cells = [cell for row in rows for cell in row]
    for formula in FORMULAS:
        assert "'" + formula in cells
    assert not any(cell.startswith(("=", "+", "@", "\t", "\r")) for cell in cells)
    # Numbers stay numbers (a negative longitude is not text to neutralise).
    lon = rows[0][header.index("lon")]
    assert lon.startswith("-1.7") and float(lon) < 0


def test_public_geojson(filled, tmp_path):
    path = tmp_path / "public.geojson"
    assert export_catalog(filled, path) == 5
    collection = json.loads(path.read_text(encoding="utf-8"))
    features = {f["properties"]["id"]: f for f in collection["features"]}
    assert list(features) == ["p000", "p001", "p002", "p003", "p005"]
    point = features["p000"]
    assert list(point["properties"]) == list(PUBLIC_FIELDS)
    assert point["geometry"]["type"] == "Point"
    assert point["geometry"]["coordinates"] == [point["properties"]["lon"], point["properties"]["lat"]]
    assert point["properties"]["name"] == FORMULAS[0]  # JSON is data, not a spreadsheet
    assert features["p003"]["geometry"]["type"] == "Polygon"
    lon, lat = features["p003"]["geometry"]["coordinates"][0][0]
    assert -2.5 < lon < -1 and 54.5 < lat < 55.5


@pytest.mark.parametrize("suffix", [".csv", ".geojson"])
def test_private_export_round_trip_is_identity_on_public_fields(filled, tmp_path, settings, directory, suffix):
    path = tmp_path / f"private{suffix}"
    assert export_catalog(filled, path, private=True) == 6
    if suffix == ".csv":
        assert tuple(read_csv(path)[0]) == PRIVATE_COLUMNS
    other = CatalogStore.open(settings.replace(data_dir=tmp_path / "other"))
    report = import_file(path, other, directory, settings)
    assert report.ok, report.rejections
    before, after = filled.public_catalog(), other.public_catalog()
    assert after.providers == before.providers  # every public field but the polygon...
    for a, b in zip(before.providers, after.providers):  # ...which is compared here
        assert (a.service_area is None) == (b.service_area is None)
        if a.service_area is not None:
            # Through WGS84 and back (GeoJSON) a vertex may move by a millimetre.
            assert b.service_area.equals_exact(a.service_area, 0.01)
    if suffix == ".csv":  # CSV keeps every private field exactly too
        assert list(other.providers()) == list(filled.providers())
        assert other.version() == filled.version()
    assert {p.id: p.consent for p in other.providers()} == {p.id: p.consent for p in filled.providers()}


def test_reimporting_a_private_export_changes_nothing(filled, tmp_path, directory, settings):
    path = tmp_path / "private.csv"
    export_catalog(filled, path, private=True)
    version = filled.version()
    report = import_file(path, filled, directory, settings, replace=True)
    assert (report.record.unchanged, report.record.updated, report.record.removed) == (6, 0, 0)
    assert filled.version() == version


def test_unsupported_export_format(filled, tmp_path):
    with pytest.raises(InvalidInput, match="must end in one of .csv, .geojson, .json"):
        export_catalog(filled, tmp_path / "out.xlsx")


def test_a_failed_export_leaves_the_old_file(filled, tmp_path, monkeypatch):
    path = tmp_path / "public.csv"
    path.write_text("the previous export\n")

    def broken(provider):
        raise RuntimeError("simulated failure")

    monkeypatch.setattr(export_module, "public_record", broken)
    with pytest.raises(RuntimeError):
        export_catalog(filled, path)
    assert path.read_text() == "the previous export\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".public.csv")] == []


def test_export_of_an_empty_catalogue(store, tmp_path):
    assert export_catalog(store, tmp_path / "empty.csv") == 0
    assert read_csv(tmp_path / "empty.csv") == [list(PUBLIC_FIELDS)]
    assert export_catalog(store, tmp_path / "empty.geojson") == 0
    assert json.loads((tmp_path / "empty.geojson").read_text()) == {"type": "FeatureCollection", "features": []}


def test_good_row_fixture_is_importable(import_csv):
    assert import_csv([good_row()]).ok

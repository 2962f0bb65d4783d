"""Exports: the public view in CSV, GeoJSON and GeoPackage, formula neutralising, and import → export → import round trips."""

from __future__ import annotations

import csv
import json
import sqlite3
import stat

import numpy as np
import pyogrio
import pyogrio.raw
import pytest
import shapely

from findsupport.catalog import CatalogStore, PUBLIC_FIELDS, export_catalog, import_file
from findsupport.catalog import export as export_module
from findsupport.catalog.model import PRIVATE_COLUMNS
from findsupport.cli import main
from findsupport.config import load_settings
from findsupport.errors import InvalidInput

from .conftest import catalogue_rows, good_row, write_csv
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


@pytest.mark.parametrize("suffix", [".csv", ".geojson", ".gpkg"])
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
    if suffix in (".csv", ".gpkg"):  # CSV and GeoPackage keep every private field exactly too
        assert list(other.providers()) == list(filled.providers())
        assert other.version() == filled.version()
    assert {p.id: p.consent for p in other.providers()} == {p.id: p.consent for p in filled.providers()}


@pytest.mark.parametrize("suffix", [".csv", ".gpkg"])
def test_reimporting_a_private_export_changes_nothing(filled, tmp_path, directory, settings, suffix):
    path = tmp_path / f"private{suffix}"
    export_catalog(filled, path, private=True)
    version = filled.version()
    report = import_file(path, filled, directory, settings, replace=True)
    assert (report.record.unchanged, report.record.updated, report.record.removed) == (6, 0, 0)
    assert filled.version() == version


def test_unsupported_export_format(filled, tmp_path):
    with pytest.raises(InvalidInput, match="must end in one of .csv, .geojson, .json, .gpkg"):
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


# ---------------------------------------------------------------------- GeoPackage
def read_layers(path):
    """Every layer of a GeoPackage: ``{layer: (meta, geometries, {column: values})}``."""
    layers = {}
    for name, _kind in pyogrio.list_layers(path):
        meta, _fids, wkb, fields = pyogrio.raw.read(path, layer=str(name))
        geometries = list(shapely.from_wkb(wkb)) if wkb is not None else []
        layers[str(name)] = (meta, geometries, dict(zip(meta["fields"], fields)))
    return layers


def private_values(store):
    """Every private value of every provider, as text and as numbers."""
    texts, numbers = set(), []
    for provider in store.providers():
        texts.add(provider.email.lower())
        texts.add(provider.email.split("@")[0].lower())
        if provider.postcode:
            texts.update({provider.postcode.lower(), provider.postcode.replace(" ", "").lower()})
        numbers.extend(v for v in (provider.base_lon, provider.base_lat, provider.base_easting, provider.base_northing) if v is not None)
    return texts, np.array(numbers)


def test_public_gpkg_layers(filled, tmp_path):
    path = tmp_path / "public.gpkg"
    assert export_catalog(filled, path) == 5
    layers = read_layers(path)
    assert list(layers) == ["providers", "service_areas"]
    meta, points, fields = layers["providers"]
    assert meta["crs"] == "EPSG:27700" and meta["geometry_type"] == "Point"
    assert tuple(meta["fields"]) == PUBLIC_FIELDS
    public = {p.id: p for p in filled.public_catalog().providers}
    assert list(fields["id"]) == list(public)
    for provider_id, point in zip(fields["id"], points):
        assert (point.x, point.y) == (public[provider_id].easting, public[provider_id].northing)
    assert list(fields["roles"]) == [";".join(p.roles) for p in public.values()]
    assert fields["online"].dtype == bool and fields["capacity"].dtype == np.int64
    assert list(fields["name"])[:2] == FORMULAS[0:4:3]  # typed data for a GIS, not a spreadsheet
    meta, areas, fields = layers["service_areas"]
    assert meta["crs"] == "EPSG:27700" and meta["geometry_type"] == "MultiPolygon"
    assert tuple(meta["fields"]) == ("id", "name", "area")
    assert list(fields["id"]) == ["p003", "p005"]
    for provider_id, area in zip(fields["id"], areas):
        assert area.equals(public[provider_id].service_area)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_public_gpkg_holds_no_private_value(filled, tmp_path):
    """No e-mail, postcode or base coordinate in any column, geometry or table of the file."""
    path = tmp_path / "public.gpkg"
    export_catalog(filled, path)
    texts, numbers = private_values(filled)
    public_numbers = np.array([v for p in filled.public_catalog().providers for v in (p.easting, p.northing)])
    # Bases that coincide with a public location would prove nothing: this catalogue has none.
    assert not np.isin(numbers, public_numbers).any()
    for name, (meta, geometries, fields) in read_layers(path).items():
        assert not {"email", "postcode", "consent", "base_lon", "base_lat", "base_easting", "base_northing"} & set(meta["fields"])
        for column, values in fields.items():
            for value in values:
                if isinstance(value, str):
                    assert not any(text in value.lower() for text in texts), (name, column, value)
                elif isinstance(value, (float, np.floating)):
                    assert not np.isin(numbers, [value]).any(), (name, column, value)
        for geometry in geometries:
            coordinates = shapely.get_coordinates(geometry).ravel()
            assert not np.isin(coordinates, numbers).any(), name
    # And nowhere else in the file: GeoPackage metadata tables, R-tree, free pages.
    raw = path.read_bytes().lower()
    assert not any(text.encode() in raw for text in texts if len(text) > 4)
    with sqlite3.connect(path) as conn:
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                cells = " ".join(str(cell).lower() for cell in row if isinstance(cell, str))
                assert not any(text in cells for text in texts), table


def test_private_gpkg_is_every_field(filled, tmp_path):
    path = tmp_path / "private.gpkg"
    assert export_catalog(filled, path, private=True) == 6
    layers = read_layers(path)
    assert list(layers) == ["providers"]  # one layer: an import needs no --layer
    meta, areas, fields = layers["providers"]
    assert meta["crs"] == "EPSG:27700"
    assert tuple(meta["fields"]) == tuple(c for c in PRIVATE_COLUMNS if c != "service_area")
    assert [a is not None for a in areas] == [False, False, False, True, False, True]
    assert list(fields["consent"]) == [True, True, True, True, False, True]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_gpkg_export_replaces_an_old_file_and_leaves_no_temporary(filled, tmp_path):
    path = tmp_path / "out.gpkg"
    path.write_bytes(b"an older export")
    export_catalog(filled, path)
    assert list(read_layers(path)) == ["providers", "service_areas"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".out.gpkg")) == []


def test_gpkg_export_of_an_empty_catalogue(store, tmp_path):
    assert export_catalog(store, tmp_path / "empty.gpkg") == 0
    layers = read_layers(tmp_path / "empty.gpkg")
    assert {name: len(geometries) for name, (_m, geometries, _f) in layers.items()} == {"providers": 0, "service_areas": 0}
    assert export_catalog(store, tmp_path / "empty-private.gpkg", private=True) == 0


def test_cli_private_gpkg_round_trip_into_a_fresh_data_dir(cli_env, tmp_path, capsys):
    """``export --private x.gpkg`` then ``import x.gpkg`` elsewhere: the same catalogue, field for field."""
    assert main(["import", str(write_csv(tmp_path / "in.csv", varied_rows())), "-q"]) == 0
    assert main(["export", str(tmp_path / "all.gpkg"), "--private"]) == 0
    assert "exported 6 providers (private" in capsys.readouterr().out
    fresh = tmp_path / "fresh"
    assert main(["import", str(tmp_path / "all.gpkg"), "--data-dir", str(fresh), "-q"]) == 0
    stores = [CatalogStore.open(load_settings({"data_dir": d}, environ={})) for d in (cli_env["FINDSUPPORT_DATA_DIR"], fresh)]
    before, after = (list(store.providers()) for store in stores)
    assert after == before
    assert [p.service_area for p in after] == [p.service_area for p in before]  # shapely equality: exact
    assert stores[1].version() == stores[0].version()


def test_good_row_fixture_is_importable(import_csv):
    assert import_csv([good_row()]).ok

"""Exporting the catalogue: CSV, GeoJSON or GeoPackage of the public view, or everything for administrators.

The public export is exactly what the public may see: listed providers
(consented, not paused), :data:`~findsupport.catalog.public.PUBLIC_FIELDS`,
located at their sector centroid (GeoJSON: the explicit service area when
there is one, else that point).  ``private=True`` writes every provider with
every stored field in the import columns, so the file imports back into the
same catalogue.

GeoPackage (``.gpkg``) is in EPSG:27700, the British National Grid the
catalogue is stored in, so nothing is reprojected on the way out (a GIS
reprojects on the fly for its base map; OS base maps are in 27700 too):

* public: layer ``providers`` (points at the public location, the
  :data:`PUBLIC_FIELDS`) and layer ``service_areas`` (the explicit, coarsened
  service areas as MultiPolygons with ``id``, ``name`` and ``area`` to join on;
  a provider without one serves the circle of ``travel_km`` around their point);
* private: one layer ``providers`` holding exactly the columns of a private
  CSV, the explicit service area as its geometry (none for the others) and the
  given ``lat``/``lon`` as numbers, so an import reads every value back
  unchanged (a point geometry would go through a transformation and move the
  base by a fraction of a millimetre).

CSV text cells are neutralised against spreadsheet formula injection
(:func:`~findsupport.catalog.spreadsheet.neutralise`); numbers are written
as numbers.  Files are written to a temporary name and renamed, so a failed
export never leaves half a file where a good one was.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import shapely
from shapely.geometry import mapping

from ..config import PRIVATE_FILE_MODE
from ..errors import InvalidInput
from ..geo import to_wgs84
from .model import CSV_COLUMNS, PRIVATE_COLUMNS, SERVICE_AREA_COLUMN, Provider, join_list
from .public import PUBLIC_FIELDS, PublicProvider
from .spreadsheet import neutralise
from .store import CatalogStore

__all__ = [
    "export_catalog",
    "EXPORT_FORMATS",
    "GPKG_CRS",
    "GPKG_PROVIDERS_LAYER",
    "GPKG_SERVICE_AREAS_LAYER",
    "GPKG_SERVICE_AREA_FIELDS",
    "public_record",
    "private_record",
    "to_lonlat_geometry",
]

#: File name endings and the format each means.
EXPORT_FORMATS: dict[str, str] = {".csv": "csv", ".geojson": "geojson", ".json": "geojson", ".gpkg": "gpkg"}
#: GeoPackages are written in the catalogue's own CRS (British National Grid): no reprojection, exact values.
GPKG_CRS = "EPSG:27700"
#: The layer of providers (public: points at the public location; private: every field).
GPKG_PROVIDERS_LAYER = "providers"
#: The public layer of explicit service areas.
GPKG_SERVICE_AREAS_LAYER = "service_areas"
#: Attributes of a public service area: the provider's id to join on, and what a map label needs.
GPKG_SERVICE_AREA_FIELDS: tuple[str, ...] = ("id", "name", "area")
#: Six decimals of a degree is about 10 cm: finer than any postcode centroid.
LONLAT_DECIMALS = 6

Record = dict[str, Any]


def _number(value: float) -> int | float:
    """Whole numbers without a trailing ``.0`` (a tidier spreadsheet), others unchanged."""
    return int(value) if float(value).is_integer() else value


def public_record(provider: PublicProvider) -> Record:
    """A public provider as export values (lists as lists), in :data:`PUBLIC_FIELDS` order."""
    values = {
        "id": provider.id,
        "name": provider.name,
        "roles": list(provider.roles),
        "events": list(provider.events),
        "availability": list(provider.availability),
        "online": provider.online,
        "travel_km": _number(provider.travel_km),
        "capacity": provider.capacity,
        "active_coaches": provider.active_coaches,
        "qualification": provider.qualification,
        "club": provider.club,
        "bio": provider.bio,
        "area": provider.area,
        "lat": round(provider.lat, LONLAT_DECIMALS),
        "lon": round(provider.lon, LONLAT_DECIMALS),
    }
    return {name: values[name] for name in PUBLIC_FIELDS}


def private_record(provider: Provider) -> Record:
    """Every stored field of a provider as import columns (lists as lists, coordinates as given)."""
    return {
        "id": provider.id,
        "name": provider.name,
        "roles": list(provider.roles),
        "postcode": provider.postcode,
        "events": list(provider.events),
        "availability": list(provider.availability),
        "travel_km": _number(provider.travel_km),
        "online": provider.online,
        "capacity": provider.capacity,
        "active_coaches": provider.active_coaches,
        "qualification": provider.qualification,
        "club": provider.club,
        "email": provider.email,
        "consent": provider.consent,
        "bio": provider.bio,
        "lat": provider.base_lat,
        "lon": provider.base_lon,
        SERVICE_AREA_COLUMN: provider.service_area,
    }


def to_lonlat_geometry(geometry: Any) -> Any:
    """A geometry in EPSG:27700 transformed to WGS84 longitude/latitude."""

    def transform(coords: np.ndarray) -> np.ndarray:
        lon, lat = to_wgs84(coords[:, 0], coords[:, 1])
        return np.column_stack([lon, lat])

    return shapely.transform(geometry, transform)


# ---------------------------------------------------------------------- CSV
def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return join_list(value)
    if isinstance(value, str):
        return neutralise(value)
    if isinstance(value, (int, float)):
        return value
    # A service area: WKT at full precision, so export → import gives back the same polygon.
    return shapely.to_wkt(value, rounding_precision=-1)


def _write_csv(fh: TextIO, columns: tuple[str, ...], records: Iterable[Record]) -> int:
    writer = csv.writer(fh)
    writer.writerow(columns)
    count = 0
    for record in records:
        writer.writerow([_csv_cell(record[c]) for c in columns])
        count += 1
    return count


# ---------------------------------------------------------------------- GeoJSON
def _feature(properties: Record, geometry: Any) -> str:
    feature = {"type": "Feature", "properties": properties, "geometry": mapping(geometry) if geometry is not None else None}
    return json.dumps(feature, ensure_ascii=False, separators=(",", ":"))


def _write_geojson(fh: TextIO, features: Iterable[str]) -> int:
    # One feature a line: readable with `head`, streamable, still one valid JSON document.
    fh.write('{"type":"FeatureCollection","features":[\n')
    count = 0
    for feature in features:
        if count:
            fh.write(",\n")
        fh.write(feature)
        count += 1
    fh.write("\n]}\n")
    return count


def _public_features(providers: Iterable[PublicProvider]) -> Iterator[str]:
    for provider in providers:
        if provider.service_area is not None:
            geometry = to_lonlat_geometry(provider.service_area)
        else:
            geometry = shapely.Point(round(provider.lon, LONLAT_DECIMALS), round(provider.lat, LONLAT_DECIMALS))
        yield _feature(public_record(provider), geometry)


def _private_features(providers: Iterable[Provider]) -> Iterator[str]:
    for provider in providers:
        record = private_record(provider)
        properties = {column: record[column] for column in CSV_COLUMNS}
        if provider.service_area is not None:
            geometry = to_lonlat_geometry(provider.service_area)
            if provider.base_lon is not None:
                properties.update(lat=provider.base_lat, lon=provider.base_lon)
        elif provider.base_lon is not None:
            geometry = shapely.Point(provider.base_lon, provider.base_lat)
        else:
            # The postcode's own location: a GIS shows every provider, and it imports back the same.
            lon, lat = to_wgs84([provider.base_easting], [provider.base_northing])
            geometry = shapely.Point(float(lon[0]), float(lat[0]))
        yield _feature(properties, geometry)


# ---------------------------------------------------------------------- GeoPackage
#: Columns of a layer that are numbers or booleans (written typed; everything else is text).
_FLOAT_COLUMNS = frozenset({"travel_km", "lat", "lon"})
_INTEGER_COLUMNS = frozenset({"capacity", "active_coaches"})
_BOOLEAN_COLUMNS = frozenset({"online", "consent"})


def _layer_column(name: str, values: list[Any]) -> Any:
    """One attribute column with a fixed type, whatever its values (all empty included)."""
    import pandas as pd

    if name in _BOOLEAN_COLUMNS:
        return pd.array(values, dtype=bool)
    if name in _INTEGER_COLUMNS:
        return pd.array(values, dtype="int64")
    if name in _FLOAT_COLUMNS:
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    # Lists as the ';'-joined text of a CSV cell: the import reads them back the same way.
    return np.array([join_list(v) if isinstance(v, list) else v for v in values], dtype=object)


def _layer(columns: tuple[str, ...], records: list[Record], geometries: list[Any]) -> Any:
    import geopandas as gpd

    data = {name: _layer_column(name, [record[name] for record in records]) for name in columns}
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(geometries, crs=GPKG_CRS), crs=GPKG_CRS)


def _public_layers(providers: tuple[PublicProvider, ...]) -> list[tuple[str, Any, str]]:
    """``(layer, frame, geometry type)`` of the public GeoPackage."""
    points = [shapely.Point(p.easting, p.northing) for p in providers]
    with_area = [p for p in providers if p.service_area is not None]
    areas = [{"id": p.id, "name": p.name, "area": p.area} for p in with_area]
    return [
        (GPKG_PROVIDERS_LAYER, _layer(PUBLIC_FIELDS, [public_record(p) for p in providers], points), "Point"),
        (
            GPKG_SERVICE_AREAS_LAYER,
            _layer(GPKG_SERVICE_AREA_FIELDS, areas, [shapely.multipolygons(shapely.get_parts(p.service_area)) for p in with_area]),
            "MultiPolygon",
        ),
    ]


def _private_layers(providers: list[Provider]) -> list[tuple[str, Any, str]]:
    """The one layer of the private GeoPackage: private CSV columns, the service area as geometry."""
    columns = tuple(c for c in PRIVATE_COLUMNS if c != SERVICE_AREA_COLUMN)
    records = [private_record(p) for p in providers]
    # "Unknown": Polygons stay Polygons and MultiPolygons stay MultiPolygons, byte for byte.
    return [(GPKG_PROVIDERS_LAYER, _layer(columns, records, [p.service_area for p in providers]), "Unknown")]


def _write_gpkg(path: Path, layers: list[tuple[str, Any, str]]) -> None:
    import pyogrio

    for name, frame, geometry_type in layers:
        pyogrio.write_dataframe(
            frame, path, layer=name, driver="GPKG", geometry_type=geometry_type, promote_to_multi=False
        )


def _atomic_gpkg(path: Path, layers: list[tuple[str, Any, str]]) -> None:
    """Write a GeoPackage beside ``path`` in a private folder, then rename it into place (owner-only)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # A folder, not a temporary file: GDAL will not create a GeoPackage over an existing empty file.
    folder = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        tmp = folder / path.name
        _write_gpkg(tmp, layers)
        os.chmod(tmp, PRIVATE_FILE_MODE)  # like every export (mkstemp): the owner decides who reads it
        os.replace(tmp, path)
    finally:
        for leftover in folder.iterdir():
            leftover.unlink()
        folder.rmdir()


# ---------------------------------------------------------------------- entry point
def _atomic_write(path: Path, write: Callable[[TextIO], int]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            count = write(fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return count


def export_catalog(store: CatalogStore, path: str | os.PathLike[str], *, private: bool = False) -> int:
    """Write the catalogue to ``path`` (CSV, GeoJSON or GeoPackage, by file name ending); returns the provider count.

    Parameters
    ----------
    store : CatalogStore
    path : path
        ``.csv``, ``.geojson``/``.json`` or ``.gpkg`` (layers: see the module docstring).
    private : bool
        Every provider (consented or not) with every stored field, in the
        columns an import reads back: for administrators, never for publishing.

    Raises
    ------
    InvalidInput
        An unsupported file name ending.
    """
    path = Path(path)
    fmt = EXPORT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InvalidInput(
            f"Cannot export to {path.name}: the file name must end in one of {', '.join(EXPORT_FORMATS)} "
            f"(CSV, GeoJSON or GeoPackage); got {path.suffix or 'no ending'!r}.",
            field="file",
        )
    if private:
        providers = list(store.providers())
        if fmt == "gpkg":
            _atomic_gpkg(path, _private_layers(providers))
            return len(providers)
        if fmt == "csv":
            return _atomic_write(path, lambda fh: _write_csv(fh, PRIVATE_COLUMNS, map(private_record, providers)))
        return _atomic_write(path, lambda fh: _write_geojson(fh, _private_features(providers)))
    catalog = store.public_catalog()
    if fmt == "gpkg":
        _atomic_gpkg(path, _public_layers(catalog.providers))
        return len(catalog)
    if fmt == "csv":
        return _atomic_write(path, lambda fh: _write_csv(fh, PUBLIC_FIELDS, map(public_record, catalog.providers)))
    return _atomic_write(path, lambda fh: _write_geojson(fh, _public_features(catalog.providers)))

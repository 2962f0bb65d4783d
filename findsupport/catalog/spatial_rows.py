"""Reading GeoJSON files and GeoPackage layers into numbered rows, geometries transformed.

GeoJSON is read with the json module, feature by feature; GeoPackage layers with
pyogrio, each geometry decoded on its own.  Geometries in any CRS are
transformed: points to WGS84 longitude/latitude (the provider's base, checked
like ``lat``/``lon`` columns), polygons to EPSG:27700 (the explicit service
area).  A file without a CRS is rejected, never guessed.  Rows are numbered by
feature, from 1; one feature's problems are that feature's alone.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ImportRejected
from ..geo import BNG, WGS84
from .model import IMPORT_COLUMNS, Problem
from .service_area import POLYGONAL_TYPES
from .source_rows import Progress, RawRow, SourceRows, check_columns

__all__ = ["read_spatial"]

#: GeoJSON without a ``crs`` member is longitude/latitude (RFC 7946).
_GEOJSON_DEFAULT_CRS = WGS84
#: What building a geometry from a GeoJSON object raises for malformed input
#: (shapely reports bad coordinates as whichever error its parsing meets first).
_SHAPE_ERRORS: tuple[type[Exception], ...] = (ValueError, TypeError, KeyError, AttributeError, IndexError)


@dataclass
class _Features:
    """Features as read, before geometries are checked and transformed."""

    where: str
    crs: Any
    columns: list[str]
    cells: dict[str, list[Any]]
    geometries: list[Any]
    problems: list[list[Problem]]


def read_spatial(path: Path, fmt: str, *, layer: str | None = None, progress: Progress | None = None) -> SourceRows:
    """Features of a GeoJSON file or a GeoPackage layer, geometries transformed (see module doc).

    One feature's problems (a geometry that cannot be read or lies outside
    longitude/latitude, properties of unexpected types, huge values, an unknown
    property only some features have) are that feature's; only what concerns
    the file (unreadable, no CRS, unknown columns) rejects it.  GeoJSON is read
    with the json module, feature by feature, so GDAL can neither drop a
    malformed feature silently (renumbering the rest) nor stop the file at
    one out-of-range number.
    """
    features = _geojson_features(path) if fmt == "geojson" else _ogr_features(path, fmt, layer)
    if progress:
        progress(f"read {len(features.geometries):,} features")
    return _spatial_rows(features, fmt)


def _unknown_hint(name: str) -> str:
    close = difflib.get_close_matches(name.strip().lower(), IMPORT_COLUMNS, n=1)
    return f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else "")


def _geojson_features(path: Path) -> _Features:
    import json

    import pyproj
    import shapely.geometry
    from shapely.errors import ShapelyError

    name = path.name
    try:
        document = json.loads(path.read_bytes().decode("utf-8-sig"))
    except OSError as exc:
        raise ImportRejected(f"{name} cannot be read: {exc.strerror}.") from None
    except UnicodeDecodeError as exc:
        raise ImportRejected(f"{name} cannot be read as geojson: it is not UTF-8 text (byte {exc.start:,}).") from None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise ImportRejected(f"{name} cannot be read as geojson: {exc}") from None
    kind = document.get("type") if isinstance(document, dict) else type(document).__name__
    if kind == "FeatureCollection" and isinstance(document.get("features"), list):
        items = document["features"]
    elif kind == "Feature":
        items = [document]
    else:
        raise ImportRejected(
            f"{name} cannot be read as geojson: it must be a FeatureCollection with a list of features "
            f"(or one Feature); its type is {str(kind)[:40]!r}."
        )
    crs_member = document.get("crs")
    crs_name = crs_member.get("properties", {}).get("name") if isinstance(crs_member, dict) else None
    if crs_member is not None and not isinstance(crs_name, str):
        raise ImportRejected(f"{name}: its 'crs' member is not a named CRS (like urn:ogc:def:crs:EPSG::27700).")
    try:
        crs = pyproj.CRS.from_user_input(crs_name or _GEOJSON_DEFAULT_CRS)
    except pyproj.exceptions.CRSError:
        raise ImportRejected(f"{name}: its CRS {crs_name[:80]!r} is not one we know.") from None

    columns: dict[str, None] = {}
    properties_of: list[dict[str, Any]] = []
    geometries: list[Any] = []
    problems: list[list[Problem]] = []
    for item in items:
        found: list[Problem] = []
        properties: Any = {}
        geometry = None
        if not isinstance(item, dict) or item.get("type") != "Feature":
            what = item.get("type") if isinstance(item, dict) else type(item).__name__
            found.append(Problem("", f"this is not a GeoJSON Feature (its type is {str(what)[:40]!r})"))
        else:
            properties = item.get("properties") or {}
            if not isinstance(properties, dict):
                found.append(Problem("", "its properties are not a JSON object"))
                properties = {}
            raw = item.get("geometry")
            if raw is not None:
                try:
                    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
                        raise ValueError("a geometry is an object with a type and coordinates")
                    geometry = shapely.geometry.shape(raw)
                except (ShapelyError, *_SHAPE_ERRORS) as exc:
                    found.append(Problem("geometry", f"the geometry cannot be read: {str(exc)[:120]}"))
        columns.update(dict.fromkeys(properties))
        properties_of.append(properties)
        geometries.append(geometry)
        problems.append(found)
    # A property every feature has is a column (an unknown one rejects the file, as a CSV
    # header would); an unknown property only some features have is their problem.
    sometimes = {c for c in columns if c.strip().lower() not in IMPORT_COLUMNS and not all(c in p for p in properties_of)}
    for properties, found in zip(properties_of, problems):
        for column in sometimes.intersection(properties):
            found.append(Problem(column, f"unknown property {_unknown_hint(column)}; rename or remove it so no data is lost"))
    kept = [c for c in columns if c not in sometimes]
    cells = {column: [properties.get(column) for properties in properties_of] for column in kept}
    return _Features(where=name, crs=crs, columns=kept, cells=cells, geometries=geometries, problems=problems)


def _ogr_features(path: Path, fmt: str, layer: str | None) -> _Features:
    import pyogrio
    import pyogrio.raw
    import pyproj
    import shapely
    from pyogrio.errors import DataLayerError, DataSourceError

    name = path.name
    try:
        layers = [str(entry[0]) for entry in pyogrio.list_layers(path)]
    except (DataSourceError, DataLayerError) as exc:
        raise ImportRejected(f"{name} cannot be read as {fmt}: {exc}") from None
    if layer is None and len(layers) > 1:
        raise ImportRejected(f"{name} has several layers ({', '.join(layers)}); choose one with --layer.")
    if layer is not None and layer not in layers:
        raise ImportRejected(f"{name} has no layer {layer!r}; its layers are {', '.join(layers)}.")
    try:
        meta, _fids, wkb, field_data = pyogrio.raw.read(path, layer=layer or (layers[0] if layers else None))
    except (DataSourceError, DataLayerError) as exc:
        raise ImportRejected(f"{name} cannot be read as {fmt}: {exc}") from None
    where = f"{name}" + (f" (layer {layer})" if layer else "")
    n = len(field_data[0]) if len(field_data) else (0 if wkb is None else len(wkb))
    if wkb is None:
        wkb = [None] * n
    # One malformed geometry (say a ring that is not closed) must not stop the layer:
    # it becomes None here and that feature's problem below.
    geometries = list(shapely.from_wkb(wkb, on_invalid="ignore")) if n else []
    problems = [
        [Problem("geometry", "the geometry cannot be read (malformed, or a polygon ring that is not closed)")]
        if blob is not None and shape is None
        else []
        for blob, shape in zip(wkb, geometries)
    ]
    columns = [str(c) for c in meta["fields"]]
    cells = {column: list(values) for column, values in zip(columns, field_data)}
    crs = pyproj.CRS.from_user_input(meta["crs"]) if meta.get("crs") else None
    return _Features(where=where, crs=crs, columns=columns, cells=cells, geometries=geometries, problems=problems)


def _plain(value: Any) -> Any:
    """A cell as a plain value, ``None`` where missing (NaN, NaT); lists and objects kept as they are."""
    import numpy as np
    import pandas as pd

    if value is None or isinstance(value, (str, bytes, list, dict, np.ndarray)):
        return value
    return None if pd.isna(value) else value


def _spatial_rows(features: _Features, fmt: str) -> SourceRows:
    import geopandas as gpd
    import numpy as np

    where = features.where
    if features.crs is None:
        raise ImportRejected(
            f"{where} has no coordinate reference system, so its coordinates cannot be placed. Set the layer's "
            "CRS in your GIS (EPSG:27700 for British National Grid, EPSG:4326 for longitude/latitude) and export again."
        )
    columns = check_columns(features.columns, where, spatial=True)
    cells = {column: [_plain(v) for v in features.cells[source]] for column, source in zip(columns, features.columns)}
    problems = features.problems
    geometry = gpd.GeoSeries(features.geometries, crs=features.crs)
    present = (geometry.notna() & ~geometry.is_empty).to_numpy(copy=True)
    bounds = geometry.bounds.to_numpy()
    is_point_kind = (geometry.geom_type == "Point").to_numpy()
    # A point's coordinates go to validation as they are when they cannot be transformed:
    # it checks them like lat/lon columns and says what is wrong with them.
    raw_points: dict[int, tuple[float, float]] = {}
    finite = np.isfinite(bounds).all(axis=1)
    for i in np.flatnonzero(present & ~finite):
        if is_point_kind[i]:
            raw_points[int(i)] = (float(bounds[i, 0]), float(bounds[i, 1]))
        else:
            problems[i].append(Problem("geometry", "the geometry has coordinates that are not finite numbers"))
    present &= finite
    if features.crs.is_geographic and present.any():
        reach = np.abs(np.where(np.isfinite(bounds), bounds, 0.0)).max(axis=1)
        outside = present & (
            (np.abs(bounds[:, [0, 2]]) > 180).any(axis=1) | (np.abs(bounds[:, [1, 3]]) > 90).any(axis=1)
        )
        if outside[present].all():
            raise ImportRejected(
                f"{where} says its coordinates are longitude/latitude ({features.crs.name}) but they reach "
                f"{reach[present].max():,.0f}, so they look like metres (British "
                "National Grid?). A GeoJSON file without a 'crs' member means longitude/latitude (RFC 7946): "
                "export it from your GIS as EPSG:4326, or as a GeoPackage that keeps its CRS."
            )
        for i in np.flatnonzero(outside):
            if is_point_kind[i]:
                raw_points[int(i)] = (float(bounds[i, 0]), float(bounds[i, 1]))
            else:
                problems[i].append(
                    Problem(
                        "geometry",
                        f"the geometry's coordinates reach {reach[i]:,.0f}, outside longitude (-180 to 180) and "
                        f"latitude (-90 to 90), which the file's CRS ({features.crs.name}) says they are",
                    )
                )
        present &= ~outside

    kinds = np.array(geometry.geom_type.to_numpy(dtype=object), dtype=object)
    kinds[~present] = None
    is_point = kinds == "Point"
    is_area = np.isin(kinds, POLYGONAL_TYPES) | (kinds == "GeometryCollection")
    points: dict[int, tuple[float, float]] = dict(raw_points)
    if is_point.any():
        lonlat = geometry[is_point].to_crs(WGS84)
        for i, x, y in zip(np.flatnonzero(is_point), lonlat.x.to_numpy(), lonlat.y.to_numpy()):
            points[int(i)] = (float(x), float(y))
    areas: dict[int, Any] = {}
    if is_area.any():
        for i, shape in zip(np.flatnonzero(is_area), geometry[is_area].to_crs(BNG)):
            areas[int(i)] = shape
    rows = []
    for i in range(len(geometry)):
        found = problems[i]
        if kinds[i] is not None and not (is_point[i] or is_area[i]):
            found.append(
                Problem(
                    "geometry",
                    f"a {kinds[i]} geometry is not supported: use a Point (the provider's base) or a "
                    "Polygon/MultiPolygon (their service area)",
                )
            )
        values = {column: cells[column][i] for column in columns}
        # Not a Feature, or properties that are not an object: nothing in it to validate.
        readable = not any(problem.column == "" for problem in found)
        rows.append(
            RawRow(
                number=i + 1, values=values, point=points.get(i), area=areas.get(i), problems=tuple(found), readable=readable
            )
        )
    return SourceRows(format=fmt, unit="feature", columns=columns, rows=rows)

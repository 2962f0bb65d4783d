"""Reading catalogue files: CSV, GeoJSON and GeoPackage become numbered raw rows.

Readers check what concerns the *whole file* and raise
:class:`~findsupport.errors.ImportRejected` when it cannot be imported at all
(unreadable, not UTF-8, no header, unknown or missing columns, a spatial file
without a coordinate reference system).  Everything about one row is left to
validation, so one bad row never stops the others.

Rows are numbered as a person finds them: for CSV the line an editor shows
the record starting on (the header is line 1; quoted line breaks counted);
for spatial files the feature number, from 1.

Spatial files are read with geopandas/pyogrio.  Geometries in any CRS are
transformed: points to WGS84 longitude/latitude (the provider's base, checked
like ``lat``/``lon`` columns), polygons to EPSG:27700 (the explicit service
area).  A file without a CRS is rejected, never guessed.
"""

from __future__ import annotations

import csv
import difflib
import io
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ImportRejected
from ..geo import BNG, WGS84
from .model import COORDINATE_COLUMNS, IMPORT_COLUMNS, REQUIRED_COLUMNS, Problem
from .service_area import POLYGONAL_TYPES

__all__ = ["RawRow", "SourceRows", "read_source", "read_csv", "read_spatial", "FORMATS", "PROGRESS_EVERY_ROWS"]

#: File name endings and the format each means.
FORMATS: dict[str, str] = {".csv": "csv", ".geojson": "geojson", ".json": "geojson", ".gpkg": "gpkg"}
#: Progress is reported every this many rows (files this small need none).
PROGRESS_EVERY_ROWS = 10_000

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class RawRow:
    """One row as read: its number, its values by column, and any geometry.

    ``point`` is a point geometry as (lon, lat) in WGS84 degrees; ``area`` a
    polygonal geometry in EPSG:27700; ``problems`` what the reader already
    found wrong (an unsupported geometry, too many cells).
    """

    number: int
    values: dict[str, Any]
    point: tuple[float, float] | None = None
    area: Any = None
    problems: tuple[Problem, ...] = ()


@dataclass(frozen=True, slots=True)
class SourceRows:
    """The rows of one file: ``unit`` says what ``RawRow.number`` counts (line, feature, row)."""

    format: str
    unit: str
    columns: tuple[str, ...]
    rows: list[RawRow]


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower()
    try:
        return FORMATS[suffix]
    except KeyError:
        known = ", ".join(sorted(FORMATS))
        raise ImportRejected(
            f"{path.name}: the file name must end in one of {known} (CSV, GeoJSON or GeoPackage); got {suffix or 'no ending'!r}."
        ) from None


def read_source(path: str | os.PathLike[str], *, layer: str | None = None, progress: Progress | None = None) -> SourceRows:
    """Read a catalogue file of any supported format (chosen by its file name ending)."""
    path = Path(path)
    fmt = detect_format(path)
    if not path.is_file():
        raise ImportRejected(f"{path} does not exist or is not a file.")
    if fmt == "csv":
        if layer is not None:
            raise ImportRejected("--layer applies to GeoPackage files only.")
        return read_csv(path, progress)
    return read_spatial(path, fmt, layer=layer, progress=progress)


def check_columns(names: Sequence[str], source: str, *, spatial: bool) -> tuple[str, ...]:
    """Normalised column names (trimmed, lower case), or :class:`ImportRejected` saying what to fix."""
    columns = tuple(str(name).strip().lower() for name in names)
    blank = [i + 1 for i, name in enumerate(columns) if not name]
    if blank:
        raise ImportRejected(f"{source}: column {blank[0]} of the header has no name; every column needs one.")
    repeated = sorted({name for name in columns if columns.count(name) > 1})
    if repeated:
        raise ImportRejected(f"{source}: the header repeats {', '.join(repeated)}; each column may appear once.")
    unknown = [name for name in columns if name not in IMPORT_COLUMNS]
    if unknown:
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, IMPORT_COLUMNS, n=1)
            hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ImportRejected(
            f"{source}: unknown column {', '.join(hints)}. The columns are {', '.join(IMPORT_COLUMNS)}; "
            "rename or remove the others so no data is silently left out.",
            columns=list(IMPORT_COLUMNS),
        )
    required = [c for c in REQUIRED_COLUMNS if c != "postcode"]
    missing = [c for c in required if c not in columns]
    has_location = "postcode" in columns or all(c in columns for c in COORDINATE_COLUMNS) or spatial
    if not has_location:
        missing.append("postcode (or lat and lon)")
    if missing:
        raise ImportRejected(
            f"{source}: missing column {', '.join(missing)}. Required: {', '.join(REQUIRED_COLUMNS)} "
            "(lat and lon may replace postcode).",
            columns=list(IMPORT_COLUMNS),
        )
    return columns


# ---------------------------------------------------------------------- CSV
def read_csv(path: Path, progress: Progress | None = None) -> SourceRows:
    """Rows of a UTF-8 CSV file with a header row (DESIGN.md's provider columns)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ImportRejected(f"{path.name} cannot be read: {exc.strerror}.") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ImportRejected(
            f"{path.name} is not UTF-8 text: line {line} has the byte {raw[exc.start]:#04x}. "
            "Save it as 'CSV UTF-8' and import again."
        ) from None
    # Strict: a stray or unclosed quote is an error rather than silently merging the
    # lines after it into one cell.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    previous_end = 0
    header: tuple[str, ...] | None = None
    rows: list[RawRow] = []
    try:
        for record in reader:
            start, previous_end = previous_end + 1, reader.line_num
            if not any(cell.strip() for cell in record):
                continue  # blank lines and rows of empty cells hold nothing to lose
            if header is None:
                if len(record) == 1 and ";" in record[0]:
                    raise ImportRejected(
                        f"{path.name}: the header separates columns with ';'. Columns are separated by "
                        "commas (';' separates items inside roles, events and availability)."
                    )
                header = check_columns(record, path.name, spatial=False)
                continue
            problems: tuple[Problem, ...] = ()
            if len(record) > len(header) and any(cell.strip() for cell in record[len(header) :]):
                problems = (
                    Problem(
                        "",
                        f"the row has {len(record)} cells but the header has {len(header)} columns "
                        "(an unquoted comma in a value?)",
                    ),
                )
            rows.append(RawRow(number=start, values=dict(zip(header, record)), problems=problems))
            if progress and len(rows) % PROGRESS_EVERY_ROWS == 0:
                progress(f"read {len(rows):,} rows")
    except csv.Error as exc:
        raise ImportRejected(
            f"{path.name}: the record starting on line {previous_end + 1} is not valid CSV ({exc}); "
            'is a quote (") left open or stray inside a value? Nothing was imported.'
        ) from None
    if header is None:
        raise ImportRejected(
            f"{path.name} is empty: the first line must be the header ({', '.join(REQUIRED_COLUMNS)}, ...)."
        )
    return SourceRows(format="csv", unit="line", columns=header, rows=rows)


# ---------------------------------------------------------------------- GeoJSON / GeoPackage
def _cells(series: Any) -> list[Any]:
    """A column as plain Python values, ``None`` where missing (pandas uses NaN/NA/None)."""
    import pandas as pd

    values = series.astype(object)
    return values.where(pd.notna(values), None).tolist()


def read_spatial(path: Path, fmt: str, *, layer: str | None = None, progress: Progress | None = None) -> SourceRows:
    """Features of a GeoJSON file or a GeoPackage layer, geometries transformed (see module doc)."""
    # Imported here: geopandas takes a noticeable moment to import, and CSV imports never need it.
    import geopandas as gpd
    import numpy as np
    import pyogrio
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
        frame = gpd.read_file(path, layer=layer or (layers[0] if layers else None), engine="pyogrio")
    except (DataSourceError, DataLayerError) as exc:
        raise ImportRejected(f"{name} cannot be read as {fmt}: {exc}") from None
    if progress:
        progress(f"read {len(frame):,} features")
    where = f"{name}" + (f" (layer {layer})" if layer else "")
    if frame.crs is None:
        raise ImportRejected(
            f"{where} has no coordinate reference system, so its coordinates cannot be placed. Set the layer's "
            "CRS in your GIS (EPSG:27700 for British National Grid, EPSG:4326 for longitude/latitude) and export again."
        )
    geometry = frame.geometry
    present = geometry.notna() & ~geometry.is_empty
    if frame.crs.is_geographic and present.any():
        min_x, min_y, max_x, max_y = geometry[present].total_bounds
        if min_x < -180 or max_x > 180 or min_y < -90 or max_y > 90:
            raise ImportRejected(
                f"{where} says its coordinates are longitude/latitude ({frame.crs.name}) but they reach "
                f"{max(abs(min_x), abs(max_x), abs(min_y), abs(max_y)):,.0f}, so they look like metres (British "
                "National Grid?). A GeoJSON file without a 'crs' member means longitude/latitude (RFC 7946): "
                "export it from your GIS as EPSG:4326, or as a GeoPackage that keeps its CRS."
            )
    columns = check_columns([c for c in frame.columns if c != frame.geometry.name], where, spatial=True)
    source_columns = [c for c in frame.columns if c != frame.geometry.name]
    cells = {column: _cells(frame[source]) for column, source in zip(columns, source_columns)}

    kinds = np.array(geometry.geom_type.where(present, None).astype(object))
    is_point = kinds == "Point"
    is_area = np.isin(kinds, POLYGONAL_TYPES) | (kinds == "GeometryCollection")
    points: dict[int, tuple[float, float]] = {}
    if is_point.any():
        lonlat = geometry[is_point].to_crs(WGS84)
        for i, x, y in zip(np.flatnonzero(is_point), lonlat.x.to_numpy(), lonlat.y.to_numpy()):
            points[int(i)] = (float(x), float(y))
    areas: dict[int, Any] = {}
    if is_area.any():
        for i, shape in zip(np.flatnonzero(is_area), geometry[is_area].to_crs(BNG)):
            areas[int(i)] = shape
    rows = []
    for i in range(len(frame)):
        problems: tuple[Problem, ...] = ()
        if kinds[i] is not None and not (is_point[i] or is_area[i]):
            problems = (
                Problem(
                    "geometry",
                    f"a {kinds[i]} geometry is not supported: use a Point (the provider's base) or a "
                    "Polygon/MultiPolygon (their service area)",
                ),
            )
        values = {column: cells[column][i] for column in columns}
        rows.append(RawRow(number=i + 1, values=values, point=points.get(i), area=areas.get(i), problems=problems))
    return SourceRows(format=fmt, unit="feature", columns=columns, rows=rows)

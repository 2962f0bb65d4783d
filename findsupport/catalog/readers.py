"""Reading catalogue files: CSV, GeoJSON and GeoPackage become numbered raw rows.

Readers check what concerns the *whole file* and raise
:class:`~findsupport.errors.ImportRejected` when it cannot be imported at all
(unreadable, UTF-16, no header, a header that is not UTF-8 or not CSV, unknown or
missing columns, a spatial file without a coordinate reference system).
Everything about one row (or feature) is that row's problem: recorded on its
:class:`RawRow` or left to validation, so one bad row never stops the others.

Rows are numbered as a person finds them: for CSV the line an editor shows
the record starting on (the header is line 1; quoted line breaks counted);
for spatial files the feature number, from 1.

GeoJSON is read with the json module, feature by feature; GeoPackage layers with
pyogrio, each geometry decoded on its own.  Geometries in any CRS are
transformed: points to WGS84 longitude/latitude (the provider's base, checked
like ``lat``/``lon`` columns), polygons to EPSG:27700 (the explicit service
area).  A file without a CRS is rejected, never guessed.
"""

from __future__ import annotations

import csv
import difflib
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ImportRejected
from ..geo import BNG, WGS84
from .model import COORDINATE_COLUMNS, IMPORT_COLUMNS, REQUIRED_COLUMNS, SERVICE_AREA_COLUMN, Problem
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
    found wrong (an unsupported geometry, too many cells, bytes that are not
    UTF-8).  ``readable`` is false when the record could not be read at all (not
    valid CSV, a repeated header): its ``problems`` say why, and ``values`` holds
    at most its id, read leniently so ``--replace`` can keep the stored provider.
    """

    number: int
    values: dict[str, Any]
    point: tuple[float, float] | None = None
    area: Any = None
    problems: tuple[Problem, ...] = ()
    readable: bool = True


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
#: Line breaks as an editor counts them (``\r\n``, ``\n`` or a lone ``\r``), and
#: as the csv module ends records; ``str.splitlines`` would also split on U+2028,
#: form feeds and others, which a bio may hold.
_LINE_ENDS = re.compile(r"(?<=\n)|(?<=\r)(?!\n)")
#: The other characters ``str.splitlines`` splits on; without them it is the faster way.
_OTHER_LINE_ENDS = re.compile("[\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
#: Byte order marks of UTF-16 files (Excel's "Unicode text"), rejected with advice
#: rather than read as a header of NUL bytes.
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
#: Bytes that are not UTF-8 are kept as lone surrogates (``surrogateescape``) so
#: the row holding them can be rejected on its own.
_UNDECODABLE = re.compile("[\udc80-\udcff]")
_SAVE_AS_UTF8 = "save the file as 'CSV UTF-8' and import again"
#: The columns whose values may hold a line break (validation refuses one anywhere
#: else): a record whose line break falls in another column is a quote left open.
_MULTILINE_COLUMNS = frozenset({"bio", SERVICE_AREA_COLUMN})


def _physical_lines(text: str) -> list[str]:
    lines = _LINE_ENDS.split(text) if _OTHER_LINE_ENDS.search(text) else text.splitlines(keepends=True)
    if lines and not lines[-1]:
        lines.pop()
    return lines


def _undecodable_byte(text: str) -> int | None:
    """The first byte that was not UTF-8 (kept by ``surrogateescape``), or ``None``."""
    found = _UNDECODABLE.search(text)
    return None if found is None else ord(found.group()) - 0xDC00


def _readable(text: str) -> str:
    """Text with undecodable bytes shown as U+FFFD, safe to print and to write as UTF-8."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _broken_reason(error: csv.Error, first: int, last: int) -> str:
    """Why the record starting on line ``first`` is not CSV (the reader noticed on line ``last``)."""
    message = str(error)
    where = "" if last == first else f" (noticed on line {last})"
    if "unexpected end of data" in message:
        return (
            'a quoted value opened on this line is never closed (a quote (") left open?); '
            "the lines after it were read as rows of their own"
        )
    if "expected after" in message and last != first:
        return (
            f'a quoted value that starts on this line does not end where its cell does{where}: a quote (") '
            'left open, or stray inside a value? Inside a quoted value write a quote twice (""); the lines '
            "after this one were read as rows of their own"
        )
    if "expected after" in message:
        return (
            'a quoted value ends before its cell does: a quote (") stray inside a value? Inside a quoted '
            'value write a quote twice ("")'
        )
    return f"this record is not valid CSV{where} ({message})"


def _guess_id(line: str, header: tuple[str, ...]) -> str | None:
    """The id cell of a line that is not valid CSV, read leniently (so ``--replace`` can keep them)."""
    if "id" not in header:  # pragma: no cover - check_columns requires an id column
        return None
    try:
        cells = next(csv.reader([line.rstrip("\r\n")], strict=False), [])
    except csv.Error:
        return None
    position = header.index("id")
    if position >= len(cells):
        return None
    guess = _readable(cells[position]).strip()
    return guess or None


def read_csv(path: Path, progress: Progress | None = None) -> SourceRows:
    """Rows of a UTF-8 CSV file with a header row (DESIGN.md's provider columns).

    Only the header can stop the file.  Everything one record can get wrong is
    that record's problem, and the records before and after it are read as
    usual:

    * a value of any length is read (validation then names the column and its limit);
    * bytes that are not UTF-8 reject the row they are in, naming the column and the byte;
    * a record that is not valid CSV (a quote left open, or stray inside a quoted
      value) is reported at the line it starts on, and reading starts again on the
      next line: a quote left open hides none of the rows after it.  If the record
      really did span several lines (a quoted bio with line breaks), its other lines
      are read as rows of their own and rejected too;
    * a record spanning several lines with more cells than the header, or with a
      line break in a column other than bio or service_area, is read the same way
      (a quote left open that a later quote happened to close);
    * a line repeating the header (two files joined) is reported, not imported.

    Line breaks may be ``\r\n``, ``\n`` or ``\r``, mixed; NUL bytes are ordinary
    characters that validation refuses in the columns where they matter.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ImportRejected(f"{path.name} cannot be read: {exc.strerror}.") from None
    if raw.startswith(_UTF16_BOMS):
        raise ImportRejected(f"{path.name} is UTF-16 text (Excel's 'Unicode Text'); {_SAVE_AS_UTF8}.")
    try:
        text = raw.decode("utf-8")
        damaged = False
    except UnicodeDecodeError:
        text = raw.decode("utf-8", "surrogateescape")
        damaged = True
    text = text.removeprefix("\ufeff")
    lines = _physical_lines(text)
    # The csv module's limit on one value (131,072 characters by default) would stop
    # the whole file at one long bio.  No value can be longer than the file, which is
    # in memory already; the limit is process-wide, so it is only ever raised.
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    header: tuple[str, ...] | None = None
    rows: list[RawRow] = []

    def broken(first: int, reason: str) -> None:
        if header is None:
            raise ImportRejected(
                f"{path.name}: the header on line {first} is not valid CSV ({reason}). Nothing was imported."
            )
        guess = _guess_id(lines[first - 1], header)
        values = {"id": guess} if guess else {}
        rows.append(RawRow(number=first, values=values, problems=(Problem("", reason),), readable=False))

    position = 0  # lines consumed (so the next record starts on line position + 1)
    total = len(lines)
    while position < total:
        start = position
        reader = csv.reader(map(lines.__getitem__, range(start, total)), strict=True)
        try:
            for record in reader:
                first, position = position + 1, start + reader.line_num
                if not any(cell.strip() for cell in record):
                    continue  # blank lines and rows of empty cells hold nothing to lose
                if header is None:
                    header = _csv_header(record, path.name, first, damaged)
                    continue
                if position > first and (suspect := _suspect_record(record, header)):
                    broken(
                        first,
                        f"this record runs to line {position} and {suspect}: a quote (\") left open?; "
                        "the lines after it were read as rows of their own",
                    )
                    position = first  # read again from the next line
                    break
                rows.append(_csv_row(record, first, header, damaged))
                if progress and len(rows) % PROGRESS_EVERY_ROWS == 0:
                    progress(f"read {len(rows):,} rows")
        except csv.Error as exc:
            first = position + 1
            broken(first, _broken_reason(exc, first, start + reader.line_num))
            position = first  # read again from the line after the one the record started on
    if header is None:
        raise ImportRejected(
            f"{path.name} is empty: the first line must be the header ({', '.join(REQUIRED_COLUMNS)}, ...)."
        )
    return SourceRows(format="csv", unit="line", columns=header, rows=rows)


def _suspect_record(record: list[str], header: tuple[str, ...]) -> str | None:
    """Why a record spanning several lines looks like a quote left open, or ``None``."""
    if len(record) > len(header):
        return f"has {len(record)} cells for {len(header)} columns"
    for column, cell in zip(header, record):
        if column not in _MULTILINE_COLUMNS and ("\n" in cell or "\r" in cell):
            return f"its {column} holds a line break"
    return None


def _csv_header(record: list[str], name: str, line: int, damaged: bool) -> tuple[str, ...]:
    """The checked header, or :class:`ImportRejected` (the header is the one line that can stop a file)."""
    for cell in record if damaged else ():
        byte = _undecodable_byte(cell)
        if byte is not None:
            raise ImportRejected(
                f"{name} is not UTF-8 text: the header (line {line}) has the byte {byte:#04x}; {_SAVE_AS_UTF8}."
            )
    if len(record) == 1 and ";" in record[0]:
        raise ImportRejected(
            f"{name}: the header separates columns with ';'. Columns are separated by "
            "commas (';' separates items inside roles, events and availability)."
        )
    return check_columns(record, name, spatial=False)


def _csv_row(record: list[str], number: int, header: tuple[str, ...], damaged: bool) -> RawRow:
    """One record as a row, with what the reader can already tell is wrong with it."""
    problems: list[Problem] = []
    if len(record) > len(header) and any(cell.strip() for cell in record[len(header) :]):
        problems.append(
            Problem(
                "",
                f"the row has {len(record)} cells but the header has {len(header)} columns "
                "(an unquoted comma in a value?)",
            )
        )
    values = dict(zip(header, record))
    if damaged:
        for column, cell in values.items():
            byte = _undecodable_byte(cell)
            if byte is not None:
                values[column] = _readable(cell)
                problems.append(
                    Problem(column, f"{column} is not UTF-8 text: it has the byte {byte:#04x}; {_SAVE_AS_UTF8}")
                )
    if record[0].strip().lower() == header[0] and tuple(cell.strip().lower() for cell in record) == header:
        return RawRow(
            number=number,
            values={},
            problems=(Problem("", "this line repeats the header (two files joined together?)"),),
            readable=False,
        )
    return RawRow(number=number, values=values, problems=tuple(problems))


# ---------------------------------------------------------------------- GeoJSON / GeoPackage
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

"""Reading catalogue files: CSV, GeoJSON and GeoPackage become numbered raw rows.

The file name's ending chooses the reader: :func:`~.csv_rows.read_csv` for
CSV, :func:`~.spatial_rows.read_spatial` for GeoJSON and GeoPackage; both give
:class:`~.source_rows.SourceRows` (all re-exported here, where the importer and
the tests take them from).

Readers check what concerns the *whole file* and raise
:class:`~findsupport.errors.ImportRejected` when it cannot be imported at all
(unreadable, UTF-16, no header, a header that is not UTF-8 or not CSV, unknown or
missing columns, a spatial file without a coordinate reference system).
Everything about one row (or feature) is that row's problem: recorded on its
:class:`RawRow` or left to validation, so one bad row never stops the others.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ImportRejected
from .csv_rows import read_csv
from .source_rows import PROGRESS_EVERY_ROWS, Progress, RawRow, SourceRows
from .spatial_rows import read_spatial

__all__ = ["RawRow", "SourceRows", "read_source", "read_csv", "read_spatial", "FORMATS", "PROGRESS_EVERY_ROWS"]

#: File name endings and the format each means.
FORMATS: dict[str, str] = {".csv": "csv", ".geojson": "geojson", ".json": "geojson", ".gpkg": "gpkg"}


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
        # Read here at each call, so the interval is set in one place (tests shorten it).
        return read_csv(path, progress, progress_every=PROGRESS_EVERY_ROWS)
    return read_spatial(path, fmt, layer=layer, progress=progress)

"""The rows a catalogue file is read into, whatever its format, and the columns every format must have.

A reader (:mod:`.csv_rows`, :mod:`.spatial_rows`) turns a file into
:class:`SourceRows`: numbered :class:`RawRow` values, each carrying what the
reader already found wrong with it.  :func:`check_columns` is the one check of
a file's columns, so CSV headers and spatial properties name the same columns
and get the same advice.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ImportRejected
from .model import COORDINATE_COLUMNS, IMPORT_COLUMNS, REQUIRED_COLUMNS, Problem

__all__ = ["RawRow", "SourceRows", "Progress", "check_columns", "PROGRESS_EVERY_ROWS"]

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

"""``findsupport coverage``: where coaches look for support and do not find it, as CSV and maps.

Writes the coverage figures (:mod:`findsupport.coverage`) for a period and
filters, small counts suppressed: CSV to standard output, or to each ``--out``
file by its suffix (``.csv``; ``.gpkg``, EPSG:27700, and ``.geojson``, WGS84,
are the district or region outlines with their figures).  The outlines are
built from Code-Point Open on first use (about a minute) and cached.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .. import taxonomy
from ..config import Settings
from ..errors import InvalidInput
from ..geo import ATTRIBUTION

__all__ = ["register", "run", "read_sessions"]


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "coverage",
        parents=[common],
        help="coverage figures: searches, unmet searches, introductions and providers by district or region",
        description="Write the coverage figures for a period and filters (counts below the "
        "coverage_min_count setting are shown as <5). Without --out, CSV goes to standard output. "
        f"Outlines: {ATTRIBUTION}.",
    )
    parser.add_argument("--since", help="first day (or time, UTC) counted, e.g. 2026-01-01")
    parser.add_argument("--until", help="day (or time, UTC) the period ends, not counted, e.g. 2026-04-01")
    parser.add_argument("--role", choices=taxonomy.ROLES, help="only searches, introductions and providers of this role")
    parser.add_argument("--event-group", choices=tuple(taxonomy.EVENT_GROUPS), help="only this event group")
    parser.add_argument("--mode", choices=taxonomy.MODES, help="only searches of this mode and providers serving it")
    parser.add_argument("--by", choices=("district", "region"), default="district", help="one row per (default: district)")
    parser.add_argument(
        "--split", default="", metavar="DIMS",
        help="also split rows by these, comma-separated: role, event_group, mode",
    )
    parser.add_argument(
        "--out", action="append", default=[], metavar="FILE",
        help="write to FILE by its suffix: .csv, .gpkg (EPSG:27700) or .geojson (WGS84); repeat for several",
    )
    parser.add_argument(
        "--feedback", metavar="FILE.jsonl",
        help="read search sessions from this feedback file (DESIGN.md format) instead of the data dir's log",
    )
    parser.add_argument(
        "--outlines", metavar="FILE",
        help="also write the bare district outlines (.gpkg or .geojson), e.g. for a map page",
    )
    parser.set_defaults(handler=run)


def read_sessions(path: str | Path) -> Iterator[dict[str, Any]]:
    """Sessions of a feedback file (JSON lines); a line that is not a JSON object stops with its number."""
    with Path(path).open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                session = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidInput(f"{path}, line {number}: not JSON ({exc.msg}).", field="feedback") from None
            if not isinstance(session, dict):
                raise InvalidInput(f"{path}, line {number}: a session must be a JSON object.", field="feedback")
            yield session


def run(args: argparse.Namespace, settings: Settings) -> int:
    from ..cli import progress_printer
    from ..coverage import CoverageData, CoverageFilter
    from ..geo import PostcodeDirectory
    from ..geo.outlines import DistrictOutlines

    progress = progress_printer(args)
    where = CoverageFilter(
        since=args.since, until=args.until, role=args.role, event_group=args.event_group, mode=args.mode
    )
    split = [name.strip() for name in args.split.split(",") if name.strip()]
    outputs = [Path(p) for p in args.out]
    for path in [*outputs, *([Path(args.outlines)] if args.outlines else [])]:
        if path.suffix.lower() not in (".csv", ".gpkg", ".geojson", ".json"):
            raise InvalidInput(f"Got --out {path}; the file must end in .csv, .gpkg or .geojson.", field="out")
    if args.feedback and not Path(args.feedback).is_file():
        raise InvalidInput(f"The feedback file {args.feedback} does not exist.", field="feedback")
    directory = PostcodeDirectory.load(settings.resolved_cache_dir, progress)
    sessions = read_sessions(args.feedback) if args.feedback else None
    data = CoverageData.load(settings, directory=directory, sessions=sessions)
    figures = data.figures(where, by=args.by, split=split)
    needs_outlines = args.outlines or any(p.suffix.lower() != ".csv" for p in outputs)
    outlines = DistrictOutlines.load(settings.resolved_cache_dir, directory, progress) if needs_outlines else None
    if not outputs:
        figures.to_csv(sys.stdout)
    for path in outputs:
        figures.write(path, outlines)
        if progress:
            progress(f"wrote {path}")
    if args.outlines and outlines is not None:
        written = outlines.write(args.outlines)
        if progress:
            progress(f"wrote the district outlines to {written}")
    if progress:
        progress(
            f"{len(figures.counts):,} {args.by}s; introductions from the {data.introductions_source} "
            f"{'table' if data.introductions_source == 'introductions' else 'log (no expiries)'}; "
            f"counts below {data.min_count} shown as <{data.min_count}"
        )
    return 0

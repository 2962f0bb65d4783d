"""``findsupport postcode POSTCODE [POSTCODE ...] [--json]``: resolve postcodes like postcodes.io."""

from __future__ import annotations

import argparse
import json
import sys

from ..config import Settings
from ..errors import FindSupportError
from ..geo import ATTRIBUTION, PostcodeDirectory

__all__ = ["register", "load_directory"]


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "postcode",
        parents=[common],
        help="look up postcodes, districts or sectors",
        description="Resolve full postcodes, districts (NE21) or sectors (NE21 4) to coordinates. "
        f"{ATTRIBUTION}.",
    )
    parser.add_argument("postcodes", nargs="+", metavar="POSTCODE", help="postcode, district or sector")
    parser.add_argument("--json", action="store_true", help="one JSON object a line, in input order")
    parser.set_defaults(handler=run)


def load_directory(settings: Settings, args: argparse.Namespace) -> PostcodeDirectory:
    from ..cli import progress_printer

    return PostcodeDirectory.load(settings.resolved_cache_dir, progress=progress_printer(args))


def run(args: argparse.Namespace, settings: Settings) -> int:
    directory = load_directory(settings, args)
    failed = 0
    for text, result in zip(args.postcodes, directory.lookup_many(args.postcodes)):
        if isinstance(result, FindSupportError):
            failed += 1
            if args.json:
                line = {"input": text, "error": result.message, **_error_extra(result)}
                print(json.dumps(line, ensure_ascii=False))
            else:
                print(f"{text!r}: {result.message}", file=sys.stderr)
            continue
        if args.json:
            print(json.dumps({"input": text, **result.to_dict()}, ensure_ascii=False))
        else:
            note = f"  (corrected from {result.input!r})" if result.corrected else ""
            label = {"unit": "", "sector": "  sector centroid", "outcode": "  district centroid"}[result.kind]
            print(
                f"{result.postcode:<9} lat {result.lat:.6f}  lon {result.lon:.6f}  "
                f"E {result.easting:.0f}  N {result.northing:.0f}{label}{note}"
            )
    if not args.json and failed < len(args.postcodes):
        print(ATTRIBUTION, file=sys.stderr)
    return 1 if failed else 0


def _error_extra(error: FindSupportError) -> dict:
    extra = {"status": error.http_status}
    if "suggestions" in error.extra:
        extra["suggestions"] = error.extra["suggestions"]
    return extra

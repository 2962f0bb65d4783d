"""``findsupport import``, ``export`` and ``demo``: filling and reading the provider catalogue.

``findsupport import FILE [--replace] [--report FILE] [--layer NAME]``
    CSV, GeoJSON or GeoPackage.  Every problem of every rejected row is printed
    to stderr as ``FILE:LINE: column: reason`` (``FILE: feature N: ...`` for
    spatial files; a row with three problems gives three lines, and ``--report``
    the same three rows).  Whatever is wrong with one row (a huge value, bytes
    that are not UTF-8, a quote left open) is that row's problem; the good rows
    are committed in one transaction, and the exit status is 1 if any row was
    rejected (2 if the file as a whole could not be read: no header, unknown
    columns, no CRS).  The summary counts the providers the catalogue lists
    (consented and not paused).  Every provider's own edit (manage page) that the
    file overrides, or that ``--replace`` discards, is printed as
    ``ID: field: the file's value replaces the provider's own edit of DAY``.
    ``--readmit ID`` (repeatable) re-admits a provider who withdrew consent
    through their manage page and has given it again.
``findsupport export FILE [--private]``
    CSV, GeoJSON or GeoPackage of the public view; ``--private`` for everything
    (a private GeoPackage imports back unchanged, like a private CSV).
``findsupport demo [--if-empty] [--replace] [--seed N] [--providers N]``
    A synthetic catalogue at real postcodes (see ``data/README.md``).
"""

from __future__ import annotations

import argparse
import sys

from typing import TYPE_CHECKING

from ..config import Settings
from ..errors import CatalogError
from .postcode import load_directory

if TYPE_CHECKING:  # geopandas and friends load when a command runs, not for --help
    from ..catalog.importer import ImportReport

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "import",
        parents=[common],
        help="import providers from CSV, GeoJSON or GeoPackage",
        description="Import providers. Every problem of a rejected row is reported with its line (CSV; the header "
        "is line 1) or feature number, column and reason; the good rows are imported; exit status 1 if any row was "
        "rejected, 2 if the file as a whole cannot be read.",
    )
    parser.add_argument("file", metavar="FILE", help="a .csv, .geojson/.json or .gpkg file")
    parser.add_argument(
        "--replace",
        action="store_true",
        help="make the catalogue exactly the file: providers not in it are removed "
        "(those whose rows were rejected keep their stored version)",
    )
    parser.add_argument("--report", metavar="REPORT", help="also write the rejections to this CSV file")
    parser.add_argument("--layer", help="the layer of a GeoPackage with several")
    parser.add_argument(
        "--readmit",
        action="append",
        default=[],
        metavar="ID",
        help="import the row of a provider who withdrew consent through their manage page and has given it "
        "again (repeatable); without it such rows are rejected",
    )
    parser.set_defaults(handler=run_import)

    parser = subparsers.add_parser(
        "export",
        parents=[common],
        help="export the catalogue as CSV, GeoJSON or GeoPackage",
        description="Export the public view of the catalogue (listed providers, public fields, sector "
        "locations) as CSV, GeoJSON or GeoPackage, chosen by the file name. A GeoPackage is in British National "
        "Grid (EPSG:27700) with a layer 'providers' (points) and a layer 'service_areas' (explicit service areas). "
        "--private exports everything for administrators, in a form an import reads back unchanged.",
    )
    parser.add_argument("file", metavar="FILE", help="a .csv, .geojson/.json or .gpkg file")
    parser.add_argument(
        "--private",
        action="store_true",
        help="every provider with postcodes, coordinates and e-mail addresses (never publish this file)",
    )
    parser.set_defaults(handler=run_export)

    parser = subparsers.add_parser(
        "demo",
        parents=[common],
        help="fill the data dir with a synthetic demo catalogue",
        description="Generate a realistic synthetic catalogue at real postcodes (deterministic from the seed) "
        "and import it like any file.",
    )
    parser.add_argument("--if-empty", action="store_true", help="do nothing if the data dir already has a catalogue")
    parser.add_argument("--replace", action="store_true", help="replace an existing catalogue with the demo")
    parser.add_argument("--seed", type=int, help="random seed (default: the demo_seed setting)")
    parser.add_argument("--providers", type=int, metavar="N", help="how many providers (default: demo_providers)")
    parser.set_defaults(handler=run_demo)


def _print_report(report: ImportReport, file_label: str) -> None:
    for rejection in report.rejections:
        if report.unit == "line":
            column = f" {rejection.column}:" if rejection.column else ""
            print(f"{file_label}:{rejection.number}:{column} {rejection.reason}", file=sys.stderr)
        else:
            print(f"{file_label}: {report.describe(rejection)}", file=sys.stderr)
    for notice in report.edit_notices:
        print(notice.describe())
    print(report.summary())


def run_import(args: argparse.Namespace, settings: Settings) -> int:
    from ..cli import progress_printer

    from ..catalog import CatalogStore, import_file, write_report

    progress = progress_printer(args)
    store = CatalogStore.open(settings)
    directory = load_directory(settings, args)
    report = import_file(
        args.file, store, directory, settings, replace=args.replace, layer=args.layer, readmit=args.readmit,
        progress=progress,
    )
    _print_report(report, args.file)
    if args.report:
        write_report(args.report, report)
    return 0 if report.ok else 1


def run_export(args: argparse.Namespace, settings: Settings) -> int:
    from ..catalog import CatalogStore, export_catalog

    store = CatalogStore.open(settings)
    count = export_catalog(store, args.file, private=args.private)
    what = "providers (private: every field; do not publish this file)" if args.private else "consented providers"
    print(f"exported {count:,} {what} to {args.file}")
    return 0


def run_demo(args: argparse.Namespace, settings: Settings) -> int:
    from ..cli import progress_printer

    if args.providers is not None and args.providers < 0:
        raise CatalogError(f"--providers must be zero or more; got {args.providers}.")
    from ..catalog import CatalogStore, load_demo

    store = CatalogStore.open(settings)
    if store.has_catalog():
        if args.if_empty:
            print(f"the catalogue already lists {store.listed_count():,} providers; demo data not loaded")
            return 0
        if not args.replace:
            raise CatalogError(
                "The data dir already has a catalogue. Use --replace to replace it with demo data, "
                "or --if-empty to load the demo only into an empty data dir."
            )
    directory = load_directory(settings, args)
    report = load_demo(
        store,
        directory,
        settings,
        seed=args.seed,
        providers=args.providers,
        replace=args.replace,
        progress=progress_printer(args),
    )
    _print_report(report, "demo")
    return 0 if report.ok else 1

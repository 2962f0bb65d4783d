"""The ``findsupport`` command.

Each sub-command lives in a module of :mod:`findsupport.commands` that
provides ``register(subparsers, common)``; this module only assembles them,
reads the settings and turns :class:`FindSupportError` into a message and an
exit status (never a traceback).

Exit status: 0 success; 1 the command ran but some items failed (rejected
import rows, unknown postcodes); 2 bad usage or an error that stopped it.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from . import __version__
from .config import LOG_FORMAT, Settings, configure_logging, load_settings, open_data_dir
from .errors import FindSupportError

__all__ = ["main", "build_parser", "settings_from_args"]

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_ERROR = 2

# Sub-command modules, in the order `findsupport --help` lists them.
COMMAND_MODULES = ("postcode", "catalog", "search", "serve", "ranking", "introductions", "coverage", "db")


def _common_options() -> argparse.ArgumentParser:
    """Options every command accepts, before or after the command name."""
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS keeps a value given before the command from being reset by the
    # sub-parser's default.
    common.add_argument(
        "--data-dir",
        default=argparse.SUPPRESS,
        help="data directory (catalogue, models, caches); default $FINDSUPPORT_DATA_DIR or ./instance",
    )
    common.add_argument("--config", default=argparse.SUPPRESS, help="TOML settings file (default $FINDSUPPORT_CONFIG)")
    common.add_argument("--quiet", "-q", action="store_true", default=argparse.SUPPRESS, help="no progress messages")
    return common


def build_parser() -> argparse.ArgumentParser:
    import importlib

    common = _common_options()
    parser = argparse.ArgumentParser(
        prog="findsupport",
        description="Find My Coaching Support: match coaches with mentors, coach developers, "
        "technical advisors and co-coaches near them.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"findsupport {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        module = importlib.import_module(f".commands.{name}", __package__)
        module.register(subparsers, common)
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Settings with the command line's ``--data-dir``/``--config`` on top of file and environment."""
    return load_settings({"data_dir": getattr(args, "data_dir", None)}, config_file=getattr(args, "config", None))


def progress_printer(args: argparse.Namespace):
    """A progress callback printing to stderr, or ``None`` with ``--quiet``."""
    if getattr(args, "quiet", False):
        return None
    return lambda message: print(f"findsupport: {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format=LOG_FORMAT)
    try:
        settings = settings_from_args(args)
        configure_logging(settings.log_level)
        # Before any command writes into it: created private, and announced when new.
        open_data_dir(settings)
        return int(args.handler(args, settings) or EXIT_OK)
    except FindSupportError as exc:
        print(f"findsupport: {exc.message}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("findsupport: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into `head` and the like: not an error worth a traceback.
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

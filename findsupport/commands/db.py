"""``findsupport db``: the database's schema revision, and upgrading it by hand.

Every command (and every server) already brings the database to the newest
schema when it opens it (:mod:`findsupport.migrations`); ``db upgrade`` does it
on purpose and says what it did, ``db upgrade --sql`` writes the SQL for a
database administrator to review and run instead, and ``db current`` says
which revision the database is at.
"""

from __future__ import annotations

import argparse
import sys

from ..config import Settings
from ..db import create_db_engine
from ..migrations import current_revision, head_revision, upgrade_schema, upgrade_sql

__all__ = ["register", "run_upgrade", "run_current"]


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "db",
        parents=[common],
        help="the database's schema: which revision it is at, upgrading it",
        description="The schema of the database named by FINDSUPPORT_DATABASE_URL (the data dir's SQLite file "
        "by default). Opening the database upgrades it anyway; these commands do it on purpose.",
    )
    actions = parser.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    upgrade = actions.add_parser(
        "upgrade",
        parents=[common],
        help="bring the database to the newest schema revision",
        description="Bring the database to the newest schema revision, in one transaction and under a lock, "
        "so servers starting at the same time wait. With --sql, write the SQL instead of running it.",
    )
    upgrade.add_argument("--sql", action="store_true",
                         help="write the SQL from the database's current revision to the newest to standard "
                         "output, and change nothing")
    upgrade.set_defaults(handler=run_upgrade)
    current = actions.add_parser(
        "current",
        parents=[common],
        help="the schema revision the database is at, and the newest this version knows",
        description="Print the database's schema revision (none: made before migrations, or empty) and "
        "this version's newest.",
    )
    current.set_defaults(handler=run_current)


def run_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    engine = create_db_engine(settings.resolved_database_url, upgrade=False)
    try:
        if args.sql:
            current = current_revision(engine)
            if current == head_revision():
                print(f"-- The database is at the newest schema revision, {current}: nothing to do.")
                return 0
            if current is None:
                print("-- For an empty database. A database made by an older findsupport without a schema revision "
                      "is upgraded by `findsupport db upgrade` (which checks its tables first), not by this SQL.")
            sys.stdout.write(upgrade_sql(engine.dialect.name, current))
            return 0
        before = current_revision(engine)
        changed = upgrade_schema(engine, force=True)
    finally:
        engine.dispose()
    head = head_revision()
    if changed:
        print(f"upgraded the database from schema revision {before or 'none'} to {head}")
    else:
        print(f"the database is at the newest schema revision, {head}: nothing to do")
    return 0


def run_current(args: argparse.Namespace, settings: Settings) -> int:
    engine = create_db_engine(settings.resolved_database_url, upgrade=False)
    try:
        current = current_revision(engine)
    finally:
        engine.dispose()
    head = head_revision()
    state = "up to date" if current == head else "opening it will upgrade it"
    print(f"schema revision {current or 'none'} (newest {head}; {state})")
    return 0

"""Bringing a database to the newest schema: Alembic, run from code, under a lock.

:func:`upgrade_schema` is what :func:`findsupport.db.create_db_engine` calls
on every database it opens (once per process and URL).  It takes a lock that
every process opening the same database shares (PostgreSQL: a session
advisory lock; SQLite: ``BEGIN IMMEDIATE``, the database's own write lock),
looks at the database inside that lock, and then

- at the head revision: does nothing (this is checked first, without the lock);
- at an older revision: runs the missing revisions, in the same transaction
  (PostgreSQL and SQLite both roll DDL back), so a crash leaves it as it was;
- without ``alembic_version`` but holding findsupport's tables (made before
  findsupport had migrations): checks that each of them has the columns of
  revision 0001 or of the head, then runs every revision (0001 and 0002 create
  only what is missing, which for such a database is stamping it and
  upgrading it);
- without ``alembic_version`` and without findsupport's tables: builds it;
- anything else (a table of findsupport's name with other columns, or a
  revision this version does not know): refuses with a :class:`CatalogError`
  that says what to do.

A database already at the head costs two small queries and no import of
Alembic (half a second of a server's start-up): the head is the newest file
of ``versions/``, whose names start with their revision id.

Alembic's ``op`` and ``context`` are process-wide proxies, so migrations in one
process run one at a time (a thread lock) as well as across processes (the
database lock).
"""

from __future__ import annotations

import io
import logging
import os
import re
import threading
import time
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..errors import CatalogError

if TYPE_CHECKING:  # Alembic takes half a second to import: only a database that needs upgrading pays it
    from alembic.config import Config
    from alembic.script import ScriptDirectory

__all__ = [
    "MIGRATIONS_DIR",
    "RETIRED_TABLES",
    "MIGRATION_LOCK_KEY",
    "alembic_config",
    "script_directory",
    "head_revision",
    "current_revision",
    "upgrade_schema",
    "upgrade_sql",
    "forget_upgraded",
]

log = logging.getLogger(__name__)

#: The Alembic script directory (``env.py``, ``script.py.mako``, ``versions/``), shipped as package data.
MIGRATIONS_DIR = Path(__file__).resolve().parent
#: Tables no model declares any more but a revision may leave in place, with their rows: the
#: old web layer's ``introductions`` (replaced by ``introduction_requests``; revision 0002
#: drops it when empty, and leaves a request it never delivered for an operator to read).
#: Schema comparisons skip them.
RETIRED_TABLES = frozenset({"introductions"})
#: Any fixed 64-bit number, distinct from the PostGIS view's: the PostgreSQL advisory lock
#: that makes servers starting together upgrade one at a time.
MIGRATION_LOCK_KEY = 0x66696E647375706D  # "findsupm"
_VERSION_TABLE = "alembic_version"
#: A revision file's name: its revision id (four digits, one more than the revision it revises), a slug.
_REVISION_FILE = re.compile(r"^(\d{4})_\w+\.py$")
_BASELINE = "0001"
_ADVICE = (
    "Export the catalogue with the findsupport version that made it (findsupport export --private), "
    "then start a new data dir (or an empty database) and import the export."
)

_upgraded: set[str] = set()
_process_lock = threading.RLock()


def alembic_config() -> Config:
    """An Alembic configuration for the shipped migrations (no ``alembic.ini`` needed).

    For the ``alembic`` command's own functions (``alembic.command.revision`` when
    writing a new revision); findsupport itself runs migrations through
    :func:`upgrade_schema` and :func:`upgrade_sql`.
    """
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    return config


@lru_cache(maxsize=1)
def script_directory() -> ScriptDirectory:
    """The revisions (read once per process)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


@lru_cache(maxsize=1)
def head_revision() -> str:
    """The newest revision this version of findsupport knows, e.g. ``"0002"`` (from the file names)."""
    names = (path.name for path in (MIGRATIONS_DIR / "versions").iterdir())
    return max(match[1] for name in names if (match := _REVISION_FILE.match(name)))


def current_revision(connection: Connection | Engine) -> str | None:
    """The revision the database is at; ``None`` when it has no ``alembic_version``.

    Examples
    --------
    >>> current_revision(sa.create_engine("sqlite://")) is None
    True
    """
    if isinstance(connection, Engine):
        with connection.connect() as conn:
            return current_revision(conn)
    if not sa.inspect(connection).has_table(_VERSION_TABLE):
        return None
    return connection.execute(sa.text(f"SELECT version_num FROM {_VERSION_TABLE}")).scalar()


def _describe(url: sa.engine.URL) -> str:
    if url.get_backend_name() == "sqlite":
        return f"The database {url.database or ':memory:'}"
    return f"The database {url.render_as_string(hide_password=True)}"


def _run(connection: Connection, destination: str) -> None:
    """Run the revisions from the database's current one up to ``destination``, on ``connection``."""
    from alembic.runtime.environment import EnvironmentContext

    script = script_directory()

    def steps(revision, _context):
        return script._upgrade_revs(destination, revision)

    with EnvironmentContext(alembic_config(), script, fn=steps, destination_rev=destination) as env:
        env.configure(connection=connection, render_as_batch=True)
        with env.begin_transaction():
            env.run_migrations()


@lru_cache(maxsize=None)
def _shape(destination: str) -> dict[str, frozenset[str]]:
    """Table name → column names of the schema at ``destination``, built in a scratch SQLite database."""
    scratch = sa.create_engine("sqlite://")
    try:
        with scratch.begin() as conn:
            _run(conn, destination)
            inspector = sa.inspect(conn)
            return {
                name: frozenset(column["name"] for column in inspector.get_columns(name))
                for name in inspector.get_table_names()
                if name != _VERSION_TABLE
            }
    finally:
        scratch.dispose()


def _check_unversioned(connection: Connection, describe: str) -> bool:
    """For a database without ``alembic_version``: True when it holds findsupport tables to adopt.

    Raises
    ------
    CatalogError
        When a table of findsupport's name has columns of no known revision.
    """
    baseline, head = _shape(_BASELINE), _shape(head_revision())
    inspector = sa.inspect(connection)
    found = [name for name in inspector.get_table_names() if name in baseline or name in head]
    for name in found:
        columns = frozenset(column["name"] for column in inspector.get_columns(name))
        known = [shape[name] for shape in (baseline, head) if name in shape]
        if columns not in known:
            expected = known[-1]
            differences = []
            if missing := sorted(expected - columns):
                differences.append(f"lacks column {', '.join(missing)}")
            if extra := sorted(columns - expected):
                differences.append(f"has column {', '.join(extra)} findsupport does not know")
            raise CatalogError(
                f"{describe} has a table {name} that {' and '.join(differences)}: it was not made by a findsupport "
                f"release this version can upgrade (it has no schema revision). {_ADVICE}"
            )
    return bool(found)


def _bring_to_head(connection: Connection, describe: str) -> str | None:
    """Inside the lock: upgrade when needed; the revision the database was at (``None``: none)."""
    head = head_revision()
    current = current_revision(connection)
    if current == head:
        return current
    if current is not None:
        if current not in {script.revision for script in script_directory().walk_revisions()}:
            raise CatalogError(
                f"{describe} is at schema revision {current}, which this version of findsupport does not know "
                f"(its newest is {head}): it was made or upgraded by a newer findsupport. Run that version, "
                "or upgrade this one."
            )
        log.info("%s is at schema revision %s: upgrading it to %s", describe, current, head)
    elif _check_unversioned(connection, describe):
        log.warning("%s was made before findsupport had migrations: adopting it as revision %s and "
                    "upgrading it to %s", describe, _BASELINE, head)
    else:
        log.info("%s is empty: creating findsupport's tables (schema revision %s)", describe, head)
    _run(connection, head)
    return current


def _locked_upgrade(engine: Engine) -> str | None:
    describe = _describe(engine.url)
    backend = engine.dialect.name
    with engine.connect() as conn:
        if backend == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            conn.commit()
            try:
                with conn.begin():
                    return _bring_to_head(conn, describe)
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
                conn.commit()
        with conn.begin():
            if backend == "sqlite":
                # The database's write lock, taken before looking: a second process waits here
                # (up to the busy timeout) and then finds the schema already at head.
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            return _bring_to_head(conn, describe)


def _is_private_memory(url: sa.engine.URL) -> bool:
    """An in-memory SQLite database: every engine has its own, so none is remembered."""
    return url.get_backend_name() == "sqlite" and (not url.database or url.database == ":memory:"
                                                   or url.query.get("mode") == "memory"
                                                   or "mode=memory" in url.database)


#: Tries at a brand-new SQLite file that another process is creating at the same moment: SQLite
#: answers "database is locked" at once, without waiting, where waiting could deadlock (two
#: readers both asking to write); the loser tries again and then finds the schema at head.
SQLITE_LOCKED_TRIES = 20
#: Pause between those tries (seconds): a migration of a fresh file takes well under a second.
SQLITE_LOCKED_PAUSE_S = 0.25


def _look_then_upgrade(engine: Engine) -> str | None:
    """The revision the database had; upgraded to head first when it was behind."""
    for attempt in range(1, SQLITE_LOCKED_TRIES + 1):
        try:
            with engine.connect() as conn:  # the usual case, without a lock or Alembic: already at head
                was = current_revision(conn)
            if was != head_revision():
                was = _locked_upgrade(engine)
            return was
        except sa.exc.OperationalError as exc:
            locked = engine.dialect.name == "sqlite" and "database is locked" in str(exc.orig)
            if not locked or attempt == SQLITE_LOCKED_TRIES:
                raise
            time.sleep(SQLITE_LOCKED_PAUSE_S)
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def upgrade_schema(engine: Engine, *, force: bool = False) -> bool:
    """Bring the database of ``engine`` to the newest schema (once per process and URL).

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
    force : bool
        Look again even if this process already brought this URL to head.

    Returns
    -------
    bool
        True when revisions ran; False when the database was already at head.

    Raises
    ------
    CatalogError
        When the database holds tables this version cannot upgrade, was made by
        a newer version, or cannot be reached or changed.

    Examples
    --------
    >>> engine = sa.create_engine("sqlite://")
    >>> upgrade_schema(engine), current_revision(engine) == head_revision(), upgrade_schema(engine)
    (True, True, False)
    """
    key = engine.url.render_as_string(hide_password=False)
    remember = not _is_private_memory(engine.url)
    if remember and not force and key in _upgraded:
        return False
    with _process_lock:
        if remember and not force and key in _upgraded:
            return False
        try:
            was = _look_then_upgrade(engine)
        except sa.exc.SQLAlchemyError as exc:
            raise CatalogError(
                f"{_describe(engine.url)} cannot be brought to findsupport's schema: "
                f"{exc.__class__.__name__}: {getattr(exc, 'orig', None) or exc}"
            ) from exc
        if remember:
            _upgraded.add(key)
    return was != head_revision()


def forget_upgraded(urls: Iterable[str] | None = None) -> None:
    """Make the next :func:`upgrade_schema` of these URLs (default: all) look at the database again.

    For a database that was replaced under the same URL (a SQLite file deleted and made anew).
    """
    with _process_lock:
        if urls is None:
            _upgraded.clear()
        else:
            _upgraded.difference_update(urls)


def upgrade_sql(dialect_name: str, starting_revision: str | None = None) -> str:
    """The SQL that brings a database of ``dialect_name`` from ``starting_revision`` to head.

    Offline (``--sql``): nothing is read from a database, so revisions 0001 and
    0002 write every table they would create.

    Examples
    --------
    >>> "CREATE TABLE providers" in upgrade_sql("sqlite")
    True
    """
    from alembic.runtime.environment import EnvironmentContext

    script = script_directory()
    head = head_revision()
    buffer = io.StringIO()

    def steps(revision, _context):
        return script._upgrade_revs(head, revision)

    with EnvironmentContext(alembic_config(), script, fn=steps, as_sql=True, starting_rev=starting_revision,
                            destination_rev=head) as env:
        env.configure(dialect_name=dialect_name, output_buffer=buffer, literal_binds=True, render_as_batch=True)
        with env.begin_transaction():
            env.run_migrations()
    return buffer.getvalue()


def _after_fork() -> None:  # pragma: no cover - exercised by forked workers
    global _process_lock
    _process_lock = threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)

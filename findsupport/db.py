"""The one SQL database behind the store: connection set-up shared by every table owner.

Each package that keeps rows (``catalog`` for providers and imports,
``ranking.feedback`` for search sessions, ``introductions`` for
introductions) declares its tables on :data:`metadata` in its own module.
Callers use SQLAlchemy Core, so a PostgreSQL/PostGIS URL can replace SQLite
without touching them.

The schema belongs to the migrations (:mod:`findsupport.migrations`):
opening a database (:func:`create_db_engine`, :func:`engine_for`) brings it
to the newest revision, once per process and URL, under a lock every process
on it shares, so a data dir or database made by an older version is upgraded
in place.  A table added to :data:`metadata` needs a revision too (the
migrations' docstring says how); the owners' ``metadata.create_all`` calls
find every table there already and do nothing.

SQLite is opened in WAL mode (readers never block the writer, so a server can
keep answering while an import commits) with foreign keys enforced and a busy
timeout, so two processes importing and serving share the file safely.

Forked processes (``gunicorn --preload`` workers, ``search --batch`` workers)
must not use the connections pooled by the process they were forked from: two
processes on one SQLite handle or one PostgreSQL socket corrupt each other's
state.  A fork handler makes every engine in a child forget its inherited pool
(without closing what is the parent's), as SQLAlchemy's documentation advises.

The database holds personal data (providers' home postcodes and e-mails,
introduction messages, the key that hashes client addresses), so it is private
to the account that runs findsupport, like every other file it writes: the
data directory is created ``0700``, and the SQLite file is created ``0600``
before SQLite opens it (SQLite gives its ``-wal``, ``-shm`` and ``-journal``
files the mode of the database file), so no other account can read it at any
moment.  A database left readable by an older version is tightened to ``0600``
when it is opened, with a log line.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import threading
from pathlib import Path

from typing import Any

from sqlalchemy import MetaData, Table, create_engine, event
from sqlalchemy import text as sa_text
from sqlalchemy.engine import Connection, Dialect, Engine, make_url
from sqlalchemy.exc import ArgumentError

from .config import PRIVATE_FILE_MODE, ensure_private_dir
from .errors import CatalogError
from .migrations import forget_upgraded, upgrade_schema

__all__ = [
    "metadata",
    "create_db_engine",
    "engine_for",
    "serialise",
    "advisory_lock_key",
    "upsert",
    "SQLITE_SIDE_FILES",
]

log = logging.getLogger(__name__)

metadata = MetaData()

#: Milliseconds SQLite waits for a lock held by another process before failing.
SQLITE_BUSY_TIMEOUT_MS = 10_000

#: Files SQLite keeps beside the database (WAL mode uses the first two; rollback mode the last).
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # pragma: no cover - exercised via every test
    cursor = dbapi_connection.cursor()
    # The wait first: switching a new database to WAL needs its lock, which another process
    # may hold (a server starting beside another that is creating the schema).
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _tighten(path: Path) -> None:
    """Take group and world access away from an existing file, saying so."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if not mode & 0o077:
        return
    private = mode & PRIVATE_FILE_MODE  # the owner keeps what they had (a read-only copy stays read-only)
    try:
        os.chmod(path, private)
    except OSError as exc:
        log.warning("%s holds personal data and is mode %s, but it cannot be made private: %s", path, oct(mode), exc.strerror)
        return
    log.warning("%s holds personal data: its mode was %s, now %s (owner only)", path, oct(mode), oct(private))


def _prepare_sqlite_file(database: str) -> bool:
    """Create the SQLite file ``0600`` before SQLite opens it (True), or tighten an existing one and its side files."""
    path = Path(database).absolute()
    if ensure_private_dir(path.parent):
        log.info("created the database folder %s (private to this account)", path.parent)
    try:
        # O_EXCL: never touch a file that appeared meanwhile; an empty file is a valid empty database.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        for candidate in (path, *(path.with_name(path.name + suffix) for suffix in SQLITE_SIDE_FILES)):
            _tighten(candidate)
        return False
    except OSError as exc:
        raise CatalogError(f"The database {path} cannot be created: {exc.strerror}.") from None
    os.close(fd)
    log.info("created a new, empty database %s (private to this account)", path)
    return True


def create_db_engine(url: str, *, upgrade: bool = True) -> Engine:
    """A new SQLAlchemy engine for ``url`` with findsupport's connection settings.

    For a SQLite file, its folder is created ``0700`` and the file ``0600``
    when missing, and an existing file readable by others is made ``0600``.
    The database is then brought to the newest schema
    (:func:`~findsupport.migrations.upgrade_schema`, once per process and URL).

    Parameters
    ----------
    url : str
    upgrade : bool
        False leaves the schema as it is (``findsupport db current`` and ``db upgrade --sql`` look at it first).

    Raises
    ------
    CatalogError
        When the URL cannot be used, the database file cannot be created, or
        the database cannot be brought to the newest schema (made by something
        else, or by a newer findsupport; unreachable).
    ConfigError
        When the database's folder cannot be created.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise CatalogError(f"The database URL {url!r} is not valid: {exc}") from None
    if parsed.get_backend_name() == "sqlite":
        # A "file:" URI (uri=true) names its file in SQLite's own syntax: SQLite opens it as it is.
        if parsed.database and parsed.database != ":memory:" and not parsed.query.get("uri"):
            if _prepare_sqlite_file(parsed.database):  # a new file where this process may have upgraded an old one
                forget_upgraded([parsed.render_as_string(hide_password=False)])
        # ``timeout`` is the driver's own wait for a lock, while it connects (before the pragmas run).
        engine = create_engine(parsed, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(parsed, pool_pre_ping=True)
    if upgrade:
        try:
            upgrade_schema(engine)
        except CatalogError:
            engine.dispose()
            raise
    return engine


def engine_for(url: str) -> Engine:
    """The process-wide engine for ``url`` (created once; engines pool their connections)."""
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = create_db_engine(url)
        return engine


def upsert(table: Table, dialect: Dialect) -> Any:
    """``INSERT`` into ``table`` with ``on_conflict_do_update`` (and ``.excluded``), as ``dialect`` spells it.

    SQLite and PostgreSQL write ``INSERT ... ON CONFLICT ... DO UPDATE`` alike, but
    SQLAlchemy offers it per dialect; other backends are not supported.

    Examples
    --------
    >>> from sqlalchemy import Column, Integer
    >>> t = Table("t", MetaData(), Column("k", Integer, primary_key=True), Column("n", Integer))
    >>> engine = create_db_engine("sqlite://", upgrade=False)
    >>> str(upsert(t, engine.dialect).values(k=1, n=1).on_conflict_do_update(index_elements=["k"], set_={"n": 2}))
    'INSERT INTO t (k, n) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET n = ?'
    >>> from sqlalchemy.dialects import mysql
    >>> upsert(t, mysql.dialect())
    Traceback (most recent call last):
    ...
    findsupport.errors.CatalogError: findsupport's database is SQLite or PostgreSQL, not mysql.
    """
    from sqlalchemy.dialects import postgresql, sqlite

    dialects = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}
    if dialect.name not in dialects:
        raise CatalogError(f"findsupport's database is SQLite or PostgreSQL, not {dialect.name}.")
    return dialects[dialect.name](table)


def advisory_lock_key(name: str) -> int:
    """The PostgreSQL advisory lock named ``name``: a signed 64-bit number, the first 8 bytes of its SHA-256.

    Examples
    --------
    >>> advisory_lock_key("catalogue") == advisory_lock_key("catalogue") != advisory_lock_key("active model")
    True
    """
    return int.from_bytes(hashlib.sha256(f"findsupport\n{name}".encode()).digest()[:8], "big", signed=True)


def serialise(conn: Connection, name: str) -> None:
    """Make ``conn``'s transaction the only one named ``name`` on the database until it ends.

    Call it first in the transaction.  PostgreSQL: a transaction-scoped
    advisory lock (``pg_advisory_xact_lock``), released at commit or rollback;
    two servers doing the same thing (two imports, two activations) take
    turns, and the second sees what the first committed (READ COMMITTED reads
    afresh at each statement).  SQLite: ``BEGIN IMMEDIATE``, the database's
    one write lock, so every writer waits its turn (up to the busy timeout)
    and ``name`` makes no difference.  Other backends: nothing.

    Examples
    --------
    >>> engine = create_db_engine("sqlite://", upgrade=False)
    >>> with engine.begin() as conn:
    ...     serialise(conn, "catalogue")
    ...     conn.in_transaction()
    True
    """
    backend = conn.dialect.name
    if backend == "postgresql":
        conn.execute(sa_text("SELECT pg_advisory_xact_lock(:key)"), {"key": advisory_lock_key(name)})
    elif backend == "sqlite":
        # The driver has not begun a transaction yet (it does so before the first write), so this
        # one takes the write lock at once rather than at a later write that could find it taken.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _forget_inherited_connections() -> None:
    """In a forked child: a fresh pool for every engine; the parent's connections stay the parent's."""
    global _engines_lock
    # The lock may have been held by another thread of the parent at the fork.
    _engines_lock = threading.Lock()
    for engine in list(_engines.values()):
        engine.dispose(close=False)


if hasattr(os, "register_at_fork"):  # POSIX; no fork elsewhere
    os.register_at_fork(after_in_child=_forget_inherited_connections)

"""The one SQL database behind the store: connection set-up shared by every table owner.

Each package that keeps rows (``catalog`` for providers and imports,
``ranking.feedback`` for search sessions, ``web.introductions`` for
introductions) declares its tables on :data:`metadata` in its own module and
creates them with ``metadata.create_all(engine, tables=[...])``.  Callers use
SQLAlchemy Core, so a PostgreSQL/PostGIS URL can replace SQLite without
touching them.

SQLite is opened in WAL mode (readers never block the writer, so a server can
keep answering while an import commits) with foreign keys enforced and a busy
timeout, so two processes importing and serving share the file safely.

Forked processes (``gunicorn --preload`` workers, ``search --batch`` workers)
must not use the connections pooled by the process they were forked from: two
processes on one SQLite handle or one PostgreSQL socket corrupt each other's
state.  A fork handler makes every engine in a child forget its inherited pool
(without closing what is the parent's), as SQLAlchemy's documentation advises.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError

from .errors import CatalogError

__all__ = ["metadata", "create_db_engine", "engine_for"]

metadata = MetaData()

#: Milliseconds SQLite waits for a lock held by another process before failing.
SQLITE_BUSY_TIMEOUT_MS = 10_000

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # pragma: no cover - exercised via every test
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_db_engine(url: str) -> Engine:
    """A new SQLAlchemy engine for ``url`` with findsupport's connection settings.

    For SQLite the parent directory is created.  Raises :class:`CatalogError`
    when the URL cannot be used.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise CatalogError(f"The database URL {url!r} is not valid: {exc}") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(parsed, pool_pre_ping=True)


def engine_for(url: str) -> Engine:
    """The process-wide engine for ``url`` (created once; engines pool their connections)."""
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = create_db_engine(url)
        return engine


def _forget_inherited_connections() -> None:
    """In a forked child: a fresh pool for every engine; the parent's connections stay the parent's."""
    global _engines_lock
    # The lock may have been held by another thread of the parent at the fork.
    _engines_lock = threading.Lock()
    for engine in list(_engines.values()):
        engine.dispose(close=False)


if hasattr(os, "register_at_fork"):  # POSIX; no fork elsewhere
    os.register_at_fork(after_in_child=_forget_inherited_connections)

"""Which SQL database the storage tests run on: SQLite, or a throwaway PostgreSQL/PostGIS.

``make test`` runs the whole suite on SQLite, then (when
``FINDSUPPORT_TEST_POSTGRES_URL`` names a server, as ``.ci/run`` arranges with
``.ci/postgres``) the storage, web and introduction tests again with
``FINDSUPPORT_TEST_BACKEND=postgresql``.  Each test then gets a database of
its own, created here and dropped afterwards, so tests never see each other's
rows, exactly as they get a fresh SQLite file in their own data dir.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["BACKEND", "POSTGRES_URL", "on_postgres", "database", "BACKENDS", "ACTIVE"]

BACKENDS = ("sqlite", "postgresql")
#: The backend this test run uses.
BACKEND = os.environ.get("FINDSUPPORT_TEST_BACKEND", "sqlite").strip().lower() or "sqlite"
#: An administrative URL of the test server (its ``postgres`` database); only ever a throwaway cluster.
POSTGRES_URL = os.environ.get("FINDSUPPORT_TEST_POSTGRES_URL", "")

if BACKEND not in BACKENDS:  # a typo must not silently run everything on SQLite
    raise RuntimeError(f"FINDSUPPORT_TEST_BACKEND={BACKEND!r}; it must be one of {', '.join(BACKENDS)}")
if BACKEND == "postgresql" and not POSTGRES_URL:
    raise RuntimeError("FINDSUPPORT_TEST_BACKEND=postgresql needs FINDSUPPORT_TEST_POSTGRES_URL (see .ci/postgres)")


#: The PostgreSQL database of each running test, by its ``tmp_path``: helpers that build a
#: second app or store for the same test (a "second worker") find the test's database here.
ACTIVE: dict[Path, str] = {}


def on_postgres() -> bool:
    """True when this run's storage tests use PostgreSQL."""
    return BACKEND == "postgresql"


def _admin():
    import sqlalchemy as sa

    return sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)


@contextmanager
def database(sqlite_path: Path) -> Iterator[str | None]:
    """A fresh database for one test (or session): its URL, or ``None`` for the data dir's SQLite file.

    On PostgreSQL the database gets the PostGIS extension when the server has
    it, and is dropped on exit (connections the code under test still pools
    are closed first).
    """
    if not on_postgres():
        yield None
        return
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    name = f"fs_test_{uuid.uuid4().hex[:20]}"
    admin = _admin()
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        available = conn.execute(sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'")).first()
        if available:
            conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgis"))
            conn.commit()
    engine.dispose()
    try:
        yield url
    finally:
        from findsupport import db

        pooled = db._engines.pop(url, None)
        if pooled is not None:
            pooled.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

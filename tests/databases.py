"""Which SQL database the storage tests run on: SQLite, or a throwaway PostgreSQL/PostGIS.

``make test`` runs the whole suite on SQLite, then (when
``FINDSUPPORT_TEST_POSTGRES_URL`` names a server, as ``.ci/run`` arranges with
``.ci/postgres``) the storage, web and introduction tests again with
``FINDSUPPORT_TEST_BACKEND=postgresql``.  Each test then gets a database of
its own, created here and dropped afterwards, so tests never see each other's
rows, exactly as they get a fresh SQLite file in their own data dir.

Making that database is the PostgreSQL run's largest cost if done from scratch
(``CREATE EXTENSION postgis`` and the migrations take most of a second, for
each of about a thousand tests), so each test process builds two template
databases once, on first use, from the code being tested: one with PostGIS
only, and one with PostGIS and the schema at the newest revision (the
migrations run on it exactly as on any new database).  A test's database is a
``CREATE DATABASE ... TEMPLATE`` copy of the second (a few hundredths of a
second); tests marked ``empty_database`` (the migrations' own tests, and any
test of what opening an empty database builds) get a copy of the first, so
they still start with no tables at all.  The templates are dropped when the
session ends (:func:`drop_templates`).

A run that is killed (``kill -9``, a CI timeout, a crash) drops nothing, so
every database made here carries its owner in its name: a hash of the host
and its process-id namespace, the test process's id and that process's start
time (``fs_template_<host>_<pid>_<start>_...``, ``fs_test_<host>_<pid>_<start>_...``).
Before a test process makes its templates it drops the databases whose owner
is on this host and no longer running (:func:`drop_stale`); a database of a
process that is still running (the pid alive with the same start time, so a
reused pid is not mistaken for its owner) or of another host or container is
never touched.

The PostgreSQL run collects the whole suite but keeps only the tests that get
a PostgreSQL database (:func:`uses_database`; ``tests/conftest.py`` deselects
the rest): a test that never touches one would only repeat, on the same
SQLite or in-memory code paths, what the SQLite run has checked already, and a
new storage test anywhere is on both runs without being listed.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["BACKEND", "POSTGRES_URL", "BACKENDS", "ACTIVE", "EMPTY_MARK", "on_postgres", "uses_database", "database",
           "drop_templates", "drop_stale", "owner_tag"]

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

#: The marker of tests whose database must start with no tables (registered in setup.cfg).
EMPTY_MARK = "empty_database"

#: This process's template databases, by whether they hold the schema; built on first use.
_templates: dict[bool, str] = {}
#: The processes that already dropped what dead runs left (once per process, before its first template).
_swept: set[int] = set()
#: A database made here: its kind, then its owner (host, pid, start time; see :func:`owner_tag`).
_OWNED_NAME = re.compile(r"^fs_(?:template|test)_(?P<host>[0-9a-f]{8})_(?P<pid>[0-9]+)_(?P<start>[0-9]+)_")


def on_postgres() -> bool:
    """True when this run's storage tests use PostgreSQL."""
    return BACKEND == "postgresql"


#: Fixtures that give a test a database of this run's backend: its own (``database_url``, which
#: ``settings`` and every fixture built on it use) or the web tests' shared catalogue's.
DATABASE_FIXTURES = frozenset({"database_url", "web_data_dir"})


def uses_database(item) -> bool:
    """True when a collected test gets a database of this run's backend.

    Through its fixtures (:data:`DATABASE_FIXTURES`), or by importing this
    module's helpers into its own module (it makes or checks a database itself).
    """
    if DATABASE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
        return True
    module = getattr(item, "module", None)
    return module is not None and any(getattr(value, "__module__", None) == __name__ for value in vars(module).values())


def _host() -> str:
    """This host and process-id namespace, hashed: pids mean something only within one of them."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:  # no /proc (macOS): the host name alone
        namespace = ""
    return hashlib.sha256(f"{socket.gethostname()}\0{namespace}".encode()).hexdigest()[:8]


def _started(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot), ``None`` when there is no such process.

    The start time tells a process from a later one that reuses its pid.
    Without ``/proc`` it is 0 for any running process (the pid alone).
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:  # someone else's process: it exists
            pass
        return 0
    # The command name (field 2) is in parentheses and may hold spaces; start time is field 22.
    return int(stat.rsplit(")", 1)[1].split()[19])


def owner_tag(pid: int | None = None) -> str:
    """``<host>_<pid>_<start>``: who made a database, as its name records it."""
    pid = os.getpid() if pid is None else pid
    return f"{_host()}_{pid}_{_started(pid) or 0}"


def _stale(name: str) -> bool:
    """True for a database made here by a process of this host that is no longer running."""
    owner = _OWNED_NAME.match(name)
    if owner is None or owner["host"] != _host():
        return False  # not ours to judge: made by hand, by an older version, or on another host
    started = _started(int(owner["pid"]))
    return started is None or started != int(owner["start"])


def drop_stale(admin) -> list[str]:  # noqa: ANN001 (an SQLAlchemy engine)
    """Drop the templates and test databases left by test processes that died; their names.

    Only databases whose owner (:func:`owner_tag`) ran on this host and is
    gone: another run's, still going, are never touched.
    """
    import sqlalchemy as sa

    with admin.connect() as conn:
        names = conn.execute(sa.text("SELECT datname FROM pg_database WHERE datname LIKE 'fs\\_%'")).scalars().all()
        dropped = []
        for name in sorted(n for n in names if _stale(n)):
            try:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            except sa.exc.DBAPIError:  # another run's sweep got there first; it is gone either way
                continue
            dropped.append(name)
    return dropped


def _admin():
    import sqlalchemy as sa

    return sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)


def _url(name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)


def _create(admin, name: str, template: str | None = None) -> None:
    import sqlalchemy as sa

    copy = f' TEMPLATE "{template}"' if template else ""
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"{copy}'))


def _template(admin, at_head: bool) -> str:
    """This process's template database: PostGIS (when the server has it), and the schema when ``at_head``."""
    name = _templates.get(at_head)
    if name is not None:
        return name
    import sqlalchemy as sa

    if os.getpid() not in _swept:  # once per test process, before it leaves anything of its own
        _swept.add(os.getpid())
        drop_stale(admin)
    # The owner and a random part: two test processes (pytest-xdist workers, two runs on
    # one server) never share a template, which must have no other user while copied.
    name = f"fs_template_{owner_tag()}_{uuid.uuid4().hex[:8]}_{'head' if at_head else 'empty'}"
    if at_head:
        _create(admin, name, _template(admin, at_head=False))
        from findsupport.db import create_db_engine

        # The migrations, as any new database gets them when findsupport first opens it.
        create_db_engine(_url(name)).dispose()
    else:
        _create(admin, name)
        engine = sa.create_engine(_url(name), poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            available = conn.execute(sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'")).first()
            if available:
                conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgis"))
                conn.commit()
        engine.dispose()
    _templates[at_head] = name
    return name


def drop_templates() -> None:
    """Drop this process's template databases (at the end of the session)."""
    if not _templates:
        return
    import sqlalchemy as sa

    admin = _admin()
    with admin.connect() as conn:
        for at_head in (True, False):  # the schema's template was copied from PostGIS's
            if (name := _templates.pop(at_head, None)) is not None:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@contextmanager
def database(sqlite_path: Path, *, empty: bool = False) -> Iterator[str | None]:
    """A fresh database for one test (or session): its URL, or ``None`` for the data dir's SQLite file.

    On PostgreSQL the database is a copy of a template with the PostGIS
    extension (when the server has it) and, unless ``empty``, the schema at the
    newest revision; it is dropped on exit (connections the code under test
    still pools are closed first).
    """
    if not on_postgres():
        yield None
        return
    import sqlalchemy as sa

    name = f"fs_test_{owner_tag()}_{uuid.uuid4().hex[:12]}"
    admin = _admin()
    _create(admin, name, _template(admin, at_head=not empty))
    url = _url(name)
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

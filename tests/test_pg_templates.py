"""What a killed PostgreSQL test run leaves behind, the next run drops; a live run's databases it never touches.

These run on the PostgreSQL run only (``tests/databases.py``): they make real
templates in child test processes on the throwaway server, kill one child as
``kill -9`` would and keep another running, then sweep as a new run does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from databases import _admin, drop_stale, on_postgres, owner_tag

pytestmark = pytest.mark.skipif(not on_postgres(), reason="needs the PostgreSQL test server (tests/databases.py)")

TESTS = Path(__file__).resolve().parent
#: A test process that makes its templates and one test database, prints their names, then waits.
CHILD = """
import sys
sys.path.insert(0, {tests!r})
import databases
with databases.database(None, empty=True) as url:
    print(url.rsplit("/", 1)[1], *databases._templates.values(), flush=True)
    sys.stdin.readline()
databases.drop_templates()
"""


def _databases() -> set[str]:
    import sqlalchemy as sa

    admin = _admin()
    with admin.connect() as conn:
        names = set(conn.execute(sa.text("SELECT datname FROM pg_database")).scalars())
    admin.dispose()
    return names


def _child() -> tuple[subprocess.Popen, list[str]]:
    env = {**os.environ, "FINDSUPPORT_TEST_BACKEND": "postgresql"}
    child = subprocess.Popen([sys.executable, "-c", CHILD.format(tests=str(TESTS))], env=env, text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    names = child.stdout.readline().split()
    assert names and all(n.startswith("fs_") for n in names), names
    return child, names


def _sweep() -> list[str]:
    admin = _admin()
    try:
        return drop_stale(admin)
    finally:
        admin.dispose()


def test_a_killed_runs_databases_are_dropped_and_a_live_runs_are_kept():
    killed, left = _child()
    live, running = _child()
    try:
        killed.kill()  # SIGKILL: no session end, no drop_templates
        killed.wait()
        assert set(left) <= _databases(), "the killed run left its databases"
        dropped = _sweep()
        assert set(left) <= set(dropped)
        names = _databases()
        assert not set(left) & names
        assert set(running) <= names, "a live run's template or test database was dropped"
    finally:
        live.stdin.close()  # the live run ends its session: it drops its own
        live.wait(timeout=60)
        for child in (killed, live):
            child.stdin.close()
            child.stdout.close()
    assert not set(running) & _databases()


@contextmanager
def _made(name: str) -> Iterator[None]:
    """Database ``name`` exists inside the block (as another run would have made it); dropped after, if still there."""
    import sqlalchemy as sa

    admin = _admin()
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            yield
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
    finally:
        admin.dispose()


@pytest.mark.parametrize("owner", [
    "0badc0de_{pid}_{start}",  # another host or container: its pids mean nothing here
    "{host}_{pid}_{start}",  # this very process
])
def test_databases_whose_owner_may_be_alive_are_kept(owner):
    host, pid, start = owner_tag().split("_")
    name = f"fs_template_{owner.format(host=host, pid=pid, start=start)}_cafe0000_empty"
    with _made(name):
        assert name not in _sweep()
        assert name in _databases()


def test_a_reused_pid_does_not_keep_a_dead_owners_database():
    """Same host and pid, another start time: the owner died and the pid went to someone else."""
    host, pid, start = owner_tag().split("_")
    name = f"fs_test_{host}_{pid}_{int(start) - 1}_cafe00000000"
    with _made(name):
        assert name in _sweep()
        assert name not in _databases()

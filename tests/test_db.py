"""The shared database engines: connection set-up, and forked processes getting their own connections."""

from __future__ import annotations

import multiprocessing
import os

import pytest
import sqlalchemy as sa

from findsupport.db import engine_for

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX only")


def _child_report(url: str, queue) -> None:
    engine = engine_for(url)
    # The parent's pooled connection was forgotten: nothing is checked in here ...
    inherited = engine.pool.checkedin()
    # ... and the child opens (and writes through) its own.
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO t VALUES (2)"))
        connection_id = id(conn.connection.dbapi_connection)
    queue.put((inherited, connection_id))


def test_a_forked_child_opens_its_own_connections(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'fork.sqlite3'}"
    engine = engine_for(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (x INTEGER)"))
        conn.execute(sa.text("INSERT INTO t VALUES (1)"))
        parent_connection = id(conn.connection.dbapi_connection)
    assert engine.pool.checkedin() == 1  # pooled, and would be inherited by a fork

    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child_report, args=(url, queue))
    child.start()
    inherited, child_connection = queue.get(timeout=60)
    child.join(timeout=60)
    assert child.exitcode == 0
    assert inherited == 0
    # The parent still has its connection, which still works, and sees the child's row.
    assert engine.pool.checkedin() == 1
    with engine.connect() as conn:
        assert id(conn.connection.dbapi_connection) == parent_connection
        assert sorted(conn.execute(sa.text("SELECT x FROM t")).scalars()) == [1, 2]
    assert child_connection is not None

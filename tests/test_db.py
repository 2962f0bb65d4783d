"""The shared database engines: connection set-up, a private database, forked processes' own connections."""

from __future__ import annotations

import logging
import multiprocessing
import os
import sqlite3
import stat

import pytest
import sqlalchemy as sa

from findsupport.cli import main
from findsupport.config import DATABASE_FILE_NAME, PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, load_settings, open_data_dir
from findsupport.db import SQLITE_SIDE_FILES, create_db_engine, engine_for

# fork (the forked-child test) and file modes are POSIX only.
pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX only")


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


# ---------------------------------------------------------------------- a private database
PROVIDERS_CSV = (
    "id,name,roles,postcode,events,email,consent\n"
    "p1,Sam Kestrel,mentor,NE21 4LZ,hurdles,sam@example.org,true\n"
    "p2,Ann Lee,mentor,M14 5RX,sprints,ann@example.org,true\n"
)


def mode_of(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def usual_umask():
    """The umask most accounts have (0o022), under which the database used to be created 0644."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_a_fresh_data_dir_from_the_cli_is_private(tmp_path, cache_dir, monkeypatch, usual_umask) -> None:
    monkeypatch.setenv("FINDSUPPORT_CACHE_DIR", str(cache_dir))
    monkeypatch.delenv("FINDSUPPORT_CONFIG", raising=False)
    monkeypatch.delenv("FINDSUPPORT_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "providers.csv").write_text(PROVIDERS_CSV, encoding="utf-8")
    assert main(["--data-dir", "fresh/instance", "--quiet", "import", "providers.csv"]) == 0
    data_dir = tmp_path / "fresh" / "instance"
    assert mode_of(data_dir) == PRIVATE_DIR_MODE
    database = data_dir / DATABASE_FILE_NAME
    assert mode_of(database) == PRIVATE_FILE_MODE
    # Everything else the command left in the data dir is private too.
    for path in data_dir.rglob("*"):
        assert mode_of(path) & 0o077 == 0, path


def test_the_database_and_its_side_files_are_private_from_the_moment_they_exist(tmp_path, usual_umask) -> None:
    database = tmp_path / "new" / "store.sqlite3"
    engine = create_db_engine(f"sqlite:///{database}")
    # Before SQLAlchemy has opened a connection, the file already exists, owner-only, in an owner-only folder.
    assert mode_of(database) == PRIVATE_FILE_MODE
    assert mode_of(database.parent) == PRIVATE_DIR_MODE
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (x INTEGER)"))
        conn.execute(sa.text("INSERT INTO t VALUES (1)"))
        # WAL mode: the write-ahead log and the shared-memory index exist while a connection is open.
        side_files = [database.with_name(database.name + suffix) for suffix in SQLITE_SIDE_FILES[:2]]
        assert all(path.exists() for path in side_files)
        assert [mode_of(path) for path in side_files] == [PRIVATE_FILE_MODE] * 2
    engine.dispose()


def test_an_existing_readable_database_is_tightened_with_a_log_line(tmp_path, caplog, usual_umask) -> None:
    data_dir = tmp_path / "old"
    data_dir.mkdir(mode=0o755)
    database = data_dir / DATABASE_FILE_NAME
    sqlite3.connect(database).close()
    wal = database.with_name(database.name + "-wal")
    wal.write_bytes(b"")
    for path in (database, wal):
        os.chmod(path, 0o644)
    os.chmod(data_dir, 0o755)

    with caplog.at_level(logging.WARNING, logger="findsupport"):
        settings = load_settings({"data_dir": data_dir}, environ={})
        open_data_dir(settings)
        # upgrade=False: opening it for the schema would checkpoint and remove the (empty) WAL file.
        create_db_engine(settings.resolved_database_url, upgrade=False).dispose()
    assert (mode_of(data_dir), mode_of(database), mode_of(wal)) == (0o700, 0o600, 0o600)
    assert f"{database} holds personal data: its mode was 0o644, now 0o600" in caplog.text
    assert f"data directory {data_dir} holds personal data: its mode was 0o755, now 0o700" in caplog.text


def test_a_folder_that_is_not_a_data_dir_is_left_as_it_is(tmp_path) -> None:
    folder = tmp_path / "srv"
    folder.mkdir()
    os.chmod(folder, 0o755)
    open_data_dir(load_settings({"data_dir": folder}, environ={}))
    assert mode_of(folder) == 0o755

"""Schema migrations: a database made by an older findsupport is upgraded in place when it is opened.

Every test runs on this run's backend (SQLite, or PostgreSQL with
``FINDSUPPORT_TEST_BACKEND=postgresql``; see ``tests/databases.py``), each on
a fresh database of its own.
"""

from __future__ import annotations

import importlib
import json
import multiprocessing
import pkgutil
import re
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import findsupport
from findsupport.cli import EXIT_ERROR, EXIT_OK, main
from findsupport.db import create_db_engine, metadata
from findsupport.errors import CatalogError
from findsupport.migrations import RETIRED_TABLES, current_revision, head_revision, upgrade_schema, upgrade_sql
from findsupport.migrations.runner import MIGRATIONS_DIR, alembic_config, script_directory

#: On PostgreSQL, every test here starts from a database without findsupport's tables (tests/databases.py).
pytestmark = pytest.mark.empty_database

#: Tables in the database that no findsupport model declares: Alembic's own, PostGIS's.
NOT_MODELS = frozenset({"alembic_version", "spatial_ref_sys"}) | RETIRED_TABLES
#: What a database made by the previous release may hold; what `findsupport import` alone left there.
PREVIOUS_RELEASE_TABLES = ("providers", "provider_imports", "feedback_sessions", "feedback_results",
                           "introductions", "web_secrets")
CATALOGUE_ONLY = ("providers", "provider_imports")

HOW_TO = (
    "the newest migration does not build the tables findsupport/db.metadata declares. Add a revision "
    "(findsupport/migrations/__init__.py, 'Adding a table or a column'): "
    "findsupport/migrations/versions/NNNN_what.py with upgrade() doing the differences below"
)


def _import_every_module() -> None:
    """Every table is declared by some module of findsupport: import them all, so ``metadata`` is complete."""
    for module in pkgutil.walk_packages(findsupport.__path__, "findsupport."):
        if not module.name.startswith("findsupport.migrations."):  # revisions are scripts, not modules
            importlib.import_module(module.name)


@pytest.fixture
def url(settings) -> str:
    return settings.resolved_database_url


_opened: list[sa.engine.Engine] = []


@pytest.fixture(autouse=True)
def _dispose_engines():
    """Every engine a test opens is closed before its database is dropped."""
    yield
    while _opened:
        _opened.pop().dispose()


def _open(url: str, *, upgrade: bool = True) -> sa.engine.Engine:
    """:func:`create_db_engine`, closed after the test."""
    engine = create_db_engine(url, upgrade=upgrade)
    _opened.append(engine)
    return engine


def _bare_engine(url: str) -> sa.engine.Engine:
    """An engine on the test's database that leaves its schema alone."""
    return _open(url, upgrade=False)


def _differences(engine: sa.engine.Engine) -> list:
    def include(_object, name, type_, _reflected, _compare_to) -> bool:
        return not (type_ == "table" and name in NOT_MODELS)

    _import_every_module()
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": include, "compare_type": True,
                                                         "compare_server_default": True})
        return compare_metadata(context, metadata)


# ---------------------------------------------------------------- a database made by the previous release
NOW = datetime(2026, 11, 29, 9, 0)

ROWS = {
    "providers": [{
        "id": "p001", "name": "Ada Mentor", "roles": "mentor", "events": "sprints;hurdles",
        "availability": "mon_pm;sat_am", "online": True, "travel_km": 20.0, "capacity": 3, "active_coaches": 1,
        "qualification": "athletics_coach", "club": "Blaydon Harriers", "bio": "Sprints coach of 20 years.",
        "consent": True, "area": "NE21 4", "easting": 418000.0, "northing": 563000.0, "lon": -1.72,
        "lat": 54.96, "service_area": None, "email": "ada@example.org", "postcode": "NE21 4LZ",
        "base_lon": -1.71, "base_lat": 54.96, "base_easting": 418100.0, "base_northing": 563100.0,
        "row_hash": "a" * 64, "import_id": 1,
    }],
    "provider_imports": [{
        "id": 1, "started_at": NOW, "finished_at": NOW, "source": "providers.csv", "format": "csv",
        "replace": False, "rows": 1, "rejected": 0, "added": 1, "updated": 0, "unchanged": 0, "removed": 0,
        "kept": 0, "withdrawn": 0, "providers": 1, "catalog_version": "0123456789abcdef",
    }],
    "feedback_sessions": [{
        "id": "f" * 32, "query": '{"postcode": "NE21 4", "role": "mentor"}', "model_version": "default",
        "catalog_version": "0123456789abcdef", "created_at": NOW.replace(tzinfo=UTC),
    }],
    "feedback_results": [{"search_id": "f" * 32, "provider_id": "p001", "position": 1, "action": 2}],
    "introductions": [{
        "id": "1" * 32, "created_at": NOW, "provider_id": "p001", "search_id": "f" * 32,
        "coach_name": "Bo Coach", "coach_email": "bo@example.org", "message": "Could we meet?",
        "client_key": "c" * 64, "status": "pending", "attempts": 0, "next_attempt_at": NOW, "claimed_at": None,
        "sent_at": None, "last_error": None,
    }],
    "web_secrets": [{"name": "client_key", "value": "e" * 64}],
}


def _previous_release_tables(names=PREVIOUS_RELEASE_TABLES) -> sa.MetaData:
    """The previous release's tables, as its ``metadata.create_all`` made them (revision 0001's own columns)."""
    revision_1 = script_directory().get_revision("0001").module
    previous = sa.MetaData()
    for name, columns in revision_1.TABLES:
        if name in names:
            sa.Table(name, previous, *columns())
    return previous


def _fill(engine: sa.engine.Engine, names=PREVIOUS_RELEASE_TABLES) -> None:
    tables = sa.MetaData()
    tables.reflect(engine, only=list(names))
    with engine.begin() as conn:
        for name in names:  # in dependency order: feedback_results after feedback_sessions
            conn.execute(sa.insert(tables.tables[name]), ROWS[name])


def _rows(engine: sa.engine.Engine, name: str) -> list[dict]:
    table = sa.Table(name, sa.MetaData(), autoload_with=engine)
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(sa.select(table).order_by(*table.primary_key.columns))]


def _comparable(rows: list[dict]) -> list[dict]:
    # SQLite hands timestamps back naive whatever was stored; PostgreSQL gives "timestamptz" aware.
    return [{k: v.replace(tzinfo=None) if isinstance(v, datetime) else v for k, v in row.items()} for row in rows]


def test_a_revision_1_database_with_rows_upgrades_to_head_keeping_every_row(url, settings) -> None:
    bare = _bare_engine(url)
    _alembic(bare, "upgrade", "0001")
    assert current_revision(bare) == "0001"
    _fill(bare)
    before = {name: _comparable(_rows(bare, name)) for name in PREVIOUS_RELEASE_TABLES}
    bare.dispose()

    engine = _open(url)  # opening it upgrades it
    assert current_revision(engine) == head_revision()
    for name in PREVIOUS_RELEASE_TABLES:
        if name == "feedback_results":  # revision 0007 moves its rows (below)
            continue
        after = _comparable(_rows(engine, name))
        if name == "feedback_sessions":  # revision 0002 adds client_key; 0007 the page
            assert [row.pop("client_key") for row in after] == [None]
            assert [json.loads(row.pop("shown")) for row in after] == [[["p001", 1]]]
        assert after == before[name], name
    # The one result was requested: more than shown, so it keeps a row of its own.
    assert _rows(engine, "feedback_actions") == [{"search_id": "f" * 32, "provider_id": "p001", "action": 2, "helpful": None}]
    assert _differences(engine) == []

    # ... and what a user sees of them: the listed provider and the logged search.
    from findsupport.catalog.store import CatalogStore
    from findsupport.ranking.feedback import FeedbackLog

    assert [p.id for p in CatalogStore.open(settings).public_catalog().providers] == ["p001"]
    assert [s["results"] for s in FeedbackLog.open(settings).sessions()] == [
        [{"provider_id": "p001", "position": 1, "action": "requested"}]
    ]


def _alembic(engine: sa.engine.Engine, verb: str, revision: str) -> None:
    """``alembic upgrade/downgrade revision`` on ``engine``'s database, through env.py as the command runs it."""
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        getattr(command, verb)(config, revision)


#: Sessions of a revision 0006 log and their ``feedback_results`` rows, as the writer stored them: a
#: page nobody touched, one with a request, a view and a helpful outcome (rows not in page order),
#: and a session of nothing.
_PAGES_0006 = {
    "a" * 32: [("p1", 1, 0, None), ("p2", 2, 0, None), ("p3", 3, 0, None)],
    "b" * 32: [("q9", 12, 0, None), ("q1", 11, 2, None), ("q5", 13, 1, None), ("q7", 14, 5, True)],
    "c" * 32: [],
}


def test_revision_7_moves_each_page_into_its_session_and_keeps_only_what_was_done(url, settings) -> None:
    bare = _bare_engine(url)
    _alembic(bare, "upgrade", "0006")
    old = sa.MetaData()
    old.reflect(bare, only=["feedback_sessions", "feedback_results"])
    sessions, results = old.tables["feedback_sessions"], old.tables["feedback_results"]
    with bare.begin() as conn:
        for minute, (search_id, page) in enumerate(_PAGES_0006.items()):
            conn.execute(sa.insert(sessions).values(id=search_id, query='{"role": "mentor"}', model_version="default",
                                                    catalog_version="v1", created_at=NOW.replace(minute=minute, tzinfo=UTC)))
            for provider_id, position, action, helpful in page:
                conn.execute(sa.insert(results).values(search_id=search_id, provider_id=provider_id, position=position,
                                                       action=action, helpful=helpful))
    rows_0006 = _rows(bare, "feedback_results")

    _alembic(bare, "upgrade", "0007")
    assert not sa.inspect(bare).has_table("feedback_results")
    # Only what says more than "shown" keeps a row.
    assert [(r["search_id"], r["provider_id"], r["action"], r["helpful"]) for r in _rows(bare, "feedback_actions")] == [
        ("b" * 32, "q1", 2, None), ("b" * 32, "q5", 1, None), ("b" * 32, "q7", 5, True),
    ]
    from findsupport.ranking.feedback import FeedbackLog

    assert [[(r["provider_id"], r["position"], r["action"], r.get("helpful")) for r in s["results"]]
            for s in FeedbackLog.open(settings).sessions()] == [
        [("p1", 1, "shown", None), ("p2", 2, "shown", None), ("p3", 3, "shown", None)],
        [("q1", 11, "requested", None), ("q9", 12, "shown", None), ("q5", 13, "viewed", None), ("q7", 14, "met", True)],
        [],
    ]
    # ... and back: the rows of revision 0006, every one.
    _alembic(bare, "downgrade", "0006")
    assert _rows(bare, "feedback_results") == rows_0006
    assert "shown" not in {c["name"] for c in sa.inspect(bare).get_columns("feedback_sessions")}


@pytest.mark.parametrize("names", [PREVIOUS_RELEASE_TABLES, CATALOGUE_ONLY], ids=["every-table", "catalogue-only"])
def test_a_database_made_by_the_previous_release_is_adopted_and_upgraded_when_opened(url, names, caplog) -> None:
    bare = _bare_engine(url)
    _previous_release_tables(names).create_all(bare)
    _fill(bare, names)
    bare.dispose()

    engine = _open(url)
    assert current_revision(engine) == head_revision()
    assert "made before findsupport had migrations: adopting it as revision 0001" in caplog.text
    assert _comparable(_rows(engine, "providers")) == _comparable(ROWS["providers"])
    assert _differences(engine) == []


def test_a_database_made_between_releases_without_migrations_is_adopted(url) -> None:
    """A development version made the newer tables with ``create_all`` and no ``alembic_version``."""
    _import_every_module()
    bare = _bare_engine(url)
    _previous_release_tables(["introductions"]).create_all(bare)
    metadata.create_all(bare)
    bare.dispose()

    engine = _open(url)
    assert current_revision(engine) == head_revision()
    assert _differences(engine) == []


def test_an_up_to_date_database_is_looked_at_once_per_process(url) -> None:
    engine = _open(url)
    assert current_revision(engine) == head_revision()
    assert "introductions" not in sa.inspect(engine).get_table_names()  # retired, and empty: dropped
    assert upgrade_schema(engine) is False
    assert upgrade_schema(engine, force=True) is False


# ---------------------------------------------------------------- several servers starting at once
def _open_in_child(url: str, start, results) -> None:
    start.wait(timeout=60)
    try:
        engine = create_db_engine(url)
        results.put(current_revision(engine))
        engine.dispose()
    except CatalogError as exc:
        results.put(f"refused: {exc.message}")


def test_two_processes_opening_a_fresh_database_at_once_both_succeed(url) -> None:
    context = multiprocessing.get_context("fork")
    start, results = context.Barrier(2), context.Queue()
    children = [context.Process(target=_open_in_child, args=(url, start, results)) for _ in range(2)]
    for child in children:
        child.start()
    answers = [results.get(timeout=120) for _ in children]
    for child in children:
        child.join(timeout=60)
    assert answers == [head_revision()] * 2
    assert [child.exitcode for child in children] == [0, 0]
    engine = _bare_engine(url)
    assert _rows(engine, "alembic_version") == [{"version_num": head_revision()}]


def test_two_threads_opening_a_fresh_database_at_once_both_succeed(url) -> None:
    start, answers = threading.Barrier(2), []

    def open_it() -> None:
        start.wait(timeout=60)
        answers.append(current_revision(_open(url)))

    threads = [threading.Thread(target=open_it) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert answers == [head_revision()] * 2


# ---------------------------------------------------------------- databases findsupport cannot upgrade
def test_a_database_with_a_foreign_providers_table_is_refused_with_advice(url) -> None:
    bare = _bare_engine(url)
    with bare.begin() as conn:
        conn.execute(sa.text("CREATE TABLE providers (id VARCHAR(10) PRIMARY KEY, title TEXT)"))
    bare.dispose()

    with pytest.raises(CatalogError) as refused:
        _open(url)
    message = refused.value.message
    assert "has a table providers that lacks column" in message and "has column title" in message
    assert "findsupport export --private" in message and "import the export" in message
    # ... and nothing was changed or created.
    assert set(sa.inspect(_bare_engine(url)).get_table_names()) - NOT_MODELS == {"providers"}


def test_a_database_from_a_newer_findsupport_is_refused(url) -> None:
    bare = _bare_engine(url)
    with bare.begin() as conn:
        conn.execute(sa.text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)"))
        conn.execute(sa.text("INSERT INTO alembic_version VALUES ('9999')"))
    bare.dispose()
    with pytest.raises(CatalogError, match="schema revision 9999, which this version of findsupport does not know"):
        _open(url)


def test_the_cli_says_why_it_refuses(url, cli_env, monkeypatch, capsys) -> None:
    monkeypatch.setenv("FINDSUPPORT_DATABASE_URL", url)
    with _bare_engine(url).begin() as conn:
        conn.execute(sa.text("CREATE TABLE feedback_results (search_id VARCHAR(32), other INTEGER)"))
    assert main(["db", "upgrade"]) == EXIT_ERROR
    assert "has a table feedback_results" in capsys.readouterr().err


# ---------------------------------------------------------------- the head is the models; the revisions' files
def test_head_matches_the_current_metadata(url) -> None:
    engine = _bare_engine(url)
    upgrade_schema(engine, force=True)
    differences = _differences(engine)
    assert not differences, HOW_TO + ":\n" + "\n".join(map(str, differences))


def test_the_revisions_are_one_line_named_by_their_ids() -> None:
    files = sorted(path.name for path in (MIGRATIONS_DIR / "versions").glob("*.py"))
    ids = [re.match(r"(\d{4})_\w+\.py$", name)[1] for name in files]
    assert ids == [f"{n:04d}" for n in range(1, len(ids) + 1)]
    chain = [(s.revision, s.down_revision) for s in reversed(list(script_directory().walk_revisions()))]
    assert chain == list(zip(ids, [None, *ids[:-1]], strict=True))
    assert head_revision() == ids[-1] == script_directory().get_current_head()


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_the_upgrade_sql_builds_every_table(dialect) -> None:
    _import_every_module()
    sql = upgrade_sql(dialect)
    for name in metadata.tables:
        assert f"CREATE TABLE {name} " in sql, name
    assert "ALTER TABLE feedback_sessions ADD COLUMN client_key" in sql
    assert f"UPDATE alembic_version SET version_num='{head_revision()}'" in sql


def test_db_current_and_upgrade_on_the_command_line(url, cli_env, monkeypatch, capsys) -> None:
    monkeypatch.setenv("FINDSUPPORT_DATABASE_URL", url)
    assert main(["db", "current"]) == EXIT_OK
    assert capsys.readouterr().out == f"schema revision none (newest {head_revision()}; opening it will upgrade it)\n"
    assert main(["db", "upgrade", "--sql"]) == EXIT_OK
    assert "CREATE TABLE providers" in capsys.readouterr().out
    assert current_revision(_bare_engine(url)) is None  # --sql changes nothing
    assert main(["db", "upgrade"]) == EXIT_OK
    assert capsys.readouterr().out == f"upgraded the database from schema revision none to {head_revision()}\n"
    assert main(["db", "upgrade"]) == EXIT_OK
    assert "nothing to do" in capsys.readouterr().out
    assert main(["db", "upgrade", "--sql"]) == EXIT_OK
    assert "nothing to do" in capsys.readouterr().out
    assert main(["db", "current"]) == EXIT_OK
    assert capsys.readouterr().out == f"schema revision {head_revision()} (newest {head_revision()}; up to date)\n"


def test_opening_an_up_to_date_database_does_not_import_alembic(url) -> None:
    """Alembic costs half a second of start-up: only a database that needs upgrading pays it."""
    _open(url)
    program = ("import sys; from findsupport.db import create_db_engine; create_db_engine(sys.argv[1]).dispose(); "
               "print('alembic' in sys.modules)")
    done = subprocess.run([sys.executable, "-W", "error", "-c", program, url], capture_output=True, text=True,
                          check=False, timeout=120, cwd=Path(__file__).parent)
    assert (done.returncode, done.stdout.strip()) == (0, "False"), done.stderr

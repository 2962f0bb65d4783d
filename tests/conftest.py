"""Fixtures shared by the whole suite.

The postcode directory is real Code-Point Open data.  It is built once per
machine into ``.cache/`` at the repository root (git-ignored; about 6 s the
first time) and shared by every test through ``cache_dir``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from findsupport.config import Settings, load_settings
from findsupport.geo import PostcodeDirectory

REPO = Path(__file__).resolve().parent.parent
TEST_CACHE = Path(os.environ.get("FINDSUPPORT_TEST_CACHE", REPO / ".cache"))


@pytest.fixture(scope="session")
def cache_dir() -> Path:
    TEST_CACHE.mkdir(parents=True, exist_ok=True)
    return TEST_CACHE


@pytest.fixture(scope="session")
def directory(cache_dir: Path) -> PostcodeDirectory:
    """The real postcode directory (read-only; shared by every test)."""
    return PostcodeDirectory.load(cache_dir)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "instance"
    path.mkdir()
    return path


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On the PostgreSQL run, only the tests that get a PostgreSQL database (``tests/databases.py``)."""
    from databases import on_postgres, uses_database

    if not on_postgres():
        return
    kept = [item for item in items if uses_database(item)]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if not uses_database(item)])
        items[:] = kept


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Drop the template databases of a PostgreSQL run (``tests/databases.py``)."""
    from databases import drop_templates

    drop_templates()


@pytest.fixture
def database_url(request: pytest.FixtureRequest, data_dir: Path) -> Iterator[str | None]:
    """This test's own database: ``None`` (SQLite in its data dir) or a fresh PostgreSQL one.

    See ``tests/databases.py``: ``FINDSUPPORT_TEST_BACKEND=postgresql`` runs the
    storage tests on a throwaway PostgreSQL server, where a test's database
    already has the newest schema unless the test is marked ``empty_database``.
    """
    from databases import ACTIVE, EMPTY_MARK, database

    empty = request.node.get_closest_marker(EMPTY_MARK) is not None
    with database(data_dir / "findsupport.sqlite3", empty=empty) as url:
        if url is not None:
            ACTIVE[data_dir.parent] = url
        yield url
        ACTIVE.pop(data_dir.parent, None)


@pytest.fixture
def settings(data_dir: Path, cache_dir: Path, database_url: str | None) -> Settings:
    """Settings for one test: its own data dir and database, the shared postcode cache, no rate limits."""
    values = {"data_dir": data_dir, "cache_dir": cache_dir, "rate_limits": "off"}
    if database_url is not None:
        values["database_url"] = database_url
    return load_settings(values, environ={})


@pytest.fixture
def cli_env(data_dir: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment for running the CLI in-process against the test's data dir."""
    monkeypatch.setenv("FINDSUPPORT_DATA_DIR", str(data_dir))
    monkeypatch.setenv("FINDSUPPORT_CACHE_DIR", str(cache_dir))
    monkeypatch.delenv("FINDSUPPORT_CONFIG", raising=False)
    return {"FINDSUPPORT_DATA_DIR": str(data_dir), "FINDSUPPORT_CACHE_DIR": str(cache_dir)}

"""Each web test on the sample catalogue has a database of its own on the run's backend (``tests/web/conftest.py``)."""

from __future__ import annotations

from pathlib import Path

from databases import ACTIVE, on_postgres


def test_a_test_on_the_sample_catalogue_has_a_postgresql_database_of_its_own(web_data_dir, tmp_path: Path):
    url = ACTIVE.get(tmp_path)
    assert (url or "").startswith("postgresql") == on_postgres()


def test_make_app_puts_the_apps_data_in_it(web_data_dir, cache_dir, web_engine, tmp_path: Path):
    from .conftest import make_app

    app = make_app(web_data_dir, cache_dir, web_engine, tmp_path)
    try:
        used = app.extensions["findsupport"].settings.resolved_database_url
        assert used.startswith("postgresql" if on_postgres() else "sqlite")
        assert not on_postgres() or used == ACTIVE[tmp_path]
    finally:
        app.extensions["findsupport"].close()

"""What a server runs for searches, views and their counts is compiled once per process.

SQLAlchemy compiles a statement once and reuses it only when the statement
has a cache key; one without is compiled again on every execution.  The rate
limits' flush was such a statement (its rows written into a multi-row
``values()``), and its compiling cost a busy worker about five searches' CPU
every 100 ms (BENCHMARKS.md, "The flush statement compiled once").  Here every
statement the serving path executes through SQLAlchemy is watched, on both
databases: none may lack a cache key.  (Statements sent as SQL text, like the
feedback writer's insert, are not compiled at all.)
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine.default import NO_CACHE_KEY

from .conftest import NEWCASTLE, make_app


@pytest.fixture
def compiled_statements():
    """``(statement, has a cache key)`` for every compiled statement (not DDL) any engine executes meanwhile."""
    seen: list[tuple[str, bool]] = []

    def note(conn, cursor, statement, parameters, context, executemany):
        if context is not None and context.compiled is not None and not context.isddl:
            seen.append((statement, context.cache_hit is not NO_CACHE_KEY))

    sa.event.listen(sa.engine.Engine, "after_cursor_execute", note)
    yield seen
    sa.event.remove(sa.engine.Engine, "after_cursor_execute", note)


def test_searches_views_lookups_and_their_counts_run_only_statements_with_a_cache_key(
    compiled_statements, web_data_dir, cache_dir, web_engine, tmp_path, database_url
):
    app = make_app(web_data_dir, cache_dir, web_engine, tmp_path, database_url=database_url,
                   rate_limits="search=1000/minute;postcodes=1000/minute;views=1000/hour")
    client = app.test_client()
    compiled_statements.clear()  # what creating the app's database ran (migrations) is not serving
    try:
        for k, radius in enumerate((5, 10, 25)):  # three clients: flushes of one and of several rows
            address = {"REMOTE_ADDR": f"10.0.0.{k + 1}"}
            body = client.get("/api/v1/search", query_string={"postcode": NEWCASTLE, "radius_km": radius},
                              environ_base=address).get_json()
            shown = body["results"][0]["id"]
            assert client.get(f"/api/v1/providers/{shown}", query_string={"search_id": body["search_id"]},
                              environ_base=address).status_code == 200
            assert client.get(f"/api/v1/postcodes/{NEWCASTLE}", environ_base=address).status_code == 200
            if k == 0:
                app.extensions["findsupport"].limiter.flush()
    finally:
        app.extensions["findsupport"].close()  # flushes the rest of the counts
    flushes = [s for s, _ in compiled_statements if s.lstrip().upper().startswith("INSERT INTO RATE_LIMIT_COUNTS")]
    assert len(flushes) >= 2, "the counts were flushed, through SQLAlchemy, and watched"
    assert [s for s, keyed in compiled_statements if not keyed] == []

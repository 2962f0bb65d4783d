"""A logged search's page is a column of its session; only results somebody acted on have rows.

- ``feedback_sessions.shown``: the page as JSON, ``[[provider_id, position],
  ...]`` (``"[]"`` for a session that showed nothing);
- ``feedback_actions``: ``(search_id, provider_id)`` → the strongest action so
  far and ``helpful``, for results somebody viewed, requested or was
  introduced to, or whose helpfulness is known;
- ``feedback_results`` (a row per shown result) is dropped once its rows are
  moved: each session's rows become its ``shown``, and the rows that say more
  than "shown" become ``feedback_actions`` rows.

Why: every served search wrote a session row and ten result rows, keyed by a
random search id, and that write was the largest cost of a search request
after the search itself (see :mod:`findsupport.ranking.feedback`).

Upgrading a SQLite log of 431,583 sessions (4.3 million result rows) took
16 s, and ``findsupport feedback export`` wrote the same file, byte for byte,
before and after (BENCHMARKS.md, "Feedback writes").  SQLite reuses the pages
the old rows held as the log grows; ``VACUUM`` (servers stopped) hands them
back to the file system.

The move is plain SQL, so ``--sql`` prints it too: SQLite's
``json_group_array`` and PostgreSQL's ``json_agg`` build the pages (their
element order is not relied on: readers sort a page by position).  Like
0002-0005, a database that already has the new layout (made with
``create_all`` by a development build) is left as it is.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_ID = 32  # search ids
_PROVIDER_ID = 200  # provider ids as the feedback log stores them
_SHOWN = 0  # labels.ACTION_CODES["shown"], frozen here as the rows stored it

#: Each session's page from its ``feedback_results`` rows, per dialect.
_PAGES = {
    "sqlite": (
        "UPDATE feedback_sessions SET shown = (SELECT json_group_array(json_array(r.provider_id, r.position)) "
        "FROM feedback_results AS r WHERE r.search_id = feedback_sessions.id) "
        "WHERE EXISTS (SELECT 1 FROM feedback_results AS r WHERE r.search_id = feedback_sessions.id)"
    ),
    "postgresql": (
        "UPDATE feedback_sessions SET shown = (SELECT json_agg(json_build_array(r.provider_id, r.position) "
        "ORDER BY r.position, r.provider_id)::text FROM feedback_results AS r WHERE r.search_id = feedback_sessions.id) "
        "WHERE EXISTS (SELECT 1 FROM feedback_results AS r WHERE r.search_id = feedback_sessions.id)"
    ),
}
#: The ``feedback_results`` rows of a page, back from ``shown`` and ``feedback_actions`` (downgrade).
_ROWS = {
    "sqlite": (
        "INSERT INTO feedback_results (search_id, provider_id, position, action, helpful) "
        "SELECT s.id, json_extract(e.value, '$[0]'), json_extract(e.value, '$[1]'), COALESCE(a.action, {shown}), a.helpful "
        "FROM feedback_sessions AS s JOIN json_each(s.shown) AS e "
        "LEFT JOIN feedback_actions AS a ON a.search_id = s.id AND a.provider_id = json_extract(e.value, '$[0]')"
    ),
    "postgresql": (
        "INSERT INTO feedback_results (search_id, provider_id, position, action, helpful) "
        "SELECT s.id, e.value ->> 0, (e.value ->> 1)::integer, COALESCE(a.action, {shown}), a.helpful "
        "FROM feedback_sessions AS s CROSS JOIN LATERAL json_array_elements(s.shown::json) AS e(value) "
        "LEFT JOIN feedback_actions AS a ON a.search_id = s.id AND a.provider_id = e.value ->> 0"
    ),
}


def _per_result_table(name: str, *, position: bool) -> None:
    """``feedback_actions`` (``position=False``) or the old ``feedback_results``: a row per (search, provider)."""
    op.create_table(
        name,
        sa.Column("search_id", sa.String(_ID), sa.ForeignKey("feedback_sessions.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("provider_id", sa.String(_PROVIDER_ID), primary_key=True),
        *([sa.Column("position", sa.Integer, nullable=False)] if position else []),
        sa.Column("action", sa.SmallInteger, nullable=False),
        sa.Column("helpful", sa.Boolean, nullable=True),
    )


def upgrade() -> None:
    # Like 0002-0005, only what is missing: a development build's ``create_all`` may have made the
    # new layout already (and revision 0001 then added an empty feedback_results beside it).
    tables, columns = {"feedback_results"}, set()
    if not context.is_offline_mode():
        inspector = sa.inspect(op.get_bind())
        tables = set(inspector.get_table_names())
        columns = {c["name"] for c in inspector.get_columns("feedback_sessions")}
    if "shown" not in columns:
        # SQLite adds a NOT NULL column with a default in place; every existing row gets "[]" until filled.
        op.add_column("feedback_sessions", sa.Column("shown", sa.Text, nullable=False, server_default="[]"))
    if "feedback_actions" not in tables:
        _per_result_table("feedback_actions", position=False)
    if "feedback_results" in tables:
        op.execute(_PAGES[op.get_context().dialect.name])
        op.execute(
            "INSERT INTO feedback_actions (search_id, provider_id, action, helpful) SELECT search_id, provider_id, "
            f"action, helpful FROM feedback_results WHERE action <> {_SHOWN} OR helpful IS NOT NULL"
        )
        op.drop_table("feedback_results")


def downgrade() -> None:
    _per_result_table("feedback_results", position=True)
    op.execute(_ROWS[op.get_context().dialect.name].format(shown=_SHOWN))
    op.drop_table("feedback_actions")
    # A plain DROP COLUMN (SQLite 3.35 and later), not a batch copy of the table: with foreign keys
    # on, dropping the old copy would cascade to the feedback_results rows just made.
    op.drop_column("feedback_sessions", "shown")

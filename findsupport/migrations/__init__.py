"""Schema migrations (Alembic) for SQLite and PostgreSQL.

Opening a database (:func:`findsupport.db.create_db_engine` and
:func:`~findsupport.db.engine_for`) brings it to the newest schema with
:func:`upgrade_schema`, once per process and URL and under a lock shared by
every process on that database, so upgrading the package upgrades a data dir
or a database in place.  ``findsupport db upgrade [--sql]`` and
``findsupport db current`` do the same by hand.  :mod:`.runner` says what
happens to a database of each kind.

Revisions (``versions/``):

``0001``
    The previous release's schema (commit ``a8f834a``), as its ``create_all``
    made it; a database made by that release is adopted as this revision.
``0002``
    Everything since: provider places and edits, the introduction lifecycle,
    operator sign-in, ``feedback_sessions.client_key``.
``0003``
    Ranking models and the active model in the database; an import's times
    ``timestamptz`` on PostgreSQL.
``0004``
    Rate-limit counts in the database (``rate_limit_counts``), shared by every
    worker and server.
``0005``
    Outcome helpfulness per logged result.
``0006``
    The shared catalogue snapshot (``catalog_snapshot_chunks``), so a new
    server starts from it.
``0007``
    A logged search's page as a column of its session (``shown``); only
    results somebody acted on keep a row (``feedback_actions``).

Adding a table or a column
--------------------------
Declare it on :data:`findsupport.db.metadata` as usual, then add a revision,
or ``tests/test_migrations.py::test_head_matches_the_current_metadata`` fails
listing what differs:

1. Copy ``script.py.mako`` (or the newest revision) to
   ``versions/NNNN_what_it_does.py`` with the next number; set ``revision =
   "NNNN"`` and ``down_revision`` to the previous number.
2. Write ``upgrade()`` (and ``downgrade()``) with ``op``: ``op.create_table``
   with the columns spelled out (a revision never imports the models: they
   will change, the revision must not), and ``with op.batch_alter_table(name)
   as batch:`` for any change to an existing table, so SQLite can copy the
   table where it cannot ``ALTER`` it.  Alembic can draft it for you::

       python -c "from alembic import command; from findsupport.migrations.runner import alembic_config; \\
       command.revision(alembic_config(), 'what it does', rev_id='NNNN')"

3. Changing a ``providers`` column that the PostGIS view reads (see
   :mod:`findsupport.catalog.postgis`)?  Start the revision with
   ``op.execute("DROP VIEW IF EXISTS public_providers")`` on PostgreSQL; the
   catalogue store makes the view again the next time it opens (its comment,
   the mark, is gone with it).
4. Run ``tests/test_migrations.py`` on SQLite and on PostgreSQL
   (``FINDSUPPORT_TEST_BACKEND=postgresql``).

A revision, once released, is never edited: the next change is a new one.
"""

from __future__ import annotations

from .runner import (
    MIGRATIONS_DIR,
    RETIRED_TABLES,
    current_revision,
    forget_upgraded,
    head_revision,
    upgrade_schema,
    upgrade_sql,
)

__all__ = [
    "MIGRATIONS_DIR",
    "RETIRED_TABLES",
    "current_revision",
    "forget_upgraded",
    "head_revision",
    "upgrade_schema",
    "upgrade_sql",
]

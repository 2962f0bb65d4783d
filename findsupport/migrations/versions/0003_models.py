"""Ranking models and the active model in the database; import timestamps with their time zone.

- ``ranking_models``: one row per saved model (its JSON document, version,
  provenance kind, when it was trained and when it was saved), so every server
  on the database sees a model trained on any of them;
- ``active_model``: at most one row (``id`` 1) naming the active model, whether
  it was forced although not learnt from real feedback, when, and a
  ``revision`` that every activation increments (what servers poll);
- ``provider_imports.started_at`` and ``finished_at`` become time-zone aware
  (``timestamptz`` on PostgreSQL; the naive values were UTC and are read as
  UTC).  SQLite keeps no time zone, so nothing changes in its file.

Model files an older version kept in ``<data dir>/models`` are not moved here:
a revision cannot see the data dir (the database may be a PostgreSQL server
shared by many).  :mod:`findsupport.ranking.registry` copies them into the
table the first time it opens a database that has no models yet (see there).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_VERSION = 100  # a model version: 1 to 100 letters, digits, '.', '_' and '-'
_KIND = 16  # provenance kind: real, simulated, mixed, unknown


def _ranking_models() -> list[sa.Column]:
    return [
        sa.Column("version", sa.String(_VERSION), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("provenance_kind", sa.String(_KIND), nullable=False),
        sa.Column("document", sa.Text, nullable=False),
    ]


def _active_model() -> list[sa.Column]:
    return [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("version", sa.String(_VERSION), nullable=False),
        sa.Column("force_simulated", sa.Boolean, nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
    ]


TABLES = (
    ("ranking_models", _ranking_models),
    ("active_model", _active_model),
)

_IMPORT_TIMES = (("started_at", False), ("finished_at", True))


def _is_aware(table: str, column: str) -> bool:
    reflected = {c["name"]: c["type"] for c in sa.inspect(op.get_bind()).get_columns(table)}
    return bool(getattr(reflected[column], "timezone", False))


def upgrade() -> None:
    # Like 0002, only what is missing: a database adopted without migrations may have been made
    # by a ``create_all`` that knew these tables already.
    existing = set() if context.is_offline_mode() else set(sa.inspect(op.get_bind()).get_table_names())
    for name, columns in TABLES:
        if name not in existing:
            op.create_table(name, *columns())
    if op.get_context().dialect.name == "postgresql":
        # The stored naive values are UTC: say so, rather than letting the session's time zone decide.
        for column, nullable in _IMPORT_TIMES:
            if not context.is_offline_mode() and _is_aware("provider_imports", column):
                continue  # made aware already (by a create_all of this version's tables)
            op.alter_column(
                "provider_imports", column, type_=sa.DateTime(timezone=True), existing_type=sa.DateTime(),
                existing_nullable=nullable, postgresql_using=f"{column} AT TIME ZONE 'UTC'",
            )


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        for column, nullable in _IMPORT_TIMES:
            op.alter_column(
                "provider_imports", column, type_=sa.DateTime(), existing_type=sa.DateTime(timezone=True),
                existing_nullable=nullable, postgresql_using=f"{column} AT TIME ZONE 'UTC'",
            )
    for name, _columns in reversed(TABLES):
        op.drop_table(name)

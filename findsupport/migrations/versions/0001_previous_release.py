"""The schema of the previous release (commit a8f834a), before findsupport had migrations.

Six tables, exactly as that release's ``metadata.create_all`` made them
(``findsupport/catalog/tables.py``, ``findsupport/ranking/feedback.py`` and
``findsupport/web/introductions.py`` of that commit): ``providers``,
``provider_imports``, ``feedback_sessions``, ``feedback_results``, the web
layer's ``introductions`` and ``web_secrets``.

That release created each table on first use, so a data dir it made may hold
only some of them (``findsupport import`` alone makes the catalogue's two).
This revision therefore creates only the tables that are missing: a database
made by that release, once checked by :func:`findsupport.migrations.upgrade_schema`,
is brought here by running it, which is the same as stamping it.  (With
``--sql`` it cannot look, and writes every ``CREATE TABLE``.)

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _providers() -> list[sa.Column]:
    return [
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("roles", sa.String(1000), nullable=False),
        sa.Column("events", sa.String(1000), nullable=False),
        sa.Column("availability", sa.String(1000), nullable=False),
        sa.Column("online", sa.Boolean, nullable=False),
        sa.Column("travel_km", sa.Float, nullable=False),
        sa.Column("capacity", sa.Integer, nullable=False),
        sa.Column("active_coaches", sa.Integer, nullable=False),
        sa.Column("qualification", sa.String(40), nullable=True),
        sa.Column("club", sa.String(120), nullable=True),
        sa.Column("bio", sa.String(1000), nullable=True),
        sa.Column("consent", sa.Boolean, nullable=False, index=True),
        sa.Column("area", sa.String(6), nullable=False),
        sa.Column("easting", sa.Float, nullable=False),
        sa.Column("northing", sa.Float, nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("service_area", sa.LargeBinary, nullable=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("postcode", sa.String(8), nullable=True),
        sa.Column("base_lon", sa.Float, nullable=True),
        sa.Column("base_lat", sa.Float, nullable=True),
        sa.Column("base_easting", sa.Float, nullable=False),
        sa.Column("base_northing", sa.Float, nullable=False),
        sa.Column("row_hash", sa.String(64), nullable=False),
        sa.Column("import_id", sa.Integer, nullable=False),
    ]


def _provider_imports() -> list[sa.Column]:
    return [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("finished_at", sa.DateTime, nullable=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("replace", sa.Boolean, nullable=False),
        *(sa.Column(name, sa.Integer, nullable=False)
          for name in ("rows", "rejected", "added", "updated", "unchanged", "removed", "kept", "withdrawn",
                       "providers")),
        sa.Column("catalog_version", sa.String(16), nullable=True),
    ]


def _feedback_sessions() -> list[sa.Column]:
    return [
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("query", sa.Text, nullable=False),
        sa.Column("model_version", sa.String(100)),
        sa.Column("catalog_version", sa.String(100)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
    ]


def _feedback_results() -> list[sa.Column]:
    return [
        sa.Column("search_id", sa.String(32), sa.ForeignKey("feedback_sessions.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("provider_id", sa.String(200), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("action", sa.SmallInteger, nullable=False),
    ]


def _introductions() -> list[sa.Column]:
    return [
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("created_at", sa.DateTime, nullable=False, index=True),
        sa.Column("provider_id", sa.String(200), nullable=False),
        sa.Column("search_id", sa.String(100), nullable=True),
        sa.Column("coach_name", sa.String(100), nullable=False),
        sa.Column("coach_email", sa.String(254), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("client_key", sa.String(64), nullable=False, index=True),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime, nullable=False),
        sa.Column("claimed_at", sa.DateTime, nullable=True),
        sa.Column("sent_at", sa.DateTime, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
    ]


def _web_secrets() -> list[sa.Column]:
    return [
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(128), nullable=False),
    ]


#: In creation order (feedback_results refers to feedback_sessions).
TABLES = (
    ("providers", _providers),
    ("provider_imports", _provider_imports),
    ("feedback_sessions", _feedback_sessions),
    ("feedback_results", _feedback_results),
    ("introductions", _introductions),
    ("web_secrets", _web_secrets),
)


def upgrade() -> None:
    existing = set() if context.is_offline_mode() else set(sa.inspect(op.get_bind()).get_table_names())
    for name, columns in TABLES:
        if name not in existing:
            op.create_table(name, *columns())


def downgrade() -> None:
    for name, _columns in reversed(TABLES):
        op.drop_table(name)

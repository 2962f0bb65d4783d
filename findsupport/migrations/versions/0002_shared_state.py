"""Everything since the previous release: provider places and edits, the introduction lifecycle, operators.

- ``feedback_sessions.client_key``: the keyed hash of the client address
  (the feedback log used to add it with its own ``ALTER TABLE``);
- ``provider_places`` and ``provider_places_revision`` (places taken, held,
  paused through introductions);
- ``provider_edits``, ``provider_edit_notices``, ``provider_withdrawals`` and
  ``provider_edits_revision`` (a provider's own changes);
- ``introduction_requests``, ``outbox_messages`` and ``signing_keys`` (the
  introduction lifecycle, its e-mails and the keys that sign its links);
- ``operator_sign_in_links`` and ``operator_sessions`` (operator sign-in).

The old ``introductions`` table (see :data:`findsupport.migrations.RETIRED_TABLES`)
is dropped when it is empty, as on every new database; nothing reads it any
more, but a request it still holds may be somebody's undelivered message, so a
table with rows is left for an operator to read (and drop).  With ``--sql``
it is left either way.

Versions between the previous release and this revision made some of these
tables (and the ``client_key`` column) with ``create_all`` and no migrations,
so, like revision 0001, this revision creates only what is missing.  Nothing
here touches a ``providers`` column, so the PostGIS view ``public_providers``
stays as it is.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_PROVIDER_ID = 64  # providers.id
_LONG_PROVIDER_ID = 200  # provider ids as the introductions and feedback store them
_HASH = 64  # SHA-256 hex
_CODE = 40  # the longest vocabulary code, "leader_in_running_fitness", is 25
_STATE = 16
_EMAIL = 254


def _provider_places() -> list[sa.Column]:
    return [
        sa.Column("provider_id", sa.String(_PROVIDER_ID), primary_key=True),
        sa.Column("taken", sa.Integer, nullable=False),
        sa.Column("held", sa.Integer, nullable=False),
        sa.Column("paused", sa.Boolean, nullable=False),
        sa.Column("paused_changed_at", sa.DateTime, nullable=True),
    ]


def _revision_row() -> list[sa.Column]:
    return [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("revision", sa.Integer, nullable=False),
    ]


def _provider_edits() -> list[sa.Column]:
    return [
        sa.Column("provider_id", sa.String(_PROVIDER_ID), primary_key=True),
        sa.Column("field", sa.String(32), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("file_value", sa.Text, nullable=False),
        sa.Column("edited_at", sa.DateTime, nullable=False),
    ]


def _provider_edit_notices() -> list[sa.Column]:
    return [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("import_id", sa.Integer, nullable=False, index=True),
        sa.Column("provider_id", sa.String(_PROVIDER_ID), nullable=False, index=True),
        sa.Column("field", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("edited_at", sa.DateTime, nullable=False),
    ]


def _provider_withdrawals() -> list[sa.Column]:
    return [
        sa.Column("id_digest", sa.String(_HASH), primary_key=True),
        sa.Column("withdrawn_on", sa.DateTime, nullable=False),
    ]


def _introduction_requests() -> list[sa.Column]:
    return [
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("provider_id", sa.String(_LONG_PROVIDER_ID), nullable=False, index=True),
        sa.Column("search_id", sa.String(100), nullable=True),
        sa.Column("coach_name", sa.String(100), nullable=False),
        sa.Column("coach_email", sa.String(_EMAIL), nullable=False),
        sa.Column("coach_level", sa.String(_CODE), nullable=True),
        sa.Column("role", sa.String(_CODE), nullable=True),
        sa.Column("event", sa.String(_CODE), nullable=True),
        sa.Column("slots", sa.String(21 * 8), nullable=False),
        sa.Column("mode", sa.String(_CODE), nullable=True),
        sa.Column("sector", sa.String(6), nullable=True),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("note", sa.String(500), nullable=True),
        sa.Column("state", sa.String(_STATE), nullable=False, index=True),
        sa.Column("pending_key", sa.String(_HASH), nullable=True, unique=True),
        sa.Column("client_key", sa.String(_HASH), nullable=False, index=True),
        sa.Column("created_at", sa.DateTime, nullable=False, index=True),
        sa.Column("expires_at", sa.DateTime, nullable=False, index=True),
        sa.Column("reminded_at", sa.DateTime, nullable=True),
        sa.Column("answered_at", sa.DateTime, nullable=True),
        sa.Column("closed_at", sa.DateTime, nullable=True, index=True),
        sa.Column("outcome_sent_at", sa.DateTime, nullable=True),
        sa.Column("coach_met", sa.Boolean, nullable=True),
        sa.Column("coach_helpful", sa.Boolean, nullable=True),
        sa.Column("provider_met", sa.Boolean, nullable=True),
        sa.Column("provider_helpful", sa.Boolean, nullable=True),
    ]


def _outbox_messages() -> list[sa.Column]:
    return [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("introduction_id", sa.String(32), nullable=True, index=True),
        sa.Column("provider_id", sa.String(_LONG_PROVIDER_ID), nullable=True),
        sa.Column("kind", sa.String(_CODE), nullable=False),
        sa.Column("recipient", sa.String(16), nullable=False),
        sa.Column("status", sa.String(_STATE), nullable=False, index=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime, nullable=False, index=True),
        sa.Column("claimed_at", sa.DateTime, nullable=True),
        sa.Column("sent_at", sa.DateTime, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
    ]


def _signing_keys() -> list[sa.Column]:
    return [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    ]


def _operator_sign_in_links() -> list[sa.Column]:
    return [
        sa.Column("link_id", sa.String(32), primary_key=True),
        sa.Column("used_at", sa.DateTime, nullable=False, index=True),
    ]


def _operator_sessions() -> list[sa.Column]:
    return [
        sa.Column("digest", sa.String(_HASH), primary_key=True),
        sa.Column("email", sa.String(_EMAIL), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("ends_at", sa.DateTime, nullable=False, index=True),
    ]


TABLES = (
    ("provider_places", _provider_places),
    ("provider_places_revision", _revision_row),
    ("provider_edits", _provider_edits),
    ("provider_edit_notices", _provider_edit_notices),
    ("provider_withdrawals", _provider_withdrawals),
    ("provider_edits_revision", _revision_row),
    ("introduction_requests", _introduction_requests),
    ("outbox_messages", _outbox_messages),
    ("signing_keys", _signing_keys),
    ("operator_sign_in_links", _operator_sign_in_links),
    ("operator_sessions", _operator_sessions),
)


def _has_column(table: str, column: str) -> bool:
    return any(c["name"] == column for c in sa.inspect(op.get_bind()).get_columns(table))


def upgrade() -> None:
    offline = context.is_offline_mode()
    if offline or not _has_column("feedback_sessions", "client_key"):
        # batch: SQLite alters a table by copying it when it must (adding a nullable column it need not).
        with op.batch_alter_table("feedback_sessions") as batch:
            batch.add_column(sa.Column("client_key", sa.String(_HASH), nullable=True))
    existing = set() if offline else set(sa.inspect(op.get_bind()).get_table_names())
    for name, columns in TABLES:
        if name not in existing:
            op.create_table(name, *columns())
    if "introductions" in existing:
        rows = op.get_bind().execute(sa.text("SELECT count(*) FROM introductions")).scalar()
        if not rows:
            op.drop_table("introductions")


def downgrade() -> None:
    # An empty introductions table that upgrade() dropped is not made again (revision 0001 would).
    for name, _columns in reversed(TABLES):
        op.drop_table(name)
    with op.batch_alter_table("feedback_sessions") as batch:
        batch.drop_column("client_key")

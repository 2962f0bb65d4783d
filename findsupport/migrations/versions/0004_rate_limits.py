"""Rate-limit counts in the database, so every worker and server counts a client together.

- ``rate_limit_counts``: one client's accepted requests in one slot of one
  bucket (see :mod:`findsupport.web.ratelimit`); ``expires_at`` (indexed) is
  when the row leaves every window and may be deleted.

Before this revision each worker process counted in its own memory, so there
is nothing to carry over: counts start at zero, as after a restart.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_HASH = 64  # a keyed client hash, hex SHA-256
_BUCKET = 32


def _rate_limit_counts() -> list[sa.Column]:
    return [
        sa.Column("client_key", sa.String(_HASH), primary_key=True),
        sa.Column("bucket", sa.String(_BUCKET), primary_key=True),
        sa.Column("slot", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("hits", sa.Integer, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False, index=True),
    ]


def upgrade() -> None:
    # Like 0002 and 0003, only when missing: a database used by a development build between
    # releases may have the table from a ``create_all`` already.
    existing = set() if context.is_offline_mode() else set(sa.inspect(op.get_bind()).get_table_names())
    if "rate_limit_counts" not in existing:
        op.create_table("rate_limit_counts", *_rate_limit_counts())


def downgrade() -> None:
    op.drop_table("rate_limit_counts")

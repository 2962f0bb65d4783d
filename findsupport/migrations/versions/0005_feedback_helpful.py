"""Outcome helpfulness as a field of each result in the feedback log.

- ``feedback_results.helpful``: whether the introduction that came of this
  result was helpful, from the outcome check-in ("did you meet? was it
  helpful?"): true, false, or NULL (not asked, not answered, or they did not
  meet).  Training grades a helpful ``met`` above a plain one (see
  :mod:`findsupport.ranking.labels`).

Existing rows get NULL: their outcomes were recorded as ``met`` alone, which
reads back as before.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Like 0002-0004, only when missing: a database a development build made with ``create_all``
    # (no migrations) may have the column already.
    if not context.is_offline_mode():
        columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("feedback_results")}
        if "helpful" in columns:
            return
    # batch: SQLite copies the table where it cannot ALTER it (an added nullable column it can).
    with op.batch_alter_table("feedback_results") as batch:
        batch.add_column(sa.Column("helpful", sa.Boolean, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feedback_results") as batch:
        batch.drop_column("helpful")

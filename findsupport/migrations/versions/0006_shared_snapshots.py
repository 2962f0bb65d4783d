"""The public-catalogue snapshot shared through the database.

- ``catalog_snapshot_chunks``: the snapshot file of one catalogue version
  (:mod:`findsupport.catalog.snapshot`) and the search index built from it
  (:mod:`findsupport.index.cache`), cut into chunks of a few MB, so a server
  added with an empty cache directory reads their bytes instead of every
  provider's row (:mod:`findsupport.catalog.shared_snapshot`).

Only a cache: nothing to carry over, the first process after the upgrade
stores the snapshot it builds or already has.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_VERSION_CHARS = 16


def upgrade() -> None:
    # Like 0002-0005, only when missing: a database a development build made with ``create_all``
    # may have the table already.
    existing = set() if context.is_offline_mode() else set(sa.inspect(op.get_bind()).get_table_names())
    if "catalog_snapshot_chunks" in existing:
        return
    op.create_table(
        "catalog_snapshot_chunks",
        sa.Column("version", sa.String(_VERSION_CHARS), primary_key=True),
        sa.Column("kind", sa.String(40), primary_key=True),
        sa.Column("chunk", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("chunks", sa.Integer, nullable=False),
        sa.Column("crc32", sa.BigInteger, nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    if op.get_context().dialect.name == "postgresql":
        # PostgreSQL compresses large values with pglz by default: storing a 176 MB snapshot then
        # takes ~10 s (measured: 0.9 s for 19 MB against 0.16 s with lz4, half the size too).
        # lz4 where the server has it (PostgreSQL 14 and later, built with it), else no compression.
        op.execute(
            """
            DO $$
            BEGIN
                IF EXISTS (SELECT 1 FROM pg_settings
                           WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)) THEN
                    EXECUTE 'ALTER TABLE catalog_snapshot_chunks ALTER COLUMN data SET COMPRESSION lz4';
                ELSE
                    EXECUTE 'ALTER TABLE catalog_snapshot_chunks ALTER COLUMN data SET STORAGE EXTERNAL';
                END IF;
            END
            $$
            """
        )


def downgrade() -> None:
    op.drop_table("catalog_snapshot_chunks")

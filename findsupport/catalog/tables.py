"""The catalogue's tables, declared on the shared :data:`findsupport.db.metadata`.

SQLAlchemy Core with portable types only, so a PostgreSQL/PostGIS backend can
take the same schema (``service_area`` WKB in EPSG:27700 becomes a
``geometry(MultiPolygon, 27700)`` column there).

``providers``
    One row per provider: public fields, the public location (sector
    centroid), the private postcode / coordinates / e-mail, and ``row_hash``
    (a digest of everything stored) so a re-import can tell unchanged rows
    from changed ones without comparing every column.
``provider_imports``
    One row per committed import (including the demo): what came in, what
    changed, and ``catalog_version``, the digest of the catalogue after it.
``catalog_snapshot_chunks``
    The public-catalogue snapshot file of a catalogue version and the search
    index built from it, in chunks, so a server with an empty cache starts
    from them rather than from the rows
    (:mod:`findsupport.catalog.shared_snapshot`; public data only).
"""

from __future__ import annotations

import sqlalchemy as sa

from ..db import metadata
from .model import MAX_BIO_CHARS, MAX_CLUB_CHARS, MAX_EMAIL_CHARS, MAX_ID_CHARS, MAX_NAME_CHARS

__all__ = ["providers_table", "imports_table", "snapshot_chunks_table", "CATALOG_TABLES", "VERSION_CHARS"]

#: Length of a catalogue version (hex digits of a SHA-256 digest): 64 bits, no collisions in practice.
VERSION_CHARS = 16
_HASH_CHARS = 64
_CODES_CHARS = 1000  # every code of the vocabulary joined with ';' fits
_SECTOR_CHARS = 6  # "AB12 3"
_POSTCODE_CHARS = 8  # "AB12 3CD"
_QUALIFICATION_CHARS = 40  # the longest code, "leader_in_running_fitness", is 25

providers_table = sa.Table(
    "providers",
    metadata,
    sa.Column("id", sa.String(MAX_ID_CHARS), primary_key=True),
    sa.Column("name", sa.String(MAX_NAME_CHARS), nullable=False),
    sa.Column("roles", sa.String(_CODES_CHARS), nullable=False),
    sa.Column("events", sa.String(_CODES_CHARS), nullable=False),
    sa.Column("availability", sa.String(_CODES_CHARS), nullable=False),
    sa.Column("online", sa.Boolean, nullable=False),
    sa.Column("travel_km", sa.Float, nullable=False),
    sa.Column("capacity", sa.Integer, nullable=False),
    sa.Column("active_coaches", sa.Integer, nullable=False),
    sa.Column("qualification", sa.String(_QUALIFICATION_CHARS), nullable=True),
    sa.Column("club", sa.String(MAX_CLUB_CHARS), nullable=True),
    sa.Column("bio", sa.String(MAX_BIO_CHARS), nullable=True),
    sa.Column("consent", sa.Boolean, nullable=False, index=True),
    # Public location: the centroid of the postcode sector.
    sa.Column("area", sa.String(_SECTOR_CHARS), nullable=False),
    sa.Column("easting", sa.Float, nullable=False),
    sa.Column("northing", sa.Float, nullable=False),
    sa.Column("lon", sa.Float, nullable=False),
    sa.Column("lat", sa.Float, nullable=False),
    sa.Column("service_area", sa.LargeBinary, nullable=True),
    # Private: never part of the public view.
    sa.Column("email", sa.String(MAX_EMAIL_CHARS), nullable=False),
    sa.Column("postcode", sa.String(_POSTCODE_CHARS), nullable=True),
    sa.Column("base_lon", sa.Float, nullable=True),
    sa.Column("base_lat", sa.Float, nullable=True),
    sa.Column("base_easting", sa.Float, nullable=False),
    sa.Column("base_northing", sa.Float, nullable=False),
    # Bookkeeping.
    sa.Column("row_hash", sa.String(_HASH_CHARS), nullable=False),
    sa.Column("import_id", sa.Integer, nullable=False),
)

imports_table = sa.Table(
    "provider_imports",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    # Time-zone aware (revision 0003): timestamptz on PostgreSQL; SQLite keeps none, the store reads UTC.
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("format", sa.String(16), nullable=False),
    sa.Column("replace", sa.Boolean, nullable=False),
    sa.Column("rows", sa.Integer, nullable=False, default=0),
    sa.Column("rejected", sa.Integer, nullable=False, default=0),
    sa.Column("added", sa.Integer, nullable=False, default=0),
    sa.Column("updated", sa.Integer, nullable=False, default=0),
    sa.Column("unchanged", sa.Integer, nullable=False, default=0),
    sa.Column("removed", sa.Integer, nullable=False, default=0),
    sa.Column("kept", sa.Integer, nullable=False, default=0),
    sa.Column("withdrawn", sa.Integer, nullable=False, default=0),
    sa.Column("providers", sa.Integer, nullable=False, default=0),
    sa.Column("catalog_version", sa.String(VERSION_CHARS), nullable=True),
)

snapshot_chunks_table = sa.Table(
    "catalog_snapshot_chunks",
    metadata,
    # The store version (:meth:`CatalogStore.version`) the file is of, and which file: the snapshot
    # ("catalog-<format>") or a search index built from it ("index-<key>").
    sa.Column("version", sa.String(VERSION_CHARS), primary_key=True),
    sa.Column("kind", sa.String(40), primary_key=True),
    sa.Column("chunk", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("chunks", sa.Integer, nullable=False),  # how many make the file (a missing one is seen)
    sa.Column("crc32", sa.BigInteger, nullable=False),  # the file header's checksum of its data
    sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),  # the newest few are kept
    sa.Column("data", sa.LargeBinary, nullable=False),
)

CATALOG_TABLES = (providers_table, imports_table, snapshot_chunks_table)

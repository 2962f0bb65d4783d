"""The public-catalogue snapshot (and its search index) shared through the database, so a new server starts fast.

A snapshot file (:mod:`findsupport.catalog.snapshot`) lives in each server's
cache directory.  Every process of a server added to a cluster (its own empty
cache directory, the same PostgreSQL) would otherwise read the catalogue row
by row, about 20 seconds at a million providers.  So the process that builds
the snapshot of a catalogue version also stores the file's bytes in the
database (``catalog_snapshot_chunks``, :data:`CHUNK_BYTES` a row, so no
backend is asked for one 200 MB value), keyed by the catalogue version (which
names the catalogue's content, whatever URL a server reaches the database by)
and the file's kind: ``catalog-<snapshot format>``, or ``index-<key>`` for the
search index built from it (:mod:`findsupport.index.cache`, the same way).  A
server without a local file fetches it, checks it exactly as a file read does
(header, size, CRC-32) and writes it to its cache.

* **One writer at a time**: the chunks of a file are inserted in one
  transaction under a PostgreSQL advisory lock (one per version and kind),
  taken without waiting (a second server building the same file meanwhile
  leaves the storing to the first: readers see all of a file's chunks or
  none).  A file already stored is not stored again unless it was found
  unusable.
* **Pruned** like the files: the :data:`~findsupport.catalog.snapshot.SNAPSHOTS_KEPT`
  most recently stored catalogue versions are kept, with every file of them.
* **Only a cache**: a failed store or fetch is a line in the log, and the
  catalogue is read from the rows as before.
* **Public data only**: the bytes are the snapshot file's, which holds
  exactly ``PublicProvider``'s fields, and the index's, derived from them.

On SQLite nothing is stored by default (:func:`shares_snapshots`): the
database is a file in one data dir, whose ``cache`` directory already holds the
snapshot for every process using it, and copying a 200 MB file into the
database would double what an import writes and hold SQLite's one write lock
while it does.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..db import advisory_lock_key, serialise
from .tables import snapshot_chunks_table

__all__ = ["CHUNK_BYTES", "shares_snapshots", "has_shared", "store_shared", "fetch_shared", "forget_shared"]

log = logging.getLogger(__name__)

#: Bytes of the snapshot file a row holds: 8 MiB, about 22 rows at a million providers.
CHUNK_BYTES = 8 << 20
_T = snapshot_chunks_table
_LOCK = "catalogue snapshot"


def shares_snapshots(engine: Engine) -> bool:
    """Whether snapshots are stored in this database for other servers: all but SQLite (see the module)."""
    return engine.dialect.name != "sqlite"


def _of(version: str, kind: str) -> sa.ColumnElement[bool]:
    return sa.and_(_T.c.version == version, _T.c.kind == kind)


def has_shared(engine: Engine, version: str, kind: str) -> bool:
    """Whether the database holds the file ``kind`` of catalogue ``version`` (one indexed read)."""
    with engine.connect() as conn:
        return conn.execute(sa.select(_T.c.chunk).where(_of(version, kind)).limit(1)).first() is not None


def store_shared(engine: Engine, version: str, kind: str, data: bytes, crc32: int, *, keep: int,
                 replace: bool = False) -> bool:  # fmt: skip
    """Store a file's bytes as the shared file ``kind`` of catalogue ``version``; prune to the ``keep`` newest versions.

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
    version : str
        The catalogue version the file is of.
    kind : str
        Which file: ``catalog-<snapshot format>`` or ``index-<key>``.
    data : bytes
        The whole file.
    crc32 : int
        The checksum its header records.
    keep : int
        Catalogue versions kept, this one included.
    replace : bool, default False
        Replace a stored copy (found unusable); otherwise one already stored
        is left as it is.

    Returns
    -------
    bool
        True when this call stored it; False when it was there already or
        another process was storing a snapshot at the same moment.
    """
    now = datetime.now(UTC)
    chunks = max(1, -(-len(data) // CHUNK_BYTES))
    view = memoryview(data)
    with engine.begin() as conn:
        if not _lock(conn, f"{_LOCK}\n{version}\n{kind}"):
            log.debug("another process is storing %s of catalogue version %s; not storing it", kind, version)
            return False
        if replace:
            conn.execute(sa.delete(_T).where(_of(version, kind)))
        elif conn.execute(sa.select(_T.c.chunk).where(_of(version, kind)).limit(1)).first() is not None:
            return False
        for k in range(chunks):
            # One row at a time: the driver holds one chunk's parameters, not a copy of the whole file.
            row = {"version": version, "kind": kind, "chunk": k, "chunks": chunks, "crc32": crc32,
                   "stored_at": now, "data": bytes(view[k * CHUNK_BYTES : (k + 1) * CHUNK_BYTES])}  # fmt: skip
            conn.execute(sa.insert(_T), row)
        _prune(conn, keep=keep, current=version)
    log.info("stored %s of catalogue version %s in the database (%.1f MB)", kind, version, len(data) / 1e6)
    return True


def _lock(conn: Connection, name: str) -> bool:
    """Take the writers' lock ``name`` for this transaction; False when another transaction holds it."""
    if conn.dialect.name == "postgresql":
        # Not waiting: the holder is storing this very file already.
        query = sa.select(sa.func.pg_try_advisory_xact_lock(advisory_lock_key(name)))
        return bool(conn.execute(query).scalar())
    serialise(conn, name)  # SQLite: its one write lock (waiting up to the busy timeout)
    return True


def _prune(conn: Connection, *, keep: int, current: str) -> None:
    stored = conn.execute(
        sa.select(_T.c.version, sa.func.max(_T.c.stored_at).label("at"))
        .group_by(_T.c.version)
        .order_by(sa.desc("at"), _T.c.version)
    ).all()
    for version in [v for v, _ in stored if v != current][max(keep - 1, 0) :]:
        conn.execute(sa.delete(_T).where(_T.c.version == version))
        log.debug("deleted the shared files of old catalogue version %s", version)


def forget_shared(engine: Engine, version: str, kind: str) -> None:
    """Delete the stored file ``kind`` of catalogue ``version`` (found unusable: the next builder stores it again)."""
    with engine.begin() as conn:
        conn.execute(sa.delete(_T).where(_of(version, kind)))


def fetch_shared(engine: Engine, version: str, kind: str) -> tuple[bytes, int] | None:
    """The stored file ``kind`` of catalogue ``version`` and the checksum recorded with it, or None when none is stored.

    Its chunks are checked to be complete; the caller checks the file itself
    (header, size, CRC-32) as it would a file read.

    Raises
    ------
    ValueError
        Chunks are missing or disagree (a damaged copy).
    """
    query = sa.select(_T.c.chunk, _T.c.chunks, _T.c.crc32, _T.c.data).where(_of(version, kind)).order_by(_T.c.chunk)
    parts: list[bytes] = []
    expected = crc = None
    with engine.connect() as conn:
        rows = _chunk_rows(conn, query)
    for chunk, chunks, crc32, data in rows:
        if expected is None:
            expected, crc = chunks, crc32
        if chunk != len(parts) or chunks != expected or crc32 != crc:
            raise ValueError(f"chunk {chunk} of {chunks} where chunk {len(parts)} of {expected} was due")
        parts.append(data)
    if expected is None:
        return None
    if len(parts) != expected:
        raise ValueError(f"{len(parts)} of {expected} chunks stored")
    assert crc is not None
    return b"".join(parts), int(crc)


def _chunk_rows(conn: Connection, query: sa.Select[Any]) -> list[Any]:
    """The rows of ``query``, one chunk after another.

    With psycopg 3, fetched in PostgreSQL's binary format: ``bytea`` as text
    is hex (twice the bytes, then decoded), about three times slower for a
    200 MB snapshot.  A fetched chunk is a row of at most :data:`CHUNK_BYTES`.
    """
    raw = conn.connection.driver_connection
    if conn.dialect.driver == "psycopg":
        compiled = query.compile(dialect=conn.dialect)
        with raw.cursor(binary=True) as cursor:  # type: ignore[union-attr]
            cursor.execute(str(compiled), compiled.params)
            return [(chunk, chunks, crc32, bytes(data)) for chunk, chunks, crc32, data in cursor]
    return [(chunk, chunks, crc32, bytes(data)) for chunk, chunks, crc32, data in conn.execute(query)]

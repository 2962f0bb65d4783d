"""A columnar snapshot of the public catalogue, cached on disk by catalogue version.

Reading the public catalogue from the database makes a Python object per
provider (and re-checks every stored service area): about two seconds at
100,000 providers and twenty at a million, paid by every new worker, server
and batch run.  A snapshot holds the same public catalogue as columns —
numpy arrays, and strings as tables of distinct values with an index per
provider — in one file in the cache directory, named by the database and
:meth:`CatalogStore.version() <findsupport.catalog.store.CatalogStore.version>`.
A new process reads the file in one go, checks it and serves from it; each
:class:`~findsupport.catalog.public.PublicProvider` is made only when asked
for (a page of results, ``/api/v1/providers/{id}``).

The snapshot is only a cache:

* its name and its header carry the database and the full version (imports,
  places taken or held, pauses and providers' own edits all change it), so a
  changed catalogue never reads an old snapshot;
* a missing, truncated, corrupt (checksum) or foreign file is rebuilt from the
  database, with a line in the log;
* it is written only when the rows read are exactly the version it is named
  for (the version is read again after the rows), atomically (a temporary
  file renamed into place), private (mode 0600); a database's oldest beyond
  :data:`SNAPSHOTS_KEPT` are deleted, and other databases' once stale;
* it holds public fields only — exactly those of ``PublicProvider`` — so
  nothing in it is more than the API shows.

On PostgreSQL the file is also shared through the database
(:mod:`~findsupport.catalog.shared_snapshot`): the process that builds a
version's snapshot stores its bytes there, and a process with no file for the
current version (every process of a server just added, with an empty cache)
fetches that copy, checks it as it checks a file (header, size, CRC-32;
anything wrong is logged, and the rows are read as before) and writes it to its
cache.  On SQLite the cache directory is inside the one data dir, so the file
is already shared and nothing is stored in the database.

File layout (little-endian): ``MAGIC``, the header's length (uint64), the
header (UTF-8 JSON: format, key, version, count, arrays with dtype, shape and
offset, the CRC-32 of the data), then the arrays, each starting on a
:data:`ALIGNMENT`-byte boundary.  No pickles: arrays are plain numbers and
bytes.

Examples
--------
>>> catalog = cached_public_catalog(store, settings.resolved_cache_dir)   # doctest: +SKIP
>>> catalog.get("p1").area                                                  # doctest: +SKIP
'NE21 4'
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import struct
import tempfile
import time
import zlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, overload

import numpy as np
import shapely
from sqlalchemy.exc import SQLAlchemyError

from .. import taxonomy
from . import shared_snapshot
from .bulk import collector_paused
from .public import PublicCatalog, PublicProvider
from .service_area import from_wkb_many

__all__ = [
    "SNAPSHOT_FORMAT",
    "SNAPSHOTS_KEPT",
    "STALE_SECONDS",
    "SnapshotUnusable",
    "cached_public_catalog",
    "providers_at",
    "snapshot_path",
    "snapshot_source",
    "shared_through",
    "write_snapshot",
    "read_snapshot",
    "write_arrays",
    "read_arrays",
    "write_atomically",
]

log = logging.getLogger(__name__)

#: Bumped whenever the layout or the meaning of a column changes: older files are then rebuilt.
SNAPSHOT_FORMAT = 1
#: What the snapshot file is called among the files shared through the database (by catalogue version).
SHARED_KIND = f"catalog-{SNAPSHOT_FORMAT}"
#: Snapshots of one database kept: the one serving and the one before it (a server still
#: starting from it, or a place released again); older ones are deleted.
SNAPSHOTS_KEPT = 2
#: Another database's snapshot unused this long (a test's, a removed data dir's) is deleted;
#: every read of a snapshot marks it used, so a serving data dir's is never stale.
STALE_SECONDS = 7 * 24 * 3600
#: Arrays start on cache-line boundaries, so numpy and the compiled search loops see aligned data.
ALIGNMENT = 64
MAGIC = b"FSPUBCAT"
_LENGTH = struct.Struct("<Q")
_PREFIX = "public-catalog-"
_SUFFIX = ".fscat"
#: Text tables up to this many distinct values are decoded when a snapshot is read (a few ms at
#: most); larger ones (ids, names, bios) one value at a time, when a provider is made.
EAGER_TABLE_MAX = 65_536
#: Providers kept once made (results repeat: the same people near the same towns).  A page's
#: providers are made together (:meth:`SnapshotProviders.take`), about 85 µs for ten at 100,000
#: providers — as much as a tenth of a search — so a process keeps many: this bounds the memory
#: (about 540 bytes a provider, so some 35 MB when full; a snapshot's whole catalogue up to
#: 65,536 providers, and the busy part of a larger one).
PROVIDERS_CACHED = 65_536
#: Up to this many rows, a large text table's values are read with scalar offsets (a page of results).
_SCALAR_READS_MAX = 32
#: ``;`` never occurs in a code (roles, events, slots), so tuples of codes are stored joined by it.
_CODE_SEPARATOR = ";"
_NUMERIC = PublicCatalog.COLUMNS
#: Text fields: each a table of distinct values (blob + end offsets) and an index per provider (-1: None).
_TEXT = ("id", "name", "qualification", "club", "bio", "area")
_CODE_TUPLES = ("roles", "events", "availability")


class SnapshotUnusable(Exception):
    """A snapshot file cannot be used (missing, truncated, corrupt, another format or catalogue)."""


# ---------------------------------------------------------------------------------------------- naming
def _database_key(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:12]


def snapshot_path(cache_dir: str | os.PathLike[str], database_url: str, version: str) -> Path:
    """Where the snapshot of ``version`` of the catalogue in ``database_url`` lives in ``cache_dir``."""
    return Path(cache_dir) / f"{_PREFIX}{version}-{_database_key(database_url)}{_SUFFIX}"


def _store_url(store: Any) -> str:
    # SQLAlchemy's rendering hides any password; the URL only tells databases apart.
    return store.engine.url.render_as_string(hide_password=True)


# ---------------------------------------------------------------------------------------------- the cache
def cached_public_catalog(store: Any, cache_dir: str | os.PathLike[str], *, share: bool | None = None) -> PublicCatalog:
    """The public catalogue of ``store``, from its snapshot in ``cache_dir`` when there is a good one.

    Otherwise, when snapshots are shared through the database
    (:mod:`~findsupport.catalog.shared_snapshot`), from the copy stored there,
    written to ``cache_dir`` first.  Otherwise its rows are read from the
    database (:meth:`CatalogStore.public_rows`, the rows of
    :meth:`CatalogStore.public_catalog`) straight into columns, written as the
    snapshot of their version (and stored in the database when shared), and
    served (the same columns a later process reads back).  A snapshot that
    cannot be written (read-only or full disk) or shared is logged and the
    columns serve all the same.

    Parameters
    ----------
    store : CatalogStore
    cache_dir : path
        The settings' ``resolved_cache_dir`` (created, private, if missing).
    share : bool, optional
        Share snapshots through the database; by default on every backend but
        SQLite (:func:`~findsupport.catalog.shared_snapshot.shares_snapshots`).

    Returns
    -------
    PublicCatalog
        Its ``version`` is ``store.version()``.
    """
    url = _store_url(store)
    version = store.version()
    path = snapshot_path(cache_dir, url, version)
    if share is None:
        share = shared_snapshot.shares_snapshots(store.engine)
    try:
        catalog = read_snapshot(path, database_url=url, version=version)
    except FileNotFoundError:
        pass
    except (SnapshotUnusable, OSError) as exc:  # OSError: unreadable (permissions, not a directory)
        log.warning("public-catalogue snapshot %s unusable (%s); rebuilding it from the database", path.name, exc)
    else:
        _touch(path)  # recently used snapshots survive pruning
        if share:  # one indexed read: a snapshot made before sharing (or whose store failed) is shared now
            _share(store.engine, version, path, url)
        return _shared_through(catalog, store.engine if share else None)
    replace_shared = False
    if share:
        try:
            catalog = _from_shared(store.engine, version, path, url)
        except SnapshotUnusable as exc:
            log.warning("the public-catalogue snapshot of version %s stored in the database is unusable (%s); "
                        "reading the catalogue's rows instead", version, exc)  # fmt: skip
            replace_shared = True
        else:
            if catalog is not None:
                _prune(Path(cache_dir), keep=path, database_url=url)
                return _shared_through(catalog, store.engine)
    with collector_paused():  # a million rows: tuples by the million, no cycles
        read_version, rows, occupied = store.public_rows()
        arrays = _columns_of_rows(rows, occupied)
    if read_version != version or store.version() != version:
        # An import, place or edit committed meanwhile: these rows may be newer than any version
        # we could name the file by, so serve them uncached, labelled (as public_catalog does) with
        # the version read before them: a reload check then simply loads again.
        return _catalog(arrays, len(rows), read_version)
    try:
        _write(arrays, version, len(rows), path, database_url=url)
    except OSError as exc:
        log.warning("could not write the public-catalogue snapshot %s (%s); serving without it", path, exc)
        return _catalog(arrays, len(rows), version)
    _prune(Path(cache_dir), keep=path, database_url=url)
    if share:
        _share(store.engine, version, path, url, replace=replace_shared)
    return _shared_through(_catalog(arrays, len(rows), version, path), store.engine if share else None)


def _shared_through(catalog: PublicCatalog, engine: Any) -> PublicCatalog:
    """``catalog``, marked as shared through ``engine``'s database (None: not shared) for the caches derived from it."""
    assert isinstance(catalog.providers, SnapshotProviders)
    catalog.providers.shared_through = engine
    return catalog


def _share(engine: Any, version: str, path: Path, url: str, *, replace: bool = False) -> None:
    """Store the snapshot file at ``path`` in the database unless it is there (or ``replace``); failures logged."""
    try:
        if not replace and shared_snapshot.has_shared(engine, version, SHARED_KIND):
            return
        buffer = path.read_bytes()
        header, _, _ = _check(buffer, database_url=url, version=version)  # never share a damaged file
        shared_snapshot.store_shared(engine, version, SHARED_KIND, buffer, int(header["crc32"]),
                                     keep=SNAPSHOTS_KEPT, replace=replace)  # fmt: skip
    except (SQLAlchemyError, SnapshotUnusable, OSError) as exc:
        log.warning("could not store the public-catalogue snapshot of version %s in the database (%s)", version, exc)


def _from_shared(engine: Any, version: str, path: Path, url: str) -> PublicCatalog | None:
    """The catalogue from the snapshot stored in the database, written to ``path`` too; None when none is stored.

    Raises
    ------
    SnapshotUnusable
        The stored copy is incomplete, truncated or corrupt.
    """
    started = time.perf_counter()
    try:
        fetched = shared_snapshot.fetch_shared(engine, version, SHARED_KIND)
    except ValueError as exc:
        raise SnapshotUnusable(str(exc)) from None
    except SQLAlchemyError as exc:
        log.warning("could not read the shared public-catalogue snapshot (%s)", exc)
        return None
    if fetched is None:
        return None
    buffer, crc = fetched
    header, data_start, arrays = _check(buffer, database_url=None, version=version)
    if header["crc32"] != crc:
        raise SnapshotUnusable("its header's checksum is not the one stored with it")
    # The writer may reach the database by another URL: the local file names this one.
    local = {**header, "database": _database_key(url)}
    written: Path | None = path
    try:
        write_atomically(path, [_prefix(local), memoryview(buffer)[data_start:]])
    except OSError as exc:
        log.warning("could not write the public-catalogue snapshot %s (%s); serving without it", path, exc)
        written = None
    log.info("public-catalogue snapshot of version %s read from the database (%.1f MB, %.2f s)",
             version, len(buffer) / 1e6, time.perf_counter() - started)  # fmt: skip
    return _catalog(arrays, int(header["count"]), version, written)


def _touch(path: Path) -> None:
    try:
        os.utime(path)
    except OSError:
        pass  # only affects which snapshot is pruned first


def _prune(cache_dir: Path, keep: Path, database_url: str) -> None:
    """Delete this database's snapshots but the :data:`SNAPSHOTS_KEPT` most recently used, and stale ones of others.

    A cache directory may be shared by several data dirs (the tests, the
    benchmarks, ``FINDSUPPORT_CACHE_DIR``): another database's snapshot is left
    alone unless unused for :data:`STALE_SECONDS`, so one data dir's reloads never
    evict another's.
    """
    mine = f"-{_database_key(database_url)}{_SUFFIX}"
    own, now = [], time.time()
    for path in cache_dir.glob(f"{_PREFIX}*{_SUFFIX}"):
        try:
            used = path.stat().st_mtime
        except FileNotFoundError:
            continue
        if path.name.endswith(mine):
            own.append((used, path))
        elif now - used > STALE_SECONDS:
            _delete(path)
    own.sort(reverse=True)
    for _, path in own[SNAPSHOTS_KEPT:]:
        if path != keep:
            _delete(path)
    # Caches derived from a snapshot (``<snapshot file>.<key>.<suffix>``) go with it.
    for path in cache_dir.glob(f"{_PREFIX}*{_SUFFIX}.*"):
        if not path.name.startswith(".") and not (cache_dir / path.name[: path.name.index(_SUFFIX) + len(_SUFFIX)]).exists():
            _delete(path)


def _delete(path: Path) -> None:
    try:
        path.unlink()
        log.debug("deleted old public-catalogue snapshot %s", path.name)
    except FileNotFoundError:
        pass  # another process pruned it first


# ---------------------------------------------------------------------------------------------- writing
def _distinct(values: Sequence[str | None]) -> tuple[np.ndarray, list[str]]:
    """Each value's index into the distinct values (first-seen order; -1 for None), and those values."""
    table: dict[str, int] = {}
    index = np.fromiter((-1 if v is None else table.setdefault(v, len(table)) for v in values), dtype=np.int32, count=len(values))
    return index, list(table)


def _text_table(name: str, index: np.ndarray, table: list[str]) -> dict[str, np.ndarray]:
    """One text column's arrays: the index per provider, the distinct values as one UTF-8 blob and end offsets."""
    encoded = [value.encode("utf-8") for value in table]
    ends = np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)), dtype=np.int64)
    blob = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    return {f"{name}.index": index, f"{name}.blob": blob, f"{name}.ends": ends}


def _sorted_ids(ids: Sequence[str]) -> dict[str, np.ndarray]:
    encoded = np.array([i.encode("utf-8") for i in ids], dtype=np.bytes_) if len(ids) else np.zeros(0, dtype="S1")
    order = np.argsort(encoded, kind="stable").astype(np.int64)
    return {"id_sorted": encoded[order], "id_order": order}


def _bits(codes: Sequence[str]) -> dict[str, int]:
    return {code: 1 << k for k, code in enumerate(codes)}


def _code_columns(roles: list[str], events: list[str], slots: list[str]) -> dict[str, np.ndarray]:
    """Masks and primary role per distinct stored list (as :meth:`PublicCatalog.from_providers` makes them)."""
    role_bits, event_bits, slot_bits = _bits(taxonomy.ROLES), _bits(taxonomy.EVENTS), _bits(taxonomy.SLOTS)
    role_index = {code: k for k, code in enumerate(taxonomy.ROLES)}

    def mask(text: str, bits: dict[str, int]) -> int:
        value = 0
        for code in _split(text):
            value |= bits[code]
        return value

    return {
        "role_mask": np.array([mask(t, role_bits) for t in roles], dtype=np.uint8),
        "primary_role": np.array([role_index[_split(t)[0]] if t else -1 for t in roles], dtype=np.int8),
        "event_mask": np.array([mask(t, event_bits) for t in events], dtype=np.uint32),
        "slot_mask": np.array([mask(t, slot_bits) for t in slots], dtype=np.uint32),
    }


def _split(text: str) -> tuple[str, ...]:
    return tuple(text.split(_CODE_SEPARATOR)) if text else ()


def _columns_of_rows(rows: Sequence[Any], occupied: Mapping[str, int]) -> dict[str, np.ndarray]:
    """Every array of the snapshot from :meth:`CatalogStore.public_rows` (no object per provider)."""
    n = len(rows)
    (ids, names, roles, events, availability, online, travel_km, capacity, active, qualification, club, bio, area,
     easting, northing, lon, lat, service_area) = zip(*rows) if n else ((),) * 18  # fmt: skip
    arrays: dict[str, np.ndarray] = {}
    arrays["x"] = np.array(easting, dtype=np.float64)
    arrays["y"] = np.array(northing, dtype=np.float64)
    arrays["travel_km"] = np.array(travel_km, dtype=np.float64)
    arrays["reach_m"] = arrays["travel_km"] * 1000.0
    arrays["online"] = np.array([bool(v) for v in online], dtype=bool)
    arrays["capacity"] = np.array(capacity, dtype=np.int32)
    arrays["active"] = np.array(active, dtype=np.int32)
    arrays["taken"] = np.array([occupied.get(i, 0) for i in ids], dtype=np.int32)
    arrays["spare"] = np.maximum(arrays["capacity"] - arrays["active"] - arrays["taken"], 0).astype(np.int32)
    arrays["lon"] = np.array(lon, dtype=np.float64)
    arrays["lat"] = np.array(lat, dtype=np.float64)
    masks = {}
    for name, values in (("roles", roles), ("events", events), ("availability", availability)):
        index, table = _distinct(values)
        arrays.update(_text_table(name, index, table))
        masks[name] = (index, table)
    per_list = _code_columns(masks["roles"][1], masks["events"][1], masks["availability"][1])
    sources = {"role_mask": "roles", "primary_role": "roles", "event_mask": "events", "slot_mask": "availability"}
    for column, source in sources.items():
        arrays[column] = per_list[column][masks[source][0]] if n else per_list[column][:0]
    for name, values in (("id", ids), ("name", names), ("club", club), ("bio", bio), ("area", area)):
        arrays.update(_text_table(name, *_distinct(values)))
    index, table = _distinct(qualification)
    arrays.update(_text_table("qualification", index, table))
    levels = np.array([taxonomy.qualification_level(q) for q in table] + [0], dtype=np.int8)
    arrays["level"] = levels[index]  # index -1 (none given) picks the trailing 0
    # Areas: each distinct stored polygon read (and checked) once; a dropped one is no area.
    blobs: dict[bytes, int] = {}
    area_index = np.fromiter((-1 if b is None else blobs.setdefault(bytes(b), len(blobs)) for b in service_area),
                             dtype=np.int32, count=n)  # fmt: skip
    geometries = from_wkb_many(list(blobs))
    kept = [g for g in geometries if g is not None]
    kept_wkb = iter(shapely.to_wkb(kept).tolist() if kept else [])
    renumber = np.full(len(geometries) + 1, -1, dtype=np.int32)
    table = []
    for k, geometry in enumerate(geometries):
        if geometry is not None:
            renumber[k] = len(table)
            table.append(next(kept_wkb).hex())
    area_index = renumber[area_index]  # -1 stays -1 through the trailing entry
    arrays.update(_text_table("service_area", area_index, table))
    arrays["has_area"] = area_index >= 0
    arrays.update(_sorted_ids(ids))
    return arrays


def _columns_of(catalog: PublicCatalog) -> dict[str, np.ndarray]:
    """Every array of the snapshot from a catalogue of objects."""
    providers = catalog.providers
    n = len(providers)
    arrays: dict[str, np.ndarray] = {name: np.ascontiguousarray(getattr(catalog, name)) for name in _NUMERIC}
    arrays["travel_km"] = np.fromiter((p.travel_km for p in providers), dtype=np.float64, count=n)
    arrays["lon"] = np.fromiter((p.lon for p in providers), dtype=np.float64, count=n)
    arrays["lat"] = np.fromiter((p.lat for p in providers), dtype=np.float64, count=n)
    arrays["taken"] = np.fromiter((p.places_taken for p in providers), dtype=np.int32, count=n)
    for name in _TEXT:
        arrays.update(_text_table(name, *_distinct([getattr(p, name) for p in providers])))
    for name in _CODE_TUPLES:
        arrays.update(_text_table(name, *_distinct([_CODE_SEPARATOR.join(getattr(p, name)) for p in providers])))
    areas = [p.service_area for p in providers]
    present = [a for a in areas if a is not None]
    # WKB as hex text: equal polygons (one county's, declared by many) become one table entry.
    wkb = dict(zip(map(id, present), shapely.to_wkb(present))) if present else {}
    arrays.update(_text_table("service_area", *_distinct([None if a is None else wkb[id(a)].hex() for a in areas])))
    arrays.update(_sorted_ids([p.id for p in providers]))
    return arrays


def write_snapshot(catalog: PublicCatalog, path: str | os.PathLike[str], *, database_url: str) -> None:
    """Write ``catalog`` as the snapshot at ``path``, atomically and private (mode 0600).

    Raises
    ------
    OSError
        The cache directory cannot be made or written.
    """
    _write(_columns_of(catalog), catalog.version, len(catalog), Path(path), database_url=database_url)


def _write(arrays: Mapping[str, np.ndarray], version: str, count: int, path: Path, *, database_url: str) -> None:
    fields = {"format": SNAPSHOT_FORMAT, "database": _database_key(database_url), "version": version, "count": count}
    size = write_arrays(path, arrays, fields)
    log.debug("wrote the public-catalogue snapshot %s (%d providers, %.1f MB)", path.name, count, size / 1e6)


def write_arrays(path: Path, arrays: Mapping[str, np.ndarray], fields: Mapping[str, Any], *, magic: bytes = MAGIC) -> int:
    """Write named arrays as a checked file (this module's layout), atomically and private (mode 0600).

    The header holds ``fields``, the arrays' layout and the CRC-32 of the
    data; :func:`read_arrays` reads it back.  Shared with the search index's
    cache (:mod:`findsupport.index.cache`), which uses another ``magic``.

    Returns
    -------
    int
        The file's size in bytes.

    Raises
    ------
    OSError
        The directory cannot be made or written.
    """
    layout, offset = [], 0
    for name, array in arrays.items():
        offset = -(-offset // ALIGNMENT) * ALIGNMENT
        layout.append([name, array.dtype.str, list(array.shape), offset])
        offset += array.nbytes
    data_bytes = offset
    padded: list[bytes | memoryview] = []
    position = 0
    for (_, _, _, start), array in zip(layout, arrays.values()):
        padded.append(b"\0" * (start - position))
        # As flat bytes: a memoryview cannot be cast from an empty 2-D array (an empty index's tables).
        padded.append(memoryview(np.ascontiguousarray(array).reshape(-1).view(np.uint8)))
        position = start + array.nbytes
    crc = 0
    for chunk in padded:
        crc = zlib.crc32(chunk, crc)
    prefix = _prefix({**fields, "arrays": layout, "data_bytes": data_bytes, "crc32": crc}, magic)
    write_atomically(path, [prefix, *padded])
    return len(prefix) + data_bytes


def _prefix(header: Mapping[str, Any], magic: bytes = MAGIC) -> bytes:
    """The file's start: magic, header length, header, padding to the first array's boundary."""
    head = json.dumps(header, separators=(",", ":")).encode("utf-8")
    prefix = magic + _LENGTH.pack(len(head)) + head
    return prefix + b"\0" * (-len(prefix) % ALIGNMENT)


def write_atomically(path: Path, pieces: Sequence[bytes | memoryview]) -> None:
    """Write ``pieces`` as the file ``path``: a private (0600) temporary file, synced, renamed into place.

    Raises
    ------
    OSError
        The directory cannot be made or written.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # mode 0600
    try:
        with os.fdopen(handle, "wb") as out:
            for piece in pieces:
                out.write(piece)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise


# ---------------------------------------------------------------------------------------------- reading
def read_snapshot(path: str | os.PathLike[str], *, database_url: str, version: str) -> PublicCatalog:
    """The catalogue in the snapshot at ``path``, checked against the database and version it must be of.

    Raises
    ------
    FileNotFoundError
        No such file.
    SnapshotUnusable
        The file is truncated or corrupt, of another format, database or version.
    """
    # Read whole, not mapped: a mapped file cut short under a running server (by hand, or a
    # full disk) would kill it with SIGBUS, and a snapshot is small (about 190 bytes a provider)
    # and read from the page cache.  ``bytes`` also makes every array read-only.
    buffer = Path(path).read_bytes()
    header, _, arrays = _check(buffer, database_url=database_url, version=version)
    return _catalog(arrays, int(header["count"]), version, Path(path))


def _check(buffer: bytes, *, database_url: str | None, version: str) -> tuple[dict[str, Any], int, dict[str, np.ndarray]]:
    """A snapshot file's header, where its data starts and its arrays (views of ``buffer``), once checked.

    ``database_url`` None skips the database check: a copy fetched from the
    database itself (:mod:`~findsupport.catalog.shared_snapshot`) was written by
    a server that may name the same database by another URL.

    Raises
    ------
    SnapshotUnusable
        As :func:`read_snapshot`.
    """

    def expected(header: Mapping[str, Any]) -> None:
        if header["format"] != SNAPSHOT_FORMAT:
            raise SnapshotUnusable(f"format {header['format']}, expected {SNAPSHOT_FORMAT}")
        if header["version"] != version or (
            database_url is not None and header["database"] != _database_key(database_url)
        ):
            raise SnapshotUnusable(f"made for another catalogue (version {header['version']})")

    header, data_start, arrays = read_arrays(buffer, expected)
    try:
        count = int(header["count"])
    except (KeyError, TypeError, ValueError) as exc:
        raise SnapshotUnusable(f"damaged header ({exc})") from None
    if any(len(arrays.get(name, ())) != count for name in _NUMERIC):
        raise SnapshotUnusable("columns of different lengths")
    return header, data_start, arrays


def read_arrays(buffer: bytes, expected: Any, *, magic: bytes = MAGIC) -> tuple[dict[str, Any], int, dict[str, np.ndarray]]:
    """The header, the data's start and the arrays (views of ``buffer``) of a file :func:`write_arrays` wrote.

    ``expected(header)`` raises :class:`SnapshotUnusable` when the header's
    fields are not those wanted (it runs before the checksum is computed).

    Raises
    ------
    SnapshotUnusable
        Truncated, corrupt (checksum), another magic, or refused by ``expected``.
    """
    size = len(buffer)
    if size < len(magic) + _LENGTH.size or buffer[: len(magic)] != magic:
        raise SnapshotUnusable("not a snapshot file")
    (head_length,) = _LENGTH.unpack_from(buffer, len(magic))
    head_end = len(magic) + _LENGTH.size + head_length
    if head_end > size:
        raise SnapshotUnusable("truncated header")
    try:
        header = json.loads(bytes(buffer[len(magic) + _LENGTH.size : head_end]))
        data_start = head_end + (-head_end % ALIGNMENT)
        expected(header)
        if size != data_start + header["data_bytes"]:
            raise SnapshotUnusable(f"{size:,} bytes where {data_start + header['data_bytes']:,} were written")
        if zlib.crc32(memoryview(buffer)[data_start:]) != header["crc32"]:
            raise SnapshotUnusable("checksum mismatch")
        arrays = {}
        for name, dtype, shape, offset in header["arrays"]:
            count = int(np.prod(shape, dtype=np.int64))
            array = np.frombuffer(buffer, dtype=np.dtype(dtype), count=count, offset=data_start + offset)
            arrays[name] = array.reshape(shape)
    except SnapshotUnusable:
        raise
    except (KeyError, TypeError, ValueError) as exc:  # a damaged header
        raise SnapshotUnusable(f"damaged header ({exc})") from None
    return header, data_start, arrays


def _catalog(arrays: Mapping[str, np.ndarray], count: int, version: str, path: Path | None = None) -> PublicCatalog:
    """The catalogue over a snapshot's arrays (read-only, as the index expects); ``path``: the file holding them."""
    for array in arrays.values():
        array.flags.writeable = False
    columns = {name: arrays[name] for name in _NUMERIC}
    positions = IdPositions(arrays["id_sorted"], arrays["id_order"])
    providers = SnapshotProviders(arrays, count, path)
    return PublicCatalog(providers=providers, version=version, _positions=positions, **columns)


def snapshot_source(catalog: PublicCatalog) -> Path | None:
    """The snapshot file ``catalog`` was read from or written to, or None (not from a cached snapshot).

    Caches derived from the catalogue (the search index's,
    :mod:`findsupport.index.cache`) live beside it and are pruned with it.
    """
    providers = catalog.providers
    return providers.path if isinstance(providers, SnapshotProviders) else None


def shared_through(catalog: PublicCatalog) -> Any:
    """The engine of the database ``catalog``'s snapshot is shared through, or None (SQLite, or not shared).

    Caches derived from the catalogue are shared the same way
    (:func:`findsupport.catalog.shared_snapshot.store_shared`, by catalogue version).
    """
    providers = catalog.providers
    return providers.shared_through if isinstance(providers, SnapshotProviders) else None


class _Texts:
    """One text column: a table of distinct values and each provider's index into it.

    A small table (areas, clubs, lists of codes) is decoded once, when the
    snapshot is read; a large one (ids, names, bios: about one value per
    provider) value by value, when a provider is made.
    """

    __slots__ = ("index", "raw", "ends", "values")

    def __init__(self, arrays: Mapping[str, np.ndarray], name: str, convert: Any = None) -> None:
        self.index = arrays[f"{name}.index"]
        self.ends = arrays[f"{name}.ends"]
        self.raw = arrays[f"{name}.blob"].tobytes()  # bytes: slicing and decoding one value is cheap
        self.values: list[Any] | None = None
        if len(self.ends) <= EAGER_TABLE_MAX:
            # End offsets count bytes: each value is decoded from its own bytes.
            starts = [0, *self.ends[:-1].tolist()]
            values = [self.raw[a:b].decode("utf-8") for a, b in zip(starts, self.ends.tolist())]
            self.values = [convert(v) for v in values] if convert is not None else values

    def value(self, k: int) -> Any:
        if self.values is not None:
            return self.values[k]
        return self.raw[self.ends.item(k - 1) if k else 0 : self.ends.item(k)].decode("utf-8")

    def take(self, rows: np.ndarray) -> list[Any]:
        """The values of providers ``rows`` (None where a provider has none), one gather for all of them."""
        keys = self.index[rows]
        if self.values is not None:
            values = self.values
            return [None if k < 0 else values[k] for k in keys.tolist()]
        raw = self.raw
        if len(keys) <= _SCALAR_READS_MAX:
            # A page: two scalar reads a value beat the vectorised offsets' five array
            # operations (about 4 against 15 µs for ten ids, measured).
            end = self.ends.item
            return [None if k < 0 else raw[end(k - 1) if k else 0 : end(k)].decode("utf-8") for k in keys.tolist()]
        # Many rows: each value decoded from its own bytes, the offsets gathered in two calls.
        ends = self.ends[keys].tolist()
        starts = np.where(keys > 0, self.ends[np.maximum(keys - 1, 0)], 0).tolist()
        return [None if k < 0 else raw[a:b].decode("utf-8") for k, a, b in zip(keys.tolist(), starts, ends)]


class SnapshotProviders(Sequence[PublicProvider]):
    """The providers of a snapshot, each made from its columns when asked for (position order).

    Equal to a tuple of the same providers; slicing gives a tuple.
    """

    def __init__(self, arrays: Mapping[str, np.ndarray], count: int, path: Path | None = None) -> None:
        #: The snapshot file these columns are (None: served uncached).
        self.path = path
        #: The engine of the database the snapshot is shared through (None: not shared).
        self.shared_through: Any = None
        self._count = count
        self._arrays = arrays
        self._texts = {name: _Texts(arrays, name) for name in (*_TEXT, "service_area")}
        self._texts.update({name: _Texts(arrays, name, convert=_split) for name in _CODE_TUPLES})
        self._codes: dict[tuple[str, int], tuple[str, ...]] = {}
        self._areas: dict[int, Any] = {}
        self._made: dict[int, PublicProvider] = {}

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, position: int) -> PublicProvider: ...
    @overload
    def __getitem__(self, position: slice) -> tuple[PublicProvider, ...]: ...
    def __getitem__(self, position: int | slice) -> PublicProvider | tuple[PublicProvider, ...]:
        if isinstance(position, slice):
            return tuple(self._make(np.arange(*position.indices(self._count), dtype=np.intp)))
        i = int(position)
        if i < 0:
            i += self._count
        if not 0 <= i < self._count:
            raise IndexError("provider position out of range")
        return self.take([i])[0]

    def take(self, positions: Sequence[int]) -> list[PublicProvider]:
        """The providers at ``positions`` (each in ``0 .. len - 1``), in that order.

        Those not made before are made together — one gather per column for
        all of them, not a dozen array reads per provider — and kept (up to
        :data:`PROVIDERS_CACHED`): a page of results costs a few column reads.
        """
        made = self._made
        providers = [made.get(i) for i in positions]
        missing = [k for k, provider in enumerate(providers) if provider is None]
        if missing:
            if len(made) + len(missing) > PROVIDERS_CACHED:
                made.clear()
            rows = np.array([positions[k] for k in missing], dtype=np.intp)
            for k, i, provider in zip(missing, rows.tolist(), self._make(rows)):
                # A dict store is atomic: concurrent searches at worst make one provider twice.
                providers[k] = made[i] = provider
        return providers  # type: ignore[return-value]

    def __iter__(self) -> Iterator[PublicProvider]:
        # In blocks (not kept): a whole pass (an export, a comparison) makes each provider once.
        for start in range(0, self._count, _ITER_BLOCK):
            yield from self._make(np.arange(start, min(start + _ITER_BLOCK, self._count), dtype=np.intp))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (tuple, SnapshotProviders)):
            return len(other) == self._count and all(a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<{self._count:,} providers from a public-catalogue snapshot>"

    def _code_tuples(self, name: str, rows: np.ndarray) -> list[tuple[str, ...]]:
        texts = self._texts[name]
        if texts.values is not None:  # split once when read
            values = texts.values
            return [values[k] for k in texts.index[rows].tolist()]
        codes = self._codes
        tuples = []
        for k in texts.index[rows].tolist():
            found = codes.get((name, k))
            if found is None:  # many distinct lists: each split when first asked for, then shared
                found = codes[(name, k)] = _split(texts.value(k))
            tuples.append(found)
        return tuples

    def service_area(self, i: int) -> Any:
        """Provider ``i``'s explicit service area (shared between providers declaring the same one), or None."""
        # One scalar read: the index build asks this of every provider with an area.
        return self._area(self._texts["service_area"].index.item(i))

    def _service_areas(self, rows: np.ndarray) -> list[Any]:
        return [self._area(k) for k in self._texts["service_area"].index[rows].tolist()]

    def _area(self, k: int) -> Any:
        if k < 0:
            return None
        area = self._areas.get(k)
        if area is None:
            area = self._areas[k] = shapely.from_wkb(bytes.fromhex(self._texts["service_area"].value(k)))
        return area

    def _make(self, rows: np.ndarray) -> list[PublicProvider]:
        """The providers at ``rows`` (an integer array), made from the columns one column at a time."""
        a, t = self._arrays, self._texts
        columns = {
            "roles": self._code_tuples("roles", rows),
            "events": self._code_tuples("events", rows),
            "availability": self._code_tuples("availability", rows),
            "service_area": self._service_areas(rows),
            **{name: t[name].take(rows) for name in _TEXT},
            **{name: a[column][rows].tolist() for name, column in _PROVIDER_NUMBERS.items()},
        }
        # Positional, in the class's own field order (read from it, below): the fastest way to
        # make a frozen dataclass, and a field added to PublicProvider without a column fails here.
        return [PublicProvider(*values) for values in zip(*(columns[name] for name in _PROVIDER_FIELDS))]


#: PublicProvider's fields in declaration order (its positional arguments).
_PROVIDER_FIELDS = tuple(field.name for field in dataclasses.fields(PublicProvider))
#: PublicProvider fields held as a numeric column of the snapshot, and that column.
_PROVIDER_NUMBERS = {
    "online": "online",
    "travel_km": "travel_km",
    "capacity": "capacity",
    "active_coaches": "active",
    "easting": "x",
    "northing": "y",
    "lon": "lon",
    "lat": "lat",
    "places_taken": "taken",
}
#: Providers made at a time when iterating over all of them.
_ITER_BLOCK = 4096


def providers_at(providers: Sequence[PublicProvider], positions: Sequence[int]) -> list[PublicProvider]:
    """``[providers[i] for i in positions]``, made together when ``providers`` comes from a snapshot.

    For a page of results (:meth:`findsupport.search.Engine.search`): a
    catalogue of objects just indexes its tuple; a snapshot's providers are
    made with one read per column (:meth:`SnapshotProviders.take`).
    """
    if isinstance(providers, SnapshotProviders):
        return providers.take(positions)
    return [providers[i] for i in positions]


class IdPositions(Mapping[str, int]):
    """Provider id → position, by binary search over the snapshot's sorted ids (no dict of a million keys)."""

    def __init__(self, sorted_ids: np.ndarray, order: np.ndarray) -> None:
        self._sorted = sorted_ids
        self._order = order
        self._width = sorted_ids.dtype.itemsize

    def __getitem__(self, provider_id: str) -> int:
        if not isinstance(provider_id, str):
            raise KeyError(provider_id)
        key = provider_id.encode("utf-8")
        # Longer than every stored id, or ending in NUL (which fixed-width bytes cannot hold): not listed.
        if len(key) > self._width or key.endswith(b"\0") or not len(self._sorted):
            raise KeyError(provider_id)
        k = int(np.searchsorted(self._sorted, key))
        if k < len(self._sorted) and self._sorted[k] == key:
            return int(self._order[k])
        raise KeyError(provider_id)

    def __iter__(self) -> Iterator[str]:
        return (value.decode("utf-8") for value in self._sorted)

    def __len__(self) -> int:
        return len(self._sorted)

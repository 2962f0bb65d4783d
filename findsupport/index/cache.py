"""The search index cached beside the catalogue snapshot, so a warm start loads its arrays instead of building them.

Building a :class:`~findsupport.index.spatial.SearchIndex` sorts every
provider along the Hilbert curve into blocks and counts sites: about two
seconds at a million providers, paid by every process.  The result is a
handful of arrays, a pure function of the catalogue and of the build's
parameters, so :meth:`SearchIndex.build` writes them to a file next to the
catalogue's snapshot (:func:`findsupport.catalog.snapshot.snapshot_source`)
and the next process over the same snapshot reads them back.  What is not an
array is remade on load, and is cheap: the R-tree over the tiles' boxes (bulk
loaded, one entry per tile) and the polygon service areas (each distinct one
taken from the catalogue, which holds them once).

The same discipline as the snapshot (:func:`~findsupport.catalog.snapshot.write_arrays`):
named ``<snapshot file>.<key>.fsidx``, where the key digests :data:`INDEX_FORMAT`,
the source of the modules that build the index and the build's parameters,
and the header repeats the key, the catalogue version and the provider
count; written atomically and private (0600); a missing, truncated, corrupt
(CRC-32) or foreign file is logged and rebuilt; deleted when its snapshot is
pruned.  Where the snapshot is shared through the database (PostgreSQL:
:mod:`findsupport.catalog.shared_snapshot`), so is the index file, by
catalogue version and key: a new server's first process reads it too.
Public data only: every array is derived from the snapshot's public columns.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..catalog import shared_snapshot
from ..catalog.snapshot import (
    SNAPSHOTS_KEPT,
    SnapshotUnusable,
    read_arrays,
    shared_through,
    snapshot_source,
    write_arrays,
    write_atomically,
)

if TYPE_CHECKING:
    from ..catalog.public import PublicCatalog
    from .spatial import SearchIndex

__all__ = ["INDEX_FORMAT", "index_cache_path", "load_index", "save_index"]

log = logging.getLogger(__name__)

#: Bumped whenever the index's arrays change in layout or meaning (a new column, another sort):
#: older files then have another name and are rebuilt.
INDEX_FORMAT = 1
MAGIC = b"FSINDEX1"  # the same length as the snapshot's
SUFFIX = ".fsidx"
#: The block tables' arrays, in the constructor's order.
_TABLE_ARRAYS = ("slot_f", "slot_i", "block_f", "block_i", "tile_i", "tile_box", "spare", "level", "primary_role")
_SITE_ARRAYS = ("x", "y", "reach2_values", "counts", "online")
_POLYGON_ARRAYS = ("area_id", "x", "y", "role_mask", "online")


def index_cache_path(catalog: PublicCatalog, parameters: dict[str, Any]) -> Path | None:
    """Where the index of ``catalog`` built with ``parameters`` is cached; None when not from a snapshot file."""
    source = snapshot_source(catalog)
    if source is None:
        return None
    return source.with_name(f"{source.name}.{_key(parameters)}{SUFFIX}")


def _key(parameters: dict[str, Any]) -> str:
    text = json.dumps({"format": INDEX_FORMAT, "code": _code_digest(), **parameters}, sort_keys=True, default=list)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@functools.cache
def _code_digest() -> str:
    """A digest of the source of the modules that build the index.

    :data:`INDEX_FORMAT` is bumped by hand; this makes sure an upgrade that
    changes how the index is built (a column's meaning, the curve, the block
    sizes' constants) never reads an index an older build wrote, even if
    nobody bumped it.  Reading a few small files once: well under a millisecond.
    """
    from . import areas, blocks, curve, kernels, sites, spatial, tree

    digest = hashlib.sha256()
    for module in (areas, blocks, curve, kernels, sites, spatial, tree, sys.modules[__name__]):
        try:
            digest.update(Path(module.__file__ or "").read_bytes())
        except OSError:  # installed without sources: the package's version stands for them
            digest.update(f"{module.__name__} {_package_version()}".encode())
    return digest.hexdigest()[:16]


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("findsupport")
    except PackageNotFoundError:
        return "unknown"


def save_index(index: SearchIndex, catalog: PublicCatalog, parameters: dict[str, Any]) -> None:
    """Cache ``index`` (built from ``catalog`` with ``parameters``) beside the catalogue's snapshot.

    Nothing is written for a catalogue not read from a snapshot file; a file
    that cannot be written is logged (the index serves all the same).  When
    the snapshot is shared through the database, the index file is stored
    there too.
    """
    path = index_cache_path(catalog, parameters)
    if path is None:
        return
    arrays: dict[str, np.ndarray] = {}
    for name, table in (("main", index.main), ("online", index.online)):
        arrays.update({f"{name}.{a}": getattr(table, a) for a in _TABLE_ARRAYS})
    if index.sites is not None:
        arrays.update({f"sites.{a}": getattr(index.sites, a) for a in _SITE_ARRAYS})
    arrays.update({f"polygons.{a}": getattr(index.polygon_providers, a) for a in _POLYGON_ARRAYS})
    try:
        size = write_arrays(path, arrays, {**_fields(catalog, parameters), "sites": index.sites is not None}, magic=MAGIC)
    except OSError as exc:
        log.warning("could not write the search index cache %s (%s); serving without it", path, exc)
        return
    log.debug("wrote the search index cache %s (%.1f MB)", path.name, size / 1e6)
    engine = shared_through(catalog)
    if engine is not None:
        _share(engine, catalog, parameters, path)


def _fields(catalog: PublicCatalog, parameters: dict[str, Any]) -> dict[str, Any]:
    return {"format": INDEX_FORMAT, "version": catalog.version, "count": len(catalog), "key": _key(parameters)}


def _kind(parameters: dict[str, Any]) -> str:
    """The index's name among the files shared through the database (:mod:`findsupport.catalog.shared_snapshot`)."""
    return f"index-{_key(parameters)}"


def _share(engine: Any, catalog: PublicCatalog, parameters: dict[str, Any], path: Path) -> None:
    """Store the index file at ``path`` in the database unless it is there; failures are logged."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        if shared_snapshot.has_shared(engine, catalog.version, _kind(parameters)):
            return
        data = path.read_bytes()
        header, _, _ = read_arrays(data, lambda header: None, magic=MAGIC)
        shared_snapshot.store_shared(engine, catalog.version, _kind(parameters), data, int(header["crc32"]), keep=SNAPSHOTS_KEPT)
    except (SQLAlchemyError, SnapshotUnusable, OSError) as exc:
        log.warning("could not store the search index of catalogue version %s in the database (%s)", catalog.version, exc)


def load_index(catalog: PublicCatalog, parameters: dict[str, Any]) -> SearchIndex | None:
    """The cached index of ``catalog`` built with ``parameters``, or None (none cached, or unusable: logged).

    From the file beside the snapshot; without one, from the copy in the
    database when the snapshot is shared (then written beside it).
    """
    path = index_cache_path(catalog, parameters)
    if path is None:
        return None
    started = time.perf_counter()
    engine = shared_through(catalog)
    try:
        index = _index_of(path.read_bytes(), catalog, parameters, started)
    except FileNotFoundError:
        index = None if engine is None else _from_shared(engine, catalog, parameters, path, started)
    except (SnapshotUnusable, OSError) as exc:
        log.warning("search index cache %s unusable (%s); building the index", path.name, exc)
        return None
    else:
        if engine is not None:  # one indexed read: an index made before sharing (or whose store failed) is shared now
            _share(engine, catalog, parameters, path)
    if index is not None:
        log.debug("read the search index cache %s (%.2f s)", path.name, index.build_seconds)
    return index


def _from_shared(engine: Any, catalog: PublicCatalog, parameters: dict[str, Any], path: Path,
                 started: float) -> SearchIndex | None:  # fmt: skip
    """The index stored in the database, written to ``path`` too; None when none is stored or it is unusable."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        fetched = shared_snapshot.fetch_shared(engine, catalog.version, _kind(parameters))
        if fetched is None:
            return None
        data, crc = fetched
        index = _index_of(data, catalog, parameters, started, crc=crc)
    except (SQLAlchemyError, SnapshotUnusable, ValueError) as exc:
        log.warning("the search index of catalogue version %s stored in the database is unusable (%s); building it",
                    catalog.version, exc)  # fmt: skip
        if not isinstance(exc, SQLAlchemyError):
            try:  # save_index then stores the index it builds in its place
                shared_snapshot.forget_shared(engine, catalog.version, _kind(parameters))
            except SQLAlchemyError as error:
                log.warning("could not delete the unusable shared search index (%s)", error)
        return None
    try:
        write_atomically(path, [data])
    except OSError as exc:
        log.warning("could not write the search index cache %s (%s); serving without it", path, exc)
    return index


def _index_of(data: bytes, catalog: PublicCatalog, parameters: dict[str, Any], started: float,
              crc: int | None = None) -> SearchIndex:  # fmt: skip
    """The index in an index file's bytes, checked (and its checksum against ``crc`` when given).

    Raises
    ------
    SnapshotUnusable
        Truncated, corrupt, or of another catalogue, build or format.
    """
    from .areas import ServiceAreas
    from .blocks import BlockTable
    from .sites import SiteCounts
    from .spatial import PolygonProviders, SearchIndex
    from .tree import BlockTree

    wanted = _fields(catalog, parameters)

    def expected(header: dict[str, Any]) -> None:
        differing = [name for name, value in wanted.items() if header[name] != value]
        if differing:
            raise SnapshotUnusable(f"made for another catalogue or build ({', '.join(differing)} differ)")
        if crc is not None and header["crc32"] != crc:
            raise SnapshotUnusable("its header's checksum is not the one stored with it")

    try:
        header, _, arrays = read_arrays(data, expected, magic=MAGIC)
        main, online = (BlockTable(*(arrays[f"{name}.{a}"] for a in _TABLE_ARRAYS)) for name in ("main", "online"))
        sites = SiteCounts(*(arrays[f"sites.{a}"] for a in _SITE_ARRAYS)) if header["sites"] else None
        polygons = PolygonProviders(*(arrays[f"polygons.{a}"] for a in _POLYGON_ARRAYS))
        which = np.flatnonzero(catalog.has_area)
        if len(polygons.area_id) != len(which) or len(main) != len(catalog):
            raise SnapshotUnusable("its tables do not cover the catalogue")
        # Each distinct area from the first provider declaring it (equal areas are one in the catalogue).
        ids, first = np.unique(polygons.area_id, return_index=True)
        if len(ids) and not np.array_equal(ids, np.arange(len(ids))):
            raise SnapshotUnusable("area ids are not numbered from 0")
        areas = ServiceAreas([catalog.service_area_at(int(i)) for i in which[first]])
    except (KeyError, TypeError, ValueError) as exc:
        raise SnapshotUnusable(f"damaged ({exc})") from None
    return SearchIndex(catalog.version, main, online, BlockTree(main), areas, time.perf_counter() - started, sites,
                       polygons)  # fmt: skip

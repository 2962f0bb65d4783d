"""The search index: who can help a coach at a given point, counted and listed exactly.

Candidate rules (metres on the British National Grid; ``d`` is the distance
from the coach's point to the provider's public location, ``R`` the search
radius; boundaries count, so a provider exactly at ``R`` or exactly at the
edge of their reach is in):

``in_person``
    the coach's point is in the provider's service area (``d² <= reach²`` for
    a circle, point in or on the polygon for an explicit area) **and**
    ``d² <= R²``.
``online``
    the provider offers online support, wherever they are (Great Britain
    wide; nearer ones rank higher through the proximity features).
``any``
    either of the above; a provider matching both is listed once.

Role is a hard filter in every mode.  Everything else a coach asks for is
a ranking feature, not a filter.

Layout: the *main* :class:`BlockTable` holds every provider, partitioned by
reach class (so a block's service-area box is not blown up by one provider
who travels 150 km) and polygon-or-circle, and is indexed by a
:class:`BlockTree` (R-tree).  The *online* table holds the online providers
only, along the same curve, and needs no tree: an online search orders its
blocks by how good they could possibly be (see :mod:`.kernels`).

Examples
--------
>>> from findsupport.catalog.public import PublicCatalog, PublicProvider
>>> p = PublicProvider(id="p1", name="Sam", roles=("mentor",), events=("hurdles",),
...                    availability=(), online=False, travel_km=20.0, capacity=3,
...                    active_coaches=0, qualification=None, club=None, bio=None,
...                    area="NE21 4", easting=417647.0, northing=563312.0, lon=-1.7259, lat=54.9641)
>>> index = SearchIndex.build(PublicCatalog.from_providers([p]))
>>> index.count_in_person(417647.0 + 3000.0, 563312.0 + 4000.0, 5000.0, role=None)
(1, 0)
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .. import taxonomy
from ..catalog.public import PublicCatalog
from .areas import ServiceAreas
from .blocks import ROLE_COLUMNS, BlockTable
from .kernels import areas_needed, collect_in_person, collect_online, count_in_person, near_blocks
from .sites import SiteCounts
from .tree import TILE_BLOCKS, BlockTree

__all__ = ["SearchIndex", "Candidates", "NearBlocks", "BLOCK_SIZE", "ONLINE_BLOCK_SIZE", "REACH_CLASS_EDGES_M", "role_column"]

#: Polygon flags of an index without polygons (never indexed: every area id is -1).
_NO_AREAS = np.zeros(0, dtype=bool)

#: Providers per block.  Smaller blocks bound scores more tightly and waste
#: fewer distance tests at the edge of a search; larger ones mean fewer tree
#: entries and fewer numpy calls.  In a sweep of 32 to 256 (benchmarks/search.py
#: catalogues, 1,000 default searches) 64 was best at 1M providers (median
#: 1.5-1.7 ms against 1.9-2.0 for 128 and 256) and within noise of the best at 100k;
#: re-measured with the compiled loops (32, 64, 128; online 32-128; tiles 8-32),
#: every setting was within the machine's noise at 100k and 1M.
BLOCK_SIZE = 64
#: Providers per block of the online table.  Smaller blocks bound a rare ask
#: (pole vault on Sunday morning) more tightly, but an online search bounds
#: every block of the country: 32 doubled the median online search at 1M
#: providers against 128.
ONLINE_BLOCK_SIZE = 128
#: Reach classes (metres): providers are blocked with others who travel a
#: similar distance, so a whole block is "everyone reaches you" or "nobody
#: does" as often as possible, and one far traveller does not stretch a
#: block's box.  Edges at the common travel_km values (DESIGN.md default 20).
REACH_CLASS_EDGES_M: tuple[float, ...] = (5e3, 10e3, 15e3, 20e3, 25e3, 30e3, 40e3, 50e3, 75e3, 100e3)


def role_column(role: str | None) -> int:
    """Column of the per-block role counts for a role (0: any role)."""
    return 0 if role is None else 1 + taxonomy.ROLES.index(role)


@dataclass(frozen=True, slots=True)
class NearBlocks:
    """Main-table blocks that may hold in-person candidates of a query.

    ``whole[i]`` is true when every provider of ``blocks[i]`` reaches the
    coach and is within the radius (only the role filter is left, which the
    block's role counts know); ``mind2``/``maxd2`` are the squared nearest
    and farthest distances from the coach to the block's box.
    """

    blocks: np.ndarray
    whole: np.ndarray
    mind2: np.ndarray
    maxd2: np.ndarray

    def subset(self, keep: np.ndarray) -> "NearBlocks":
        return NearBlocks(self.blocks[keep], self.whole[keep], self.mind2[keep], self.maxd2[keep])


@dataclass(frozen=True)
class PolygonProviders:
    """Columns of the providers whose service area is a polygon, with their area id."""

    area_id: np.ndarray
    x: np.ndarray
    y: np.ndarray
    role_mask: np.ndarray
    online: np.ndarray

    @classmethod
    def build(cls, catalog: PublicCatalog, area_id: np.ndarray) -> "PolygonProviders":
        which = np.flatnonzero(catalog.has_area)
        columns = {
            "area_id": area_id[which].astype(np.int32),
            "x": catalog.x[which],
            "y": catalog.y[which],
            "role_mask": catalog.role_mask[which],
            "online": catalog.online[which],
        }
        for column in columns.values():
            column.flags.writeable = False
        return cls(**columns)


@dataclass(frozen=True, slots=True)
class Candidates:
    """Providers of one table that match a query: slots, squared distances, inside flags."""

    slots: np.ndarray
    distance2: np.ndarray
    inside: np.ndarray


class SearchIndex:
    """Block tables, the R-tree and the polygon areas of one catalogue.

    Build once with :meth:`build`; read-only afterwards (safe to share
    between threads: the tree and the polygons guard themselves).
    """

    def __init__(
        self,
        catalog_version: str,
        main: BlockTable,
        online: BlockTable,
        tree: BlockTree,
        areas: ServiceAreas,
        build_seconds: float,
        sites: SiteCounts | None = None,
        polygon_providers: "PolygonProviders | None" = None,
    ) -> None:
        self.catalog_version = catalog_version
        self.main = main
        self.online = online
        self.tree = tree
        self.areas = areas
        #: Per-site reach counts (exact in-person totals without reading providers), or None.
        self.sites = sites
        #: The providers with a polygon service area (to pick the areas a search must test).
        self.polygon_providers = polygon_providers or PolygonProviders.build(PublicCatalog.from_providers([]), np.zeros(0, np.int32))
        self.build_seconds = build_seconds
        #: Online providers per role column (GB-wide totals of an online search).
        self.online_totals = online.role_counts.sum(axis=0) if online.n_blocks else np.zeros(ROLE_COLUMNS, np.int64)
        self._main_has_polygons = bool(main.has_polygon.any()) if main.n_blocks else False
        self._online_has_polygons = bool(online.has_polygon.any()) if online.n_blocks else False

    def __len__(self) -> int:
        return len(self.main)

    @property
    def nbytes(self) -> int:
        """Memory of the index's arrays (the R-tree's nodes are small: one entry per block)."""
        return self.main.nbytes + self.online.nbytes + (self.sites.nbytes if self.sites is not None else 0)

    @classmethod
    def build(
        cls,
        catalog: PublicCatalog,
        *,
        block_size: int = BLOCK_SIZE,
        online_block_size: int = ONLINE_BLOCK_SIZE,
        tile_blocks: int = TILE_BLOCKS,
        reach_edges_m: tuple[float, ...] = REACH_CLASS_EDGES_M,
        site_counts: bool = True,
    ) -> "SearchIndex":
        """Build the index of a public catalogue (a second or so per million providers).

        ``block_size``, ``online_block_size``, ``tile_blocks``, ``reach_edges_m``
        and ``site_counts`` (per-site totals, see :mod:`.sites`) are tuning
        parameters (tests use tiny blocks to exercise many-block searches on
        small catalogues); results never depend on them.

        A catalogue read from a snapshot file has its index cached beside it
        (:mod:`.cache`): the first process builds and writes it, the next ones
        read it back (the same arrays).
        """
        if min(block_size, online_block_size, tile_blocks) < 1:
            raise ValueError(
                f"block sizes and tile_blocks must be at least 1; got {block_size}, {online_block_size}, {tile_blocks}"
            )
        # Here, not at the top: the cache reads and writes through the catalogue's snapshot and
        # database modules, which importing the index alone (notebooks, benchmarks) need not load.
        from .cache import load_index, save_index

        parameters = {"block_size": block_size, "online_block_size": online_block_size, "tile_blocks": tile_blocks,
                      "reach_edges_m": [float(e) for e in reach_edges_m], "site_counts": site_counts}  # fmt: skip
        index = load_index(catalog, parameters)
        if index is None:
            index = cls._build(catalog, block_size, online_block_size, tile_blocks, reach_edges_m, site_counts)
            save_index(index, catalog, parameters)
        return index

    @classmethod
    def _build(cls, catalog: PublicCatalog, block_size: int, online_block_size: int, tile_blocks: int,
               reach_edges_m: tuple[float, ...], site_counts: bool) -> "SearchIndex":  # fmt: skip
        started = time.perf_counter()
        n = len(catalog)
        area_positions = np.flatnonzero(catalog.has_area)
        area_id = np.full(n, -1, dtype=np.int32)
        areas, area_id[area_positions] = ServiceAreas.deduplicated([catalog.service_area_at(i) for i in area_positions])
        if n:
            bounds = (float(catalog.x.min()), float(catalog.y.min()), float(catalog.x.max()), float(catalog.y.max()))
        else:
            bounds = (0.0, 0.0, 1.0, 1.0)
        reach_class = np.searchsorted(np.asarray(reach_edges_m, dtype=np.float64), catalog.reach_m, side="left")
        partition = np.where(catalog.has_area, len(reach_edges_m) + 1, reach_class)
        everyone = np.arange(n, dtype=np.intp)
        main = BlockTable.build(catalog, everyone, partition, area_id, areas.bounds, block_size, bounds, tile_blocks)
        online_positions = np.flatnonzero(catalog.online)
        online = BlockTable.build(
            catalog,
            online_positions,
            np.zeros(len(online_positions), dtype=np.int8),
            area_id,
            areas.bounds,
            online_block_size,
            bounds,
        )
        tree = BlockTree(main)
        sites = None
        if site_counts:
            circles = np.flatnonzero(~catalog.has_area)
            sites = SiteCounts.build(
                catalog.x[circles], catalog.y[circles], catalog.reach_m[circles], catalog.role_mask[circles], catalog.online[circles]
            )
        return cls(catalog.version, main, online, tree, areas, time.perf_counter() - started, sites, PolygonProviders.build(catalog, area_id))

    # ------------------------------------------------------------------ per query
    def area_flags(self, x: float, y: float, radius_m: float | None = None, role: str | None = None, mode: str = "any") -> np.ndarray:
        """Whether each polygon service area holds the point (a bool per area id; empty without polygons).

        With ``radius_m``, only the areas that can change a ``mode`` search
        with that radius and role are tested exactly (see
        :func:`.kernels.areas_needed`); the others read False.
        """
        if not len(self.areas):
            return _NO_AREAS
        if radius_m is None:
            return self.areas.flags_at(x, y)
        column = role_column(role)
        p = self.polygon_providers
        needed = areas_needed(
            p.area_id, p.x, p.y, p.role_mask, p.online, self.areas.bounds, float(x), float(y),
            float(radius_m) * float(radius_m), _role_bit(column), mode != "online", mode != "in_person",
        )  # fmt: skip
        return self.areas.flags_at(x, y, needed)

    def tiles_at(self, x: float, y: float) -> np.ndarray:
        """R-tree tiles whose service-area box holds the point (see :mod:`.tree`)."""
        return self.tree.tiles_at(x, y)

    # ------------------------------------------------------------------ in person
    def in_person_blocks(self, x: float, y: float, radius_m: float, role: str | None) -> NearBlocks:
        """Main-table blocks that may hold in-person candidates (see :class:`NearBlocks`)."""
        table = self.main
        blocks, whole, mind2, maxd2 = near_blocks(
            self.tiles_at(x, y), table.tile_i, table.block_f, table.block_i,
            float(x), float(y), float(radius_m) * float(radius_m), role_column(role),
        )
        return NearBlocks(blocks, whole, mind2, maxd2)

    def in_person_candidates(self, x: float, y: float, radius_m: float, role: str | None, flags: np.ndarray | None = None) -> Candidates:
        """Every main-table provider matching the in-person rule (``flags``: :meth:`area_flags`, computed if omitted)."""
        table = self.main
        column = role_column(role)
        slots, d2 = collect_in_person(
            self.tiles_at(x, y), table.tile_i, table.block_f, table.block_i, table.slot_f, table.slot_i,
            self.area_flags(x, y) if flags is None else flags,
            float(x), float(y), float(radius_m) * float(radius_m), _role_bit(column), column,
        )
        return Candidates(slots, d2, np.ones(len(slots), dtype=bool))

    def count_in_person(self, x: float, y: float, radius_m: float, role: str | None) -> tuple[int, int]:
        """``(matches, of which online)`` for the in-person rule.

        Whole blocks are counted from their role counts; only the providers of
        blocks at the edge of the search are tested one by one.
        """
        table = self.main
        column = role_column(role)
        total, online = count_in_person(
            self.tiles_at(x, y), table.tile_i, table.block_f, table.block_i, table.slot_f, table.slot_i, self.area_flags(x, y),
            float(x), float(y), float(radius_m) * float(radius_m), _role_bit(column), column,
        )
        return int(total), int(online)

    # ------------------------------------------------------------------ online
    def online_candidates(
        self, x: float, y: float, role: str | None, exclude_in_person_m: float | None = None, flags: np.ndarray | None = None
    ) -> Candidates:
        """Online providers with the role, with whether they also serve the point in person.

        With ``exclude_in_person_m`` (the radius of an ``any`` search), those
        who match the in-person rule are left out: the main table lists them.
        """
        table = self.online
        column = role_column(role)
        radius = 0.0 if exclude_in_person_m is None else float(exclude_in_person_m)
        slots, d2, inside = collect_online(
            table.block_i, table.slot_f, table.slot_i,
            self.area_flags(x, y) if flags is None else flags,
            float(x), float(y), radius * radius, _role_bit(column), column, exclude_in_person_m is not None,
        )
        return Candidates(slots, d2, inside)

    def online_total(self, role: str | None) -> int:
        """How many online providers (Great Britain wide) have the role."""
        return int(self.online_totals[role_column(role)])


def _role_bit(column: int) -> int:
    """The role-mask bit of a role column (0: any role)."""
    return 1 << (column - 1) if column else 0

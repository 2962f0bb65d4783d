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
blocks by how good they could possibly be (see :mod:`.topk`).

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
from .blocks import ROLE_COLUMNS, BlockTable, box_distances2, slots_of_ranges
from .sites import SiteCounts
from .tree import TILE_BLOCKS, BlockTree

__all__ = ["SearchIndex", "Candidates", "NearBlocks", "BLOCK_SIZE", "ONLINE_BLOCK_SIZE", "REACH_CLASS_EDGES_M", "role_column"]

#: Providers per block.  Smaller blocks bound scores more tightly and waste
#: fewer distance tests at the edge of a search; larger ones mean fewer tree
#: entries and fewer numpy calls.  In a sweep of 32 to 256 (benchmarks/search.py
#: catalogues, 1,000 default searches) 64 was best at 1M providers (median
#: 1.5-1.7 ms against 1.9-2.0 for 128 and 256) and within noise of the best at 100k.
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
    ) -> None:
        self.catalog_version = catalog_version
        self.main = main
        self.online = online
        self.tree = tree
        self.areas = areas
        #: Per-site reach counts (exact in-person totals without reading providers), or None.
        self.sites = sites
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
        """
        if min(block_size, online_block_size, tile_blocks) < 1:
            raise ValueError(
                f"block sizes and tile_blocks must be at least 1; got {block_size}, {online_block_size}, {tile_blocks}"
            )
        started = time.perf_counter()
        n = len(catalog)
        area_positions = np.flatnonzero(catalog.has_area)
        area_id = np.full(n, -1, dtype=np.int32)
        area_id[area_positions] = np.arange(len(area_positions), dtype=np.int32)
        areas = ServiceAreas([catalog.providers[i].service_area for i in area_positions])
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
        return cls(catalog.version, main, online, tree, areas, time.perf_counter() - started, sites)

    # ------------------------------------------------------------------ in person
    def in_person_blocks(self, x: float, y: float, radius_m: float, role: str | None) -> NearBlocks:
        """Main-table blocks that may hold in-person candidates (see :class:`NearBlocks`)."""
        table = self.main
        # The tiles' blocks, not yet cut to those whose own box holds the point:
        # for circles the distance test below is tighter than that box test.
        blocks = self.tree.tile_blocks_at(x, y)
        if blocks.size == 0:
            empty = np.zeros(0)
            return NearBlocks(blocks, np.zeros(0, dtype=bool), empty, empty)
        r2 = radius_m * radius_m
        mind2, maxd2 = box_distances2(x, y, table.minx[blocks], table.miny[blocks], table.maxx[blocks], table.maxy[blocks])
        # max_reach2 is +inf for polygon blocks: only the radius limits them here...
        keep = mind2 <= np.minimum(r2, table.max_reach2[blocks])
        if self._main_has_polygons:
            # ...and the polygons' own box must hold the point.
            polygon = np.flatnonzero(keep & table.has_polygon[blocks])
            if len(polygon):
                b = blocks[polygon]
                keep[polygon] = (table.sa_minx[b] <= x) & (x <= table.sa_maxx[b]) & (table.sa_miny[b] <= y) & (y <= table.sa_maxy[b])
        column = role_column(role)
        if column:
            keep &= table.role_counts[blocks, column] > 0
        keep = np.flatnonzero(keep)
        blocks, mind2, maxd2 = blocks[keep], mind2[keep], maxd2[keep]
        # Rounding is monotone, so a provider's own d² never exceeds its block's maxd2;
        # min_reach2 is -inf for polygon blocks, which are never whole.
        whole = maxd2 <= np.minimum(r2, table.min_reach2[blocks])
        return NearBlocks(blocks, whole, mind2, maxd2)

    def in_person_candidates(
        self, slots: np.ndarray, x: float, y: float, radius_m: float, role: str | None, *, polygons: bool = True
    ) -> Candidates:
        """The in-person rule applied to main-table ``slots`` (``polygons=False``: none among them)."""
        table = self.main
        dx = table.x[slots] - x
        dy = table.y[slots] - y
        d2 = dx * dx + dy * dy
        # reach2 is +inf for polygon areas, which are tested exactly below.
        ok = d2 <= np.minimum(radius_m * radius_m, table.reach2[slots])
        column = role_column(role)
        if column:
            ok &= (table.role_mask[slots] & np.uint8(1 << (column - 1))) != 0
        if polygons and self._main_has_polygons:
            area = table.area_id[slots]
            test = ok & (area >= 0)
            if test.any():
                ok[test] = self.areas.covers(area[test], x, y)
        keep = np.flatnonzero(ok)
        return Candidates(slots[keep], d2[keep], np.ones(len(keep), dtype=bool))

    def count_in_person_by_site(self, x: float, y: float, radius_m: float, role: str | None, near: NearBlocks) -> tuple[int, int]:
        """``(matches, of which online)`` for the in-person rule from the site counts.

        Circles come from :class:`SiteCounts`; polygon providers (in
        ``near``'s polygon blocks) are tested one by one.
        """
        assert self.sites is not None
        total, online = self.sites.count(x, y, radius_m * radius_m, role_column(role))
        if self._main_has_polygons:
            table = self.main
            polygon = near.blocks[table.has_polygon[near.blocks]]
            if len(polygon):
                found = self.in_person_candidates(slots_of_ranges(table.start[polygon], table.end[polygon]), x, y, radius_m, role)
                total += len(found.slots)
                online += int(np.count_nonzero(table.online[found.slots]))
        return total, online

    def count_in_person(
        self, x: float, y: float, radius_m: float, role: str | None, near: NearBlocks | None = None
    ) -> tuple[int, int]:
        """``(matches, of which online)`` for the in-person rule in ``near`` (all of them by default).

        Whole blocks are counted from their role counts; only the providers of
        blocks at the edge of the search are tested one by one.
        """
        if near is None:
            near = self.in_person_blocks(x, y, radius_m, role)
        column = role_column(role)
        table = self.main
        whole = near.blocks[near.whole]
        total = int(table.role_counts[whole, column].sum())
        online = int(table.online_role_counts[whole, column].sum())
        partial = near.blocks[~near.whole]
        if partial.size:
            slots = slots_of_ranges(table.start[partial], table.end[partial])
            found = self.in_person_candidates(slots, x, y, radius_m, role)
            total += len(found.slots)
            online += int(np.count_nonzero(table.online[found.slots]))
        return total, online

    # ------------------------------------------------------------------ online
    def online_blocks(self, role: str | None) -> np.ndarray:
        """Online-table blocks holding at least one online provider with the role."""
        table = self.online
        if not table.n_blocks:
            return np.zeros(0, dtype=np.intp)
        column = role_column(role)
        if column == 0:
            return np.arange(table.n_blocks, dtype=np.intp)
        return np.flatnonzero(table.role_counts[:, column] > 0)

    def online_candidates(
        self,
        slots: np.ndarray,
        x: float,
        y: float,
        role: str | None,
        exclude_in_person_m: float | None = None,
        *,
        polygons: bool = True,
    ) -> Candidates:
        """Online providers among online-table ``slots``, with whether they also serve the point in person.

        With ``exclude_in_person_m`` (the radius of an ``any`` search), those
        who match the in-person rule are left out: the main table lists them.
        """
        table = self.online
        dx = table.x[slots] - x
        dy = table.y[slots] - y
        d2 = dx * dx + dy * dy
        inside = d2 <= table.reach2[slots]
        if polygons and self._online_has_polygons:
            area = table.area_id[slots]
            test = area >= 0
            if test.any():
                inside[test] = self.areas.covers(area[test], x, y)
        column = role_column(role)
        ok = (table.role_mask[slots] & np.uint8(1 << (column - 1))) != 0 if column else np.ones(len(slots), dtype=bool)
        if exclude_in_person_m is not None:
            ok &= ~(inside & (d2 <= exclude_in_person_m * exclude_in_person_m))
        keep = np.flatnonzero(ok)
        return Candidates(slots[keep], d2[keep], inside[keep])

    def online_total(self, role: str | None) -> int:
        """How many online providers (Great Britain wide) have the role."""
        return int(self.online_totals[role_column(role)])

"""Providers in curve order, cut into blocks, with what each block holds summarised.

A :class:`BlockTable` is a permuted copy of the catalogue columns a search
reads (location, reach, role, online, the match attributes), sorted along
the Hilbert curve and cut into blocks of consecutive *slots*.  ``order[slot]``
is the provider's position in the catalogue; nothing else refers to
providers.  Each block knows its slot range, the bounding box of its
providers' public locations and of their service areas, and small summaries
(how many of each role, of them online, the union of their events and free
slots, and each event's coaches' free slots), so a search can count whole
blocks without looking inside them and bound the best score a block could
possibly hold.

Examples
--------
>>> starts, ends = np.array([0, 10]), np.array([3, 12])
>>> slots_of_ranges(starts, ends).tolist()
[0, 1, 2, 10, 11]
"""

from __future__ import annotations

import numpy as np

from .. import taxonomy
from ..catalog.public import PublicCatalog
from .curve import hilbert_keys

__all__ = ["BlockTable", "slots_of_ranges", "box_distances2", "ROLE_COLUMNS"]

#: Columns of the per-block role counts: 0 counts everyone, 1 + k counts ROLES[k].
ROLE_COLUMNS = 1 + len(taxonomy.ROLES)


def slots_of_ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, e)`` for each range, without a Python loop."""
    if len(starts) == 1:
        return np.arange(starts[0], ends[0], dtype=np.intp)
    lengths = np.subtract(ends, starts, dtype=np.intp)
    # Each slot is its range's start plus its place within the range.
    shift = np.repeat(np.subtract(starts, np.cumsum(lengths) - lengths, dtype=np.intp), lengths)
    return shift + np.arange(len(shift), dtype=np.intp)


def box_distances2(
    x: float, y: float, minx: np.ndarray, miny: np.ndarray, maxx: np.ndarray, maxy: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Squared smallest and largest distance from a point to each box (0 inside)."""
    dx = np.maximum(np.maximum(minx - x, x - maxx), 0.0)
    dy = np.maximum(np.maximum(miny - y, y - maxy), 0.0)
    fx = np.maximum(x - minx, maxx - x)
    fy = np.maximum(y - miny, maxy - y)
    return dx * dx + dy * dy, fx * fx + fy * fy


class BlockTable:
    """Providers sorted along the Hilbert curve into blocks (see the module docstring).

    Build with :meth:`build`.  Per-slot columns (length ``n``): ``order``,
    ``x``, ``y``, ``reach2`` (squared reach, m²; ``inf`` for polygon areas), ``role_mask``, ``online``,
    ``area_id`` (``-1``: circle), ``event_mask``, ``slot_mask``, ``spare``,
    ``level``, ``primary_role``.  Per-block columns (length ``n_blocks``):
    ``start``, ``end``, the points' box ``minx``..``maxy``, the service
    areas' box ``sa_minx``..``sa_maxy``, ``has_polygon``, ``min_reach2``,
    ``max_reach2`` (``-inf``/``+inf`` when the block holds a polygon), ``role_counts`` and ``online_role_counts`` (shape
    ``(n_blocks, ROLE_COLUMNS)``), ``event_or``, ``slot_or``, ``event_slot_or``
    (shape ``(n_blocks, len(EVENTS))``: the free slots of the block's providers
    who coach each event, so a bound can pair an event with its coaches' slots),
    Tiles (runs of consecutive blocks of one partition):
    ``tile_start``, ``tile_end`` (block numbers) and their service-area box
    ``tile_minx``..``tile_maxy``.  All read-only.
    """

    SLOT_COLUMNS = (
        "order", "x", "y", "reach2", "role_mask", "online", "area_id",
        "event_mask", "slot_mask", "spare", "level", "primary_role",
    )  # fmt: skip
    IN_PERSON_BLOCK_COLUMNS = (
        "start", "end", "minx", "miny", "maxx", "maxy", "sa_minx", "sa_miny", "sa_maxx", "sa_maxy",
        "has_polygon", "min_reach2", "max_reach2", "role_counts", "online_role_counts", "event_or", "slot_or",
        "event_slot_or",
    )  # fmt: skip
    ONLINE_BLOCK_COLUMNS = (
        "start", "end", "minx", "miny", "maxx", "maxy", "sa_minx", "sa_miny", "sa_maxx", "sa_maxy",
        "role_counts", "event_or", "slot_or", "event_slot_or",
    )  # fmt: skip
    IN_PERSON_SLOT_COLUMNS = ("x", "y", "reach2", "role_mask", "area_id", "event_mask", "slot_mask", "online", "order")
    ONLINE_SLOT_COLUMNS = ("x", "y", "reach2", "role_mask", "area_id", "event_mask", "slot_mask", "order")

    def __init__(self, **arrays: np.ndarray) -> None:
        for name, array in arrays.items():
            array.flags.writeable = False
            setattr(self, name, array)
        self.n_blocks = len(arrays["start"])
        self.n_tiles = len(arrays["tile_start"])
        #: Argument groups of the compiled loops (:mod:`.kernels`), in their order.
        self.in_person_blocks = tuple(getattr(self, name) for name in self.IN_PERSON_BLOCK_COLUMNS)
        self.online_blocks = tuple(getattr(self, name) for name in self.ONLINE_BLOCK_COLUMNS)
        self.in_person_slots = tuple(getattr(self, name) for name in self.IN_PERSON_SLOT_COLUMNS)
        self.online_slots = tuple(getattr(self, name) for name in self.ONLINE_SLOT_COLUMNS)

    def __len__(self) -> int:
        return len(self.order)

    @property
    def nbytes(self) -> int:
        """Memory held by the table's arrays."""
        return sum(a.nbytes for a in vars(self).values() if isinstance(a, np.ndarray))

    @classmethod
    def build(
        cls,
        catalog: PublicCatalog,
        positions: np.ndarray,
        partition: np.ndarray,
        area_id: np.ndarray,
        area_bounds: np.ndarray,
        block_size: int,
        bounds: tuple[float, float, float, float],
        tile_blocks: int = 16,
    ) -> "BlockTable":
        """Sort ``positions`` by (partition, curve) and cut each partition into blocks.

        Parameters
        ----------
        catalog : PublicCatalog
        positions : array of int
            Catalogue positions to hold.
        partition : array of int
            Per held provider; blocks never mix partitions (used to keep wide
            and polygon service areas apart from the ordinary circles).
        area_id : array of int
            Per *catalogue* position: index into ``area_bounds``, ``-1`` for circles.
        area_bounds : (n_areas, 4) array
            Bounding boxes of the polygon service areas.
        block_size : int
            Providers per block (the last block of a partition may be shorter).
        tile_blocks : int
            Blocks per tile (the unit the R-tree indexes; see :mod:`.tree`).
        bounds : (minx, miny, maxx, maxy)
            The curve's grid (the whole catalogue's box, so tables agree).
        """
        positions = np.asarray(positions, dtype=np.intp)
        partition = np.asarray(partition)
        keys = hilbert_keys(catalog.x[positions], catalog.y[positions], bounds)
        # Partition first, then the curve; catalogue position breaks ties so the
        # layout is reproducible.
        sort = np.lexsort((positions, keys, partition))
        order = positions[sort]
        parts = partition[sort]
        n = len(order)
        part_heads = np.flatnonzero(np.diff(parts)) + 1 if n else np.zeros(0, dtype=np.intp)
        part_starts = np.concatenate([[0], part_heads]) if n else np.zeros(0, dtype=np.intp)
        part_ends = np.concatenate([part_heads, [n]]) if n else np.zeros(0, dtype=np.intp)
        starts = (
            np.concatenate([np.arange(s, e, block_size) for s, e in zip(part_starts, part_ends)])
            if n
            else np.zeros(0, dtype=np.intp)
        ).astype(np.intp)
        ends = np.append(starts[1:], n).astype(np.intp)
        # Tiles: runs of up to tile_blocks consecutive blocks of one partition.
        tile_heads = np.concatenate(
            [np.arange(b0, b1, tile_blocks) for b0, b1 in zip(np.searchsorted(starts, part_starts), np.searchsorted(starts, part_ends))]
        ).astype(np.intp) if n else np.zeros(0, dtype=np.intp)
        tile_ends = np.append(tile_heads[1:], len(starts)).astype(np.intp)

        x = catalog.x[order]
        y = catalog.y[order]
        reach = catalog.reach_m[order]
        areas = area_id[order].astype(np.int32)
        polygon = areas >= 0
        role_mask = catalog.role_mask[order]
        online = catalog.online[order]
        spare = catalog.spare[order]
        level = catalog.level[order]
        primary = catalog.primary_role[order]

        # Each provider's service-area box: the circle's, or the polygon's bounds.
        safe_area = np.where(polygon, areas, 0)
        has_bounds = len(area_bounds) > 0
        poly_box = area_bounds[safe_area] if has_bounds else np.zeros((n, 4))
        sa_minx = np.where(polygon, poly_box[:, 0], x - reach)
        sa_miny = np.where(polygon, poly_box[:, 1], y - reach)
        sa_maxx = np.where(polygon, poly_box[:, 2], x + reach)
        sa_maxy = np.where(polygon, poly_box[:, 3], y + reach)

        def reduce(ufunc: np.ufunc, values: np.ndarray) -> np.ndarray:
            return ufunc.reduceat(values, starts) if n else np.zeros(0, dtype=values.dtype)

        role_bits = [((role_mask >> k) & 1).astype(np.int32) for k in range(len(taxonomy.ROLES))]
        everyone = np.ones(n, dtype=np.int32)
        role_counts = np.column_stack([reduce(np.add, c) for c in (everyone, *role_bits)]) if n else np.zeros((0, ROLE_COLUMNS), np.int32)
        on = online.astype(np.int32)
        online_role_counts = (
            np.column_stack([reduce(np.add, c * on) for c in (everyone, *role_bits)]) if n else np.zeros((0, ROLE_COLUMNS), np.int32)
        )
        big = np.inf
        sa_box = [reduce(np.minimum, sa_minx), reduce(np.minimum, sa_miny), reduce(np.maximum, sa_maxx), reduce(np.maximum, sa_maxy)]
        tile_box = [
            (ufunc.reduceat(column, tile_heads) if len(tile_heads) else np.zeros(0))
            for ufunc, column in zip((np.minimum, np.minimum, np.maximum, np.maximum), sa_box)
        ]
        return cls(
            order=order,
            x=x,
            y=y,
            # +inf for polygons: the analytic circle test passes them on to the
            # exact polygon test.
            reach2=np.where(polygon, np.inf, reach * reach),
            role_mask=role_mask,
            online=online,
            area_id=areas,
            event_mask=catalog.event_mask[order],
            slot_mask=catalog.slot_mask[order],
            spare=spare,
            level=level,
            primary_role=primary,
            start=starts,
            end=ends,
            minx=reduce(np.minimum, x),
            miny=reduce(np.minimum, y),
            maxx=reduce(np.maximum, x),
            maxy=reduce(np.maximum, y),
            sa_minx=sa_box[0],
            sa_miny=sa_box[1],
            sa_maxx=sa_box[2],
            sa_maxy=sa_box[3],
            tile_start=tile_heads,
            tile_end=tile_ends,
            tile_minx=tile_box[0],
            tile_miny=tile_box[1],
            tile_maxx=tile_box[2],
            tile_maxy=tile_box[3],
            has_polygon=reduce(np.maximum, polygon.astype(np.int8)).astype(bool),
            # Polygons have no reach: a block holding one is never "everyone reaches
            # you" (min -inf) and is limited by the radius only (max +inf).
            min_reach2=reduce(np.minimum, np.where(polygon, -big, reach * reach)),
            max_reach2=reduce(np.maximum, np.where(polygon, big, reach * reach)),
            role_counts=role_counts.astype(np.int32),
            online_role_counts=online_role_counts.astype(np.int32),
            event_or=reduce(np.bitwise_or, catalog.event_mask[order]),
            event_slot_or=np.ascontiguousarray(
                np.column_stack(
                    [
                        reduce(np.bitwise_or, np.where((catalog.event_mask[order] >> np.uint32(k)) & np.uint32(1), catalog.slot_mask[order], np.uint32(0)))
                        for k in range(len(taxonomy.EVENTS))
                    ]
                ).astype(np.uint32)
                if n
                else np.zeros((0, len(taxonomy.EVENTS)), dtype=np.uint32)
            ),
            slot_or=reduce(np.bitwise_or, catalog.slot_mask[order]),
        )

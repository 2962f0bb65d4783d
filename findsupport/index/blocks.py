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

from typing import Any

import numpy as np

from .. import taxonomy
from ..catalog.public import PublicCatalog
from .curve import hilbert_keys
from .kernels import (
    BLOCK_FLOATS, BLOCK_INTS, ONLINE_ROLE_COUNTS, ROLE_COLUMNS, ROLE_COUNTS, EVENT_SLOT_OR, SLOT_FLOATS, SLOT_INTS, TILE_INTS,
)  # fmt: skip

__all__ = ["BlockTable", "slots_of_ranges", "box_distances2", "ROLE_COLUMNS"]


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




class _Column:
    """A named read-only view of one column (or run of columns) of one of the table's matrices."""

    def __init__(self, matrix: str, first: int, width: int = 0) -> None:
        self.matrix, self.first, self.width = matrix, first, width

    def __get__(self, table: "BlockTable | None", owner: type) -> Any:
        if table is None:
            return self  # looked up on the class (documentation tools)
        matrix = getattr(table, self.matrix)
        return matrix[:, self.first : self.first + self.width] if self.width else matrix[:, self.first]


class BlockTable:
    """Providers sorted along the Hilbert curve into blocks (see the module docstring).

    Build with :meth:`build`.  The compiled loops read five matrices, laid
    out by the column constants of :mod:`.kernels`: ``slot_f``/``slot_i`` (one row per
    slot), ``block_f``/``block_i`` (one row per block) and ``tile_i`` (one
    row per tile).  Each column is also a named view: per slot ``order``,
    ``x``, ``y``, ``reach2`` (squared reach, m²; ``inf`` for polygon areas),
    ``role_mask``, ``online``, ``area_id`` (``-1``: circle), ``event_mask``,
    ``slot_mask``; per block ``start``, ``end``, the points' box
    ``minx``..``maxy``, the service areas' box ``sa_minx``..``sa_maxy``,
    ``has_polygon``, ``min_reach2``, ``max_reach2`` (``-inf``/``+inf`` when
    the block holds a polygon), ``role_counts`` and ``online_role_counts``
    (shape ``(n_blocks, ROLE_COLUMNS)``), ``event_or``, ``slot_or``,
    ``event_slot_or`` (shape ``(n_blocks, len(EVENTS))``: the free slots of
    the block's providers who coach each event, so a bound can pair an event
    with its coaches' slots); per tile (a run of consecutive blocks of one
    partition) ``tile_start``, ``tile_end``.  Held apart, as only Python
    reads them: per slot ``spare``, ``level``, ``primary_role``; per tile
    the service-area box ``tile_box`` (``minx, miny, maxx, maxy`` columns,
    also ``tile_minx``..``tile_maxy``).  All read-only.
    """

    slot_f: np.ndarray
    slot_i: np.ndarray
    block_f: np.ndarray
    block_i: np.ndarray
    tile_i: np.ndarray
    tile_box: np.ndarray
    spare: np.ndarray
    level: np.ndarray
    primary_role: np.ndarray

    x, y, reach2 = (_Column("slot_f", i) for i in range(len(SLOT_FLOATS)))
    role_mask, area_id, event_mask, slot_mask, online, order = (_Column("slot_i", i) for i in range(len(SLOT_INTS)))
    minx, miny, maxx, maxy, sa_minx, sa_miny, sa_maxx, sa_maxy, min_reach2, max_reach2 = (
        _Column("block_f", i) for i in range(len(BLOCK_FLOATS))
    )
    start, end, has_polygon, event_or, slot_or = (_Column("block_i", i) for i in range(len(BLOCK_INTS)))
    role_counts = _Column("block_i", ROLE_COUNTS, ROLE_COLUMNS)
    online_role_counts = _Column("block_i", ONLINE_ROLE_COUNTS, ROLE_COLUMNS)
    event_slot_or = _Column("block_i", EVENT_SLOT_OR, len(taxonomy.EVENTS))
    tile_start, tile_end = (_Column("tile_i", i) for i in range(len(TILE_INTS)))
    tile_minx, tile_miny, tile_maxx, tile_maxy = (_Column("tile_box", i) for i in range(4))

    def __init__(
        self,
        slot_f: np.ndarray,
        slot_i: np.ndarray,
        block_f: np.ndarray,
        block_i: np.ndarray,
        tile_i: np.ndarray,
        tile_box: np.ndarray,
        spare: np.ndarray,
        level: np.ndarray,
        primary_role: np.ndarray,
    ) -> None:
        self.slot_f, self.slot_i = _frozen(slot_f, np.float64), _frozen(slot_i, np.int64)
        self.block_f, self.block_i = _frozen(block_f, np.float64), _frozen(block_i, np.int64)
        self.tile_i, self.tile_box = _frozen(tile_i, np.int64), _frozen(tile_box, np.float64)
        self.spare, self.level, self.primary_role = _frozen(spare), _frozen(level), _frozen(primary_role)
        self.n_blocks = len(block_i)
        self.n_tiles = len(tile_i)

    def __len__(self) -> int:
        return len(self.slot_i)

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
        event_mask = catalog.event_mask[order]
        slot_mask = catalog.slot_mask[order]
        event_slot_or = (
            np.column_stack(
                [
                    reduce(np.bitwise_or, np.where((event_mask >> np.uint32(k)) & np.uint32(1), slot_mask, np.uint32(0)))
                    for k in range(len(taxonomy.EVENTS))
                ]
            )
            if n
            else np.zeros((0, len(taxonomy.EVENTS)), dtype=np.uint32)
        )
        # +inf for polygons: the analytic circle test passes them on to the exact polygon test.
        reach2 = np.where(polygon, np.inf, reach * reach)
        slot_columns = {"x": x, "y": y, "reach2": reach2, "role_mask": role_mask, "area_id": areas,
                        "event_mask": event_mask, "slot_mask": slot_mask, "online": online, "order": order}  # fmt: skip
        block_columns = {
            "minx": reduce(np.minimum, x), "miny": reduce(np.minimum, y),
            "maxx": reduce(np.maximum, x), "maxy": reduce(np.maximum, y),
            "sa_minx": sa_box[0], "sa_miny": sa_box[1], "sa_maxx": sa_box[2], "sa_maxy": sa_box[3],
            # Polygons have no reach: a block holding one is never "everyone reaches
            # you" (min -inf) and is limited by the radius only (max +inf).
            "min_reach2": reduce(np.minimum, np.where(polygon, -big, reach * reach)),
            "max_reach2": reduce(np.maximum, np.where(polygon, big, reach * reach)),
            "start": starts, "end": ends, "has_polygon": reduce(np.maximum, polygon.astype(np.int8)),
            "event_or": reduce(np.bitwise_or, event_mask), "slot_or": reduce(np.bitwise_or, slot_mask),
        }  # fmt: skip
        return cls(
            slot_f=_matrix([slot_columns[c] for c in SLOT_FLOATS], n, np.float64),
            slot_i=_matrix([slot_columns[c] for c in SLOT_INTS], n, np.int64),
            block_f=_matrix([block_columns[c] for c in BLOCK_FLOATS], len(starts), np.float64),
            block_i=np.concatenate(
                [_matrix([block_columns[c] for c in BLOCK_INTS], len(starts), np.int64),
                 role_counts.astype(np.int64), online_role_counts.astype(np.int64), event_slot_or.astype(np.int64)],
                axis=1,
            ),  # fmt: skip
            tile_i=_matrix([tile_heads, tile_ends], len(tile_heads), np.int64),
            tile_box=_matrix(tile_box, len(tile_heads), np.float64),
            spare=spare,
            level=level,
            primary_role=primary,
        )


def _matrix(columns: list[np.ndarray], rows: int, dtype: type) -> np.ndarray:
    """The columns side by side as one C-ordered matrix: a row holds what a loop reads of one slot or block."""
    matrix = np.empty((rows, len(columns)), dtype=dtype)
    for j, column in enumerate(columns):
        matrix[:, j] = column
    return matrix


def _frozen(array: np.ndarray, dtype: type | None = None) -> np.ndarray:
    array = np.ascontiguousarray(array, dtype=dtype)
    array.flags.writeable = False
    return array

"""Exact in-person totals by site: how many providers at each public location reach a given distance.

Providers' public locations are sector centroids, so a catalogue of a
million providers has only about eleven thousand distinct locations
(*sites*), and travel distances take few distinct values (5, 10, 20 km...).
For every site, role and distinct reach this keeps how many circle
providers there travel at least that far; the number of in-person matches
of a query is then one sum over the sites within the radius, whatever the
number of providers:

    total = sum over sites s with d(s)² <= R² of  count[s, role, first reach with reach² >= d(s)²]

The comparison is the same ``d² <= reach²`` as provider by provider, on the
same floats, so the total is exact.  Polygon service areas are not counted
here (the index tests them one by one).  When a catalogue has too many
sites or distinct reaches for the table to be small (synthetic catalogues at
arbitrary points, say), :meth:`SiteCounts.build` returns ``None`` and the
index counts provider by provider.

Examples
--------
>>> counts = SiteCounts.build(np.array([0.0, 0.0, 3.0]), np.array([0.0, 0.0, 4.0]),
...                           np.array([5.0, 2.0, 9.0]), np.array([1, 1, 1], np.uint8), np.array([False, True, False]))
>>> counts.count(0.0, 0.0, radius2=100.0, column=0), counts.count(0.0, 0.0, radius2=16.0, column=0)
((3, 1), (2, 1))
"""

from __future__ import annotations

import numpy as np

from .blocks import ROLE_COLUMNS
from .kernels import count_sites

__all__ = ["SiteCounts", "MAX_REACH_VALUES", "MAX_SITE_CELLS"]

#: More distinct travel distances than this and the table would be mostly empty.
MAX_REACH_VALUES = 64
#: Cells (sites x roles x reaches x 2) kept at most: 40 MB of int32.
MAX_SITE_CELLS = 10_000_000


class SiteCounts:
    """Cumulative counts of circle providers by site, role column and reach (see the module docstring)."""

    def __init__(self, x: np.ndarray, y: np.ndarray, reach2_values: np.ndarray, counts: np.ndarray, online: np.ndarray) -> None:
        self.x, self.y = x, y
        self.reach2_values = reach2_values
        self.counts = counts  # (sites, ROLE_COLUMNS, reaches): providers with reach² >= value
        self.online = online  # the same, online providers only
        for array in (x, y, reach2_values, counts, online):
            array.flags.writeable = False

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.x, self.y, self.reach2_values, self.counts, self.online))

    @classmethod
    def build(
        cls, x: np.ndarray, y: np.ndarray, reach_m: np.ndarray, role_mask: np.ndarray, online: np.ndarray
    ) -> "SiteCounts | None":
        """Tables for the given circle providers, or ``None`` when they would be too large."""
        reach2 = reach_m * reach_m  # the same expression as the block tables'
        values = np.unique(reach2)
        if len(values) > MAX_REACH_VALUES:
            return None
        order = np.lexsort((y, x))
        sx, sy = x[order], y[order]
        new = np.ones(len(order), dtype=bool)
        new[1:] = (sx[1:] != sx[:-1]) | (sy[1:] != sy[:-1])
        n_sites = int(new.sum())
        if n_sites * len(values) * ROLE_COLUMNS * 2 > MAX_SITE_CELLS:
            return None
        site_of = np.empty(len(order), dtype=np.intp)
        site_of[order] = np.cumsum(new) - 1
        cell = site_of * len(values) + np.searchsorted(values, reach2)
        size = n_sites * len(values)
        counts = np.zeros((n_sites, ROLE_COLUMNS, len(values)), dtype=np.int32)
        online_counts = np.zeros_like(counts)
        for column in range(ROLE_COLUMNS):
            has = np.ones(len(x), dtype=bool) if column == 0 else ((role_mask >> (column - 1)) & 1).astype(bool)
            counts[:, column, :] = np.bincount(cell[has], minlength=size).reshape(n_sites, len(values))
            online_counts[:, column, :] = np.bincount(cell[has & online], minlength=size).reshape(n_sites, len(values))
        # Count travelling at least each reach: a reverse running sum over reaches.
        counts = np.ascontiguousarray(counts[:, :, ::-1].cumsum(axis=2)[:, :, ::-1], dtype=np.int32)
        online_counts = np.ascontiguousarray(online_counts[:, :, ::-1].cumsum(axis=2)[:, :, ::-1], dtype=np.int32)
        return cls(np.ascontiguousarray(sx[new]), np.ascontiguousarray(sy[new]), values, counts, online_counts)

    def __len__(self) -> int:
        return len(self.x)

    def count(self, x: float, y: float, radius2: float, column: int) -> tuple[int, int]:
        """``(in-person matches, of which online)`` among the circle providers, for role ``column``."""
        total, online = count_sites(self.x, self.y, self.reach2_values, self.counts, self.online, float(x), float(y), float(radius2), int(column))
        return int(total), int(online)

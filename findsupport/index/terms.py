"""A linear ranker's score as lookup tables, built once per ranker from the feature definitions.

The match features are defined once, in :mod:`findsupport.features`, each as
a function of the few inputs it reads.  Serving does not build the feature
matrix of every candidate: the compiled search loops (:mod:`.kernels`) add
up the same weighted sum from a few tables and constants, which this module
computes by evaluating those very functions over every input they can see:

* distance features (``exp(-d / scale)``): ``(weight, scale)`` pairs for each
  kind of match (online only, in person), computed per candidate;
* presence features: one constant per kind of match;
* event features: one value per match state (none, same group only, exact);
* slot features: a table by how many asked-for slots the provider is free in;
* attribute features: one table per query *key* (the coach's level, the
  asked-for role, whether the mode accepts online), indexed by a small
  per-provider *code* of ``(spare, level, primary role, online)``.

There is no formula here, so the fused score and ``compute_features @ coef_
+ intercept`` cannot drift apart; ``tests/index/test_scoring.py`` checks
them equal on random catalogues and queries.

Examples
--------
>>> from findsupport.features import FEATURE_NAMES, FeatureScales
>>> terms = LinearTerms(np.ones(len(FEATURE_NAMES)), 0.0, FeatureScales())
>>> terms.slot_tables[2, :3].tolist()  # two slots asked: free in 0, 1 or 2 of them
[0.0, 0.5, 2.0]
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import numpy as np

from .. import taxonomy
from ..features import FEATURES, TOP_LEVEL, AttributeQuery, FeatureScales, attribute_codes, attribute_space, feature_tables, spare_cap

if TYPE_CHECKING:  # the tables import the loops, which import these terms
    from .blocks import BlockTable

__all__ = [
    "LinearTerms",
    "MAX_SPARE_CODE",
    "PROXIMITY_STEP_M",
    "N_KEYS",
    "ONLINE_ONLY",
    "IN_PERSON",
]

#: Largest spare-capacity code; a capacity scale beyond it (more than 1,000 free
#: places "being plenty") falls back to the matrix scorer.
MAX_SPARE_CODE = 1000
#: Cell of the proximity bound table (metres): within 50 m the proximity terms
#: move by at most 1% of a weight (d/dd exp(-d/5 km) <= 1/5000 per metre), so the
#: bound stays tight; 28,000 cells cover Great Britain's 1,400 km diagonal.
PROXIMITY_STEP_M = 50.0
PROXIMITY_REACH_M = 1_400_000.0
#: The kinds of match, as the kernels number them (rows of ``distance`` and ``proximity_bound``).
ONLINE_ONLY, IN_PERSON = 0, 1

_LEVELS = TOP_LEVEL + 1
_PRIMARY = len(taxonomy.ROLES) + 1  # primary_role -1..len(ROLES)-1, stored +1
_ONLINE_MODES = ("online", "any")
#: Query keys of the attribute tables: (coach level, asked-for role or -1, online accepted).
_KEYS = tuple(itertools.product(range(_LEVELS), range(-1, len(taxonomy.ROLES)), (False, True)))
N_KEYS = len(_KEYS)
_KINDS = {"online_only": ONLINE_ONLY, "in_person": IN_PERSON}


def key_index(level: int, role_index: int, online: bool) -> int:
    """Row of the attribute tables for a query key (see :data:`_KEYS`)."""
    return (level * _PRIMARY + role_index + 1) * 2 + int(online)


class LinearTerms:
    """A linear ranker's score as tables and constants (see the module docstring).

    Parameters
    ----------
    coef : array of shape (len(FEATURES),)
    intercept : float
    scales : FeatureScales

    Attributes
    ----------
    distance : (2, m, 2) array
        Row ``kind`` (:data:`ONLINE_ONLY`, :data:`IN_PERSON`): ``(weight,
        scale)`` of the distance features of that kind of match with a
        non-zero weight, padded with ``(0, 1)``.
    presence : (2,) array
        Presence features by kind of match.
    event_values : (3,) array
        Event features by match state: none, same group only, exact.
    code_tables : (N_KEYS, n_codes) array
        Attribute features plus the intercept, by query key and provider code.
    slot_tables, slot_tables_max : (S + 1, S + 1) arrays
        Row ``asked``: slot features by free-slot count (row 0: nothing
        asked, all zero), and their running maximum (for bounds).
    proximity_bound : (2, cells) array
        Entry ``[kind, i]`` bounds the distance terms of that kind for any
        distance in the ``i``-th :data:`PROXIMITY_STEP_M` cell (the last cell
        runs to infinity).
    """

    def __init__(self, coef: np.ndarray, intercept: float, scales: FeatureScales) -> None:
        self.coef = np.asarray(coef, dtype=np.float64)
        if self.coef.shape != (len(FEATURES),):
            raise ValueError(f"Got {self.coef.shape[0] if self.coef.ndim else 0} weights; there are {len(FEATURES)} match features.")
        self.intercept = float(intercept)
        self.scales = scales
        tables = feature_tables(FEATURES)
        w = {reads: self.coef[columns] for reads, columns in tables.layout.items()}
        pairs: list[list[tuple[float, float]]] = [[], []]
        for j, weight in zip(tables.layout["distance"], w["distance"]):
            if weight:
                feature = FEATURES[j]
                pairs[_KINDS[feature.applies_to]].append((float(weight), float(getattr(scales, feature.scale))))
        width = max(1, *(len(p) for p in pairs))
        distance = np.zeros((2, width, 2))
        distance[:, :, 1] = 1.0
        for kind, rows in enumerate(pairs):
            if rows:
                distance[kind, : len(rows)] = rows
        self.distance = _frozen(distance)
        self.presence = _frozen(tables.presence @ w["presence"])
        self.event_values = _frozen(tables.event @ w["event"])
        self.spare_cap = spare_cap(scales)
        self.n_codes = len(attribute_space(self.spare_cap).spare)
        self.code_dtype = np.uint16 if self.n_codes <= 2**16 else np.uint32
        self.code_tables = _frozen(
            np.stack(
                [
                    tables.attributes(AttributeQuery(level=level, role_index=role, online_accepted=online), scales) @ w["attributes"]
                    + self.intercept
                    for level, role, online in _KEYS
                ]
            )
        )
        free = len(taxonomy.SLOTS) + 1
        slot_tables = np.zeros((free, free))
        for asked in range(1, free):
            slot_tables[asked] = tables.slots(asked) @ w["slots"]
        self.slot_tables, self.slot_tables_max = _frozen(slot_tables), _frozen(np.maximum.accumulate(slot_tables, axis=1))
        self.proximity_bound = self._proximity_bound_table()
        # A bound may fall short of a real score by rounding; this much slack
        # (tiny against any score difference that matters) keeps pruning exact.
        self.slack = 1e-9 * (1.0 + float(np.abs(self.coef).sum()) + abs(self.intercept))

    # ------------------------------------------------------------------ tables
    def _proximity_bound_table(self) -> np.ndarray:
        cells = int(PROXIMITY_REACH_M / PROXIMITY_STEP_M) + 1
        near = np.arange(cells) * PROXIMITY_STEP_M
        far = np.append(near[1:], np.inf)  # the last cell runs to infinity
        table = np.zeros((2, cells))
        for kind in (ONLINE_ONLY, IN_PERSON):
            for weight, scale in self.distance[kind]:
                if weight:
                    # A decreasing term: its largest value in a cell is at the near edge
                    # (positive weight) or the far edge (negative weight).
                    table[kind] += weight * np.exp(-(near if weight > 0 else far) / scale)
        return _frozen(table)

    # ------------------------------------------------------------------ per query
    def key_of(self, level: int, role_index: int, mode: str) -> int:
        """Row of :attr:`code_tables` (and of a table's block bests) for a query."""
        return key_index(level, role_index, mode in _ONLINE_MODES)

    # ------------------------------------------------------------------ per table
    def provider_codes(self, table: BlockTable) -> np.ndarray:
        """Each slot's attribute code (:func:`findsupport.features.attribute_codes`)."""
        return _frozen(attribute_codes(table.spare, table.level, table.primary_role, table.online, self.spare_cap).astype(self.code_dtype))

    def block_best(self, table: BlockTable, codes: np.ndarray) -> np.ndarray:
        """``(N_KEYS, n_blocks)``: the best attribute score present in each block, for every query key."""
        n_codes = self.n_codes
        if table.n_blocks == 0:
            return _frozen(np.zeros((N_KEYS, 0)))
        # Which codes occur in each block, as sorted (block, code) pairs: a block's
        # best attribute score is then a max over a few dozen entries.
        block_of_slot = np.repeat(np.arange(table.n_blocks), table.end - table.start)
        pairs = np.unique(block_of_slot * n_codes + codes)
        pair_codes = pairs % n_codes
        pair_starts = np.searchsorted(pairs // n_codes, np.arange(table.n_blocks))
        values = self.code_tables[:, pair_codes]
        return _frozen(np.ascontiguousarray(np.maximum.reduceat(values, pair_starts, axis=1)))


def _frozen(array: np.ndarray) -> np.ndarray:
    array = np.ascontiguousarray(array)
    array.flags.writeable = False
    return array

"""The match features as terms of a linear score, turned into lookup tables once per ranker.

The ranking package defines the match features
(:func:`findsupport.ranking.features.compute_features`) and the linear
ranker (``score = X @ coef_ + intercept``).  Serving does not build the
feature matrix of every candidate: the compiled search loops
(:mod:`.kernels`) add up the same weighted sum from a few per-query tables
and constants, which this module computes from the term definitions below.
Features are grouped by what they read:

* distance terms (``exp(-d / scale)``), computed per candidate;
* the inside-the-service-area flag and the event match (none / group / exact):
  one weight, and one value per match state;
* availability terms: a table by how many asked-for slots the provider is free in;
* attribute terms (spare capacity, full, qualification, main role, online):
  one table per query *key* (the coach's level, the asked-for role, whether
  the mode accepts online), indexed by a small per-provider *code* of
  ``(spare, level, primary role, online)``.

Every term mirrors one feature of ``compute_features`` by name, and this is
the only place the fused score is defined: the kernels only look the tables
up and add.  Training and serving cannot drift apart silently:

* :func:`fused_supported` is false when the ranking package has a feature
  without a term here, or a ``FEATURES_VERSION`` not in
  :data:`FUSED_FEATURES_VERSIONS`; the engine then serves with the feature
  matrix (exact, slower) and logs a warning;
* ``tests/index/test_scoring.py`` checks the compiled scores equal
  ``compute_features @ coef_ + intercept`` on random catalogues and queries,
  and fails when the feature set moves on without this module.

Examples
--------
>>> from findsupport.ranking.features import FEATURE_NAMES, FeatureScales
>>> terms = LinearTerms(np.ones(len(FEATURE_NAMES)), 0.0, FeatureScales())
>>> terms.slot_tables[2, :3].tolist()  # two slots asked: free in 0, 1 or 2 of them
[0.0, 0.5, 2.0]
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import taxonomy
from ..ranking.features import FEATURE_NAMES, FEATURES_VERSION, FeatureScales
from .blocks import BlockTable

__all__ = [
    "LinearTerms",
    "fused_supported",
    "missing_terms",
    "FUSED_FEATURES_VERSIONS",
    "MAX_SPARE_CODE",
    "PROXIMITY_STEP_M",
    "N_KEYS",
]

#: Versions of the feature definitions the terms below mirror.
FUSED_FEATURES_VERSIONS: tuple[int, ...] = (1, 2)
#: Largest spare-capacity code; a capacity scale beyond it (more than 1,000 free
#: places "being plenty") falls back to the matrix scorer.
MAX_SPARE_CODE = 1000
#: Cell of the proximity bound table (metres): within 50 m the proximity terms
#: move by at most 1% of a weight (d/dd exp(-d/5 km) <= 1/5000 per metre), so the
#: bound stays tight; 28,000 cells cover Great Britain's 1,400 km diagonal.
PROXIMITY_STEP_M = 50.0
PROXIMITY_REACH_M = 1_400_000.0

_TOP_LEVEL = max(taxonomy.QUALIFICATIONS.values())
_LEVELS = _TOP_LEVEL + 1
_PRIMARY = len(taxonomy.ROLES) + 1  # primary_role -1..len(ROLES)-1, stored +1
_ONLINE_MODES = ("online", "any")
#: Query keys of the attribute tables: (coach level, asked-for role or -1, online accepted).
_KEYS = tuple(itertools.product(range(_LEVELS), range(-1, len(taxonomy.ROLES)), (False, True)))
N_KEYS = len(_KEYS)


@dataclass(frozen=True)
class _Attributes:
    """The decoded attribute code space: one entry per possible code."""

    spare: np.ndarray
    level: np.ndarray
    primary: np.ndarray
    online: np.ndarray


@dataclass(frozen=True)
class _AttributeQuery:
    """The only query fields attribute terms may read (the key of their lookup table)."""

    level: int
    role_index: int
    mode: str


# --- the terms: each mirrors the feature of the same name in compute_features -----
#: Distance features: exp(-d / scale), by the FeatureScales attribute of the scale.
_DISTANCE_TERMS: dict[str, str] = {
    "proximity_near": "near_scale_m",
    "proximity_mid": "mid_scale_m",
    "proximity_far": "far_scale_m",
}
#: The coach's point is inside the provider's service area.
_INSIDE_TERMS = ("in_service_area",)
#: Event match, by state (no match, same group only, exact).
_EVENT_TERMS: dict[str, tuple[float, float, float]] = {
    "event_exact": (0.0, 0.0, 1.0),
    "event_group": (0.0, 1.0, 0.0),
}
#: Availability, by number of asked-for slots the provider is free in (asked > 0).
_SLOT_TERMS: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "availability": lambda free, asked: free / asked,
    "availability_all": lambda free, asked: free >= asked,
}
#: Attribute features over the code space.  They see only the coach's level, the
#: asked-for role and whether the mode accepts online (the lookup table's key).
_ATTRIBUTE_TERMS: dict[str, Callable[[_Attributes, _AttributeQuery, FeatureScales], Any]] = {
    "spare_capacity": lambda a, c, s: np.minimum(a.spare, s.capacity_scale) / s.capacity_scale,
    "full": lambda a, c, s: a.spare <= 0,
    "qualified_above": lambda a, c, s: a.level > c.level,
    "qualified_below": lambda a, c, s: (a.level < c.level) if c.level else 0.0,
    "qualification_gap": lambda a, c, s: (a.level - c.level) / float(_TOP_LEVEL),
    "primary_role": lambda a, c, s: (a.primary == c.role_index) if c.role_index >= 0 else 0.0,
    "online_fit": lambda a, c, s: a.online if c.mode in _ONLINE_MODES else 0.0,
}
_ALL_TERMS = {*_DISTANCE_TERMS, *_INSIDE_TERMS, *_EVENT_TERMS, *_SLOT_TERMS, *_ATTRIBUTE_TERMS}


def missing_terms() -> list[str]:
    """Current match features that have no term here (empty when fully mirrored)."""
    return sorted(set(FEATURE_NAMES) - _ALL_TERMS)


def fused_supported() -> bool:
    """True when every current match feature has a term (and the definitions' version is known)."""
    return FEATURES_VERSION in FUSED_FEATURES_VERSIONS and not missing_terms()


def key_index(level: int, role_index: int, online: bool) -> int:
    """Row of the attribute tables for a query key (see :data:`_KEYS`)."""
    return (level * _PRIMARY + role_index + 1) * 2 + int(online)


class LinearTerms:
    """A linear ranker's score as tables and constants (see the module docstring).

    Parameters
    ----------
    coef : array of shape (len(FEATURE_NAMES),)
    intercept : float
    scales : FeatureScales

    Attributes
    ----------
    distance : (n, 2) array
        ``(weight, scale)`` of each distance term with a non-zero weight, in
        feature order.
    inside_weight : float
    event_values : (3,) array
        Event terms by match state: none, same group only, exact.
    code_tables : (N_KEYS, n_codes) array
        Attribute terms plus the intercept, by query key and provider code.
    slot_tables, slot_tables_max : (S + 1, S + 1) arrays
        Row ``asked``: availability terms by free-slot count (row 0: nothing
        asked, all zero), and their running maximum (for bounds).
    proximity_bound : array
        Entry ``i`` bounds the distance terms for any distance in the
        ``i``-th :data:`PROXIMITY_STEP_M` cell (the last cell runs to infinity).
    """

    def __init__(self, coef: np.ndarray, intercept: float, scales: FeatureScales) -> None:
        if not fused_supported():
            raise ValueError("the current match features have no fused terms; use make_scorer")
        self.coef = np.asarray(coef, dtype=np.float64)
        self.intercept = float(intercept)
        self.scales = scales
        self.w = {name: float(self.coef[j]) for j, name in enumerate(FEATURE_NAMES)}
        self.distance = _frozen(
            np.array([(self.w[n], getattr(scales, attr)) for n, attr in _DISTANCE_TERMS.items() if self.w.get(n)], dtype=np.float64)
            .reshape(-1, 2)
        )
        self.inside_weight = sum(self.w.get(n, 0.0) for n in _INSIDE_TERMS)
        self.event_values = _frozen(
            np.array([sum(self.w.get(name, 0.0) * states[state] for name, states in _EVENT_TERMS.items()) for state in range(3)])
        )
        self.spare_cap = max(int(math.ceil(scales.capacity_scale)), 1)
        codes = np.arange((self.spare_cap + 1) * _LEVELS * _PRIMARY * 2)
        self.attributes = _Attributes(
            spare=codes // (2 * _PRIMARY * _LEVELS),
            level=(codes // (2 * _PRIMARY)) % _LEVELS,
            primary=(codes // 2) % _PRIMARY - 1,
            online=(codes % 2).astype(bool),
        )
        self.code_dtype = np.uint16 if len(codes) <= 2**16 else np.uint32
        self.code_tables = _frozen(np.stack([self._code_table(key) for key in _KEYS]))
        self.slot_tables, self.slot_tables_max = self._slot_tables()
        self.proximity_bound = self._proximity_bound_table()
        # A bound may fall short of a real score by rounding; this much slack
        # (tiny against any score difference that matters) keeps pruning exact.
        self.slack = 1e-9 * (1.0 + float(np.abs(self.coef).sum()) + abs(self.intercept))

    # ------------------------------------------------------------------ tables
    def _code_table(self, key: tuple[int, int, bool]) -> np.ndarray:
        level, role_index, online = key
        context = _AttributeQuery(level=level, role_index=role_index, mode="online" if online else "in_person")
        table = np.full(len(self.attributes.spare), self.intercept)
        for name, term in _ATTRIBUTE_TERMS.items():
            if self.w.get(name):
                table += self.w[name] * np.asarray(term(self.attributes, context, self.scales), dtype=np.float64)
        return table

    def _slot_tables(self) -> tuple[np.ndarray, np.ndarray]:
        free = np.arange(len(taxonomy.SLOTS) + 1)
        tables = np.zeros((len(free), len(free)))
        for asked in range(1, len(free)):
            for name, term in _SLOT_TERMS.items():
                if self.w.get(name):
                    tables[asked] += self.w[name] * np.asarray(term(free, asked), dtype=np.float64)
        return _frozen(tables), _frozen(np.maximum.accumulate(tables, axis=1))

    def _proximity_bound_table(self) -> np.ndarray:
        cells = int(PROXIMITY_REACH_M / PROXIMITY_STEP_M) + 1
        near = np.arange(cells) * PROXIMITY_STEP_M
        far = np.append(near[1:], np.inf)  # the last cell runs to infinity
        table = np.zeros(cells)
        for weight, scale in self.distance:
            # A decreasing term: its largest value in a cell is at the near edge
            # (positive weight) or the far edge (negative weight).
            table += weight * np.exp(-(near if weight > 0 else far) / scale)
        return _frozen(table)

    # ------------------------------------------------------------------ per query
    def key_of(self, level: int, role_index: int, mode: str) -> int:
        """Row of :attr:`code_tables` (and of a table's block bests) for a query."""
        return key_index(level, role_index, mode in _ONLINE_MODES)

    def proximity(self, distance_m: np.ndarray) -> np.ndarray:
        """The distance terms of the score (numpy; the kernels compute the same sum)."""
        total = np.zeros(len(distance_m))
        for weight, scale in self.distance:
            total += weight * np.exp(-np.asarray(distance_m, dtype=np.float64) / scale)
        return total

    # ------------------------------------------------------------------ per table
    def provider_codes(self, table: BlockTable) -> np.ndarray:
        """Each slot's attribute code: ``(min(spare, cap), level, primary role + 1, online)`` in one integer."""
        code = np.minimum(table.spare, self.spare_cap).astype(np.int64)
        code = code * _LEVELS + table.level
        code = code * _PRIMARY + (table.primary_role.astype(np.int64) + 1)
        code = code * 2 + table.online
        return _frozen(code.astype(self.code_dtype))

    def block_best(self, table: BlockTable, codes: np.ndarray) -> np.ndarray:
        """``(N_KEYS, n_blocks)``: the best attribute score present in each block, for every query key."""
        n_codes = len(self.attributes.spare)
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

"""Scoring candidates in bulk: a fused weighted sum, and an upper bound per block.

The ranking package defines the match features
(:func:`findsupport.ranking.features.compute_features`) and the linear
ranker (``score = X @ coef_``).  Building the whole ``(n, F)`` feature matrix
for tens of thousands of candidates to keep ten is most of the cost of a
search, so serving uses :class:`FusedScorer`: the same weighted sum computed
straight into one score vector.  Features are grouped by what they read:

* distance terms (``exp(-d / scale)``), computed per candidate;
* the inside-the-service-area flag and the event match (none / group / exact),
  one ``where`` each;
* availability terms, a lookup by how many asked-for slots the provider is
  free in;
* attribute terms (spare capacity, full, qualification, main role, online),
  folded into one lookup table per query, indexed by a small per-provider
  code of ``(spare, level, primary role, online)``.

The page a coach sees is explained from the real feature matrix of just
those rows.  Training and serving cannot drift apart silently:

* every term below mirrors one feature of ``compute_features`` by name; if
  the ranking package has a feature without a term here, or a
  ``FEATURES_VERSION`` not in :data:`FUSED_FEATURES_VERSIONS`,
  :func:`make_scorer` serves with :class:`MatrixScorer` (``compute_features``
  + ``decision_function``: exact, slower) and logs a warning;
* the ranker must be linear: its ``decision_function`` is probed with unit
  rows and checked on random rows before the fused sum is trusted;
* ``tests/index/test_scoring.py`` checks the fused scores equal
  ``compute_features @ coef_`` on random catalogues and queries, and fails
  when the feature set moves on without this module.

:meth:`FusedScorer.block_bounds` gives, per block, a number no provider of
the block can out-score, from the block summaries alone; :mod:`.topk` uses
it to skip blocks that cannot reach the current k-th score.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from .. import taxonomy
from ..catalog.public import PublicCatalog
from ..ranking.features import FEATURE_NAMES, FEATURES_VERSION, FeatureScales, QueryContext, compute_features
from .blocks import BlockTable

__all__ = [
    "Scorer",
    "FusedScorer",
    "MatrixScorer",
    "make_scorer",
    "linear_form",
    "fused_supported",
    "FUSED_FEATURES_VERSIONS",
]

log = logging.getLogger(__name__)

#: Versions of the feature definitions the terms below mirror.
FUSED_FEATURES_VERSIONS: tuple[int, ...] = (1, 2)

#: How closely a ranker's decision_function must match coef/intercept to count as
#: linear (relative to the size of the scores): far above float rounding, far
#: below any difference a ranking could notice.
LINEARITY_TOLERANCE = 1e-9
#: Largest spare-capacity code; a capacity scale beyond it (more than 1,000 free
#: places "being plenty") falls back to the matrix scorer.
MAX_SPARE_CODE = 1000

#: Cell of the proximity bound table (metres): within 50 m the proximity terms
#: move by at most 1% of a weight (d/dd exp(-d/5 km) <= 1/5000 per metre), so the
#: bound stays tight; 28,000 cells cover Great Britain's 1,400 km diagonal.
PROXIMITY_STEP_M = 50.0
PROXIMITY_REACH_M = 1_400_000.0
#: Up to this many candidates, scoring them all exactly is cheaper than bounding
#: first (three float64 exps each against ~15 more numpy calls; measured).
EXACT_BELOW = 512

_TOP_LEVEL = max(taxonomy.QUALIFICATIONS.values())
_LEVELS = _TOP_LEVEL + 1
_PRIMARY = len(taxonomy.ROLES) + 1  # primary_role -1..len(ROLES)-1, stored +1
_ONLINE_MODES = ("online", "any")


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


def fused_supported() -> bool:
    """True when every current match feature has a fused term (and the version is known)."""
    return FEATURES_VERSION in FUSED_FEATURES_VERSIONS and set(FEATURE_NAMES) <= _ALL_TERMS


class Scorer(Protocol):
    """What :mod:`.topk` needs from a scorer."""

    slack: float

    def prepare(self, context: QueryContext) -> Any: ...

    def scores(
        self, prepared: Any, table: BlockTable, slots: np.ndarray, distance_m: np.ndarray, inside: np.ndarray
    ) -> np.ndarray: ...

    def best_scores(
        self,
        prepared: Any,
        table: BlockTable,
        slots: np.ndarray,
        distance_m: np.ndarray,
        inside: np.ndarray,
        k: int,
        threshold: float,
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def block_bounds(
        self,
        prepared: Any,
        table: BlockTable,
        blocks: np.ndarray,
        mind2: np.ndarray,
        maxd2: np.ndarray,
        inside_possible: np.ndarray,
        inside_certain: np.ndarray,
    ) -> np.ndarray | None: ...


def linear_form(ranker: Any) -> tuple[np.ndarray, float] | None:
    """``(coef, intercept)`` when ``ranker.decision_function`` is linear in the features, else ``None``."""
    n = len(FEATURE_NAMES)
    try:
        intercept = float(np.asarray(ranker.decision_function(np.zeros((1, n))), dtype=np.float64)[0])
        coef = np.asarray(ranker.decision_function(np.eye(n)), dtype=np.float64) - intercept
        probe = np.random.default_rng(0).random((n + 4, n))
        expected = np.asarray(ranker.decision_function(probe), dtype=np.float64)
    except (AttributeError, TypeError, ValueError) as exc:
        log.warning("ranker cannot be probed for a linear form (%s); scoring with the feature matrix", exc)
        return None
    if coef.shape != (n,) or not np.all(np.isfinite(coef)) or not math.isfinite(intercept):
        return None
    got = probe @ coef + intercept
    scale = 1.0 + float(np.abs(expected).max())
    if not np.allclose(got, expected, rtol=0.0, atol=LINEARITY_TOLERANCE * scale):
        return None
    return coef, intercept


def make_scorer(ranker: Any, catalog: PublicCatalog, tables: tuple[BlockTable, ...], scales: FeatureScales) -> "Scorer":
    """The fastest exact scorer for this ranker: fused when possible, the feature matrix otherwise."""
    if not fused_supported():
        log.warning(
            "match features (version %s: %s) have no fused scoring terms in findsupport/index/scoring.py; "
            "serving with the feature matrix (exact, slower) until it is updated",
            FEATURES_VERSION,
            ", ".join(sorted(set(FEATURE_NAMES) - _ALL_TERMS)) or "definitions changed",
        )
        return MatrixScorer(ranker, catalog, scales)
    form = linear_form(ranker)
    if form is None or not 0 < scales.capacity_scale <= MAX_SPARE_CODE:
        log.warning("ranker is not a linear model over the match features; serving with the feature matrix")
        return MatrixScorer(ranker, catalog, scales)
    return FusedScorer(form[0], form[1], scales, tables)


class MatrixScorer:
    """Scores through ``compute_features`` and the ranker itself: always exact, no pruning bounds."""

    slack = 0.0

    def __init__(self, ranker: Any, catalog: PublicCatalog, scales: FeatureScales) -> None:
        self.ranker = ranker
        self.catalog = catalog
        self.scales = scales

    def prepare(self, context: QueryContext) -> QueryContext:
        return context

    def scores(
        self, prepared: QueryContext, table: BlockTable, slots: np.ndarray, distance_m: np.ndarray, inside: np.ndarray
    ) -> np.ndarray:
        features = compute_features(prepared, self.catalog, table.order[slots], distance_m, inside, self.scales)
        return np.asarray(self.ranker.decision_function(features), dtype=np.float64)

    def best_scores(
        self,
        prepared: QueryContext,
        table: BlockTable,
        slots: np.ndarray,
        distance_m: np.ndarray,
        inside: np.ndarray,
        k: int,
        threshold: float,
    ) -> tuple[np.ndarray, np.ndarray]:
        """All candidates, scored (no bounds to skip any by)."""
        return np.arange(len(slots)), self.scores(prepared, table, slots, distance_m, inside)

    def block_bounds(self, *args: Any) -> None:
        return None


@dataclass(frozen=True, slots=True)
class _Prepared:
    """Per-query constants of the fused sum."""

    context: QueryContext
    key: tuple[int, int, bool]
    code_table: np.ndarray  # attribute terms + intercept, by provider code
    slot_table: np.ndarray | None  # availability terms, by free-slot count
    slot_table_max: np.ndarray | None  # running maximum of slot_table (for bounds)
    event_values: tuple[float, float, float]  # event terms by state: none, group, exact
    event_bits: np.uint32
    group_only_bits: np.uint32
    slot_bits: np.uint32


class FusedScorer:
    """The linear ranker's score computed directly, plus per-block upper bounds.

    Parameters
    ----------
    coef : array of shape (len(FEATURE_NAMES),)
    intercept : float
    scales : FeatureScales
    tables : block tables to serve
        Their per-provider attribute codes, and each block's best attribute
        score for every query key, are computed once, here.
    """

    def __init__(self, coef: np.ndarray, intercept: float, scales: FeatureScales, tables: tuple[BlockTable, ...] = ()) -> None:
        if not fused_supported():
            raise ValueError("the current match features have no fused terms; use make_scorer")
        self.coef = np.asarray(coef, dtype=np.float64)
        self.intercept = float(intercept)
        self.w = {name: float(self.coef[j]) for j, name in enumerate(FEATURE_NAMES)}
        self.scales = scales
        self._distance = [(self.w[n], getattr(scales, attr)) for n, attr in _DISTANCE_TERMS.items() if self.w.get(n)]
        self._inside = sum(self.w.get(n, 0.0) for n in _INSIDE_TERMS)
        self._proximity_bound = self._proximity_bound_table()
        self.spare_cap = max(int(math.ceil(scales.capacity_scale)), 1)
        # Decode every possible attribute code once (about 200 of them).
        codes = np.arange((self.spare_cap + 1) * _LEVELS * _PRIMARY * 2)
        self._attributes = _Attributes(
            spare=codes // (2 * _PRIMARY * _LEVELS),
            level=(codes // (2 * _PRIMARY)) % _LEVELS,
            primary=(codes // 2) % _PRIMARY - 1,
            online=(codes % 2).astype(bool),
        )
        self._code_tables: dict[tuple[int, int, bool], np.ndarray] = {}
        self._slot_table_cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        # Event terms by match state (none, same group only, exact): weights only.
        self._event_values = tuple(
            sum(self.w.get(name, 0.0) * states[state] for name, states in _EVENT_TERMS.items()) for state in range(3)
        )
        self._codes: dict[int, np.ndarray] = {}
        self._presence: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._block_best: dict[tuple[int, tuple[int, int, bool]], np.ndarray] = {}
        # A bound may fall short of a real score by rounding; this much slack
        # (tiny against any score difference that matters) keeps pruning exact.
        self.slack = 1e-9 * (1.0 + float(np.abs(self.coef).sum()) + abs(self.intercept))
        for table in tables:
            self.bind(table)

    def _proximity_bound_table(self) -> np.ndarray:
        """``table[i]`` bounds the distance terms for any distance in cell ``i`` (last cell: beyond)."""
        cells = int(PROXIMITY_REACH_M / PROXIMITY_STEP_M) + 1
        near = np.arange(cells) * PROXIMITY_STEP_M
        far = np.append(near[1:], np.inf)  # the last cell runs to infinity
        table = np.zeros(cells)
        for weight, scale in self._distance:
            # A decreasing term: its largest value in a cell is at the near edge
            # (positive weight) or the far edge (negative weight).
            table += weight * np.exp(-(near if weight > 0 else far) / scale)
        table.flags.writeable = False
        return table

    def proximity(self, distance_m: np.ndarray) -> np.ndarray:
        """The distance terms of the score, exactly."""
        total = np.zeros(len(distance_m))
        for weight, scale in self._distance:
            total += weight * np.exp(-distance_m / scale)
        return total

    # ------------------------------------------------------------------ per table
    def bind(self, table: BlockTable) -> None:
        """Compute ``table``'s provider codes and each block's best attribute score for every query key."""
        code = np.minimum(table.spare, self.spare_cap).astype(np.int64)
        code = code * _LEVELS + table.level
        code = code * _PRIMARY + (table.primary_role.astype(np.int64) + 1)
        code = code * 2 + table.online
        codes = code.astype(np.uint16 if len(self._attributes.spare) <= 2**16 else np.uint32)
        codes.flags.writeable = False
        self._codes[id(table)] = codes
        # Which codes occur in each block, as sorted (block, code) pairs: a block's
        # best attribute score is then a max over a few dozen entries.
        n_codes = len(self._attributes.spare)
        block_of_slot = np.repeat(np.arange(table.n_blocks), table.end - table.start)
        pairs = np.unique(block_of_slot * n_codes + codes)
        pair_codes = pairs % n_codes
        pair_starts = np.searchsorted(pairs // n_codes, np.arange(table.n_blocks))
        self._presence[id(table)] = (pair_codes, pair_starts)
        for key in itertools.product(range(_LEVELS), range(-1, len(taxonomy.ROLES)), (False, True)):
            self._block_best_for(table, key)

    def _block_best_for(self, table: BlockTable, key: tuple[int, int, bool]) -> np.ndarray:
        cached = self._block_best.get((id(table), key))
        if cached is None:
            pair_codes, pair_starts = self._presence[id(table)]
            values = self._table_for_key(key)[pair_codes]
            cached = np.maximum.reduceat(values, pair_starts) if len(values) else np.zeros(0)
            cached.flags.writeable = False
            self._block_best[(id(table), key)] = cached
        return cached

    def _table_for_key(self, key: tuple[int, int, bool]) -> np.ndarray:
        table = self._code_tables.get(key)
        if table is None:
            level, role_index, online = key
            context = _AttributeQuery(level=level, role_index=role_index, mode="online" if online else "in_person")
            table = np.full(len(self._attributes.spare), self.intercept)
            for name, term in _ATTRIBUTE_TERMS.items():
                if self.w.get(name):
                    table += self.w[name] * np.asarray(term(self._attributes, context, self.scales), dtype=np.float64)
            table.flags.writeable = False
            self._code_tables[key] = table  # a dict store is atomic; a race only computes it twice
        return table

    # ------------------------------------------------------------------ per query
    def _slot_tables(self, asked: int) -> tuple[np.ndarray, np.ndarray]:
        """Availability terms by free-slot count for ``asked`` slots, and their running maximum."""
        cached = self._slot_table_cache.get(asked)
        if cached is None:
            free = np.arange(len(taxonomy.SLOTS) + 1)
            table = np.zeros(len(free))
            for name, term in _SLOT_TERMS.items():
                if self.w.get(name):
                    table += self.w[name] * np.asarray(term(free, asked), dtype=np.float64)
            cached = (table, np.maximum.accumulate(table))
            self._slot_table_cache[asked] = cached
        return cached

    def prepare(self, context: QueryContext) -> _Prepared:
        """Per-query constants (lookup tables, bit masks); the tables are cached by what they depend on."""
        key = (context.level, context.role_index, context.mode in _ONLINE_MODES)
        slot_table = slot_max = None
        if context.n_slots:
            slot_table, slot_max = self._slot_tables(context.n_slots)
        return _Prepared(
            context=context,
            key=key,
            code_table=self._table_for_key(key),
            slot_table=slot_table,
            slot_table_max=slot_max,
            event_values=self._event_values if context.event_bits else (0.0, 0.0, 0.0),
            event_bits=np.uint32(context.event_bits),
            group_only_bits=np.uint32(context.group_bits & ~context.event_bits),
            slot_bits=np.uint32(context.slot_bits),
        )

    def scores(
        self, prepared: _Prepared, table: BlockTable, slots: np.ndarray, distance_m: np.ndarray, inside: np.ndarray
    ) -> np.ndarray:
        """Scores of ``table``'s providers at ``slots`` (equal to ``compute_features @ coef_ + intercept``)."""
        scores = self.static_scores(prepared, table, slots, inside)
        for weight, scale in self._distance:
            scores += weight * np.exp(-np.asarray(distance_m, dtype=np.float64) / scale)
        return scores

    def best_scores(
        self,
        prepared: _Prepared,
        table: BlockTable,
        slots: np.ndarray,
        distance_m: np.ndarray,
        inside: np.ndarray,
        k: int,
        threshold: float,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact scores of the candidates that could reach ``threshold``: ``(which, scores)``.

        Every candidate gets a cheap bound (its distance-free terms plus the
        proximity bound of its 50 m distance cell); only those whose bound
        reaches the threshold get the exact (``exp``) distance terms.  With no
        threshold yet (``-inf``), the ``k`` best bounds are scored first and
        the lowest of those ``k`` exact scores becomes the threshold: at least
        ``k`` candidates reach it, so no candidate of the final top ``k`` is
        below it.
        """
        d = np.asarray(distance_m, dtype=np.float64)
        base = self.static_scores(prepared, table, slots, inside)
        if len(base) <= EXACT_BELOW:
            return np.arange(len(base)), base + self.proximity(d)
        cell = np.minimum((d * (1.0 / PROXIMITY_STEP_M)).astype(np.intp), len(self._proximity_bound) - 1)
        bound = base + self._proximity_bound[cell]
        if threshold == -np.inf and len(bound) > k > 0:
            first = np.argpartition(bound, len(bound) - k)[len(bound) - k :]
            threshold = float((base[first] + self.proximity(d[first])).min())
        which = np.flatnonzero(bound >= threshold - self.slack) if threshold > -np.inf else np.arange(len(bound))
        return which, base[which] + self.proximity(d[which])

    def static_scores(self, prepared: _Prepared, table: BlockTable, slots: np.ndarray, inside: np.ndarray) -> np.ndarray:
        """The score without its distance terms (the intercept included)."""
        scores = prepared.code_table[self._codes[id(table)][slots]]
        if self._inside:
            scores += self._inside * np.asarray(inside, dtype=bool)
        if prepared.context.event_bits:
            events = table.event_mask[slots]
            exact = (events & prepared.event_bits) != 0
            group = (events & prepared.group_only_bits) != 0
            none, in_group, exact_value = prepared.event_values
            scores += np.where(exact, exact_value, np.where(group, in_group, none))
        if prepared.slot_table is not None:
            scores += prepared.slot_table[np.bitwise_count(table.slot_mask[slots] & prepared.slot_bits)]
        return scores

    def block_bounds(
        self,
        prepared: _Prepared,
        table: BlockTable,
        blocks: np.ndarray,
        mind2: np.ndarray,
        maxd2: np.ndarray,
        inside_possible: np.ndarray,
        inside_certain: np.ndarray,
    ) -> np.ndarray:
        """Per block, a score none of its providers can exceed.

        Attribute terms: the best code actually present in the block (exact).
        Distance terms: nearest (positive weight) or farthest (negative) corner
        of the block's box.  Event, availability and inside terms: the best
        state the block's unions of events and free slots allow.
        """
        bound = self._block_best_for(table, prepared.key)[blocks].copy()
        if len(self._distance):
            mind, maxd = np.sqrt(mind2), np.sqrt(maxd2)
            for weight, scale in self._distance:
                bound += weight * np.exp(-(mind if weight > 0 else maxd) / scale)
        if self._inside > 0:
            bound += self._inside * inside_possible
        elif self._inside < 0:
            bound += self._inside * inside_certain
        if prepared.context.event_bits:
            none, in_group, exact_value = prepared.event_values
            events = table.event_or[blocks]
            best = np.full(len(blocks), none)
            best = np.where((events & prepared.group_only_bits) != 0, np.maximum(best, in_group), best)
            best = np.where((events & prepared.event_bits) != 0, np.maximum(best, exact_value), best)
            bound += best
        if prepared.slot_table_max is not None:
            bound += prepared.slot_table_max[np.bitwise_count(table.slot_or[blocks] & prepared.slot_bits)]
        return bound

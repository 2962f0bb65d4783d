"""Scorers: the ranker's score of many candidates, fused and compiled, or through the feature matrix.

:func:`make_scorer` picks, once per ranker and catalogue:

* :class:`FusedScorer` when the ranker is linear over the match features
  (its ``decision_function`` is probed with unit rows and checked on random
  rows): the tables of :mod:`.terms`, built from the feature definitions, and the compiled
  search loops (:mod:`.kernels`) add the weighted sum up per candidate and
  bound whole blocks, so most candidates are never fully scored;
* :class:`MatrixScorer` otherwise: ``compute_features`` and the ranker's own
  ``decision_function`` over every candidate — exact, slower, and logged as a
  warning so nobody serves it by accident.

Either way the page a coach sees is explained from the real feature matrix
of just those rows (:mod:`findsupport.search.engine`).
"""

from __future__ import annotations

import logging
import math
from typing import Any, NamedTuple, Protocol

import numpy as np

from .. import taxonomy
from ..catalog.public import PublicCatalog
from ..features import FEATURE_NAMES, IN_PERSON_MODES, FeatureScales, QueryContext, compute_features
from .blocks import BlockTable
from .kernels import BIT_NAMES, PARAM_NAMES, block_bounds, score_slots
from .terms import MAX_SPARE_CODE, LinearTerms

__all__ = ["Scorer", "FusedScorer", "MatrixScorer", "QueryTerms", "make_scorer", "linear_form"]

log = logging.getLogger(__name__)

#: Distinct asks whose per-query constants are kept (a few hundred bytes each).
PREPARED_CACHED = 4096
#: Bit number of each event in a query's event masks (``taxonomy.EVENTS`` order).
_EVENT_BIT_NUMBERS = np.arange(len(taxonomy.EVENTS), dtype=np.int64)
#: How closely a ranker's decision_function must match coef/intercept to count as
#: linear (relative to the size of the scores): far above float rounding, far
#: below any difference a ranking could notice.
LINEARITY_TOLERANCE = 1e-9


class Scorer(Protocol):
    """What :mod:`.matching` needs from any scorer."""

    slack: float

    def scores(
        self, prepared: Any, table: BlockTable, slots: np.ndarray, distance_m: np.ndarray, inside: np.ndarray
    ) -> np.ndarray: ...


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


def make_scorer(ranker: Any, catalog: PublicCatalog, tables: tuple[BlockTable, ...], scales: FeatureScales) -> "FusedScorer | MatrixScorer":
    """The fastest exact scorer for this ranker: fused when possible, the feature matrix otherwise."""
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


class QueryTerms(NamedTuple):
    """Per-query constants of the fused sum, in the kernels' layout (the point and the radius apart).

    ``params`` (float64, :data:`~.kernels.PARAM_NAMES`) and ``bits`` (int64,
    :data:`~.kernels.BIT_NAMES`) carry the slack, the presence and event
    weights and the query's bit masks; ``exact_events``/``group_events`` list
    the event numbers behind the masks; ``code_table``, ``slot_table`` and
    ``slot_table_max`` are the rows of the scorer's tables for this query;
    ``distance`` and ``proximity_bound`` its distance terms
    (:class:`~.terms.LinearTerms`); ``key`` picks each table's block bests.
    Read-only: shared by every query with the same asks.
    """

    key: int
    params: np.ndarray
    bits: np.ndarray
    exact_events: np.ndarray  # event numbers of the asked-for event (or group)
    group_events: np.ndarray  # event numbers of its group that are not asked for
    code_table: np.ndarray
    slot_table: np.ndarray
    slot_table_max: np.ndarray
    distance: np.ndarray
    proximity_bound: np.ndarray


class FusedScorer:
    """The linear ranker's score in the compiled loops, with per-block upper bounds.

    Parameters
    ----------
    coef : array of shape (len(FEATURE_NAMES),)
    intercept : float
    scales : FeatureScales
    tables : block tables to serve
        Their per-provider attribute codes, and each block's best attribute
        score for every query key, are computed once, here (:meth:`bind`).
    """

    def __init__(self, coef: np.ndarray, intercept: float, scales: FeatureScales, tables: tuple[BlockTable, ...] = ()) -> None:
        self.terms = LinearTerms(coef, intercept, scales)
        self.coef = self.terms.coef
        self.intercept = self.terms.intercept
        self.scales = scales
        self.slack = self.terms.slack
        self._bound: dict[int, tuple[BlockTable, np.ndarray, np.ndarray]] = {}
        self._prepared: dict[tuple[int, ...], QueryTerms] = {}
        for table in tables:
            self.bind(table)

    def bind(self, table: BlockTable) -> None:
        """Compute ``table``'s provider codes and its blocks' best attribute score for every query key."""
        codes = self.terms.provider_codes(table)
        best = self.terms.block_best(table, codes)
        # The table itself is kept beside its arrays, so its id is never reused meanwhile.
        self._bound[id(table)] = (table, codes, best)
        self._prepared.clear()

    def codes(self, table: BlockTable) -> np.ndarray:
        """Per-slot attribute codes of a bound table."""
        return self._bound[id(table)][1]

    def block_best(self, table: BlockTable, prepared: QueryTerms) -> np.ndarray:
        """Per block of a bound table, the best attribute score present (with the intercept), for this query."""
        return self._bound[id(table)][2][prepared.key]

    def prepare(self, context: QueryContext, role_column: int = 0) -> QueryTerms:
        """The per-query constants: everything but the point and the radius, cached by what they depend on."""
        cache_key = (context.level, context.role_index, context.mode, context.n_slots, context.event_bits, context.group_bits,
                     context.slot_bits, role_column)  # fmt: skip
        prepared = self._prepared.get(cache_key)
        if prepared is None:
            prepared = self._prepare(context, role_column)
            if len(self._prepared) >= PREPARED_CACHED:
                self._prepared.clear()
            self._prepared[cache_key] = prepared  # a dict store is atomic; a race only computes it twice
        return prepared

    def _prepare(self, context: QueryContext, role_column: int) -> QueryTerms:
        terms = self.terms
        key = terms.key_of(context.level, context.role_index, context.mode)
        events = terms.event_values if context.event_bits else (0.0, 0.0, 0.0)
        params = np.array([self.slack, terms.presence[0], terms.presence[1], events[0], events[1], events[2]])
        bits = np.array(
            [
                context.event_bits,
                context.group_bits & ~context.event_bits,
                context.slot_bits,
                1 << (role_column - 1) if role_column else 0,
                role_column,
                int(context.mode in IN_PERSON_MODES),
            ],
            dtype=np.int64,
        )
        assert len(params) == len(PARAM_NAMES) and len(bits) == len(BIT_NAMES)
        # The events whose bit is set, in one shift over all bit numbers (no Python loop per event).
        exact_events = np.flatnonzero((bits[0] >> _EVENT_BIT_NUMBERS) & 1).astype(np.int64)
        group_events = np.flatnonzero((bits[1] >> _EVENT_BIT_NUMBERS) & 1).astype(np.int64)
        for array in (params, bits, exact_events, group_events):
            array.flags.writeable = False
        return QueryTerms(
            key, params, bits, exact_events, group_events, terms.code_tables[key], terms.slot_tables[context.n_slots],
            terms.slot_tables_max[context.n_slots], terms.distance, terms.proximity_bound,
        )

    def scores(
        self, prepared: QueryTerms, table: BlockTable, slots: np.ndarray, distance_m: np.ndarray, inside: np.ndarray
    ) -> np.ndarray:
        """Scores of ``table``'s providers at ``slots`` (equal to ``compute_features @ coef_ + intercept``).

        The same compiled arithmetic as the ranking loops, for given slots.
        """
        return score_slots(
            np.asarray(slots, dtype=np.int64),
            np.asarray(distance_m, dtype=np.float64),
            np.asarray(inside, dtype=bool),
            self.codes(table),
            table.slot_i,
            prepared.code_table,
            prepared.slot_table,
            prepared.params,
            prepared.bits,
            prepared.distance,
        )

    def block_bounds(
        self,
        prepared: QueryTerms,
        table: BlockTable,
        blocks: np.ndarray,
        mind2: np.ndarray,
        maxd2: np.ndarray,
        inside_possible: np.ndarray,
        inside_certain: np.ndarray,
    ) -> np.ndarray:
        """Per block, a score none of its providers can exceed (the ranking loops' own bounds).

        ``mind2``/``maxd2``: squared nearest and farthest distance from the
        coach to each block's box; ``inside_possible``/``inside_certain``:
        whether some / every provider of the block may have the coach inside
        their service area.
        """
        in_person_ok = bool(prepared.bits[-1])  # in person needs a mode that accepts it, too
        return block_bounds(
            np.asarray(blocks, dtype=np.int64),
            np.asarray(mind2, dtype=np.float64),
            np.asarray(maxd2, dtype=np.float64),
            np.asarray(inside_possible, dtype=bool) & in_person_ok,
            np.asarray(inside_certain, dtype=bool) & in_person_ok,
            self.block_best(table, prepared),
            table.block_i,
            prepared.params,
            prepared.bits,
            prepared.exact_events,
            prepared.group_events,
            prepared.slot_table_max,
            prepared.distance,
        )

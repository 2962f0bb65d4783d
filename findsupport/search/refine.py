"""Searches the index's fast path does not answer: filters and the nearest-first order.

The compiled search loops (:func:`findsupport.index.find_matches`) rank by
score, with the role as their only hard filter.  A query that asks for more —
``has_room``, ``min_qualification`` or ``sort=nearest`` — collects every
candidate of its mode instead (the same candidate rules,
:mod:`findsupport.index.spatial`), keeps those that pass, scores them through
the ranker itself, and ranks them exactly: by score, or by distance with the
score breaking ties.  Totals stay exact.  It costs one pass over the
candidates, so only these queries take it (an online search reads every
online provider in the country).
"""

from __future__ import annotations

import numpy as np

from .. import taxonomy
from ..catalog.public import PublicCatalog
from ..features import FeatureScales, QueryContext
from ..index import Matches, MatrixScorer, Ranked, SearchIndex
from .query import SearchQuery

__all__ = ["refined_matches", "keep_mask"]


def keep_mask(catalog: PublicCatalog, query: SearchQuery) -> np.ndarray | None:
    """Which catalogue positions pass the query's filters (``None``: no filter)."""
    keep = None
    if query.has_room:
        keep = catalog.spare > 0
    if query.min_qualification is not None:
        qualified = catalog.level >= taxonomy.QUALIFICATIONS[query.min_qualification]
        keep = qualified if keep is None else keep & qualified
    return keep


def refined_matches(
    index: SearchIndex, catalog: PublicCatalog, ranker: object, scales: FeatureScales, context: QueryContext, query: SearchQuery
) -> tuple[Matches, int]:
    """The query's matches, filtered and ordered as it asks, and how many of them are in-person ones.

    Returns
    -------
    (Matches, int)
        ``Matches.total`` counts every provider that passes; the int is how
        many of them match the in-person rule (the ``near`` total).
    """
    x, y, mode, role = context.x, context.y, context.mode, query.role
    radius_m = query.radius_km * 1000.0
    k = query.offset + query.limit
    keep = keep_mask(catalog, query)
    flags = index.area_flags(x, y, radius_m, role, mode)
    sources = []
    if mode != "online":
        sources.append((index.main, index.in_person_candidates(x, y, radius_m, role, flags)))
    if mode != "in_person":
        # In an `any` search those who also meet the coach are listed from the main table.
        sources.append((index.online, index.online_candidates(x, y, role, radius_m if mode == "any" else None, flags)))
    scorer = MatrixScorer(ranker, catalog, scales)
    prepared = scorer.prepare(context)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    near = 0
    for table, found in sources:
        positions = table.order[found.slots]
        chosen = np.flatnonzero(keep[positions]) if keep is not None else np.arange(len(positions))
        if table is index.main:
            near = len(chosen)
        if len(chosen) == 0:
            continue
        slots = found.slots[chosen]
        distance = np.sqrt(found.distance2[chosen])
        inside = found.inside[chosen]
        parts.append((scorer.scores(prepared, table, slots, distance, inside), positions[chosen], distance, inside))
    if not parts:
        empty = np.zeros(0)
        return Matches(total=0, ranked=Ranked(np.zeros(0, dtype=np.intp), empty, empty, np.zeros(0, dtype=bool), 0, 0)), 0
    scores, positions, distance, inside = (np.concatenate(column) for column in zip(*parts))
    if query.sort == "nearest":
        order = np.lexsort((positions, -scores, distance))
    else:
        order = np.lexsort((positions, -scores))
    best = order[:k]
    ranked = Ranked(positions[best], scores[best], distance[best], inside[best], 0, len(scores))
    return Matches(total=len(scores), ranked=ranked), near

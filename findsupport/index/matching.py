"""One query against the index: the exact total and the exact top k, by mode.

``total`` is the number of providers matching the candidate rule of the
query's mode (see :mod:`.spatial`), with the role filter:

* ``in_person``: providers who reach the coach and are within the radius;
* ``online``: online providers in Great Britain (the whole country: an
  online mentor 300 km away can still help; nearer ones simply rank higher);
* ``any``: the union of both, each provider counted once.

The in-person total costs little beyond the ranking: when the ranking read
every candidate block, it counted them as it read them; when it skipped
some, the per-site reach counts (:mod:`.sites`) give the total as one sum
over the sites within the radius, or, without them, blocks lying wholly
inside the search are counted from their role counts and only the edge
blocks are tested provider by provider.  The online total is a stored count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ranking.features import QueryContext
from .blocks import box_distances2
from .scoring import Scorer
from .spatial import SearchIndex
from .topk import FIRST_CHUNK, SINGLE_PASS, BlockSource, Ranked, top_candidates

__all__ = ["Matches", "find_matches"]


@dataclass(frozen=True)
class Matches:
    """How many providers matched, and the best ``k`` of them (best first)."""

    total: int
    ranked: Ranked


def find_matches(
    index: SearchIndex,
    scorer: Scorer,
    context: QueryContext,
    *,
    radius_m: float,
    role: str | None,
    k: int,
    first_chunk: int = FIRST_CHUNK,
    single_pass: int = SINGLE_PASS,
) -> Matches:
    """Count the query's candidates and rank the best ``k`` exactly.

    Parameters
    ----------
    index : SearchIndex
    scorer : Scorer
        From :func:`~findsupport.index.scoring.make_scorer`.
    context : QueryContext
        The coach's point (``x``, ``y`` metres) and what they asked for; its
        ``mode`` picks the candidate rule.
    radius_m : float
        Search radius for in-person support.
    role : str or None
        Hard filter (``None``: any role).
    k : int
        How many of the best to return (``offset + limit`` of the page).
    first_chunk, single_pass : int
        Providers to read before the first pruning threshold, and up to how
        many providers to read in one pass without pruning (tuning only).
    """
    x, y, mode = context.x, context.y, context.mode
    prepared = scorer.prepare(context)
    in_person = online = None
    if mode in ("in_person", "any"):
        near = index.in_person_blocks(x, y, radius_m, role)

        def in_person_bounds() -> np.ndarray | None:
            # Every in-person candidate has the coach inside their service area.
            yes = np.ones(len(near.blocks), dtype=bool)
            return scorer.block_bounds(prepared, index.main, near.blocks, near.mind2, near.maxd2, yes, yes)

        in_person = BlockSource(
            index.main,
            near.blocks,
            lambda slots, polygons: index.in_person_candidates(slots, x, y, radius_m, role, polygons=polygons),
            in_person_bounds,
        )
    if mode in ("online", "any"):
        table = index.online
        blocks = index.online_blocks(role)

        def online_bounds() -> np.ndarray | None:
            mind2, maxd2 = box_distances2(x, y, table.minx[blocks], table.miny[blocks], table.maxx[blocks], table.maxy[blocks])
            possible = (
                (table.sa_minx[blocks] <= x) & (x <= table.sa_maxx[blocks]) & (table.sa_miny[blocks] <= y) & (y <= table.sa_maxy[blocks])
            )
            return scorer.block_bounds(prepared, table, blocks, mind2, maxd2, possible, np.zeros(len(blocks), dtype=bool))

        exclude = radius_m if mode == "any" else None
        online = BlockSource(
            table,
            blocks,
            lambda slots, polygons: index.online_candidates(slots, x, y, role, exclude_in_person_m=exclude, polygons=polygons),
            online_bounds,
        )
    sources = [s for s in (in_person, online) if s is not None]
    ranked = top_candidates(sources, scorer, prepared, k, slack=scorer.slack, first_chunk=first_chunk, single_pass=single_pass)
    total = 0
    if in_person is not None:
        unread = np.flatnonzero(~in_person.read)
        count, count_online = in_person.found, in_person.found_online
        if len(unread) and index.sites is not None:
            count, count_online = index.count_in_person_by_site(x, y, radius_m, role, near)
        elif len(unread):
            more, more_online = index.count_in_person(x, y, radius_m, role, near.subset(unread))
            count, count_online = count + more, count_online + more_online
        # In an `any` search the online providers among them are in the online total too.
        total += count - (count_online if online is not None else 0)
    if online is not None:
        total += index.online_total(role)
    return Matches(total=total, ranked=ranked)

"""One query against the index: the exact total and the exact top k, by mode.

``total`` is the number of providers matching the candidate rule of the
query's mode (see :mod:`.spatial`), with the role filter:

* ``in_person``: providers who reach the coach and are within the radius;
* ``online``: online providers in Great Britain (the whole country: an
  online mentor 300 km away can still help; nearer ones simply rank higher);
* ``any``: the union of both, each provider counted once.

With the fused scorer, each source of candidates is one call of a compiled
loop (:mod:`.kernels`) that ranks best blocks first, skips blocks that
cannot reach the page and counts the in-person matches as it goes: blocks
it read were counted while reading, unread blocks lying wholly inside the
search from their role counts, the rest provider by provider or, when that
would cost more, from the per-site reach counts (:mod:`.sites`).  The online
total is a stored count.  With the feature-matrix scorer (a ranker that is
not linear) every candidate is collected, scored and counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..features import QueryContext, warm_up_page_features
from .kernels import COUNT_NAMES, rank_in_person, rank_online
from .scoring import FusedScorer, MatrixScorer
from .spatial import SearchIndex, role_column
from .topk import Ranked, TopK

__all__ = ["Matches", "find_matches", "warm_up"]

_C = {name: i for i, name in enumerate(COUNT_NAMES)}


@dataclass(frozen=True)
class Matches:
    """How many providers matched, and the best ``k`` of them (best first).

    ``near`` counts the providers matching the in-person rule (those who meet
    the coach: they reach the point and are within the radius), online ones
    included; ``None`` for an online search, which does not look for them.
    In an ``any`` search it splits ``total`` into ``near`` and the rest
    (online help from further away), counted in the same pass as the ranking.
    """

    total: int
    ranked: Ranked
    near: int | None = None


def find_matches(
    index: SearchIndex,
    scorer: FusedScorer | MatrixScorer,
    context: QueryContext,
    *,
    radius_m: float,
    role: str | None,
    k: int,
) -> Matches:
    """Count the query's candidates and rank the best ``k`` exactly.

    Parameters
    ----------
    index : SearchIndex
    scorer : FusedScorer or MatrixScorer
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
    """
    if isinstance(scorer, FusedScorer):
        return _fused(index, scorer, context, float(radius_m), role, max(int(k), 0))
    return _matrix(index, scorer, context, float(radius_m), role, max(int(k), 0))


def _fused(index: SearchIndex, scorer: FusedScorer, context: QueryContext, radius_m: float, role: str | None, k: int) -> Matches:
    x, y, mode = context.x, context.y, context.mode
    column = role_column(role)
    query = scorer.prepare(context, column)
    r2 = radius_m * radius_m
    flags = index.area_flags(x, y, radius_m, role, mode)
    hs, hp, hd, hi = np.empty(k), np.empty(k, dtype=np.int64), np.empty(k), np.empty(k, dtype=bool)
    size = read = scored = total = 0
    near = None
    if mode != "online":
        main = index.main
        # Counting the unread edge blocks one by one is worth it up to about as
        # many providers as there are sites to sum over (tuning only: exact either way).
        budget = len(index.sites) if index.sites is not None else len(main) + 1
        size, counts = rank_in_person(
            index.tiles_at(x, y), main.tile_i, main.block_f, main.block_i, main.slot_f, main.slot_i, scorer.codes(main), scorer.block_best(main, query), flags, x, y, r2, query.params, query.bits,
            query.exact_events, query.group_events, query.code_table,
            query.slot_table, query.slot_table_max, query.distance, query.proximity_bound, budget, hs, hp, hd, hi, size,
        )  # fmt: skip
        count, count_online = _in_person_total(index, counts, x, y, radius_m, column)
        near = count
        # In an `any` search the online providers among them are in the online total too.
        total += count - (count_online if mode == "any" else 0)
        read, scored = int(counts[_C["blocks_read"]]), int(counts[_C["scored"]])
    if mode != "in_person":
        online = index.online
        size, online_read, online_scored = rank_online(
            online.block_f, online.block_i, online.slot_f, online.slot_i, scorer.codes(online), scorer.block_best(online, query), flags, x, y, r2,
            query.params, query.bits, query.exact_events, query.group_events, query.code_table, query.slot_table, query.slot_table_max,
            query.distance, query.proximity_bound, mode == "any", hs, hp, hd, hi, size,
        )  # fmt: skip
        total += index.online_total(role)
        read, scored = read + int(online_read), scored + int(online_scored)
    # The kernels leave the heap sorted worst first.
    best = slice(size - 1, None, -1) if size else slice(0, 0)
    return Matches(total=total, ranked=Ranked(hp[best], hs[best], hd[best], hi[best], read, scored), near=near)


def _in_person_total(index: SearchIndex, counts: np.ndarray, x: float, y: float, radius_m: float, column: int) -> tuple[int, int]:
    """``(in-person matches, of which online)`` from a ranking's counts (and the site counts when it left some out)."""
    c = counts.tolist()
    if c[_C["rest"]] >= 0:
        return (
            c[_C["found"]] + c[_C["rest"]] + c[_C["rest_polygon"]],
            c[_C["found_online"]] + c[_C["rest_online"]] + c[_C["rest_polygon_online"]],
        )
    assert index.sites is not None  # the kernel only leaves circles uncounted when site counts exist
    total, online = index.sites.count(x, y, radius_m * radius_m, column)
    return (
        total + c[_C["found_polygon"]] + c[_C["rest_polygon"]],
        online + c[_C["found_polygon_online"]] + c[_C["rest_polygon_online"]],
    )


def _matrix(index: SearchIndex, scorer: MatrixScorer, context: QueryContext, radius_m: float, role: str | None, k: int) -> Matches:
    x, y, mode = context.x, context.y, context.mode
    prepared = scorer.prepare(context)
    flags = index.area_flags(x, y, radius_m, role, mode)
    best = TopK(k)
    total = scored = 0
    near = None
    sources = []
    if mode != "online":
        found = index.in_person_candidates(x, y, radius_m, role, flags)
        sources.append((index.main, found))
        near = len(found.slots)
        total += len(found.slots) - (int(np.count_nonzero(index.main.online[found.slots])) if mode == "any" else 0)
    if mode != "in_person":
        found = index.online_candidates(x, y, role, radius_m if mode == "any" else None, flags)
        sources.append((index.online, found))
        total += index.online_total(role)
    for table, found in sources:
        if k and len(found.slots):
            distance = np.sqrt(found.distance2)
            best.add(scorer.scores(prepared, table, found.slots, distance, found.inside), table.order[found.slots], distance, found.inside)
            scored += len(found.slots)
    positions, scores, distance, inside = best.ranked()
    blocks = (index.main.n_blocks if mode != "online" else 0) + (index.online.n_blocks if mode != "in_person" else 0)
    return Matches(total=total, ranked=Ranked(positions, scores, distance, inside, blocks, scored), near=near)


def warm_up(index: SearchIndex, scorer: FusedScorer | MatrixScorer) -> None:
    """Run one small search per mode, so the compiled loops are loaded (or compiled) now, not in a request."""
    if len(index.main):
        x, y = float(index.main.x[0]), float(index.main.y[0])
    else:
        x, y = 0.0, 0.0
    for mode in ("in_person", "online", "any"):
        for role in (None, "mentor"):
            context = QueryContext.from_query(x, y, role=role, mode=mode, slots=("tue_eve",), event="hurdles")
            find_matches(index, scorer, context, radius_m=25_000.0, role=role, k=1)
    if index.sites is not None:
        index.sites.count(x, y, 1.0, 0)
    index.area_flags(x, y)
    index.area_flags(x, y, 25_000.0, None, "any")
    warm_up_page_features()  # the page's features (compute_features) are one compiled pass too

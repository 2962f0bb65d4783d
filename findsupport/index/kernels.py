"""Compiled loops of a search: candidate rules, fused scores, block bounds, exact top k, counts.

A search used to be a hundred numpy calls of a few microseconds each, most of
them on arrays of a few hundred elements; here the same steps run as one
compiled pass per source of candidates (numba, ``nogil``, cached on disk):

1. the near blocks: the R-tree's tiles expanded to blocks, each kept when
   its box is near enough and its service areas could reach the coach
   (:mod:`.spatial` states the candidate rules);
2. an upper bound of every near block's best score, from its summaries;
3. blocks read best bound first; in each, the candidate rule per provider,
   the fused score (:mod:`.terms` builds the tables it adds up), and an
   exact top k kept in a binary heap.  A block whose bound is below the
   current k-th score (minus a rounding slack) is never read, and neither is
   any later one: the bounds come out of a max-heap in decreasing order;
4. the in-person total: providers of read blocks were counted while reading;
   unread blocks are counted from their role counts (when every provider of
   the block matches) or provider by provider, unless that would cost more
   than a sum over the per-site reach counts (:mod:`.sites`).

Order of equal scores: catalogue position ascending, as everywhere.

Every floating-point expression here is the one the numpy definitions use
(``dx * dx + dy * dy`` for squared distances, ``exp(-d / scale)``, the same
order of additions), and numba compiles without fast-math, so boundary
cases (a provider exactly at the radius, exactly at the edge of their reach)
are decided exactly as the brute-force checks decide them.  Scores are the
same to the last bit or two, not always the last: numba's ``exp`` is the C
library's and numpy's its own (SIMD on AVX-512 machines), and the two differ
in the last bit for a few per cent of inputs (the tests compare scores to
``1e-12``; :mod:`findsupport.features` keeps numpy's ``exp`` for the page).

The entry points take a table as its few matrices (``tile_i``, ``block_f``,
``block_i``, ``slot_f``, ``slot_i``: one row per tile, block or slot, columns
named by the layout constants below) and the query's arrays and scalars;
:mod:`.scoring`, :mod:`.matching` and :mod:`.spatial` assemble them.  Plain
2-D arrays, not named tuples of arrays or records: numba types and unboxes
each argument on every call, which cost more than the search itself with
some fifty arrays.  They compile on first call (about 12 s cold
on the project's 2-core machine) and are cached under ``__pycache__`` (0.3 s
to load); the engine calls them once when it is built
(:func:`~findsupport.index.matching.warm_up`), never first inside a request.

Why one module of some 600 lines: numba's on-disk cache of a function is
invalidated when *its own* source file changes, not when a compiled helper
it calls from another file does, so splitting the helpers out would let a
stale compiled loop survive an edit.  The sections below are the ideas:
small helpers (scores, bounds, candidate tests), the exact top k, the
best-first block order, in-person search, online search, counts and checks.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .. import taxonomy
from .terms import IN_PERSON, PROXIMITY_STEP_M

__all__ = [
    "rank_in_person",
    "rank_online",
    "collect_in_person",
    "count_in_person",
    "collect_online",
    "near_blocks",
    "count_sites",
    "areas_at",
    "areas_needed",
    "score_slots",
    "block_bounds",
    "sorted_heap",
    "PARAM_NAMES",
    "BIT_NAMES",
    "COUNT_NAMES",
]

#: Columns of the per-block role counts: 0 counts everyone, 1 + k counts ROLES[k].
ROLE_COLUMNS = 1 + len(taxonomy.ROLES)
#: Column layout of the matrices of a :class:`~.blocks.BlockTable` the loops read.  Defined here, beside
#: the loops, because numba freezes these numbers into the cached machine code and only notices
#: edits of this file (see the module docstring).
#: Per slot, floats (``slot_f``) and integers (``slot_i``; masks and flags widened to int64):
SLOT_FLOATS = ("x", "y", "reach2")
SLOT_INTS = ("role_mask", "area_id", "event_mask", "slot_mask", "online", "order")
#: Per block, floats (``block_f``) and integers (``block_i``): the named columns, then
#: ``ROLE_COLUMNS`` role counts, as many online role counts, and one ``event_slot_or`` column per event.
BLOCK_FLOATS = ("minx", "miny", "maxx", "maxy", "sa_minx", "sa_miny", "sa_maxx", "sa_maxy", "min_reach2", "max_reach2")
BLOCK_INTS = ("start", "end", "has_polygon", "event_or", "slot_or")
#: Per tile (``tile_i``): its first and past-the-end block.
TILE_INTS = ("tile_start", "tile_end")
X, Y, REACH2 = range(len(SLOT_FLOATS))
ROLE_MASK, AREA_ID, EVENT_MASK, SLOT_MASK, ONLINE, ORDER = range(len(SLOT_INTS))
MINX, MINY, MAXX, MAXY, SA_MINX, SA_MINY, SA_MAXX, SA_MAXY, MIN_REACH2, MAX_REACH2 = range(len(BLOCK_FLOATS))
START, END, HAS_POLYGON, EVENT_OR, SLOT_OR = range(len(BLOCK_INTS))
ROLE_COUNTS = len(BLOCK_INTS)
ONLINE_ROLE_COUNTS = ROLE_COUNTS + ROLE_COLUMNS
EVENT_SLOT_OR = ONLINE_ROLE_COUNTS + ROLE_COLUMNS
TILE_START, TILE_END = range(len(TILE_INTS))

_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}
_INLINE = {"cache": True, "nogil": True, "error_model": "numpy", "inline": "always"}

#: Layout of the per-query float parameters (``params``; the point and radius are passed apart).
#: ``online_only``/``in_person``: the presence terms of each kind of match (:data:`.terms.ONLINE_ONLY`
#: is 0, :data:`.terms.IN_PERSON` 1, so ``params[_KIND + kind]``).
PARAM_NAMES = ("slack", "online_only", "in_person", "event_none", "event_group", "event_exact")
_SLACK, _KIND, _KIND_IN, _EV_NONE, _EV_GROUP, _EV_EXACT = range(len(PARAM_NAMES))
#: Layout of the per-query integer parameters (``bits``); ``in_person_ok``: the mode accepts in-person help.
BIT_NAMES = ("event_bits", "group_only_bits", "slot_bits", "role_bit", "role_column", "in_person_ok")
_EVENT_BITS, _GROUP_BITS, _SLOT_BITS, _ROLE_BIT, _COLUMN, _IN_PERSON_OK = range(len(BIT_NAMES))
#: Layout of the counts an in-person ranking returns (``rest``: -1 when not counted).
COUNT_NAMES = (
    "found", "found_online", "found_polygon", "found_polygon_online",
    "rest", "rest_online", "rest_polygon", "rest_polygon_online", "blocks_read", "scored",
)  # fmt: skip
_FOUND, _FOUND_ON, _FOUND_POLY, _FOUND_POLY_ON, _REST, _REST_ON, _REST_POLY, _REST_POLY_ON, _READ, _SCORED = range(len(COUNT_NAMES))
_INV_STEP = 1.0 / PROXIMITY_STEP_M


# ---------------------------------------------------------------------- small helpers
@njit(**_INLINE)
def _popcount32(value):  # type: ignore[no-untyped-def]
    v = np.int64(value) & 0xFFFFFFFF
    v = v - ((v >> 1) & 0x55555555)
    v = (v & 0x33333333) + ((v >> 2) & 0x33333333)
    return (((v + (v >> 4)) & 0x0F0F0F0F) * 0x01010101 & 0xFFFFFFFF) >> 24


@njit(**_INLINE)
def _static_score(s, kind, codes, slot_i, code_table, slot_table, params, bits):  # type: ignore[no-untyped-def]
    """Every term but the distance terms (attribute table with the intercept, presence, event, slots)."""
    score = code_table[codes[s]] + params[_KIND + kind]
    events = slot_i[s, EVENT_MASK]
    if events & bits[_EVENT_BITS]:
        score += params[_EV_EXACT]
    elif events & bits[_GROUP_BITS]:
        score += params[_EV_GROUP]
    else:
        score += params[_EV_NONE]
    score += slot_table[_popcount32(slot_i[s, SLOT_MASK] & bits[_SLOT_BITS])]
    return score


@njit(**_INLINE)
def _proximity(d, dist, kind):  # type: ignore[no-untyped-def]
    """The distance terms of a kind of match: ``sum w * exp(-d / scale)`` in feature order."""
    total = 0.0
    for j in range(dist.shape[1]):
        weight = dist[kind, j, 0]
        if weight != 0.0:
            total += weight * np.exp(-d / dist[kind, j, 1])
    return total


@njit(**_INLINE)
def _kind(inside, bits):  # type: ignore[no-untyped-def]
    """The kind of match: in person (1) when the mode accepts it and the coach is inside the area, else online only (0)."""
    return 1 if inside and bits[_IN_PERSON_OK] != 0 else 0


@njit(**_INLINE)
def _block_bound(b, mind2, maxd2, possible, certain, block_best, block_i, params, bits,  # type: ignore[no-untyped-def]
                 exact_events, group_events, slot_table_max, dist):
    """A score no provider of block ``b`` can exceed, from its summaries.

    Attribute terms: the best code present (exact).  Distance and presence
    terms: for each kind of match a provider of the block can be
    (``possible``: some may be in person; ``certain``: all are), the
    presence constant plus the distance terms at the nearest (positive
    weight) or farthest (negative) point of the block's box, whichever kind
    is best.  Event and
    availability terms together: for each match state a provider of the
    block can be in (exact, same group only, none), its event value plus the
    best availability the free slots of the providers who could be in that
    state allow (for exact and group, the union of the slots of the block's
    coaches of those events), whichever is largest.
    """
    mind = np.sqrt(mind2)
    maxd = np.sqrt(maxd2)
    kind_best = -np.inf
    for kind in range(2):
        if (kind == IN_PERSON and not possible) or (kind != IN_PERSON and certain):
            continue
        value = params[_KIND + kind]
        for j in range(dist.shape[1]):
            weight = dist[kind, j, 0]
            if weight != 0.0:
                value += weight * np.exp(-(mind if weight > 0 else maxd) / dist[kind, j, 1])
        kind_best = max(kind_best, value)
    bound = block_best[b] + kind_best
    asked = bits[_SLOT_BITS]
    events = block_i[b, EVENT_OR]
    # Anyone may be in the "no match" state (an upper bound needs no more).
    best = params[_EV_NONE] + slot_table_max[_popcount32(block_i[b, SLOT_OR] & asked)]
    if events & bits[_GROUP_BITS]:
        slots = np.int64(0)
        for e in group_events:
            slots |= block_i[b, EVENT_SLOT_OR + e]
        best = max(best, params[_EV_GROUP] + slot_table_max[_popcount32(slots & asked)])
    if events & bits[_EVENT_BITS]:
        slots = np.int64(0)
        for e in exact_events:
            slots |= block_i[b, EVENT_SLOT_OR + e]
        best = max(best, params[_EV_EXACT] + slot_table_max[_popcount32(slots & asked)])
    return bound + best


@njit(**_INLINE)
def _box_distances2(x, y, minx, miny, maxx, maxy):  # type: ignore[no-untyped-def]
    """Squared smallest and largest distance from a point to a box (as :func:`.blocks.box_distances2`)."""
    dx = max(max(minx - x, x - maxx), 0.0)
    dy = max(max(miny - y, y - maxy), 0.0)
    fx = max(x - minx, maxx - x)
    fy = max(y - miny, maxy - y)
    return dx * dx + dy * dy, fx * fx + fy * fy


@njit(**_INLINE)
def _has_role(s, slot_i, role_bit):  # type: ignore[no-untyped-def]
    return role_bit == 0 or (slot_i[s, ROLE_MASK] & role_bit) != 0


@njit(**_INLINE)
def _d2(s, x, y, slot_f):  # type: ignore[no-untyped-def]
    dx = slot_f[s, X] - x
    dy = slot_f[s, Y] - y
    return dx * dx + dy * dy


@njit(**_INLINE)
def _reaches(s, d2, r2, slot_f, slot_i, area_inside):  # type: ignore[no-untyped-def]
    """The in-person rule but the role: within the radius and the service area (reach2 is +inf for polygons)."""
    if not d2 <= min(r2, slot_f[s, REACH2]):
        return False
    area = slot_i[s, AREA_ID]
    return area < 0 or area_inside[area]


@njit(**_INLINE)
def _inside(s, d2, slot_f, slot_i, area_inside):  # type: ignore[no-untyped-def]
    """The coach's point is in the provider's service area (the circle, or the polygon's flag)."""
    area = slot_i[s, AREA_ID]
    if area >= 0:
        return area_inside[area]
    return d2 <= slot_f[s, REACH2]


# Numba note: helpers return one scalar.  Inlined helpers returning tuples
# compiled to loops several times slower (measured: 19 against 3 ns a provider).


# ---------------------------------------------------------------------- the exact top k
@njit(**_INLINE)
def _worse(score_a, pos_a, score_b, pos_b):  # type: ignore[no-untyped-def]
    """``a`` ranks below ``b``: a lower score, or the same score at a later catalogue position."""
    return score_a < score_b or (score_a == score_b and pos_a > pos_b)


@njit(**_INLINE)
def _threshold(hs, size):  # type: ignore[no-untyped-def]
    """Scores below this cannot enter the heap (-inf until it holds k; +inf when k is 0)."""
    if size < len(hs):
        return -np.inf
    if size == 0:
        return np.inf
    return hs[0]


@njit(**_JIT)
def _push(hs, hp, hd, hi, size, score, position, d, inside):  # type: ignore[no-untyped-def]
    """Offer a candidate to the min-heap of the k best (root: the worst kept); returns the new size."""
    k = len(hs)
    if size < k:
        i = size
        size += 1
        while i > 0:
            parent = (i - 1) >> 1
            if not _worse(score, position, hs[parent], hp[parent]):
                break
            hs[i], hp[i], hd[i], hi[i] = hs[parent], hp[parent], hd[parent], hi[parent]
            i = parent
    else:
        if k == 0 or not _worse(hs[0], hp[0], score, position):
            return size
        i = 0
        while True:
            child = 2 * i + 1
            if child >= size:
                break
            right = child + 1
            if right < size and _worse(hs[right], hp[right], hs[child], hp[child]):
                child = right
            if not _worse(hs[child], hp[child], score, position):
                break
            hs[i], hp[i], hd[i], hi[i] = hs[child], hp[child], hd[child], hi[child]
            i = child
    hs[i], hp[i], hd[i], hi[i] = score, position, d, inside
    return size


@njit(**_JIT)
def sorted_heap(hs, hp, hd, hi, size):  # type: ignore[no-untyped-def]
    """Sort the heap's entries worst first, in place (still a valid heap); read it backwards for best first."""
    for i in range(1, size):
        s, p, d, f = hs[i], hp[i], hd[i], hi[i]
        j = i
        while j > 0 and _worse(s, p, hs[j - 1], hp[j - 1]):
            hs[j], hp[j], hd[j], hi[j] = hs[j - 1], hp[j - 1], hd[j - 1], hi[j - 1]
            j -= 1
        hs[j], hp[j], hd[j], hi[j] = s, p, d, f


# ---------------------------------------------------------------------- best-first block order
@njit(**_INLINE)
def _sift_down(bounds, ids, i, n):  # type: ignore[no-untyped-def]
    """Restore the max-heap of block ids by bound below ``i``."""
    item = ids[i]
    while True:
        child = 2 * i + 1
        if child >= n:
            break
        if child + 1 < n and bounds[ids[child + 1]] > bounds[ids[child]]:
            child += 1
        if bounds[ids[child]] <= bounds[item]:
            break
        ids[i] = ids[child]
        i = child
    ids[i] = item


@njit(**_JIT)
def _by_bound(bounds):  # type: ignore[no-untyped-def]
    """A max-heap (by bound) of indices ``0..len(bounds)``."""
    n = len(bounds)
    ids = np.arange(n)
    for i in range(n // 2 - 1, -1, -1):
        _sift_down(bounds, ids, i, n)
    return ids


# ---------------------------------------------------------------------- in person
@njit(**_JIT)
def near_blocks(tiles, tile_i, block_f, block_i, x, y, r2, column):  # type: ignore[no-untyped-def]
    """Blocks of the given tiles that may hold in-person candidates: ``(blocks, whole, mind2, maxd2)``.

    A block is kept when its nearest point is within both the radius and
    its farthest reach, (for polygon blocks) its service-area box holds the
    point, and (with a role) it has someone with that role.  ``whole``: its
    farthest point is within the radius and everyone's reach, so every
    provider with the role matches (never for polygon blocks).
    """
    total = 0
    for t in tiles:
        total += tile_i[t, TILE_END] - tile_i[t, TILE_START]
    blocks = np.empty(total, np.int64)
    whole = np.empty(total, np.bool_)
    mind2 = np.empty(total)
    maxd2 = np.empty(total)
    m = 0
    for t in tiles:
        for b in range(tile_i[t, TILE_START], tile_i[t, TILE_END]):
            near2, far2 = _box_distances2(x, y, block_f[b, MINX], block_f[b, MINY], block_f[b, MAXX], block_f[b, MAXY])
            # max_reach2 is +inf for polygon blocks: only the radius limits them here...
            if not near2 <= min(r2, block_f[b, MAX_REACH2]):
                continue
            # ...and their service-area box must hold the point.
            if block_i[b, HAS_POLYGON] and not (
                block_f[b, SA_MINX] <= x and x <= block_f[b, SA_MAXX] and block_f[b, SA_MINY] <= y and y <= block_f[b, SA_MAXY]
            ):
                continue
            if column > 0 and block_i[b, ROLE_COUNTS + column] == 0:
                continue
            blocks[m] = b
            mind2[m] = near2
            maxd2[m] = far2
            # Rounding is monotone, so no provider's own d² exceeds far2;
            # min_reach2 is -inf for polygon blocks, which are never whole.
            whole[m] = far2 <= min(r2, block_f[b, MIN_REACH2])
            m += 1
    return blocks[:m], whole[:m], mind2[:m], maxd2[:m]


@njit(**_INLINE)
def _count_rest(blocks, whole, read, block_i, slot_f, slot_i, area_inside, x, y, r2, role_bit, column, rest_budget, counts):  # type: ignore[no-untyped-def]
    """Count the in-person candidates of the unread near blocks into ``counts``.

    Whole blocks from their role counts, polygon blocks provider by provider,
    the other circle blocks provider by provider too unless they hold more
    than ``rest_budget`` providers (then ``rest`` is -1: the caller sums the
    site counts instead).
    """
    partial = 0
    for i in range(len(blocks)):
        if read[i]:
            continue
        b = blocks[i]
        if block_i[b, HAS_POLYGON]:
            for s in range(block_i[b, START], block_i[b, END]):
                if _has_role(s, slot_i, role_bit) and _reaches(s, _d2(s, x, y, slot_f), r2, slot_f, slot_i, area_inside):
                    counts[_REST_POLY] += 1
                    if slot_i[s, ONLINE]:
                        counts[_REST_POLY_ON] += 1
        elif whole[i]:
            counts[_REST] += block_i[b, ROLE_COUNTS + column]
            counts[_REST_ON] += block_i[b, ONLINE_ROLE_COUNTS + column]
        else:
            partial += block_i[b, END] - block_i[b, START]
    if partial > rest_budget:
        counts[_REST] = -1
        counts[_REST_ON] = -1
    elif partial:
        for i in range(len(blocks)):
            b = blocks[i]
            if read[i] or block_i[b, HAS_POLYGON] or whole[i]:
                continue
            for s in range(block_i[b, START], block_i[b, END]):
                if _has_role(s, slot_i, role_bit) and _reaches(s, _d2(s, x, y, slot_f), r2, slot_f, slot_i, area_inside):
                    counts[_REST] += 1
                    if slot_i[s, ONLINE]:
                        counts[_REST_ON] += 1


@njit(**_JIT)
def count_in_person(tiles, tile_i, block_f, block_i, slot_f, slot_i, area_inside, x, y, r2, role_bit, column):  # type: ignore[no-untyped-def]
    """``(matches, of which online)`` for the in-person rule, reading only the blocks at the edge of the search."""
    blocks, whole, mind2, maxd2 = near_blocks(tiles, tile_i, block_f, block_i, x, y, r2, column)
    counts = np.zeros(len(COUNT_NAMES), np.int64)
    read = np.zeros(len(blocks), np.bool_)
    _count_rest(blocks, whole, read, block_i, slot_f, slot_i, area_inside, x, y, r2, role_bit, column, len(slot_f), counts)
    return counts[_REST] + counts[_REST_POLY], counts[_REST_ON] + counts[_REST_POLY_ON]


@njit(**_JIT)
def rank_in_person(tiles, tile_i, block_f, block_i, slot_f, slot_i,  # type: ignore[no-untyped-def]
                   codes, block_best, area_inside, x, y, r2, params, bits, exact_events, group_events,
                   code_table, slot_table, slot_table_max, dist, prox_bound, rest_budget, hs, hp, hd, hi, size):
    """Rank the in-person candidates into the heap and count them; returns ``(size, counts)`` (:data:`COUNT_NAMES`)."""
    slack = params[_SLACK]
    role_bit, column = bits[_ROLE_BIT], bits[_COLUMN]
    counts = np.zeros(len(COUNT_NAMES), np.int64)
    blocks, whole, mind2, maxd2 = near_blocks(tiles, tile_i, block_f, block_i, x, y, r2, column)
    n = len(blocks)
    bounds = np.empty(n)
    for i in range(n):
        # Every in-person candidate has the coach inside their service area.
        bounds[i] = _block_bound(blocks[i], mind2[i], maxd2[i], True, True, block_best, block_i, params, bits,
                                 exact_events, group_events, slot_table_max, dist)
    heap = _by_bound(bounds)
    read = np.zeros(n, np.bool_)
    last_cell = prox_bound.shape[1] - 1
    remaining = n
    while remaining > 0:
        top = heap[0]
        if bounds[top] < _threshold(hs, size) - slack:
            break  # no unread block can reach the page
        remaining -= 1
        heap[0] = heap[remaining]
        _sift_down(bounds, heap, 0, remaining)
        read[top] = True
        counts[_READ] += 1
        b = blocks[top]
        polygon = block_i[b, HAS_POLYGON]
        for s in range(block_i[b, START], block_i[b, END]):
            if not _has_role(s, slot_i, role_bit):
                continue
            d2 = _d2(s, x, y, slot_f)
            if not _reaches(s, d2, r2, slot_f, slot_i, area_inside):
                continue
            online = slot_i[s, ONLINE]
            counts[_FOUND] += 1
            if online:
                counts[_FOUND_ON] += 1
            if polygon:
                counts[_FOUND_POLY] += 1
                if online:
                    counts[_FOUND_POLY_ON] += 1
            # Every in-person candidate is an in-person match (this loop never runs for online searches).
            static = _static_score(s, IN_PERSON, codes, slot_i, code_table, slot_table, params, bits)
            d = np.sqrt(d2)
            if size == len(hs):
                cell = min(np.int64(d * _INV_STEP), last_cell)
                if static + prox_bound[IN_PERSON, cell] < _threshold(hs, size) - slack:
                    continue
            counts[_SCORED] += 1
            size = _push(hs, hp, hd, hi, size, static + _proximity(d, dist, IN_PERSON), slot_i[s, ORDER], d, True)
    _count_rest(blocks, whole, read, block_i, slot_f, slot_i, area_inside, x, y, r2, role_bit, column, rest_budget, counts)
    sorted_heap(hs, hp, hd, hi, size)
    return size, counts


@njit(**_JIT)
def collect_in_person(tiles, tile_i, block_f, block_i, slot_f, slot_i, area_inside, x, y, r2, role_bit, column):  # type: ignore[no-untyped-def]
    """Every in-person candidate: ``(slots, d2)`` in slot order of their blocks (for the feature-matrix scorer)."""
    blocks, whole, mind2, maxd2 = near_blocks(tiles, tile_i, block_f, block_i, x, y, r2, column)
    total = 0
    for b in blocks:
        total += block_i[b, END] - block_i[b, START]
    slots = np.empty(total, np.int64)
    squared = np.empty(total)
    m = 0
    for b in np.sort(blocks):
        for s in range(block_i[b, START], block_i[b, END]):
            if not _has_role(s, slot_i, role_bit):
                continue
            d2 = _d2(s, x, y, slot_f)
            if _reaches(s, d2, r2, slot_f, slot_i, area_inside):
                slots[m] = s
                squared[m] = d2
                m += 1
    return slots[:m], squared[:m]


# ---------------------------------------------------------------------- online
@njit(**_JIT)
def rank_online(block_f, block_i, slot_f, slot_i,  # type: ignore[no-untyped-def]
                codes, block_best, area_inside, x, y, r2, params, bits, exact_events, group_events,
                code_table, slot_table, slot_table_max, dist, prox_bound, exclude, hs, hp, hd, hi, size):
    """Rank the online candidates (Great Britain wide) into the heap; returns ``(size, blocks read, scored)``."""
    slack = params[_SLACK]
    role_bit, column = bits[_ROLE_BIT], bits[_COLUMN]
    n_blocks = len(block_i)
    blocks = np.empty(n_blocks, np.int64)
    bounds = np.empty(n_blocks)
    n = 0
    for b in range(n_blocks):
        if column > 0 and block_i[b, ROLE_COUNTS + column] == 0:
            continue
        near2, far2 = _box_distances2(x, y, block_f[b, MINX], block_f[b, MINY], block_f[b, MAXX], block_f[b, MAXY])
        possible = bits[_IN_PERSON_OK] != 0 and (
            block_f[b, SA_MINX] <= x and x <= block_f[b, SA_MAXX] and block_f[b, SA_MINY] <= y and y <= block_f[b, SA_MAXY]
        )
        blocks[n] = b
        bounds[n] = _block_bound(b, near2, far2, possible, False, block_best, block_i, params, bits,
                                 exact_events, group_events, slot_table_max, dist)
        n += 1
    bounds = bounds[:n]
    heap = _by_bound(bounds)
    last_cell = prox_bound.shape[1] - 1
    read = 0
    scored = 0
    remaining = n
    while remaining > 0:
        top = heap[0]
        if bounds[top] < _threshold(hs, size) - slack:
            break
        remaining -= 1
        heap[0] = heap[remaining]
        _sift_down(bounds, heap, 0, remaining)
        read += 1
        b = blocks[top]
        for s in range(block_i[b, START], block_i[b, END]):
            if not _has_role(s, slot_i, role_bit):
                continue
            d2 = _d2(s, x, y, slot_f)
            inside = _inside(s, d2, slot_f, slot_i, area_inside)
            if exclude and inside and d2 <= r2:
                continue  # an `any` search lists them from the main table
            kind = _kind(inside, bits)
            static = _static_score(s, kind, codes, slot_i, code_table, slot_table, params, bits)
            d = np.sqrt(d2)
            if size == len(hs):
                cell = min(np.int64(d * _INV_STEP), last_cell)
                if static + prox_bound[kind, cell] < _threshold(hs, size) - slack:
                    continue
            scored += 1
            size = _push(hs, hp, hd, hi, size, static + _proximity(d, dist, kind), slot_i[s, ORDER], d, inside)
    sorted_heap(hs, hp, hd, hi, size)
    return size, read, scored


@njit(**_JIT)
def collect_online(block_i, slot_f, slot_i, area_inside, x, y, r2, role_bit, column, exclude):  # type: ignore[no-untyped-def]
    """Every online candidate: ``(slots, d2, inside)`` in slot order (for the feature-matrix scorer)."""
    total = 0
    for b in range(len(block_i)):
        if column == 0 or block_i[b, ROLE_COUNTS + column] > 0:
            total += block_i[b, END] - block_i[b, START]
    slots = np.empty(total, np.int64)
    squared = np.empty(total)
    flags = np.empty(total, np.bool_)
    m = 0
    for b in range(len(block_i)):
        if column > 0 and block_i[b, ROLE_COUNTS + column] == 0:
            continue
        for s in range(block_i[b, START], block_i[b, END]):
            if not _has_role(s, slot_i, role_bit):
                continue
            d2 = _d2(s, x, y, slot_f)
            inside = _inside(s, d2, slot_f, slot_i, area_inside)
            if not (exclude and inside and d2 <= r2):
                slots[m] = s
                squared[m] = d2
                flags[m] = inside
                m += 1
    return slots[:m], squared[:m], flags[:m]


# ---------------------------------------------------------------------- counts and polygons
@njit(**_JIT)
def count_sites(site_x, site_y, reach2_values, counts, online, x, y, r2, column):  # type: ignore[no-untyped-def]
    """``(matches, of which online)`` over the sites within the radius (see :mod:`.sites`)."""
    total = 0
    total_online = 0
    n_values = len(reach2_values)
    for i in range(len(site_x)):
        dx = site_x[i] - x
        dy = site_y[i] - y
        d2 = dx * dx + dy * dy
        if not d2 <= r2:
            continue
        first = np.searchsorted(reach2_values, d2)  # the first reach² >= d²
        if first < n_values:
            total += counts[i, column, first]
            total_online += online[i, column, first]
    return total, total_online


@njit(**_JIT)
def areas_at(bounds, x, y):  # type: ignore[no-untyped-def]
    """Indices of the boxes ``(minx, miny, maxx, maxy)`` that hold the point (edges included)."""
    found = np.empty(len(bounds), np.int64)
    m = 0
    for i in range(len(bounds)):
        if bounds[i, 0] <= x and x <= bounds[i, 2] and bounds[i, 1] <= y and y <= bounds[i, 3]:
            found[m] = i
            m += 1
    return found[:m]


@njit(**_JIT)
def areas_needed(area_id, sx, sy, role_mask, online, bounds, x, y, r2, role_bit, in_person, online_too):  # type: ignore[no-untyped-def]
    """Polygon areas whose exact test can change a search: ids, ascending.

    Over the providers with a polygon (``area_id`` etc. are theirs): the
    area's box holds the point, the provider has the role, and either the
    search is in person and they are within the radius, or it includes
    online support and they offer it (their score then counts whether the
    coach is inside).  Every other area's flag cannot matter.
    """
    wanted = np.zeros(len(bounds), np.bool_)
    for i in range(len(area_id)):
        area = area_id[i]
        if wanted[area] or not (role_bit == 0 or (np.int64(role_mask[i]) & role_bit) != 0):
            continue
        if not (bounds[area, 0] <= x and x <= bounds[area, 2] and bounds[area, 1] <= y and y <= bounds[area, 3]):
            continue
        dx = sx[i] - x
        dy = sy[i] - y
        if (online_too and online[i]) or (in_person and dx * dx + dy * dy <= r2):
            wanted[area] = True
    return np.flatnonzero(wanted)


# ---------------------------------------------------------------------- checks
@njit(**_JIT)
def score_slots(slots, distance, inside, codes, slot_i, code_table, slot_table, params, bits, dist):  # type: ignore[no-untyped-def]
    """Fused scores of given slots (the ranking loops' own arithmetic; tests and notebooks)."""
    scores = np.empty(len(slots))
    for i in range(len(slots)):
        kind = _kind(inside[i], bits)
        static = _static_score(slots[i], kind, codes, slot_i, code_table, slot_table, params, bits)
        scores[i] = static + _proximity(distance[i], dist, kind)
    return scores


@njit(**_JIT)
def block_bounds(blocks, mind2, maxd2, possible, certain, block_best, block_i, params, bits,  # type: ignore[no-untyped-def]
                 exact_events, group_events, slot_table_max, dist):
    """Bounds of given blocks (the ranking loops' own arithmetic; tests)."""
    bounds = np.empty(len(blocks))
    for i in range(len(blocks)):
        bounds[i] = _block_bound(blocks[i], mind2[i], maxd2[i], possible[i], certain[i], block_best, block_i,
                                 params, bits, exact_events, group_events, slot_table_max, dist)
    return bounds

"""Exact top-k over blocks of candidates, skipping blocks that provably cannot make the page.

Candidates come from one or two *sources* (the in-person blocks of the main
table, the online blocks of the online table).  With a scorer that bounds
blocks (:meth:`~findsupport.index.scoring.FusedScorer.block_bounds`), blocks
are read best bound first, in chunks that grow geometrically: after each
chunk the k-th best score so far is a threshold, and every block whose
bound is below it is never read.  The result is exactly the top k of all
candidates, because no skipped block holds a provider scoring at or above
the final k-th score.  Without bounds every block is read in one pass.

Order: score descending, then catalogue position ascending, so equal
scores always come out in the same order.

Examples
--------
>>> best = TopK(2)
>>> best.add(np.array([1.0, 3.0, 3.0]), np.array([7, 9, 4]), np.zeros(3), np.ones(3, bool))
>>> best.ranked()[0].tolist()
[4, 9]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .blocks import BlockTable, slots_of_ranges
from .scoring import Scorer
from .spatial import Candidates

__all__ = ["TopK", "BlockSource", "Ranked", "top_candidates", "FIRST_CHUNK", "CHUNK_GROWTH", "SINGLE_PASS"]

#: Providers read before the first threshold exists: enough that the first
#: chunk usually holds a full page of good matches, small against a city.
FIRST_CHUNK = 2048
#: Each further chunk reads this many times more providers (few rounds of numpy calls).
CHUNK_GROWTH = 4
#: Up to this many providers in all candidate blocks, one pass reads them all:
#: bounding and ordering blocks costs more numpy calls than it saves.
SINGLE_PASS = 8192


class TopK:
    """The k best (score, position) pairs seen so far, with their distance and inside flag."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.scores = np.zeros(0)
        self.positions = np.zeros(0, dtype=np.intp)
        self.distance = np.zeros(0)
        self.inside = np.zeros(0, dtype=bool)
        #: Scores below this cannot enter (-inf until k candidates are held).
        self.threshold = -np.inf

    def add(self, scores: np.ndarray, positions: np.ndarray, distance: np.ndarray, inside: np.ndarray) -> None:
        if self.k <= 0 or len(scores) == 0:
            return
        if self.threshold > -np.inf:
            keep = np.flatnonzero(scores >= self.threshold)
            if len(keep) == 0:
                return
            scores, positions, distance, inside = scores[keep], positions[keep], distance[keep], inside[keep]
        if len(self.scores):
            scores = np.concatenate([self.scores, scores])
            positions = np.concatenate([self.positions, positions])
            distance = np.concatenate([self.distance, distance])
            inside = np.concatenate([self.inside, inside])
        if len(scores) > self.k:
            kth = np.partition(scores, len(scores) - self.k)[len(scores) - self.k]
            chosen = np.flatnonzero(scores >= kth)
            if len(chosen) > self.k:
                # Ties at the k-th score: the lowest catalogue positions win.
                chosen = chosen[np.lexsort((positions[chosen], -scores[chosen]))[: self.k]]
            scores, positions, distance, inside = scores[chosen], positions[chosen], distance[chosen], inside[chosen]
        self.scores, self.positions, self.distance, self.inside = scores, positions, distance, inside
        if len(scores) >= self.k:
            self.threshold = float(scores.min())

    def ranked(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(positions, scores, distance_m, inside)``, best first."""
        order = np.lexsort((self.positions, -self.scores))
        return self.positions[order], self.scores[order], self.distance[order], self.inside[order]


@dataclass
class BlockSource:
    """Blocks of one table to rank, the rule that picks candidates out of slots, and block bounds.

    ``bounds`` is called only when the blocks are worth pruning (it returns
    ``None`` when the scorer has no bounds).  After :func:`top_candidates`,
    ``read`` marks the blocks it read, ``found`` counts the candidates in them
    and ``found_online`` those who are online.
    """

    table: BlockTable
    blocks: np.ndarray
    candidates: Callable[[np.ndarray, bool], Candidates]  # (slots, any polygon among them)
    bounds: Callable[[], np.ndarray | None]
    read: np.ndarray = field(init=False)
    found: int = 0
    found_online: int = 0

    def __post_init__(self) -> None:
        self.read = np.zeros(len(self.blocks), dtype=bool)

    @property
    def size(self) -> int:
        """Providers in the source's blocks."""
        return int((self.table.end[self.blocks] - self.table.start[self.blocks]).sum())


@dataclass(frozen=True)
class Ranked:
    """The exact top k of a search, best first, with how much work it took."""

    positions: np.ndarray
    scores: np.ndarray
    distance_m: np.ndarray
    inside: np.ndarray
    blocks_read: int
    providers_scored: int


def _read(source: BlockSource, which: np.ndarray | None, scorer: Scorer, prepared: object, best: TopK) -> int:
    """Read ``source.blocks[which]`` (all of them for ``None``): find, count and score their candidates."""
    table = source.table
    if which is None:
        source.read[:] = True
        blocks = source.blocks  # ascending already
    else:
        source.read[which] = True
        # Ascending blocks keep the slots in memory order.
        blocks = np.sort(source.blocks[which])
    polygons = bool(table.has_polygon[blocks].any())
    found = source.candidates(slots_of_ranges(table.start[blocks], table.end[blocks]), polygons)
    n = len(found.slots)
    if n == 0:
        return 0
    source.found += n
    source.found_online += int(np.count_nonzero(table.online[found.slots]))
    distance = np.sqrt(found.distance2)
    which, scores = scorer.best_scores(prepared, table, found.slots, distance, found.inside, best.k, best.threshold)
    best.add(scores, table.order[found.slots[which]], distance[which], found.inside[which])
    return len(which)


def top_candidates(
    sources: Sequence[BlockSource],
    scorer: Scorer,
    prepared: object,
    k: int,
    slack: float = 0.0,
    first_chunk: int = FIRST_CHUNK,
    single_pass: int = SINGLE_PASS,
) -> Ranked:
    """The exact ``k`` best candidates of all sources (see the module docstring).

    ``slack`` is added to every bound before comparing it with the threshold
    (rounding).  ``first_chunk`` (providers read before the first threshold)
    and ``single_pass`` (up to this many providers, read all at once) are
    tuning parameters: results never depend on them.
    """
    best = TopK(k)
    live = [s for s in sources if len(s.blocks)]
    blocks_read = scored = 0
    bounds = None
    if k > 0 and live and sum(s.size for s in live) > single_pass:
        each = [s.bounds() for s in live]
        if all(b is not None for b in each):
            bounds = np.concatenate(each)  # type: ignore[arg-type]
    if k <= 0 or not live:
        pass
    elif bounds is None:
        for source in live:
            scored += _read(source, None, scorer, prepared, best)
            blocks_read += len(source.blocks)
    else:
        owner = np.concatenate([np.full(len(s.blocks), i, dtype=np.intp) for i, s in enumerate(live)])
        local = np.concatenate([np.arange(len(s.blocks)) for s in live])
        sizes = np.concatenate([s.table.end[s.blocks] - s.table.start[s.blocks] for s in live])
        order = np.argsort(-bounds, kind="stable")
        descending = -bounds[order]  # ascending, for searchsorted
        read_until = np.cumsum(sizes[order])
        i, n, target = 0, len(order), max(first_chunk, 1)
        while i < n:
            # Blocks still worth reading are a prefix of the bound order.
            worth = int(np.searchsorted(descending, -(best.threshold - slack), side="right"))
            if worth <= i:
                break
            already = int(read_until[i - 1]) if i else 0
            j = int(np.searchsorted(read_until, already + target, side="left")) + 1
            j = min(max(j, i + 1), worth)
            chunk = order[i:j]
            if len(live) == 1:
                scored += _read(live[0], local[chunk], scorer, prepared, best)
            else:
                for s, source in enumerate(live):
                    mine = local[chunk[owner[chunk] == s]]
                    if len(mine):
                        scored += _read(source, mine, scorer, prepared, best)
            blocks_read += j - i
            i = j
            target *= CHUNK_GROWTH
    positions, scores, distance, inside = best.ranked()
    return Ranked(positions, scores, distance, inside, blocks_read, scored)

"""The exact top k of scored candidates, and the shape of a ranked answer.

The fused scorer keeps its top k inside the compiled loops
(:mod:`.kernels`); :class:`TopK` is the same rule in numpy for the
feature-matrix scorer, which scores every candidate.

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

from dataclasses import dataclass

import numpy as np

__all__ = ["TopK", "Ranked"]


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


@dataclass(frozen=True)
class Ranked:
    """The exact top k of a search, best first, with how much work it took."""

    positions: np.ndarray
    scores: np.ndarray
    distance_m: np.ndarray
    inside: np.ndarray
    blocks_read: int
    providers_scored: int

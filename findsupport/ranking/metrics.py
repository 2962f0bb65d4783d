"""NDCG@k per session: how close a ranking puts what coaches chose to the top.

For one session with grades ``g`` ranked by ``scores``,
``DCG@k = sum over the top k of (2**g - 1) / log2(rank + 1)`` and NDCG divides
it by the DCG of the best possible order.  Sessions where nothing was chosen
(all grades 0) have no best order and are left out of the mean, as usual.

Ties in ``scores`` are broken by ``tiebreak`` (smaller first; the distance,
so a tie goes to the nearer provider) and then in a fixed pseudo-random
order (``seed``).  Never by the order given: logged rows come in the order
they were shown, and breaking ties by it would hand the logging policy's
order, and its position bias, to every ranker (providers of one postcode
sector share a public location, so distance ties are common).

Examples
--------
>>> scores = np.array([0.9, 0.1, 0.5, 0.3, 0.2])
>>> grades = np.array([1, 0, 0, 3, 0])
>>> groups = np.array([0, 0, 0, 1, 1])
>>> [round(float(v), 3) for v in session_ndcg(scores, grades, groups, k=10)]
[1.0, 1.0]
>>> round(mean_ndcg(-scores, grades, groups), 3)  # reversed: 0.5 and 0.631
0.565
"""

from __future__ import annotations

import numpy as np

from .labels import gains

__all__ = ["session_ndcg", "mean_ndcg", "group_slices", "DEFAULT_K"]

#: NDCG cut-off: the first page of results a coach sees.
DEFAULT_K = 10


def group_slices(groups: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sort order and ``[start, stop)`` bounds of each session's rows.

    Returns ``(order, starts, stops)``: ``order`` sorts rows by session (stable,
    so rows keep their given order within a session).
    """
    groups = np.asarray(groups)
    if groups.ndim != 1:
        raise ValueError(f"groups must be one-dimensional; got shape {groups.shape}.")
    order = np.argsort(groups, kind="stable")
    sorted_groups = groups[order]
    if len(sorted_groups) == 0:
        empty = np.zeros(0, dtype=np.intp)
        return order, empty, empty
    change = np.flatnonzero(sorted_groups[1:] != sorted_groups[:-1]) + 1
    starts = np.concatenate([[0], change]).astype(np.intp)
    stops = np.concatenate([change, [len(sorted_groups)]]).astype(np.intp)
    return order, starts, stops


def session_ndcg(
    scores: np.ndarray,
    grades: np.ndarray,
    groups: np.ndarray,
    *,
    k: int = DEFAULT_K,
    tiebreak: np.ndarray | None = None,
    seed: int = 0,
) -> np.ndarray:
    """NDCG@k of every session that has a positive grade, in order of first appearance.

    Parameters
    ----------
    scores : array of float
        Higher ranks first.
    grades : array of int or float
        Non-negative graded labels (see :mod:`.labels`).
    groups : array
        Session of each row.
    k : int
    tiebreak : array of float, optional
        Secondary key, smaller first (e.g. the distance).
    seed : int
        Seed of the pseudo-random order that breaks the remaining ties.
    """
    scores = np.asarray(scores, dtype=np.float64)
    grades = np.asarray(grades, dtype=np.float64)
    if np.any(grades < 0):
        raise ValueError("Grades must be non-negative (0 = only shown, higher = stronger action).")
    if k < 1:
        raise ValueError(f"k must be at least 1; got {k}.")
    second = np.zeros_like(scores) if tiebreak is None else np.asarray(tiebreak, dtype=np.float64)
    last = np.random.default_rng(seed).permutation(len(scores))
    gain = gains(grades)
    order, starts, stops = group_slices(groups)
    # Sessions in order of first appearance, so results line up with the caller's sessions.
    first_row = order[starts]
    values = np.full(len(starts), np.nan)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    for s, (lo, hi) in enumerate(zip(starts, stops)):
        rows = order[lo:hi]
        g = gain[rows]
        ideal = np.sort(g)[::-1][:k]
        best = float(ideal @ discounts[: len(ideal)])
        if best <= 0.0:
            continue
        # lexsort: the last key is the primary one.
        ranked = np.lexsort((last[rows], second[rows], -scores[rows]))[:k]
        values[s] = float(g[ranked] @ discounts[: len(ranked)]) / best
    values = values[np.argsort(first_row, kind="stable")]
    return values[~np.isnan(values)]


def mean_ndcg(
    scores: np.ndarray,
    grades: np.ndarray,
    groups: np.ndarray,
    *,
    k: int = DEFAULT_K,
    tiebreak: np.ndarray | None = None,
    seed: int = 0,
) -> float:
    """Mean NDCG@k over sessions with a positive grade (0.0 when there are none)."""
    values = session_ndcg(scores, grades, groups, k=k, tiebreak=tiebreak, seed=seed)
    return float(values.mean()) if len(values) else 0.0

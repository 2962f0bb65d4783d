"""Ranking objectives for the linear match ranker, with their gradients.

Both learn weights ``w`` for scores ``s = X @ w`` from sessions of graded,
position-bias-weighted results, and both compare results *within* a session
only (what a coach chose against what the same coach was shown), never
across sessions: a provider is judged against the alternatives on the page.

``pairwise``
    Logistic loss on score differences of every within-session pair where
    one result has a higher grade than the other (RankNet's loss; a logistic
    regression on feature differences).  A pair counts with the inverse
    propensity of its better result times the gain difference.
``listwise``
    Softmax cross-entropy of each session's scores against its gains times
    inverse propensities (ListNet's top-one loss).

Fitting runs BLAS on one thread: these matrices are small (tens of
thousands of rows, 15 columns), and OpenBLAS threads fighting over busy
cores made each product 15 times slower, not faster.

An L2 penalty ``alpha / 2 * |w|**2`` regularises both: weights stay small
where the data say little, which is what keeps the model from learning one
simulator's (or one season's) quirks.  Losses are averaged over the total
pair (or target) weight so ``alpha`` means the same for 100 and 100,000
sessions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit
from threadpoolctl import threadpool_limits

from .labels import gains
from .metrics import group_slices
from .weights import OBJECTIVES  # with the other hyper-parameter rules, which serving checks without SciPy

__all__ = ["OBJECTIVES", "Pairs", "make_pairs", "pairwise_loss", "listwise_loss", "fit_weights"]


@dataclass(frozen=True)
class Pairs:
    """Within-session preference pairs: ``better[p]`` should outrank ``worse[p]`` with weight ``weight[p]``."""

    better: np.ndarray
    worse: np.ndarray
    weight: np.ndarray

    def __len__(self) -> int:
        return len(self.better)


def make_pairs(grades: np.ndarray, groups: np.ndarray, row_weight: np.ndarray) -> Pairs:
    """Every within-session pair with different grades, weighted.

    The weight of a pair is ``row_weight[better] * (gain[better] - gain[worse])``:
    the inverse propensity of the chosen result, times how much more it was
    chosen (an acceptance over a view counts more than a view over nothing).

    Examples
    --------
    >>> pairs = make_pairs(np.array([1, 0, 0, 2, 2]), np.array([0, 0, 0, 1, 1]), np.ones(5))
    >>> pairs.better.tolist(), pairs.worse.tolist(), pairs.weight.tolist()
    ([0, 0], [1, 2], [1.0, 1.0])
    """
    grades = np.asarray(grades, dtype=np.float64)
    gain = gains(grades)
    order, starts, stops = group_slices(groups)
    sizes = stops - starts
    # Every ordered pair of rows of each session, built without a Python loop:
    # row r (in session order) is paired with each row of its session.
    row_size = np.repeat(sizes, sizes)
    row_start = np.repeat(starts, sizes)
    first = np.repeat(np.arange(len(order)), row_size)
    offset = np.arange(int(row_size.sum())) - np.repeat(np.cumsum(row_size) - row_size, row_size)
    second = np.repeat(row_start, row_size) + offset
    better, worse = order[first], order[second]
    keep = grades[better] > grades[worse]
    better, worse = better[keep], worse[keep]
    weight = np.asarray(row_weight, dtype=np.float64)[better] * (gain[better] - gain[worse])
    return Pairs(better.astype(np.intp), worse.astype(np.intp), weight)


def pairwise_loss(coef: np.ndarray, X: np.ndarray, pairs: Pairs, alpha: float) -> tuple[float, np.ndarray]:
    """Weighted mean logistic pair loss plus L2 penalty, and its gradient."""
    s = X @ coef
    z = s[pairs.better] - s[pairs.worse]
    total = pairs.weight.sum()
    loss = float(pairs.weight @ np.logaddexp(0.0, -z)) / total
    # d loss / d z = -weight * sigmoid(-z); push it back onto the rows of each pair.
    dz = -pairs.weight * expit(-z) / total
    n = len(s)
    row_grad = np.bincount(pairs.better, weights=dz, minlength=n) - np.bincount(pairs.worse, weights=dz, minlength=n)
    return loss + 0.5 * alpha * float(coef @ coef), X.T @ row_grad + alpha * coef


def listwise_loss(
    coef: np.ndarray, X: np.ndarray, target: np.ndarray, order: np.ndarray, starts: np.ndarray, alpha: float
) -> tuple[float, np.ndarray]:
    """Softmax cross-entropy per session against non-negative ``target`` weights, plus L2 penalty.

    ``order``/``starts`` come from :func:`~.metrics.group_slices` and group the
    rows of each session contiguously.
    """
    s = (X @ coef)[order]
    t = target[order]
    top = np.maximum.reduceat(s, starts)
    counts = np.diff(np.append(starts, len(s)))
    shifted = s - np.repeat(top, counts)
    e = np.exp(shifted)
    sums = np.add.reduceat(e, starts)
    lse = np.log(sums)
    t_session = np.add.reduceat(t, starts)
    total = t_session.sum()
    loss = float(-(t @ shifted) + t_session @ lse) / total
    softmax = e / np.repeat(sums, counts)
    row_grad_sorted = (np.repeat(t_session, counts) * softmax - t) / total
    row_grad = np.empty_like(row_grad_sorted)
    row_grad[order] = row_grad_sorted
    return loss + 0.5 * alpha * float(coef @ coef), X.T @ row_grad + alpha * coef


def fit_weights(
    X: np.ndarray,
    grades: np.ndarray,
    groups: np.ndarray,
    row_weight: np.ndarray,
    *,
    objective: str,
    alpha: float,
    max_iter: int,
    tol: float,
    prior: np.ndarray | None = None,
) -> tuple[np.ndarray, float, int]:
    """Minimise the chosen objective by L-BFGS; returns ``(coef, prior_scale, n_iter)``.

    With a ``prior`` (the hand-set weights) the penalty is
    ``alpha / 2 * |coef - scale * prior|**2`` with ``scale >= 0`` learned too:
    the weights shrink towards the hand-set ones *up to a common scale*
    (learned weights are in units of the loss, hand-set ones are not), so a
    feature the data say little about keeps its hand-set share instead of
    dropping to zero.  Without a prior it is plain ridge towards zero.

    When no session holds two different grades there is nothing to learn and
    the weights are the prior times 1 (or all zero without one).
    """
    with threadpool_limits(limits=1, user_api="blas"):
        return _fit_weights(X, grades, groups, row_weight, objective, alpha, max_iter, tol, prior)


def _fit_weights(
    X: np.ndarray,
    grades: np.ndarray,
    groups: np.ndarray,
    row_weight: np.ndarray,
    objective: str,
    alpha: float,
    max_iter: int,
    tol: float,
    prior: np.ndarray | None,
) -> tuple[np.ndarray, float, int]:
    n_features = X.shape[1]
    start = np.zeros(n_features)
    if prior is not None and not np.any(prior):
        prior = None
    if prior is not None:
        prior = np.asarray(prior, dtype=np.float64)
    if objective == "pairwise":
        pairs = make_pairs(grades, groups, row_weight)
        if len(pairs) == 0 or pairs.weight.sum() <= 0:
            return (start if prior is None else prior.copy()), 1.0, 0

        def fun(coef: np.ndarray) -> tuple[float, np.ndarray]:
            return pairwise_loss(coef, X, pairs, 0.0 if prior is not None else alpha)

    elif objective == "listwise":
        order, starts, stops = group_slices(groups)
        target = np.asarray(row_weight, dtype=np.float64) * gains(grades)
        # A session whose grades are all equal carries no preference; drop it.
        g = np.asarray(grades, dtype=np.float64)[order]
        if len(g) == 0:
            return (start if prior is None else prior.copy()), 1.0, 0
        spread = np.maximum.reduceat(g, starts) > np.minimum.reduceat(g, starts)
        informative = np.zeros(len(grades), dtype=bool)
        informative[order] = np.repeat(spread, stops - starts)
        if not informative.any():
            return (start if prior is None else prior.copy()), 1.0, 0
        Xi, ti, gi = X[informative], target[informative], np.asarray(groups)[informative]
        order_i, starts_i, _ = group_slices(gi)

        def fun(coef: np.ndarray) -> tuple[float, np.ndarray]:
            return listwise_loss(coef, Xi, ti, order_i, starts_i, 0.0 if prior is not None else alpha)

    else:  # pragma: no cover - the estimator validates the name first
        raise ValueError(f"Got objective={objective!r}; objective must be one of {', '.join(OBJECTIVES)}.")
    options = {"maxiter": max_iter, "gtol": tol}
    if prior is None:
        result = minimize(fun, start, jac=True, method="L-BFGS-B", options=options)
        return np.asarray(result.x, dtype=np.float64), 0.0, int(result.nit)

    def with_prior(theta: np.ndarray) -> tuple[float, np.ndarray]:
        coef, scale = theta[:-1], theta[-1]
        loss, grad = fun(coef)
        gap = coef - scale * prior
        full = np.empty_like(theta)
        full[:-1] = grad + alpha * gap
        full[-1] = -alpha * float(gap @ prior)
        return loss + 0.5 * alpha * float(gap @ gap), full

    bounds = [(None, None)] * n_features + [(0.0, None)]
    result = minimize(with_prior, np.append(start, 0.0), jac=True, method="L-BFGS-B", bounds=bounds, options=options)
    return np.asarray(result.x[:-1], dtype=np.float64), float(result.x[-1]), int(result.nit)

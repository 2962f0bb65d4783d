"""Position bias: a result lower on the page is looked at less, whatever its merit.

Coaches read a result list from the top and stop.  A view at position 8 is
therefore stronger evidence of a good match than a view at position 1, which
the coach may have opened only because it was first.  We model the chance
that a coach *examines* position ``k`` (1-based) as a power law

    ``P(examined | k) = k ** -exponent``

(the position-based click model; ``exponent`` near 1 is what eye-tracking
and intervention studies of web search report).  Training weights each chosen
result by the inverse of that propensity (inverse propensity weighting), so
in expectation it learns from what coaches would have chosen had they seen
every result.  Weights are capped (``max_weight``) because a few very deep
choices would otherwise dominate and make the fit noisy.

The exponent need not be guessed: :func:`estimate_position_bias` fits it from
the log by maximum likelihood of the position-based model
``P(viewed) = k ** -exponent * sigmoid(x @ beta + b)``, which is identifiable
because the same kind of provider appears at different positions across
sessions (and the logging policy's random swaps move providers between
positions).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit
from threadpoolctl import threadpool_limits

from .weights import MAX_EXPONENT  # with the other hyper-parameter rules, which serving checks without SciPy

__all__ = ["examination", "propensity_weights", "estimate_position_bias", "MAX_EXPONENT"]

#: Keeps log(1 - p) finite when the model says a first result is viewed almost surely.
_P_CEILING = 1.0 - 1e-9


def examination(positions: np.ndarray, exponent: float) -> np.ndarray:
    """Probability that each (1-based) position is examined: ``k ** -exponent``.

    Examples
    --------
    >>> [round(float(p), 3) for p in examination(np.array([1, 2, 4]), 1.0)]
    [1.0, 0.5, 0.25]
    """
    k = np.asarray(positions, dtype=np.float64)
    if np.any(k < 1):
        raise ValueError("Positions are 1-based; got a position below 1.")
    return k ** -float(exponent)


def propensity_weights(positions: np.ndarray, exponent: float, max_weight: float) -> np.ndarray:
    """Inverse-propensity weights ``min(k ** exponent, max_weight)``.

    Examples
    --------
    >>> [float(w) for w in propensity_weights(np.array([1, 3, 50]), 1.0, 20.0)]
    [1.0, 3.0, 20.0]
    """
    if max_weight < 1:
        raise ValueError(f"max_weight must be at least 1; got {max_weight}.")
    return np.minimum(1.0 / examination(positions, exponent), float(max_weight))


def estimate_position_bias(
    X: np.ndarray,
    viewed: np.ndarray,
    positions: np.ndarray,
    *,
    alpha: float = 1e-3,
    max_exponent: float = MAX_EXPONENT,
    max_iter: int = 500,
) -> float:
    """Maximum-likelihood exponent of the position-based model (see the module docstring).

    Parameters
    ----------
    X : array of shape (n, F)
        Features of every logged result.
    viewed : array of bool
        Whether the coach acted on the result at all (grade at least 1).
    positions : array of int
        1-based positions the results were shown at.
    alpha : float
        L2 penalty on the relevance weights (keeps the fit stable).
    max_exponent : float
        Upper bound of the exponent (the lower bound is 0: no bias).
    max_iter : int

    Returns
    -------
    float
        The exponent; 0.0 when there is nothing to learn from (no view, or
        every result at one position).
    """
    X = np.asarray(X, dtype=np.float64)
    clicked = np.asarray(viewed, dtype=bool)
    log_k = np.log(np.asarray(positions, dtype=np.float64))
    n, f = X.shape
    if n == 0 or not clicked.any() or clicked.all() or np.ptp(log_k) == 0:
        return 0.0

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        beta, bias, eta = theta[:f], theta[f], theta[f + 1]
        s = X @ beta + bias
        log_p = -eta * log_k + log_expit(s)
        p = np.minimum(np.exp(log_p), _P_CEILING)
        one_minus = 1.0 - p
        # d log-likelihood / d s and d eta, per row.
        sig = expit(s)
        ds = np.where(clicked, 1.0 - sig, -p * (1.0 - sig) / one_minus)
        deta = np.where(clicked, -log_k, p * log_k / one_minus)
        ll = np.where(clicked, log_p, np.log(one_minus)).sum() / n
        grad = np.empty_like(theta)
        grad[:f] = -(X.T @ ds) / n + alpha * beta
        grad[f] = -ds.sum() / n
        grad[f + 1] = -deta.sum() / n
        return -ll + 0.5 * alpha * float(beta @ beta), grad

    start = np.zeros(f + 2)
    start[f + 1] = 1.0
    bounds = [(None, None)] * (f + 1) + [(0.0, float(max_exponent))]
    # Small matrices: BLAS threads cost more than they save (see .objectives).
    with threadpool_limits(limits=1, user_api="blas"):
        result = minimize(objective, start, jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": max_iter})
    return float(np.clip(result.x[f + 1], 0.0, max_exponent))

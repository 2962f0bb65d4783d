"""What serving needs of a ranking model: its weights, without scikit-learn.

A served model is linear: a score is ``X @ coef_`` over the match features
(:data:`FEATURE_NAMES` order) and each term ``X[:, j] * coef_[j]`` is feature
``j``'s contribution, which the explanations show.  :class:`ServingRanker`
holds exactly that, plus what the model document records of the fit
(hyper-parameters, position-bias exponent, prior scale), so that a stored
model round-trips.  It imports NumPy only: scikit-learn, SciPy and the pandas
scikit-learn pulls in cost about a second of every worker's start-up (issue
13), and serving never fits.

Training (:class:`~.model.MatchRanker`, a scikit-learn estimator) produces one
with :meth:`~.model.MatchRanker.serving` and takes one back with
:meth:`~.model.MatchRanker.from_serving`.  The default weights, the
hyper-parameters and their rules live here because both sides use them.
"""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Integral, Real
from typing import Any

import numpy as np

from ..errors import InvalidInput
from ..features import FEATURE_NAMES, FEATURES_VERSION
from .metrics import DEFAULT_K

__all__ = [
    "LinearScores",
    "DEFAULT_WEIGHTS",
    "HYPERPARAMETERS",
    "OBJECTIVES",
    "SHRINK_TARGETS",
    "MAX_EXPONENT",
    "ServingRanker",
    "check_weights",
    "validate_hyperparameters",
    "default_serving_ranker",
]

#: Transparent default weights (what serves before any training), with the reason for each.
DEFAULT_WEIGHTS: dict[str, float] = {
    "proximity_near": 1.0,  # in person: a few km away beats a long drive
    "proximity_mid": 0.5,  # in person: across town is still easy
    "proximity_far": 1.0,  # in person: nearer is still better at regional scale (wide searches)
    # In person: they travel to the coach.  Small: in an "in person or online" search this is the
    # whole head start of in-person help over online help (the proximity terms add the rest), and
    # 0.3 kept good online help below poor local matches (simulated true NDCG@10 of those
    # searches 0.87 against 0.94 in person; 0.1 with online_fit 0.6: 0.92, in person unchanged).
    "in_service_area": 0.1,
    "online_region": 0.3,  # online only: the same region helps a little (meet at competitions)
    "online_fit": 0.6,  # online help is welcome when the coach accepts it (see in_service_area)
    "event_exact": 1.5,  # specialism in the coach's event matters most after distance
    "event_group": 0.5,  # same event group: useful, less so
    "availability": 1.0,  # free when the coach is
    "availability_all": 0.3,  # ...at every time asked for, not just some
    "spare_capacity": 0.3,  # room to take the coach on
    "full": -1.0,  # no room at all: show, but lower
    "qualified_above": 0.4,  # a mentor should be ahead of the coach
    "qualified_below": -0.4,  # ...and not behind
    "qualification_gap": 0.0,  # how far ahead: no opinion until coaches show one
    "primary_role": 0.2,  # it is their main role
}

#: The learning losses (see :mod:`.objectives`).
OBJECTIVES: tuple[str, ...] = ("pairwise", "listwise")
#: What the L2 penalty pulls the learned weights towards.
SHRINK_TARGETS: tuple[str, ...] = ("weights", "zero")
#: Largest examination exponent of the position-bias model (see :mod:`.propensity`): at 3,
#: position 10 is examined 1 time in 1,000, far steeper than any reported result-list behaviour.
MAX_EXPONENT = 3.0

#: The learning hyper-parameters and their defaults (the ``w_*`` parameters are the others).
HYPERPARAMETERS: dict[str, Any] = {
    # L2 penalty on the weights: small enough to follow thousands of sessions,
    # large enough that a feature the data barely mention stays near zero.
    "alpha": 0.01,
    # Listwise (ListNet) or pairwise (RankNet) loss; see .objectives.  Listwise is the
    # default because with inverse propensity weights it is unbiased under the
    # position-based model, while pairwise keeps some bias (never-seen results
    # count as "not chosen" in its pairs).
    "objective": "listwise",
    # Examination exponent of the position-bias model; "auto" fits it from the log.
    "position_bias": "auto",
    # Cap on inverse-propensity weights: one view at position 40 must not outweigh 20 at the top.
    "max_weight": 20.0,
    # "weights": shrink towards the hand-set w_* weights (up to a learned scale), so what
    # the data do not show keeps its hand-set share; "zero": plain ridge.
    "shrink_to": "weights",
    # False: fit keeps the hand-set w_* weights (for comparing hand weights by grid search).
    "learn": True,
    # NDCG cut-off used by score(): the first page.
    "k": DEFAULT_K,
    "max_iter": 1000,
    "tol": 1e-6,
}


def validate_hyperparameters(params: Mapping[str, Any]) -> None:
    """Check the hyper-parameters in ``params`` (others are ignored, missing ones are not checked).

    Raises
    ------
    InvalidInput
        Naming the first bad one in ``field`` and what it must be.
    """

    def fail(name: str, rule: str) -> InvalidInput:
        return InvalidInput(f"Got {name}={params[name]!r}; {name} must be {rule}.", field=name)

    def number(value: Any) -> bool:
        return isinstance(value, Real) and not isinstance(value, bool)

    def whole(value: Any) -> bool:
        return isinstance(value, Integral) and not isinstance(value, bool)

    rules: dict[str, tuple[Any, str]] = {
        "alpha": (lambda v: number(v) and v >= 0, "a number of at least 0"),
        "objective": (lambda v: v in OBJECTIVES, f"one of {', '.join(OBJECTIVES)}"),
        "position_bias": (
            lambda v: v == "auto" or (number(v) and 0 <= v <= MAX_EXPONENT),
            f'"auto" or a number from 0 to {MAX_EXPONENT:g}',
        ),
        "max_weight": (lambda v: number(v) and v >= 1, "a number of at least 1"),
        "shrink_to": (lambda v: v in SHRINK_TARGETS, f"one of {', '.join(SHRINK_TARGETS)}"),
        "learn": (lambda v: isinstance(v, (bool, np.bool_)), "true or false"),
        "k": (lambda v: whole(v) and v >= 1, "a whole number of at least 1"),
        "max_iter": (lambda v: whole(v) and v >= 1, "a whole number of at least 1"),
        "tol": (lambda v: number(v) and v > 0, "a positive number"),
    }
    for name, (ok, rule) in rules.items():
        if name in params and not ok(params[name]):
            raise fail(name, rule)


def check_weights(weights: Mapping[str, Any]) -> np.ndarray:
    """``weights`` (one finite number per feature name) as a vector in :data:`FEATURE_NAMES` order.

    Raises
    ------
    InvalidInput
        A feature is missing or unknown, or a weight is not a finite number.
    """
    missing = [name for name in FEATURE_NAMES if name not in weights]
    unknown = sorted(set(weights) - set(FEATURE_NAMES))
    if missing or unknown:
        raise InvalidInput(
            "Weights must name every match feature exactly once; "
            + (f"missing {', '.join(missing)}" if missing else "")
            + ("; " if missing and unknown else "")
            + (f"unknown {', '.join(unknown)}" if unknown else "")
            + "."
        )
    bad = [
        name for name in FEATURE_NAMES
        if isinstance(weights[name], bool) or not isinstance(weights[name], Real) or not np.isfinite(weights[name])
    ]  # fmt: skip
    if bad:
        name = bad[0]
        raise InvalidInput(f"Got w_{name}={weights[name]!r}; w_{name} must be a finite number.", field=f"w_{name}")
    return np.array([float(weights[name]) for name in FEATURE_NAMES])


class LinearScores:
    """Scoring shared by the serving ranker and the training estimator: ``X @ coef_``.

    A subclass gives ``coef_`` and ``_rows(X)`` (its feature rows as a float64
    matrix of the right width); the scores, per-feature contributions and the
    finiteness checks are defined here once.
    """

    coef_: np.ndarray

    def _rows(self, X: Any) -> np.ndarray:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def decision_function(self, X: Any) -> np.ndarray:
        """Scores (higher is a better match) for feature rows ``X``."""
        scores = self._rows(X) @ self.coef_
        if not np.isfinite(scores).all():
            raise ValueError("Input X contains NaN or infinity; features must be finite numbers.")
        return scores

    def predict(self, X: Any) -> np.ndarray:
        """Same as :meth:`decision_function`: a ranker predicts scores to sort by."""
        return self.decision_function(X)

    def contributions(self, X: Any) -> np.ndarray:
        """Per-feature contributions ``X * coef_`` (rows sum to the scores)."""
        rows = self._rows(X)
        if not np.isfinite(rows).all():
            raise ValueError("Input X contains NaN or infinity; features must be finite numbers.")
        return rows * self.coef_


class ServingRanker(LinearScores):
    """A linear ranker over the match features, ready to score; no scikit-learn.

    Parameters
    ----------
    weights : mapping of str to float
        One finite weight per name of :data:`FEATURE_NAMES`.
    hyperparameters : mapping, optional
        The learning hyper-parameters the weights came from (checked, kept for
        the model document; serving does not use them).  Missing ones take
        :data:`HYPERPARAMETERS`' defaults.
    position_bias, prior_scale : float
        What the fit found: the examination exponent and the scale of the
        hand-set prior (0 and 1 for hand-set weights).
    n_iter, n_sessions : int
        Solver iterations and sessions of the fit (0 for hand-set weights).

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
        The weights in :data:`FEATURE_NAMES` order (read-only).
    feature_names_ : tuple of str
    features_version_ : int

    Examples
    --------
    >>> ranker = default_serving_ranker()
    >>> X = np.zeros((1, len(FEATURE_NAMES)))
    >>> X[0, FEATURE_NAMES.index("event_exact")] = 1.0
    >>> float(ranker.decision_function(X)[0])
    1.5
    """

    feature_names_ = FEATURE_NAMES
    features_version_ = FEATURES_VERSION
    n_features_in_ = len(FEATURE_NAMES)

    def __init__(
        self,
        weights: Mapping[str, Any],
        hyperparameters: Mapping[str, Any] | None = None,
        *,
        position_bias: float = 0.0,
        prior_scale: float = 1.0,
        n_iter: int = 0,
        n_sessions: int = 0,
    ) -> None:
        coef = check_weights(weights)
        coef.setflags(write=False)  # shared by every search thread of a snapshot
        hyper = dict(hyperparameters or {})
        validate_hyperparameters(hyper)
        self.coef_ = coef
        self._hyperparameters = {name: hyper.get(name, default) for name, default in HYPERPARAMETERS.items()}
        self.position_bias_ = float(position_bias)
        self.prior_scale_ = float(prior_scale)
        self.n_iter_ = int(n_iter)
        self.n_sessions_ = int(n_sessions)

    def __repr__(self) -> str:
        return f"ServingRanker({self.weights!r})"

    @property
    def weights(self) -> dict[str, float]:
        """The serving weights by feature name."""
        return dict(zip(FEATURE_NAMES, map(float, self.coef_)))

    def hyperparameters(self) -> dict[str, Any]:
        """The learning hyper-parameters the weights came from."""
        return dict(self._hyperparameters)

    def _rows(self, X: Any) -> np.ndarray:
        # Fast path for the engine (one call per search): a float64 matrix of the right width.
        if not (type(X) is np.ndarray and X.dtype == np.float64):
            try:
                X = np.asarray(X, dtype=np.float64)
            except (TypeError, ValueError):
                raise ValueError("Feature rows must be numbers.") from None
        if X.ndim != 2 or X.shape[1] != self.coef_.shape[0]:
            raise ValueError(f"Feature rows must be a 2-D array with {self.coef_.shape[0]} columns; got shape {X.shape}.")
        return X



def default_serving_ranker() -> ServingRanker:
    """What serves before any model is trained: :data:`DEFAULT_WEIGHTS`, ready to score."""
    return ServingRanker(DEFAULT_WEIGHTS)

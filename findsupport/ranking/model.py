"""The match ranker: a linear scikit-learn estimator over :mod:`.features`.

A score is ``X @ coef_``; each term ``X[:, j] * coef_[j]`` is feature ``j``'s
contribution, which is what the explanations show.  The default weights are
``__init__`` parameters (``w_<feature>``), so they can be read, set by hand,
cloned and grid-searched like any estimator's, and serve before any training
(:func:`default_ranker`).  :meth:`MatchRanker.fit` learns the weights from
sessions of what coaches chose (see :mod:`.objectives` and :mod:`.propensity`).

Sessions reach ``fit`` and ``score`` as ``groups`` (the session of each row)
and ``positions`` (where each result was shown, 1-based).  With
scikit-learn's metadata routing turned on they are routed automatically, so
``GridSearchCV(MatchRanker(), grid, cv=GroupKFold())`` splits by session,
fits within sessions and scores NDCG@10 per held-out session::

    with sklearn.config_context(enable_metadata_routing=True):
        GridSearchCV(MatchRanker(), {"alpha": [0.01, 0.1]}, cv=GroupKFold(5)).fit(
            X, y, groups=groups, positions=positions)

(without routing, ``GridSearchCV`` would give ``groups`` to the splitter only
and the ranker would see each fold as one big session).

Serving does not use this class: :meth:`MatchRanker.serving` hands the fitted
weights to :class:`~.weights.ServingRanker` (no scikit-learn), which the
engine and the model registry use, and :meth:`MatchRanker.from_serving` takes
a served model back for training.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_consistent_length, check_is_fitted, validate_data

from ..errors import InvalidInput
from ..features import FEATURE_NAMES, FEATURES_VERSION
from .metrics import mean_ndcg
from .objectives import fit_weights
from .propensity import estimate_position_bias, propensity_weights
from .weights import (
    DEFAULT_WEIGHTS,
    HYPERPARAMETERS,
    SHRINK_TARGETS,
    LinearScores,
    ServingRanker,
    check_weights,
    validate_hyperparameters,
)

__all__ = ["MatchRanker", "DEFAULT_WEIGHTS", "HYPERPARAMETERS", "SHRINK_TARGETS", "default_ranker"]


class MatchRanker(LinearScores, BaseEstimator):
    """Linear ranker over the match features.

    Parameters
    ----------
    w_proximity_near, w_proximity_mid, ... : float
        Hand-set weight of each feature of :data:`FEATURE_NAMES` (see
        :data:`DEFAULT_WEIGHTS` for the reasons).  They serve through
        :meth:`use_parameter_weights` and through :meth:`fit` when ``learn``
        is false; a learning fit replaces them with learned ``coef_``.
    alpha : float, default 0.01
        L2 regularisation of the learned weights.
    objective : {"listwise", "pairwise"}, default "listwise"
    position_bias : float or "auto", default "auto"
        Exponent of the examination model ``P(examined | position k) = k**-position_bias``;
        0 means no position-bias correction, ``"auto"`` estimates it from the
        training sessions (needs ``positions``).
    max_weight : float, default 20
        Cap of the inverse-propensity weights.
    shrink_to : {"weights", "zero"}, default "weights"
        What the L2 penalty pulls the learned weights towards: the hand-set
        ``w_*`` weights up to a learned common scale (features the data say
        little about keep their hand-set share), or zero (plain ridge).
    learn : bool, default True
    k : int, default 10
        Cut-off of the NDCG that :meth:`score` returns.
    max_iter : int, default 1000
    tol : float, default 1e-6
        Gradient tolerance of the L-BFGS solver.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features_in_,)
        Serving weights.
    feature_names_ : tuple of str
    features_version_ : int
    position_bias_ : float
        Exponent the fit used (estimated when ``position_bias="auto"``).
    n_iter_ : int
    n_sessions_ : int

    Examples
    --------
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [0.9, 0.1]])
    >>> ranker = MatchRanker().fit(X, [1, 0, 0, 2], groups=[0, 0, 1, 1])
    >>> bool(ranker.coef_[0] > ranker.coef_[1]), ranker.score(X, [1, 0, 0, 2], groups=[0, 0, 1, 1])
    (True, 1.0)
    """

    # Under metadata routing these go to fit/score without further set-up.
    __metadata_request__fit = {"groups": True, "positions": True}
    __metadata_request__score = {"groups": True}

    def __init__(
        self,
        w_proximity_near: float = DEFAULT_WEIGHTS["proximity_near"],
        w_proximity_mid: float = DEFAULT_WEIGHTS["proximity_mid"],
        w_proximity_far: float = DEFAULT_WEIGHTS["proximity_far"],
        w_in_service_area: float = DEFAULT_WEIGHTS["in_service_area"],
        w_online_region: float = DEFAULT_WEIGHTS["online_region"],
        w_online_fit: float = DEFAULT_WEIGHTS["online_fit"],
        w_event_exact: float = DEFAULT_WEIGHTS["event_exact"],
        w_event_group: float = DEFAULT_WEIGHTS["event_group"],
        w_availability: float = DEFAULT_WEIGHTS["availability"],
        w_availability_all: float = DEFAULT_WEIGHTS["availability_all"],
        w_spare_capacity: float = DEFAULT_WEIGHTS["spare_capacity"],
        w_full: float = DEFAULT_WEIGHTS["full"],
        w_qualified_above: float = DEFAULT_WEIGHTS["qualified_above"],
        w_qualified_below: float = DEFAULT_WEIGHTS["qualified_below"],
        w_qualification_gap: float = DEFAULT_WEIGHTS["qualification_gap"],
        w_primary_role: float = DEFAULT_WEIGHTS["primary_role"],
        *,
        alpha: float = HYPERPARAMETERS["alpha"],
        objective: str = HYPERPARAMETERS["objective"],
        position_bias: float | str = HYPERPARAMETERS["position_bias"],
        max_weight: float = HYPERPARAMETERS["max_weight"],
        shrink_to: str = HYPERPARAMETERS["shrink_to"],
        learn: bool = HYPERPARAMETERS["learn"],
        k: int = HYPERPARAMETERS["k"],
        max_iter: int = HYPERPARAMETERS["max_iter"],
        tol: float = HYPERPARAMETERS["tol"],
    ) -> None:
        self.w_proximity_near = w_proximity_near
        self.w_proximity_mid = w_proximity_mid
        self.w_proximity_far = w_proximity_far
        self.w_in_service_area = w_in_service_area
        self.w_online_region = w_online_region
        self.w_online_fit = w_online_fit
        self.w_event_exact = w_event_exact
        self.w_event_group = w_event_group
        self.w_availability = w_availability
        self.w_availability_all = w_availability_all
        self.w_spare_capacity = w_spare_capacity
        self.w_full = w_full
        self.w_qualified_above = w_qualified_above
        self.w_qualified_below = w_qualified_below
        self.w_qualification_gap = w_qualification_gap
        self.w_primary_role = w_primary_role
        self.alpha = alpha
        self.objective = objective
        self.position_bias = position_bias
        self.max_weight = max_weight
        self.shrink_to = shrink_to
        self.learn = learn
        self.k = k
        self.max_iter = max_iter
        self.tol = tol

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_weights(cls, weights: Mapping[str, float], **hyperparameters: Any) -> "MatchRanker":
        """A ready-to-score ranker serving exactly ``weights`` (one per feature name).

        Raises :class:`InvalidInput` when a feature is missing or unknown.
        """
        check_weights(weights)
        params = {f"w_{name}": float(weights[name]) for name in FEATURE_NAMES}
        return cls(**params, **hyperparameters).use_parameter_weights()

    @classmethod
    def from_serving(cls, serving: ServingRanker) -> "MatchRanker":
        """The estimator behind a served model: its weights and hyper-parameters, and what its fit found.

        For refitting or grid-searching from a stored model; see :meth:`serving` for the way back.
        """
        ranker = cls.from_weights(serving.weights, **serving.hyperparameters())
        ranker.position_bias_ = serving.position_bias_
        ranker.prior_scale_ = serving.prior_scale_
        ranker.n_iter_ = serving.n_iter_
        ranker.n_sessions_ = serving.n_sessions_
        return ranker

    def serving(self) -> ServingRanker:
        """The fitted weights as a :class:`~.weights.ServingRanker` (what the engine and the registry use).

        Raises
        ------
        NotFittedError
            Not fitted yet.
        InvalidInput
            Fitted on other columns than the match features.
        """
        weights = self.weights
        if tuple(weights) != FEATURE_NAMES:
            raise InvalidInput("Only rankers over the match features can serve; this one was fitted on other columns.")
        return ServingRanker(
            weights,
            self.hyperparameters(),
            position_bias=getattr(self, "position_bias_", 0.0),
            prior_scale=getattr(self, "prior_scale_", 1.0),
            n_iter=getattr(self, "n_iter_", 0),
            n_sessions=getattr(self, "n_sessions_", 0),
        )

    def parameter_weights(self) -> np.ndarray:
        """The ``w_*`` parameters as a vector in :data:`FEATURE_NAMES` order."""
        return np.array([float(getattr(self, f"w_{name}")) for name in FEATURE_NAMES])

    def use_parameter_weights(self) -> "MatchRanker":
        """Serve with the ``w_*`` parameters as they are (no learning); returns ``self``."""
        self.coef_ = self.parameter_weights()
        self.feature_names_ = FEATURE_NAMES
        self.features_version_ = FEATURES_VERSION
        self.n_features_in_ = len(FEATURE_NAMES)
        self.position_bias_ = 0.0
        self.prior_scale_ = 1.0
        self.n_iter_ = 0
        self.n_sessions_ = 0
        return self

    # ------------------------------------------------------------------ learning
    def _validate_hyperparameters(self) -> None:
        validate_hyperparameters(self.get_params())
        check_weights({name: getattr(self, f"w_{name}") for name in FEATURE_NAMES})

    def fit(self, X: Any, y: Any, groups: Any = None, positions: Any = None) -> "MatchRanker":
        """Learn the weights from graded results of logged sessions.

        Parameters
        ----------
        X : array of shape (n_results, n_features)
            Feature rows of every logged result.
        y : array of shape (n_results,)
            Non-negative grades (0 shown, 1 viewed, 2 requested, 3 accepted).
        groups : array of shape (n_results,), optional
            Session of each row; pairs and lists are formed within a session
            only.  Without it all rows are one session.
        positions : array of shape (n_results,), optional
            1-based position each result was shown at (for the position-bias
            correction).  Without it there is no correction.

        Returns
        -------
        self
        """
        self._validate_hyperparameters()
        X, y = validate_data(self, X, y, y_numeric=True, dtype=np.float64)
        if np.any(y < 0):
            raise ValueError("Grades y must be non-negative (0 shown, 1 viewed, 2 requested, 3 accepted).")
        n, n_features = X.shape
        groups = np.zeros(n, dtype=np.int64) if groups is None else np.asarray(groups)
        positions = np.ones(n) if positions is None else np.asarray(positions, dtype=np.float64)
        check_consistent_length(X, y, groups, positions)
        if np.any(~np.isfinite(positions)) or np.any(positions < 1):
            raise ValueError("Positions are 1-based whole numbers; got a position below 1 or not finite.")
        self.feature_names_ = FEATURE_NAMES if n_features == len(FEATURE_NAMES) else tuple(f"x{j}" for j in range(n_features))
        self.features_version_ = FEATURES_VERSION
        self.n_sessions_ = int(len(np.unique(groups)))
        if not self.learn:
            if n_features != len(FEATURE_NAMES):
                raise ValueError(
                    f"Hand-set weights need the {len(FEATURE_NAMES)} match features; X has {n_features} columns."
                )
            self.coef_ = self.parameter_weights()
            self.position_bias_ = 0.0
            self.prior_scale_ = 1.0
            self.n_iter_ = 0
            return self
        if self.position_bias == "auto":
            self.position_bias_ = estimate_position_bias(X, y >= 1, positions, alpha=self.alpha)
        else:
            self.position_bias_ = float(self.position_bias)
        row_weight = propensity_weights(positions, self.position_bias_, self.max_weight)
        # Hand-set weights only make sense as a prior for the match features themselves.
        prior = self.parameter_weights() if self.shrink_to == "weights" and n_features == len(FEATURE_NAMES) else None
        self.coef_, self.prior_scale_, self.n_iter_ = fit_weights(
            X, y, groups, row_weight, objective=self.objective, alpha=float(self.alpha), max_iter=self.max_iter,
            tol=self.tol, prior=prior,
        )
        return self

    # ------------------------------------------------------------------ scoring
    def _rows(self, X: Any) -> np.ndarray:
        # Fast path for the engine (one call per search): a float64 matrix of the
        # right width needs no conversion; NaN/inf surface in the scores and are
        # checked there.  Everything else goes through scikit-learn's validation.
        if not hasattr(self, "coef_"):
            check_is_fitted(self, "coef_")
        if type(X) is np.ndarray and X.dtype == np.float64 and X.ndim == 2 and X.shape[1] == self.coef_.shape[0]:
            return X
        return validate_data(self, X, reset=False, dtype=np.float64, ensure_all_finite=False)


    def score(self, X: Any, y: Any, groups: Any = None) -> float:
        """Mean NDCG@``k`` over the sessions in ``groups`` that have a positive grade."""
        scores = self.decision_function(X)
        y = np.asarray(y, dtype=np.float64)
        groups = np.zeros(len(scores), dtype=np.int64) if groups is None else np.asarray(groups)
        check_consistent_length(scores, y, groups)
        return mean_ndcg(scores, y, groups, k=self.k)

    @property
    def weights(self) -> dict[str, float]:
        """The serving weights by feature name."""
        if not hasattr(self, "coef_"):
            raise NotFittedError("This MatchRanker has no weights yet; call fit or use_parameter_weights first.")
        return dict(zip(self.feature_names_, map(float, self.coef_)))

    def hyperparameters(self) -> dict[str, Any]:
        """The learning hyper-parameters (everything but the ``w_*`` weights)."""
        params = self.get_params()
        return {name: params[name] for name in HYPERPARAMETERS}

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.target_tags.one_d_labels = True
        return tags


def default_ranker() -> MatchRanker:
    """The ranker that serves before any model is trained: default weights, ready to score."""
    return MatchRanker().use_parameter_weights()

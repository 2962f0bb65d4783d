"""The match ranker: a linear scikit-learn estimator over :mod:`.features`.

A score is ``X @ coef_``; each term ``X[:, j] * coef_[j]`` is feature ``j``'s
contribution, which is what the explanations show.  The default weights are
``__init__`` parameters (``w_<feature>``), so they can be read, set by hand,
cloned and grid-searched like any estimator's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from .features import FEATURE_NAMES, FEATURES_VERSION

__all__ = ["MatchRanker", "DEFAULT_WEIGHTS", "default_ranker"]

#: Transparent default weights (what serves before any training), with the reason for each.
DEFAULT_WEIGHTS: dict[str, float] = {
    "proximity_near": 1.0,  # a few km away beats a long drive
    "proximity_far": 1.0,  # keeps ordering sensible across the whole radius
    "in_service_area": 0.3,  # they said they would travel this far
    "online_fit": 0.2,  # online support is welcome when the coach allows it
    "event_exact": 1.5,  # specialism in the coach's event matters most after distance
    "event_group": 0.5,  # same event group: useful, less so
    "availability": 1.0,  # free when the coach is
    "spare_capacity": 0.3,  # room to take the coach on
    "full": -1.0,  # no room at all: show, but lower
    "qualified_above": 0.4,  # a mentor should be ahead of the coach
    "qualified_below": -0.4,  # ...and not behind
    "primary_role": 0.2,  # it is their main role
}


class MatchRanker(BaseEstimator):
    """Linear ranker over the match features.

    Parameters
    ----------
    w_proximity_near, w_proximity_far, ... : float
        Default weight of each feature of :data:`FEATURE_NAMES` (see
        :data:`DEFAULT_WEIGHTS` for the reasons).
    """

    def __init__(
        self,
        w_proximity_near: float = DEFAULT_WEIGHTS["proximity_near"],
        w_proximity_far: float = DEFAULT_WEIGHTS["proximity_far"],
        w_in_service_area: float = DEFAULT_WEIGHTS["in_service_area"],
        w_online_fit: float = DEFAULT_WEIGHTS["online_fit"],
        w_event_exact: float = DEFAULT_WEIGHTS["event_exact"],
        w_event_group: float = DEFAULT_WEIGHTS["event_group"],
        w_availability: float = DEFAULT_WEIGHTS["availability"],
        w_spare_capacity: float = DEFAULT_WEIGHTS["spare_capacity"],
        w_full: float = DEFAULT_WEIGHTS["full"],
        w_qualified_above: float = DEFAULT_WEIGHTS["qualified_above"],
        w_qualified_below: float = DEFAULT_WEIGHTS["qualified_below"],
        w_primary_role: float = DEFAULT_WEIGHTS["primary_role"],
    ) -> None:
        self.w_proximity_near = w_proximity_near
        self.w_proximity_far = w_proximity_far
        self.w_in_service_area = w_in_service_area
        self.w_online_fit = w_online_fit
        self.w_event_exact = w_event_exact
        self.w_event_group = w_event_group
        self.w_availability = w_availability
        self.w_spare_capacity = w_spare_capacity
        self.w_full = w_full
        self.w_qualified_above = w_qualified_above
        self.w_qualified_below = w_qualified_below
        self.w_primary_role = w_primary_role

    def parameter_weights(self) -> np.ndarray:
        """The ``w_*`` parameters as a vector in :data:`FEATURE_NAMES` order."""
        return np.array([float(getattr(self, f"w_{name}")) for name in FEATURE_NAMES])

    def use_parameter_weights(self) -> "MatchRanker":
        """Serve with the ``w_*`` parameters as they are (no learning); returns ``self``."""
        self.coef_ = self.parameter_weights()
        self.feature_names_ = FEATURE_NAMES
        self.features_version_ = FEATURES_VERSION
        self.n_features_in_ = len(FEATURE_NAMES)
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """Scores (higher is a better match) for feature rows ``X``."""
        check_is_fitted(self, "coef_")
        return np.asarray(X, dtype=np.float64) @ self.coef_

    def contributions(self, X: Any) -> np.ndarray:
        """Per-feature contributions ``X * coef_`` (rows sum to the scores)."""
        check_is_fitted(self, "coef_")
        return np.asarray(X, dtype=np.float64) * self.coef_

    @property
    def weights(self) -> dict[str, float]:
        """The serving weights by feature name."""
        check_is_fitted(self, "coef_")
        return dict(zip(self.feature_names_, map(float, self.coef_)))


def default_ranker() -> MatchRanker:
    """The ranker that serves before any model is trained: default weights, ready to score."""
    return MatchRanker().use_parameter_weights()

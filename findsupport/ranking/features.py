"""The match features, as the ranking package names them.

They are defined once in :mod:`findsupport.features` (below ranking, the
index and search, which all use them); this module re-exports them so that
``findsupport.ranking.features.FEATURE_NAMES`` and friends keep working.
"""

from ..features import (
    FEATURE_DESCRIPTIONS,
    FEATURE_NAMES,
    FEATURES,
    FEATURES_VERSION,
    Feature,
    FeatureScales,
    QueryContext,
    compute_features,
)

__all__ = [
    "FEATURES",
    "FEATURE_NAMES",
    "FEATURE_DESCRIPTIONS",
    "FEATURES_VERSION",
    "Feature",
    "QueryContext",
    "FeatureScales",
    "compute_features",
]

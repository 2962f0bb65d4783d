"""Ranking: match features, the scikit-learn ranker, training from feedback, evaluation, explanations.

The public names for the engine, the CLI and the notebooks:

* features — :data:`FEATURE_NAMES`, :class:`QueryContext`, :func:`compute_features`;
* the model — :class:`ServingRanker` (what serves: the weights, no scikit-learn),
  :func:`default_serving_ranker`, :data:`DEFAULT_WEIGHTS`; :class:`MatchRanker` (the
  scikit-learn estimator that training fits) and :func:`default_ranker`;
* feedback — :class:`FeedbackLog` (the store), :func:`read_feedback` (JSON lines);
* learning — :func:`build_dataset`, :func:`train_model`, :func:`tune`, :func:`evaluate_rankers`;
* saved models, in the database — :func:`load_active_ranker`, :func:`save_model`, :func:`activate`, :func:`list_models`;
* explanations — :func:`explain`;
* demo feedback — :class:`CoachSimulator`.

Examples
--------
>>> ranker = default_ranker()
>>> round(ranker.weights["event_exact"], 2)
1.5
"""

import importlib
from typing import Any

# Light, and needed by every search (``explain`` is also a submodule's name: imported here, the
# function is what ``findsupport.ranking.explain`` names, as before).
from .explain import Explanation, explain, format_distance
from .features import FEATURE_DESCRIPTIONS, FEATURE_NAMES, FEATURES_VERSION, FeatureScales, QueryContext, compute_features

#: Where each other public name lives.  Imported on first use (PEP 562), so that serving, which needs
#: the features, the explanations, the weights (``.weights``) and the registry only, does not load
#: what training needs (scikit-learn, SciPy, pandas): a second or two of every worker's start-up.
_LAZY: dict[str, str] = {
    "candidate_geometry": "candidates",
    "scan_candidates": "candidates",
    "DatasetReport": "dataset",
    "RankingData": "dataset",
    "build_dataset": "dataset",
    "query_point": "dataset",
    "NEAREST_FIRST": "evaluation",
    "Evaluation": "evaluation",
    "RankerScore": "evaluation",
    "Gain": "evaluation",
    "SEGMENTS": "evaluation",
    "evaluate_rankers": "evaluation",
    "session_segments": "evaluation",
    "compare_top": "evaluation",
    "FeedbackLog": "feedback",
    "ACTION_RANK": "labels",
    "GRADES": "labels",
    "gains": "labels",
    "grade_of": "labels",
    "DEFAULT_K": "metrics",
    "mean_ndcg": "metrics",
    "session_ndcg": "metrics",
    "DEFAULT_WEIGHTS": "weights",
    "HYPERPARAMETERS": "weights",
    "ServingRanker": "weights",
    "default_serving_ranker": "weights",
    "MatchRanker": "model",
    "default_ranker": "model",
    "estimate_position_bias": "propensity",
    "examination": "propensity",
    "propensity_weights": "propensity",
    "DEFAULT_VERSION": "registry",
    "ModelRecord": "registry",
    "activate": "registry",
    "active_version": "registry",
    "list_models": "registry",
    "load_active_ranker": "registry",
    "load_model": "registry",
    "model_document": "registry",
    "model_provenance": "registry",
    "model_summary": "registry",
    "read_model_file": "registry",
    "save_model": "registry",
    "MAX_CLIENT_SHARE": "provenance",
    "MIN_DISTINCT_CLIENTS": "provenance",
    "data_provenance": "provenance",
    "limit_clients": "provenance",
    "FeedbackFile": "sessions",
    "FeedbackSession": "sessions",
    "feedback_text": "sessions",
    "read_feedback": "sessions",
    "Behaviour": "simulator",
    "CoachPopulation": "simulator",
    "CoachSimulator": "simulator",
    "LoggingPolicy": "simulator",
    "QueryMix": "simulator",
    "SimulatedSession": "simulator",
    "DEFAULT_GRID": "training",
    "DEFAULT_HOLDOUT": "training",
    "TrainingResult": "training",
    "evaluate_active": "training",
    "surprising_weights": "training",
    "train_model": "training",
    "tune": "training",
}


__all__ = [
    "FEATURE_NAMES",
    "FEATURE_DESCRIPTIONS",
    "FEATURES_VERSION",
    "FeatureScales",
    "QueryContext",
    "compute_features",
    "candidate_geometry",
    "scan_candidates",
    "MatchRanker",
    "ServingRanker",
    "default_serving_ranker",
    "DEFAULT_WEIGHTS",
    "HYPERPARAMETERS",
    "default_ranker",
    "GRADES",
    "ACTION_RANK",
    "MAX_CLIENT_SHARE",
    "MIN_DISTINCT_CLIENTS",
    "data_provenance",
    "limit_clients",
    "model_provenance",
    "model_summary",
    "grade_of",
    "gains",
    "DEFAULT_K",
    "session_ndcg",
    "mean_ndcg",
    "examination",
    "propensity_weights",
    "estimate_position_bias",
    "FeedbackLog",
    "FeedbackFile",
    "FeedbackSession",
    "read_feedback",
    "feedback_text",
    "RankingData",
    "DatasetReport",
    "build_dataset",
    "query_point",
    "NEAREST_FIRST",
    "Evaluation",
    "RankerScore",
    "Gain",
    "SEGMENTS",
    "evaluate_rankers",
    "session_segments",
    "compare_top",
    "DEFAULT_GRID",
    "DEFAULT_HOLDOUT",
    "TrainingResult",
    "train_model",
    "evaluate_active",
    "surprising_weights",
    "tune",
    "DEFAULT_VERSION",
    "ModelRecord",
    "model_document",
    "save_model",
    "read_model_file",
    "load_model",
    "activate",
    "active_version",
    "load_active_ranker",
    "list_models",
    "Explanation",
    "explain",
    "format_distance",
    "CoachSimulator",
    "CoachPopulation",
    "QueryMix",
    "Behaviour",
    "LoggingPolicy",
    "SimulatedSession",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

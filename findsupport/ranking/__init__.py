"""Ranking: match features, the scikit-learn ranker, training from feedback, evaluation, explanations.

The public names for the engine, the CLI and the notebooks:

* features — :data:`FEATURE_NAMES`, :class:`QueryContext`, :func:`compute_features`;
* the model — :class:`MatchRanker`, :func:`default_ranker`, :data:`DEFAULT_WEIGHTS`;
* feedback — :class:`FeedbackLog` (the store), :func:`read_feedback` (JSON lines);
* learning — :func:`build_dataset`, :func:`train_model`, :func:`tune`, :func:`evaluate_rankers`;
* model files — :func:`load_active_ranker`, :func:`save_model`, :func:`activate`, :func:`list_models`;
* explanations — :func:`explain`;
* demo feedback — :class:`CoachSimulator`.

Examples
--------
>>> ranker = default_ranker()
>>> round(ranker.weights["event_exact"], 2)
1.5
"""

from .candidates import candidate_geometry, scan_candidates
from .dataset import DatasetReport, RankingData, build_dataset, query_point
from .evaluation import NEAREST_FIRST, Evaluation, RankerScore, evaluate_rankers
from .explain import Explanation, explain, format_distance
from .features import FEATURE_DESCRIPTIONS, FEATURE_NAMES, FEATURES_VERSION, FeatureScales, QueryContext, compute_features
from .feedback import FeedbackLog
from .labels import GRADES, gains, grade_of
from .metrics import DEFAULT_K, mean_ndcg, session_ndcg
from .model import DEFAULT_WEIGHTS, HYPERPARAMETERS, MatchRanker, default_ranker
from .propensity import estimate_position_bias, examination, propensity_weights
from .registry import (
    DEFAULT_VERSION,
    ModelRecord,
    activate,
    active_version,
    list_models,
    load_active_ranker,
    load_model,
    model_document,
    read_model_file,
    save_model,
)
from .sessions import FeedbackFile, FeedbackSession, feedback_text, read_feedback
from .simulator import Behaviour, CoachPopulation, CoachSimulator, LoggingPolicy, QueryMix, SimulatedSession
from .training import DEFAULT_GRID, DEFAULT_HOLDOUT, TrainingResult, evaluate_active, train_model, tune

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
    "DEFAULT_WEIGHTS",
    "HYPERPARAMETERS",
    "default_ranker",
    "GRADES",
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
    "evaluate_rankers",
    "DEFAULT_GRID",
    "DEFAULT_HOLDOUT",
    "TrainingResult",
    "train_model",
    "evaluate_active",
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

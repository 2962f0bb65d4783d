"""MatchRanker: scikit-learn conformance, learning from sessions, position bias, hand weights."""

from __future__ import annotations

import numpy as np
import pytest
import sklearn
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.utils.estimator_checks import parametrize_with_checks

from findsupport.errors import InvalidInput
from findsupport.ranking import DEFAULT_WEIGHTS, FEATURE_NAMES, MatchRanker, ServingRanker, default_ranker, default_serving_ranker

# Checks that hand over X with an arbitrary number of columns.  With learn=False
# the ranker serves the hand-set w_* weights, one per match feature, so it can
# only be fitted on the match features: these checks cannot apply to it.
_ARBITRARY_WIDTH = (
    "check_fit_score_takes_y",
    "check_estimators_overwrite_params",
    "check_dont_overwrite_parameters",
    "check_estimators_fit_returns_self",
    "check_readonly_memmap_input",
    "check_n_features_in_after_fitting",
    "check_positive_only_tag_during_fit",
    "check_estimators_dtypes",
    "check_dtype_object",
    "check_pipeline_consistency",
    "check_estimators_nan_inf",
    "check_estimators_pickle",
    "check_f_contiguous_array_estimator",
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
    "check_fit2d_1sample",
    "check_fit2d_1feature",
    "check_dict_unchanged",
    "check_fit_idempotent",
    "check_fit_check_is_fitted",
    "check_n_features_in",
    "check_fit2d_predict1d",
)


def expected_failed_checks(estimator: MatchRanker) -> dict[str, str]:
    if estimator.learn:
        return {}
    reason = "hand-set weights (learn=False) need exactly the match features, not arbitrary X"
    return {name: reason for name in _ARBITRARY_WIDTH}


@parametrize_with_checks(
    [MatchRanker(), MatchRanker(objective="pairwise", position_bias=1.0, shrink_to="zero"), MatchRanker(learn=False)],
    expected_failed_checks=expected_failed_checks,
    xfail_strict=True,
)
def test_scikit_learn_conformance(estimator, check):
    check(estimator)


def sessions(n_sessions: int, true_coef: np.ndarray, seed: int = 0, bias: float = 0.0, size: int = 10):
    """Synthetic logged sessions: one choice per session by utility, seen with position bias ``bias``."""
    rng = np.random.default_rng(seed)
    X = rng.random((n_sessions * size, len(true_coef)))
    groups = np.repeat(np.arange(n_sessions), size)
    positions = np.tile(np.arange(1, size + 1), n_sessions)
    utility = X @ true_coef + rng.gumbel(size=len(X)) * 0.3
    seen = rng.random(len(X)) < positions.astype(float) ** -bias
    y = np.zeros(len(X))
    for s in range(n_sessions):
        rows = np.flatnonzero((groups == s) & seen)
        if len(rows):
            y[rows[np.argmax(utility[rows])]] = 1
    return X, y, groups, positions


@pytest.mark.parametrize("objective", ["pairwise", "listwise"])
def test_fit_recovers_the_direction_of_preferences(objective):
    true = np.array([2.0, -1.0, 0.5, 0.0])
    X, y, groups, positions = sessions(400, true)
    ranker = MatchRanker(objective=objective, position_bias=0.0).fit(X, y, groups=groups, positions=positions)
    cosine = ranker.coef_ @ true / np.linalg.norm(ranker.coef_) / np.linalg.norm(true)
    assert cosine > 0.95
    assert ranker.feature_names_ == ("x0", "x1", "x2", "x3")


def test_pairs_are_formed_within_sessions_only():
    # Two sessions whose best results differ only by a feature that is the same within
    # each session: learning within sessions must ignore it, across sessions would not.
    X = np.array([[1.0, 1.0], [1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    y = np.array([1, 0, 1, 0])
    ranker = MatchRanker(alpha=1e-3).fit(X, y, groups=[0, 0, 1, 1])
    assert ranker.coef_[1] > 1.0
    assert abs(ranker.coef_[0]) < 1e-6


@pytest.mark.parametrize("objective, residual", [("listwise", 0.1), ("pairwise", 0.3)])
def test_position_bias_correction_recovers_what_top_positions_hide(objective, residual):
    """Feature 0 decides; feature 1 only tracks position (as distance tracks nearest-first order).

    Without correction the ranker learns that feature 1 matters more than
    feature 0 (chosen results sit at the top, where feature 1 is high); with
    inverse propensity weights it learns that it barely matters.  Listwise IPW
    is unbiased under the position-based model; pairwise IPW keeps a little bias
    (results never looked at still count as "not chosen" in its pairs).
    """
    rng = np.random.default_rng(3)
    n, size = 3000, 10
    positions = np.tile(np.arange(1, size + 1), n)
    groups = np.repeat(np.arange(n), size)
    X = np.column_stack([rng.random(n * size), 1.0 - (positions - 1) / size + rng.normal(0, 0.05, n * size)])
    relevant = rng.random(n * size) < 0.1 + 0.6 * X[:, 0]
    seen = rng.random(n * size) < positions.astype(float) ** -1.0
    y = (relevant & seen).astype(float)
    common = dict(objective=objective, shrink_to="zero", max_weight=50)
    naive = MatchRanker(position_bias=0.0, **common).fit(X, y, groups=groups, positions=positions)
    corrected = MatchRanker(position_bias=1.0, **common).fit(X, y, groups=groups, positions=positions)
    estimated = MatchRanker(position_bias="auto", **common).fit(X, y, groups=groups, positions=positions)
    assert naive.coef_[1] > naive.coef_[0]
    assert abs(corrected.coef_[1]) < residual * corrected.coef_[0]
    assert estimated.position_bias_ == pytest.approx(1.0, abs=0.1)
    assert abs(estimated.coef_[1]) < (residual + 0.1) * estimated.coef_[0]


def test_shrinking_towards_hand_weights_keeps_what_the_data_do_not_show():
    # Only event_exact varies in the data; every other feature is constant (says nothing).
    rng = np.random.default_rng(0)
    n, size = 300, 8
    X = np.zeros((n * size, len(FEATURE_NAMES)))
    j = FEATURE_NAMES.index("event_exact")
    X[:, j] = rng.random(n * size) < 0.3
    groups = np.repeat(np.arange(n), size)
    y = np.zeros(n * size)
    for s in range(n):
        rows = np.flatnonzero(groups == s)
        y[rows[np.argmax(X[rows, j] + rng.random(size) * 0.5)]] = 1
    towards = MatchRanker().fit(X, y, groups=groups)
    zero = MatchRanker(shrink_to="zero").fit(X, y, groups=groups)
    default = np.array(list(DEFAULT_WEIGHTS.values()))
    others = np.arange(len(FEATURE_NAMES)) != j
    # The silent features keep the hand-set proportions (one common scale) ...
    np.testing.assert_allclose(towards.coef_[others], towards.prior_scale_ * default[others], atol=1e-3)
    assert towards.prior_scale_ > 0
    # ... while plain ridge drops them to zero.
    np.testing.assert_allclose(zero.coef_[others], 0.0, atol=1e-6)
    # The feature the data speak about is not held below its hand-set share (at the optimum the
    # penalty on it vanishes with the common scale, so it sits at that share or above, up to the solver's tolerance).
    assert towards.coef_[j] >= towards.prior_scale_ * default[j] * (1 - 1e-3)


def test_grid_search_by_session_with_metadata_routing():
    X, y, groups, positions = sessions(120, np.array([1.0, 0.5, -1.0]), seed=1, bias=1.0)
    search = GridSearchCV(MatchRanker(), {"alpha": [0.01, 1.0], "objective": ["pairwise", "listwise"]}, cv=GroupKFold(3))
    with sklearn.config_context(enable_metadata_routing=True):
        search.fit(X, y, groups=groups, positions=positions)
    assert set(search.best_params_) == {"alpha", "objective"}
    assert 0.5 < search.best_score_ <= 1.0
    assert search.best_estimator_.n_sessions_ == 120


def test_hand_weights_by_grid_search():
    """learn=False: fit keeps the w_* weights, so GridSearchCV compares hand weights directly."""
    rng = np.random.default_rng(2)
    n, size = 200, 6
    X = rng.random((n * size, len(FEATURE_NAMES)))
    groups = np.repeat(np.arange(n), size)
    y = np.zeros(n * size)
    j = FEATURE_NAMES.index("availability")
    for s in range(n):
        rows = np.flatnonzero(groups == s)
        y[rows[np.argmax(X[rows, j])]] = 1
    search = GridSearchCV(MatchRanker(learn=False), {"w_availability": [0.0, 10.0]}, cv=GroupKFold(4))
    with sklearn.config_context(enable_metadata_routing=True):
        search.fit(X, y, groups=groups)
    assert search.best_params_ == {"w_availability": 10.0}
    assert search.best_estimator_.weights["availability"] == 10.0


def test_set_params_and_clone_keep_weights_as_parameters():
    ranker = MatchRanker().set_params(w_event_exact=3.0, alpha=0.5)
    copy = clone(ranker)
    assert copy.get_params()["w_event_exact"] == 3.0 and copy.alpha == 0.5
    assert copy.use_parameter_weights().weights["event_exact"] == 3.0


def test_default_ranker_serves_the_default_weights():
    ranker = default_ranker()
    assert ranker.weights == DEFAULT_WEIGHTS
    X = np.eye(len(FEATURE_NAMES))
    np.testing.assert_allclose(ranker.decision_function(X), list(DEFAULT_WEIGHTS.values()))
    np.testing.assert_allclose(ranker.contributions(X).sum(axis=1), ranker.decision_function(X))


def test_fast_path_equals_validated_path():
    ranker = default_ranker()
    X = np.random.default_rng(0).random((5, len(FEATURE_NAMES)))
    np.testing.assert_allclose(ranker.decision_function(X), ranker.decision_function(X.tolist()))
    np.testing.assert_allclose(ranker.predict(X.astype(np.float32)), X @ ranker.coef_, rtol=1e-6)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_features_are_rejected(bad):
    X = np.zeros((2, len(FEATURE_NAMES)))
    X[1, 3] = bad
    with pytest.raises(ValueError, match="NaN or infinity"):
        default_ranker().decision_function(X)
    with pytest.raises(ValueError, match="NaN or infinity"):
        default_ranker().contributions(X)


def test_wrong_width_is_rejected():
    with pytest.raises(ValueError, match="features"):
        default_ranker().decision_function(np.zeros((2, 3)))


def test_unfitted_ranker_says_so():
    with pytest.raises(NotFittedError):
        MatchRanker().decision_function(np.zeros((1, len(FEATURE_NAMES))))
    with pytest.raises(NotFittedError):
        MatchRanker().weights


@pytest.mark.parametrize(
    "params, field",
    [
        ({"alpha": -1.0}, "alpha"),
        ({"objective": "pointwise"}, "objective"),
        ({"position_bias": "guess"}, "position_bias"),
        ({"position_bias": 9.0}, "position_bias"),
        ({"max_weight": 0.5}, "max_weight"),
        ({"shrink_to": "mean"}, "shrink_to"),
        ({"k": 0}, "k"),
        ({"w_full": float("nan")}, "w_full"),
    ],
)
def test_bad_hyperparameters_are_named(params, field):
    X, y, groups, _ = sessions(5, np.ones(len(FEATURE_NAMES)))
    with pytest.raises(InvalidInput, match=field) as info:
        MatchRanker(**params).fit(X, y, groups=groups)
    assert info.value.extra["field"] == field


@pytest.mark.parametrize(
    "weights, message",
    [
        ({k: 1.0 for k in FEATURE_NAMES if k != "full"}, "missing full"),
        ({**{k: 1.0 for k in FEATURE_NAMES}, "charisma": 2.0}, "unknown charisma"),
    ],
)
def test_from_weights_needs_every_feature(weights, message):
    with pytest.raises(InvalidInput, match=message):
        MatchRanker.from_weights(weights)


def test_negative_grades_and_bad_positions_are_rejected():
    X = np.zeros((3, 2))
    with pytest.raises(ValueError, match="non-negative"):
        MatchRanker().fit(X, [0, -1, 1])
    with pytest.raises(ValueError, match="1-based"):
        MatchRanker().fit(X, [0, 1, 1], positions=[0, 1, 2])


def test_score_is_mean_ndcg_per_session():
    X = np.array([[1.0], [0.0], [0.0], [1.0]])
    ranker = MatchRanker(shrink_to="zero").fit(X, [1, 0, 1, 0], groups=[0, 0, 1, 1])
    # Session 0 ranks its choice first, session 1 second: (1 + 1/log2(3)) / 2.
    assert ranker.score(X, [1, 0, 1, 0], groups=[0, 0, 1, 1]) == pytest.approx((1 + 1 / np.log2(3)) / 2)


# ---------------------------------------------------------------------- serving without scikit-learn
def test_serving_scores_exactly_like_the_fitted_estimator():
    X, y, groups, positions = sessions(60, np.linspace(-1.0, 1.0, len(FEATURE_NAMES)), seed=3)
    fitted = MatchRanker(alpha=0.05).fit(X, y, groups=groups, positions=positions)
    serving = fitted.serving()
    assert isinstance(serving, ServingRanker) and serving.weights == fitted.weights
    np.testing.assert_array_equal(serving.decision_function(X), fitted.decision_function(X))
    np.testing.assert_array_equal(serving.contributions(X), fitted.contributions(X))
    fields = ("position_bias_", "prior_scale_", "n_iter_", "n_sessions_")
    assert [getattr(serving, f) for f in fields] == [getattr(fitted, f) for f in fields] and serving.n_sessions_ == 60
    assert serving.hyperparameters() == fitted.hyperparameters()


def test_from_serving_gives_training_the_served_model_back():
    served = ServingRanker(
        {**DEFAULT_WEIGHTS, "full": -2.0}, {"alpha": 0.3, "objective": "pairwise"}, position_bias=0.7, prior_scale=1.2
    )
    estimator = MatchRanker.from_serving(served)
    assert estimator.w_full == -2.0 and (estimator.alpha, estimator.objective) == (0.3, "pairwise")
    assert (estimator.position_bias_, estimator.prior_scale_) == (0.7, 1.2)
    assert clone(estimator).get_params() == estimator.get_params()  # a plain estimator again, for grid search
    again = estimator.serving()
    assert again.weights == served.weights and again.hyperparameters() == served.hyperparameters()


def test_default_serving_ranker_is_the_default_estimator():
    X = np.random.default_rng(1).random((7, len(FEATURE_NAMES)))
    np.testing.assert_array_equal(default_serving_ranker().decision_function(X), default_ranker().decision_function(X))
    assert default_serving_ranker().weights == DEFAULT_WEIGHTS


@pytest.mark.parametrize(
    "X, message",
    [
        (np.zeros((2, 3)), "16 columns"),
        (np.zeros(16), "2-D"),
        ([["a"] * 16], "numbers"),
        (np.full((1, 16), np.nan), "NaN or infinity"),
    ],
)
def test_serving_rejects_bad_rows(X, message):
    ranker = default_serving_ranker()
    with pytest.raises(ValueError, match=message):
        ranker.decision_function(X)
    with pytest.raises(ValueError, match=message):
        ranker.contributions(X)


@pytest.mark.parametrize(
    "weights, hyper, field",
    [
        ({**DEFAULT_WEIGHTS, "full": float("inf")}, {}, "w_full"),
        ({**DEFAULT_WEIGHTS, "full": True}, {}, "w_full"),
        (DEFAULT_WEIGHTS, {"objective": "pointwise"}, "objective"),
        (DEFAULT_WEIGHTS, {"position_bias": 9.0}, "position_bias"),
        (DEFAULT_WEIGHTS, {"k": 2.5}, "k"),
    ],
)
def test_serving_checks_weights_and_hyperparameters(weights, hyper, field):
    with pytest.raises(InvalidInput, match=field) as info:
        ServingRanker(weights, hyper)
    assert info.value.extra["field"] == field


def test_serving_weights_cannot_change_under_a_search():
    ranker = default_serving_ranker()
    with pytest.raises(ValueError):
        ranker.coef_[0] = 5.0


def test_only_match_feature_estimators_serve():
    ranker = MatchRanker().fit(np.eye(3), [1, 0, 0])
    with pytest.raises(InvalidInput, match="match features"):
        ranker.serving()

"""Graded labels, position-bias weights and NDCG@k, against hand computations and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings as hsettings, strategies as st
from sklearn.metrics import ndcg_score

from findsupport.errors import InvalidInput
from findsupport.ranking import estimate_position_bias, examination, gains, grade_of, mean_ndcg, propensity_weights, session_ndcg
from findsupport.ranking.objectives import make_pairs


@pytest.mark.parametrize(
    "action, grade", [("shown", 0), ("viewed", 1), ("requested", 2), ("declined", 2), ("accepted", 4), ("met", 5)]
)
def test_grades_follow_the_strength_of_the_action(action, grade):
    assert grade_of(action) == grade


def test_outcomes_weigh_far_above_clicks():
    # Issue 12: views are the cheapest signal to forge; an acceptance needs the provider.
    assert gains([grade_of("accepted")])[0] >= 10 * gains([grade_of("viewed")])[0]


@pytest.mark.parametrize("action", ["clicked", "", None, "Accepted"])
def test_unknown_actions_are_rejected(action):
    with pytest.raises(InvalidInput, match="action must be one of shown, viewed, requested, declined, accepted, met"):
        grade_of(action)


def test_gains_make_one_acceptance_worth_more_than_several_views():
    g = gains([0, 1, 2, 3])
    assert g.tolist() == [0.0, 1.0, 3.0, 7.0]
    assert g[3] > 3 * g[1]


@pytest.mark.parametrize(
    "positions, exponent, cap, weights",
    [
        ([1, 2, 8], 1.0, 20.0, [1.0, 2.0, 8.0]),  # a choice at 8 counts 8 times one at 1
        ([1, 4, 9], 0.5, 20.0, [1.0, 2.0, 3.0]),
        ([1, 30, 100], 1.0, 20.0, [1.0, 20.0, 20.0]),  # capped
        ([1, 5], 0.0, 20.0, [1.0, 1.0]),  # no correction
    ],
)
def test_inverse_propensity_weights(positions, exponent, cap, weights):
    np.testing.assert_allclose(propensity_weights(np.array(positions), exponent, cap), weights)


def test_positions_are_one_based():
    with pytest.raises(ValueError, match="1-based"):
        examination(np.array([0, 1]), 1.0)


@pytest.mark.parametrize("true_exponent", [0.3, 0.8, 1.5])
def test_position_bias_exponent_is_recovered_from_a_log(true_exponent):
    rng = np.random.default_rng(4)
    n, size = 3000, 10
    X = rng.random((n * size, 3))
    positions = np.tile(np.arange(1, size + 1), n)
    attractive = 1.0 / (1.0 + np.exp(-(X @ np.array([3.0, -2.0, 0.0]) - 0.5)))
    viewed = rng.random(n * size) < positions.astype(float) ** -true_exponent * attractive
    assert estimate_position_bias(X, viewed, positions) == pytest.approx(true_exponent, abs=0.12)


@pytest.mark.parametrize(
    "viewed, positions",
    [([False, False], [1, 2]), ([True, True], [1, 2]), ([True, False], [3, 3])],
)
def test_position_bias_without_information_is_zero(viewed, positions):
    assert estimate_position_bias(np.zeros((2, 1)), np.array(viewed), np.array(positions)) == 0.0


def test_ndcg_by_hand():
    # One session: chosen results (grades 3 and 1) ranked 2nd and 3rd.
    scores = np.array([0.9, 0.5, 0.4, 0.1])
    grades = np.array([0, 3, 1, 0])
    dcg = 7 / np.log2(3) + 1 / np.log2(4)
    ideal = 7 / np.log2(2) + 1 / np.log2(3)
    assert mean_ndcg(scores, grades, np.zeros(4)) == pytest.approx(dcg / ideal)


def test_ndcg_cut_off_counts_only_the_first_k():
    scores = -np.arange(12.0)
    grades = np.zeros(12)
    grades[11] = 1  # chosen result ranked 12th
    assert mean_ndcg(scores, grades, np.zeros(12), k=10) == 0.0
    assert mean_ndcg(scores, grades, np.zeros(12), k=12) == pytest.approx(1 / np.log2(13))


def test_sessions_without_a_choice_are_left_out():
    scores = np.array([1.0, 0.0, 1.0, 0.0])
    grades = np.array([0, 0, 0, 1])
    values = session_ndcg(scores, grades, np.array([0, 0, 1, 1]))
    assert values.tolist() == pytest.approx([1 / np.log2(3)])
    assert mean_ndcg(scores, np.zeros(4), np.array([0, 0, 1, 1])) == 0.0


def test_sessions_are_reported_in_order_of_first_appearance():
    scores = np.array([1.0, 0.0, 1.0, 0.0])
    grades = np.array([0, 1, 1, 0])
    assert session_ndcg(scores, grades, np.array([7, 7, 2, 2])).tolist() == pytest.approx([1 / np.log2(3), 1.0])


def test_ties_are_not_broken_by_the_given_order():
    """Logged rows come in shown order; a tie must not hand every ranker the logged order."""
    n = 2000
    grades = np.zeros(n)
    grades[::10] = 1  # the chosen result is always first in its session, as logged
    groups = np.repeat(np.arange(n // 10), 10)
    flat = np.zeros(n)  # a ranker with no opinion at all
    assert mean_ndcg(flat, grades, groups) < 0.6  # about the expected 0.45 of a random order, not 1.0


def test_ties_go_to_the_tiebreak_first():
    scores = np.zeros(3)
    grades = np.array([0, 0, 1])
    assert mean_ndcg(scores, grades, np.zeros(3), tiebreak=np.array([3.0, 2.0, 1.0])) == 1.0


@hsettings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(-5, 5, allow_nan=False), st.integers(0, 3)), min_size=2, max_size=15, unique_by=lambda t: t[0]))
def test_ndcg_matches_scikit_learn_without_ties(rows):
    scores = np.array([r[0] for r in rows])
    grades = np.array([r[1] for r in rows])
    if grades.max() == 0:
        return
    expected = ndcg_score([2.0**grades - 1], [scores], k=10)
    assert mean_ndcg(scores, grades, np.zeros(len(rows))) == pytest.approx(expected)


def test_negative_grades_and_bad_k_are_rejected():
    with pytest.raises(ValueError, match="non-negative"):
        session_ndcg(np.zeros(2), np.array([-1, 1]), np.zeros(2))
    with pytest.raises(ValueError, match="k must be"):
        session_ndcg(np.zeros(2), np.array([0, 1]), np.zeros(2), k=0)


def test_pairs_weigh_deep_choices_and_strong_actions_more():
    grades = np.array([1, 0, 3, 0])
    groups = np.zeros(4)
    weight = propensity_weights(np.array([1, 2, 3, 4]), 1.0, 20.0)
    pairs = make_pairs(grades, groups, weight)
    table = {(int(b), int(w)): float(x) for b, w, x in zip(pairs.better, pairs.worse, pairs.weight)}
    assert table == {(0, 1): 1.0, (0, 3): 1.0, (2, 0): 3 * (7 - 1), (2, 1): 3 * 7.0, (2, 3): 3 * 7.0}


# --------------------------------------------------------------------- evaluation by mode and role
def _three_sessions_data():
    """Three sessions (in person, online, any) of two results each; session 2 has no choice."""
    from findsupport.ranking import RankingData
    from findsupport.query import SearchQuery

    queries = (
        SearchQuery(postcode="NE1 4ST", role="mentor", mode="in_person"),
        SearchQuery(postcode="NE1 4ST", role="co_coach", mode="online"),
        SearchQuery(postcode="NE1 4ST", role="mentor", mode="any"),
        SearchQuery(postcode="NE1 4ST", role="mentor", mode="online"),
    )
    n_features = 3
    return RankingData(
        X=np.zeros((8, n_features)),
        # Rows of session 0 come last: segments must follow sessions, not row order.
        grades=np.array([0, 1, 0, 0, 1, 0, 0, 1]),
        groups=np.array([1, 1, 2, 2, 3, 3, 0, 0]),
        positions=np.array([1, 2, 1, 2, 1, 2, 1, 2]),
        distance_m=np.array([1.0, 2.0, 1.0, 2.0, 1.0, 2.0, 1.0, 2.0]),
        provider_ids=np.array(list("abcdefgh"), dtype=object),
        session_keys=("s0", "s1", "s2", "s3"),
        queries=queries,
        feature_names=tuple(f"f{i}" for i in range(n_features)),
    )


def test_evaluation_splits_by_mode_and_role_follow_each_session():
    from findsupport.ranking import NEAREST_FIRST, evaluate_rankers

    evaluation = evaluate_rankers(_three_sessions_data(), {NEAREST_FIRST: None})
    # Nearest first puts the chosen (farther) result second everywhere, except session 3 where it is first.
    by_mode = evaluation.split("mode")
    assert list(by_mode) == ["in_person", "online"]  # "any" (session 2) has no choice
    assert by_mode["in_person"][NEAREST_FIRST].sessions == 1 and by_mode["online"][NEAREST_FIRST].sessions == 2
    assert by_mode["in_person"].ndcg(NEAREST_FIRST) == pytest.approx(1 / np.log2(3))
    assert by_mode["online"].ndcg(NEAREST_FIRST) == pytest.approx((1 / np.log2(3) + 1.0) / 2)
    by_role = evaluation.split("role")
    assert {role: part[NEAREST_FIRST].sessions for role, part in by_role.items()} == {"mentor": 2, "co_coach": 1}
    assert evaluation.trailing(NEAREST_FIRST) == {"online": pytest.approx(-(1 - 1 / np.log2(3)) / 2)}
    document = evaluation.to_dict()
    assert document["by_mode"]["online"][NEAREST_FIRST]["sessions"] == 2
    assert set(document["by_role"]) == {"mentor", "co_coach"}
    assert "in_person" in evaluation.split_table("mode") and "co_coach" in evaluation.split_markdown("role")
    with pytest.raises(ValueError, match="by must be one of"):
        evaluation.split("region")


def test_gain_has_a_bootstrap_interval_around_the_paired_mean():
    from findsupport.ranking import Evaluation, RankerScore

    rng = np.random.default_rng(0)
    before = rng.uniform(0.5, 0.9, 400)
    after = before + rng.normal(0.02, 0.05, 400)
    evaluation = Evaluation(10, (RankerScore.of("before", before), RankerScore.of("after", after)))
    gain = evaluation.gain("after", "before")
    mean, half = evaluation.difference("after", "before")
    assert gain.mean == pytest.approx(mean) and gain.low < mean < gain.high
    # A percentile bootstrap of a mean agrees with the normal interval when sessions are many.
    assert gain.high - gain.low == pytest.approx(2 * half, rel=0.15)
    assert gain == evaluation.gain("after", "before")  # seeded: the same every run


def test_compare_top_ranks_every_candidate_of_one_search_under_each_ranker(catalog, directory):
    from findsupport.query import SearchQuery
    from findsupport.ranking import compare_top, default_ranker

    provider = catalog.providers[0]
    index, _ = directory.nearest_many(np.array([provider.easting]), np.array([provider.northing]))
    query = SearchQuery(postcode=directory.postcode_at(int(index[0])), role=provider.roles[0], mode="in_person", radius_km=30.0)
    rows = compare_top(catalog, directory, query, {"nearest": None, "before": default_ranker(), "after": default_ranker()})
    assert 2 <= len(rows) <= 10 and [r["position"] for r in rows] == list(range(1, len(rows) + 1))
    km = [float(r["nearest"].rsplit("(", 1)[1].split(" km")[0]) for r in rows]
    assert km == sorted(km)  # nearest first, over every candidate
    assert [r["before"] for r in rows] == [r["after"] for r in rows]  # the same ranker, the same top ten
    names = {p.name for p in catalog.providers}
    assert all(r["before"].rsplit(" (", 1)[0] in names for r in rows)

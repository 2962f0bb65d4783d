"""The coach simulator: valid feedback, reproducible, position-biased, and tastes that show."""

from __future__ import annotations

import json

import numpy as np
import pytest

from findsupport import taxonomy
from findsupport.ranking import Behaviour, CoachSimulator, LoggingPolicy, QueryMix, feedback_text, read_feedback


def test_sessions_are_valid_feedback_lines(simulated_feedback, catalog):
    feedback = read_feedback(feedback_text(simulated_feedback))
    assert not feedback.problems and len(feedback.sessions) == 1500
    for session in feedback.sessions[:200]:
        assert [r.position for r in session.results] == list(range(1, len(session.results) + 1))
        assert 2 <= len(session.results) <= 10
        assert all(r.provider_id in catalog for r in session.results)
    assert {s.query.mode for s in feedback.sessions} == set(taxonomy.MODES)
    assert simulated_feedback[0]["model_version"] == "nearest-first-explore"


def test_same_seed_same_sessions(catalog, directory):
    a = CoachSimulator(catalog, directory, mix=QueryMix(placement="providers"), seed=3).feedback(30)
    b = CoachSimulator(catalog, directory, mix=QueryMix(placement="providers"), seed=3).feedback(30)
    c = CoachSimulator(catalog, directory, mix=QueryMix(placement="providers"), seed=4).feedback(30)
    assert a == b and a != c


def test_logged_pages_are_nearest_first_with_exploration(simulator):
    ranks = []
    for s in simulator.sessions(300):
        order = {int(p): i for i, p in enumerate(s.candidates)}  # nearest first
        ids = [r["provider_id"] for r in s.feedback["results"]]
        shown = [order[simulator.catalog.position_of(pid)] for pid in ids]
        ranks.append(shown)
    kept_rank = np.mean([np.mean(np.array(r) == np.arange(len(r))) for r in ranks])
    explored = np.mean([r != list(range(len(r))) for r in ranks])
    beyond_page = np.mean([max(r) >= 10 for r in ranks])
    assert kept_rank > 0.4  # mostly nearest first ...
    assert explored > 0.5  # ... but most pages carry some swap ...
    assert beyond_page > 0.2  # ... and many show a provider from farther down


def test_views_fall_with_position_for_the_same_kind_of_result(catalog, directory):
    # Every position equally attractive on average (pages shuffled): views still fall with position.
    strong_bias = CoachSimulator(
        catalog, directory, mix=QueryMix(placement="providers"), seed=5,
        behaviour=Behaviour(examination_exponent=1.0), policy=LoggingPolicy(swap_probability=1.0, explore_pages=1),
    )
    views = np.zeros(10)
    shown = np.zeros(10)
    for line in strong_bias.feedback(600):
        for r in line["results"]:
            shown[r["position"] - 1] += 1
            views[r["position"] - 1] += r["action"] != "shown"
    rate = views / np.maximum(shown, 1)
    assert rate[:3].mean() > 2 * rate[7:].mean()


def test_choices_follow_tastes(simulated_feedback, catalog):
    """Chosen providers are exact-event specialists and have room far more often than those shown."""
    chosen_exact, shown_exact, chosen_full, shown_full = [], [], [], []
    for line in simulated_feedback:
        event = line["query"]["event"]
        for r in line["results"]:
            p = catalog.get(r["provider_id"])
            chosen = r["action"] != "shown"
            if event:
                exact = bool(set(p.events) & set(taxonomy.expand_event(event)))
                (chosen_exact if chosen else shown_exact).append(exact)
            (chosen_full if chosen else shown_full).append(p.spare == 0)
    assert np.mean(chosen_exact) > np.mean(shown_exact) + 0.3
    assert np.mean(chosen_full) < 0.5 * np.mean(shown_full)


def test_truth_covers_every_candidate(simulator):
    s = next(simulator.sessions(1))
    assert len(s.candidates) == len(s.distance_m) == len(s.relevance) >= len(s.feedback["results"])
    assert np.all((s.relevance >= 0) & (s.relevance <= 1))
    assert list(s.distance_m) == sorted(s.distance_m)


def test_write(simulator, tmp_path):
    path = tmp_path / "sim" / "feedback.jsonl"
    assert simulator.write(path, 25) == 25
    assert len([json.loads(line) for line in path.read_text().splitlines()]) == 25


def test_empty_catalogue_is_refused(directory):
    from findsupport.catalog.public import PublicCatalog

    with pytest.raises(ValueError, match="empty"):
        CoachSimulator(PublicCatalog.from_providers([]), directory)


def _relevance_by_distance(simulator, mode: str, n: int = 400) -> tuple[float, float]:
    """Mean truth of the nearest and the farthest third of candidates, over sessions of ``mode``."""
    near, far = [], []
    for s in simulator.sessions(n):
        if s.feedback["query"]["mode"] != mode or len(s.relevance) < 6:
            continue
        third = len(s.relevance) // 3
        near.append(s.relevance[:third].mean())
        far.append(s.relevance[-third:].mean())
    return float(np.mean(near)), float(np.mean(far))


@pytest.mark.parametrize("mode", ["in_person", "online"])
def test_closeness_matters_in_person_and_hardly_online(catalog, directory, mode):
    # Issue 12: someone coming to the coach's track is valued by closeness, a video call is not.
    simulator = CoachSimulator(catalog, directory, mix=QueryMix(placement="providers", modes={mode: 1.0}), seed=11)
    near, far = _relevance_by_distance(simulator, mode)
    if mode == "in_person":
        assert near > 2 * far
    else:
        assert near < 1.5 * far


@pytest.mark.parametrize("mode, matters", [("in_person", True), ("any", True), ("online", False)])
def test_the_travel_area_matters_for_in_person_help_only(catalog, directory, mode, matters):
    from findsupport.ranking import CoachPopulation

    # A coach who would rather meet (online help is worth -1 to them), near providers cost little to meet.
    population = CoachPopulation(outside_area=(5.0, 5.0), distance_km=100.0, distance_spread=0.0, online_lovers=0.0,
                                 online_reluctance=(-1.0, -1.0), same_region=(0.0, 0.0))
    simulator = CoachSimulator(catalog, directory, population=population, seed=12)
    online = np.ones(4, dtype=bool)  # providers who could help either way
    km = np.array([3.0, 3.0, 150.0, 150.0])
    inside = np.array([True, False, True, False])
    u = simulator._reach(np.random.default_rng(0), mode, online, km, inside)
    if mode == "in_person":
        assert u[0] - u[1] == pytest.approx(5.0)
    elif mode == "any":
        # Outside the area, a near provider can still help online: worth what a far one in the region would be,
        # never the in-person figure less the penalty.
        assert u[0] == pytest.approx(-0.03) and u[1] == u[2] == u[3] == -1.0
    else:
        assert u[0] == u[1] and u[2] == u[3]  # a video call does not care about travel areas
    assert (u[0] != u[1]) == matters

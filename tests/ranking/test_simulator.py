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

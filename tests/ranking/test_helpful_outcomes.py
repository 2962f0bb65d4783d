"""Outcome helpfulness: a per-result field of the feedback log that training grades above a plain ``met``."""

from __future__ import annotations

import json

import pytest

from findsupport.db import create_db_engine
from findsupport.errors import InvalidInput
from findsupport.ranking import FeedbackLog, build_dataset, gains, grade_of, read_feedback
from findsupport.ranking.feedback import feedback_actions
from findsupport.ranking.sessions import parse_session


@pytest.mark.parametrize(("action", "helpful", "grade"), [
    ("met", True, 6), ("met", None, 5), ("met", False, 4), ("accepted", True, 4), ("viewed", True, 1),
])  # fmt: skip
def test_helpful_outcomes_weigh_above_plain_met_above_clicks(action, helpful, grade):
    assert grade_of(action, helpful) == grade


def test_a_helpful_pairing_outweighs_many_clicks():
    assert gains([grade_of("met", True)])[0] > 2 * gains([grade_of("met")])[0] > 30 * gains([grade_of("viewed")])[0]


@pytest.mark.parametrize("helpful", ["yes", 1.5, [True]])
def test_helpful_must_be_a_boolean(helpful):
    with pytest.raises(InvalidInput, match="helpful"):
        grade_of("met", helpful)
    with pytest.raises(InvalidInput, match="helpful must be true, false or null"):
        parse_session({"query": {"postcode": "NE1 4ST"}, "results": [{"provider_id": "a", "position": 1, "action": "met",
                                                                     "helpful": helpful}]})


def test_the_log_keeps_helpfulness_per_result_and_exports_it():
    log = FeedbackLog(create_db_engine("sqlite://"))
    assert "helpful" in feedback_actions.c
    search_id = log.log_search({"postcode": "NE1 4ST", "role": "mentor"}, [("a", 1), ("b", 2), ("c", 3)], "default")
    log.record(search_id, "a", "met")
    log.record_helpful(search_id, "a", True)
    log.record(search_id, "b", "met")
    with pytest.raises(InvalidInput):
        log.record_helpful(search_id, "nobody", True)
    with pytest.raises(InvalidInput, match="helpful must be true or false"):
        log.record_helpful(search_id, "a", None)  # type: ignore[arg-type]
    session = next(log.sessions())
    assert session["results"] == [
        {"provider_id": "a", "position": 1, "action": "met", "helpful": True},
        {"provider_id": "b", "position": 2, "action": "met"},
        {"provider_id": "c", "position": 3, "action": "shown"},
    ]
    parsed = parse_session(session)
    assert [(r.action, r.helpful) for r in parsed.results] == [("met", True), ("met", None), ("shown", None)]


def test_training_data_grades_helpful_met_highest(catalog, directory):
    a, b, c = (p.id for p in list(catalog.providers)[:3])
    line = {"query": {"postcode": "NE1 4ST", "role": "mentor"}, "results": [
        {"provider_id": a, "position": 1, "action": "met", "helpful": False},
        {"provider_id": b, "position": 2, "action": "met", "helpful": True},
        {"provider_id": c, "position": 3, "action": "viewed"},
    ]}  # fmt: skip
    data, report = build_dataset(read_feedback([json.dumps(line)]), catalog, directory)
    assert report.sessions_kept == 1
    assert dict(zip(data.provider_ids.tolist(), data.grades.tolist())) == {a: 4, b: 6, c: 1}

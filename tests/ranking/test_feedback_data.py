"""Feedback in: the JSON-lines reader, the feedback log store and its export, the learning set."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import sqlalchemy

from findsupport.db import create_db_engine
from findsupport.errors import InvalidInput
from findsupport.ranking import (
    FEATURE_NAMES,
    FeedbackLog,
    QueryContext,
    build_dataset,
    candidate_geometry,
    compute_features,
    feedback_text,
    query_point,
    read_feedback,
)
from findsupport.ranking.sessions import is_held_out, parse_session
from findsupport.ranking.simulator import LOGGING_POLICY_VERSION
from findsupport.clients import ClientHasher


def session(pids=("p00001", "p00002", "p00003"), actions=("shown", "viewed", "shown"), **query):
    q = {"postcode": "NE1 4ST", "role": "mentor", "event": "hurdles", "slots": ["tue_eve"], "mode": "in_person", "level": None}
    q.update(query)
    return {"query": q, "results": [{"provider_id": p, "position": i, "action": a} for i, (p, a) in enumerate(zip(pids, actions), 1)]}


# --------------------------------------------------------------------- reading
@pytest.mark.parametrize(
    "line, reason",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        (json.dumps({"results": []}), '"query" must be an object'),
        (json.dumps({"query": {"postcode": "NE1 4ST"}}), '"results" must be a list'),
        (json.dumps(session(role="wizard")), "query: Got role='wizard'"),
        (json.dumps({"query": {"role": "mentor"}, "results": []}), "query: Enter a postcode"),
        (json.dumps(session(actions=("shown", "clicked", "shown"))), "result 2: action must be one of"),
        (json.dumps({**session(), "results": [{"provider_id": "a", "position": 0, "action": "shown"}]}), "position must be a whole number from 1"),
        (json.dumps({**session(), "results": [{"provider_id": "", "position": 1}]}), "provider_id must be non-empty"),
        (json.dumps(session(pids=("a", "a", "b"))), "listed twice"),
    ],
)
def test_bad_lines_are_reported_with_their_line_number(line, reason):
    good = json.dumps(session())
    feedback = read_feedback(io.StringIO(f"{good}\n\n{line}\n{good}\n"))
    assert len(feedback.sessions) == 2
    assert [p.line for p in feedback.problems] == [3]
    assert reason in feedback.problems[0].reason
    assert feedback.lines == 4


def test_reading_keeps_the_design_format_and_extras():
    line = {**session(), "search_id": "abc", "model_version": "default"}
    line["query"]["radius_km"] = 30  # search fields that do not shape features are ignored
    line["query"]["future_field"] = "x"  # as are fields this version does not know
    feedback = read_feedback(feedback_text([line]))
    (s,) = feedback.sessions
    assert (s.query.postcode, s.query.role, s.query.event, s.query.slots) == ("NE1 4ST", "mentor", "hurdles", ("tue_eve",))
    assert [(r.provider_id, r.position, r.action) for r in s.results] == [("p00001", 1, "shown"), ("p00002", 2, "viewed"), ("p00003", 3, "shown")]
    assert s.extra == {"search_id": "abc", "model_version": "default"}


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(InvalidInput, match="does not exist"):
        read_feedback(tmp_path / "nope.jsonl")


def test_file_hash_and_held_out_split_are_stable(tmp_path):
    lines = [session(pids=(f"p{i:05d}", f"p{i + 1:05d}")) for i in range(300)]
    path = tmp_path / "f.jsonl"
    path.write_text("".join(json.dumps(s) + "\n" for s in lines))
    a, b = read_feedback(path), read_feedback(path)
    assert a.sha256 == b.sha256 and len(a.sha256) == 64
    held = [is_held_out(s.key, 0.2) for s in a.sessions]
    assert held == [is_held_out(s.key, 0.2) for s in b.sessions]
    assert 0.1 < np.mean(held) < 0.3
    # A session lands on the same side whatever else is in the file.
    alone = read_feedback(feedback_text(lines[:10]))
    assert [is_held_out(s.key, 0.2) for s in alone.sessions] == held[:10]


# --------------------------------------------------------------------- the store
@pytest.fixture
def log() -> FeedbackLog:
    return FeedbackLog(create_db_engine("sqlite://"))


def test_log_record_and_export_round_trip(log, tmp_path):
    query = {"postcode": "NE1 4ST", "lon": None, "lat": None, "role": "mentor", "event": "hurdles",
             "slots": ["tue_eve"], "mode": "in_person", "level": "sessional_coach"}
    first = log.log_search(query, [("p1", 1), ("p2", 2), ("p3", 3)], "default", catalog_version="cat1")
    second = log.log_search({**query, "event": None}, [("p9", 11)], "20260101-000000-abcdef12")
    assert first != second and len(first) == 32
    log.record(first, "p2", "requested")
    log.record(first, "p2", "viewed")  # weaker: the request stays
    log.record(first, "p3", "viewed")
    log.record(first, "p3", "accepted")
    path = tmp_path / "out" / "feedback.jsonl"
    assert log.export(path) == 2
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0]["query"] == {**query, "postcode": "NE1 4"}  # the coach's sector, never their postcode
    assert "client" not in lines[0]  # a library search has no client
    assert lines[0]["results"] == [
        {"provider_id": "p1", "position": 1, "action": "shown"},
        {"provider_id": "p2", "position": 2, "action": "requested"},
        {"provider_id": "p3", "position": 3, "action": "accepted"},
    ]
    assert (lines[0]["search_id"], lines[0]["model_version"], lines[0]["catalog_version"]) == (first, "default", "cat1")
    assert lines[0]["created_at"].endswith("+00:00")
    assert lines[1]["results"] == [{"provider_id": "p9", "position": 11, "action": "shown"}]
    # The export is what training reads.
    feedback = read_feedback(path)
    assert not feedback.problems and [len(s.results) for s in feedback.sessions] == [3, 1]
    assert log.count() == 2


@pytest.mark.parametrize(
    "given, logged",
    [("NE21 4LZ", "NE21 4"), ("ne214lz", "NE21 4"), ("NE21 4", "NE21 4"), ("NE21", "NE21"), ("not a postcode", "not a postcode")],
)
def test_the_log_keeps_the_coachs_sector_not_their_postcode(log, given, logged):
    """Issue 11 retention: a full postcode in the log would locate a coach to a few houses."""
    log.log_search({"postcode": given, "role": "mentor"}, [("p1", 1)], None)
    stored = next(log.sessions())["query"]
    assert stored == {"postcode": logged, "role": "mentor"}


def test_sessions_carry_the_clients_keyed_hash(log):
    hasher = ClientHasher(log.engine)
    key = hasher.client_key("198.51.100.7")
    log.log_search({"postcode": "NE1 4ST"}, [("p1", 1), ("p2", 2)], None, client=key)
    (session,) = log.sessions()
    assert session["client"] == key and "198.51.100.7" not in json.dumps(session)
    assert parse_session(session).client == key
    with pytest.raises(InvalidInput):
        log.log_search({"postcode": "NE1 4ST"}, [("p1", 1)], None, client="198.51.100.7")  # an address is not a key


def test_an_older_log_gains_the_client_column(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    with create_db_engine(url, upgrade=False).begin() as conn:  # as the previous release left it
        conn.exec_driver_sql(
            "CREATE TABLE feedback_sessions (id VARCHAR(32) PRIMARY KEY, query TEXT NOT NULL, "
            "model_version VARCHAR(100), catalog_version VARCHAR(100), created_at DATETIME NOT NULL)"
        )
    log = FeedbackLog(create_db_engine(url))  # opening it runs the migrations (findsupport.migrations)
    log.log_search({"postcode": "NE1 4ST"}, [("p1", 1)], None, client="a" * 64)
    assert next(log.sessions())["client"] == "a" * 64


@pytest.mark.parametrize(
    "extra, source",
    [
        ({}, "real"),
        ({"source": "simulated"}, "simulated"),
        ({"model_version": LOGGING_POLICY_VERSION}, "simulated"),
        ({"search_id": "sim-7-12"}, "simulated"),
        ({"search_id": "0123abcd", "model_version": "default"}, "real"),
    ],
)
def test_sessions_know_whether_they_were_simulated(extra, source):
    line = {"query": {"postcode": "NE1 4ST"}, "results": [{"provider_id": "p1", "position": 1}], **extra}
    assert parse_session(line).source == source


@pytest.mark.parametrize(
    "search, provider, action, field",
    [
        ("unknown", "p1", "viewed", "search_id"),
        (None, "p7", "viewed", "provider_id"),  # not shown in that search
        (None, "p1", "shown", "action"),
        (None, "p1", "liked", "action"),
    ],
)
def test_record_rejects_what_it_cannot_apply(log, search, provider, action, field):
    sid = log.log_search({"postcode": "NE1 4ST"}, [("p1", 1)], None)
    with pytest.raises(InvalidInput) as info:
        log.record(search or sid, provider, action)
    assert info.value.extra["field"] == field
    assert [r["action"] for r in next(log.sessions())["results"]] == ["shown"]  # nothing changed


@pytest.mark.parametrize(
    "shown, message",
    [
        ([("p1", 0)], "Positions are whole numbers from 1"),
        ([("p1", 1), ("p1", 2)], "shown twice"),
        ([("", 1)], "non-empty"),
        ([("p1",)], "pairs"),
    ],
)
def test_log_search_rejects_bad_pages(log, shown, message):
    with pytest.raises(InvalidInput, match=message):
        log.log_search({"postcode": "NE1 4ST"}, shown, None)
    assert log.count() == 0


def test_export_to_an_open_file_and_an_empty_log(log):
    out = io.StringIO()
    assert log.export(out) == 0 and out.getvalue() == ""


@pytest.mark.empty_database  # on PostgreSQL too, opening the log must be what makes its tables
def test_log_opens_on_the_data_dir_database(settings):
    log = FeedbackLog.open(settings)
    sid = log.log_search({"postcode": "NE1 4ST"}, [("p1", 1)], "default")
    tables = sqlalchemy.inspect(log.engine).get_table_names()
    assert {"feedback_sessions", "feedback_actions"} <= set(tables)
    assert FeedbackLog.open(settings).count() == 1 and sid


# --------------------------------------------------------------------- the learning set
def test_unknown_providers_are_dropped_and_counted(catalog, directory):
    known = [p.id for p in catalog.providers[:4]]
    lines = [
        session(pids=(known[0], "withdrawn-1", known[1]), actions=("shown", "viewed", "requested")),  # kept: 2 known + choice
        session(pids=(known[2], "withdrawn-2"), actions=("accepted", "shown")),  # dropped: one known left
        session(pids=(known[0], known[3]), actions=("shown", "shown")),  # kept, no choice
        session(pids=(known[0], known[1]), actions=("viewed", "shown"), postcode="ZZ99 9ZZ"),  # postcode not found
    ]
    data, report = build_dataset(read_feedback(feedback_text(lines)), catalog, directory)
    assert (report.sessions_read, report.sessions_kept, report.sessions_learnable) == (4, 2, 1)
    assert (report.sessions_too_few_known, report.sessions_unlocated) == (1, 1)
    assert (report.results_read, report.results_unknown_provider, report.results_kept) == (9, 2, 4)
    assert data.provider_ids.tolist() == [known[0], known[1], known[0], known[3]]
    assert data.grades.tolist() == [0, 2, 0, 0]
    assert data.positions.tolist() == [1, 3, 1, 2]  # positions as shown, gaps and all
    assert any("location not found (ZZ99 9ZZ)" in line for line in report.lines())


def test_features_are_recomputed_from_the_catalogue(catalog, directory):
    pids = tuple(p.id for p in catalog.providers[10:16])
    line = session(pids=pids, actions=("viewed",) + ("shown",) * 5, level="sessional_coach", mode="any")
    data, _ = build_dataset(read_feedback(feedback_text([line])), catalog, directory)
    q = read_feedback(feedback_text([line])).sessions[0].query
    x, y = query_point(q, directory)
    positions = np.array([catalog.position_of(p) for p in pids])
    distance, inside = candidate_geometry(catalog, positions, x, y)
    context = QueryContext.from_query(x, y, role="mentor", event="hurdles", slots=["tue_eve"], mode="any", level="sessional_coach")
    np.testing.assert_array_equal(data.X, compute_features(context, catalog, positions, distance, inside))
    np.testing.assert_allclose(data.distance_m, distance)
    assert data.X.shape == (6, len(FEATURE_NAMES))


def test_lon_lat_queries_are_placed_at_the_point(catalog, directory):
    pids = tuple(p.id for p in catalog.providers[:3])
    location = directory.lookup("NE1 4ST")
    line = session(pids=pids, postcode=None, lon=location.lon, lat=location.lat)
    data, report = build_dataset(read_feedback(feedback_text([line])), catalog, directory)
    by_postcode, _ = build_dataset(read_feedback(feedback_text([session(pids=pids)])), catalog, directory)
    assert report.sessions_kept == 1
    np.testing.assert_allclose(data.distance_m, by_postcode.distance_m, atol=1.0)


def test_split_by_session_keeps_sessions_whole(simulated_feedback, catalog, directory):
    data, _ = build_dataset(read_feedback(feedback_text(simulated_feedback)), catalog, directory)
    train, test = data.split(0.25)
    assert train.n_sessions + test.n_sessions == data.n_sessions
    assert not set(train.session_keys) & set(test.session_keys)
    assert len(train) + len(test) == len(data)
    assert np.array_equal(np.unique(test.groups), np.arange(test.n_sessions))
    assert 0.15 < test.n_sessions / data.n_sessions < 0.35


def test_every_server_on_one_database_hashes_a_client_alike(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    first, second = ClientHasher(create_db_engine(url)), ClientHasher(create_db_engine(url))
    assert first.client_key("198.51.100.7") == second.client_key("198.51.100.7")
    other = ClientHasher(create_db_engine(f"sqlite:///{tmp_path / 'other.sqlite3'}"))
    assert other.client_key("198.51.100.7") != first.client_key("198.51.100.7")  # keyed: not a plain hash


def test_codes_stored_before_declined_and_met_joined_keep_their_meaning(tmp_path):
    """Logs hold a stable code per action: an old 'accepted' row (code 3) still reads as accepted,
    and the strongest action is kept by rank (met > accepted > declined > requested), not by code."""
    import sqlalchemy as sa

    from findsupport.db import create_db_engine
    from findsupport.ranking.feedback import FeedbackLog, feedback_actions

    log = FeedbackLog(create_db_engine(f"sqlite:///{tmp_path / 'f.sqlite3'}"))
    search_id = log.log_search({"postcode": "NE21 4LZ"}, [("a", 1), ("b", 2), ("c", 3)], None)
    with log.engine.begin() as conn:  # what an older version stored for an acceptance
        conn.execute(sa.insert(feedback_actions).values(search_id=search_id, provider_id="a", action=3))
    log.record(search_id, "a", "declined")  # weaker than accepted: no change
    log.record(search_id, "b", "declined")
    log.record(search_id, "b", "requested")  # weaker than declined: no change
    log.record(search_id, "c", "accepted")
    log.record(search_id, "c", "met")
    actions = {r["provider_id"]: r["action"] for r in next(log.sessions())["results"]}
    assert actions == {"a": "accepted", "b": "declined", "c": "met"}


def test_remembered_client_keys_are_the_keyed_hash_and_stay_bounded(tmp_path, monkeypatch):
    """The per-process memo of client keys answers what the HMAC answers, for every address, and holds
    at most KEYS_CACHED addresses however many clients come."""
    import hashlib
    import hmac

    from findsupport import clients
    from findsupport.db import create_db_engine

    monkeypatch.setattr(clients, "KEYS_CACHED", 50)
    hasher = ClientHasher(create_db_engine(f"sqlite:///{tmp_path / 'k.sqlite3'}"))
    addresses = [f"198.51.100.{n % 256}" if n % 3 else f"2001:db8::{n:x}" for n in range(400)]
    for address in addresses + addresses[::-1]:
        assert hasher.client_key(address) == hmac.new(hasher._key, address.encode(), hashlib.sha256).hexdigest()
        assert len(hasher._keys) <= 50

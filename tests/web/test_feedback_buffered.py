"""The web app with feedback written in batches (``feedback_write_batch_ms``): same answers, nothing lost.

The search answers at once with its ``search_id``; the session reaches the
database with the next batch, on the app's ``close()`` (gunicorn's
``worker_exit``) at the latest; a view or an introduction right after the
search still finds it.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select

from findsupport.db import create_db_engine
from findsupport.ranking.feedback import FeedbackLog, feedback_sessions
from findsupport.search.engine import Engine
from findsupport.web.introductions import asked_for_search

from .conftest import NEWCASTLE, make_app, web_settings

#: Long enough that only a flush (close, a read, a graceful stop) writes during the test.
LONG_WINDOW_MS = 60_000
#: How long two gunicorn workers may take to build their engines on the sample catalogue.
SERVER_START_S = 120.0


def _database_sessions(url: str) -> int:
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(feedback_sessions)).scalar_one())
    finally:
        engine.dispose()


@pytest.fixture
def buffered(web_data_dir, cache_dir, web_engine, tmp_path):
    """An app whose engine logs to a buffered feedback log of its own (the shared engine's snapshot)."""
    url = f"sqlite:///{tmp_path / 'feedback.sqlite3'}"
    log = FeedbackLog(create_db_engine(url), batch_ms=LONG_WINDOW_MS)
    engine = Engine(web_engine.snapshot, web_engine.directory, settings=web_engine.settings, store=web_engine.store,
                    feedback=log)
    app = make_app(web_data_dir, cache_dir, engine, tmp_path)
    app.testing = True
    yield app, url
    app.extensions["findsupport"].close()


def test_a_burst_of_searches_then_a_graceful_close_logs_every_session(buffered):
    app, url = buffered
    client = app.test_client()
    ids = []
    for radius in (5, 10, 15, 20, 25) * 8:
        body = client.get("/api/v1/search", query_string={"postcode": NEWCASTLE, "radius_km": radius}).get_json()
        ids.append(body["search_id"])
    assert all(ids) and len(set(ids)) == 40
    assert _database_sessions(url) == 0, "the answers did not wait for the database"
    app.extensions["findsupport"].close()  # what gunicorn's worker_exit calls
    assert _database_sessions(url) == 40
    assert {s["search_id"] for s in FeedbackLog(create_db_engine(url)).sessions()} == set(ids)


def test_a_view_right_after_its_search_is_recorded(buffered):
    app, _ = buffered
    client = app.test_client()
    body = client.get("/api/v1/search", query_string={"postcode": NEWCASTLE, "limit": 3}).get_json()
    provider_id = body["results"][1]["id"]
    response = client.get(f"/api/v1/providers/{provider_id}", query_string={"search_id": body["search_id"]})
    assert response.status_code == 200
    session = next(s for s in app.extensions["findsupport"].engine.feedback.sessions())
    assert {r["provider_id"]: r["action"] for r in session["results"]}[provider_id] == "viewed"


def test_an_introduction_right_after_its_search_knows_what_was_asked(buffered):
    app, _ = buffered
    client = app.test_client()
    body = client.get("/api/v1/search", query_string={"postcode": NEWCASTLE, "role": "mentor"}).get_json()
    asked = asked_for_search(app.extensions["findsupport"].engine.feedback, body["search_id"])
    assert asked.role == "mentor" and asked.sector == "NE1 4"


def test_the_search_body_is_the_same_json_as_the_standard_library_writes(buffered):
    """orjson writes the body; Flask's own encoder would have written the same value, members in the same order."""
    app, _ = buffered
    client = app.test_client()
    response = client.get("/api/v1/search", query_string={"postcode": NEWCASTLE, "limit": 5})
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.data.endswith(b"\n")
    body = response.get_json()
    with app.app_context():
        from flask.json.provider import DefaultJSONProvider

        standard = DefaultJSONProvider.response(app.json, body)
    # Numbers as text, members in order: the same rendering of every float, the same order of every member.
    ours = json.loads(response.data, parse_float=str, object_pairs_hook=list)
    theirs = json.loads(standard.data, parse_float=str, object_pairs_hook=list)
    assert ours == theirs


def test_gunicorn_stopped_gracefully_writes_every_buffered_session(web_data_dir, cache_dir, tmp_path):
    """Two real gunicorn workers buffer a burst of searches (a window longer than the test); SIGTERM writes them all."""
    data_dir = web_data_dir[0]
    url = web_settings(data_dir, cache_dir).resolved_database_url
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FINDSUPPORT_")},
        "FINDSUPPORT_DATA_DIR": str(data_dir),
        "FINDSUPPORT_CACHE_DIR": str(cache_dir),
        "FINDSUPPORT_DATABASE_URL": url,
        "FINDSUPPORT_OUTBOX_DIR": str(tmp_path / "outbox"),
        "FINDSUPPORT_RATE_LIMITS": "off",
        "FINDSUPPORT_FEEDBACK_WRITE_BATCH_MS": "10000",  # the longest allowed: far beyond the burst
    }
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "gunicorn", "-c", "python:findsupport.web.serving", "--workers", "2",
               "--bind", f"127.0.0.1:{port}", "findsupport.web:create_app()"]
    process = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    ids = []
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            assert process.poll() is None, process.stderr.read()
            try:
                _get_json(port, "/api/v1/health")
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not start in time"
                time.sleep(0.3)
        for radius in (5, 10, 15, 20, 25) * 6:
            ids.append(_get_json(port, f"/api/v1/search?postcode={NEWCASTLE.replace(' ', '+')}&radius_km={radius}")["search_id"])
        assert all(ids) and len(set(ids)) == 30
    finally:
        process.send_signal(signal.SIGTERM)  # a graceful stop: workers finish, flush and exit
        try:
            process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            process.stderr.close()
    written = {s["search_id"] for s in FeedbackLog(create_db_engine(url)).sessions()}
    assert set(ids) <= written


def _get_json(port: int, path: str) -> dict:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        assert response.status == 200, response.read()[:300]
        return json.loads(response.read())
    finally:
        connection.close()

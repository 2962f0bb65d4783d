"""The feedback log written in batches off the request path: nothing accepted is ever lost.

Covers :class:`findsupport.ranking.feedback_writer.BatchWriter` and
:class:`findsupport.ranking.FeedbackLog` with ``batch_ms > 0``: a burst then a
graceful close writes every session; a record right after its search finds
it; a failing database or a bug in the writer is logged and retried; a full
buffer makes the caller write (backpressure); a dead thread is replaced.
What the writer stores is what was logged, on SQLite and PostgreSQL alike;
search ids are random and a forked worker never repeats its parent's.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from findsupport.db import create_db_engine
from findsupport.ranking.feedback import FeedbackLog, _utc_text, feedback_sessions, logged_query
from findsupport.ranking.feedback_writer import BATCH_MAX_ITEMS, BatchWriter, flush_all_writers

QUERY = {"postcode": "NE21 4LZ", "role": "mentor"}
SHOWN = [("p1", 1), ("p2", 2), ("p3", 3)]
#: Long enough that nothing is written by the thread while a test looks at the buffer.
LONG_WINDOW_MS = 60_000


def _url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'feedback.sqlite3'}"


def _rows_in_database(url: str) -> int:
    """Sessions as another process would see them (a fresh engine, not the log's own)."""
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(feedback_sessions)).scalar_one())
    finally:
        engine.dispose()


@pytest.fixture
def url(tmp_path: Path) -> str:
    return _url(tmp_path)


def test_a_burst_from_many_threads_then_a_graceful_close_writes_every_session(url):
    log = FeedbackLog(create_db_engine(url), batch_ms=20)
    ids: list[str] = []
    lock = threading.Lock()

    def coach(k: int) -> None:
        for j in range(150):
            sid = log.log_search({**QUERY, "role": "mentor"}, [(f"p{k}-{j}", 1), ("shared", 2)], "default")
            with lock:
                ids.append(sid)

    threads = [threading.Thread(target=coach, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    assert _rows_in_database(url) == len(ids) == 900
    written = {s["search_id"]: s for s in FeedbackLog(create_db_engine(url)).sessions()}
    assert set(written) == set(ids)
    assert all([r["action"] for r in s["results"]] == ["shown", "shown"] for s in written.values())


def test_the_answer_does_not_wait_for_the_database(url):
    log = FeedbackLog(create_db_engine(url), batch_ms=LONG_WINDOW_MS)
    sid = log.log_search(QUERY, SHOWN, "default")
    assert len(sid) == 32
    assert _rows_in_database(url) == 0, "buffered: written by the batch, not by the search"
    log.close()
    assert _rows_in_database(url) == 1


@pytest.mark.parametrize("action", ["viewed", "requested"])
def test_a_record_right_after_its_search_finds_it(url, action):
    log = FeedbackLog(create_db_engine(url), batch_ms=LONG_WINDOW_MS)
    sid = log.log_search(QUERY, SHOWN, "default")
    log.record(sid, "p2", action)
    session = next(log.sessions())
    assert [r["action"] for r in session["results"]] == ["shown", action, "shown"]
    log.close()


def test_a_record_served_by_another_worker_waits_one_window_for_its_search(url):
    """Two workers (two logs on one database): the view reaches the one that did not serve the search."""
    served_by = FeedbackLog(create_db_engine(url), batch_ms=20)
    # The viewer waits its own window: a longer one here, so a loaded test machine cannot make it flaky.
    viewed_by = FeedbackLog(create_db_engine(url), batch_ms=500)
    sid = served_by.log_search(QUERY, SHOWN, "default")
    viewed_by.record(sid, "p1", "viewed")
    assert [r["action"] for r in next(viewed_by.sessions())["results"]][0] == "viewed"
    served_by.close()
    viewed_by.close()


def test_reading_through_the_log_sees_its_own_buffered_sessions(url):
    log = FeedbackLog(create_db_engine(url), batch_ms=LONG_WINDOW_MS)
    sid = log.log_search(QUERY, SHOWN, "default")
    assert log.count() == 1
    log.log_search(QUERY, SHOWN, "default")
    with log.engine.connect() as conn:  # as findsupport.web.introductions reads it
        assert conn.execute(select(feedback_sessions.c.id).where(feedback_sessions.c.id == sid)).scalar() == sid
        assert conn.execute(select(func.count()).select_from(feedback_sessions)).scalar_one() == 2
    log.close()


def test_unknown_search_ids_are_still_refused(url):
    log = FeedbackLog(create_db_engine(url), batch_ms=20)
    sid = log.log_search(QUERY, SHOWN, "default")
    with pytest.raises(ValueError, match="not a search we logged"):
        log.record("0" * 32, "p1", "viewed")
    with pytest.raises(ValueError, match="not shown"):
        log.record(sid, "nobody", "viewed")
    log.close()


def test_a_failing_database_is_logged_and_retried_until_the_batch_lands(url, monkeypatch, caplog):
    log = FeedbackLog(create_db_engine(url), batch_ms=10)
    real = log._insert_sessions
    failures = {"left": 3}

    def flaky(sessions):
        if failures["left"]:
            failures["left"] -= 1
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        real(sessions)

    monkeypatch.setattr(log, "_insert_sessions", flaky)
    with caplog.at_level(logging.WARNING, logger="findsupport.ranking.feedback_writer"):
        ids = [log.log_search(QUERY, SHOWN, "default") for _ in range(5)]
        deadline = threading.Event()
        for _ in range(200):
            if _rows_in_database(url) == 5:
                break
            deadline.wait(0.02)
    assert _rows_in_database(url) == 5
    assert {s["search_id"] for s in log.sessions()} == set(ids)
    assert any("retrying" in r.getMessage() and "OperationalError" in r.getMessage() for r in caplog.records)
    log.close()


def test_a_bug_in_the_writer_is_logged_and_the_batch_kept():
    written: list[str] = []
    calls = {"n": 0}

    def buggy(items):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("a bug")
        written.extend(items)

    writer = BatchWriter(buggy, batch_s=0.01)
    writer.submit("a", "a")
    writer.submit("b", "b")
    for _ in range(200):
        if written:
            break
        threading.Event().wait(0.02)
    writer.close()
    assert written == ["a", "b"]


def test_an_item_after_an_idle_spell_is_written_by_the_thread():
    """The thread, idle once its batch is written, wakes for the next item (not only at a full batch)."""
    written: list[str] = []
    landed = threading.Event()

    def write(items):
        written.extend(items)
        landed.set()

    writer = BatchWriter(write, batch_s=0.01)
    writer.submit("first", "first")
    assert landed.wait(5)
    landed.clear()
    threading.Event().wait(0.1)  # the thread is idle now
    writer.submit("later", "later")
    assert landed.wait(5), "the item waited for a full batch or the close"
    assert written == ["first", "later"]
    writer.close()


# The thread is ended on purpose; pytest reports any thread that ends by an exception.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_dead_writer_thread_is_replaced_and_nothing_is_lost(caplog):
    written: list[str] = []
    dying = {"yes": True}

    def write(items):
        if dying["yes"]:
            dying["yes"] = False
            raise SystemExit  # the thread ends here, as if killed, mid-batch
        written.extend(items)

    writer = BatchWriter(write, batch_s=0.01)
    writer.submit("a", "a")
    writer._thread.join(5)
    assert not writer._thread.is_alive() and writer.holds("a"), "dead, and its batch is back in the buffer"
    with caplog.at_level(logging.WARNING, logger="findsupport.ranking.feedback_writer"):
        writer.submit("b", "b")
    assert any("starting a new one" in r.getMessage() for r in caplog.records)
    writer.close()
    assert written == ["a", "b"]


def test_a_full_buffer_is_written_by_the_caller_in_order():
    written: list[str] = []
    writer = BatchWriter(written.extend, batch_s=60, max_pending=2)
    writer.submit("a", "a")
    writer.submit("b", "b")
    assert written == []
    writer.submit("c", "c")  # full: this thread writes, its own item last
    assert written == ["a", "b", "c"]
    assert writer.pending() == 0
    writer.close()


def test_a_full_buffer_with_the_database_down_fails_the_caller_and_keeps_the_rest():
    written: list[str] = []
    down = {"yes": True}

    def write(items):
        if down["yes"]:
            raise OperationalError("INSERT", {}, Exception("connection refused"))
        written.extend(items)

    writer = BatchWriter(write, batch_s=60, max_pending=2)
    writer.submit("a", "a")
    writer.submit("b", "b")
    with pytest.raises(OperationalError):
        writer.submit("c", "c")  # the caller's search fails as a synchronous write would; "c" was never accepted
    assert writer.holds("a") and writer.holds("b") and not writer.holds("c")
    down["yes"] = False
    writer.close()
    assert written == ["a", "b"]


def test_closing_flushes_every_writer_of_the_process(url):
    log = FeedbackLog(create_db_engine(url), batch_ms=LONG_WINDOW_MS)
    log.log_search(QUERY, SHOWN, "default")
    flush_all_writers()  # what atexit and gunicorn's worker_exit call
    assert _rows_in_database(url) == 1


def test_a_retried_batch_whose_commit_landed_is_not_written_twice(settings, monkeypatch):
    """The commit went through but its acknowledgement was lost: the retry skips what landed and writes the rest."""
    log = FeedbackLog(create_db_engine(settings.resolved_database_url), batch_ms=LONG_WINDOW_MS)
    real = log._insert_sessions
    attempts = []

    def acknowledgement_lost(sessions):
        attempts.append(len(sessions))
        real(sessions)
        if len(attempts) == 1:
            raise OperationalError("COMMIT", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(log, "_insert_sessions", acknowledgement_lost)
    landed = [log.log_search(QUERY, SHOWN, "default") for _ in range(2)]
    with pytest.raises(OperationalError):
        log.flush()
    assert log._writer.holds(landed[0]), "as far as this process knows, the batch is not written"
    later = log.log_search(QUERY, [("p9", 1)], "default")
    log.flush()  # the same batch again, with the later search: the first two meet their own rows
    assert attempts == [2, 3, 1]
    sessions = {s["search_id"]: s for s in log.sessions()}
    assert set(sessions) == {*landed, later} and log.count() == 3
    assert [len(sessions[sid]["results"]) for sid in (*landed, later)] == [3, 3, 1]
    log.close()


def test_writing_synchronously_is_still_the_default(url):
    log = FeedbackLog(create_db_engine(url))
    log.log_search(QUERY, SHOWN, "default")
    assert _rows_in_database(url) == 1


# --------------------------------------------------------------------- what the writer stores
def test_a_batch_of_many_sessions_reads_back_as_logged(settings):
    """The writer's bulk path (COPY, or executemany of tuples), several batches: every value as logged, on either database."""
    url = settings.resolved_database_url
    log = FeedbackLog(create_db_engine(url), batch_ms=LONG_WINDOW_MS)
    before = _utc_text(datetime.now(timezone.utc))
    expected = {}
    for k in range(2 * BATCH_MAX_ITEMS + 100):
        # Text a bulk path must escape: quotes, a backslash, a tab, a newline, accents.
        query = {"postcode": ("NE21 4LZ", "sw1a 1aa", "NE21")[k % 3], "role": "mentor", "event": 'saut à "la" perche\\\t\n',
                 "slots": ["tue_eve"], "k": k}
        shown = [(f"P{k:05d}-{i}", 1 + i + k % 4) for i in range(k % 12)]  # pages of 0 to 11, offsets too
        client = None if k % 2 else f"{k:064x}"
        model = None if k % 7 == 0 else f"model-{k % 5}"
        sid = log.log_search(query, shown, model, catalog_version=f"cat-{k % 3}", client=client)
        expected[sid] = {
            "query": logged_query(query),
            "results": [{"provider_id": p, "position": n, "action": "shown"} for p, n in shown],
            "search_id": sid,
            "model_version": model,
            "catalog_version": f"cat-{k % 3}",
            **({"client": client} if client else {}),
        }
    log.close()
    after = _utc_text(datetime.now(timezone.utc))
    written = {s["search_id"]: s for s in FeedbackLog(create_db_engine(url)).sessions()}
    assert set(written) == set(expected)
    for sid, session in written.items():
        assert before <= session.pop("created_at") <= after
        assert session == expected[sid]
    assert written[next(iter(expected))]["query"]["postcode"] == "NE21 4"


def test_the_served_time_is_stored_as_sqlalchemy_stores_it(settings):
    """A row written by the batch and one written by SQLAlchemy Core hold the same time the same way (order, reads)."""
    engine = create_db_engine(settings.resolved_database_url)
    log = FeedbackLog(engine, batch_ms=LONG_WINDOW_MS)
    sid = log.log_search(QUERY, SHOWN, "default")
    log.close()
    with engine.begin() as conn:
        served = conn.execute(select(feedback_sessions.c.created_at)).scalar_one()
        conn.execute(feedback_sessions.insert().values(id="f" * 32, query="{}", created_at=served))
        stored = conn.exec_driver_sql("SELECT id, created_at FROM feedback_sessions").all()
    raw = dict(stored)
    assert raw[sid] == raw["f" * 32]
    engine.dispose()


def test_search_ids_are_opaque_and_unrelated():
    """32 hex characters of randomness: no counter, clock or common prefix to guess another coach's id from."""
    log = FeedbackLog(create_db_engine("sqlite://"))
    ids = [log.log_search(QUERY, SHOWN, "default") for _ in range(1000)]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[0-9a-f]{32}", sid) for sid in ids)
    for column in range(32):  # every position varies (a counter or a timestamp keeps its high digits)
        assert len({sid[column] for sid in ids}) == 16
    assert not any(a[:8] == b[:8] for a, b in zip(ids, ids[1:])), "neighbouring ids share a prefix"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX")
def test_a_forked_worker_never_repeats_its_parents_search_ids(url):
    """gunicorn forks workers after the engine (and its feedback log) is built: each must hand out its own ids."""
    # A file database: an in-memory one is a new, empty database on the writer thread's connection,
    # so closing would retry a failing batch for JOIN_TIMEOUT_S.
    log = FeedbackLog(create_db_engine(url), batch_ms=LONG_WINDOW_MS)
    log.log_search(QUERY, SHOWN, "default")  # the parent has started handing out ids
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its ids and leave at once (no test machinery, no exit hooks)
        try:
            os.close(read_end)
            ids = [log.log_search(QUERY, SHOWN, "default") for _ in range(100)]
            os.write(write_end, " ".join(ids).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        child = set(pipe.read().split())
    os.waitpid(pid, 0)
    parent = {log.log_search(QUERY, SHOWN, "default") for _ in range(100)}
    log.close()
    assert len(child) == 100
    assert not child & parent
    assert _rows_in_database(url) == 101, "the parent's sessions are written; the child left without writing"


# --------------------------------------------------------------------- one row per page, actions apart
def test_a_page_is_one_row_and_only_what_was_done_gets_a_row_of_its_own(settings):
    """Serving a page writes its session alone; acting on a result adds that result's row, nothing else."""
    from findsupport.ranking.feedback import feedback_actions

    engine = create_db_engine(settings.resolved_database_url)
    log = FeedbackLog(engine, batch_ms=LONG_WINDOW_MS)
    sid = log.log_search(QUERY, [("p2", 12), ("p1", 11), ("p3", 13)], "default")  # handed over out of order
    assert log.served(sid) == {"query": logged_query(QUERY), "shown": ["p1", "p2", "p3"]}
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(feedback_actions)).scalar_one() == 0
    log.record(sid, "p3", "viewed")
    log.record_helpful(sid, "p1", False)
    results = next(log.sessions())["results"]
    assert results == [
        {"provider_id": "p1", "position": 11, "action": "shown", "helpful": False},
        {"provider_id": "p2", "position": 12, "action": "shown"},
        {"provider_id": "p3", "position": 13, "action": "viewed"},
    ]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(feedback_actions)).scalar_one() == 2
    assert log.served("0" * 32) is None
    engine.dispose()


def test_requests_racing_on_one_result_keep_the_strongest_action_and_the_answer(settings):
    """Eight threads act on one shown result at once (the first row of it is made by one of them): the
    strongest action and the helpfulness both stand, and no thread fails on the other's row."""
    engine = create_db_engine(settings.resolved_database_url)
    log = FeedbackLog(engine)
    sid = log.log_search(QUERY, SHOWN, "default")
    actions = ["viewed", "requested", "accepted", "met", "viewed", "requested", "declined", "viewed"]
    start = threading.Barrier(len(actions) + 1)
    errors = []

    def act(action: str) -> None:
        start.wait()
        try:
            log.record(sid, "p2", action)
            log.record_helpful(sid, "p2", True)
        except Exception as exc:  # noqa: BLE001 - any failure is the finding
            errors.append(exc)

    threads = [threading.Thread(target=act, args=(a,)) for a in actions] + [
        threading.Thread(target=lambda: (start.wait(), log.record_helpful(sid, "p1", True)))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    results = {r["provider_id"]: r for r in next(log.sessions())["results"]}
    assert results["p2"] == {"provider_id": "p2", "position": 2, "action": "met", "helpful": True}
    assert results["p1"] == {"provider_id": "p1", "position": 1, "action": "shown", "helpful": True}
    engine.dispose()


def test_a_provider_id_that_is_not_utf8_is_stored_escaped_not_lost(settings):
    """A library caller's id with a lone surrogate: the page is still written, and reads back as given."""
    engine = create_db_engine(settings.resolved_database_url)
    log = FeedbackLog(engine, batch_ms=LONG_WINDOW_MS)
    odd = "p\udc80"
    sid = log.log_search(QUERY, [(odd, 1), ("p2", 2)], "default")
    log.close()
    assert FeedbackLog(engine).served(sid)["shown"] == [odd, "p2"]
    engine.dispose()

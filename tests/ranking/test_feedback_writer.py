"""The feedback log written in batches off the request path: nothing accepted is ever lost.

Covers :class:`findsupport.ranking.feedback_writer.BatchWriter` and
:class:`findsupport.ranking.FeedbackLog` with ``batch_ms > 0``: a burst then a
graceful close writes every session; a record right after its search finds
it; a failing database or a bug in the writer is logged and retried; a full
buffer makes the caller write (backpressure); a dead thread is replaced.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from findsupport.db import create_db_engine
from findsupport.ranking.feedback import FeedbackLog, feedback_sessions
from findsupport.ranking.feedback_writer import BatchWriter, flush_all_writers

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


def test_a_retried_batch_whose_commit_landed_is_not_written_twice(url):
    log = FeedbackLog(create_db_engine(url))
    sid = log.log_search(QUERY, SHOWN, "default")
    session = next(log.sessions())
    row = {"id": sid, "query": '{"postcode": "NE21 4", "role": "mentor"}', "model_version": "default",
           "catalog_version": None, "created_at": session["created_at"], "client_key": None}
    fresh = {**row, "id": "f" * 32}
    from datetime import datetime

    row["created_at"] = fresh["created_at"] = datetime.fromisoformat(session["created_at"])
    log._write_sessions([(row, []), (fresh, [{"search_id": "f" * 32, "provider_id": "p9", "position": 1, "action": 0}])])
    assert {s["search_id"] for s in log.sessions()} == {sid, "f" * 32}


def test_writing_synchronously_is_still_the_default(url):
    log = FeedbackLog(create_db_engine(url))
    log.log_search(QUERY, SHOWN, "default")
    assert _rows_in_database(url) == 1

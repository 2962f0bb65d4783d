"""Writing feedback sessions in batches, off the request path, without ever dropping one.

A web worker answers a search in about a millisecond; writing its feedback
session (one transaction per search) took about as long again.
:class:`BatchWriter` takes each served page into a per-process buffer and a
background thread writes the buffer every ``batch_s`` seconds (or as soon as
:data:`BATCH_MAX_ITEMS` are waiting) in **one transaction** with one bulk
statement, so the coach's answer never waits for the database.

What it guarantees:

* **Nothing accepted is dropped.**  A failed write (database locked or gone,
  a bug) is logged and the same batch is retried, with a growing pause, until
  it lands; it stays in the buffer meanwhile, in order.
* **Backpressure, not loss.**  When :data:`MAX_PENDING_ITEMS` are waiting (the
  database has been away for a while), the request thread writes the buffer
  itself before its own item is accepted: searches slow down, and fail the way
  a synchronous write fails (an error answer, nothing half-logged) if the
  database is really down.
* **Read your own writes.**  :meth:`BatchWriter.holds` says whether an item is
  still buffered, and :meth:`BatchWriter.flush` writes everything accepted so
  far (waiting for a batch in flight), so a ``viewed`` right after its search
  finds it.
* **Graceful stops flush.**  :meth:`BatchWriter.close` (the web app's
  ``close()``), gunicorn's ``worker_exit`` hook
  (:func:`findsupport.web.serving.worker_exit`) and ``atexit`` all write
  what is buffered (:func:`flush_all_writers`).  A ``SIGKILL`` (or a power
  cut) loses at most what was buffered: one batch window's searches.
* **Forks and dead threads.**  Threads do not survive ``fork`` (gunicorn
  ``--preload``): each process starts its own thread on its first item, and a
  child drops the buffer copied from its parent (the parent writes that).  A
  writer thread that died is logged and restarted by the next item.

Examples
--------
>>> written = []
>>> writer = BatchWriter(written.extend, batch_s=0.05)
>>> writer.submit("s1", {"id": "s1"})
>>> writer.flush()
>>> written
[{'id': 's1'}]
>>> writer.close()
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import weakref
from collections.abc import Callable, Hashable
from typing import Any

__all__ = [
    "BatchWriter",
    "flush_all_writers",
    "BATCH_MAX_ITEMS",
    "MAX_PENDING_ITEMS",
    "RETRY_FIRST_S",
    "RETRY_MAX_S",
    "CLOSE_ATTEMPTS",
    "JOIN_TIMEOUT_S",
]

log = logging.getLogger(__name__)

#: Items written in one transaction at most.  500 sessions of ten results are 5,500 rows,
#: some 25 ms of inserts on SQLite, under 10 ms of ``COPY`` on PostgreSQL: large enough that a
#: backlog drains in few transactions, small enough that one write never holds the database for long.
BATCH_MAX_ITEMS = 500
#: Items buffered at most before a request writes them itself (backpressure).  At about 500
#: searches a second per worker that is 10 s of a database outage, and some 10 MB of memory.
MAX_PENDING_ITEMS = 5_000
#: The first pause after a failed write, doubling on each failure up to RETRY_MAX_S: a locked
#: SQLite database frees in milliseconds; a restarting PostgreSQL needs seconds, and retrying
#: faster would only fill the log.
RETRY_FIRST_S = 0.05
RETRY_MAX_S = 5.0
#: Attempts to write what is left when closing (process exit): each waits its retry pause, so a
#: database that is briefly away at shutdown still gets the last batch; one that is gone is reported.
CLOSE_ATTEMPTS = 5
#: How long closing waits for the thread's batch in flight before writing the rest itself.
JOIN_TIMEOUT_S = 10.0

#: Every writer of this process, so exit hooks can flush them all (weak: a dropped writer goes).
_writers: "weakref.WeakSet[BatchWriter]" = weakref.WeakSet()
_atexit_registered = False


def flush_all_writers() -> None:
    """Close (flush) every :class:`BatchWriter` of this process (exit hooks call this)."""
    for writer in list(_writers):
        writer.close()


class BatchWriter:
    """A per-process buffer of items written in batches by a background thread.

    Parameters
    ----------
    write : callable
        ``write(items)`` writes a list of items in one transaction, or raises
        (nothing written).  It may be called again with the same items after a
        failure, so it must tolerate items whose earlier write did land.
    batch_s : float
        The longest an item waits in the buffer before its batch is written.
    max_items : int, default BATCH_MAX_ITEMS
    max_pending : int, default MAX_PENDING_ITEMS
    name : str
        The thread's name (seen in ``py-spy`` and thread dumps).
    """

    def __init__(
        self,
        write: Callable[[list[Any]], None],
        *,
        batch_s: float,
        max_items: int = BATCH_MAX_ITEMS,
        max_pending: int = MAX_PENDING_ITEMS,
        name: str = "findsupport-feedback-writer",
    ) -> None:
        if batch_s <= 0:
            raise ValueError(f"batch_s must be positive; got {batch_s!r}.")
        self.write = write
        self.batch_s = batch_s
        self.max_items = max_items
        self.max_pending = max_pending
        self.name = name
        self._reset()
        global _atexit_registered
        _writers.add(self)
        if not _atexit_registered:
            atexit.register(flush_all_writers)
            _atexit_registered = True

    def _reset(self) -> None:
        """Fresh state for this process (also after a fork: locks and buffer are the parent's)."""
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        #: Serialises writes, so a flush waits for a batch in flight and order is kept.
        self._write_lock = threading.Lock()
        self._pending: list[tuple[Hashable, Any]] = []
        self._unwritten: set[Hashable] = set()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._failures = 0

    # ------------------------------------------------------------------ the request side
    def submit(self, key: Hashable, item: Any) -> None:
        """Accept ``item`` (known by ``key`` to :meth:`holds`) for writing.

        Returns at once, unless the buffer is full: then this thread writes it
        (and raises what the write raises, with ``item`` not accepted).
        """
        if self._pid != os.getpid():
            self._reset()  # a forked child: the parent writes what it had buffered
        with self._lock:
            if len(self._pending) < self.max_pending:
                self._pending.append((key, item))
                self._unwritten.add(key)
                # The first item wakes an idle thread to open its window; a full batch ends it early.
                if len(self._pending) == 1 or len(self._pending) >= self.max_items:
                    self._wake.notify()
                self._ensure_thread()
                return
        log.warning("feedback buffer full (%d waiting): writing in the request", self.max_pending)
        self._write_pending(extra=(key, item))

    def holds(self, key: Hashable) -> bool:
        """Whether ``key``'s item was accepted and is not written yet."""
        return self._pid == os.getpid() and key in self._unwritten

    def pending(self) -> int:
        """How many accepted items are not written yet."""
        return len(self._unwritten) if self._pid == os.getpid() else 0

    def flush(self) -> None:
        """Write everything accepted so far, in this thread (raises what the write raises).

        Items accepted meanwhile are left to the thread, so a flush under load is bounded.
        """
        if self.pending():
            self._write_pending(limit=max(len(self._pending), 1))

    def close(self) -> None:
        """Stop the thread and write what is left (retrying a few times); reports anything unwritten.

        The writer stays usable: a later :meth:`submit` starts a new thread.
        """
        if self._pid != os.getpid():
            return
        thread = self._thread
        with self._lock:
            self._stopping = True
            self._wake.notify()
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(JOIN_TIMEOUT_S)
        pause = RETRY_FIRST_S
        for attempt in range(1, CLOSE_ATTEMPTS + 1):
            try:
                self.flush()
                break
            except Exception as exc:  # noqa: BLE001 - at exit, report and retry rather than lose the batch silently
                if attempt == CLOSE_ATTEMPTS:
                    keys = sorted(map(str, self._unwritten))
                    log.error("feedback: %d sessions could not be written at shutdown (%s): %s",
                              len(keys), type(exc).__name__, ", ".join(keys))
                    break
                log.warning("feedback: writing at shutdown failed (%s); retrying", type(exc).__name__)
                threading.Event().wait(pause)
                pause = min(pause * 2, RETRY_MAX_S)
        with self._lock:
            self._stopping = False
            self._thread = None

    # ------------------------------------------------------------------ the writer side
    def _ensure_thread(self) -> None:
        # Called with self._lock held.
        if self._thread is not None and self._thread.is_alive():
            return
        if self._thread is not None:
            log.warning("feedback writer thread had stopped; starting a new one (nothing buffered was lost)")
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def _write_pending(self, extra: tuple[Hashable, Any] | None = None, *, limit: int | None = None) -> None:
        """Write buffered items (all, or the oldest ``limit``), plus ``extra``, in batches of ``max_items``."""
        given = extra
        with self._write_lock:
            while True:
                with self._lock:
                    take = len(self._pending) if limit is None else min(limit, len(self._pending))
                    take = min(take, self.max_items)
                    batch = self._pending[:take]
                    del self._pending[:take]
                if extra is not None and len(batch) < self.max_items:
                    batch.append(extra)
                    extra = None
                if not batch:
                    return
                try:
                    self.write([item for _, item in batch])
                except BaseException:
                    # Back at the front, in order.  An ``extra`` was never accepted: its caller gets the error.
                    with self._lock:
                        self._pending[:0] = [entry for entry in batch if entry is not given]
                    raise
                with self._lock:
                    self._unwritten.difference_update(key for key, _ in batch)
                if limit is not None:
                    limit -= len(batch)
                    if limit <= 0:
                        return

    def _run(self) -> None:
        pause = RETRY_FIRST_S
        while True:
            with self._lock:
                # Idle until the first item; then collect one window's worth (or a full batch).
                self._wake.wait_for(lambda: self._stopping or bool(self._pending))
                self._wake.wait_for(lambda: self._stopping or len(self._pending) >= self.max_items, timeout=self.batch_s)
                stopping = self._stopping
                waiting = len(self._pending)
            try:
                self._write_pending(limit=waiting)
                pause, self._failures = RETRY_FIRST_S, 0
            except Exception as exc:  # noqa: BLE001 - the writer must outlive a failing database or a bug; logged, batch kept
                self._failures += 1
                log.warning("feedback: writing %d sessions failed (%s, attempt %d); retrying in %.2f s",
                            waiting, type(exc).__name__, self._failures, pause, exc_info=self._failures == 1)
                threading.Event().wait(pause)
                pause = min(pause * 2, RETRY_MAX_S)
                continue
            if stopping:
                return

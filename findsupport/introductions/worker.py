"""A background thread that runs the introduction service's due work in each server process.

Every web worker process may run one: :meth:`IntroductionService.tick` is safe
to run from several processes and servers at once (each step is a conditional
UPDATE per row).  :meth:`IntroductionWorker.wake` runs it at once (after a
request queued e-mails) instead of waiting for the next poll.  After a fork
(``gunicorn --preload``) :meth:`~IntroductionWorker.start` starts a fresh
thread in the child.
"""

from __future__ import annotations

import logging
import os
import threading

from .outbox import Mailer

__all__ = ["IntroductionWorker", "POLL_SECONDS"]

log = logging.getLogger(__name__)

#: Due work is checked this often without a wake-up: reminders and expiries are measured
#: in days and retries in minutes, so a minute is prompt enough and costs a few queries.
POLL_SECONDS = 60.0


class IntroductionWorker:
    """Runs ``service.tick(mailer=mailer)`` every ``interval_s`` seconds, and on :meth:`wake`.

    Parameters
    ----------
    service : IntroductionService
    mailer : Mailer
    interval_s : float
    """

    def __init__(self, service, mailer: Mailer, interval_s: float = POLL_SECONDS) -> None:
        self.service = service
        self.mailer = mailer
        self.interval_s = interval_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None

    def start(self) -> None:
        """Start this process's thread (again after a fork); a no-op while it runs."""
        if self._thread is not None and self._thread.is_alive() and self._pid == os.getpid():
            return
        self._pid = os.getpid()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="findsupport-introductions", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Run the due work now (new e-mails are queued)."""
        self.start()
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread and wait for the pass in progress to end."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread.is_alive() and self._pid == os.getpid():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self.service.tick(mailer=self.mailer)
            except Exception:  # noqa: BLE001 - logged with its traceback; a database hiccup must not end the thread
                log.exception("introduction due work failed; trying again in %.0f s", self.interval_s)
            self._wake.wait(self.interval_s)

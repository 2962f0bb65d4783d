"""The outbox: turns stored introductions into e-mails to providers.

Requests are only *stored* by the web request (so every answer is the same,
in content and in time, whatever the provider id); an :class:`Outbox` in each
worker process then claims pending rows and delivers them:

* the provider's name and address come from the catalogue store's
  ``contact_for(provider_id)`` (consented providers only) and appear only in
  the e-mail itself; an unknown or withdrawn provider's request is marked
  ``undeliverable``;
* with ``settings.smtp_host`` set, the message goes by SMTP (STARTTLS and
  login when configured), retried with a growing back-off on failure;
  without it, each message is written as an ``.eml`` file into
  ``settings.resolved_outbox_dir`` for an operator (or another mail tool) to send;
* the e-mail is composed and verified by :mod:`findsupport.web.mail` (the
  coach's address is the ``Reply-To``, so the provider answers the coach
  directly; the coach never learns the provider's address unless they reply).

A failure belongs to its own introduction: whatever goes wrong while one is
looked up, composed or sent marks that row (``undeliverable`` when it can
never be composed, otherwise retried up to :data:`MAX_ATTEMPTS` times, then
``failed``) and the pass goes on with the others.  A claim abandoned by a
worker that died counts as an attempt too, so not even a row that kills its
worker is claimed forever.

Log lines name introductions by id only, never by address (nor by any stored
text: an error's message stays in the database, the log gets its type).
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
import tempfile
import threading
import traceback
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import FindSupportError
from .introductions import IntroductionStore, utcnow
from .mail import INTRODUCTION_HEADER, ComposeError, Contact, compose_introduction

__all__ = [
    "Contact",
    "ContactLookup",
    "compose_email",
    "SmtpMailer",
    "FolderMailer",
    "Outbox",
    "mailer_for",
    "MAX_ATTEMPTS",
    "STALE_CLAIM",
]

log = logging.getLogger(__name__)

#: Poll for due retries this often even when no new request woke the outbox.
POLL_SECONDS = 60.0
#: First retry after a failed SMTP attempt; each further retry waits twice as long.
RETRY_BASE_SECONDS = 60.0
#: After this many attempts (1+2+4+8 minutes of back-off) the introduction is marked failed.
MAX_ATTEMPTS = 5
#: A claim older than this belonged to a worker that died mid-delivery; claim it again.
STALE_CLAIM = timedelta(minutes=10)
#: Introductions delivered per pass (a pass is short; the next one follows at once if more are due).
BATCH = 20
#: SMTP connection and command timeout: long enough for a slow relay, short enough not to hang.
SMTP_TIMEOUT_S = 30.0


ContactLookup = Callable[[str], "Contact | None"]

#: The composer of a provider's introduction e-mail (kept under its old name for callers).
compose_email = compose_introduction


class SmtpMailer:
    """Send messages through ``settings.smtp_host``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def send(self, message: EmailMessage) -> None:
        s = self.settings
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=SMTP_TIMEOUT_S) as smtp:
            if s.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if s.smtp_user:
                smtp.login(s.smtp_user, s.smtp_password)
            smtp.send_message(message)

    def describe(self) -> str:
        return f"SMTP via {self.settings.smtp_host}:{self.settings.smtp_port}"


class FolderMailer:
    """Write each message as an ``.eml`` file into a folder (no SMTP configured)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def send(self, message: EmailMessage) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{utcnow():%Y%m%d-%H%M%S}-{message[INTRODUCTION_HEADER]}.eml"
        # Write then rename, so a reader of the folder never sees half a message.
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-", suffix=".eml")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(bytes(message))
            os.replace(tmp, self.folder / name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return self.folder / name

    def describe(self) -> str:
        return f"files in {self.folder}"


def _describe(exc: BaseException) -> str:
    """An error as stored on its row (the database may hold addresses; the log may not)."""
    return f"{type(exc).__name__}: {exc}"


def _stack(exc: BaseException) -> str:
    """The frames an error passed through, without its message (which may quote stored text)."""
    return "\n" + "".join(traceback.format_tb(exc.__traceback__)).rstrip()


def mailer_for(settings: Settings) -> SmtpMailer | FolderMailer:
    """SMTP when ``smtp_host`` is set, else the outbox folder."""
    return SmtpMailer(settings) if settings.smtp_host else FolderMailer(settings.resolved_outbox_dir)


class Outbox:
    """Delivers pending introductions, in a background thread of each worker.

    Parameters
    ----------
    store : IntroductionStore
    contacts : callable
        ``provider_id -> Contact | None`` (the catalogue store's ``contact_for``).
    mailer : SmtpMailer or FolderMailer
    settings : Settings
    """

    def __init__(self, store: IntroductionStore, contacts: ContactLookup, mailer: Any, settings: Settings) -> None:
        self.store = store
        self.contacts = contacts
        self.mailer = mailer
        self.settings = settings
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None

    # ------------------------------------------------------------------ delivery
    def deliver_due(self, now: datetime | None = None) -> dict[str, int]:
        """Deliver every due introduction now; return counts by outcome.

        One introduction's failure is recorded on its own row and never stops
        the others (see the module docstring).
        """
        outcome = {"sent": 0, "undeliverable": 0, "retry": 0, "failed": 0}
        while True:
            claimed = self.store.claim_due(now or utcnow(), STALE_CLAIM, BATCH, max_attempts=MAX_ATTEMPTS)
            for introduction in claimed:
                outcome[self._deliver(introduction)] += 1
            if len(claimed) < BATCH:
                return outcome

    def _deliver(self, introduction: dict[str, Any]) -> str:
        """Deliver one claimed introduction; whatever happens is recorded on its row."""
        introduction_id = introduction["id"]
        try:
            contact = self.contacts(introduction["provider_id"])
        except FindSupportError as exc:
            return self._retry(introduction, f"catalogue unavailable: {exc.message}")
        except Exception as exc:  # noqa: BLE001 - recorded on the row, logged with its stack; the pass goes on
            return self._retry(introduction, _describe(exc), exc)
        if contact is None:
            self.store.finish(introduction_id, "undeliverable", error="no listed provider with that id")
            log.info("introduction %s: no listed provider; not sent", introduction_id)
            return "undeliverable"
        try:
            message = compose_introduction(introduction, contact, self.settings)
        except ComposeError as exc:  # its message names what was wrong, never the text itself
            self.store.finish(introduction_id, "undeliverable", error=f"cannot compose: {exc.message}")
            log.warning("introduction %s: not sent: %s", introduction_id, exc.message)
            return "undeliverable"
        except Exception as exc:  # noqa: BLE001 - a bug, logged with its stack; composing again would fail again
            self.store.finish(introduction_id, "undeliverable", error=f"cannot compose: {_describe(exc)}")
            log.error("introduction %s: unexpected %s while composing; not sent%s", introduction_id,
                      type(exc).__name__, _stack(exc))
            return "undeliverable"
        try:
            self.mailer.send(message)
        except (OSError, smtplib.SMTPException) as exc:
            return self._retry(introduction, _describe(exc))
        except Exception as exc:  # noqa: BLE001 - recorded on the row, logged with its stack; the pass goes on
            return self._retry(introduction, _describe(exc), exc)
        self.store.finish(introduction_id, "sent")
        log.info("introduction %s sent (%s)", introduction_id, self.mailer.describe())
        return "sent"

    def _retry(self, introduction: dict[str, Any], error: str, unexpected: BaseException | None = None) -> str:
        """Schedule another attempt with a growing back-off, or mark the row failed at the cap."""
        attempts = introduction["attempts"]
        # The error text may quote an address (an SMTP 550 does): keep it in the database only.
        if unexpected is not None:
            log.error("introduction %s: unexpected %s during delivery attempt %d%s", introduction["id"],
                      type(unexpected).__name__, attempts, _stack(unexpected))
        if attempts >= MAX_ATTEMPTS:
            self.store.finish(introduction["id"], "failed", error=error)
            log.error("introduction %s failed after %d attempts", introduction["id"], attempts)
            return "failed"
        delay = RETRY_BASE_SECONDS * 2 ** (attempts - 1)
        self.store.finish(introduction["id"], "pending", error=error, retry_at=utcnow() + timedelta(seconds=delay))
        log.warning("introduction %s: delivery attempt %d failed; retrying in %.0f s", introduction["id"], attempts, delay)
        return "retry"

    # ------------------------------------------------------------------ background thread
    def start(self) -> None:
        """Start the delivery thread of this process (again after a fork)."""
        if self._thread is not None and self._thread.is_alive() and self._pid == os.getpid():
            return
        self._pid = os.getpid()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="findsupport-outbox", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """A new introduction is waiting: deliver now rather than at the next poll."""
        self.start()
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread.is_alive() and self._pid == os.getpid():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.deliver_due()
            except Exception:  # noqa: BLE001 - a database hiccup must not kill the outbox for good
                log.exception("outbox pass failed; will try again in %.0f s", POLL_SECONDS)
            self._wake.wait(POLL_SECONDS)
            self._wake.clear()

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
* the coach's address is the ``Reply-To``, so the provider answers the coach
  directly; the coach never learns the provider's address unless they reply.

Log lines name introductions by id only, never by address.
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
import tempfile
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any, Protocol

from ..config import Settings
from ..errors import FindSupportError
from .introductions import IntroductionStore, utcnow

__all__ = ["Contact", "ContactLookup", "compose_email", "SmtpMailer", "FolderMailer", "Outbox", "mailer_for"]

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


class Contact(Protocol):
    """What the outbox needs of a provider: ``name`` and ``email`` (never shown publicly)."""

    name: str
    email: str


ContactLookup = Callable[[str], "Contact | None"]


def compose_email(introduction: dict[str, Any], contact: Contact, settings: Settings) -> EmailMessage:
    """The e-mail to a provider for one stored introduction."""
    message = EmailMessage()
    coach = introduction["coach_name"]
    message["Subject"] = f"Introduction request from {coach} (findsupport)"
    message["From"] = settings.mail_from
    message["To"] = Address(display_name=contact.name, addr_spec=contact.email)
    message["Reply-To"] = Address(display_name=coach, addr_spec=introduction["coach_email"])
    message["Date"] = format_datetime(introduction["created_at"].replace(tzinfo=UTC))
    message["Message-ID"] = make_msgid(idstring=introduction["id"], domain="findsupport.invalid")
    message["X-Findsupport-Introduction"] = introduction["id"]
    site = settings.public_url.rstrip("/") or "findsupport"
    quoted = "\n".join(f"> {line}" for line in introduction["message"].splitlines())
    message.set_content(
        f"Hello {contact.name},\n\n"
        f"{coach} found you on {site} and would like an introduction.\n\n"
        f"Their message:\n\n{quoted}\n\n"
        f"To answer, reply to this e-mail: your reply goes to {coach} at {introduction['coach_email']}.\n"
        "If you cannot help at the moment, no reply is needed. Your own e-mail address has not "
        "been shared with them.\n\n"
        "-- \nSent by findsupport on behalf of the coach named above.\n"
    )
    return message


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
        name = f"{utcnow():%Y%m%d-%H%M%S}-{message['X-Findsupport-Introduction']}.eml"
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
        """Deliver every due introduction now; return counts by outcome."""
        outcome = {"sent": 0, "undeliverable": 0, "retry": 0, "failed": 0}
        while True:
            claimed = self.store.claim_due(now or utcnow(), STALE_CLAIM, BATCH)
            for introduction in claimed:
                outcome[self._deliver(introduction)] += 1
            if len(claimed) < BATCH:
                return outcome

    def _deliver(self, introduction: dict[str, Any]) -> str:
        introduction_id = introduction["id"]
        try:
            contact = self.contacts(introduction["provider_id"])
        except FindSupportError as exc:
            return self._retry(introduction, f"catalogue unavailable: {exc.message}")
        if contact is None:
            self.store.finish(introduction_id, "undeliverable", error="no listed provider with that id")
            log.info("introduction %s: no listed provider; not sent", introduction_id)
            return "undeliverable"
        try:
            message = compose_email(introduction, contact, self.settings)
        except (ValueError, TypeError) as exc:  # an address the e-mail library cannot encode
            self.store.finish(introduction_id, "undeliverable", error=f"cannot compose: {type(exc).__name__}")
            log.warning("introduction %s: cannot compose the e-mail (%s)", introduction_id, type(exc).__name__)
            return "undeliverable"
        try:
            self.mailer.send(message)
        except (OSError, smtplib.SMTPException) as exc:
            return self._retry(introduction, f"{type(exc).__name__}: {exc}")
        self.store.finish(introduction_id, "sent")
        log.info("introduction %s sent (%s)", introduction_id, self.mailer.describe())
        return "sent"

    def _retry(self, introduction: dict[str, Any], error: str) -> str:
        attempts = introduction["attempts"]
        if attempts >= MAX_ATTEMPTS:
            self.store.finish(introduction["id"], "failed", error=error)
            log.error("introduction %s failed after %d attempts", introduction["id"], attempts)
            return "failed"
        delay = RETRY_BASE_SECONDS * 2 ** (attempts - 1)
        self.store.finish(introduction["id"], "pending", error=error, retry_at=utcnow() + timedelta(seconds=delay))
        # The error text may quote an address (an SMTP 550 does): keep it in the database only.
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

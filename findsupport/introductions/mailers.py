"""Where e-mails go: an SMTP relay, or ``.eml`` files in the outbox folder.

Without ``settings.smtp_host`` every e-mail is written as an ``.eml`` file
under ``<data dir>/outbox/`` (DESIGN.md), for an operator or another mail tool
to send.  Files are written then renamed, so a reader of the folder never sees
half a message.
"""

from __future__ import annotations

import os
import smtplib
import ssl
import tempfile
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from ..config import Settings

__all__ = ["SmtpMailer", "FolderMailer", "ListMailer", "mailer_for", "SMTP_TIMEOUT_S"]

#: SMTP connection and command timeout: long enough for a slow relay, short enough not to hang.
SMTP_TIMEOUT_S = 30.0


class SmtpMailer:
    """Send through ``settings.smtp_host`` (STARTTLS and login when configured)."""

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
    """Write each message as an ``.eml`` file into a folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def send(self, message: EmailMessage) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        # Our own ids and codes only (the composer guarantees both headers).
        name = (f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{message['X-Findsupport-Introduction'] or 'listing'}-"
                f"{message['X-Findsupport-Kind']}-{os.urandom(3).hex()}.eml")
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


class ListMailer:
    """Keep messages in a list (tests and dry runs)."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []

    def send(self, message: EmailMessage) -> None:
        self.sent.append(message)

    def describe(self) -> str:
        return "a list in memory"


def mailer_for(settings: Settings) -> SmtpMailer | FolderMailer:
    """SMTP when ``smtp_host`` is set, else the outbox folder."""
    return SmtpMailer(settings) if settings.smtp_host else FolderMailer(settings.resolved_outbox_dir)

"""The mail queue: each message fails on its own, retries back off, the folder mailer writes .eml files."""

from __future__ import annotations

import email
import email.policy
import smtplib

from findsupport.introductions import FolderMailer
from findsupport.introductions.outbox import MAX_ATTEMPTS

from .conftest import ask


class FlakyMailer:
    """Refuses messages to one address; sends the rest."""

    def __init__(self, refuse: str) -> None:
        self.refuse = refuse
        self.sent = []

    def send(self, message):
        if message["To"] == self.refuse:
            raise smtplib.SMTPRecipientsRefused({self.refuse: (550, b"no such user")})
        self.sent.append(message)

    def describe(self):
        return "flaky"


def test_one_failing_message_does_not_stall_the_others(service, clock):
    ask(service)
    ask(service, "p2", email="other@coaches.example")
    mailer = FlakyMailer("coach@coaches.example")
    outcome = service.deliver_due(mailer)
    assert outcome == {"sent": 3, "undeliverable": 0, "retry": 1, "failed": 0}
    for _ in range(MAX_ATTEMPTS):
        clock.advance(hours=1)
        service.deliver_due(mailer)
    assert service.queue.counts() == {"sent": 3, "failed": 1}


def test_a_message_whose_provider_left_is_undeliverable_and_the_rest_go(service, store, mailbox):
    ask(service)
    store.write([], source="empty", format="demo", replace=True)  # the provider withdrew entirely
    outcome = service.deliver_due(mailbox)
    assert outcome["undeliverable"] == 1 and outcome["sent"] == 1  # the coach's confirmation still goes
    assert [m["X-Findsupport-Kind"] for m in mailbox.sent] == ["confirmation"]


def test_retries_wait_before_the_next_attempt(service, clock):
    ask(service)
    mailer = FlakyMailer("p1@providers.example")
    assert service.deliver_due(mailer)["retry"] == 1
    assert service.deliver_due(mailer) == {"sent": 0, "undeliverable": 0, "retry": 0, "failed": 0}
    clock.advance(seconds=61)
    assert service.deliver_due(mailer)["retry"] == 1


def test_folder_mailer_writes_parseable_eml_files(service, tmp_path):
    ask(service)
    service.deliver_due(FolderMailer(tmp_path / "outbox"))
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 2 and not list((tmp_path / "outbox").glob(".tmp-*"))
    kinds = {email.message_from_bytes(f.read_bytes(), policy=email.policy.default)["X-Findsupport-Kind"] for f in files}
    assert kinds == {"request", "confirmation"}


def test_the_worker_thread_delivers_on_wake_and_stops(service, mailbox):
    import time

    from findsupport.introductions import IntroductionWorker

    worker = IntroductionWorker(service, mailbox, interval_s=30)
    worker.start()
    try:
        ask(service)
        worker.wake()
        deadline = time.monotonic() + 10
        while len(mailbox.sent) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker.stop()
    assert sorted(m["X-Findsupport-Kind"] for m in mailbox.sent) == ["confirmation", "request"]
    assert not worker._thread.is_alive()

"""Work that falls due with a controllable clock: reminders, expiry, self-pausing, check-ins, retention."""

from __future__ import annotations

import pytest

from findsupport.errors import AlreadyAnswered, TokenExpired, TokenInvalid

from .conftest import ask, deliver, find, link


def kinds(messages):
    return sorted((m["X-Findsupport-Kind"], m["To"]) for m in messages)


def test_one_reminder_after_the_reminder_days(service, clock, mailbox):
    ask(service)
    deliver(service, mailbox)
    clock.advance(days=2.9)
    assert service.tick(mailer=mailbox).reminded == 0
    clock.advance(days=0.2)
    report = service.tick(mailer=mailbox)
    assert report.reminded == 1 and report.delivery["sent"] == 1
    reminder = find(mailbox.sent, "reminder")
    assert reminder["To"] == "p1@providers.example"
    service.open_respond(link(reminder, "/respond/"))  # the reminder's link works
    clock.advance(days=1)
    assert service.tick(mailer=mailbox).reminded == 0, "only one reminder"


def test_expiry_after_a_week_frees_the_place_and_tells_the_coach(service, store, clock, mailbox):
    ask(service)
    token = link(find(deliver(service, mailbox), "request"), "/respond/")
    clock.advance(days=7, seconds=1)
    before = len(mailbox.sent)
    report = service.tick(mailer=mailbox)
    assert (report.expired, report.paused) == (1, 0)
    assert store.public_catalog().get("p1").spare == 2
    expired = find(mailbox.sent[before:], "expired")
    assert expired["To"] == "coach@coaches.example"
    with pytest.raises(AlreadyAnswered) as caught:
        service.accept(token)
    assert "expired" in caught.value.message
    assert service.tick(mailer=mailbox).expired == 0


def test_a_respond_link_long_after_expiry_is_410(service, clock, mailbox):
    ask(service)
    token = link(find(deliver(service, mailbox), "request"), "/respond/")
    clock.advance(days=9)
    with pytest.raises(TokenExpired) as caught:
        service.open_respond(token)
    assert caught.value.http_status == 410


def test_requests_expiring_in_a_row_pause_the_listing(service, store, clock, mailbox, intro_settings):
    assert intro_settings.pause_after_expiries == 3
    for i in range(3):
        ask(service, email=f"coach{i}@coaches.example")
        clock.advance(days=8)
        report = service.tick(mailer=mailbox)
        assert report.expired == 1 and report.paused == (1 if i == 2 else 0)
    assert "p1" not in store.public_catalog()
    paused = find(mailbox.sent, "paused")
    assert paused["To"] == "p1@providers.example"
    provider_id = service.open_manage(link(paused, "/manage/"))
    assert service.resume(provider_id)
    assert "p1" in store.public_catalog()
    # After resuming, one more expiry does not pause again at once.
    ask(service, email="again@coaches.example")
    clock.advance(days=8)
    assert service.tick(mailer=mailbox).paused == 0


def test_an_answer_breaks_the_expiry_streak(service, clock, mailbox):
    for i in range(2):
        ask(service, email=f"coach{i}@coaches.example")
        clock.advance(days=8)
        service.tick(mailer=mailbox)
    ask(service, email="answered@coaches.example")
    service.decline(link(find(deliver(service, mailbox), "request"), "/respond/"))
    ask(service, email="last@coaches.example")
    clock.advance(days=8)
    assert service.tick(mailer=mailbox).paused == 0


def test_outcome_check_in_weeks_after_acceptance_feeds_met(service, clock, mailbox, feedback):
    ask(service)
    service.accept(link(find(deliver(service, mailbox), "request"), "/respond/"))
    deliver(service, mailbox)
    clock.advance(days=27)
    assert service.tick(mailer=mailbox).checked_in == 0
    clock.advance(days=1, seconds=1)
    before = len(mailbox.sent)
    assert service.tick(mailer=mailbox).checked_in == 1
    sent = mailbox.sent[before:]
    assert kinds(sent) == [("outcome", "coach@coaches.example"), ("outcome", "p1@providers.example")]
    coach_links = [link(find(sent, "outcome", "coach@coaches.example"), "/outcome/")]
    introduction = service.record_outcome(coach_links[0])
    assert (introduction.coach_met, introduction.coach_helpful) == (True, True)
    assert feedback.actions[-1] == ("s1", "p1", "met")
    assert service.tick(mailer=mailbox).checked_in == 0


def test_outcome_links_carry_each_answer(service, mailbox):
    ask(service)
    introduction = service.accept(link(find(deliver(service, mailbox), "request"), "/respond/"))
    links = service.outcome_links(introduction.id, "provider")
    token = links[2][1].rsplit("/", 1)[1]
    recorded = service.record_outcome(token)
    assert (recorded.provider_met, recorded.provider_helpful) == (False, None)
    with pytest.raises(TokenInvalid):
        service.record_outcome("forged")


def test_retention_purges_closed_introductions_and_their_messages(service, clock, mailbox, intro_settings):
    ask(service)
    declined = service.decline(link(find(deliver(service, mailbox), "request"), "/respond/"))
    kept = ask(service, "p2")
    deliver(service, mailbox)
    clock.advance(days=intro_settings.introduction_retention_days - 1)
    report = service.tick(mailer=mailbox)
    assert (report.expired, report.purged) == (1, 0), "closed just now, and the declined one not old enough"
    clock.advance(days=2)
    assert service.tick(mailer=mailbox).purged == 1
    assert [i.id for i in service.list()] == [kept.id]
    assert service.get(declined.id) is None and service.queue.kinds_for(declined.id) == []
    assert [k for k, _, _ in service.queue.kinds_for(kept.id)] == ["request", "confirmation", "expired"]


def test_past_its_expiry_a_request_cannot_be_answered_even_before_a_tick(service, clock, mailbox):
    ask(service)
    sent = deliver(service, mailbox)
    respond, cancel = link(find(sent, "request"), "/respond/"), link(find(sent, "confirmation"), "/cancel/")
    clock.advance(days=7)
    for call, token in ((service.open_respond, respond), (service.accept, respond), (service.decline, respond),
                        (service.open_cancel, cancel), (service.withdraw, cancel)):
        with pytest.raises(AlreadyAnswered) as caught:
            call(token)
        assert "expired" in caught.value.message
    assert service.tick(mailer=mailbox).expired == 1

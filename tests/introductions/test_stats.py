"""Responsiveness: rate, median time, the coarse "usually replies within", and feedback from the loop."""

from __future__ import annotations

import pytest

from findsupport.introductions import IntroductionService, coarse_reply_days

from .conftest import ASKED, ask, deliver, find, link, provider


@pytest.mark.parametrize(("median", "expected"), [(0.0, 1), (1.0, 1), (1.01, 2), (3.0, 3), (6.5, 7), (7.5, None), (None, None)])
def test_coarse_buckets(median, expected):
    assert coarse_reply_days(median) == expected


def answer_after(service, clock, mailbox, days, i, answer="accept"):
    ask(service, email=f"coach{i}@coaches.example")
    token = link(find(deliver(service, mailbox), "request"), "/respond/")
    clock.advance(days=days)
    getattr(service, answer)(token)


def test_usually_replies_within_appears_only_with_enough_answers(service, store, clock, mailbox, intro_settings):
    store.write([provider("p1", capacity=20)], source="test", format="demo")
    needed = intro_settings.responsiveness_min_answered
    for i in range(needed - 1):
        answer_after(service, clock, mailbox, 1.5, i, "decline")
    assert service.usually_replies_within_days("p1") is None
    figures = service.responsiveness("p1")
    assert (figures.answered, figures.response_rate, figures.median_response_days) == (needed - 1, 1.0, 1.5)
    answer_after(service, clock, mailbox, 0.5, needed, "accept")
    assert service.usually_replies_within_days("p1") == 2
    assert service.replies_within_by_provider() == {"p1": 2}


def test_expiries_lower_the_response_rate_and_withdrawals_do_not(service, clock, mailbox):
    answer_after(service, clock, mailbox, 1, 0)
    ask(service, email="lapsed@coaches.example")
    clock.advance(days=8)
    service.tick(mailer=mailbox)
    ask(service, email="cancels@coaches.example")
    service.withdraw(link(find(deliver(service, mailbox), "confirmation"), "/cancel/"))
    figures = service.responsiveness("p1")
    assert figures.response_rate == 0.5
    assert figures.states["withdrawn"] == 1 and figures.states["expired"] == 1


def test_the_loop_feeds_the_real_feedback_log(store, intro_settings, clock, mailbox):
    from findsupport.ranking import FeedbackLog

    log = FeedbackLog(store.engine)
    search_id = log.log_search({"postcode": "NE21 4LZ", "role": "mentor"}, [("p1", 1), ("p2", 2)], "default")
    service = IntroductionService(store.engine, intro_settings, contacts=store.contact_for, feedback=log, clock=clock)
    ask(service, search_id=search_id, asked=ASKED)
    introduction = service.accept(link(find(deliver(service, mailbox), "request"), "/respond/"))
    actions = {r["provider_id"]: r["action"] for r in next(log.sessions())["results"]}
    assert actions == {"p1": "accepted", "p2": "shown"}
    # "met" is not (yet) in the feedback vocabulary: the outcome is kept on the introduction, nothing breaks.
    token = service.outcome_links(introduction.id, "coach")[0][1].rsplit("/", 1)[1]
    assert service.record_outcome(token).coach_met is True
    ask(service, "p2", search_id="not-a-logged-search", email="x@coaches.example")

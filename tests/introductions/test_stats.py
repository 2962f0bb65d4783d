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


def _replies_by_id(response) -> dict[str, int | None]:
    return {r.provider.id: r.replies_within_days for r in response.results if r.provider.id in ("p1", "p2")}


def test_cards_learn_how_soon_a_provider_replies_on_the_next_reload(service, store, clock, mailbox, intro_settings):
    """The search results carry "usually replies within" once there is enough history, after a reload."""
    from findsupport.search.engine import Engine

    store.write([provider("p1", capacity=20), provider("p2", capacity=5)], source="test", format="demo")
    engine = Engine.open(intro_settings, feedback=False, reverse=False)
    engine.follow_responsiveness(service.replies_within_by_provider)
    query = {"postcode": "NE21 4LZ", "role": "mentor"}
    assert _replies_by_id(engine.search(query)) == {"p1": None, "p2": None}
    needed = intro_settings.responsiveness_min_answered
    for i in range(needed):
        answer_after(service, clock, mailbox, 2.5, i, "decline" if i % 2 else "accept")
    assert _replies_by_id(engine.search(query)) == {"p1": None, "p2": None}, "figures change on reload, not per search"
    assert engine.reload() is True  # answering changed places, so the catalogue version
    response = engine.search(query)
    assert _replies_by_id(response) == {"p1": 3, "p2": None}
    first = response.to_dict()["results"][0]
    assert (first["id"], first["replies_within_days"]) == ("p1", 3)
    assert response.to_geojson()["features"][0]["properties"]["replies_within_days"] == 3


def test_the_search_api_says_how_soon_providers_reply(service, store, clock, mailbox, intro_settings):
    """JSON and GeoJSON results of the web app carry replies_within_days (null until known)."""
    from findsupport.web import create_app

    store.write([provider("p1", capacity=20), provider("p2", capacity=5)], source="test", format="demo")
    for i in range(intro_settings.responsiveness_min_answered):
        answer_after(service, clock, mailbox, 0.5, i)
    app = create_app(intro_settings.replace(reload_check_seconds=0), background=False)
    try:
        client = app.test_client()
        body = client.get("/api/v1/search?postcode=NE21%204LZ&role=mentor").get_json()
        assert {r["id"]: r["replies_within_days"] for r in body["results"]} == {"p1": 1, "p2": None, "full": None}
        geojson = client.get("/api/v1/search?postcode=NE21%204LZ&role=mentor&format=geojson").get_json()
        assert {f["id"]: f["properties"]["replies_within_days"] for f in geojson["features"]} == {"p1": 1, "p2": None,
                                                                                                 "full": None}
        schema = client.get("/openapi.json").get_json()["components"]["schemas"]["Result"]
        assert "replies_within_days" in schema["required"]
    finally:
        app.extensions["findsupport"].close()


def test_outcome_helpfulness_is_a_field_of_the_feedback_result(store, intro_settings, clock, mailbox):
    """"Did you meet? Was it helpful?": met is the action, helpfulness its own field (the coach's answer first)."""
    from findsupport.ranking import FeedbackLog

    log = FeedbackLog(store.engine)
    search_id = log.log_search({"postcode": "NE21 4LZ", "role": "mentor"}, [("p1", 1), ("p2", 2)], "default")
    service = IntroductionService(store.engine, intro_settings, contacts=store.contact_for, feedback=log, clock=clock)
    ask(service, search_id=search_id, asked=ASKED)
    introduction = service.accept(link(find(deliver(service, mailbox), "request"), "/respond/"))

    def answer(recipient: str, label_start: str) -> None:
        token = next(url for label, url in service.outcome_links(introduction.id, recipient) if label.startswith(label_start))
        service.record_outcome(token.rsplit("/", 1)[1])

    def result() -> dict:
        return next(r for r in next(log.sessions())["results"] if r["provider_id"] == "p1")

    answer("provider", "We met, but")
    assert result() == {"provider_id": "p1", "position": 1, "action": "met", "helpful": False}
    answer("coach", "Yes, we met and it was helpful")
    assert result()["helpful"] is True
    answer("provider", "We met, but")  # the coach's own answer stands over the provider's
    assert result()["helpful"] is True
    answer("coach", "We met, but")  # the last click wins
    assert result()["helpful"] is False


def test_not_meeting_records_no_helpfulness(service, feedback, clock, mailbox):
    ask(service)
    introduction = service.accept(link(find(deliver(service, mailbox), "request"), "/respond/"))
    token = service.outcome_links(introduction.id, "coach")[-1][1]
    service.record_outcome(token.rsplit("/", 1)[1])
    assert feedback.helpful == [] and ("s1", "p1", "met") not in feedback.actions


def test_the_search_command_says_how_soon_providers_reply(service, store, clock, mailbox, intro_settings, cli_env,
                                                          monkeypatch, capsys):
    import json

    from findsupport.cli import main

    monkeypatch.setenv("FINDSUPPORT_DATABASE_URL", intro_settings.resolved_database_url)
    store.write([provider("p1", capacity=20)], source="test", format="demo")
    for i in range(intro_settings.responsiveness_min_answered):
        answer_after(service, clock, mailbox, 6, i, "decline")
    assert main(["search", "NE21 4LZ", "--role", "mentor", "--json", "-q"]) == 0
    results = json.loads(capsys.readouterr().out)["results"]
    assert {r["id"]: r["replies_within_days"] for r in results}["p1"] == 7

"""The lifecycle from each side: request, answer, withdraw, replay, duplicates, full providers, places."""

from __future__ import annotations

import pytest

from findsupport.errors import (
    AlreadyAnswered,
    DuplicateIntroduction,
    InvalidInput,
    ProviderFull,
    ProviderNotFound,
    TokenInvalid,
)

from .conftest import ASKED, ask, deliver, find, link


def spare(store, provider_id):
    return store.public_catalog().get(provider_id).spare


def test_request_holds_a_place_and_queues_both_emails(service, store, mailbox, feedback):
    version = store.version()
    assert spare(store, "p1") == 2
    introduction = ask(service)
    assert introduction.state == "pending" and introduction.asked == ASKED
    assert spare(store, "p1") == 1, "a pending request holds a place"
    assert store.version() != version, "every server's reload check sees places change"
    sent = deliver(service, mailbox)
    assert sorted(m["X-Findsupport-Kind"] for m in sent) == ["confirmation", "request"]
    assert find(sent, "request")["To"] == "p1@providers.example"
    assert find(sent, "confirmation")["To"] == "coach@coaches.example"
    assert feedback.actions == [("s1", "p1", "requested")]


def test_accept_takes_the_place_and_exchanges_contacts(service, store, mailbox, feedback):
    ask(service)
    token = link(find(deliver(service, mailbox), "request"), "/respond/")
    assert service.open_respond(token).coach_name == "Alex Coach"
    accepted = service.accept(token, note="Happy to help!")
    assert (accepted.state, accepted.note) == ("accepted", "Happy to help!")
    assert spare(store, "p1") == 1, "the held place became a taken one"
    sent = deliver(service, mailbox)
    to_coach = find(sent, "accepted", "coach@coaches.example")
    to_provider = find(sent, "accepted", "p1@providers.example")
    assert "p1@providers.example" in to_coach.get_body(("plain",)).get_content()
    assert "coach@coaches.example" in to_provider.get_body(("plain",)).get_content()
    assert feedback.actions[-1] == ("s1", "p1", "accepted")


@pytest.mark.parametrize("answer", ["accept", "decline"])
def test_a_replayed_respond_link_says_already_answered(service, mailbox, answer):
    ask(service)
    token = link(find(deliver(service, mailbox), "request"), "/respond/")
    getattr(service, answer)(token)
    for again in (service.accept, service.decline, service.open_respond):
        with pytest.raises(AlreadyAnswered) as caught:
            again(token)
        assert caught.value.http_status == 409


def test_decline_frees_the_place_and_tells_the_coach_kindly(service, store, mailbox, feedback):
    ask(service)
    token = link(find(deliver(service, mailbox), "request"), "/respond/")
    service.decline(token, note="Full this season <sorry>")
    assert spare(store, "p1") == 2
    declined = find(deliver(service, mailbox), "declined", "coach@coaches.example")
    text = declined.get_body(("plain",)).get_content()
    assert "Full this season <sorry>" in text
    assert "https://find.example/?postcode=NE21+4&role=mentor&event=hurdles" in text
    assert "p1@providers.example" not in text
    assert feedback.actions[-1] == ("s1", "p1", "declined")


def test_the_coach_withdraws_from_the_confirmation(service, store, mailbox):
    ask(service)
    token = link(find(deliver(service, mailbox), "confirmation"), "/cancel/")
    assert service.open_cancel(token).state == "pending"
    assert service.withdraw(token).state == "withdrawn"
    assert spare(store, "p1") == 2
    assert find(deliver(service, mailbox), "withdrawn")["To"] == "p1@providers.example"
    with pytest.raises(AlreadyAnswered):
        service.withdraw(token)


def test_a_second_pending_request_from_the_same_coach_is_a_409(service, store):
    ask(service, email="Coach@Coaches.example")
    with pytest.raises(DuplicateIntroduction) as caught:
        ask(service, email="coach@COACHES.example")
    assert caught.value.http_status == 409 and "already asked" in caught.value.message
    assert spare(store, "p1") == 1, "the refused duplicate holds nothing"
    assert service.is_pending("p1", "COACH@coaches.example")
    ask(service, "p2")  # another provider is fine


def test_after_an_answer_the_coach_may_ask_again(service, mailbox):
    ask(service)
    service.decline(link(find(deliver(service, mailbox), "request"), "/respond/"))
    assert ask(service).state == "pending"


def test_a_full_provider_cannot_be_requested(service, store):
    with pytest.raises(ProviderFull) as caught:
        ask(service, "full")
    assert caught.value.http_status == 409 and "no free place" in caught.value.message
    ask(service, "p2", email="first@coaches.example")
    with pytest.raises(ProviderFull):
        ask(service, "p2", email="second@coaches.example")
    assert spare(store, "p2") == 0


@pytest.mark.parametrize("provider_id", ["hidden", "nobody"])
def test_unknown_and_unconsented_providers_look_the_same(service, provider_id):
    with pytest.raises(ProviderNotFound):
        ask(service, provider_id)


def test_a_paused_provider_is_not_listed_and_cannot_be_requested(service, store):
    assert service.pause("p1")
    assert "p1" not in store.public_catalog()
    with pytest.raises(ProviderNotFound):
        ask(service)
    assert service.resume("p1") and "p1" in store.public_catalog()
    assert not service.resume("p1")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": " "}, "name"),
        ({"email": "not-an-address"}, "email"),
        ({"email": "sam@example.org\r\nBcc: x@y.example"}, "email"),
        ({"email": "sé@example.org"}, "email"),
        ({"message": ""}, "message"),
        ({"message": "x" * 2001}, "message"),
        ({"name": "Sam\x00"}, "name"),
    ],
)
def test_bad_requests_name_the_field(service, changes, field):
    with pytest.raises(InvalidInput) as caught:
        ask(service, **changes)
    assert caught.value.extra["field"] == field


@pytest.mark.parametrize("token", ["", "nonsense", "a" * 1000, None, 42])
def test_hostile_respond_tokens_are_404(service, token):
    for call in (service.open_respond, service.accept, service.decline, service.withdraw):
        with pytest.raises(TokenInvalid) as caught:
            call(token)
        assert caught.value.http_status == 404


def test_a_link_for_one_purpose_does_not_work_for_another(service, mailbox):
    ask(service)
    sent = deliver(service, mailbox)
    cancel = link(find(sent, "confirmation"), "/cancel/")
    manage = link(find(sent, "request"), "/manage/")
    with pytest.raises(TokenInvalid):
        service.accept(cancel)
    with pytest.raises(TokenInvalid):
        service.accept(manage)
    assert service.open_manage(manage) == "p1"


def test_accepting_when_room_shrank_is_refused_and_stays_pending(service, store, mailbox):
    ask(service)
    token = link(find(deliver(service, mailbox), "request"), "/respond/")
    from .conftest import provider

    store.write([provider("p1", capacity=1, active=1)], source="test", format="demo")  # the operator filled it
    with pytest.raises(ProviderFull):
        service.accept(token)
    assert service.open_respond(token).state == "pending"
    service.decline(token)


@pytest.fixture
def listing_service(store, intro_settings, clock):
    from findsupport.introductions import IntroductionService

    return IntroductionService(store.engine, intro_settings, contacts=store.contact_for, clock=clock,
                               provider_ids_for_email=store.provider_ids_for_email)


@pytest.mark.parametrize("email", ["P1@Providers.example", "p1@providers.example"])
def test_a_listed_provider_gets_a_fresh_manage_link(listing_service, mailbox, email):
    assert listing_service.send_manage_links(email) is None
    sent = deliver(listing_service, mailbox)
    message = find(sent, "manage", "p1@providers.example")
    assert "X-Findsupport-Introduction" not in message
    assert listing_service.open_manage(link(message, "/manage/")) == "p1"


@pytest.mark.parametrize("email", ["nobody@providers.example", "hidden@providers.example"])
def test_unlisted_addresses_get_the_same_answer_and_no_mail(listing_service, mailbox, email):
    assert listing_service.send_manage_links(email) is None
    assert deliver(listing_service, mailbox) == []


def test_a_manage_link_request_needs_an_address(listing_service):
    with pytest.raises(InvalidInput) as caught:
        listing_service.send_manage_links("not an address")
    assert caught.value.extra["field"] == "email"


def test_manage_link_messages_are_purged_after_the_retention_period(listing_service, mailbox, clock, intro_settings):
    listing_service.send_manage_links("p1@providers.example")
    clock.advance(days=intro_settings.introduction_retention_days + 1)
    listing_service.tick(mailer=mailbox)
    assert listing_service.queue.counts() == {}

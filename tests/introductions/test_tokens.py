"""Signed links: one secret per database shared by every server, per-purpose salts, expiry, rotation."""

from __future__ import annotations

from datetime import timedelta

import pytest

from findsupport.errors import TokenExpired, TokenInvalid
from findsupport.introductions import IntroductionService, TokenSigner
from findsupport.introductions.tokens import COACH, MANAGE, OUTCOME, PURPOSES, RESPOND


def test_every_server_of_one_database_shares_the_secret(store, clock):
    first, second = TokenSigner.open(store.engine, clock), TokenSigner.open(store.engine, clock)
    assert second.load(RESPOND, first.dump(RESPOND, "i1"), max_age_s=60) == "i1"


def test_another_database_does_not_accept_our_tokens(store, clock):
    from findsupport.db import create_db_engine

    other = TokenSigner.open(create_db_engine("sqlite://"), clock)
    with pytest.raises(TokenInvalid):
        other.load(RESPOND, TokenSigner.open(store.engine, clock).dump(RESPOND, "i1"), max_age_s=60)


@pytest.mark.parametrize("made_for", PURPOSES)
def test_a_token_works_only_for_its_purpose(store, clock, made_for):
    signer = TokenSigner.open(store.engine, clock)
    token = signer.dump(made_for, "x")
    for purpose in PURPOSES:
        if purpose == made_for:
            assert signer.load(purpose, token, max_age_s=60) == "x"
        else:
            with pytest.raises(TokenInvalid):
                signer.load(purpose, token, max_age_s=60)


def test_expired_is_410_and_tampered_is_404(store, clock):
    signer = TokenSigner.open(store.engine, clock)
    token = signer.dump(MANAGE, "p1")
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    with pytest.raises(TokenInvalid) as caught:
        signer.load(MANAGE, tampered, max_age_s=60)
    assert caught.value.http_status == 404
    clock.advance(seconds=61)
    with pytest.raises(TokenExpired) as caught:
        signer.load(MANAGE, token, max_age_s=60)
    assert caught.value.http_status == 410


def test_rotation_keeps_recent_links_working_and_drops_old_keys(store, clock):
    signer = TokenSigner.open(store.engine, clock)
    old = signer.dump(COACH, "i1")
    rotated = signer.rotate()
    assert rotated.load(COACH, old, max_age_s=60) == "i1", "links sent before a rotation still work"
    new = rotated.dump(COACH, "i2")
    assert TokenSigner.open(store.engine, clock).load(COACH, new, max_age_s=60) == "i2"
    twice = rotated.rotate()
    with pytest.raises(TokenInvalid):
        twice.load(COACH, old, max_age_s=60)


def test_manage_links_expire_after_the_setting(service, clock, intro_settings):
    token = service.manage_link("p1").rsplit("/", 1)[1]
    clock.advance(days=intro_settings.manage_link_days - 0.01)
    assert service.open_manage(token) == "p1"
    clock.advance(days=0.02)
    with pytest.raises(TokenExpired):
        service.open_manage(token)


def test_a_forged_payload_type_is_404(service):
    with pytest.raises(TokenInvalid):
        service.open_manage(service.tokens.dump(MANAGE, ["not", "an", "id"]))
    with pytest.raises(TokenInvalid):
        service.record_outcome(service.tokens.dump(OUTCOME, "just-an-id"))
    with pytest.raises(TokenInvalid):
        service.accept(service.tokens.dump(RESPOND, {"id": 1}))


def test_two_services_on_one_database_answer_each_other(store, intro_settings, clock):
    first = IntroductionService(store.engine, intro_settings, contacts=store.contact_for, clock=clock)
    second = IntroductionService(store.engine, intro_settings, contacts=store.contact_for, clock=clock)
    introduction = first.request("p1", name="Alex", email="a@coaches.example", message="Hi")
    token = first.tokens.dump(RESPOND, introduction.id)
    assert second.accept(token).state == "accepted"
    assert timedelta(0) <= introduction.expires_at - introduction.created_at == timedelta(days=7)

"""Places are real: holds, takes, the public catalogue's spare room, and a real race for the last place."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from findsupport.catalog import places
from findsupport.errors import ProviderFull

from .conftest import ask, deliver, link, provider


def respond_tokens(service, mailbox, count, provider_id="p1"):
    for i in range(count):
        ask(service, provider_id, email=f"coach{i}@coaches.example")
    sent = deliver(service, mailbox)
    return [link(m, "/respond/") for m in sent if m["X-Findsupport-Kind"] == "request"]


@pytest.mark.parametrize(("requests", "room_left", "threads"), [(2, 1, 2), (5, 2, 5)])
def test_concurrent_accepts_for_the_last_places_give_each_to_one(service, store, mailbox, requests, room_left, threads):
    store.write([provider("p1", capacity=requests)], source="test", format="demo")
    tokens = respond_tokens(service, mailbox, requests)
    assert store.public_catalog().get("p1").spare == 0, "pending requests hold every place"
    # The operator's re-import says the provider found coaches elsewhere: less room than requests.
    store.write([provider("p1", capacity=requests, active=requests - room_left)], source="test", format="demo")
    barrier = threading.Barrier(threads)
    outcomes: list[str] = []
    lock = threading.Lock()

    def accept(token):
        barrier.wait()
        try:
            service.accept(token)
            result = "accepted"
        except ProviderFull:
            result = "full"
        with lock:
            outcomes.append(result)

    workers = [threading.Thread(target=accept, args=(token,)) for token in tokens[:threads]]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert sorted(outcomes) == sorted(["accepted"] * room_left + ["full"] * (threads - room_left))
    with store.engine.connect() as conn:
        counted = places.places_of(conn, "p1")
    assert counted.taken == room_left
    assert len(service.list(state="accepted")) == room_left
    assert store.public_catalog().get("p1").spare == 0


def test_concurrent_requests_for_the_last_place_hold_it_once(service, store):
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def request(i):
        barrier.wait()
        try:
            ask(service, "p2", email=f"racer{i}@coaches.example")
            outcomes.append("held")
        except ProviderFull:
            outcomes.append("full")

    workers = [threading.Thread(target=request, args=(i,)) for i in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert sorted(outcomes) == ["full", "full", "full", "held"]
    assert len(service.list(state="pending")) == 1


def test_release_frees_taken_places(service, store, mailbox):
    service.accept(respond_tokens(service, mailbox, 1)[0])
    assert store.public_catalog().get("p1").spare == 1
    assert places.release(store.engine, "p1", 5) == 1
    assert store.public_catalog().get("p1").spare == 2
    assert places.release(store.engine, "p1") == 0


def test_version_is_the_import_version_until_places_change(store, service):
    version = store.version()
    assert store.public_catalog().version == version
    ask(service)
    changed = store.version()
    assert changed != version and store.public_catalog().version == changed


def test_spare_never_goes_negative_and_columns_agree(store, service):
    ask(service, "p2")
    catalog = store.public_catalog()
    position = catalog.position_of("p2")
    assert int(catalog.spare[position]) == catalog.get("p2").spare == 0
    assert catalog.get("p2").to_dict()["spare_capacity"] == 0


def test_a_places_row_for_an_unlisted_provider_holds_nothing(store):
    places.ensure_row(store.engine, "hidden")
    with store.engine.begin() as conn:
        assert not places.hold(conn, "hidden")
        assert conn.execute(sa.select(places.places_table.c.held)).scalars().all() == [0]

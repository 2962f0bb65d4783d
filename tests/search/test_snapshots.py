"""Snapshots: swaps under concurrent searches, reloads from the store and the model registry, feedback."""

from __future__ import annotations

import threading
import time

from findsupport.catalog import load_demo
from findsupport.config import Settings
from findsupport.ranking import FeedbackLog, activate, model_document, save_model
from findsupport.ranking.features import FEATURE_NAMES
from findsupport.ranking.model import MatchRanker
from findsupport.search.engine import DEFAULT_MODEL_VERSION, Engine

from .conftest import north_east_catalog

QUERY = {"postcode": "NE4 5AA", "mode": "any", "limit": 8}


def test_swaps_during_concurrent_searches_lose_nothing_and_never_mix(directory) -> None:
    catalog_a = north_east_catalog(directory, prefix="a", count=36)
    catalog_b = north_east_catalog(directory, prefix="b", count=20)
    expected = {}
    for prefix, catalog in (("a", catalog_a), ("b", catalog_b)):
        response = Engine.from_catalog(catalog, directory).search(QUERY)
        expected[prefix] = (response.total, [r.provider.id for r in response.results])
    assert expected["a"][0] != expected["b"][0]

    # Uncached, so each search ranks on the snapshot it holds (the cache under swaps: test_page_cache.py).
    engine = Engine.from_catalog(catalog_a, directory, settings=Settings(search_cache_entries=0))
    searches_per_thread, threads_count = 40, 4
    seen: list[tuple[str, int, list[str]]] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def searcher() -> None:
        try:
            for _ in range(searches_per_thread):
                response = engine.search(QUERY)
                ids = [r.provider.id for r in response.results]
                seen.append((ids[0][0], response.total, ids))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=searcher) for _ in range(threads_count)]
    for thread in threads:
        thread.start()

    def swapper() -> None:
        flip = False
        while any(t.is_alive() for t in threads):
            engine.replace(catalog=catalog_b if not flip else catalog_a)
            flip = not flip
            time.sleep(0.002)
        done.set()

    swap_thread = threading.Thread(target=swapper)
    swap_thread.start()
    for thread in threads:
        thread.join()
    swap_thread.join()
    assert errors == []
    assert len(seen) == searches_per_thread * threads_count  # no search lost
    for prefix, total, ids in seen:
        # Every id from one catalogue, with that catalogue's total and page: never mixed.
        assert {i[0] for i in ids} == {prefix}
        assert (total, ids) == expected[prefix]
    assert {prefix for prefix, _, _ in seen} == {"a", "b"}, "the swaps did not overlap the searches"


def test_replace_keeps_the_index_when_only_the_ranker_changes(engine: Engine) -> None:
    index = engine.index
    weights = {f"w_{name}": 0.0 for name in FEATURE_NAMES} | {"w_proximity_near": 1.0}
    engine.replace(ranker=MatchRanker(**weights).use_parameter_weights(), model_version="nearest")
    assert engine.index is index and engine.model_version == "nearest"


def test_open_and_reload_follow_the_store_and_the_active_model(settings, directory, stocked) -> None:
    engine = Engine.open(settings, reverse=False)
    assert engine.catalog.version == stocked.version()
    assert engine.model_version == DEFAULT_MODEL_VERSION
    assert engine.store is not None and engine.feedback is not None
    assert engine.reload() is False  # nothing changed: no rebuild

    load_demo(stocked, directory, settings, seed=12, providers=30, replace=True)
    before = engine.snapshot
    assert engine.reload() is True
    assert engine.catalog.version == stocked.version() != before.catalog.version
    assert len(engine.catalog) == len(stocked.public_catalog())
    assert engine.reload() is False

    weights = {name: 0.0 for name in FEATURE_NAMES} | {"proximity_near": 1.0}
    record = save_model(settings, model_document(MatchRanker.from_weights(weights), provenance={"kind": "real"}))
    activate(settings, record.version)
    index = engine.index
    assert engine.reload() is True
    assert engine.model_version == record.version
    assert engine.index is index  # same catalogue: the index is reused
    assert engine.search({"postcode": "NE21 4LZ", "mode": "any"}).model_version == record.version


def test_searches_are_logged_as_feedback_sessions(settings, directory, stocked) -> None:
    engine = Engine.open(settings, reverse=False)
    logged = engine.search({"postcode": "NE21 4LZ", "mode": "any", "limit": 3, "offset": 2}, log=True)
    quiet = engine.search({"postcode": "NE21 4LZ", "mode": "any", "limit": 3}, log=False)
    empty = engine.search({"postcode": "NE21 4LZ", "mode": "any", "offset": 490}, log=True)
    unasked = engine.search({"postcode": "NE21 4LZ", "mode": "any", "limit": 3})  # library searches log only when asked
    assert unasked.search_id is None
    assert logged.search_id is not None and quiet.search_id is None and empty.search_id is None
    sessions = list(FeedbackLog.open(settings).sessions())
    assert len(sessions) == 1
    shown = [(r["provider_id"], r["position"]) for r in sessions[0]["results"]]
    assert shown == [(r.provider.id, r.position) for r in logged.results]
    assert [p for _, p in shown] == [3, 4, 5]
    assert sessions[0]["query"]["postcode"] == "NE21 4"  # the coach's sector only (issue 11)


def test_a_point_search_is_logged_as_its_nearest_sector(settings, directory, stocked) -> None:
    """'Use my location' sends a precise point; the log keeps no more than a postcode search would."""
    engine = Engine.open(settings, reverse=False)
    near = directory.lookup("NE21 4LZ")
    response = engine.search({"lon": near.lon + 0.0004, "lat": near.lat + 0.0003, "mode": "any", "limit": 3}, log=True)
    assert response.search_id is not None
    (session,) = FeedbackLog.open(settings).sessions()
    assert session["query"]["postcode"] == response.location.sector
    assert session["query"].get("lon") is None and session["query"].get("lat") is None


def test_open_without_feedback_logs_nothing(settings, stocked) -> None:
    engine = Engine.open(settings, feedback=False, reverse=False)
    assert engine.feedback is None
    assert engine.search({"postcode": "NE21 4LZ", "mode": "any"}, log=True).search_id is None

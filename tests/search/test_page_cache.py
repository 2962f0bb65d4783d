"""The cache of repeated searches' pages: same answers, never stale, bounded, every search still logged."""

from __future__ import annotations

import gc
import threading
import time
import weakref
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings
from hypothesis import strategies as st

from findsupport import taxonomy
from findsupport.catalog.public import PublicCatalog
from findsupport.config import Settings, load_settings
from findsupport.errors import ConfigError, FindSupportError
from findsupport.features import FEATURE_NAMES
from findsupport.ranking import FeedbackLog, activate, model_document, save_model
from findsupport.ranking.model import MatchRanker
from findsupport.search import SearchQuery, parse_query
from findsupport.search.engine import Engine
from findsupport.search.page_cache import CachedPage, PageCache, page_key
from findsupport.web import create_app

from .conftest import north_east_catalog

UNCACHED = Settings(search_cache_entries=0)
QUERY = {"postcode": "NE4 5AA", "mode": "any", "limit": 8}
#: Where coaches search from: units, sectors, districts, a typo, and places with nobody near.
POSTCODES = ("NE21 4LZ", "ne1 1ad", "NE4 5AA", "NE21 4", "NE8", "NE2I 4LZ", "DH1 3LE", "SW1A 2AA", "EH1 1YZ", "TR18 4AA")
#: The defaults of Settings: every page in these tests is computed with the same bounds.
BOUNDS = Settings()


def body(response) -> dict:
    """What a client sees of a response, but the search id (each logged search has its own)."""
    data = response.to_dict()
    data.pop("search_id")
    return data


def ranker_by_nearness() -> MatchRanker:
    weights = {name: 0.0 for name in FEATURE_NAMES} | {"proximity_near": 1.0}
    return MatchRanker.from_weights(weights)


@pytest.fixture
def engines(ne_catalog: PublicCatalog, directory) -> tuple[Engine, Engine]:
    """The same catalogue served with the cache (the default) and without."""
    return Engine.from_catalog(ne_catalog, directory), Engine.from_catalog(ne_catalog, directory, settings=UNCACHED)


# ---------------------------------------------------------------- same answers
queries = st.fixed_dictionaries(
    {
        "where": st.one_of(
            st.sampled_from(POSTCODES).map(lambda p: {"postcode": p}),
            st.tuples(st.floats(-1.9, -1.4), st.floats(54.8, 55.1)).map(lambda p: {"lon": round(p[0], 5), "lat": round(p[1], 5)}),
        ),
        "role": st.sampled_from([None, *taxonomy.ROLES]),
        "event": st.sampled_from([None, "hurdles", "jumps", "long_jump", "middle_distance", "sprints_hurdles"]),
        "slots": st.lists(st.sampled_from(["tue_eve", "sat_am", "mon_eve", "sun_am", "thu_eve"]), max_size=3, unique=True),
        "mode": st.sampled_from([None, *taxonomy.MODES]),
        "level": st.sampled_from([None, "assistant_coach", "athletics_coach", "advanced_coach"]),
        "radius_km": st.sampled_from([None, 1, 5, 10, 25, 60, 200]),
        "limit": st.sampled_from([None, 1, 3, 10, 50]),
        "offset": st.sampled_from([None, 0, 2, 30]),
        "sort": st.sampled_from([None, "best", "nearest"]),
        "has_room": st.sampled_from([None, True]),
        "min_qualification": st.sampled_from([None, "sessional_coach", "advanced_coach"]),
    }
)


def as_params(drawn: dict) -> dict:
    params = {**drawn.pop("where"), **{k: v for k, v in drawn.items() if v not in (None, [])}}
    if "slots" in params:
        params["slots"] = ",".join(params["slots"])
    return params


# One pair of engines for every example: the cache fills as a server's would.
@hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=queries)
def test_a_repeat_answers_exactly_what_a_fresh_search_does(engines, drawn: dict) -> None:
    cached, uncached = engines
    params = as_params(drawn)
    try:
        expected = uncached.search(params)
    except FindSupportError as error:
        # A query that fails fails the same way every time, and nothing is kept for it.
        for _ in range(2):
            with pytest.raises(type(error)):
                cached.search(params)
        return
    first, repeat = cached.search(params), cached.search(params)
    assert body(first) == body(repeat) == body(expected)
    assert repeat.to_geojson() == expected.to_geojson()
    assert repeat.results is first.results  # the repeat was served from the cache
    if expected.totals is not None:
        assert repeat.totals is not first.totals  # each response may change its own


def test_spellings_that_echo_differently_are_kept_apart(engines) -> None:
    """Equal queries share a page; a batch id, a postcode's spelling or a signed zero still echo as given."""
    cached, uncached = engines
    for params in (
        {"postcode": "NE21 4LZ", "id": "a"}, {"postcode": "NE21 4LZ", "id": "b"}, {"postcode": "ne21 4lz"},
        {"postcode": "NE21 4LZ"}, {"lon": -1.7259, "lat": 54.9641}, {"lon": 0.0, "lat": 51.48, "mode": "any"},
        {"lon": "-0.0", "lat": 51.48, "mode": "any"},
    ):
        assert body(cached.search(params)) == body(uncached.search(params))
    assert cached.search({"postcode": "NE21 4LZ", "id": "c"}).query.id == "c"
    assert page_key(SearchQuery(lon=0.0, lat=51.5)) != page_key(SearchQuery(lon=-0.0, lat=51.5))
    assert page_key(SearchQuery(postcode="NE21 4LZ", id="x")) == page_key(SearchQuery(postcode="NE21 4LZ"))


# ---------------------------------------------------------------- never stale
def test_a_replaced_catalogue_or_ranker_is_seen_by_the_next_search(ne_catalog, directory) -> None:
    """What a notebook does: search, swap the catalogue or the model, search the same again."""
    engine = Engine.from_catalog(ne_catalog, directory)
    before = engine.search(QUERY)
    smaller = north_east_catalog(directory, prefix="s", count=12)
    engine.replace(catalog=smaller)
    after = engine.search(QUERY)
    assert body(after) == body(Engine.from_catalog(smaller, directory, settings=UNCACHED).search(QUERY))
    assert {r.provider.id[0] for r in after.results} == {"s"} and after.total != before.total

    engine.replace(ranker=ranker_by_nearness(), model_version="nearest")
    ranked = engine.search(QUERY)
    fresh = Engine.from_catalog(smaller, directory, ranker_by_nearness(), settings=UNCACHED, model_version="nearest")
    assert body(ranked) == body(fresh.search(QUERY))
    assert ranked.model_version == "nearest" and [r.score for r in ranked.results] != [r.score for r in after.results]


def test_new_replies_within_figures_are_seen_by_the_next_search(engine: Engine) -> None:
    first = engine.search(QUERY)
    assert all(r.replies_within_days is None for r in first.results)
    engine.follow_responsiveness(lambda: {first.results[0].provider.id: 2})
    assert engine.search(QUERY).results[0].replies_within_days == 2


def test_a_page_is_served_only_on_the_snapshot_and_figures_it_was_computed_from(engine: Engine) -> None:
    """Even a swap made without the engine's methods (a test, a debugger) can never serve an old page."""
    response = engine.search(QUERY)
    key = page_key(response.query)
    snapshot, figures = engine.snapshot, engine._replies_within
    pages = PageCache(4)
    page = CachedPage(snapshot, figures, response.location, response.results, response.total, response.totals, response.notes)
    pages.put(key, page)
    assert pages.get(key, snapshot, {}) is None  # other figures (equal, but not the same mapping)
    pages.put(key, page)
    assert pages.get(key, object(), figures) is None
    assert len(pages) == 0  # what cannot be served is dropped
    pages.put(key, page)
    assert pages.get(key, snapshot, figures) is page


def test_the_old_snapshot_is_freed_at_a_swap(ne_catalog, directory) -> None:
    engine = Engine.from_catalog(ne_catalog, directory)
    for limit in (1, 2, 3):
        engine.search({**QUERY, "limit": limit})
    old = weakref.ref(engine.snapshot)
    engine.replace(catalog=north_east_catalog(directory, prefix="n", count=10))
    gc.collect()
    assert old() is None


def test_a_provider_who_withdrew_is_gone_from_a_repeated_search_at_once(settings, directory, stocked) -> None:
    """An outsider repeating a search (so that it is cached) must not see a provider once they withdrew."""
    engine = Engine.open(settings, reverse=False)
    query = {"postcode": "NE21 4LZ", "mode": "any", "limit": 50}
    shown = [r.provider.id for r in engine.search(query).results]
    for _ in range(3):
        assert [r.provider.id for r in engine.search(query).results] == shown
    gone = shown[0]
    stocked.withdraw(gone, now=datetime(2026, 12, 6, tzinfo=timezone.utc))
    assert engine.reload() is True
    for _ in range(3):
        after = engine.search(query)
        assert gone not in {r.provider.id for r in after.results}
    assert body(after) == body(Engine.open(settings.replace(search_cache_entries=0), reverse=False, feedback=False).search(query))


def test_an_activated_model_is_seen_by_the_next_search_after_a_reload(settings, stocked) -> None:
    engine = Engine.open(settings, reverse=False)
    query = {"postcode": "NE21 4LZ", "mode": "any"}
    before = engine.search(query)
    engine.search(query)
    record = save_model(settings, model_document(ranker_by_nearness(), provenance={"kind": "real"}))
    activate(settings, record.version)
    assert engine.reload() is True
    after = engine.search(query)
    assert after.model_version == record.version != before.model_version
    fresh = Engine.open(settings.replace(search_cache_entries=0), reverse=False, feedback=False)
    assert body(after) == body(fresh.search(query))


def test_swaps_during_concurrent_cached_searches_never_mix(directory) -> None:
    """Searches served from the cache while catalogues swap: every answer is wholly one catalogue's."""
    catalog_a = north_east_catalog(directory, prefix="a", count=36)
    catalog_b = north_east_catalog(directory, prefix="b", count=20)
    expected = {}
    for prefix, catalog in (("a", catalog_a), ("b", catalog_b)):
        response = Engine.from_catalog(catalog, directory, settings=UNCACHED).search(QUERY)
        expected[prefix] = (response.total, [r.provider.id for r in response.results])
    engine = Engine.from_catalog(catalog_a, directory)
    swaps_wanted = 20
    swaps = 0
    seen: list[tuple[str, int, list[str]]] = []
    errors: list[BaseException] = []

    def searcher() -> None:
        try:
            # Until the swapper is done: cached searches take microseconds, a swap milliseconds.
            while swaps < swaps_wanted:
                response = engine.search(QUERY)
                ids = [r.provider.id for r in response.results]
                seen.append((ids[0][0], response.total, ids))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=searcher) for _ in range(4)]
    for thread in threads:
        thread.start()
    for k in range(swaps_wanted):
        engine.replace(catalog=catalog_b if k % 2 == 0 else catalog_a)
        swaps += 1
        time.sleep(0.002)
    for thread in threads:
        thread.join()
    assert errors == []
    for prefix, total, ids in seen:
        assert {i[0] for i in ids} == {prefix}
        assert (total, ids) == expected[prefix]
    assert {prefix for prefix, _, _ in seen} == {"a", "b"}


# ---------------------------------------------------------------- bounded
def test_the_cache_keeps_at_most_its_entries_least_recently_used_out_first(ne_catalog, directory) -> None:
    engine = Engine.from_catalog(ne_catalog, directory, settings=Settings(search_cache_entries=3))
    radii = (5, 10, 15, 20, 25, 30)
    responses = {r: engine.search({**QUERY, "radius_km": r}) for r in radii}
    assert len(engine._pages) == 3
    # The last three are kept; reading the oldest of them makes it the newest.
    assert engine.search({**QUERY, "radius_km": 20}).results is responses[20].results
    engine.search({**QUERY, "radius_km": 40})  # evicts 25, the least recently used
    assert engine.search({**QUERY, "radius_km": 20}).results is responses[20].results
    assert engine.search({**QUERY, "radius_km": 25}).results is not responses[25].results
    assert len(engine._pages) == 3


def test_zero_entries_turn_the_cache_off(engines) -> None:
    _, uncached = engines
    first, repeat = uncached.search(QUERY), uncached.search(QUERY)
    assert body(first) == body(repeat) and repeat.results is not first.results
    assert len(uncached._pages) == 0


def test_page_cache_rejects_a_negative_capacity() -> None:
    with pytest.raises(ValueError, match="capacity must be 0"):
        PageCache(-1)


# ---------------------------------------------------------------- settings
def test_the_setting_has_a_default_and_is_read_from_the_environment() -> None:
    assert Settings().search_cache_entries == load_settings(environ={}).search_cache_entries > 0
    assert load_settings(environ={"FINDSUPPORT_SEARCH_CACHE_ENTRIES": "0"}).search_cache_entries == 0
    assert load_settings(environ={"FINDSUPPORT_SEARCH_CACHE_ENTRIES": " 500 "}).search_cache_entries == 500


@pytest.mark.parametrize(
    ("value", "words"),
    [("-1", "between 0 (no cache) and 100000; got -1"), ("100001", "got 100001"), ("many", "SEARCH_CACHE_ENTRIES"), ("2.5", "2.5")],
)
def test_a_bad_setting_is_a_clear_error(value: str, words: str) -> None:
    with pytest.raises(ConfigError, match="search_cache_entries") as caught:
        load_settings(environ={"FINDSUPPORT_SEARCH_CACHE_ENTRIES": value})
    assert words in str(caught.value)


# ---------------------------------------------------------------- feedback
def test_each_logged_repeat_is_a_feedback_session_of_its_own(settings, stocked) -> None:
    engine = Engine.open(settings, reverse=False)
    query = {"postcode": "NE21 4LZ", "mode": "any", "limit": 4}
    logged = [engine.search(query, log=True) for _ in range(3)]
    quiet = [engine.search(query) for _ in range(2)]
    ids = [r.search_id for r in logged]
    assert None not in ids and len(set(ids)) == 3
    assert all(r.search_id is None for r in quiet)
    sessions = list(FeedbackLog.open(settings).sessions())
    assert len(sessions) == 3
    shown = [(r.provider.id, r.position) for r in logged[0].results]
    for session in sessions:
        assert [(r["provider_id"], r["position"]) for r in session["results"]] == shown


def test_through_the_api_each_get_logs_once_and_head_and_count_log_nothing(settings, stocked) -> None:
    app = create_app(settings.replace(feedback_write_batch_ms=0), background=False)
    client = app.test_client()
    url = "/api/v1/search?postcode=NE21+4LZ&role=mentor&mode=any"
    answers = [client.get(url) for _ in range(3)]
    assert {a.status_code for a in answers} == {200}
    bodies = [a.get_json() for a in answers]
    assert len({b.pop("search_id") for b in bodies}) == 3
    assert bodies[0] == bodies[1] == bodies[2]
    assert client.head(url).status_code == 200
    count = client.get(url.replace("/search?", "/search/count?"))
    assert count.get_json()["total"] == bodies[0]["total"]
    assert len(list(FeedbackLog.open(settings).sessions())) == 3


def test_a_query_parsed_twice_is_one_key() -> None:
    """The key is the query after parsing: spellings of the same parameters meet."""
    a = parse_query({"postcode": "NE21 4LZ", "slots": "tue_eve, SAT_AM", "radius_km": "25", "limit": "10"}, BOUNDS)
    b = parse_query({"postcode": "NE21 4LZ", "slots": ["tue_eve", "sat_am"], "radius_km": 25.0}, BOUNDS)
    assert page_key(a) == page_key(b) and hash(page_key(a)) == hash(page_key(b))

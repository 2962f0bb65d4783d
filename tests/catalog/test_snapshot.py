"""The public-catalogue snapshot: the same catalogue as the database gives, and only ever a cache."""

from __future__ import annotations

import logging
import os
import stat
import time
from datetime import datetime

import numpy as np
import pytest

from findsupport.catalog import CatalogStore, PublicCatalog
from findsupport.catalog import snapshot as snapshot_module
from findsupport.catalog.public import PUBLIC_FIELDS
from findsupport.catalog.snapshot import (
    SNAPSHOTS_KEPT,
    SnapshotUnusable,
    cached_public_catalog,
    providers_at,
    read_snapshot,
    snapshot_path,
)
from findsupport.errors import ProviderNotFound
from findsupport.search.engine import Engine

from .conftest import catalogue_rows, good_row
from .test_validation import SQUARE_20KM

NOW = datetime(2026, 12, 1, 12, 0)


def snapshot_rows() -> list[dict[str, str]]:
    """Rows covering every kind of public value: a polygon (shared by two), no club, no qualification, accents."""
    rows = catalogue_rows(9)
    rows[1] = {**rows[1], "service_area": SQUARE_20KM, "online": "true", "events": "jumps"}
    rows[2] = {**rows[2], "service_area": SQUARE_20KM}
    rows[3] = {**rows[3], "club": "", "qualification": "", "bio": "", "availability": ""}
    rows[4] = {**rows[4], "name": "Zoë Ní Bhriain", "bio": "Hürdles; sprints, “relays”"}
    return rows


@pytest.fixture
def filled(store, import_csv, settings):
    import_csv(snapshot_rows(), columns=[*snapshot_rows()[0], "service_area"])
    return store


def url_of(store: CatalogStore) -> str:
    return store.engine.url.render_as_string(hide_password=True)


def path_of(store: CatalogStore, cache_dir) -> object:
    return snapshot_path(cache_dir, url_of(store), store.version())


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


def test_snapshot_gives_the_catalogue_the_database_gives(filled, cache):
    expected = filled.public_catalog()
    catalog = cached_public_catalog(filled, cache)
    assert isinstance(catalog, PublicCatalog) and catalog.version == expected.version == filled.version()
    assert catalog.providers == expected.providers  # every public field of every provider, in order
    assert list(catalog.providers) == list(expected.providers)
    for name in PublicCatalog.COLUMNS:
        np.testing.assert_array_equal(getattr(catalog, name), getattr(expected, name), err_msg=name)
        assert getattr(catalog, name).dtype == getattr(expected, name).dtype
        assert not getattr(catalog, name).flags.writeable
    for provider in expected.providers:
        assert catalog.get(provider.id) == provider and provider.id in catalog
        assert catalog.position_of(provider.id) == expected.position_of(provider.id)
        assert catalog.get(provider.id).to_dict() == provider.to_dict()
    # The two with the same polygon share one geometry object, as the database read does.
    assert catalog.service_area_at(1) is catalog.service_area_at(2)
    assert catalog.get("p001").service_area.equals(expected.get("p001").service_area)
    assert catalog.providers[3].qualification is None and catalog.providers[3].availability == ()


@pytest.mark.parametrize(
    "eager_texts, scalar_reads",
    [(True, True), (False, True), (False, False)],
    ids=["tables decoded when read", "values decoded when made, offsets read one by one", "values decoded when made, offsets gathered"],
)
def test_a_page_of_providers_made_together_equals_the_database_catalogue(filled, cache, monkeypatch, eager_texts, scalar_reads):
    expected = filled.public_catalog()
    cached_public_catalog(filled, cache)
    if not eager_texts:  # as ids, names and bios are at scale: decoded value by value
        monkeypatch.setattr(snapshot_module, "EAGER_TABLE_MAX", 0)
    if not scalar_reads:  # as for more rows than a page (a whole pass, an export)
        monkeypatch.setattr(snapshot_module, "_SCALAR_READS_MAX", 0)
    catalog = cached_public_catalog(filled, cache)  # read back from the file
    monkeypatch.setattr(snapshot_module, "PROVIDERS_CACHED", 3)  # the cache fills up within one page
    # First, last, repeated, with and without club, bio, qualification, polygon and accents.
    positions = [4, 0, 8, 3, 1, 4, 2, 1]
    page = providers_at(catalog.providers, positions)
    assert page == providers_at(expected.providers, positions) == [expected.providers[i] for i in positions]
    assert [p.to_dict() for p in page] == [expected.providers[i].to_dict() for i in positions]
    assert page[4].service_area.equals(expected.providers[1].service_area) and page[3].service_area is None
    assert page[0].name == "Zoë Ní Bhriain" and page[3].club is None and page[3].bio is None
    # Made again (from the cache or anew), a provider is the same.
    assert providers_at(catalog.providers, positions[::-1]) == page[::-1]
    assert list(catalog.providers) == list(expected.providers) and catalog.providers[1:4] == expected.providers[1:4]


@pytest.mark.parametrize("unknown", ["nobody", "", "p00", "p0000", "p001\0", "x" * 80, 7, None])
def test_unknown_ids_are_not_found(filled, cache, unknown):
    catalog = cached_public_catalog(filled, cache)
    assert unknown not in catalog
    with pytest.raises(ProviderNotFound):
        catalog.get(unknown)


def test_a_new_process_reads_the_snapshot_not_the_database(filled, cache, monkeypatch):
    first = cached_public_catalog(filled, cache)
    path = path_of(filled, cache)
    assert path.exists() and stat.S_IMODE(path.stat().st_mode) == 0o600
    monkeypatch.setattr(CatalogStore, "public_catalog", lambda self: pytest.fail("read the database"))
    again = cached_public_catalog(filled, cache)
    assert again.providers == first.providers and again.version == first.version


def test_snapshot_holds_public_fields_only(filled, cache, settings):
    cached_public_catalog(filled, cache)
    data = path_of(filled, cache).read_bytes()
    for row in snapshot_rows():
        assert row["email"].encode() not in data
        assert row["postcode"].encode() not in data and row["postcode"].replace(" ", "").encode() not in data
    stored = {name.split(".")[0] for name in snapshot_module._columns_of_rows(*filled.public_rows()[1:])}
    allowed = {*PUBLIC_FIELDS, *PublicCatalog.COLUMNS, "easting", "northing", "service_area", "taken", "id_sorted", "id_order"}
    assert stored <= allowed


def damage_truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def damage_flip(path):
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))


def damage_empty(path):
    path.write_bytes(b"")


def damage_garbage(path):
    path.write_bytes(b"not a snapshot at all, just text")


@pytest.mark.parametrize("damage", [damage_truncate, damage_flip, damage_empty, damage_garbage])
def test_a_damaged_snapshot_is_rebuilt_with_a_log_line(filled, cache, caplog, damage):
    expected = cached_public_catalog(filled, cache).providers
    path = path_of(filled, cache)
    damage(path)
    with caplog.at_level(logging.WARNING, logger="findsupport.catalog.snapshot"):
        catalog = cached_public_catalog(filled, cache)
    assert catalog.providers == expected
    assert "unusable" in caplog.text and "rebuilding it from the database" in caplog.text
    assert read_snapshot(path, database_url=url_of(filled), version=filled.version()).providers == expected


def test_a_snapshot_of_another_version_is_refused(filled, cache, import_csv, caplog):
    cached_public_catalog(filled, cache)
    old_path = path_of(filled, cache)
    import_csv([good_row(id="late", email="late@example.org")])
    new_path = path_of(filled, cache)
    assert new_path != old_path
    new_path.write_bytes(old_path.read_bytes())  # a stale file under the new name
    with caplog.at_level(logging.WARNING, logger="findsupport.catalog.snapshot"):
        catalog = cached_public_catalog(filled, cache)
    assert "late" in catalog and "another catalogue" in caplog.text


def test_a_snapshot_of_another_database_is_refused(filled, cache):
    cached_public_catalog(filled, cache)
    path = path_of(filled, cache)
    with pytest.raises(SnapshotUnusable, match="another catalogue"):
        read_snapshot(path, database_url="sqlite:////elsewhere/findsupport.sqlite3", version=filled.version())
    other = snapshot_path(cache, "sqlite:////elsewhere/findsupport.sqlite3", filled.version())
    assert other != path  # two databases never share a file name, even at the same version


def test_places_and_edits_make_a_new_snapshot(filled, cache):
    before = cached_public_catalog(filled, cache)
    filled.apply_edit("p002", {"capacity": "7"}, now=NOW)
    after = cached_public_catalog(filled, cache)
    assert after.version != before.version and after.get("p002").capacity == 7
    assert len(list(cache.glob("public-catalog-*"))) == 2


def test_rows_newer_than_their_version_are_not_cached(filled, cache, monkeypatch):
    versions = iter(["v1", "v1", "v2"])  # an import commits while the rows are read
    monkeypatch.setattr(CatalogStore, "version", lambda self: next(versions))
    catalog = cached_public_catalog(filled, cache)
    assert len(catalog) == 9 and catalog.version == "v1" and not list(cache.glob("public-catalog-*"))


def test_old_snapshots_are_pruned(filled, cache):
    for capacity in range(2, 3 + SNAPSHOTS_KEPT):
        filled.apply_edit("p002", {"capacity": str(capacity)}, now=NOW)
        cached_public_catalog(filled, cache)
    files = list(cache.glob("public-catalog-*"))
    assert len(files) == SNAPSHOTS_KEPT and path_of(filled, cache) in files
    assert not list(cache.glob(".*.tmp"))


def test_pruning_leaves_other_databases_snapshots_until_stale(filled, cache):
    cache.mkdir(parents=True)
    recent = snapshot_path(cache, "sqlite:////another/findsupport.sqlite3", "0123456789abcdef")
    stale = snapshot_path(cache, "sqlite:////gone/findsupport.sqlite3", "0123456789abcdef")
    for path in (recent, stale):
        path.write_bytes(b"a snapshot of another data dir")
    old = time.time() - snapshot_module.STALE_SECONDS - 60
    os.utime(stale, (old, old))
    cached_public_catalog(filled, cache)
    assert recent.exists() and not stale.exists() and path_of(filled, cache).exists()


def test_an_unwritable_cache_still_serves(filled, tmp_path, caplog):
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache directory should be")
    with caplog.at_level(logging.WARNING, logger="findsupport.catalog.snapshot"):
        catalog = cached_public_catalog(filled, blocked / "cache")
    assert len(catalog) == 9 and "could not write" in caplog.text


def test_an_empty_catalogue_round_trips(store, cache):
    catalog = cached_public_catalog(store, cache)
    again = cached_public_catalog(store, cache)
    assert len(catalog) == len(again) == 0 and "p1" not in again


def test_searches_from_the_snapshot_equal_searches_from_objects(filled, cache, directory):
    queries = [
        {"postcode": "NE21 4LZ"},
        {"postcode": "NE21 4LZ", "role": "mentor", "event": "hurdles", "slots": "tue_eve", "radius_km": 200},
        {"postcode": "SW1A 2AA", "mode": "any", "radius_km": 200, "limit": 20},
        {"postcode": "EH1 1YZ", "mode": "online", "event": "jumps"},
    ]
    from_objects = Engine.from_catalog(filled.public_catalog(), directory)
    from_snapshot = Engine.from_catalog(cached_public_catalog(filled, cache), directory)
    for query in queries:
        a, b = from_objects.search(query), from_snapshot.search(query)
        assert a.total == b.total
        assert [(r.provider, r.score, r.reasons, r.features) for r in a.results] == [
            (r.provider, r.score, r.reasons, r.features) for r in b.results
        ]

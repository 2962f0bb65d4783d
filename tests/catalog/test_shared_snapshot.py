"""The public-catalogue snapshot shared through the database: a new server starts from it, not from the rows.

Each "server" here is a store on the test's database with a cache directory
of its own.  On SQLite sharing is off by default (one data dir: its cache is
already shared), so the tests ask for it (``share=True``) and run the same
code on both backends; ``make test``'s PostgreSQL phase runs them on a real
server, where it is the default.
"""

from __future__ import annotations

import logging
import stat
import threading

import numpy as np
import pytest
import sqlalchemy as sa
from databases import on_postgres

from findsupport.catalog import CatalogStore, PublicCatalog
from findsupport.catalog import shared_snapshot
from findsupport.catalog import snapshot as snapshot_module
from findsupport.catalog.snapshot import (
    SHARED_KIND,
    SNAPSHOTS_KEPT,
    cached_public_catalog,
    read_snapshot,
    snapshot_path,
)
from findsupport.catalog.tables import snapshot_chunks_table
from findsupport.index import SearchIndex

from .test_snapshot import snapshot_rows, url_of

T = snapshot_chunks_table
OF_SNAPSHOT = T.c.kind == SHARED_KIND
#: Small blocks: the test catalogue's index then has many blocks and tiles.
TINY_BLOCKS = {"block_size": 2, "online_block_size": 2, "tile_blocks": 2}


@pytest.fixture
def filled(store, import_csv):
    import_csv(snapshot_rows(), columns=[*snapshot_rows()[0], "service_area"])
    return store


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 1 kB, so the few-kB test snapshot is several rows, as a real one is."""
    monkeypatch.setattr(shared_snapshot, "CHUNK_BYTES", 1024)


@pytest.fixture
def rows_read(monkeypatch):
    """How many times a store read the catalogue's rows (each read still done)."""
    calls = []
    original = CatalogStore.public_rows

    def counted(self):
        calls.append(1)
        return original(self)

    monkeypatch.setattr(CatalogStore, "public_rows", counted)
    return calls


def stored(store, kind: str | None = SHARED_KIND) -> list[tuple[str, str, int, int]]:
    """The shared chunks in the database of ``kind`` (None: all): version, kind, chunk, chunks."""
    query = sa.select(T.c.version, T.c.kind, T.c.chunk, T.c.chunks).order_by(T.c.version, T.c.kind, T.c.chunk)
    if kind is not None:
        query = query.where(T.c.kind == kind)
    with store.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(query)]


def assert_same(catalog: PublicCatalog, expected: PublicCatalog) -> None:
    assert catalog.version == expected.version
    assert list(catalog.providers) == list(expected.providers)
    for name in PublicCatalog.COLUMNS:
        np.testing.assert_array_equal(getattr(catalog, name), getattr(expected, name), err_msg=name)


def test_sharing_is_on_where_the_database_is_not_a_file_of_one_data_dir(filled, tmp_path):
    cached_public_catalog(filled, tmp_path / "server-a")  # the default for this backend
    assert shared_snapshot.shares_snapshots(filled.engine) is on_postgres()
    assert bool(stored(filled)) is on_postgres()


def test_a_new_server_starts_from_the_shared_snapshot_without_reading_rows(filled, tmp_path, monkeypatch,
                                                                            small_chunks, rows_read, caplog):  # fmt: skip
    expected = filled.public_catalog()
    first = cached_public_catalog(filled, tmp_path / "server-a", share=True)
    assert len(rows_read) == 2  # public_catalog above, then the first server's build
    chunks = stored(filled)
    assert len(chunks) > 3 and {c[0] for c in chunks} == {filled.version()}
    assert [c[2] for c in chunks] == list(range(chunks[0][3]))

    # A server added later: its own empty cache, and (as another host may) another URL for the same database.
    other_url = "postgresql://findsupport@db.example.internal/findsupport"
    monkeypatch.setattr(snapshot_module, "_store_url", lambda store: other_url)
    monkeypatch.setattr(CatalogStore, "public_rows", lambda self: pytest.fail("read the catalogue's rows"))
    second_server = CatalogStore(filled.engine)
    with caplog.at_level(logging.INFO, logger=snapshot_module.__name__):
        catalog = cached_public_catalog(second_server, tmp_path / "server-b", share=True)
    assert_same(catalog, expected)
    assert_same(first, expected)
    assert "read from the database" in caplog.text
    # Written to its cache, private and named for the URL it knows: its next process reads the file.
    path = snapshot_path(tmp_path / "server-b", other_url, filled.version())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert_same(read_snapshot(path, database_url=other_url, version=filled.version()), expected)
    monkeypatch.setattr(shared_snapshot, "fetch_shared", lambda *a: pytest.fail("fetched again"))
    assert_same(cached_public_catalog(second_server, tmp_path / "server-b", share=True), expected)


def _damage_a_chunk(store) -> None:
    with store.engine.begin() as conn:
        (data,) = conn.execute(sa.select(T.c.data).where(OF_SNAPSHOT, T.c.chunk == 2)).one()
        flipped = bytes([data[0] ^ 0xFF]) + bytes(data[1:])
        conn.execute(sa.update(T).where(OF_SNAPSHOT, T.c.chunk == 2).values(data=flipped))


def _drop_a_chunk(store) -> None:
    with store.engine.begin() as conn:
        conn.execute(sa.delete(T).where(OF_SNAPSHOT, T.c.chunk == 1))


def _cut_the_last_chunk(store) -> None:
    with store.engine.begin() as conn:
        last = conn.execute(sa.select(sa.func.max(T.c.chunk)).where(OF_SNAPSHOT)).scalar()
        (data,) = conn.execute(sa.select(T.c.data).where(OF_SNAPSHOT, T.c.chunk == last)).one()
        conn.execute(sa.update(T).where(OF_SNAPSHOT, T.c.chunk == last).values(data=bytes(data[:-10])))


@pytest.mark.parametrize("damage", [_damage_a_chunk, _drop_a_chunk, _cut_the_last_chunk],
                         ids=["a byte flipped", "a chunk missing", "the file cut short"])  # fmt: skip
def test_a_damaged_shared_copy_falls_back_to_the_rows_and_is_replaced(filled, tmp_path, small_chunks, rows_read,
                                                                      caplog, damage):  # fmt: skip
    expected = filled.public_catalog()
    cached_public_catalog(filled, tmp_path / "server-a", share=True)
    damage(filled)
    before = len(rows_read)
    with caplog.at_level(logging.WARNING, logger=snapshot_module.__name__):
        catalog = cached_public_catalog(CatalogStore(filled.engine), tmp_path / "server-b", share=True)
    assert_same(catalog, expected)
    assert len(rows_read) == before + 1  # built from the rows
    assert "stored in the database is unusable" in caplog.text
    # The damaged copy was replaced by the good one: a third server needs no rows.
    catalog = cached_public_catalog(CatalogStore(filled.engine), tmp_path / "server-c", share=True)
    assert_same(catalog, expected)
    assert len(rows_read) == before + 1


def test_two_servers_building_at_once_leave_one_good_copy(filled, tmp_path, monkeypatch, small_chunks, rows_read):
    expected = filled.public_catalog()
    original = shared_snapshot.store_shared
    both_built = threading.Barrier(2, timeout=30)
    results, errors = [], []

    def store_together(*args, **kwargs):
        both_built.wait()  # both have built and written their file: they store at the same moment
        result = original(*args, **kwargs)
        results.append(result)
        return result

    monkeypatch.setattr(shared_snapshot, "store_shared", store_together)

    def server(name: str) -> None:
        try:
            assert_same(cached_public_catalog(CatalogStore(filled.engine), tmp_path / name, share=True), expected)
        except BaseException as exc:  # reported below: an assertion in a thread fails nothing by itself
            errors.append(exc)

    threads = [threading.Thread(target=server, args=(name,)) for name in ("server-a", "server-b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert sorted(results) == [False, True]  # one stored it; the other found it stored or being stored
    chunks = stored(filled)
    assert [c[2] for c in chunks] == list(range(chunks[0][3])) and {c[0] for c in chunks} == {filled.version()}
    reads = len(rows_read)
    assert_same(cached_public_catalog(CatalogStore(filled.engine), tmp_path / "server-c", share=True), expected)
    assert len(rows_read) == reads


def _versions(filled, import_csv, count: int, serve) -> list[str]:
    """Import ``count`` catalogue versions one after another, calling ``serve()`` after each; their versions."""
    versions = []
    for k in range(count):
        rows = snapshot_rows()
        rows[0] = {**rows[0], "bio": f"Version {k}"}
        import_csv(rows, columns=[*rows[0], "service_area"])
        versions.append(filled.version())
        serve()
    return versions


def test_old_versions_are_pruned_from_the_database(filled, tmp_path, import_csv):
    versions = _versions(filled, import_csv, SNAPSHOTS_KEPT + 2,
                         lambda: cached_public_catalog(filled, tmp_path / "server-a", share=True))
    assert len(set(versions)) == len(versions)
    assert {c[0] for c in stored(filled)} == set(versions[-SNAPSHOTS_KEPT:])


def test_a_snapshot_cached_before_sharing_is_shared_by_the_next_start(filled, tmp_path, rows_read):
    expected = filled.public_catalog()
    cached_public_catalog(filled, tmp_path / "server-a", share=False)  # e.g. made by the previous release
    assert stored(filled) == []
    reads = len(rows_read)
    cached_public_catalog(filled, tmp_path / "server-a", share=True)  # a warm start shares its file
    assert {c[0] for c in stored(filled)} == {filled.version()}
    assert_same(cached_public_catalog(CatalogStore(filled.engine), tmp_path / "server-b", share=True), expected)
    assert len(rows_read) == reads


def test_the_shared_copy_holds_public_fields_only(filled, tmp_path):
    cached_public_catalog(filled, tmp_path / "server-a", share=True)
    with filled.engine.connect() as conn:
        data = b"".join(conn.execute(sa.select(T.c.data).where(OF_SNAPSHOT).order_by(T.c.chunk)).scalars())
    assert data == snapshot_path(tmp_path / "server-a", url_of(filled), filled.version()).read_bytes()
    for row in snapshot_rows():
        assert row["email"].encode() not in data
        assert row["postcode"].encode() not in data and row["postcode"].replace(" ", "").encode() not in data


@pytest.mark.skipif(not on_postgres(), reason="PostgreSQL's compression of large values")
def test_chunks_are_stored_without_pglz_compression(filled):
    # pglz made storing a million providers' snapshot take ~10 s; lz4 or none take ~1 s.
    query = sa.text("SELECT attstorage, attcompression FROM pg_attribute "
                    "WHERE attrelid = 'catalog_snapshot_chunks'::regclass AND attname = 'data'")  # fmt: skip
    with filled.engine.connect() as conn:
        storage, compression = conn.execute(query).one()
    assert compression == "l" or storage == "e"


def index_kinds(store) -> set[str]:
    return {kind for _, kind, _, _ in stored(store, kind=None) if kind.startswith("index-")}


def test_a_new_server_reads_the_index_from_the_database_without_building_it(filled, tmp_path, monkeypatch,
                                                                              small_chunks):  # fmt: skip
    catalog = cached_public_catalog(filled, tmp_path / "server-a", share=True)
    built = SearchIndex.build(catalog, **TINY_BLOCKS)
    (kind,) = index_kinds(filled)
    monkeypatch.setattr(SearchIndex, "_build", classmethod(lambda *a, **k: pytest.fail("built the index")))
    monkeypatch.setattr(CatalogStore, "public_rows", lambda self: pytest.fail("read the catalogue's rows"))
    second = cached_public_catalog(CatalogStore(filled.engine), tmp_path / "server-b", share=True)
    loaded = SearchIndex.build(second, **TINY_BLOCKS)
    for name in ("main", "online"):
        for array in ("slot_f", "slot_i", "block_f", "block_i", "tile_i", "tile_box"):
            np.testing.assert_array_equal(getattr(getattr(loaded, name), array), getattr(getattr(built, name), array))
    np.testing.assert_array_equal(loaded.areas.bounds, built.areas.bounds)
    assert len(loaded.tree) == len(built.tree) > 1
    # Written beside the fetched snapshot: the server's next process reads its own file.
    assert len(list((tmp_path / "server-b").glob("*.fsidx"))) == 1
    monkeypatch.setattr(shared_snapshot, "fetch_shared", lambda *a: pytest.fail("fetched again"))
    SearchIndex.build(cached_public_catalog(CatalogStore(filled.engine), tmp_path / "server-b", share=True), **TINY_BLOCKS)
    assert index_kinds(filled) == {kind}


def test_a_damaged_shared_index_is_built_again_and_replaced(filled, tmp_path, monkeypatch, small_chunks, caplog):
    SearchIndex.build(cached_public_catalog(filled, tmp_path / "server-a", share=True))
    (kind,) = index_kinds(filled)
    with filled.engine.begin() as conn:
        (data,) = conn.execute(sa.select(T.c.data).where(T.c.kind == kind, T.c.chunk == 1)).one()
        conn.execute(sa.update(T).where(T.c.kind == kind, T.c.chunk == 1).values(data=bytes(data[:-1]) + b"?"))
    with caplog.at_level(logging.WARNING):
        SearchIndex.build(cached_public_catalog(CatalogStore(filled.engine), tmp_path / "server-b", share=True))
    assert "stored in the database is unusable" in caplog.text and "search index" in caplog.text
    monkeypatch.setattr(SearchIndex, "_build", classmethod(lambda *a, **k: pytest.fail("built the index")))
    SearchIndex.build(cached_public_catalog(CatalogStore(filled.engine), tmp_path / "server-c", share=True))


def test_a_versions_index_is_pruned_with_its_snapshot(filled, tmp_path, import_csv):
    versions = _versions(filled, import_csv, SNAPSHOTS_KEPT + 1,
                         lambda: SearchIndex.build(cached_public_catalog(filled, tmp_path / "server-a", share=True)))
    kinds = {(version, kind.split("-")[0]) for version, kind, _, _ in stored(filled, kind=None)}
    assert kinds == {(v, k) for v in versions[-SNAPSHOTS_KEPT:] for k in ("catalog", "index")}

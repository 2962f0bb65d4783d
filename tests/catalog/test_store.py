"""The store: upsert by id, idempotent re-import, --replace, atomicity, versions, the public and private reads."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import sqlalchemy as sa

from findsupport.catalog import CatalogStore, PublicCatalog, import_file, store as store_module
from findsupport.catalog.store import EMPTY_VERSION
from findsupport.errors import CatalogError, ProviderNotFound

from .conftest import catalogue_rows, good_row, write_csv
from .test_validation import SQUARE_20KM


def public_ids(store):
    return [p.id for p in store.public_catalog().providers]


def test_empty_store(store):
    assert store.version() == EMPTY_VERSION
    assert len(store.public_catalog()) == 0
    assert not store.has_catalog()
    assert store.counts().providers == 0 and store.history() == []


def test_import_adds_then_reimport_changes_nothing(store, import_csv):
    rows = catalogue_rows(9)
    first = import_csv(rows)
    assert (first.record.added, first.record.updated, first.record.unchanged) == (9, 0, 0)
    version = store.version()
    catalog = store.public_catalog()
    second = import_csv(rows)
    assert (second.record.added, second.record.updated, second.record.unchanged) == (0, 0, 9)
    assert store.version() == version == catalog.version
    assert store.public_catalog().providers == catalog.providers
    assert [r.id for r in store.history()] == [second.record.id, first.record.id]


def test_upsert_updates_changed_rows_and_keeps_others(store, import_csv):
    rows = catalogue_rows(4)
    import_csv(rows)
    before = store.version()
    report = import_csv([{**rows[1], "capacity": "9"}, good_row(id="new", email="new@example.org")])
    assert (report.record.added, report.record.updated, report.record.unchanged, report.record.removed) == (1, 1, 0, 0)
    assert store.version() != before
    assert store.get_private("p001").capacity == 9
    assert sorted(public_ids(store)) == ["new", "p000", "p001", "p002", "p003"]


def test_replace_makes_the_catalogue_exactly_the_file(store, import_csv):
    rows = catalogue_rows(5)
    import_csv(rows)
    report = import_csv(rows[:2], replace=True)
    assert report.record.removed == 3
    assert public_ids(store) == ["p000", "p001"]
    assert store.counts().providers == 2


def test_replace_keeps_the_stored_version_of_a_rejected_row(store, import_csv):
    rows = catalogue_rows(3)
    import_csv(rows)
    report = import_csv([rows[0], {**rows[1], "email": "broken"}], replace=True)
    assert report.rejected_rows == 1 and report.record.removed == 1 and report.record.kept == 1
    assert public_ids(store) == ["p000", "p001"]
    assert store.get_private("p001").email == "provider1@example.org"


def test_withdrawn_consent_hides_the_provider_everywhere_public(store, import_csv):
    rows = catalogue_rows(3)
    import_csv(rows)
    import_csv([{**rows[2], "consent": "false"}])
    catalog = store.public_catalog()
    assert "p002" not in catalog
    with pytest.raises(ProviderNotFound):
        catalog.get("p002")
    assert store.contact_for("p002") is None
    assert store.get_private("p002").consent is False
    counts = store.counts()
    assert (counts.providers, counts.consented, counts.unconsented) == (3, 2, 1)


def test_a_failure_half_way_leaves_the_previous_catalogue(store, import_csv, monkeypatch):
    import_csv(catalogue_rows(4))
    before_version, before = store.version(), store.public_catalog().providers
    history = store.history()
    monkeypatch.setattr(store_module, "WRITE_CHUNK_ROWS", 2)
    calls = []
    real_write = store_module._write_chunk

    def failing(conn, statement, chunk):
        calls.append(len(chunk))
        if len(calls) == 2:  # the first chunk of new rows is already written
            raise OSError("disk full")
        real_write(conn, statement, chunk)

    monkeypatch.setattr(store_module, "_write_chunk", failing)
    new_rows = [good_row(id=f"n{i}", email=f"n{i}@example.org") for i in range(6)]
    with pytest.raises(OSError, match="disk full"):
        import_csv([*new_rows, {**catalogue_rows(4)[0], "capacity": "7"}], replace=True)
    assert calls == [2, 2]
    assert store.version() == before_version
    assert store.public_catalog().providers == before
    assert store.history() == history
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from providers")).scalar() == 4


def test_public_catalog_columns_and_service_area(store, import_csv):
    rows = catalogue_rows(3)
    rows[1] = {**rows[1], "service_area": SQUARE_20KM, "online": "true", "events": "jumps"}
    import_csv(rows)
    catalog = store.public_catalog()
    assert isinstance(catalog, PublicCatalog)
    provider = catalog.get("p001")
    assert provider.service_area is not None and provider.service_area.area == pytest.approx(400e6)
    assert catalog.has_area.tolist() == [False, True, False]
    assert catalog.online.tolist() == [False, True, False]
    assert catalog.x[1] == provider.easting and np.all(catalog.reach_m == 15_000)
    with pytest.raises(ValueError):
        catalog.x[0] = 1.0  # read-only columns


def test_contact_for_and_get_private(store, import_csv):
    import_csv(catalogue_rows(2))
    contact = store.contact_for("p001")
    assert (contact.id, contact.name, contact.email) == ("p001", "Provider 1", "provider1@example.org")
    assert "provider1@example.org" not in repr(contact)
    assert store.contact_for("nobody") is None
    private = store.get_private("p000")
    assert private.postcode == "NE21 4LZ" and private.area == "NE21 4"
    assert "NE21 4LZ" not in repr(private) and "example.org" not in repr(private)
    with pytest.raises(ProviderNotFound):
        store.get_private("nobody")


def test_history_records_each_import(store, import_csv):
    report = import_csv([*catalogue_rows(2), good_row(id="bad", email="nope")])
    (record,) = store.history()
    assert (record.rows, record.rejected, record.added, record.providers) == (3, 1, 2, 2)
    assert record.format == "csv" and record.source.endswith(".csv") and record.catalog_version == store.version()
    assert record.to_dict()["started_at"] <= record.to_dict()["finished_at"]
    assert report.record == record
    assert store.has_catalog()


def test_an_empty_import_still_counts_as_a_catalogue(store, import_csv):
    import_csv([])
    assert store.has_catalog() and store.counts().providers == 0


def test_two_stores_on_one_database_see_the_same_catalogue(settings, import_csv, store):
    import_csv(catalogue_rows(2))
    other = CatalogStore.open(settings)
    assert other.version() == store.version() and public_ids(other) == public_ids(store)


def test_a_rejected_row_that_withdraws_consent_still_unlists(store, import_csv):
    rows = catalogue_rows(3)
    import_csv(rows)
    report = import_csv([{**rows[1], "consent": "no", "email": "broken"}])
    assert report.rejected_rows == 1 and report.record.withdrawn == 1
    assert "1 unlisted because their rejected rows withdraw consent" in report.summary()
    assert "p001" not in store.public_catalog() and store.contact_for("p001") is None
    assert store.get_private("p001").email == "provider1@example.org"  # the rest is left as it was
    again = import_csv(rows)  # consent given again, with a valid row
    assert again.record.updated == 1 and "p001" in store.public_catalog()


def test_a_database_from_an_older_schema_is_refused_clearly(settings):
    engine = sa.create_engine(f"sqlite:///{settings.data_dir / 'old.sqlite3'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("create table provider_imports (id integer primary key, source text)")
    with pytest.raises(CatalogError, match="lacks column started_at, finished_at"):
        CatalogStore(engine)


# ---------------------------------------------------------------- two imports at once (issue 13)
def _stored_version(store) -> str:
    """The version of exactly what the store holds, computed afresh from its rows."""
    with store.engine.connect() as conn:
        hashes = dict(conn.execute(sa.select(store_module.providers_table.c.id, store_module.providers_table.c.row_hash)).all())
    return store_module._catalog_version(hashes)


@pytest.mark.parametrize("replace", [False, True], ids=["upsert", "replace"])
def test_two_imports_at_once_take_turns_and_record_the_right_version(store, settings, directory, tmp_path, replace):
    """Two servers importing at the same moment: each reads what the other left (PostgreSQL: the advisory lock)."""
    base = catalogue_rows(300)
    files = {
        name: write_csv(tmp_path / f"{name}.csv", [{**row, "id": f"{name}{row['id']}"} for row in base])
        for name in ("a", "b")
    }
    start, reports, errors = threading.Barrier(2), {}, []

    def run(name: str) -> None:
        own = CatalogStore.open(settings)  # a server of its own, on the same database
        start.wait(timeout=60)
        try:
            reports[name] = import_file(files[name], own, directory, settings, replace=replace)
        except Exception as exc:  # noqa: BLE001 - any failure is the test's finding
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(name,)) for name in files]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert errors == []
    first, last = sorted(reports.values(), key=lambda report: report.record.id)
    assert first.record.added == 300 and last.record.added == 300
    ids = set(public_ids(store))
    if replace:  # the catalogue is exactly the file imported last; the first import's rows are gone
        assert last.record.removed == 300 and last.record.providers == 300 == len(ids)
        assert {i[0] for i in ids} == {last.record.source[0]}
    else:
        assert last.record.providers == 600 == len(ids)
    assert last.record.catalog_version == store.version() == _stored_version(store)
    assert store.history()[0] == last.record


def test_import_times_are_aware_utc_on_every_backend(store, import_csv):
    before = datetime.now(UTC)
    record = import_csv(catalogue_rows(2)).record
    (stored,) = store.history()
    for moment in (record.started_at, record.finished_at, stored.started_at, stored.finished_at):
        assert moment.tzinfo is not None and before - timedelta(seconds=1) <= moment <= datetime.now(UTC)
    assert stored.to_dict()["started_at"].endswith("+00:00")

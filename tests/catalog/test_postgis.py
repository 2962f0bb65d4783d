"""PostGIS: geometry columns, GiST indexes and the ``public_providers`` view of the listed catalogue.

Only the PostgreSQL run (``FINDSUPPORT_TEST_BACKEND=postgresql``) has a
database to test; on SQLite only the "does nothing" contract is checked.
"""

from __future__ import annotations

import threading
from datetime import datetime

import numpy as np
import pytest
import shapely
import sqlalchemy as sa
from databases import on_postgres

from findsupport.catalog import CatalogStore
from findsupport.catalog import places as provider_places
from findsupport.catalog.postgis import (
    GIST_INDEXES,
    PUBLIC_GEOMETRY_MARK,
    PUBLIC_VIEW,
    PUBLIC_VIEW_EXTRA_COLUMNS,
    ensure_public_geometry,
    has_postgis,
)
from findsupport.catalog.public import PUBLIC_FIELDS

from .test_export import varied_rows

PRIVATE_COLUMNS = {"email", "postcode", "base_lon", "base_lat", "base_easting", "base_northing", "consent", "row_hash"}

postgres_only = pytest.mark.skipif(not on_postgres(), reason="PostGIS needs the PostgreSQL run (FINDSUPPORT_TEST_BACKEND=postgresql)")


def test_sqlite_is_left_alone():
    engine = sa.create_engine("sqlite://")
    assert ensure_public_geometry(engine) is False
    assert has_postgis(engine) is False
    assert sa.inspect(engine).get_view_names() == []


@pytest.fixture
def listed(store, import_csv):
    """The varied catalogue (one provider unconsented) with one more provider's listing paused."""
    assert import_csv(varied_rows()).ok
    provider_places.ensure_row(store.engine, "p001")
    with store.engine.begin() as conn:
        assert provider_places.set_paused(conn, "p001", True, datetime(2026, 12, 1))
    return store


def scalar(store, sql, **params):
    with store.engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()


def rows(store, sql, **params):
    with store.engine.connect() as conn:
        return conn.execute(sa.text(sql), params).all()


@postgres_only
def test_view_lists_exactly_the_listed_providers(listed):
    assert has_postgis(listed.engine)
    public = listed.public_catalog()
    assert scalar(listed, f"SELECT count(*) FROM {PUBLIC_VIEW}") == listed.listed_count() == len(public) == 4
    assert [r[0] for r in rows(listed, f"SELECT id FROM {PUBLIC_VIEW} ORDER BY id")] == [p.id for p in public.providers]
    spare = dict(rows(listed, f"SELECT id, spare_capacity FROM {PUBLIC_VIEW}"))
    assert spare == {p.id: p.spare for p in public.providers}


@postgres_only
def test_view_has_public_columns_only(listed):
    columns = [
        r[0]
        for r in rows(
            listed,
            "SELECT column_name FROM information_schema.columns WHERE table_name = :view ORDER BY ordinal_position",
            view=PUBLIC_VIEW,
        )
    ]
    assert columns == [*PUBLIC_FIELDS, *PUBLIC_VIEW_EXTRA_COLUMNS]
    assert not PRIVATE_COLUMNS & set(columns)
    # Every value of every row, as text: no e-mail or postcode among them.
    texts = " ".join(str(v) for row in rows(listed, f"SELECT * FROM {PUBLIC_VIEW}") for v in row).lower()
    assert "@" not in texts
    for provider in listed.providers():
        if provider.postcode:
            assert provider.postcode.lower() not in texts


@postgres_only
def test_geometries_are_the_public_location_and_service_area(listed):
    public = {p.id: p for p in listed.public_catalog().providers}
    found = rows(
        listed,
        f"SELECT id, ST_SRID(location), ST_X(location), ST_Y(location), ST_AsBinary(service_area) FROM {PUBLIC_VIEW}",
    )
    for provider_id, srid, x, y, area in found:
        provider = public[provider_id]
        assert (srid, x, y) == (27700, provider.easting, provider.northing)
        if provider.service_area is None:
            assert area is None
        else:
            assert shapely.from_wkb(bytes(area)).equals(provider.service_area)
    types = {r[0] for r in rows(listed, f"SELECT GeometryType(service_area) FROM {PUBLIC_VIEW} WHERE service_area IS NOT NULL")}
    assert types == {"MULTIPOLYGON"}


@postgres_only
def test_gist_indexes_serve_queries_through_the_view(listed):
    indexes = dict(rows(listed, "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'providers'"))
    for name in GIST_INDEXES:
        assert "USING gist" in indexes[name]
    point = "ST_SetSRID(ST_MakePoint(417647, 563312), 27700)"
    queries = {
        "providers_public_location_gist": f"SELECT id FROM {PUBLIC_VIEW} WHERE ST_DWithin(location, {point}, 5000)",
        "providers_public_service_area_gist": f"SELECT id FROM {PUBLIC_VIEW} WHERE ST_Intersects(service_area, {point})",
    }
    with listed.engine.connect() as conn:
        conn.execute(sa.text("SET LOCAL enable_seqscan = off"))  # six rows: only a forced plan shows the index
        for index, query in queries.items():
            plan = "\n".join(r[0] for r in conn.execute(sa.text(f"EXPLAIN {query}")))
            assert index in plan, plan


@postgres_only
def test_qgis_sees_typed_geometry_columns(listed):
    found = rows(listed, "SELECT f_geometry_column, srid, type FROM geometry_columns WHERE f_table_name = :v", v=PUBLIC_VIEW)
    assert sorted(found) == [("location", 27700, "POINT"), ("service_area", 27700, "MULTIPOLYGON")]


@postgres_only
@pytest.mark.parametrize("radius_km", [1, 50, 400])
def test_st_dwithin_agrees_with_the_public_locations(listed, radius_km):
    public = listed.public_catalog()
    x, y = 417_647.0, 563_312.0  # Blaydon (NE21)
    near = rows(
        listed,
        f"SELECT id FROM {PUBLIC_VIEW} WHERE ST_DWithin(location, ST_SetSRID(ST_MakePoint(:x, :y), 27700), :m) ORDER BY id",
        x=x, y=y, m=radius_km * 1000.0,
    )  # fmt: skip
    expected = [p.id for p, d in zip(public.providers, np.hypot(public.x - x, public.y - y)) if d <= radius_km * 1000]
    assert [r[0] for r in near] == expected
    inside = rows(
        listed,
        f"SELECT id FROM {PUBLIC_VIEW} WHERE ST_Intersects(service_area, ST_SetSRID(ST_MakePoint(:x, :y), 27700))",
        x=x, y=y,
    )  # fmt: skip
    assert {r[0] for r in inside} == {
        p.id for p in public.providers if p.service_area is not None and p.service_area.intersects(shapely.Point(x, y))
    }


@postgres_only
def test_imports_keep_the_geometry_current(listed, import_csv):
    rows_ = varied_rows()
    rows_[0] = {**rows_[0], "postcode": "TR1 2AA"}  # moved to Truro
    assert import_csv(rows_[:4], replace=True).ok  # p004 and p005 removed
    public = {p.id: p for p in listed.public_catalog().providers}
    found = {r[0]: (r[1], r[2]) for r in rows(listed, f"SELECT id, ST_X(location), ST_Y(location) FROM {PUBLIC_VIEW}")}
    assert found == {pid: (p.easting, p.northing) for pid, p in public.items()}
    assert found["p000"][1] < 100_000  # Cornwall, not Blaydon


@postgres_only
def test_read_with_geopandas(listed):
    gpd = pytest.importorskip("geopandas")
    frame = gpd.read_postgis(f"SELECT * FROM {PUBLIC_VIEW} ORDER BY id", listed.engine, geom_col="location")
    assert frame.crs.to_epsg() == 27700
    assert list(frame["id"]) == [p.id for p in listed.public_catalog().providers]
    assert not PRIVATE_COLUMNS & set(frame.columns)


@postgres_only
def test_read_with_ogr(listed, database_url):
    """What ``ogr2ogr -f GPKG out.gpkg PG:... public_providers`` does, when this GDAL has the driver."""
    pyogrio = pytest.importorskip("pyogrio")
    if "PostgreSQL" not in pyogrio.list_drivers():
        pytest.skip("this GDAL build has no PostgreSQL driver")
    url = sa.engine.make_url(database_url)
    source = f"PG:dbname={url.database} host={url.host} port={url.port} user={url.username}"
    frame = pyogrio.read_dataframe(source, layer=f"{PUBLIC_VIEW}(location)")
    assert len(frame) == listed.listed_count()


@postgres_only
def test_idempotent_and_upgraded_when_the_mark_changes(listed):
    engine = listed.engine
    assert ensure_public_geometry(engine) is True
    CatalogStore(engine)  # a second store (another server) on the same database
    with engine.begin() as conn:
        conn.execute(sa.text(f"COMMENT ON VIEW {PUBLIC_VIEW} IS 'findsupport public geometry v0'"))
    assert ensure_public_geometry(engine) is True
    assert scalar(listed, f"SELECT obj_description('{PUBLIC_VIEW}'::regclass, 'pg_class')") == PUBLIC_GEOMETRY_MARK
    assert scalar(listed, f"SELECT count(*) FROM {PUBLIC_VIEW}") == 4


@postgres_only
def test_servers_starting_together(database_url):
    """Several processes opening a new database at once: one makes the view, none fails."""
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    CatalogStore(engine)
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP VIEW {PUBLIC_VIEW}"))
    barrier = threading.Barrier(4)
    results, errors = [], []

    def start():
        barrier.wait()
        try:
            results.append(ensure_public_geometry(engine))
        except sa.exc.SQLAlchemyError as exc:  # pragma: no cover - the failure this test looks for
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    engine.dispose()
    assert errors == [] and results == [True] * 4


@postgres_only
def test_without_postgis_nothing_is_made(database_url):
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP EXTENSION IF EXISTS postgis CASCADE"))
    store = CatalogStore(engine)
    assert ensure_public_geometry(engine) is False
    assert PUBLIC_VIEW not in sa.inspect(engine).get_view_names()
    assert store.listed_count() == 0
    engine.dispose()

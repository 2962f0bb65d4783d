"""PostGIS, when the database has it: the listed catalogue as indexed geometries in a public view.

On PostgreSQL with the ``postgis`` extension installed in the database,
:func:`ensure_public_geometry` makes the view ``public_providers``: the
**listed** providers (consented and not paused, like
:meth:`~findsupport.catalog.store.CatalogStore.public_catalog`) with the
:data:`~findsupport.catalog.public.PUBLIC_FIELDS` only, plus ``easting``,
``northing``, ``spare_capacity`` and two geometry columns in EPSG:27700:

``location`` ``geometry(Point, 27700)``
    The public location (sector centroid), from ``easting``/``northing``.
``service_area`` ``geometry(MultiPolygon, 27700)``
    The explicit service area (coarsened to public granularity at import),
    from the stored WKB; ``NULL`` for providers without one.

The geometries are **expressions** over the stored columns, each with a GiST
expression index on ``providers`` that PostgreSQL uses for ``ST_DWithin``,
``ST_Intersects`` and ``&&`` through the view (the view's expression is the
index's, cast and all).  So the geometry is always exactly what the last
import stored, with no trigger, no generated column, and no change to the
``providers`` table that the store (and SQLAlchemy's reflection of it, which
does not know PostGIS types) reads.  The typed casts make PostGIS's
``geometry_columns`` report each column's type and SRID, which QGIS reads.

No private column (e-mail, postcode, the base coordinates, consent) is in the
view, so an operator can grant a GIS role ``SELECT`` on the view alone and
open the listed catalogue in QGIS or ``ogr2ogr``::

    ogr2ogr -f GPKG listed.gpkg PG:"dbname=findsupport" public_providers

On SQLite, or without PostGIS, it does nothing: search never needs it (the
spatial index is built in memory), so PostGIS stays optional.

Every statement is here, in :data:`PUBLIC_GEOMETRY_DDL`, so a migration can
take them over as they are.  The DDL is idempotent and guarded: a cheap
check of the view's comment (:data:`PUBLIC_GEOMETRY_MARK`) skips it when it
is in place, and otherwise it runs in one transaction under an advisory lock,
so several servers starting at once do not race.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .places import places_table
from .public import PUBLIC_FIELDS
from .tables import providers_table

__all__ = [
    "PUBLIC_VIEW",
    "PUBLIC_VIEW_EXTRA_COLUMNS",
    "GEOMETRY_SRID",
    "PUBLIC_GEOMETRY_MARK",
    "PUBLIC_GEOMETRY_DDL",
    "GIST_INDEXES",
    "location_sql",
    "service_area_sql",
    "has_postgis",
    "ensure_public_geometry",
]

log = logging.getLogger(__name__)

#: The view an operator (QGIS, ogr2ogr, psql) reads the listed catalogue from.
PUBLIC_VIEW = "public_providers"
#: British National Grid: the CRS every stored coordinate and polygon is in (DESIGN.md, Coordinates).
GEOMETRY_SRID = 27700
#: Columns of the view beyond PUBLIC_FIELDS: grid coordinates of the public location, the
#: spare places a result card shows, and the two geometries.
PUBLIC_VIEW_EXTRA_COLUMNS: tuple[str, ...] = ("easting", "northing", "spare_capacity", "location", "service_area")
#: Stored as the view's comment; a different (or no) comment means the DDL below must run.
#: Change the suffix whenever the DDL changes, so existing databases get the new version.
PUBLIC_GEOMETRY_MARK = "findsupport public geometry v1"
#: Any fixed 64-bit number: the advisory lock that serialises this DDL across servers.
_DDL_LOCK_KEY = 0x66696E6473757031  # "findsup1"

_PROVIDERS = providers_table.name
_PLACES = places_table.name


def location_sql(table: str = "") -> str:
    """The public location as a geometry (``table``: the qualifier of ``providers``' columns, if any).

    The view and the index spell it alike (cast included), so the planner uses
    the index for queries through the view.
    """
    q = f"{table}." if table else ""
    return f"ST_SetSRID(ST_MakePoint({q}easting, {q}northing), {GEOMETRY_SRID})::geometry(Point, {GEOMETRY_SRID})"


def service_area_sql(table: str = "") -> str:
    """The explicit service area as a geometry; ``ST_CollectionExtract(..., 3)`` keeps the
    polygons of whatever the WKB holds, so the MultiPolygon cast can never fail on a row."""
    q = f"{table}." if table else ""
    return (
        f"ST_Multi(ST_CollectionExtract(ST_GeomFromWKB({q}service_area, {GEOMETRY_SRID}), 3))"
        f"::geometry(MultiPolygon, {GEOMETRY_SRID})"
    )


#: The GiST expression indexes on ``providers``: name and indexed expression.
GIST_INDEXES: dict[str, str] = {
    f"{_PROVIDERS}_public_location_gist": location_sql(),
    f"{_PROVIDERS}_public_service_area_gist": service_area_sql(),
}

_VIEW_COLUMNS = ",\n    ".join(
    [
        *(f"p.{name}" for name in PUBLIC_FIELDS),
        "p.easting",
        "p.northing",
        "GREATEST(p.capacity - p.active_coaches - COALESCE(pl.taken, 0) - COALESCE(pl.held, 0), 0) AS spare_capacity",
        f"{location_sql('p')} AS location",
        f"{service_area_sql('p')} AS service_area",
    ]
)

#: The statements, in order (PostgreSQL with PostGIS only).
PUBLIC_GEOMETRY_DDL: tuple[str, ...] = (
    *(
        f"CREATE INDEX IF NOT EXISTS {index} ON {_PROVIDERS} USING GIST (({expression}))"
        for index, expression in GIST_INDEXES.items()
    ),
    f"DROP VIEW IF EXISTS {PUBLIC_VIEW}",
    f"""CREATE VIEW {PUBLIC_VIEW} AS
SELECT
    {_VIEW_COLUMNS}
FROM {_PROVIDERS} AS p
LEFT JOIN {_PLACES} AS pl ON pl.provider_id = p.id
WHERE p.consent AND NOT COALESCE(pl.paused, false)""",
    f"COMMENT ON VIEW {PUBLIC_VIEW} IS '{PUBLIC_GEOMETRY_MARK}'",
)

_STATE = sa.text(
    "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'postgis'), "
    f"obj_description(to_regclass('{PUBLIC_VIEW}'), 'pg_class')"
)


def has_postgis(engine: Engine) -> bool:
    """True when ``engine`` is PostgreSQL with the ``postgis`` extension installed in its database."""
    if engine.dialect.name != "postgresql":
        return False
    with engine.connect() as conn:
        return bool(conn.execute(_STATE).one()[0])


def ensure_public_geometry(engine: Engine) -> bool:
    """Make the GiST indexes and the view :data:`PUBLIC_VIEW` when the database has PostGIS.

    Idempotent and cheap once done (one catalogue query).  Call it after the
    catalogue tables exist (:class:`~findsupport.catalog.store.CatalogStore` does).

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
        The catalogue's database.

    Returns
    -------
    bool
        True when the database has the public geometry (made now or before);
        False on SQLite or PostgreSQL without PostGIS, where nothing is done.

    Examples
    --------
    >>> ensure_public_geometry(sa.create_engine("sqlite://"))
    False
    """
    if engine.dialect.name != "postgresql":
        return False
    with engine.connect() as conn:
        postgis, mark = conn.execute(_STATE).one()
    if not postgis:
        log.debug("PostgreSQL without the postgis extension: no %s view", PUBLIC_VIEW)
        return False
    if mark == PUBLIC_GEOMETRY_MARK:
        return True
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _DDL_LOCK_KEY})
        if conn.execute(_STATE).one()[1] == PUBLIC_GEOMETRY_MARK:
            return True  # another server made it while this one waited for the lock
        for statement in PUBLIC_GEOMETRY_DDL:
            conn.exec_driver_sql(statement)
    log.info("made the PostGIS view %s and its GiST indexes (EPSG:%d)", PUBLIC_VIEW, GEOMETRY_SRID)
    return True

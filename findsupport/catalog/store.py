"""The catalogue store: providers and import history in the one SQL database.

:class:`CatalogStore` is the only code that reads or writes the catalogue
tables.  It speaks SQLAlchemy Core (no ORM, no dialect-specific SQL), so a
PostgreSQL/PostGIS URL can replace the embedded SQLite file without touching
its callers.

Writes are whole imports: :meth:`CatalogStore.write` applies every good row of
one import and records it in the history in **one transaction**, so a crash
half-way leaves the previous catalogue intact and served.  Rows are upserted by
id; unchanged rows are not rewritten (each row carries a digest of its
values), so re-importing a file changes nothing.  Two imports at once (two
servers, two operators) take turns (:data:`CATALOGUE_LOCK`: SQLite's write
lock, a PostgreSQL advisory lock), and so do providers' own changes, so each
import reads the catalogue the previous one left and records the version of
exactly what it leaves.  Its times are aware UTC.

Reads for the public are :meth:`CatalogStore.public_catalog` (consented
providers, public fields only) and :meth:`CatalogStore.version` (cheap; the
digest of the catalogue's content, changed by every import that changes it).

A provider's own changes come through the manage page:
:meth:`CatalogStore.editable_view`, :meth:`CatalogStore.apply_edit` and
:meth:`CatalogStore.withdraw`, each one transaction that changes
:meth:`~CatalogStore.version`.  How an import treats a provider's standing
edits (per field, the edit stands until the operator's file changes that
field; an override is reported, never silent) is described in :mod:`.edits`.
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..config import Settings
from ..db import engine_for, metadata, serialise
from ..errors import CatalogError, ProviderNotFound
from . import edits
from . import places as provider_places
from .bulk import collector_paused
from .edits import EDIT_TABLES, EditableView, EditNotice, Withdrawal
from .model import Contact, Provider, join_list, split_list
from .places import PLACES_TABLES, occupied_and_paused
from .places import revision as places_revision
from .postgis import ensure_public_geometry
from .public import PublicCatalog, PublicProvider
from .service_area import from_wkb_many, to_wkb
from .tables import CATALOG_TABLES, VERSION_CHARS, imports_table, providers_table

__all__ = ["CatalogStore", "ImportRecord", "CatalogCounts", "EMPTY_VERSION", "WRITE_CHUNK_ROWS", "CATALOGUE_LOCK"]

#: Rows per ``executemany``: large enough to amortise each round trip, small enough
#: that progress moves and one statement's parameters stay modest in memory.
WRITE_CHUNK_ROWS = 5_000
#: The lock (:func:`~findsupport.db.serialise`) that imports and providers' own changes take:
#: on PostgreSQL two of them at once would each read the catalogue before the other wrote it.
CATALOGUE_LOCK = "catalogue"
#: The version of a catalogue with no providers.
EMPTY_VERSION = hashlib.sha256(b"").hexdigest()[:VERSION_CHARS]

#: 128-bit row digests: collisions between two versions of one provider are not a concern.
_ROW_HASH_BYTES = 16

Progress = Callable[[str], None]

_P = providers_table.c
_PUBLIC_COLUMNS = (
    _P.id, _P.name, _P.roles, _P.events, _P.availability, _P.online, _P.travel_km, _P.capacity,
    _P.active_coaches, _P.qualification, _P.club, _P.bio, _P.area, _P.easting, _P.northing,
    _P.lon, _P.lat, _P.service_area,
)  # fmt: skip
_HASHED = tuple(c.name for c in providers_table.columns if c.name not in ("row_hash", "import_id"))
_hashed_values = operator.itemgetter(*_HASHED)


def utcnow() -> datetime:
    """Aware UTC now: an import's times are ``timestamptz`` on PostgreSQL (revision 0003)."""
    return datetime.now(UTC)


def _aware(moment: datetime | None) -> datetime | None:
    """A stored time as aware UTC (SQLite keeps no time zone and hands back the naive UTC it stored)."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ImportRecord:
    """One committed import, as the history keeps it (times aware UTC, on every backend)."""

    id: int
    started_at: datetime
    finished_at: datetime | None
    source: str
    format: str
    replace: bool
    rows: int
    rejected: int
    added: int
    updated: int
    unchanged: int
    removed: int
    kept: int
    withdrawn: int
    providers: int
    catalog_version: str | None

    @classmethod
    def from_row(cls, row: Any) -> "ImportRecord":
        """The record of a ``provider_imports`` row."""
        return cls(**{**row, "started_at": _aware(row["started_at"]), "finished_at": _aware(row["finished_at"])})

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        for key in ("started_at", "finished_at"):
            data[key] = data[key].isoformat() if data[key] is not None else None
        return data


@dataclass(frozen=True, slots=True)
class CatalogCounts:
    """How many providers the store holds, and of what kind."""

    providers: int
    consented: int
    unconsented: int
    online: int
    with_service_area: int


def _provider_row(provider: Provider) -> dict[str, Any]:
    return {
        "id": provider.id,
        "name": provider.name,
        "roles": join_list(provider.roles),
        "events": join_list(provider.events),
        "availability": join_list(provider.availability),
        "online": provider.online,
        "travel_km": provider.travel_km,
        "capacity": provider.capacity,
        "active_coaches": provider.active_coaches,
        "qualification": provider.qualification,
        "club": provider.club,
        "bio": provider.bio,
        "consent": provider.consent,
        "area": provider.area,
        "easting": provider.easting,
        "northing": provider.northing,
        "lon": provider.lon,
        "lat": provider.lat,
        "service_area": to_wkb(provider.service_area),
        "email": provider.email,
        "postcode": provider.postcode,
        "base_lon": provider.base_lon,
        "base_lat": provider.base_lat,
        "base_easting": provider.base_easting,
        "base_northing": provider.base_northing,
    }


def row_hash(row: dict[str, Any]) -> str:
    """Digest of a provider row's stored values (not its bookkeeping columns).

    ``repr`` of the values is deterministic (shortest float repr, quoted text,
    bytes as bytes) and several times cheaper than JSON for 100,000 rows.
    """
    return hashlib.blake2b(repr(_hashed_values(row)).encode(), digest_size=_ROW_HASH_BYTES).hexdigest()


def _catalog_version(hashes: dict[str, str]) -> str:
    """Digest of the whole catalogue: the sorted ``(id, row_hash)`` pairs."""
    digest = hashlib.sha256()
    for provider_id in sorted(hashes):
        digest.update(f"{provider_id}\t{hashes[provider_id]}\n".encode())
    return digest.hexdigest()[:VERSION_CHARS]


def _codes(cache: dict[str, tuple[str, ...]], text: str) -> tuple[str, ...]:
    """Split a stored ``;`` list once per distinct value (catalogues repeat them a lot)."""
    codes = cache.get(text)
    if codes is None:
        codes = cache[text] = tuple(text.split(";")) if text else ()
    return codes


def _write_chunk(conn: Connection, sql: str, params: list[Any]) -> None:
    """One ``executemany`` (a seam: tests make it fail half-way to prove atomicity)."""
    conn.exec_driver_sql(sql, params)


def _prepared(conn: Connection, statement: Any, columns: Sequence[str]) -> tuple[str, Callable[[dict[str, Any]], Any]]:
    """SQL text for ``statement`` in the connection's dialect, and how to shape one row's parameters.

    Bulk writes go straight to the driver's ``executemany``: SQLAlchemy's per-row
    parameter processing costs more than the insert itself at 100,000 rows, and
    every value here (text, numbers, booleans, bytes, None) is one the DB-API
    drivers take as is.  The statement is still built and compiled by
    SQLAlchemy for whichever dialect the engine has.
    """
    compiled = statement.compile(dialect=conn.dialect, column_keys=list(columns))
    if compiled.positional:
        order = tuple(compiled.positiontup)
        return str(compiled), lambda row: tuple(row[name] for name in order)
    return str(compiled), lambda row: row


class CatalogStore:
    """Providers and import history in a SQL database.

    Use :meth:`open` with the settings; the constructor takes an engine (tests)
    and optionally the settings (the default travel distance an emptied
    ``travel_km`` edit takes; the defaults otherwise).  Creates its tables if
    they do not exist.
    """

    def __init__(self, engine: Engine, settings: Settings | None = None) -> None:
        self.engine = engine
        self.settings = settings if settings is not None else Settings()
        metadata.create_all(engine, tables=[*CATALOG_TABLES, *PLACES_TABLES, *EDIT_TABLES])
        self._check_schema()
        edits.ensure_revision_row(engine)
        ensure_public_geometry(engine)  # PostGIS only: the public_providers view and its GiST indexes

    def _check_schema(self) -> None:
        """A database made by an older findsupport gets a clear error, not a failed INSERT later."""
        inspector = sa.inspect(self.engine)
        for table in CATALOG_TABLES:
            present = {column["name"] for column in inspector.get_columns(table.name)}
            missing = [column.name for column in table.columns if column.name not in present]
            if missing:
                raise CatalogError(
                    f"The catalogue database's table {table.name} lacks column {', '.join(missing)}: it was made by "
                    "an older findsupport. Export it with that version (findsupport export --private), then "
                    "start a new data dir and import the export."
                )

    @classmethod
    def open(cls, settings: Settings) -> "CatalogStore":
        """The store of ``settings.resolved_database_url`` (SQLite under the data dir by default)."""
        return cls(engine_for(settings.resolved_database_url), settings)

    # ------------------------------------------------------------------ reading
    def version(self) -> str:
        """Digest of the catalogue's content; changes whenever a committed import changes it.

        Places taken, held or paused through introductions change it too (the
        places revision is folded in once it is not 0), and so do providers'
        own edits and withdrawals (the edits revision, likewise), so every
        server's reload check sees them.  Three indexed single-row queries:
        cheap enough to call before every reload decision.
        """
        query = sa.select(imports_table.c.catalog_version).order_by(imports_table.c.id.desc()).limit(1)
        with self.engine.connect() as conn:
            version = conn.execute(query).scalar() or EMPTY_VERSION
            places = places_revision(conn)
            edited = edits.revision(conn)
        if places or edited:
            folded = f"{version}:{places}" + (f":{edited}" if edited else "")
            version = hashlib.sha256(folded.encode()).hexdigest()[:VERSION_CHARS]
        return version

    def public_catalog(self) -> PublicCatalog:
        """The public view of every consented provider (ordered by id).

        The catalogue's ``version`` is the store version read *before* its rows:
        if an import commits in between, the rows may be newer than the label,
        never older, so a reload check (``store.version() != catalog.version``)
        simply loads again.
        """
        with collector_paused():  # 100,000 providers: objects by the hundred thousand, no cycles
            return self._public_catalog()

    def public_rows(self) -> tuple[str, list[Any], dict[str, int]]:
        """The raw public rows behind :meth:`public_catalog`, for readers that build columns, not objects.

        Returns
        -------
        version : str
            :meth:`version`, read before the rows (as :meth:`public_catalog` labels them).
        rows : list of tuples
            Consented, unpaused providers by id: ``id, name, roles, events,
            availability, online, travel_km, capacity, active_coaches,
            qualification, club, bio, area, easting, northing, lon, lat,
            service_area`` (lists as stored, ``;``-separated; the area as stored
            WKB, to be read with :func:`~findsupport.catalog.service_area.from_wkb_many`).
        occupied : dict
            Places taken or held, by provider id (non-zero only).
        """
        version = self.version()
        query = sa.select(*_PUBLIC_COLUMNS).where(_P.consent == sa.true()).order_by(_P.id)
        with self.engine.connect() as conn:
            occupied, paused = occupied_and_paused(conn)
            rows = conn.execute(query).all()
        if paused:  # a paused listing is not listed at all (the same 404 as an unknown id)
            rows = [row for row in rows if row[0] not in paused]
        return version, rows, occupied

    def _public_catalog(self) -> PublicCatalog:
        version, rows, occupied = self.public_rows()
        areas = from_wkb_many([row[17] for row in rows])
        cache: dict[str, tuple[str, ...]] = {}
        providers = [
            PublicProvider(
                id=row[0],
                name=row[1],
                roles=_codes(cache, row[2]),
                events=_codes(cache, row[3]),
                availability=_codes(cache, row[4]),
                online=bool(row[5]),
                travel_km=row[6],
                capacity=row[7],
                active_coaches=row[8],
                qualification=row[9],
                club=row[10],
                bio=row[11],
                area=row[12],
                easting=row[13],
                northing=row[14],
                lon=row[15],
                lat=row[16],
                service_area=area,
                places_taken=occupied.get(row[0], 0),
            )
            for row, area in zip(rows, areas)
        ]
        return PublicCatalog.from_providers(providers, version=version)

    def contact_for(self, provider_id: str) -> Contact | None:
        """Name and e-mail of a *consented* provider, for the introduction mailer only.

        ``None`` for unknown and unconsented ids alike.
        """
        query = sa.select(_P.id, _P.name, _P.email).where(_P.id == provider_id, _P.consent == sa.true())
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return Contact(id=row[0], name=row[1], email=row[2]) if row else None

    def provider_ids_for_email(self, email: str) -> list[str]:
        """Ids of *consented* providers listed with this e-mail address (any case), for sending manage links only.

        Whoever asks gets the same answer either way (the links go to the
        address, not to them), so this never tells anyone whether an address is listed.
        """
        query = (
            sa.select(_P.id)
            .where(sa.func.lower(_P.email) == email.strip().lower(), _P.consent == sa.true())
            .order_by(_P.id)
        )
        with self.engine.connect() as conn:
            return list(conn.execute(query).scalars())

    def get_private(self, provider_id: str) -> Provider:
        """Everything stored about one provider, consented or not (administration and export only).

        Raises
        ------
        ProviderNotFound
            No provider has this id.
        """
        query = sa.select(providers_table).where(_P.id == provider_id)
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            raise ProviderNotFound("No provider with that id is in the catalogue.")
        return self._provider(row, {}, from_wkb_many([row["service_area"]])[0])

    def providers(self, *, consented_only: bool = False) -> Iterator[Provider]:
        """Every provider with private fields, ordered by id (administration and export only)."""
        query = sa.select(providers_table).order_by(_P.id)
        if consented_only:
            query = query.where(_P.consent == sa.true())
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        areas = from_wkb_many([row["service_area"] for row in rows])
        cache: dict[str, tuple[str, ...]] = {}
        for row, area in zip(rows, areas):
            yield self._provider(row, cache, area)

    @staticmethod
    def _provider(row: Any, cache: dict[str, tuple[str, ...]], area: Any) -> Provider:
        return Provider(
            id=row["id"],
            name=row["name"],
            roles=_codes(cache, row["roles"]),
            events=_codes(cache, row["events"]),
            availability=_codes(cache, row["availability"]),
            online=bool(row["online"]),
            travel_km=row["travel_km"],
            capacity=row["capacity"],
            active_coaches=row["active_coaches"],
            qualification=row["qualification"],
            club=row["club"],
            bio=row["bio"],
            consent=bool(row["consent"]),
            area=row["area"],
            easting=row["easting"],
            northing=row["northing"],
            lon=row["lon"],
            lat=row["lat"],
            email=row["email"],
            postcode=row["postcode"],
            base_lon=row["base_lon"],
            base_lat=row["base_lat"],
            base_easting=row["base_easting"],
            base_northing=row["base_northing"],
            service_area=area,
        )

    def counts(self) -> CatalogCounts:
        """Numbers of providers: all, consented, unconsented, online, with an explicit service area."""
        consented = sa.func.coalesce(sa.func.sum(sa.case((_P.consent == sa.true(), 1), else_=0)), 0)
        online = sa.func.coalesce(sa.func.sum(sa.case((_P.online == sa.true(), 1), else_=0)), 0)
        with_area = sa.func.count(_P.service_area)
        with self.engine.connect() as conn:
            total, yes, on, area = conn.execute(sa.select(sa.func.count(), consented, online, with_area)).one()
        return CatalogCounts(providers=total, consented=yes, unconsented=total - yes, online=on, with_service_area=area)

    def listed_count(self) -> int:
        """How many providers :meth:`public_catalog` lists: consented, and not paused."""
        listed = sa.select(sa.func.count()).where(_P.consent == sa.true())
        with self.engine.connect() as conn:
            _occupied, paused = occupied_and_paused(conn)
            count = conn.execute(listed).scalar_one()
            if paused:
                count -= conn.execute(listed.where(_P.id.in_(sorted(paused)))).scalar_one()
        return count

    def history(self, limit: int | None = 20) -> list[ImportRecord]:
        """Committed imports, newest first."""
        query = sa.select(imports_table).order_by(imports_table.c.id.desc())
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [ImportRecord.from_row(row) for row in conn.execute(query).mappings()]

    def has_catalog(self) -> bool:
        """True once any import has been committed (even one that left it empty) or providers exist."""
        with self.engine.connect() as conn:
            imported = conn.execute(sa.select(imports_table.c.id).limit(1)).first() is not None
            stored = conn.execute(sa.select(_P.id).limit(1)).first() is not None
        return imported or stored

    def edit_notices(self, import_id: int) -> list[EditNotice]:
        """Providers' own edits that import ``import_id`` overrode or discarded, by provider and field."""
        with self.engine.connect() as conn:
            return edits.notices_of(conn, import_id)

    def withdrawn_ids(self, provider_ids: Collection[str]) -> dict[str, datetime]:
        """Which of ``provider_ids`` withdrew consent through their manage page, and the day they did."""
        with self.engine.connect() as conn:
            return edits.withdrawn_on(conn, provider_ids)

    # ------------------------------------------------------------------ the provider's own page
    def editable_view(self, provider_id: str) -> EditableView:
        """The provider's own listing as the manage page shows it: the editable fields and what they changed.

        For the provider behind a manage link only: no e-mail, postcode or
        coordinates, and no one else's data.

        Raises
        ------
        ProviderNotFound
            No consented provider has this id (unknown, withdrawn and unconsented alike).
        """
        with self.engine.connect() as conn:
            return self._editable_view(conn, provider_id)

    def _editable_view(self, conn: Connection, provider_id: str) -> EditableView:
        query = sa.select(providers_table).where(_P.id == provider_id, _P.consent == sa.true())
        row = conn.execute(query).mappings().first()
        if row is None:
            raise ProviderNotFound("No provider with that id is listed.")
        return EditableView(
            provider_id=row["id"], name=row["name"], availability=split_list(row["availability"]),
            capacity=row["capacity"], active_coaches=row["active_coaches"], travel_km=row["travel_km"],
            events=split_list(row["events"]), online=bool(row["online"]), bio=row["bio"],
            paused=provider_places.places_of(conn, provider_id).paused, edited=edits.edited_fields(conn, provider_id),
        )  # fmt: skip

    def apply_edit(self, provider_id: str, changes: dict[str, object], *, now: datetime) -> EditableView:
        """Store a provider's own changes and show them in the public catalogue, in one transaction.

        Parameters
        ----------
        provider_id : str
            The provider of the manage link.
        changes : mapping
            Some of :data:`~findsupport.catalog.edits.EDITABLE_FIELDS` → new value,
            as a form sends them (text; lists as ``;``-separated text or a list
            of codes); checked by exactly the rules of an import.
        now : datetime
            Naive UTC (when the edit was made; imports report it).

        Returns
        -------
        EditableView
            The listing after the change.  :meth:`version` has changed when any
            value did, so every server reloads within its reload interval.

        Raises
        ------
        InvalidInput
            A field that cannot be edited or a bad value: ``extra["field"]`` names
            the first, ``extra["problems"]`` lists them all; nothing is changed.
        ProviderNotFound
            No consented provider has this id.
        """
        values = edits.parse_changes(changes, self.settings)
        with self.engine.connect() as conn:
            with conn.begin() as transaction:
                serialise(conn, CATALOGUE_LOCK)  # not during an import, whose version would miss this edit
                edits.bump(conn)
                row = conn.execute(
                    sa.select(providers_table).where(_P.id == provider_id, _P.consent == sa.true())
                ).mappings().first()
                if row is None:
                    raise ProviderNotFound("No provider with that id is listed.")
                changed = edits.record_edits(conn, row, values, now)
                if changed:
                    stored = {**row, **changed}
                    update = providers_table.update().where(_P.id == provider_id)
                    conn.execute(update.values(**changed, row_hash=row_hash(stored)))
                else:  # nothing changed: no new version, so no server reloads for nothing
                    transaction.rollback()
            return self._editable_view(conn, provider_id)

    def withdraw(self, provider_id: str, *, now: datetime) -> Withdrawal:
        """The provider withdraws consent: delete everything personal about them, in one transaction.

        Deletes their row (name, e-mail, postcode, base coordinates, club, bio,
        every field), their edits and the notices naming them, and their places
        row; keeps a tombstone (the id's digest and the day) so a later import
        of the same id is refused until the operator re-admits it
        (:mod:`.edits`).  The provider disappears from :meth:`public_catalog`
        (the same 404 as an unknown id) within the reload interval.

        The introductions layer must then close the provider's pending
        introductions and drop their queued e-mails (the catalogue does not
        import it); the returned :class:`~findsupport.catalog.edits.Withdrawal`
        carries what it needs.

        Raises
        ------
        ProviderNotFound
            No provider with this id is stored (consented or not).
        """
        with self.engine.begin() as conn:
            serialise(conn, CATALOGUE_LOCK)
            edits.bump(conn)
            row = conn.execute(sa.select(_P.id, _P.name, _P.email, _P.consent).where(_P.id == provider_id)).first()
            if row is None:
                raise ProviderNotFound("No provider with that id is in the catalogue.")
            conn.execute(providers_table.delete().where(_P.id == provider_id))
            edits.forget(conn, provider_id)
            provider_places.forget(conn, provider_id)
            edits.record_withdrawal(conn, provider_id, now)
        return Withdrawal(
            provider_id=provider_id, withdrawn_at=now, was_listed=bool(row.consent),
            contact=Contact(id=row.id, name=row.name, email=row.email),
        )  # fmt: skip

    # ------------------------------------------------------------------ writing
    def write(
        self,
        providers: Sequence[Provider],
        *,
        source: str,
        format: str,
        replace: bool = False,
        rows: int | None = None,
        rejected: int = 0,
        keep_ids: Collection[str] = (),
        withdraw_ids: Collection[str] = (),
        readmit: Collection[str] = (),
        progress: Progress | None = None,
    ) -> ImportRecord:
        """Apply one import in one transaction and record it in the history.

        Parameters
        ----------
        providers : sequence of Provider
            The good rows (ids unique).  New ids are added, changed ones
            updated, identical ones left alone.
        source, format : str
            What was imported (file name, ``csv``/``geojson``/``gpkg``/``demo``).
        replace : bool
            Remove every stored provider whose id is not in ``providers`` (nor in
            ``keep_ids``): the catalogue becomes exactly the file.
        rows, rejected : int
            Rows read and rows rejected, for the history.
        keep_ids : collection of str
            Ids of rejected rows: with ``replace`` their stored version is kept
            rather than deleted because of a typo.
        withdraw_ids : collection of str
            Ids of rejected rows that say ``consent=false``: a withdrawal of
            consent is honoured even when something else in the row is wrong, so
            their stored version is unlisted (``consent`` set to false).
        readmit : collection of str
            Ids of providers who withdrew through their manage page and have
            given consent again: their tombstones are cleared.  Any other
            withdrawn id among ``providers`` is refused (the importer rejects
            such rows first, with a reason).
        progress : callable, optional

        Providers' standing edits are applied over their new rows by the
        precedence rule of :mod:`.edits`; edits the file overrides, and edits of
        providers ``replace`` removes, are noted (:meth:`edit_notices`).

        Returns
        -------
        ImportRecord

        Raises
        ------
        CatalogError
            A provider among ``providers`` withdrew consent and is not in ``readmit``
            (nothing is written).
        """
        with collector_paused():
            return self._write(
                providers, source, format, replace, rows, rejected, keep_ids, withdraw_ids, readmit, progress
            )

    def _write(
        self,
        providers: Sequence[Provider],
        source: str,
        format: str,
        replace: bool,
        rows: int | None,
        rejected: int,
        keep_ids: Collection[str],
        withdraw_ids: Collection[str],
        readmit: Collection[str],
        progress: Progress | None,
    ) -> ImportRecord:
        started = utcnow()
        new_rows = [_provider_row(p) for p in providers]
        incoming = {row["id"] for row in new_rows}
        if len(incoming) != len(new_rows):
            raise ValueError("providers to write must have unique ids (validation rejects repeated ids)")
        for row in new_rows:
            row["row_hash"] = row_hash(row)
        with self.engine.begin() as conn:
            # One import (or provider's edit) at a time on the whole database, so the rows read below
            # cannot change under this import and its catalogue version is of exactly what it leaves.
            serialise(conn, CATALOGUE_LOCK)
            import_id = conn.execute(
                imports_table.insert().values(
                    started_at=started, source=source, format=format, replace=replace,
                    rows=len(new_rows) + rejected if rows is None else rows, rejected=rejected,
                )  # fmt: skip
            ).inserted_primary_key[0]
            existing = dict(conn.execute(sa.select(_P.id, _P.row_hash)).all())
            readmitted = incoming & set(readmit)
            refused = edits.withdrawn_on(conn, incoming - readmitted)
            if refused:
                raise CatalogError(
                    f"{len(refused):,} of these providers withdrew consent through their manage page "
                    f"(e.g. {min(refused)}); they can only come back with --readmit once they have given consent again."
                )
            edits.clear_withdrawals(conn, readmitted)
            for row in edits.overlay_edits(conn, new_rows, import_id):
                row["row_hash"] = row_hash(row)
            inserts, updates, unchanged = [], [], 0
            for row in new_rows:
                row["import_id"] = import_id
                old = existing.get(row["id"])
                if old is None:
                    inserts.append(row)
                elif old != row["row_hash"]:
                    updates.append({**row, "_id": row["id"]})
                else:
                    unchanged += 1
            withdrawn = self._withdrawals(conn, sorted((set(withdraw_ids) & set(existing)) - incoming), import_id)
            updates.extend({**row, "_id": row["id"]} for row in withdrawn)
            removed = sorted(set(existing) - incoming - set(keep_ids)) if replace else []
            kept = len(set(existing) & (set(keep_ids) - incoming)) if replace else 0
            insert_columns = [c.name for c in providers_table.columns]
            update_columns = [name for name in insert_columns if name != "id"]
            update = providers_table.update().where(_P.id == sa.bindparam("_id"))
            work = [
                (*_prepared(conn, providers_table.insert(), insert_columns), inserts),
                (*_prepared(conn, update, [*update_columns, "_id"]), updates),
            ]
            total = len(inserts) + len(updates)
            done = 0
            for sql, shape, batch in work:
                for start in range(0, len(batch), WRITE_CHUNK_ROWS):
                    chunk = batch[start : start + WRITE_CHUNK_ROWS]
                    _write_chunk(conn, sql, [shape(row) for row in chunk])
                    done += len(chunk)
                    if progress and total > WRITE_CHUNK_ROWS:
                        progress(f"writing providers: {done:,} of {total:,}")
            edits.discard_edits(conn, removed, import_id)
            for start in range(0, len(removed), WRITE_CHUNK_ROWS):
                chunk_ids = removed[start : start + WRITE_CHUNK_ROWS]
                conn.execute(providers_table.delete().where(_P.id.in_(chunk_ids)))
            final = dict(existing)
            for provider_id in removed:
                del final[provider_id]
            final.update((row["id"], row["row_hash"]) for row in [*new_rows, *withdrawn])
            values = dict(
                finished_at=utcnow(), added=len(inserts), updated=len(updates) - len(withdrawn), unchanged=unchanged,
                withdrawn=len(withdrawn),
                removed=len(removed), kept=kept, providers=len(final), catalog_version=_catalog_version(final),
            )  # fmt: skip
            conn.execute(imports_table.update().where(imports_table.c.id == import_id).values(**values))
            record = conn.execute(sa.select(imports_table).where(imports_table.c.id == import_id)).mappings().one()
        return ImportRecord.from_row(record)

    @staticmethod
    def _withdrawals(conn: Connection, ids: list[str], import_id: int) -> list[dict[str, Any]]:
        """Stored rows of consented providers among ``ids``, with consent withdrawn and re-hashed."""
        withdrawn = []
        for start in range(0, len(ids), WRITE_CHUNK_ROWS):
            query = sa.select(providers_table).where(_P.id.in_(ids[start : start + WRITE_CHUNK_ROWS]), _P.consent == sa.true())
            for stored in conn.execute(query).mappings():
                row = {**stored, "consent": False, "import_id": import_id}
                row["row_hash"] = row_hash(row)
                withdrawn.append(row)
        return withdrawn

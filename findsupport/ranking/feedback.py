"""The feedback log: what each search showed, and what the coach did with it.

Two tables on the shared :data:`findsupport.db.metadata` (SQLAlchemy Core, so
SQLite and PostgreSQL alike):

``feedback_sessions``
    one row per logged search: an opaque ``id`` (the ``search_id`` clients
    get back), the query as JSON (:meth:`SearchQuery.feedback_query`), the
    ranking model version and catalogue version that served it, when,
    ``client_key``: the keyed hash of the client's address
    (:class:`findsupport.clients.ClientHasher`), so training can deduplicate
    and cap what one client contributes (issue 12: one address's 1,250 scripted
    sessions steered the ranking; ``NULL`` for library searches and for
    sessions logged before clients were recorded), and ``shown``: the page,
    a JSON array of ``[provider_id, position]`` pairs (positions 1-based, as
    the coach saw them).
``feedback_actions``
    one row per shown result somebody did something with: the strongest
    action so far (stored as a stable code, so "keep the strongest" is one
    upsert, safe when two requests race) and ``helpful``: whether the pairing
    that came of it helped, from the outcome check-in (``NULL`` until someone
    says; see :meth:`FeedbackLog.record_helpful`).  A shown result nobody acted
    on has no row: its action is ``shown``.

Why the page is a column and not a row per result (revision 0007): a search is
served far more often than acted on, and every row written costs the serving
worker's CPU.  Ten ``feedback_results`` rows per search, keyed by a random
search id, cost SQLite about 160 µs of CPU per search once the log held four
million of them (each page's rows landed on a random index page); one session
row with its page costs about 30 µs, and ``COPY`` on PostgreSQL sends one row
instead of eleven (BENCHMARKS.md, "Feedback writes").

:meth:`FeedbackLog.export` writes the DESIGN.md JSON-lines format that
:func:`~.sessions.read_feedback` and ``findsupport train`` read back.

Only public data is stored: provider ids and positions, and the coach's own
query with their postcode cut to its **sector** ("NE21 4LZ" is logged as
"NE21 4", issue 11's retention rule): enough to recompute every match feature
at the precision the catalogue's public locations have, and no more.  No
provider postcode or e-mail is here, and no client address (only its keyed
hash).

Writing is synchronous by default (one transaction per search, before
``log_search`` returns).  A log opened with ``batch_ms > 0`` (the web app:
``settings.feedback_write_batch_ms``) hands each session to a per-process
:class:`~.feedback_writer.BatchWriter` and returns its ``search_id`` at once; a
background thread writes the sessions in batches (``COPY`` on PostgreSQL, the
driver's ``executemany`` of plain tuples on SQLite: :class:`_RowWriter`).  The
request itself only checks the page, makes the query's JSON and takes an id
(:func:`_new_search_id`); the rows are made by the writer, a batch at a time.  Everything read through the
log (:meth:`FeedbackLog.record`, :meth:`~FeedbackLog.count`,
:meth:`~FeedbackLog.sessions`, and its :attr:`~FeedbackLog.engine`) first
writes what this process has buffered, so it reads its own writes.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from itertools import groupby
from pathlib import Path
from typing import IO, Any, NamedTuple

import orjson
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    SmallInteger,
    String,
    Table,
    Text,
    case,
    func,
    select,
)
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from .. import taxonomy
from ..clients import CLIENT_KEY_CHARS
from ..config import Settings
from ..db import engine_for, metadata, upsert
from ..errors import CatalogError, FindSupportError, InvalidInput
from ..geo import sector_of
from .feedback_writer import BatchWriter
from .labels import ACTION_CODES, ACTION_RANK

__all__ = ["FeedbackLog", "feedback_sessions", "feedback_actions", "RECORDABLE_ACTIONS", "logged_query"]

#: Actions a client may record; "shown" is what logging a search already says.
RECORDABLE_ACTIONS: tuple[str, ...] = tuple(a for a in taxonomy.ACTIONS if a != "shown")
#: Column widths: opaque ids are 32 hex characters; provider ids and versions are short codes.
_ID_CHARS = 32
_PROVIDER_ID_CHARS = 200
_VERSION_CHARS = 100

feedback_sessions = Table(
    "feedback_sessions",
    metadata,
    Column("id", String(_ID_CHARS), primary_key=True),
    Column("query", Text, nullable=False),
    Column("model_version", String(_VERSION_CHARS)),
    Column("catalog_version", String(_VERSION_CHARS)),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("client_key", String(CLIENT_KEY_CHARS), nullable=True),
    # The page as JSON (see the module docstring); "[]" for a page of nothing.
    Column("shown", Text, nullable=False, server_default="[]"),
)

feedback_actions = Table(
    "feedback_actions",
    metadata,
    Column("search_id", String(_ID_CHARS), ForeignKey("feedback_sessions.id", ondelete="CASCADE"), primary_key=True),
    Column("provider_id", String(_PROVIDER_ID_CHARS), primary_key=True),
    Column("action", SmallInteger, nullable=False),
    Column("helpful", Boolean, nullable=True),
)

_ACTION_OF = {code: action for action, code in ACTION_CODES.items()}
#: What :meth:`FeedbackLog._act` finds when there is nothing to act on.
_NO_SESSION = object()
_NOT_SHOWN = object()
#: What :meth:`FeedbackLog.log_search` hands out (:func:`_new_search_id`): only such an id can be a
#: session another process has not written yet, worth waiting one batch window for.
_SEARCH_ID = re.compile(r"[0-9a-f]{32}")
#: Random bytes in a search id: 128 bits, so guessing another coach's search is hopeless.
_SEARCH_ID_BYTES = _ID_CHARS // 2
#: Search ids drawn from the operating system per refill of the pool (one ``getrandom`` call).
_SEARCH_IDS_PER_DRAW = 256
_search_ids: list[str] = []
#: Beyond one batch window, how long a record waits for another process's batch to commit.
_COMMIT_MARGIN_S = 0.05


#: Decimal places a point search keeps when no sector is known for it: 0.01° is about 1.1 km of
#: latitude and 0.6-0.7 km of longitude in Great Britain, no finer than a postcode sector.
LOGGED_LONLAT_DECIMALS = 2


def logged_query(query: dict[str, Any], *, sector: str | None = None) -> dict[str, Any]:
    """The query as the log keeps it: never finer than the coach's postcode sector (issue 11).

    A full postcode is cut to its sector; a sector or district is kept as given;
    so is a postcode that is not one (it is the coach's text, validated later by
    whoever reads it).  A point search ("use my location") is logged as the
    ``sector`` of its nearest postcode when the caller knows it, else as its
    point rounded to :data:`LOGGED_LONLAT_DECIMALS`.

    Examples
    --------
    >>> logged_query({"postcode": "NE21 4LZ", "role": "mentor"})
    {'postcode': 'NE21 4', 'role': 'mentor'}
    >>> logged_query({"postcode": "NE21", "role": "mentor"})["postcode"]
    'NE21'
    >>> logged_query({"postcode": None, "lon": -1.7196, "lat": 54.9588}, sector="NE21 4")
    {'postcode': 'NE21 4', 'lon': None, 'lat': None}
    >>> logged_query({"postcode": None, "lon": -1.7196, "lat": 54.9588})
    {'postcode': None, 'lon': -1.72, 'lat': 54.96}
    """
    postcode = query.get("postcode")
    if not isinstance(postcode, str):
        point = dict(query)
        if isinstance(point.get("lon"), (int, float)) and isinstance(point.get("lat"), (int, float)):
            if sector:
                point.update(postcode=sector, lon=None, lat=None)
            else:
                point.update(lon=round(point["lon"], LOGGED_LONLAT_DECIMALS), lat=round(point["lat"], LOGGED_LONLAT_DECIMALS))
        return point
    try:
        sector = sector_of(postcode)
    except FindSupportError:
        sector = postcode
    return {**query, "postcode": sector}


def _new_search_id() -> str:
    """A new opaque ``search_id``: 128 random bits from ``os.urandom``, as 32 hex characters.

    As unguessable as the ``uuid4().hex`` it replaces (122 bits from the same
    source), at a fraction of the cost in the request: ``uuid4`` builds a
    ``UUID`` object and asks the kernel for 16 bytes per search, while these are
    drawn :data:`_SEARCH_IDS_PER_DRAW` ids at a time and handed out by
    ``list.pop``, which is atomic, so two threads never get the same id.  A
    forked child (a gunicorn worker forked after the engine was built) empties
    the pool it inherited (``os.register_at_fork`` below), so it never hands
    out an id its parent may hand out too.
    """
    try:
        return _search_ids.pop()
    except IndexError:
        drawn = os.urandom(_SEARCH_ID_BYTES * _SEARCH_IDS_PER_DRAW).hex()
        _search_ids.extend(drawn[start : start + _ID_CHARS] for start in range(0, len(drawn), _ID_CHARS))
        return _search_ids.pop()


if hasattr(os, "register_at_fork"):  # POSIX; no fork elsewhere
    os.register_at_fork(after_in_child=_search_ids.clear)

#: The logged query's JSON, made as ``json.dumps(query, ensure_ascii=False, sort_keys=True)``
#: makes it, without building an encoder per search (the encoder keeps no state between calls).
_query_json = json.JSONEncoder(ensure_ascii=False, sort_keys=True).encode


class _Served(NamedTuple):
    """A served page on its way to the database: a ``feedback_sessions`` row.

    The first six fields are the session row in :data:`_SESSION_COLUMNS`
    order; ``shown`` maps each shown provider id to its position, in page
    order (written as the row's ``shown`` JSON by the writer).
    """

    search_id: str
    query: str
    model_version: str | None
    catalog_version: str | None
    created_at: datetime
    client_key: str | None
    shown: dict[str, int]


#: The columns written per session: the fields of :class:`_Served`, the page (``shown``) last.
_SESSION_COLUMNS = ("id", "query", "model_version", "catalog_version", "created_at", "client_key", "shown")
#: Positional placeholders of the DB-API paramstyles the inserts can use (sqlite3: qmark; psycopg: pyformat).
_PLACEHOLDERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def _shown_json(shown: dict[str, int]) -> str:
    """A page as the ``shown`` column keeps it: ``[[provider_id, position], ...]`` in page order."""
    pairs = list(shown.items())
    try:
        return orjson.dumps(pairs).decode()
    except orjson.JSONEncodeError:  # text that is not UTF-8 (a lone surrogate): escaped, as json writes it
        return json.dumps(pairs)


def _shown_pairs(text: str | None) -> list[tuple[str, int]]:
    """The ``(provider_id, position)`` pairs of a ``shown`` column, by position (as the coach saw them).

    Sorted here rather than trusted to be stored in order: revision 0007 built
    the pages of older sessions with the database's own JSON aggregate.
    """
    pairs = [(str(provider_id), int(position)) for provider_id, position in json.loads(text or "[]")]
    return sorted(pairs, key=lambda pair: (pair[1], pair[0]))


class _RowWriter:
    """Served pages into rows, a batch at a time, by the driver's cheapest bulk path.

    SQLAlchemy Core's ``execute(table.insert(), [dicts])`` turned every row
    dict into the driver's parameters in Python, most of the writer thread's
    time (and GIL, which the requests need).  Here the rows are plain tuples
    made in one pass over the batch and handed to the driver as they are:

    * **PostgreSQL with psycopg 3**: ``COPY ... FROM STDIN`` (psycopg's
      ``executemany`` handles every row's result in Python; a ``COPY`` costs a
      seventh of that).  Constraints hold as for ``INSERT``; a duplicate id
      fails the whole ``COPY`` with an ``IntegrityError``, as the retry logic
      of :meth:`FeedbackLog._write_sessions` expects.
    * **SQLite** (and any other driver with positional parameters): the
      driver's own ``INSERT`` with ``executemany``.  The columns that need a
      conversion (on SQLite, ``created_at`` into the text SQLAlchemy stores)
      get the dialect's own, so the stored values are the ones Core stored.

    Parameters
    ----------
    dialect : sqlalchemy.engine.Dialect
        The engine's dialect (known before any connection is made).
    """

    def __init__(self, dialect: Dialect) -> None:
        quote = dialect.identifier_preparer
        columns = ", ".join(quote.format_column(feedback_sessions.c[name]) for name in _SESSION_COLUMNS)
        into = f"{quote.format_table(feedback_sessions)} ({columns})"
        self._copy = dialect.name == "postgresql" and dialect.driver == "psycopg"
        if self._copy:
            self._sessions = f"COPY {into} FROM STDIN"
            self._binds: tuple[tuple[int, Any], ...] = ()
            self._driver_integrity_error = dialect.loaded_dbapi.IntegrityError
            return
        mark = _PLACEHOLDERS.get(dialect.paramstyle)
        if mark is None:
            raise CatalogError(f"The feedback log cannot write with the {dialect.paramstyle!r} parameter style of {dialect.name}.")
        self._sessions = f"INSERT INTO {into} VALUES ({', '.join([mark] * len(_SESSION_COLUMNS))})"
        binds = []
        for index, name in enumerate(_SESSION_COLUMNS):
            process = feedback_sessions.c[name].type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                binds.append((index, process))
        self._binds = tuple(binds)

    def _row(self, served: _Served) -> tuple[Any, ...]:
        """A session row, with the dialect's own conversion applied to the columns that need one."""
        values = [*served[:-1], _shown_json(served.shown)]
        for index, process in self._binds:
            values[index] = process(values[index])
        return tuple(values)

    def write(self, conn: Connection, sessions: Sequence[_Served]) -> None:
        """Insert ``sessions`` in ``conn``'s transaction.

        Raises
        ------
        sqlalchemy.exc.IntegrityError
            A session id is in the table already (nothing of the batch is kept
            once the transaction rolls back).
        """
        rows = [self._row(served) for served in sessions]
        if not self._copy:
            conn.exec_driver_sql(self._sessions, rows)
            return
        # COPY has no SQLAlchemy statement around it: the transaction is the connection's own
        # (begun by the first command, committed by ``conn``), and a violated key is reported
        # as SQLAlchemy would report an INSERT's.
        try:
            with conn.connection.driver_connection.cursor() as cursor:
                with cursor.copy(self._sessions) as copy:
                    for row in rows:
                        copy.write_row(row)
        except self._driver_integrity_error as exc:
            raise IntegrityError(self._sessions, None, exc) from exc


def _utc_text(moment: datetime) -> str:
    # SQLite hands back naive datetimes; everything stored here is UTC.
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


class FeedbackLog:
    """Search sessions and the actions taken on their results.

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
        Tables are created on it if missing.
    batch_ms : float, default 0
        0 writes each search before :meth:`log_search` returns; more buffers
        sessions and writes them in batches at most this many milliseconds
        apart, off the caller's thread (see the module docstring).

    Examples
    --------
    >>> from findsupport.db import create_db_engine
    >>> log = FeedbackLog(create_db_engine("sqlite://"))
    >>> sid = log.log_search({"postcode": "NE21 4LZ", "role": "mentor"}, [("p1", 1), ("p2", 2)], "default")
    >>> log.record(sid, "p2", "requested")
    >>> [r["action"] for r in next(log.sessions())["results"]]
    ['shown', 'requested']
    """

    def __init__(self, engine: Engine, *, batch_ms: float = 0.0) -> None:
        self._engine = engine
        self.batch_ms = float(batch_ms)
        self._writer = BatchWriter(self._write_sessions, batch_s=self.batch_ms / 1000.0) if self.batch_ms > 0 else None
        self._rows = _RowWriter(engine.dialect)
        try:
            # Opening the database ran the migrations (findsupport.migrations), which also added
            # client_key to a table an older version made; this creates the tables on a bare engine.
            metadata.create_all(engine, tables=[feedback_sessions, feedback_actions])
        except SQLAlchemyError as exc:
            raise CatalogError(f"The feedback log tables cannot be created: {exc.__class__.__name__}.") from None

    @classmethod
    def open(cls, settings: Settings, *, batched: bool = False) -> "FeedbackLog":
        """The feedback log in the data dir's database (``settings.resolved_database_url``).

        ``batched`` (the web app) writes in batches every
        ``settings.feedback_write_batch_ms`` off the request path; otherwise (the CLI,
        notebooks, tools) each session is written before ``log_search`` returns, so
        another reader sees it at once and nothing waits for the process to exit.
        """
        batch_ms = settings.feedback_write_batch_ms if batched else 0
        return cls(engine_for(settings.resolved_database_url), batch_ms=batch_ms)

    @property
    def engine(self) -> Engine:
        """The database; whoever reads through it first gets this process's buffered sessions written."""
        self.flush()
        return self._engine

    def flush(self) -> None:
        """Write every session this process has buffered (nothing to do when writing synchronously)."""
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        """Write what is buffered and stop the writer thread (a later search starts it again)."""
        if self._writer is not None:
            self._writer.close()

    def _write_sessions(self, sessions: list[_Served]) -> None:
        """Insert served pages: one transaction, one bulk statement per table (:class:`_RowWriter`).

        A batch retried after its commit went through (the acknowledgement was
        lost with the connection) meets its own rows: those sessions are
        skipped, the rest written.
        """
        try:
            self._insert_sessions(sessions)
        except IntegrityError:
            ids = [served.search_id for served in sessions]
            with self._engine.connect() as conn:
                present = set(conn.execute(select(feedback_sessions.c.id).where(feedback_sessions.c.id.in_(ids))).scalars())
            if not present:
                raise
            rest = [served for served in sessions if served.search_id not in present]
            if rest:
                self._insert_sessions(rest)

    def _insert_sessions(self, sessions: list[_Served]) -> None:
        with self._engine.begin() as conn:
            self._rows.write(conn, sessions)

    # ------------------------------------------------------------------ writing
    def log_search(
        self,
        query: dict[str, Any],
        shown: Sequence[tuple[str, int]],
        model_version: str | None,
        catalog_version: str | None = None,
        *,
        client: str | None = None,
        sector: str | None = None,
    ) -> str:
        """Record a served page; returns its new opaque ``search_id``.

        Parameters
        ----------
        query : dict
            ``SearchQuery.feedback_query()`` (JSON-serialisable).
        shown : sequence of (provider_id, position)
            Positions are 1-based, as the coach saw them (offset included).
        model_version, catalog_version : str or None
        client : str, optional
            The keyed hash of the client address
            (:meth:`findsupport.clients.ClientHasher.client_key`); never the
            address itself.
        sector : str, optional
            The sector of the nearest postcode of a point search, logged in
            place of the point.

        The postcode is logged as its sector (:func:`logged_query`).
        """
        if client is not None and (not isinstance(client, str) or len(client) != CLIENT_KEY_CHARS):
            raise InvalidInput("client must be a client key (a 64-character keyed hash), not an address.", field="client")
        # Only what must be checked before the answer goes out is done here; the row and its
        # page's JSON are made by the writer (:meth:`_RowWriter.write`), a batch at a time.
        positions: dict[str, int] = {}
        for item in shown:
            try:
                provider_id, position = item
            except (TypeError, ValueError):
                raise InvalidInput("shown must be (provider_id, position) pairs.") from None
            if not isinstance(provider_id, str) or not provider_id or len(provider_id) > _PROVIDER_ID_CHARS:
                raise InvalidInput("A shown provider_id must be non-empty text.", field="provider_id")
            if isinstance(position, bool) or not isinstance(position, int) or position < 1:
                raise InvalidInput(f"Positions are whole numbers from 1; got {position!r}.", field="position")
            if provider_id in positions:
                raise InvalidInput(f"Provider {provider_id!r} is shown twice in one search.", field="provider_id")
            positions[provider_id] = position
        try:
            query_text = _query_json(logged_query(query, sector=sector))
        except (TypeError, ValueError):
            raise InvalidInput("The query to log must be JSON-serialisable.", field="query") from None
        served = _Served(
            _new_search_id(),
            query_text,
            None if model_version is None else str(model_version)[:_VERSION_CHARS],
            None if catalog_version is None else str(catalog_version)[:_VERSION_CHARS],
            datetime.now(timezone.utc),  # when it was served, however late the batch
            client,
            positions,
        )
        if self._writer is None:
            self._write_sessions([served])
        else:
            self._writer.submit(served.search_id, served)
        return served.search_id

    def record(self, search_id: str, provider_id: str, action: str) -> None:
        """Record that the coach viewed, requested or was accepted by a shown provider.

        The strongest action is kept (a view after a request changes nothing).

        Raises
        ------
        InvalidInput
            An unknown action, an unknown ``search_id``, or a provider that
            search did not show.
        """
        if action not in RECORDABLE_ACTIONS:
            raise InvalidInput(
                f"Got action={action!r}; action must be one of {', '.join(RECORDABLE_ACTIONS)}.",
                field="action",
                allowed=list(RECORDABLE_ACTIONS),
            )
        if not isinstance(search_id, str) or not isinstance(provider_id, str):
            raise InvalidInput("search_id and provider_id must be text.", field="search_id")
        if self._writer is not None and self._writer.holds(search_id):
            self._writer.flush()  # the search is still in this process's buffer: write it first
        code = ACTION_CODES[action]
        # Stored codes are not in rank order (see labels.ACTION_CODES): compare by rank.
        stored_rank = case({ACTION_CODES[a]: rank for a, rank in ACTION_RANK.items()}, value=feedback_actions.c.action)
        stronger = case((stored_rank < ACTION_RANK[action], code), else_=feedback_actions.c.action)
        found = self._act(search_id, provider_id, {"action": code}, {"action": stronger})
        if found is _NO_SESSION and self._writer is not None and _SEARCH_ID.fullmatch(search_id):
            # Perhaps served by another worker whose batch is not written yet: wait one window, once.
            threading.Event().wait(self.batch_ms / 1000.0 + _COMMIT_MARGIN_S)
            found = self._act(search_id, provider_id, {"action": code}, {"action": stronger})
        if found is _NO_SESSION:
            raise InvalidInput("That search_id is not a search we logged.", field="search_id")
        if found is _NOT_SHOWN:
            raise InvalidInput("That provider was not shown in that search.", field="provider_id")

    def record_helpful(self, search_id: str, provider_id: str, helpful: bool) -> None:
        """Record whether the pairing that came of a shown result was helpful (the outcome check-in).

        The latest answer stands (the introductions service decides whose
        answer that is).  Training reads it with ``met`` only
        (:func:`~.labels.grade_of`).

        Raises
        ------
        InvalidInput
            ``helpful`` is not a bool, or no such shown result was logged.
        """
        if not isinstance(helpful, bool):
            raise InvalidInput(f"helpful must be true or false; got {helpful!r}.", field="helpful")
        if not isinstance(search_id, str) or not isinstance(provider_id, str):
            raise InvalidInput("search_id and provider_id must be text.", field="search_id")
        if self._writer is not None and self._writer.holds(search_id):
            self._writer.flush()
        found = self._act(search_id, provider_id, {"action": ACTION_CODES["shown"], "helpful": helpful}, {"helpful": helpful})
        if found is not None:
            raise InvalidInput("That search did not show that provider, or is not a search we logged.", field="search_id")

    def _act(self, search_id: str, provider_id: str, new: dict[str, Any], stored: dict[str, Any]) -> object | None:
        """Store what was done with a shown result: ``new`` for its first row, ``stored`` set on an existing one.

        One transaction: the session's page is read (is the provider on it?),
        then one upsert, atomic on both databases, so two requests acting on
        one result at once both count.  Returns ``None`` when stored,
        :data:`_NO_SESSION` or :data:`_NOT_SHOWN` when there is nothing to act
        on.
        """
        with self._engine.begin() as conn:
            shown = conn.execute(select(feedback_sessions.c.shown).where(feedback_sessions.c.id == search_id)).scalar()
            if shown is None:
                return _NO_SESSION
            if provider_id not in {pid for pid, _ in _shown_pairs(shown)}:
                return _NOT_SHOWN
            insert = upsert(feedback_actions, self._engine.dialect)
            conn.execute(
                insert.values(search_id=search_id, provider_id=provider_id, **new).on_conflict_do_update(
                    index_elements=[feedback_actions.c.search_id, feedback_actions.c.provider_id], set_=stored
                )
            )
        return None

    # ------------------------------------------------------------------ reading
    def count(self) -> int:
        """Number of logged sessions."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(feedback_sessions)).scalar_one())

    def served(self, search_id: str) -> dict[str, Any] | None:
        """What one logged search asked for and showed: ``{"query": ..., "shown": [provider ids]}``.

        ``query`` as logged (sector level, :func:`logged_query`); ``shown`` in
        page order.  ``None`` for a search that was not logged, or whose row
        cannot be read.
        """
        with self.engine.connect() as conn:
            row = conn.execute(
                select(feedback_sessions.c.query, feedback_sessions.c.shown).where(feedback_sessions.c.id == search_id)
            ).first()
        if row is None:
            return None
        try:
            return {"query": json.loads(row.query), "shown": [provider_id for provider_id, _ in _shown_pairs(row.shown)]}
        except (TypeError, ValueError):
            return None

    def sessions(self) -> Iterator[dict[str, Any]]:
        """Every session, oldest first, in the DESIGN.md feedback format.

        Plus ``search_id``, ``model_version``, ``catalog_version``,
        ``created_at`` and, when known, ``client`` (the keyed hash); a result
        whose helpfulness is known carries ``helpful``.  Results are in page
        order; a result nobody acted on has the action ``shown``.
        """
        s, a = feedback_sessions, feedback_actions
        statement = (
            select(s.c.id, s.c.query, s.c.model_version, s.c.catalog_version, s.c.created_at, s.c.client_key, s.c.shown,
                   a.c.provider_id, a.c.action, a.c.helpful)
            .select_from(s.outerjoin(a, a.c.search_id == s.c.id))
            .order_by(s.c.created_at, s.c.id)
        )
        shown_action = ACTION_CODES["shown"]
        with self.engine.connect() as conn:
            # One row per session, or per acted-on result of it: a session's rows come together.
            for search_id, rows in groupby(conn.execute(statement), key=lambda row: row.id):
                first, *more = rows
                acted = {row.provider_id: (row.action, row.helpful) for row in (first, *more) if row.provider_id is not None}
                results = []
                for provider_id, position in _shown_pairs(first.shown):
                    code, helpful = acted.get(provider_id, (shown_action, None))
                    result = {"provider_id": provider_id, "position": position, "action": _ACTION_OF[code]}
                    if helpful is not None:
                        result["helpful"] = bool(helpful)
                    results.append(result)
                session = {
                    "query": json.loads(first.query),
                    "results": results,
                    "search_id": search_id,
                    "model_version": first.model_version,
                    "catalog_version": first.catalog_version,
                    "created_at": _utc_text(first.created_at),
                }
                if first.client_key is not None:
                    session["client"] = first.client_key
                yield session

    def export(self, target: str | os.PathLike[str] | IO[str]) -> int:
        """Write every session as one JSON line; returns how many.

        A path is written atomically (a temporary file renamed into place), so
        a reader never sees half a file.
        """
        if not isinstance(target, (str, os.PathLike)):
            return self._write(target)
        path = Path(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
                count = self._write(fh)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return count

    def _write(self, fh: IO[str]) -> int:
        count = 0
        for session in self.sessions():
            fh.write(json.dumps(session, ensure_ascii=False) + "\n")
            count += 1
        return count

"""Per-client rate limits, read from ``settings.rate_limits``, counted in the shared database.

The setting is ``"off"`` or ``name=N/period`` rules separated by ``;``, e.g.
``search=120/minute;postcodes=120/minute;introductions=5/hour``.  Each rule
names a *bucket* the API uses (:data:`BUCKETS`); a bucket without a rule is
not limited.

:class:`SharedLimiter` counts in the table ``rate_limit_counts`` of the
database every server uses (``FINDSUPPORT_DATABASE_URL``), so a client's
requests count together however they are spread over gunicorn workers and
servers.  Each rule's period is cut into :data:`SLOTS_PER_PERIOD` slots; a row
holds one client's accepted requests in one slot of one bucket.  The window
summed is the current slot and the whole period before it, so no period
(however placed) holds more than the counts allow (see below); the price is
that a request may wait up to one slot longer than an exact log would make
it wait.

A request costs no database work: each process counts in memory and a
background thread adds its counts to the table every :data:`FLUSH_EVERY_S`
in one statement (``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``, atomic
on SQLite and PostgreSQL alike), which returns each of those clients' totals
over every server.  A request is accepted while that total plus the process's
own unflushed count is under the limit; when it is not, the client's counts
are read exactly before refusing, and the refusal is remembered until its
``Retry-After`` (a client that keeps retrying costs nothing and does not use
up its limit).  So a client gets at most the limit in any window, plus what
*other* processes accepted from it in the one flush interval they had not yet
reported: at most, per worker process of every server, the client's requests
to it in one interval (and the statement's own time).  A client served by one
process meets the limit exactly.  A graceful stop flushes.  Rows past their
window are deleted every :data:`PRUNE_EVERY_S` by the flushing thread.

The clients are the keyed hashes of :mod:`findsupport.clients` (no address is
stored).  Servers compare their clocks through the slot numbers, so they must
keep time (NTP; a second's skew is a sixth of a slot of a per-minute rule).
When the database cannot count (unreachable, or a SQLite file locked for more
than :data:`SQLITE_WAIT_MS`) a warning is logged, the counts wait for the next
flush, and a request that would need the exact read is let through: a search
must not fail because its limit could not be counted.

Introductions (``introductions``) are limited differently, by
:mod:`findsupport.introductions`: the stored requests themselves are counted,
in the transaction that stores one, so nothing is stored over the limit; that
needs their rows, not a counter.

Examples
--------
>>> from findsupport.db import create_db_engine
>>> limiter = SharedLimiter(parse_rate_limits("search=2/minute"), create_db_engine("sqlite://"), flush_every_s=None)
>>> [limiter.hit("search", "client-hash", now=t) for t in (0.0, 1.0)]
[None, None]
>>> limiter.hit("search", "client-hash", now=2.0)
64
>>> limiter.hit("search", "client-hash", now=66.0) is None
True
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ..db import create_db_engine, metadata, upsert
from ..errors import ConfigError, RateLimited

__all__ = [
    "RateRule",
    "parse_rate_limits",
    "SharedLimiter",
    "rate_limited",
    "retry_after",
    "rate_limit_counts",
    "BUCKETS",
    "PERIODS",
    "SLOTS_PER_PERIOD",
    "PRUNE_EVERY_S",
    "SQLITE_WAIT_MS",
    "FLUSH_EVERY_S",
]

log = logging.getLogger(__name__)

#: The buckets the API charges: read-only searches (and their counts), postcode
#: look-ups, provider details, introductions, and ``views``: provider views
#: recorded as ranking feedback (over the limit the profile still shows, but the
#: view is not recorded; see :meth:`findsupport.web.state.WebState.record_feedback`);
#: ``links``: the pages of signed e-mail links (respond, manage, cancel, outcome, and the
#: "manage your listing" form), ``manage_links``: asking for a manage link by e-mail, and
#: ``operator_sign_in``: asking for an operator's sign-in link (:mod:`findsupport.web.operators`).
BUCKETS: tuple[str, ...] = ("search", "postcodes", "providers", "introductions", "views", "links", "manage_links",
                            "operator_sign_in")

#: Period names a rule may use, in seconds.
PERIODS: dict[str, float] = {
    "second": 1.0,
    "minute": 60.0,
    "hour": 3600.0,
    "day": 86400.0,
}

#: Slots a rule's period is cut into.  The window counted is the period plus the current slot,
#: so a client that used its whole limit at once waits at most a tenth of a period longer than
#: an exact log would make it; more slots would sum more rows on every request.
SLOTS_PER_PERIOD = 10
#: How often (seconds) a process deletes the rows past their window: one indexed DELETE a minute
#: per worker keeps the table at about the clients of the longest period.
PRUNE_EVERY_S = 60.0
#: How long (milliseconds) a count waits for a SQLite database another process is writing (an
#: import) before the request goes uncounted: a search must not wait for an import's commit.
SQLITE_WAIT_MS = 250
#: How often (seconds) each process adds its counts to the database, in one statement off the
#: request path.  It bounds what one process cannot see of the others (see SharedLimiter); 100 ms
#: is far below any period a rule names, and at hundreds of searches a second still batches tens
#: of counts per statement.
FLUSH_EVERY_S = 0.1
#: A flushing thread with nothing to send for this long (seconds) ends; the next request starts one.
IDLE_STOP_S = 10.0
#: How often (seconds) a database that cannot count is reported again, rather than once per request.
WARN_EVERY_S = 60.0
_BUCKET_CHARS = 32
_CLIENT_CHARS = 64  # a keyed client hash, hex SHA-256

#: One client's accepted requests in one slot of one bucket (``slot`` counts slots of
#: ``period / SLOTS_PER_PERIOD`` seconds since the epoch); ``expires_at`` (epoch seconds) is
#: when the slot leaves every window, after which it is pruned.
rate_limit_counts = sa.Table(
    "rate_limit_counts",
    metadata,
    sa.Column("client_key", sa.String(_CLIENT_CHARS), primary_key=True),
    sa.Column("bucket", sa.String(_BUCKET_CHARS), primary_key=True),
    sa.Column("slot", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("hits", sa.Integer, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False, index=True),
)


@dataclass(frozen=True)
class RateRule:
    """At most ``limit`` requests per ``period_s`` seconds, per client."""

    bucket: str
    limit: int
    period_s: float

    def describe(self) -> str:
        name = next((k for k, v in PERIODS.items() if v == self.period_s), f"{self.period_s:g} s")
        return f"{self.limit} per {name}"


def parse_rate_limits(text: str) -> dict[str, RateRule]:
    """Parse the ``rate_limits`` setting; ``"off"`` (or empty) means no limits.

    Raises
    ------
    ConfigError
        For an unknown bucket, a malformed rule or a non-positive count.
    """
    text = (text or "").strip()
    if text.lower() in {"", "off", "none", "false", "0"}:
        return {}
    rules: dict[str, RateRule] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, sep, spec = part.partition("=")
        name = name.strip().lower()
        count, slash, period = spec.strip().partition("/")
        period = period.strip().lower()
        if period.endswith("s") and period[:-1] in PERIODS:  # "5/hours" reads naturally too
            period = period[:-1]
        if not sep or not slash:
            raise ConfigError(f"Rate limit rule {part!r} must look like search=120/minute.", field="rate_limits")
        if name not in BUCKETS:
            raise ConfigError(
                f"Got rate limit bucket {name!r}; bucket must be one of {', '.join(BUCKETS)}.", field="rate_limits"
            )
        if period not in PERIODS:
            raise ConfigError(
                f"Got rate limit period {period!r} in {part!r}; period must be one of {', '.join(PERIODS)}.",
                field="rate_limits",
            )
        try:
            limit = int(count.strip())
        except ValueError:
            limit = 0
        if limit < 1:
            raise ConfigError(f"Rate limit {part!r} needs a whole number of requests of at least 1.", field="rate_limits")
        rules[name] = RateRule(name, limit, PERIODS[period])
    return rules


class SharedLimiter:
    """Sliding-window limits per (bucket, client), counted in the shared database.  Thread-safe.

    A request is counted in memory; a background thread adds this process's
    counts to the database every ``flush_every_s`` in one statement and reads
    back each of those clients' counts over every server, so the request path
    never waits for the database.  A request is accepted while the client's
    count known from the last flush plus this process's unflushed count stays
    within the limit.

    Parameters
    ----------
    rules : dict
        From :func:`parse_rate_limits`.
    db : sqlalchemy.engine.Engine
        The database every server uses (SQLite or PostgreSQL), already at the
        newest schema (:func:`findsupport.db.engine_for` sees to that).
    clock : callable, default time.time
        Seconds since the epoch; every server's clock names the same slots.
    flush_every_s : float or None, default FLUSH_EVERY_S
        How often the background thread flushes; ``None`` starts no thread
        (the caller calls :meth:`flush`, as tests do).

    Notes
    -----
    The guarantee: in any window a client gets at most the limit plus, for
    each *other* process (every gunicorn worker of every server), the
    requests that process accepted from it since its last flush, i.e. within
    one flush interval and the flush statement's own time.  One process alone
    is exact.  Refusals are decided on exact counts: when the estimate says
    no, the client's counts are read from the database (after any flush in
    progress) before refusing, and the refusal is remembered until its
    ``Retry-After``, so a client that keeps retrying costs no database work.

    The counts go through connections of their own (:func:`_counts_engine`)
    that commit without waiting for the disk: PostgreSQL's
    ``synchronous_commit=off``, SQLite's ``synchronous=NORMAL`` (a crash may
    forget the last counts, never corrupt anything).  On SQLite a flush gives
    up on a locked database after :data:`SQLITE_WAIT_MS` and its counts wait
    for the next one.  Every other write keeps the database's own settings.
    """

    def __init__(self, rules: dict[str, RateRule], db: sa.engine.Engine, *,
                 clock: Callable[[], float] = time.time, flush_every_s: float | None = FLUSH_EVERY_S) -> None:
        self.rules = dict(rules)
        self.clock = clock
        self.flush_every_s = flush_every_s
        counts = _counts_engine(db)
        # One statement is its own transaction: no BEGIN and COMMIT round trips around it.
        self._db = counts.execution_options(isolation_level="AUTOCOMMIT")
        self._own_engine = counts if counts is not db else None
        self._pid = os.getpid()
        #: The flush statement (:meth:`_upsert`), made once.
        self._statement = self._upsert()
        self._lock = threading.Lock()  # guards the dicts below
        self._flush_lock = threading.Lock()  # one flush or exact read at a time, so nothing is counted twice
        #: Accepted, not yet sent: (bucket, client, slot) -> requests.
        self._pending: dict[tuple[str, str, int], int] = {}
        #: Being sent by the flush in progress (still counted until its totals are in ``_known``).
        self._in_flight: dict[tuple[str, str, int], int] = {}
        #: (bucket, client) -> (slot, the window's count over every server as of the last flush).
        self._known: dict[tuple[str, str], tuple[int, int]] = {}
        #: (bucket, client) -> when a refused client may be counted again (epoch seconds).
        self._refused_until: dict[tuple[str, str], float] = {}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._next_prune = 0.0
        self._next_warning = 0.0

    def hit(self, bucket: str, client: str, now: float | None = None) -> int | None:
        """Count one request; return ``None`` if allowed, else seconds until the next is allowed.

        Parameters
        ----------
        bucket : str
            One of :data:`BUCKETS`; a bucket without a rule is not counted.
        client : str
            The client's keyed hash (:meth:`findsupport.clients.ClientHasher.client_key`).
        now : float, optional
            Seconds since the epoch (by default the clock's).
        """
        rule = self.rules.get(bucket)
        if rule is None:
            return None
        now = self.clock() if now is None else now
        slot = self._slot(bucket, now)
        key = (bucket, client)
        self._after_fork()
        with self._lock:
            until = self._refused_until.get(key)
            if until is not None and now < until:
                return max(1, math.ceil(until - now))
            if self._estimate(key, slot) + 1 <= rule.limit:
                self._count_locally(key, slot)
                return None
        return self._decide_exactly(rule, client, slot, now)

    def check(self, bucket: str, client: str) -> None:
        """Count one request; raise :class:`RateLimited` when the client is over the limit."""
        wait = self.hit(bucket, client)
        if wait is not None:
            raise rate_limited(self.rules[bucket], wait)

    def flush(self, now: float | None = None) -> None:
        """Add this process's unflushed counts to the database in one statement and learn the totals.

        Also deletes the rows past their window every :data:`PRUNE_EVERY_S`.  When
        the database cannot count, a warning is logged and the counts wait for the
        next flush (those whose slot has left every window are dropped).
        """
        now = self.clock() if now is None else now
        with self._flush_lock:
            with self._lock:
                self._in_flight, self._pending = self._pending, {}
                batch = self._in_flight
            known: dict[tuple[str, str], tuple[int, int]] = {}
            if not batch and now < self._next_prune:
                return
            try:
                with self._db.connect() as conn:
                    rows = sorted(batch.items())  # one lock order on every server: no deadlocks on PostgreSQL
                    for client, bucket, slot, total in conn.execute(self._statement, self._flush_rows(rows)) if rows else ():
                        if known.get((bucket, client), (slot - 1, 0))[0] < slot:
                            # Plus this batch's own earlier slots, which the total may not have seen:
                            # on SQLite it may count them twice, too high and so safe.
                            known[(bucket, client)] = (slot, total + sum(
                                batch.get((bucket, client, s), 0) for s in range(slot - SLOTS_PER_PERIOD, slot)))
                    if now >= self._next_prune:
                        self._next_prune = now + PRUNE_EVERY_S
                        self._delete_expired(conn, now)
                        with self._lock:
                            self._forget(now)
            except sa.exc.SQLAlchemyError as exc:
                self._warn(exc, now)
                with self._lock:
                    for (bucket, client, slot), n in batch.items():
                        if slot >= self._slot(bucket, now) - SLOTS_PER_PERIOD:
                            self._pending[(bucket, client, slot)] = self._pending.get((bucket, client, slot), 0) + n
                    self._in_flight = {}
                return
            with self._lock:
                self._known.update(known)
                self._in_flight = {}

    def prune(self, now: float | None = None) -> int:
        """Delete the rows past every window; return how many went."""
        now = self.clock() if now is None else now
        with self._db.connect() as conn:
            return self._delete_expired(conn, now)

    def close(self) -> None:
        """Stop the flushing thread, flush what is left, close the counts' own engine (stays usable)."""
        if self._pid == os.getpid():
            with self._lock:
                thread, self._thread = self._thread, None
            if thread is not None:
                self._stop.set()
                thread.join()
                self._stop = threading.Event()  # a request after this starts a new thread
            self.flush()
        if self._own_engine is not None:
            self._own_engine.dispose()

    def _count_locally(self, key: tuple[str, str], slot: int) -> None:
        """Count one accepted request (under ``_lock``), and see that a thread will flush it."""
        self._pending[(*key, slot)] = self._pending.get((*key, slot), 0) + 1
        if self._thread is None and self.flush_every_s is not None:
            self._thread = threading.Thread(target=self._run, name="rate-limit-flush", daemon=True)
            self._thread.start()

    def _after_fork(self) -> None:
        """In a forked worker (gunicorn --preload) start afresh: no thread of the parent's runs here."""
        if self._pid != os.getpid():
            # The parent's connections, counts and thread stay the parent's.
            if self._own_engine is not None:
                self._own_engine.dispose(close=False)
            self._lock = threading.Lock()
            self._flush_lock = threading.Lock()
            self._pending, self._in_flight, self._thread = {}, {}, None
            self._stop = threading.Event()
            self._pid = os.getpid()

    def _run(self) -> None:
        """Flush every ``flush_every_s``; end after :data:`IDLE_STOP_S` with nothing to send.

        An idle worker then has no thread waking up; the next counted request starts one.
        """
        assert self.flush_every_s is not None
        idle_since = time.monotonic()
        while not self._stop.wait(self.flush_every_s):
            try:
                self.flush()
            except Exception:  # the thread must outlive any one bad flush
                log.exception("rate limit counts not flushed")
            with self._lock:
                if self._pending:
                    idle_since = time.monotonic()
                elif time.monotonic() - idle_since > IDLE_STOP_S:
                    # Under the lock that counts, with nothing pending: a request counted after this
                    # starts another thread.
                    if self._thread is threading.current_thread():
                        self._thread = None
                    return
        with self._lock:  # stopped by close(): a request counted after it starts a new thread
            if self._thread is threading.current_thread():
                self._thread = None

    def _slot(self, bucket: str, now: float) -> int:
        return math.floor(now / (self.rules[bucket].period_s / SLOTS_PER_PERIOD))

    def _estimate(self, key: tuple[str, str], slot: int) -> int:
        """The window's count as this process knows it (under ``_lock``): last flush's total plus unflushed."""
        bucket, client = key
        known_slot, total = self._known.get(key, (slot, 0))
        # A total from an earlier slot may include slots since gone from the window: too high, never
        # too low, so at worst it sends the request to the exact read.  A whole window old, it counts nothing.
        count = total if slot - known_slot <= SLOTS_PER_PERIOD else 0
        for counts in (self._in_flight, self._pending):
            count += sum(counts.get((bucket, client, s), 0) for s in range(slot - SLOTS_PER_PERIOD, slot + 1))
        return count

    def _decide_exactly(self, rule: RateRule, client: str, slot: int, now: float) -> int | None:
        """Read the client's counts over every server, add this process's unflushed, then accept or refuse."""
        key = (rule.bucket, client)
        t = rate_limit_counts
        try:
            with self._flush_lock, self._db.connect() as conn:  # no flush half done, so nothing counted twice
                counts = dict(conn.execute(
                    sa.select(t.c.slot, t.c.hits).where(t.c.client_key == client, t.c.bucket == rule.bucket,
                                                        t.c.slot >= slot - SLOTS_PER_PERIOD, t.c.slot <= slot)
                ).all())
        except sa.exc.SQLAlchemyError as exc:
            self._warn(exc, now)
            return None
        with self._lock:
            self._known[key] = (slot, sum(counts.values()))
            for s in range(slot - SLOTS_PER_PERIOD, slot + 1):
                unflushed = sum(mine.get((rule.bucket, client, s), 0) for mine in (self._pending, self._in_flight))
                if unflushed:
                    counts[s] = counts.get(s, 0) + unflushed
            if sum(counts.values()) + 1 <= rule.limit:
                self._count_locally(key, slot)
                return None
            wait = retry_after(counts, slot, rule.period_s / SLOTS_PER_PERIOD, rule.limit, now)
            self._refused_until[key] = now + wait
            return wait

    def _forget(self, now: float) -> None:
        """Drop (under ``_lock``) what no window holds any more: old totals and refusals past."""
        self._known = {k: v for k, v in self._known.items() if self._slot(k[0], now) - v[0] <= SLOTS_PER_PERIOD}
        self._refused_until = {k: v for k, v in self._refused_until.items() if v > now}

    def _flush_rows(self, rows: list[tuple[tuple[str, str, int], int]]) -> list[dict[str, Any]]:
        """The flush statement's parameters: one row per (bucket, client, slot) with its new hits."""
        flushed = []
        for (bucket, client, slot), n in rows:
            width = self.rules[bucket].period_s / SLOTS_PER_PERIOD
            # Past its last window once the slot after it plus a whole period have gone by.
            flushed.append({"client_key": client, "bucket": bucket, "slot": slot, "hits": n,
                            "expires_at": math.ceil((slot + SLOTS_PER_PERIOD + 1) * width)})
        return flushed

    def _upsert(self) -> sa.Executable:
        """One upsert adding a row's counts, returning the client's total over the row slot's window.

        The total sums the row's own slot (after the addition) and the period before
        it.  PostgreSQL's subquery sees the statement's starting snapshot, so when a
        batch spans a slot boundary the total misses this batch's count in the
        earlier slot (:meth:`flush` adds it back).

        Executed with a list of rows, SQLAlchemy sends them as one multi-row
        ``VALUES`` statement ("insertmanyvalues", up to 1,000 rows a statement),
        in the list's order.  A statement written with its rows in ``values()``
        instead has no cache key: SQLAlchemy compiled it again on every flush,
        about 80% of a flush's CPU (five times a search's worth each 100 ms in
        a busy worker).  Rows in any order: the returned ones name their client,
        bucket and slot, so the statement does not ask for
        ``sort_by_parameter_order`` (on SQLite that would send a row a statement).
        """
        t = rate_limit_counts
        stmt = upsert(t, self._db.dialect)
        earlier = t.alias("earlier")
        # The returned row's own columns, named with the table: RETURNING does not correlate a subquery.
        row = {name: sa.literal_column(f"{t.name}.{name}") for name in ("client_key", "bucket", "slot")}
        before = (
            sa.select(sa.func.coalesce(sa.func.sum(earlier.c.hits), 0))
            .where(earlier.c.client_key == row["client_key"], earlier.c.bucket == row["bucket"],
                   earlier.c.slot >= row["slot"] - SLOTS_PER_PERIOD, earlier.c.slot < row["slot"])
            .scalar_subquery()
        )
        return stmt.on_conflict_do_update(
            index_elements=[t.c.client_key, t.c.bucket, t.c.slot], set_={"hits": t.c.hits + stmt.excluded.hits}
        ).returning(t.c.client_key, t.c.bucket, t.c.slot, t.c.hits + before)

    @staticmethod
    def _delete_expired(conn: sa.Connection, now: float) -> int:
        t = rate_limit_counts
        return conn.execute(sa.delete(t).where(t.c.expires_at < math.floor(now))).rowcount

    def _warn(self, exc: Exception, now: float) -> None:
        if now >= self._next_warning:
            self._next_warning = now + WARN_EVERY_S
            log.warning("rate limits not counted (requests let through meanwhile): the database failed with %s: %s",
                        type(exc).__name__, str(exc).splitlines()[0][:200] if str(exc) else "")


def _counts_engine(db: sa.engine.Engine) -> sa.engine.Engine:
    """Connections to ``db`` for the counts only (see :class:`SharedLimiter`'s notes).

    An in-memory SQLite database cannot be opened twice: its own engine is used as it is.
    """
    if db.dialect.name == "postgresql":
        # Set when connecting (libpq's options), so no statement is added.  No ping before each
        # use either, unlike the shared engine: after a database restart the first count on each
        # pooled connection fails and goes uncounted, and the pool reconnects.
        options = " ".join(filter(None, [db.url.query.get("options"), "-c synchronous_commit=off"]))
        return sa.create_engine(db.url, connect_args={"options": options})
    if db.url.database in (None, "", ":memory:") or db.url.query.get("uri"):
        return db
    counts = create_db_engine(db.url.render_as_string(hide_password=False), upgrade=False)

    def quick(dbapi_connection: Any, _record: Any) -> None:  # after findsupport's own pragmas
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_WAIT_MS}")
        cursor.close()

    sa.event.listen(counts, "connect", quick)
    return counts


def retry_after(counts: dict[int, int], slot: int, width: float, limit: int, now: float) -> int:
    """Whole seconds from ``now`` until a request fits under ``limit``, given the counts by slot.

    The window at a time in slot ``s`` sums slots ``s - SLOTS_PER_PERIOD`` to ``s``; each
    slot boundary drops the oldest, so the answer is the first boundary where the rest
    leaves room for one more.

    Examples
    --------
    >>> retry_after({0: 1, 5: 1}, slot=5, width=6.0, limit=2, now=30.0)
    36
    """
    for ahead in range(1, SLOTS_PER_PERIOD + 1):
        oldest = slot + ahead - SLOTS_PER_PERIOD
        if sum(hits for s, hits in counts.items() if s >= oldest) + 1 <= limit:
            return max(1, math.ceil((slot + ahead) * width - now))
    # Only when every counted slot has left the window (the limit is in the current slot alone).
    return max(1, math.ceil((slot + SLOTS_PER_PERIOD + 1) * width - now))


def rate_limited(rule: RateRule, retry_after: int) -> RateLimited:
    """The error for a client over ``rule`` (a 429 with ``Retry-After``)."""
    return RateLimited(
        f"Too many {rule.bucket} requests from your address (limit {rule.describe()}); "
        f"please wait {retry_after} s and try again.",
        retry_after=retry_after,
        bucket=rule.bucket,
    )

"""Per-client rate limits, read from ``settings.rate_limits``, counted in the shared database.

The setting is ``"off"`` or ``name=N/period`` rules separated by ``;``, e.g.
``search=120/minute;postcodes=120/minute;introductions=5/hour``.  Each rule
names a *bucket* the API uses (:data:`BUCKETS`); a bucket without a rule is
not limited.

:class:`SharedLimiter` counts in the table ``rate_limit_counts`` of the
database every server uses (``FINDSUPPORT_DATABASE_URL``), so a client's
requests count together however they are spread over gunicorn workers and
servers.  Each rule's period is cut into :data:`SLOTS_PER_PERIOD` slots; a row
holds one client's accepted requests in one slot of one bucket.  A request is
one statement, an upsert that adds one to the current slot and returns it
with the sum of the slots before it (``INSERT ... ON CONFLICT DO UPDATE ...
RETURNING``, run on its own, without ``BEGIN``/``COMMIT``): the increment is
atomic on SQLite and PostgreSQL alike, so of many parallel requests exactly as
many pass as the limit has room for.  The window summed is the current slot
and the whole period before it, so no period (however placed) ever holds more
than the limit; the price is that a request may wait up to one slot longer
than an exact log would make it wait.  A refused request gives its count back
(two more statements, on the refusing path only), so a client that keeps
retrying is not locked out longer than one that waits.  Rows past their window
are deleted every :data:`PRUNE_EVERY_S` by whichever request comes next.

The clients are the keyed hashes of :mod:`findsupport.clients` (no address is
stored).  Servers compare their clocks through the slot numbers, so they must
keep time (NTP; a second's skew is a sixth of a slot of a per-minute rule).
When the database cannot count (unreachable, or a SQLite file locked for more
than :data:`SQLITE_WAIT_MS`) the request is let through and a warning logged:
a search must not fail because its limit could not be counted.

Introductions (``introductions``) are limited differently, by
:mod:`findsupport.introductions`: the stored requests themselves are counted,
in the transaction that stores one, so nothing is stored over the limit; that
needs their rows, not a counter.

Examples
--------
>>> from findsupport.db import create_db_engine
>>> limiter = SharedLimiter(parse_rate_limits("search=2/minute"), create_db_engine("sqlite://"))
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
from sqlalchemy.dialects import postgresql, sqlite

from ..db import create_db_engine, metadata
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

    Parameters
    ----------
    rules : dict
        From :func:`parse_rate_limits`.
    db : sqlalchemy.engine.Engine
        The database every server uses (SQLite or PostgreSQL), already at the
        newest schema (:func:`findsupport.db.engine_for` sees to that).
    clock : callable, default time.time
        Seconds since the epoch; every server's clock names the same slots.

    Notes
    -----
    The counts go through connections of their own (:func:`_counts_engine`)
    that commit without waiting for the disk: PostgreSQL's
    ``synchronous_commit=off``, SQLite's ``synchronous=NORMAL`` (a crash may
    forget the last counts, never corrupt anything; measured in
    BENCHMARKS.md).  On SQLite they also give up on a locked database after
    :data:`SQLITE_WAIT_MS`, so a long import does not hold searches up.  Every
    other write keeps the database's own settings.
    """

    def __init__(self, rules: dict[str, RateRule], db: sa.engine.Engine, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.rules = dict(rules)
        self.clock = clock
        counts = _counts_engine(db)
        # One statement is its own transaction: no BEGIN and COMMIT round trips around it.
        self._db = counts.execution_options(isolation_level="AUTOCOMMIT")
        self._own_engine = counts if counts is not db else None
        self._pid = os.getpid()
        self._count = _count_statement(postgresql.insert if db.dialect.name == "postgresql" else sqlite.insert)
        self._prune_lock = threading.Lock()
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
        width = rule.period_s / SLOTS_PER_PERIOD
        slot = math.floor(now / width)
        if self._own_engine is not None and self._pid != os.getpid():
            # A forked worker (gunicorn --preload): the parent's pooled connections stay the parent's.
            self._own_engine.dispose(close=False)
            self._pid = os.getpid()
        try:
            with self._db.connect() as conn:
                hits, before = conn.execute(self._count, {
                    "p_client": client, "p_bucket": rule.bucket, "p_slot": slot,
                    "p_oldest": slot - SLOTS_PER_PERIOD,
                    # Past its last window once the slot after it plus a whole period have gone by.
                    "p_expires_at": math.ceil((slot + SLOTS_PER_PERIOD + 1) * width),
                }).one()
                if hits + before <= rule.limit:
                    self._prune_if_due(conn, now)
                    return None
                return self._refuse(conn, rule, client, slot, width, now)
        except sa.exc.SQLAlchemyError as exc:
            self._warn(exc, now)
            return None

    def check(self, bucket: str, client: str) -> None:
        """Count one request; raise :class:`RateLimited` when the client is over the limit."""
        wait = self.hit(bucket, client)
        if wait is not None:
            raise rate_limited(self.rules[bucket], wait)

    def prune(self, now: float | None = None) -> int:
        """Delete the rows past every window; return how many went."""
        now = self.clock() if now is None else now
        with self._db.connect() as conn:
            return self._delete_expired(conn, now)

    def close(self) -> None:
        """Close the connections of the counts' own engine, if any (the limiter stays usable)."""
        if self._own_engine is not None:
            self._own_engine.dispose()

    def _refuse(self, conn: sa.Connection, rule: RateRule, client: str, slot: int, width: float, now: float) -> int:
        """Give the refused request's count back; the whole seconds until one more fits."""
        t = rate_limit_counts
        mine = (t.c.client_key == client) & (t.c.bucket == rule.bucket)
        conn.execute(sa.update(t).where(mine, t.c.slot == slot).values(hits=t.c.hits - 1))
        counts = dict(conn.execute(
            sa.select(t.c.slot, t.c.hits).where(mine, t.c.slot >= slot - SLOTS_PER_PERIOD, t.c.slot <= slot)
        ).all())
        return retry_after(counts, slot, width, rule.limit, now)

    def _prune_if_due(self, conn: sa.Connection, now: float) -> None:
        if now < self._next_prune or not self._prune_lock.acquire(blocking=False):
            return
        try:
            self._next_prune = now + PRUNE_EVERY_S
            self._delete_expired(conn, now)
        finally:
            self._prune_lock.release()

    @staticmethod
    def _delete_expired(conn: sa.Connection, now: float) -> int:
        t = rate_limit_counts
        return conn.execute(sa.delete(t).where(t.c.expires_at < math.floor(now))).rowcount

    def _warn(self, exc: Exception, now: float) -> None:
        if now >= self._next_warning:
            self._next_warning = now + WARN_EVERY_S
            log.warning("rate limits not counted (requests let through meanwhile): the database failed with %s: %s",
                        type(exc).__name__, str(exc).splitlines()[0][:200] if str(exc) else "")


def _count_statement(insert: Callable[..., Any]) -> sa.Executable:
    """The upsert adding one to a slot, returning its new count and the sum of the period before it.

    Built once, with bound parameters (``p_client``, ``p_bucket``, ``p_slot``,
    ``p_oldest``, ``p_expires_at``), so a request pays only for executing it.
    The sum reads only earlier slots, which the statement does not change, so
    it means the same on PostgreSQL (whose subquery sees the statement's
    starting snapshot) and SQLite.
    """
    t = rate_limit_counts
    client, bucket, slot = sa.bindparam("p_client"), sa.bindparam("p_bucket"), sa.bindparam("p_slot")
    before = (
        sa.select(sa.func.coalesce(sa.func.sum(t.c.hits), 0))
        .where(t.c.client_key == client, t.c.bucket == bucket, t.c.slot >= sa.bindparam("p_oldest"), t.c.slot < slot)
        .scalar_subquery()
    )
    upsert = insert(t).values(client_key=client, bucket=bucket, slot=slot, hits=1,
                              expires_at=sa.bindparam("p_expires_at"))
    return upsert.on_conflict_do_update(
        index_elements=[t.c.client_key, t.c.bucket, t.c.slot], set_={"hits": t.c.hits + 1}
    ).returning(t.c.hits, before)


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

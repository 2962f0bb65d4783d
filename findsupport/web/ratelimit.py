"""Per-client rate limits, read from ``settings.rate_limits``.

The setting is ``"off"`` or ``name=N/period`` rules separated by ``;``, e.g.
``search=120/minute;postcodes=120/minute;introductions=5/hour``.  Each rule
names a *bucket* the API uses (:data:`BUCKETS`); a bucket without a rule is
not limited.

:class:`SlidingWindowLimiter` keeps, per client and bucket, the times of the
last ``N`` requests in this process and refuses one more inside the period.
It is per worker process: with ``gunicorn -w 4`` a client may make up to four
times the limit of a cheap read-only bucket, which is fine for what those
limits are for (stopping a runaway script).  Introductions, which e-mail a
volunteer, are also counted in the database across workers (see
:mod:`findsupport.web.introductions`).

Examples
--------
>>> rules = parse_rate_limits("search=2/minute;introductions=5/hour")
>>> rules["search"].limit, rules["search"].period_s
(2, 60.0)
>>> limiter = SlidingWindowLimiter(rules)
>>> [limiter.hit("search", "198.51.100.7", now=t) for t in (0.0, 1.0)]
[None, None]
>>> limiter.hit("search", "198.51.100.7", now=2.0)
58
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass

from ..errors import ConfigError, RateLimited

__all__ = ["RateRule", "parse_rate_limits", "SlidingWindowLimiter", "BUCKETS", "PERIODS"]

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

#: Forget idle clients once this many are tracked, so memory stays bounded under a scan
#: of many addresses (each tracked client costs a deque of at most N timestamps).
MAX_TRACKED_CLIENTS = 50_000


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


class SlidingWindowLimiter:
    """In-process sliding-window limits per (bucket, client).  Thread-safe.

    Parameters
    ----------
    rules : dict
        From :func:`parse_rate_limits`.
    """

    def __init__(self, rules: dict[str, RateRule]) -> None:
        self.rules = dict(rules)
        self._hits: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, bucket: str, client: str, now: float | None = None) -> int | None:
        """Count one request; return ``None`` if allowed, else seconds until the next is allowed."""
        rule = self.rules.get(bucket)
        if rule is None:
            return None
        now = time.monotonic() if now is None else now
        key = (bucket, client)
        with self._lock:
            times = self._hits.get(key)
            if times is None:
                if len(self._hits) >= MAX_TRACKED_CLIENTS:
                    self._forget_idle(now)
                times = self._hits[key] = deque(maxlen=rule.limit)
            while times and times[0] <= now - rule.period_s:
                times.popleft()
            if len(times) >= rule.limit:
                return max(1, math.ceil(times[0] + rule.period_s - now))
            times.append(now)
            return None

    def check(self, bucket: str, client: str) -> None:
        """Count one request; raise :class:`RateLimited` when the client is over the limit."""
        wait = self.hit(bucket, client)
        if wait is not None:
            raise rate_limited(self.rules[bucket], wait)

    def _forget_idle(self, now: float) -> None:
        longest = max(rule.period_s for rule in self.rules.values())
        idle = [key for key, times in self._hits.items() if not times or times[-1] <= now - longest]
        for key in idle:
            del self._hits[key]
        if len(self._hits) >= MAX_TRACKED_CLIENTS:
            # Still full of active clients: start afresh rather than grow without bound.
            self._hits.clear()


def rate_limited(rule: RateRule, retry_after: int) -> RateLimited:
    """The error for a client over ``rule`` (a 429 with ``Retry-After``)."""
    return RateLimited(
        f"Too many {rule.bucket} requests from your address (limit {rule.describe()}); "
        f"please wait {retry_after} s and try again.",
        retry_after=retry_after,
        bucket=rule.bucket,
    )

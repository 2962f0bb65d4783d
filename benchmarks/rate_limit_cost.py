"""What counting rate limits in the database adds to a search request, side by side.

Usage::

    .venv/bin/python benchmarks/rate_limit_cost.py                     # SQLite in a temporary data dir
    .venv/bin/python benchmarks/rate_limit_cost.py --database-url postgresql://user@host/empty_db

One catalogue (``load_demo``, ``--providers``, seed 1) in one database, one
engine (feedback batched, as a server's), and two apps around it that differ
only in their rate limits:

* **off**: ``rate_limits = "off"`` (nothing counted);
* **on**: ``search=1000000/minute``: every search is counted in the shared
  table (one upsert) and none is refused, so both answer the same searches.

Each round sends the same ``--searches`` requests (``GET /api/v1/search``
through the Flask test client, real postcodes, ``--clients`` different client
addresses) to both apps, alternating which goes first, so the machine's load
falls on both alike; the table gives per-request medians and the difference.
The time spent counting inside the "on" requests is reported too, then
``SharedLimiter.hit`` alone is timed on the same database.  The load
average is printed: the machine may be shared.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic import sample_query_postcodes  # noqa: E402

from findsupport.catalog import CatalogStore  # noqa: E402
from findsupport.catalog.demo import load_demo  # noqa: E402
from findsupport.config import load_settings  # noqa: E402
from findsupport.db import engine_for  # noqa: E402
from findsupport.geo import PostcodeDirectory  # noqa: E402
from findsupport.search.engine import Engine  # noqa: E402
from findsupport.web import create_app  # noqa: E402
from findsupport.web.ratelimit import SharedLimiter, parse_rate_limits  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
POSTCODE_CACHE = Path(os.environ.get("FINDSUPPORT_TEST_CACHE", REPO / ".cache"))
#: A limit no benchmark reaches: every search is counted, none refused.
COUNTED = "search=1000000/minute"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--providers", type=int, default=10_000)
    parser.add_argument("--searches", type=int, default=400, help="searches per app per round")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--clients", type=int, default=200, help="client addresses the searches come from")
    parser.add_argument("--database-url", default=None, help="an empty database (default: SQLite in the data dir)")
    parser.add_argument("--no-feedback", action="store_true", help="log no feedback (no writer thread beside the requests)")
    args = parser.parse_args(argv)

    root = Path(tempfile.mkdtemp(prefix="rate-limit-cost-"))
    values = {"data_dir": root / "data", "cache_dir": POSTCODE_CACHE, "public_url": "https://find.example",
              "reload_check_seconds": 0}
    if args.database_url:
        values["database_url"] = args.database_url
    settings = load_settings({**values, "rate_limits": "off"}, environ={})
    directory = PostcodeDirectory.load(settings.resolved_cache_dir)
    report = load_demo(CatalogStore.open(settings), directory, settings, seed=1, providers=args.providers)
    assert report.ok, report.summary()
    engine = Engine.open(settings, feedback=not args.no_feedback, batch_feedback=True)
    apps = {
        "off": create_app(settings, engine=engine, background=False),
        "on": create_app(load_settings({**values, "rate_limits": COUNTED}, environ={}), engine=engine,
                         background=False),
    }
    clients = {name: app.test_client() for name, app in apps.items()}
    counting: list[float] = []  # seconds in SharedLimiter.hit, within the "on" app's requests
    limiter_in_app = apps["on"].extensions["findsupport"].limiter
    counted_hit = limiter_in_app.hit

    def timed_hit(*args, **kwargs):
        started = time.perf_counter()
        try:
            return counted_hit(*args, **kwargs)
        finally:
            counting.append(time.perf_counter() - started)

    limiter_in_app.hit = timed_hit
    postcodes = sample_query_postcodes(directory, args.searches, seed=7)
    paths = [f"/api/v1/search?postcode={p.replace(' ', '%20')}&radius_km=25" for p in postcodes]
    addresses = [f"10.0.{k // 250}.{k % 250 + 1}" for k in range(args.clients)]

    def run(name: str) -> float:
        client = clients[name]
        started = time.perf_counter()
        for k, path in enumerate(paths):
            response = client.get(path, environ_base={"REMOTE_ADDR": addresses[k % len(addresses)]})
            assert response.status_code == 200, response.get_data(as_text=True)[:300]
        return (time.perf_counter() - started) / len(paths)

    for name in apps:  # warm-up: caches, first connections, the feedback writer's thread
        run(name)
    per_request: dict[str, list[float]] = {"off": [], "on": []}
    counting.clear()
    for round_ in range(args.rounds):
        for name in (("off", "on") if round_ % 2 == 0 else ("on", "off")):
            per_request[name].append(run(name))

    db = engine_for(settings.resolved_database_url)
    limiter = SharedLimiter(parse_rate_limits(COUNTED), db)
    hits = []
    for round_ in range(args.rounds):
        started = time.perf_counter()
        for k in range(args.searches):
            limiter.hit("search", f"{k % args.clients:064x}")
        hits.append((time.perf_counter() - started) / args.searches)
    for app in apps.values():
        app.extensions["findsupport"].close()  # writes the buffered feedback, closes the counts' connections

    off, on = (statistics.median(per_request[name]) * 1000 for name in ("off", "on"))
    print(f"database: {db.dialect.name}; {args.providers:,} providers; {args.rounds} rounds x {args.searches} "
          f"searches per app from {args.clients} clients; load average {os.getloadavg()[0]:.2f}")
    print(f"search request, limits off: {off:.3f} ms (median of rounds; each {', '.join(f'{t * 1000:.2f}' for t in per_request['off'])})")
    print(f"search request, limits on:  {on:.3f} ms (each {', '.join(f'{t * 1000:.2f}' for t in per_request['on'])})")
    print(f"added: {on - off:+.3f} ms per search ({(on / off - 1) * 100:+.1f}%)")
    print(f"of which counting (SharedLimiter.hit in the requests): median {statistics.median(counting) * 1000:.3f} ms, "
          f"mean {statistics.fmean(counting) * 1000:.3f} ms, p99 {statistics.quantiles(counting, n=100)[98] * 1000:.3f} ms")
    print(f"SharedLimiter.hit alone: {statistics.median(hits) * 1000:.3f} ms (median of rounds)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

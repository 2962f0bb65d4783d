"""What counting rate limits in the database adds to a search request, side by side.

Usage::

    .venv/bin/python benchmarks/rate_limit_cost.py                     # SQLite in a temporary data dir
    .venv/bin/python benchmarks/rate_limit_cost.py --database-url postgresql://user@host/empty_db

One catalogue (``load_demo``, ``--providers``, seed 1) in one database, one
engine (feedback batched, as a server's), and two apps around it that differ
only in their rate limits:

* **off**: ``rate_limits = "off"`` (nothing counted);
* **on**: ``search=1000000/minute``: every search is counted (in memory; the
  limiter's thread adds the counts to the shared table every 100 ms in one
  statement) and none is refused, so both answer the same searches.

Each round sends the same ``--searches`` requests (``GET /api/v1/search``
through the Flask test client, real postcodes, ``--clients`` different client
addresses) to both apps, alternating which goes first, so the machine's load
falls on both alike; the table gives per-request medians and the difference.
The time spent counting inside the "on" requests is reported too, then
``SharedLimiter.hit`` alone is timed on the same database.  The load
average is printed: the machine may be shared.

With ``--http`` it measures throughput through real servers instead:
``findsupport serve --workers 2`` (gunicorn) with the rate limits at their
defaults beside the same command with ``FINDSUPPORT_RATE_LIMITS=off``, on
SQLite and, with ``--database-url``, on that PostgreSQL database too (the
same demo catalogue loaded into each).  ``wrk`` drives ``/api/v1/search``
and ``/api/v1/health`` on each server in turn, ``--rounds`` times, every
request from one of ``--clients`` addresses (``X-Forwarded-For``, the
servers trusting one proxy hop), few enough requests each that none is
refused: what is measured is the counting, not the refusing.  Reports per
server the medians of health and search requests per second, search over
health, and search with limits at their defaults over search with limits
off.

    .venv/bin/python benchmarks/rate_limit_cost.py --http [--database-url postgresql://...] [--providers 10000]

With ``--flush 1,4,54`` it times ``SharedLimiter.flush`` alone: each size
(distinct clients a flush, one row each) flushed ``--flushes`` times on a
fresh table after a window's worth of earlier flushes, CPU per flush
(``time.process_time``, the mean less 10% tails), each measurement in a
process of its own.  With ``--before-tree DIR`` (``git archive REV
findsupport | tar -x -C DIR``) that older package is measured too, the two
alternating, ``--rounds`` times:

    .venv/bin/python benchmarks/rate_limit_cost.py --flush 1,4,54 --rounds 3 --before-tree /tmp/before [--database-url ...]
"""

from __future__ import annotations

import argparse
import json
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
    parser.add_argument("--http", action="store_true",
                        help="throughput of real servers (gunicorn, wrk), limits at their defaults against off")
    parser.add_argument("--seconds", type=float, default=5.0, help="with --http: per wrk measurement")
    parser.add_argument("--connections", type=int, default=32, help="with --http: wrk connections")
    parser.add_argument("--flush", default=None, help="time SharedLimiter.flush alone, of these numbers of rows (e.g. 1,4,54)")
    parser.add_argument("--flushes", type=int, default=300, help="with --flush: flushes timed per size")
    parser.add_argument("--before-tree", type=Path, default=None,
                        help="with --flush: an older findsupport (git archive REV findsupport | tar -x -C DIR) measured alternately")
    parser.add_argument("--flush-one", type=int, default=None, help=argparse.SUPPRESS)  # a single measurement, in its own process
    args = parser.parse_args(argv)
    if args.flush_one is not None:
        return flush_one(args)
    if args.flush:
        return flush_main(args)
    if args.http:
        return http_main(args)

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
    limiter.close()
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


def flush_one(args: argparse.Namespace) -> int:
    """Print the CPU microseconds of one ``SharedLimiter.flush`` of ``--flush-one`` rows (whichever package imports)."""
    import sqlalchemy as sa

    from findsupport.db import create_db_engine
    from findsupport.web.ratelimit import rate_limit_counts

    root = Path(tempfile.mkdtemp(prefix="rate-limit-flush-"))
    db = create_db_engine(args.database_url or f"sqlite:///{root / 'counts.sqlite3'}")
    limiter = SharedLimiter(parse_rate_limits(COUNTED), db, flush_every_s=None)
    with db.begin() as conn:
        conn.execute(sa.delete(rate_limit_counts))  # a PostgreSQL database is reused: start empty
    rows, clients = args.flush_one, [f"{k:064x}" for k in range(2000)]
    k, now = 0, 1_000_000.0

    def flush_of(now: float) -> None:
        nonlocal k
        for _ in range(rows):
            limiter.hit("search", clients[k % len(clients)], now=now)
            k += 1
        limiter.flush(now=now)

    for i in range(600):  # a minute of flushes ten a second: the table holds a window's rows
        flush_of(now + i * 0.1)
    now += 60.0
    times = []
    for i in range(args.flushes):
        started = time.process_time()
        flush_of(now + i * 0.1)
        times.append(time.process_time() - started)
    times.sort()
    cut = len(times) // 10
    print(json.dumps({"rows": rows, "cpu_us": statistics.fmean(times[cut:len(times) - cut]) * 1e6}))
    return 0


def flush_main(args: argparse.Namespace) -> int:
    """``--flush``: each size in its own process, this package and ``--before-tree`` alternating."""
    import subprocess

    sizes = [int(x) for x in args.flush.split(",")]
    trees = {"before": args.before_tree, "now": None} if args.before_tree else {"now": None}
    results: dict[tuple[str, int], list[float]] = {}
    for round_ in range(args.rounds):
        for label in (list(trees) if round_ % 2 == 0 else list(reversed(trees))):
            tree = trees[label]
            env = {**os.environ, **({"PYTHONPATH": str(tree)} if tree else {})}
            for rows in sizes:
                command = [sys.executable, __file__, "--flush-one", str(rows), "--flushes", str(args.flushes),
                           *(["--database-url", args.database_url] if args.database_url else [])]
                out = subprocess.run(command, env=env, cwd=tree or REPO, check=True, capture_output=True, text=True).stdout
                results.setdefault((label, rows), []).append(json.loads(out.splitlines()[-1])["cpu_us"])
    print(f"database: {'PostgreSQL' if args.database_url else 'SQLite'}; CPU per flush (us), "
          f"each round's mean less 10% tails, {args.rounds} rounds; load average {os.getloadavg()[0]:.2f}")
    for rows in sizes:
        line = "; ".join(f"{label} " + " / ".join(f"{t:,.0f}" for t in results[(label, rows)]) for label in trees)
        ratio = (f"  (now/before {statistics.median(results[('now', rows)]) / statistics.median(results[('before', rows)]):.2f})"
                 if args.before_tree else "")
        print(f"{rows:>5} rows: {line}{ratio}")
    return 0


#: With ``--http``: seconds of load before each measurement (connections open, caches warm).
HTTP_WARM_UP_S = 1.0
#: With ``--http``: the wrk script; each request comes from a random one of ``CLIENTS`` addresses.
_WRK_SCRIPT = """
local paths = {%s}
local clients = %d
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
request = function()
  local k = math.random(0, clients - 1)
  local address = string.format("10.%%d.%%d.%%d", math.floor(k / 62500) %% 250, math.floor(k / 250) %% 250,
                                k %% 250 + 1)
  return wrk.format("GET", paths[math.random(1, #paths)],
                    {["Accept"] = "application/json", ["X-Forwarded-For"] = address})
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %%d %%.3f %%.3f %%d\\n", summary.requests, summary.duration / 1e6,
    latency:percentile(99) / 1e3, summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.timeout))
end
"""


def http_main(args: argparse.Namespace) -> int:
    """Servers with limits at their defaults and off, SQLite and PostgreSQL, measured in turn with wrk."""
    import signal
    import socket
    import subprocess
    import urllib.request

    root = Path(tempfile.mkdtemp(prefix="rate-limit-http-"))
    backends = {"sqlite": None, **({"postgresql": args.database_url} if args.database_url else {})}
    directory = PostcodeDirectory.load(POSTCODE_CACHE)
    for name, url in backends.items():
        values = {"data_dir": root / name, "cache_dir": POSTCODE_CACHE, **({"database_url": url} if url else {})}
        settings = load_settings({**values, "rate_limits": "off"}, environ={})
        report = load_demo(CatalogStore.open(settings), directory, settings, seed=1, providers=args.providers)
        assert report.ok, report.summary()
    postcodes = sample_query_postcodes(directory, 2000, seed=7)
    radii = (10, 25, 25, 50)
    paths = [f"/api/v1/search?postcode={p.replace(' ', '%20')}&radius_km={radii[k % 4]}"
             for k, p in enumerate(postcodes)]

    def free_port() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    servers: dict[str, tuple[int, subprocess.Popen]] = {}
    try:
        for name, url in backends.items():
            for limits in ("default", "off"):
                port = free_port()
                env = {**os.environ, "FINDSUPPORT_DATA_DIR": str(root / name),
                       "FINDSUPPORT_CACHE_DIR": str(POSTCODE_CACHE),
                       "FINDSUPPORT_TRUST_PROXY": "true", "FINDSUPPORT_LOG_LEVEL": "WARNING"}
                env.pop("FINDSUPPORT_RATE_LIMITS", None)
                env.pop("FINDSUPPORT_DATABASE_URL", None)
                if limits == "off":
                    env["FINDSUPPORT_RATE_LIMITS"] = "off"
                if url:
                    env["FINDSUPPORT_DATABASE_URL"] = url
                command = [str(Path(sys.executable).parent / "findsupport"), "serve", "--quiet", "--workers", "2",
                           "--port", str(port)]
                servers[f"{name} {limits}"] = (port, subprocess.Popen(command, env=env, start_new_session=True))
        for label, (port, process) in servers.items():
            deadline = time.monotonic() + 300
            while True:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"server {label} did not start")
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=5):
                        break
                except OSError:
                    time.sleep(0.5)
        script = root / "load.lua"
        script.write_text(_WRK_SCRIPT % (",".join(json.dumps(p) for p in paths), args.clients))
        health_script = root / "health.lua"
        health_script.write_text(_WRK_SCRIPT % (json.dumps("/api/v1/health"), args.clients))

        def wrk(port: int, lua: Path) -> tuple[float, float, int]:
            base = ["wrk", "-t", "2", "-c", str(args.connections), "-s", str(lua), f"http://127.0.0.1:{port}"]
            subprocess.run([*base[:1], "-d", f"{HTTP_WARM_UP_S:g}s", *base[1:]], check=True, capture_output=True)
            out = subprocess.run([*base[:1], "-d", f"{args.seconds:g}s", *base[1:]], check=True, capture_output=True,
                                 text=True).stdout
            requests, duration, p99, errors = next(x for x in out.splitlines() if x.startswith("RESULT ")).split()[1:]
            return int(requests) / float(duration), float(p99), int(errors)

        runs: dict[str, list[dict]] = {label: [] for label in servers}
        load_before = os.getloadavg()[0]
        for round_ in range(args.rounds):
            # Alternate the order each round, so a change in the machine's load falls on every server alike.
            for label in (list(servers) if round_ % 2 == 0 else list(reversed(servers))):
                port = servers[label][0]
                health, _, health_errors = wrk(port, health_script)
                search, p99, search_errors = wrk(port, script)
                runs[label].append({"health": health, "search": search, "p99_ms": p99,
                                    "errors": health_errors + search_errors})
    finally:
        for _, process in servers.values():
            os.killpg(process.pid, signal.SIGTERM)
        for _, process in servers.values():
            process.wait(timeout=60)

    median = statistics.median
    print(f"{args.providers:,} providers; findsupport serve --workers 2; wrk {args.connections} connections, "
          f"{args.seconds:g} s each; {args.rounds} rounds; {args.clients} client addresses; "
          f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    print(f"{'server (limits)':>22} {'health/s':>9} {'search/s':>9} {'search/health':>13} {'p99 ms':>7} errors")
    summary = {}
    for label, rows in runs.items():
        row = {"health_per_s": round(median(r["health"] for r in rows), 1),
               "search_per_s": round(median(r["search"] for r in rows), 1),
               "search_over_health": round(median(r["search"] / r["health"] for r in rows), 3),
               "search_p99_ms": median(r["p99_ms"] for r in rows), "errors": sum(r["errors"] for r in rows),
               "search_per_s_each": [round(r["search"], 1) for r in rows]}
        summary[label] = row
        print(f"{label:>22} {row['health_per_s']:>9.1f} {row['search_per_s']:>9.1f} {row['search_over_health']:>13.3f} "
              f"{row['search_p99_ms']:>7.1f} {row['errors']}")
    for name in backends:
        on, off = runs[f"{name} default"], runs[f"{name} off"]
        # Each round's pair was measured back to back: the median of the pairs' ratios.
        ratio = median(a["search"] / b["search"] for a, b in zip(on, off))
        summary[f"{name} default/off"] = round(ratio, 3)
        print(f"{name}: search with limits at their defaults / off = {ratio:.3f} (median of rounds)")
    print(json.dumps(summary))
    return 1 if any(isinstance(r, dict) and r["errors"] for r in summary.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())

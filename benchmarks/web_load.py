"""Throughput of ``GET /api/v1/search`` against ``GET /api/v1/health`` of the same server, under load.

Serves the real app with gunicorn (``-w 2`` sync workers, as a small
production box would) on a catalogue of synthetic providers (100,000 by
default, in ``benchmarks/out/web-load-N/``: copied from the start-up
benchmark's ``benchmarks/out/startup-N/`` when that exists, otherwise built
once with the demo generator), with rate limits off, and drives it from
``--connections`` connections for ``--seconds`` per measurement.  Every
search is logged as a feedback session, as in production.  Two search
scenarios are measured, each against health:

**distinct queries** (``search``, the main figure): random real postcodes
near the providers, with random roles, events, slots and radii, so the engine
does real work.  The servers keep the ranked pages of repeated queries
(``search_cache_entries``), so a pool cycled over and over would measure the
cache's hit rate: instead every server walks one pool of ``--distinct-pool``
deduplicated URLs (100,000 by default, larger than all the searches of a run,
warm-ups included) in order, each measurement continuing where the last one
on that server stopped, so no query repeats on a server within a run (a run
that exhausts the pool says so, with how many searches repeated).

**widget traffic** (``widget``): what clubs' sites send.  ``--clubs`` clubs
(300), each at a real postcode near providers with the preset a club puts in
its ``widget.js`` line (``/widget`` offers postcode, role, event and mode),
asking exactly what ``/embed``'s ``finder.js`` requests when it opens with a
preset: ``GET /api/v1/search?postcode=…&role=…&event=…&mode=…`` in its
parameter order, with the default limit (10) and radius (25 km) left out.
Page views come from the clubs with Zipf-like popularity (the club of rank
``r`` is drawn in proportion to ``1 / r ** --zipf``), so most of this traffic
repeats a handful of queries, as it does in production.

The figure that matters is the **ratio** of search to health throughput on
the same server (issue 13 asks for at least 0.5): it cancels most of what a
shared machine's other load does to absolute numbers.  One server per
``--feedback-batch-ms`` value runs (``0``: each search's feedback written
synchronously, as before; ``100``: batched off the request path, the
default), all started before measuring; health, distinct search and widget
search are measured in turn on each, ``--repeats`` times, and the medians are
reported.

Reports, per server, requests per second of health and each scenario, each
scenario's ratio to health, search p50/p99 latency and errors (anything but
200), as a table and as one JSON line.  With ``--wrk`` the load comes from
``wrk`` (``apt-get install wrk``), whose C client takes far less of a small
machine's CPU away from the server than Python threads; its script reads the
URLs from a file (a Lua table of 100,000 string constants is past LuaJIT's
limit) and hands each thread every ``threads``-th one from the run's start.

With ``--page-free`` each feedback mode also gets a server whose pages are
built and encoded once and then handed back for every search
(``benchmarks/page_free_app.py``): everything else a search does is real, so
its ratio is the ceiling that faster page building could reach.

With ``--wrk`` each measurement also counts the CPU it cost: the server's
processes (master and workers, read from ``/proc``) and wrk's, per request
answered.  Health's CPU per request over a search's (``cpu_ratio``) is the
same figure as the throughput ratio on an idle machine, and moves less
when colleagues' jobs share the cores.

With ``--before-tree DIR`` (``git archive HEAD findsupport | tar -x -C DIR``)
each feedback mode also gets a server running that older copy of the package,
on a copy of the data dir at the schema it knows (``startup.before_copy``),
measured in the same rounds: before and after side by side.

    python benchmarks/web_load.py --wrk [--providers 100000] [--connections 32] [--seconds 5] [--repeats 5]
                                        [--workers 2] [--feedback-batch-ms 0,100] [--before-tree DIR] [--page-free]
                                        [--distinct-pool 100000] [--clubs 300] [--zipf 1.0]
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import platform
import resource
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from startup import before_copy  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "benchmarks" / "out"
CACHE = REPO / ".cache"
#: Seconds of load before measuring starts (connections open, caches warm).
WARM_UP_S = 3.0
#: How long gunicorn may take to build the engine before we give up.
START_TIMEOUT_S = 600.0
#: Distinct search URLs prepared up front (deduplicated), more than a run's searches on one server:
#: at ~2,000 searches a second, 5 repeats of 3 s of warm-up and 5 s of measurement take 80,000.
DISTINCT_POOL = 100_000
#: Clubs embedding the widget, and the draws of their page views prepared up front (cycled).
CLUBS = 300
WIDGET_VIEWS = 200_000
#: The exponent of the clubs' popularity (1: the classic Zipf; a few clubs have most views).
ZIPF_EXPONENT = 1.0


#: Where health is served.
HEALTH_URL = "/api/v1/health"


def prepare_data_dir(providers: int) -> Path:
    """A data dir holding ``providers`` synthetic providers (built or copied once, then reused)."""
    from findsupport.catalog import CatalogStore, load_demo
    from findsupport.config import load_settings
    from findsupport.geo import PostcodeDirectory

    data_dir = OUT / f"web-load-{providers}"
    startup = OUT / f"startup-{providers}" / "findsupport.sqlite3"
    if not (data_dir / "findsupport.sqlite3").exists() and startup.exists():
        # The start-up benchmark's catalogue (benchmarks/synthetic.py): a copy, since this one logs feedback.
        print(f"copying {providers:,} providers from {startup.parent} (once) ...", file=sys.stderr)
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with sqlite3.connect(f"file:{startup}?mode=ro", uri=True) as source, \
                sqlite3.connect(data_dir / "findsupport.sqlite3") as target:
            source.backup(target)
    settings = load_settings({"data_dir": data_dir, "cache_dir": CACHE, "demo_providers": providers}, environ={})
    store = CatalogStore.open(settings)
    if not store.has_catalog():
        print(f"building {providers:,} synthetic providers in {data_dir} (once) ...", file=sys.stderr)
        directory = PostcodeDirectory.load(settings.resolved_cache_dir)
        report = load_demo(store, directory, settings)
        print(report.summary(), file=sys.stderr)
    return data_dir


@dataclass
class Pool:
    """Request URLs, handed out in order (``urls[k % len(urls)]``) from where the last run on a server stopped."""

    name: str
    urls: list[str]
    _file: Path | None = None

    def file(self) -> Path:
        """The URLs one a line (what the wrk script reads), written on first use."""
        if self._file is None:
            self._file = OUT / f"web_load-{self.name}.txt"
            self._file.write_text("".join(u + "\n" for u in self.urls))
        return self._file


def _catalog_and_directory(data_dir: Path):
    from findsupport.catalog import CatalogStore
    from findsupport.config import load_settings
    from findsupport.geo import PostcodeDirectory

    settings = load_settings({"data_dir": data_dir, "cache_dir": CACHE}, environ={})
    return CatalogStore.open(settings).public_catalog(), PostcodeDirectory.load(settings.resolved_cache_dir)


def _postcodes_near_providers(catalog, directory, size: int, rng: np.random.Generator) -> list[str]:
    """The postcodes nearest points a few km from random providers: where coaches (and clubs) are."""
    anchors = rng.choice(len(catalog), size)
    east = catalog.x[anchors] + rng.normal(0, 4000, size)
    north = catalog.y[anchors] + rng.normal(0, 4000, size)
    nearest, _ = directory.nearest_many(east, north)
    return [directory.postcode_at(int(row)) for row in nearest]


def query_pool(data_dir: Path, size: int, seed: int, *, catalog_and_directory=None) -> list[str]:
    """``size`` distinct search URLs at real postcodes near providers, with varied filters."""
    from findsupport import taxonomy

    catalog, directory = catalog_and_directory or _catalog_and_directory(data_dir)
    rng = np.random.default_rng(seed)
    events = [*taxonomy.EVENT_GROUPS, *taxonomy.EVENTS]
    urls: dict[str, None] = {}
    while len(urls) < size:
        # A little more than is missing: random draws sometimes repeat (same postcode and filters).
        batch = (size - len(urls)) * 21 // 20 + 10
        for postcode in _postcodes_near_providers(catalog, directory, batch, rng):
            params = {"postcode": postcode}
            if rng.random() < 0.7:
                params["role"] = taxonomy.ROLES[rng.integers(len(taxonomy.ROLES))]
            if rng.random() < 0.6:
                params["event"] = events[rng.integers(len(events))]
            if rng.random() < 0.4:
                params["slots"] = ",".join(rng.choice(taxonomy.SLOTS, rng.integers(1, 4), replace=False))
            params["radius_km"] = str(rng.choice([10, 25, 25, 25, 50]))
            urls["/api/v1/search?" + urlencode(params)] = None
    return list(urls)[:size]


def widget_pool(data_dir: Path, clubs: int, views: int, exponent: float, seed: int, *,
                catalog_and_directory=None) -> tuple[list[str], list[str]]:
    """The clubs' preset searches, and ``views`` page views drawn from them by Zipf-like popularity.

    Each club's search is what ``finder.js`` sends for a widget preset
    (``paramsFromUrl`` → ``apiQuery``): the preset parameters in the finder's
    order (postcode, role, event, mode), no limit, offset or radius (the
    defaults).  Returns ``(clubs' URLs, views' URLs)``.
    """
    from findsupport import taxonomy

    catalog, directory = catalog_and_directory or _catalog_and_directory(data_dir)
    rng = np.random.default_rng(seed + 1)
    events = [*taxonomy.EVENT_GROUPS, *taxonomy.EVENTS]
    presets: dict[str, None] = {}
    while len(presets) < clubs:
        for postcode in _postcodes_near_providers(catalog, directory, clubs - len(presets), rng):
            params = {"postcode": postcode}
            if rng.random() < 0.5:  # a club looking for one kind of help; otherwise any role
                params["role"] = taxonomy.ROLES[rng.integers(len(taxonomy.ROLES))]
            if rng.random() < 0.7:  # most clubs are about their own event group
                params["event"] = events[rng.integers(len(events))]
            if rng.random() < 0.25:  # "in person or online"; in person is the default, left out
                params["mode"] = "any"
            presets["/api/v1/search?" + urlencode(params)] = None
    urls = list(presets)
    weights = 1.0 / np.arange(1, clubs + 1) ** exponent
    draws = rng.choice(clubs, views, p=weights / weights.sum())
    return urls, [urls[k] for k in draws]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: The WSGI application gunicorn serves: the real app, or the page-free ceiling (``page_free_app.py``).
REAL_APP = "findsupport.web:create_app()"
PAGE_FREE_APP = "page_free_app:app"


def start_gunicorn(data_dir: Path, port: int, workers: int, feedback_batch_ms: float,
                   tree: Path | None = None, app: str = REAL_APP) -> subprocess.Popen:
    """gunicorn serving ``data_dir``; ``tree`` serves another copy of the package (an older commit's)."""
    paths = ([str(tree)] if tree is not None else []) + ([str(Path(__file__).resolve().parent)] if app == PAGE_FREE_APP else [])
    env = {
        **os.environ,
        **({"PYTHONPATH": os.pathsep.join(paths)} if paths else {}),
        "FINDSUPPORT_DATA_DIR": str(data_dir),
        "FINDSUPPORT_CACHE_DIR": str(CACHE),
        "FINDSUPPORT_RATE_LIMITS": "off",
        "FINDSUPPORT_LOG_LEVEL": "WARNING",
        "FINDSUPPORT_FEEDBACK_WRITE_BATCH_MS": f"{feedback_batch_ms:g}",
    }
    command = [
        sys.executable, "-m", "gunicorn", "-c", "python:findsupport.web.serving", "-w", str(workers),
        "-b", f"127.0.0.1:{port}", "--backlog", "2048", "--timeout", "120", "--log-level", "warning",
        app,
    ]
    return subprocess.Popen(command, env=env, cwd=tree or REPO, start_new_session=True)


def wait_until_up(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited with {process.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", HEALTH_URL)
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit("gunicorn did not come up in time")


def run_load(port: int, pool: Pool, first: int, connections: int, seconds: float) -> tuple[dict, int]:
    """``connections`` threads sending ``pool``'s URLs back to back from ``first`` on; the measured window's latencies.

    Returns the figures and how many URLs were taken (warm-up included).
    """
    start = time.monotonic()
    measure_from = start + WARM_UP_S
    stop_at = measure_from + seconds
    latencies: list[list[float]] = [[] for _ in range(connections)]
    errors = [0] * connections
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    taken = itertools.count(first)  # next() on a count is atomic: each URL goes to one client
    urls, n = pool.urls, len(pool.urls)

    def client(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            now = time.monotonic()
            if now >= stop_at:
                break
            url = urls[next(taken) % n]
            measured = now >= measure_from
            began = time.perf_counter()
            try:
                conn.request("GET", url, headers={"Accept": "application/json"})
                response = conn.getresponse()
                response.read()
                status = response.status
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
            except (OSError, http.client.HTTPException):
                conn.close()
                status = 0
            elapsed = time.perf_counter() - began
            if measured:
                latencies[k].append(elapsed)
                if status != 200:
                    errors[k] += 1
                    with lock:
                        statuses[status] = statuses.get(status, 0) + 1
        conn.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    all_latencies = np.array([x for per in latencies for x in per]) * 1000.0
    return {
        "requests": int(all_latencies.size),
        "seconds": seconds,
        "requests_per_s": round(all_latencies.size / seconds, 1),
        "p50_ms": round(float(np.percentile(all_latencies, 50)), 1),
        "p90_ms": round(float(np.percentile(all_latencies, 90)), 1),
        "p99_ms": round(float(np.percentile(all_latencies, 99)), 1),
        "errors": int(sum(errors)),
        "error_statuses": statuses,
    }, next(taken) - first


#: wrk's script; its arguments (after ``--``) are the URL file, the run's first index and the number of threads.
#: Thread ``t`` (numbered by ``setup``) sends URLs ``first + t``, ``first + t + threads``, ...; ``done``
#: reports the most any thread sent, so the next run starts past every URL this one used.
_WRK_SCRIPT = """
local headers = {["Accept"] = "application/json"}
local threads = {}
id, counter, first, stride, n, paths = 0, 0, 0, 1, 0, {}
setup = function(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
init = function(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  n = #paths
  first = tonumber(args[2])
  stride = tonumber(args[3])
end
request = function()
  local k = (first + counter * stride + id) % n
  counter = counter + 1
  return wrk.format("GET", paths[k + 1], headers)
end
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout
  local most = 0
  for _, thread in ipairs(threads) do
    local sent = thread:get("counter")
    if sent > most then most = sent end
  end
  io.write(string.format("RESULT %d %.3f %.3f %.3f %.3f %d %d\\n", summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1e3, latency:percentile(90) / 1e3, latency:percentile(99) / 1e3, errors, most))
end
"""


def group_cpu_seconds(pgid: int) -> float:
    """User and system CPU seconds of the live processes in process group ``pgid`` (a server's master and workers)."""
    ticks = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue  # gone meanwhile
        fields = stat[stat.rindex(")") + 2:].split()  # the name may hold spaces; the fields after it do not
        if int(fields[2]) == pgid:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_wrk(port: int, pool: Pool, first: int, connections: int, seconds: float,
            pgid: int | None = None) -> tuple[dict, int]:
    """The same load from wrk (one thread per CPU, ``connections`` connections); figures and URLs taken.

    With ``pgid`` (the server's process group) the figures include the CPU
    the measured run cost the server and wrk, per request answered.
    """
    script = OUT / "web_load.lua"
    script.write_text(_WRK_SCRIPT)
    urls_file = pool.file()
    threads = min(connections, os.cpu_count() or 1)

    def wrk(duration: float, start: int) -> tuple[list[str], int]:
        out = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration:g}s", "-s", str(script),
                              f"http://127.0.0.1:{port}", "--", str(urls_file), str(start), str(threads)],
                             check=True, capture_output=True, text=True).stdout
        fields = next(x for x in out.splitlines() if x.startswith("RESULT ")).split()[1:]
        return fields, int(fields[-1]) * threads

    # Warm up (connections, caches), then measure, each run past the URLs the last one sent.
    _, warm = wrk(WARM_UP_S, first)
    cpu_before = (group_cpu_seconds(pgid), _children_cpu_seconds()) if pgid is not None else None
    fields, measured = wrk(seconds, first + warm)
    requests, duration, p50, p90, p99, errors, _ = fields
    cpu = {}
    if cpu_before is not None:
        spent = group_cpu_seconds(pgid) - cpu_before[0] + _children_cpu_seconds() - cpu_before[1]
        cpu = {"cpu_us_per_request": round(spent / max(int(requests), 1) * 1e6, 1)}
    return {
        **cpu,
        "requests": int(requests),
        "seconds": round(float(duration), 1),
        "requests_per_s": round(int(requests) / float(duration), 1),
        "p50_ms": round(float(p50), 1),
        "p90_ms": round(float(p90), 1),
        "p99_ms": round(float(p99), 1),
        "errors": int(errors),
        "load_generator": "wrk",
    }, warm + measured


#: The measurements of a round, in order: health, then each search scenario.
SCENARIOS = ("search", "widget")


def measure(runner, port: int, pools: dict[str, Pool], positions: dict[str, int], connections: int,
            seconds: float, pgid: int) -> dict:
    """Health, then each scenario, once on one server; each scenario's ratio to that health run.

    ``positions`` holds where each pool's next run starts on this server
    (moved on here).  ``search_repeated`` counts distinct-pool URLs sent a
    second time on this server (0 unless the pool ran out).
    """
    cpu = {"pgid": pgid} if runner is run_wrk else {}
    health, _ = runner(port, pools["health"], 0, connections, seconds, **cpu)
    row = {"health_requests_per_s": health["requests_per_s"], "errors": health["errors"]}
    if cpu:
        row["health_cpu_us"] = health["cpu_us_per_request"]
    for name in SCENARIOS:
        pool = pools[name]
        result, used = runner(port, pool, positions[name], connections, seconds, **cpu)
        positions[name] += used
        row[f"{name}_requests_per_s"] = result["requests_per_s"]
        row[f"{name}_ratio"] = result["requests_per_s"] / health["requests_per_s"]
        row[f"{name}_p50_ms"] = result["p50_ms"]
        row[f"{name}_p99_ms"] = result["p99_ms"]
        row[f"{name}_requests"] = result["requests"]
        if cpu:
            row[f"{name}_cpu_us"] = result["cpu_us_per_request"]
            row[f"{name}_cpu_ratio"] = health["cpu_us_per_request"] / result["cpu_us_per_request"]
        row["errors"] += result["errors"]
    row["search_repeated"] = max(0, positions["search"] - len(pools["search"].urls))
    return row


def load_average() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--providers", type=int, default=100_000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5.0, help="per measurement")
    parser.add_argument("--repeats", type=int, default=5, help="rounds of health and both searches per server (medians reported)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--feedback-batch-ms", default="0,100",
                        help="comma-separated feedback_write_batch_ms values, one server each (0: synchronous)")
    parser.add_argument("--wrk", action="store_true", help="generate the load with wrk instead of Python threads")
    parser.add_argument("--before-tree", type=Path, help="also serve an older findsupport (git archive HEAD findsupport "
                        "| tar -x -C DIR) on a copy of the data dir, measured in the same rounds")  # fmt: skip
    parser.add_argument("--page-free", action="store_true", help="also serve benchmarks/page_free_app.py (pages built and "
                        "encoded once, then reused): the ceiling faster page building could reach")  # fmt: skip
    parser.add_argument("--distinct-pool", type=int, default=DISTINCT_POOL,
                        help="distinct search URLs, walked in order on each server (never repeated unless exhausted)")
    parser.add_argument("--clubs", type=int, default=CLUBS, help="clubs whose widget preset searches make the widget traffic")
    parser.add_argument("--zipf", type=float, default=ZIPF_EXPONENT, help="exponent of the clubs' popularity")
    args = parser.parse_args(argv)
    modes = [float(x) for x in args.feedback_batch_ms.split(",") if x.strip()]
    # One server per (tree, feedback mode); the older tree's label says so.
    trees: list[tuple[str, Path | None]] = [("", None)]
    if args.before_tree:
        trees.insert(0, ("before ", args.before_tree.resolve()))

    data_dir = prepare_data_dir(args.providers)
    began = time.perf_counter()
    catalog_and_directory = _catalog_and_directory(data_dir)
    club_urls, views = widget_pool(data_dir, args.clubs, WIDGET_VIEWS, args.zipf, args.seed,
                                   catalog_and_directory=catalog_and_directory)
    pools = {
        "health": Pool("health", [HEALTH_URL]),
        "search": Pool("search", query_pool(data_dir, args.distinct_pool, args.seed, catalog_and_directory=catalog_and_directory)),
        "widget": Pool("widget", views),
    }
    del catalog_and_directory
    top = set(club_urls[:10])
    print(f"query pools built in {time.perf_counter() - began:.1f} s: {len(pools['search'].urls):,} distinct searches; "
          f"widget traffic from {len(club_urls)} clubs (Zipf {args.zipf:g}: the top club has {views.count(club_urls[0]) / len(views):.0%} "
          f"of the views, the top ten {sum(v in top for v in views) / len(views):.0%})", file=sys.stderr)
    runner = run_wrk if args.wrk else run_load
    servers = {}
    positions: dict[str, dict[str, int]] = {}
    results: dict[str, list[dict]] = {}
    load_before = load_average()
    try:
        # All servers up before any measuring, so each is measured under the same background.
        for prefix, tree in trees:
            served = before_copy(data_dir, tree) if tree is not None else data_dir
            for mode in modes:
                for app in [REAL_APP] + ([PAGE_FREE_APP] if args.page_free and tree is None else []):
                    port = free_port()
                    name = f"{prefix}{'page-free ' if app == PAGE_FREE_APP else ''}{mode:g}"
                    servers[name] = (port, start_gunicorn(served, port, args.workers, mode, tree, app))
                    positions[name] = {scenario: 0 for scenario in SCENARIOS}
        for port, server in servers.values():
            wait_until_up(port, server)
        for round_ in range(args.repeats):
            for name, (port, server) in servers.items():
                results.setdefault(name, []).append(
                    measure(runner, port, pools, positions[name], args.connections, args.seconds, server.pid))
    finally:
        for _, server in servers.values():
            os.killpg(server.pid, signal.SIGTERM)
        for _, server in servers.values():
            server.wait(timeout=60)
    median = statistics.median
    summary = {}
    print(f"/api/v1/search vs /api/v1/health, {args.providers:,} providers, gunicorn -w {args.workers}, "
          f"{args.connections} connections, {args.seconds:g} s each, {args.repeats} repeats (medians); "
          f"load average {load_before} before, {load_average()} after")
    print("search: distinct queries, never repeated on a server; widget: {} clubs' preset searches, Zipf {:g}".format(
        len(club_urls), args.zipf))
    print(f"{'server (feedback batch ms)':>26} {'health/s':>9} {'search/s':>9} {'ratio':>6} {'p50 ms':>7} {'p99 ms':>7}"
          f" {'widget/s':>9} {'ratio':>6} {'p50 ms':>7} {'p99 ms':>7} errors")
    for name, runs in results.items():
        row: dict = {"server": name, "health_requests_per_s": median(r["health_requests_per_s"] for r in runs)}
        for scenario in SCENARIOS:
            row[f"{scenario}_requests_per_s"] = median(r[f"{scenario}_requests_per_s"] for r in runs)
            row[f"{scenario}_ratio"] = round(median(r[f"{scenario}_ratio"] for r in runs), 3)
            row[f"{scenario}_ratios"] = [round(r[f"{scenario}_ratio"], 3) for r in runs]
            row[f"{scenario}_p50_ms"] = median(r[f"{scenario}_p50_ms"] for r in runs)
            row[f"{scenario}_p99_ms"] = median(r[f"{scenario}_p99_ms"] for r in runs)
            row[f"{scenario}_requests"] = sum(r[f"{scenario}_requests"] for r in runs)
            if args.wrk:
                row[f"{scenario}_cpu_us"] = median(r[f"{scenario}_cpu_us"] for r in runs)
                row[f"{scenario}_cpu_ratio"] = round(median(r[f"{scenario}_cpu_ratio"] for r in runs), 3)
                row[f"{scenario}_cpu_ratios"] = [round(r[f"{scenario}_cpu_ratio"], 3) for r in runs]
        if args.wrk:
            row["health_cpu_us"] = median(r["health_cpu_us"] for r in runs)
        # The figures earlier versions of this benchmark reported under these names.
        row["ratio"], row["ratios"] = row["search_ratio"], row["search_ratios"]
        row["errors"] = sum(r["errors"] for r in runs)
        row["search_urls_sent"] = positions[name]["search"]
        row["search_repeated"] = runs[-1]["search_repeated"]
        summary[name] = row
        print(f"{name:>26} {row['health_requests_per_s']:>9.1f} {row['search_requests_per_s']:>9.1f} {row['search_ratio']:>6.3f} "
              f"{row['search_p50_ms']:>7.1f} {row['search_p99_ms']:>7.1f} {row['widget_requests_per_s']:>9.1f} "
              f"{row['widget_ratio']:>6.3f} {row['widget_p50_ms']:>7.1f} {row['widget_p99_ms']:>7.1f} "
              f"{row['errors']} of {row['search_requests'] + row['widget_requests']} searches")
        if args.wrk:
            print(f"{'':>26} CPU a request (server and wrk): health {row['health_cpu_us']:.0f} µs, search "
                  f"{row['search_cpu_us']:.0f} µs (ratio {row['search_cpu_ratio']:.3f}), widget {row['widget_cpu_us']:.0f} µs "
                  f"(ratio {row['widget_cpu_ratio']:.3f})")
        if row["search_repeated"]:
            print(f"{'':>26} the distinct pool ran out: {row['search_repeated']:,} searches repeated "
                  f"(raise --distinct-pool above {row['search_urls_sent']:,})")
    print(json.dumps({
        "servers": summary,
        "providers": args.providers,
        "connections": args.connections,
        "workers": args.workers,
        "seconds": args.seconds,
        "repeats": args.repeats,
        "distinct_pool": len(pools["search"].urls),
        "clubs": len(club_urls),
        "zipf": args.zipf,
        "load_generator": "wrk" if args.wrk else "python threads",
        "load_average": [load_before, load_average()],
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
    }))
    return 1 if any(row["errors"] for row in summary.values()) else 0


if __name__ == "__main__":
    sys.exit(main())

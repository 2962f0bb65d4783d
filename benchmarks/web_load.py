"""Throughput of ``GET /api/v1/search`` against ``GET /api/v1/health`` of the same server, under load.

Serves the real app with gunicorn (``-w 2`` sync workers, as a small
production box would) on a catalogue of synthetic providers (100,000 by
default, in ``benchmarks/out/web-load-N/``: copied from the start-up
benchmark's ``benchmarks/out/startup-N/`` when that exists, otherwise built
once with the demo generator), with rate limits off, and drives it from
``--connections`` connections for ``--seconds`` per measurement.  Search
queries are random real postcodes near the providers, with random roles,
events, slots and radii, so the engine does real work and every search is
logged as a feedback session, as in production.

The figure that matters is the **ratio** of search to health throughput on
the same server (issue 13 asks for at least 0.5): it cancels most of what a
shared machine's other load does to absolute numbers.  One server per
``--feedback-batch-ms`` value runs (``0``: each search's feedback written
synchronously, as before; ``100``: batched off the request path, the
default), all started before measuring; health and search are measured
alternately on each, ``--repeats`` times, and the medians are reported.

Reports, per server, requests per second of health and search, their ratio,
search p50/p99 latency and errors (anything but 200), as a table and as one
JSON line.  With ``--wrk`` the load comes from ``wrk`` (``apt-get install
wrk``), whose C client takes far less of a small machine's CPU away from the
server than Python threads.

With ``--before-tree DIR`` (``git archive HEAD findsupport | tar -x -C DIR``)
each feedback mode also gets a server running that older copy of the package,
on a copy of the data dir at the schema it knows (``startup.before_copy``),
measured in the same rounds: before and after side by side.

    python benchmarks/web_load.py --wrk [--providers 100000] [--connections 32] [--seconds 5] [--repeats 5]
                                        [--workers 2] [--feedback-batch-ms 0,100] [--before-tree DIR]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
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
#: Distinct queries prepared up front, so the clients spend no time building them.
QUERY_POOL = 5000


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


def query_pool(data_dir: Path, size: int, seed: int) -> list[str]:
    """Search URLs at real postcodes near providers, with varied filters."""
    from findsupport import taxonomy
    from findsupport.catalog import CatalogStore
    from findsupport.config import load_settings
    from findsupport.geo import PostcodeDirectory

    settings = load_settings({"data_dir": data_dir, "cache_dir": CACHE}, environ={})
    catalog = CatalogStore.open(settings).public_catalog()
    directory = PostcodeDirectory.load(settings.resolved_cache_dir)
    rng = np.random.default_rng(seed)
    anchors = rng.choice(len(catalog), size)
    # The postcode nearest a point a few km from a provider: where coaches who need them live.
    east = catalog.x[anchors] + rng.normal(0, 4000, size)
    north = catalog.y[anchors] + rng.normal(0, 4000, size)
    nearest, _ = directory.nearest_many(east, north)
    urls = []
    for row in nearest:
        params = {"postcode": directory.postcode_at(int(row))}
        if rng.random() < 0.7:
            params["role"] = taxonomy.ROLES[rng.integers(len(taxonomy.ROLES))]
        if rng.random() < 0.6:
            codes = [*taxonomy.EVENT_GROUPS, *taxonomy.EVENTS]
            params["event"] = codes[rng.integers(len(codes))]
        if rng.random() < 0.4:
            params["slots"] = ",".join(rng.choice(taxonomy.SLOTS, rng.integers(1, 4), replace=False))
        params["radius_km"] = str(rng.choice([10, 25, 25, 25, 50]))
        urls.append("/api/v1/search?" + urlencode(params))
    return urls


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(data_dir: Path, port: int, workers: int, feedback_batch_ms: float,
                   tree: Path | None = None) -> subprocess.Popen:
    """gunicorn serving ``data_dir``; ``tree`` serves another copy of the package (an older commit's)."""
    env = {
        **os.environ,
        **({"PYTHONPATH": str(tree)} if tree is not None else {}),
        "FINDSUPPORT_DATA_DIR": str(data_dir),
        "FINDSUPPORT_CACHE_DIR": str(CACHE),
        "FINDSUPPORT_RATE_LIMITS": "off",
        "FINDSUPPORT_LOG_LEVEL": "WARNING",
        "FINDSUPPORT_FEEDBACK_WRITE_BATCH_MS": f"{feedback_batch_ms:g}",
    }
    command = [
        sys.executable, "-m", "gunicorn", "-c", "python:findsupport.web.serving", "-w", str(workers),
        "-b", f"127.0.0.1:{port}", "--backlog", "2048", "--timeout", "120", "--log-level", "warning",
        "findsupport.web:create_app()",
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


def run_load(port: int, urls: list[str], connections: int, seconds: float) -> dict:
    """``connections`` threads sending searches back to back; latencies of the measured window."""
    start = time.monotonic()
    measure_from = start + WARM_UP_S
    stop_at = measure_from + seconds
    latencies: list[list[float]] = [[] for _ in range(connections)]
    errors = [0] * connections
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def client(k: int) -> None:
        rng = random.Random(k)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            now = time.monotonic()
            if now >= stop_at:
                break
            url = urls[rng.randrange(len(urls))]
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
    }


_WRK_SCRIPT = """
local paths = {%s}
local n = #paths
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter * 7919) %% n + 1], {["Accept"] = "application/json"})
end
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout
  io.write(string.format("RESULT %%d %%.3f %%.3f %%.3f %%.3f %%d\\n", summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1e3, latency:percentile(90) / 1e3, latency:percentile(99) / 1e3, errors))
end
"""


def run_wrk(port: int, urls: list[str], connections: int, seconds: float) -> dict:
    """The same load from wrk (one thread per CPU, ``connections`` connections)."""
    script = OUT / "web_load.lua"
    script.write_text(_WRK_SCRIPT % ",".join(json.dumps(u) for u in urls))
    threads = min(connections, os.cpu_count() or 1)
    # Warm up (connections, caches), then measure.
    subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{WARM_UP_S:g}s", "-s", str(script),
                    f"http://127.0.0.1:{port}"], check=True, capture_output=True)
    out = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s", "-s", str(script),
                          f"http://127.0.0.1:{port}"], check=True, capture_output=True, text=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    requests, duration, p50, p90, p99, errors = line.split()[1:]
    return {
        "requests": int(requests),
        "seconds": round(float(duration), 1),
        "requests_per_s": round(int(requests) / float(duration), 1),
        "p50_ms": round(float(p50), 1),
        "p90_ms": round(float(p90), 1),
        "p99_ms": round(float(p99), 1),
        "errors": int(errors),
        "load_generator": "wrk",
    }


def measure(runner, port: int, urls: list[str], connections: int, seconds: float, repeats: int) -> dict:
    """Health and search alternately on one server, ``repeats`` times; medians, and each pair's ratio."""
    health, search, ratios = [], [], []
    for _ in range(repeats):
        health.append(runner(port, [HEALTH_URL], connections, seconds))
        search.append(runner(port, urls, connections, seconds))
        ratios.append(search[-1]["requests_per_s"] / health[-1]["requests_per_s"])
    median = statistics.median
    return {
        "health_requests_per_s": median(r["requests_per_s"] for r in health),
        "search_requests_per_s": median(r["requests_per_s"] for r in search),
        "ratio": round(median(ratios), 3),
        "ratios": [round(r, 3) for r in ratios],
        "search_p50_ms": median(r["p50_ms"] for r in search),
        "search_p99_ms": median(r["p99_ms"] for r in search),
        "errors": sum(r["errors"] for r in health + search),
        "search_requests": sum(r["requests"] for r in search),
    }


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
    parser.add_argument("--repeats", type=int, default=5, help="health/search pairs per server (medians reported)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--feedback-batch-ms", default="0,100",
                        help="comma-separated feedback_write_batch_ms values, one server each (0: synchronous)")
    parser.add_argument("--wrk", action="store_true", help="generate the load with wrk instead of Python threads")
    parser.add_argument("--before-tree", type=Path, help="also serve an older findsupport (git archive HEAD findsupport "
                        "| tar -x -C DIR) on a copy of the data dir, measured in the same rounds")  # fmt: skip
    args = parser.parse_args(argv)
    modes = [float(x) for x in args.feedback_batch_ms.split(",") if x.strip()]
    # One server per (tree, feedback mode); the older tree's label says so.
    trees: list[tuple[str, Path | None]] = [("", None)]
    if args.before_tree:
        trees.insert(0, ("before ", args.before_tree.resolve()))

    data_dir = prepare_data_dir(args.providers)
    urls = query_pool(data_dir, QUERY_POOL, args.seed)
    runner = run_wrk if args.wrk else run_load
    servers = {}
    results = {}
    load_before = load_average()
    try:
        # All servers up before any measuring, so each is measured under the same background.
        for prefix, tree in trees:
            served = before_copy(data_dir, tree) if tree is not None else data_dir
            for mode in modes:
                port = free_port()
                servers[f"{prefix}{mode:g}"] = (port, start_gunicorn(served, port, args.workers, mode, tree))
        for port, server in servers.values():
            wait_until_up(port, server)
        for round_ in range(args.repeats):
            for mode, (port, _) in servers.items():
                one = measure(runner, port, urls, args.connections, args.seconds, 1)
                results.setdefault(mode, []).append(one)
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
    print(f"{'server (feedback batch ms)':>26} {'health/s':>9} {'search/s':>9} {'ratio':>6} {'p50 ms':>7} {'p99 ms':>7} errors")
    for mode, runs in results.items():
        row = {
            "server": mode,
            "health_requests_per_s": median(r["health_requests_per_s"] for r in runs),
            "search_requests_per_s": median(r["search_requests_per_s"] for r in runs),
            "ratio": round(median(r["ratio"] for r in runs), 3),
            "ratios": [r["ratio"] for r in runs],
            "search_p50_ms": median(r["search_p50_ms"] for r in runs),
            "search_p99_ms": median(r["search_p99_ms"] for r in runs),
            "errors": sum(r["errors"] for r in runs),
            "search_requests": sum(r["search_requests"] for r in runs),
        }
        summary[mode] = row
        print(f"{mode:>26} {row['health_requests_per_s']:>9.1f} {row['search_requests_per_s']:>9.1f} {row['ratio']:>6.3f} "
              f"{row['search_p50_ms']:>7.1f} {row['search_p99_ms']:>7.1f} {row['errors']} of {row['search_requests']} searches")
    print(json.dumps({
        "servers": summary,
        "providers": args.providers,
        "connections": args.connections,
        "workers": args.workers,
        "seconds": args.seconds,
        "repeats": args.repeats,
        "load_generator": "wrk" if args.wrk else "python threads",
        "load_average": [load_before, load_average()],
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
    }))
    return 1 if any(row["errors"] for row in summary.values()) else 0


if __name__ == "__main__":
    sys.exit(main())

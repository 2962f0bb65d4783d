"""Throughput and latency of ``GET /api/v1/search`` under concurrent load.

Serves the real app with gunicorn (``-w 2`` sync workers, as a small
production box would) on a catalogue of synthetic providers (the demo
generator, 100,000 by default; built once into ``benchmarks/out/`` and
reused), with rate limits off, and drives it from ``--connections`` client
threads, each sending searches with http.client for ``--seconds``.  Queries
are random real postcodes near the providers, with random roles, events,
slots and radii, so the engine does real work and every search is logged as
a feedback session, as in production.

Reports requests per second, p50/p90/p99 latency and the number of errors
(anything but 200), as text and as one JSON line.  With ``--wrk`` the load
comes from ``wrk`` (``apt-get install wrk``) instead, whose C client takes
far less of a small machine's CPU away from the server than Python threads.

    python benchmarks/web_load.py [--providers 100000] [--connections 32] [--seconds 30] [--workers 2] [--wrk]
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
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import numpy as np

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "benchmarks" / "out"
CACHE = REPO / ".cache"
#: Seconds of load before measuring starts (connections open, caches warm).
WARM_UP_S = 3.0
#: How long gunicorn may take to build the engine before we give up.
START_TIMEOUT_S = 600.0
#: Distinct queries prepared up front, so the clients spend no time building them.
QUERY_POOL = 5000


def prepare_data_dir(providers: int) -> Path:
    """A data dir holding ``providers`` synthetic providers (built once, then reused)."""
    from findsupport.catalog import CatalogStore, load_demo
    from findsupport.config import load_settings
    from findsupport.geo import PostcodeDirectory

    data_dir = OUT / f"web-load-{providers}"
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


def start_gunicorn(data_dir: Path, port: int, workers: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "FINDSUPPORT_DATA_DIR": str(data_dir),
        "FINDSUPPORT_CACHE_DIR": str(CACHE),
        "FINDSUPPORT_RATE_LIMITS": "off",
        "FINDSUPPORT_LOG_LEVEL": "WARNING",
    }
    command = [
        sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}",
        "--backlog", "2048", "--timeout", "120", "--log-level", "warning",
        "findsupport.web:create_app()",
    ]
    return subprocess.Popen(command, env=env, cwd=REPO, start_new_session=True)


def wait_until_up(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited with {process.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/v1/health")
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--providers", type=int, default=100_000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--wrk", action="store_true", help="generate the load with wrk instead of Python threads")
    args = parser.parse_args(argv)

    data_dir = prepare_data_dir(args.providers)
    urls = query_pool(data_dir, QUERY_POOL, args.seed)
    port = free_port()
    server = start_gunicorn(data_dir, port, args.workers)
    try:
        wait_until_up(port, server)
        runner = run_wrk if args.wrk else run_load
        result = runner(port, urls, args.connections, args.seconds)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    result.update(
        providers=args.providers,
        connections=args.connections,
        workers=args.workers,
        machine=f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
    )
    print(
        f"/api/v1/search, {args.providers:,} providers, gunicorn -w {args.workers}, {args.connections} connections, "
        f"{args.seconds:g} s: {result['requests_per_s']} req/s, p50 {result['p50_ms']} ms, p90 {result['p90_ms']} ms, "
        f"p99 {result['p99_ms']} ms, {result['errors']} errors of {result['requests']} requests"
    )
    print(json.dumps(result))
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())

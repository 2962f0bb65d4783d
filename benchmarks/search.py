"""Search benchmark: index build, memory, complete ranked searches, baselines, batch throughput.

Usage::

    .venv/bin/python benchmarks/search.py                      # 10k, 100k, 1M providers
    .venv/bin/python benchmarks/search.py --sizes 10000,100000 --queries 300
    FINDSUPPORT_BENCH_POSTGIS=postgresql://localhost/bench .venv/bin/python benchmarks/search.py

For each catalogue size it builds a synthetic catalogue at real postcodes
(uniformly drawn from Code-Point Open, so London is dense and the Highlands
sparse; public locations are sector centroids, as every import makes them),
then measures:

* the index build (Hilbert sort, blocks, R-tree) and the whole snapshot
  (index + fused scorer), and memory per provider;
* complete ranked searches — postcode to the top 10 with reasons, exactly
  as ``Engine.search`` serves them — over ``--queries`` real GB postcodes at
  25 km: median and p99 for the default (in person) query and for a mix of
  roles, events, slots, levels and modes;
* the same default query by a plain numpy scan, a naive GeoPandas distance
  sort and (when ``FINDSUPPORT_BENCH_POSTGIS`` names a database) PostGIS;
* at 100k providers, the batch loop of ``findsupport search --batch`` over
  ``--batch-lines`` mixed queries (default 10,000)
  (queries per second, JSON lines out) in this process, with one worker and
  with the default workers (forked from this process, as the command does);
  and the real command end to end when ``--batch-data-dir`` holds a
  catalogue (``--make-batch-data-dir`` fills one with the demo generator):
  start-up (a one-line file) and answering (a long file, minus start-up)
  reported apart, medians of ``--batch-repeats`` runs.

Latencies are wall-clock; the thread's CPU time is shown beside them
because the machine may be shared (the load average is printed too, and a
fixed pure-Python loop is timed before each size, so runs at different
moments can be compared).  The engine is built the way ``Engine.open``
serves (heap settled: see :func:`findsupport.search.engine.settle_heap`),
which includes loading (or compiling, the first time) the search loops.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from baselines import GeopandasSort, NumpyScan, PostgisQuery  # noqa: E402
from synthetic import sample_query_postcodes, synthetic_catalog  # noqa: E402

from findsupport import taxonomy  # noqa: E402
from findsupport.commands.search import default_workers, run_batch  # noqa: E402
from findsupport.config import load_settings  # noqa: E402
from findsupport.geo import PostcodeDirectory  # noqa: E402
from findsupport.index import SearchIndex  # noqa: E402
from findsupport.search.engine import Engine, settle_heap  # noqa: E402
from findsupport.search.query import parse_query  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def load() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


def calibration_ms() -> float:
    """CPU ms of a fixed pure-Python loop (best of 5): how fast this machine is right now."""
    best = float("inf")
    for _ in range(5):
        t = time.process_time()
        for _ in range(10):
            sum(range(100_000))
        best = min(best, time.process_time() - t)
    return best * 1e3


def timed(fn: Callable[[Any], Any], queries: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Wall and thread-CPU milliseconds of each call."""
    wall, cpu = [], []
    for query in queries:
        c, t = time.thread_time(), time.perf_counter()
        fn(query)
        wall.append(time.perf_counter() - t)
        cpu.append(time.thread_time() - c)
    return np.array(wall) * 1e3, np.array(cpu) * 1e3


def summary(wall: np.ndarray, cpu: np.ndarray) -> dict[str, float]:
    return {
        "median_ms": float(np.median(wall)),
        "p99_ms": float(np.percentile(wall, 99)),
        "cpu_median_ms": float(np.median(cpu)),
        "cpu_p99_ms": float(np.percentile(cpu, 99)),
    }


def mixed_query(postcode: str, rng: random.Random) -> dict[str, Any]:
    return {
        "postcode": postcode,
        "role": rng.choice([None, *taxonomy.ROLES]),
        "event": rng.choice([None, "hurdles", "jumps", "endurance", "pole_vault", "throws"]),
        "slots": rng.choice([[], ["tue_eve"], ["sat_am", "sun_am"], ["mon_eve", "wed_eve", "fri_eve"]]),
        "level": rng.choice([None, "assistant_coach", "athletics_coach"]),
        "mode": rng.choice(["in_person", "in_person", "online", "any"]),
    }


def bench_size(n: int, directory: PostcodeDirectory, args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"providers": n, "calibration_ms": calibration_ms()}
    say = lambda text: print(f"  [{n:,}] {text}", file=sys.stderr, flush=True)  # noqa: E731
    before = rss_mb()
    t = time.perf_counter()
    catalog = synthetic_catalog(directory, n, seed=args.seed)
    out["catalog_seconds"] = time.perf_counter() - t
    out["catalog_mb_per_1k"] = (rss_mb() - before) / n * 1000
    say(f"catalogue built in {out['catalog_seconds']:.1f} s")

    builds = []
    for _ in range(args.build_repeats):
        t = time.perf_counter()
        index = SearchIndex.build(catalog)
        builds.append(time.perf_counter() - t)
        del index
    out["index_build_seconds"] = min(builds)
    before = rss_mb()
    t = time.perf_counter()
    engine = Engine.from_catalog(catalog, directory)
    out["snapshot_build_seconds"] = time.perf_counter() - t
    settle_heap()
    out["snapshot_rss_mb"] = rss_mb() - before
    out["index_bytes_per_provider"] = engine.index.nbytes / n
    out["snapshot_bytes_per_provider"] = out["snapshot_rss_mb"] * 2**20 / n
    out["blocks"] = engine.index.main.n_blocks
    out["tiles"] = engine.index.main.n_tiles
    say(f"index {out['index_build_seconds']:.2f} s, snapshot {out['snapshot_build_seconds']:.2f} s")

    postcodes = sample_query_postcodes(directory, args.queries, seed=args.seed + 1)
    default = [parse_query({"postcode": pc}) for pc in postcodes]
    rng = random.Random(args.seed)
    mixed = [parse_query(mixed_query(pc, rng)) for pc in postcodes]
    for q in default[:50]:
        engine.search(q, log=False)
    out["engine_default"] = summary(*timed(lambda q: engine.search(q, log=False), default))
    out["engine_mixed"] = summary(*timed(lambda q: engine.search(q, log=False), mixed))
    totals = [engine.search(q, log=False).total for q in default]
    out["candidates_median"] = float(np.median(totals))
    out["candidates_p99"] = float(np.percentile(totals, 99))
    say(f"engine default {out['engine_default']['median_ms']:.3f} / {out['engine_default']['p99_ms']:.3f} ms")

    scan = NumpyScan(catalog, directory, engine.ranker)
    out["numpy_scan"] = summary(*timed(scan.search, default))
    # The baselines must give the engine's answer (up to tied scores), or the race means nothing.
    check = default[: min(50, len(default))]
    for q in check:
        mine = engine.search(q, log=False)
        theirs = scan.search(q)
        assert mine.total == theirs.total, (q, mine.total, theirs.total)
        np.testing.assert_allclose([r.score for r in mine.results], theirs.scores, atol=1e-9)
    say(f"numpy scan {out['numpy_scan']['median_ms']:.3f} / {out['numpy_scan']['p99_ms']:.3f} ms")
    if not args.skip_geopandas:
        geo = GeopandasSort(catalog, directory, engine.ranker)
        subset = default[: args.geopandas_queries or len(default)]
        out["geopandas_sort"] = summary(*timed(geo.search, subset))
        out["geopandas_queries"] = len(subset)
        say(f"geopandas {out['geopandas_sort']['median_ms']:.3f} / {out['geopandas_sort']['p99_ms']:.3f} ms")
    dsn = os.environ.get("FINDSUPPORT_BENCH_POSTGIS")
    if dsn:
        try:
            postgis = PostgisQuery(catalog, directory, engine.ranker, dsn)
        except Exception as exc:  # noqa: BLE001 - optional baseline: report why and go on
            out["postgis"] = {"skipped": f"{type(exc).__name__}: {exc}"}
        else:
            out["postgis"] = summary(*timed(postgis.search, default))
            say(f"postgis {out['postgis']['median_ms']:.3f} / {out['postgis']['p99_ms']:.3f} ms")
    else:
        out["postgis"] = {"skipped": "FINDSUPPORT_BENCH_POSTGIS not set"}

    if n == args.batch_size:
        # The mixed queries again, cycled to --batch-lines lines (a batch is
        # thousands of queries; forked workers pay a warm-up of copy-on-write
        # page faults that a short file does not amortise).
        cycled = (postcodes[i % len(postcodes)] for i in range(args.batch_lines))
        lines = [json.dumps({"id": i, **mixed_query(pc, rng)}) for i, pc in enumerate(cycled)]
        for label, workers in (("batch_loop_one_worker", 1), ("batch_loop", default_workers())):
            # Medians of --batch-repeats runs: a shared machine's speed drifts by
            # 10-20% between runs of a few seconds.
            runs = []
            for _ in range(args.batch_repeats):
                sink = io.StringIO()
                c, t = time.process_time(), time.perf_counter()
                failed = run_batch(engine, lines, sink, workers=workers)
                seconds = time.perf_counter() - t
                runs.append({"qps": len(lines) / seconds, "parent_cpu_s": time.process_time() - c, "failed": failed})
                del sink
            qps = [run["qps"] for run in runs]
            out[label] = {"workers": workers, "lines": len(lines), "qps": float(np.median(qps)), "runs_qps": qps,
                          "parent_cpu_s": float(np.median([run["parent_cpu_s"] for run in runs])), "failed": runs[0]["failed"]}
            say(f"{label}: {out[label]['qps']:.0f} queries/s with {workers} worker(s) (runs: {', '.join(f'{q:.0f}' for q in qps)})")
        if args.make_batch_data_dir and not args.batch_data_dir:
            args.batch_data_dir = make_batch_data_dir(args.make_batch_data_dir, directory, n, args.seed)
        if args.batch_data_dir:
            out["batch_cli"] = batch_cli(args.batch_data_dir, lines, args.batch_repeats)
            b = out["batch_cli"]
            say(f"findsupport search --batch: start-up {b['startup_s']:.2f} s, answering {b['answering_qps']:.0f} queries/s")
    return out


def make_batch_data_dir(path: str, directory: PostcodeDirectory, n: int, seed: int) -> str:
    """A data dir holding a demo catalogue of ``n`` providers, imported like any file (made once; ~1 min at 100k)."""
    from findsupport.catalog import CatalogStore, load_demo

    settings = load_settings({"data_dir": path}, environ={})
    store = CatalogStore.open(settings)
    if not store.has_catalog():
        print(f"  importing {n:,} demo providers into {path}", file=sys.stderr, flush=True)
        load_demo(store, directory, settings, seed=seed, providers=n)
    return path


def batch_cli(data_dir: str, lines: list[str], repeats: int) -> dict[str, Any]:
    """The real ``findsupport search --batch`` (default workers), start-up and answering apart.

    Start-up is the median wall time of a one-line file (process start,
    imports, postcode directory, catalogue load, index, compiled loops);
    answering is the median time of the whole file minus that.
    """
    with tempfile.TemporaryDirectory() as tmp:
        one, many = Path(tmp) / "one.jsonl", Path(tmp) / "queries.jsonl"
        one.write_text(lines[0] + "\n", encoding="utf-8")
        many.write_text("\n".join(lines) + "\n", encoding="utf-8")
        env = {**os.environ, "FINDSUPPORT_DATA_DIR": data_dir, "FINDSUPPORT_CACHE_DIR": str(REPO / ".cache")}
        timings: dict[str, list[float]] = {"one": [], "many": []}
        answered = 0
        status = 0
        for _ in range(repeats):
            for label, path in (("one", one), ("many", many)):
                command = [str(REPO / ".venv/bin/findsupport"), "search", "--batch", str(path), "-q"]
                # Output to a file, as an analyst would: reading 100 MB from a pipe
                # here would take CPU from the command on a 2-core machine.
                result = Path(tmp) / "out.jsonl"
                with result.open("wb") as sink:
                    t = time.perf_counter()
                    done = subprocess.run(command, env=env, stdout=sink, stderr=subprocess.PIPE, check=False)
                    timings[label].append(time.perf_counter() - t)
                status = max(status, done.returncode)
                if label == "many":
                    with result.open("rb") as written:
                        answered = sum(1 for _ in written)
    startup = float(np.median(timings["one"]))
    whole = float(np.median(timings["many"]))
    settings = load_settings({"data_dir": data_dir}, environ={})
    return {
        "exit_status": status,
        "lines": answered,
        "workers": default_workers(),
        "startup_s": startup,
        "whole_s": whole,
        "answering_qps": answered / max(whole - startup, 1e-9),
        "qps_including_start": answered / whole,
        "runs": timings,
        "database": settings.resolved_database_url,
    }


def markdown(results: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    rows = [
        "| providers | index build | snapshot build | index bytes/provider | engine default (median / p99) | engine mixed | numpy scan | geopandas sort | postgis |",
        "|---|---|---|---|---|---|---|---|---|",
    ]

    def cell(entry: Any) -> str:
        if not isinstance(entry, dict) or "median_ms" not in entry:
            return "skipped"
        return f"{entry['median_ms']:.2f} / {entry['p99_ms']:.2f} ms (cpu {entry['cpu_median_ms']:.2f} / {entry['cpu_p99_ms']:.2f})"

    for r in results:
        rows.append(
            f"| {r['providers']:,} | {r['index_build_seconds']:.2f} s | {r['snapshot_build_seconds']:.2f} s | "
            f"{r['index_bytes_per_provider']:.0f} | {cell(r['engine_default'])} | {cell(r['engine_mixed'])} | "
            f"{cell(r['numpy_scan'])} | {cell(r.get('geopandas_sort'))} | {cell(r.get('postgis'))} |"
        )
    lines = [f"machine: {meta['machine']}; load average before/after: {meta['load_before']} / {meta['load_after']}", "", *rows]
    lines.append("\ncalibration (CPU ms of a fixed Python loop, lower is faster): " + ", ".join(
        f"{r['providers']:,}: {r['calibration_ms']:.0f}" for r in results))
    for r in results:
        for label in ("batch_loop_one_worker", "batch_loop"):
            if label in r:
                b = r[label]
                lines.append(
                    f"\nbatch loop at {r['providers']:,} providers, {b.get('lines', 3000):,} mixed queries, "
                    f"{b['workers']} worker(s): {b['qps']:.0f} queries/s (JSON lines out; median of "
                    f"{', '.join(f'{q:.0f}' for q in b.get('runs_qps', [b['qps']]))})"
                )
        if "batch_cli" in r:
            b = r["batch_cli"]
            lines.append(
                f"findsupport search --batch end to end ({b['workers']} workers): {b['lines']} lines; start-up {b['startup_s']:.1f} s; "
                f"whole run {b['whole_s']:.1f} s; answering {b['answering_qps']:.0f} q/s ({b['qps_including_start']:.0f} q/s incl. start-up)"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--build-repeats", type=int, default=3)
    parser.add_argument("--skip-geopandas", action="store_true")
    parser.add_argument("--geopandas-queries", type=int, default=0, help="limit the (slow) geopandas runs (0: all)")
    parser.add_argument("--batch-size", type=int, default=100_000, help="catalogue size of the batch measurement")
    parser.add_argument("--batch-data-dir", help="a data dir whose catalogue the real `findsupport search --batch` runs on")
    parser.add_argument("--make-batch-data-dir", help="fill this data dir with a demo catalogue of --batch-size providers (once) and use it")
    parser.add_argument("--batch-lines", type=int, default=10_000, help="queries in the batch measurement")
    parser.add_argument("--batch-repeats", type=int, default=3, help="runs of the batch loop and of the real command (medians)")
    parser.add_argument("--json", dest="json_path", help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    directory = PostcodeDirectory.load(REPO / ".cache")
    meta = {
        "machine": f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}, Python {platform.python_version()}, "
        f"numpy {np.__version__}",
        "load_before": load(),
    }
    results = []
    for n in (int(s) for s in args.sizes.split(",")):
        results.append(bench_size(n, directory, args))
        gc.collect()
    meta["load_after"] = load()
    print(markdown(results, meta))
    if args.json_path:
        Path(args.json_path).write_text(json.dumps({"meta": meta, "results": results}, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

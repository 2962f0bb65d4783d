"""Postcode directory speed and memory: cold build, warm load, lookups.

Run:  .venv/bin/python benchmarks/postcodes.py [--repeat 3]

Each measurement that needs a fresh process (cold build, warm load, memory)
runs in a subprocess so earlier work does not warm caches or inflate memory.
Figures go into BENCHMARKS.md by hand, with the machine they came from.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHILD = r"""
import json, sys, time, resource
def rss_mb():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
before = rss_mb()
t0 = time.perf_counter()
from findsupport.geo import PostcodeDirectory
import_s = time.perf_counter() - t0
t0 = time.perf_counter()
d = PostcodeDirectory.load(sys.argv[1])
load_s = time.perf_counter() - t0
after_load = rss_mb()
t0 = time.perf_counter()
d.prepare_reverse()
tree_s = time.perf_counter() - t0
after_tree = rss_mb()
print(json.dumps({"import_s": import_s, "load_s": load_s, "tree_s": tree_s, "rss_before_mb": before,
                  "rss_after_load_mb": after_load, "rss_after_tree_mb": after_tree, "arrays_mb": d.nbytes / 1e6,
                  "postcodes": len(d)}))
"""


def child(cache: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(cache)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def timeit(fn, number: int) -> float:
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")

    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        cold = child(cache)
        print(f"cold build (read 120 area files, convert, sort, write cache): {cold['load_s']:.2f} s")
        warm = [child(cache) for _ in range(args.repeat)]
        loads = [w["load_s"] for w in warm]
        print(f"warm load: median {statistics.median(loads) * 1000:.0f} ms over {len(loads)} fresh processes")
        w = warm[0]
        print(
            f"memory: arrays {w['arrays_mb']:.0f} MB; process RSS {w['rss_before_mb']:.0f} → "
            f"{w['rss_after_load_mb']:.0f} MB after load → {w['rss_after_tree_mb']:.0f} MB with the reverse-lookup tree "
            f"(tree built in {w['tree_s'] * 1000:.0f} ms); {w['postcodes']:,} postcodes"
        )

        from findsupport.geo import PostcodeDirectory

        d = PostcodeDirectory.load(cache)
        arrays = d.located_arrays()
        rng = np.random.default_rng(7)
        sample = [d.postcode_at(int(i)) for i in rng.integers(0, len(d), 10_000)]
        typed = [p.lower().replace(" ", "") for p in sample]
        n = len(sample)
        it = iter(range(10**9))
        single = timeit(lambda: d.lookup(typed[next(it) % n]), 20_000)
        print(f"single lookup (parse typed text + find + build result): {single * 1e6:.1f} µs")
        t0 = time.perf_counter()
        d.lookup_many(typed)
        print(f"lookup_many of {n:,} typed postcodes: {(time.perf_counter() - t0) / n * 1e6:.1f} µs each")
        t0 = time.perf_counter()
        d.locate_many(sample)
        print(f"locate_many (vectorised, canonical) of {n:,}: {(time.perf_counter() - t0) / n * 1e6:.2f} µs each")
        sectors = sorted({p[:-2] for p in sample})
        t0 = time.perf_counter()
        d.sector_centroids(sectors)
        print(f"sector_centroids of {len(sectors):,} sectors: {(time.perf_counter() - t0) / len(sectors) * 1e6:.2f} µs each")
        d.prepare_reverse()
        idx = rng.integers(0, len(d), 10_000)
        e = arrays["easting"][idx] + rng.normal(0, 300, len(idx))
        nn = arrays["northing"][idx] + rng.normal(0, 300, len(idx))
        t0 = time.perf_counter()
        d.nearest_many(e, nn)
        print(f"nearest_many (reverse, vectorised) of {len(idx):,} points: {(time.perf_counter() - t0) / len(idx) * 1e6:.2f} µs each")
        lon, lat = float(arrays["lon"][idx[0]]), float(arrays["lat"][idx[0]])
        one = timeit(lambda: d.nearest(lon, lat), 2_000)
        print(f"nearest (one point, validated, with result): {one * 1e6:.1f} µs")


if __name__ == "__main__":
    main()

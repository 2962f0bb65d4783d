"""Catalogue import speed at 10k and 100k rows, and how fast the public catalogue loads.

Run:  .venv/bin/python benchmarks/import_catalog.py [--sizes 10000 100000] [--out benchmarks/out]

For each size the script writes a realistic provider CSV (real postcodes drawn
uniformly from Code-Point Open, 5% of rows giving lat/lon instead of a postcode,
0.5% of rows with a mistake: an unknown postcode or a bad e-mail), then times,
each in a fresh process with a fresh data dir and the shared postcode cache:

* ``findsupport import FILE`` (first import: everything added);
* the same again (idempotent: nothing rewritten);
* ``findsupport import FILE --replace``;
* ``CatalogStore.public_catalog()`` in a new process (what the engine does on start/reload);
* as a baseline, a one-row ``findsupport import`` (process start-up, imports, postcode directory).

and, in this process, the stages of one import (read, check rows, locate, write).
Figures go into BENCHMARKS.md by hand, with the machine they came from.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from findsupport import taxonomy
from findsupport.catalog import CatalogStore
from findsupport.catalog.bulk import collector_paused
from findsupport.catalog.importer import import_rows
from findsupport.catalog.locate import locate_rows
from findsupport.catalog.readers import read_source
from findsupport.catalog.validation import parse_row
from findsupport.config import load_settings
from findsupport.geo import PostcodeDirectory

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("FINDSUPPORT_TEST_CACHE", REPO / ".cache"))
COORDINATE_SHARE = 0.05
MISTAKE_SHARE = 0.005

LOAD_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from findsupport.catalog import CatalogStore
from findsupport.catalog.bulk import collector_paused
from findsupport.config import load_settings
imported = time.perf_counter() - t0
store = CatalogStore.open(load_settings({"data_dir": sys.argv[1]}, environ={}))
t0 = time.perf_counter(); version = store.version(); version_s = time.perf_counter() - t0
t0 = time.perf_counter(); catalog = store.public_catalog(); load_s = time.perf_counter() - t0
print(json.dumps({"import_s": imported, "version_s": version_s, "public_catalog_s": load_s, "providers": len(catalog)}))
"""


def write_catalogue(path: Path, rows: int, directory: PostcodeDirectory, seed: int) -> None:
    rng = np.random.default_rng(seed)
    arrays = directory.located_arrays()
    bases = rng.choice(len(arrays["keys"]), size=rows, replace=False)
    groups = list(taxonomy.EVENT_GROUPS)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "name", "roles", "postcode", "lat", "lon", "events", "availability", "travel_km",
                         "online", "capacity", "active_coaches", "qualification", "club", "email", "consent", "bio"])
        for i, base in enumerate(bases):
            postcode, lat, lon = directory.postcode_at(int(base)), "", ""
            email = f"provider{i}@example.org"
            if rng.random() < COORDINATE_SHARE:
                postcode, lat, lon = "", f"{arrays['lat'][base]:.6f}", f"{arrays['lon'][base]:.6f}"
            if rng.random() < MISTAKE_SHARE:
                if rng.random() < 0.5:
                    postcode, lat, lon = "NE21 4ZZ", "", ""
                else:
                    email = "not-an-address"
            capacity = int(rng.integers(1, 8))
            writer.writerow([
                f"b{i:06d}", f"Provider {i}", taxonomy.ROLES[i % 4], postcode, lat, lon,
                ";".join(rng.choice(groups, size=int(rng.integers(1, 3)), replace=False)),
                ";".join(rng.choice(taxonomy.SLOTS, size=int(rng.integers(1, 6)), replace=False)),
                int(rng.choice([10, 15, 20, 30])), "true" if rng.random() < 0.25 else "false",
                capacity, int(rng.integers(0, capacity + 1)), "athletics_coach", "Riverside Harriers",
                email, "true" if rng.random() < 0.97 else "false", "Synthetic benchmark provider.",
            ])  # fmt: skip


def cli_import(path: Path, data_dir: Path, *extra: str) -> float:
    env = {**os.environ, "FINDSUPPORT_DATA_DIR": str(data_dir), "FINDSUPPORT_CACHE_DIR": str(CACHE)}
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "findsupport.cli", "import", str(path), "--quiet", *extra],
                          env=env, capture_output=True, text=True)  # fmt: skip
    elapsed = time.perf_counter() - t0
    if done.returncode not in (0, 1):
        raise SystemExit(f"import failed ({done.returncode}): {done.stderr[-2000:]}")
    return elapsed


def stages(path: Path, directory: PostcodeDirectory, data_dir: Path) -> dict[str, float]:
    settings = load_settings({"data_dir": data_dir, "cache_dir": CACHE}, environ={})
    store = CatalogStore.open(settings)
    with collector_paused():  # as the import itself does
        t0 = time.perf_counter()
        source = read_source(path)
        t1 = time.perf_counter()
        parsed = [parse_row(r.values, settings) for r in source.rows]
        t2 = time.perf_counter()
        good = [p for p in parsed if not isinstance(p, list)]
        located = locate_rows(good, directory, settings)
        t3 = time.perf_counter()
        del parsed, good
        report = import_rows(source.rows, store, directory, settings, source=path.name, format="csv", unit="line")
        t4 = time.perf_counter()
    return {"read_s": t1 - t0, "check_s": t2 - t1, "locate_s": t3 - t2, "whole_import_in_process_s": t4 - t3,
            "rejected": report.rejected_rows, "located": sum(not isinstance(x, list) for x in located)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out")
    args = parser.parse_args()
    directory = PostcodeDirectory.load(CACHE)
    directory.prepare_reverse()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        baseline = tmp / "one.csv"
        write_catalogue(baseline, 1, directory, args.seed)
        startup = min(cli_import(baseline, tmp / f"data-one-{i}") for i in range(3))
        print(json.dumps({"cli_one_row_import_s": startup}), flush=True)
        for size in args.sizes:
            path = tmp / f"providers-{size}.csv"
            write_catalogue(path, size, directory, args.seed)
            data_dir = tmp / f"data-{size}"
            first = cli_import(path, data_dir)
            again = cli_import(path, data_dir)
            replace = cli_import(path, data_dir, "--replace")
            env = {**os.environ, "FINDSUPPORT_CACHE_DIR": str(CACHE)}
            load = json.loads(subprocess.run([sys.executable, "-c", LOAD_CHILD, str(data_dir)], env=env,
                                             capture_output=True, text=True, check=True).stdout)  # fmt: skip
            breakdown = stages(path, directory, tmp / f"stages-{size}")
            result = {"rows": size, "file_mb": path.stat().st_size / 1e6, "first_import_s": first,
                      "rows_per_s": size / first, "reimport_s": again, "replace_s": replace, **load, **breakdown}  # fmt: skip
            results.append(result)
            print(json.dumps(result), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    machine = {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
               "platform": platform.platform()}  # fmt: skip
    (args.out / "import_catalog.json").write_text(
        json.dumps({"machine": machine, "cli_one_row_import_s": startup, "results": results}, indent=2)
    )
    print(f"\nmachine: {machine}; a one-row `findsupport import` (start-up, directory load) takes {startup:.1f} s")
    print("| rows | file | `findsupport import` (first) | rows/s | in-process import (read + check + locate + write) | "
          "re-import (unchanged) | `--replace` | `public_catalog()` (new process) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        in_process = r["read_s"] + r["whole_import_in_process_s"]
        print(f"| {r['rows']:,} | {r['file_mb']:.1f} MB | {r['first_import_s']:.1f} s | {r['rows_per_s']:,.0f} | "
              f"{in_process:.1f} s (read {r['read_s']:.1f}, check {r['check_s']:.1f}, locate {r['locate_s']:.1f}) | "
              f"{r['reimport_s']:.1f} s | {r['replace_s']:.1f} s | {r['public_catalog_s']:.2f} s ({r['providers']:,}) |")

if __name__ == "__main__":
    main()

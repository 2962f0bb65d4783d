"""What a lon/lat costs on a thread that has not transformed anything yet.

Run:  .venv/bin/python benchmarks/transform_threads.py [--threads 20]

A pyproj Transformer builds its PROJ object again in every thread that uses
it; Werkzeug's threaded server starts a thread per request, gunicorn's
threaded workers once per thread.  This times the first ``to_bng`` on each of
``--threads`` fresh threads with findsupport's transformers (fixed PROJ
pipelines, :mod:`findsupport.geo.transform`) and, for comparison, with
``Transformer.from_crs`` as the module used to build them.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import threading
import time
from collections.abc import Callable

from pyproj import Transformer

from findsupport.geo import transform

#: Newcastle upon Tyne: a point in the middle of the demo data.
POINT = (-1.6, 54.97)


def first_call_on_fresh_threads(call: Callable[[], object], threads: int) -> list[float]:
    """Seconds taken by ``call`` as the first thing each of ``threads`` new threads does."""
    times: list[float] = []

    def run() -> None:
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)

    for _ in range(threads):
        worker = threading.Thread(target=run)
        worker.start()
        worker.join()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=20)
    args = parser.parse_args()
    from_crs = Transformer.from_crs(transform.WGS84, transform.BNG, always_xy=True)
    candidates = {
        "findsupport to_bng (fixed pipeline)": lambda: transform.to_bng(*POINT),
        "Transformer.from_crs (before)": lambda: from_crs.transform(*POINT),
    }
    for call in candidates.values():
        call()  # the main thread's own copy, as a server's start-up would make it
    print(f"{platform.processor() or platform.machine()}, Python {platform.python_version()}")
    for name, call in candidates.items():
        times = first_call_on_fresh_threads(call, args.threads)
        print(f"{name}: first transform on a fresh thread, median {statistics.median(times) * 1e3:.2f} ms, "
              f"max {max(times) * 1e3:.2f} ms ({args.threads} threads)")


if __name__ == "__main__":
    main()

"""Search speed of two source trees side by side: interleaved runs, same catalogues, same queries.

On a shared machine absolute timings drift by 10-30% between runs, so a change
is judged by the ratio of its tree to a base tree measured alternately in the
same minutes (A B, B A, A B, ...), each run in a fresh process::

    git worktree add /tmp/base HEAD        # before changing anything
    ROUNDS=4 SIZES=10000,100000 QUERIES=400 .venv/bin/python benchmarks/search_compare.py /tmp/base .

Each run builds the synthetic catalogues of :mod:`synthetic` (seed 7), an
engine as ``Engine.from_catalog`` serves, and times ``Engine.search`` over the
same real GB postcodes with the default query, the mixed queries of
``benchmarks/search.py`` and "in person or online" queries: the thread's CPU
time (median, p99) and the wall median.  Printed: per-run figures, then the
medians over runs and the ratio new/base.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

VENV_PY = sys.executable
#: The postcode directory cache of the tree this script is in (a fresh worktree has none).
CACHE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".cache")


def worker(root, sizes, queries):
    sys.path.insert(0, root)
    sys.path.insert(0, os.path.join(root, "benchmarks"))
    import random
    import numpy as np
    import findsupport
    assert findsupport.__file__.startswith(root), findsupport.__file__
    from synthetic import sample_query_postcodes, synthetic_catalog
    from search import mixed_query
    from findsupport.geo import PostcodeDirectory
    from findsupport.search.engine import Engine, settle_heap
    from findsupport.search.query import parse_query
    directory = PostcodeDirectory.load(os.environ.get("FINDSUPPORT_CACHE_DIR", CACHE))
    out = {}
    for n in sizes:
        catalog = synthetic_catalog(directory, n, seed=7)
        engine = Engine.from_catalog(catalog, directory)
        settle_heap()
        pcs = sample_query_postcodes(directory, queries, seed=8)
        rng = random.Random(7)
        default = [parse_query({"postcode": pc}) for pc in pcs]
        mixed = [parse_query(mixed_query(pc, rng)) for pc in pcs]
        anyq = [parse_query({"postcode": pc, "mode": "any"}) for pc in pcs]
        for q in default[:50] + mixed[:50]:
            engine.search(q, log=False)
        for label, qs in (("default", default), ("mixed", mixed), ("any", anyq)):
            cpu = []
            wall = []
            for q in qs:
                c, t = time.thread_time(), time.perf_counter()
                engine.search(q, log=False)
                wall.append(time.perf_counter() - t); cpu.append(time.thread_time() - c)
            out[f"{n}:{label}"] = [float(np.median(cpu)) * 1e3, float(np.percentile(cpu, 99)) * 1e3, float(np.median(wall)) * 1e3]
    print(json.dumps(out))

def main():
    args = sys.argv[1:]
    if args[0] == "--worker":
        return worker(args[1], [int(s) for s in args[2].split(",")], int(args[3]))
    base, new = os.path.abspath(args[0]), os.path.abspath(args[1])
    rounds = int(os.environ.get("ROUNDS", 3)); sizes = os.environ.get("SIZES", "10000,100000"); queries = os.environ.get("QUERIES", "400")
    res = {base: [], new: []}
    for r in range(rounds):
        for root in ((base, new) if r % 2 == 0 else (new, base)):
            env = {**os.environ, "PYTHONPATH": root}
            p = subprocess.run([VENV_PY, __file__, "--worker", root, sizes, queries], capture_output=True, text=True, env=env, cwd=tempfile.gettempdir())
            if p.returncode:
                print(p.stderr[-3000:]); sys.exit(1)
            res[root].append(json.loads(p.stdout.strip().splitlines()[-1]))
            print(f"round {r} {root}: {res[root][-1]}", flush=True)
    print("key | base cpu median / p99 ms | new cpu median / p99 ms | ratio new/base (median, p99) | ratio of the best runs' medians")
    for key in res[base][0]:
        b = [statistics.median(x[key][i] for x in res[base]) for i in range(3)]
        n = [statistics.median(x[key][i] for x in res[new]) for i in range(3)]
        best = min(x[key][0] for x in res[new]) / min(x[key][0] for x in res[base])
        print(f"{key} | {b[0]:.3f} / {b[1]:.3f} | {n[0]:.3f} / {n[1]:.3f} | {n[0]/b[0]:.3f}, {n[1]/b[1]:.3f} | {best:.3f}")
main()

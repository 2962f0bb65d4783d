"""What logging a search as feedback costs a serving process in CPU, old code against new, side by side.

Usage::

    .venv/bin/python benchmarks/feedback_cost.py                                   # SQLite only
    .venv/bin/python benchmarks/feedback_cost.py --postgres-url postgresql://postgres@127.0.0.1:54329/postgres

Each measurement is one fresh child process that opens the feedback log as a
web worker does (``FeedbackLog.open(settings, batched=True)``: the batch
writer thread, ``feedback_write_batch_ms`` = 100) on a fresh database (a
SQLite file in a temporary data dir, or a new database on the PostgreSQL
server, dropped afterwards), logs a warm-up, then logs ``--searches`` pages of
ten results (``log_search`` with a postcode query, a model and catalogue
version and a client key, as ``Engine.search`` calls it), paced at
``--rate`` searches a second so batches are the size a busy worker writes,
and closes the log (every session written).  A third child per round runs
the same loop without calling ``log_search`` (the harness alone).  It reports the process CPU time
(``time.process_time()``: the request thread *and* the writer thread) per
logged search, the request thread's own share (``time.thread_time()``), and
checks every session and result row landed.

``--logged N`` starts every measurement from a log that already holds ``N``
sessions of ten results, as a server's does after a while (written once per
variant and database by that variant's own writer, then copied: a SQLite
file, or a PostgreSQL ``CREATE DATABASE ... TEMPLATE``).  A log's indexes are
keyed by random search ids, so what a write costs grows with the log.

The "old" code is a copy of ``findsupport`` at ``--base`` (default ``HEAD``,
by ``git archive``; or ``--base-tree DIR``), imported by the child through
``PYTHONPATH``; "new" is this checkout.  Rounds alternate which goes first,
so the machine's load falls on both alike; the summary gives per-variant
medians and the ratio new / old of the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
POSTCODES = ("NE21 4LZ", "NE1 4ST", "SW1A 1AA", "M1 1AE", "EH1 1YZ", "CF10 1EP", "B1 1BB", "LS1 4AP")
PAGE = 10


def _child(args: argparse.Namespace) -> None:
    import findsupport
    from sqlalchemy import func, select

    from findsupport.config import load_settings
    from findsupport.ranking import feedback
    from findsupport.ranking.feedback import FeedbackLog, feedback_sessions

    settings = load_settings({"data_dir": args.data_dir, "database_url": args.database_url}, environ={})
    log = FeedbackLog.open(settings, batched=True)
    client = "c" * 64
    if args.fill:
        # A log that has grown: this variant's own writer, as fast as it goes (not timed).
        for k in range(args.fill):
            log.log_search({"postcode": POSTCODES[k % len(POSTCODES)], "lon": None, "lat": None, "role": "mentor",
                            "event": None, "slots": [], "mode": "in_person", "level": None},
                           [(f"P{(k * 13 + i) % 100_000:06d}", i + 1) for i in range(PAGE)], "default", client=client)
        log.close()
        print(json.dumps({"package": str(Path(findsupport.__file__).parent), "filled": args.fill}))
        return

    # Every page made before the clock starts: only log_search (and the writer) is timed.
    pages = [
        ({"postcode": POSTCODES[k % len(POSTCODES)], "lon": None, "lat": None, "role": "mentor", "event": "hurdles",
          "slots": ["tue_eve", "sat_am"], "mode": "in_person", "level": None},
         [(f"P{(k * 7 + i) % 100_000:06d}", i + 1) for i in range(PAGE)])
        for k in range(args.warmup + args.searches)
    ]

    def search(k: int) -> None:
        query, shown = pages[k]
        if args.harness_only:
            return
        log.log_search(query, shown, "20261206-101500-abcdef12", catalog_version="20261206-094500-1f2e3d4c", client=client)

    for k in range(args.warmup):
        search(k)
    log.flush()
    period = 1.0 / args.rate
    start_wall = time.perf_counter()
    cpu0, thread0 = time.process_time(), time.thread_time()
    for k in range(args.searches):
        search(args.warmup + k)
        # Pace in small bursts: sleeping costs no CPU, and batches come out the size a busy worker writes.
        if k % 10 == 9:
            lag = start_wall + (k + 1) * period - time.perf_counter()
            if lag > 0:
                time.sleep(lag)
    request_cpu = time.thread_time() - thread0
    log.close()
    total_cpu = time.process_time() - cpu0
    with log.engine.connect() as conn:
        sessions = conn.execute(select(func.count()).select_from(feedback_sessions)).scalar_one()
        if hasattr(feedback, "feedback_results"):  # a row per shown result (before revision 0007)
            results = conn.execute(select(func.count()).select_from(feedback.feedback_results)).scalar_one()
        else:  # each page in its session's row
            results = sum(len(json.loads(page)) for page in conn.execute(select(feedback_sessions.c.shown)).scalars())
    expected = args.logged + (0 if args.harness_only else args.warmup + args.searches)
    if (sessions, results) != (expected, expected * PAGE):
        raise SystemExit(f"rows missing: {sessions} sessions, {results} results; expected {expected}, {expected * PAGE}")
    print(json.dumps({
        "package": str(Path(findsupport.__file__).parent),
        "cpu_us": total_cpu / args.searches * 1e6,
        "request_us": request_cpu / args.searches * 1e6,
        "wall_s": time.perf_counter() - start_wall,
    }))


def _base_tree(base: str, into: Path) -> Path:
    archive = subprocess.run(["git", "archive", base, "findsupport"], cwd=ROOT, check=True, capture_output=True).stdout
    tree = into / "base"
    tree.mkdir()
    archive_path = into / "base.tar"
    archive_path.write_bytes(archive)
    with tarfile.open(archive_path) as tar:
        tar.extractall(tree, filter="data")
    return tree


def _postgres_database(server_url: str, name: str, *, create: bool, template: str | None = None) -> str:
    """Create (as a copy of ``template`` when given) or drop database ``name``; its URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    statement = f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else "") if create else f"DROP DATABASE {name}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(statement))
    finally:
        admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def _fill_template(tree: Path, database: str, args: argparse.Namespace, scratch: Path) -> str:
    """A log of ``args.logged`` sessions written by ``tree``'s own code: a SQLite file's path, or a database name."""
    data_dir = Path(tempfile.mkdtemp(dir=scratch))
    if database == "sqlite":
        url = f"sqlite:///{data_dir / 'findsupport.sqlite3'}"
        template = str(data_dir / "findsupport.sqlite3")
    else:
        template = f"fb_cost_template_{uuid.uuid4().hex[:12]}"
        url = _postgres_database(args.postgres_url, template, create=True)
    command = [sys.executable, __file__, "--child", "--data-dir", str(data_dir), "--database-url", url,
               "--fill", str(args.logged)]
    started = time.perf_counter()
    subprocess.run(command, env={**os.environ, "PYTHONPATH": str(tree)}, check=True, capture_output=True, text=True)
    print(f"{database} log of {args.logged:,} sessions by {tree}: {time.perf_counter() - started:.0f} s", flush=True)
    return template


def _run(tree: Path, database: str, args: argparse.Namespace, scratch: Path, *, harness_only: bool = False,
         template: str | None = None) -> dict:
    data_dir = Path(tempfile.mkdtemp(dir=scratch))
    name = None
    if database == "sqlite":
        url = f"sqlite:///{data_dir / 'findsupport.sqlite3'}"
        if template is not None:
            shutil.copyfile(template, data_dir / "findsupport.sqlite3")
    else:
        name = f"fb_cost_{uuid.uuid4().hex[:12]}"
        url = _postgres_database(args.postgres_url, name, create=True, template=template)
    env = {**os.environ, "PYTHONPATH": str(tree)}
    command = [sys.executable, __file__, "--child", "--data-dir", str(data_dir), "--database-url", url,
               "--searches", str(args.searches), "--warmup", str(args.warmup), "--rate", str(args.rate),
               "--logged", str(args.logged if template is not None else 0)]
    if harness_only:
        command.append("--harness-only")
    try:
        done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    finally:
        if name is not None:
            _postgres_database(args.postgres_url, name, create=False)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if not result["package"].startswith(str(tree)):
        raise SystemExit(f"the child imported {result['package']}, not the tree under {tree}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--searches", type=int, default=5_000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--rate", type=float, default=500.0, help="searches a second (paced; about a busy worker's)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--base", default="HEAD", help="the git revision whose findsupport is 'old'")
    parser.add_argument("--base-tree", type=Path, help="a directory holding the old findsupport package instead")
    parser.add_argument("--postgres-url", help="a PostgreSQL server URL (a database is created and dropped per run)")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--logged", type=int, default=0, help="sessions already in the log when a measurement starts")
    parser.add_argument("--fill", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--harness-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    databases = ([] if args.no_sqlite else ["sqlite"]) + (["postgresql"] if args.postgres_url else [])
    with tempfile.TemporaryDirectory(prefix="feedback-cost-") as tmp:
        scratch = Path(tmp)
        old = args.base_tree.resolve() if args.base_tree else _base_tree(args.base, scratch)
        trees = {"old": old, "new": ROOT}
        print(f"load average {os.getloadavg()}; {args.searches} searches of {PAGE} results at {args.rate:g}/s, {args.rounds} rounds, "
              f"{args.logged:,} sessions logged before each")
        measured: dict[tuple[str, str], list[dict]] = {}
        harness: list[dict] = []
        templates = {(database, variant): _fill_template(trees[variant], database, args, scratch)
                     for database in databases for variant in trees} if args.logged else {}
        try:
            for round_ in range(args.rounds):
                # The same loop, pacing and open log without any log_search: what the harness itself costs.
                harness.append(_run(ROOT, databases[0], args, scratch, harness_only=True))
                print(f"round {round_ + 1} harness only: {harness[-1]['cpu_us']:6.1f} µs CPU a search "
                      f"(request thread {harness[-1]['request_us']:5.1f} µs)", flush=True)
                order = ["old", "new"] if round_ % 2 == 0 else ["new", "old"]
                for database in databases:
                    for variant in order:
                        result = _run(trees[variant], database, args, scratch, template=templates.get((database, variant)))
                        measured.setdefault((database, variant), []).append(result)
                        print(f"round {round_ + 1} {database:10s} {variant}: {result['cpu_us']:6.1f} µs CPU a search "
                              f"(request thread {result['request_us']:5.1f} µs)", flush=True)
        finally:
            for (database, _), template in templates.items():
                if database == "postgresql":
                    _postgres_database(args.postgres_url, template, create=False)
        print(f"load average {os.getloadavg()}")
        base_cpu = statistics.median(r["cpu_us"] for r in harness)
        base_req = statistics.median(r["request_us"] for r in harness)
        print(f"harness alone (median): {base_cpu:.1f} µs CPU / {base_req:.1f} µs request thread a search; "
              "'net' below is a median less that")
        print("| database | old: CPU / request thread (µs a search, median) | new | new / old (CPU) | new / old (request thread) "
              "| new / old, net of the harness (CPU) |")
        print("|---|---:|---:|---:|---:|---:|")
        for database in databases:
            medians = {
                variant: (statistics.median(r["cpu_us"] for r in measured[(database, variant)]),
                          statistics.median(r["request_us"] for r in measured[(database, variant)]))
                for variant in ("old", "new")
            }
            (old_cpu, old_req), (new_cpu, new_req) = medians["old"], medians["new"]
            print(f"| {database} | {old_cpu:.1f} / {old_req:.1f} | {new_cpu:.1f} / {new_req:.1f} | "
                  f"{new_cpu / old_cpu:.2f} | {new_req / old_req:.2f} | {(new_cpu - base_cpu) / (old_cpu - base_cpu):.2f} |")


if __name__ == "__main__":
    main()

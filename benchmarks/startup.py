"""Start-up benchmark: how long a new worker, server or batch run takes to be ready to search.

Usage::

    .venv/bin/python benchmarks/startup.py                          # 100k and 1M, 5 repeats
    .venv/bin/python benchmarks/startup.py --sizes 100000 --repeats 3
    .venv/bin/python benchmarks/startup.py --sizes 100000 --batch-lines 20000
    .venv/bin/python benchmarks/startup.py --batch-lines 0 --postgres postgresql://postgres@127.0.0.1:54329/postgres

For each size it fills (once, cached under ``benchmarks/out/startup-<n>/``) a
data dir with the synthetic catalogue of ``benchmarks/synthetic.py`` written
through :meth:`CatalogStore.write` (the same rows ``benchmarks/search.py``
searches, stored as an import stores them; much faster than the demo
generator at 1M), then times, each in a **fresh process** (``python -c``):

* ``Engine.open`` and the first answered search, with a breakdown: imports
  (``findsupport.search``), postcode directory, catalogue (snapshot or SQL),
  serving ranker, index + scorer + compiled loops (``Snapshot.build``), the
  rest (feedback log, heap settling) and the first search;
* ``cold`` (no public-catalogue snapshot in the cache dir, as the first
  process after an import) and ``warm`` (the snapshot the previous run left);
  alternated, medians of ``--repeats`` runs; with ``--before-tree``, an older
  copy of the package too (``before``, warm: its own snapshot when it has one),
  on a copy of the data dir at the schema revision it knows (:func:`before_copy`);
* with ``--postgres URL`` (a throwaway server's ``postgres`` database), the
  same catalogue copied into a PostgreSQL database of its own
  (:func:`postgres_copy`) and, alternating with the others, ``pg_rows`` (no
  snapshot anywhere: the rows are read and the snapshot stored in the
  database), ``pg_new_server`` (an empty cache dir: the stored snapshot and
  index are fetched), ``pg_warm`` (the files that fetch wrote) and
  ``pg_new_server_index_built`` (the snapshot fetched, the index not stored:
  built and stored); ``shared_store`` and ``shared_fetch`` are timed too;
* the modules a ``findsupport.web`` app has imported after ``create_app``
  (scikit-learn, SciPy, pandas and GeoPandas should not be among them);

and, at 100k, the real ``findsupport search --batch`` over ``--batch-lines``
mixed queries end to end, start-up included (``benchmarks/search.py``'s
``batch_cli``).  The machine may be shared: the load average and the fixed
calibration loop of ``benchmarks/search.py`` are printed with every size.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "benchmarks" / "out"
#: The postcode directory's cache, shared with the other benchmarks and the tests.
CACHE = Path(os.environ.get("FINDSUPPORT_TEST_CACHE", REPO / ".cache"))

#: Runs in a fresh interpreter: times each stage of ``Engine.open`` as the engine does it, then one search.
CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import findsupport.search.engine as engine_module
from findsupport.config import load_settings
stages = {"imports": time.perf_counter() - t0}
values = {"data_dir": sys.argv[1], "cache_dir": sys.argv[2]}
if len(sys.argv) > 3:  # another database than the data dir's SQLite (PostgreSQL)
    values["database_url"] = sys.argv[3]
settings = load_settings(values, environ={})

def timed(name, fn):
    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            stages[name] = stages.get(name, 0.0) + time.perf_counter() - t
    return wrapper

from findsupport.geo import PostcodeDirectory
engine_module.PostcodeDirectory = type("Timed", (PostcodeDirectory,), {"load": staticmethod(timed("postcodes", PostcodeDirectory.load))})
if hasattr(engine_module, "cached_public_catalog"):
    engine_module.cached_public_catalog = timed("catalog", engine_module.cached_public_catalog)
else:  # a tree from before the snapshot: the catalogue is read from the database
    from findsupport.catalog.store import CatalogStore
    CatalogStore.public_catalog = timed("catalog", CatalogStore.public_catalog)
engine_module.load_serving_ranker = timed("model", engine_module.load_serving_ranker)
try:  # the shared snapshot's store and fetch, inside "catalog"
    from findsupport.catalog import shared_snapshot
    shared_snapshot.store_shared = timed("shared_store", shared_snapshot.store_shared)
    shared_snapshot.fetch_shared = timed("shared_fetch", shared_snapshot.fetch_shared)
except ImportError:  # a tree from before the shared snapshot
    pass
engine_module.Snapshot.build = classmethod(timed("index_and_jit", engine_module.Snapshot.build.__func__))
heavy = ("sklearn", "scipy", "pandas", "geopandas")
stages["heavy_after_imports"] = [m for m in heavy if m in sys.modules]
t = time.perf_counter()
engine = engine_module.Engine.open(settings, feedback=False, reverse=False)
stages["engine_open"] = time.perf_counter() - t
t = time.perf_counter()
response = engine.search({"postcode": "NE21 4LZ", "role": "mentor", "event": "hurdles", "slots": "tue_eve"})
stages["first_search"] = time.perf_counter() - t
stages["ready"] = time.perf_counter() - t0
stages["other"] = stages["engine_open"] - sum(stages.get(k, 0.0) for k in ("postcodes", "catalog", "model", "index_and_jit"))
stages.setdefault("shared_store", 0.0)
stages.setdefault("shared_fetch", 0.0)
stages["heavy_after_open"] = [m for m in heavy if m in sys.modules]
stages["providers"] = len(engine.catalog)
stages["results"] = len(response.results)
print(json.dumps(stages))
"""

#: Imports a web app the way a WSGI server does and lists the heavy modules it pulled in.
WEB_CHILD = r"""
import json, sys
from findsupport.web import create_app
app = create_app({"data_dir": sys.argv[1], "cache_dir": sys.argv[2]}, background=False)
heavy = ("sklearn", "scipy", "pandas", "geopandas", "matplotlib", "pyogrio")
print(json.dumps(sorted(m for m in heavy if m in sys.modules)))
"""


def make_data_dir(n: int, seed: int = 0) -> Path:
    """A data dir holding ``n`` synthetic providers, written like an import (made once, then reused)."""
    from synthetic import synthetic_catalog

    from findsupport.catalog import CatalogStore
    from findsupport.catalog.model import Provider
    from findsupport.catalog.service_area import ServiceAreaError, clean_service_area
    from findsupport.config import load_settings
    from findsupport.geo import PostcodeDirectory

    path = OUT / f"startup-{n}"
    settings = load_settings({"data_dir": str(path), "cache_dir": str(CACHE)}, environ={})
    store = CatalogStore.open(settings)
    if store.has_catalog():
        return path
    print(f"  writing {n:,} synthetic providers into {path}", file=sys.stderr, flush=True)
    catalog = synthetic_catalog(PostcodeDirectory.load(CACHE), n, seed=seed)
    # An import stores service areas coarsened to the public grid (a few synthetic blobs off the
    # coast have nothing left and are dropped, as an import would refuse them).
    coarse: dict[int, Any] = {}
    for p in catalog.providers:
        if p.service_area is not None and id(p.service_area) not in coarse:
            try:
                coarse[id(p.service_area)] = clean_service_area(p.service_area)
            except ServiceAreaError:
                coarse[id(p.service_area)] = None
    providers = [
        Provider(
            **{name: getattr(p, name) for name in ("id", "name", "roles", "events", "availability", "online",
                                                     "travel_km", "capacity", "active_coaches", "qualification",
                                                     "club", "bio", "area", "easting", "northing", "lon", "lat")},
            service_area=coarse.get(id(p.service_area)),
            consent=True, email=f"{p.id}@example.org", postcode=None, base_lon=p.lon, base_lat=p.lat,
            base_easting=p.easting, base_northing=p.northing,
        )
        for p in catalog.providers
    ]  # fmt: skip
    store.write(providers, source=f"synthetic ({n} providers, seed {seed})", format="synthetic",
                progress=lambda text: print(f"  {text}", file=sys.stderr, flush=True))  # fmt: skip
    return path


def before_copy(path: Path, tree: Path) -> Path:
    """A copy of data dir ``path`` at the schema revision the older ``tree`` knows (made once, then reused).

    An older findsupport refuses a database a newer one has upgraded, so the
    "before" runs get their own copy (SQLite's backup), taken back down to
    the older head revision with this tree's own migrations (their
    ``downgrade``).  Same catalogue, same version: only the schema differs.
    """
    import sqlite3

    import sqlalchemy as sa
    from alembic.runtime.environment import EnvironmentContext

    from findsupport.migrations.runner import alembic_config, current_revision, script_directory

    names = (file.name for file in (tree / "findsupport" / "migrations" / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))
    older_head = max(name[:4] for name in names)
    target = path.with_name(f"{path.name}-before")
    database = target / "findsupport.sqlite3"
    engine = sa.create_engine(f"sqlite:///{database}")
    if database.exists() and current_revision(engine) == older_head:
        return target
    engine.dispose()  # its pooled connection would go on reading the file replaced below
    print(f"  copying {path} to {target} at schema revision {older_head}", file=sys.stderr, flush=True)
    target.mkdir(parents=True, exist_ok=True, mode=0o700)
    database.unlink(missing_ok=True)
    with sqlite3.connect(f"file:{path / 'findsupport.sqlite3'}?mode=ro", uri=True) as source, sqlite3.connect(database) as copy:
        source.backup(copy)
    script = script_directory()
    with engine.connect() as connection:
        def steps(revision: Any, _context: Any) -> Any:
            return script._downgrade_revs(older_head, revision)

        with EnvironmentContext(alembic_config(), script, fn=steps, destination_rev=older_head) as env:
            env.configure(connection=connection, render_as_batch=True)
            with env.begin_transaction():
                env.run_migrations()
        connection.commit()
    return target


def postgres_copy(path: Path, admin_url: str, n: int) -> tuple[str, Path]:
    """The catalogue of data dir ``path`` in a PostgreSQL database of its own (made once, then reused).

    Returns its URL and a data dir for the servers using it (its ``cache`` is
    their local snapshot cache).  ``admin_url`` names the server's ``postgres``
    database (a throwaway cluster: ``.ci/postgres``); the copy is the same
    providers and imports, so the same catalogue version.
    """
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    from findsupport.catalog.tables import imports_table, providers_table
    from findsupport.db import create_db_engine

    name = f"fs_startup_{n}"
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        if not conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first():
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    target = create_db_engine(url)  # the migrations, as a new database gets them
    data_dir = path.with_name(f"{path.name}-pg")
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with target.connect() as conn:
        filled = conn.execute(sa.select(sa.func.count()).select_from(providers_table)).scalar()
    if filled:
        target.dispose()
        return url, data_dir
    print(f"  copying {path} into PostgreSQL database {name}", file=sys.stderr, flush=True)
    source = sa.create_engine(f"sqlite:///{path / 'findsupport.sqlite3'}")
    columns = [c.name for c in providers_table.columns]
    with source.connect() as src, target.begin() as dst:
        dst.execute(sa.insert(imports_table), [dict(row._mapping) for row in src.execute(sa.select(imports_table))])
        raw = dst.connection.driver_connection
        with raw.cursor() as cursor, cursor.copy(f"COPY providers ({', '.join(columns)}) FROM STDIN") as copy:
            result = src.execution_options(stream_results=True, yield_per=50_000).execute(sa.select(providers_table))
            for row in result:
                copy.write_row(tuple(row))
    source.dispose()
    with target.connect() as conn:
        conn.execute(sa.text("ANALYZE"))
    target.dispose()
    return url, data_dir


def clear_shared(url: str, kinds: str = "%") -> None:
    """Delete the shared files whose kind is like ``kinds`` from the database at ``url`` (all by default)."""
    import sqlalchemy as sa

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM catalog_snapshot_chunks WHERE kind LIKE :kinds"), {"kinds": kinds})
    engine.dispose()


def snapshot_files(path: Path) -> list[Path]:
    """The public-catalogue snapshots in a data dir's cache."""
    return sorted((path / "cache").glob("public-catalog-*"))


def fresh_open(path: Path, *, warm: bool, tree: Path | None = None, database_url: str | None = None) -> dict[str, Any]:
    """One fresh process opening the engine of ``path``; ``warm`` keeps the snapshot a previous run left.

    ``tree`` runs another copy of the package instead (``git archive`` of an
    older commit), for before/after figures in one run; ``database_url`` another
    database than the data dir's SQLite (:func:`postgres_copy`).
    """
    if not warm:
        for file in snapshot_files(path):
            file.unlink()
    cache = path / "cache"
    cache.mkdir(exist_ok=True)
    # The postcode directory is shared (it is not what this measures): link it into the data dir's cache.
    for source in CACHE.glob("postcodes-*.npz"):
        target = cache / source.name
        if not target.exists():
            target.symlink_to(source)
    env = {**os.environ, "PYTHONPATH": str(tree)} if tree is not None else None
    started = time.perf_counter()
    command = [sys.executable, "-c", CHILD, str(path), str(cache), *([database_url] if database_url else [])]
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env, cwd=tree or REPO)
    wall = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(done.stderr)
    stages = json.loads(done.stdout.strip().splitlines()[-1])
    stages["process_wall"] = wall
    return stages


def web_modules(path: Path) -> list[str]:
    done = subprocess.run([sys.executable, "-c", WEB_CHILD, str(path), str(path / "cache")], capture_output=True,
                          text=True, check=False)  # fmt: skip
    if done.returncode:
        raise RuntimeError(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {key: float(np.median([run[key] for run in runs])) if isinstance(value, float | int) else value
            for key, value in runs[0].items()}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    from search import calibration_ms, load, mixed_query

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-lines", type=int, default=20_000)
    parser.add_argument("--batch-repeats", type=int, default=3)
    parser.add_argument("--only-make", action="store_true", help="fill the data dirs and stop")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--postgres", help="also time servers on PostgreSQL: the URL of a throwaway server's "
                        "postgres database (each size's catalogue is copied into a database of its own)")
    parser.add_argument("--before-tree", type=Path, help="a copy of an older findsupport (git archive HEAD findsupport | "
                        "tar -x -C DIR) timed in the same runs, alternating with this one")  # fmt: skip
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    paths = {n: make_data_dir(n) for n in sizes}
    if args.only_make:
        return 0
    results: dict[str, Any] = {"python": platform.python_version(), "machine": platform.machine(), "sizes": {}}
    for n, path in paths.items():
        say = lambda text: print(f"  [{n:,}] {text}", file=sys.stderr, flush=True)  # noqa: E731
        out: dict[str, Any] = {"calibration_ms": calibration_ms(), "load_before": load()}
        labels: tuple[str, ...] = ("before", "cold", "warm") if args.before_tree else ("cold", "warm")
        # On PostgreSQL, in this order each round: a process with no snapshot anywhere (it reads the
        # rows, then stores the snapshot in the database), a new server (empty cache: it fetches that
        # copy), and a warm one (the file the new server wrote).
        # Last, a new server finding the snapshot but not the index in the database (it builds the index).
        pg_labels = ("pg_rows", "pg_new_server", "pg_warm", "pg_new_server_index_built") if args.postgres else ()
        labels = (*labels, *pg_labels)
        runs: dict[str, list[dict[str, Any]]] = {label: [] for label in labels}
        old_path = before_copy(path, args.before_tree) if args.before_tree else path
        pg_url, pg_path = postgres_copy(path, args.postgres, n) if args.postgres else (None, path)

        def open_as(label: str, warm: bool) -> dict[str, Any]:
            if label.startswith("pg_"):
                if label == "pg_rows":
                    clear_shared(pg_url)
                elif label == "pg_new_server_index_built":
                    clear_shared(pg_url, "index-%")
                return fresh_open(pg_path, warm=label == "pg_warm" and warm, database_url=pg_url)
            tree = args.before_tree if label == "before" else None
            # "before" runs warm too: an older tree with a snapshot cache of its own then reads it
            # (against "warm"), and one without any reads the database whatever the cache holds.
            return fresh_open(old_path if label == "before" else path, warm=warm and label != "cold", tree=tree)

        for label in labels:  # not counted: compiles bytecode and the search loops of a fresh tree
            open_as(label, warm=True)
        for _ in range(args.repeats):
            for label in labels:
                run = open_as(label, warm=True)
                runs[label].append(run)
                say(f"{label}: ready in {run['ready']:.2f} s (process {run['process_wall']:.2f} s; catalogue "
                    f"{run['catalog']:.2f} s, of which shared store {run['shared_store']:.2f} s, "
                    f"fetch {run['shared_fetch']:.2f} s)")  # fmt: skip
        for label, label_runs in runs.items():
            out[label] = medians(label_runs)
            out[f"{label}_ready_runs"] = [run["ready"] for run in label_runs]
        out["snapshot_bytes"] = sum(f.stat().st_size for f in snapshot_files(path))
        out["web_heavy_modules"] = web_modules(path)
        out["load_after"] = load()
        say(", ".join(f"{label} median {out[label]['ready']:.2f} s" for label in labels) + "; "
            f"web app imported {out['web_heavy_modules'] or 'none of the heavy modules'}")  # fmt: skip
        if n == 100_000 and args.batch_lines:
            from search import batch_cli

            rng = random.Random(7)
            from synthetic import sample_query_postcodes

            from findsupport.geo import PostcodeDirectory

            postcodes = sample_query_postcodes(PostcodeDirectory.load(CACHE), args.batch_lines, seed=3)
            lines = [json.dumps({"id": i, **mixed_query(pc, rng)}) for i, pc in enumerate(postcodes)]
            trees = {"batch_cli_before": args.before_tree, "batch_cli": None} if args.before_tree else {"batch_cli": None}
            batches: dict[str, list[dict[str, Any]]] = {label: [] for label in trees}
            for _ in range(args.batch_repeats):  # the trees alternate, as the start-ups do
                for label, tree in trees.items():
                    saved = os.environ.get("PYTHONPATH")
                    if tree is not None:  # the command's own interpreter then imports the older tree
                        os.environ["PYTHONPATH"] = str(tree)
                    try:
                        batches[label].append(batch_cli(str(old_path if tree is not None else path), lines, 1))
                    finally:
                        if saved is None:
                            os.environ.pop("PYTHONPATH", None)
                        else:
                            os.environ["PYTHONPATH"] = saved
            for label, runs in batches.items():
                batch = {**runs[0], "runs": [run["runs"] for run in runs]}
                for key in ("startup_s", "whole_s"):
                    batch[key] = float(np.median([run[key] for run in runs]))
                batch["answering_qps"] = batch["lines"] / max(batch["whole_s"] - batch["startup_s"], 1e-9)
                batch["qps_including_start"] = batch["lines"] / batch["whole_s"]
                batch["qps_including_start_runs"] = [run["qps_including_start"] for run in runs]
                out[label] = batch
                say(f"{label}: search --batch of {batch['lines']:,}: start-up {batch['startup_s']:.2f} s, whole "
                    f"{batch['whole_s']:.2f} s, {batch['qps_including_start']:.0f} queries/s including start-up")  # fmt: skip
        results["sizes"][str(n)] = out
    text = json.dumps(results, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

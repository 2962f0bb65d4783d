"""What introductions cost the search path: searches and reloads with and without them, side by side.

Usage::

    .venv/bin/python benchmarks/introduction_cost.py                      # 10,000 providers
    .venv/bin/python benchmarks/introduction_cost.py --providers 20000 --introductions 6000 --rounds 21

Two installations are built in a temporary folder from the same demo catalogue
(``load_demo``, the same seed), each with its own SQLite database:

* **without**: the catalogue only;
* **with**: the same catalogue after ``--introductions`` requests through the
  real :class:`~findsupport.introductions.IntroductionService` (a simulated
  clock moves between them): about half are declined and a fifth accepted
  (each acceptance takes a place), the rest stay pending and hold one; providers
  answer after a few hours to a few days, so many have a "usually replies
  within" to show.  Its engine follows the service's responsiveness, as the
  web app's does.

Then, alternating which goes first in each round so that the machine's load
falls on both alike:

1. **search**: the same ``--queries`` searches (real postcodes, a mix of roles,
   events, modes, levels), each serialised to the API's JSON shape, on each
   engine, in blocks of :data:`BLOCK` queries that take turns going first;
   throughput (wall-clock and CPU time of this process, which other
   processes' load disturbs less) and the ratio with/without, beside the ratio
   of a *control* engine on the same catalogue as *without* (the noise floor);
2. **reload after a place change**: *without*, one place is held or freed in
   the places table directly (what an introduction does to it); *with*, a real
   request or answer through the service.  Each then runs ``engine.reload()``
   (new catalogue version: snapshot read, index built, and for *with* the
   responsiveness figures worked out again); medians of the reload times, and
   the responsiveness query alone.

Speed claims are ratios of runs interleaved in one process (the machine may be
shared); the load average is printed.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic import sample_query_postcodes  # noqa: E402

from findsupport import taxonomy  # noqa: E402
from findsupport.catalog import CatalogStore, places  # noqa: E402
from findsupport.catalog.demo import load_demo  # noqa: E402
from findsupport.config import Settings, load_settings  # noqa: E402
from findsupport.errors import FindSupportError  # noqa: E402
from findsupport.geo import PostcodeDirectory  # noqa: E402
from findsupport.introductions import Asked, IntroductionService  # noqa: E402
from findsupport.introductions.tokens import RESPOND  # noqa: E402
from findsupport.search.engine import Engine  # noqa: E402
from findsupport.search.query import parse_query  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
#: Queries timed on one engine before switching to the other.
BLOCK = 20
#: The postcode directory the tests and benchmarks share (made by `make test` or `findsupport demo`).
POSTCODE_CACHE = Path(os.environ.get("FINDSUPPORT_TEST_CACHE", REPO / ".cache"))


class SimulatedClock:
    """A clock the benchmark moves: requests spread over weeks, answers hours to days later."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, hours: float) -> None:
        self.now += timedelta(hours=hours)


def installation(root: Path, name: str, providers: int, directory: PostcodeDirectory, *,
                 like: Settings | None = None) -> Settings:
    """A data dir with the demo catalogue of ``providers`` (seed 1), or a copy of ``like``'s; its own cache dir."""
    data_dir, cache_dir = root / name, root / f"{name}-cache"
    cache_dir.mkdir(parents=True)
    for cached in POSTCODE_CACHE.glob("postcodes-*.npz"):
        (cache_dir / cached.name).symlink_to(cached)  # the postcode directory only; snapshots are each their own
    settings = load_settings({"data_dir": data_dir, "cache_dir": cache_dir, "rate_limits": "off",
                              "public_url": "https://find.example"}, environ={})
    if like is not None:  # the same catalogue, byte for byte (an import of it would take as long again)
        shutil.copytree(like.data_dir, data_dir)
        return settings
    report = load_demo(CatalogStore.open(settings), directory, settings, seed=1, providers=providers)
    assert report.ok, report.summary()
    return settings


def fill_introductions(service: IntroductionService, clock: SimulatedClock, ids: list[str], count: int,
                       rng: random.Random) -> dict[str, int]:
    """``count`` requests through the service: answered (declined, accepted) or left pending."""
    asked = Asked.from_query({"postcode": "NE21 4LZ", "role": "mentor", "mode": "in_person"})
    # A few hundred providers get most requests, as popular mentors do: enough history for "replies within".
    popular = rng.sample(ids, min(len(ids), max(1, count // 8)))
    outcome = {"declined": 0, "accepted": 0, "pending": 0, "full": 0}
    for i in range(count):
        provider_id = rng.choice(popular) if popular and rng.random() < 0.8 else rng.choice(ids)
        try:
            introduction = service.request(provider_id, name="Bench Coach", email=f"coach{i}@coaches.example",
                                           message="Could you help me with hurdles drills?", asked=asked)
        except FindSupportError:  # provider-full: a real coach would be told so, and ask someone else
            outcome["full"] += 1
            if provider_id in popular:
                popular.remove(provider_id)
            continue
        clock.advance(hours=rng.uniform(2, 96))
        draw = rng.random()
        token = service.tokens.dump(RESPOND, introduction.id)
        if draw < 0.6:
            service.decline(token)
            outcome["declined"] += 1
        elif draw < 0.8:
            service.accept(token)
            outcome["accepted"] += 1
        else:
            outcome["pending"] += 1
        clock.advance(hours=rng.uniform(0, 6))
    return outcome


def queries(directory: PostcodeDirectory, count: int, seed: int) -> list[Any]:
    rng = random.Random(seed)
    parsed = []
    for postcode in sample_query_postcodes(directory, count, seed=seed):
        parsed.append(parse_query({
            "postcode": postcode,
            "role": rng.choice([None, *taxonomy.ROLES]),
            "event": rng.choice([None, "hurdles", "endurance", "jumps", "throws"]),
            "mode": rng.choice(["in_person", "in_person", "any", "online"]),
            "level": rng.choice([None, "sessional_coach", "athletics_coach"]),
        }))  # fmt: skip
    return parsed


def search_seconds(engine: Engine, batch: list[Any]) -> tuple[float, float]:
    """Wall-clock and CPU seconds (this process) of searching ``batch`` and serialising each answer."""
    wall, cpu = time.perf_counter(), time.process_time()
    for query in batch:
        engine.search(query).to_dict()
    return time.perf_counter() - wall, time.process_time() - cpu


def place_change_without(store: CatalogStore, provider_ids: list[str], held: list[str]) -> None:
    """What an introduction does to the places table, without an introduction: hold a place, or free one."""
    if held:
        with store.engine.begin() as conn:
            places.release_hold(conn, held.pop())
        return
    for provider_id in provider_ids:
        places.ensure_row(store.engine, provider_id)
        with store.engine.begin() as conn:
            if places.hold(conn, provider_id):
                held.append(provider_id)
                return


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--providers", type=int, default=10_000)
    parser.add_argument("--introductions", type=int, default=3_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--reloads", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    directory = PostcodeDirectory.load(POSTCODE_CACHE)
    with tempfile.TemporaryDirectory(prefix="introduction-cost-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        without = installation(root, "without", args.providers, directory)
        with_ = installation(root, "with", args.providers, directory, like=without)
        print(f"two installations of {args.providers:,} demo providers in {time.perf_counter() - started:.1f} s")

        clock = SimulatedClock()
        store = CatalogStore.open(with_)
        service = IntroductionService(store.engine, with_, contacts=store.contact_for, clock=clock)
        ids = [p.id for p in store.public_catalog().providers]
        started = time.perf_counter()
        outcome = fill_introductions(service, clock, ids, args.introductions, rng)
        print(f"{args.introductions:,} requests in {time.perf_counter() - started:.1f} s: {outcome}")

        engine_without = Engine.open(without, feedback=False)
        # A second engine on the very same catalogue: how far two identical engines differ here is the
        # floor under which a difference with/without means nothing.
        engine_control = Engine.open(without, feedback=False)
        engine_with = Engine.open(with_, feedback=False)
        engine_with.follow_responsiveness(service.replies_within_by_provider)
        replying = service.replies_within_by_provider()
        held = sum(1 for p in engine_with.catalog.providers if p.places_taken)
        print(f"with: {len(replying):,} providers show 'usually replies within' "
              f"({dict(sorted(_count(replying.values()).items()))}), {held:,} have places taken or held")

        batch = queries(directory, args.queries, args.seed)
        engines = {"without": engine_without, "with": engine_with, "control": engine_control}
        for engine in engines.values():
            search_seconds(engine, batch)  # warm each (memos, first-touch pages)
        # Blocks of BLOCK queries, A then B or B then A in turn: load that comes and goes falls on both.
        totals = {name: [0.0, 0.0] for name in engines}
        block_ratios: list[float] = []
        names = list(engines)
        for round_ in range(args.rounds):
            for start in range(0, len(batch), BLOCK):
                block = batch[start:start + BLOCK]
                turn = (round_ + start // BLOCK) % len(names)  # each engine goes first, second and last in turn
                seconds = {name: search_seconds(engines[name], block) for name in names[turn:] + names[:turn]}
                for name, (wall, cpu) in seconds.items():
                    totals[name][0] += wall
                    totals[name][1] += cpu
                block_ratios.append(seconds["without"][1] / seconds["with"][1])
        searches = args.rounds * len(batch)
        print(f"\nsearch ({args.queries} mixed queries to JSON x {args.rounds} rounds, in alternating blocks of {BLOCK}):")
        for name in ("without", "with", "control"):
            wall, cpu = totals[name]
            label = "control (same as without)" if name == "control" else f"{name} introductions"
            print(f"  {label + ':':27} {searches / wall:7,.0f} searches/s wall-clock, {searches / cpu:7,.0f} per CPU-second")
        quartiles = statistics.quantiles(block_ratios, n=4)
        print(f"  throughput with/without: wall-clock {totals['without'][0] / totals['with'][0]:.3f}, "
              f"CPU {totals['without'][1] / totals['with'][1]:.3f} "
              f"(blocks: median {statistics.median(block_ratios):.3f}, quartiles {quartiles[0]:.3f}-{quartiles[2]:.3f})")
        print(f"  control/without (identical engines): wall-clock {totals['without'][0] / totals['control'][0]:.3f}, "
              f"CPU {totals['without'][1] / totals['control'][1]:.3f}")

        reload_without, reload_with, figures = [], [], []
        pending: list[Any] = []
        store_without, held_without = CatalogStore.open(without), []
        for i in range(args.reloads):
            provider_id = rng.choice(ids)
            steps = [("without", engine_without), ("with", engine_with)]
            if i % 2:
                steps.reverse()
            for name, engine in steps:
                if name == "without":
                    place_change_without(store_without, rng.sample(ids, 20), held_without)
                elif pending and i % 2:
                    service.decline(service.tokens.dump(RESPOND, pending.pop().id))
                else:
                    try:
                        pending.append(service.request(provider_id, name="Bench Coach", email=f"late{i}@coaches.example",
                                                       message="Could you help me with hurdles drills?"))
                    except FindSupportError:
                        pass  # full: nothing changed, so the reload below has nothing to do and is not counted
                started, cpu = time.perf_counter(), time.process_time()
                changed = engine.reload()
                elapsed = (time.perf_counter() - started, time.process_time() - cpu)
                if changed:
                    (reload_without if name == "without" else reload_with).append(elapsed)
            started, cpu = time.perf_counter(), time.process_time()
            service.replies_within_by_provider()
            figures.append((time.perf_counter() - started, time.process_time() - cpu))
        print(f"\nreload after a place change ({args.reloads} each, interleaved; new catalogue version each time):")
        medians = {name: [statistics.median(t[k] for t in times) for k in (0, 1)]
                   for name, times in (("without", reload_without), ("with", reload_with), ("figures", figures))}
        for name, times in (("without", reload_without), ("with", reload_with)):
            print(f"  {name + ' introductions:':24} median {medians[name][0] * 1000:7,.0f} ms wall-clock, "
                  f"{medians[name][1] * 1000:7,.0f} ms CPU ({len(times)} reloads)")
        print(f"  of which the responsiveness figures: median {medians['figures'][0] * 1000:,.1f} ms wall-clock, "
              f"{medians['figures'][1] * 1000:,.1f} ms CPU")
        print(f"  reload with/without: wall-clock {medians['with'][0] / medians['without'][0]:.3f}, "
              f"CPU {medians['with'][1] / medians['without'][1]:.3f}")
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    return 0


def _count(values: Any) -> dict[Any, int]:
    counts: dict[Any, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


if __name__ == "__main__":
    raise SystemExit(main())

"""Ranking quality: NDCG@10 of nearest-first, the default weights and the trained model.

Run:  .venv/bin/python benchmarks/ranking_quality.py [--providers 2000] [--sessions 5000] [--seeds 3] [--quick]

Method
------
1. The demo catalogue (``findsupport demo``: synthetic providers at real
   postcodes) in a temporary data dir.
2. Simulated coaches (:mod:`findsupport.ranking.simulator`) search it: a
   nearest-first logging policy with exploration, position-biased
   examination, heterogeneous tastes; one feedback line per session.
3. ``train_model`` exactly as ``findsupport train`` runs it: features
   recomputed from the catalogue, sessions split by session key (20% held
   out), alpha by 5-fold GroupKFold grid search on the training sessions,
   position-bias exponent by maximum likelihood, listwise IPW fit.
4. Two measures on the held-out sessions, side by side for the three rankers:

   * **logged NDCG@10**: against what the coaches chose among the results
     they were shown (the measure ``findsupport train`` prints; it is biased
     towards the logging policy's order, i.e. towards nearest-first);
   * **true NDCG@10**: against each simulated coach's own probability of
     choosing *every* candidate (not just those shown) — only a simulation
     can know it; it says whether the model learned the coaches' tastes or
     the quirks of the log.

5. The true NDCG@10 split by the searches' mode (in person, online, any)
   and role, from the same held-out sessions (issue 12: no mode may trail
   in-person searches by more than 0.05).
6. The default world with several seeds, then worlds that change one
   assumption at a time (position bias, noisier coaches, quite different
   tastes) to show what the margins depend on.

Figures go into BENCHMARKS.md by hand, with the machine they came from.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from findsupport.catalog import CatalogStore
from findsupport.cli import main as cli
from findsupport.config import load_settings
from findsupport.geo import PostcodeDirectory
from findsupport.ranking import (
    NEAREST_FIRST,
    Behaviour,
    CoachPopulation,
    CoachSimulator,
    Evaluation,
    QueryContext,
    RankerScore,
    build_dataset,
    compute_features,
    default_ranker,
    feedback_text,
    mean_ndcg,
    session_ndcg,
    query_point,
    session_segments,
    read_feedback,
    train_model,
)
from findsupport.ranking.sessions import is_held_out, session_key
from findsupport.ranking.training import DEFAULT_HOLDOUT

REPO = Path(__file__).resolve().parent.parent

#: One assumption changed at a time (see the simulator's dataclasses for the defaults).
WORLDS = {
    "default": {},
    "no position bias (exponent 0)": {"behaviour": {"examination_exponent": 0.0}},
    "steeper position bias (0.6)": {"behaviour": {"examination_exponent": 0.6}},
    "web-search position bias (1.0)": {"behaviour": {"examination_exponent": 1.0}},
    "noisier coaches": {"population": {"noise": 0.6}, "behaviour": {"view_temperature": 0.5}},
    "different tastes": {
        "population": {
            "distance_km": 6.0, "event_exact": (0.5, 1.5), "availability": (0.3, 1.0), "full": (3.0, 5.0),
            "qualification_above": (1.0, 2.5), "online_lovers": 0.6, "online_bonus": (1.0, 2.0),
        }
    },
}


def held_out(sessions):
    """The simulated sessions on the held-out side of the split ``train_model`` uses, with their queries."""
    for s in sessions:
        if is_held_out(session_key(s.feedback), DEFAULT_HOLDOUT) and s.relevance.max() > 0:
            yield s, read_feedback(feedback_text([s.feedback])).sessions[0].query


def true_evaluation(sessions, catalog, directory, rankers) -> Evaluation:
    """NDCG@10 over all candidates of held-out sessions, against the simulated coaches' tastes.

    An :class:`Evaluation` (so ``split("mode")`` and ``split("role")`` work);
    each ranker needs ``decision_function(X)`` (``None``: nearest first).
    """
    values: dict[str, list[float]] = {name: [] for name in rankers}
    queries = []
    for s, q in held_out(sessions):
        x, y = query_point(q, directory)
        context = QueryContext.from_query(x, y, role=q.role, event=q.event, slots=q.slots, mode=q.mode, level=q.level)
        X = compute_features(context, catalog, s.candidates, s.distance_m, s.inside)
        grades = np.log2(1.0 + s.relevance)  # so that the gain 2**grade - 1 is the probability itself
        for name, ranker in rankers.items():
            scores = -s.distance_m if ranker is None else ranker.decision_function(X)
            values[name].append(mean_ndcg(scores, grades, np.zeros(len(scores), dtype=int), tiebreak=s.distance_m))
        queries.append(q)
    scores = tuple(RankerScore.of(name, np.asarray(v)) for name, v in values.items())
    return Evaluation(10, scores, session_segments(queries))


def split_figures(evaluation: Evaluation) -> dict:
    """``{"mode": {value: {ranker: ndcg}}, "role": ...}`` plus each value's session count."""
    out = {}
    for by in ("mode", "role"):
        out[by] = {
            value: {**{sc.name: round(sc.ndcg, 4) for sc in part.scores}, "sessions": part.scores[0].sessions}
            for value, part in evaluation.split(by).items()
        }
    return out


def logged_ceiling(sessions, feedback, catalog, directory) -> Evaluation:
    """Logged NDCG@10 of ranking each held-out page by the coach's own (noise-free) taste.

    The most any ranker can reach on the logged choices: they are noisy and
    position-biased, so even the coaches' own tastes do not score 1.  An
    :class:`Evaluation` with one ranker, ``"ceiling"``, split by mode and role.
    """
    truth = {}
    for s in sessions:
        key = session_key(s.feedback)
        for position, relevance in zip(s.candidates, s.relevance):
            truth[(key, catalog.providers[int(position)].id)] = relevance
    data, _ = build_dataset(feedback, catalog, directory)
    _, test = data.split(DEFAULT_HOLDOUT)
    scores = np.array([truth[(test.session_keys[g], pid)] for g, pid in zip(test.groups, test.provider_ids)])
    values = session_ndcg(scores, test.grades, test.groups, tiebreak=test.distance_m)
    # session_ndcg keeps the sessions with a choice in order; test's rows come session by session.
    queries = [test.queries[i] for i in np.flatnonzero(test.learnable())]
    return Evaluation(10, (RankerScore.of("ceiling", values),), session_segments(queries))


def run_world(name, changes, seed, n_sessions, catalog, directory, settings) -> dict:
    t0 = time.perf_counter()
    simulator = CoachSimulator(
        catalog, directory, seed=seed,
        population=replace(CoachPopulation(), **changes.get("population", {})),
        behaviour=replace(Behaviour(), **changes.get("behaviour", {})),
    )
    sessions = list(simulator.sessions(n_sessions))
    feedback = read_feedback(feedback_text([s.feedback for s in sessions]))
    simulated_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = train_model(feedback, catalog, directory, settings, save=False)
    train_s = time.perf_counter() - t0
    true = true_evaluation(sessions, catalog, directory, {NEAREST_FIRST: None, "default": default_ranker(), "trained": result.ranker})
    truth = {sc.name: sc.ndcg for sc in true.scores}
    e = result.evaluation
    ceiling_by = logged_ceiling(sessions, feedback, catalog, directory)
    ceiling = ceiling_by.ndcg("ceiling")
    vs_default, vs_default_ci = e.difference("trained", "default")
    return {
        "world": name, "seed": seed, "sessions": n_sessions,
        "held_out_with_choice": e["trained"].sessions,
        "logged": {s.name: round(s.ndcg, 4) for s in e.scores},
        "logged_ceiling": round(ceiling, 4),
        "trained_minus_default": [round(vs_default, 4), round(vs_default_ci, 4)],
        "ci95": round(e["trained"].ci95, 4),
        "true": {k: round(v, 4) for k, v in truth.items()},
        "true_by": split_figures(true),
        "true_trailing_in_person": {m: round(g, 4) for m, g in true.trailing("trained").items()},
        "logged_by": split_figures(e),
        "logged_ceiling_by": split_figures(ceiling_by),
        "true_mode_table": true.split_markdown("mode"),
        "true_role_table": true.split_markdown("role"),
        "position_bias": round(result.ranker.position_bias_, 3),
        "alpha": result.ranker.alpha,
        "simulate_s": round(simulated_s, 1), "train_s": round(train_s, 1),
        "table": e.markdown(),
    }


@contextlib.contextmanager
def demo_catalogue(providers: int):
    """``(settings, catalog, directory)`` of a throwaway data dir holding ``findsupport demo``'s catalogue."""
    os.environ.setdefault("FINDSUPPORT_CACHE_DIR", str(REPO / ".cache"))
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "instance"
        if cli(["--data-dir", str(data), "--quiet", "demo", "--providers", str(providers)]) != 0:
            raise SystemExit(2)
        settings = load_settings({"data_dir": data})
        yield settings, CatalogStore.open(settings).public_catalog(), PostcodeDirectory.load(settings.resolved_cache_dir)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--providers", type=int, default=2000, help="demo catalogue size (default 2000, as findsupport demo)")
    parser.add_argument("--sessions", type=int, default=5000, help="simulated sessions per world (default 5000)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds of the default world (default 3)")
    parser.add_argument("--quick", action="store_true", help="the default world only")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out")
    args = parser.parse_args()

    with demo_catalogue(args.providers) as (settings, catalog, directory):
        runs = []
        for seed in range(1, args.seeds + 1):
            runs.append(run_world("default", WORLDS["default"], seed, args.sessions, catalog, directory, settings))
            print(f"default world, seed {seed}: logged {runs[-1]['logged']}  true {runs[-1]['true']}", flush=True)
        if not args.quick:
            for name, changes in WORLDS.items():
                if name != "default":
                    runs.append(run_world(name, changes, 1, args.sessions, catalog, directory, settings))
                    print(f"{name}: logged {runs[-1]['logged']}  true {runs[-1]['true']}", flush=True)

    machine = {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(), "platform": platform.platform()}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ranking_quality.json").write_text(json.dumps({"machine": machine, "runs": runs}, indent=2))

    default_runs = [r for r in runs if r["world"] == "default"]
    print(f"\n### Held-out evaluation, default simulated world, seed 1 ({args.sessions:,} sessions, {args.providers:,} demo providers)\n")
    print(default_runs[0]["table"])
    print(f"\n### Over {len(default_runs)} seeds and other worlds (held-out NDCG@10; 'true' = against the coaches' own tastes, all candidates)\n")
    print("| world | seed | logged: nearest | default | trained | ceiling | trained − nearest | trained − default (paired 95%) "
          "| true: nearest | default | trained | fitted exponent |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in runs:
        lg, tr = r["logged"], r["true"]
        d, ci = r["trained_minus_default"]
        print(f"| {r['world']} | {r['seed']} | {lg[NEAREST_FIRST]:.3f} | {lg['default']:.3f} | {lg['trained']:.3f} | "
              f"{r['logged_ceiling']:.3f} | {lg['trained'] - lg[NEAREST_FIRST]:+.3f} | {d:+.3f} ± {ci:.3f} | "
              f"{tr[NEAREST_FIRST]:.3f} | {tr['default']:.3f} | {tr['trained']:.3f} | {r['position_bias']:.2f} |")
    print("\n### True NDCG@10 by mode, default world, seed 1 (held-out sessions; n = sessions)\n")
    print(default_runs[0]["true_mode_table"])
    print("\n### True NDCG@10 by role, default world, seed 1\n")
    print(default_runs[0]["true_role_table"])
    print("\n### Trained model, true NDCG@10: how far each mode trails in-person searches (target: at most 0.05)\n")
    print("| world | seed | in person | online | any | online behind | any behind |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in runs:
        m = r["true_by"]["mode"]
        cells = " | ".join(f"{m[mode]['trained']:.3f}" if mode in m else "–" for mode in ("in_person", "online", "any"))
        behind = r["true_trailing_in_person"]
        print(f"| {r['world']} | {r['seed']} | {cells} | "
              f"{behind.get('online', float('nan')):+.3f} | {behind.get('any', float('nan')):+.3f} |")
    print("\n### Logged NDCG@10 by mode, default world (the ceiling: ranking each page by the coaches' own tastes)\n")
    print("| seed | mode | sessions | nearest | default | trained | ceiling | trained behind in person | ceiling behind in person |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in default_runs:
        lb, cb = r["logged_by"]["mode"], r["logged_ceiling_by"]["mode"]
        for mode, v in lb.items():
            print(f"| {r['seed']} | {mode} | {v['sessions']} | {v[NEAREST_FIRST]:.3f} | {v['default']:.3f} | {v['trained']:.3f} | "
                  f"{cb[mode]['ceiling']:.3f} | {lb['in_person']['trained'] - v['trained']:+.3f} | "
                  f"{cb['in_person']['ceiling'] - cb[mode]['ceiling']:+.3f} |")
    gaps = [r["logged"]["trained"] - r["logged"][NEAREST_FIRST] for r in default_runs]
    print(f"\ndefault world: trained − nearest = {statistics.mean(gaps):+.3f} (min {min(gaps):+.3f}) over {len(gaps)} seeds")
    print(f"machine: {machine['machine']}, {machine['cpus']} cores, Python {machine['python']}; "
          f"simulate {default_runs[0]['simulate_s']} s, train {default_runs[0]['train_s']} s per world")
    return 0


if __name__ == "__main__":
    sys.exit(main())

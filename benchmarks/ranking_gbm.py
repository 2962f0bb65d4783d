"""A gradient-boosted ranker beside the linear model, on the same sessions (issue 12, part 1).

Run:  .venv/bin/python benchmarks/ranking_gbm.py [--providers 2000] [--sessions 5000] [--seeds 2]

Needs LightGBM (``pip install -e .[benchmarks]``, an optional benchmark dependency:
findsupport itself never imports it).

Method
------
1. The demo catalogue and the coach simulator, as ``ranking_quality.py``
   (the same functions: one world, several seeds).
2. One learning set per seed, built as ``findsupport train`` builds it
   (features recomputed, each client's repeated searches counted once,
   sessions split by key, 20% held out).  Both rankers learn from the same
   training sessions and are judged on the same held-out ones:

   * **linear**: ``train_model`` exactly as ``findsupport train`` runs it;
   * **LightGBM lambdarank** (LambdaMART): boosted trees with an NDCG@10
     pairwise objective, position-debiased the way LightGBM does it (the
     logged positions are given, and a bias per position is learnt beside
     the trees); its size (trees, leaves, learning rate) is chosen on a
     validation share of the training sessions, never on the held-out
     ones.

3. Logged and true NDCG@10 (see ``ranking_quality.py``), overall and by
   mode, with the paired difference and its 95% interval.
4. Whether per-feature explanations would survive: LightGBM gives each
   prediction exact per-feature contributions (TreeSHAP, ``pred_contrib``),
   but a tree's contribution of a feature depends on the other features.
   For each feature we report the rank correlation between its value and
   its contribution over held-out results (1: "more of this always helps",
   as the linear model's reasons say; near 0 or negative: a reason that
   could read "closer, so ranked lower") and how often a contribution's sign
   disagrees with the feature's overall direction.

Figures go into BENCHMARKS.md by hand, with the machine they came from.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from findsupport.ranking import (
    NEAREST_FIRST,
    CoachSimulator,
    build_dataset,
    evaluate_rankers,
    feedback_text,
    limit_clients,
    read_feedback,
    train_model,
)
from findsupport.ranking.training import DEFAULT_HOLDOUT

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ranking_quality import demo_catalogue, true_evaluation  # noqa: E402  (a sibling script, not a package)

try:
    import lightgbm
except ImportError:  # an optional benchmark dependency
    lightgbm = None

REPO = Path(__file__).resolve().parent.parent
#: Share of the training sessions kept aside to choose the boosted model's size.
VALIDATION = 0.2
#: Sizes tried (number of trees is chosen by early stopping on the validation share).
GRID = [
    {"num_leaves": 7, "learning_rate": 0.05, "min_data_in_leaf": 50},
    {"num_leaves": 15, "learning_rate": 0.05, "min_data_in_leaf": 50},
    {"num_leaves": 31, "learning_rate": 0.05, "min_data_in_leaf": 20},
]
MAX_TREES = 600


class BoostedRanker:
    """LightGBM lambdarank behind ``decision_function(X)``, as the evaluation expects of a ranker."""

    def __init__(self, booster) -> None:
        self.booster = booster

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        return self.booster.predict(X, num_iteration=self.booster.best_iteration or None)

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Per-feature contributions of each row (TreeSHAP), without the bias column."""
        return self.booster.predict(X, pred_contrib=True, num_iteration=self.booster.best_iteration or None)[:, :-1]


def lgb_dataset(data, reference=None):
    """A LightGBM ranking dataset of ``data``'s rows (sorted by session, as LightGBM needs)."""
    order = np.argsort(data.groups, kind="stable")
    sizes = np.bincount(data.groups, minlength=data.n_sessions)
    sizes = sizes[sizes > 0]
    return lightgbm.Dataset(
        data.X[order], label=data.grades[order], group=sizes, position=data.positions[order] - 1,
        feature_name=list(data.feature_names), reference=reference, free_raw_data=False,
    )


def fit_boosted(train, seed: int) -> tuple[BoostedRanker, dict]:
    """Choose the size on a validation share of ``train`` by NDCG@10, then refit on all of ``train``."""
    rng = np.random.default_rng(seed)
    held = rng.random(train.n_sessions) < VALIDATION
    fit, valid = train.subset(~held), train.subset(held)
    base = {"objective": "lambdarank", "metric": "ndcg", "eval_at": [10], "lambdarank_truncation_level": 20,
            "verbosity": -1, "seed": seed, "num_threads": 1, "deterministic": True, "force_row_wise": True}
    best = None
    for params in GRID:
        dfit = lgb_dataset(fit)
        dvalid = lgb_dataset(valid, reference=dfit)
        booster = lightgbm.train({**base, **params}, dfit, num_boost_round=MAX_TREES, valid_sets=[dvalid],
                                 callbacks=[lightgbm.early_stopping(40, verbose=False)])
        score = booster.best_score["valid_0"]["ndcg@10"]
        if best is None or score > best[0]:
            best = (score, params, booster.best_iteration)
    _, params, trees = best
    booster = lightgbm.train({**base, **params}, lgb_dataset(train), num_boost_round=max(trees, 1))
    return BoostedRanker(booster), {**params, "trees": trees}


def explanation_check(ranker: BoostedRanker, X: np.ndarray, names) -> dict:
    """Per feature: rank correlation of value and contribution, and the share of rows against the overall direction."""
    contrib = ranker.contributions(X)
    out = {}
    for j, name in enumerate(names):
        x, c = X[:, j], contrib[:, j]
        if np.ptp(x) == 0 or np.ptp(c) == 0:
            # Constant on these results, or never split on: no reason could cite it.
            out[name] = {"spearman": None, "against_direction": None}
            continue
        rho = float(spearmanr(x, c).statistic)
        # A feature above its mean should push up when its overall direction is up (and the reverse).
        direction = np.sign(rho) if rho else 1.0
        against = float(np.mean(np.sign(c) * np.sign(x - x.mean()) * direction < 0))
        out[name] = {"spearman": round(rho, 3), "against_direction": round(against, 3)}
    return out


def run_seed(seed: int, n_sessions: int, catalog, directory, settings) -> dict:
    sessions = list(CoachSimulator(catalog, directory, seed=seed).sessions(n_sessions))
    feedback = read_feedback(feedback_text([s.feedback for s in sessions]))
    t0 = time.perf_counter()
    linear = train_model(feedback, catalog, directory, settings, save=False).ranker
    linear_s = time.perf_counter() - t0
    data, _ = build_dataset(feedback, catalog, directory)
    data, _ = limit_clients(data)  # as train_model does: the same training and held-out sessions
    train, test = data.split(DEFAULT_HOLDOUT)
    t0 = time.perf_counter()
    boosted, params = fit_boosted(train, seed)
    boosted_s = time.perf_counter() - t0
    rankers = {NEAREST_FIRST: None, "linear": linear, "lambdarank": boosted}
    logged = evaluate_rankers(test, rankers)
    true = true_evaluation(sessions, catalog, directory, rankers)
    result = {"seed": seed, "params": params, "fit_s": {"linear": round(linear_s, 1), "lambdarank": round(boosted_s, 1)}}
    for label, evaluation in (("logged", logged), ("true", true)):
        gain = evaluation.gain("lambdarank", "linear")
        result[label] = {
            "overall": {s.name: round(s.ndcg, 4) for s in evaluation.scores},
            "sessions": evaluation.scores[0].sessions,
            "lambdarank_minus_linear": [round(gain.mean, 4), round(gain.low, 4), round(gain.high, 4)],
            "by_mode": {m: {s.name: round(s.ndcg, 4) for s in part.scores} | {"sessions": part.scores[0].sessions}
                        for m, part in evaluation.split("mode").items()},
            "by_mode_gain": {m: [round(g.mean, 4), round(g.low, 4), round(g.high, 4)]
                             for m, part in evaluation.split("mode").items()
                             for g in [part.gain("lambdarank", "linear")]},
        }
    result["explanations"] = explanation_check(boosted, test.X, data.feature_names)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--providers", type=int, default=2000)
    parser.add_argument("--sessions", type=int, default=5000)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out")
    args = parser.parse_args()
    if lightgbm is None:
        print("LightGBM is not installed: pip install -e '.[benchmarks]' (an optional benchmark dependency)", file=sys.stderr)
        return 2

    with demo_catalogue(args.providers) as (settings, catalog, directory):
        runs = []
        for seed in range(1, args.seeds + 1):
            runs.append(run_seed(seed, args.sessions, catalog, directory, settings))
            print(json.dumps({k: runs[-1][k] for k in ("seed", "params", "fit_s")}), flush=True)

    machine = {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
               "lightgbm": lightgbm.__version__}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ranking_gbm.json").write_text(json.dumps({"machine": machine, "runs": runs}, indent=2))

    print("\n| measure | seed | nearest first | linear | lambdarank | lambdarank − linear (95% bootstrap) "
          "| in person: linear / lambdarank | online | any |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in runs:
        for label in ("logged", "true"):
            m = r[label]
            d, lo, hi = m["lambdarank_minus_linear"]
            modes = " | ".join(
                f"{m['by_mode'][mode]['linear']:.3f} / {m['by_mode'][mode]['lambdarank']:.3f}" if mode in m["by_mode"] else "–"
                for mode in ("in_person", "online", "any")
            )
            print(f"| {label} | {r['seed']} | {m['overall'][NEAREST_FIRST]:.3f} | {m['overall']['linear']:.3f} | "
                  f"{m['overall']['lambdarank']:.3f} | {d:+.3f} [{lo:+.3f}, {hi:+.3f}] | {modes} |")
    print("\nExplanations (seed 1): feature, Spearman(value, contribution), share of results against the direction")
    for name, e in runs[0]["explanations"].items():
        if e["spearman"] is None:
            print(f"  {name:<24} (no contribution: never split on, or constant)")
        else:
            print(f"  {name:<24} {e['spearman']:+.3f}  {e['against_direction']:.3f}")
    print(f"\nmachine: {machine}; fit seconds (seed 1): {runs[0]['fit_s']}; chosen: {runs[0]['params']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

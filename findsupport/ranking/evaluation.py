"""Honest evaluation: NDCG@10 on held-out sessions, always beside the baselines.

Every ranker is judged on the same held-out sessions (split by session, never
by row, so no coach's search is half in training and half in the test), on
the results those sessions showed, against what the coaches chose.  Always
side by side:

``nearest_first``
    what a plain store locator does (sort by distance);
``default``
    the transparent default weights that serve before any training;
``active``
    the model serving now, when it is not the default;
``trained``
    the new model.

Each row carries the mean NDCG@k, a 95% confidence interval from the spread
over sessions, and the number of sessions.  Read the numbers knowing that
logged choices are position-biased towards the order that was shown: a
ranker that reorders (any learned model) is judged on results the coach may
never have looked at, so differences from the logging policy's own order are
understated, never overstated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .dataset import RankingData
from .metrics import DEFAULT_K, session_ndcg
from .model import MatchRanker

__all__ = ["NEAREST_FIRST", "RankerScore", "Evaluation", "evaluate_rankers"]

NEAREST_FIRST = "nearest_first"
#: z of a two-sided 95% normal interval.
_Z95 = 1.96

_LABELS = {
    NEAREST_FIRST: "nearest first",
    "default": "default weights",
    "active": "active model",
    "trained": "trained model",
}


@dataclass(frozen=True)
class RankerScore:
    name: str
    ndcg: float
    ci95: float
    sessions: int
    per_session: np.ndarray

    def to_dict(self) -> dict[str, float | int]:
        return {"ndcg": round(self.ndcg, 4), "ci95": round(self.ci95, 4), "sessions": self.sessions}


@dataclass(frozen=True)
class Evaluation:
    """NDCG@k of several rankers on the same sessions."""

    k: int
    scores: tuple[RankerScore, ...]

    def __getitem__(self, name: str) -> RankerScore:
        for score in self.scores:
            if score.name == name:
                return score
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        return any(score.name == name for score in self.scores)

    def ndcg(self, name: str) -> float:
        return self[name].ndcg

    def difference(self, better: str, worse: str) -> tuple[float, float]:
        """Mean per-session NDCG difference ``better - worse`` and its paired 95% half-width.

        Both rankers are scored on the same sessions, so the paired interval is
        much tighter than the two rows' own intervals suggest.
        """
        diff = self[better].per_session - self[worse].per_session
        if len(diff) < 2:
            return float(diff.mean()) if len(diff) else 0.0, 0.0
        return float(diff.mean()), float(_Z95 * diff.std(ddof=1) / np.sqrt(len(diff)))

    def to_dict(self) -> dict[str, object]:
        return {"k": self.k, "ndcg": {s.name: s.to_dict() for s in self.scores}}

    def table(self) -> str:
        """A plain-text table (CLI, notebooks, BENCHMARKS.md)."""
        base = self[NEAREST_FIRST].ndcg if NEAREST_FIRST in self else None
        lines = [f"{'ranking':<18} {'NDCG@' + str(self.k):>8} {'95% CI':>9} {'vs nearest':>11} {'sessions':>9}"]
        for s in self.scores:
            delta = "" if base is None or s.name == NEAREST_FIRST else f"{s.ndcg - base:+.4f}"
            lines.append(
                f"{_LABELS.get(s.name, s.name):<18} {s.ndcg:>8.4f} {'±' + format(s.ci95, '.4f'):>9} {delta:>11} {s.sessions:>9,}"
            )
        return "\n".join(lines)

    def markdown(self) -> str:
        """The same table in Markdown."""
        base = self[NEAREST_FIRST].ndcg if NEAREST_FIRST in self else None
        lines = [f"| ranking | NDCG@{self.k} | 95% CI | vs nearest first | sessions |", "|---|---:|---:|---:|---:|"]
        for s in self.scores:
            delta = "" if base is None or s.name == NEAREST_FIRST else f"{s.ndcg - base:+.3f}"
            lines.append(f"| {_LABELS.get(s.name, s.name)} | {s.ndcg:.3f} | ±{s.ci95:.3f} | {delta} | {s.sessions:,} |")
        return "\n".join(lines)


def evaluate_rankers(
    data: RankingData, rankers: Mapping[str, MatchRanker | None], *, k: int = DEFAULT_K
) -> Evaluation:
    """NDCG@k of each ranker (``None`` means nearest first) on every session of ``data`` with a choice.

    Ties in a ranker's scores go to the nearer provider, then to a fixed
    pseudo-random order, the same for every ranker.
    """
    scores = []
    for name, ranker in rankers.items():
        values = -data.distance_m if ranker is None else ranker.decision_function(data.X)
        per_session = session_ndcg(values, data.grades, data.groups, k=k, tiebreak=data.distance_m)
        n = len(per_session)
        mean = float(per_session.mean()) if n else 0.0
        ci = float(_Z95 * per_session.std(ddof=1) / np.sqrt(n)) if n > 1 else 0.0
        scores.append(RankerScore(name, mean, ci, n, per_session))
    return Evaluation(k, tuple(scores))

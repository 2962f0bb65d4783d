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
over sessions, and the number of sessions.  The same figures are split by the
searches' mode (in person, online, any) and role (:meth:`Evaluation.split`,
:data:`SEGMENTS`): an overall figure can hide a kind of search the ranking
serves badly (issue 12), and :meth:`Evaluation.trailing` says by how much each
mode trails in-person searches.  :meth:`Evaluation.gain` gives the gain of one
ranker over another with a bootstrap interval over sessions, the figure a
chart should show (two bars near 0.9 on a 0-1 axis hide it).  Read the numbers knowing that
logged choices are position-biased towards the order that was shown: a
ranker that reorders (any learned model) is judged on results the coach may
never have looked at, so differences from the logging policy's own order are
understated, never overstated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from dataclasses import dataclass, field

import numpy as np

from .. import taxonomy
from ..catalog.public import PublicCatalog
from ..geo import PostcodeDirectory
from .candidates import scan_candidates
from .dataset import RankingData, query_point
from .features import QueryContext, compute_features
from .metrics import DEFAULT_K, session_ndcg
from .model import MatchRanker
from .weights import ServingRanker

__all__ = [
    "NEAREST_FIRST",
    "SEGMENTS",
    "RankerScore",
    "Gain",
    "Evaluation",
    "evaluate_rankers",
    "session_segments",
    "compare_top",
]

NEAREST_FIRST = "nearest_first"
#: z of a two-sided 95% normal interval.
_Z95 = 1.96
#: How evaluations are split, and the values each split reports (in this order; a search
#: without a role counts as "any role").
SEGMENTS: dict[str, tuple[str, ...]] = {
    "mode": tuple(taxonomy.MODES),
    "role": (*taxonomy.ROLES, "any_role"),
}
#: The mode every other mode is compared with (issue 12: none may trail it by more than 0.05).
REFERENCE_MODE = "in_person"
#: Bootstrap resamples of a gain's interval: the 2.5% and 97.5% quantiles settle to about
#: 0.001 NDCG with a few thousand.
BOOTSTRAP_RESAMPLES = 2000

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

    @classmethod
    def of(cls, name: str, per_session: np.ndarray) -> "RankerScore":
        """Mean and 95% normal interval of per-session NDCG values."""
        n = len(per_session)
        mean = float(per_session.mean()) if n else 0.0
        ci = float(_Z95 * per_session.std(ddof=1) / np.sqrt(n)) if n > 1 else 0.0
        return cls(name, mean, ci, n, per_session)


@dataclass(frozen=True)
class Gain:
    """Mean per-session NDCG gain of ``after`` over ``before`` with a 95% bootstrap interval."""

    after: str
    before: str
    mean: float
    low: float
    high: float
    sessions: int

    def to_dict(self) -> dict[str, float | int | str]:
        return {"after": self.after, "before": self.before, "gain": round(self.mean, 4),
                "low": round(self.low, 4), "high": round(self.high, 4), "sessions": self.sessions}


def session_segments(queries: Sequence[Any]) -> dict[str, np.ndarray]:
    """Each query's value of every :data:`SEGMENTS` split, as arrays of str.

    ``queries`` are search queries (anything with ``mode`` and ``role``).
    """
    return {
        "mode": np.array([q.mode for q in queries], dtype=object),
        "role": np.array([q.role or "any_role" for q in queries], dtype=object),
    }


@dataclass(frozen=True)
class Evaluation:
    """NDCG@k of several rankers on the same sessions.

    ``segments`` maps each split of :data:`SEGMENTS` to the value of every
    scored session (aligned with each score's ``per_session``); empty when
    the sessions' queries are not known.
    """

    k: int
    scores: tuple[RankerScore, ...]
    segments: Mapping[str, np.ndarray] = field(default_factory=dict)

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

    def split(self, by: str) -> dict[str, "Evaluation"]:
        """The evaluation restricted to each value of ``by`` (``"mode"`` or ``"role"``) that has sessions.

        Values come in :data:`SEGMENTS` order.
        """
        if by not in SEGMENTS:
            raise ValueError(f"Got by={by!r}; by must be one of {sorted(SEGMENTS)}.")
        if by not in self.segments:
            return {}
        labels = self.segments[by]
        parts = {}
        for value in SEGMENTS[by]:
            mask = labels == value
            if mask.any():
                parts[value] = Evaluation(
                    self.k,
                    tuple(RankerScore.of(s.name, s.per_session[mask]) for s in self.scores),
                    {name: values[mask] for name, values in self.segments.items()},
                )
        return parts

    def trailing(self, name: str, *, by: str = "mode", reference: str = REFERENCE_MODE) -> dict[str, float]:
        """How far each other value of ``by`` trails ``reference`` for ranker ``name`` (positive: behind)."""
        parts = self.split(by)
        if reference not in parts:
            return {}
        base = parts[reference].ndcg(name)
        return {value: base - part.ndcg(name) for value, part in parts.items() if value != reference}

    def gain(
        self, after: str, before: str, *, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0
    ) -> Gain:
        """Mean NDCG gain ``after - before`` over sessions, with a 95% percentile bootstrap interval.

        The sessions are resampled with replacement (both rankers keep their
        pairing), so the interval needs no normality and suits a few dozen
        sessions as well as thousands.
        """
        diff = self[after].per_session - self[before].per_session
        n = len(diff)
        if n == 0:
            return Gain(after, before, 0.0, 0.0, 0.0, 0)
        rng = np.random.default_rng(seed)
        means = diff[rng.integers(0, n, size=(resamples, n))].mean(axis=1)
        low, high = np.quantile(means, [0.025, 0.975])
        return Gain(after, before, float(diff.mean()), float(low), float(high), n)

    def to_dict(self) -> dict[str, object]:
        """``k``, ``ndcg`` (per ranker) and, when known, ``by_mode`` and ``by_role`` (per value, per ranker)."""
        out: dict[str, object] = {"k": self.k, "ndcg": {s.name: s.to_dict() for s in self.scores}}
        for by in SEGMENTS:
            if by in self.segments:
                out[f"by_{by}"] = {value: {s.name: s.to_dict() for s in part.scores} for value, part in self.split(by).items()}
        return out

    def split_table(self, by: str) -> str:
        """Plain text: one row per ranker, one column per value of ``by`` (``NDCG ±CI (sessions)``)."""
        parts = self.split(by)
        width = 22
        lines = [f"{'NDCG@' + str(self.k) + ' by ' + by:<18} " + " ".join(f"{v:>{width}}" for v in parts)]
        for s in self.scores:
            cells = []
            for part in parts.values():
                p = part[s.name]
                cells.append(f"{p.ndcg:.4f} ±{p.ci95:.4f} ({p.sessions:,})".rjust(width))
            lines.append(f"{_LABELS.get(s.name, s.name):<18} " + " ".join(cells))
        return "\n".join(lines)

    def split_markdown(self, by: str) -> str:
        """The same table in Markdown (BENCHMARKS.md)."""
        parts = self.split(by)
        lines = ["| ranking | " + " | ".join(f"{v} (n={p[self.scores[0].name].sessions:,})" for v, p in parts.items()) + " |",
                 "|---|" + "---:|" * len(parts)]
        for s in self.scores:
            cells = [f"{p[s.name].ndcg:.3f} ±{p[s.name].ci95:.3f}" for p in parts.values()]
            lines.append(f"| {_LABELS.get(s.name, s.name)} | " + " | ".join(cells) + " |")
        return "\n".join(lines)

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
    data: RankingData, rankers: Mapping[str, MatchRanker | ServingRanker | None], *, k: int = DEFAULT_K
) -> Evaluation:
    """NDCG@k of each ranker (``None`` means nearest first) on every session of ``data`` with a choice.

    Ties in a ranker's scores go to the nearer provider, then to a fixed
    pseudo-random order, the same for every ranker.  The result knows each
    scored session's mode and role (:meth:`Evaluation.split`).
    """
    scores = []
    for name, ranker in rankers.items():
        values = -data.distance_m if ranker is None else ranker.decision_function(data.X)
        per_session = session_ndcg(values, data.grades, data.groups, k=k, tiebreak=data.distance_m)
        scores.append(RankerScore.of(name, per_session))
    # session_ndcg scores the sessions with a choice, in order of their first row.
    first_row = np.full(data.n_sessions, len(data.groups))
    np.minimum.at(first_row, data.groups, np.arange(len(data.groups)))
    learnable = data.learnable()
    scored = [i for i in np.argsort(first_row, kind="stable") if learnable[i]]
    segments = session_segments([data.queries[i] for i in scored])
    return Evaluation(k, tuple(scores), segments)


def compare_top(
    catalog: PublicCatalog,
    directory: PostcodeDirectory,
    query: Any,
    rankers: Mapping[str, MatchRanker | ServingRanker | None],
    *,
    k: int = DEFAULT_K,
) -> list[dict[str, object]]:
    """The top ``k`` of one search under each ranker, side by side ("before and after").

    Every candidate of ``query`` (the engine's rules, by a full scan of the
    public catalogue) is scored by each ranker (``None``: nearest first);
    ties go to the nearer provider, as in :func:`evaluate_rankers`.

    Returns one row per position, ``{"position": 1, name: "Provider (4.2 km)", ...}``.

    Examples
    --------
    >>> rows = compare_top(catalog, directory, test.queries[0], {"before": default_ranker(), "after": trained})  # doctest: +SKIP
    >>> pd.DataFrame(rows).set_index("position")  # doctest: +SKIP
    """
    x, y = query_point(query, directory)
    positions, distance, inside = scan_candidates(
        catalog, x, y, role=query.role, mode=query.mode, radius_m=query.radius_km * 1000.0
    )
    context = QueryContext.from_query(x, y, role=query.role, event=query.event, slots=query.slots, mode=query.mode, level=query.level)
    X = compute_features(context, catalog, positions, distance, inside)
    rows: list[dict[str, object]] = [{"position": i + 1} for i in range(min(k, len(positions)))]
    for name, ranker in rankers.items():
        scores = -distance if ranker is None else ranker.decision_function(X)
        top = np.lexsort((distance, -scores))[:k]
        for row, j in zip(rows, top):
            row[name] = f"{catalog.providers[int(positions[j])].name} ({distance[j] / 1000.0:.1f} km)"
    return rows

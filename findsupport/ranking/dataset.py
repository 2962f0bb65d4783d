"""From logged sessions to a learning set: features recomputed against the catalogue as it is now.

A feedback log records *which* providers a coach was shown and what they did,
not the features at the time.  Features are recomputed here with the same
code that serves (:func:`~.features.compute_features`) from the current
public catalogue, so a model always learns the features it will be served.

How sessions are handled (the counts are in :class:`DatasetReport`):

* A result naming a provider who is no longer listed (withdrawn consent,
  departed, or never known) is dropped: there are no features to compute.
* A session is kept when at least two of its results remain (one result
  alone ranks nothing).  Sessions where the coach chose nothing stay in the
  set — they tell the position-bias estimate that a page was looked at
  without a view — but they carry no preference, so they do not count for
  learning or NDCG.  ``sessions_learnable`` counts sessions with a choice.
* A session whose postcode is not (or no longer) in Code-Point Open, or whose
  point is outside Great Britain, cannot be placed and is dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from ..catalog.public import PublicCatalog
from ..errors import FindSupportError
from ..geo import PostcodeDirectory, check_lonlat, to_bng
from ..query import SearchQuery
from .candidates import candidate_geometry
from .features import FEATURE_NAMES, FeatureScales, QueryContext, compute_features
from .labels import grade_of
from .sessions import REAL, FeedbackFile, FeedbackSession, is_held_out

__all__ = ["RankingData", "DatasetReport", "build_dataset", "query_point", "MIN_RESULTS"]

#: Fewer known results than this and a session ranks nothing.
MIN_RESULTS = 2


@dataclass(frozen=True)
class DatasetReport:
    """What happened to each session and result of a feedback log."""

    sessions_read: int = 0
    sessions_kept: int = 0
    sessions_learnable: int = 0
    sessions_too_few_known: int = 0
    sessions_unlocated: int = 0
    results_read: int = 0
    results_unknown_provider: int = 0
    results_kept: int = 0
    invalid_lines: int = 0
    unlocated_examples: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, int]:
        return {k: v for k, v in self.__dict__.items() if isinstance(v, int)}

    def lines(self) -> list[str]:
        """Plain-text summary for the CLI and notebooks."""
        out = [
            f"{self.sessions_read:,} sessions read; {self.sessions_kept:,} kept, "
            f"{self.sessions_learnable:,} of them with a choice (used for learning and NDCG)",
            f"{self.results_read:,} results read; {self.results_unknown_provider:,} dropped "
            "(provider no longer listed)",
        ]
        if self.sessions_too_few_known:
            out.append(f"{self.sessions_too_few_known:,} sessions dropped: fewer than {MIN_RESULTS} listed providers left")
        if self.sessions_unlocated:
            shown = ", ".join(self.unlocated_examples)
            out.append(f"{self.sessions_unlocated:,} sessions dropped: location not found ({shown})")
        if self.invalid_lines:
            out.append(f"{self.invalid_lines:,} lines were not valid sessions")
        return out


@dataclass(frozen=True, eq=False)
class RankingData:
    """Feature rows of logged results, grouped by session.

    Row arrays (length ``n``): ``X`` (n, F), ``grades``, ``groups`` (session
    index 0..S-1), ``positions`` (1-based, as shown), ``distance_m``,
    ``provider_ids``.  Session arrays (length ``S``): ``session_keys``,
    ``queries``, and where each came from: ``clients`` (the keyed hash of
    the client, ``None`` when the log has none), ``sources`` (``"real"`` or
    ``"simulated"``) and ``created`` (ISO time or ``None``).
    """

    X: np.ndarray
    grades: np.ndarray
    groups: np.ndarray
    positions: np.ndarray
    distance_m: np.ndarray
    provider_ids: np.ndarray
    session_keys: tuple[str, ...]
    queries: tuple[SearchQuery, ...]
    feature_names: tuple[str, ...] = FEATURE_NAMES
    clients: tuple[str | None, ...] | None = None
    sources: tuple[str, ...] | None = None
    created: tuple[str | None, ...] | None = None

    def __post_init__(self) -> None:
        # Sessions built without provenance (tests, notebooks) are real and unattributed.
        n = len(self.session_keys)
        if self.clients is None:
            object.__setattr__(self, "clients", (None,) * n)
        if self.sources is None:
            object.__setattr__(self, "sources", (REAL,) * n)
        if self.created is None:
            object.__setattr__(self, "created", (None,) * n)

    def client_ids(self) -> tuple[str, ...]:
        """Each session's client; an unattributed session is a client of its own."""
        return tuple(c if c is not None else f"session:{k}" for c, k in zip(self.clients, self.session_keys))

    def learnable(self) -> np.ndarray:
        """Per session: whether at least one result was chosen (viewed or more)."""
        if not len(self.grades):
            return np.zeros(self.n_sessions, dtype=bool)
        return np.bincount(self.groups, weights=self.grades > 0, minlength=self.n_sessions) > 0

    def __len__(self) -> int:
        return len(self.grades)

    @property
    def n_sessions(self) -> int:
        return len(self.session_keys)

    @property
    def n_learnable(self) -> int:
        """Sessions with at least one result chosen (viewed or more)."""
        if not len(self.grades):
            return 0
        return int(np.count_nonzero(np.bincount(self.groups, weights=self.grades > 0, minlength=self.n_sessions)))

    def fit_params(self) -> dict[str, np.ndarray]:
        """``groups`` and ``positions`` for ``MatchRanker.fit`` (and ``GridSearchCV.fit``)."""
        return {"groups": self.groups, "positions": self.positions}

    def subset(self, sessions: np.ndarray) -> "RankingData":
        """The rows of the given session indices (a boolean mask or indices), renumbered."""
        chosen = np.zeros(self.n_sessions, dtype=bool)
        chosen[np.asarray(sessions)] = True
        new_index = np.cumsum(chosen) - 1
        rows = chosen[self.groups]
        keep = np.flatnonzero(chosen)
        return RankingData(
            X=self.X[rows],
            grades=self.grades[rows],
            groups=new_index[self.groups[rows]],
            positions=self.positions[rows],
            distance_m=self.distance_m[rows],
            provider_ids=self.provider_ids[rows],
            session_keys=tuple(self.session_keys[i] for i in keep),
            queries=tuple(self.queries[i] for i in keep),
            feature_names=self.feature_names,
            clients=tuple(self.clients[i] for i in keep),
            sources=tuple(self.sources[i] for i in keep),
            created=tuple(self.created[i] for i in keep),
        )

    def split(self, holdout: float) -> tuple["RankingData", "RankingData"]:
        """``(train, held_out)`` split by session, decided by each session's key (see :func:`.sessions.is_held_out`)."""
        held = np.array([is_held_out(key, holdout) for key in self.session_keys], dtype=bool)
        return self.subset(~held), self.subset(held)

    def fingerprint(self) -> str:
        """SHA-256 over the session keys (which sessions, in which order)."""
        import hashlib

        digest = hashlib.sha256()
        for key in self.session_keys:
            digest.update(key.encode())
        return digest.hexdigest()


def query_point(query: SearchQuery, directory: PostcodeDirectory) -> tuple[float, float]:
    """The coach's grid point (metres) of a query: the postcode's (unit, sector or district) or lon/lat."""
    if query.postcode is not None:
        location = directory.lookup(query.postcode)
        return float(location.easting), float(location.northing)
    lon, lat = check_lonlat(query.lon, query.lat)
    e, n = to_bng([lon], [lat])
    return float(e[0]), float(n[0])


def build_dataset(
    feedback: FeedbackFile | Iterable[FeedbackSession],
    catalog: PublicCatalog,
    directory: PostcodeDirectory,
    *,
    scales: FeatureScales = FeatureScales(),
) -> tuple[RankingData, DatasetReport]:
    """Recompute features for every logged result of known providers; see the module docstring."""
    invalid = len(feedback.problems) if isinstance(feedback, FeedbackFile) else 0
    sessions = feedback.sessions if isinstance(feedback, FeedbackFile) else tuple(feedback)
    counts = dict(read=0, kept=0, learnable=0, too_few=0, unlocated=0, results=0, unknown=0)
    unlocated_examples: list[str] = []
    points: dict[tuple, tuple[float, float] | None] = {}
    blocks: dict[str, list[np.ndarray]] = {k: [] for k in ("X", "grades", "groups", "positions", "distance", "ids")}
    keys: list[str] = []
    queries: list[SearchQuery] = []
    clients: list[str | None] = []
    sources: list[str] = []
    created: list[str | None] = []
    for session in sessions:
        counts["read"] += 1
        counts["results"] += len(session.results)
        known = [r for r in session.results if r.provider_id in catalog]
        counts["unknown"] += len(session.results) - len(known)
        if len(known) < MIN_RESULTS:
            counts["too_few"] += 1
            continue
        q = session.query
        where = (q.postcode, q.lon, q.lat)
        if where not in points:
            try:
                points[where] = query_point(q, directory)
            except FindSupportError:
                points[where] = None
        point = points[where]
        if point is None:
            counts["unlocated"] += 1
            if len(unlocated_examples) < 3:
                unlocated_examples.append(q.postcode or f"{q.lon},{q.lat}")
            continue
        positions = np.fromiter((catalog.position_of(r.provider_id) for r in known), dtype=np.intp, count=len(known))
        distance, inside = candidate_geometry(catalog, positions, *point)
        context = QueryContext.from_query(*point, role=q.role, event=q.event, slots=q.slots, mode=q.mode, level=q.level)
        grades = np.array([grade_of(r.action, r.helpful) for r in known], dtype=np.int64)
        index = len(keys)
        blocks["X"].append(compute_features(context, catalog, positions, distance, inside, scales))
        blocks["grades"].append(grades)
        blocks["groups"].append(np.full(len(known), index, dtype=np.int64))
        blocks["positions"].append(np.array([r.position for r in known], dtype=np.int64))
        blocks["distance"].append(distance)
        blocks["ids"].append(np.array([r.provider_id for r in known], dtype=object))
        keys.append(session.key)
        queries.append(q)
        clients.append(session.client)
        sources.append(session.source)
        created.append(session.created_at)
        counts["kept"] += 1
        counts["learnable"] += int(grades.max() > 0)

    def joined(name: str, empty: np.ndarray) -> np.ndarray:
        return np.concatenate(blocks[name]) if blocks[name] else empty

    data = RankingData(
        X=joined("X", np.zeros((0, len(FEATURE_NAMES)))),
        grades=joined("grades", np.zeros(0, dtype=np.int64)),
        groups=joined("groups", np.zeros(0, dtype=np.int64)),
        positions=joined("positions", np.zeros(0, dtype=np.int64)),
        distance_m=joined("distance", np.zeros(0)),
        provider_ids=joined("ids", np.zeros(0, dtype=object)),
        session_keys=tuple(keys),
        queries=tuple(queries),
        clients=tuple(clients),
        sources=tuple(sources),
        created=tuple(created),
    )
    report = DatasetReport(
        sessions_read=counts["read"] + invalid,
        sessions_kept=counts["kept"],
        sessions_learnable=counts["learnable"],
        sessions_too_few_known=counts["too_few"],
        sessions_unlocated=counts["unlocated"],
        results_read=counts["results"],
        results_unknown_provider=counts["unknown"],
        results_kept=len(data),
        invalid_lines=invalid,
        unlocated_examples=tuple(unlocated_examples),
    )
    return data, report

"""The candidate rules and the ranking written the slow, obvious way, to check the index against."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from findsupport.catalog.public import PublicCatalog
from findsupport.features import FeatureScales, QueryContext, compute_features

#: Scores closer than this are ties (summing the same features in another order moves the last bits).
TIE = 1e-9


@dataclass
class BruteAnswer:
    total: int
    positions: np.ndarray  # every candidate, best first (score desc, position asc)
    scores: np.ndarray
    distance_m: np.ndarray
    inside: np.ndarray


def brute_search(catalog: PublicCatalog, ranker, query: dict) -> BruteAnswer:
    """Every provider tested one by one; scores from compute_features and the ranker itself."""
    x, y, r = query["x"], query["y"], query["radius_km"] * 1000.0
    n = len(catalog)
    d2 = np.array([(catalog.x[i] - x) ** 2 + (catalog.y[i] - y) ** 2 for i in range(n)])
    inside = np.zeros(n, dtype=bool)
    for i, p in enumerate(catalog.providers):
        if p.service_area is not None:
            inside[i] = shapely.intersects_xy(p.service_area, x, y)
        else:
            inside[i] = d2[i] <= catalog.reach_m[i] ** 2
    in_person = inside & (d2 <= r * r)
    mode = query["mode"]
    keep = in_person if mode == "in_person" else catalog.online.copy() if mode == "online" else in_person | catalog.online
    if query["role"]:
        keep &= np.array([query["role"] in p.roles for p in catalog.providers], dtype=bool)
    positions = np.flatnonzero(keep)
    context = QueryContext.from_query(
        x, y, role=query["role"], event=query["event"], slots=query["slots"], mode=mode, level=query["level"]
    )
    distance = np.sqrt(d2[positions])
    features = compute_features(context, catalog, positions, distance, inside[positions], FeatureScales())
    scores = ranker.decision_function(features) if len(positions) else np.zeros(0)
    order = np.lexsort((positions, -scores))
    return BruteAnswer(len(positions), positions[order], scores[order], distance[order], inside[positions][order])


def assert_same_top(positions, scores, brute: BruteAnswer, offset: int = 0) -> None:
    """The page equals the brute force's page, allowing only reorderings among tied scores.

    Scores must match the brute force's sorted scores rank by rank, and each
    listed provider must be a real candidate with that score, listed once:
    together that is "a correct top k" whatever the order of exact ties.
    """
    expected = brute.scores[offset : offset + len(positions)]
    assert len(expected) == len(positions)
    np.testing.assert_allclose(scores, expected, rtol=0, atol=TIE)
    score_of = dict(zip(brute.positions.tolist(), brute.scores.tolist()))
    assert len(set(positions)) == len(positions), "a provider is listed twice"
    for position, score in zip(list(positions), list(scores)):
        assert position in score_of, f"position {position} is not a candidate"
        assert abs(score_of[position] - score) <= TIE

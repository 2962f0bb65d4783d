"""The fused tables and the compiled loops against compute_features and the ranker."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from findsupport.catalog.public import PublicCatalog
from findsupport.index import SearchIndex, find_matches, kernels, make_scorer, terms, warm_up
from findsupport.index.blocks import box_distances2, slots_of_ranges
from findsupport.index.scoring import FusedScorer, MatrixScorer, linear_form
from findsupport.features import FEATURE_NAMES, FeatureScales, QueryContext, compute_features
from findsupport.ranking.model import MatchRanker

from .conftest import ORIGIN, rankers, scenarios

SCALES = FeatureScales()


def context_of(query: dict) -> QueryContext:
    return QueryContext.from_query(
        query["x"], query["y"], role=query["role"], event=query["event"], slots=query["slots"], mode=query["mode"], level=query["level"]
    )


def geometry(index: SearchIndex, table, x: float, y: float):
    """Distances and inside flags of every provider of a table (brute force)."""
    d2 = (table.x - x) ** 2 + (table.y - y) ** 2
    inside = d2 <= table.reach2
    polygons = np.flatnonzero(table.area_id >= 0)
    inside[polygons] = index.areas.covers(table.area_id[polygons], x, y)
    return np.sqrt(d2), inside


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios(), ranker=rankers(), intercept=st.sampled_from([0.0, -1.25]))
def test_kernel_scores_equal_features_times_coef(scenario, ranker, intercept) -> None:
    """The compiled loops' arithmetic equals ``compute_features(...) @ coef_ + intercept``, provider by provider."""
    catalog, query = scenario
    index = SearchIndex.build(catalog, block_size=4)
    scorer = FusedScorer(ranker.coef_, intercept, SCALES, (index.main, index.online))
    context = context_of(query)
    prepared = scorer.prepare(context)
    for table in (index.main, index.online):
        slots = np.arange(len(table))
        distance, inside = geometry(index, table, query["x"], query["y"])
        expected = compute_features(context, catalog, table.order, distance, inside, SCALES) @ ranker.coef_ + intercept
        np.testing.assert_allclose(scorer.scores(prepared, table, slots, distance, inside), expected, rtol=0, atol=1e-12)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios(), ranker=rankers(), intercept=st.sampled_from([0.0, 0.75]))
def test_ranked_scores_equal_features_times_coef(scenario, ranker, intercept) -> None:
    """End to end: every score the ranking loops return is ``compute_features @ coef_ + intercept`` of that provider."""
    catalog, query = scenario
    index = SearchIndex.build(catalog, block_size=2, tile_blocks=2)
    scorer = FusedScorer(ranker.coef_, intercept, SCALES, (index.main, index.online))
    context = context_of(query)
    ranked = find_matches(index, scorer, context, radius_m=query["radius_km"] * 1000.0, role=query["role"], k=query["k"]).ranked
    if len(ranked.positions):
        features = compute_features(context, catalog, ranked.positions, ranked.distance_m, ranked.inside, SCALES)
        np.testing.assert_allclose(ranked.scores, features @ ranker.coef_ + intercept, rtol=0, atol=1e-9)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios(), ranker=rankers(), block_size=st.sampled_from([1, 3, 16]))
def test_block_bounds_are_upper_bounds(scenario, ranker, block_size) -> None:
    """No provider scores above its block's bound, for any coach position and query."""
    catalog, query = scenario
    index = SearchIndex.build(catalog, block_size=block_size)
    scorer = make_scorer(ranker, catalog, (index.main, index.online), SCALES)
    assert isinstance(scorer, FusedScorer)
    context = context_of(query)
    prepared = scorer.prepare(context)
    x, y = query["x"], query["y"]
    for table in (index.main, index.online):
        if not table.n_blocks:
            continue
        blocks = np.arange(table.n_blocks)
        mind2, maxd2 = box_distances2(x, y, table.minx, table.miny, table.maxx, table.maxy)
        distance, inside = geometry(index, table, x, y)
        # Inside flags: which blocks may / must contain the point, from the truth per block.
        possible = np.maximum.reduceat(inside, table.start)
        certain = np.minimum.reduceat(inside, table.start)
        bounds = scorer.block_bounds(prepared, table, blocks, mind2, maxd2, possible, certain)
        scores = scorer.scores(prepared, table, slots_of_ranges(table.start, table.end), distance, inside)
        best = np.maximum.reduceat(scores, table.start)
        assert np.all(bounds + scorer.slack >= best)


def test_linear_form_of_the_default_ranker() -> None:
    ranker = MatchRanker().use_parameter_weights()
    coef, intercept = linear_form(ranker)
    np.testing.assert_allclose(coef, ranker.coef_)
    assert intercept == 0.0


class _Curved:
    """A ranker whose scores are not linear in the features."""

    def decision_function(self, X):
        return np.asarray(X, dtype=float).sum(axis=1) ** 2


class _Broken:
    def decision_function(self, X):
        raise ValueError("no")


@pytest.mark.parametrize("ranker", [_Curved(), _Broken()])
def test_non_linear_rankers_are_served_by_the_matrix_scorer(grid_catalog, ranker, caplog) -> None:
    index = SearchIndex.build(grid_catalog)
    with caplog.at_level(logging.WARNING, logger="findsupport.index.scoring"):
        scorer = make_scorer(ranker, grid_catalog, (index.main, index.online), SCALES)
    assert isinstance(scorer, MatrixScorer)
    assert "feature matrix" in caplog.text


def test_a_new_feature_is_served_fused_from_its_one_definition(grid_catalog, monkeypatch) -> None:
    """A feature added to findsupport.features only is scored by the compiled loops exactly as compute_features gives it."""
    import findsupport.features as definitions

    extra = definitions.Feature("level_three", "qualified at level 3", "attributes", lambda a, q, s: a.level == 3)
    monkeypatch.setattr(definitions, "FEATURES", (*definitions.FEATURES, extra))
    monkeypatch.setattr(terms, "FEATURES", definitions.FEATURES)
    coef = np.zeros(len(definitions.FEATURES))
    coef[-1] = 2.5
    coef[0] = 1.0
    index = SearchIndex.build(grid_catalog, block_size=4)
    scorer = FusedScorer(coef, 0.0, SCALES, (index.main, index.online))
    context = QueryContext.from_query(ORIGIN[0], ORIGIN[1], mode="any")
    table = index.main
    distance, inside = geometry(index, table, *ORIGIN)
    features = compute_features(context, grid_catalog, table.order, distance, inside, SCALES)
    assert features.shape[1] == len(FEATURE_NAMES) + 1
    assert features[:, -1].tolist() == (grid_catalog.level[table.order] == 3).tolist()
    got = scorer.scores(scorer.prepare(context), table, np.arange(len(table)), distance, inside)
    np.testing.assert_allclose(got, features @ coef, rtol=0, atol=1e-12)
    assert (grid_catalog.level == 3).any() and np.ptp(got) > 0


def _signatures() -> dict[str, int]:
    return {name: len(getattr(kernels, name).signatures) for name in kernels.__all__ if hasattr(getattr(kernels, name), "signatures")}


@pytest.mark.parametrize("ranker", [MatchRanker().use_parameter_weights(), _Curved()])
def test_searches_after_warm_up_compile_nothing(grid_catalog, ranker) -> None:
    """Every kernel a search needs is compiled by warm_up, with the argument types searches use."""
    catalogs = [grid_catalog, PublicCatalog.from_providers([])]
    engines = []
    for catalog in catalogs:
        index = SearchIndex.build(catalog, block_size=2, tile_blocks=1)
        scorer = make_scorer(ranker, catalog, (index.main, index.online), SCALES)
        warm_up(index, scorer)
        engines.append((index, scorer))
    before = _signatures()
    for index, scorer in engines:
        for mode in ("in_person", "online", "any"):
            for role, event, slots, level, k in [(None, None, (), None, 10), ("coach_developer", "jumps", ("tue_eve", "sat_am"), "advanced_coach", 1)]:
                for dx in (0.0, 1500.0, 900_000.0):
                    context = QueryContext.from_query(
                        ORIGIN[0] + dx, ORIGIN[1], role=role, event=event, slots=slots, mode=mode, level=level
                    )
                    find_matches(index, scorer, context, radius_m=5_000.0, role=role, k=k)
    assert _signatures() == before

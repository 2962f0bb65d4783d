"""The index against a brute-force scan: candidates, totals and the ranked page, for every mode."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from findsupport.catalog.public import PublicCatalog
from findsupport.index import SearchIndex, find_matches, make_scorer
from findsupport.index.scoring import FusedScorer, MatrixScorer
from findsupport.features import FeatureScales, QueryContext
from findsupport.ranking.model import MatchRanker

from .brute import assert_same_top, brute_search
from .conftest import KM, ORIGIN, provider, rankers, scenarios


def run(index: SearchIndex, scorer, query: dict):
    context = QueryContext.from_query(
        query["x"], query["y"], role=query["role"], event=query["event"], slots=query["slots"], mode=query["mode"], level=query["level"]
    )
    return find_matches(index, scorer, context, radius_m=query["radius_km"] * 1000.0, role=query["role"], k=query["k"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    scenario=scenarios(),
    ranker=rankers(),
    block_size=st.sampled_from([1, 2, 5, 128]),
    tile_blocks=st.sampled_from([1, 3, 16]),
    site_counts=st.booleans(),
)
def test_index_matches_brute_force(scenario, ranker, block_size, tile_blocks, site_counts):
    """Totals exactly, pages up to tied scores, with the fused and the matrix scorer alike.

    Small blocks make the compiled loops prune blocks and count the unread
    ones (from role counts, one by one, or from the site counts).
    """
    catalog, query = scenario
    index = SearchIndex.build(
        catalog, block_size=block_size, online_block_size=block_size, tile_blocks=tile_blocks, site_counts=site_counts
    )
    assert (index.sites is not None) == site_counts
    brute = brute_search(catalog, ranker, query)
    scales = FeatureScales()
    for scorer in (make_scorer(ranker, catalog, (index.main, index.online), scales), MatrixScorer(ranker, catalog, scales)):
        matches = run(index, scorer, query)
        assert matches.total == brute.total
        if query["mode"] == "online":
            assert matches.near is None
        else:
            # Counted while ranking, equal to the separate counting pass (which tests every area).
            counted, _ = index.count_in_person(query["x"], query["y"], query["radius_km"] * 1000.0, query["role"])
            assert matches.near == counted
        ranked = matches.ranked
        assert len(ranked.positions) == min(query["k"], brute.total)
        assert_same_top(ranked.positions.tolist(), ranked.scores, brute)
        # Distances and inside flags travel with the positions.
        where = {p: i for i, p in enumerate(brute.positions.tolist())}
        for position, distance, inside in zip(ranked.positions.tolist(), ranked.distance_m, ranked.inside):
            assert distance == pytest.approx(brute.distance_m[where[position]], abs=1e-9)
            assert inside == brute.inside[where[position]]


def test_default_ranker_serves_fused(grid_catalog: PublicCatalog) -> None:
    index = SearchIndex.build(grid_catalog)
    scorer = make_scorer(MatchRanker().use_parameter_weights(), grid_catalog, (index.main, index.online), FeatureScales())
    assert isinstance(scorer, FusedScorer)


def query_at(x_km: float = 0, y_km: float = 0, **fields) -> dict:
    base = {"x": ORIGIN[0] + x_km * KM, "y": ORIGIN[1] + y_km * KM, "radius_km": 25.0, "role": None, "mode": "in_person"}
    base.update({"event": None, "slots": (), "level": None, "k": 20})
    base.update(fields)
    return base


@pytest.mark.parametrize(
    ("fields", "expected_ids"),
    [
        # p1 is exactly 25 km north with a 30 km reach: on the radius counts.
        ({}, {"p0000", "p0001", "p0002", "p0006"}),
        # p2 is exactly at the edge of its 5 km reach; p3 (reach 4 km) is not.
        ({"radius_km": 5.0}, {"p0000", "p0002", "p0006"}),
        ({"radius_km": 4.0}, {"p0006"}),
        # The coach on the polygon's edge: p6's box runs x -1..1 km, y 0..1 km.
        ({"y": ORIGIN[1] + 1 * KM, "radius_km": 10.0}, {"p0000", "p0002", "p0006"}),
        # 1.5 km north of the polygons: circles only (p3 reaches 3.35 km of its 4).
        ({"y": ORIGIN[1] + 2.5 * KM, "radius_km": 10.0}, {"p0000", "p0002", "p0003"}),
        # Online: every online provider, however far; any: the union, each once.
        ({"mode": "online"}, {"p0004", "p0005"}),
        ({"mode": "any"}, {"p0000", "p0001", "p0002", "p0004", "p0005", "p0006"}),
        ({"mode": "any", "role": "coach_developer"}, {"p0005"}),
        ({"role": "co_coach"}, set()),
    ],
)
def test_boundaries_and_modes(grid_catalog: PublicCatalog, fields: dict, expected_ids: set[str]) -> None:
    index = SearchIndex.build(grid_catalog, block_size=2, tile_blocks=1)
    ranker = MatchRanker().use_parameter_weights()
    scorer = make_scorer(ranker, grid_catalog, (index.main, index.online), FeatureScales())
    matches = run(index, scorer, query_at(**fields))
    ids = {grid_catalog.providers[p].id for p in matches.ranked.positions}
    assert ids == expected_ids
    assert matches.total == len(expected_ids)


def test_polygon_replaces_the_circle(grid_catalog: PublicCatalog) -> None:
    """p7 travels 50 km but declared a 1 km box: only the box counts."""
    index = SearchIndex.build(grid_catalog)
    ranker = MatchRanker().use_parameter_weights()
    scorer = make_scorer(ranker, grid_catalog, (index.main, index.online), FeatureScales())
    inside_box = run(index, scorer, query_at(x_km=1.5, y_km=0.5, radius_km=25.0))
    outside_box = run(index, scorer, query_at(x_km=3, y_km=0.5, radius_km=25.0))
    assert "p0007" in {grid_catalog.providers[p].id for p in inside_box.ranked.positions}
    assert "p0007" not in {grid_catalog.providers[p].id for p in outside_box.ranked.positions}


def test_exact_ties_break_by_catalogue_position() -> None:
    """Identical providers at one place score the same; the page lists them in catalogue order."""
    catalog = PublicCatalog.from_providers([provider(i, 0, 2) for i in range(40)])
    index = SearchIndex.build(catalog, block_size=3, tile_blocks=2)
    ranker = MatchRanker().use_parameter_weights()
    scorer = make_scorer(ranker, catalog, (index.main, index.online), FeatureScales())
    matches = run(index, scorer, query_at(k=15))
    assert matches.ranked.positions.tolist() == list(range(15))
    assert matches.total == 40


def test_empty_catalogue() -> None:
    catalog = PublicCatalog.from_providers([])
    index = SearchIndex.build(catalog)
    scorer = make_scorer(MatchRanker().use_parameter_weights(), catalog, (index.main, index.online), FeatureScales())
    for mode in ("in_person", "online", "any"):
        matches = run(index, scorer, query_at(mode=mode))
        assert matches.total == 0 and len(matches.ranked.positions) == 0


def test_count_in_person_counts_whole_blocks_without_reading_them() -> None:
    """A dense site well inside everyone's reach: whole blocks are counted from their role counts."""
    providers = [provider(i, 0, 1, reach_km=20, roles=("mentor",) if i % 2 else ("co_coach",)) for i in range(300)]
    catalog = PublicCatalog.from_providers(providers)
    index = SearchIndex.build(catalog, block_size=16)
    near = index.in_person_blocks(ORIGIN[0], ORIGIN[1], 25_000.0, "mentor")
    assert near.whole.all()
    assert index.count_in_person(ORIGIN[0], ORIGIN[1], 25_000.0, "mentor") == (150, 0)
    assert index.count_in_person(ORIGIN[0], ORIGIN[1], 25_000.0, None) == (300, 0)


@pytest.mark.parametrize("bad", [0, -1])
def test_block_size_must_be_positive(grid_catalog: PublicCatalog, bad: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        SearchIndex.build(grid_catalog, block_size=bad)


def test_index_arrays_are_read_only(grid_catalog: PublicCatalog) -> None:
    index = SearchIndex.build(grid_catalog)
    with pytest.raises(ValueError):
        index.main.x[0] = 0.0
    assert index.nbytes > 0 and len(index) == len(grid_catalog)
    assert np.array_equal(np.sort(index.main.order), np.arange(len(grid_catalog)))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios(), block_size=st.sampled_from([1, 4, 64]))
def test_ranking_package_scan_agrees_with_the_index_exactly(scenario, block_size) -> None:
    """ranking.scan_candidates (training, simulation) finds the index's candidates, at bit-identical distances."""
    from findsupport.ranking.candidates import scan_candidates

    catalog, query = scenario
    index = SearchIndex.build(catalog, block_size=block_size, online_block_size=block_size)
    ranker = MatchRanker().use_parameter_weights()
    scorer = make_scorer(ranker, catalog, (index.main, index.online), FeatureScales())
    positions, distance, inside = scan_candidates(
        catalog, query["x"], query["y"], role=query["role"], mode=query["mode"], radius_m=query["radius_km"] * 1000.0
    )
    matches = run(index, scorer, dict(query, k=len(catalog) + 1))
    assert matches.total == len(positions)
    assert sorted(matches.ranked.positions.tolist()) == sorted(positions.tolist())
    mine = dict(zip(matches.ranked.positions.tolist(), zip(matches.ranked.distance_m.tolist(), matches.ranked.inside.tolist())))
    assert all(mine[p] == (d, f) for p, d, f in zip(positions.tolist(), distance.tolist(), inside.tolist()))

"""The index's building blocks: the curve, block tables, the R-tree of tiles, polygons, top-k."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from findsupport import taxonomy
from findsupport.catalog.public import PublicCatalog
from findsupport.index import BlockTree, SearchIndex, ServiceAreas, TopK, hilbert_keys
from findsupport.index import kernels
from findsupport.index.blocks import box_distances2, slots_of_ranges

from .conftest import KM, ORIGIN, provider, scenarios


# ---------------------------------------------------------------------- curve
@pytest.mark.parametrize("order", [1, 2, 3, 5])
def test_hilbert_walks_every_cell_once_through_neighbours(order: int) -> None:
    cells = 1 << order
    gx, gy = np.meshgrid(np.arange(cells), np.arange(cells))
    keys = hilbert_keys(gx.ravel(), gy.ravel(), bounds=(0, 0, cells - 1, cells - 1), order=order)
    assert sorted(keys.tolist()) == list(range(cells * cells))
    walk = np.argsort(keys)
    steps = np.abs(np.diff(gx.ravel()[walk])) + np.abs(np.diff(gy.ravel()[walk]))
    assert np.all(steps == 1)


@pytest.mark.parametrize(("x", "y", "order", "message"), [([0], [0, 1], 4, "same shape"), ([0], [0], 0, "between 1 and 31")])
def test_hilbert_rejects_bad_input(x, y, order, message) -> None:
    with pytest.raises(ValueError, match=message):
        hilbert_keys(x, y, order=order)


def test_hilbert_of_nothing_and_of_one_point() -> None:
    assert hilbert_keys([], []).shape == (0,)
    assert hilbert_keys([5.0], [7.0]).tolist() == [0]


# ---------------------------------------------------------------------- ranges and boxes
@pytest.mark.parametrize(
    ("starts", "ends", "expected"),
    [
        ([], [], []),
        ([3], [3], []),
        ([0, 5], [2, 7], [0, 1, 5, 6]),
        ([4, 0], [6, 1], [4, 5, 0]),
        ([2, 2, 8], [2, 4, 9], [2, 3, 8]),
    ],
)
def test_slots_of_ranges(starts, ends, expected) -> None:
    assert slots_of_ranges(np.array(starts, dtype=int), np.array(ends, dtype=int)).tolist() == expected


@settings(max_examples=60, deadline=None)
@given(
    point=st.tuples(st.integers(-50, 50), st.integers(-50, 50)),
    box=st.tuples(st.integers(-40, 40), st.integers(-40, 40), st.integers(0, 30), st.integers(0, 30)),
    inside=st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=1, max_size=10),
)
def test_box_distances_bound_every_point_of_the_box(point, box, inside) -> None:
    x0, y0, w, h = box
    mind2, maxd2 = box_distances2(float(point[0]), float(point[1]), np.array([x0]), np.array([y0]), np.array([x0 + w]), np.array([y0 + h]))
    for fx, fy in [*inside, (0, 0), (1, 1), (0, 1), (1, 0)]:
        px, py = x0 + fx * w, y0 + fy * h
        d2 = (px - point[0]) ** 2 + (py - point[1]) ** 2
        assert mind2[0] <= d2 + 1e-9 and d2 <= maxd2[0] + 1e-9


# ---------------------------------------------------------------------- block tables
@settings(max_examples=20, deadline=None)
@given(scenario=scenarios(), block_size=st.sampled_from([1, 4, 32]))
def test_loop_matrices_hold_the_catalogue_in_the_kernels_layout(scenario, block_size) -> None:
    """The few matrices the compiled loops read: read-only, one C-ordered row per slot/block/tile, columns as kernels names them."""
    catalog, _ = scenario
    index = SearchIndex.build(catalog, block_size=block_size, online_block_size=block_size, tile_blocks=2)
    for table in (index.main, index.online):
        for matrix in (table.slot_f, table.slot_i, table.block_f, table.block_i, table.tile_i):
            assert matrix.flags.c_contiguous and not matrix.flags.writeable
        assert table.slot_f.shape == (len(table), len(kernels.SLOT_FLOATS))
        order = table.slot_i[:, kernels.ORDER]
        assert np.array_equal(table.slot_f[:, kernels.X], catalog.x[order])
        assert np.array_equal(table.slot_f[:, kernels.Y], catalog.y[order])
        assert np.array_equal(table.slot_i[:, kernels.EVENT_MASK], catalog.event_mask[order])
        assert np.array_equal(table.slot_i[:, kernels.SLOT_MASK], catalog.slot_mask[order])
        assert np.array_equal(table.slot_i[:, kernels.ROLE_MASK], catalog.role_mask[order])
        assert np.array_equal(table.slot_i[:, kernels.ONLINE], catalog.online[order])
        for b in range(table.n_blocks):
            row = table.block_i[b]
            members = order[row[kernels.START] : row[kernels.END]]
            assert table.block_f[b, kernels.MINX] == catalog.x[members].min()
            assert row[kernels.ROLE_COUNTS] == len(members)
            assert row[kernels.ONLINE_ROLE_COUNTS] == np.count_nonzero(catalog.online[members])
            for e in range(len(taxonomy.EVENTS)):
                coaches = members[(catalog.event_mask[members] >> e) & 1 == 1]
                assert row[kernels.EVENT_SLOT_OR + e] == (np.bitwise_or.reduce(catalog.slot_mask[coaches]) if len(coaches) else 0)


@settings(max_examples=40, deadline=None)
@given(scenario=scenarios(), block_size=st.sampled_from([1, 4, 32]))
def test_block_summaries_match_their_providers(scenario, block_size) -> None:
    catalog, _ = scenario
    index = SearchIndex.build(catalog, block_size=block_size, online_block_size=block_size, tile_blocks=2)
    for table in (index.main, index.online):
        assert sorted(table.order.tolist()) == sorted(set(table.order.tolist()))
        for b in range(table.n_blocks):
            members = table.order[table.start[b] : table.end[b]]
            assert 0 < len(members) <= block_size
            providers = [catalog.providers[i] for i in members]
            assert table.minx[b] == min(p.easting for p in providers)
            assert table.maxy[b] == max(p.northing for p in providers)
            assert table.role_counts[b, 0] == len(members)
            for k, role in enumerate(taxonomy.ROLES):
                assert table.role_counts[b, 1 + k] == sum(role in p.roles for p in providers)
                assert table.online_role_counts[b, 1 + k] == sum(role in p.roles and p.online for p in providers)
            assert table.event_or[b] == np.bitwise_or.reduce(catalog.event_mask[members])
            assert table.has_polygon[b] == any(p.service_area is not None for p in providers)
            assert table.slot_or[b] == np.bitwise_or.reduce(catalog.slot_mask[members])
        # Blocks never mix circles and polygons in the main table (they are partitioned apart).
        if table is index.main:
            for b in range(table.n_blocks):
                kinds = {catalog.providers[i].service_area is None for i in table.order[table.start[b] : table.end[b]]}
                assert len(kinds) == 1
        # Tiles cover the blocks exactly, in order.
        assert slots_of_ranges(table.tile_start, table.tile_end).tolist() == list(range(table.n_blocks))


# ---------------------------------------------------------------------- the tree
def _spread_catalog(n: int = 400) -> PublicCatalog:
    rng = np.random.default_rng(3)
    return PublicCatalog.from_providers(
        [provider(i, int(rng.integers(-80, 80)), int(rng.integers(-80, 80)), reach_km=float(rng.choice([5, 20, 45]))) for i in range(n)]
    )


def _blocks_containing(table, x: float, y: float) -> list[int]:
    inside = (table.sa_minx <= x) & (x <= table.sa_maxx) & (table.sa_miny <= y) & (y <= table.sa_maxy)
    return np.flatnonzero(inside).tolist()


@pytest.mark.parametrize("tile_blocks", [1, 4, 16])
def test_tree_finds_exactly_the_blocks_around_a_point(tile_blocks: int) -> None:
    index = SearchIndex.build(_spread_catalog(), block_size=8, tile_blocks=tile_blocks)
    rng = np.random.default_rng(4)
    for _ in range(50):
        x, y = ORIGIN[0] + rng.integers(-100, 100) * KM, ORIGIN[1] + rng.integers(-100, 100) * KM
        assert index.tree.blocks_at(x, y).tolist() == _blocks_containing(index.main, x, y)


def test_tree_tiles_are_rtrees_own_answer() -> None:
    """tiles_at reads libspatialindex's id array directly: the same ids rtree's public API gives."""
    index = SearchIndex.build(_spread_catalog(), block_size=4, tile_blocks=2)
    rng = np.random.default_rng(6)
    for _ in range(60):
        x, y = ORIGIN[0] + rng.integers(-100, 100) * KM, ORIGIN[1] + rng.integers(-100, 100) * KM
        tiles = index.tree.tiles_at(x, y)
        assert tiles.dtype == np.intp
        assert sorted(tiles.tolist()) == sorted(index.tree._tree.intersection((x, y, x, y)))


def test_tree_is_safe_under_concurrent_queries() -> None:
    """rtree is not thread-safe; the tree's lock makes concurrent searches give the same answers."""
    index = SearchIndex.build(_spread_catalog(), block_size=4, tile_blocks=2)
    rng = np.random.default_rng(5)
    points = [(ORIGIN[0] + rng.integers(-90, 90) * KM, ORIGIN[1] + rng.integers(-90, 90) * KM) for _ in range(40)]
    expected = [_blocks_containing(index.main, x, y) for x, y in points]
    failures: list[str] = []

    def worker() -> None:
        for _ in range(25):
            for (x, y), want in zip(points, expected):
                got = index.tree.blocks_at(x, y).tolist()
                if got != want:
                    failures.append(f"{x},{y}")

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_empty_tree() -> None:
    index = SearchIndex.build(PublicCatalog.from_providers([]))
    assert len(index.tree) == 0 and index.tree.blocks_at(0.0, 0.0).size == 0
    assert isinstance(index.tree, BlockTree)


# ---------------------------------------------------------------------- polygons
@pytest.mark.parametrize(
    ("x", "y", "expected"),
    [
        (5.0, 5.0, [True, False, True]),  # inside the square, outside the far box
        (10.0, 5.0, [True, False, True]),  # on the square's edge: counts
        (10.0, 10.0, [True, False, True]),  # on its corner: counts
        (10.5, 5.0, [False, False, False]),
        (25.0, 5.0, [False, True, False]),  # in the second part of the multipolygon only
    ],
)
def test_service_areas_cover_edges(x, y, expected) -> None:
    square = shapely.box(0, 0, 10, 10)
    far = shapely.MultiPolygon([shapely.box(100, 0, 110, 10), shapely.box(20, 0, 30, 10)])
    areas = ServiceAreas([square, far])
    assert areas.covers(np.array([0, 1, 0]), x, y).tolist() == expected


def test_equal_polygons_share_one_area() -> None:
    square, same, other = shapely.box(0, 0, 10, 10), shapely.box(0, 0, 10, 10), shapely.box(20, 0, 30, 10)
    areas, ids = ServiceAreas.deduplicated([square, other, same, square])
    assert len(areas) == 2 and ids.tolist()[0] == ids.tolist()[2] == ids.tolist()[3] != ids.tolist()[1]
    flags = areas.flags_at(5.0, 5.0)
    assert flags[ids].tolist() == [True, False, True, True]
    only = areas.flags_at(5.0, 5.0, np.array([ids[1]]))  # only the listed areas are tested
    assert only.tolist() == [False, False]
    empty, none = ServiceAreas.deduplicated([])
    assert len(empty) == 0 and none.size == 0 and empty.flags_at(0.0, 0.0).size == 0


def test_service_areas_refuse_empty_geometry() -> None:
    with pytest.raises(ValueError, match="empty or missing"):
        ServiceAreas([shapely.Polygon()])


# ---------------------------------------------------------------------- top-k
@pytest.mark.parametrize(
    ("batches", "k", "expected"),
    [
        ([([1.0, 2.0, 3.0], [0, 1, 2])], 2, [2, 1]),
        ([([1.0, 1.0, 1.0], [5, 3, 9])], 2, [3, 5]),  # ties: lowest catalogue position first
        ([([2.0], [8]), ([2.0, 5.0], [1, 4]), ([0.5], [0])], 2, [4, 1]),  # across batches
        ([([2.0, 1.0], [0, 1])], 5, [0, 1]),  # fewer than k
        ([([2.0, 1.0], [0, 1])], 0, []),
    ],
)
def test_top_k(batches, k, expected) -> None:
    best = TopK(k)
    for scores, positions in batches:
        n = len(scores)
        best.add(np.array(scores), np.array(positions), np.zeros(n), np.zeros(n, dtype=bool))
    assert best.ranked()[0].tolist() == expected


# ---------------------------------------------------------------------- site counts
def test_site_counts_give_up_when_the_table_would_be_large() -> None:
    from findsupport.index.sites import MAX_REACH_VALUES, SiteCounts

    n = MAX_REACH_VALUES + 1
    ones = np.ones(n, dtype=np.uint8)
    many_reaches = SiteCounts.build(np.zeros(n), np.zeros(n), np.arange(n, dtype=float), ones, np.zeros(n, dtype=bool))
    assert many_reaches is None
    few = SiteCounts.build(np.zeros(3), np.zeros(3), np.array([1.0, 1.0, 2.0]), np.ones(3, np.uint8), np.zeros(3, dtype=bool))
    assert few is not None and few.count(1.0, 0.0, 4.0, 0) == (3, 0) and few.count(2.0, 0.0, 4.0, 0) == (1, 0)

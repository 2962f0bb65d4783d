"""The search index cached beside the catalogue snapshot: read back, it answers exactly as the one built."""

from __future__ import annotations

import logging
import os
import random
import stat

import numpy as np
import pytest
import shapely

from findsupport.catalog import snapshot as snapshot_module
from findsupport.catalog.public import PublicCatalog
from findsupport.catalog.snapshot import SNAPSHOTS_KEPT, read_snapshot, snapshot_path, write_snapshot
from findsupport.features import FeatureScales, QueryContext
from findsupport.index import SearchIndex, find_matches, make_scorer
from findsupport.index import cache as index_cache
from findsupport.ranking.model import MatchRanker

from .conftest import KM, ORIGIN, provider

URL = "sqlite:////data/findsupport.sqlite3"
TINY = {"block_size": 3, "online_block_size": 2, "tile_blocks": 2}
TABLE_ARRAYS = index_cache._TABLE_ARRAYS


def catalogue(version: str, n: int = 160, seed: int = 1) -> PublicCatalog:
    """Providers on a few shared sites, some online, some with one of two polygons (each declared by several)."""
    rng = random.Random(seed)
    county = shapely.box(ORIGIN[0] - 8 * KM, ORIGIN[1] - 8 * KM, ORIGIN[0] + 2 * KM, ORIGIN[1] + 6 * KM)
    town = shapely.box(ORIGIN[0] + 5 * KM, ORIGIN[1], ORIGIN[0] + 9 * KM, ORIGIN[1] + 3 * KM)
    sites = [(rng.randint(-20, 20), rng.randint(-20, 20)) for _ in range(12)]
    providers = []
    for i in range(n):
        x, y = rng.choice(sites)
        area = rng.choice([None] * 6 + [county, town])
        providers.append(provider(i, x, y, reach_km=rng.choice([0, 5, 10, 20, 40]), online=rng.random() < 0.3,
                                  roles=rng.choice([("mentor",), ("coach_developer",), ("mentor", "coach_developer")]),
                                  area=area))  # fmt: skip
    return PublicCatalog.from_providers(providers, version=version)


def from_file(catalog: PublicCatalog, cache_dir) -> PublicCatalog:
    """``catalog`` as a process reading its snapshot file sees it."""
    path = snapshot_path(cache_dir, URL, catalog.version)
    if not path.exists():
        write_snapshot(catalog, path, database_url=URL)
    return read_snapshot(path, database_url=URL, version=catalog.version)


def cache_files(cache_dir) -> list:
    return sorted(cache_dir.glob(f"*{index_cache.SUFFIX}"))


QUERIES = [
    {"x": ORIGIN[0], "y": ORIGIN[1], "radius_m": 15 * KM, "role": "mentor", "mode": "any"},
    {"x": ORIGIN[0] + 6 * KM, "y": ORIGIN[1] + 1 * KM, "radius_m": 30 * KM, "role": None, "mode": "in_person"},
    {"x": ORIGIN[0] - 12 * KM, "y": ORIGIN[1] + 9 * KM, "radius_m": 50 * KM, "role": "coach_developer", "mode": "online"},
]


def answers(index: SearchIndex, catalog: PublicCatalog) -> list:
    scorer = make_scorer(MatchRanker().use_parameter_weights(), catalog, (index.main, index.online), FeatureScales())
    out = []
    for q in QUERIES:
        context = QueryContext.from_query(q["x"], q["y"], role=q["role"], event="hurdles", slots=("tue_eve",), mode=q["mode"],
                                          level=None)  # fmt: skip
        matches = find_matches(index, scorer, context, radius_m=q["radius_m"], role=q["role"], k=25)
        ranked = matches.ranked
        out.append((matches.total, matches.near, ranked.positions.tolist(), np.asarray(ranked.scores).tolist(),
                    np.asarray(ranked.distance_m).tolist(), np.asarray(ranked.inside).tolist(),
                    index.area_flags(q["x"], q["y"]).tolist(), index.count_in_person(q["x"], q["y"], q["radius_m"], q["role"])))  # fmt: skip
    return out


@pytest.mark.parametrize("parameters", [{}, TINY], ids=["default blocks", "tiny blocks"])
def test_a_second_process_reads_the_index_and_answers_the_same(tmp_path, monkeypatch, parameters):
    built_catalog = from_file(catalogue("v1"), tmp_path)
    built = SearchIndex.build(built_catalog, **parameters)
    (path,) = cache_files(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.name.startswith(snapshot_path(tmp_path, URL, "v1").name)

    monkeypatch.setattr(SearchIndex, "_build", classmethod(lambda *a, **k: pytest.fail("built the index again")))
    catalog = from_file(catalogue("v1"), tmp_path)  # the next process: its own read of the snapshot
    loaded = SearchIndex.build(catalog, **parameters)
    for name in ("main", "online"):
        for array in TABLE_ARRAYS:
            np.testing.assert_array_equal(getattr(getattr(loaded, name), array), getattr(getattr(built, name), array))
    assert (loaded.sites is None) == (built.sites is None)
    np.testing.assert_array_equal(loaded.polygon_providers.area_id, built.polygon_providers.area_id)
    np.testing.assert_array_equal(loaded.areas.bounds, built.areas.bounds)
    assert len(loaded.tree) == len(built.tree) and loaded.catalog_version == "v1"
    assert answers(loaded, catalog) == answers(built, built_catalog)
    assert sum(a[0] for a in answers(loaded, catalog)) > 0  # the queries do find people


def _flip_a_byte(path) -> None:
    data = bytearray(path.read_bytes())
    data[-20] ^= 0xFF
    path.write_bytes(bytes(data))


def _cut_short(path) -> None:
    path.write_bytes(path.read_bytes()[:-100])


def _another_catalogues(path) -> None:
    """The file of another catalogue (as a copied or renamed cache would hold) under this one's name."""
    other = from_file(catalogue("v9", seed=9), path.parent / "other")
    SearchIndex.build(other)
    (source,) = cache_files(path.parent / "other")
    os.replace(source, path)


@pytest.mark.parametrize("damage", [_flip_a_byte, _cut_short, _another_catalogues],
                         ids=["a byte flipped", "cut short", "another catalogue's"])  # fmt: skip
def test_an_unusable_index_cache_is_logged_and_rebuilt(tmp_path, caplog, damage):
    catalog = from_file(catalogue("v1"), tmp_path)
    built = SearchIndex.build(catalog)
    (path,) = cache_files(tmp_path)
    damage(path)
    with caplog.at_level(logging.WARNING, logger=index_cache.__name__):
        rebuilt = SearchIndex.build(from_file(catalogue("v1"), tmp_path))
    assert "unusable" in caplog.text
    assert answers(rebuilt, catalog) == answers(built, catalog)
    # Written again: the next process reads it.
    assert index_cache.load_index(from_file(catalogue("v1"), tmp_path), index_cache_parameters()) is not None


def index_cache_parameters() -> dict:
    from findsupport.index.spatial import BLOCK_SIZE, ONLINE_BLOCK_SIZE, REACH_CLASS_EDGES_M, TILE_BLOCKS

    return {"block_size": BLOCK_SIZE, "online_block_size": ONLINE_BLOCK_SIZE, "tile_blocks": TILE_BLOCKS,
            "reach_edges_m": [float(e) for e in REACH_CLASS_EDGES_M], "site_counts": True}  # fmt: skip


def test_each_catalogue_version_and_build_has_its_own_cache_pruned_with_its_snapshot(tmp_path):
    for k in range(SNAPSHOTS_KEPT + 2):
        catalog = from_file(catalogue(f"v{k}", seed=k), tmp_path)
        os.utime(snapshot_path(tmp_path, URL, f"v{k}"), (1_000_000 + k, 1_000_000 + k))  # newer each time
        SearchIndex.build(catalog)
        SearchIndex.build(catalog, **TINY)  # other parameters: another file beside the same snapshot
        assert len(cache_files(tmp_path)) == 2 * (k + 1)
    snapshot_module._prune(tmp_path, keep=snapshot_path(tmp_path, URL, "v3"), database_url=URL)
    kept = {f"v{k}" for k in range(2, SNAPSHOTS_KEPT + 2)}
    assert {p.name.split("-")[2] for p in tmp_path.glob("public-catalog-*.fscat")} == kept
    assert {p.name.split("-")[2] for p in cache_files(tmp_path)} == kept and len(cache_files(tmp_path)) == 2 * len(kept)


def test_a_catalogue_not_read_from_a_snapshot_is_indexed_without_a_cache(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    index = SearchIndex.build(catalogue("v1"))
    assert len(index) == 160 and list(tmp_path.rglob(f"*{index_cache.SUFFIX}")) == []


def test_an_empty_catalogues_index_is_cached_too(tmp_path, monkeypatch):
    built = SearchIndex.build(from_file(catalogue("empty", n=0), tmp_path))
    monkeypatch.setattr(SearchIndex, "_build", classmethod(lambda *a, **k: pytest.fail("built the index again")))
    loaded = SearchIndex.build(from_file(catalogue("empty", n=0), tmp_path))
    assert len(loaded) == len(built) == 0 and loaded.main.block_i.shape == built.main.block_i.shape


def test_a_change_to_the_code_that_builds_the_index_gets_a_new_cache(tmp_path, monkeypatch):
    catalog = from_file(catalogue("v1"), tmp_path)
    SearchIndex.build(catalog)
    (before,) = cache_files(tmp_path)
    monkeypatch.setattr(index_cache, "_code_digest", lambda: "an upgraded findsupport")
    monkeypatch.setattr(SearchIndex, "_build", classmethod(lambda *a, **k: pytest.fail("rebuilt")))
    with pytest.raises(pytest.fail.Exception, match="rebuilt"):
        SearchIndex.build(from_file(catalogue("v1"), tmp_path))
    assert before.exists()

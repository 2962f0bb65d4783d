"""BNG ⇄ WGS84: the same answers on every thread, without rebuilding from PROJ's database per thread."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import pyproj.transformer
import pytest
from pyproj import Transformer

from findsupport.geo import PostcodeDirectory
from findsupport.geo.transform import BNG, WGS84, to_bng, to_wgs84

#: Postcodes sampled from the directory for the agreement checks (every region of GB).
SAMPLE_SIZE = 20_000


def on_fresh_thread(call: Callable[[], object]) -> object:
    """``call()`` as the first thing a new thread does; its result, or the exception it raised."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:  # handed back to the test, which re-raises or inspects it
            outcome.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    return outcome[0]


@pytest.fixture(scope="module")
def grid_points(directory: PostcodeDirectory) -> tuple[np.ndarray, np.ndarray]:
    arrays = directory.located_arrays()
    picks = np.random.default_rng(3).choice(len(arrays["easting"]), SAMPLE_SIZE, replace=False)
    return arrays["easting"][picks].astype(float), arrays["northing"][picks].astype(float)


def test_fresh_threads_give_the_main_threads_answers(grid_points):
    easting, northing = grid_points
    lon, lat = to_wgs84(easting, northing)
    there = on_fresh_thread(lambda: (to_wgs84(easting, northing), to_bng(lon, lat)))
    (thread_lon, thread_lat), (thread_e, thread_n) = there
    np.testing.assert_array_equal(thread_lon, lon)
    np.testing.assert_array_equal(thread_lat, lat)
    main_e, main_n = to_bng(lon, lat)
    np.testing.assert_array_equal(thread_e, main_e)
    np.testing.assert_array_equal(thread_n, main_n)


def test_a_fresh_thread_does_not_rebuild_from_the_crs_database(monkeypatch):
    """The slow path (~60 ms a thread) is a CRS-to-CRS lookup; a new thread must never take it."""
    to_bng(-1.6, 54.97), to_wgs84(425000, 564000)  # the main thread's copies exist already

    def refuse(self):
        raise AssertionError("a transformer was rebuilt from the CRS database on a new thread")

    monkeypatch.setattr(pyproj.transformer.TransformerFromCRS, "__call__", refuse)
    result = on_fresh_thread(lambda: (to_bng(-1.6, 54.97), to_wgs84(425000, 564000)))
    if isinstance(result, BaseException):
        raise result


def test_the_fixed_pipelines_match_proj_at_every_sampled_postcode(grid_points):
    """Bit-identical to what ``from_crs`` gives in Great Britain (the operation PROJ picks there)."""
    easting, northing = grid_points
    lon, lat = Transformer.from_crs(BNG, WGS84, always_xy=True).transform(easting, northing)
    ours_lon, ours_lat = to_wgs84(easting, northing)
    np.testing.assert_array_equal(ours_lon, lon)
    np.testing.assert_array_equal(ours_lat, lat)
    e, n = Transformer.from_crs(WGS84, BNG, always_xy=True).transform(lon, lat)
    ours_e, ours_n = to_bng(lon, lat)
    np.testing.assert_array_equal(ours_e, e)
    np.testing.assert_array_equal(ours_n, n)

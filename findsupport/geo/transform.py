"""British National Grid (EPSG:27700) ⇄ WGS84 longitude/latitude.

Metres on the grid inside, longitude/latitude only at the edges.  The pyproj
transformers are built once per process (they are thread-safe to use once
built) and always take and return ``(x, y)`` = ``(easting, northing)`` or
``(longitude, latitude)``.

Examples
--------
>>> e, n = to_bng(-0.12767, 51.503541)
>>> round(float(e)), round(float(n))
(530049, 179951)
"""

from __future__ import annotations

from functools import cache

import numpy as np
import numpy.typing as npt
from pyproj import Transformer

__all__ = ["BNG", "WGS84", "to_bng", "to_wgs84"]

BNG = "EPSG:27700"
WGS84 = "EPSG:4326"

ArrayLike = npt.ArrayLike


@cache
def _to_bng() -> Transformer:
    return Transformer.from_crs(WGS84, BNG, always_xy=True)


@cache
def _to_wgs84() -> Transformer:
    return Transformer.from_crs(BNG, WGS84, always_xy=True)


def to_bng(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Longitude/latitude (degrees) to easting/northing (metres), vectorised."""
    x, y = _to_bng().transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return np.asarray(x), np.asarray(y)


def to_wgs84(easting: ArrayLike, northing: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Easting/northing (metres) to longitude/latitude (degrees), vectorised."""
    lon, lat = _to_wgs84().transform(np.asarray(easting, dtype=float), np.asarray(northing, dtype=float))
    return np.asarray(lon), np.asarray(lat)

"""British National Grid (EPSG:27700) ⇄ WGS84 longitude/latitude.

Metres on the grid inside, longitude/latitude only at the edges.  Both
directions always take and return ``(x, y)`` = ``(easting, northing)`` or
``(longitude, latitude)``.

Why fixed PROJ pipelines rather than ``Transformer.from_crs``
-------------------------------------------------------------
A pyproj ``Transformer`` is shared between threads by building its PROJ
object again in every thread that uses it.  Built with ``from_crs``, that
means a lookup in PROJ's database each time: about 60-70 ms on the first
lon/lat search in every new thread, and Werkzeug's threaded server starts a
thread per request.  Built with ``from_pipeline`` from a fixed pipeline
string, a thread's copy costs a fraction of a millisecond (see
``benchmarks/transform_threads.py``).

The pipelines are the operation ``from_crs`` chooses in Great Britain when the
OSTN15 grid is not installed (it is not, and the network is off): EPSG's
"OSGB36 to WGS 84 (6)", a 7-parameter Helmert transformation accurate to
about 2 m, with the National Grid's transverse Mercator.  They give results
bit-identical to ``from_crs`` at every Code-Point Open postcode; pinning them
also keeps every public location the same on every machine, whatever PROJ
grids happen to be installed there.

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

__all__ = ["BNG", "WGS84", "to_bng", "to_wgs84", "TO_BNG_PIPELINE", "TO_WGS84_PIPELINE"]

BNG = "EPSG:27700"
WGS84 = "EPSG:4326"

#: WGS84 lon/lat (degrees) → British National Grid (metres): EPSG "OSGB36 to WGS 84 (6)", inverted,
#: then the National Grid projection.  As PROJ 9 writes it for ``from_crs(WGS84, BNG, always_xy=True)``.
TO_BNG_PIPELINE = (
    "+proj=pipeline"
    " +step +proj=unitconvert +xy_in=deg +xy_out=rad"
    " +step +proj=push +v_3"
    " +step +proj=cart +ellps=WGS84"
    " +step +inv +proj=helmert +x=446.448 +y=-125.157 +z=542.06 +rx=0.15 +ry=0.247 +rz=0.842 +s=-20.489"
    " +convention=position_vector"
    " +step +inv +proj=cart +ellps=airy"
    " +step +proj=pop +v_3"
    " +step +proj=tmerc +lat_0=49 +lon_0=-2 +k=0.9996012717 +x_0=400000 +y_0=-100000 +ellps=airy"
)
#: The same operation the other way, as PROJ writes it for ``from_crs(BNG, WGS84, always_xy=True)``
#: (running TO_BNG_PIPELINE backwards differs from it in the last bits).
TO_WGS84_PIPELINE = (
    "+proj=pipeline"
    " +step +inv +proj=tmerc +lat_0=49 +lon_0=-2 +k=0.9996012717 +x_0=400000 +y_0=-100000 +ellps=airy"
    " +step +proj=push +v_3"
    " +step +proj=cart +ellps=airy"
    " +step +proj=helmert +x=446.448 +y=-125.157 +z=542.06 +rx=0.15 +ry=0.247 +rz=0.842 +s=-20.489"
    " +convention=position_vector"
    " +step +inv +proj=cart +ellps=WGS84"
    " +step +proj=pop +v_3"
    " +step +proj=unitconvert +xy_in=rad +xy_out=deg"
)

ArrayLike = npt.ArrayLike


@cache
def _to_bng() -> Transformer:
    return Transformer.from_pipeline(TO_BNG_PIPELINE)


@cache
def _to_wgs84() -> Transformer:
    return Transformer.from_pipeline(TO_WGS84_PIPELINE)


def to_bng(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Longitude/latitude (degrees) to easting/northing (metres), vectorised."""
    x, y = _to_bng().transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return np.asarray(x), np.asarray(y)


def to_wgs84(easting: ArrayLike, northing: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Easting/northing (metres) to longitude/latitude (degrees), vectorised."""
    lon, lat = _to_wgs84().transform(np.asarray(easting, dtype=float), np.asarray(northing, dtype=float))
    return np.asarray(lon), np.asarray(lat)

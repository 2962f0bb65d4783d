"""Approximate postcode-district outlines, derived from Code-Point Open's postcode points alone.

No boundary data is needed: a place belongs to the district of its **nearest
postcode**.  The outline of a district is the union of the Voronoi cells of its
postcodes, clipped to a coastline made from the same points.  Everything is
metres on the British National Grid (EPSG:27700); WGS84 only when written as
GeoJSON.

How they are built: :mod:`findsupport.geo.voronoi` (the nearest-postcode
partition, its four steps and their error); :meth:`DistrictOutlines.build`
takes about 30 s of CPU and 1.1 GB for the whole of Great Britain, qhull's
triangulation of a million points being most of it, then the result is cached
under the cache dir keyed by the postcode directory's version.

By construction the outlines never overlap (they are faces of one planar
partition), and they share their edges exactly (a *coverage*), so
:func:`shapely.coverage_simplify` simplifies them without gaps or overlaps for
the web (:data:`SIMPLIFY_M`).

Examples
--------
>>> outlines = DistrictOutlines.load("instance/cache", directory)             # doctest: +SKIP
>>> outlines.outline("NE21").area / 1e6                                      # doctest: +SKIP
13.9
>>> outlines.write("districts.geojson")  # WGS84, simplified                 # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from ..errors import InvalidInput
from .cachefile import save_npz_atomically
from .codepoint import Progress
from .transform import BNG, to_wgs84
from .voronoi import (
    COAST_GAP_M,
    COINCIDENT_OFFSET_M,
    SEA_BAND_M,
    SEA_SPACING_M,
    THIN_CELL_M,
    THIN_RING,
    as_multipolygon,
    dissolve,
    one_point_per_coordinate,
    partition,
    sea_points,
    thin,
)

__all__ = [
    "DistrictOutlines",
    "OutlineReport",
    "OUTLINE_FORMAT_VERSION",
    "COAST_GAP_M",
    "SEA_SPACING_M",
    "SEA_BAND_M",
    "THIN_CELL_M",
    "THIN_RING",
    "COINCIDENT_OFFSET_M",
    "SIMPLIFY_M",
    "GEOJSON_DECIMALS",
    "geometries_to_wgs84",
    "write_frame",
    "outline_version",
    "district_of_keys",
    "area_of_districts",
]

log = logging.getLogger(__name__)

#: Bump when the algorithm or the cache layout changes; old caches are then rebuilt.
OUTLINE_FORMAT_VERSION = 1
#: Simplification for maps and exports: 50 m is invisible at district scale and cuts the
#: vertices (one per Voronoi edge) several-fold.
SIMPLIFY_M = 50.0
#: Decimals of longitude/latitude in GeoJSON: 1e-5 degrees is about 1 m in Britain, far below
#: :data:`SIMPLIFY_M`, and a third of the bytes of full precision.
GEOJSON_DECIMALS = 5


@dataclass(frozen=True)
class OutlineReport:
    """What a build did: counts for the documented exceptions, and how long it took."""

    postcodes: int
    districts: int
    distinct_points: int
    #: Postcodes sharing their coordinate with a majority of another district (step 1):
    #: their coordinate lies in that district's outline, not their own.
    coincident_postcodes: int
    triangulated_points: int
    sea_points: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def district_of_keys(keys: np.ndarray) -> np.ndarray:
    """Directory keys (``b"NE214LZ"``) → district texts (``"NE21"``), vectorised."""
    return np.char.strip(np.asarray(keys).astype("S4").astype(str))


def area_of_districts(districts: np.ndarray | Sequence[str]) -> np.ndarray:
    """District texts → postcode area letters (``"NE21"`` → ``"NE"``, ``"B1"`` → ``"B"``), vectorised."""
    return np.char.rstrip(np.asarray(districts, dtype=str).astype("U2"), "0123456789")


class DistrictOutlines:
    """Outlines of postcode districts, EPSG:27700, read-only once built.

    ``districts`` (sorted texts) and ``geometries`` (shapely MultiPolygons) are
    aligned arrays; ``simplified`` holds the same coverage simplified by
    :data:`SIMPLIFY_M` for maps.  Use :meth:`load` (cached) or :meth:`build`.
    """

    def __init__(
        self, districts: np.ndarray, geometries: np.ndarray, simplified: np.ndarray, version: str, report: OutlineReport
    ) -> None:
        self.districts = np.asarray(districts, dtype=str)
        self.geometries = geometries
        self.simplified = simplified
        self.version = version
        self.report = report
        self._position = {d: i for i, d in enumerate(self.districts.tolist())}

    def __len__(self) -> int:
        return len(self.districts)

    def __contains__(self, district: object) -> bool:
        return district in self._position

    def outline(self, district: str, *, simplified: bool = False) -> Any:
        """The (Multi)Polygon of ``district`` (``"NE21"``).

        Raises
        ------
        InvalidInput
            When the district has no located postcodes.
        """
        try:
            i = self._position[district]
        except KeyError:
            raise InvalidInput(f"{district!r} is not a postcode district with located postcodes.", field="district") from None
        return (self.simplified if simplified else self.geometries)[i]

    def positions(self, districts: Sequence[str] | np.ndarray) -> np.ndarray:
        """Positions of ``districts`` in :attr:`districts` (``-1`` where unknown), vectorised."""
        probe = np.asarray(districts, dtype=str)
        idx = np.minimum(np.searchsorted(self.districts, probe), max(len(self.districts) - 1, 0))
        found = self.districts[idx] == probe if len(self.districts) else np.zeros(len(probe), bool)
        return np.where(found, idx, -1)

    def centroids(self) -> tuple[np.ndarray, np.ndarray]:
        """Easting and northing of each outline's centroid (metres)."""
        points = shapely.centroid(self.geometries)
        return shapely.get_x(points), shapely.get_y(points)

    # ------------------------------------------------------------------ export
    def to_geodataframe(self, *, simplified: bool = True, wgs84: bool = False) -> Any:
        """A GeoDataFrame ``district, area, geometry`` (EPSG:27700, or EPSG:4326 with ``wgs84``)."""
        import geopandas as gpd

        geometries = self.simplified if simplified else self.geometries
        crs = BNG
        if wgs84:
            geometries, crs = geometries_to_wgs84(geometries), "EPSG:4326"
        return gpd.GeoDataFrame(
            {"district": self.districts, "area": area_of_districts(self.districts)}, geometry=geometries, crs=crs
        )

    def write(self, path: str | os.PathLike[str], *, simplified: bool = True) -> Path:
        """Write the outlines as GeoPackage (``.gpkg``, EPSG:27700) or GeoJSON (``.geojson``/``.json``, WGS84)."""
        return write_frame(self.to_geodataframe(simplified=simplified), path, layer="districts")

    # ------------------------------------------------------------------ building
    @classmethod
    def build(cls, directory: Any, *, areas: Sequence[str] | None = None, progress: Progress | None = None) -> "DistrictOutlines":
        """Build the outlines from a :class:`~findsupport.geo.PostcodeDirectory`.

        Parameters
        ----------
        directory : PostcodeDirectory
        areas : sequence of str, optional
            Only these postcode areas (``["NE", "DH"]``): a region on its own,
            its edge towards the rest treated like a coast (tests, regional maps).
        progress : callable, optional
        """
        started = time.perf_counter()
        arrays = directory.located_arrays()
        keys = arrays["keys"]
        districts_all = district_of_keys(keys)
        easting = arrays["easting"].astype(np.int64)
        northing = arrays["northing"].astype(np.int64)
        if areas is not None:
            wanted = np.isin(area_of_districts(districts_all), list(areas))
            districts_all, easting, northing = districts_all[wanted], easting[wanted], northing[wanted]
        if not len(districts_all):
            raise InvalidInput(f"No located postcodes in the areas {list(areas or [])!r}.", field="areas")
        names, label = np.unique(districts_all, return_inverse=True)
        if progress:
            progress(f"outlining {len(names):,} postcode districts from {len(label):,} postcodes")
        points, point_label, distinct, coincident = one_point_per_coordinate(easting, northing, label)
        kept = thin(points, point_label)
        sea = sea_points(points)
        if progress:
            progress(f"triangulating {int(kept.sum()):,} points and {len(sea):,} sea points")
        faces, face_label = partition(points[kept], point_label[kept], sea)
        geometries = dissolve(faces, face_label, len(names))
        if progress:
            progress("simplifying the outlines for maps")
        simplified = shapely.coverage_simplify(geometries, SIMPLIFY_M)
        simplified = np.asarray([as_multipolygon(g) for g in simplified], dtype=object)
        report = OutlineReport(
            postcodes=int(len(label)),
            districts=int(len(names)),
            distinct_points=int(distinct),
            coincident_postcodes=int(coincident),
            triangulated_points=int(kept.sum()),
            sea_points=int(len(sea)),
            seconds=round(time.perf_counter() - started, 1),
        )
        log.info("district outlines built: %s", report)
        return cls(names, geometries, simplified, outline_version(directory), report)

    @classmethod
    def load(cls, cache_dir: str | os.PathLike[str], directory: Any, progress: Progress | None = None) -> "DistrictOutlines":
        """The cached outlines for ``directory``'s version, built and cached first if needed."""
        version = outline_version(directory)
        cache_dir = Path(cache_dir)
        path = cls.cache_path(cache_dir, directory)
        if path.exists():
            try:
                return cls._read(path, version)
            except (OSError, ValueError, KeyError, shapely.errors.GEOSException) as exc:
                log.warning("outline cache %s is unreadable (%s); rebuilding", path, exc)
        if progress:
            progress("building the district outlines (first run only; this takes about a minute)")
        outlines = cls.build(directory, progress=progress)
        outlines.save(path)
        for stale in cache_dir.glob("outlines-*.npz"):
            if stale != path:
                stale.unlink(missing_ok=True)
        if progress:
            progress(f"district outlines cached at {path} (built in {outlines.report.seconds:g} s)")
        return outlines

    @staticmethod
    def cache_path(cache_dir: str | os.PathLike[str], directory: Any) -> Path:
        """Where :meth:`load` keeps the outlines of ``directory``'s version (a server checks it at start-up)."""
        return Path(cache_dir) / f"outlines-{outline_version(directory)}.npz"

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the outlines as WKB in one ``.npz`` (no pickles), atomically."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"districts": self.districts, "report": np.frombuffer(json.dumps(self.report.to_dict()).encode(), np.uint8)}
        for name, geometries in (("exact", self.geometries), ("simplified", self.simplified)):
            blob, offsets = _pack(geometries)
            arrays[f"{name}_wkb"], arrays[f"{name}_offsets"] = blob, offsets
        save_npz_atomically(path, arrays, prefix=".outlines-")

    @classmethod
    def _read(cls, path: Path, version: str) -> "DistrictOutlines":
        with np.load(path, allow_pickle=False) as stored:
            districts = stored["districts"]
            exact = _unpack(stored["exact_wkb"], stored["exact_offsets"])
            simplified = _unpack(stored["simplified_wkb"], stored["simplified_offsets"])
            report = OutlineReport(**json.loads(stored["report"].tobytes().decode()))
        return cls(districts, exact, simplified, version, report)


def outline_version(directory: Any) -> str:
    """The cache key: the directory's version and :data:`OUTLINE_FORMAT_VERSION`."""
    return f"{directory.version}-o{OUTLINE_FORMAT_VERSION}"


def geometries_to_wgs84(geometries: np.ndarray, decimals: int | None = None) -> np.ndarray:
    """EPSG:27700 geometries → longitude/latitude, with the project's pinned transformation.

    ``decimals`` rounds the degrees (for GeoJSON sent to a browser: :data:`GEOJSON_DECIMALS`).
    """
    def transform(xy: np.ndarray) -> np.ndarray:
        lonlat = np.column_stack(to_wgs84(xy[:, 0], xy[:, 1]))
        return lonlat if decimals is None else np.round(lonlat, decimals)

    return shapely.transform(geometries, transform)


def write_frame(frame: Any, path: str | os.PathLike[str], *, layer: str) -> Path:
    """Write a GeoDataFrame by suffix: ``.gpkg`` as is (EPSG:27700), ``.geojson``/``.json`` in WGS84.

    Raises
    ------
    InvalidInput
        For any other suffix.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".gpkg":
        path.unlink(missing_ok=True)
        frame.to_file(path, driver="GPKG", layer=layer)
    elif suffix in (".geojson", ".json"):
        if frame.crs is not None and frame.crs.to_epsg() != 4326:
            frame = frame.set_geometry(geometries_to_wgs84(frame.geometry.to_numpy()), crs="EPSG:4326")
        path.unlink(missing_ok=True)
        frame.to_file(path, driver="GeoJSON", COORDINATE_PRECISION=GEOJSON_DECIMALS)
    else:
        raise InvalidInput(
            f"Got file {path.name!r}; the suffix must be one of .gpkg, .geojson, .json.", field="path",
        )
    return path


def _pack(geometries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    blobs = shapely.to_wkb(geometries)
    offsets = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
    return np.frombuffer(b"".join(blobs), dtype=np.uint8), offsets


def _unpack(blob: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    raw = blob.tobytes()
    return shapely.from_wkb([raw[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)])

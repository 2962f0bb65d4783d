"""Resolve where parsed rows are, all at once: the base and the public (sector) location.

Per row, :func:`~findsupport.catalog.validation.parse_row` has checked the
*shape* of a postcode or of lon/lat.  Here, for every row of an import at once:

* postcodes are found with one vectorised binary search
  (:meth:`PostcodeDirectory.locate_many`); only the ones not found go through :meth:`PostcodeDirectory.lookup`, which
  explains why (not covered, no location, unknown with suggestions);
* coordinates without a postcode find their nearest postcode with one k-d
  tree query (farther than ``settings.reverse_max_km`` is not Great Britain),
  whose sector they take; coordinates *with* a postcode must be near it;
* sector centroids (the public location) come from one vectorised lookup.

A sector with fewer than ``MIN_POSTCODES_IN_PUBLIC_AREA`` located postcodes
(some hold just one) would give the postcode away, so such providers are shown
at their district's centroid, labelled with the district ("AB21"); a district
that small is refused with a message.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..config import Settings
from ..errors import FindSupportError
from ..geo import PostcodeDirectory, to_bng, to_wgs84
from ..geo.coverage import territory_at
from ..geo.grammar import directory_key
from .model import MIN_POSTCODES_IN_PUBLIC_AREA, Problem, Provider

if TYPE_CHECKING:
    from .validation import ParsedRow

__all__ = ["locate_rows"]

_METRES_PER_KM = 1000.0


def _sector_of_key(key: bytes) -> str:
    """Directory key ``b"NE214LZ"`` → sector label ``"NE21 4"``."""
    text = key.decode()
    return f"{text[:4].rstrip()} {text[4]}"


def _postcode_counts(all_keys: np.ndarray, prefixes: Sequence[str]) -> np.ndarray:
    """How many located postcodes start with each directory-key prefix (a sector or a district)."""
    if not prefixes:
        return np.zeros(0, dtype=np.intp)
    width = all_keys.dtype.itemsize
    low = np.array([p.encode() for p in prefixes], dtype=all_keys.dtype)
    high = np.array([p.encode().ljust(width, b"\xff") for p in prefixes], dtype=all_keys.dtype)
    return np.searchsorted(all_keys, high, side="right") - np.searchsorted(all_keys, low)


def _area_centroids(directory: PostcodeDirectory, areas: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Centroids of sectors (vectorised) and of the rare districts standing in for tiny sectors."""
    easting, northing = np.empty(len(areas)), np.empty(len(areas))
    is_sector = np.array([" " in area for area in areas], dtype=bool)
    sector_at = np.flatnonzero(is_sector)
    sector_e, sector_n, _found = directory.sector_centroids([areas[k] for k in sector_at])
    easting[sector_at], northing[sector_at] = sector_e, sector_n
    for k in np.flatnonzero(~is_sector):
        district = directory.lookup(areas[k])
        easting[k], northing[k] = district.easting, district.northing
    return easting, northing


def locate_rows(
    rows: Sequence["ParsedRow"], directory: PostcodeDirectory, settings: Settings
) -> list[Provider | list[Problem]]:
    """Providers (or location problems) for parsed rows, in their order.

    A row whose ``fields`` is ``None`` (it has other problems) is only located:
    its result is its location problems, ``[]`` when there are none.

    Parameters
    ----------
    rows : sequence of ParsedRow
    directory : PostcodeDirectory
    settings : Settings
        ``reverse_max_km``: how far from every postcode a point may be and
        still count as in Great Britain, and how far given coordinates may be
        from the row's own postcode.
    """
    n = len(rows)
    arrays = directory.located_arrays()
    all_keys = arrays["keys"]
    base_e = np.full(n, np.nan)
    base_n = np.full(n, np.nan)
    sectors: list[str | None] = [None] * n
    problems: dict[int, Problem] = {}
    max_m = settings.reverse_max_km * _METRES_PER_KM

    # Postcodes: one binary search for all; only misses pay for the full lookup.
    with_postcode = np.array([i for i, row in enumerate(rows) if row.postcode is not None], dtype=np.intp)
    if len(with_postcode):
        units = directory.locate_many([rows[i].postcode.postcode for i in with_postcode])
        found = units["found"]
        base_e[with_postcode] = units["easting"]
        base_n[with_postcode] = units["northing"]
        for i in with_postcode:
            sectors[i] = rows[i].postcode.sector
        for i in with_postcode[~found]:
            try:
                location = directory.lookup(rows[i].postcode.postcode, allow_partial=False)
            except FindSupportError as exc:
                problems[i] = Problem("postcode", exc.message)
            else:  # pragma: no cover - the binary search and lookup agree on every unit postcode
                base_e[i], base_n[i] = location.easting, location.northing

    # Coordinates: the private base; without a postcode they also choose the sector.
    with_point = np.array([i for i, row in enumerate(rows) if row.lonlat is not None and i not in problems], dtype=np.intp)
    if len(with_point):
        lon = np.array([rows[i].lonlat[0] for i in with_point])
        lat = np.array([rows[i].lonlat[1] for i in with_point])
        e, nn = to_bng(lon, lat)
        alone = np.array([rows[i].postcode is None for i in with_point], dtype=bool)
        if alone.any():
            nearest, distance = directory.nearest_many(e[alone], nn[alone])
            for k, i in enumerate(with_point[alone]):
                if distance[k] > max_m:
                    place = territory_at(float(lon[alone][k]), float(lat[alone][k]))
                    where = f"in {place}" if place else "not in Great Britain"
                    problems[i] = Problem(
                        rows[i].location_column,
                        f"the point lon={lon[alone][k]:.5f}, lat={lat[alone][k]:.5f} is {where}: the nearest GB postcode "
                        f"is {distance[k] / _METRES_PER_KM:.1f} km away (more than {settings.reverse_max_km:g} km); "
                        "findsupport covers Great Britain only",
                    )
                else:
                    sectors[i] = _sector_of_key(all_keys[nearest[k]])
        paired = ~alone
        if paired.any():
            gap = np.hypot(e[paired] - base_e[with_point[paired]], nn[paired] - base_n[with_point[paired]])
            for k, i in enumerate(with_point[paired]):
                if gap[k] > max_m:
                    problems[i] = Problem(
                        "lat",
                        f"lat/lon are {gap[k] / _METRES_PER_KM:.1f} km from the row's postcode (more than "
                        f"{settings.reverse_max_km:g} km); they should give the same base: correct one, "
                        "or leave lat and lon empty",
                    )
        base_e[with_point] = e
        base_n[with_point] = nn

    # Public location: the centroid of the sector, or of the district when the sector is
    # too small to hide a postcode in (see MIN_POSTCODES_IN_PUBLIC_AREA).
    good = [i for i in range(n) if i not in problems]
    areas = [sectors[i] for i in good]
    sector_sizes = _postcode_counts(all_keys, [directory_key(a[:-2], a[-1]) for a in areas])
    small = np.flatnonzero(sector_sizes < MIN_POSTCODES_IN_PUBLIC_AREA)
    district_sizes = _postcode_counts(all_keys, [directory_key(areas[k][:-2]) for k in small])
    for k, district_size in zip(small, district_sizes):
        district = areas[k][:-2]
        if district_size >= MIN_POSTCODES_IN_PUBLIC_AREA:
            areas[k] = district
        else:
            i = good[k]
            problems[i] = Problem(
                rows[i].location_column,
                f"the provider's postcode district {district} has fewer than {MIN_POSTCODES_IN_PUBLIC_AREA} "
                "located postcodes, so any public location would give their postcode away; use a postcode "
                "in a neighbouring district",
            )
    public_e, public_n = _area_centroids(directory, areas)
    keep = [k for k, i in enumerate(good) if i not in problems]
    good = [good[k] for k in keep]
    areas = [areas[k] for k in keep]
    public_e, public_n = public_e[keep], public_n[keep]
    public_lon, public_lat = to_wgs84(public_e, public_n)
    results: list[Provider | list[Problem]] = [[problems[i]] if i in problems else [] for i in range(n)]
    for k, i in enumerate(good):
        row = rows[i]
        if row.fields is None:
            continue  # a row with other problems, located only to report every problem: [] (none here)
        results[i] = Provider(
            **row.fields,
            area=areas[k],
            easting=float(public_e[k]),
            northing=float(public_n[k]),
            lon=float(public_lon[k]),
            lat=float(public_lat[k]),
            postcode=row.postcode.postcode if row.postcode is not None else None,
            base_lon=row.lonlat[0] if row.lonlat is not None else None,
            base_lat=row.lonlat[1] if row.lonlat is not None else None,
            base_easting=float(base_e[i]),
            base_northing=float(base_n[i]),
            service_area=row.service_area,
        )
    return results

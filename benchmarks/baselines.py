"""The searches the engine is measured against, each complete: postcode to top 10 with reasons.

* :class:`NumpyScan` — every provider's distance and candidate rule in one
  numpy pass over the whole catalogue, the match features of all
  candidates, the ranker, ``argpartition``.
* :class:`GeopandasSort` — the naive GIS way: a GeoDataFrame of points,
  ``GeoSeries.distance`` to the coach, filter, sort by distance, score.
* :class:`PostgisQuery` — one SQL query (``ST_DWithin`` on a GiST index and a
  scoring expression) when a PostgreSQL with PostGIS is reachable.

All three share the engine's postcode lookup, feature definitions, ranker
and explanations, so the comparison is about finding and ranking only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely

from findsupport import taxonomy
from findsupport.catalog.public import PublicCatalog
from findsupport.geo import PostcodeDirectory
from findsupport.ranking.explain import explain
from findsupport.ranking.features import FeatureScales, QueryContext, compute_features
from findsupport.search.query import SearchQuery

__all__ = ["NumpyScan", "GeopandasSort", "PostgisQuery", "Page"]


@dataclass
class Page:
    ids: list[str]
    scores: list[float]
    reasons: list[tuple[str, ...]]
    total: int


def _page(catalog: PublicCatalog, ranker: Any, query: SearchQuery, context: QueryContext, positions, distance, inside, k: int) -> Page:
    """Score every candidate, keep the best k, explain them (what the engine's page does)."""
    scales = FeatureScales()
    features = compute_features(context, catalog, positions, distance, inside, scales)
    scores = ranker.decision_function(features) if len(positions) else np.zeros(0)
    if len(scores) > k:
        top = np.argpartition(-scores, k - 1)[:k]
    else:
        top = np.arange(len(scores))
    top = top[np.lexsort((positions[top], -scores[top]))]
    contributions = ranker.contributions(features[top]) if len(top) else features[top]
    reasons = []
    for row, i in enumerate(top):
        provider = catalog.providers[positions[i]]
        why = explain(provider, features[i], contributions[row], round(distance[i] / 1000, 1),
                      event=query.event, slots=query.slots, role=query.role, mode=query.mode)
        reasons.append(why.reasons)
    return Page([catalog.providers[positions[i]].id for i in top], [float(scores[i]) for i in top], reasons, len(positions))


class NumpyScan:
    """Test every provider with numpy on every query (no index)."""

    def __init__(self, catalog: PublicCatalog, directory: PostcodeDirectory, ranker: Any) -> None:
        self.catalog, self.directory, self.ranker = catalog, directory, ranker
        self.reach2 = catalog.reach_m * catalog.reach_m
        self.area_positions = np.flatnonzero(catalog.has_area)
        self.areas = np.array([catalog.providers[i].service_area for i in self.area_positions], dtype=object)
        shapely.prepare(self.areas)

    def search(self, query: SearchQuery) -> Page:
        location = self.directory.lookup(query.postcode)
        x, y = location.easting, location.northing
        c = self.catalog
        dx, dy = c.x - x, c.y - y
        d2 = dx * dx + dy * dy
        inside = d2 <= self.reach2
        if len(self.areas):
            inside[self.area_positions] = shapely.intersects_xy(self.areas, x, y)
        r = query.radius_km * 1000.0
        keep = inside & (d2 <= r * r)
        if query.mode != "in_person":
            keep = c.online.copy() if query.mode == "online" else keep | c.online
        if query.role:
            keep &= (c.role_mask & np.uint8(taxonomy.role_mask([query.role]))) != 0
        positions = np.flatnonzero(keep)
        context = QueryContext.from_query(x, y, role=query.role, event=query.event, slots=query.slots, mode=query.mode, level=query.level)
        return _page(c, self.ranker, query, context, positions, np.sqrt(d2[positions]), inside[positions], query.offset + query.limit)


class GeopandasSort:
    """GeoPandas as a GIS analyst would write it: distance to every point, filter, sort, score."""

    def __init__(self, catalog: PublicCatalog, directory: PostcodeDirectory, ranker: Any) -> None:
        import geopandas

        self.catalog, self.directory, self.ranker = catalog, directory, ranker
        self.frame = geopandas.GeoDataFrame(
            {"reach_m": catalog.reach_m, "online": catalog.online, "role_mask": catalog.role_mask},
            geometry=geopandas.points_from_xy(catalog.x, catalog.y),
            crs="EPSG:27700",
        )
        self.areas = geopandas.GeoSeries([p.service_area for p in catalog.providers], crs="EPSG:27700")

    def search(self, query: SearchQuery) -> Page:
        location = self.directory.lookup(query.postcode)
        x, y = location.easting, location.northing
        point = shapely.Point(x, y)
        frame = self.frame
        distance = frame.geometry.distance(point).to_numpy()
        inside = distance <= frame["reach_m"].to_numpy()
        has_area = self.catalog.has_area
        if has_area.any():
            inside[has_area] = self.areas[has_area].intersects(point).to_numpy()
        keep = inside & (distance <= query.radius_km * 1000.0)
        if query.mode != "in_person":
            keep = frame["online"].to_numpy().copy() if query.mode == "online" else keep | frame["online"].to_numpy()
        if query.role:
            keep &= (frame["role_mask"].to_numpy() & taxonomy.role_mask([query.role])) != 0
        candidates = frame.loc[keep].assign(distance=distance[keep]).sort_values("distance")
        positions = candidates.index.to_numpy()
        context = QueryContext.from_query(x, y, role=query.role, event=query.event, slots=query.slots, mode=query.mode, level=query.level)
        return _page(self.catalog, self.ranker, query, context, positions, candidates["distance"].to_numpy(), inside[positions],
                     query.offset + query.limit)


class PostgisQuery:
    """One PostGIS query per search: GiST ``ST_DWithin`` then the ranker's weighted sum in SQL.

    Only in-person searches without polygons are expressed (the benchmark's
    default query).  Needs ``psycopg`` (the ``postgres`` extra) and a DSN of a database where the
    PostGIS extension can be created.
    """

    def __init__(self, catalog: PublicCatalog, directory: PostcodeDirectory, ranker: Any, dsn: str) -> None:
        import psycopg

        self.catalog, self.directory, self.ranker = catalog, directory, ranker
        self.connection = psycopg.connect(dsn, autocommit=True)
        started = time.perf_counter()
        with self.connection.cursor() as cursor:
            # As an OLTP deployment sets them: the planner's (mis)estimate of the
            # heap scan otherwise buys JIT compilation (~15 ms) and two parallel
            # workers (~60 ms to start) for every search.
            cursor.execute("SET jit = off")
            cursor.execute("SET max_parallel_workers_per_gather = 0")
            cursor.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            cursor.execute("DROP TABLE IF EXISTS bench_providers")
            cursor.execute(
                "CREATE TABLE bench_providers (pos integer primary key, reach double precision, online boolean, "
                "role_mask integer, spare integer, level integer, geom geometry(Point, 27700))"
            )
            rows = "\n".join(
                f"{i}\t{catalog.reach_m[i]}\t{'t' if catalog.online[i] else 'f'}\t{int(catalog.role_mask[i])}\t"
                f"{int(catalog.spare[i])}\t{int(catalog.level[i])}\tSRID=27700;POINT({catalog.x[i]} {catalog.y[i]})"
                for i in range(len(catalog))
            )
            with cursor.copy("COPY bench_providers FROM STDIN") as copy:
                copy.write(rows)
            cursor.execute("CREATE INDEX ON bench_providers USING gist (geom)")
            cursor.execute("ANALYZE bench_providers")
        self.load_seconds = time.perf_counter() - started

    def search(self, query: SearchQuery) -> Page:
        location = self.directory.lookup(query.postcode)
        x, y = location.easting, location.northing
        w = dict(zip(self.ranker.feature_names_, map(float, self.ranker.coef_)))
        r = query.radius_km * 1000.0
        sql = (
            "SELECT pos, d FROM (SELECT pos, ST_Distance(geom, p) AS d, spare, level FROM bench_providers, "
            "(SELECT ST_SetSRID(ST_MakePoint(%(x)s, %(y)s), 27700) AS p) q "
            "WHERE ST_DWithin(geom, p, %(r)s) AND ST_Distance(geom, p) <= reach) c "
            "ORDER BY %(near)s * exp(-d / 5000) + %(far)s * exp(-d / 25000) "
            "+ %(spare)s * least(spare, 3) / 3.0 + %(full)s * (spare <= 0)::int DESC, pos LIMIT %(k)s"
        )
        with self.connection.cursor() as cursor:
            cursor.execute(sql, {"x": x, "y": y, "r": r, "k": query.offset + query.limit, "near": w.get("proximity_near", 0.0),
                                 "far": w.get("proximity_far", 0.0), "spare": w.get("spare_capacity", 0.0), "full": w.get("full", 0.0)})
            found = cursor.fetchall()
        positions = np.array([row[0] for row in found], dtype=np.intp)
        distance = np.array([row[1] for row in found], dtype=float)
        context = QueryContext.from_query(x, y, role=query.role, event=query.event, slots=query.slots, mode=query.mode, level=query.level)
        return _page(self.catalog, self.ranker, query, context, positions, distance, np.ones(len(positions), bool), query.offset + query.limit)

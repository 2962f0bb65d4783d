"""Coverage figures: demand against supply by district or region, role, event group and mode, over a period.

Load the records once (:meth:`CoverageData.load`: the feedback log, the
introductions, the catalogue), then ask for any number of tables
(:meth:`CoverageData.figures`); each is a :class:`CoverageFigures` whose raw
counts stay on the server and whose :meth:`~CoverageFigures.public` table,
CSV, GeoJSON and GeoPackage are small-count suppressed
(:func:`~.suppression.suppress_small_counts`).  A web page calls the same two
methods and serialises :meth:`CoverageFigures.to_geojson`.

The figures (:data:`FIGURE_COLUMNS`)
    ``searches``: searches logged from the unit in the period;
    ``unmet_searches``: those wanting in-person help that found no good
    in-person match (:mod:`.demand` defines "good");
    ``introductions_requested``/``_accepted``/``_declined``/``_expired``:
    introductions asked for in the period by coaches of the unit, by how they
    ended (:mod:`.introductions`);
    ``providers``/``spare_places``: providers listed now with their public
    location in the unit, and their spare places (:mod:`.supply`).

Examples
--------
>>> data = CoverageData.load(settings)                                          # doctest: +SKIP
>>> figures = data.figures(CoverageFilter(role="mentor", event_group="jumps"), by="region")  # doctest: +SKIP
>>> figures.public().head()                                                     # doctest: +SKIP
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import shapely

from .. import taxonomy
from ..catalog.public import PublicCatalog
from ..catalog.store import CatalogStore
from ..config import Settings
from ..db import engine_for
from ..errors import InvalidInput
from ..geo import PostcodeDirectory
from ..geo.outlines import GEOJSON_DECIMALS, DistrictOutlines, geometries_to_wgs84, write_frame
from .demand import demand_table
from ..ranking.feedback import FeedbackLog
from .introductions import introduction_rows, introductions_from_feedback
from .regions import RegionMap
from .suppression import DEFAULT_MIN_COUNT, suppress_small_counts
from .supply import supply_table

__all__ = ["CoverageFilter", "CoverageData", "CoverageFigures", "FIGURE_COLUMNS", "UNITS", "SPLITS", "ALL"]

FIGURE_COLUMNS: tuple[str, ...] = (
    "searches",
    "unmet_searches",
    "introductions_requested",
    "introductions_accepted",
    "introductions_declined",
    "introductions_expired",
    "providers",
    "spare_places",
)
#: What a row of the table is.
UNITS: tuple[str, ...] = ("district", "region")
#: Dimensions a table may also be split by.
SPLITS: tuple[str, ...] = ("role", "event_group", "mode")
#: The label of the totals row.
ALL = "(all)"


def _parse_moment(value: Any, name: str) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise InvalidInput(
                f"Got {name}={value!r}; {name} must be a date or time like 2026-01-31 or 2026-01-31T18:00.", field=name
            ) from None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _choice(value: Any, name: str, allowed: Sequence[str]) -> str | None:
    if value is None or value == "":
        return None
    if value not in allowed:
        raise InvalidInput(
            f"Got {name}={value!r}; {name} must be one of {', '.join(allowed)}.", field=name, allowed=list(allowed)
        )
    return str(value)


@dataclass(frozen=True)
class CoverageFilter:
    """Which records count: a period (``since`` inclusive, ``until`` exclusive, UTC) and asks.

    ``role``, ``event_group`` and ``mode`` keep the searches, introductions and
    providers of that ask; ``None`` keeps all.  Dates without a time are
    midnight UTC, so ``until=2026-03-01`` ends with the last day of February.
    """

    since: datetime | None = None
    until: datetime | None = None
    role: str | None = None
    event_group: str | None = None
    mode: str | None = None

    def __post_init__(self) -> None:
        since, until = _parse_moment(self.since, "since"), _parse_moment(self.until, "until")
        object.__setattr__(self, "since", since)
        object.__setattr__(self, "until", until)
        object.__setattr__(self, "role", _choice(self.role, "role", taxonomy.ROLES))
        object.__setattr__(self, "event_group", _choice(self.event_group, "event_group", tuple(taxonomy.EVENT_GROUPS)))
        object.__setattr__(self, "mode", _choice(self.mode, "mode", taxonomy.MODES))
        if since is not None and until is not None and until <= since:
            raise InvalidInput(f"Got since={since.isoformat()} and until={until.isoformat()}; until must be after since.", field="until")

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> "CoverageFilter":
        """From text parameters (CLI flags, a query string): unknown names are refused."""
        known = {"since", "until", "role", "event_group", "mode"}
        unknown = set(params) - known
        if unknown:
            raise InvalidInput(f"Got parameters {sorted(unknown)!r}; coverage filters are {', '.join(sorted(known))}.")
        return cls(**{name: params.get(name) for name in known})

    def to_dict(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "role": self.role,
            "event_group": self.event_group,
            "mode": self.mode,
        }

    def asks_mask(self, frame: pd.DataFrame) -> np.ndarray:
        """Which rows of ``frame`` (with ``role``, ``event_group``, ``mode`` columns) the asks keep."""
        keep = np.ones(len(frame), dtype=bool)
        for name in ("role", "event_group", "mode"):
            value = getattr(self, name)
            if value is not None:
                keep &= (frame[name] == value).to_numpy()
        return keep

    def period_mask(self, moments: pd.Series) -> np.ndarray:
        """Which ``moments`` (aware UTC; ``NaT`` never, once a period is set) fall in the period."""
        keep = np.ones(len(moments), dtype=bool)
        if self.since is not None:
            keep &= (moments >= pd.Timestamp(self.since)).fillna(False).to_numpy(dtype=bool)
        if self.until is not None:
            keep &= (moments < pd.Timestamp(self.until)).fillna(False).to_numpy(dtype=bool)
        return keep


class CoverageData:
    """The records coverage figures are made from, held read-only (build once, ask many times).

    Parameters
    ----------
    demand : DataFrame
        :func:`~.demand.demand_table`.
    introductions : DataFrame
        :mod:`.introductions` rows.
    supply : DataFrame
        :func:`~.supply.supply_table`.
    regions : RegionMap, optional
    introductions_source : str
        ``"introductions"`` (the lifecycle table) or ``"feedback"`` (no expiries).
    min_count : int
        The suppression threshold.
    """

    def __init__(
        self,
        demand: pd.DataFrame,
        introductions: pd.DataFrame,
        supply: pd.DataFrame,
        *,
        regions: RegionMap | None = None,
        introductions_source: str = "introductions",
        min_count: int = DEFAULT_MIN_COUNT,
    ) -> None:
        self.demand = demand
        self.introductions = introductions
        self.supply = supply
        self.regions = regions or RegionMap()
        self.introductions_source = introductions_source
        self.min_count = min_count

    @classmethod
    def from_sources(
        cls,
        sessions: Iterable[Mapping[str, Any]],
        catalog: PublicCatalog,
        directory: PostcodeDirectory,
        *,
        introductions: pd.DataFrame | None = None,
        regions: RegionMap | None = None,
        default_radius_km: float = Settings.default_radius_km,
        min_count: int = DEFAULT_MIN_COUNT,
    ) -> "CoverageData":
        """From feedback sessions (DESIGN.md format), a catalogue and, optionally, introduction rows.

        Without ``introductions`` they are counted from the sessions' actions
        (:func:`~.introductions.introductions_from_feedback`).
        """
        demand = demand_table(sessions, catalog, directory, default_radius_km=default_radius_km)
        source = "introductions"
        if introductions is None:
            introductions, source = introductions_from_feedback(demand), "feedback"
        return cls(
            demand, introductions, supply_table(catalog), regions=regions, introductions_source=source, min_count=min_count
        )

    @classmethod
    def load(
        cls,
        settings: Settings,
        *,
        directory: PostcodeDirectory | None = None,
        catalog: PublicCatalog | None = None,
        sessions: Iterable[Mapping[str, Any]] | None = None,
    ) -> "CoverageData":
        """An installation's records: its feedback log (or ``sessions``), introductions and catalogue."""
        directory = directory or PostcodeDirectory.load(settings.resolved_cache_dir)
        catalog = catalog if catalog is not None else CatalogStore.open(settings).public_catalog()
        if sessions is None:
            sessions = FeedbackLog.open(settings).sessions()
        demand = demand_table(sessions, catalog, directory, default_radius_km=settings.default_radius_km)
        introductions, source = introduction_rows(engine_for(settings.resolved_database_url), demand)
        return cls(
            demand,
            introductions,
            supply_table(catalog),
            regions=RegionMap.from_settings(settings),
            introductions_source=source,
            min_count=settings.coverage_min_count,
        )

    def figures(self, where: CoverageFilter | None = None, *, by: str = "district", split: Sequence[str] = ()) -> "CoverageFigures":
        """The counts per ``by`` unit (and ``split`` dimensions) of the records ``where`` keeps.

        Raises
        ------
        InvalidInput
            An unknown unit or split.
        """
        where = where or CoverageFilter()
        _choice(by, "by", UNITS)
        split = tuple(split)
        for name in split:
            _choice(name, "split", SPLITS)
        if len(set(split)) != len(split):
            raise InvalidInput(f"Got split={list(split)!r}; name each dimension once.", field="split")
        keys = [by, *split]
        demand = self.demand[where.asks_mask(self.demand) & where.period_mask(self.demand["created_at"])]
        demand = demand[demand["district"] != ""]
        intros = self.introductions[where.asks_mask(self.introductions) & where.period_mask(self.introductions["created_at"])]
        intros = intros[intros["district"] != ""]
        supply = self.supply[where.asks_mask(self.supply)]
        if by == "region":
            demand, intros, supply = (self._with_region(f) for f in (demand, intros, supply))
        searches = demand.groupby(keys).agg(searches=("unmet", "size"), unmet_searches=("unmet", "sum"))
        state = intros["state"]
        intro_counts = intros.assign(
            introductions_requested=1,
            introductions_accepted=(state == "accepted").astype(int),
            introductions_declined=(state == "declined").astype(int),
            introductions_expired=(state == "expired").astype(int),
        ).groupby(keys)[[c for c in FIGURE_COLUMNS if c.startswith("introductions_")]].sum()
        listed = supply.drop_duplicates([*keys, "provider_id"]).groupby(keys).agg(
            providers=("provider_id", "size"), spare_places=("spare", "sum")
        )
        counts = searches.join(intro_counts, how="outer").join(listed, how="outer").fillna(0).astype(np.int64)
        counts = counts.reindex(columns=list(FIGURE_COLUMNS)).reset_index()
        if by == "district":
            counts.insert(1, "region", self.regions.regions_of(counts["district"]))
        return CoverageFigures(counts, by=by, split=split, where=where, min_count=self.min_count,
                               introductions_source=self.introductions_source, regions=self.regions)

    def _with_region(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(region=self.regions.regions_of(frame["district"].to_numpy()))


@dataclass(frozen=True)
class CoverageFigures:
    """One table of coverage counts.  ``counts`` are raw: never send them off the server; use :meth:`public`."""

    counts: pd.DataFrame
    by: str
    split: tuple[str, ...]
    where: CoverageFilter
    min_count: int
    introductions_source: str
    regions: RegionMap

    @property
    def keys(self) -> list[str]:
        return [self.by, *self.split]

    def totals(self) -> pd.DataFrame:
        """The all-units row (per split combination): raw, like :attr:`counts`."""
        if self.split:
            total = self.counts.groupby(list(self.split))[list(FIGURE_COLUMNS)].sum().reset_index()
        else:
            total = self.counts[list(FIGURE_COLUMNS)].sum().to_frame().T
        total.insert(0, self.by, ALL)
        if self.by == "district":
            total.insert(1, "region", ALL)
        return total[self.counts.columns]

    def suppression_groups(self) -> list[list[str]]:
        """Rows that add up to a published total (see :mod:`.suppression`): the region's figure,
        the all-units row, and, for each split dimension, the figure without it."""
        split = list(self.split)
        groups = [split]
        if self.by == "district":
            groups.append(["region", *split])
        for name in split:
            groups.append([self.by, *[s for s in split if s != name]])
        return groups

    def public(self) -> pd.DataFrame:
        """The table safe to publish: the units' rows, then the totals, counts as text (``"<5"``...)."""
        rows = suppress_small_counts(
            self.counts, FIGURE_COLUMNS, threshold=self.min_count, groups=self.suppression_groups()
        )
        totals = suppress_small_counts(self.totals(), FIGURE_COLUMNS, threshold=self.min_count)
        return self._unknowable(pd.concat([rows, totals], ignore_index=True))

    def _unknowable(self, public: pd.DataFrame) -> pd.DataFrame:
        """The feedback log cannot see expiries: that column is left empty rather than shown as none."""
        if self.introductions_source == "feedback":
            public["introductions_expired"] = ""
        return public

    def to_csv(self, target: str | os.PathLike[str] | IO[str] | None = None) -> str | None:
        """The public table as CSV (to ``target``, or returned as text)."""
        if target is None:
            buffer = io.StringIO()
            self.public().to_csv(buffer, index=False, lineterminator="\n")
            return buffer.getvalue()
        self.public().to_csv(target, index=False, lineterminator="\n")
        return None

    def to_geodataframe(
        self, outlines: DistrictOutlines, *, simplified: bool = True, wgs84: bool = False, decimals: int | None = None
    ) -> Any:
        """Every unit's outline with its public figures (units with no records show ``"<5"``).

        EPSG:27700 (or WGS84 with ``wgs84``); one feature per unit and split combination.
        """
        import geopandas as gpd

        shapes = outlines.simplified if simplified else outlines.geometries
        units = pd.DataFrame({"district": outlines.districts})
        if self.by == "region":
            units["region"] = self.regions.regions_of(outlines.districts)
            grouped = units.groupby("region").indices
            names = sorted(grouped)
            shapes = np.array([shapely.coverage_union_all(shapes[grouped[n]]) for n in names], dtype=object)
            units = pd.DataFrame({"region": names})
        else:
            units["region"] = self.regions.regions_of(outlines.districts)
        units["geometry"] = shapes
        if self.split:
            combos = self.counts[list(self.split)].drop_duplicates()
            units = units.merge(combos, how="cross")
        counts = units.drop(columns="geometry").merge(
            self.counts.drop(columns=["region"] if self.by == "district" else []), on=self.keys, how="left"
        )
        counts[list(FIGURE_COLUMNS)] = counts[list(FIGURE_COLUMNS)].fillna(0).astype(np.int64)
        public = self._unknowable(
            suppress_small_counts(counts, FIGURE_COLUMNS, threshold=self.min_count, groups=self.suppression_groups())
        )
        geometry = units["geometry"].to_numpy()
        crs = "EPSG:27700"
        if wgs84:
            geometry, crs = geometries_to_wgs84(geometry, decimals), "EPSG:4326"
        return gpd.GeoDataFrame(public, geometry=geometry, crs=crs)

    def to_geojson(self, outlines: DistrictOutlines) -> dict[str, Any]:
        """A GeoJSON FeatureCollection (WGS84, simplified outlines) of the public figures, for the web."""
        collection = self.to_geodataframe(outlines, wgs84=True, decimals=GEOJSON_DECIMALS).__geo_interface__
        collection["metadata"] = self.metadata()
        return collection

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready ``{metadata, rows}`` of the public table (a web page's table view)."""
        return {"metadata": self.metadata(), "rows": self.public().to_dict("records")}

    def metadata(self) -> dict[str, Any]:
        """What the table is: unit, splits, filter, threshold and where the introductions came from."""
        return {
            "by": self.by,
            "split": list(self.split),
            "filter": self.where.to_dict(),
            "suppressed_below": self.min_count,
            "introductions_source": self.introductions_source,
        }

    def write(self, path: str | os.PathLike[str], outlines: DistrictOutlines | None = None) -> Path:
        """Write by suffix: ``.csv`` (the public table), ``.gpkg`` (EPSG:27700) or ``.geojson`` (WGS84).

        Raises
        ------
        InvalidInput
            A map format without ``outlines``, or an unknown suffix.
        """
        path = Path(path)
        if path.suffix.lower() == ".csv":
            with path.open("w", encoding="utf-8", newline="") as fh:
                self.to_csv(fh)
            return path
        if outlines is None:
            raise InvalidInput(f"Writing {path.name} needs the district outlines.", field="path")
        return write_frame(self.to_geodataframe(outlines), path, layer=f"coverage_by_{self.by}")

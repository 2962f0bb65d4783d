"""Regions: the grouping of postcode districts the operator plans by.

By default a district's region is its postcode **area** (``NE21`` → ``NE``):
no data needed, and areas are roughly the size of a county.  An operator who
plans by their own regions (a county association, a home nation) gives a CSV
file with a header ``district,region`` (``Settings.coverage_regions_file``);
districts the file does not name keep their area, so a partial file is fine.

Examples
--------
>>> regions = RegionMap({"NE21": "North East", "DH1": "North East"})
>>> regions.regions_of(["NE21", "DH1", "SR1"]).tolist()
['North East', 'North East', 'SR']
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..errors import ConfigError, InvalidPostcode
from ..geo.grammar import parse_postcode
from ..geo.outlines import area_of_districts

__all__ = ["RegionMap"]


class RegionMap:
    """District → region, the postcode area where not configured.

    Parameters
    ----------
    regions : mapping of str to str, optional
        Canonical district (``"NE21"``) → region name.
    """

    def __init__(self, regions: Mapping[str, str] | None = None) -> None:
        self.regions = dict(regions or {})

    @classmethod
    def from_csv(cls, path: str | os.PathLike[str]) -> "RegionMap":
        """Read a ``district,region`` CSV (UTF-8, header row).

        Raises
        ------
        ConfigError
            A missing file or column, a district that is not one, an empty region,
            or a district given twice, naming the line.
        """
        path = Path(path)
        regions: dict[str, str] = {}
        try:
            with path.open(encoding="utf-8-sig", newline="") as fh:
                reader = csv.DictReader(fh)
                missing = {"district", "region"} - set(reader.fieldnames or [])
                if missing:
                    raise ConfigError(
                        f"Region file {path} has columns {reader.fieldnames!r}; it needs district and region."
                    )
                for line, row in enumerate(reader, start=2):
                    text, region = (row.get("district") or "").strip(), (row.get("region") or "").strip()
                    try:
                        parsed = parse_postcode(text)
                    except InvalidPostcode:
                        parsed = None
                    if parsed is None or parsed.kind != "outcode":
                        raise ConfigError(f"Region file {path}, line {line}: {text!r} is not a postcode district (e.g. NE21).")
                    if not region:
                        raise ConfigError(f"Region file {path}, line {line}: the region of {parsed.outcode} is empty.")
                    if parsed.outcode in regions:
                        raise ConfigError(f"Region file {path}, line {line}: {parsed.outcode} is given twice.")
                    regions[parsed.outcode] = region
        except FileNotFoundError:
            raise ConfigError(f"Region file {path} does not exist.") from None
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise ConfigError(f"Region file {path} cannot be read: {exc}.") from None
        return cls(regions)

    @classmethod
    def from_settings(cls, settings: object) -> "RegionMap":
        """The configured map (``coverage_regions_file``), or postcode areas only."""
        path = getattr(settings, "coverage_regions_file", None)
        return cls.from_csv(path) if path else cls()

    def regions_of(self, districts: Sequence[str] | np.ndarray) -> np.ndarray:
        """The region of each district, vectorised."""
        districts = np.asarray(districts, dtype=str)
        regions = area_of_districts(districts).astype(object)
        if self.regions:
            named = np.array([self.regions.get(d) for d in districts.tolist()], dtype=object)
            regions = np.where(named != None, named, regions)  # noqa: E711 - elementwise
        return regions.astype(str)

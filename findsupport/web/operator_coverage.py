"""The figures behind the operator's coverage map: GeoJSON of :mod:`findsupport.coverage` by district.

:class:`CoverageMap` serves :meth:`~findsupport.coverage.CoverageFigures.to_geojson`
(small counts suppressed there) for a period and filters given as query
parameters (``since``, ``until``, ``role``, ``event_group``, ``mode``, as
:class:`~findsupport.coverage.CoverageFilter` reads them).

Nothing heavy is built inside a request: the district outlines are *read*
from the cache that ``findsupport coverage`` fills (building them takes about
30 s and 1 GB), once per worker; until that cache exists the map answers a 503
problem saying how to make it.  The figures themselves read the feedback log,
the introductions and the engine's current catalogue; each answer is kept for
:data:`COVERAGE_CACHE_S` per filter, and one computation runs at a time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import DataUnavailable

__all__ = ["CoverageMap", "COVERAGE_CACHE_S", "FILTER_PARAMETERS", "MAX_CACHED_ANSWERS"]

#: Figures over weeks do not change in five minutes; an operator flicking between filters
#: (and back) should not recompute the feedback log each time.
COVERAGE_CACHE_S = 300.0
#: Distinct filters kept at once (roles x event groups x modes is a few hundred at most).
MAX_CACHED_ANSWERS = 64
#: The query parameters the map passes on to :class:`~findsupport.coverage.CoverageFilter`.
FILTER_PARAMETERS: tuple[str, ...] = ("since", "until", "role", "event_group", "mode")


class CoverageMap:
    """Coverage GeoJSON for one web worker.

    Parameters
    ----------
    settings : Settings
    engine : Engine
        The search engine: its postcode directory and current public catalogue.
    cache_dir : path, optional
        Where the outline cache is looked for (``settings.resolved_cache_dir``).
    """

    def __init__(self, settings: Settings, engine: Any, cache_dir: Path | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self.cache_dir = Path(cache_dir or settings.resolved_cache_dir)
        #: The district outlines once read (tests may set their own).
        self.outlines: Any = None
        self._answers: dict[tuple[Any, ...], tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def _outlines(self) -> Any:
        if self.outlines is not None:
            return self.outlines
        # Imported on first use, not at start-up: serving searches must not load shapely's
        # outline machinery or pandas (tests/test_imports.py), and few workers ever draw the map.
        from ..geo.outlines import DistrictOutlines, outline_version

        directory = self.engine.directory
        if not (self.cache_dir / f"outlines-{outline_version(directory)}.npz").exists():
            raise DataUnavailable("Coverage figures are not available yet: the district outlines have not been "
                                  "built on this server. Run `findsupport coverage` once (about a minute).")
        self.outlines = DistrictOutlines.load(self.cache_dir, directory)  # reads the cache, never builds here
        return self.outlines

    def geojson(self, parameters: Mapping[str, Any]) -> dict[str, Any]:
        """The figures by district for the filter in ``parameters``.

        Raises
        ------
        DataUnavailable
            The outlines are not cached yet (a 503).
        InvalidInput
            A bad filter value (a 400 naming it).
        """
        from ..coverage import CoverageData, CoverageFilter  # pandas: on first use only (see _outlines)

        where = CoverageFilter.from_params({name: value for name, value in parameters.items() if value != ""})
        key = tuple(getattr(where, name) for name in FILTER_PARAMETERS)
        with self._lock:
            now = time.monotonic()
            kept = self._answers.get(key)
            if kept is not None and now - kept[0] < COVERAGE_CACHE_S:
                return kept[1]
            outlines = self._outlines()
            data = CoverageData.load(self.settings, directory=self.engine.directory, catalog=self.engine.catalog)
            answer = data.figures(where, by="district").to_geojson(outlines)
            if len(self._answers) >= MAX_CACHED_ANSWERS:
                self._answers.clear()
            self._answers[key] = (now, answer)
            return answer

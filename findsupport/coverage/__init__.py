"""Coverage: where coaches look for support and do not find it, against the supply listed (issue 15).

For the people who plan coach development: figures from the feedback log, the
introductions and the catalogue, by postcode district or region, role, event
group and mode, over a period; small counts suppressed in everything that
leaves the server.  Above search and ranking; below the web layer, which
serialises what :class:`CoverageData` and :class:`CoverageFigures` give.

Examples
--------
>>> from findsupport.coverage import CoverageData, CoverageFilter            # doctest: +SKIP
>>> data = CoverageData.load(settings)                                       # doctest: +SKIP
>>> data.figures(CoverageFilter(since="2026-01-01"), by="region").to_csv("coverage.csv")  # doctest: +SKIP
"""

from .demand import ANY, IN_PERSON_MODES, demand_table, good_in_person
from .figures import ALL, FIGURE_COLUMNS, SPLITS, UNITS, CoverageData, CoverageFigures, CoverageFilter
from .introductions import introductions_from_feedback, introductions_from_table
from .planning import where_one_more_helps
from .regions import RegionMap
from .suppression import DEFAULT_MIN_COUNT, WITHHELD, shown_values, small_label, suppress_small_counts
from .supply import supply_table

__all__ = [
    "CoverageData",
    "CoverageFigures",
    "CoverageFilter",
    "FIGURE_COLUMNS",
    "UNITS",
    "SPLITS",
    "ALL",
    "ANY",
    "IN_PERSON_MODES",
    "RegionMap",
    "demand_table",
    "good_in_person",
    "supply_table",
    "introductions_from_table",
    "introductions_from_feedback",
    "where_one_more_helps",
    "suppress_small_counts",
    "shown_values",
    "small_label",
    "WITHHELD",
    "DEFAULT_MIN_COUNT",
]

"""Where one more provider would help most: unmet searches within a provider's reach of each district.

"The ten districts where one more jumps mentor would serve the most unmet
searches" is computed as follows (:func:`where_one_more_helps`):

1. take the **unmet** searches (:mod:`.demand`) for the role and event group,
   in the period and mode of the filter;
2. place a hypothetical new provider at each district's **centroid** (of its
   outline, :class:`~findsupport.geo.outlines.DistrictOutlines`), travelling a
   typical distance: ``Settings.default_travel_km`` (20 km, the DESIGN.md
   default for a provider who gives none);
3. count the unmet searches whose coach's point (their sector centroid) lies
   within that distance and within the coach's own search radius: the
   searches that provider would have been a good in-person match for (they
   are by construction of the asked role and event group);
4. rank the districts by that count.

Neighbouring districts share most of their catchment, so the list is a
shortlist of places to recruit around, not ten independent answers; recruiting
in the first district lowers the count of its neighbours.  The counts are
suppressed like every figure that leaves the server.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from ..geo.outlines import DistrictOutlines
from .figures import CoverageData, CoverageFilter
from .suppression import suppress_small_counts

__all__ = ["where_one_more_helps"]


def where_one_more_helps(
    data: CoverageData,
    outlines: DistrictOutlines,
    where: CoverageFilter,
    *,
    reach_km: float,
    top: int = 10,
) -> pd.DataFrame:
    """The ``top`` districts where one more provider of ``where``'s role and event group would serve
    the most unmet searches (module docstring), with the count published safely.

    Returns
    -------
    DataFrame
        ``rank``, ``district``, ``region``, ``unmet_searches_in_reach`` (text, suppressed).
    """
    demand = data.demand[where.asks_mask(data.demand) & where.period_mask(data.demand["created_at"]) & data.demand["unmet"].to_numpy()]
    demand = demand[np.isfinite(demand["x"].to_numpy())]
    cx, cy = outlines.centroids()
    if len(demand):
        counts = np.asarray(
            cKDTree(demand[["x", "y"]].to_numpy()).query_ball_point(np.column_stack([cx, cy]), r=reach_km * 1000.0, return_length=True)
        )
    else:
        counts = np.zeros(len(outlines), dtype=np.int64)
    order = np.lexsort((outlines.districts, -counts))[:top]
    table = pd.DataFrame({
        "rank": np.arange(1, len(order) + 1),
        "district": outlines.districts[order],
        "region": data.regions.regions_of(outlines.districts[order]),
        "unmet_searches_in_reach": counts[order].astype(np.int64),
    })
    # Catchments overlap, so no row adds up to a published total: primary suppression is enough.
    return suppress_small_counts(table, ["unmet_searches_in_reach"], threshold=data.min_count)

"""Supply: the providers listed now, one row per provider and what they offer, at their public district.

A provider counts in every role they hold, every event group they cover and
every mode they serve (``in_person`` when they travel or declared an area,
``online`` when they offer it, and always ``any``, which is what a coach
searching in either mode is served by), so figures split by role or event
group add up to more than the providers listed: each count is "providers a
coach asking for this could be shown".  Their district is that of their public
area (the sector, or the district for thin sectors), never their postcode.

The catalogue has no history: supply is as listed now, whatever the period of
the demand figures beside it.
"""

from __future__ import annotations

import pandas as pd

from .. import taxonomy
from ..catalog.public import PublicCatalog

__all__ = ["supply_table", "SUPPLY_COLUMNS"]

SUPPLY_COLUMNS: tuple[str, ...] = ("provider_id", "district", "role", "event_group", "mode", "spare")


def supply_table(catalog: PublicCatalog) -> pd.DataFrame:
    """One row per (provider, role, event group, mode) with the provider's ``spare`` places."""
    rows = []
    for i, provider in enumerate(catalog.providers):
        district = provider.area.split(" ")[0]
        groups = sorted({taxonomy.group_of(e) for e in provider.events}) or [None]
        modes = ["any"]
        if provider.travel_km > 0 or provider.service_area is not None:
            modes.append("in_person")
        if provider.online:
            modes.append("online")
        spare = int(catalog.spare[i])
        for role in provider.roles:
            for group in groups:
                for mode in modes:
                    rows.append((provider.id, district, role, group, mode, spare))
    return pd.DataFrame(rows, columns=list(SUPPLY_COLUMNS))

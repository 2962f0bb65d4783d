"""Match features: what makes a provider a good match for a coach's query.

Every feature is computed vectorised over all candidates of one query, from
the public view only (:class:`~findsupport.catalog.public.PublicCatalog`
columns: the sector-centroid location, masks, capacity, level), so serving
and training use exactly this code and nothing private can shape a ranking.

All features lie in ``[0, 1]``; a linear model over them gives per-feature
contributions that explain each result.

=====================  ==================================================================
name                   meaning
=====================  ==================================================================
``proximity_near``     ``exp(-d / near_scale)``: strongly prefers the closest few km
``proximity_far``      ``exp(-d / far_scale)``: still separates 15 km from 40 km
``in_service_area``    the coach's point is inside the provider's service area
``online_fit``         online provider, and the coach accepts online support
``event_exact``        provider specialises in the event asked for (any event of an
                       asked-for group counts)
``event_group``        provider's events share the asked-for event's group, not the event
``availability``       share of the coach's requested slots the provider is free in
``spare_capacity``     ``min(spare, capacity_scale) / capacity_scale``
``full``               provider has no room for another coach
``qualified_above``    provider's qualification is above the coach's own level
``qualified_below``    provider's qualification is below the coach's own level
``primary_role``       the role asked for is the provider's first-listed (main) role
=====================  ==================================================================

``d`` is the distance in metres from the coach's point to the provider's
public location.  Features without a query input (no event, no slots, no
level, no role) are 0 for every candidate, so they do not change the order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import taxonomy
from ..catalog.public import PublicCatalog

__all__ = ["FEATURE_NAMES", "FEATURES_VERSION", "QueryContext", "FeatureScales", "compute_features"]

FEATURE_NAMES: tuple[str, ...] = (
    "proximity_near",
    "proximity_far",
    "in_service_area",
    "online_fit",
    "event_exact",
    "event_group",
    "availability",
    "spare_capacity",
    "full",
    "qualified_above",
    "qualified_below",
    "primary_role",
)
#: Bump when a feature's definition changes: saved models record it and refuse a mismatch.
FEATURES_VERSION = 1


@dataclass(frozen=True)
class FeatureScales:
    """Scales of the shaped features (hyper-parameters of the ranker, in metres/coaches).

    ``near_scale_m``: 5 km, a short drive or bus ride, where "nearest" matters most.
    ``far_scale_m``: 25 km, the default search radius.
    ``capacity_scale``: 3 free places is plenty; more does not make a better match.
    """

    near_scale_m: float = 5_000.0
    far_scale_m: float = 25_000.0
    capacity_scale: float = 3.0


@dataclass(frozen=True)
class QueryContext:
    """The per-query inputs of the features, computed once per search.

    Build with :meth:`from_query`; the fields are the query's masks and levels.
    """

    x: float
    y: float
    mode: str
    role_index: int  # -1: any role
    event_bits: int  # events that count as exact (0: no event asked)
    group_bits: int  # events of the asked-for event's group
    slot_bits: int
    n_slots: int
    level: int  # coach's own qualification level, 0 when not given

    @classmethod
    def from_query(
        cls,
        x: float,
        y: float,
        *,
        role: str | None = None,
        event: str | None = None,
        slots: tuple[str, ...] | list[str] = (),
        mode: str = "in_person",
        level: str | None = None,
    ) -> "QueryContext":
        event_bits = group_bits = 0
        if event:
            event_bits = taxonomy.event_mask([event])
            group_bits = taxonomy.event_mask([taxonomy.group_of(taxonomy.expand_event(event)[0])])
        return cls(
            x=float(x),
            y=float(y),
            mode=mode,
            role_index=taxonomy.ROLES.index(role) if role else -1,
            event_bits=event_bits,
            group_bits=group_bits,
            slot_bits=taxonomy.slot_mask(slots),
            n_slots=len(set(slots)),
            level=taxonomy.qualification_level(level),
        )


def compute_features(
    context: QueryContext,
    catalog: PublicCatalog,
    positions: np.ndarray,
    distance_m: np.ndarray,
    inside: np.ndarray,
    scales: FeatureScales = FeatureScales(),
) -> np.ndarray:
    """Feature matrix of shape ``(len(positions), len(FEATURE_NAMES))``, float64.

    Parameters
    ----------
    context : QueryContext
    catalog : PublicCatalog
    positions : array of int
        Candidate positions in the catalogue.
    distance_m : array of float
        Distance from the coach's point to each candidate's public location.
    inside : array of bool
        Whether the coach's point is inside each candidate's service area.
    scales : FeatureScales
    """
    positions = np.asarray(positions, dtype=np.intp)
    n = len(positions)
    out = np.zeros((n, len(FEATURE_NAMES)), dtype=np.float64)
    if n == 0:
        return out
    d = np.asarray(distance_m, dtype=np.float64)
    out[:, 0] = np.exp(-d / scales.near_scale_m)
    out[:, 1] = np.exp(-d / scales.far_scale_m)
    out[:, 2] = np.asarray(inside, dtype=bool)
    if context.mode in ("online", "any"):
        out[:, 3] = catalog.online[positions]
    if context.event_bits:
        events = catalog.event_mask[positions]
        exact = (events & np.uint32(context.event_bits)) != 0
        out[:, 4] = exact
        out[:, 5] = ~exact & ((events & np.uint32(context.group_bits)) != 0)
    if context.n_slots:
        free = np.bitwise_count(catalog.slot_mask[positions] & np.uint32(context.slot_bits))
        out[:, 6] = free / context.n_slots
    spare = catalog.spare[positions]
    out[:, 7] = np.minimum(spare, scales.capacity_scale) / scales.capacity_scale
    out[:, 8] = spare <= 0
    level = catalog.level[positions]
    out[:, 9] = level > context.level
    if context.level:
        out[:, 10] = level < context.level
    if context.role_index >= 0:
        out[:, 11] = catalog.primary_role[positions] == context.role_index
    return out

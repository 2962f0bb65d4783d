"""Match features: what makes a provider a good match for a coach's query.

Every feature is computed vectorised over all candidates of one query, from
the public view only (:class:`~findsupport.catalog.public.PublicCatalog`
columns: the sector-centroid location, masks, capacity, level), so serving
and training use exactly this code and nothing private can shape a ranking.

All features lie in ``[0, 1]`` (``qualification_gap`` in ``[-1, 1]``); a
linear model over them gives per-feature contributions that explain each
result.  Each feature depends only on the query and the one provider, never
on the other candidates, so a provider's features are the same whether it is
scored among 5 or 5,000 candidates (training recomputes them for the logged
results only).

======================  ==================================================================
name                    meaning
======================  ==================================================================
``proximity_near``      ``exp(-d / near_scale)``: strongly prefers the closest few km
``proximity_mid``       ``exp(-d / mid_scale)``: across a town or city, the usual travel
``proximity_far``       ``exp(-d / far_scale)``: regional; still separates 50 km from
                        150 km (online support, wide searches)
``in_service_area``     the coach's point is inside the provider's service area
``online_fit``          online provider, and the coach accepts online support
``event_exact``         provider specialises in the event asked for (any event of an
                        asked-for group counts)
``event_group``         provider's events share the asked-for event's group, not the event
``availability``        share of the coach's requested slots the provider is free in
``availability_all``    free in every slot the coach asked for
``spare_capacity``      ``min(spare, capacity_scale) / capacity_scale``
``full``                provider has no room for another coach
``qualified_above``     provider's qualification is above the coach's own level
``qualified_below``     provider's qualification is below the coach's own level
``qualification_gap``   ``(provider level - coach level) / 4``: how far above (or below)
``primary_role``        the role asked for is the provider's first-listed (main) role
======================  ==================================================================

``d`` is the distance in metres from the coach's point to the provider's
public location.  Three distance scales form a small basis, so a linear model
can learn how steeply coaches discount distance (a sharp "only nearby", a
gentle "anywhere within the radius", or "the same region" for online
support) instead of that shape being fixed here.  The long scale matters
because online and wide searches rank providers hundreds of km apart: a
25 km scale would see them all as equally far.
Features without a query input (no event, no slots, no role) are 0 for every
candidate, so they do not change the order.  Without a coach level, the
provider's own level counts as the gap (any qualification is "above" none).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .. import taxonomy
from ..catalog.public import PublicCatalog
from ..errors import InvalidInput

__all__ = [
    "FEATURE_NAMES",
    "FEATURE_DESCRIPTIONS",
    "FEATURES_VERSION",
    "QueryContext",
    "FeatureScales",
    "compute_features",
]

#: Descriptions (for notebooks, model files and docs), in feature order.
FEATURE_DESCRIPTIONS: dict[str, str] = {
    "proximity_near": "closeness on a short scale (exp(-distance / near_scale))",
    "proximity_mid": "closeness on a middle scale (exp(-distance / mid_scale))",
    "proximity_far": "closeness on a long scale (exp(-distance / far_scale))",
    "in_service_area": "the coach is inside the provider's service area",
    "online_fit": "offers online support and the coach accepts online",
    "event_exact": "specialises in the event (or an event of the group) asked for",
    "event_group": "coaches the asked-for event's group, not the event itself",
    "availability": "share of the asked-for slots the provider is free in",
    "availability_all": "free in every asked-for slot",
    "spare_capacity": "room for more coaches (capped at capacity_scale)",
    "full": "no room for another coach",
    "qualified_above": "qualified above the coach's own level",
    "qualified_below": "qualified below the coach's own level",
    "qualification_gap": "(provider level - coach level) / 4",
    "primary_role": "the asked-for role is the provider's main role",
}
FEATURE_NAMES: tuple[str, ...] = tuple(FEATURE_DESCRIPTIONS)
#: Bump when a feature's definition changes: saved models record it and refuse a mismatch.
FEATURES_VERSION = 2

_J = {name: j for j, name in enumerate(FEATURE_NAMES)}
#: Qualification levels run 1-4; dividing by the top level keeps the gap in [-1, 1].
_TOP_LEVEL = float(max(taxonomy.QUALIFICATIONS.values()))


@dataclass(frozen=True)
class FeatureScales:
    """Scales of the shaped features (fixed with the feature definitions; metres/coaches).

    ``near_scale_m``: 5 km, a short drive or bus ride, where "nearest" matters most.
    ``mid_scale_m``: 20 km, across a town or city (the default travel distance).
    ``far_scale_m``: 100 km, a region: online support and wide searches.
    ``capacity_scale``: 3 free places is plenty; more does not make a better match.
    """

    near_scale_m: float = 5_000.0
    mid_scale_m: float = 20_000.0
    far_scale_m: float = 100_000.0
    capacity_scale: float = 3.0

    def to_dict(self) -> dict[str, float]:
        """JSON-ready scales (saved in model files, which refuse other scales)."""
        return {k: float(v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class QueryContext:
    """The per-query inputs of the features, computed once per search.

    Build with :meth:`from_query`; the fields are the query's masks and levels.

    Examples
    --------
    >>> c = QueryContext.from_query(417282.0, 563986.0, role="mentor", event="jumps",
    ...                             slots=["tue_eve", "thu_eve"], level="sessional_coach")
    >>> c.n_slots, c.level, c.role_index
    (2, 2, 0)
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
        """Context from a query's fields and the coach's grid point (metres, EPSG:27700)."""
        event_bits = group_bits = 0
        if event:
            event_bits = taxonomy.event_mask([event])
            group_bits = taxonomy.event_mask([taxonomy.group_of(taxonomy.expand_event(event)[0])])
        if mode not in taxonomy.MODES:
            raise InvalidInput(f"Got mode={mode!r}; mode must be one of {', '.join(taxonomy.MODES)}.", field="mode")
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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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

    Returns
    -------
    numpy.ndarray
        One row per candidate, columns in :data:`FEATURE_NAMES` order.
    """
    positions = np.asarray(positions, dtype=np.intp)
    n = len(positions)
    out = np.zeros((n, len(FEATURE_NAMES)), dtype=np.float64)
    if n == 0:
        return out
    d = np.asarray(distance_m, dtype=np.float64)
    out[:, _J["proximity_near"]] = np.exp(-d / scales.near_scale_m)
    out[:, _J["proximity_mid"]] = np.exp(-d / scales.mid_scale_m)
    out[:, _J["proximity_far"]] = np.exp(-d / scales.far_scale_m)
    out[:, _J["in_service_area"]] = np.asarray(inside, dtype=bool)
    if context.mode in ("online", "any"):
        out[:, _J["online_fit"]] = catalog.online[positions]
    if context.event_bits:
        events = catalog.event_mask[positions]
        exact = (events & np.uint32(context.event_bits)) != 0
        out[:, _J["event_exact"]] = exact
        out[:, _J["event_group"]] = ~exact & ((events & np.uint32(context.group_bits)) != 0)
    if context.n_slots:
        free = np.bitwise_count(catalog.slot_mask[positions] & np.uint32(context.slot_bits))
        out[:, _J["availability"]] = free / context.n_slots
        out[:, _J["availability_all"]] = free >= context.n_slots
    spare = catalog.spare[positions]
    out[:, _J["spare_capacity"]] = np.minimum(spare, scales.capacity_scale) / scales.capacity_scale
    out[:, _J["full"]] = spare <= 0
    level = catalog.level[positions].astype(np.int16)
    out[:, _J["qualified_above"]] = level > context.level
    if context.level:
        out[:, _J["qualified_below"]] = level < context.level
    out[:, _J["qualification_gap"]] = (level - context.level) / _TOP_LEVEL
    if context.role_index >= 0:
        out[:, _J["primary_role"]] = catalog.primary_role[positions] == context.role_index
    return out

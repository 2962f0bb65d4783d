"""Match features: what makes a provider a good match for a coach's query — the one definition.

Every feature is defined here once, as a small vectorised function of the
few inputs it reads, and both users evaluate those functions:

* :func:`compute_features` (training, explanations, the page a coach sees)
  applies them to the candidates of one query;
* the fused search loops (:mod:`findsupport.index.terms`) apply them to the
  small spaces of possible inputs once per ranker (every provider attribute
  code, every free-slot count, every event-match state, each distance
  scale) and add the weighted results up from tables; they have no formula
  of their own.

This module sits below :mod:`findsupport.index`, :mod:`findsupport.ranking`
and :mod:`findsupport.search`, which all import it; it imports only the
vocabulary and the public catalogue columns.  Features are computed from the
public view only (the sector-centroid location, masks, capacity, level), so
nothing private can shape a ranking.

All features lie in ``[0, 1]`` (``qualification_gap`` in ``[-1, 1]``); a
linear model over them gives per-feature contributions that explain each
result.  Each feature depends only on the query and the one provider, never
on the other candidates.

In person or online
-------------------
A match is **in person** when the coach accepts in-person help (mode
``in_person`` or ``any``) and is inside the provider's service area (their
travel area).  Otherwise it is **online only** (an online provider, in an
online search, or in an ``any`` search where they do not travel to the
coach).  Closeness means different things for the two: a short drive
against a long one, or merely "the same region" for a video call.  So the
proximity features and ``in_service_area`` count for in-person matches only,
and ``online_region`` is the closeness of online-only matches; a linear
model then learns a separate distance profile for each.

======================  ==================================================================
name                    meaning
======================  ==================================================================
``proximity_near``      in person: ``exp(-d / near_scale)`` (the closest few km)
``proximity_mid``       in person: ``exp(-d / mid_scale)`` (across a town or city)
``proximity_far``       in person: ``exp(-d / far_scale)`` (regional; wide searches)
``in_service_area``     in person: the coach is inside the provider's travel area
``online_region``       online only: ``exp(-d / far_scale)`` (same region, for a video call)
``online_fit``          offers online support, and the coach accepts online
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
can learn how steeply coaches discount distance.  Features without a query
input (no event, no slots, no role) are 0 for every candidate, so they do not
change the order.  Without a coach level, the provider's own level counts as
the gap (any qualification is "above" none).

Adding a feature: one :class:`Feature` entry below (its function reads one of
:data:`READS`), its ``w_*`` parameter and default weight in
:mod:`findsupport.ranking.model`, and a phrase in
:mod:`findsupport.ranking.explain` if coaches should read it as a reason;
bump :data:`FEATURES_VERSION`.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from . import taxonomy
from .catalog.public import PublicCatalog
from .errors import InvalidInput

__all__ = [
    "FEATURES",
    "FEATURE_NAMES",
    "FEATURE_DESCRIPTIONS",
    "FEATURES_VERSION",
    "READS",
    "Feature",
    "Attributes",
    "AttributeQuery",
    "QueryContext",
    "FeatureScales",
    "compute_features",
    "in_person_matches",
    "decay",
    "attribute_codes",
    "attribute_space",
    "FeatureTables",
    "feature_tables",
    "spare_cap",
]

#: Bump when a feature's definition changes: saved models record it and refuse a mismatch.
#: 3: proximity and in_service_area count for in-person matches only; online_region added.
FEATURES_VERSION = 3
#: Qualification levels run 1-4; dividing by the top level keeps the gap in [-1, 1].
TOP_LEVEL = max(taxonomy.QUALIFICATIONS.values())
#: Modes in which the coach accepts online (and in-person) help.
ONLINE_MODES = ("online", "any")
IN_PERSON_MODES = ("in_person", "any")


@dataclass(frozen=True)
class FeatureScales:
    """Scales of the shaped features (fixed with the feature definitions; metres/coaches).

    ``near_scale_m``: 5 km, a short drive or bus ride, where "nearest" matters most.
    ``mid_scale_m``: 20 km, across a town or city (the default travel distance).
    ``far_scale_m``: 100 km, a region: wide searches, and online help's "same region".
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
class Attributes:
    """Provider attributes the attribute features read (arrays of equal length)."""

    spare: np.ndarray
    level: np.ndarray
    primary: np.ndarray  # index into taxonomy.ROLES, -1: none
    online: np.ndarray


@dataclass(frozen=True)
class AttributeQuery:
    """The only query fields attribute features may read (the key of the serving tables)."""

    level: int
    role_index: int
    online_accepted: bool


def decay(distance_m: Any, scale_m: float) -> Any:
    """``exp(-d / scale)``: closeness on one scale (the compiled loops add the same expression)."""
    return np.exp(-np.asarray(distance_m, dtype=np.float64) / scale_m)


#: What a feature's function reads, and its signature:
#:
#: ``distance``: no function; :func:`decay` on its ``scale`` for the matches of its ``applies_to``
#: (``in_person`` or ``online_only``), 0 for the others (the compiled loops add ``w * exp(-d / scale)``);
#: ``presence``: ``(in_person)``, a boolean array;
#: ``event``: ``(state)``, 0 no match / 1 same group only / 2 exact; all 0 when no event is asked;
#: ``slots``: ``(free, asked)``, the count of asked-for slots free; all 0 when no slot is asked;
#: ``attributes``: ``(Attributes, AttributeQuery, scales)``.
READS = ("distance", "presence", "event", "slots", "attributes")


@dataclass(frozen=True)
class Feature:
    """One match feature: its name, what a coach developer reads, and its definition."""

    name: str
    description: str
    reads: str
    value: Callable[..., Any] | None = None  # every kind but distance
    scale: str = ""  # distance: the FeatureScales field of its decay
    applies_to: str = ""  # distance: "in_person" or "online_only" matches


FEATURES: tuple[Feature, ...] = (
    Feature("proximity_near", "in person: closeness on a short scale (exp(-distance / near_scale))",
            "distance", scale="near_scale_m", applies_to="in_person"),
    Feature("proximity_mid", "in person: closeness on a middle scale (exp(-distance / mid_scale))",
            "distance", scale="mid_scale_m", applies_to="in_person"),
    Feature("proximity_far", "in person: closeness on a long scale (exp(-distance / far_scale))",
            "distance", scale="far_scale_m", applies_to="in_person"),
    Feature("in_service_area", "in person: the coach is inside the provider's travel area",
            "presence", lambda in_person: in_person),
    Feature("online_region", "online only: same region (exp(-distance / far_scale))",
            "distance", scale="far_scale_m", applies_to="online_only"),
    Feature("online_fit", "offers online support and the coach accepts online",
            "attributes", lambda a, q, s: a.online & q.online_accepted),
    Feature("event_exact", "specialises in the event (or an event of the group) asked for",
            "event", lambda state: state == 2),
    Feature("event_group", "coaches the asked-for event's group, not the event itself",
            "event", lambda state: state == 1),
    Feature("availability", "share of the asked-for slots the provider is free in",
            "slots", lambda free, asked: free / asked),
    Feature("availability_all", "free in every asked-for slot",
            "slots", lambda free, asked: free >= asked),
    Feature("spare_capacity", "room for more coaches (capped at capacity_scale)",
            "attributes", lambda a, q, s: np.minimum(a.spare, s.capacity_scale) / s.capacity_scale),
    Feature("full", "no room for another coach",
            "attributes", lambda a, q, s: a.spare <= 0),
    Feature("qualified_above", "qualified above the coach's own level",
            "attributes", lambda a, q, s: a.level > q.level),
    Feature("qualified_below", "qualified below the coach's own level",
            "attributes", lambda a, q, s: (a.level < q.level) & (q.level > 0)),
    Feature("qualification_gap", "(provider level - coach level) / 4",
            "attributes", lambda a, q, s: (a.level - q.level) / float(TOP_LEVEL)),
    Feature("primary_role", "the asked-for role is the provider's main role",
            "attributes", lambda a, q, s: (a.primary == q.role_index) & (q.role_index >= 0)),
)  # fmt: skip
assert all(f.reads in READS and (f.value is None) == (f.reads == "distance") for f in FEATURES)
assert all(f.applies_to in ("in_person", "online_only") and hasattr(FeatureScales, f.scale) for f in FEATURES if f.reads == "distance")

#: Descriptions (for notebooks, model files and docs), in feature order.
FEATURE_DESCRIPTIONS: dict[str, str] = {f.name: f.description for f in FEATURES}
FEATURE_NAMES: tuple[str, ...] = tuple(FEATURE_DESCRIPTIONS)


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

    @property
    def attribute_query(self) -> AttributeQuery:
        """What the attribute features read of this query."""
        return AttributeQuery(level=self.level, role_index=self.role_index, online_accepted=self.mode in ONLINE_MODES)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def in_person_matches(mode: str, inside: np.ndarray) -> np.ndarray:
    """Which matches are in person: the coach accepts in-person help and is inside the travel area."""
    inside = np.asarray(inside, dtype=bool)
    return inside if mode in IN_PERSON_MODES else np.zeros(inside.shape, dtype=bool)


# ---------------------------------------------------------------------- attribute codes
# The attribute features see only (spare, level, primary role, online) of a provider, and few
# combinations exist: each is one small integer *code*, so the features of every code can be
# evaluated once per query key and looked up (here for pages and training, in the compiled
# loops for serving).
_LEVELS = TOP_LEVEL + 1
_PRIMARY = len(taxonomy.ROLES) + 1  # primary role -1..len(ROLES)-1, stored +1


def spare_cap(scales: FeatureScales) -> int:
    """Spare places beyond this look alike to every feature (``ceil(capacity_scale)``, at least 1)."""
    return max(int(math.ceil(scales.capacity_scale)), 1)


def attribute_codes(spare: np.ndarray, level: np.ndarray, primary: np.ndarray, online: np.ndarray, cap: int) -> np.ndarray:
    """Each provider's attribute code: ``(min(spare, cap), level, primary role + 1, online)`` in one integer."""
    code = np.minimum(spare, cap).astype(np.int64)
    code = code * _LEVELS + level
    code = code * _PRIMARY + (np.asarray(primary, dtype=np.int64) + 1)
    return code * 2 + np.asarray(online, dtype=np.int64)


def attribute_space(cap: int) -> Attributes:
    """The attributes of every code ``0 .. n_codes - 1`` (the inverse of :func:`attribute_codes`)."""
    codes = np.arange((cap + 1) * _LEVELS * _PRIMARY * 2)
    return Attributes(
        spare=codes // (2 * _PRIMARY * _LEVELS),
        level=(codes // (2 * _PRIMARY)) % _LEVELS,
        primary=(codes // 2) % _PRIMARY - 1,
        online=(codes % 2).astype(bool),
    )


class FeatureTables:
    """The features of one definition list evaluated on every value their inputs can take (filled as asked).

    ``layout[reads]``: the feature columns of each kind of input;
    ``presence``: rows (online only, in person); ``event``: rows (none, group
    only, exact); :meth:`slots` and :meth:`attributes`: per query key.
    Shared by :func:`compute_features` and the serving tables
    (:mod:`findsupport.index.terms`); read-only.
    """

    def __init__(self, features: tuple[Feature, ...]) -> None:
        self.features = features
        self.layout = {reads: np.array([j for j, f in enumerate(features) if f.reads == reads], dtype=np.intp) for reads in READS}
        self.presence = self._table("presence", np.array([False, True]))
        self.event = self._table("event", np.arange(3))
        #: Per distance feature: 1 for in-person matches, 0 for online-only ones.
        self.distance_kinds = np.array([int(features[j].applies_to == "in_person") for j in self.layout["distance"]], dtype=np.intp)
        self._scales: dict[FeatureScales, np.ndarray] = {}
        self._slots: dict[int, np.ndarray] = {}
        # Per-page look-ups keyed by the scales' identity (each entry keeps its scales, so an id is never reused meanwhile).
        self._distance_columns: dict[tuple[int, int], tuple[FeatureScales, np.ndarray, np.ndarray]] = {}
        self._attributes_by_key: dict[tuple[int, int, bool, int], tuple[FeatureScales, np.ndarray]] = {}
        self._attributes: dict[tuple[AttributeQuery, FeatureScales], np.ndarray] = {}

    def _table(self, reads: str, *inputs: Any) -> np.ndarray:
        """``(len(inputs[0]), n)``: the features reading ``reads`` evaluated on every input value."""
        columns = [np.asarray(self.features[j].value(*inputs), dtype=np.float64) for j in self.layout[reads]]  # type: ignore[misc]
        return _frozen(np.column_stack(columns) if columns else np.zeros((len(inputs[0]), 0)))

    def distance_scales(self, scales: FeatureScales) -> np.ndarray:
        """The scale (metres) of each distance feature."""
        values = self._scales.get(scales)
        if values is None:
            values = self._scales[scales] = np.array([getattr(scales, self.features[j].scale) for j in self.layout["distance"]], dtype=np.float64)
        return values

    def distance_columns(self, scales: FeatureScales, kind: int) -> tuple[np.ndarray, np.ndarray]:
        """``(columns, scales)`` of the distance features a page of one kind of match needs.

        ``kind``: 1 all in person, 0 all online only, -1 both (every distance feature).
        """
        key = (id(scales), kind)
        entry = self._distance_columns.get(key)
        if entry is None or entry[0] is not scales:
            if len(self._distance_columns) >= 256:  # new scales objects (tests, notebooks): keep it bounded
                self._distance_columns.clear()
            wanted = np.ones(len(self.distance_kinds), dtype=bool) if kind < 0 else self.distance_kinds == kind
            entry = self._distance_columns[key] = (scales, self.layout["distance"][wanted], self.distance_scales(scales)[wanted][None, :])
        return entry[1], entry[2]

    def attributes_for(self, level: int, role_index: int, online_accepted: bool, scales: FeatureScales) -> np.ndarray:
        """:meth:`attributes` by the key's fields, without building the key (the per-page path)."""
        key = (level, role_index, online_accepted, id(scales))
        entry = self._attributes_by_key.get(key)
        if entry is None or entry[0] is not scales:
            if len(self._attributes_by_key) >= 4096:
                self._attributes_by_key.clear()
            table = self.attributes(AttributeQuery(level=level, role_index=role_index, online_accepted=online_accepted), scales)
            entry = self._attributes_by_key[key] = (scales, table)
        return entry[1]

    def slots(self, asked: int) -> np.ndarray:
        """``(len(SLOTS) + 1, n_slot_features)``: by free-slot count, with ``asked`` > 0 slots asked."""
        table = self._slots.get(asked)
        if table is None:
            # A dict store is atomic; concurrent searches at worst evaluate one twice.
            table = self._slots[asked] = self._table("slots", np.arange(len(taxonomy.SLOTS) + 1), asked)
        return table

    def attributes(self, query: AttributeQuery, scales: FeatureScales) -> np.ndarray:
        """``(n_codes, n_attribute_features)``: the attribute features of every code, for one query key."""
        table = self._attributes.get((query, scales))
        if table is None:
            if len(self._attributes) >= 4096:  # keys are few (levels x roles x 2); scales almost never change
                self._attributes.clear()
            table = self._attributes[(query, scales)] = self._table("attributes", attribute_space(spare_cap(scales)), query, scales)
        return table


_TABLES: dict[int, FeatureTables] = {}
#: Attribute codes of every provider of a catalogue, by spare cap (a catalogue is read-only; computed once).
_CATALOG_CODES: "weakref.WeakKeyDictionary[PublicCatalog, dict[int, np.ndarray]]" = weakref.WeakKeyDictionary()


def catalog_codes(catalog: PublicCatalog, cap: int) -> np.ndarray:
    """:func:`attribute_codes` of every provider of ``catalog`` (catalogue order), computed once per catalogue."""
    by_cap = _CATALOG_CODES.get(catalog)
    if by_cap is None:
        by_cap = _CATALOG_CODES.setdefault(catalog, {})
    codes = by_cap.get(cap)
    if codes is None:
        codes = by_cap[cap] = _frozen(
            attribute_codes(catalog.spare, catalog.level, catalog.primary_role, catalog.online, cap).astype(np.int32)
        )
    return codes


def feature_tables(features: tuple[Feature, ...] | None = None) -> FeatureTables:
    """The :class:`FeatureTables` of a definition list (default: :data:`FEATURES`), built once."""
    features = FEATURES if features is None else features
    tables = _TABLES.get(id(features))
    if tables is None or tables.features is not features:
        tables = _TABLES[id(features)] = FeatureTables(features)
    return tables


def _frozen(array: np.ndarray) -> np.ndarray:
    array = np.ascontiguousarray(array)
    array.flags.writeable = False
    return array


def compute_features(
    context: QueryContext,
    catalog: PublicCatalog,
    positions: np.ndarray,
    distance_m: np.ndarray,
    inside: np.ndarray,
    scales: FeatureScales = FeatureScales(),
) -> np.ndarray:
    """Feature matrix of shape ``(len(positions), len(FEATURE_NAMES))``, float64.

    Each feature's function is evaluated on the values its input can take
    (cached per query key) and looked up per candidate, so a page of ten
    costs a few dozen array operations whatever the number of features.

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

    Examples
    --------
    >>> from findsupport.catalog.public import PublicProvider
    >>> p = PublicProvider(id="p1", name="Sam", roles=("mentor",), events=("hurdles",),
    ...                    availability=("tue_eve",), online=True, travel_km=20.0, capacity=3,
    ...                    active_coaches=1, qualification=None, club=None, bio=None,
    ...                    area="NE21 4", easting=417647.0, northing=563312.0, lon=-1.7259, lat=54.9641)
    >>> catalog = PublicCatalog.from_providers([p])
    >>> c = QueryContext.from_query(0.0, 0.0, mode="online", event="hurdles")
    >>> row = dict(zip(FEATURE_NAMES, compute_features(c, catalog, [0], [100_000.0], [False])[0].tolist()))
    >>> round(row["online_region"], 4), row["proximity_near"], row["event_exact"]
    (0.3679, 0.0, 1.0)
    """
    tables = feature_tables(FEATURES)
    features, layout = tables.features, tables.layout
    positions = np.asarray(positions, dtype=np.intp)
    n = len(positions)
    out = np.zeros((n, len(features)), dtype=np.float64)
    if n == 0:
        return out
    in_person = in_person_matches(context.mode, inside)
    # Which kinds of match the page holds: all in person, all online only, or both.
    kind = 0 if context.mode == "online" else 1 if in_person.all() else 0 if not in_person.any() else -1
    columns, row = tables.distance_columns(scales, kind)
    if len(columns):
        # Every distance feature in one broadcast: the same exp(-d / scale) per element as decay().
        values = decay(np.asarray(distance_m, dtype=np.float64)[:, None], row)
        if kind < 0:
            values = np.where(in_person[:, None] == tables.distance_kinds[None, :].astype(bool), values, 0.0)
        out[:, columns] = values
    if len(layout["presence"]):
        out[:, layout["presence"]] = tables.presence[in_person.astype(np.intp)]
    if context.event_bits and len(layout["event"]):
        events = catalog.event_mask[positions]
        state = np.where((events & np.uint32(context.event_bits)) != 0, 2, ((events & np.uint32(context.group_bits)) != 0).astype(np.intp))
        out[:, layout["event"]] = tables.event[state]
    if context.n_slots and len(layout["slots"]):
        free = np.bitwise_count(catalog.slot_mask[positions] & np.uint32(context.slot_bits)).astype(np.intp)
        out[:, layout["slots"]] = tables.slots(context.n_slots)[free]
    if len(layout["attributes"]):
        codes = catalog_codes(catalog, spare_cap(scales))[positions]
        table = tables.attributes_for(context.level, context.role_index, context.mode in ONLINE_MODES, scales)
        out[:, layout["attributes"]] = table[codes]
    return out

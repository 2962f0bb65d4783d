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

The page pass
-------------
:func:`compute_features` runs inside every search request (the page a coach
sees) and over whole feedback logs in training.  It evaluates no feature per
candidate: the tables of :class:`FeatureTables` are filled once per query
key, and one compiled pass (numba, ``nogil``, cached on disk) reads each
candidate's row of each table (its kind of match, event-match state,
free-slot count and attribute code).  The distance features are the
exception: their values are :func:`decay` itself, one numpy call per page,
because numba's ``exp`` (the C library's) and numpy's (its own SIMD code on
AVX-512 machines) differ in the last bit for a few per cent of inputs.

The pass lives in this module because numba's on-disk cache of a function is
invalidated when its own source file changes: any edit of these definitions
recompiles it, so nothing it reads (the numbering of :data:`READS`, the
column layouts) can go stale in a cached copy.  numba is imported on first
use, so importing the definitions (training, notebooks, query validation)
stays cheap; the engine loads the pass when it is built
(:func:`warm_up_page_features`), never first inside a request.

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
from .catalog.public import PublicCatalog, PublicProvider
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
    "provider_inputs",
    "PROVIDER_INPUTS",
    "warm_up_page_features",
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
#: Free-slot counts a provider can have for a query: 0 .. len(SLOTS) (rows of the slot tables).
_FREE_COUNTS = len(taxonomy.SLOTS) + 1


def spare_cap(scales: FeatureScales) -> int:
    """Spare places beyond this look alike to every feature (``ceil(capacity_scale)``, at least 1)."""
    return max(int(math.ceil(scales.capacity_scale)), 1)


def attribute_codes(spare: np.ndarray, level: np.ndarray, primary: np.ndarray, online: np.ndarray, cap: int) -> np.ndarray:
    """Each provider's attribute code: ``(min(spare, cap), level, primary role + 1, online)`` in one integer."""
    code = np.minimum(spare, cap).astype(np.int64)
    code = code * _LEVELS + level
    code = code * _PRIMARY + (np.asarray(primary, dtype=np.int64) + 1)
    return code * 2 + np.asarray(online, dtype=np.int64)


def _n_codes(cap: int) -> int:
    return (cap + 1) * _LEVELS * _PRIMARY * 2


def attribute_space(cap: int) -> Attributes:
    """The attributes of every code ``0 .. n_codes - 1`` (the inverse of :func:`attribute_codes`)."""
    codes = np.arange(_n_codes(cap))
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
    only, exact); :meth:`slots` and :meth:`attributes`: per query key;
    ``page_layout``, :meth:`page_table` and :meth:`attributes_for`: the same
    tables as the compiled page pass of :func:`compute_features` reads them.
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
        self.page_layout = self._page_layout()
        self._scales: dict[int, tuple[FeatureScales, np.ndarray]] = {}
        self._slots: dict[int, np.ndarray] = {}
        self._pages: dict[tuple[int, bool], np.ndarray] = {}
        # Per-page look-ups keyed by the scales' identity (each entry keeps its scales, so an id is never reused meanwhile).
        self._attributes_by_key: dict[tuple[int, int, bool, int], tuple[FeatureScales, np.ndarray]] = {}
        self._attributes: dict[tuple[AttributeQuery, FeatureScales], np.ndarray] = {}

    def _table(self, reads: str, *inputs: Any) -> np.ndarray:
        """``(len(inputs[0]), n)``: the features reading ``reads`` evaluated on every input value."""
        columns = [np.asarray(self.features[j].value(*inputs), dtype=np.float64) for j in self.layout[reads]]  # type: ignore[misc]
        return _frozen(np.column_stack(columns) if columns else np.zeros((len(inputs[0]), 0)))

    def _page_layout(self) -> np.ndarray:
        """``(3, n_features)`` int64: where the page pass finds each feature (rows ``_SOURCE``, ``_COLUMN``, ``_ROW``).

        ``_SOURCE``: what it reads (its index in :data:`READS`); ``_COLUMN``: its
        column among the distance features (of the decays) or in its kind's
        table; ``_ROW``: the first row of its kind's block in :meth:`page_table`
        (0 for attributes, which have a table of their own), or for a distance
        feature the kind of match it counts for (1 in person, 0 online only).
        """
        first: dict[str, int] = {}
        row = 0
        for reads, block in self._page_blocks(0, False).items():
            first[reads], row = row, row + len(block)
        layout = np.zeros((3, len(self.features)), dtype=np.int64)
        for reads, columns in self.layout.items():
            for column, j in enumerate(columns):
                third = int(self.distance_kinds[column]) if reads == "distance" else first.get(reads, 0)
                layout[:, j] = (READS.index(reads), column, third)
        return _frozen(layout)

    def distance_scales(self, scales: FeatureScales) -> np.ndarray:
        """The scale (metres) of each distance feature."""
        entry = self._scales.get(id(scales))  # by identity: hashing the scales costs more than a page's lookups
        if entry is None or entry[0] is not scales:
            if len(self._scales) >= 256:  # new scales objects (tests, notebooks): keep it bounded
                self._scales.clear()
            values = _frozen(np.array([getattr(scales, self.features[j].scale) for j in self.layout["distance"]], dtype=np.float64))
            entry = self._scales[id(scales)] = (scales, values)
        return entry[1]

    def page_table(self, asked_slots: int, event_asked: bool) -> np.ndarray:
        """The presence, event and slot tables of a query, stacked in row blocks as the page pass reads them.

        Blocks: presence (by kind of match), event (by match state), slots (by
        free-slot count), padded with zeros to the widest.  The event block is
        zero when no event is asked and the slot block when no slot is: those
        features are 0 then.  At most ``2 * (len(SLOTS) + 1)`` small tables.
        """
        table = self._pages.get((asked_slots, event_asked))
        if table is None:
            blocks = list(self._page_blocks(asked_slots, event_asked).values())
            stacked = np.zeros((sum(len(b) for b in blocks), max(b.shape[1] for b in blocks)))
            row = 0
            for block in blocks:
                stacked[row : row + len(block), : block.shape[1]] = block
                row += len(block)
            # A dict store is atomic; concurrent searches at worst stack one twice.
            table = self._pages[(asked_slots, event_asked)] = _frozen(stacked)
        return table

    def _page_blocks(self, asked_slots: int, event_asked: bool) -> dict[str, np.ndarray]:
        """The blocks of :meth:`page_table`, in order (the page layout's row offsets follow it)."""
        return {
            "presence": self.presence,
            "event": self.event if event_asked else np.zeros_like(self.event),
            "slots": self.slots(asked_slots) if asked_slots else np.zeros((_FREE_COUNTS, len(self.layout["slots"]))),
        }

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
            table = self._slots[asked] = self._table("slots", np.arange(_FREE_COUNTS), asked)
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
#: Columns of a catalogue's page inputs (:func:`provider_inputs`), as the page pass reads them.
PROVIDER_INPUTS = ("event_mask", "slot_mask", "attribute_code")
_EVENT_MASK, _SLOT_MASK, _CODE = range(len(PROVIDER_INPUTS))
#: Page inputs of every provider of a catalogue, by spare cap (a catalogue is read-only; computed once).
_PROVIDER_INPUTS: "weakref.WeakKeyDictionary[PublicCatalog, dict[int, np.ndarray]]" = weakref.WeakKeyDictionary()


def provider_inputs(catalog: PublicCatalog, cap: int) -> np.ndarray:
    """``(len(catalog), 3)`` int64: each provider's event mask, slot mask and :func:`attribute_codes` code.

    Catalogue order, columns :data:`PROVIDER_INPUTS`; computed once per
    catalogue and spare cap, read-only.
    """
    by_cap = _PROVIDER_INPUTS.get(catalog)
    if by_cap is None:
        by_cap = _PROVIDER_INPUTS.setdefault(catalog, {})
    inputs = by_cap.get(cap)
    if inputs is None:
        codes = attribute_codes(catalog.spare, catalog.level, catalog.primary_role, catalog.online, cap)
        if len(codes) and (codes.min() < 0 or codes.max() >= _n_codes(cap)):
            # from_providers never makes one; a hand-built catalogue could, and the page pass does not check codes.
            raise ValueError(
                "Got provider attributes outside the feature codes: spare must be >= 0, "
                f"level 0-{TOP_LEVEL}, primary role -1..{len(taxonomy.ROLES) - 1}."
            )
        columns = {"event_mask": catalog.event_mask, "slot_mask": catalog.slot_mask, "attribute_code": codes}
        inputs = by_cap[cap] = _frozen(np.column_stack([np.asarray(columns[name], dtype=np.int64) for name in PROVIDER_INPUTS]))
    return inputs


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
    (cached per query key); then one :func:`decay` call gives the distance
    features of every candidate and one compiled pass looks the others up
    (see "The page pass" above), whatever the number of candidates or features.

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
    # Fresh contiguous arrays of fixed dtypes: the compiled pass then always sees the argument types
    # it was compiled for at warm-up (a read-only or strided view would compile a new variant).
    positions = np.array(positions, dtype=np.intp)
    n = len(positions)
    if n == 0:
        return np.zeros((0, len(tables.features)), dtype=np.float64)
    in_person = np.array(_per_candidate(in_person_matches(context.mode, inside), n), dtype=bool)
    # Every distance feature's closeness, for every candidate: numpy's exp, as decay() defines it (see above).
    decays = decay(_per_candidate(np.asarray(distance_m, dtype=np.float64), n)[:, None], tables.distance_scales(scales))
    out = np.empty((n, len(tables.features)), dtype=np.float64)  # numba returning an array would cost more
    _page_pass()(
        out, positions, decays, in_person, provider_inputs(catalog, spare_cap(scales)), tables.page_layout,
        tables.page_table(context.n_slots, context.event_bits != 0),
        tables.attributes_for(context.level, context.role_index, context.mode in ONLINE_MODES, scales),
        context.event_bits, context.group_bits, context.slot_bits,
    )  # fmt: skip
    return out


def _per_candidate(values: np.ndarray, n: int) -> np.ndarray:
    """``values`` as one per candidate (a single value is everyone's; other lengths are an error)."""
    return values if values.shape == (n,) else np.broadcast_to(values, (n,))


# ---------------------------------------------------------------------- the page pass
# Compiled by numba on first use (see "The page pass" in the module docstring for why here).
_DISTANCE, _PRESENCE, _EVENT, _SLOTS, _ATTRIBUTES = range(len(READS))
_SOURCE, _COLUMN, _ROW = range(3)
assert READS == ("distance", "presence", "event", "slots", "attributes")  # the numbering the pass branches on
_PAGE_PASS: Any = None


def _page_rows(out, positions, decays, in_person, inputs, layout, page, attributes, event_bits, group_bits, slot_bits):  # type: ignore[no-untyped-def]
    """Fill ``out`` with each candidate's features, read from its row of each table (compiled by :func:`_page_pass`).

    ``out``, ``positions``, ``in_person``: per candidate; ``decays``: per candidate,
    :func:`decay` of each distance feature; ``inputs``: per provider,
    :data:`PROVIDER_INPUTS`; ``layout``: :attr:`FeatureTables.page_layout`;
    ``page``: :meth:`FeatureTables.page_table`; ``attributes``: the attribute
    table of the query key; the query's event, group and slot bits.
    """
    n, n_features, n_providers = positions.shape[0], layout.shape[1], inputs.shape[0]
    for i in range(n):
        p = positions[i]
        if p < 0:
            p += n_providers  # numpy's meaning of a negative position
        if p < 0 or p >= n_providers:
            raise IndexError("a candidate position is outside the catalogue")
        kind = 1 if in_person[i] else 0
        events = inputs[p, _EVENT_MASK]
        state = 2 if events & event_bits else 1 if events & group_bits else 0
        free, left = 0, inputs[p, _SLOT_MASK] & slot_bits
        while left:
            left &= left - 1
            free += 1
        code = inputs[p, _CODE]
        for j in range(n_features):
            source, column = layout[_SOURCE, j], layout[_COLUMN, j]
            if source == _DISTANCE:
                out[i, j] = decays[i, column] if layout[_ROW, j] == kind else 0.0
            elif source == _ATTRIBUTES:
                out[i, j] = attributes[code, column]
            else:
                row = kind if source == _PRESENCE else state if source == _EVENT else free
                out[i, j] = page[layout[_ROW, j] + row, column]


def _page_pass() -> Any:
    """The compiled :func:`_page_rows` (numba is imported, and the pass loaded or compiled, on first use)."""
    global _PAGE_PASS
    if _PAGE_PASS is None:
        from numba import njit

        # Not fast-math: the same float values as the tables hold; nogil: searches run in threads.
        _PAGE_PASS = njit(cache=True, nogil=True)(_page_rows)
    return _PAGE_PASS


def warm_up_page_features() -> None:
    """Load (or compile) the page pass of :func:`compute_features` now, so that no request pays for it.

    The engine's warm-up (:func:`findsupport.index.matching.warm_up`) calls
    this when it is built; the one-provider page takes the same path as
    every call, so the pass is compiled for the argument types calls use.
    """
    provider = PublicProvider(
        id="warm-up", name="warm-up", roles=(taxonomy.ROLES[0],), events=(taxonomy.EVENTS[0],), availability=(taxonomy.SLOTS[0],),
        online=True, travel_km=1.0, capacity=1, active_coaches=0, qualification=None, club=None, bio=None,
        area="", easting=0.0, northing=0.0, lon=0.0, lat=0.0,
    )  # fmt: skip
    context = QueryContext.from_query(0.0, 0.0, event=taxonomy.EVENTS[0], slots=(taxonomy.SLOTS[0],), mode="any")
    compute_features(context, PublicCatalog.from_providers([provider]), [0], [0.0], [True])

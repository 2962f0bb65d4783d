"""The compiled page pass of compute_features against the numpy implementation it replaced, bit for bit."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import findsupport.features as definitions
from findsupport import taxonomy
from findsupport.catalog.public import PublicCatalog, PublicProvider
from findsupport.features import (
    FEATURE_NAMES,
    FEATURES,
    ONLINE_MODES,
    Feature,
    FeatureScales,
    QueryContext,
    attribute_codes,
    compute_features,
    decay,
    feature_tables,
    in_person_matches,
    spare_cap,
    warm_up_page_features,
)

QUALIFICATIONS = (None, *taxonomy.QUALIFICATIONS)
GROUPS = tuple(taxonomy.EVENT_GROUPS)


# ---------------------------------------------------------------------- the oracle
# ORACLE ONLY: compute_features as it was before the compiled page pass (numpy, one array operation
# per kind of input; commit 629b904), kept here solely to check the compiled pass value for value.
# It is not a code path of the package.  The table look-ups it used (distance_columns,
# catalog_codes) are spelled out with the public pieces they were made of.
def numpy_compute_features(context, catalog, positions, distance_m, inside, scales=FeatureScales()):
    tables = feature_tables(FEATURES)
    features, layout = tables.features, tables.layout
    positions = np.asarray(positions, dtype=np.intp)
    n = len(positions)
    out = np.zeros((n, len(features)), dtype=np.float64)
    if n == 0:
        return out
    in_person = in_person_matches(context.mode, inside)
    kind = 0 if context.mode == "online" else 1 if in_person.all() else 0 if not in_person.any() else -1
    wanted = np.ones(len(tables.distance_kinds), dtype=bool) if kind < 0 else tables.distance_kinds == kind
    columns, row = layout["distance"][wanted], tables.distance_scales(scales)[wanted][None, :]
    if len(columns):
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
        cap = spare_cap(scales)
        codes = attribute_codes(catalog.spare, catalog.level, catalog.primary_role, catalog.online, cap).astype(np.int32)[positions]
        table = tables.attributes_for(context.level, context.role_index, context.mode in ONLINE_MODES, scales)
        out[:, layout["attributes"]] = table[codes]
    return out


# ---------------------------------------------------------------------- random pages
def random_catalog(rng: np.random.Generator, n: int) -> PublicCatalog:
    providers = []
    for i in range(n):
        capacity = int(rng.integers(0, 9))
        providers.append(
            PublicProvider(
                id=f"p{i}", name=f"p{i}",
                roles=tuple(str(r) for r in rng.choice(taxonomy.ROLES, size=int(rng.integers(1, 4)), replace=False)),
                events=tuple(str(e) for e in rng.choice(taxonomy.EVENTS, size=int(rng.integers(0, 5)), replace=False)),
                availability=tuple(str(s) for s in rng.choice(taxonomy.SLOTS, size=int(rng.integers(0, 22)), replace=False)),
                online=bool(rng.random() < 0.4), travel_km=20.0, capacity=capacity,
                active_coaches=int(rng.integers(0, capacity + 1)),
                qualification=QUALIFICATIONS[int(rng.integers(len(QUALIFICATIONS)))], club=None, bio=None,
                area="NE1 4", easting=420_000.0, northing=565_000.0, lon=-1.6, lat=54.97,
            )
        )  # fmt: skip
    return PublicCatalog.from_providers(providers)


def random_distances(rng: np.random.Generator, n: int) -> np.ndarray:
    """Metres: mostly continuous, some exact multiples of the scales and zeros (the edges of exp)."""
    d = rng.uniform(0.0, 300_000.0, n)
    special = rng.random(n) < 0.2
    d[special] = rng.choice([0.0, 5_000.0, 20_000.0, 100_000.0, 1_400_000.0, 1e-300], size=int(special.sum()))
    return d


def random_inside(rng: np.random.Generator, n: int, how: str) -> np.ndarray:
    return {"all": np.ones(n, bool), "none": np.zeros(n, bool), "mixed": rng.random(n) < 0.5}[how]


def random_scales(rng: np.random.Generator, custom: bool) -> FeatureScales:
    if not custom:
        return FeatureScales()
    near, mid, far = np.sort(rng.uniform(100.0, 300_000.0, 3))
    return FeatureScales(near_scale_m=float(near), mid_scale_m=float(mid), far_scale_m=float(far), capacity_scale=float(rng.choice([0.5, 1.0, 2.5, 3.0, 7.0])))


def assert_same_bits(got: np.ndarray, expected: np.ndarray) -> None:
    """Equal as bits, not only as numbers (0.0 and -0.0, a last-bit difference of exp would fail)."""
    assert got.dtype == expected.dtype == np.float64 and got.shape == expected.shape
    mismatch = np.argwhere(got.view(np.uint64) != expected.view(np.uint64))
    assert not len(mismatch), [(int(i), FEATURE_NAMES[j] if j < len(FEATURE_NAMES) else j, got[i, j], expected[i, j]) for i, j in mismatch[:5]]


QUERIES = st.fixed_dictionaries(
    {
        "mode": st.sampled_from(taxonomy.MODES),
        "role": st.sampled_from((None, *taxonomy.ROLES)),
        "event": st.sampled_from((None, *taxonomy.EVENTS, *GROUPS)),
        "slots": st.lists(st.sampled_from(taxonomy.SLOTS), unique=True, max_size=21),
        "level": st.sampled_from(QUALIFICATIONS),
    }
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n_providers=st.integers(1, 40),
    n_rows=st.integers(0, 60),
    query=QUERIES,
    inside=st.sampled_from(("all", "none", "mixed")),
    custom_scales=st.booleans(),
)
def test_compiled_page_equals_the_numpy_definition_bit_for_bit(seed, n_providers, n_rows, query, inside, custom_scales):
    rng = np.random.default_rng(seed)
    catalog = random_catalog(rng, n_providers)
    positions = rng.integers(0, n_providers, n_rows)  # any order, repeats allowed
    distance, flags = random_distances(rng, n_rows), random_inside(rng, n_rows, inside)
    scales = random_scales(rng, custom_scales)
    context = QueryContext.from_query(420_000.0, 565_000.0, **query)
    got = compute_features(context, catalog, positions, distance, flags, scales)
    assert_same_bits(got, numpy_compute_features(context, catalog, positions, distance, flags, scales))


@pytest.mark.parametrize("mode", taxonomy.MODES)
@pytest.mark.parametrize("seed", [0, 1])
def test_a_training_sized_call_equals_the_numpy_definition(mode, seed):
    """Training calls it on whole logs: 50,000 rows at once, every mode, mixed in-person rows."""
    rng = np.random.default_rng(seed)
    catalog = random_catalog(rng, 300)
    n = 50_000
    positions, distance, inside = rng.integers(0, 300, n), random_distances(rng, n), rng.random(n) < 0.6
    context = QueryContext.from_query(0.0, 0.0, mode=mode, role="coach_developer", event="endurance", slots=["mon_am", "sat_pm", "sun_eve"], level="assistant_coach")
    for scales in (FeatureScales(), FeatureScales(near_scale_m=1234.5, capacity_scale=5.0)):
        assert_same_bits(compute_features(context, catalog, positions, distance, inside, scales), numpy_compute_features(context, catalog, positions, distance, inside, scales))


def test_every_free_slot_count_and_every_attribute_code():
    """Every row of the slot tables (0..21 of 1..21 asked) and of the attribute tables is read as the numpy definition reads it."""
    combinations = itertools.product(range(6), QUALIFICATIONS, taxonomy.ROLES, (False, True))  # spare, level, main role, online
    providers = [
        PublicProvider(
            id=f"p{i}", name=f"p{i}", roles=(role,), events=(), availability=taxonomy.SLOTS[: i % (len(taxonomy.SLOTS) + 1)],
            online=online, travel_km=20.0, capacity=spare, active_coaches=0, qualification=qualification, club=None, bio=None,
            area="NE1 4", easting=0.0, northing=0.0, lon=0.0, lat=0.0,
        )
        for i, (spare, qualification, role, online) in enumerate(combinations)
    ]  # fmt: skip
    catalog = PublicCatalog.from_providers(providers)
    positions = np.arange(len(catalog))
    distance, inside = np.full(len(catalog), 3_000.0), np.ones(len(catalog), bool)
    for asked in range(len(taxonomy.SLOTS) + 1):
        for level in (None, "athletics_coach"):
            context = QueryContext.from_query(0.0, 0.0, slots=taxonomy.SLOTS[:asked], level=level, role="co_coach", mode="any")
            for scales in (FeatureScales(), FeatureScales(capacity_scale=4.5)):
                got = compute_features(context, catalog, positions, distance, inside, scales)
                assert_same_bits(got, numpy_compute_features(context, catalog, positions, distance, inside, scales))


# ---------------------------------------------------------------------- inputs callers pass
@pytest.fixture(scope="module")
def small_catalog() -> PublicCatalog:
    return random_catalog(np.random.default_rng(7), 12)


def _read_only(values) -> np.ndarray:
    array = np.array(values)
    array.flags.writeable = False
    return array


CALLER_INPUTS = {
    "lists": lambda p, d, i: (p.tolist(), d.tolist(), i.tolist()),
    "int32 positions, float32 distances": lambda p, d, i: (p.astype(np.int32), d.astype(np.float32), i),
    "read-only arrays": lambda p, d, i: (_read_only(p), _read_only(d), _read_only(i)),
    "reversed views (as the engine's ranked pages)": lambda p, d, i: (p[::-1].copy()[::-1], d[::-1].copy()[::-1], i[::-1].copy()[::-1]),
    "every other row of a longer page": lambda p, d, i: (np.repeat(p, 2)[::2], np.repeat(d, 2)[::2], np.repeat(i, 2)[::2]),
    "0/1 integers for inside": lambda p, d, i: (p, d, i.astype(np.int64)),
    "one distance and one inside for everyone": lambda p, d, i: (p, d[:1], i[:1]),
}


@pytest.mark.parametrize("make", CALLER_INPUTS.values(), ids=CALLER_INPUTS.keys())
def test_callers_inputs_give_the_same_values_and_compile_nothing_after_warm_up(small_catalog, make):
    rng = np.random.default_rng(3)
    positions, distance, inside = rng.integers(0, len(small_catalog), 9), random_distances(rng, 9), rng.random(9) < 0.5
    context = QueryContext.from_query(0.0, 0.0, mode="any", event="jumps", slots=["tue_eve"], level="athletics_coach")
    warm_up_page_features()
    compiled = len(definitions._page_pass().signatures)
    args = make(positions, distance, inside)
    assert_same_bits(compute_features(context, small_catalog, *args), numpy_compute_features(context, small_catalog, *args))
    assert len(definitions._page_pass().signatures) == compiled == 1


@pytest.mark.parametrize("mode", taxonomy.MODES)
def test_an_empty_page(small_catalog, mode):
    context = QueryContext.from_query(0.0, 0.0, mode=mode, event="hurdles")
    for positions in ([], np.array([], dtype=np.int64)):
        out = compute_features(context, small_catalog, positions, [], [])
        assert out.shape == (0, len(FEATURE_NAMES)) and out.dtype == np.float64


def test_positions_mean_what_numpy_indexing_means(small_catalog):
    """A negative position counts from the end, as it did; one past the catalogue is an error, not a stray read."""
    context = QueryContext.from_query(0.0, 0.0, mode="any", event="throws", slots=["sat_am", "sun_am"])
    n = len(small_catalog)
    got = compute_features(context, small_catalog, [-1, -n, 0], [10.0, 20.0, 30.0], [True, False, True])
    np.testing.assert_array_equal(got, compute_features(context, small_catalog, [n - 1, 0, 0], [10.0, 20.0, 30.0], [True, False, True]))
    for bad in (n, -n - 1):
        with pytest.raises(IndexError):
            compute_features(context, small_catalog, [0, bad], [1.0, 2.0], [True, True])


def test_lengths_that_do_not_match_are_an_error(small_catalog):
    context = QueryContext.from_query(0.0, 0.0)
    with pytest.raises(ValueError):
        compute_features(context, small_catalog, [0, 1, 2], [1.0, 2.0], [True, True, True])
    with pytest.raises(ValueError):
        compute_features(context, small_catalog, [0, 1, 2], [1.0, 2.0, 3.0], [True, False])


# ---------------------------------------------------------------------- one definition
def test_a_new_feature_of_every_kind_is_computed_from_its_definition_only(small_catalog, monkeypatch):
    """The pass knows no feature: features added to FEATURES alone come out as the numpy definition gives them."""
    extra = (
        Feature("far_online", "online only: closeness on a near scale", "distance", scale="near_scale_m", applies_to="online_only"),
        Feature("not_in_area", "outside the travel area", "presence", lambda in_person: ~in_person),
        Feature("no_event_match", "neither the event nor its group", "event", lambda state: state == 0),
        Feature("slots_missing", "asked-for slots the provider is busy in", "slots", lambda free, asked: (asked - free) / 21.0),
        Feature("spare_squared", "spare places squared", "attributes", lambda a, q, s: a.spare.astype(float) ** 2),
    )
    features = (*extra[:2], *FEATURES, *extra[2:])  # new columns in front, in the middle order and at the end
    monkeypatch.setattr(definitions, "FEATURES", features)
    monkeypatch.setattr(sys.modules[__name__], "FEATURES", features)
    rng = np.random.default_rng(11)
    positions, distance = rng.integers(0, len(small_catalog), 40), random_distances(rng, 40)
    for mode in taxonomy.MODES:
        context = QueryContext.from_query(0.0, 0.0, mode=mode, event="pole_vault", slots=["mon_eve", "wed_eve"], role="mentor")
        inside = rng.random(40) < 0.5
        got = compute_features(context, small_catalog, positions, distance, inside)
        assert got.shape == (40, len(features))
        assert_same_bits(got, numpy_compute_features(context, small_catalog, positions, distance, inside))
        busy = 2 - np.bitwise_count(small_catalog.slot_mask[positions] & np.uint32(context.slot_bits))
        assert got[:, -2].tolist() == (busy / 21.0).tolist()


def test_a_hand_built_catalogue_with_impossible_attributes_is_refused(small_catalog):
    import dataclasses

    broken = dataclasses.replace(small_catalog, level=np.full(len(small_catalog), 9, dtype=np.int8))
    with pytest.raises(ValueError, match="outside the feature codes"):
        compute_features(QueryContext.from_query(0.0, 0.0), broken, [0], [1.0], [True])


# ---------------------------------------------------------------------- start-up
def test_the_engine_warm_up_loads_the_page_pass(monkeypatch):
    """``findsupport.index.warm_up`` (the engine calls it when built) loads the pass, not the first request."""
    from findsupport.index import SearchIndex, make_scorer, matching, warm_up
    from findsupport.ranking.model import MatchRanker

    calls = []
    monkeypatch.setattr(matching, "warm_up_page_features", lambda: calls.append(True))
    catalog = random_catalog(np.random.default_rng(5), 20)
    index = SearchIndex.build(catalog)
    warm_up(index, make_scorer(MatchRanker().use_parameter_weights(), catalog, (index.main, index.online), FeatureScales()))
    assert calls == [True]


PROGRAM = r"""
import json, sys
import findsupport.features as f
before = "numba" in sys.modules
f.warm_up_page_features()
print(json.dumps({"before": before, "after": "numba" in sys.modules, "signatures": len(f._page_pass().signatures)}))
"""


def test_importing_the_definitions_does_not_load_numba():
    """Training, notebooks and query validation import the definitions; numba comes with the first page."""
    done = subprocess.run([sys.executable, "-W", "error", "-c", PROGRAM], capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"before": False, "after": True, "signatures": 1}

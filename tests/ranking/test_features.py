"""Match features on hand-made providers and queries: each value checked against what it means."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from hypothesis import given, settings as hsettings, strategies as st

from findsupport import taxonomy
from findsupport.catalog.public import PublicCatalog, PublicProvider
from findsupport.errors import InvalidInput
from findsupport.ranking import (
    DEFAULT_WEIGHTS,
    FEATURE_DESCRIPTIONS,
    FEATURE_NAMES,
    FeatureScales,
    QueryContext,
    candidate_geometry,
    compute_features,
    scan_candidates,
)

# The coach is at the origin of a local grid (a real BNG point near Newcastle).
X0, Y0 = 420_000.0, 565_000.0


def provider(pid: str, dx_km: float = 0.0, **changes) -> PublicProvider:
    fields = dict(
        id=pid, name=pid, roles=("mentor",), events=("hurdles",), availability=("tue_eve", "thu_eve"),
        online=False, travel_km=20.0, capacity=3, active_coaches=1, qualification="athletics_coach",
        club=None, bio=None, area="NE1 4", easting=X0 + dx_km * 1000.0, northing=Y0, lon=-1.6, lat=54.97,
    )
    fields.update(changes)
    return PublicProvider(**fields)


def features_of(providers, **query) -> dict[str, dict[str, float]]:
    catalog = PublicCatalog.from_providers(providers)
    positions = np.arange(len(catalog))
    distance, inside = candidate_geometry(catalog, positions, X0, Y0)
    context = QueryContext.from_query(X0, Y0, **query)
    X = compute_features(context, catalog, positions, distance, inside)
    return {p.id: dict(zip(FEATURE_NAMES, map(float, row))) for p, row in zip(catalog.providers, X)}


def test_every_feature_has_a_default_weight_and_description():
    assert tuple(DEFAULT_WEIGHTS) == FEATURE_NAMES
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)
    assert all(FEATURE_DESCRIPTIONS[name] for name in FEATURE_NAMES)


@pytest.mark.parametrize(
    "dx_km, near, mid, far",
    [
        (0.0, 1.0, 1.0, 1.0),
        (5.0, math.exp(-1), math.exp(-0.25), math.exp(-0.05)),
        (100.0, math.exp(-20), math.exp(-5), math.exp(-1)),
    ],
)
def test_proximity_decays_on_three_scales(dx_km, near, mid, far):
    f = features_of([provider("a", dx_km, travel_km=150.0)])["a"]  # travels to the coach: in person
    assert f["proximity_near"] == pytest.approx(near, rel=1e-12, abs=0)
    assert f["proximity_mid"] == pytest.approx(mid, rel=1e-12, abs=0)
    assert f["proximity_far"] == pytest.approx(far, rel=1e-12, abs=0)


E = math.exp


@pytest.mark.parametrize(
    "mode, online, travel_km, dx_km, expected",
    [
        # (proximity_near, proximity_mid, proximity_far, in_service_area, online_region)
        ("in_person", False, 20.0, 5.0, (E(-1), E(-0.25), E(-0.05), 1.0, 0.0)),
        ("any", True, 20.0, 5.0, (E(-1), E(-0.25), E(-0.05), 1.0, 0.0)),  # travels to the coach: in person
        ("any", True, 20.0, 150.0, (0.0, 0.0, 0.0, 0.0, E(-1.5))),  # does not: online only, same-region closeness
        ("online", True, 20.0, 5.0, (0.0, 0.0, 0.0, 0.0, E(-0.05))),  # an online search is online only, even next door
        ("online", True, 200.0, 150.0, (0.0, 0.0, 0.0, 0.0, E(-1.5))),
    ],
)
def test_in_person_and_online_only_matches_read_distance_differently(mode, online, travel_km, dx_km, expected):
    f = features_of([provider("a", dx_km, online=online, travel_km=travel_km)], mode=mode)["a"]
    names = ("proximity_near", "proximity_mid", "proximity_far", "in_service_area", "online_region")
    assert tuple(f[name] for name in names) == pytest.approx(expected, rel=1e-12, abs=0)


@pytest.mark.parametrize(
    "dx_km, travel_km, inside",
    [(5.0, 20.0, 1.0), (20.0, 20.0, 1.0), (20.001, 20.0, 0.0), (30.0, 20.0, 0.0), (0.0, 0.0, 1.0)],
)
def test_inside_service_area_circle_edge_included(dx_km, travel_km, inside):
    assert features_of([provider("a", dx_km, travel_km=travel_km)])["a"]["in_service_area"] == inside
    assert features_of([provider("a", dx_km, travel_km=travel_km, online=True)], mode="online")["a"]["in_service_area"] == 0.0


def test_inside_explicit_polygon_service_area():
    county = shapely.box(X0 + 10_000, Y0 - 5_000, X0 + 40_000, Y0 + 5_000)  # does not cover the coach
    covering = shapely.box(X0 - 1_000, Y0 - 1_000, X0 + 50_000, Y0 + 1_000)
    f = features_of([
        provider("far-circle-but-polygon", 45.0, travel_km=1.0, service_area=covering),
        provider("near-circle-but-polygon", 1.0, travel_km=30.0, service_area=county),
    ])
    assert f["far-circle-but-polygon"]["in_service_area"] == 1.0
    assert f["near-circle-but-polygon"]["in_service_area"] == 0.0


@pytest.mark.parametrize(
    "event, events, exact, group",
    [
        ("hurdles", ("hurdles",), 1.0, 0.0),
        ("hurdles", ("sprints", "relays"), 0.0, 1.0),  # same group, not the event
        ("hurdles", ("javelin",), 0.0, 0.0),
        ("sprints_hurdles", ("relays",), 1.0, 0.0),  # a group query matches any of its events
        ("jumps", ("hurdles",), 0.0, 0.0),
        ("race_walking", ("race_walking",), 1.0, 0.0),  # single-event group
        (None, ("hurdles",), 0.0, 0.0),  # nothing asked: no effect
    ],
)
def test_event_specialism(event, events, exact, group):
    f = features_of([provider("a", events=events)], event=event)["a"]
    assert (f["event_exact"], f["event_group"]) == (exact, group)


@pytest.mark.parametrize(
    "slots, availability, share, all_free",
    [
        (("tue_eve", "thu_eve"), ("tue_eve", "thu_eve", "sat_am"), 1.0, 1.0),
        (("tue_eve", "thu_eve"), ("tue_eve",), 0.5, 0.0),
        (("tue_eve", "thu_eve", "sat_am"), ("sat_am",), 1 / 3, 0.0),
        (("mon_am",), ("tue_eve",), 0.0, 0.0),
        ((), ("tue_eve",), 0.0, 0.0),  # nothing asked: no effect
    ],
)
def test_availability_overlap(slots, availability, share, all_free):
    f = features_of([provider("a", availability=availability)], slots=slots)["a"]
    assert f["availability"] == pytest.approx(share)
    assert f["availability_all"] == all_free


@pytest.mark.parametrize(
    "capacity, active, spare_feature, full",
    [(5, 0, 1.0, 0.0), (3, 1, 2 / 3, 0.0), (2, 1, 1 / 3, 0.0), (2, 2, 0.0, 1.0), (0, 0, 0.0, 1.0)],
)
def test_capacity(capacity, active, spare_feature, full):
    f = features_of([provider("a", capacity=capacity, active_coaches=active)])["a"]
    assert f["spare_capacity"] == pytest.approx(spare_feature)
    assert f["full"] == full


@pytest.mark.parametrize(
    "theirs, mine, above, below, gap",
    [
        ("advanced_coach", "sessional_coach", 1.0, 0.0, 0.5),
        ("sessional_coach", "coach_in_running_fitness", 0.0, 0.0, 0.0),  # equal levels
        ("assistant_coach", "athletics_coach", 0.0, 1.0, -0.5),
        ("athletics_coach", None, 1.0, 0.0, 0.75),  # no level given: any qualification is above none
        (None, None, 0.0, 0.0, 0.0),
        (None, "assistant_coach", 0.0, 1.0, -0.25),
    ],
)
def test_qualification_gap(theirs, mine, above, below, gap):
    f = features_of([provider("a", qualification=theirs)], level=mine)["a"]
    assert (f["qualified_above"], f["qualified_below"]) == (above, below)
    assert f["qualification_gap"] == pytest.approx(gap)


@pytest.mark.parametrize(
    "mode, online, fit",
    [("in_person", True, 0.0), ("online", True, 1.0), ("any", True, 1.0), ("any", False, 0.0)],
)
def test_online_fit(mode, online, fit):
    assert features_of([provider("a", online=online)], mode=mode)["a"]["online_fit"] == fit


@pytest.mark.parametrize(
    "role, roles, primary",
    [("mentor", ("mentor", "co_coach"), 1.0), ("co_coach", ("mentor", "co_coach"), 0.0), (None, ("mentor",), 0.0)],
)
def test_primary_role(role, roles, primary):
    assert features_of([provider("a", roles=roles)], role=role)["a"]["primary_role"] == primary


def test_unknown_mode_is_an_invalid_input():
    with pytest.raises(InvalidInput, match="mode must be one of"):
        QueryContext.from_query(X0, Y0, mode="carrier_pigeon")


def test_empty_candidate_list():
    catalog = PublicCatalog.from_providers([provider("a")])
    out = compute_features(QueryContext.from_query(X0, Y0), catalog, np.array([], int), np.array([]), np.array([], bool))
    assert out.shape == (0, len(FEATURE_NAMES))


def test_features_do_not_depend_on_the_other_candidates():
    """Training recomputes features for logged results only; serving for all candidates."""
    providers = [provider(f"p{i}", dx_km=i, capacity=i % 4, events=("hurdles",) if i % 2 else ("shot_put",)) for i in range(8)]
    catalog = PublicCatalog.from_providers(providers)
    context = QueryContext.from_query(X0, Y0, event="hurdles", slots=["tue_eve"], level="sessional_coach", role="mentor")
    everyone = np.arange(8)
    d, inside = candidate_geometry(catalog, everyone, X0, Y0)
    full = compute_features(context, catalog, everyone, d, inside)
    some = np.array([6, 1, 3])
    d2, inside2 = candidate_geometry(catalog, some, X0, Y0)
    np.testing.assert_array_equal(compute_features(context, catalog, some, d2, inside2), full[some])


@hsettings(max_examples=60, deadline=None)
@given(
    dx=st.lists(st.floats(0, 200), min_size=1, max_size=6),
    capacity=st.integers(0, 12),
    active=st.integers(0, 12),
    slots=st.lists(st.sampled_from(taxonomy.SLOTS), unique=True, max_size=5),
    level=st.sampled_from([None, *taxonomy.QUALIFICATIONS]),
    mode=st.sampled_from(taxonomy.MODES),
)
def test_features_are_bounded(dx, capacity, active, slots, level, mode):
    providers = [provider(f"p{i}", d, capacity=capacity, active_coaches=min(active, capacity)) for i, d in enumerate(dx)]
    rows = np.array([list(v.values()) for v in features_of(providers, slots=slots, level=level, mode=mode).values()])
    gap = FEATURE_NAMES.index("qualification_gap")
    assert np.all(np.delete(rows, gap, axis=1) >= 0) and np.all(np.delete(rows, gap, axis=1) <= 1)
    assert np.all(np.abs(rows[:, gap]) <= 1)


def test_scales_are_recorded_as_plain_numbers():
    assert FeatureScales().to_dict() == {"near_scale_m": 5000.0, "mid_scale_m": 20000.0, "far_scale_m": 100000.0, "capacity_scale": 3.0}


@pytest.mark.parametrize(
    "mode, role, expected",
    [
        ("in_person", None, ["near", "edge"]),  # 'far' is outside its own reach; 'online-far' too
        ("in_person", "co_coach", ["edge"]),
        ("online", None, ["near", "online-far"]),  # online providers at any distance, nearest first
        ("any", None, ["near", "edge", "online-far"]),
    ],
)
def test_scan_candidates_follows_the_engine_rules(mode, role, expected):
    catalog = PublicCatalog.from_providers([
        provider("near", 1.0, online=True),
        provider("edge", 20.0, roles=("co_coach",)),
        provider("far", 24.0, travel_km=10.0),
        provider("online-far", 150.0, online=True),
    ])
    positions, distance, inside = scan_candidates(catalog, X0, Y0, role=role, mode=mode, radius_m=25_000.0)
    assert [catalog.providers[i].id for i in positions] == expected
    assert list(distance) == sorted(distance)

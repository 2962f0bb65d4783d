"""The demo catalogue: deterministic, plausible, synthetic, and imported through the ordinary path."""

from __future__ import annotations

import collections
import re

import pytest

from findsupport import taxonomy
from findsupport.catalog import CatalogStore, generate_demo_rows, load_demo
from findsupport.catalog.demo import DEMO_MARK, EMAIL_DOMAINS, FIRST_NAMES, SURNAMES
from findsupport.config import load_settings

DEMO_SIZE = 1000
LONDON_AREAS = {"E", "EC", "N", "NW", "SE", "SW", "W", "WC"}
HIGHLAND_AREAS = {"IV", "KW", "PH", "HS", "ZE"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory, cache_dir, directory):
    settings = load_settings(
        {"data_dir": tmp_path_factory.mktemp("demo"), "cache_dir": cache_dir, "rate_limits": "off"}, environ={}
    )
    store = CatalogStore.open(settings)
    report = load_demo(store, directory, settings, providers=DEMO_SIZE)
    return store, report, list(store.providers())


def test_same_seed_same_rows_other_seed_other_rows(directory):
    a = generate_demo_rows(directory, seed=7, providers=200)
    b = generate_demo_rows(directory, seed=7, providers=200)
    c = generate_demo_rows(directory, seed=8, providers=200)
    assert [r.values for r in a] == [r.values for r in b]
    assert all((x.area is None and y.area is None) or x.area.equals_exact(y.area, 0) for x, y in zip(a, b))
    assert [r.values["postcode"] for r in a] != [r.values["postcode"] for r in c]


def test_every_demo_row_passes_validation(demo):
    store, report, providers = demo
    assert report.ok and report.rows == DEMO_SIZE and report.format == "demo"
    assert store.counts().providers == DEMO_SIZE
    assert store.history()[0].source == "demo (seed 20261129, 1000 providers)"


def test_demo_people_are_obviously_synthetic(demo):
    _, _, providers = demo
    for p in providers:
        first, surname = p.name.split(" ")
        assert first in FIRST_NAMES and surname in SURNAMES
        assert p.email.rsplit("@", 1)[1] in EMAIL_DOMAINS
        assert p.bio.endswith(DEMO_MARK)


def test_demo_mixes_are_plausible(demo):
    _, _, providers = demo
    groups = collections.Counter(g for p in providers for g in {taxonomy.group_of(e) for e in p.events})
    assert groups["endurance"] > groups["jumps"] > groups["race_walking"] > 0
    assert groups["sprints_hurdles"] > 4 * groups["race_walking"]
    slots = collections.Counter(s for p in providers for s in p.availability)
    popular = {s for s, _ in slots.most_common(7)}
    assert popular == {"mon_eve", "tue_eve", "wed_eve", "thu_eve", "fri_eve", "sat_am", "sun_am"}
    roles = collections.Counter(p.roles[0] for p in providers)
    assert set(roles) == set(taxonomy.ROLES) and roles["mentor"] == max(roles.values())
    online = sum(p.online for p in providers) / len(providers)
    assert 0.1 < online < 0.4
    assert all(0 <= p.active_coaches <= p.capacity for p in providers)
    assert 0 < sum(p.active_coaches == p.capacity for p in providers) < len(providers) / 3
    assert {p.qualification for p in providers} >= set(taxonomy.QUALIFICATIONS) - {"leader_in_running_fitness"}


def test_density_follows_postcodes(demo):
    _, _, providers = demo
    areas = collections.Counter(re.match(r"[A-Z]+", p.area).group() for p in providers)
    assert sum(areas[a] for a in LONDON_AREAS) > 2 * sum(areas[a] for a in HIGHLAND_AREAS) > 0
    assert len(areas) > 80  # spread across most of Great Britain's postcode areas


def test_some_are_unconsented_and_some_cover_a_county(demo):
    store, _, providers = demo
    counts = store.counts()
    assert 0 < counts.unconsented < DEMO_SIZE * 0.1
    with_area = [p for p in providers if p.service_area is not None]
    assert with_area and all(set(p.roles) >= {"coach_developer"} for p in with_area)
    assert all(1000 < p.service_area.area / 1e6 < 5000 for p in with_area)  # county-sized, km²
    catalog = store.public_catalog()
    assert len(catalog) == counts.consented and catalog.has_area.sum() >= 1


def test_demo_bases_avoid_districts_too_small_to_hide_a_postcode(directory):
    """PO-box districts (AB99, BD98, ...) would be refused by the import; the demo draws again instead."""
    import numpy as np

    from findsupport.catalog.demo import _bases, _refused

    arrays = directory.located_arrays()
    keys = arrays["keys"]
    # A plain draw of this size lands in a few of them (so this test can fail) ...
    plain = np.random.default_rng(3).choice(len(keys), size=60_000, replace=False)
    assert _refused(directory, keys, plain).any()
    # ... the demo's draw never does, and keeps the rows a plain draw had right.
    bases = _bases(directory, arrays, np.random.default_rng(3), 60_000)
    assert not _refused(directory, keys, bases).any()
    assert len(set(bases.tolist())) == len(bases)
    kept = ~_refused(directory, keys, plain)
    assert (bases[kept] == plain[kept]).all()


def test_demo_service_areas_are_drawn_around_the_public_location_never_the_home(directory, settings, monkeypatch):
    """Issue 10: the demo built each county around the provider's home, and its outline gave the home away."""
    from findsupport.catalog import demo as demo_module
    from findsupport.catalog import validate_row

    centres = []
    draw = demo_module._service_area

    def spy(rng, postcodes, e0, n0):
        centres.append((e0, n0))
        return draw(rng, postcodes, e0, n0)

    monkeypatch.setattr(demo_module, "_service_area", spy)
    rows = [row for row in generate_demo_rows(directory, seed=11, providers=800) if row.area is not None]
    assert len(rows) == len(centres) >= 3
    for row, (e0, n0) in zip(rows, centres):
        provider = validate_row(row.values, directory, settings, service_area=row.area)
        assert (e0, n0) == (provider.easting, provider.northing)  # the public location the import shows
        assert (e0, n0) != (provider.base_easting, provider.base_northing)


def test_demo_service_areas_are_stored_at_public_granularity(demo):
    from findsupport.catalog.service_area import on_public_grid

    store, _, providers = demo
    stored = [p.service_area for p in providers if p.service_area is not None]
    public = [p.service_area for p in store.public_catalog().providers if p.service_area is not None]
    assert stored and on_public_grid(stored).all() and on_public_grid(public).all()

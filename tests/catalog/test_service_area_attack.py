"""An outsider's attack on explicit service areas, through the search engine over an imported catalogue.

Issue 10's audit asked "does this provider travel to you?" along 72 rays from
a provider's public point (about 1,250 searches) and recovered an outline
whose centre was 31 m from their private postcode.  Here the same attack
runs against a catalogue built by the ordinary importer, with the areas an
adversarial (or careless) provider might declare around their home: a square
with a 30 m hole at the home, a county with a 50 m² crumb at the home, and a
disc centred on the home.  What the attacker may learn is whole grid squares:

* every boundary the probes find lies on a national grid line;
* every answer is the same everywhere inside a grid square;
* the hole and the crumb change no answer anywhere (they are invisible);
* the outline's centre is no better a guess of the home than the grid square
  the home is in, however the home sits within its square.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely

from findsupport.catalog.service_area import GRID_TOLERANCE_M, SERVICE_AREA_CELL_M, clean_service_area, on_public_grid
from findsupport.geo import to_wgs84
from findsupport.search.engine import Engine

from .conftest import good_row

HOME_POSTCODE = "NE21 4LZ"
#: The audit's rays: one every 5 degrees.
RAYS = 72
#: How far out each ray is walked (metres): past every test area's far edge.
RAY_REACH_M = 9_000.0
#: Samples along a ray before bisecting a change of answer.
RAY_STEP_M = 500.0
#: Bisection stops when the inside and outside probes are this close (metres).
BISECT_TO_M = 1.0
#: The attacker's search: in person, far enough that the public point is always within it.
PROBE = {"role": "coach_developer", "mode": "in_person", "radius_km": 50, "limit": 50}


def _declared_areas(home_e: float, home_n: float) -> dict[str, shapely.Geometry]:
    """What providers declare: the audit's shapes around the home, and the same without the home's detail."""
    square = shapely.box(home_e - 2_000, home_n - 2_000, home_e + 2_000, home_n + 2_000)  # 16 km²
    hole = shapely.box(home_e - 15, home_n - 15, home_e + 15, home_n + 15)  # 30 m across, at the home
    county = shapely.box(home_e + 3_000, home_n - 6_000, home_e + 8_000, home_n + 6_000)  # 60 km² next door
    crumb = shapely.box(home_e - 5, home_n - 5, home_e + 5, home_n)  # 50 m², at the home
    return {
        "square": square,
        "square-with-hole": square.difference(hole),
        "county": county,
        "county-with-crumb": shapely.MultiPolygon([county, crumb]),
        "disc": shapely.Point(home_e, home_n).buffer(3_000, quad_segs=16),  # the old demo's pattern
    }


@pytest.fixture(scope="module")
def attacked(tmp_path_factory, cache_dir, directory):
    """An engine over an imported catalogue, the home (private) and the public point of every provider."""
    from findsupport.catalog import CatalogStore, import_file
    from findsupport.config import load_settings

    from .conftest import write_csv

    settings = load_settings(
        {"data_dir": tmp_path_factory.mktemp("attack"), "cache_dir": cache_dir, "rate_limits": "off"}, environ={}
    )
    store = CatalogStore.open(settings)
    home = directory.lookup(HOME_POSTCODE)
    areas = _declared_areas(home.easting, home.northing)
    rows = [
        good_row(
            id=name,
            email=f"{name}@example.org",
            roles="coach_developer",
            postcode=HOME_POSTCODE,
            service_area=shapely.to_wkt(area, rounding_precision=-1),
        )
        for name, area in areas.items()
    ]
    report = import_file(write_csv(tmp_path_factory.mktemp("files") / "areas.csv", rows), store, directory, settings)
    assert report.ok, report.rejections
    catalog = store.public_catalog()
    private = store.get_private("square")
    assert (private.base_easting, private.base_northing) == (home.easting, home.northing)
    engine = Engine.from_catalog(catalog, directory, settings=settings)
    public = catalog.get("square")
    return engine, (home.easting, home.northing), (public.easting, public.northing), list(areas), store


def _inside(engine: Engine, points: np.ndarray, names: list[str]) -> np.ndarray:
    """What the public search says, point by point: is each provider "in your area"? (points × providers)"""
    lon, lat = to_wgs84(points[:, 0], points[:, 1])
    answers = np.zeros((len(points), len(names)), dtype=bool)
    for k, (x, y) in enumerate(zip(lon.tolist(), lat.tolist())):
        response = engine.search({**PROBE, "lon": x, "lat": y}, log=False)
        found = {r.provider.id for r in response.results if r.features["in_service_area"]}
        answers[k] = [name in found for name in names]
    return answers


def _ray_attack(engine: Engine, origin: tuple[float, float], names: list[str]) -> tuple[dict, np.ndarray, np.ndarray]:
    """Walk 72 rays from the public point; bisect every change of answer to 1 m.

    Returns the crossings per provider (pairs of points 1 m apart, inside then
    outside), and every sampled point with its answers.
    """
    angles = np.arange(RAYS) * (2 * math.pi / RAYS)
    steps = np.arange(0.0, RAY_REACH_M + RAY_STEP_M, RAY_STEP_M)
    directions = np.c_[np.cos(angles), np.sin(angles)]
    samples = np.asarray(origin) + (directions[:, None, :] * steps[None, :, None])  # rays × steps × 2
    answers = _inside(engine, samples.reshape(-1, 2), names).reshape(RAYS, len(steps), len(names))
    crossings: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {name: [] for name in names}
    for ray in range(RAYS):
        for j, name in enumerate(names):
            for s in np.flatnonzero(answers[ray, 1:, j] != answers[ray, :-1, j]):
                a, b = samples[ray, s].copy(), samples[ray, s + 1].copy()
                a_in = answers[ray, s, j]
                while np.hypot(*(b - a)) > BISECT_TO_M:
                    middle = (a + b) / 2
                    if _inside(engine, middle[None, :], [name])[0, 0] == a_in:
                        a = middle
                    else:
                        b = middle
                crossings[name].append((a, b) if a_in else (b, a))
    return crossings, samples.reshape(-1, 2), answers.reshape(-1, len(names))


@pytest.fixture(scope="module")
def ray_attack(attacked):
    engine, _home, public, names, _store = attacked
    return _ray_attack(engine, public, names)


def _square_of(points: np.ndarray) -> np.ndarray:
    return np.floor(points / SERVICE_AREA_CELL_M).astype(np.int64)


def test_every_boundary_found_lies_on_a_grid_line(attacked, ray_attack):
    _engine, _home, _public, names, _store = attacked
    crossings, _, _ = ray_attack
    for name in names:
        assert crossings[name], f"the rays never crossed {name}'s outline"
        for inside, outside in crossings[name]:
            # 1 m apart, in two different grid squares: the edge between them is a grid line.
            assert (_square_of(inside) != _square_of(outside)).any(), (name, inside, outside)


def test_every_answer_is_the_same_throughout_a_grid_square(attacked, ray_attack):
    engine, home, _public, names, _store = attacked
    _, samples, answers = ray_attack
    # The ray samples, grouped by grid square (points exactly on a grid line excluded).
    on_line = (np.remainder(samples, SERVICE_AREA_CELL_M) == 0).any(axis=1)
    squares = _square_of(samples[~on_line])
    _, group = np.unique(squares, axis=0, return_inverse=True)
    group = group.reshape(-1)
    sizes = np.bincount(group)
    for j in range(len(names)):
        inside = np.bincount(group, answers[~on_line, j])
        assert ((inside == 0) | (inside == sizes)).all(), names[j]  # all in or all out, square by square
    # And densely around the home: the square it is in and its neighbours, 25 points each.
    rng = np.random.default_rng(10)
    corner = _square_of(np.asarray(home)) * SERVICE_AREA_CELL_M
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            low = corner + np.array([dx, dy]) * SERVICE_AREA_CELL_M
            points = low + rng.uniform(1.0, SERVICE_AREA_CELL_M - 1.0, size=(25, 2))
            if dx == dy == 0:
                points[0] = home  # the home itself
            answers_here = _inside(engine, points, names)
            assert (answers_here == answers_here[0]).all(), (dx, dy)


@pytest.mark.parametrize(("detailed", "plain"), [("square-with-hole", "square"), ("county-with-crumb", "county")])
def test_detail_at_the_home_is_invisible(attacked, ray_attack, detailed, plain):
    engine, home, _public, names, _store = attacked
    crossings, _, answers = ray_attack
    assert (answers[:, names.index(detailed)] == answers[:, names.index(plain)]).all()
    assert np.allclose([c for pair in crossings[detailed] for c in pair], [c for pair in crossings[plain] for c in pair])
    # At the home itself: the hole reads "in your area", the crumb does not exist.
    at_home = _inside(engine, np.array([home]), names)[0]
    assert at_home[names.index("square-with-hole")] and not at_home[names.index("county-with-crumb")]


@pytest.mark.parametrize("private", [False, True])
def test_every_reader_sees_the_coarsened_area_only(attacked, tmp_path, private):
    """The index a search tests, and both exports (GeoJSON, back through WGS84), hold whole grid squares."""
    import json

    from findsupport.catalog import export_catalog
    from findsupport.geo import to_bng

    engine, _home, _public, names, store = attacked
    assert len(engine.index.areas) and engine.index.areas.on_public_grid
    assert on_public_grid(list(engine.index.areas.geometries)).all()
    path = tmp_path / "providers.geojson"
    assert export_catalog(store, path, private=private) == len(names)
    for feature in json.loads(path.read_text())["features"]:
        lonlat = shapely.geometry.shape(feature["geometry"])
        bng = shapely.transform(lonlat, lambda xy: np.column_stack(to_bng(xy[:, 0], xy[:, 1])))
        assert on_public_grid([bng], GRID_TOLERANCE_M)[0], feature["properties"]["id"]
        assert bng.equals_exact(engine.catalog.get(feature["properties"]["id"]).service_area, 0.01)


def test_the_outline_recovered_is_the_stored_union_of_grid_squares(attacked, ray_attack):
    engine, _home, _public, names, _store = attacked
    crossings, _, _ = ray_attack
    for name in names:
        stored = engine.catalog.get(name).service_area
        boundary = stored.boundary
        for inside, outside in crossings[name]:
            assert shapely.intersects_xy(stored, *inside) and not shapely.intersects_xy(stored, *outside)
            assert boundary.distance(shapely.Point(inside)) <= BISECT_TO_M


def _outline_centre(area: shapely.Geometry) -> np.ndarray:
    """The attacker's estimate of where the outline is centred (the audit's 31 m estimate)."""
    return np.asarray(area.centroid.coords[0])


@pytest.mark.parametrize("name", ["square", "square-with-hole", "disc"])
def test_an_area_drawn_around_a_home_is_the_same_wherever_the_home_is_near_a_grid_point(directory, name):
    """A fixed grid alone would let an attacker average many edge squares; the whole-area shift forbids it."""
    rng = np.random.default_rng(7)
    home = directory.lookup(HOME_POSTCODE)
    grid_point = np.round(np.array([home.easting, home.northing]) / SERVICE_AREA_CELL_M) * SERVICE_AREA_CELL_M
    homes = grid_point + rng.uniform(-0.49, 0.49, size=(12, 2)) * SERVICE_AREA_CELL_M
    published = [clean_service_area(_declared_areas(e, n)[name]) for e, n in homes]
    assert all(area.equals_exact(published[0], 0.0) for area in published)


def test_the_outline_centre_guesses_the_home_no_better_than_its_grid_square(directory):
    """Homes anywhere in a grid square, each declaring the audit's areas centred on it.

    The attacker's best guess (the outline's centre) must miss the home by as
    much as "the middle of a grid square the home is in" does: on average a
    point uniform in a square lies 0.38 of its side from the middle.  The
    areas as drawn give the home away to the metre.
    """
    rng = np.random.default_rng(2026)
    home = directory.lookup(HOME_POSTCODE)
    corner = np.floor(np.array([home.easting, home.northing]) / SERVICE_AREA_CELL_M) * SERVICE_AREA_CELL_M
    homes = corner + rng.uniform(0, SERVICE_AREA_CELL_M, size=(60, 2))
    misses: dict[str, list[float]] = {"square": [], "square-with-hole": [], "disc": []}
    drawn_misses = []
    for e, n in homes:
        areas = _declared_areas(e, n)
        for name in misses:
            misses[name].append(float(np.hypot(*(_outline_centre(clean_service_area(areas[name])) - (e, n)))))
        drawn_misses.append(float(np.hypot(*(_outline_centre(areas["disc"]) - (e, n)))))
    assert max(drawn_misses) < 1.0  # what the audit exploited: the drawn outline is centred on the home
    square_middle_miss = 0.38 * SERVICE_AREA_CELL_M
    for name, missed in misses.items():
        assert np.mean(missed) > 0.8 * square_middle_miss, (name, np.mean(missed))
        assert np.median(missed) > 0.5 * square_middle_miss, (name, np.median(missed))

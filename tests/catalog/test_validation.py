"""Every validation rule, as a table of good rows (what they become) and bad rows (what is said)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings as hsettings
from hypothesis import strategies as st

from findsupport import taxonomy
from findsupport.catalog import Problem, Provider, parse_row, validate_row
from findsupport.catalog.model import DEFAULT_CAPACITY, IMPORT_COLUMNS, MAX_BIO_CHARS, MAX_NAME_CHARS

from .conftest import good_row

SQUARE_20KM = "POLYGON ((410000 550000, 430000 550000, 430000 570000, 410000 570000, 410000 550000))"


def validate(directory, settings, **changes):
    return validate_row(good_row(**changes), directory, settings)


GOOD = [
    # (changes, attribute, expected value)
    ({}, "roles", ("mentor",)),
    ({"roles": " Mentor ; CO-COACH;mentor"}, "roles", ("mentor", "co_coach")),
    ({"roles": ["technical_advisor", "coach developer"]}, "roles", ("technical_advisor", "coach_developer")),
    ({"events": "jumps"}, "events", ("high_jump", "long_jump", "triple_jump", "pole_vault")),
    ({"events": "Long Jump;jumps"}, "events", ("long_jump", "high_jump", "triple_jump", "pole_vault")),
    ({"events": "race_walking"}, "events", ("race_walking",)),
    ({"availability": "Tue eve; SAT-AM"}, "availability", ("tue_eve", "sat_am")),
    ({"availability": ""}, "availability", ()),
    ({"online": "yes"}, "online", True),
    ({"online": "0"}, "online", False),
    ({"online": ""}, "online", False),
    ({"online": True}, "online", True),
    ({"travel_km": ""}, "travel_km", 20.0),
    ({"travel_km": "0"}, "travel_km", 0.0),
    ({"travel_km": "200"}, "travel_km", 200.0),
    ({"travel_km": 12.5}, "travel_km", 12.5),
    ({"capacity": "", "active_coaches": ""}, "capacity", DEFAULT_CAPACITY),
    ({"capacity": "4.0"}, "capacity", 4),
    ({"capacity": 0, "active_coaches": 0}, "capacity", 0),
    ({"active_coaches": ""}, "active_coaches", 0),
    ({"active_coaches": "3"}, "active_coaches", 3),
    ({"qualification": "Athletics Coach"}, "qualification", "athletics_coach"),
    ({"qualification": "leader-in-running-fitness"}, "qualification", "leader_in_running_fitness"),
    ({"qualification": ""}, "qualification", None),
    ({"club": ""}, "club", None),
    ({"email": "Sam.Kestrel@Example.ORG"}, "email", "Sam.Kestrel@example.org"),
    ({"consent": "No"}, "consent", False),
    ({"consent": "y"}, "consent", True),
    ({"bio": "Line one.\nLine two."}, "bio", "Line one.\nLine two."),
    ({"bio": "  "}, "bio", None),
    ({"name": "'=Sam"}, "name", "=Sam"),  # a neutralised export cell comes back as stored
    ({"name": "  Jo  Swift "}, "name", "Jo  Swift"),
    ({"id": "demo-00042"}, "id", "demo-00042"),
    ({"postcode": "ne214lz"}, "postcode", "NE21 4LZ"),
    ({"postcode": "SWIA 2AA"}, "postcode", "SW1A 2AA"),  # I/1 typo fixed by the grammar
    ({"postcode": "NE21 4LZ"}, "area", "NE21 4"),
    ({"postcode": "", "lat": "54.9702", "lon": "-1.7316"}, "area", "NE21 4"),
    ({"postcode": "", "lat": "54.9702", "lon": "-1.7316"}, "base_lat", 54.9702),
    ({"postcode": "", "lat": "54.9702", "lon": "-1.7316"}, "postcode", None),
    ({"lat": "54.9705", "lon": "-1.7320"}, "postcode", "NE21 4LZ"),  # both: postcode gives the sector
    ({"postcode": "AB21 1AX"}, "area", "AB21"),  # the only postcode of its sector: shown at its district
    ({"service_area": SQUARE_20KM}, "service_area.area", 400_000_000.0),
    ({"service_area": ""}, "service_area", None),
]


@pytest.mark.parametrize(("changes", "attribute", "expected"), GOOD)
def test_good_rows_become_providers(directory, settings, changes, attribute, expected):
    provider = validate(directory, settings, **changes)
    assert isinstance(provider, Provider), provider
    value = provider
    for part in attribute.split("."):
        value = getattr(value, part)
    assert value == expected


BAD = [
    # (changes, column, text the reason must contain)
    ({"id": ""}, "id", "id is required"),
    ({"id": "a b"}, "id", "'a b'"),
    ({"id": "-p1"}, "id", "starting with a letter or digit"),
    ({"id": "x" * 65}, "id", "1-64"),
    ({"name": ""}, "name", "name is required"),
    ({"name": "x" * (MAX_NAME_CHARS + 1)}, "name", f"at most {MAX_NAME_CHARS}"),
    ({"name": "Sam\nKestrel"}, "name", "control character"),
    ({"roles": ""}, "roles", "roles is required"),
    ({"roles": "mentr"}, "roles", "'mentr' (did you mean 'mentor'?) is not a role; roles are mentor, coach_developer"),
    ({"roles": "mentor;boss;chief"}, "roles", "'boss', 'chief' are not roles"),
    ({"events": ""}, "events", "events is required"),
    ({"events": "hurdle"}, "events", "did you mean 'hurdles'"),
    ({"events": "netball"}, "events", "'netball' is not an event or event group; events and event groups are sprints"),
    ({"availability": "tue_evening"}, "availability", "'tue_evening' (did you mean 'tue_eve'?) is not a slot"),
    ({"availability": "weekends"}, "availability", "slots are mon_am, mon_pm, mon_eve"),
    ({"travel_km": "far"}, "travel_km", "'far' must be a number of kilometres from 0 to 200"),
    ({"travel_km": "-1"}, "travel_km", "from 0 to 200"),
    ({"travel_km": "200.5"}, "travel_km", "from 0 to 200"),
    ({"travel_km": "nan"}, "travel_km", "'nan'"),
    ({"travel_km": "inf"}, "travel_km", "'inf'"),
    ({"online": "sometimes"}, "online", "'sometimes' must be true or false"),
    ({"capacity": "2.5"}, "capacity", "whole number from 0 to 100"),
    ({"capacity": "-1"}, "capacity", "'-1'"),
    ({"capacity": "101"}, "capacity", "from 0 to 100"),
    ({"capacity": "lots"}, "capacity", "'lots'"),
    ({"capacity": "3", "active_coaches": "4"}, "active_coaches", "active_coaches 4 is more than capacity 3"),
    ({"capacity": "", "active_coaches": "4"}, "active_coaches", f"more than capacity {DEFAULT_CAPACITY}"),
    ({"active_coaches": "-2"}, "active_coaches", "whole number"),
    ({"qualification": "level 3"}, "qualification", "'level 3' is not a qualification; qualifications are assistant_coach"),
    ({"club": "c" * 121}, "club", "at most 120"),
    ({"email": ""}, "email", "email is required"),
    ({"email": "sam"}, "email", "'sam' is not a plausible e-mail address"),
    ({"email": "sam@example"}, "email", "not a plausible"),
    ({"email": "sam kestrel@example.org"}, "email", "not a plausible"),
    ({"email": "a@b.c"}, "email", "not a plausible"),
    ({"email": "s" * 250 + "@example.org"}, "email", "not a plausible"),
    ({"consent": ""}, "consent", "consent is required: true or false"),
    ({"consent": "maybe"}, "consent", "'maybe' must be true or false"),
    ({"bio": "b" * (MAX_BIO_CHARS + 1)}, "bio", f"at most {MAX_BIO_CHARS:,}"),
    ({"bio": "null\x00byte"}, "bio", "control character"),
    ({"postcode": ""}, "postcode", "postcode is required (or lat and lon"),
    ({"postcode": "hello"}, "postcode", "'hello' is not a UK postcode"),
    ({"postcode": "NE21"}, "postcode", "a full postcode is needed"),
    ({"postcode": "NE21 4ZZ"}, "postcode", "NE21 4ZZ is not a postcode we know. Did you mean NE21 4AZ"),
    ({"postcode": "BT1 1AA"}, "postcode", "Northern Ireland"),
    ({"postcode": "JE2 3AB"}, "postcode", "Jersey"),
    ({"postcode": "GY1 1AA"}, "postcode", "Guernsey"),
    ({"postcode": "IM1 1AA"}, "postcode", "Isle of Man"),
    ({"postcode": "TR25 0QL"}, "postcode", "district TR25 has fewer than 5 located postcodes"),
    ({"postcode": "", "lat": "54.97"}, "lon", "lon is missing"),
    ({"postcode": "", "lat": "-1.73", "lon": "54.97"}, "lon", "look swapped"),
    ({"postcode": "", "lat": "563986", "lon": "417282"}, "lon", "look like grid references"),
    ({"postcode": "", "lat": "north", "lon": "-1.7"}, "lat", "must be a number of degrees"),
    ({"postcode": "", "lat": "53.35", "lon": "-6.26"}, "lat", "is in Ireland"),
    ({"postcode": "", "lat": "40.4", "lon": "-3.7"}, "lat", "outside Great Britain"),
    ({"postcode": "", "lat": "59.5", "lon": "-7.9"}, "lat", "the nearest GB postcode is"),
    ({"lat": "51.5", "lon": "-0.12"}, "lat", "km from the row's postcode"),
    ({"service_area": "POLYGON (("}, "service_area", "is not WKT"),
    ({"service_area": "LINESTRING (410000 550000, 430000 570000)"}, "service_area", "a LineString cannot be a service area"),
    ({"service_area": "POLYGON ((0 0, 100 0, 100 100, 0 100, 0 0))"}, "service_area", "less than the 10 km² minimum"),
]


@pytest.mark.parametrize(("changes", "column", "fragment"), BAD)
def test_bad_rows_name_the_column_and_reason(directory, settings, changes, column, fragment):
    problems = validate(directory, settings, **changes)
    assert isinstance(problems, list), f"accepted: {problems!r}"
    assert all(isinstance(p, Problem) for p in problems)
    assert [p.column for p in problems] == [column], problems
    assert fragment in problems[0].reason, problems[0].reason


def test_every_problem_of_a_row_is_reported_not_just_the_first(settings):
    problems = parse_row(good_row(roles="boss", events="netball", email="x", consent="perhaps"), settings)
    assert [p.column for p in problems] == ["roles", "events", "email", "consent"]


def test_point_geometry_is_the_base_and_conflicts_with_lat_lon(directory, settings):
    row = good_row(postcode="")
    provider = validate_row(row, directory, settings, point=(-1.7316, 54.9702))
    assert (provider.area, provider.base_lon, provider.base_lat) == ("NE21 4", -1.7316, 54.9702)
    problems = validate_row({**row, "lat": "54.97", "lon": "-1.73"}, directory, settings, point=(-1.7316, 54.9702))
    assert [p.column for p in problems] == ["geometry"]
    problems = validate_row(row, directory, settings, point=(54.9702, -1.7316))
    assert problems[0].column == "geometry" and "swapped" in problems[0].reason


def test_public_location_is_the_sector_centroid_not_the_postcode(directory, settings):
    provider = validate(directory, settings, postcode="NE21 4LZ")
    sector = directory.sector_location("NE21 4")
    unit = directory.lookup("NE21 4LZ")
    assert (provider.easting, provider.northing) == (sector.easting, sector.northing)
    assert (provider.lon, provider.lat) == pytest.approx((sector.lon, sector.lat))
    assert (provider.base_easting, provider.base_northing) == (unit.easting, unit.northing)
    assert (provider.easting, provider.northing) != (unit.easting, unit.northing)


def test_a_tiny_sector_is_replaced_by_its_district(directory, settings):
    provider = validate(directory, settings, postcode="AB21 1AX")
    district = directory.lookup("AB21")
    assert (provider.area, provider.easting, provider.northing) == ("AB21", district.easting, district.northing)
    assert provider.public().area == "AB21"
    assert (provider.base_easting, provider.base_northing) != (provider.easting, provider.northing)


def test_defaults_follow_settings(directory, settings):
    provider = validate_row(good_row(travel_km=""), directory, settings.replace(default_travel_km=35.0), point=None)
    assert provider.travel_km == 35.0


_cells = st.one_of(
    st.none(),
    st.text(max_size=30),
    st.sampled_from(["mentor", "jumps", "tue_eve", "true", "3", "NE21 4LZ", "54.97", "-1.73", "a@b.org", ""]),
    st.integers(-5, 300),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
)


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(row=st.dictionaries(st.sampled_from(IMPORT_COLUMNS), _cells))
def test_any_row_gives_a_provider_or_problems_never_an_exception(directory, settings, row):
    result = validate_row(row, directory, settings)
    if isinstance(result, Provider):
        assert set(result.roles) <= set(taxonomy.ROLES) and result.roles
        assert set(result.events) <= set(taxonomy.EVENTS) and result.events
        assert 0 <= result.active_coaches <= result.capacity
    else:
        assert result and all(p.column and p.reason for p in result)


# ---------------------------------------------------------------------- issue 10: every problem, any size
@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        # A row with a bad role and an unknown (well-formed) postcode: the postcode used to go unreported.
        ({"roles": "boss", "postcode": "NE21 4ZZ"}, [("roles", "'boss'"), ("postcode", "NE21 4ZZ is not a postcode we know")]),
        ({"capacity": "-1", "postcode": "", "lat": "53.35", "lon": "-6.26"}, [("capacity", "whole number"), ("lat", "Great Britain only")]),
        ({"name": "N" * 150 + "\x07N"}, [("name", "152")]),
        ({"bio": "b" * 2000 + "\x07"}, [("bio", "2,001 characters long; at most 1,000")]),
    ],
)
def test_every_problem_of_a_row_is_reported_including_its_location(directory, settings, changes, expected):
    problems = validate(directory, settings, **changes)
    assert [p.column for p in problems] == [column for column, _ in expected], problems
    for problem, (_, fragment) in zip(problems, expected):
        assert fragment in problem.reason


def test_several_problems_in_one_value_are_all_said(directory, settings):
    (problem,) = validate(directory, settings, name="N" * 150 + "\x07N")
    assert "at most 100" in problem.reason and "control character" in problem.reason


@pytest.mark.parametrize(
    ("column", "value", "fragment"),
    [
        ("bio", "x" * 200_000, "bio is 200,000 characters long; at most 1,000 are allowed"),
        ("roles", "mentor;" * 30_000, "roles is 210,000 characters long; at most 1,000"),
        ("events", "x" * 5_000, "events is 5,000 characters long"),
        ("postcode", "N" * 100_000, "postcode is 100,000 characters long"),
        ("lat", "5" * 100_000, "lat is 100,000 characters long; at most 64"),
        ("travel_km", "1" * 100_000, "travel_km is 100,000 characters long"),
        ("service_area", "POLYGON ((" + "1 2, " * 400_000 + "))", "service_area is 2,000,012 characters long; at most 1,280,000"),
        ("name", "n" * 200_000, "name is 200,000 characters long; at most 100"),
        ("id", "i" * 200_000, "must be 1-64 letters"),
        ("email", "e" * 200_000 + "@example.org", "not a plausible e-mail address"),
    ],
)
def test_a_huge_value_is_that_columns_problem_with_a_short_message(directory, settings, column, value, fragment):
    changes = {column: value}
    if column == "lat":
        changes.update(postcode="", lon="-1.7")
    problems = validate(directory, settings, **changes)
    assert isinstance(problems, list)
    assert [p.column for p in problems] == [column], problems
    assert fragment in problems[0].reason
    assert len(problems[0].reason) < 400  # the value is never echoed whole


@pytest.mark.parametrize("email", ["sam\x00@example.org", "sam@exa\x00mple.org", "sam@example.or\x7fg"])
def test_control_characters_in_an_email_are_refused(directory, settings, email):
    problems = validate(directory, settings, email=email)
    assert [p.column for p in problems] == ["email"]

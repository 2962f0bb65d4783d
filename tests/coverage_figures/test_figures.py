"""Coverage figures against a small world computed by hand.

Four providers and seven searches at real sector centroids:

=====  ==========================  ======================================================
id     who                         where
=====  ==========================  ======================================================
P1     mentor, high jump, 20 km    NE21 4 (Blaydon), 3 places, 1 coach → 2 spare
P2     mentor, sprints, 20 km      NE21 4, 1 place, 1 coach → 0 spare
P3     coach developer, high jump  SW1A 2 (Westminster), online, 2 spare
P4     mentor, long jump, 5 km     DH1 3 (Durham, 24 km from Blaydon), 1 spare
=====  ==========================  ======================================================

====  ========  ===================================  =========  ======================  ======
id    from      asked                                shown      good in person?         unmet
====  ========  ===================================  =========  ======================  ======
S1    NE21 4    mentor, jumps, in person             P1 (acc.)  P1: reaches, jumps      no
S2    NE21 4    mentor, long jump, in person         P1, P2     high jump ≠ long jump   yes
S3    NE21 4    mentor, sprints, online              P3         (online search)         no
S4    NE21 4    coach developer, high jump, any      P3 (decl.) 400 km away             yes
S5    NE21 4    mentor, (any event), in person       P2         P2 reaches, any event   no
S6    NE21 4    mentor, high jump, in person         P9         no longer listed        yes
S7    SW1A 2    mentor, jumps, in person (Jan.)      nothing                            yes
====  ========  ===================================  =========  ======================  ======
"""

from __future__ import annotations

import io
from datetime import datetime, timezone

import pandas as pd
import pytest

from findsupport.catalog.public import PublicCatalog, PublicProvider
from findsupport.coverage import ALL, CoverageData, CoverageFilter, RegionMap, where_one_more_helps
from findsupport.coverage.demand import demand_table
from findsupport.errors import ConfigError, InvalidInput
from findsupport.geo.outlines import DistrictOutlines

FEB = "2026-02-10T12:00:00+00:00"
JAN = "2026-01-10T12:00:00+00:00"


def provider(directory, pid, sector, roles, events, *, travel_km=20.0, capacity=1, active=0, online=False):
    where = directory.sector_location(sector)
    return PublicProvider(
        id=pid, name=pid, roles=roles, events=events, availability=(), online=online, travel_km=travel_km,
        capacity=capacity, active_coaches=active, qualification=None, club=None, bio=None, area=sector,
        easting=where.easting, northing=where.northing, lon=where.lon, lat=where.lat,
    )


def session(postcode, role, event, mode, shown, actions=None, created_at=FEB):
    actions = actions or {}
    return {
        "query": {"postcode": postcode, "role": role, "event": event, "slots": [], "mode": mode, "level": None},
        "results": [{"provider_id": p, "position": i, "action": actions.get(p, "shown")} for i, p in enumerate(shown, 1)],
        "created_at": created_at,
    }


@pytest.fixture(scope="module")
def world(directory):
    catalog = PublicCatalog.from_providers([
        provider(directory, "P1", "NE21 4", ("mentor",), ("high_jump",), capacity=3, active=1),
        provider(directory, "P2", "NE21 4", ("mentor",), ("sprints",), capacity=1, active=1),
        provider(directory, "P3", "SW1A 2", ("coach_developer",), ("high_jump",), capacity=2, online=True),
        provider(directory, "P4", "DH1 3", ("mentor",), ("long_jump",), travel_km=5.0, capacity=1),
    ])
    sessions = [
        session("NE21 4", "mentor", "jumps", "in_person", ["P1"], {"P1": "accepted"}),
        session("NE21 4", "mentor", "long_jump", "in_person", ["P1", "P2"]),
        session("NE21 4", "mentor", "sprints", "online", ["P3"]),
        session("NE21 4", "coach_developer", "high_jump", "any", ["P3"], {"P3": "declined"}),
        session("NE21 4", "mentor", None, "in_person", ["P2"]),
        session("NE21 4", "mentor", "high_jump", "in_person", ["P9"]),
        session("SW1A 2", "mentor", "jumps", "in_person", [], created_at=JAN),
    ]
    return sessions, catalog


@pytest.fixture(scope="module")
def data(world, directory) -> CoverageData:
    sessions, catalog = world
    return CoverageData.from_sources(sessions, catalog, directory, min_count=2)


def rows(figures, key="district"):
    return figures.counts.set_index(key).to_dict("index")


def test_unmet_is_the_documented_rule(world, directory):
    sessions, catalog = world
    demand = demand_table(sessions, catalog, directory, default_radius_km=25.0)
    assert demand["unmet"].tolist() == [False, True, False, True, False, True, True]
    assert demand["district"].tolist() == ["NE21"] * 6 + ["SW1A"]
    assert demand["event_group"].tolist() == ["jumps", "jumps", "sprints_hurdles", "jumps", "(any)", "jumps", "jumps"]


def test_a_smaller_radius_than_the_distance_leaves_a_search_unmet(world, directory):
    sessions, catalog = world
    # P1 is at the coach's own sector centroid: any radius reaches it; P4 (24 km) needs a wide one.
    from_durham = [session("DH1 3", "mentor", "long_jump", "in_person", ["P4"])]
    assert not demand_table(from_durham, catalog, directory, default_radius_km=25.0)["unmet"].item()
    from_blaydon = [session("NE21 4", "mentor", "long_jump", "in_person", ["P4"])]
    assert demand_table(from_blaydon, catalog, directory, default_radius_km=25.0)["unmet"].item()  # P4 travels 5 km only


def test_figures_by_district(data):
    figures = rows(data.figures())
    assert figures["NE21"] == {
        "region": "NE", "searches": 6, "unmet_searches": 3, "introductions_requested": 2, "introductions_accepted": 1,
        "introductions_declined": 1, "introductions_expired": 0, "providers": 2, "spare_places": 2,
    }
    assert figures["SW1A"]["searches"] == 1 and figures["SW1A"]["unmet_searches"] == 1
    assert (figures["SW1A"]["providers"], figures["SW1A"]["spare_places"]) == (1, 2)
    assert (figures["DH1"]["searches"], figures["DH1"]["providers"], figures["DH1"]["spare_places"]) == (0, 1, 1)


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        # role: S1, S2, S3, S5, S6 from NE21; P1, P2 listed there, P4 in DH1; P3 is no mentor.
        (CoverageFilter(role="mentor"), {"NE21": (5, 2, 2), "SW1A": (1, 1, 0), "DH1": (0, 0, 1)}),
        # event group: S1, S2, S4, S6 and S7; P1 (high jump), P3, P4; P2 (sprints) not.
        (CoverageFilter(event_group="jumps"), {"NE21": (4, 3, 1), "SW1A": (1, 1, 1), "DH1": (0, 0, 1)}),
        # mode: only S3 was online, never unmet in person; P3 is the one online provider.
        (CoverageFilter(mode="online"), {"NE21": (1, 0, 0), "SW1A": (0, 0, 1)}),
        # period: S7 was in January.
        (CoverageFilter(since="2026-02-01"), {"NE21": (6, 3, 2), "SW1A": (0, 0, 1), "DH1": (0, 0, 1)}),
        (CoverageFilter(until="2026-02-01"), {"SW1A": (1, 1, 1), "NE21": (0, 0, 2), "DH1": (0, 0, 1)}),
    ],
)
def test_filters(data, where, expected):
    figures = rows(data.figures(where))
    got = {d: (r["searches"], r["unmet_searches"], r["providers"]) for d, r in figures.items()}
    assert got == expected


def test_by_region_and_split(data, tmp_path):
    regions = tmp_path / "regions.csv"
    regions.write_text("district,region\nNE21,North East\nDH1,North East\n", encoding="utf-8")
    regional = CoverageData(data.demand, data.introductions, data.supply, regions=RegionMap.from_csv(regions), min_count=2)
    by_region = rows(regional.figures(by="region"), "region")
    assert set(by_region) == {"North East", "SW"}
    assert by_region["North East"]["searches"] == 6 and by_region["North East"]["providers"] == 3
    split = data.figures(split=["role"]).counts.set_index(["district", "role"])
    assert split.loc[("NE21", "mentor"), "searches"] == 5
    assert split.loc[("NE21", "coach_developer"), "unmet_searches"] == 1


def test_introductions_from_the_lifecycle_table_know_expiries(data, world, directory):
    sessions, catalog = world
    moment = pd.Timestamp(FEB)
    introductions = pd.DataFrame({
        "created_at": [moment] * 3, "district": ["NE21"] * 3, "role": ["mentor"] * 3,
        "event_group": ["jumps"] * 3, "mode": ["in_person"] * 3, "state": ["accepted", "expired", "pending"],
    })
    with_table = CoverageData.from_sources(sessions, catalog, directory, introductions=introductions, min_count=2)
    ne21 = rows(with_table.figures())["NE21"]
    assert (ne21["introductions_requested"], ne21["introductions_accepted"], ne21["introductions_expired"]) == (3, 1, 1)
    # The feedback log cannot see expiries: its column is left empty, not shown as none.
    assert data.figures().public()["introductions_expired"].eq("").all()


def test_public_table_suppresses_and_totals(data):
    figures = data.figures()
    public = figures.public()
    assert public.iloc[-1]["district"] == ALL and public.iloc[-1]["searches"] == "7"
    ne21 = public.set_index("district").loc["NE21"]
    assert ne21["searches"] == "6" and ne21["introductions_declined"] == "<2"
    # With the real threshold, only Blaydon's six searches are shown; the 7 in total then leaves
    # one search to the two other districts, never to a single one.
    strict = CoverageData(data.demand, data.introductions, data.supply).figures().public().set_index("district")
    assert strict["searches"].to_dict() == {"DH1": "<5", "NE21": "6", "SW1A": "<5", ALL: "7"}
    assert strict.loc["NE21", "unmet_searches"] == "<5" and strict.loc[ALL, "providers"] == "<5"
    text = figures.to_csv()
    assert text.splitlines()[0].startswith("district,region,searches,unmet_searches")
    assert pd.read_csv(io.StringIO(text), dtype=str)["searches"].tolist() == public["searches"].tolist()


def test_bad_filters_say_what_is_allowed():
    with pytest.raises(InvalidInput, match="role must be one of mentor"):
        CoverageFilter(role="guru")
    with pytest.raises(InvalidInput, match="since must be a date"):
        CoverageFilter(since="last week")
    with pytest.raises(InvalidInput, match="until must be after since"):
        CoverageFilter(since="2026-02-01", until="2026-01-01")
    assert CoverageFilter(since="2026-02-01").since == datetime(2026, 2, 1, tzinfo=timezone.utc)


def test_region_file_errors(tmp_path):
    path = tmp_path / "regions.csv"
    path.write_text("district,region\nNE21,North\nNOPE1X,South\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="line 3"):
        RegionMap.from_csv(path)


def test_geojson_and_where_one_more_helps(data, directory):
    outlines = DistrictOutlines.build(directory, areas=("NE", "DH", "SW"))
    collection = data.figures().to_geojson(outlines)
    features = {f["properties"]["district"]: f for f in collection["features"]}
    assert set(features) == set(outlines.districts)
    assert features["NE21"]["properties"]["searches"] == "6" and features["NE1"]["properties"]["searches"] == "<2"
    lon, lat = features["NE21"]["geometry"]["coordinates"][0][0][0]
    assert -2.0 < lon < -1.5 and 54.8 < lat < 55.1
    assert collection["metadata"]["suppressed_below"] == 2
    # Unmet mentor searches for jumps: S2 and S6 from Blaydon (S7 in Westminster is 400 km away).
    best = where_one_more_helps(data, outlines, CoverageFilter(role="mentor", event_group="jumps"), reach_km=20.0)
    # Every district whose centroid is within 20 km of Blaydon ties at 2 (more than ten of them).
    assert len(best) == 10 and set(best["unmet_searches_in_reach"]) == {"2"}
    blaydon = directory.sector_location("NE21 4")
    cx, cy = outlines.centroids()
    for district in best["district"]:
        i = outlines.positions([district])[0]
        assert ((cx[i] - blaydon.easting) ** 2 + (cy[i] - blaydon.northing) ** 2) ** 0.5 <= 20_000


def test_an_installations_records_log_and_lifecycle_table(settings, world, directory):
    """``CoverageData.load`` reads the feedback log and the introduction lifecycle table of the data dir."""
    from datetime import timedelta

    from findsupport.db import engine_for, metadata
    from findsupport.introductions.tables import introduction_requests
    from findsupport.ranking.feedback import FeedbackLog

    sessions, catalog = world
    log = FeedbackLog.open(settings)
    for s in sessions[:2]:  # S1 (met) and S2 (unmet), logged now
        log.log_search(s["query"], [(r["provider_id"], r["position"]) for r in s["results"]], "default")
    engine = engine_for(settings.resolved_database_url)
    metadata.create_all(engine, tables=[introduction_requests])
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    with engine.begin() as conn:
        conn.execute(introduction_requests.insert(), [
            {"id": f"i{n}", "provider_id": "P1", "coach_name": "C", "coach_email": "c@example.org", "message": "hi",
             "role": "mentor", "event": "high_jump", "mode": "in_person", "sector": "NE21 4", "state": state,
             "created_at": now, "expires_at": now + timedelta(days=7), "slots": "", "client_key": ""}
            for n, state in enumerate(["accepted", "expired", "expired", "declined"])
        ])
    data = CoverageData.load(settings, directory=directory, catalog=catalog)
    assert data.introductions_source == "introductions"
    ne21 = rows(data.figures(CoverageFilter(since=now - timedelta(hours=1))))["NE21"]
    assert (ne21["searches"], ne21["unmet_searches"]) == (2, 1)
    assert (ne21["introductions_requested"], ne21["introductions_accepted"], ne21["introductions_expired"],
            ne21["introductions_declined"]) == (4, 1, 2, 1)
    before = rows(data.figures(CoverageFilter(until=now - timedelta(hours=1))))["NE21"]
    assert before["searches"] == before["introductions_requested"] == 0 and before["providers"] == 2


def test_an_empty_introductions_table_gives_no_rows(tmp_path):
    """A fresh installation has the lifecycle table but no introductions yet: no figures, no error."""
    from findsupport.coverage.introductions import introductions_from_table
    from findsupport.db import create_db_engine, metadata
    from findsupport.introductions.tables import introduction_requests

    engine = create_db_engine(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    metadata.create_all(engine, tables=[introduction_requests])
    frame = introductions_from_table(engine)
    assert frame is not None and len(frame) == 0
    assert "district" in frame.columns

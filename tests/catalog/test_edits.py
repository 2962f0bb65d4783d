"""A provider's own edits, imports versus those edits, withdrawal of consent, the manage page's read."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from findsupport import taxonomy
from findsupport.catalog import edits, places
from findsupport.catalog.edits import EDITABLE_FIELDS, parse_changes
from findsupport.cli import main
from findsupport.config import Settings
from findsupport.errors import CatalogError, InvalidInput, ProviderNotFound

from .conftest import catalogue_rows, good_row, write_csv

EDITED_AT = datetime(2026, 12, 1, 9, 30)
LATER = datetime(2026, 12, 3, 18, 0)


def public(store, provider_id):
    return store.public_catalog().get(provider_id)


@pytest.fixture
def listed(store, import_csv):
    """Three providers imported from a file; returns the file's rows."""
    rows = catalogue_rows(3)
    import_csv(rows)
    return rows


# ---------------------------------------------------------------------- editing


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("availability", "Mon eve; sat_pm", ("mon_eve", "sat_pm")),
        ("availability", ["mon_am", "sun_eve"], ("mon_am", "sun_eve")),
        ("availability", "", ()),
        ("events", "jumps", ("high_jump", "long_jump", "triple_jump", "pole_vault")),
        ("events", "Long-distance", ("long_distance",)),
        ("online", "yes", True),
        ("travel_km", "12.5", 12.5),
        ("travel_km", "", 20.0),  # an emptied field means what an empty cell means: the default
        ("capacity", "7", 7),
        ("bio", "Now coaching hurdles\non Tuesdays.", "Now coaching hurdles\non Tuesdays."),
        ("bio", "  ", None),
    ],
)
def test_an_edit_is_checked_like_an_import_and_shows_publicly(store, listed, field, value, expected):
    before = store.version()
    view = store.apply_edit("p001", {field: value}, now=EDITED_AT)
    assert getattr(view, field) == expected
    assert getattr(public(store, "p001"), field) == expected
    assert store.version() != before
    assert view.edited == {field: EDITED_AT}
    assert public(store, "p000") == store.public_catalog().get("p000")  # no one else changes


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"availability": "tues_eve"}, "availability", "'tues_eve' (did you mean 'tue_eve'?) is not a slot"),
        ({"events": ""}, "events", "events is required"),
        ({"travel_km": "300"}, "travel_km", "travel_km '300' must be a number of kilometres from 0 to 200"),
        ({"travel_km": "nan"}, "travel_km", "must be a number of kilometres"),
        ({"capacity": "-1"}, "capacity", "capacity '-1' must be a whole number from 0 to 100"),
        ({"capacity": "2.5"}, "capacity", "must be a whole number"),
        ({"capacity": "0"}, "capacity", "less than the 1 coaches your organiser counts"),
        ({"online": "perhaps"}, "online", "online 'perhaps' must be true or false"),
        ({"bio": "x" * 1001}, "bio", "bio is 1,001 characters long; at most 1,000"),
        ({"bio": "bell\x07"}, "bio", "control character"),
        ({"availability": "tue_eve;" * 200}, "availability", "at most 1,000 are allowed"),
        ({"name": "Someone Else"}, "name", "'name' cannot be changed here"),
        ({"postcode": "SW1A 2AA"}, "postcode", "'postcode' cannot be changed here"),
        ({"online": "true", "travel_km": "-3"}, "travel_km", "travel_km '-3'"),
    ],
)
def test_a_bad_edit_names_its_field_and_changes_nothing(store, listed, changes, field, fragment):
    before, catalog = store.version(), store.public_catalog()
    with pytest.raises(InvalidInput) as raised:
        store.apply_edit("p001", changes, now=EDITED_AT)
    assert raised.value.extra["field"] == field
    assert fragment in raised.value.message
    assert [p["field"] for p in raised.value.extra["problems"]] == [field]
    assert store.version() == before and store.public_catalog().providers == catalog.providers
    assert store.editable_view("p001").edited == {}


def test_every_bad_field_is_listed_at_once(store, listed):
    with pytest.raises(InvalidInput) as raised:
        store.apply_edit("p001", {"capacity": "lots", "online": "maybe", "bio": "ok"}, now=EDITED_AT)
    assert raised.value.extra["field"] == "capacity"
    assert [p["field"] for p in raised.value.extra["problems"]] == ["capacity", "online"]


def test_saving_an_untouched_form_records_nothing(store, listed):
    before = store.version()
    view = store.editable_view("p001")
    after = store.apply_edit(
        "p001",
        {"availability": ";".join(reversed(view.availability)), "capacity": str(view.capacity),
         "travel_km": "15.0", "events": list(view.events), "online": "no", "bio": view.bio},
        now=EDITED_AT,
    )  # fmt: skip
    assert after.edited == {} and store.version() == before


def test_going_back_to_the_files_value_undoes_the_edit(store, listed, import_csv):
    store.apply_edit("p001", {"capacity": "6"}, now=EDITED_AT)
    store.apply_edit("p001", {"capacity": "4"}, now=LATER)
    assert store.editable_view("p001").edited == {"capacity": LATER}
    assert store.apply_edit("p001", {"capacity": "3"}, now=LATER).edited == {}
    report = import_csv([{**listed[1], "capacity": "5"}])
    assert report.edit_notices == () and public(store, "p001").capacity == 5


@pytest.mark.parametrize("provider_id", ["nobody", "p002"])
def test_unknown_and_unlisted_providers_cannot_edit(store, listed, import_csv, provider_id):
    import_csv([{**listed[2], "consent": "false"}])
    with pytest.raises(ProviderNotFound):
        store.apply_edit(provider_id, {"capacity": "5"}, now=EDITED_AT)
    with pytest.raises(ProviderNotFound):
        store.editable_view(provider_id)


def test_editable_view_is_the_providers_own_and_nothing_private(store, listed):
    store.apply_edit("p001", {"bio": "Mentor of hurdlers.", "online": "true"}, now=EDITED_AT)
    with store.engine.begin() as conn:
        places.ensure_row(store.engine, "p001")
        places.set_paused(conn, "p001", True, EDITED_AT)
    view = store.editable_view("p001")
    data = view.to_dict()
    assert data == {
        "provider_id": "p001", "name": "Provider 1", "availability": ["tue_eve", "sat_am"], "capacity": 3,
        "active_coaches": 1, "travel_km": 15.0, "events": ["hurdles", "sprints"], "online": True,
        "bio": "Mentor of hurdlers.", "paused": True,
        "edited": {"bio": "2026-12-01T09:30:00", "online": "2026-12-01T09:30:00"},
    }  # fmt: skip
    assert "example.org" not in repr(data) and "NE21" not in repr(data)


def test_every_server_sees_an_edit_through_the_version(settings, store, listed):
    from findsupport.catalog import CatalogStore

    other = CatalogStore.open(settings)  # a second server on the same database
    loaded = other.public_catalog()
    store.apply_edit("p000", {"capacity": "8"}, now=EDITED_AT)
    assert other.version() != loaded.version
    assert other.public_catalog().get("p000").capacity == 8


def test_edits_racing_on_one_provider_all_land(store, listed):
    fields = {"capacity": [str(n) for n in range(4, 12)], "travel_km": [str(n) for n in range(30, 38)]}

    def edit(field):
        for value in fields[field]:
            store.apply_edit("p001", {field: value}, now=EDITED_AT)

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(edit, fields))
    view = store.editable_view("p001")
    assert (view.capacity, view.travel_km, set(view.edited)) == (11, 37.0, {"capacity", "travel_km"})
    assert public(store, "p001").capacity == 11


@given(changes=st.dictionaries(st.sampled_from([*EDITABLE_FIELDS, "name", "email"]), st.one_of(
    st.text(max_size=60), st.lists(st.sampled_from([*taxonomy.SLOTS, *taxonomy.EVENTS, "x"]), max_size=5),
    st.booleans(), st.floats(allow_nan=True), st.integers(-5, 500), st.none())))
@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_input_is_either_a_valid_change_or_an_invalid_input(changes):
    try:
        values = parse_changes(changes, Settings())
    except InvalidInput as exc:
        assert exc.extra["field"] in {p["field"] for p in exc.extra["problems"]}
        assert all(p["message"] for p in exc.extra["problems"])
        return
    assert set(values) == set(changes) <= set(EDITABLE_FIELDS)
    for field, value in values.items():
        if field in ("availability", "events"):
            assert isinstance(value, str)


# ---------------------------------------------------------------------- imports versus edits


def test_reimporting_the_same_file_keeps_the_edit(store, listed, import_csv):
    store.apply_edit("p001", {"availability": "mon_am", "bio": "Mine."}, now=EDITED_AT)
    report = import_csv(listed)
    assert (report.record.updated, report.record.unchanged, report.edit_notices) == (0, 3, ())
    assert public(store, "p001").availability == ("mon_am",) and public(store, "p001").bio == "Mine."
    assert store.editable_view("p001").edited == {"availability": EDITED_AT, "bio": EDITED_AT}


def test_a_file_that_reorders_a_list_has_not_changed_it(store, listed, import_csv):
    store.apply_edit("p001", {"availability": "mon_am"}, now=EDITED_AT)
    report = import_csv([{**listed[1], "availability": "sat_am;tue_eve"}])
    assert report.edit_notices == () and public(store, "p001").availability == ("mon_am",)


def test_a_file_that_changes_the_field_wins_and_says_so(store, listed, import_csv):
    store.apply_edit("p001", {"availability": "mon_am", "capacity": "5"}, now=EDITED_AT)
    report = import_csv([{**listed[1], "availability": "wed_pm"}])
    assert [n.describe() for n in report.edit_notices] == [
        "p001: availability: the file's value replaces the provider's own edit of 2026-12-01"
    ]
    assert "1 of the providers' own edits replaced by the file or discarded" in report.summary()
    assert public(store, "p001").availability == ("wed_pm",)
    assert public(store, "p001").capacity == 5  # the other edit stands
    assert store.editable_view("p001").edited == {"capacity": EDITED_AT}
    assert store.edit_notices(report.record.id) == list(report.edit_notices)
    assert import_csv([{**listed[1], "availability": "wed_pm"}]).edit_notices == ()  # reported once


def test_a_file_that_changes_another_field_keeps_the_edit(store, listed, import_csv):
    store.apply_edit("p001", {"travel_km": "40"}, now=EDITED_AT)
    report = import_csv([{**listed[1], "club": "Valley AC", "capacity": "4"}])
    assert report.edit_notices == () and report.record.updated == 1
    provider = public(store, "p001")
    assert (provider.travel_km, provider.club, provider.capacity) == (40.0, "Valley AC", 4)


def test_a_file_that_agrees_with_the_edit_absorbs_it(store, listed, import_csv):
    store.apply_edit("p001", {"online": "true"}, now=EDITED_AT)
    report = import_csv([{**listed[1], "online": "yes"}])
    assert report.edit_notices == () and public(store, "p001").online is True
    assert store.editable_view("p001").edited == {}


def test_a_capacity_edit_gives_way_when_the_file_counts_more_coaches(store, listed, import_csv):
    store.apply_edit("p001", {"capacity": "2"}, now=EDITED_AT)
    report = import_csv([{**listed[1], "active_coaches": "3"}])
    (notice,) = report.edit_notices
    assert notice.describe() == (
        "p001: capacity: the file's value replaces the provider's own edit of 2026-12-01 "
        "(the file's active_coaches is more than the edited capacity)"
    )
    assert (public(store, "p001").capacity, public(store, "p001").active_coaches) == (3, 3)


def test_replace_dropping_a_provider_with_edits_reports_each_edit(store, listed, import_csv):
    store.apply_edit("p002", {"bio": "Gone soon.", "events": "throws"}, now=EDITED_AT)
    report = import_csv(listed[:2], replace=True)
    assert report.record.removed == 1
    assert [n.describe() for n in report.edit_notices] == [
        f"p002: {field}: the provider's own edit of 2026-12-01 is discarded: --replace removed the provider "
        "(their id is not in the file)"
        for field in ("events", "bio")
    ]
    with store.engine.connect() as conn:
        assert edits.edited_fields(conn, "p002") == {}


def test_import_prints_every_notice(cli_env, tmp_path, capsys):
    from findsupport.catalog import CatalogStore
    from findsupport.config import load_settings

    rows = catalogue_rows(2)
    assert main(["import", str(write_csv(tmp_path / "a.csv", rows)), "--quiet"]) == 0
    store = CatalogStore.open(load_settings({"data_dir": cli_env["FINDSUPPORT_DATA_DIR"]}, environ={}))
    store.apply_edit("p001", {"travel_km": "30"}, now=EDITED_AT)
    capsys.readouterr()
    assert main(["import", str(write_csv(tmp_path / "b.csv", [{**rows[1], "travel_km": "10"}])), "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[0] == "p001: travel_km: the file's value replaces the provider's own edit of 2026-12-01"
    assert err == ""


# ---------------------------------------------------------------------- withdrawal


def test_withdrawal_deletes_the_provider_and_keeps_only_a_tombstone(store, listed, import_csv):
    store.apply_edit("p001", {"bio": "Private thoughts."}, now=EDITED_AT)
    import_csv([{**listed[1], "bio": "Operator's bio."}])  # leaves a notice naming p001
    places.ensure_row(store.engine, "p001")
    before = store.version()
    withdrawal = store.withdraw("p001", now=LATER)
    assert (withdrawal.provider_id, withdrawal.was_listed, withdrawal.withdrawn_at) == ("p001", True, LATER)
    assert withdrawal.contact.email == "provider1@example.org" and "example.org" not in repr(withdrawal)
    assert store.version() != before
    assert "p001" not in store.public_catalog()
    with pytest.raises(ProviderNotFound):
        store.public_catalog().get("p001")
    with pytest.raises(ProviderNotFound):
        store.get_private("p001")
    assert store.contact_for("p001") is None and store.provider_ids_for_email("provider1@example.org") == []
    with pytest.raises(ProviderNotFound):
        store.withdraw("p001", now=LATER)
    with store.engine.connect() as conn:
        for table, column in [(edits.edits_table, "provider_id"), (edits.edit_notices_table, "provider_id"),
                              (places.places_table, "provider_id")]:
            assert conn.execute(sa.select(sa.func.count()).where(table.c[column] == "p001")).scalar() == 0
        (tombstone,) = conn.execute(sa.select(edits.withdrawals_table)).all()
    assert "p001" not in tombstone.id_digest and tombstone.withdrawn_on == datetime(2026, 12, 3)
    assert store.withdrawn_ids(["p000", "p001"]) == {"p001": datetime(2026, 12, 3)}


def test_an_unlisted_provider_can_still_withdraw(store, listed, import_csv):
    import_csv([{**listed[2], "consent": "false"}])
    assert store.withdraw("p002", now=LATER).was_listed is False
    assert store.counts().providers == 2


def test_a_reimport_of_a_withdrawn_id_is_rejected_until_readmitted(store, listed, import_csv, directory, settings,
                                                                   tmp_path):
    from findsupport.catalog import import_file

    store.withdraw("p001", now=LATER)
    report = import_csv(listed)
    assert report.rejected_rows == 1 and report.record.added == 0
    (rejection,) = report.rejections
    assert (rejection.number, rejection.column, rejection.provider_id) == (3, "id", "p001")
    assert rejection.reason.startswith("p001 withdrew consent through their manage page on 2026-12-03")
    assert "--readmit p001" in rejection.reason
    assert "p001" not in store.public_catalog()
    assert import_csv(listed, replace=True).record.removed == 0
    readmitted = import_file(write_csv(tmp_path / "again.csv", listed), store, directory, settings, readmit=["p001"])
    assert readmitted.ok and readmitted.record.added == 1 and "p001" in store.public_catalog()
    assert store.withdrawn_ids(["p001"]) == {}


def test_the_store_itself_refuses_a_withdrawn_id(store, listed, directory, settings):
    from findsupport.catalog import validate_row

    provider = validate_row(good_row(id="p001"), directory, settings)
    store.withdraw("p001", now=LATER)
    version = store.version()
    with pytest.raises(CatalogError, match="withdrew consent through their manage page"):
        store.write([provider], source="test", format="demo")
    assert store.version() == version and store.counts().providers == 2

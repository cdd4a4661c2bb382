"""Cut-over health from the database: hand-made hourly series on SQLite and PostgreSQL, and the API."""

from __future__ import annotations

import datetime as dt

import pytest

from monitor import create_app
from monitor.cutover import cutover_document
from monitor.db import make_engine, session_factory
from monitor.models import CutoverTask, Meta
from tests.conftest import make_settings
from tests.cutover_helpers import add_agreement, add_hours, hours

UTC = dt.UTC
CET = dt.timezone(dt.timedelta(hours=1))
CUTOVER = {"start": dt.datetime(2020, 11, 28, 8, tzinfo=CET), "end": dt.datetime(2020, 11, 29, 18, tzinfo=CET),
           "frozen_zone_start": dt.datetime(2020, 11, 20, tzinfo=CET)}
NOW = dt.datetime(2020, 11, 29, 20, 30, tzinfo=UTC)  # 21:30 CET: three complete hours after the end
OBSERVED = hours(dt.datetime(2020, 11, 29, 17, tzinfo=UTC), 3)
# A week earlier, 06:00Z to 20:00Z: the baseline of every span the tests look at.
WEEK_BEFORE = hours(dt.datetime(2020, 11, 22, 6, tzinfo=UTC), 14)
OUTAGE = hours(dt.datetime(2020, 11, 29, 11, tzinfo=UTC), 6)


@pytest.fixture
def weekend(tmp_path, db_url):
    """A database with the weekend's series and settings holding the window."""
    settings = make_settings(tmp_path, db_url, cutover=CUTOVER)
    engine = make_engine(settings.database.url)
    with session_factory(engine)() as s:
        # 101 comes back: 100 an hour before, nothing during the outage, 90 an hour after the end.
        a = add_agreement(s, "a101", "101")
        add_hours(s, a, WEEK_BEFORE, 100)
        add_hours(s, a, OUTAGE, 0)
        add_hours(s, a, OBSERVED, 90)
        add_hours(s, a, [dt.datetime(2020, 11, 29, 20, tzinfo=UTC)], 5)  # the hour not ended yet
        add_agreement(s, "a101-new", "101", services=("SF1601",),
                      first_seen_at=dt.datetime(2020, 11, 27, 9, tzinfo=UTC))
        add_agreement(s, "a101-later", "101", first_seen_at=dt.datetime(2020, 12, 1, tzinfo=UTC))
        s.add_all([CutoverTask(municipality_code="101", task="Skift endpoint", done=True),
                   CutoverTask(municipality_code="101", task="Nye certifikater", done=False)])
        # 147: one integration stays silent, the other is back in full.
        a = add_agreement(s, "a147-silent", "147", supplier="Netcompany",
                          changed_at=dt.datetime(2020, 11, 25, tzinfo=UTC))
        add_hours(s, a, WEEK_BEFORE, 50)
        a = add_agreement(s, "a147-ok", "147")
        add_hours(s, a, WEEK_BEFORE, 50)
        add_hours(s, a, OBSERVED, 50)
        # 151: calls are back but 30 % fail.
        a = add_agreement(s, "a151", "151")
        add_hours(s, a, WEEK_BEFORE, 100, errors=0)
        add_hours(s, a, OBSERVED, 100, errors=30)
        # 153: only calls after the move, no baseline at all.
        a = add_agreement(s, "a153", "153")
        add_hours(s, a, OBSERVED, 20)
        # 155: a small municipality at night.
        a = add_agreement(s, "a155", "155")
        add_hours(s, a, WEEK_BEFORE, 3)
        add_hours(s, a, OBSERVED, 1)
        # 157: rows arrive, all zero.
        a = add_agreement(s, "a157", "157")
        add_hours(s, a, WEEK_BEFORE, 100)
        add_hours(s, a, OBSERVED, 0)
        s.commit()
    yield settings, engine
    engine.dispose()


def document(weekend, now=NOW):
    settings, engine = weekend
    with session_factory(engine)() as s:
        return cutover_document(s, settings, now)


def by_code(doc):
    return {m["code"]: m for m in doc["municipalities"]}


def test_all_98_municipalities_are_listed(weekend):
    assert len(document(weekend)["municipalities"]) == 98


@pytest.mark.parametrize(("code", "status", "observed", "baseline", "call_ratio", "error_ratio"), [
    ("101", "green", 270, 300, 0.9, None),
    ("147", "yellow", 150, 300, 0.5, None),
    ("151", "red", 300, 300, 1.0, 0.3),
    ("153", "unknown", 60, 0, None, None),
    ("155", "not_judged", 3, 9, None, None),
    ("157", "red", 0, 300, 0.0, None),
    ("159", "unknown", 0, 0, None, None),
])
def test_each_municipality_is_judged_from_the_hours_after_the_end(weekend, code, status, observed, baseline,
                                                                  call_ratio, error_ratio):
    m = by_code(document(weekend))[code]
    assert (m["status"], m["observed_calls"], m["baseline_calls"]) == (status, observed, baseline)
    assert m["call_ratio"] == (None if call_ratio is None else pytest.approx(call_ratio))
    assert m["error_ratio"] == (None if error_ratio is None else pytest.approx(error_ratio))


def test_the_watermark_ignores_the_hour_that_has_not_ended(weekend):
    doc = document(weekend)
    assert doc["watermark"] == "2020-11-29T20:00:00+00:00"
    assert doc["window"]["observed_from"] == "2020-11-29T17:00:00+00:00"
    assert doc["window"]["source"] == "config"


def test_a_silent_agreement_names_its_it_system_supplier_and_services(weekend):
    assert by_code(document(weekend))["147"]["silent_agreements"] == [
        {"agreement_uuid": "a147-silent", "it_system": {"uuid": "sys-a147-silent", "name": "System a147-silent"},
         "supplier": "Netcompany", "services": ["SF1520"], "baseline_calls": 150, "acknowledgement": None}]


def test_agreements_new_or_changed_in_the_frozen_zone_are_listed_up_to_now(weekend):
    doc = by_code(document(weekend))
    assert [(c["agreement_uuid"], c["change"], c["services"]) for c in doc["101"]["frozen_zone_changes"]] == [
        ("a101-new", "new", ["SF1601"])]
    change = doc["147"]["frozen_zone_changes"][0]
    assert (change["change"], change["status"], change["changed_at"]) == (
        "changed", "active", "2020-11-25T00:00:00+00:00")
    assert doc["151"]["frozen_zone_changes"] == []


def test_task_completion_is_counted_per_municipality(weekend):
    doc = document(weekend)
    assert (by_code(doc)["101"]["tasks_done"], by_code(doc)["101"]["tasks_total"]) == (1, 2)
    assert (doc["national"]["tasks_done"], doc["national"]["tasks_total"]) == (1, 2)


def test_within_the_first_hour_after_the_end_everyone_with_a_baseline_is_pending(weekend):
    doc = document(weekend, now=dt.datetime(2020, 11, 29, 17, 45, tzinfo=UTC))
    assert by_code(doc)["157"]["status"] == "pending"
    assert by_code(doc)["153"]["status"] == "unknown"  # no baseline data: the first rule wins


def test_during_the_window_everyone_with_a_baseline_is_in_window(weekend):
    doc = document(weekend, now=dt.datetime(2020, 11, 29, 12, 30, tzinfo=UTC))
    assert doc["window"]["in_window"] is True
    assert {m["status"] for m in doc["municipalities"]} == {"in_window", "unknown"}


def test_the_national_view_counts_statuses_and_groups_by_service_and_supplier(weekend):
    national = document(weekend)["national"]
    assert national["status_counts"]["red"] == 2 and national["status_counts"]["yellow"] == 1
    assert sum(national["status_counts"].values()) == 98
    assert (national["observed_calls"], national["baseline_calls"]) == (270 + 150 + 300 + 60 + 3, 1209)
    suppliers = {s["name"]: s for s in national["suppliers"]}
    assert suppliers["Netcompany"]["silent_agreements"] == 1 and suppliers["Netcompany"]["observed_calls"] == 0
    assert {s["id"] for s in national["services"]} == {"SF1520"}


def test_the_baseline_across_the_october_change_uses_the_same_wall_clock_hours(tmp_path, db_url):
    settings = make_settings(tmp_path, db_url)
    engine = make_engine(settings.database.url)
    with session_factory(engine)() as s:
        a = add_agreement(s, "dst", "101")
        # Each hour from 24 Oct 19:00Z to 25 Oct 03:00Z gets a distinct power of two.
        for i, h in enumerate(hours(dt.datetime(2020, 10, 24, 19, tzinfo=UTC), 9)):
            add_hours(s, a, [h], 2 ** i)
        add_hours(s, a, hours(dt.datetime(2020, 10, 31, 21, tzinfo=UTC), 6), 1000)
        s.commit()
        doc = cutover_document(s, settings, dt.datetime(2020, 11, 1, 3, 30, tzinfo=UTC))
    engine.dispose()
    # Observed 31 Oct 22:00 to 1 Nov 04:00 CET; the same wall-clock hours a week earlier are
    # 20, 21, 22, 23Z on 24 Oct and 00Z (the first 02:00) and 02Z (03:00 CET) on 25 Oct.
    assert doc["window"]["baseline_hours"] == [
        "2020-10-24T20:00:00+00:00", "2020-10-24T21:00:00+00:00", "2020-10-24T22:00:00+00:00",
        "2020-10-24T23:00:00+00:00", "2020-10-25T00:00:00+00:00", "2020-10-25T02:00:00+00:00"]
    m = by_code(doc)["101"]
    assert m["baseline_calls"] == 2 + 4 + 8 + 16 + 32 + 128
    assert m["observed_calls"] == 6000


def test_the_demo_window_is_used_when_the_config_sets_none(tmp_path, db_url):
    settings = make_settings(tmp_path, db_url)
    engine = make_engine(settings.database.url)
    with session_factory(engine)() as s:
        s.add(Meta(key="demo", value={"cutover_start": "2020-11-28T08:00:00+01:00",
                                      "cutover_end": "2020-11-29T18:00:00+01:00",
                                      "frozen_zone_start": "2020-11-20T00:00:00+01:00", "seed": 1}))
        s.commit()
        window = cutover_document(s, settings, NOW)["window"]
        configured = cutover_document(s, make_settings(tmp_path, db_url, cutover=CUTOVER | {
            "end": dt.datetime(2020, 11, 29, 20, tzinfo=CET)}), NOW)["window"]
    engine.dispose()
    assert (window["source"], window["end"]) == ("demo", "2020-11-29T17:00:00+00:00")
    assert window["frozen_zone_start"] == "2020-11-19T23:00:00+00:00"
    assert (configured["source"], configured["end"]) == ("config", "2020-11-29T19:00:00+00:00")


def test_an_empty_database_gives_a_document_with_every_municipality_unknown(session, settings, now):
    doc = cutover_document(session, settings, now)
    assert doc["watermark"] is None and doc["window"]["source"] is None
    assert {m["status"] for m in doc["municipalities"]} == {"unknown"}


def test_the_api_answers_with_the_document_at_the_given_time(weekend):
    settings, _ = weekend
    app = create_app(settings)
    response = app.test_client().get("/api/v1/cutover?now=2020-11-29T21:30:00%2B01:00")
    assert response.status_code == 200
    doc = response.get_json()
    assert doc["now"] == "2020-11-29T20:30:00+00:00"
    assert by_code(doc)["157"]["status"] == "red"
    assert doc["phase"] == "after"
    assert by_code(doc)["155"]["status"] == "not_judged" and doc["national"]["status_counts"]["not_judged"] == 1
    during = app.test_client().get("/api/v1/cutover?now=2020-11-28T12:00:00%2B01:00").get_json()
    assert during["phase"] == "in_window"
    assert {(m["observed_calls"], m["call_ratio"]) for m in during["municipalities"]} == {(None, None)}
    app.extensions["monitor"].engine.dispose()


@pytest.mark.parametrize(("value", "message"), [
    ("yesterday", "now: not an ISO 8601 date-time with offset: 'yesterday'"),
    ("2020-11-29T21:30:00", "now: give an offset, e.g. 2020-11-29T21:30:00+01:00"),
])
def test_the_api_refuses_a_now_it_cannot_read(client, value, message):
    response = client.get(f"/api/v1/cutover?now={value}")
    assert response.status_code == 400
    assert response.get_json() == {"error": message}


def test_a_plus_sign_left_unescaped_in_now_is_still_an_offset(client):
    response = client.get("/api/v1/cutover?now=2020-11-29T21:30:00+01:00")
    assert response.status_code == 200 and response.get_json()["now"] == "2020-11-29T20:30:00+00:00"

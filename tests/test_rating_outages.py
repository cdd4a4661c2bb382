"""Method 2020.12: planned outages cover days without data; other gaps still make results inconclusive.

Pure cases first (days of an outage, the coverage rule, a property), then the same rules
through the database with the `[cutover]` window and `[[rating.planned_outages]]`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from monitor import daytable
from monitor.models import AgreementDay, RatingRun
from monitor.rating.method import (
    REASON_MISSING_DATA,
    AgreementInput,
    MunicipalityInput,
    Parameters,
    rate_one,
    uncovered_days,
    window,
)
from monitor.rating.outages import Outage, outage_days
from monitor.rating.service import MethodChanged, assert_method_consistent, ratings_document, store_snapshot
from monitor.settings import ConfigError, PlannedOutage, from_mapping
from tests.conftest import make_settings
from tests.rating_helpers import AS_OF, add_agreement, add_daily, cover_window, days_before, set_municipality
from tests.test_rating_method import municipalities_st

CPH = dt.timezone(dt.timedelta(hours=1))  # Copenhagen in November (CET)
P = Parameters()
OLD = dataclasses.replace(P, planned_outages_covered=False)  # method 2020.11


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


# Which days an outage covers ------------------------------------------------------------------

@pytest.mark.parametrize(("start", "end", "days"), [
    # The demo's shape: 34 hours from Saturday 10:00 to Sunday 20:00.
    ("2020-11-28T10:00:00+01:00", "2020-11-29T20:00:00+01:00", ["2020-11-28", "2020-11-29"]),
    # Ending exactly at midnight does not touch the next day.
    ("2020-11-27T22:00:00+01:00", "2020-11-28T00:00:00+01:00", ["2020-11-27"]),
    # Starting a minute before midnight touches that day.
    ("2020-11-27T23:59:00+01:00", "2020-11-28T06:00:00+01:00", ["2020-11-27", "2020-11-28"]),
    # Given in UTC, counted in Copenhagen days: 23:30 UTC is already the next day in Copenhagen.
    ("2020-11-27T23:30:00+00:00", "2020-11-28T01:00:00+00:00", ["2020-11-28"]),
    # Daylight saving: 29 March 2026 has 23 hours, 25 October 2026 has 25.
    ("2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00", ["2026-03-29"]),
    ("2026-10-25T01:30:00+01:00", "2026-10-25T03:00:00+01:00", ["2026-10-25"]),
])
def test_an_outage_covers_the_copenhagen_days_it_overlaps(start, end, days):
    found = outage_days([Outage(at(start), at(end), "x")], dt.date(2020, 1, 1), dt.date(2027, 1, 1))
    assert [d.isoformat() for d in found] == days


def test_outage_days_stay_inside_the_window_and_collect_every_reason():
    outages = [Outage(at("2020-11-20T08:00:00+01:00"), at("2020-11-25T08:00:00+01:00"), "skift"),
               Outage(at("2020-11-22T01:00:00+01:00"), at("2020-11-22T02:00:00+01:00"), "vedligehold"),
               Outage(at("2020-11-22T05:00:00+01:00"), at("2020-11-22T06:00:00+01:00"), "vedligehold")]
    found = outage_days(outages, dt.date(2020, 11, 21), dt.date(2020, 11, 23))
    assert found == {dt.date(2020, 11, 21): ("skift",), dt.date(2020, 11, 22): ("skift", "vedligehold"),
                     dt.date(2020, 11, 23): ("skift",)}


# The coverage rule ----------------------------------------------------------------------------

def test_only_days_without_data_outside_planned_outages_are_uncovered():
    missing = [dt.date(2020, 11, 3), dt.date(2020, 11, 20)]
    assert uncovered_days(missing, [dt.date(2020, 11, 20), dt.date(2020, 11, 21)], P) == [dt.date(2020, 11, 3)]
    # Method 2020.11 knew no planned outages: every day without data counts.
    assert uncovered_days(missing, [dt.date(2020, 11, 20)], OLD) == missing


def agreement(uuid: str, system: str, calls: int, services: tuple[str, ...] = ("SF1520",),
              supplier: str | None = None) -> AgreementInput:
    return AgreementInput(uuid, system, frozenset(services), None, calls, calls, system.upper(), supplier)


def test_a_missing_day_outside_any_planned_outage_still_makes_the_result_inconclusive_naming_it():
    m = MunicipalityInput("101", "København", 1000, True, (agreement("a", "sbsys", 2900), agreement("b", "nexus", 0)),
                          2900)
    r = rate_one(m, AS_OF, P, missing_days=[dt.date(2020, 11, 3), dt.date(2020, 11, 21)],
                 planned_days=[dt.date(2020, 11, 21)])
    assert r.score is None and r.reason == REASON_MISSING_DATA
    assert r.reason_text == "Kaldsdata mangler for 1 dag i vinduet: 2020-11-03"
    assert r.planned_days == (dt.date(2020, 11, 21),)
    # It still carries every input it can: counts, x of each part, the redundant agreement, the hints.
    assert r.parts["calls_per_citizen"].inputs["calls"] == 2900
    assert r.parts["it_systems_with_calls"].x == 0.5
    assert r.parts["service_agreements"].inputs["redundant"] == 1
    assert {h.kind for h in r.hints} >= {"close_unused", "silent_it_systems"}
    assert all(h.gain is None for h in r.hints)  # no score, so no points to promise


def test_hints_name_the_it_system_its_services_and_supplier_not_the_agreement():
    m = MunicipalityInput("101", "København", 1000, True, (
        agreement("a-calls", "nexus", 500, supplier="Systematic"),
        agreement("u-1500", "sbsys", 0, ("SF1500",), "Fujitsu"),
        agreement("u-1470", "sbsys", 0, ("SF1470",), "Fujitsu")), 500,
        pending=(agreement("p-1", "acadre", 0, ("SF1520",), "Formpipe"),))
    hints = {h.kind: h for h in rate_one(m, AS_OF, P).hints}
    unused = hints["close_unused"]
    assert "SBSYS (Fujitsu): SF1470, SF1500." in unused.text_da
    assert "u-1500" not in unused.text_da and unused.items == ("u-1470", "u-1500")
    assert "SBSYS (Fujitsu): SF1470, SF1500." in hints["silent_it_systems"].text_en
    waiting = hints["pending_approval"]
    assert waiting.items == ("p-1",) and "ACADRE (Formpipe): SF1520" in waiting.text_da


@given(municipalities_st, st.sets(st.integers(1, 30)), st.sampled_from([P, OLD]))
@settings(max_examples=200, deadline=None)
def test_adding_a_planned_outage_never_changes_a_result_whose_window_has_data_on_every_day(m, offsets, params):
    planned = [AS_OF - dt.timedelta(days=i) for i in sorted(offsets)]
    before = rate_one(m, AS_OF, params)
    after = rate_one(m, AS_OF, params, missing_days=[], planned_days=planned)
    assert dataclasses.replace(after, planned_days=()) == before


@given(st.sets(st.integers(1, 30), min_size=1), st.sets(st.integers(1, 30)))
def test_a_result_is_conclusive_exactly_when_every_day_without_data_is_planned(missing, planned):
    m = MunicipalityInput("101", "København", 1000, True, (agreement("a", "sbsys", 100),), 100)
    as_days = [AS_OF - dt.timedelta(days=i) for i in sorted(missing)]
    r = rate_one(m, AS_OF, P, as_days, [AS_OF - dt.timedelta(days=i) for i in planned])
    assert (r.score is not None) == (missing <= planned)


# Through the database ---------------------------------------------------------------------------

OUTAGE_DAY = dt.date(2020, 11, 21)


@pytest.fixture
def outage_country(session):
    """København (1,000 citizens, access control): one agreement calling 100 a day, one never.

    The platform was stopped on 21 November: that day has no count at all. Every other day of
    the 90 before AS_OF has its counts.
    """
    set_municipality(session, "101", population=1000, user_access_control=True)
    busy = add_agreement(session, "a-busy", it_system="sys-1")
    add_agreement(session, "b-silent", it_system="sys-2")
    add_daily(session, busy, [d for d in days_before(AS_OF, 90) if d != OUTAGE_DAY], 100)
    cover_window(session)
    session.execute(delete(AgreementDay).where(AgreementDay.day == OUTAGE_DAY))
    daytable.refresh_days(session, OUTAGE_DAY, OUTAGE_DAY)
    session.commit()
    return session


def with_cutover(settings, start: str, end: str):  # type: ignore[no-untyped-def]
    return dataclasses.replace(settings, cutover=dataclasses.replace(settings.cutover, start=at(start), end=at(end)))


def test_a_planned_outage_day_leaves_the_result_conclusive_with_hand_computed_values(outage_country, settings):
    # The cut-over ran from Friday 20 November 22:00 to Saturday 06:00: it overlaps the 20th and 21st.
    configured = with_cutover(settings, "2020-11-20T22:00:00+01:00", "2020-11-21T06:00:00+01:00")
    doc = ratings_document(outage_country, configured, AS_OF)
    r = next(r for r in doc["ratings"] if r["municipality"]["code"] == "101")
    assert doc["coverage"]["complete"] is True and doc["coverage"]["missing_days"] == []
    assert doc["coverage"]["planned_outage_days"] == [
        {"day": "2020-11-20", "reasons": ["Skift af driftscenter"], "without_data": False},
        {"day": "2020-11-21", "reasons": ["Skift af driftscenter"], "without_data": True}]
    assert r["planned_outage_days"] == ["2020-11-20", "2020-11-21"]
    # By hand: the window 29 Oct – 27 Nov has 29 days of 100 calls and the outage day's 0.
    sa, cpc, its = (r["parts"][p] for p in ("service_agreements", "calls_per_citizen", "it_systems_with_calls"))
    assert cpc["inputs"]["calls"] == 2900
    # Service agreements: 2 active, 1 redundant (no calls in 90 days), access control 1.
    volume = math.log(2) / math.log(201)                        # 0.1307010
    x_sa = 0.4 * volume + 0.4 * (1 - 1 / 2) + 0.2 * 1           # 0.4522804
    # Calls per citizen: 2900 / 1000 · 30 / 30 = 2.9 on the log scale from 0.5 to 50.
    x_cpc = (math.log10(2.9) - math.log10(0.5)) / 2             # 0.3817140
    x_its = 1 / 2                                               # sys-1 called, sys-2 did not
    assert sa["inputs"]["x"] == pytest.approx(x_sa, abs=1e-12) and x_sa == pytest.approx(0.4522804, abs=1e-7)
    assert cpc["inputs"]["x"] == pytest.approx(x_cpc, abs=1e-12) and x_cpc == pytest.approx(0.3817140, abs=1e-7)
    assert its["inputs"]["x"] == x_its
    # 1 + 9 · (0.3 · 0.4522804 + 0.2 · 0.3817140 + 0.5 · 0.5) = 1 + 9 · 0.4620269 = 5.158242
    assert r["score"] == pytest.approx(1 + 9 * (0.3 * x_sa + 0.2 * x_cpc + 0.5 * x_its), abs=1e-12)
    assert r["score"] == pytest.approx(5.158242, abs=1e-6)
    assert r["status"] == "ok" and r["rank"] == 1


def test_without_a_planned_outage_the_same_gap_makes_every_result_inconclusive(outage_country, settings):
    doc = ratings_document(outage_country, settings, AS_OF)
    assert doc["coverage"] == {"complete": False, "missing_days": ["2020-11-21"], "planned_outage_days": []}
    r = next(r for r in doc["ratings"] if r["municipality"]["code"] == "101")
    assert r["score"] is None and "2020-11-21" in r["reason_text"]
    # Every input and hint is still there.
    assert r["parts"]["calls_per_citizen"]["inputs"]["calls"] == 2900
    assert {h["kind"] for h in r["hints"]} >= {"close_unused", "silent_it_systems"}


def test_a_configured_planned_outage_covers_the_day_like_the_cut_over(outage_country, tmp_path, db_url):
    configured = make_settings(tmp_path, db_url, rating={"planned_outages": [
        {"start": at("2020-11-21T00:00:00+01:00"), "end": at("2020-11-22T00:00:00+01:00"),
         "reason": "Planlagt vedligehold"}]})
    doc = ratings_document(outage_country, configured, AS_OF)
    assert doc["coverage"]["complete"] is True
    assert doc["coverage"]["planned_outage_days"] == [
        {"day": "2020-11-21", "reasons": ["Planlagt vedligehold"], "without_data": True}]


def test_a_planned_outage_must_end_after_it_starts():
    with pytest.raises(ConfigError, match=r"rating.planned_outages\[0\].end"):
        from_mapping({"rating": {"planned_outages": [
            {"start": at("2020-11-21T06:00:00+01:00"), "end": at("2020-11-21T06:00:00+01:00")}]}}, environ={})
    with pytest.raises(ConfigError, match="offset date-time"):
        from_mapping({"rating": {"planned_outages": [
            {"start": dt.datetime(2020, 11, 21), "end": at("2020-11-22T06:00:00+01:00")}]}}, environ={})
    assert from_mapping({}, environ={}).rating.planned_outages == ()
    assert PlannedOutage(at("2020-11-21T06:00:00+01:00"), at("2020-11-22T06:00:00+01:00")).reason == ""


def test_stored_2020_11_results_stay_and_do_not_stop_the_start_under_2020_12(outage_country, engine, settings):
    old = dataclasses.replace(settings, rating=dataclasses.replace(settings.rating, method_version="2020.11"))
    # A 2020.11 run as the old code stored it: its parameters lack the planned-outage rule.
    old_parameters = {k: v for k, v in settings.rating.parameters().items() if k != "planned_outages_covered"}
    outage_country.add(RatingRun(as_of=AS_OF, revision=1, method_version="2020.11", parameters=old_parameters,
                                 summary={"missing_days": ["2020-11-21"]}, computed_at=at("2020-11-28T06:00:00+01:00")))
    outage_country.commit()
    assert_method_consistent(engine, settings)  # 2020.12 configured: the old version is not compared
    assert store_snapshot(engine, with_cutover(settings, "2020-11-21T00:00:00+01:00",
                                               "2020-11-21T12:00:00+01:00"), AS_OF) == 2
    runs = outage_country.execute(select(RatingRun.revision, RatingRun.method_version).order_by(RatingRun.revision))
    assert runs.all() == [(1, "2020.11"), (2, "2020.12")]
    # Running today's code under the old version number would change what 2020.11 means: refused.
    with pytest.raises(MethodChanged, match="planned_outages_covered"):
        assert_method_consistent(engine, old)


def test_the_window_of_as_of_is_what_the_outage_days_are_counted_in():
    first, last = window(AS_OF, 30)
    found = outage_days([Outage(at("2020-10-01T00:00:00+01:00"), at("2020-12-31T00:00:00+01:00"))], first, last)
    assert list(found)[0] == first and list(found)[-1] == last and len(found) == 30

"""Cut-over health, the pure core: hours, baselines, ratios and the status rules, hand-computed."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.cutover import core
from monitor.cutover.core import AgreementTraffic, Inputs, Window
from monitor.localtime import CPH
from monitor.settings import CutoverSettings

UTC = dt.UTC
SETTINGS = CutoverSettings()  # min_baseline_calls 10, min_municipality_baseline 30, 0.8 / 0.5 / 0.05 / 0.2
# Cut-over weekend: Saturday 28 November 08:00 to Sunday 29 November 18:00 Copenhagen (CET, +01:00).
WINDOW = Window(start=dt.datetime(2020, 11, 28, 7, tzinfo=UTC), end=dt.datetime(2020, 11, 29, 17, tzinfo=UTC),
                frozen_zone_start=dt.datetime(2020, 11, 20, tzinfo=UTC), source="config")


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(("hour", "expected"), [
    # Plain November: seven days earlier is 7·24 hours earlier.
    (utc(2020, 11, 28, 11), utc(2020, 11, 21, 11)),
    # Sunday 1 November 02:00 CET: 25 October 02:00 happened twice; the first (CEST, 00:00Z) counts.
    (utc(2020, 11, 1, 1), utc(2020, 10, 25, 0)),
    # 1 November 04:00 CET is 25 October 04:00 CET, after the change: 7·24 hours earlier.
    (utc(2020, 11, 1, 3), utc(2020, 10, 25, 3)),
    # 1 November 01:00 CET is 25 October 01:00 CEST: 7·24 + 1 hours earlier.
    (utc(2020, 11, 1, 0), utc(2020, 10, 24, 23)),
    # Both 02:00s of 25 October compare with 18 October 02:00 CEST.
    (utc(2020, 10, 25, 0), utc(2020, 10, 18, 0)),
    (utc(2020, 10, 25, 1), utc(2020, 10, 18, 0)),
    # 25 October 04:00 CET compares with 18 October 04:00 CEST: 7·24 + 1 hours earlier.
    (utc(2020, 10, 25, 3), utc(2020, 10, 18, 2)),
    # 5 April 02:00 CEST: 29 March 02:00 never existed (spring change), so there is no baseline.
    (utc(2020, 4, 5, 0), None),
    # 5 April 03:00 CEST is 29 March 03:00 CEST (01:00Z).
    (utc(2020, 4, 5, 1), utc(2020, 3, 29, 1)),
])
def test_the_baseline_is_the_same_copenhagen_wall_clock_hour_a_week_earlier(hour, expected):
    assert core.baseline_hour(hour, 7) == expected


def test_a_doubled_october_hour_is_compared_twice_with_its_first_occurrence():
    observed = [utc(2020, 10, 24, 23), utc(2020, 10, 25, 0), utc(2020, 10, 25, 1), utc(2020, 10, 25, 2)]
    assert [b for _, b in core.compared_hours(observed, 7)] == [
        utc(2020, 10, 17, 23), utc(2020, 10, 18, 0), utc(2020, 10, 18, 0), utc(2020, 10, 18, 1)]


def test_an_hour_whose_baseline_never_existed_is_left_out_of_both_sums():
    observed = [utc(2020, 4, 4, 23), utc(2020, 4, 5, 0), utc(2020, 4, 5, 1)]
    assert core.compared_hours(observed, 7) == [(utc(2020, 4, 4, 23), utc(2020, 3, 29, 0)),
                                                (utc(2020, 4, 5, 1), utc(2020, 3, 29, 1))]


@given(st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2040, 1, 1)),
       st.integers(min_value=1, max_value=60))
def test_a_baseline_hour_always_shows_the_same_wall_clock_time(naive, days):
    hour = core.floor_hour(naive.replace(tzinfo=UTC))
    b = core.baseline_hour(hour, days)
    local = hour.astimezone(CPH)
    if b is not None:
        bl = b.astimezone(CPH)
        assert (bl.hour, bl.minute) == (local.hour, local.minute)
        assert bl.date() == local.date() - dt.timedelta(days=days)
        assert b.minute == 0 and b < hour


@pytest.mark.parametrize(("newest", "now", "expected"), [
    (utc(2020, 11, 29, 19), utc(2020, 11, 29, 20, 30), utc(2020, 11, 29, 20)),
    (None, utc(2020, 11, 29, 20, 30), None),
    # Data for an hour that has not ended yet never moves the watermark past now.
    (utc(2020, 11, 29, 20), utc(2020, 11, 29, 20, 30), utc(2020, 11, 29, 20)),
])
def test_the_watermark_is_the_end_of_the_newest_complete_hour_with_data(newest, now, expected):
    assert core.watermark(newest, now) == expected


@pytest.mark.parametrize(("now", "wm", "expected"), [
    # Long after the window: the six hours before the watermark.
    (utc(2020, 12, 1, 12, 30), utc(2020, 12, 1, 12), [utc(2020, 12, 1, h) for h in range(6, 12)]),
    # Three hours after the end (18:00 CET = 17:00Z): counted from the end, not the outage before it.
    (utc(2020, 11, 29, 20, 30), utc(2020, 11, 29, 20), [utc(2020, 11, 29, h) for h in (17, 18, 19)]),
    # Pending (no complete hour after the end yet): the lookback before the watermark, not judged.
    (utc(2020, 11, 29, 17, 30), utc(2020, 11, 29, 17), [utc(2020, 11, 29, h) for h in range(11, 17)]),
    # In the window: the lookback before the watermark, to show the drop.
    (utc(2020, 11, 28, 12, 30), utc(2020, 11, 28, 12), [utc(2020, 11, 28, h) for h in range(6, 12)]),
    (utc(2020, 11, 28, 12, 30), None, []),
])
def test_observed_hours_are_counted_from_the_end_of_the_window_once_it_has_ended(now, wm, expected):
    assert core.observed_span(WINDOW, now, wm, 6) == expected


def traffic(code="101", *, observed=0, baseline=0, baseline_rows=3, errors=None, status="active",
            uuid="a1", services=("SF1520",), supplier="KMD") -> AgreementTraffic:
    err = {} if errors is None else {"observed_errors": errors, "observed_error_calls": observed,
                                     "observed_error_rows": 3}
    return AgreementTraffic(uuid, code, status, "s-" + uuid, "System " + uuid, supplier, services,
                            observed_calls=observed, baseline_calls=baseline, baseline_rows=baseline_rows, **err)


AFTER = utc(2020, 11, 29, 20, 30)  # three complete hours observed after the end
AFTER_WM = utc(2020, 11, 29, 20)


@pytest.mark.parametrize(("case", "rows", "now", "wm", "expected"), [
    ("no baseline data at all", [traffic(observed=50, baseline=0, baseline_rows=0)], AFTER, AFTER_WM, "unknown"),
    ("no traffic rows at all, even in the window", [], utc(2020, 11, 28, 12), utc(2020, 11, 28, 12), "unknown"),
    ("in the window", [traffic(observed=0, baseline=300)], utc(2020, 11, 28, 12), utc(2020, 11, 28, 12),
     "in_window"),
    ("within the first hour after the end", [traffic(observed=0, baseline=300)], utc(2020, 11, 29, 17, 50),
     utc(2020, 11, 29, 17), "pending"),
    ("after the end, the data still behind", [traffic(observed=0, baseline=300)], utc(2020, 11, 29, 19),
     utc(2020, 11, 29, 17), "pending"),
    ("nothing came back", [traffic(observed=0, baseline=300)], AFTER, AFTER_WM, "red"),
    ("a third came back, significantly below half", [traffic(observed=100, baseline=300)], AFTER, AFTER_WM,
     "red"),
    ("just under half came back, within the noise of half", [traffic(observed=149, baseline=300)], AFTER,
     AFTER_WM, "yellow"),
    ("a fifth of the calls fail", [traffic(observed=300, baseline=300, errors=61)], AFTER, AFTER_WM, "red"),
    ("exactly half came back", [traffic(observed=150, baseline=300)], AFTER, AFTER_WM, "yellow"),
    ("one agreement went silent", [traffic(observed=300, baseline=300, uuid="a1"),
                                   traffic(observed=0, baseline=10, uuid="a2")], AFTER, AFTER_WM, "yellow"),
    ("some calls fail", [traffic(observed=300, baseline=300, errors=16)], AFTER, AFTER_WM, "yellow"),
    ("back to normal, on both thresholds", [traffic(observed=240, baseline=300, errors=12)], AFTER, AFTER_WM, "green"),
    ("a small municipality at night: ratio not judged", [traffic(observed=1, baseline=29)], AFTER, AFTER_WM,
     "not_judged"),
    ("a small municipality at night with no calls: still not judged", [traffic(observed=0, baseline=9)], AFTER,
     AFTER_WM, "not_judged"),
    ("a small municipality whose calls fail is judged on its errors", [traffic(observed=20, baseline=29, errors=5)],
     AFTER, AFTER_WM, "red"),
    ("a small municipality at night, silent agreement", [traffic(observed=0, baseline=29)], AFTER, AFTER_WM,
     "yellow"),
    ("an inactive agreement is never silent", [traffic(observed=300, baseline=300, uuid="a1"),
                                              traffic(observed=0, baseline=50, uuid="a2", status="inactive")],
     AFTER, AFTER_WM, "green"),  # 300 / 350 = 0.857 ≥ 0.8
])
def test_the_first_matching_status_rule_wins(case, rows, now, wm, expected):
    doc = evaluate(rows, now, wm)
    m = doc["municipalities"][0]
    assert m["status"] == expected, case


def evaluate(rows, now, wm, window=WINDOW, municipalities=(("101", "København"),), **extra):
    inputs = Inputs(now=now, window=window, watermark=wm, municipalities=list(municipalities), traffic=rows,
                    **extra)
    return core.evaluate(inputs, SETTINGS, core.observed_span(window, now, wm, SETTINGS.lookback_hours))


def test_ratios_are_null_where_not_judged_and_never_infinite():
    m = evaluate([traffic(observed=500, baseline=29)], AFTER, AFTER_WM)["municipalities"][0]
    assert m["call_ratio"] is None and m["error_ratio"] is None
    m = evaluate([traffic(observed=45, baseline=30, errors=9)], AFTER, AFTER_WM)["municipalities"][0]
    assert m["call_ratio"] == pytest.approx(1.5) and m["error_ratio"] == pytest.approx(0.2)


def test_a_silent_agreement_is_listed_with_its_it_system_supplier_and_services():
    rows = [traffic(observed=300, baseline=300, uuid="a1"),
            traffic(observed=0, baseline=40, uuid="a2", services=("SF1520", "SF1530"), supplier="Netcompany")]
    m = evaluate(rows, AFTER, AFTER_WM)["municipalities"][0]
    assert m["silent_agreements"] == [{"agreement_uuid": "a2", "it_system": {"uuid": "s-a2", "name": "System a2"},
                                       "supplier": "Netcompany", "services": ["SF1520", "SF1530"],
                                       "baseline_calls": 40, "acknowledgement": None}]


def test_nine_baseline_calls_do_not_make_an_agreement_silent():
    rows = [traffic(observed=300, baseline=300, uuid="a1"), traffic(observed=0, baseline=9, uuid="a2")]
    assert evaluate(rows, AFTER, AFTER_WM)["municipalities"][0]["silent_agreements"] == []


def test_without_a_window_the_statuses_are_still_judged():
    doc = evaluate([traffic(observed=0, baseline=300)], AFTER, AFTER_WM, window=Window())
    assert doc["municipalities"][0]["status"] == "red"
    assert doc["window"]["start"] is None and doc["window"]["observed_hours"] == 6


def test_the_national_view_sums_per_service_and_per_supplier():
    rows = [traffic("101", observed=0, baseline=300, uuid="a1", services=("SF1520",), supplier="KMD"),
            traffic("147", observed=0, baseline=200, uuid="a2", services=("SF1520", "SF1601"), supplier="KMD"),
            traffic("151", observed=500, baseline=500, uuid="a3", services=("SF1601",), supplier="Netcompany")]
    munis = [("101", "København"), ("147", "Frederiksberg"), ("151", "Ballerup"), ("153", "Brøndby")]
    doc = evaluate(rows, AFTER, AFTER_WM, municipalities=munis)
    national = doc["national"]
    assert (national["observed_calls"], national["baseline_calls"]) == (500, 1000)
    assert national["call_ratio"] == pytest.approx(0.5)
    assert national["status_counts"] == {"unknown": 1, "in_window": 0, "pending": 0, "red": 2, "yellow": 0,
                                         "not_judged": 0, "green": 1}
    services = {s["id"]: s for s in national["services"]}
    assert (services["SF1520"]["observed_calls"], services["SF1520"]["baseline_calls"]) == (0, 500)
    assert services["SF1520"]["status"] == "red" and services["SF1520"]["silent_agreements"] == 2
    assert (services["SF1601"]["observed_calls"], services["SF1601"]["baseline_calls"]) == (500, 700)
    suppliers = {s["name"]: s for s in national["suppliers"]}
    assert suppliers["KMD"]["call_ratio"] == 0 and suppliers["KMD"]["status"] == "red"
    assert suppliers["Netcompany"]["status"] == "green"


def test_times_in_the_document_are_iso_8601_with_offset():
    doc = evaluate([traffic(observed=300, baseline=300)], AFTER, AFTER_WM)
    for value in (doc["now"], doc["watermark"], doc["window"]["start"], doc["window"]["observed_from"]):
        assert dt.datetime.fromisoformat(value).utcoffset() == dt.timedelta(0)
    assert doc["window"]["observed_from"] == "2020-11-29T17:00:00+00:00"
    assert doc["window"]["observed_to"] == "2020-11-29T20:00:00+00:00"


@given(st.integers(0, 10**9), st.integers(0, 10**9), st.integers(0, 10**6))
def test_a_ratio_is_finite_or_null(observed, baseline, errors):
    errors = min(errors, observed)
    m = evaluate([traffic(observed=observed, baseline=baseline, errors=errors)], AFTER, AFTER_WM)["municipalities"][0]
    for value in (m["call_ratio"], m["error_ratio"]):
        assert value is None or math.isfinite(value)
    assert m["status"] in core.STATUSES

"""The cut-over baseline over several weeks: one odd week does not colour now, and the rules
about which weeks count (SPEC "Cut-over health", docs/cutover.md)."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from monitor.cutover import core, cutover_document
from monitor.db import make_engine, session_factory
from monitor.settings import ConfigError, CutoverSettings, from_mapping
from tests.conftest import make_settings
from tests.cutover_helpers import add_agreement, add_hours, hours

UTC = dt.UTC
CET = dt.timezone(dt.timedelta(hours=1))
# The weekend of tests/test_cutover_queries.py: three complete hours after the end of the window.
CUTOVER = {"start": dt.datetime(2020, 11, 28, 8, tzinfo=CET), "end": dt.datetime(2020, 11, 29, 18, tzinfo=CET)}
NOW = dt.datetime(2020, 11, 29, 20, 30, tzinfo=UTC)
OBSERVED = hours(dt.datetime(2020, 11, 29, 17, tzinfo=UTC), 3)


def weeks_back(k: int) -> list[dt.datetime]:
    """The observed hours `k` weeks earlier (no DST change in November)."""
    return [h - dt.timedelta(days=7 * k) for h in OBSERVED]


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(("values", "expected"), [
    ([7], 7.0), ([1, 9], 5.0), ([100, 3, 98], 98.0), ([10, 100, 98, 102], 99.0), ([0, 0, 0, 50], 0.0),
])
def test_the_median_of_the_weeks_lets_no_single_week_decide(values, expected):
    assert core.median(values) == expected


def test_each_observed_hour_is_compared_with_the_same_hour_of_each_earlier_week():
    settings = CutoverSettings(baseline_weeks=3)
    assert core.comparisons([utc(2020, 11, 29, 17)], settings) == [
        (utc(2020, 11, 29, 17), (utc(2020, 11, 22, 17), utc(2020, 11, 15, 17), utc(2020, 11, 8, 17)))]


def test_weeks_without_data_the_window_and_planned_outages_are_left_out():
    settings = CutoverSettings(baseline_weeks=4)
    observed = [utc(2020, 11, 29, 17), utc(2020, 11, 29, 18)]
    outage = (utc(2020, 11, 15, 17), utc(2020, 11, 15, 18))        # the first hour, two weeks back
    with_data = {h - dt.timedelta(days=7 * k) for h in observed for k in (1, 2, 3)}  # week 4 never arrived
    assert core.comparisons(observed, settings, [outage], with_data) == [
        (utc(2020, 11, 29, 17), (utc(2020, 11, 22, 17), utc(2020, 11, 8, 17))),
        (utc(2020, 11, 29, 18), (utc(2020, 11, 22, 18), utc(2020, 11, 15, 18), utc(2020, 11, 8, 18)))]


def test_an_hour_with_no_week_left_is_left_out_of_both_sums():
    settings = CutoverSettings(baseline_weeks=2)
    assert core.comparisons([utc(2020, 11, 29, 17)], settings, hours_with_data=set()) == []


def test_across_the_spring_change_only_the_week_whose_hour_never_existed_is_left_out():
    # 12 April 02:00 CEST: a week earlier it existed, two weeks earlier (29 March) it did not.
    settings = CutoverSettings(baseline_weeks=2)
    assert core.comparisons([utc(2020, 4, 12, 0)], settings) == [(utc(2020, 4, 12, 0), (utc(2020, 4, 5, 0),))]


def test_an_agreement_without_a_row_in_a_week_that_has_data_made_no_calls_then():
    compared = [(utc(2020, 11, 29, 17), (utc(2020, 11, 22, 17), utc(2020, 11, 15, 17), utc(2020, 11, 8, 17)))]
    # Files leave out agreements that made no calls: a missing row in a counted week is 0, not skipped.
    assert core.agreement_baseline({utc(2020, 11, 22, 17): 40, utc(2020, 11, 8, 17): 50}, compared) == 40
    assert core.agreement_baseline({}, compared) == 0


def test_the_baseline_sums_the_medians_of_the_hours_in_whole_calls():
    compared = [(utc(2020, 11, 29, 17), (utc(2020, 11, 22, 17), utc(2020, 11, 15, 17))),
                (utc(2020, 11, 29, 18), (utc(2020, 11, 22, 18),))]
    calls = {utc(2020, 11, 22, 17): 10, utc(2020, 11, 15, 17): 13, utc(2020, 11, 22, 18): 4}
    assert core.agreement_baseline(calls, compared) == 16  # 11.5 + 4 = 15.5, halves round up


@pytest.mark.parametrize(("table", "weeks"), [
    ({}, 4),                                            # the default
    ({"baseline_weeks": 2}, 2),
    ({"baseline_days": 7}, 1),                          # an older config: one week, as it always meant
    ({"baseline_days": 7, "baseline_weeks": 4}, 4),
])
def test_a_config_that_sets_only_baseline_days_keeps_one_week(table, weeks):
    assert from_mapping({"cutover": table}, environ={}).cutover.baseline_weeks == weeks


def build(tmp_path, db_url, weekly: dict[int, int], now_calls: int, outages=(), code="101", **cutover):
    """One municipality with `weekly[k]` calls an hour k weeks back and `now_calls` an hour now."""
    sections = {"cutover": {**CUTOVER, **cutover}}
    if outages:
        sections["rating"] = {"planned_outages": list(outages)}
    settings = make_settings(tmp_path, db_url, **sections)
    engine = make_engine(settings.database.url)
    with session_factory(engine)() as s:
        a = add_agreement(s, "a" + code, code)
        for k, calls in weekly.items():
            add_hours(s, a, weeks_back(k), calls)
        add_hours(s, a, OBSERVED, now_calls)
        s.commit()
        doc = cutover_document(s, settings, NOW)
    engine.dispose()
    return {m["code"]: m for m in doc["municipalities"]}[code], doc


def test_a_holiday_a_week_earlier_does_not_make_a_false_colour_now(tmp_path, db_url):
    # A week ago was a holiday (a tenth of the traffic); the three weeks before it were ordinary.
    m, _ = build(tmp_path, db_url, {1: 100, 2: 1000, 3: 1000, 4: 1000}, now_calls=980)
    assert m["baseline_calls"] == 3 * 1000 and m["call_ratio"] == pytest.approx(0.98)
    assert m["status"] == "green"
    # 70 % of an ordinary evening is a real shortfall: against the holiday alone it would read 700 %.
    m, _ = build(tmp_path, db_url, {1: 100, 2: 1000, 3: 1000, 4: 1000}, now_calls=700, code="147")
    assert m["status"] == "yellow" and m["call_ratio"] == pytest.approx(0.7)


def test_a_busy_week_earlier_does_not_make_a_false_yellow_now(tmp_path, db_url):
    # A batch run a week ago doubled the traffic: against that one week, an ordinary evening is yellow.
    weekly = {1: 2000, 2: 1000, 3: 1040, 4: 960}
    one_week, _ = build(tmp_path, db_url, weekly, now_calls=1000, baseline_weeks=1)
    assert one_week["status"] == "yellow"
    m, _ = build(tmp_path, db_url, weekly, now_calls=1000, code="147")
    assert m["status"] == "green" and m["baseline_calls"] == 3 * 1020


def test_baseline_days_alone_still_means_the_one_week_before(tmp_path, db_url):
    m, doc = build(tmp_path, db_url, {1: 10, 2: 100, 3: 100, 4: 100}, now_calls=10, baseline_weeks=1)
    assert m["baseline_calls"] == 3 * 10 and m["status"] == "green"
    assert doc["window"]["baseline_hours"] == [h.isoformat() for h in weeks_back(1)]


def test_weeks_with_no_data_are_left_out(tmp_path, db_url):
    # Data began three weeks ago: weeks 3 and 4 have none, so the median is of weeks 1 and 2.
    m, doc = build(tmp_path, db_url, {1: 100, 2: 110}, now_calls=100)
    assert m["baseline_calls"] == 3 * 105 and m["status"] == "green"
    assert doc["window"]["baseline_weeks_used"] == 2


def test_planned_outages_are_left_out_of_the_baseline(tmp_path, db_url):
    # Two weeks ago a planned outage stopped the platform: those hours say nothing about normal.
    outage = {"start": weeks_back(2)[0], "end": weeks_back(2)[-1] + dt.timedelta(hours=1), "reason": "Opdatering"}
    m, doc = build(tmp_path, db_url, {1: 100, 2: 0}, now_calls=100, outages=[outage])
    assert m["baseline_calls"] == 3 * 100 and m["status"] == "green"
    assert not set(doc["window"]["baseline_hours"]) & {h.isoformat() for h in weeks_back(2)}


@pytest.mark.parametrize(("table", "message"), [
    ({"baseline_weeks": 0}, "cutover.baseline_weeks: must be at least 1"),
    ({"baseline_days": 7, "baseline_weeks": 60}, "cutover.baseline_weeks: the baseline reaches back at most 371 days"),
    ({"silent_share": 0}, "cutover.silent_share: need 0 < silent_share <= 1"),
    ({"silent_share": 1.5}, "cutover.silent_share: need 0 < silent_share <= 1"),
    ({"silent_count": 0}, "cutover.silent_count: must be at least 1"),
])
def test_a_bad_baseline_or_silent_share_setting_stops_the_start_naming_the_key(table, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        from_mapping({"cutover": table}, environ={})

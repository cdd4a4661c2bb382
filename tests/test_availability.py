"""Availability from the notices' timelines: hand-computed days, and properties that hold for any notices."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.availability import (
    STATES,
    ComponentRecord,
    DayFigures,
    Span,
    Timeline,
    availability,
    before_after,
    by_month,
    combine,
    daily_figures,
    error_budget_remaining,
    notice_span,
    records,
)
from monitor.localtime import CPH
from monitor.settings import from_mapping

W = 0.3


def cph(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=CPH)


def incident(start: dt.datetime, end: dt.datetime | None, impact: str | None = "critical",
             components: tuple[str, ...] = ("serviceplatformen",)) -> Timeline:
    updates = (("investigating", start),) + ((("resolved", end),) if end else ())
    return Timeline("incident", "resolved" if end else "investigating", impact, started_at=start, resolved_at=end,
                    updates=updates, components=components)


def maintenance(start: dt.datetime, end: dt.datetime | None, components: tuple[str, ...] = ("serviceplatformen",)
                ) -> Timeline:
    updates = (("scheduled", start - dt.timedelta(days=7)), ("in_progress", start))
    updates += (("completed", end),) if end else ()
    return Timeline("maintenance", "completed" if end else "in_progress", None, started_at=start - dt.timedelta(days=7),
                    resolved_at=end, scheduled_for=start, scheduled_until=end, updates=updates, components=components)


def days_of(notices: list[Timeline], now: dt.datetime, days: int = 3) -> dict[dt.date, DayFigures]:
    spans = [s for s in (notice_span(n, now) for n in notices) if s is not None]
    return {d.day: d for d in daily_figures(spans, days, now)}


NOW = cph(2026, 11, 20, 12, 0)


def test_an_incident_that_spans_midnight_counts_on_both_days():
    days = days_of([incident(cph(2026, 11, 10, 23, 30), cph(2026, 11, 11, 0, 45))], NOW, days=15)
    assert days[dt.date(2026, 11, 10)].major == 30
    assert days[dt.date(2026, 11, 11)].major == 45
    assert days[dt.date(2026, 11, 10)].availability(W) == pytest.approx(1 - 30 / 1440)
    assert days[dt.date(2026, 11, 11)].availability(W) == pytest.approx(1 - 45 / 1440)
    assert days[dt.date(2026, 11, 12)].availability(W) == 1


def test_a_maintenance_overlapping_an_incident_counts_only_where_the_incident_does_not():
    day = dt.date(2026, 11, 19)
    figures = days_of([maintenance(cph(2026, 11, 19, 1, 0), cph(2026, 11, 19, 3, 0)),
                       incident(cph(2026, 11, 19, 2, 0), cph(2026, 11, 19, 4, 0), impact="major")], NOW)[day]
    assert (figures.partial, figures.maintenance, figures.major) == (120, 60, 0)
    # Maintenance is left out of the denominator: 1440 − 60 minutes are judged.
    assert figures.availability(W) == pytest.approx(1 - 0.3 * 120 / (1440 - 60))


def test_two_overlapping_incidents_on_one_component_count_each_minute_once_at_its_worst():
    day = dt.date(2026, 11, 19)
    figures = days_of([incident(cph(2026, 11, 19, 10, 0), cph(2026, 11, 19, 12, 0), impact="minor"),
                       incident(cph(2026, 11, 19, 11, 0), cph(2026, 11, 19, 11, 30), impact="critical"),
                       incident(cph(2026, 11, 19, 11, 15), cph(2026, 11, 19, 13, 0), impact="major")], NOW)[day]
    # 10:00–11:00 degraded, 11:00–11:30 major, 11:30–13:00 partial: 180 minutes, not 285.
    assert (figures.degraded, figures.major, figures.partial) == (60, 30, 90)
    assert figures.availability(W) == pytest.approx(1 - (30 + 0.3 * 90) / 1440)


def test_an_open_incident_counts_up_to_now_and_today_only_up_to_now():
    today = days_of([incident(cph(2026, 11, 20, 9, 0), None)], NOW)[dt.date(2026, 11, 20)]
    assert (today.minutes, today.major) == (12 * 60, 3 * 60)
    assert today.availability(W) == pytest.approx(1 - 180 / 720)


@pytest.mark.parametrize(("day", "minutes", "start", "end", "outage"), [
    # Spring forward: 02:00 CET becomes 03:00 CEST, so 01:30–03:30 on the clock is one hour.
    (dt.date(2026, 3, 29), 23 * 60, cph(2026, 3, 29, 1, 30), cph(2026, 3, 29, 3, 30), 60),
    # Fall back: 03:00 CEST becomes 02:00 CET, so 01:30–03:30 on the clock is three hours.
    (dt.date(2026, 10, 25), 25 * 60, cph(2026, 10, 25, 1, 30), cph(2026, 10, 25, 3, 30), 180),
])
def test_a_day_across_a_daylight_saving_change_has_23_or_25_hours(day, minutes, start, end, outage):
    now = cph(2026, 11, 20, 12, 0)
    figures = days_of([incident(start, end)], now, days=300)[day]
    assert (figures.minutes, figures.major) == (minutes, outage)
    assert figures.availability(W) == pytest.approx(1 - outage / minutes)
    whole = days_of([incident(cph(day.year, day.month, day.day - 1, 12), cph(day.year, day.month, day.day + 1, 12))],
                    now, days=300)[day]
    assert (whole.major, whole.availability(W)) == (minutes, 0)


@pytest.mark.parametrize(("impact", "state"), [
    ("critical", "major"), ("major", "partial"), ("minor", "degraded"), (None, "degraded"), ("none", None)])
def test_an_incident_counts_in_the_state_its_impact_gives(impact, state):
    span = notice_span(incident(cph(2026, 11, 19, 10), cph(2026, 11, 19, 11), impact=impact), NOW)
    assert (span.state if span else None) == state


def test_degraded_performance_is_shown_but_does_not_lower_availability():
    figures = days_of([incident(cph(2026, 11, 19, 10), cph(2026, 11, 19, 16), impact="minor")],
                      NOW)[dt.date(2026, 11, 19)]
    assert figures.degraded == 360 and figures.availability(W) == 1


def test_a_maintenance_without_updates_runs_over_its_scheduled_window():
    planned = Timeline("maintenance", "scheduled", scheduled_for=cph(2026, 11, 19, 22), scheduled_until=cph(2026, 11, 20, 2),
                       updates=(("scheduled", cph(2026, 11, 12, 9)),), components=("serviceplatformen",))
    days = days_of([planned], NOW)
    assert days[dt.date(2026, 11, 19)].maintenance == 120 and days[dt.date(2026, 11, 20)].maintenance == 120


def test_a_maintenance_in_progress_runs_up_to_now_and_one_still_to_come_counts_nothing():
    running = maintenance(cph(2026, 11, 20, 10, 0), None)
    assert notice_span(running, NOW) == Span(cph(2026, 11, 20, 10, 0), NOW, "maintenance")
    later = Timeline("maintenance", "scheduled", scheduled_for=cph(2026, 11, 21, 22), scheduled_until=cph(2026, 11, 22, 2))
    assert notice_span(later, NOW) is None


def test_a_day_entirely_in_maintenance_has_no_availability_and_is_left_out_of_a_window():
    days = days_of([maintenance(cph(2026, 11, 18, 0), cph(2026, 11, 19, 0)),
                    incident(cph(2026, 11, 19, 0), cph(2026, 11, 19, 1, 12))], NOW)
    assert days[dt.date(2026, 11, 18)].availability(W) is None
    assert availability(days.values(), W) == pytest.approx(1 - 72 / (1440 + 720))


def test_seconds_are_cut_to_the_minute_so_nothing_is_counted_in_fractions():
    start = cph(2026, 11, 19, 10, 0, 59)
    span = notice_span(incident(start, cph(2026, 11, 19, 10, 5, 1)), NOW)
    assert span == Span(cph(2026, 11, 19, 10, 0), cph(2026, 11, 19, 10, 5), "major")


def test_a_notice_naming_no_component_counts_for_every_component():
    settings = from_mapping({"components": [{"slug": "a", "name": "A", "supplier": "IBM"},
                                            {"slug": "b", "name": "B", "supplier": "IBM"},
                                            {"slug": "c", "name": "C"}]}, environ={})
    recs = records([incident(cph(2026, 11, 20, 8), cph(2026, 11, 20, 9), components=()),
                    incident(cph(2026, 11, 20, 10), cph(2026, 11, 20, 11), components=("b",))], settings, NOW, 2)
    assert [(r.slug, r.supplier, r.days[-1].major) for r in recs] == [("a", "IBM", 60), ("b", "IBM", 120), ("c", "", 60)]


def test_a_suppliers_availability_is_taken_over_the_minutes_of_its_components_together():
    day = dt.date(2026, 11, 19)
    a = ComponentRecord("a", "A", "IBM", (DayFigures(day, 1440, major=144),))
    b = ComponentRecord("b", "B", "IBM", (DayFigures(day, 1440, maintenance=1440),))
    c = ComponentRecord("c", "C", "IBM", (DayFigures(day, 1440, partial=100),))
    assert availability(combine([a, b, c]), W) == pytest.approx(1 - (144 + 30) / 2880)


def test_the_error_budget_is_what_is_left_of_one_minus_the_target():
    day = dt.date(2026, 11, 19)
    month = [DayFigures(day - dt.timedelta(days=i), 1440) for i in range(30)]
    assert error_budget_remaining(month, W, 0.995) == 1
    spent_half = [DayFigures(day, 1440, major=108), *month[1:]]  # 0.005 · 43200 / 2 minutes down
    assert error_budget_remaining(spent_half, W, 0.995) == pytest.approx(0.5)
    overspent = [DayFigures(day, 1440, major=432), *month[1:]]
    assert error_budget_remaining(overspent, W, 0.995) == pytest.approx(-1)


def test_months_and_the_days_before_and_after_the_cutover_window_are_whole_days_outside_it():
    days = [DayFigures(dt.date(2020, 10, 1) + dt.timedelta(days=i), 1440) for i in range(90)]
    assert [m for m, _ in by_month(days)] == [dt.date(2020, 10, 1), dt.date(2020, 11, 1), dt.date(2020, 12, 1)]
    before, after = before_after(days, cph(2020, 11, 28, 8), cph(2020, 11, 29, 18), span=30)
    assert (before[0].day, before[-1].day, len(before)) == (dt.date(2020, 10, 29), dt.date(2020, 11, 27), 30)
    assert (after[0].day, after[-1].day, len(after)) == (dt.date(2020, 11, 30), dt.date(2020, 12, 29), 30)


# ---- properties ------------------------------------------------------------------------------

START = cph(2026, 3, 25, 0, 0)  # the week of the spring daylight-saving change
PROPERTY_NOW = cph(2026, 4, 1, 6, 30)
spans_strategy = st.lists(st.builds(
    lambda offset, length, state: Span(START.astimezone(dt.UTC) + dt.timedelta(minutes=offset),
                                       START.astimezone(dt.UTC) + dt.timedelta(minutes=offset + length), state),
    st.integers(0, 7 * 1440), st.integers(1, 3 * 1440), st.sampled_from(STATES)), max_size=12)


@settings(max_examples=200, deadline=None)
@given(spans=spans_strategy, weight=st.floats(0, 1))
def test_availability_is_between_0_and_1_for_any_notices(spans, weight):
    days = daily_figures(spans, 9, PROPERTY_NOW)
    assert all(0 <= (d.availability(weight) if d.availability(weight) is not None else 0) <= 1 for d in days)
    whole = availability(days, weight)
    assert whole is None or 0 <= whole <= 1


@settings(max_examples=200, deadline=None)
@given(spans=spans_strategy)
def test_every_minute_is_counted_once_in_the_worst_state_covering_it(spans):
    days = daily_figures(spans, 9, PROPERTY_NOW)
    # The model: each minute up to now, the worst state of the spans covering it.
    first = min(d.day for d in days)
    begin = dt.datetime.combine(first, dt.time(0), CPH).astimezone(dt.UTC)
    end = PROPERTY_NOW.astimezone(dt.UTC)
    model = dict.fromkeys(STATES, 0)
    for m in range(int((end - begin).total_seconds()) // 60):
        t = begin + dt.timedelta(minutes=m)
        covering = [s.state for s in spans if s.start <= t < s.end]
        if covering:
            model[max(covering, key=STATES.index)] += 1
    assert {s: sum(getattr(d, s) for d in days) for s in STATES} == model
    assert all(sum(getattr(d, s) for s in STATES) <= d.minutes for d in days)
    assert sum(d.minutes for d in days) == int((end - begin).total_seconds()) // 60

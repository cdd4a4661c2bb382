"""A demo left running stays believable: its cut-over picture at a later hour is the picture a
demo loaded at that hour shows (issue 23). The live demo writes every agreement's hour from the
model the demo was loaded with, through the real inbox collector."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from monitor import demo_live
from monitor.collectors.calls.importer import process_inbox
from monitor.cutover import cutover_document
from monitor.demo import load_demo, loaded_plan
from monitor.localtime import CPH
from monitor.models import Agreement, HourlyCallCount

# The night after a Sunday-evening cut-over: the demo's window ended at 23:00.
LOADED = dt.datetime(2020, 11, 30, 3, 30, tzinfo=CPH)
MORNING = dt.datetime(2020, 11, 30, 10, 30, tzinfo=CPH)
NEXT_DAY = dt.datetime(2020, 12, 1, 10, 30, tzinfo=CPH)
SEED = 4


def picture(session, settings, now):  # type: ignore[no-untyped-def]
    """What a lead sees first: how many municipalities are red and yellow, how many agreements silent."""
    doc = cutover_document(session, settings, now)
    counts = doc["national"]["status_counts"]
    silent = sum(len(m["silent_agreements"]) for m in doc["municipalities"])
    return {"red": counts["red"], "yellow": counts["yellow"], "silent": silent}


def run_live_until(engine, settings, now):  # type: ignore[no-untyped-def]
    """The scheduler's demo job and the inbox collector, as `monitor serve` runs them at `now`."""
    written = demo_live.write_call_files(engine, settings, now=now)
    assert written
    process_inbox(engine, settings, now)


def test_a_demo_left_running_shows_what_a_fresh_one_shows_at_that_hour(engine, settings, session):
    load_demo(engine, settings, seed=SEED, size="small", now=LOADED)
    at_load = picture(session, settings, LOADED)
    run_live_until(engine, settings, MORNING)
    live_morning = picture(session, settings, MORNING)
    run_live_until(engine, settings, NEXT_DAY)
    live_next_day = picture(session, settings, NEXT_DAY)

    load_demo(engine, settings, seed=SEED, size="small", now=MORNING)
    session.expire_all()
    fresh_morning = picture(session, settings, MORNING)
    load_demo(engine, settings, seed=SEED, size="small", now=NEXT_DAY)
    session.expire_all()
    fresh_next_day = picture(session, settings, NEXT_DAY)

    for live, fresh in ((live_morning, fresh_morning), (live_next_day, fresh_next_day)):
        assert abs(live["red"] - fresh["red"]) <= 1, (live, fresh)
        assert abs(live["yellow"] - fresh["yellow"]) <= 2, (live, fresh)
        assert live["silent"] <= fresh["silent"] + 2, (live, fresh)
    # Silent agreements do not pile up while the demo runs (at night fewer have enough traffic to count).
    assert at_load["silent"] <= live_next_day["silent"] <= live_morning["silent"], (
        at_load, live_morning, live_next_day)


def test_an_agreement_quiet_before_the_load_calls_again_in_the_live_hours(engine, settings, session):
    load_demo(engine, settings, seed=SEED, size="small", now=LOADED)
    plan = loaded_plan(session)
    assert plan is not None
    end = plan.cutover_end
    after_end = set(session.scalars(select(Agreement.uuid)
                                    .join(HourlyCallCount, HourlyCallCount.agreement_id == Agreement.id)
                                    .where(HourlyCallCount.hour >= end)))
    story_silent = {a.uuid for a in plan.agreements if a.silent_after_cutover}
    files = demo_live.write_call_files(engine, settings, now=MORNING)
    calling = {line.split(",")[1] for f in files for line in f.read_text().splitlines()[1:]}
    # Some agreements made no call in the night hours between the end and the load, and call now...
    assert calling - after_end
    # ...while those whose integration broke in the move stay silent.
    assert not calling & story_silent

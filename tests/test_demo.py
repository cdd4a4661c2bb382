"""The demo country, its status feed and its live part."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import feedparser
import pytest
from sqlalchemy import func, select

from monitor import daytable, demo_feed, demo_live
from monitor.collectors.calls.importer import process_inbox
from monitor.demo import demo_window, load_demo, loaded_plan
from monitor.localtime import CPH
from monitor.models import (
    Agreement,
    AgreementDay,
    HourlyCallCount,
    Meta,
    Municipality,
    RatingRun,
)

NOW = dt.datetime(2020, 11, 29, 22, 30, tzinfo=CPH)


def snapshot(session):  # type: ignore[no-untyped-def]
    agreements = sorted(session.execute(select(Agreement.uuid, Agreement.municipality_code, Agreement.status))
                        .all())
    calls = (session.scalar(select(func.sum(AgreementDay.calls)).where(AgreementDay.daily)),
             session.scalar(select(func.sum(HourlyCallCount.calls))))
    return agreements, calls


def test_the_same_seed_and_now_give_the_same_country(engine, settings, session):
    load_demo(engine, settings, seed=7, size="small", now=NOW)
    first = snapshot(session)
    load_demo(engine, settings, seed=7, size="small", now=NOW)
    session.expire_all()
    assert snapshot(session) == first
    load_demo(engine, settings, seed=8, size="small", now=NOW)
    session.expire_all()
    assert snapshot(session) != first


def test_the_demo_covers_every_municipality_and_tells_its_stories(engine, settings, session):
    summary = load_demo(engine, settings, seed=1, size="small", now=NOW)
    assert "98 municipalities" in summary
    with_agreements = session.scalar(select(func.count(func.distinct(Agreement.municipality_code))))
    assert with_agreements == 98
    smallest = min(session.scalars(select(Municipality)), key=lambda m: m.population)
    assert smallest.name == "Læsø"
    statuses = list(session.scalars(select(Agreement.status).where(Agreement.municipality_code == smallest.code)))
    # A small island still uses the platform, and has a request waiting for its approval.
    assert statuses.count("active") >= 3 and "pending" in statuses
    start, end, frozen = demo_window(session)
    assert end == dt.datetime(2020, 11, 29, 17, 0, tzinfo=dt.UTC)  # four whole hours before --now
    assert start == end - dt.timedelta(hours=34) and frozen == start - dt.timedelta(days=7)
    in_window = session.scalar(select(func.count()).select_from(HourlyCallCount)
                               .where(HourlyCallCount.hour >= start, HourlyCallCount.hour < end))
    assert in_window == 0
    assert session.scalar(select(func.count()).select_from(Agreement)
                          .where(Agreement.first_seen_at > frozen)) >= 1


def test_daily_counts_end_yesterday_and_equal_their_hours_where_both_exist(engine, settings, session):
    load_demo(engine, settings, seed=3, size="small", now=NOW)
    assert session.scalar(select(func.max(AgreementDay.day)).where(AgreementDay.daily)) == dt.date(2020, 11, 28)
    newest_hour = session.scalar(select(func.max(HourlyCallCount.hour)))
    assert newest_hour == dt.datetime(2020, 11, 29, 20, 0, tzinfo=dt.UTC)  # the last complete hour
    hourly = dict(session.execute(select(HourlyCallCount.day, func.sum(HourlyCallCount.calls))
                                  .group_by(HourlyCallCount.day)).all())
    daily = dict(session.execute(select(AgreementDay.day, func.sum(AgreementDay.calls)).where(AgreementDay.daily)
                                 .group_by(AgreementDay.day)).all())
    shared = [d for d in hourly if d in daily]
    assert len(shared) >= 8
    assert all(hourly[d] == daily[d] for d in shared)
    assert dt.date(2020, 11, 29) not in daily  # today is not complete
    days = dict(session.execute(select(AgreementDay.day, func.sum(AgreementDay.calls))
                                .group_by(AgreementDay.day)).all())
    assert days == {**hourly, **daily}  # one row per agreement and day, today's from its hours
    assert daytable.mismatches(session) == 0


def test_the_live_demo_s_hourly_files_keep_the_day_rows(engine, settings, session):
    load_demo(engine, settings, seed=1, size="small", now=NOW)
    today = dt.date(2020, 11, 29)
    before = session.scalar(select(func.sum(AgreementDay.calls)).where(AgreementDay.day == today))
    demo_live.write_call_files(engine, settings, now=NOW + dt.timedelta(hours=2, minutes=10))
    result = process_inbox(engine, settings, now=NOW + dt.timedelta(hours=2, minutes=11))
    assert result.ok and len(result.files) == 2
    session.expire_all()
    hours = session.scalar(select(func.sum(HourlyCallCount.calls)).where(HourlyCallCount.day == today))
    assert session.scalar(select(func.sum(AgreementDay.calls)).where(AgreementDay.day == today)) == hours > before
    assert daytable.mismatches(session) == 0


def test_the_demo_feed_is_a_statuspage_rss_that_feedparser_reads(engine, settings):
    load_demo(engine, settings, seed=1, size="small", now=NOW)
    parsed = feedparser.parse(Path(settings.path(settings.demo.feed_path)).read_bytes())
    assert not parsed.bozo
    titles = [e.title for e in parsed.entries]
    assert "Flytning af Serviceplatformen til nyt driftscenter" in titles
    first = parsed.entries[0]
    assert first.id.startswith("https://") and "<strong>" in first.description


def test_the_live_feed_gains_one_update_every_few_minutes():
    start, end = NOW - dt.timedelta(hours=40), NOW - dt.timedelta(hours=5)
    every = dt.timedelta(minutes=7)
    items = demo_feed.feed_items(start, end, NOW, NOW + dt.timedelta(minutes=6), every)
    assert not [i for i in items if i.slug.startswith("live-")]
    items = demo_feed.feed_items(start, end, NOW, NOW + dt.timedelta(minutes=36), every)
    live = [i for i in items if i.slug.startswith("live-")]
    assert [len(i.updates) for i in live] == [4, 1]
    assert live[0].updates[-1].status == "Løst"
    far = demo_feed.feed_items(start, end, NOW, NOW + dt.timedelta(days=900), every)
    assert len([i for i in far if i.slug.startswith("live-")]) == demo_feed.MAX_ITEMS


def test_writing_an_unchanged_feed_leaves_the_file_alone(tmp_path):
    path = tmp_path / "feed.rss"
    assert demo_feed.write_atomically(path, "a")
    assert not demo_feed.write_atomically(path, "a")
    assert demo_feed.write_atomically(path, "b") and path.read_text() == "b"
    assert not list(tmp_path.glob("*.tmp"))


def test_live_call_files_continue_from_the_newest_hour_and_silent_integrations_stay_silent(engine, settings,
                                                                                              session):
    load_demo(engine, settings, seed=1, size="small", now=NOW)
    later = NOW + dt.timedelta(hours=2, minutes=10)
    files = demo_live.write_call_files(engine, settings, now=later)
    assert [f.name for f in files] == ["calls-20201129T21Z.csv", "calls-20201129T22Z.csv"]
    lines = files[0].read_text().splitlines()
    assert lines[0] == "period_start,agreement_uuid,calls,errors"
    assert lines[1].startswith("2020-11-29T22:00:00+01:00,")
    plan = loaded_plan(session)
    broken = {a.uuid for a in plan.agreements if a.silent_after_cutover}
    assert broken and not {line.split(",")[1] for line in lines[1:]} & broken
    # Files still waiting in the inbox are not written again.
    assert demo_live.write_call_files(engine, settings, now=later) == []


def test_a_demo_loaded_in_the_past_stays_a_picture_of_that_time(engine, settings):
    load_demo(engine, settings, seed=1, size="small", now=NOW)
    assert demo_live.write_call_files(engine, settings, now=NOW + dt.timedelta(days=30)) == []


def test_update_feed_does_nothing_without_a_demo(engine, settings, session):
    assert session.get(Meta, "demo") is None
    assert demo_live.update_feed(engine, settings) is False


@pytest.mark.parametrize("size", ["small"])
def test_the_cli_loads_the_demo(tmp_path, size, sqlite_url):
    from click.testing import CliRunner

    from monitor.cli import cli
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[database]\nurl = "{sqlite_url}"\n[demo]\nfeed_path = "feed.rss"\n')
    result = CliRunner().invoke(cli, ["--config", str(cfg), "demo", "--size", size, "--seed", "2",
                                      "--now", "2020-11-29T22:30"])
    assert result.exit_code == 0, result.output
    assert "98 municipalities" in result.output and (tmp_path / "feed.rss").exists()


def test_every_municipality_calls_and_traffic_grows_with_population(engine, settings, session):
    load_demo(engine, settings, seed=5, size="small", now=NOW)
    calls = dict(session.execute(
        select(Agreement.municipality_code, func.sum(AgreementDay.calls))
        .join(AgreementDay, AgreementDay.agreement_id == Agreement.id).where(AgreementDay.daily)
        .group_by(Agreement.municipality_code)).all())
    munis = sorted(session.scalars(select(Municipality)), key=lambda m: m.population)
    # All but a few call, the smallest island too: churn may leave a municipality whose only calling
    # agreement was rejected (it scores low, as it should).
    assert len(calls) >= 95 and calls[munis[0].code] > 0
    small = sum(calls.get(m.code, 0) for m in munis[:10])
    large = sum(calls[m.code] for m in munis[-10:])
    assert large > 5 * small


def test_every_municipality_has_at_least_three_active_agreements(engine, settings, session):
    load_demo(engine, settings, seed=4, size="small", now=NOW)
    active = dict(session.execute(select(Agreement.municipality_code, func.count())
                                  .where(Agreement.status == "active").group_by(Agreement.municipality_code)).all())
    assert len(active) == 98 and min(active.values()) >= 3


def test_the_history_moves_some_municipalities_up_and_some_down(engine, settings, session):
    load_demo(engine, settings, seed=1, size="small", now=NOW)
    runs = {day: {r.municipality_code: r.score for r in results}
            for day, results in ((run.as_of, run.results) for run in session.scalars(select(RatingRun)))}
    today, month_ago = NOW.date(), NOW.date() - dt.timedelta(days=30)
    changes = [round(runs[today][c] - runs[month_ago][c], 1) for c in runs[today]
               if runs[today][c] is not None and runs[month_ago][c] is not None]
    assert len(changes) >= 95
    ups, downs = sum(1 for c in changes if c > 0), sum(1 for c in changes if c < 0)
    assert ups >= 10 and downs >= 10, (ups, downs)
    assert len(set(changes)) >= 10  # they differ, not one shared step


def test_the_cut_over_has_no_hourly_rows_and_the_days_around_it_have_their_partial_hours(engine, settings, session):
    load_demo(engine, settings, seed=2, size="small", now=NOW)
    start, end, _ = demo_window(session)
    hours = session.execute(select(HourlyCallCount.hour).distinct()).scalars().all()
    assert hours and not [h for h in hours if start <= h < end]
    local = [h.astimezone(CPH) for h in hours]
    first_day, last_day = start.astimezone(CPH).date(), end.astimezone(CPH).date()
    # The day the window began has hours before it and none after; the day it ended the reverse.
    before = {h.hour for h in local if h.date() == first_day}
    after = {h.hour for h in local if h.date() == last_day}
    assert before and max(before) < start.astimezone(CPH).hour
    assert after and min(after) >= end.astimezone(CPH).hour
    assert len(before) < 24 and len(after) < 24


def test_the_demo_shows_the_whole_input_loop_with_a_published_answer_and_a_correction(engine, settings, session):
    from monitor.models import MethodInput, RatingCorrection

    load_demo(engine, settings, seed=1, size="small", now=NOW)
    inputs = session.scalars(select(MethodInput).order_by(MethodInput.id)).all()
    assert len(inputs) == 3 and any(i.confirmed_at is None for i in inputs)
    assert sum(1 for i in inputs if i.published and i.answer) == 2
    [correction] = session.scalars(select(RatingCorrection)).all()
    today = NOW.date()
    first, second = session.scalars(select(RatingRun).where(RatingRun.as_of == today)
                                    .order_by(RatingRun.revision)).all()

    def score(run):  # type: ignore[no-untyped-def]
        return next(r for r in run.results if r.municipality_code == correction.municipality_code)

    assert score(second).score > score(first).score
    assert score(second).document["correction"]["score_without"] == score(first).score
    load_demo(engine, settings, seed=1, size="small", now=NOW)  # loading again starts the loop afresh
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(MethodInput)) == 3

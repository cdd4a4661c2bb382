"""The calendar: planned maintenance times from Statuspage feeds, and /kalender.ics as RFC 5545."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import icalendar
import pytest
from sqlalchemy import select

from monitor import calendarplan, create_app, ical
from monitor.collectors.notices.feedparse import parse_feed
from monitor.collectors.notices.poll import SourceSpec
from monitor.collectors.notices.updatehtml import scheduled_window
from monitor.models import CalendarEvent, Notice
from monitor.notify.collect import poll_sources
from tests.conftest import make_settings

FIXTURES = Path(__file__).parent / "fixtures" / "feeds"
UTC = dt.UTC
REFERENCE = dt.datetime(2026, 3, 16, 7, 27, tzinfo=UTC)


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def test_the_scheduled_event_line_of_a_real_statuspage_feed_gives_the_planned_start_and_end():
    result = parse_feed((FIXTURES / "cloudflare-scheduled-history.rss").read_bytes(), REFERENCE)
    by_title = {n.title: n for n in result.notices}
    pdx = by_title["PDX (Portland) on 2026-04-07"]
    assert pdx.kind == "maintenance"
    assert (pdx.scheduled_for, pdx.scheduled_until) == (utc(2026, 4, 7, 13), utc(2026, 4, 7, 23))
    iah = by_title["IAH (Houston) on 2026-03-19"]
    assert (iah.scheduled_for, iah.scheduled_until) == (utc(2026, 3, 18, 22), utc(2026, 3, 19, 6))


@pytest.mark.parametrize(("html", "expected"), [
    ("<p><strong>THIS IS A SCHEDULED EVENT Dec  1, 17:00 - 19:00 CET</strong></p>",
     (utc(2025, 12, 1, 16), utc(2025, 12, 1, 18))),  # the year nearest the item's date
    ("<p><strong>THIS IS A SCHEDULED EVENT Mar 21, 23:00 - 01:30 UTC</strong></p>",
     (utc(2026, 3, 21, 23), utc(2026, 3, 22, 1, 30))),  # an end earlier in the day is the next day
    ("<p><strong>This is a scheduled event Apr 7, 13:00 – 23:00 UTC</strong></p>",
     (utc(2026, 4, 7, 13), utc(2026, 4, 7, 23))),  # any case, an en dash
    ("<p><strong>THIS IS A SCHEDULED EVENT Apr 7, 13:00 - soon</strong></p>", (utc(2026, 4, 7, 13), None)),
    ("<p><strong>THIS IS A SCHEDULED EVENT sometime - later</strong></p>", (None, None)),
    ("<p><small>Mar 16, 07:27 UTC</small><br><strong>Scheduled</strong> - THIS IS A SCHEDULED EVENT</p>",
     (None, None)),  # only Statuspage's own first line counts, not the words in an update
    ("<p><strong>Resolved</strong> - This incident has been resolved.</p>", (None, None)),
])
def test_the_scheduled_event_line_is_read_or_nothing_is_invented(html, expected):
    assert scheduled_window(html, REFERENCE) == expected


def test_a_calendar_is_crlf_folded_at_75_octets_and_escapes_text():
    event = ical.Event(uid="x@y", summary="Æbler, pærer; og \\ " + "ø" * 80, start=utc(2026, 12, 1, 16),
                       end=utc(2026, 12, 1, 18), description="linje 1\nlinje 2")
    raw = ical.calendar([event], utc(2026, 11, 29, 12), "Kalender")
    assert raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b"")
    assert all(len(line) <= 75 for line in raw.split(b"\r\n"))
    raw.decode("utf-8")  # a fold never splits a character
    parsed = icalendar.Calendar.from_ical(raw)
    [vevent] = parsed.walk("VEVENT")
    assert str(vevent["SUMMARY"]) == "Æbler, pærer; og \\ " + "ø" * 80
    assert str(vevent["DESCRIPTION"]) == "linje 1\nlinje 2"
    assert b"SUMMARY:\xc3\x86bler\\, p\xc3\xa6rer\\; og \\\\ " in raw.replace(b"\r\n ", b"")


@pytest.fixture
def feed_app(tmp_path, db_url):  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path, db_url, cutover={
        "start": dt.datetime(2026, 11, 28, 8, tzinfo=dt.timezone(dt.timedelta(hours=1))),
        "end": dt.datetime(2026, 11, 29, 18, tzinfo=dt.timezone(dt.timedelta(hours=1))),
        "frozen_zone_start": dt.datetime(2026, 11, 20, tzinfo=dt.timezone(dt.timedelta(hours=1)))})
    app = create_app(settings)
    app.config.update(TESTING=True)
    engine = app.extensions["monitor"].engine
    spec = SourceSpec("cloudflare", str(FIXTURES / "cloudflare-scheduled-history.rss"), "feed", ("klassifikation",))
    poll_sources(engine, settings, [spec], now=REFERENCE)
    yield app
    engine.dispose()


def events(response) -> dict[str, icalendar.Event]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    cal = icalendar.Calendar.from_ical(response.data)
    assert str(cal["VERSION"]) == "2.0" and cal["PRODID"]
    return {str(e["SUMMARY"]): e for e in cal.walk("VEVENT")}


def test_the_calendar_holds_the_window_the_frozen_zone_and_each_planned_maintenance(feed_app):
    got = events(feed_app.test_client().get("/kalender.ics"))
    window = got["Skift af driftscenter: skiftevinduet"]
    assert (window["DTSTART"].dt, window["DTEND"].dt) == (utc(2026, 11, 28, 7), utc(2026, 11, 29, 17))
    frozen = got["Skift af driftscenter: frysezone"]
    assert (frozen["DTSTART"].dt, frozen["DTEND"].dt) == (utc(2026, 11, 19, 23), utc(2026, 11, 29, 17))
    pdx = got["Planlagt vedligeholdelse: PDX (Portland) on 2026-04-07"]
    assert (pdx["DTSTART"].dt, pdx["DTEND"].dt) == (utc(2026, 4, 7, 13), utc(2026, 4, 7, 23))
    assert all(int(e["SEQUENCE"]) == 0 and e["DTSTAMP"] for e in got.values())


def calendar_rows(app) -> list[tuple[str, int]]:  # type: ignore[no-untyped-def]
    from sqlalchemy.orm import Session

    with Session(app.extensions["monitor"].engine) as session:
        return [tuple(r) for r in session.execute(select(CalendarEvent.uid, CalendarEvent.sequence).order_by(CalendarEvent.uid))]


def test_uids_are_stable_and_sequence_rises_only_when_a_time_changes(feed_app, now):
    client = feed_app.test_client()
    engine = feed_app.extensions["monitor"].engine
    settings = feed_app.extensions["monitor"].settings
    first = {str(e["UID"]): e for e in events(client.get("/kalender.ics")).values()}
    assert calendar_rows(feed_app) == []  # a GET writes nothing
    assert calendarplan.record(engine, settings, now) == 0  # first recorded: nothing changed
    again = {str(e["UID"]): e for e in events(client.get("/kalender.ics")).values()}
    assert set(first) == set(again) and all(int(e["SEQUENCE"]) == 0 for e in again.values())
    assert {uid for uid, _ in calendar_rows(feed_app)} == set(first)
    from sqlalchemy.orm import Session
    with Session(engine) as session, session.begin():
        notice = session.scalars(select(Notice).where(Notice.title.startswith("PDX"))).one()
        notice.scheduled_until = utc(2026, 4, 7, 23, 45)
    rows = calendar_rows(feed_app)

    def published() -> dict[str, icalendar.Event]:
        return {str(e["UID"]): e for e in events(client.get("/kalender.ics")).values()}

    moved = published()  # before the job records the new time, the GET already gives the next SEQUENCE
    assert calendar_rows(feed_app) == rows
    assert set(moved) == set(first)
    changed = [uid for uid, e in moved.items() if int(e["SEQUENCE"]) == 1]
    assert len(changed) == 1 and moved[changed[0]]["DTEND"].dt == utc(2026, 4, 7, 23, 45)
    assert all(int(e["SEQUENCE"]) == 0 for uid, e in moved.items() if uid != changed[0])
    assert calendarplan.record(engine, settings, now) == 1
    assert calendarplan.record(engine, settings, now) == 0
    recorded = published()
    assert {uid: int(e["SEQUENCE"]) for uid, e in recorded.items()} == {uid: int(e["SEQUENCE"]) for uid, e in moved.items()}


def test_the_scheduler_records_the_calendar_times(tmp_path, sqlite_url):
    from monitor import scheduler

    [job] = [j for j in scheduler.job_table(make_settings(tmp_path, sqlite_url)) if j.id == "calendar"]
    assert scheduler.resolve(job.target) is calendarplan.record and job.run_at_start


def test_a_maintenance_planned_for_the_window_itself_is_listed_once_as_the_window(feed_app, now):
    from sqlalchemy.orm import Session

    with Session(feed_app.extensions["monitor"].engine) as session, session.begin():
        notice = session.scalars(select(Notice).where(Notice.title.startswith("PDX"))).one()
        notice.title = "Flytning af Serviceplatformen til nyt driftscenter"
        notice.scheduled_for, notice.scheduled_until = utc(2026, 11, 28, 7), utc(2026, 11, 29, 17)
    raw = feed_app.test_client().get("/kalender.ics")
    got = events(raw)
    assert [s for s in got if "Flytning" in s] == []
    window = got["Skift af driftscenter: skiftevinduet"]
    assert "Driftsmeddelelse: Flytning af Serviceplatformen til nyt driftscenter" in str(window["DESCRIPTION"])
    starts = [(e["DTSTART"].dt, e["DTEND"].dt) for e in got.values()]
    assert starts.count((utc(2026, 11, 28, 7), utc(2026, 11, 29, 17))) == 1
    assert raw.data.count(b"BEGIN:VEVENT") == len(got)  # no two events under one summary either


def test_the_calendar_of_one_component_leaves_out_maintenance_of_others(feed_app):
    client = feed_app.test_client()
    assert "Planlagt vedligeholdelse: PDX (Portland) on 2026-04-07" in events(
        client.get("/kalender.ics?component=klassifikation"))
    only_window = events(client.get("/kalender.ics?component=beskedfordeler"))
    assert not [s for s in only_window if s.startswith("Planlagt vedligeholdelse")]
    assert "Skift af driftscenter: skiftevinduet" in only_window
    assert client.get("/kalender.ics?component=ukendt").status_code == 404


def test_driftsstatus_shows_a_planned_maintenance_by_its_scheduled_times(feed_app):
    html = feed_app.test_client().get("/driftsstatus").get_data(as_text=True)
    assert 'Planlagt fra <time datetime="2026-04-07T15:00:00+02:00">07.04.2026 kl. 15:00 CEST</time>' in html
    assert 'til <time datetime="2026-04-08T01:00:00+02:00">' in html


def test_the_notices_api_carries_the_scheduled_times(feed_app):
    notices = feed_app.test_client().get("/api/v1/notices?status=all").get_json()["notices"]
    pdx = next(n for n in notices if n["title"].startswith("PDX"))
    assert (pdx["scheduled_for"], pdx["scheduled_until"]) == ("2026-04-07T13:00:00+00:00", "2026-04-07T23:00:00+00:00")


def test_a_maintenance_from_the_statuspage_json_api_is_in_the_calendar_with_its_scheduled_times(tmp_path, db_url):
    settings = make_settings(tmp_path, db_url)
    app = create_app(settings)
    engine = app.extensions["monitor"].engine
    spec = SourceSpec("discord", str(FIXTURES / "discordstatus"), "statuspage")
    poll_sources(engine, settings, [spec], now=dt.datetime(2015, 9, 20, tzinfo=UTC))
    got = events(app.test_client().get("/kalender.ics"))
    engine.dispose()
    planned = [e for s, e in got.items() if s.startswith("Planlagt vedligeholdelse")]
    assert [(e["DTSTART"].dt, e["DTEND"].dt) for e in planned] == [(utc(2015, 9, 22, 8), utc(2015, 9, 22, 8, 30))]
    assert "Skift af driftscenter: skiftevinduet" not in got  # no window configured and no demo loaded


def test_a_maintenance_whose_title_names_maintenance_is_not_called_maintenance_twice(feed_app):
    from sqlalchemy.orm import Session

    with Session(feed_app.extensions["monitor"].engine) as session, session.begin():
        notice = session.scalars(select(Notice).where(Notice.title.startswith("PDX"))).one()
        notice.title = "Planlagt vedligeholdelse af Serviceplatformen"
    summaries = list(events(feed_app.test_client().get("/kalender.ics")))
    assert "Planlagt vedligeholdelse af Serviceplatformen" in summaries
    assert not [s for s in summaries if s.count("edligehold") > 1]

"""The weekly digest: one mail to each mailbox with its score and its change, its IT systems without
calls, the hints with their points and the maintenance of the coming week; none when nothing
changed and nothing is planned; never two in one ISO week (Copenhagen), also across the change
from summer time on 25 October 2026."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select

from monitor.db import session_factory
from monitor.demo import load_demo
from monitor.models import Mail, MunicipalityContact, Notice
from monitor.notify.digest import _changed, iso_week, run
from monitor.notify.outbox import deliver_due
from monitor.rating.service import store_snapshot
from monitor.scheduler import job_table
from tests import mailgrammar
from tests.cli_helpers import printed, run_cli
from tests.notify_helpers import add_notice

CEST, CET = dt.timezone(dt.timedelta(hours=2)), dt.timezone(dt.timedelta(hours=1))
MONDAY = dt.datetime(2026, 10, 19, 7, 0, tzinfo=CEST)  # ISO week 43


@pytest.fixture
def country(engine, settings):  # type: ignore[no-untyped-def]
    """The small demo loaded on Monday 19 October 2026 with snapshots of that day and a week before,
    and a maintenance planned in each of the two weeks that follow."""
    load_demo(engine, settings, seed=1, size="small", now=MONDAY)
    store_snapshot(engine, settings, dt.date(2026, 10, 12), now=MONDAY)
    with session_factory(engine)() as session:
        for upstream, start in (("mnt-43", dt.datetime(2026, 10, 21, 20, 0, tzinfo=dt.UTC)),
                                ("mnt-44", dt.datetime(2026, 10, 28, 21, 0, tzinfo=dt.UTC))):
            update = add_notice(session, components=("serviceplatformen",), kind="maintenance", status="scheduled",
                                title=f"Planlagt opdatering {upstream}", upstream_id=upstream)
            session.get(Notice, update.notice_id).scheduled_for = start
        session.commit()
    return engine


def digests(engine) -> list[tuple[int, str]]:  # type: ignore[no-untyped-def]
    with session_factory(engine)() as session:
        return [(m.contact_id, m.payload["week"]) for m in session.scalars(select(Mail).where(Mail.kind == "digest"))]


@pytest.mark.parametrize(("when", "week"), [
    (dt.datetime(2026, 10, 25, 2, 30, tzinfo=CEST), "2026-W43"),  # the first 02:30 of the night the clocks go back
    (dt.datetime(2026, 10, 25, 2, 30, tzinfo=CET), "2026-W43"),  # the second
    (dt.datetime(2026, 10, 25, 23, 30, tzinfo=CET), "2026-W43"),
    (dt.datetime(2026, 10, 26, 0, 30, tzinfo=CET), "2026-W44"),  # still Sunday in UTC
])
def test_the_week_is_the_iso_week_in_copenhagen(when, week):
    assert iso_week(when) == week


@pytest.mark.parametrize(("score", "previous", "changed"), [
    (6.04, 6.0, False), (6.1, 6.0, True), (None, None, False), (5.0, None, True), (None, 5.0, True)])
def test_a_score_changed_when_it_differs_at_one_decimal_or_appears_or_disappears(score, previous, changed):
    assert _changed(score, previous) is changed


def test_each_mailbox_gets_one_digest_a_week_across_the_change_from_summer_time(monkeypatch, country, settings):
    first = run(country, settings, MONDAY)
    assert first.week == "2026-W43" and first.queued == 98  # the maintenance of the 21st is news for everyone
    for when in (dt.datetime(2026, 10, 25, 2, 30, tzinfo=CEST), dt.datetime(2026, 10, 25, 2, 30, tzinfo=CET),
                 dt.datetime(2026, 10, 25, 23, 30, tzinfo=CET)):
        again = run(country, settings, when)
        assert (again.queued, again.already) == (0, 98)
    result = run_cli(monkeypatch, settings, "digest", "--now", "2026-10-26T00:30:00+01:00")
    assert printed(result) == ["digest 2026-W44: 98 mails queued, 0 mailboxes with nothing new, "
                               "0 already sent this week"]
    sent = digests(country)
    assert len(sent) == 196 and len(set(sent)) == 196
    assert {week for _, week in sent} == {"2026-W43", "2026-W44"}


def test_nothing_is_sent_when_nothing_changed_and_nothing_is_planned(engine, settings):
    load_demo(engine, settings, seed=1, size="small", now=MONDAY)
    later = MONDAY + dt.timedelta(days=60)  # no snapshot in the last week, none before it, nothing planned
    report = run(engine, settings, later)
    assert (report.queued, report.unchanged) == (0, 98)
    assert digests(engine) == []


def test_the_digest_on_the_wire_has_the_score_systems_hints_and_maintenance_in_the_mailbox_language(
        country, settings):
    run(country, settings, MONDAY)
    with session_factory(country)() as session:
        english_box = session.scalars(select(MunicipalityContact).where(MunicipalityContact.language == "en")).first()
        danish_box = session.scalars(select(MunicipalityContact).where(MunicipalityContact.language == "da")
                                     .order_by(MunicipalityContact.id)).first()
        assert english_box is not None and danish_box is not None
        payloads = {m.address: m.payload for m in session.scalars(select(Mail).where(Mail.kind == "digest"))}
    deliver_due(country, settings, MONDAY + dt.timedelta(minutes=1))
    mails = {}
    for path in Path(settings.mail.outbox_dir).glob("*.eml"):
        mail = mailgrammar.read(path.read_bytes())
        mails[mail.one("To").strip()] = mail
    assert len(mails) == 98
    danish, payload = mails[danish_box.address], payloads[danish_box.address]
    text = danish.part("text/plain")
    assert danish.subject.startswith(f"Ugens oversigt for {payload['name']}: score ")
    assert "Score: " in text and "siden sidste uge" in text
    assert "Planlagt vedligeholdelse den kommende uge:" in text
    assert "21. oktober 2026 kl. 22:00 CEST: Planlagt opdatering mnt-43" in text
    assert "mnt-44" not in text  # more than a week ahead
    for system in payload["silent_it_systems"]:
        assert f"- {system['name']}" in text
    for hint in payload["hints"]:
        assert hint["text_da"] in text
    assert any(h["gain"] for h in payload["hints"]) and "point)" in text
    english = mails[english_box.address].part("text/plain")
    assert "since last week" in english and "Maintenance planned in the coming week:" in english
    assert "Planlagt vedligeholdelse" not in english and "siden sidste uge" not in english
    for mail in mails.values():
        assert "/postkasse/stop/" in mail.one("List-Unsubscribe")
        assert mail.one("List-Unsubscribe-Post").strip() == "List-Unsubscribe=One-Click"
    assert len({m.one("Message-ID") for m in mails.values()}) == 98


def test_the_scheduler_runs_the_digest_at_the_configured_local_weekday_and_hour(tmp_path, sqlite_url):
    from tests.conftest import make_settings

    job = next(j for j in job_table(make_settings(tmp_path, sqlite_url, digest={"weekday": 5, "hour": 16}))
               if j.id == "digest")
    fire = job.trigger.get_next_fire_time(None, dt.datetime(2026, 10, 19, 0, 0, tzinfo=CEST))
    assert fire.isoformat() == "2026-10-23T16:00:00+02:00"
    fire = job.trigger.get_next_fire_time(None, dt.datetime(2026, 10, 26, 0, 0, tzinfo=CET))
    assert fire.isoformat() == "2026-10-30T16:00:00+01:00"  # the same local hour after the change

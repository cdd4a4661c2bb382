"""Maintenance reminders: the subscribers of a component hear 24 and 1 hours before a planned
maintenance starts, and when its time moves; never for one cancelled or started; once each."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select

from monitor.models import Mail, Notice
from monitor.notify.outbox import deliver_due
from monitor.notify.reminders import run
from monitor.scheduler import job_table
from tests import mailgrammar
from tests.notify_helpers import add_notice, add_subscriber

START = dt.datetime(2020, 12, 5, 21, 0, tzinfo=dt.UTC)  # Saturday 5 December, 22:00 in Copenhagen


@pytest.fixture
def planned(engine, session):  # type: ignore[no-untyped-def]
    """A maintenance of Beskedfordeler planned for START, and who follows what."""
    update = add_notice(session, components=("beskedfordeler",), kind="maintenance", status="scheduled",
                        title="Opdatering af Beskedfordeleren", upstream_id="mnt-1")
    notice = session.get(Notice, update.notice_id)
    notice.scheduled_for, notice.scheduled_until = START, START + dt.timedelta(hours=3)
    add_subscriber(session, "beskeder@kommune.example.dk", ("beskedfordeler",))
    add_subscriber(session, "alt@kommune.example.dk", language="en")  # all components
    add_subscriber(session, "cpr@kommune.example.dk", ("serviceplatformen",))
    add_subscriber(session, "ude@kommune.example.dk", ("beskedfordeler",), unsubscribed=True)
    session.commit()
    return notice.id


def reminders(session) -> list[tuple[str, str, int | None]]:  # type: ignore[no-untyped-def]
    session.expire_all()
    return [(m.address, m.payload["what"], m.payload["hours"])
            for m in session.scalars(select(Mail).where(Mail.kind == "reminder").order_by(Mail.id))]


def move(session, notice_id: int, start: dt.datetime) -> None:  # type: ignore[no-untyped-def]
    notice = session.get(Notice, notice_id)
    notice.scheduled_for = start
    session.commit()


def test_the_subscribers_of_its_components_get_a_reminder_24_hours_and_1_hour_before_once_each(
        engine, settings, session, planned):
    for hours_before in (30, 24, 23, 23, 1, 0.5):
        run(engine, settings, START - dt.timedelta(hours=hours_before))
    assert sorted(reminders(session)) == [("alt@kommune.example.dk", "reminder", 1),
                                          ("alt@kommune.example.dk", "reminder", 24),
                                          ("beskeder@kommune.example.dk", "reminder", 1),
                                          ("beskeder@kommune.example.dk", "reminder", 24)]


def test_a_run_that_comes_late_sends_only_the_nearest_reminder(engine, settings, session, planned):
    run(engine, settings, START - dt.timedelta(minutes=40))
    assert {hours for _, _, hours in reminders(session)} == {1}


@pytest.mark.parametrize("status", ["in_progress", "completed", "cancelled"])
def test_no_reminder_for_a_maintenance_started_completed_or_cancelled(engine, settings, session, planned, status):
    session.get(Notice, planned).status = status
    session.commit()
    run(engine, settings, START - dt.timedelta(hours=1))
    assert reminders(session) == []


def test_no_reminder_once_the_maintenance_has_started(engine, settings, session, planned):
    run(engine, settings, START + dt.timedelta(minutes=1))
    assert reminders(session) == []


def test_a_moved_maintenance_is_announced_once_and_reminded_at_its_new_time(engine, settings, session, planned):
    run(engine, settings, START - dt.timedelta(hours=48))
    assert reminders(session) == []  # the first time seen is no news
    later = START + dt.timedelta(days=1)
    move(session, planned, later)
    run(engine, settings, START - dt.timedelta(hours=47))
    run(engine, settings, START - dt.timedelta(hours=46))
    assert sorted(reminders(session)) == [("alt@kommune.example.dk", "moved", None),
                                          ("beskeder@kommune.example.dk", "moved", None)]
    run(engine, settings, START - dt.timedelta(hours=1))  # the old time: nothing
    run(engine, settings, later - dt.timedelta(hours=1))
    assert [w for _, w, h in reminders(session)] == ["moved", "moved", "reminder", "reminder"]


def test_a_maintenance_moved_back_to_its_first_time_is_announced_again(engine, settings, session, planned):
    run(engine, settings, START - dt.timedelta(hours=72))
    later = START + dt.timedelta(days=1)
    move(session, planned, later)
    run(engine, settings, START - dt.timedelta(hours=71))
    move(session, planned, START)  # A → B → A: back to the first time
    run(engine, settings, START - dt.timedelta(hours=70))
    run(engine, settings, START - dt.timedelta(hours=69))  # seen again: no news
    session.expire_all()
    moved = [m.payload for m in session.scalars(select(Mail).where(Mail.kind == "reminder").order_by(Mail.id))
             if m.address == "beskeder@kommune.example.dk"]
    assert [(p["start"], p["previous_start"]) for p in moved] == [
        (later.isoformat(), START.isoformat()), (START.isoformat(), later.isoformat())]
    move(session, planned, later)  # and forth once more
    run(engine, settings, START - dt.timedelta(hours=68))
    assert [w for a, w, _ in reminders(session) if a == "beskeder@kommune.example.dk"] == ["moved"] * 3


def test_the_mails_on_the_wire_say_when_in_the_subscribers_language_with_their_links(engine, settings, session,
                                                                                      planned):
    run(engine, settings, START - dt.timedelta(hours=48))
    move(session, planned, START + dt.timedelta(hours=2))
    run(engine, settings, START - dt.timedelta(hours=21))  # 23 hours before the new start
    deliver_due(engine, settings, START)
    mails = [mailgrammar.read(p.read_bytes()) for p in sorted(Path(settings.mail.outbox_dir).glob("*.eml"))]
    assert len(mails) == 4 and len({m.one("Message-ID") for m in mails}) == 4
    danish = [m for m in mails if m.one("Content-Language").strip() == "da"]
    assert {m.subject for m in danish} == {"Nyt tidspunkt for planlagt vedligeholdelse: Opdatering af Beskedfordeleren",
                                           "Om 24 timer: Opdatering af Beskedfordeleren"}
    moved = next(m for m in danish if m.subject.startswith("Nyt")).part("text/plain")
    assert "Begynder: 6. december 2020 kl. 00:00 CET" in moved
    assert "Tidligere planlagt til: 5. december 2020 kl. 22:00 CET" in moved
    english = [m for m in mails if m.one("Content-Language").strip() == "en"]
    assert english and all("Starts:" in m.part("text/plain") and "Begynder" not in m.part("text/plain")
                           for m in english)
    for mail in mails:
        assert "/u/" in mail.one("List-Unsubscribe")
        assert mail.one("List-Unsubscribe-Post").strip() == "List-Unsubscribe=One-Click"


def test_the_scheduler_runs_the_reminders_and_the_hours_are_configurable(tmp_path, sqlite_url):
    from monitor.settings import ConfigError, Settings
    from tests.conftest import make_settings

    assert "monitor.notify.reminders:run" in {job.target for job in job_table(Settings())}
    assert make_settings(tmp_path, sqlite_url, notices={"reminders_hours": [48]}).notices.reminders_hours == (48,)
    with pytest.raises(ConfigError, match="notices.reminders_hours"):
        make_settings(tmp_path, sqlite_url, notices={"reminders_hours": [0]})

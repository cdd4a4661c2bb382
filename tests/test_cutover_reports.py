"""The cut-over report: once the window has ended and a municipality is judged, one mail to its
mailboxes (status and reasons, silent integrations, open tasks, the support link), and one more
when it turns green; exactly once per municipality and window, whatever the runs and restarts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select

from monitor.db import make_engine, session_factory
from monitor.models import Agreement, CutoverTask, Mail, MunicipalityContact
from monitor.notify.cutoverreport import run
from monitor.notify.outbox import deliver_due
from monitor.scheduler import job_table
from tests import mailgrammar
from tests.alert_helpers import WINDOW, add_mailbox, alert_settings, red_and_green
from tests.cutover_helpers import add_hours, hours


@pytest.fixture
def world(tmp_path, db_url):  # type: ignore[no-untyped-def]
    """Aarhus red with one open and one done task, Odense green; a mailbox each (Aarhus's also in English)."""
    settings = alert_settings(tmp_path, db_url)
    engine = make_engine(settings.database.url)
    with session_factory(engine)() as session:
        red_and_green(session)
        add_mailbox(session, "751", "infrastruktur@aarhus.example.dk")
        add_mailbox(session, "751", "it-drift@aarhus.example.dk", "en")
        add_mailbox(session, "461", "infrastruktur@odense.example.dk")
        session.add_all([CutoverTask(municipality_code="751", task="Opdater certifikat til nyt miljø", done=False,
                                     deadline=dt.date(2020, 11, 27)),
                         CutoverTask(municipality_code="751", task="Test adgang fra fagsystem", done=True)])
        session.commit()
    yield settings, engine
    engine.dispose()


def reports(engine) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    with session_factory(engine)() as session:
        return [(m.address, m.payload["status"]) for m in session.scalars(
            select(Mail).where(Mail.kind == "cutover_report").order_by(Mail.id))]


def sent(settings, engine, now) -> list[mailgrammar.Mail]:  # type: ignore[no-untyped-def]
    deliver_due(engine, settings, now)
    return [mailgrammar.read(p.read_bytes()) for p in sorted(Path(settings.mail.outbox_dir).glob("*.eml"))]


def test_nothing_is_reported_during_the_window_or_before_a_complete_hour_after_it(world):
    settings, engine = world
    run(engine, settings, WINDOW["end"] - dt.timedelta(hours=1))
    run(engine, settings, WINDOW["end"] + dt.timedelta(minutes=30))
    assert reports(engine) == []


def test_each_judged_municipality_gets_one_report_however_often_the_job_runs(world, now):
    settings, engine = world
    for minutes in (0, 5, 10):  # three runs of the job, as after restarts of the scheduler
        run(engine, settings, now + dt.timedelta(minutes=minutes))
    assert sorted(reports(engine)) == [("infrastruktur@aarhus.example.dk", "red"),
                                       ("infrastruktur@odense.example.dk", "green"),
                                       ("it-drift@aarhus.example.dk", "red")]


def test_the_report_says_the_status_reasons_silent_integrations_open_tasks_and_where_to_get_help(world, now):
    settings, engine = world
    run(engine, settings, now)
    mails = {m.one("To").strip(): m for m in sent(settings, engine, now)}
    danish = mails["infrastruktur@aarhus.example.dk"]
    text = danish.part("text/plain")
    assert danish.subject == "Skiftet af Serviceplatformen: Aarhus er rød"
    assert "Status: rød" in text and "ingen kald (normalt 1.200)" in text
    assert "- System aarhus-1 (KMD): SF1520" in text
    assert "1 af 2 opgaver til skiftet er ikke løst:" in text
    assert "- Opdater certifikat til nyt miljø (frist 2020-11-27)" in text and "Test adgang" not in text
    assert "Hjælp til skiftet: https://support.example.dk/skift" in text and "/skift?kommune=751" in text
    assert danish.one("List-Unsubscribe-Post").strip() == "List-Unsubscribe=One-Click"
    english = mails["it-drift@aarhus.example.dk"]
    assert english.one("Content-Language").strip() == "en"
    assert english.subject == "Cut-over of Serviceplatformen: Aarhus is red"
    assert "Silent integrations" in english.part("text/plain") and "Tavse" not in english.part("text/plain")
    odense = mails["infrastruktur@odense.example.dk"].part("text/plain")
    assert "Status: grøn" in odense and "Tavse integrationer" not in odense


def test_a_municipality_that_turns_green_gets_one_more_report_and_no_third(world, now):
    settings, engine = world
    run(engine, settings, now)
    with session_factory(engine)() as session:  # Aarhus's integration calls again from the next hour
        agreement = session.scalars(select(Agreement).where(Agreement.uuid == "aarhus-1")).one()
        add_hours(session, agreement, hours(WINDOW["end"], 8), 200)
        session.commit()
    later = now + dt.timedelta(hours=2)
    run(engine, settings, later)
    run(engine, settings, later + dt.timedelta(minutes=5))
    aarhus = [status for address, status in reports(engine) if address == "infrastruktur@aarhus.example.dk"]
    assert aarhus == ["red", "green"]
    with session_factory(engine)() as session:
        assert session.scalar(select(func.count()).select_from(Mail).where(Mail.kind == "cutover_report")) == 5


def test_a_mailbox_that_stopped_reports_gets_none(world, now):
    settings, engine = world
    with session_factory(engine)() as session:
        for contact in session.scalars(select(MunicipalityContact).where(MunicipalityContact.municipality_code == "461")):
            contact.stopped = ["cutover_report"]
        session.commit()
    run(engine, settings, now)
    assert [a for a, _ in reports(engine) if "odense" in a] == []


def test_the_scheduler_runs_the_reports():
    from monitor.settings import Settings

    assert "monitor.notify.cutoverreport:run" in {job.target for job in job_table(Settings())}

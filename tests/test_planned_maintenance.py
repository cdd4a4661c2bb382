"""Planned maintenance reads as planned until its window begins: "Planlagt fra … til …", never
among the open notices before then, on /, /driftsstatus and in the Atom feed."""

from __future__ import annotations

import datetime as dt

from flask import Flask
from sqlalchemy.orm import Session

from monitor.models import NoticeUpdate
from monitor.notify.outbox import deliver_due, enqueue_for_update
from monitor.settings import Settings
from tests.notify_helpers import add_notice, add_subscriber
from tests.test_english_flow import wire

DAY = dt.timedelta(days=1)


def plan_maintenance(session: Session, now: dt.datetime) -> int:
    """A maintenance announced now, planned a week ahead for three hours; its update's id."""
    update = add_notice(session, kind="maintenance", status="scheduled", title="Opgradering af databasen",
                        at=now, upstream_id="maint-1")
    update.notice.scheduled_for = now + 7 * DAY
    update.notice.scheduled_until = now + 7 * DAY + dt.timedelta(hours=3)
    session.commit()
    return update.id


def test_maintenance_a_week_ahead_is_planned_not_open_on_the_overview_and_driftsstatus(
        app: Flask, session: Session, now: dt.datetime) -> None:
    plan_maintenance(session, now)
    app.config["MONITOR_CLOCK"] = lambda: now
    client = app.test_client()
    overview = client.get("/").get_data(as_text=True)
    assert "åben driftsmeddelelse" not in overview and "åbne driftsmeddelelser" not in overview
    assert "Planlagt vedligeholdelse" in overview
    assert "Planlagt fra" in overview and "05.12.2020 kl. 12:00 CET" in overview and "siden" not in overview
    status = client.get("/driftsstatus").get_data(as_text=True)
    opened, _, planned = status.partition('id="planlagt"')
    assert "Ingen åbne driftsforstyrrelser eller vedligeholdelse lige nu." in opened and "Opgradering af databasen" not in opened
    assert "Opgradering af databasen" in planned and "Planlagt fra" in planned

    app.config["MONITOR_CLOCK"] = lambda: now + 7 * DAY + dt.timedelta(minutes=1)  # the window has begun
    client = app.test_client()
    assert "1 åben driftsmeddelelse" in client.get("/").get_data(as_text=True)
    opened = client.get("/driftsstatus").get_data(as_text=True).partition('id="historik"')[0]
    assert "Opgradering af databasen" in opened and 'id="planlagt"' not in opened


def test_the_atom_feed_says_when_maintenance_is_planned_not_that_it_started(
        client, session: Session, now: dt.datetime) -> None:  # type: ignore[no-untyped-def]
    plan_maintenance(session, now)
    danish = client.get("/notices.atom").get_data(as_text=True)
    assert "planlagt fra 05.12.2020 kl. 12:00 CET til 05.12.2020 kl. 15:00 CET" in danish
    assert "startet" not in danish
    english = client.get("/notices.atom?lang=en").get_data(as_text=True)
    assert "planned from" in english and "started" not in english


def test_the_mail_of_a_planned_maintenance_says_from_when_to_when_it_is_planned(
        app: Flask, session: Session, settings: Settings, now: dt.datetime, tmp_path) -> None:  # type: ignore[no-untyped-def]
    add_subscriber(session, "leder@kommune.dk", ("serviceplatformen",))
    update = session.get(NoticeUpdate, plan_maintenance(session, now))
    assert update is not None
    enqueue_for_update(session, update)
    session.commit()
    assert deliver_due(app.extensions["monitor"].engine, settings, now=now).sent == 1
    [eml] = (tmp_path / "outbox").glob("*.eml")
    _head, body = wire(eml.read_bytes())
    assert "Planlagt fra 5. december 2020 kl. 12:00 CET til 5. december 2020 kl. 15:00 CET" in body

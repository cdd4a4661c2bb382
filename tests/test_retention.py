"""Personal data kept no longer than needed: delivery rows lose their address after [mail] retention_days."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from monitor.models import Delivery, LoginLink, Notice, NoticeSource, NoticeUpdate, Subscriber
from monitor.notify.retention import apply_retention
from monitor.scheduler import job_table
from monitor.settings import Settings
from monitor.users import add_user, issue_link

ADDRESS = "reject-1@example.dk"
REFUSED = f"PermanentError: recipient refused: {{'{ADDRESS}': (550, b'5.1.1 unknown')}}"


def deliveries(session: Session, now: dt.datetime, ages_days: list[int]) -> list[int]:
    source = NoticeSource(name="s", url="https://status.example.invalid/history.rss", kind="feed")
    session.add(source)
    session.flush()
    notice = Notice(source_id=source.id, upstream_id="n", kind="incident", title="t", status="resolved")
    session.add(notice)
    session.flush()
    ids = []
    for i, age in enumerate(ages_days):
        update = NoticeUpdate(notice_id=notice.id, status="resolved", at=now - dt.timedelta(days=age))
        sub = Subscriber(channel="email", address=f"p{i}-{ADDRESS}", confirmed_at=now - dt.timedelta(days=400))
        session.add_all([update, sub])
        session.flush()
        d = Delivery(update_id=update.id, subscriber_id=sub.id, channel="email", status="failed",
                     last_error=REFUSED, created_at=now - dt.timedelta(days=age))
        session.add(d)
        session.flush()
        ids.append(d.id)
    session.commit()
    return ids


def test_a_delivery_older_than_retention_days_loses_the_address_in_its_error(engine: Engine, session: Session,
                                                                             settings: Settings, now) -> None:
    old, young = deliveries(session, now, [91, 89])
    assert apply_retention(engine, settings, now=now) == 1
    session.expire_all()
    assert session.get(Delivery, old).last_error == "PermanentError: recipient refused: {'r…1@example.dk': " \
                                                     "(550, b'5.1.1 unknown')}"
    assert session.get(Delivery, young).last_error == REFUSED, "still needed for 89 days old"


def test_applying_the_retention_twice_changes_nothing_more(engine: Engine, session: Session, settings: Settings,
                                                           now) -> None:
    deliveries(session, now, [200, 120])
    assert apply_retention(engine, settings, now=now) == 2
    before = session.scalars(select(Delivery.last_error).order_by(Delivery.id)).all()
    assert apply_retention(engine, settings, now=now) == 0
    assert session.scalars(select(Delivery.last_error).order_by(Delivery.id)).all() == before
    assert not any(ADDRESS in text for text in before)


def test_the_retention_also_deletes_sign_in_links_a_day_after_they_expired(engine: Engine, session: Session,
                                                                             settings: Settings, now) -> None:
    user = add_user(session, "drift@example.dk", "operator", now=now)
    issue_link(session, "k", user, 15, now - dt.timedelta(days=2))
    issue_link(session, "k", user, 15, now)
    session.commit()
    apply_retention(engine, settings, now=now)
    assert len(session.scalars(select(LoginLink)).all()) == 1


def test_the_scheduler_applies_the_retention_every_night(settings: Settings) -> None:
    jobs = {job.id: job for job in job_table(settings)}
    assert jobs["retention"].target == "monitor.notify.retention:apply_retention"
    assert jobs["purge"].target.endswith(":purge_unsubscribed")

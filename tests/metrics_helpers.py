"""A database holding a little of everything /metrics reads."""

from __future__ import annotations

import datetime as dt

from monitor import runs
from monitor.models import (
    CollectorRun,
    CutoverTask,
    Delivery,
    HeldCallCount,
    Notice,
    NoticeComponent,
    NoticeSource,
    NoticeUpdate,
    RatingResult,
    RatingRun,
    Subscriber,
)
from tests.cutover_helpers import add_agreement, add_hours, hours


def fill(session, now):
    """A database with a little of everything the metrics read, around `now`."""
    a = add_agreement(session, "a101", "101")
    add_hours(session, a, hours(now - dt.timedelta(days=7, hours=6), 6), 100)
    add_hours(session, a, hours(now - dt.timedelta(hours=6), 6), 0)
    add_agreement(session, "a101-pending", "101", status="pending")
    run = RatingRun(as_of=dt.date(2020, 11, 28), revision=1, method_version="2020.11", parameters={})
    session.add(run)
    session.flush()
    session.add(RatingResult(run_id=run.id, municipality_code="101", score=6.25, status="ok", document={
        "parts": {"service_agreements": {"score": 5.5}, "calls_per_citizen": {"score": 1.0},
                  "it_systems_with_calls": {"score": None}}}))
    session.add(RatingResult(run_id=run.id, municipality_code="147", score=None, status="inconclusive",
                             document={"parts": {}}))
    source = NoticeSource(name="driftstatus", url="file:///feed.rss", kind="feed", consecutive_failures=2,
                          last_success_at=now - dt.timedelta(minutes=5))
    session.add(source)
    session.flush()
    notice = Notice(source_id=source.id, upstream_id="n1", kind="incident", title="Nedbrud", status="investigating",
                    started_at=now, updated_at=now)
    session.add(notice)
    session.flush()
    session.add(NoticeComponent(notice_id=notice.id, component_slug="beskedfordeler"))
    update = NoticeUpdate(notice_id=notice.id, status="investigating", at=now, body_html="<p>x</p>")
    subscriber = Subscriber(channel="email", address="drift@example.org", confirmed_at=now)
    session.add_all([update, subscriber])
    session.flush()
    session.add_all([Delivery(update_id=update.id, subscriber_id=subscriber.id, channel="email", status="queued"),
                     HeldCallCount(agreement_uuid="unknown", granularity="hour", period_start="2020-11-28T10:00:00",
                                   calls=5)])
    session.add_all([CollectorRun(collector="calls", started_at=now - dt.timedelta(minutes=2),
                                  finished_at=now - dt.timedelta(minutes=1), outcome="success"),
                     CollectorRun(collector="calls", started_at=now, finished_at=now, outcome="failure")])
    runs.increment(session, "import_rows_total", {"kind": "calls", "outcome": "imported"}, 1200)
    runs.increment(session, "notifications_total", {"channel": "email", "outcome": "sent"}, 3)
    runs.increment(session, "mail_sent_total", {"kind": "notice"}, 3)
    runs.increment(session, "collector_runs_total", {"collector": "calls", "outcome": "success"}, 4)
    session.add(CutoverTask(municipality_code="101", task="Skift endpoint", done=True))
    session.commit()

"""The outbox: who gets a notice, exactly once, through a mail server that may be down."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from monitor.models import CollectorRun, CounterValue, Delivery
from monitor.notify.outbox import deliver_due, enqueue_for_update, queue_summary
from monitor.notify.retry import backoff
from monitor.settings import Settings
from tests.cli_helpers import printed, run_cli
from tests.conftest import make_settings
from tests.notify_helpers import (
    SmtpServer,
    WebhookReceiver,
    add_notice,
    add_subscriber,
    add_update,
    parts,
    smtp_section,
)


@pytest.fixture
def settings(tmp_path: Path, db_url: str, smtp: SmtpServer) -> Settings:
    return make_settings(tmp_path, db_url, mail=smtp_section(smtp))


def deliveries(session: Session) -> list[Delivery]:
    session.expire_all()
    return list(session.scalars(select(Delivery).order_by(Delivery.id)))


def counter(session: Session, channel: str, outcome: str) -> float:
    value = session.scalar(select(CounterValue.value).where(
        CounterValue.metric == "notifications_total",
        CounterValue.labels == f"channel={channel},outcome={outcome}"))
    return value or 0.0


@pytest.mark.parametrize(("notice_components", "expected"), [
    (("serviceplatformen",), {"all@k.dk", "sp@k.dk", "sp-and-org@k.dk"}),
    (("organisation", "klassifikation"), {"all@k.dk", "sp-and-org@k.dk", "klass@k.dk"}),
    ((), {"all@k.dk"}),
])
def test_a_notice_goes_to_those_who_follow_its_components_or_all(
        session: Session, notice_components: tuple[str, ...], expected: set[str]) -> None:
    add_subscriber(session, "all@k.dk")
    add_subscriber(session, "sp@k.dk", ("serviceplatformen",))
    add_subscriber(session, "sp-and-org@k.dk", ("serviceplatformen", "organisation"))
    add_subscriber(session, "klass@k.dk", ("klassifikation",))
    add_subscriber(session, "beskeder@k.dk", ("beskedfordeler",))
    add_subscriber(session, "pending@k.dk", confirmed=False)
    add_subscriber(session, "gone@k.dk", unsubscribed=True)
    upd = add_notice(session, components=notice_components)
    assert enqueue_for_update(session, upd) == len(expected)
    session.commit()
    got = {d.subscriber_id for d in deliveries(session)}
    from monitor.models import Subscriber
    assert {session.get(Subscriber, i).address for i in got} == expected


def test_enqueueing_the_same_update_twice_queues_once(session: Session) -> None:
    add_subscriber(session, "a@k.dk")
    add_subscriber(session, "b@k.dk", ("serviceplatformen",))
    upd = add_notice(session)
    assert enqueue_for_update(session, upd) == 2
    assert enqueue_for_update(session, upd) == 0
    session.commit()
    assert len(deliveries(session)) == 2


def test_a_backfilled_update_queues_nothing(session: Session) -> None:
    add_subscriber(session, "a@k.dk")
    upd = add_notice(session, backfilled=True)
    assert enqueue_for_update(session, upd) == 0


def test_each_new_update_of_a_notice_is_delivered_once(session: Session, engine: Engine, settings: Settings,
                                                      smtp: SmtpServer, now: dt.datetime) -> None:
    add_subscriber(session, "a@k.dk", ("serviceplatformen",))
    first = add_notice(session)
    enqueue_for_update(session, first)
    resolved = add_update(session, first, "resolved", 45)
    enqueue_for_update(session, resolved)
    session.commit()
    report = deliver_due(engine, settings, now=now)
    assert (report.sent, report.retry, report.failed) == (2, 0, 0)
    assert deliver_due(engine, settings, now=now + dt.timedelta(hours=1)).sent == 0
    subjects = [m["Subject"] for m in smtp.inbox.messages]
    assert len(subjects) == 2
    assert "Undersøger" in subjects[0] and "Løst" in subjects[1]
    assert all(d.status == "sent" and d.attempts == 1 for d in deliveries(session))
    assert counter(session, "email", "sent") == 2


def test_a_notice_mail_has_both_parts_the_notice_and_one_click_unsubscribe_headers(
        session: Session, engine: Engine, settings: Settings, smtp: SmtpServer, now: dt.datetime) -> None:
    sub = add_subscriber(session, "leder@kommune.dk", ("serviceplatformen",))
    upd = add_notice(session, components=("serviceplatformen", "beskedfordeler"))
    enqueue_for_update(session, upd)
    session.commit()
    deliver_due(engine, settings, now=now)
    [msg] = smtp.inbox.messages
    assert msg["To"] == "leder@kommune.dk"
    assert msg["List-Unsubscribe"].startswith("<http://127.0.0.1:8000/u/") and msg["List-Unsubscribe"].endswith(">")
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert re.fullmatch(r"<[0-9a-f]{32}@[^>]+>", msg["Message-ID"])
    text, html = parts(msg)
    for body in (text, html):
        assert "Forsinkelser på Serviceplatformen" in body
        assert "Driftsforstyrrelse" in body and "Undersøger" in body
        assert "Serviceplatformen, Beskedfordeler" in body
        assert "Vi undersøger forsinkede svar." in body
        assert f"http://127.0.0.1:8000/driftsstatus?lang=da#notice-{upd.notice_id}" in body
        assert "http://127.0.0.1:8000/manage/" in body
    assert "<p>Vi undersøger forsinkede svar.</p>" in html
    assert "<p>" not in text
    assert sub.language == "da"


def test_a_hostile_notice_title_stays_harmless(session: Session, engine: Engine, settings: Settings,
                                              smtp: SmtpServer, now: dt.datetime) -> None:
    add_subscriber(session, "a@k.dk")
    title = 'Nedbrud <script>alert(1)</script>\r\nBcc: victim@evil.example\n<img src=x onerror=alert(2)>'
    body = '<p onclick="x()">Tekst</p><script>steal()</script><a href="javascript:alert(3)">klik</a>'
    enqueue_for_update(session, add_notice(session, title=title, body=body))
    session.commit()
    assert deliver_due(engine, settings, now=now).sent == 1
    [msg] = smtp.inbox.messages
    assert smtp.inbox.recipients == [["a@k.dk"]]
    assert msg["Bcc"] is None
    assert "\n" not in msg["Subject"] and "\r" not in msg["Subject"]
    text, html = parts(msg)
    assert "<script>" not in html and "onerror" not in html.replace("onerror=alert(2)&gt;", "")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "steal()" not in html and "javascript:" not in html and "onclick" not in html
    assert "Tekst" in text and "steal" not in text


def test_a_mail_server_that_is_down_delays_mail_and_never_loses_or_doubles_it(
        session: Session, engine: Engine, settings: Settings, smtp: SmtpServer, now: dt.datetime) -> None:
    for i in range(3):
        add_subscriber(session, f"s{i}@k.dk")
    enqueue_for_update(session, add_notice(session))
    session.commit()
    smtp.stop()
    report = deliver_due(engine, settings, now=now)
    assert (report.sent, report.retry, report.failed) == (0, 3, 0)
    rows = deliveries(session)
    assert all(d.status == "queued" and d.attempts == 1 and d.next_attempt_at == now + backoff(1) for d in rows)
    assert all("Connection" in (d.last_error or "") or "refused" in (d.last_error or "") for d in rows)
    # Not due yet: nothing is tried before the backoff has passed.
    assert deliver_due(engine, settings, now=now + dt.timedelta(seconds=30)).retry == 0
    second = deliver_due(engine, settings, now=now + dt.timedelta(minutes=1))
    assert second.retry == 3
    assert all(d.attempts == 2 and d.next_attempt_at == now + dt.timedelta(minutes=1) + backoff(2)
               for d in deliveries(session))
    smtp.start()
    third = deliver_due(engine, settings, now=now + dt.timedelta(minutes=5))
    assert (third.sent, third.retry) == (3, 0)
    assert deliver_due(engine, settings, now=now + dt.timedelta(days=1)).sent == 0
    assert sorted(r[0] for r in smtp.inbox.recipients) == ["s0@k.dk", "s1@k.dk", "s2@k.dk"]
    assert counter(session, "email", "retry") == 6 and counter(session, "email", "sent") == 3


def test_a_delivery_fails_for_good_after_max_attempts_and_is_shown(
        session: Session, engine: Engine, tmp_path: Path, db_url: str, now: dt.datetime) -> None:
    settings = make_settings(tmp_path, db_url, mail={"backend": "smtp", "smtp_host": "127.0.0.1",
                                                     "smtp_port": 9, "max_attempts": 3})
    add_subscriber(session, "a@k.dk")
    enqueue_for_update(session, add_notice(session))
    session.commit()
    t = now
    outcomes = []
    for _ in range(3):
        report = deliver_due(engine, settings, now=t)
        outcomes.append((report.retry, report.failed))
        t += dt.timedelta(hours=7)
    assert outcomes == [(1, 0), (1, 0), (0, 1)]
    [row] = deliveries(session)
    assert row.status == "failed" and row.attempts == 3 and row.last_error
    summary = queue_summary(session)
    assert summary["counts"] == {"failed": 1} and summary["depth"] == 0
    assert summary["failures"][0]["id"] == row.id
    assert deliver_due(engine, settings, now=t + dt.timedelta(days=1)).failed == 0
    assert counter(session, "email", "failed") == 1


def test_a_crash_between_sending_and_marking_resends_once_and_logs_it(
        session: Session, engine: Engine, settings: Settings, smtp: SmtpServer, now: dt.datetime,
        caplog: pytest.LogCaptureFixture) -> None:
    add_subscriber(session, "a@k.dk")
    enqueue_for_update(session, add_notice(session))
    session.commit()
    # As a process that claimed the row and died after the server accepted the mail:
    session.execute(update(Delivery).values(status="sending", attempts=1, next_attempt_at=now + dt.timedelta(minutes=15)))
    session.commit()
    assert deliver_due(engine, settings, now=now).sent == 0  # the lease still holds
    with caplog.at_level(logging.WARNING, logger="monitor.notify.outbox"):
        assert deliver_due(engine, settings, now=now + dt.timedelta(minutes=16)).sent == 1
    assert "interrupted" in caplog.text
    assert deliver_due(engine, settings, now=now + dt.timedelta(hours=2)).sent == 0
    assert len(smtp.inbox.messages) == 1
    [row] = deliveries(session)
    assert row.status == "sent" and row.attempts == 2


def test_each_mail_is_marked_sent_before_the_next_one_can_arrive(
        session: Session, engine: Engine, settings: Settings, smtp: SmtpServer, now: dt.datetime,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A mark runs while the next mail is sent, yet a crash may still double only one mail:
    when the server takes a mail's message, every mail it took before is marked sent."""
    for i in range(5):
        add_subscriber(session, f"s{i}@k.dk")
    enqueue_for_update(session, add_notice(session))
    session.commit()
    marked_on_arrival: list[int] = []
    receive = smtp.inbox.handle_DATA

    async def handle_data(server: object, smtp_session: object, envelope: object) -> str:
        with engine.connect() as conn:
            marked_on_arrival.append(conn.scalar(select(func.count()).where(Delivery.status == "sent")) or 0)
        return await receive(server, smtp_session, envelope)

    monkeypatch.setattr(smtp.inbox, "handle_DATA", handle_data)
    assert deliver_due(engine, settings, now=now).sent == 5
    assert marked_on_arrival == [0, 1, 2, 3, 4]
    assert [d.status for d in deliveries(session)] == ["sent"] * 5


def test_a_mail_that_cannot_be_built_fails_on_its_own_while_its_neighbours_go_out(
        session: Session, engine: Engine, settings: Settings, smtp: SmtpServer, now: dt.datetime) -> None:
    """The next mail is built while the server takes the one before: its error is its own, not that one's."""
    for address in ("s0@k.dk", "not plain@k.dk", "s2@k.dk"):
        add_subscriber(session, address)
    enqueue_for_update(session, add_notice(session))
    session.commit()
    report = deliver_due(engine, settings, now=now)
    assert (report.sent, report.retry, report.failed) == (2, 1, 0)
    assert smtp.inbox.recipients == [["s0@k.dk"], ["s2@k.dk"]]
    rows = deliveries(session)
    assert [d.status for d in rows] == ["sent", "queued", "sent"]
    assert "AddressNotSendable" in (rows[1].last_error or "")


def test_a_mark_that_fails_stops_the_run_before_the_next_mail_arrives(
        session: Session, engine: Engine, settings: Settings, smtp: SmtpServer, now: dt.datetime,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from concurrent.futures import Future

    from monitor.notify.marks import SentMarker

    for i in range(3):
        add_subscriber(session, f"s{i}@k.dk")
    enqueue_for_update(session, add_notice(session))
    session.commit()

    def database_gone(*args: object) -> Future[bool]:
        failed: Future[bool] = Future()
        failed.set_exception(ConnectionError("the database went away"))
        return failed

    monkeypatch.setattr(SentMarker, "submit", database_gone)
    report = deliver_due(engine, settings, now=now)
    assert report.sent == 0 and "went away" in report.error
    assert len(smtp.inbox.messages) == 1  # the second mail was abandoned before its message
    # As after a crash: the batch stays claimed until its lease runs out; then only the first is sent again.
    assert [d.status for d in deliveries(session)] == ["sending"] * 3


@pytest.mark.parametrize("table", ["deliveries", "mails"])
def test_a_run_that_claims_in_between_another_runs_read_and_update_never_makes_it_send_twice(
        session: Session, engine: Engine, settings: Settings, smtp: SmtpServer, now: dt.datetime,
        monkeypatch: pytest.MonkeyPatch, table: str) -> None:
    """The interleaving is forced, not hoped for: run A reads the due rows and stops before its
    UPDATE; run B claims, sends and marks the same rows; then A goes on. A claim whose UPDATE did
    not repeat the condition would take B's rows again and send every one a second time."""
    import threading

    from monitor.notify import queue
    from monitor.notify.mailqueue import queue_mail

    for i in range(5):
        sub = add_subscriber(session, f"s{i}@k.dk")
        if table == "mails":
            queue_mail(session, "manage", sub.address, "da", subscriber=sub)
    if table == "deliveries":
        enqueue_for_update(session, add_notice(session))
    session.commit()
    a_has_read, b_is_done = threading.Event(), threading.Event()
    paused: list[list[int]] = []

    def pause(name: str, ids: list[int]) -> None:
        if threading.current_thread() is run_a and name == table and not paused:
            paused.append(ids)
            a_has_read.set()
            assert b_is_done.wait(60), "run B did not finish"

    monkeypatch.setattr(queue, "pause_before_update", pause)
    reports = {}
    run_a = threading.Thread(target=lambda: reports.update(a=deliver_due(engine, settings, now=now)))
    run_a.start()
    assert a_has_read.wait(60), "run A never reached its claim"
    reports["b"] = deliver_due(engine, settings, now=now)
    b_is_done.set()
    run_a.join()
    assert paused and len(paused[0]) == 5  # A had read all five rows before B took them
    assert (reports["b"].sent, reports["a"].sent) == (5, 0)
    assert not reports["a"].error and not reports["b"].error
    assert sorted(r[0] for r in smtp.inbox.recipients) == [f"s{i}@k.dk" for i in range(5)]


def test_a_webhook_gets_json_and_recovers_after_failing(session: Session, engine: Engine, settings: Settings,
                                                       now: dt.datetime) -> None:
    with WebhookReceiver() as hook:
        hook.statuses = [503, 500]
        add_subscriber(session, hook.url, ("serviceplatformen",), channel="webhook")
        upd = add_notice(session, title='Fejl "med" citat')
        enqueue_for_update(session, upd)
        session.commit()
        assert deliver_due(engine, settings, now=now).retry == 1
        assert deliver_due(engine, settings, now=now + dt.timedelta(minutes=1)).retry == 1
        assert deliver_due(engine, settings, now=now + dt.timedelta(minutes=3)).sent == 1
        assert deliver_due(engine, settings, now=now + dt.timedelta(hours=3)).sent == 0
    assert len(hook.bodies) == 3
    doc = json.loads(hook.bodies[-1])
    assert doc["notice"]["title"] == 'Fejl "med" citat'
    assert doc["notice"]["components"] == ["serviceplatformen"]
    assert doc["notice"]["kind"] == "incident"
    assert doc["update"] == {"status": "investigating", "body_html": "<p>Vi undersøger forsinkede svar.</p>",
                             "at": "2020-11-28T09:00:00+00:00"}
    assert "Fejl" in doc["text"]
    assert hook.headers[0]["Idempotency-Key"] == hook.headers[-1]["Idempotency-Key"]
    assert counter(session, "webhook", "retry") == 2 and counter(session, "webhook", "sent") == 1


def test_a_webhook_that_answers_404_fails_at_once(session: Session, engine: Engine, settings: Settings,
                                                 now: dt.datetime) -> None:
    with WebhookReceiver() as hook:
        hook.statuses = [404]
        add_subscriber(session, hook.url, channel="webhook")
        enqueue_for_update(session, add_notice(session))
        session.commit()
        assert deliver_due(engine, settings, now=now).failed == 1
    [row] = deliveries(session)
    assert row.status == "failed" and "404" in (row.last_error or "")


def test_deliveries_of_someone_who_unsubscribed_meanwhile_are_not_sent(
        session: Session, engine: Engine, settings: Settings, smtp: SmtpServer, now: dt.datetime) -> None:
    sub = add_subscriber(session, "a@k.dk")
    enqueue_for_update(session, add_notice(session))
    session.commit()
    sub.unsubscribed_at = now
    session.commit()
    report = deliver_due(engine, settings, now=now)
    assert (report.sent, report.cancelled) == (0, 1)
    assert smtp.inbox.messages == []


def test_each_run_is_recorded_and_the_cli_reports_it(session: Session, engine: Engine, settings: Settings,
                                                    smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    add_subscriber(session, "a@k.dk")
    enqueue_for_update(session, add_notice(session))
    session.commit()
    result = run_cli(monkeypatch, settings, "notify")
    assert (result.exit_code, printed(result)) == (0, ["sent 1, retry 0, failed 0"])
    runs = session.scalars(select(CollectorRun).where(CollectorRun.collector == "notify")).all()
    assert [r.outcome for r in runs] == ["success"]
    assert runs[0].message == "sent 1, retry 0, failed 0"


def test_the_cli_exits_non_zero_when_mail_could_not_be_delivered(
        session: Session, engine: Engine, settings: Settings, smtp: SmtpServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    add_subscriber(session, "a@k.dk")
    enqueue_for_update(session, add_notice(session))
    session.commit()
    smtp.stop()
    result = run_cli(monkeypatch, settings, "notify")
    assert (result.exit_code, printed(result)) == (1, ["sent 0, retry 1, failed 0"])
    assert session.scalar(select(func.count()).select_from(Delivery).where(Delivery.status == "queued")) == 1


def test_deliver_due_never_raises_when_the_database_is_gone(tmp_path: Path, now: dt.datetime) -> None:
    from monitor.db import make_engine

    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'empty.db'}")
    engine = make_engine(settings.database.url)
    report = deliver_due(engine, settings, now=now)
    engine.dispose()
    assert report.error and report.sent == 0

"""One outbox for every kind of mail: each is queued the same way, sent by the same run and counted by kind."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from monitor.models import CounterValue, Mail
from monitor.notify import mailqueue
from monitor.notify.mail import compose
from monitor.notify.mailqueue import MailContext, queue_mail
from monitor.notify.outbox import deliver_due, enqueue_for_update, queue_summary
from monitor.notify.queue import KINDS, SENT_KIND, SENT_KINDS
from monitor.notify.retry import backoff
from monitor.settings import Settings
from tests.conftest import make_settings
from tests.notify_helpers import SmtpServer, add_notice, add_subscriber, smtp_section


@pytest.fixture
def settings(tmp_path: Path, db_url: str, smtp: SmtpServer) -> Settings:
    return make_settings(tmp_path, db_url, mail=smtp_section(smtp))


def mails_sent(session: Session) -> dict[str, float]:
    session.expire_all()
    rows = session.execute(select(CounterValue.labels, CounterValue.value)
                           .where(CounterValue.metric == "mail_sent_total")).all()
    return {labels.removeprefix("kind="): value for labels, value in rows}


def a_digest(ctx: MailContext, session: Session, mail: Mail) -> object:
    assert mail.address is not None and mail.payload is not None
    return compose(ctx.settings, mail.address, f"Ugens overblik {mail.payload['week']}", "tekst", "<p>html</p>",
                   unsubscribe_url=None, message_id=ctx.message_id(mail))


def test_every_kind_of_the_queue_has_a_bounded_label_of_fki_mail_sent_total() -> None:
    assert set(SENT_KIND) >= set(KINDS) | {"notice", "summary"}
    assert set(SENT_KIND.values()) == set(SENT_KINDS)
    assert set(KINDS) >= {"confirm", "manage", "invitation", "login", "reminder", "digest", "cutover_report",
                          "alert", "method_input"}


def test_a_notice_a_confirmation_and_an_invitation_each_count_once_for_their_kind(
        session: Session, engine: Engine, settings: Settings, smtp: SmtpServer, now: dt.datetime) -> None:
    sub = add_subscriber(session, "a@k.dk")
    hook = add_subscriber(session, "https://hooks.example/x", channel="webhook")
    assert hook.id
    enqueue_for_update(session, add_notice(session))
    queue_mail(session, "confirm", sub.address, "da", subscriber=sub)
    queue_mail(session, "invitation", "ny@k.dk", "da", campaign="c1", at=now)
    session.commit()
    deliver_due(engine, settings, now=now, webhook=_NoWebhook())
    # The webhook went out too, but it is not mail.
    assert mails_sent(session) == {"notice": 1, "confirmation": 1, "invitation": 1}
    assert len(smtp.inbox.messages) == 3


def test_a_new_kind_goes_out_through_its_registered_composer_and_counts_as_itself(
        session: Session, engine: Engine, settings: Settings, smtp: SmtpServer, now: dt.datetime,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(mailqueue.COMPOSERS, "digest", a_digest)
    queue_mail(session, "digest", "leder@k.dk", "da", payload={"week": "2026-W49"})
    session.commit()
    assert deliver_due(engine, settings, now=now).sent == 1
    assert b"Subject: Ugens overblik 2026-W49\r\n" in smtp.inbox.raw[0]
    assert mails_sent(session) == {"digest": 1}


def test_a_kind_whose_composer_is_not_loaded_waits_with_backoff_and_is_never_lost(
        session: Session, engine: Engine, settings: Settings, smtp: SmtpServer, now: dt.datetime,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(mailqueue.COMPOSERS, "alert")  # as in a process that did not load its module
    queue_mail(session, "alert", "kommune@k.dk", "da", payload={"group": "g1"})
    session.commit()
    report = deliver_due(engine, settings, now=now)
    assert (report.sent, report.retry, report.error) == (0, 1, "")
    [row] = session.scalars(select(Mail)).all()
    assert row.status == "queued" and row.next_attempt_at == now + backoff(1)
    assert "no composer" in (row.last_error or "")
    monkeypatch.setitem(mailqueue.COMPOSERS, "alert", a_digest_for_alert)
    assert deliver_due(engine, settings, now=now + backoff(1)).sent == 1
    assert mails_sent(session) == {"alert": 1}


def a_digest_for_alert(ctx: MailContext, session: Session, mail: Mail) -> object:
    assert mail.address is not None
    return compose(ctx.settings, mail.address, "Alarm", "tekst", "<p>html</p>", unsubscribe_url=None,
                   message_id=ctx.message_id(mail))


def test_an_unknown_kind_is_refused_when_queued(session: Session) -> None:
    with pytest.raises(ValueError, match="unknown mail kind"):
        queue_mail(session, "newsletter", "a@k.dk", "da")


def test_the_queue_depth_is_given_per_kind(session: Session, now: dt.datetime) -> None:
    sub = add_subscriber(session, "a@k.dk")
    add_subscriber(session, "https://hooks.example/x", channel="webhook")
    enqueue_for_update(session, add_notice(session))
    queue_mail(session, "confirm", sub.address, "da", subscriber=sub)
    queue_mail(session, "reminder", sub.address, "da")
    queue_mail(session, "reminder", "b@k.dk", "da")
    session.commit()
    summary = queue_summary(session)
    kinds = dict(summary["kinds"])  # type: ignore[arg-type]
    assert kinds["notice"] == 1 and kinds["webhook"] == 1 and kinds["confirm"] == 1 and kinds["reminder"] == 2
    assert kinds["digest"] == 0 and summary["depth"] == 5


class _NoWebhook:
    """A webhook receiver that takes everything (no HTTP in this test)."""

    def send(self, *args: object) -> None:
        return None

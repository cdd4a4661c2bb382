"""The hourly cap on notice mails per subscriber: past `[notices] max_mails_per_subscriber_hour`
the updates wait and go out as one summary mail once the hour allows. Nothing lost, nothing twice;
read from the bytes the SMTP server received."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from monitor.models import Delivery
from monitor.notify.outbox import deliver_due, enqueue_for_update, queue_summary
from monitor.settings import Settings
from tests import mailgrammar
from tests.conftest import make_settings
from tests.notify_helpers import SmtpServer, add_notice, add_subscriber, smtp_section

MINUTE = dt.timedelta(minutes=1)


@pytest.fixture
def settings(tmp_path: Path, db_url: str, smtp: SmtpServer) -> Settings:
    return make_settings(tmp_path, db_url, mail=smtp_section(smtp))


def notices(session: Session, numbers: range, at: dt.datetime) -> None:
    """One new incident per number, each queued for its subscribers, committed."""
    for n in numbers:
        update = add_notice(session, upstream_id=f"inc-{n}", title=f"Hændelse nummer {n}",
                            components=("serviceplatformen",), at=at - 5 * MINUTE)
        enqueue_for_update(session, update)
    session.commit()


def received(smtp: SmtpServer, address: str) -> list[mailgrammar.Mail]:
    return [mailgrammar.read(raw) for raw, to in zip(smtp.inbox.raw, smtp.inbox.recipients, strict=True)
            if address in to]


def test_past_the_hourly_cap_the_updates_wait_and_go_out_as_one_summary_mail(
        session: Session, engine: Engine, settings: Settings, smtp: SmtpServer, now: dt.datetime) -> None:
    assert settings.notices.max_mails_per_subscriber_hour == 10
    add_subscriber(session, "leder@k.dk")
    add_subscriber(session, "english@k.dk", language="en")
    add_subscriber(session, "andet@k.dk", ("organisation",))
    notices(session, range(1, 12), now)  # 11 at once: 10 go out, 1 waits

    assert deliver_due(engine, settings, now=now).sent == 20
    assert len(received(smtp, "leder@k.dk")) == 10 and received(smtp, "andet@k.dk") == []
    assert queue_summary(session)["counts"]["waiting"] == 2

    notices(session, range(12, 23), now + 20 * MINUTE)  # 11 more within the hour: all wait
    assert deliver_due(engine, settings, now=now + 20 * MINUTE).sent == 0
    assert deliver_due(engine, settings, now=now + 59 * MINUTE).sent == 0

    assert deliver_due(engine, settings, now=now + 61 * MINUTE).sent == 2  # one summary each
    danish = received(smtp, "leder@k.dk")
    assert len(danish) == 11
    summary = danish[-1]
    assert summary.one("Subject").strip() == "12 nye opdateringer"
    assert summary.one("List-Unsubscribe").strip().startswith("<http") and re.fullmatch(r"<[0-9a-f]{32}@[^>]+>", summary.one("Message-ID").strip())
    text = summary.part("text/plain")
    assert "12 nye opdateringer" in text
    for n in range(11, 23):
        assert text.count(f"Hændelse nummer {n}\r\n") == 1, n  # each waiting update once
        assert f"Hændelse nummer {n}" in summary.part("text/html")
    assert "Hændelse nummer 10\r\n" not in text  # it went out on its own
    assert text.count("Serviceplatformen") >= 12 and text.count("/driftsstatus?lang=da#notice-") == 12
    assert "Undersøger" in text
    english = received(smtp, "english@k.dk")[-1]
    assert english.one("Subject").strip() == "12 new updates" and "12 new updates" in english.part("text/plain")

    # Nothing more: every delivery was sent exactly once, alone or in the one summary.
    assert deliver_due(engine, settings, now=now + 3 * 60 * MINUTE).sent == 0
    session.expire_all()
    rows = list(session.scalars(select(Delivery).where(Delivery.channel == "email")))
    assert len(rows) == 44 and {r.status for r in rows} == {"sent"}
    assert len({r.summary_id for r in rows if r.summary_id is not None}) == 2
    assert len(smtp.inbox.raw) == 22


def test_a_single_waiting_update_goes_out_as_an_ordinary_mail(
        session: Session, engine: Engine, tmp_path: Path, db_url: str, smtp: SmtpServer, now: dt.datetime) -> None:
    settings = make_settings(tmp_path, db_url, mail=smtp_section(smtp), notices={"max_mails_per_subscriber_hour": 2})
    add_subscriber(session, "leder@k.dk")
    notices(session, range(1, 4), now)
    assert deliver_due(engine, settings, now=now).sent == 2
    assert deliver_due(engine, settings, now=now + 30 * MINUTE).sent == 0
    assert deliver_due(engine, settings, now=now + 61 * MINUTE).sent == 1
    last = received(smtp, "leder@k.dk")[-1]
    assert "?= nummer 3 =?" in last.one("Subject") and re.fullmatch(r"<[0-9a-f]{32}@[^>]+>", last.one("Message-ID").strip())


def test_a_summary_that_fails_waits_and_is_sent_once_when_the_server_is_back(
        session: Session, engine: Engine, tmp_path: Path, db_url: str, smtp: SmtpServer, now: dt.datetime) -> None:
    settings = make_settings(tmp_path, db_url, mail=smtp_section(smtp), notices={"max_mails_per_subscriber_hour": 1})
    add_subscriber(session, "leder@k.dk")
    notices(session, range(1, 5), now)
    assert deliver_due(engine, settings, now=now).sent == 1
    smtp.stop()
    report = deliver_due(engine, settings, now=now + 61 * MINUTE)
    assert report.sent == 0 and report.retry == 1
    smtp.start()
    assert deliver_due(engine, settings, now=now + 2 * 60 * MINUTE).sent == 1
    assert deliver_due(engine, settings, now=now + 4 * 60 * MINUTE).sent == 0
    [first, summary] = received(smtp, "leder@k.dk")
    assert summary.one("Subject").strip() == "3 nye opdateringer"
